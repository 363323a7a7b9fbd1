# Permanent errors fail the ingestion with a readable reason and retry()
# delivers once the configuration is fixed; a transient outage longer than all
# quick retries fails nothing; health() goes healthy -> degraded -> healthy;
# waiting on an open circuit uses no attempts. Runs its own S3 server and
# RabbitMQ node (started here) so that it can stop them.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use InvoiceflowTest;
use DeliveryTest;

plan skip_all => 'rabbitmq-server or s3rver missing'
  unless -d '/usr/lib/rabbitmq' && -f repo_root() . '/test/services/node_modules/s3rver/bin/s3rver.js';
system('make', '-s', '-C', repo_root() . '/test/tools') == 0 or BAIL_OUT('cannot build test/tools');
start_own_services($PostgreSQL::Test::Utils::tmp_check . '/svc102');

my $node = new_node('errors', conf => "invoiceflow.workers = 2\n" . delivery_conf(
	max_retries => 2, retry_delay_seconds => '0.2', retry_backoff_factor => 2,
	retry_max_delay_seconds => 1, breaker_failures => 3, breaker_cooldown_seconds => 1,
	probe_interval_seconds => 1));
add_pdf_function($node, 'postgres');
my $health = sub { $node->safe_psql('postgres', 'SELECT invoiceflow.health()') };
my $wait_health = sub {
	my ($service, $dep, $state) = @_;
	return $node->poll_query_until('postgres', qq{SELECT invoiceflow.health()->>'service' = '$service'
		AND invoiceflow.health()->'dependencies'->>'$dep' = '$state'});
};
ok($wait_health->('healthy', 's3', 'healthy'), 'healthy at start');
my $n = 0;
my $ingest = sub { $n++; return $node->safe_psql('postgres', "SELECT request_id FROM invoiceflow.ingest('e$n.pdf', pdf('errors $n'))"); };
my $delivered = sub {
	my ($id) = @_;
	return $node->poll_query_until('postgres', qq{SELECT count(*) > 0 AND bool_and(state = 'done')
		FROM invoiceflow.outbox WHERE ingestion_id = '$id' AND (event IS NULL OR event = 'invoice.uploaded')
		  AND attempt = (SELECT attempt FROM invoiceflow.ingestions WHERE id = '$id')});
};
my $set = sub {
	my ($sql) = @_;
	$node->safe_psql('postgres', $sql);
	$node->reload;
};

# --- permanent: the bucket does not exist --------------------------------------
$set->(q{ALTER SYSTEM SET invoiceflow.s3_bucket = 'no-such-bucket'});
ok($wait_health->('degraded', 's3', 'unhealthy'), 'wrong bucket: S3 unhealthy, service degraded');
my $id = $ingest->();
ok($node->poll_query_until('postgres', "SELECT status = 'FAILED' FROM invoiceflow.ingestions WHERE id = '$id'"),
	'wrong bucket: the ingestion FAILED');
my $err = $node->safe_psql('postgres', "SELECT invoiceflow.status('$id')->'error'");
like($err, qr/"kind": "delivery"/, 'error kind is delivery');
like($err, qr/S3 upload failed permanently: .*HTTP 404 NoSuchBucket/, "readable reason: $err");
$set->(q{ALTER SYSTEM RESET invoiceflow.s3_bucket});
ok($wait_health->('healthy', 's3', 'healthy'), 'bucket fixed: healthy again');
$node->safe_psql('postgres', "SELECT invoiceflow.retry('$id')");
ok($delivered->($id), 'retry() delivers it after the configuration is fixed');
is($node->safe_psql('postgres', "SELECT status || ' ' || (invoiceflow.status(id)->'delivery'->'s3'->>'state') FROM invoiceflow.ingestions WHERE id = '$id'"),
	'PENDING done', 'PENDING again, S3 done');

# --- permanent: a wrong secret, refused by the verifying proxy ---------------------
$set->(q{ALTER SYSTEM SET invoiceflow.s3_secret_access_key = 'wrong-secret'});
ok($wait_health->('degraded', 's3', 'unhealthy'), 'wrong secret: S3 unhealthy');
$id = $ingest->();
ok($node->poll_query_until('postgres', "SELECT status = 'FAILED' FROM invoiceflow.ingestions WHERE id = '$id'"),
	'wrong secret: the ingestion FAILED');
$err = $node->safe_psql('postgres', "SELECT invoiceflow.status('$id')->'error'->>'message'");
like($err, qr/S3 upload failed permanently: .*403 SignatureDoesNotMatch/, "readable reason: $err");
# Skipped: the test's own ALTER SYSTEM statement (log_statement = all) and the
# postmaster's own "parameter ... changed to" line on reload, which PostgreSQL
# writes for every changed setting, secrets included (see docs/delivery.md).
unlike($err . join("\n", grep { !/statement: ALTER SYSTEM|parameter "invoiceflow\.\w+" changed to/ }
		split /\n/, slurp_file($node->logfile)),
	qr/wrong-secret/, 'the secret appears in no error and no log line of the worker');
$set->(q{ALTER SYSTEM RESET invoiceflow.s3_secret_access_key});
ok($wait_health->('healthy', 's3', 'healthy'), 'secret fixed: healthy again');
$node->safe_psql('postgres', "SELECT invoiceflow.retry('$id')");
ok($delivered->($id), 'retry() delivers it');
is(sha256_hex(s3_get("raw/$id.pdf")), $node->safe_psql('postgres', "SELECT encode(sha256, 'hex') FROM invoiceflow.ingestions WHERE id = '$id'"),
	'the retried file is in S3 byte for byte');

# --- permanent: RabbitMQ refuses the login -------------------------------------------
(my $bad_url = $ENV{RABBITMQ_URL}) =~ s/guest:guest/guest:wrong/;
$set->(qq{ALTER SYSTEM SET invoiceflow.rabbitmq_url = '$bad_url'});
ok($wait_health->('degraded', 'rabbitmq', 'unhealthy'), 'refused login: RabbitMQ unhealthy');
$id = $ingest->();
ok($node->poll_query_until('postgres', "SELECT status = 'FAILED' FROM invoiceflow.ingestions WHERE id = '$id'"),
	'refused login: the ingestion FAILED');
$err = $node->safe_psql('postgres', "SELECT invoiceflow.status('$id')->'error'->>'message'");
like($err, qr/RabbitMQ publish failed permanently/, "readable reason: $err");
$set->(q{ALTER SYSTEM RESET invoiceflow.rabbitmq_url});
ok($wait_health->('healthy', 'rabbitmq', 'healthy'), 'URL fixed: healthy again');
$node->safe_psql('postgres', "SELECT invoiceflow.retry('$id')");
ok($delivered->($id), 'retry() publishes it');

# --- a long transient S3 outage fails nothing ------------------------------------------
service_cmd('down', 's3');
ok($wait_health->('degraded', 's3', 'unhealthy'), 'S3 down: degraded');
my @ids = map { $ingest->() } 1 .. 5;
ok($node->poll_query_until('postgres', q{SELECT state = 'open' FROM invoiceflow._breakers() WHERE dependency = 's3'}),
	'the S3 circuit breaker opens');
my $tries = $node->safe_psql('postgres', q{SELECT sum(tries) FROM invoiceflow.outbox WHERE sink = 's3' AND state = 'pending'});
my $checks = $node->safe_psql('postgres', q{SELECT last_check FROM invoiceflow._breakers() WHERE dependency = 's3'});
# several probe rounds (each at least a cool-down apart) while the circuit stays open
for my $round (1 .. 3) {
	ok($node->poll_query_until('postgres', qq{SELECT last_check > '$checks' FROM invoiceflow._breakers() WHERE dependency = 's3'}),
		"probe round $round while S3 is down");
	$checks = $node->safe_psql('postgres', q{SELECT last_check FROM invoiceflow._breakers() WHERE dependency = 's3'});
}
is($node->safe_psql('postgres', q{SELECT sum(tries) FROM invoiceflow.outbox WHERE sink = 's3' AND state = 'pending'}), $tries,
	'waiting on the open circuit used no attempts');
is($node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.ingestions WHERE status = 'FAILED'}), 0,
	'an outage longer than all quick retries fails nothing');
like($node->safe_psql('postgres', "SELECT invoiceflow.status('$ids[0]')->'delivery'->>'s3'"),
	qr/"state": "(retrying|pending)"/, 'status() shows the S3 delivery waiting');
service_cmd('up', 's3');
ok($wait_health->('healthy', 's3', 'healthy'), 'S3 back: healthy');
ok($delivered->($_), "delivered after the outage ($_)") for @ids;

# --- a RabbitMQ outage: the broker restarts, the worker reconnects ---------------------------
service_cmd('down', 'rabbitmq');
ok($wait_health->('degraded', 'rabbitmq', 'unhealthy'), 'RabbitMQ down: degraded');
@ids = map { $ingest->() } 1 .. 3;
service_cmd('up', 'rabbitmq');
ok($wait_health->('healthy', 'rabbitmq', 'healthy'), 'RabbitMQ back: healthy');
ok($delivered->($_), "published after the broker restart ($_)") for @ids;
is($node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.ingestions WHERE status = 'FAILED'}), 0,
	'nothing failed during the outages');
my @msgs = amqp_drain($ENV{RABBITMQ_URL}, 'invoiceflow.process', 500);
my %seen = map { $_->{message_id} => 1 } @msgs;
is(scalar(grep { $seen{"$_:invoice.uploaded:1"} } @ids), 3, 'the events of files ingested during the outage are in the queue');

$node->stop;
done_testing();
