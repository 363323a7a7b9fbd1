# Tracing (issue 11 item 4): a W3C traceparent sent with an upload is kept with
# the ingestion (SQL), travels in the RabbitMQ message's headers and the S3
# object's metadata, and its trace id is on the gateway's log lines of the
# request, the worker's delivery lines (postgres log) and the processor's lines
# for that document. No traceparent: one is generated; a malformed one: replaced.
# Own RabbitMQ and S3 servers (the queue is drained by the test).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use PostgreSQL::Test::Utils;
use Test::More;
use InvoiceflowTest;
use DeliveryTest;
use ProcessorTest;
use GatewayTest;

plan skip_all => 'rabbitmq-server or s3rver missing'
  unless -d '/usr/lib/rabbitmq' && -f repo_root() . '/test/services/node_modules/s3rver/bin/s3rver.js';
system('make', '-s', '-C', repo_root() . '/test/tools') == 0 or BAIL_OUT('cannot build test/tools');
my $tmp = $PostgreSQL::Test::Utils::tmp_check;
start_own_services("$tmp/svc106");

my $node = new_node('trace', conf => delivery_conf(keep_files_in_database => 'off', log_deliveries => 'on'));
ok($node->poll_query_until('postgres', q{SELECT invoiceflow.health()->>'service' = 'healthy'}), 'sinks healthy');
my $gw = start_gateway($node);
my $tp_re = qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
my $tid = sub { substr($_[0], 3, 32) };
my $traceparent_of = sub { $node->safe_psql('postgres', "SELECT invoiceflow.traceparent('$_[0]')") };
my $delivered = sub {
	my ($id) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM invoiceflow.outbox WHERE ingestion_id = '$id'"
		. " AND state = 'done'") == 2;
};

# --- an upload with a traceparent -------------------------------------------------------
my $t1 = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
my $r = gw_upload($gw, make_pdf('Invoice T-1 total 1.00 EUR'), filename => 't1.pdf',
	headers => { traceparent => $t1, 'X-Request-ID' => 'trace-test-1' });
is($r->{status}, 202, 'upload with a traceparent: 202');
is($r->{headers}{traceparent}, $t1, 'the response carries the same traceparent');
my $id1 = $r->{json}{request_id};
is($traceparent_of->($id1), $t1, 'SQL keeps it with the ingestion (invoiceflow.traceparent())');
ok(wait_until(60, sub { $delivered->($id1) }), 'delivered to S3 and RabbitMQ');

my $head = s3_head("raw/$id1.pdf");
is($head && $head->{'x-amz-meta-traceparent'}, $t1, 'S3 object metadata x-amz-meta-traceparent');
my @msgs = grep { ($_->{message_id} // '') eq "$id1:invoice.uploaded:1" } amqp_drain($ENV{RABBITMQ_URL}, 'invoiceflow.process');
is(scalar(@msgs), 1, 'the invoice.uploaded message');
is($msgs[0]{traceparent}, $t1, 'RabbitMQ message header "traceparent"');

# gateway: every log line of that request carries the trace id
my @gl = grep { ($_->{request_id} // '') eq 'trace-test-1' } log_lines($gw);
ok(@gl >= 2, 'the request has several gateway log lines (' . scalar(@gl) . ')');
is(scalar(grep { ($_->{trace_id} // '') eq $tid->($t1) } @gl), scalar(@gl), 'every one has its trace_id');

# worker: the delivery lines in the postgres log
my $tidr = $tid->($t1);
ok(wait_until(10, sub { slurp_file($node->logfile) =~ /delivered s3 put of $id1 trace_id=$tidr/ }),
	'worker log: S3 delivery with trace_id');
like(slurp_file($node->logfile), qr/delivered rabbitmq publish invoice\.uploaded of $id1 trace_id=$tidr/,
	'worker log: RabbitMQ publish with trace_id');

# --- no traceparent, and a malformed one ---------------------------------------------
$r = gw_upload($gw, make_pdf('Invoice T-2 total 2.00 EUR'), filename => 't2.pdf');
is($r->{status}, 202, 'upload without a traceparent: 202');
my $gen = $r->{headers}{traceparent} // '';
like($gen, $tp_re, 'a traceparent is generated');
my $id2 = $r->{json}{request_id};
is($traceparent_of->($id2), $gen, 'and kept with the ingestion');

my $bad = '00-00000000000000000000000000000000-00f067aa0ba902b7-01';
$r = gw_upload($gw, make_pdf('Invoice T-3 total 3.00 EUR'), filename => 't3.pdf', headers => { traceparent => $bad });
is($r->{status}, 202, 'upload with an all-zero trace id: 202 (the header is replaced, not refused)');
my $repl = $r->{headers}{traceparent} // '';
like($repl, $tp_re, 'replaced by a valid one');
isnt($repl, $bad, 'not the malformed one');
my $id3 = $r->{json}{request_id};
is($traceparent_of->($id3), $repl, 'the replacement is kept with the ingestion');
for my $h ('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'garbage',
		   '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01') {
	my $g = gw_get($gw, '/health', traceparent => $h);
	isnt($g->{headers}{traceparent}, $h, "malformed traceparent '$h' replaced");
}
is(gw_get($gw, '/health', traceparent => $t1)->{headers}{traceparent}, $t1, 'every route takes a valid one');

# --- the processor's lines carry the trace id: via SQL (claim_next) and via the queue --
ok(wait_until(60, sub { $delivered->($id2) && $delivered->($id3) }), 'the other uploads delivered');
# the first upload's message was drained above: it is found by claim_next (its trace read
# from SQL); the others come through the queue (their trace from the message header)
my %s3env = map { $_ => $ENV{$_} } qw(S3_BUCKET S3_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION);
my $p = start_processor($node, env => { RABBITMQ_URL => $ENV{RABBITMQ_URL}, %s3env });
ok(wait_until(30, sub { grep { ($_->{message} // '') =~ /^connected to RabbitMQ/ } $p->lines }), 'processor consuming')
  or diag($p->stderr);
my $t4 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
$r = gw_upload($gw, make_pdf('Invoice T-4 total 4.00 EUR'), filename => 't4.pdf', headers => { traceparent => $t4 });
my $id4 = $r->{json}{request_id};
my @ids = ($id1, $id2, $id3, $id4);
ok(wait_until(90, sub {
	$node->safe_psql('postgres', "SELECT count(*) FROM invoiceflow.ingestions WHERE status = 'COMPLETED'") == 4 }),
	'all four processed') or diag($p->stderr);
my %want = ($id1 => $tid->($t1), $id2 => $tid->($gen), $id3 => $tid->($repl), $id4 => $tid->($t4));
for my $id (@ids) {
	my @pl = grep { ($_->{request_id} // '') eq $id } $p->lines;
	ok(@pl >= 2, "processor lines for $id");
	is(scalar(grep { ($_->{trace_id} // '') eq $want{$id} } @pl), scalar(@pl), "each with the upload's trace_id");
}
my %via = map { $_->{request_id} => $_->{via} } $p->documents;
is($via{$id1}, 'claim_next', 'the first one was found through SQL');
is($via{$id4}, 'queue', 'the last one came through the queue');
$p->stop;
is($p->wait_exit(30), 0, 'processor exits cleanly');

$gw->stop;
done_testing();
