# The extension in two databases of one cluster at once: roles are created once
# and shared, each database keeps its own data. Also: the library refuses to
# load unless preloaded, with a hint.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use PostgreSQL::Test::Cluster;
use Test::More;
use InvoiceflowTest;

my $node = new_node('twodb');
$node->safe_psql('postgres', 'CREATE DATABASE second');
$node->safe_psql('second', 'CREATE EXTENSION invoiceflow');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname LIKE 'invoiceflow\_%'}), 7,
	'seven roles (with invoiceflow_mail), created once for both databases');

my $pdf = unpack('H*', make_pdf('two databases'));
for my $db ('postgres', 'second') {
	my $r = $node->safe_psql($db, "SELECT status, duplicate FROM invoiceflow.ingest('a.pdf', decode('$pdf', 'hex'))");
	is($r, 'PENDING|f', "ingest in $db is not a duplicate of the other database's");
	is($node->safe_psql($db, q{SELECT invoiceflow.stats()->>'total'}), 1, "stats in $db count its own row");
}
# a login role of each kind works in both databases
$node->safe_psql('postgres', 'CREATE ROLE app LOGIN IN ROLE invoiceflow_writer');
for my $db ('postgres', 'second') {
	my $r = $node->safe_psql($db, "SELECT duplicate FROM invoiceflow.ingest('b.pdf', decode('$pdf', 'hex'))",
		extra_params => ['-U', 'app']);
	is($r, 't', "writer role can ingest in $db");
	my ($ret, $out, $err) = $node->psql($db, 'SELECT count(*) FROM invoiceflow.ingestions', extra_params => ['-U', 'app']);
	like($err, qr/permission denied/, "writer role cannot read the table in $db");
}
# dropping the extension in one database leaves the other working
$node->safe_psql('second', 'DROP EXTENSION invoiceflow');
is($node->safe_psql('postgres', q{SELECT invoiceflow.stats()->>'total'}), 1, 'first database unaffected by a DROP in the second');
$node->safe_psql('second', 'CREATE EXTENSION invoiceflow');
is($node->safe_psql('second', q{SELECT invoiceflow.stats()->>'total'}), 0, 'extension re-created in the second database');
$node->stop;

# Not preloaded: CREATE EXTENSION refuses with a hint.
my $bare = PostgreSQL::Test::Cluster->new('bare');
$bare->init;
$bare->start;
my ($ret, $out, $err) = $bare->psql('postgres', 'CREATE EXTENSION invoiceflow');
isnt($ret, 0, 'CREATE EXTENSION fails without shared_preload_libraries');
like($err, qr/must be loaded via shared_preload_libraries/, 'error says why');
like($err, qr/HINT:\s+Add 'invoiceflow' to shared_preload_libraries/, 'hint says what to do');
$bare->stop;
done_testing();
