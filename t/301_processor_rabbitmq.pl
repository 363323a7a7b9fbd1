# Processor daemon, RabbitMQ mode (issue 5): work arrives on queue
# invoiceflow.process, files are read from S3 (keep_files_in_database off), each
# message is acked once its outcome has committed; duplicates and malformed
# messages are skipped; a broker restart is survived; a lost message is found by
# the periodic claim_next. Own RabbitMQ and S3 servers (the test restarts them).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use InvoiceflowTest;
use DeliveryTest;
use ProcessorTest;

plan skip_all => 'rabbitmq-server or s3rver missing'
  unless -d '/usr/lib/rabbitmq' && -f repo_root() . '/test/services/node_modules/s3rver/bin/s3rver.js';
system('make', '-s', '-C', repo_root() . '/test/tools') == 0 or BAIL_OUT('cannot build test/tools');
my $tmp = $PostgreSQL::Test::Utils::tmp_check;
start_own_services("$tmp/svc301");

my $node = new_node('proc_rabbit', conf => delivery_conf(keep_files_in_database => 'off'));
ok($node->poll_query_until('postgres', q{SELECT invoiceflow.health()->>'service' = 'healthy'}), 'sinks healthy');
add_transition_log($node);
my %s3env = map { $_ => $ENV{$_} } qw(S3_BUCKET S3_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION);
my $start = sub {
	my (%env) = @_;
	return start_processor($node, env => { RABBITMQ_URL => $ENV{RABBITMQ_URL}, %s3env,
		PROCESSOR_CONCURRENCY => 2, %env });
};
my $queue_counts = sub {
	my $out = `"$ENV{RABBITMQ_CTL}" list_queues -q name messages_ready messages_unacknowledged 2>/dev/null`;
	return $out =~ /^invoiceflow\.process\s+(\d+)\s+(\d+)/m ? ($1, $2) : (-1, -1);
};
my $all_done = sub {
	my @ids = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM invoiceflow.ingestions WHERE id = ANY ('{"
		. join(',', @ids) . "}') AND status NOT IN ('COMPLETED', 'FAILED')") == 0;
};

my $p = $start->();
ok(wait_until(30, sub { grep { ($_->{message} // '') =~ /^connected to RabbitMQ/ } $p->lines }), 'consuming')
  or diag($p->stderr);
# its first claim_next sweep (for files whose message was lost) is done, so what
# follows can only come through the queue until the next sweep, half a lease later
ok(wait_until(30, sub { grep { ($_->{message} // '') eq 'claim_next sweep' } $p->lines }), 'first sweep done')
  or diag($p->stderr);

# --- N uploads: all completed through the queue, bytes from S3 ------------------------
my @ids = map { ingest_file($node, "q-$_.pdf", make_pdf("Invoice Q-$_ total $_.50 EUR")) } 1 .. 10;
push @ids, ingest_file($node, 'sample-invoice.pdf', slurp_file_bin(sample_pdf_path()));
ok(wait_until(90, sub { $all_done->(@ids) }), 'all uploads processed') or diag($p->stderr);
is($node->safe_psql('postgres', "SELECT count(*) FROM invoiceflow.ingestions WHERE status = 'COMPLETED'"),
	scalar(@ids), 'all COMPLETED');
is(doc_status($node, $ids[-1])->{invoice}{invoice_number}, '471102', 'sample extracted');
my %via = map { $_->{request_id} => $_->{via} } $p->documents;
is(scalar(grep { ($via{$_} // '') eq 'queue' } @ids), scalar(@ids), 'every one came through the queue');
my %from = map { $_->{request_id} => $_->{from} } grep { ($_->{message} // '') eq 'processing' } $p->lines;
is(scalar(grep { ($from{$_} // '') eq 's3' } @ids), scalar(@ids), 'every file was read from S3');
is($node->safe_psql('postgres', 'SELECT count(*) FROM invoiceflow.ingestion_files'), 0,
	'(PostgreSQL no longer held the bytes)');
ok(wait_until(20, sub { my ($r, $u) = $queue_counts->(); $r == 0 && $u == 0 }), 'queue empty: every message acked')
  or diag(join(' ', $queue_counts->()));

# --- a duplicate and a malformed message --------------------------------------------
my $dup = $ids[0];
my $body = sprintf('{"event":"invoice.uploaded","request_id":"%s","filename":"q-1.pdf","size_bytes":1,'
	. '"sha256":"x","s3_bucket":"%s","s3_key":"raw/%s.pdf","created_at":"2024-01-01T00:00:00Z"}',
	$dup, $ENV{S3_BUCKET}, $dup);
ok(amqp_publish($ENV{RABBITMQ_URL}, 'invoice.uploaded', "$dup:invoice.uploaded:1", $body), 'duplicate published');
ok(amqp_publish($ENV{RABBITMQ_URL}, 'invoice.uploaded', "$dup:invoice.uploaded:1", $body), 'and again');
ok(amqp_publish($ENV{RABBITMQ_URL}, 'invoice.uploaded', 'junk:1', 'this is not JSON'), 'malformed published');
ok(wait_until(20, sub {
	my @skip = grep { ($_->{message} // '') =~ /^message skipped/ && $_->{request_id} eq $dup } $p->lines;
	my @bad = grep { ($_->{message} // '') =~ /^malformed message dropped/ } $p->lines;
	@skip >= 2 && @bad >= 1 }), 'duplicates skipped, malformed message dropped');
is(count_transitions($node, $dup, 'PROCESSING'), 1, 'the duplicated file was processed once');
is(doc_status($node, $dup)->{attempts}, 1, 'attempts still 1');
ok(wait_until(20, sub { my ($r, $u) = $queue_counts->(); $r == 0 && $u == 0 }), 'queue empty again');

# --- RabbitMQ restarts mid-run ----------------------------------------------------------
my @more = map { ingest_file($node, "r-$_.pdf", make_pdf("Invoice R-$_ total $_.75 EUR")) } 1 .. 6;
service_cmd('down', 'rabbitmq');
push @more, map { ingest_file($node, "r-down-$_.pdf", make_pdf("Invoice RD-$_ total $_.25 EUR")) } 1 .. 6;
sleep 2;
service_cmd('up', 'rabbitmq');
ok(wait_until(120, sub { $all_done->(@more) }), 'uploads around a broker restart processed') or diag($p->stderr);
ok(grep({ ($_->{message} // '') =~ /^reconnected to RabbitMQ/ } $p->lines), 'the processor reconnected');
my $twice = $node->safe_psql('postgres', 'SELECT count(*) FROM (SELECT id FROM public.transitions '
	. "WHERE new IN ('COMPLETED', 'FAILED') GROUP BY id HAVING count(*) > 1) x");
is($twice, 0, 'no file ended twice');
ok(wait_until(30, sub { my ($r, $u) = $queue_counts->(); $r == 0 && $u == 0 }), 'queue empty after the restart');

# --- a lost message: claim_next finds the file ---------------------------------------------
$p->stop('TERM');
is($p->wait_exit(15), 0, 'SIGTERM: exit 0');
my $lost = ingest_file($node, 'lost.pdf', make_pdf('Invoice LOST-1 total 9.99 EUR'));
ok($node->poll_query_until('postgres',
	"SELECT invoiceflow.status('$lost')->'delivery'->'rabbitmq'->>'state' = 'done'"), 'lost: published');
amqp_drain($ENV{RABBITMQ_URL}, 'invoiceflow.process');    # the message is gone
my $p2 = $start->();
ok(wait_until(30, sub { doc_status($node, $lost)->{status} eq 'COMPLETED' }), 'the file without a message completed');
my ($l) = grep { ($_->{request_id} // '') eq $lost } $p2->documents;
is($l && $l->{via}, 'claim_next', 'found by claim_next');
$p2->stop('TERM');
is($p2->wait_exit(15), 0, 'SIGTERM: exit 0');
unlike($p->stderr . $p2->stderr, qr/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error/, 'no sanitizer report');

done_testing();
