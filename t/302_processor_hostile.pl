# Processor daemon against hostile input (issue 5): every document ends COMPLETED
# or FAILED with a readable reason, and the daemon stays up and goes on. Real
# hostile PDFs built here (decompression bombs, deep nesting, garbage, encryption)
# and the test-only fault hooks (PROCESSOR_TEST_FAULTS=1: crash, endless loop,
# allocation until failure). Runs the plain build: ASan cannot take RLIMIT_AS.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Temp ();
use InvoiceflowTest;
use ProcessorTest;

my $node = new_node('proc_hostile');
my %doc;    # name => request id
my $add = sub { my ($name, $bytes) = @_; $doc{$name} = ingest_file($node, $name, $bytes); };

# 1 GB of zeros as a page's content stream (about 1 MB deflated)
$add->('bomb-content.pdf', pdf_with_objects(content => [ '/Filter /FlateDecode', flate_zeros(1024) ]));
# the same bomb as an embedded factur-x.xml (the XML path loads attachments in memory)
$add->('bomb-attachment.pdf', pdf_with_objects(
	catalog_extra => '/Names << /EmbeddedFiles << /Names [(factur-x.xml) 6 0 R] >> >> /AF [6 0 R]',
	extra => [
		'<< /Type /Filespec /F (factur-x.xml) /UF (factur-x.xml) /EF << /F 7 0 R /UF 7 0 R >> >>',
		do { my $z = flate_zeros(1024);
			 '<< /Type /EmbeddedFile /Subtype /text#2Fxml /Filter /FlateDecode /Length ' . length($z)
			   . " >>\nstream\n$z\nendstream" } ]));
# arrays nested 100,000 deep, in the page dictionary and in the content stream
my $deep = ('[' x 100000) . (']' x 100000);
$add->('deep-nesting.pdf', pdf_with_objects(page_extra => "/Deep $deep",
	content => [ '', "BT /F1 12 Tf 72 720 Td $deep TJ ET" ]));
# garbage after the header, but a valid xref table, trailer and startxref
{
	my $pdf = "%PDF-1.4\n" . join('', map { chr(int(rand(256))) } 1 .. 20000) . "\n";
	my $xref = length($pdf);
	$pdf .= "xref\n0 2\n0000000000 65535 f \n0000000100 00000 n \ntrailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n$xref\n%%EOF\n";
	$add->('garbage.pdf', $pdf);
}
# a page that is not an invoice
$add->('hello.pdf', make_pdf('hello'));
# encrypted with a user password (mutool clean -E, MuPDF's own tool)
my $have_mutool = `which mutool 2>/dev/null` ne '';
if ($have_mutool) {
	my $dir = File::Temp::tempdir(CLEANUP => 1);
	open(my $fh, '>:raw', "$dir/plain.pdf") or die;
	print $fh make_pdf('Invoice 777 encrypted total 10.00 EUR');
	close $fh;
	system('mutool', 'clean', '-E', 'aes-256', '-U', 'secret', '-O', 'owner', "$dir/plain.pdf", "$dir/enc.pdf") == 0
	  or die 'mutool clean failed';
	$add->('encrypted.pdf', slurp_file_bin("$dir/enc.pdf"));
}
# the fault hooks, chosen by file name
$add->('fault-crash.pdf', make_pdf('crash'));
$add->('fault-loop.pdf', make_pdf('loop'));
$add->('fault-alloc.pdf', make_pdf('alloc'));

my $p = start_processor($node, bin => 'plain', env => {
	PROCESSOR_TEST_FAULTS => 1, PROCESSOR_CPU_SECONDS => 3, PROCESSOR_MEMORY_MB => 256,
	PROCESSOR_TIMEOUT_SECONDS => 30, PROCESSOR_CONCURRENCY => 2, LOG_LEVEL => 'INFO' });
ok(wait_all_done($node, 240), 'every hostile document ended') or diag($p->stderr);

my %st = map { $_ => doc_status($node, $doc{$_}) } keys %doc;
for my $name (sort keys %doc) {
	my $s = $st{$name};
	like($s->{status}, qr/^(COMPLETED|FAILED)$/, "$name: $s->{status}");
	if ($s->{status} eq 'FAILED') {
		like($s->{error}{message} // '', qr/^[\x20-\x7e]{5,300}$/, "$name: readable reason");
		is($s->{error}{kind}, 'processing', "$name: error kind processing");
	}
	note("$name: $s->{status}" . ($s->{error} ? " ($s->{error}{message})" : '')
	  . ($s->{invoice} ? ' needs_review=' . ($s->{invoice}{needs_review} ? 'true' : 'false') : ''));
}
is($st{'fault-crash.pdf'}{error}{message}, 'the parser crashed (signal 11)', 'crash: reason');
is($st{'fault-loop.pdf'}{error}{message}, 'processing exceeded the CPU limit of 3 s', 'endless loop: CPU limit');
is($st{'fault-alloc.pdf'}{error}{message}, 'processing exceeded the memory limit of 256 MB', 'allocation: memory limit');
SKIP: {
	skip 'mutool not installed', 1 unless $have_mutool;
	is($st{'encrypted.pdf'}{error}{message}, 'encrypted PDF', 'encrypted: reason');
}
ok($st{'hello.pdf'}{status} eq 'FAILED' || $st{'hello.pdf'}{invoice}{needs_review},
	'a page that is not an invoice: FAILED, or COMPLETED with needs_review');

# still alive, and a normal invoice goes through
ok(kill(0, $p->{pid}), 'the processor is still running');
my $good = ingest_file($node, 'sample-invoice.pdf', slurp_file_bin(sample_pdf_path()));
ok(wait_until(30, sub { doc_status($node, $good)->{status} eq 'COMPLETED' }), 'a normal invoice completes after all that');
is(doc_status($node, $good)->{invoice}{invoice_number}, '471102', 'and is extracted correctly');
$p->stop('TERM');
is($p->wait_exit(15), 0, 'SIGTERM: exit 0');

# the wall-clock watchdog (CPU limit above it)
my $p2 = start_processor($node, bin => 'plain', env => {
	PROCESSOR_TEST_FAULTS => 1, PROCESSOR_CPU_SECONDS => 60, PROCESSOR_TIMEOUT_SECONDS => 2 });
my $slow = ingest_file($node, 'fault-loop-watchdog.pdf', make_pdf('watchdog'));
ok(wait_until(30, sub { doc_status($node, $slow)->{status} eq 'FAILED' }), 'watchdog: FAILED');
is(doc_status($node, $slow)->{error}{message}, 'processing exceeded the time limit of 2 s', 'watchdog: reason');

# SIGTERM with a document in flight: after the grace period it is given back
$p2->stop('TERM');
is($p2->wait_exit(15), 0, 'exit 0');
$p2 = start_processor($node, bin => 'plain', env => {
	PROCESSOR_TEST_FAULTS => 1, PROCESSOR_SHUTDOWN_GRACE_SECONDS => 1 });
my $inflight = ingest_file($node, 'fault-loop-shutdown.pdf', make_pdf('shutdown'));
ok(wait_until(10, sub { doc_status($node, $inflight)->{status} eq 'PROCESSING' }), 'a document in flight');
$p2->stop('TERM');
is($p2->wait_exit(10), 0, 'SIGTERM with a document in flight: exit 0 after the grace period');
is(doc_status($node, $inflight)->{status}, 'PENDING', 'its lease was released (PENDING again)');
ok(grep({ ($_->{outcome} // '') eq 'released' && $_->{request_id} eq $inflight } $p2->lines), 'logged as released');
$node->safe_psql('postgres', "SELECT invoiceflow.purge('$inflight')");

# without PROCESSOR_TEST_FAULTS the hooks are off
my $p3 = start_processor($node, bin => 'plain');
my $inert = ingest_file($node, 'fault-crash-inert.pdf', make_pdf('Invoice 12 inert'));
ok(wait_until(30, sub { doc_status($node, $inert)->{status} eq 'COMPLETED' }), 'fault hooks are off by default');
$p3->stop('TERM');
is($p3->wait_exit(15), 0, 'exit 0');

done_testing();
