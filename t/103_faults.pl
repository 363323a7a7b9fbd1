# The fault test: while 1,000 uploads are ingested by two clients, stop
# RabbitMQ, then the S3 server, then SIGKILL a worker (the postmaster restarts
# every backend: the clients reconnect and retry with their idempotency keys),
# bring RabbitMQ and S3 back, then restart PostgreSQL with pg_ctl -m immediate.
# Afterwards every accepted upload is in S3 exactly once (byte for byte), has at
# least one invoice.uploaded message, and no row is stuck.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use InvoiceflowTest;
use DeliveryTest;

plan skip_all => 'rabbitmq-server or s3rver missing'
  unless -d '/usr/lib/rabbitmq' && -f repo_root() . '/test/services/node_modules/s3rver/bin/s3rver.js';
system('make', '-s', '-C', repo_root() . '/test/tools') == 0 or BAIL_OUT('cannot build test/tools');
my $uploads = $ENV{FAULT_UPLOADS} // 1000;
my $tmp = $PostgreSQL::Test::Utils::tmp_check;
start_own_services("$tmp/svc103");

my $node = new_node('faults', conf => "invoiceflow.workers = 2\nrestart_after_crash = on\n"
	. "log_statement = none\n" . delivery_conf(
	max_retries => 3, retry_delay_seconds => '0.2', retry_backoff_factor => 2,
	retry_max_delay_seconds => 2, breaker_failures => 5, breaker_cooldown_seconds => 1,
	probe_interval_seconds => 1));
add_pdf_function($node, 'postgres');
ok($node->poll_query_until('postgres', q{SELECT invoiceflow.health()->>'service' = 'healthy'}), 'healthy at start');

# Two clients, each a loop of psql calls: on any error (server restarting, crash)
# they retry the same upload with the same idempotency key until it is accepted.
my $client = "$tmp/client.pl";
open(my $fh, '>', $client) or die;
print $fh <<'EOF';
use strict; use warnings; use Time::HiRes qw(usleep);
my ($connstr, $from, $to, $out) = @ARGV;
open(my $o, '>>', $out) or die; $o->autoflush(1);
for my $i ($from .. $to) {
	for (;;) {
		my $r = `psql -XAtq -d "$connstr" -c "SELECT request_id || ' ' || duplicate FROM invoiceflow.ingest('f$i.pdf', pdf('fault upload $i', 10000), 'upload', 'fault-key-$i')" 2>/dev/null`;
		if ($? == 0 && $r =~ /^([0-9a-f-]{36}) (t|f|true|false)$/m) { print $o "$i $1 $2\n"; last; }
		usleep(100_000);
	}
	usleep(25_000);    # a steady stream, so that every fault hits uploads in flight
}
EOF
close $fh;
my $accepted_file = "$tmp/accepted.txt";
unlink $accepted_file;
my $half = int($uploads / 2);
my @clients = map {
	IPC::Run::start(['perl', $client, $node->connstr('postgres'), @$_, $accepted_file])
} ([1, $half], [$half + 1, $uploads]);
my $t0 = time;
my $accepted = sub { my @l = -f $accepted_file ? split(/\n/, slurp_file($accepted_file)) : (); scalar @l };
my $wait_accepted = sub {
	my ($n) = @_;
	my $deadline = time + 300;
	usleep(50_000) while $accepted->() < $n && time < $deadline;
	return $accepted->() >= $n;
};

my %fault_at;
ok($wait_accepted->($uploads * 0.05), 'uploads flowing');
service_cmd('down', 'rabbitmq');
$fault_at{'rabbitmq down'} = $accepted->();
ok($wait_accepted->($uploads * 0.2), 'uploads accepted while RabbitMQ is down');
service_cmd('down', 's3');
$fault_at{'s3 down'} = $accepted->();
ok($wait_accepted->($uploads * 0.35), 'uploads accepted while RabbitMQ and S3 are down');
my $wpid;
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'invoiceflow worker'}),
	'a worker to kill');
$wpid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'invoiceflow worker' ORDER BY pid LIMIT 1});
die "no worker pid: '$wpid'" unless $wpid =~ /^\d+$/ && $wpid > 1;
my $logpos = -s $node->logfile;
kill 'KILL', $wpid;
$fault_at{'worker SIGKILL'} = $accepted->();
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $logpos);
my $at_crash = $accepted->();
ok($wait_accepted->($at_crash + $uploads * 0.1), 'uploads accepted after the crash restart (clients reconnected)');
service_cmd('up', 'rabbitmq');
$fault_at{'rabbitmq up'} = $accepted->();
ok($wait_accepted->($at_crash + $uploads * 0.2), 'uploads with RabbitMQ back');
service_cmd('up', 's3');
$fault_at{'s3 up'} = $accepted->();
ok($wait_accepted->($at_crash + $uploads * 0.3), 'uploads with S3 back');
$node->stop('immediate');
$node->start;
$fault_at{'pg_ctl -m immediate restart'} = $accepted->();
ok($wait_accepted->($uploads), "all $uploads uploads accepted");
$_->finish for @clients;
my $ingest_secs = time - $t0;
diag(sprintf('faults at accepted counts: %s', join(', ', map { "$_ $fault_at{$_}" } sort { $fault_at{$a} <=> $fault_at{$b} } keys %fault_at)));

# every accepted upload is in the database exactly once
my %id_of;
for (split /\n/, slurp_file($accepted_file)) {
	my ($i, $id) = split / /;
	$id_of{$i} //= $id;
	is($id_of{$i}, $id, "key $i: retried uploads returned the same request") if $id_of{$i} ne $id;
}
is(scalar(keys %id_of), $uploads, 'every upload has one accepted request');
is($node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.ingestions WHERE idempotency_key LIKE 'fault-key-%'}),
	$uploads, 'one row per upload in PostgreSQL (idempotency keys: no double accept)');

# delivery catches up
my $t1 = time;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM invoiceflow.outbox WHERE state <> 'done'}),
	'every outbox row delivered after the faults');
my $catch_up = time - $t1;
diag(sprintf('%d uploads accepted in %.1f s through the faults; outbox drained %.1f s later', $uploads, $ingest_secs, $catch_up));
is($node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.ingestions WHERE status <> 'PENDING'}), 0,
	'no ingestion failed or is stuck (all PENDING, waiting for processors)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.outbox WHERE claimed_by IS NOT NULL}), 0,
	'no outbox row left claimed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.ingestion_files}), 0,
	'every file moved to S3 (bytes dropped only after a verified PUT)');
my $stats = $node->safe_psql('postgres', q{SELECT sum(tries) - count(*) FROM invoiceflow.outbox});
diag("delivery retries during the faults: $stats");

# S3: exactly one object per upload, byte for byte
my $raw = "$ENV{S3_DIR}/data/invoiceflow/raw";
opendir(my $d, $raw) or die "$raw: $!";
my @objects = grep { /\.pdf\._S3rver_object$/ } readdir $d;
closedir $d;
is(scalar @objects, $uploads, "exactly $uploads objects in S3 (one per upload, none twice)");
my %sha = map { split / / } split /\n/, $node->safe_psql('postgres',
	q{SELECT id || ' ' || encode(sha256, 'hex') FROM invoiceflow.ingestions});
my $same = 0;
for my $id (values %id_of) {
	my $f = "$raw/$id.pdf._S3rver_object";
	$same++ if -f $f && sha256_hex(slurp_file_bin($f)) eq $sha{$id};
}
is($same, $uploads, 'every accepted upload is in S3 byte for byte (sha256)');

# RabbitMQ: at least one invoice.uploaded per upload
my @msgs = amqp_drain($ENV{RABBITMQ_URL}, 'invoiceflow.process', 2000);
my %msg;
for my $m (@msgs) { $msg{$1}++ if $m->{message_id} =~ /^([0-9a-f-]{36}):invoice\.uploaded:\d+$/; }
is(scalar(grep { $msg{$_} } values %id_of), $uploads, 'every accepted upload has at least one invoice.uploaded message');
my $dups = grep { $_ > 1 } values %msg;
diag(sprintf('%d messages for %d uploads (%d published more than once: at-least-once)', scalar @msgs, $uploads, $dups));
ok($node->poll_query_until('postgres', q{SELECT invoiceflow.health()->>'service' = 'healthy'}), 'healthy at the end');

$node->stop;
done_testing();
