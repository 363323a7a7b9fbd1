# A 0.1 database that holds data (files, extractions, a failure, an API key) is
# upgraded with ALTER EXTENSION invoiceflow UPDATE, and everything it held is still
# served afterwards: status(), the stored bytes, search, the key (with its default
# scopes), exact stats(), retry, the newer functions on the old rows, and the REST
# API through the gateway. A second cluster installed fresh (the full install script of the newest version)
# must have the same roles and memberships as the upgraded one (cluster-wide
# objects regress 01_upgrade cannot compare inside one cluster).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use Digest::SHA qw(sha256_hex);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use InvoiceflowTest;
use GatewayTest;

my $node = new_node('upgrade_data', no_extension => 1);
$node->safe_psql('postgres', q{CREATE EXTENSION invoiceflow VERSION '0.1'});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'invoiceflow'}),
	'0.1', 'installed at 0.1');

# --- data written by 0.1 ---------------------------------------------------------
my $sample = slurp_file_bin(sample_pdf_path());
my %bytes = (
	'sample-invoice.pdf' => $sample,
	'second.pdf'         => make_pdf('Second invoice before the upgrade'),
	'broken.pdf'         => make_pdf('This one fails extraction'),
	'waiting.pdf'        => make_pdf('Still pending at upgrade time'));
my %id;
for my $name (sort keys %bytes) {
	my $hex = unpack('H*', $bytes{$name});
	$id{$name} = $node->safe_psql('postgres',
		"SELECT request_id FROM invoiceflow.ingest('$name', decode('$hex', 'hex'), 'upload', 'key-$name')");
	like($id{$name}, qr/^[0-9a-f-]{36}$/, "0.1 ingest $name");
}
sub finish {
	my ($name, $sql) = @_;
	my $lease = $node->safe_psql('postgres', "SELECT invoiceflow.claim('$id{$name}', 'old-worker')");
	$node->safe_psql('postgres', sprintf($sql, "'$id{$name}'", "'$lease'"));
}
finish('sample-invoice.pdf', q{SELECT invoiceflow.complete(%s, %s, '{"invoice": {"invoice_number": "UPG-2024-0042",
	"issue_date": "2024-03-01", "currency": "EUR", "seller": {"name": "Zeppelinwerft Altbestand GmbH"},
	"buyer": {"name": "Upgrade Buyer"}, "totals": {"total": "1234.50"}, "source": "text"},
	"text": "Rechnung UPG-2024-0042 for a hangar inspection"}')});
finish('second.pdf', q{SELECT invoiceflow.complete(%s, %s, '{"invoice": {"invoice_number": "OLD-7",
	"seller": {"name": "Globex Ltd"}, "totals": {"total": "10.00"}}}')});
finish('broken.pdf', q{SELECT invoiceflow.fail(%s, %s, 'unreadable before the upgrade')});
my $key = $node->safe_psql('postgres', q{SELECT invoiceflow.create_api_key('legacy-client')});
ok(length($key) > 20, 'an API key made by 0.1');

my %status_before = map {
	$_ => json_decode($node->safe_psql('postgres', "SELECT invoiceflow.status('$id{$_}')"))
} keys %id;
my $stats_before = json_decode($node->safe_psql('postgres', 'SELECT invoiceflow.stats()'));
is_deeply($stats_before, { total => 4, pending => 1, processing => 0, completed => 2, failed => 1 },
	'stats() before the upgrade')
  or diag explain $stats_before;

# --- the upgrade -------------------------------------------------------------------
$node->safe_psql('postgres', 'ALTER EXTENSION invoiceflow UPDATE');
my $newest = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'invoiceflow'});
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'invoiceflow'}),
	$newest, "upgraded to $newest");

# --- everything is still served ----------------------------------------------------
for my $name (sort keys %id) {
	my $after = json_decode($node->safe_psql('postgres', "SELECT invoiceflow.status('$id{$name}')"));
	my $before = $status_before{$name};
	# every field 0.1 answered keeps its value (later versions only add fields)
	is_deeply({ map { $_ => $after->{$_} } keys %$before }, $before, "status($name): the 0.1 fields unchanged");
	is($node->safe_psql('postgres', "SELECT encode(sha256(invoiceflow.file('$id{$name}')), 'hex')"),
		sha256_hex($bytes{$name}), "file($name): the same bytes (sha256)");
	is($node->safe_psql('postgres', "SELECT invoiceflow.file_size('$id{$name}')"), length($bytes{$name}),
		"file_size($name) (0.6) on a 0.1 row");
	is($node->safe_psql('postgres', "SELECT encode(invoiceflow.file_slice('$id{$name}', 0, 64), 'hex')"),
		unpack('H*', substr($bytes{$name}, 0, 64)), "file_slice($name) (0.6) on a 0.1 row");
	# 0.6 adds the column without a table rewrite: rows from before keep no trace
	is($node->safe_psql('postgres', "SELECT coalesce(invoiceflow.traceparent('$id{$name}'), 'none')"),
		'none', "traceparent($name) (0.6) on a 0.1 row: none, no error");
}
is(json_decode($node->safe_psql('postgres', "SELECT invoiceflow.status('$id{'broken.pdf'}')"))->{status},
	'FAILED', 'the failure is still FAILED');
is($node->safe_psql('postgres', "SELECT invoiceflow.status('$id{'sample-invoice.pdf'}')->'invoice'->>'invoice_number'"),
	'UPG-2024-0042', 'status() serves the extraction made under 0.1');
is($node->safe_psql('postgres', "SELECT invoiceflow.status('$id{'broken.pdf'}')->'error'->>'message'"),
	'unreadable before the upgrade', 'status() serves the failure reason given under 0.1');

sub found {
	my ($q) = @_;
	my $r = json_decode($node->safe_psql('postgres', "SELECT invoiceflow.search(q => '$q')"));
	return [ map { $_->{request_id} } @{ $r->{items} } ];
}
is_deeply(found('UPG-2024-0042'), [ $id{'sample-invoice.pdf'} ], 'search() finds the invoice extracted by 0.1 by number');
is_deeply(found('Zeppelinwerft'), [ $id{'sample-invoice.pdf'} ], 'search() finds it by seller');
is_deeply(found('hangar'), [ $id{'sample-invoice.pdf'} ], 'search() finds it by its text');
is_deeply(found('OLD-7'), [ $id{'second.pdf'} ], 'search() finds the second extraction');

is($node->safe_psql('postgres', "SELECT invoiceflow.check_api_key('$key')"), 't', 'the 0.1 key still checks');
is($node->safe_psql('postgres', "SELECT invoiceflow.check_api_key_scopes('$key')"), '{ingest,read}',
	'the 0.1 key has the default scopes {ingest,read}');
is($node->safe_psql('postgres', "SELECT invoiceflow.check_api_key('not-$key')"), 'f', 'a wrong key still fails');

my $exact = q{SELECT invoiceflow.stats() = jsonb_build_object('total', (SELECT count(*) FROM invoiceflow.ingestions))
	|| (SELECT jsonb_object_agg(lower(s), (SELECT count(*) FROM invoiceflow.ingestions i WHERE i.status = s))
	    FROM unnest(ARRAY['PENDING', 'PROCESSING', 'COMPLETED', 'FAILED']) s)};
is_deeply(json_decode($node->safe_psql('postgres', 'SELECT invoiceflow.stats()')), $stats_before,
	'stats() after the upgrade: the same counts');
is($node->safe_psql('postgres', $exact), 't', 'stats() matches the rows');

$node->safe_psql('postgres', "SELECT invoiceflow.retry('$id{'broken.pdf'}')");
is(json_decode($node->safe_psql('postgres', "SELECT invoiceflow.status('$id{'broken.pdf'}')"))->{status},
	'PENDING', 'retry() of a failure from 0.1');
is_deeply(json_decode($node->safe_psql('postgres', 'SELECT invoiceflow.stats()')),
	{ total => 4, pending => 2, processing => 0, completed => 2, failed => 0 }, 'stats() follows the retry');
is($node->safe_psql('postgres', $exact), 't', 'stats() still matches the rows');

# the old rows go through the 0.6 state machine and its metrics
my $claimed = $node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.claim_next('new-worker', 10)});
is($claimed, 2, 'claim_next() takes both pending 0.1 rows');
my $m = json_decode($node->safe_psql('postgres', 'SELECT invoiceflow.metrics()'));
ok($m, 'metrics() (0.6) answers on the upgraded database') or diag explain $m;
my $dup = $node->safe_psql('postgres', sprintf(
	"SELECT duplicate FROM invoiceflow.ingest('again.pdf', decode('%s', 'hex'))", unpack('H*', $sample)));
is($dup, 't', 'a 0.1 file is still recognised as a duplicate');
my $new = $node->safe_psql('postgres', sprintf(
	"SELECT request_id FROM invoiceflow.ingest('after.pdf', decode('%s', 'hex'))", unpack('H*', make_pdf('after the upgrade'))));
like($node->safe_psql('postgres', "SELECT invoiceflow.traceparent('$new')"),
	qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/, 'a row ingested after the upgrade has a traceparent');

# --- through the gateway -------------------------------------------------------------
my $gw = start_gateway($node, REQUIRE_API_KEY => 'true');
my $auth = { Authorization => "Bearer $key" };
my $r = gw_get($gw, "/api/v1/ingest/status/$id{'sample-invoice.pdf'}", %$auth);
is($r->{status}, 200, 'gateway: status of a 0.1 upload with the 0.1 key');
is($r->{json}{status}, 'COMPLETED', 'gateway: still COMPLETED');
$r = gw_get($gw, "/api/v1/invoices/$id{'sample-invoice.pdf'}", %$auth);
is($r->{status}, 200, 'gateway: the invoice of a 0.1 extraction');
is(($r->{json}{invoice} // {})->{invoice_number}, 'UPG-2024-0042', 'gateway: its invoice number')
  or diag explain $r->{json};
$r = gw_get($gw, "/api/v1/invoices/$id{'sample-invoice.pdf'}/file", %$auth);
is($r->{status}, 200, 'gateway: the file of a 0.1 upload');
is(sha256_hex($r->{content}), sha256_hex($sample), 'gateway: the same bytes');
$r = gw_get($gw, '/api/v1/invoices?q=UPG-2024-0042', %$auth);
is($r->{status}, 200, 'gateway: search');
is_deeply([ map { $_->{request_id} } @{ $r->{json}{items} // [] } ], [ $id{'sample-invoice.pdf'} ],
	'gateway: search finds the 0.1 extraction');
$r = gw_get($gw, '/api/v1/ingest/stats', Authorization => 'Bearer not-the-key');
is($r->{status}, 401, 'gateway: a wrong key is refused');
is($gw->stop, 0, 'gateway exits cleanly');

# --- roles: a fresh install (full script) makes what the chain made --------------------
my $roles = q{SELECT string_agg(r.rolname || ':' || r.rolcanlogin || ':' || coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname)
	FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid WHERE a.member = r.oid), ''), ' ' ORDER BY r.rolname)
	FROM pg_roles r WHERE r.rolname LIKE 'invoiceflow\_%'};
my $fresh = new_node('upgrade_fresh');
$node->safe_psql('postgres', 'ALTER ROLE invoiceflow_gateway NOLOGIN');   # start_gateway's own change
is($fresh->safe_psql('postgres', $roles), $node->safe_psql('postgres', $roles),
	'fresh install and upgrade: the same roles and memberships');
$fresh->stop;
$node->stop;
done_testing();
