# The pipeline on /metrics (issue 11 item 3): what invoiceflow.metrics() returns,
# in Prometheus naming and text format (per-sink gauges and counters, a
# delivery-latency histogram per sink, breakers, ingestions by status, expired
# leases, extraction outcomes), never NaN; and the Grafana dashboard
# (docker/grafana/invoiceflow.json) queries only metrics that /metrics exports.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP ();
use InvoiceflowTest;
use GatewayTest;

my $node = new_node('metrics');
my $gw = start_gateway($node);

# one pending upload, one delivery recorded 1.5 s after its commit, one extraction
my $r = gw_upload($gw, make_pdf('Invoice M-1 total 1.00 EUR'), filename => 'm1.pdf');
is($r->{status}, 202, 'an upload');
$node->safe_psql('postgres', q{
	INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, event, attempt, created_at)
		VALUES (gen_random_uuid(), 'rabbitmq', 'publish', 'invoice.uploaded', 1, now() - interval '1.5 seconds');
	UPDATE invoiceflow.outbox SET state = 'done', tries = 1, done_at = now() WHERE sink = 'rabbitmq';
	INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt, s3_key, created_at)
		VALUES (gen_random_uuid(), 's3', 'put', 1, 'raw/m.pdf', now() - interval '30 seconds');
});
my $id2 = gw_upload($gw, make_pdf('Invoice M-2 total 2.00 EUR'), filename => 'm2.pdf')->{json}{request_id};
$node->safe_psql('postgres', qq{SELECT invoiceflow.complete('$id2', invoiceflow.claim('$id2', 'w'),
	'{"invoice": {"source": "text", "needs_review": true}}')});

my $m = gw_get($gw, '/metrics');
is($m->{status}, 200, 'GET /metrics');
my $text = $m->{content};
my %sample;		# name{labels} -> value
my %family;		# metric names that have samples
my @bad;
for my $line (split /\n/, $text) {
	next if $line =~ /^# (HELP|TYPE) /;
	if ($line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/) {
		$sample{ $1 . ($2 // '') } = $3;
		$family{$1} = 1;
		push @bad, $line unless $3 =~ /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/ || $3 eq '+Inf';
	}
	else { push @bad, $line; }
}
is_deeply([grep { /^invoiceflow_(outbox|deliver|breaker|sink|ingestions|pending|expired|extractions)/ } @bad], [],
	'pipeline lines are well-formed samples with finite values (no NaN)');

for my $s (qw(s3 rabbitmq opensearch webhook)) {
	for my $n (qw(invoiceflow_outbox_depth invoiceflow_outbox_oldest_age_seconds invoiceflow_delivered_total
				  invoiceflow_delivery_failed_total invoiceflow_delivery_retries_total invoiceflow_sink_configured
				  invoiceflow_delivery_latency_seconds_sum invoiceflow_delivery_latency_seconds_count)) {
		ok(defined $sample{"$n\{sink=\"$s\"}"}, "$n\{sink=\"$s\"}");
	}
	ok(defined $sample{"invoiceflow_delivery_latency_seconds_bucket{sink=\"$s\",le=\"+Inf\"}"}, "$s histogram +Inf bucket");
}
ok(defined $sample{'invoiceflow_breaker_open{sink="s3"}'}, 'breaker state per sink');
like($text, qr/^# TYPE invoiceflow_delivery_latency_seconds histogram$/m, 'latency is a histogram');
like($text, qr/^# TYPE invoiceflow_delivered_total counter$/m, 'delivered_total is a counter');

is($sample{'invoiceflow_outbox_depth{sink="s3"}'}, 1, 'outbox depth (s3: one pending)');
cmp_ok($sample{'invoiceflow_outbox_oldest_age_seconds{sink="s3"}'}, '>=', 30, 'oldest undelivered s3 item: 30 s and more');
cmp_ok($sample{'invoiceflow_delivered_total{sink="rabbitmq"}'}, '>=', 1, 'a delivery counted');
is($sample{'invoiceflow_delivery_latency_seconds_bucket{sink="rabbitmq",le="1"}'} + 1,
	$sample{'invoiceflow_delivery_latency_seconds_bucket{sink="rabbitmq",le="2.5"}'}, '1.5 s lands between le=1 and le=2.5');
is($sample{'invoiceflow_delivery_latency_seconds_count{sink="rabbitmq"}'},
	$sample{'invoiceflow_delivery_latency_seconds_bucket{sink="rabbitmq",le="+Inf"}'}, '_count = +Inf bucket');
is($sample{'invoiceflow_ingestions{status="pending"}'}, 1, 'ingestions{status="pending"}');
is($sample{'invoiceflow_ingestions{status="completed"}'}, 1, 'ingestions{status="completed"}');
is($sample{'invoiceflow_extractions{extracted_from="text"}'}, 1, 'extractions by extracted_from');
is($sample{invoiceflow_extractions_needs_review}, 1, 'extractions needing review');
ok(defined $sample{invoiceflow_expired_leases}, 'expired leases');
cmp_ok($sample{invoiceflow_pending_oldest_age_seconds}, '>=', 0, 'oldest pending age');

# --- the Grafana dashboard ----------------------------------------------------------------
my $file = repo_root() . '/docker/grafana/invoiceflow.json';
my $dash = eval { JSON::PP->new->decode(slurp_file($file)) };
ok($dash, 'docker/grafana/invoiceflow.json is valid JSON') or diag($@);
my ($var) = grep { $_->{type} eq 'datasource' && $_->{query} eq 'prometheus' } @{ $dash->{templating}{list} // [] };
ok($var, 'a Prometheus datasource variable');
my (%queried, @panels_off);
for my $p (@{ $dash->{panels} // [] }) {
	next if $p->{type} eq 'row';
	push @panels_off, $p->{title} unless ($p->{datasource}{uid} // '') eq '${' . $var->{name} . '}';
	for my $t (@{ $p->{targets} // [] }) {
		$queried{$1} = 1 while ($t->{expr} // '') =~ /\b(invoiceflow_[a-z0-9_]+)/g;
	}
}
is_deeply(\@panels_off, [], 'every panel uses the datasource variable');
cmp_ok(scalar(keys %queried), '>=', 12, 'the dashboard plots the pipeline (' . scalar(keys %queried) . ' metrics)');
is_deeply([sort grep { !$family{$_} } keys %queried], [], 'every metric the dashboard queries is on /metrics');

$gw->stop;
done_testing();
