# Processor daemon, embedded mode (issue 5): no sinks, work found through
# claim_next + LISTEN/NOTIFY, files read from PostgreSQL. The daemon runs in its
# ASan + UBSan build (RLIMIT_AS is skipped there; t/302 covers the limits).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use InvoiceflowTest;
use ProcessorTest;

my $node = new_node('proc_embedded');
add_transition_log($node);

# --- a backlog: the sample invoice, small generated PDFs, the corpus ------------
my %ids;    # id => filename
my $sample_id = ingest_file($node, 'sample-invoice.pdf', slurp_file_bin(sample_pdf_path()));
$ids{$sample_id} = 'sample-invoice.pdf';
for my $i (1 .. 4) {
	my $id = ingest_file($node, "generated-$i.pdf", make_pdf("Invoice number G-$i total 1$i.00 EUR"));
	$ids{$id} = "generated-$i.pdf";
}
my $corpus = corpus_dir();
my @corpus_files = $corpus ? sort glob("$corpus/*.pdf") : ();
for my $f (@corpus_files) {
	(my $name = $f) =~ s{.*/}{};
	$ids{ ingest_file($node, $name, slurp_file_bin($f)) } = $name;
}
note(scalar(@corpus_files) . ' corpus PDFs' . ($corpus ? '' : ' (no corpus found)'));

my $p = start_processor($node, env => { PROCESSOR_CONCURRENCY => 2 });
ok(wait_all_done($node, 180), 'the backlog is processed (concurrency 2)')
  or diag($p->stderr);

my $st = doc_status($node, $sample_id);
is($st->{status}, 'COMPLETED', 'sample invoice COMPLETED');
is($st->{invoice}{invoice_number}, '471102', 'sample: invoice_number');
is($st->{invoice}{issue_date}, '2018-03-05', 'sample: issue_date');
is($st->{invoice}{currency}, 'EUR', 'sample: currency');
is($st->{invoice}{totals}{total}, '529.87', 'sample: total');
is($st->{invoice}{seller}{name}, 'Lieferant GmbH', 'sample: seller');
is($st->{invoice}{source}, 'xml', 'sample: extracted from the embedded XML');

my ($bad_attempts, $bad_claims, $not_done) = (0, 0, 0);
for my $id (keys %ids) {
	my $s = doc_status($node, $id);
	$not_done++ unless $s->{status} =~ /^(COMPLETED|FAILED)$/;
	$bad_attempts++ unless $s->{attempts} == 1;
	$bad_claims++ unless count_transitions($node, $id, 'PROCESSING') == 1;
}
is($not_done, 0, 'every document COMPLETED or FAILED');
is($bad_attempts, 0, 'every document took one attempt');
is($bad_claims, 0, 'every document was claimed exactly once');
my @docs = $p->documents;
is(scalar(@docs), scalar(keys %ids), 'one log line per document');
my ($line) = grep { ($_->{request_id} // '') eq $sample_id } @docs;
ok($line && $line->{outcome} eq 'completed' && defined $line->{ms} && $line->{pages} >= 1
	  && $line->{source} eq 'xml' && $line->{filename} eq 'sample-invoice.pdf',
	'document log line: outcome, ms, pages, source, filename');
my $corpus_completed = $node->safe_psql('postgres',
	"SELECT count(*) FROM invoiceflow.ingestions WHERE status = 'COMPLETED'");
cmp_ok($corpus_completed, '>=', 1 + scalar(@corpus_files), 'the corpus PDFs completed');

# --- a new upload is picked up through NOTIFY -------------------------------------
my $t0 = time;
my $fresh = ingest_file($node, 'fresh.pdf', make_pdf('Invoice 4711 fresh'));
ok(wait_until(10, sub { doc_status($node, $fresh)->{status} =~ /^(COMPLETED|FAILED)$/ }), 'fresh upload processed');
my $latency = time - $t0;
cmp_ok($latency, '<', 2, sprintf('picked up through NOTIFY in %.2f s (< 2 s)', $latency));

# --- two processors at once never process a file twice ----------------------------
my $p2 = start_processor($node, bin => 'plain', env => { PROCESSOR_CONCURRENCY => 2 });
sleep 0.5;
my @batch;
for my $i (1 .. 30) {
	push @batch, ingest_file($node, "batch-$i.pdf", make_pdf("Invoice B-$i amount $i.00"));
}
ok(wait_all_done($node, 120), 'the batch is processed by two processors');
my $twice = $node->safe_psql('postgres', 'SELECT count(*) FROM (SELECT id FROM public.transitions '
	. "WHERE new = 'PROCESSING' AND id = ANY ('{" . join(',', @batch) . "}') GROUP BY id HAVING count(*) <> 1) x");
is($twice, 0, 'no file of the batch was claimed twice');
my %seen;
$seen{ $_->{request_id} }++ for ($p->documents, $p2->documents);
is(scalar(grep { ($seen{$_} // 0) != 1 } @batch), 0, 'each file of the batch has exactly one result log line');
note('documents of the batch by the second processor: ' . scalar(grep { my $r = $_->{request_id}; grep { $_ eq $r } @batch } $p2->documents));

# --- PostgreSQL restarts: the processors reconnect ------------------------------------
$node->restart;
my $after = ingest_file($node, 'after-restart.pdf', make_pdf('Invoice after restart 1.00'));
ok(wait_until(30, sub { doc_status($node, $after)->{status} eq 'COMPLETED' }), 'processed after a PostgreSQL restart');
ok(grep({ ($_->{message} // '') eq 'reconnected to PostgreSQL' } $p->lines, $p2->lines), 'reconnect logged');

# --- SIGTERM: a clean exit within seconds -------------------------------------------
$t0 = time;
$p->stop('TERM');
$p2->stop('TERM');
is($p->wait_exit(10), 0, 'SIGTERM: exit 0');
is($p2->wait_exit(10), 0, 'SIGTERM: second processor exit 0');
cmp_ok(time - $t0, '<', 5, 'both stopped within 5 s');
ok(grep({ ($_->{message} // '') eq 'processor stopped' } $p->lines), 'shutdown logged');
unlike($p->stderr, qr/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error/, 'no sanitizer report');

# --- an expired lease: the document ends with another processor ----------------------
$node->safe_psql('postgres', 'ALTER SYSTEM SET invoiceflow.lease_seconds = 5');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my $p3 = start_processor($node, bin => 'plain', env => { PROCESSOR_TEST_FAULTS => 1 });
my $stuck = ingest_file($node, 'fault-loop-lease.pdf', make_pdf('lease test'));
ok(wait_until(10, sub { doc_status($node, $stuck)->{status} eq 'PROCESSING' }), 'fault-loop document is PROCESSING');
sleep 1;
$p3->stop('KILL');
$p3->wait_exit(5);
# the child dies with its parent (PR_SET_PDEATHSIG)
my ($child) = map { $_->{pid} } grep { ($_->{message} // '') eq 'processing' && $_->{request_id} eq $stuck } $p3->lines;
ok($child && wait_until(5, sub { !kill(0, $child) }), 'its child died with it (no orphan spinning on)');
my $p4 = start_processor($node, bin => 'plain');    # no fault hooks: the file is fine
ok(wait_until(30, sub { doc_status($node, $stuck)->{status} eq 'COMPLETED' }),
	'after the lease expired, a new processor completed the document');
is(doc_status($node, $stuck)->{attempts}, 2, 'second attempt');
$p4->stop('TERM');
is($p4->wait_exit(10), 0, 'exit 0');

# --- valgrind on the daemon (parent) for a couple of documents -----------------------
SKIP: {
	skip 'valgrind not installed', 2 unless `which valgrind 2>/dev/null`;
	my $pv = start_processor($node, bin => 'plain', valgrind => 1, env => { PROCESSOR_CONCURRENCY => 1 });
	my @v = map { ingest_file($node, "valgrind-$_.pdf", make_pdf("Invoice V-$_")) } 1 .. 2;
	ok(wait_all_done($node, 120), 'documents processed under valgrind');
	$pv->stop('TERM');
	my $rc = $pv->wait_exit(60);
	is($rc, 0, 'valgrind: exit 0, no errors, no definite leaks')
	  or diag(`cat $pv->{valgrind_log}`);
}

done_testing();
