# The delivery workers' life: they wait (and say why) until the extension of
# their version is installed, show in pg_stat_activity, wake on commit and
# NOTIFY once per committed batch in embedded mode, stop on SIGTERM within a
# second and come back, survive a crash restart, and never block DROP DATABASE.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use InvoiceflowTest;
use DeliveryTest;

my $node = new_node('lifecycle', no_extension => 1, dbname => 'appdb',
	conf => "invoiceflow.workers = 2\nrestart_after_crash = on\n");

# --- before CREATE EXTENSION / ALTER EXTENSION UPDATE: wait and say why ------
$node->wait_for_log(qr/invoiceflow worker 0 waits: extension invoiceflow is not installed in database "appdb"/);
pass('worker waits for CREATE EXTENSION and says why');
my $off = -s $node->logfile;
$node->safe_psql('appdb', "CREATE EXTENSION invoiceflow VERSION '0.1'");
my ($libver) = slurp_file(repo_root() . '/invoiceflow.control') =~ /default_version = '([^']+)'/;
$node->wait_for_log(qr/waits: extension invoiceflow is at version 0\.1, the library at \Q$libver\E/, $off);
pass('worker waits for ALTER EXTENSION UPDATE and says why');
$off = -s $node->logfile;
$node->safe_psql('appdb', 'ALTER EXTENSION invoiceflow UPDATE');
$node->wait_for_log(qr/invoiceflow worker 0 started in database "appdb"/, $off);
pass('worker starts once the extension is at the library version');

# --- pg_stat_activity ---------------------------------------------------------
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM pg_stat_activity
	WHERE backend_type = 'invoiceflow worker' AND datname = 'appdb'
	  AND application_name LIKE 'invoiceflow worker _'}), 'two workers in pg_stat_activity, named');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'invoiceflow launcher' AND datname IS NULL}), 1,
	'one launcher, connected to no database');
is($node->safe_psql('postgres', q{SELECT string_agg(DISTINCT wait_event, ',') FROM pg_stat_activity
	WHERE backend_type = 'invoiceflow worker' AND state = 'idle'}), 'Extension',
	'idle workers sleep on their latch');

# --- embedded mode: one NOTIFY per committed batch -----------------------------
my $listener = $node->background_psql('appdb');
$listener->query_safe('LISTEN invoiceflow');
my $notes = '';
my $count_notes = sub { my @n = $notes =~ /Asynchronous notification "invoiceflow"/g; scalar @n };
my $wait_notes = sub {
	my ($want) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline) {
		$notes .= $listener->query('SELECT 1') // '';
		return 1 if $count_notes->() >= $want;
	}
	return 0;
};
add_pdf_function($node, 'appdb');
$node->safe_psql('appdb', q{SELECT count(*) FROM generate_series(1, 50) g,
	  LATERAL invoiceflow.ingest('batch-' || g || '.pdf', pdf('batch ' || g))});
ok($wait_notes->(1), 'a LISTENer is notified when 50 ingests commit');
# a second commit after the first NOTIFY: its notification arrives after any the
# first batch could have caused, so the total proves "one per batch"
$node->safe_psql('appdb', q{UPDATE invoiceflow.ingestions SET status = 'FAILED', error_kind = 'processing', error_message = 'x'
	  WHERE filename = 'batch-1.pdf'});
$node->safe_psql('appdb', q{SELECT invoiceflow.retry(id) FROM invoiceflow.ingestions WHERE filename = 'batch-1.pdf'});
ok($wait_notes->(2), 'a retry (return to PENDING) notifies too');
is($count_notes->(), 2, 'one NOTIFY per committed batch, not one per row');
$listener->quit;
is($node->safe_psql('appdb', 'SELECT count(*) FROM invoiceflow.outbox'), 0,
	'embedded mode: no outbox rows for unconfigured sinks');
is($node->safe_psql('appdb', 'SELECT invoiceflow.health()'),
	'{"service": "healthy", "dependencies": {"s3": "disabled", "mail": "disabled", "database": "healthy", "rabbitmq": "disabled", "opensearch": "disabled"}}',
	'embedded health: external dependencies disabled');

# --- SIGHUP reloads, SIGTERM stops within a second, the launcher restarts it ---
my $pid0 = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE application_name = 'invoiceflow worker 0'});
$node->safe_psql('postgres', 'ALTER SYSTEM SET invoiceflow.probe_interval_seconds = 7');
$node->reload;
ok($node->poll_query_until('postgres', "SELECT pid = $pid0 FROM pg_stat_activity WHERE application_name = 'invoiceflow worker 0'"),
	'SIGHUP: the worker reloads and keeps running');
my $t0 = time;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid0)");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid0"), 'SIGTERM stops the worker');
my $stopped = time - $t0;
ok($stopped < 1.5, sprintf('... within a second (%.2f s)', $stopped));
ok($node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'invoiceflow worker 0'}),
	'the launcher starts it again');

# --- a crash (SIGKILL) restarts everything -------------------------------------
my $pid1 = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE application_name = 'invoiceflow worker 1'});
$off = -s $node->logfile;
kill 'KILL', $pid1;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $off);
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'invoiceflow worker'}),
	'after SIGKILL of a worker and the crash restart, both workers run again');

# --- DROP DATABASE is never blocked ---------------------------------------------
$t0 = time;
$off = -s $node->logfile;
my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE appdb');
is($ret, 0, 'DROP DATABASE of the workers\' database succeeds') or diag($err);
my $took = time - $t0;
ok($took < 4, sprintf('... without waiting for the workers (%.2f s)', $took));
$node->wait_for_log(qr/invoiceflow workers wait: database "appdb" does not exist/, $off);
pass('the launcher says the database is gone');
$node->safe_psql('postgres', 'CREATE DATABASE appdb');
$node->safe_psql('appdb', 'CREATE EXTENSION invoiceflow');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM pg_stat_activity
	WHERE backend_type = 'invoiceflow worker' AND datname = 'appdb'}), 'workers return when the database is back');
# ALTER DATABASE RENAME needs the database free too
($ret, $out, $err) = $node->psql('postgres', 'ALTER DATABASE appdb RENAME TO appdb2');
is($ret, 0, 'ALTER DATABASE RENAME is not blocked either') or diag($err);
$node->safe_psql('postgres', 'ALTER DATABASE appdb2 RENAME TO appdb');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 2 FROM pg_stat_activity
	WHERE backend_type = 'invoiceflow worker' AND datname = 'appdb'}), 'and the workers come back after the rename back');

$node->stop;
done_testing();
