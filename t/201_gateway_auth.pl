# Gateway API keys (issue 4 item 6, issue 9 item 2): Bearer keys checked by
# check_api_key_scopes(), cached for API_KEY_CACHE_SECONDS; required by default
# on every HOST, loopback included (REQUIRE_API_KEY=false opens it, with a
# warning); /health and /ready never need one, /metrics unless METRICS_PUBLIC=true.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use InvoiceflowTest;
use GatewayTest;

my $node = new_node('gw_auth');
my $key = $node->safe_psql('postgres', "SELECT invoiceflow.create_api_key('t201')");
my $key2 = $node->safe_psql('postgres', "SELECT invoiceflow.create_api_key('t201-other')");
ok(length($key) >= 20, 'create_api_key returns a key');

sub problem_401 {
	my ($r, $name) = @_;
	is($r->{status}, 401, "$name: 401");
	like($r->{headers}{'content-type'} // '', qr{^application/problem\+json}, "$name: problem+json");
	is($r->{json}{status}, 401, "$name: status member");
	like($r->{json}{detail} // '', qr/API key/, "$name: detail names the API key");
	like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/, "$name: WWW-Authenticate: Bearer");
}

# --- HOST=0.0.0.0 (not loopback): keys required by default; we connect via 127.0.0.1 ---
my $gw = start_gateway($node, HOST => '0.0.0.0', API_KEY_CACHE_SECONDS => 2, REQUIRE_API_KEY => undef);
problem_401(gw_get($gw, '/api/v1/ingest/stats'), 'no key');
problem_401(gw_get($gw, '/api/v1/ingest/stats', Authorization => 'Bearer wrong-key-123'), 'wrong key');
problem_401(gw_get($gw, '/api/v1/ingest/stats', Authorization => "Basic $key"), 'other scheme');
problem_401(gw_get($gw, '/api/v1/ingest/stats', Authorization => 'Bearer '), 'empty bearer');
problem_401(gw_get($gw, '/api/v1/ingest/stats', Authorization => "Bearer $key extra"), 'bearer with junk');
problem_401(gw_upload($gw, make_pdf('no key upload')), 'upload without a key');
ok(!grep({ ($_->{message} // '') =~ /\Q$key\E/ } log_lines($gw)), 'keys never reach the log');

my $r = gw_get($gw, '/api/v1/ingest/stats', Authorization => "Bearer $key");
is($r->{status}, 200, 'valid key: stats 200');
$r = gw_get($gw, '/api/v1/ingest/stats', Authorization => "bearer $key");
is($r->{status}, 200, 'scheme is case-insensitive');
$r = gw_upload($gw, make_pdf('keyed upload'), headers => { Authorization => "Bearer $key" });
is($r->{status}, 202, 'valid key: upload 202');
my $id = $r->{json}{request_id};
is(gw_get($gw, "/api/v1/ingest/status/$id", Authorization => "Bearer $key")->{status}, 200, 'valid key: status');
is(gw_get($gw, '/api/v1/ingest/health', Authorization => "Bearer $key")->{status}, 200, 'valid key: health');
is(gw_get($gw, "/api/v1/invoices/$id", Authorization => "Bearer $key")->{status}, 200, 'valid key: query API');

for my $p ('/health', '/ready') {
	is(gw_get($gw, $p)->{status}, 200, "$p needs no key");
}
problem_401(gw_get($gw, '/metrics'), '/metrics without a key');
is(gw_get($gw, '/metrics', Authorization => "Bearer $key")->{status}, 200, '/metrics with a read key');
# unknown paths are 404 whether or not a key is sent (no route, no key check)
is(gw_get($gw, '/api/v1/nothing')->{status}, 404, 'unknown path: 404 without a key');

# revocation: the cached answer expires within API_KEY_CACHE_SECONDS
is(gw_get($gw, '/api/v1/ingest/stats', Authorization => "Bearer $key2")->{status}, 200, 'second key works');
is($node->safe_psql('postgres', "SELECT invoiceflow.revoke_api_key('t201-other')"), 't', 'revoke_api_key');
my $t0 = time;
ok(wait_until(6, sub { gw_get($gw, '/api/v1/ingest/stats', Authorization => "Bearer $key2")->{status} == 401 }),
	'revoked key refused');
my $took = time - $t0;
ok($took <= 2 + 1.5, sprintf('refused within the cache time (2 s; took %.1f s)', $took));
problem_401(gw_get($gw, '/api/v1/ingest/stats', Authorization => "Bearer $key2"), 'revoked key');
is(gw_get($gw, '/api/v1/ingest/stats', Authorization => "Bearer $key")->{status}, 200, 'the other key still works');

my ($m) = gw_get($gw, '/metrics', Authorization => "Bearer $key")->{content} =~ /^(invoiceflow_http_requests_total\{route="stats",status="401"\} \d+)$/m;
ok($m, '401s counted in metrics');
my ($start) = grep { ($_->{message} // '') =~ /^listening on/ } log_lines($gw);
ok($start && $start->{require_api_key}, 'start-up log says keys are required');
$gw->stop;

# --- loopback: keys required by default too (any local user reaches 127.0.0.1) --------
$gw = start_gateway($node, HOST => '127.0.0.1', REQUIRE_API_KEY => undef);
problem_401(gw_get($gw, '/api/v1/ingest/stats'), 'loopback by default, no key');
problem_401(gw_upload($gw, make_pdf('loopback upload')), 'loopback by default, upload without a key');
problem_401(gw_get($gw, '/metrics'), 'loopback by default, /metrics without a key');
is(gw_get($gw, '/api/v1/ingest/stats', Authorization => "Bearer $key")->{status}, 200, 'loopback: valid key');
is(gw_get($gw, '/ready')->{status}, 200, 'loopback: /ready needs no key');
ok(!(grep { ($_->{level} // '') eq 'WARNING' } log_lines($gw)), 'no warning at start when keys are required');
$gw->stop;

# --- METRICS_PUBLIC=true: /metrics alone opens ----------------------------------------
$gw = start_gateway($node, HOST => '127.0.0.1', REQUIRE_API_KEY => undef, METRICS_PUBLIC => 'true');
is(gw_get($gw, '/metrics')->{status}, 200, 'METRICS_PUBLIC=true: /metrics without a key');
is(gw_get($gw, '/api/v1/ingest/stats')->{status}, 401, 'METRICS_PUBLIC=true: the API still needs a key');
$gw->stop;

# --- loopback with REQUIRE_API_KEY=false: open, with a warning ------------------------
$gw = start_gateway($node, HOST => '127.0.0.1', REQUIRE_API_KEY => 'false');
is(gw_get($gw, '/api/v1/ingest/stats')->{status}, 200, 'REQUIRE_API_KEY=false on loopback: no key');
ok((grep { ($_->{level} // '') eq 'WARNING' && ($_->{message} // '') =~ /REQUIRE_API_KEY=false/ } log_lines($gw)),
	'REQUIRE_API_KEY=false on loopback: a warning in the log');
$gw->stop;

# --- loopback with REQUIRE_API_KEY=true -------------------------------------------------
$gw = start_gateway($node, HOST => '127.0.0.1', REQUIRE_API_KEY => 'true');
problem_401(gw_get($gw, '/api/v1/ingest/stats'), 'REQUIRE_API_KEY=true on loopback, no key');
is(gw_get($gw, '/api/v1/ingest/stats', Authorization => "Bearer $key")->{status}, 200,
	'REQUIRE_API_KEY=true on loopback, valid key');
is(gw_get($gw, '/health')->{status}, 200, '/health still needs no key');
$gw->stop;

# --- non-loopback with REQUIRE_API_KEY=false: allowed, with a warning -----------------
$gw = start_gateway($node, HOST => '0.0.0.0', REQUIRE_API_KEY => 'false');
is(gw_get($gw, '/api/v1/ingest/stats')->{status}, 200, 'REQUIRE_API_KEY=false on 0.0.0.0: no key');
ok((grep { ($_->{level} // '') eq 'WARNING' && ($_->{message} // '') =~ /REQUIRE_API_KEY=false/ } log_lines($gw)),
	'and a warning in the log');
$gw->stop;

# --- the database down while checking a key: 503, not 401 -------------------------------
$gw = start_gateway($node, HOST => '0.0.0.0', API_KEY_CACHE_SECONDS => 0, REQUIRE_API_KEY => undef);
$node->stop;
$r = gw_get($gw, '/api/v1/ingest/stats', Authorization => "Bearer $key");
is($r->{status}, 503, 'database down: key check answers 503');
ok($r->{headers}{'retry-after'}, '503 with Retry-After');
$node->start;
ok(wait_until(15, sub { gw_get($gw, '/api/v1/ingest/stats', Authorization => "Bearer $key")->{status} == 200 }),
	'database back: the key works again');
$gw->stop;

$node->stop;
done_testing();
