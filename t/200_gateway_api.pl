# Gateway (issue 4): every endpoint of the REST API and every client error, over
# real HTTP against a real cluster, with the gateway built with ASan + UBSan.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use InvoiceflowTest;
use GatewayTest;

my $node = new_node('gw_api');
my $gw = start_gateway($node, MAX_FILE_SIZE_MB => 1, SERVICE_NAME => 'gw-test', VERSION => '9.9.9');
my $limit = 1024 * 1024;

# --- liveness, readiness, seed endpoints -----------------------------------
my $r = gw_get($gw, '/health');
is($r->{status}, 200, 'GET /health 200');
is($r->{json}{service}, 'gw-test', '/health names the service');
$r = gw_get($gw, '/ready');
is($r->{status}, 200, 'GET /ready 200 with the database up');
is($r->{json}{status}, 'ready', '/ready body');

$r = gw_get($gw, '/api/v1/ingest/health');
is($r->{status}, 200, 'ingest health 200 when healthy');
is($r->{json}{service}, 'healthy', 'health service field');
is($r->{json}{dependencies}{database}, 'healthy', 'health names the database');

# --- upload of the real sample invoice -----------------------------------------
my $sample = slurp_file_bin(sample_pdf_path());
$r = gw_upload($gw, $sample, filename => 'sample-invoice.pdf', headers => { 'X-Request-ID' => 'trace-upload-1' });
is($r->{status}, 202, 'upload 202');
is($r->{json}{status}, 'PENDING', 'upload status PENDING');
like($r->{json}{request_id}, qr/^[0-9a-f-]{36}$/, 'upload returns a request_id');
is($r->{json}{message}, 'File uploaded successfully, processing started', 'seed message');
is($r->{headers}{'x-request-id'}, 'trace-upload-1', 'X-Request-ID echoed');
my $id = $r->{json}{request_id};

$r = gw_get($gw, "/api/v1/ingest/status/$id");
is($r->{status}, 200, 'status 200');
is($r->{json}{request_id}, $id, 'status request_id');
is($r->{json}{filename}, 'sample-invoice.pdf', 'status filename');
is($r->{json}{s3_key}, "raw/$id.pdf", 'status s3_key');
like($r->{json}{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'created_at ISO 8601 Z');
is($r->{json}{size_bytes}, length($sample), 'status size_bytes');
$r = gw_get($gw, '/api/v1/ingest/status/' . uc($id));
is($r->{status}, 200, 'status accepts an upper-case id');

$r = gw_get($gw, '/api/v1/ingest/stats');
is($r->{status}, 200, 'stats 200');
is_deeply([ sort keys %{ $r->{json} } ], [qw(completed failed pending processing total)], 'stats fields');
is($r->{json}{pending}, 1, 'stats counts the upload');

# --- errors --------------------------------------------------------------------
sub problem_ok {
	my ($r, $status, $re, $name) = @_;
	is($r->{status}, $status, "$name: $status");
	like($r->{headers}{'content-type'} // '', qr{^application/problem\+json}, "$name: problem+json");
	like($r->{json}{detail} // '', $re, "$name: detail");
	is($r->{json}{status}, $status, "$name: status member");
	unlike($r->{content} // '', qr/(SELECT|invoiceflow\.|\.c:\d)/, "$name: no SQL or source in the body");
}
problem_ok(gw_upload($gw, "hello, not a pdf\n", filename => 't.pdf'), 400, qr/not a PDF/i, 'not a PDF');
problem_ok(gw_upload($gw, '', filename => 'empty.pdf'), 400, qr/empty/i, 'empty file');
my $corrupt = make_pdf('corrupt');
$corrupt =~ s/startxref\n\d+/startxref\n999999/;
problem_ok(gw_upload($gw, $corrupt, filename => 'c.pdf'), 400, qr/./, 'corrupted PDF');
problem_ok(gw_upload($gw, substr(make_pdf('cut'), 0, 200), filename => 'cut.pdf'), 400, qr/./, 'truncated PDF');

# size: exactly MAX_FILE_SIZE_MB passes, one byte more does not
$r = gw_upload($gw, pdf_of_size($limit, 'exact'), filename => 'exact.pdf');
is($r->{status}, 202, 'a file of exactly MAX_FILE_SIZE_MB is accepted') or diag($r->{content});
problem_ok(gw_upload($gw, pdf_of_size($limit + 1, 'over'), filename => 'over.pdf'), 400, qr/too large/,
	'one byte over MAX_FILE_SIZE_MB');
# far over: refused from Content-Length before the body is read
{
	my ($ct, undef) = multipart(['file', 'big.pdf', 'x']);
	my $t = raw_request($gw, "POST /api/v1/ingest/upload HTTP/1.1\r\nHost: x\r\nContent-Type: $ct\r\n"
		  . "Content-Length: " . (50 * $limit) . "\r\n\r\n", timeout => 10);
	is($t->{status}, 400, 'Content-Length far over the limit: 400 before the body');
	like($t->{json}{detail} // '', qr/too large/, 'Content-Length refusal says too large');
}

problem_ok(do {
	my ($ct, $body) = multipart(['other', 'x.pdf', $sample]);
	my $x = HTTP::Tiny->new->request('POST', $gw->url . '/api/v1/ingest/upload',
		{ headers => { 'Content-Type' => $ct }, content => $body });
	$x->{json} = GatewayTest::json_decode($x->{content}); $x }, 400, qr/no file field/, 'no file field');
problem_ok(do {
	my ($ct, $body) = multipart(['file', 'a.pdf', $sample], ['file', 'b.pdf', make_pdf('b')]);
	my $x = HTTP::Tiny->new->request('POST', $gw->url . '/api/v1/ingest/upload',
		{ headers => { 'Content-Type' => $ct }, content => $body });
	$x->{json} = GatewayTest::json_decode($x->{content}); $x }, 400, qr/exactly one file/, 'two files');
problem_ok(do {
	my ($ct, $body) = multipart(['file', undef, $sample]);
	my $x = HTTP::Tiny->new->request('POST', $gw->url . '/api/v1/ingest/upload',
		{ headers => { 'Content-Type' => $ct }, content => $body });
	$x->{json} = GatewayTest::json_decode($x->{content}); $x }, 400, qr/must be a file/, 'file field without filename');
problem_ok(do {
	my $x = HTTP::Tiny->new->request('POST', $gw->url . '/api/v1/ingest/upload',
		{ headers => { 'Content-Type' => 'application/pdf' }, content => $sample });
	$x->{json} = GatewayTest::json_decode($x->{content}); $x }, 400, qr/multipart/, 'not multipart');
problem_ok(do {
	my $x = HTTP::Tiny->new->request('POST', $gw->url . '/api/v1/ingest/upload',
		{ headers => { 'Content-Type' => 'multipart/form-data' }, content => 'x' });
	$x->{json} = GatewayTest::json_decode($x->{content}); $x }, 400, qr/boundary/, 'missing boundary');
problem_ok(do {
	my ($ct, $body) = multipart(['file', 'a.pdf', $sample]);
	$body = substr($body, 0, length($body) - 30);  # closing boundary cut off
	my $x = HTTP::Tiny->new->request('POST', $gw->url . '/api/v1/ingest/upload',
		{ headers => { 'Content-Type' => $ct }, content => $body });
	$x->{json} = GatewayTest::json_decode($x->{content}); $x }, 400, qr/./, 'multipart body without its end');
problem_ok(gw_get($gw, '/api/v1/ingest/status/not-a-uuid'), 400, qr/UUID/, 'malformed id');
problem_ok(gw_get($gw, '/api/v1/ingest/status/' . ('a' x 300)), 400, qr/UUID/, 'overlong id');
problem_ok(gw_get($gw, '/api/v1/ingest/status/123e4567-e89b-42d3-a456-426614174000'), 404, qr/no ingestion/,
	'unknown id');
problem_ok(gw_get($gw, '/api/v1/nothing-here'), 404, qr/no such endpoint/, 'unknown path');
$r = HTTP::Tiny->new->request('DELETE', $gw->url . '/api/v1/ingest/stats');
$r->{json} = GatewayTest::json_decode($r->{content});
problem_ok($r, 405, qr/not allowed/, 'DELETE stats');
is($r->{headers}{allow}, 'GET, HEAD', '405 carries Allow');
$r = gw_get($gw, '/api/v1/ingest/upload');
is($r->{status}, 405, 'GET on the upload path: 405');
is($r->{headers}{allow}, 'POST', 'Allow: POST');

# file names: a client path is reduced to its name; a bad name is the database's 400
$r = gw_upload($gw, make_pdf('path name'), filename => 'C:\\Users\\me\\inv.pdf');
is($r->{status}, 202, 'upload with a Windows path as file name');
is(gw_get($gw, "/api/v1/ingest/status/$r->{json}{request_id}")->{json}{filename}, 'inv.pdf', 'path stripped');
problem_ok(gw_upload($gw, make_pdf('long name'), filename => ('n' x 300) . '.pdf'), 400, qr/filename/,
	'overlong file name');

# --- idempotency -------------------------------------------------------------------
my $pdf1 = make_pdf('idempotent one');
my $a = gw_upload($gw, $pdf1, headers => { 'Idempotency-Key' => 'key-1' });
is($a->{status}, 202, 'first upload with a key');
my $b = gw_upload($gw, $pdf1, headers => { 'Idempotency-Key' => 'key-1' });
is($b->{status}, 202, 'repeat with the same key and content: 202');
is($b->{json}{request_id}, $a->{json}{request_id}, 'repeat returns the first request');
is($b->{json}{duplicate}, JSON::PP::true, 'repeat is marked duplicate');
problem_ok(gw_upload($gw, make_pdf('other content'), headers => { 'Idempotency-Key' => 'key-1' }), 409,
	qr/idempotency key/, 'same key, other content');
problem_ok(gw_upload($gw, $pdf1, headers => { 'Idempotency-Key' => 'k' x 300 }), 400, qr/idempotency key/,
	'overlong idempotency key');

# --- request ids and logs -------------------------------------------------------------
$r = gw_get($gw, '/api/v1/ingest/stats', 'X-Request-ID' => 'trace-stats-42');
is($r->{headers}{'x-request-id'}, 'trace-stats-42', 'X-Request-ID echoed on GET');
$r = gw_get($gw, '/api/v1/ingest/stats', 'X-Request-ID' => "bad id with spaces");
like($r->{headers}{'x-request-id'}, qr/^[0-9a-f-]{36}$/, 'unsafe X-Request-ID replaced by a generated one');
$r = gw_get($gw, '/api/v1/ingest/stats');
like($r->{headers}{'x-request-id'}, qr/^[0-9a-f-]{36}$/, 'X-Request-ID generated when absent');
my $gen = $r->{headers}{'x-request-id'};
ok(wait_until(5, sub { grep { ($_->{request_id} // '') eq $gen } log_lines($gw) }), 'generated id is in the log');
my @lines = log_lines($gw);
my @up = grep { ($_->{request_id} // '') eq 'trace-upload-1' } @lines;
ok(@up >= 2, 'the upload has several log lines, all with its request id');
ok((grep { ($_->{logger} // '') eq 'gateway.http' && ($_->{status} // 0) == 202 } @up), 'access line with status');
ok((grep { ($_->{filename} // '') eq 'sample-invoice.pdf' } @up), 'log line names the file');
my @keys_missing = grep { my $l = $_; grep { !exists $l->{$_} } qw(timestamp level logger message service) } @lines;
is(scalar @keys_missing, 0, 'every log line has timestamp, level, logger, message, service');
is($lines[0]{service}, 'gw-test', 'log lines carry SERVICE_NAME');
like($lines[0]{timestamp}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'log timestamp format');

# --- metrics ---------------------------------------------------------------------------
$r = gw_get($gw, '/metrics');
is($r->{status}, 200, '/metrics 200');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'Prometheus content type');
my $m = $r->{content};
like($m, qr/^invoiceflow_http_requests_total\{route="upload",status="202"\} \d+$/m, 'requests by route and status');
like($m, qr/^invoiceflow_http_requests_total\{route="unmatched",status="404"\} 1$/m, 'unmatched 404 counted');
like($m, qr/^invoiceflow_http_request_duration_seconds_bucket\{route="stats",le="\+Inf"\} \d+$/m, 'latency histogram');
like($m, qr/^invoiceflow_http_request_duration_seconds_sum\{route="upload"\} [\d.]+$/m, 'histogram sum');
my ($bytes) = $m =~ /^invoiceflow_upload_bytes_total (\d+)$/m;
ok($bytes && $bytes >= length($sample) + $limit, 'upload bytes counted');
like($m, qr/^invoiceflow_db_pool_connections\{state="max"\} 8$/m, 'pool size');
like($m, qr/^invoiceflow_db_pool_connections\{state="in_use"\} \d+$/m, 'pool in use');
like($m, qr/^invoiceflow_gateway_info\{service="gw-test",version="9\.9\.9"\} 1$/m, 'info metric');
unlike($m, qr/^[^#].*(?<![\d.e+-])NaN/m, 'no NaN values');

# --- HEAD, keep-alive --------------------------------------------------------------------
$r = HTTP::Tiny->new->request('HEAD', $gw->url . '/health');
is($r->{status}, 200, 'HEAD /health');
is($r->{content} // '', '', 'HEAD has no body');
my $t = raw_request($gw, "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/ingest/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout => 10);
my @answers = $t->{raw} =~ m{HTTP/1\.1 (\d{3})}g;
is_deeply(\@answers, [200, 200], 'two requests on one keep-alive connection');

$gw->stop;
$node->stop;
done_testing();
