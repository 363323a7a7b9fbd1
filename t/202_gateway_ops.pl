# Gateway operations (issue 4 items 2, 5, 7, 8, 9): database outage and
# recovery without a restart, SIGTERM drain with an upload in flight, the
# whole-upload timeout against a slow client, huge headers, the concurrent
# upload cap, multipart edge cases, request ids in logs, and the metrics.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use InvoiceflowTest;
use GatewayTest;

my $node = new_node('gw_ops');
my $mb = 1024 * 1024;

# run CODE in a child process; returns its pid. The child writes its result to
# $file and leaves with _exit, so it never runs the gateway objects' destructors.
sub in_child {
	my ($file, $code) = @_;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0) {
		my $out = eval { $code->() } // "error: $@";
		if (open(my $fh, '>', $file)) { print $fh $out; close $fh; }
		POSIX::_exit(0);
	}
	return $pid;
}
sub slurp_or_empty { my $f = shift; return -e $f ? slurp_file($f) : ''; }

# a multipart upload as raw HTTP: (headers, body) so a test can send the body slowly
sub upload_bytes {
	my ($pdf, %o) = @_;
	my ($ct, $body) = multipart(['file', $o{filename} // 'slow.pdf', $pdf]);
	my $head = "POST /api/v1/ingest/upload HTTP/1.1\r\nHost: x\r\nContent-Type: $ct\r\n"
	  . ($o{headers} // '') . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n";
	return ($head, $body);
}
sub in_pieces {
	my ($body, $n, $delay) = @_;
	my $size = int(length($body) / $n) + 1;
	return [ map { [ substr($body, $_ * $size, $size), $delay ] } grep { $_ * $size < length($body) } 0 .. $n - 1 ];
}
my $tmp = $PostgreSQL::Test::Utils::tmp_check;

# --- database outage and recovery ------------------------------------------------------
my $gw = start_gateway($node, MAX_FILE_SIZE_MB => 1, UPLOAD_TIMEOUT_SECONDS => 3, MAX_CONCURRENT_UPLOADS => 2,
	GATEWAY_POOL_WAIT_MS => 2000);
my $up = gw_upload($gw, make_pdf('before the outage'));
is($up->{status}, 202, 'upload before the outage');
my $id = $up->{json}{request_id};

$node->stop;
my $r = gw_upload($gw, make_pdf('during the outage'), headers => { 'X-Request-ID' => 'outage-upload' });
is($r->{status}, 503, 'database down: upload 503');
like($r->{headers}{'content-type'} // '', qr{^application/problem\+json}, 'upload 503 is JSON');
like($r->{json}{detail} // '', qr/database unavailable/, 'upload 503 detail');
ok($r->{headers}{'retry-after'}, 'upload 503 with Retry-After');
is($r->{headers}{'x-request-id'}, 'outage-upload', 'X-Request-ID echoed on a 503');
$r = gw_get($gw, "/api/v1/ingest/status/$id");
is($r->{status}, 503, 'database down: status 503');
is($r->{json}{status}, 503, 'status 503 is a problem document');
$r = gw_get($gw, '/ready');
is($r->{status}, 503, 'database down: /ready 503');
like($r->{headers}{'content-type'} // '', qr{json}, '/ready 503 is JSON');
is(gw_get($gw, '/health')->{status}, 200, 'database down: /health 200');
$r = gw_get($gw, '/api/v1/ingest/health');
is($r->{status}, 503, 'database down: ingest health 503');
is($r->{json}{dependencies}{database}, 'unhealthy', 'ingest health names the database');
ok((grep { ($_->{request_id} // '') eq 'outage-upload' && ($_->{status} // 0) == 503 } log_lines($gw)),
	'the 503 is in the log with its request id');

$node->start;
ok(wait_until(20, sub { gw_get($gw, '/ready')->{status} == 200 }), 'database back: /ready 200, no gateway restart');
is(gw_get($gw, "/api/v1/ingest/status/$id")->{status}, 200, 'database back: status 200');
is(gw_upload($gw, make_pdf('after the outage'))->{status}, 202, 'database back: upload 202');
is(gw_get($gw, '/api/v1/ingest/stats')->{status}, 200, 'database back: stats 200');
my $m = gw_get($gw, '/metrics')->{content};
my ($cf) = $m =~ /^invoiceflow_db_connect_failures_total (\d+)$/m;
ok($cf && $cf > 0, 'connect failures counted');

# --- the whole-upload timeout (UPLOAD_TIMEOUT_SECONDS=3) ----------------------------------
{
	# never idle for long (a piece every 0.4 s), but the whole upload would take ~8 s
	my ($head, $body) = upload_bytes(make_pdf('slow ' . ('x' x 4000)), headers => "X-Request-ID: slow-client\r\n");
	my $t = raw_request($gw, $head, chunks => in_pieces($body, 20, 0.4), timeout => 15);
	# the client writes every piece before it reads (the gateway drains the rest: lingering
	# close), so the cut shows in the gateway's log: the request ends at the deadline
	ok(wait_until(5, sub { grep { ($_->{request_id} // '') eq 'slow-client' && ($_->{duration_ms} // 1e9) < 6500 }
		  log_lines($gw) }), 'a trickling upload is cut at the whole-upload deadline');
	ok(!defined $t->{status} || $t->{status} == 408, 'connection closed (or 408)');
	ok(wait_until(5, sub { grep { ($_->{request_id} // '') eq 'slow-client' && ($_->{status} // 0) == 408
		  && ($_->{note} // '') =~ /UPLOAD_TIMEOUT_SECONDS/ } log_lines($gw) }), 'logged as 408 with the reason');

	# idle: headers and half the body, then nothing
	($head, $body) = upload_bytes(make_pdf('idle'), headers => "X-Request-ID: idle-client\r\n");
	$t = raw_request($gw, $head . substr($body, 0, 100), timeout => 15);
	ok($t->{elapsed} < 8, sprintf('an idle upload is closed by the timeout (%.1f s)', $t->{elapsed}));
	ok(wait_until(5, sub { grep { ($_->{request_id} // '') eq 'idle-client' && ($_->{status} // 0) == 408 } log_lines($gw) }),
		'idle upload logged as 408');
	is(gw_get($gw, '/health')->{status}, 200, 'gateway fine after slow clients');
}

# --- huge headers ------------------------------------------------------------------------
{
	my $t = raw_request($gw, "GET /api/v1/ingest/stats HTTP/1.1\r\nHost: x\r\nX-Big: " . ('a' x (200 * 1024)) . "\r\n\r\n",
		timeout => 10);
	ok(!defined $t->{status} || $t->{status} == 431 || $t->{status} == 400,
		'huge header: 431 or 400 (or closed) -- ' . ($t->{status} // 'closed'));
	$t = raw_request($gw, "GET /api/v1/ingest/stats HTTP/1.1\r\nHost: x\r\n"
		  . join('', map { "X-H$_: v\r\n" } 1 .. 5000) . "\r\n", timeout => 10);
	ok(!defined $t->{status} || $t->{status} == 431 || $t->{status} == 400,
		'many headers: 431 or 400 (or closed) -- ' . ($t->{status} // 'closed'));
	is(gw_get($gw, '/health')->{status}, 200, 'gateway alive after huge headers');
}

# --- the concurrent upload cap (MAX_CONCURRENT_UPLOADS=2) -----------------------------------
{
	# both slow uploads come from 127.0.0.1 and trickle on purpose: lift the per-address
	# share and the minimum rate (t/205 tests those)
	my $gw2 = start_gateway($node, MAX_CONCURRENT_UPLOADS => 2, UPLOAD_TIMEOUT_SECONDS => 30,
		GATEWAY_MAX_UPLOADS_PER_IP => 2, GATEWAY_UPLOAD_MIN_BYTES_PER_SECOND => 0);
	my @kids;
	for my $k (1 .. 2) {
		my ($head, $body) = upload_bytes(make_pdf("cap holder $k"), filename => "cap$k.pdf");
		push @kids, in_child("$tmp/cap$k.out", sub {
			my $t = raw_request($gw2, $head, chunks => in_pieces($body, 10, 0.9), timeout => 30);
			return $t->{status} // 'closed';
		});
	}
	ok(wait_until(10, sub { gw_get($gw2, '/metrics')->{content} =~ /^invoiceflow_uploads_in_progress 2$/m }),
		'two uploads hold the two slots');
	my ($head, $body) = upload_bytes(make_pdf('over the cap'), headers => "X-Request-ID: over-cap\r\n");
	my $t = raw_request($gw2, $head . $body, timeout => 15);
	ok($t->{status} && ($t->{status} == 503 || $t->{status} == 429), 'the third upload: 503/429 -- ' . ($t->{status} // 'closed'));
	ok($t->{headers}{'retry-after'}, 'with Retry-After');
	like($t->{json}{detail} // '', qr/too many uploads/, 'detail says why');
	waitpid($_, 0) for @kids;
	is(slurp_or_empty("$tmp/cap1.out") . ',' . slurp_or_empty("$tmp/cap2.out"), '202,202', 'the two slow uploads complete');
	is(gw_upload($gw2, make_pdf('after the cap'))->{status}, 202, 'slots given back: an upload passes again');
	like(gw_get($gw2, '/metrics')->{content}, qr/^invoiceflow_uploads_refused_total 1$/m, 'refusal counted');
	$gw2->stop;
}

# --- multipart edge cases (beyond t/200) ------------------------------------------------------
sub post_raw {
	my ($ct, $body, %o) = @_;
	my $head = "POST /api/v1/ingest/upload HTTP/1.1\r\nHost: x\r\nContent-Type: $ct\r\nConnection: close\r\n";
	if ($o{chunked}) {
		my $c = '';
		for (my $i = 0; $i < length($body); $i += 65536) {
			my $p = substr($body, $i, 65536);
			$c .= sprintf("%x\r\n%s\r\n", length($p), $p);
		}
		return raw_request($gw, $head . "Transfer-Encoding: chunked\r\n\r\n" . $c . "0\r\n\r\n", timeout => 20);
	}
	return raw_request($gw, $head . "Content-Length: " . length($body) . "\r\n\r\n" . $body, timeout => 20);
}
{
	my $pdf = make_pdf('edge');
	my ($ct, $body) = multipart(['file', 'e.pdf', $pdf]);
	(my $b) = $ct =~ /boundary=(.*)$/;
	my $t = post_raw("multipart/form-data; charset=utf-8", $body);
	is($t->{status}, 400, 'Content-Type without boundary (other parameters): 400');
	like($t->{json}{detail} // '', qr/boundary/, '... names the boundary');
	$t = post_raw("multipart/form-data; boundary=", $body);
	is($t->{status}, 400, 'empty boundary: 400');
	$t = post_raw("multipart/form-data; boundary=" . ('b' x 71), $body);
	is($t->{status}, 400, 'boundary over 70 characters: 400');
	$t = post_raw("multipart/form-data; boundary=notthebodysboundary", $body);
	is($t->{status}, 400, 'boundary that is not in the body: 400');
	like($t->{json}{detail} // '', qr/file|multipart/, '... with a reason');

	# a file field with an empty file (a browser form with no file chosen: filename="")
	($ct, $body) = multipart(['file', '', '']);
	$t = post_raw($ct, $body);
	is($t->{status}, 400, 'file field empty (filename="" and no bytes): 400');
	like($t->{headers}{'content-type'} // '', qr{problem\+json}, '... problem+json');
	# two file fields, the second one empty
	($ct, $body) = multipart(['file', 'a.pdf', $pdf], ['file', 'b.pdf', '']);
	$t = post_raw($ct, $body);
	is($t->{status}, 400, 'two file fields (second empty): 400');
	like($t->{json}{detail} // '', qr/exactly one file/, '... exactly one file');
	# other fields beside the file are ignored
	($ct, $body) = multipart(['note', undef, 'hello'], ['file', 'with-fields.pdf', make_pdf('with fields')], ['x', undef, 'y']);
	$t = post_raw($ct, $body);
	is($t->{status}, 202, 'other form fields beside the file are ignored');

	# chunked transfer encoding: exactly MAX_FILE_SIZE_MB passes, one byte more is 400
	($ct, $body) = multipart(['file', 'exact-chunked.pdf', pdf_of_size($mb, 'exact chunked')]);
	$t = post_raw($ct, $body, chunked => 1);
	is($t->{status}, 202, 'chunked: exactly MAX_FILE_SIZE_MB passes') or diag($t->{raw});
	($ct, $body) = multipart(['file', 'over-chunked.pdf', pdf_of_size($mb + 1, 'over chunked')]);
	$t = post_raw($ct, $body, chunked => 1);
	is($t->{status}, 400, 'chunked: MAX_FILE_SIZE_MB + 1 byte is 400');
	like($t->{json}{detail} // '', qr/too large/, '... too large');
	# Content-Length: the same limits
	($ct, $body) = multipart(['file', 'exact.pdf', pdf_of_size($mb, 'exact cl')]);
	is(post_raw($ct, $body)->{status}, 202, 'Content-Length: exactly MAX_FILE_SIZE_MB passes');
	($ct, $body) = multipart(['file', 'over.pdf', pdf_of_size($mb + 1, 'over cl')]);
	$t = post_raw($ct, $body);
	is($t->{status}, 400, 'Content-Length: MAX_FILE_SIZE_MB + 1 byte is 400');
	like($t->{json}{detail} // '', qr/too large/, '... too large');
	# a chunked body far over the limit: the connection is closed, nothing buffered past the limit
	($ct, $body) = multipart(['file', 'huge.pdf', 'x' x (3 * $mb)]);
	$t = post_raw($ct, $body, chunked => 1);
	ok(!defined $t->{status} || $t->{status} == 400, 'chunked body far over the limit: closed or 400');
	is(gw_get($gw, '/health')->{status}, 200, 'gateway fine after the edge cases');
}

# --- request ids everywhere, and the log line --------------------------------------------------
{
	for my $case (['/api/v1/nothing', 404], ['/api/v1/ingest/status/bad', 400], ['/health', 200]) {
		my $rid = 'rid-' . $case->[1] . '-' . int(rand(1e6));
		my $x = gw_get($gw, $case->[0], 'X-Request-ID' => $rid);
		is($x->{status}, $case->[1], "$case->[0]: $case->[1]");
		is($x->{headers}{'x-request-id'}, $rid, "$case->[0]: X-Request-ID echoed");
		is($x->{json}{request_id}, $rid, "$case->[0]: problem document carries it") if $case->[1] >= 400;
		ok(wait_until(5, sub { grep { ($_->{request_id} // '') eq $rid && ($_->{logger} // '') eq 'gateway.http'
			  && ($_->{status} // 0) == $case->[1] && defined $_->{duration_ms} } log_lines($gw) }),
			"$case->[0]: JSON access log line with the request id, status and duration");
	}
}

# --- metrics ---------------------------------------------------------------------------------
{
	my $x = gw_get($gw, '/metrics');
	my $m = $x->{content};
	like($m, qr/^# TYPE invoiceflow_http_requests_total counter$/m, 'requests counter type');
	like($m, qr/^invoiceflow_http_requests_total\{route="upload",status="503"\} \d+$/m, 'upload 503s by route and status');
	like($m, qr/^invoiceflow_http_requests_total\{route="ready",status="503"\} \d+$/m, 'ready 503 counted');
	like($m, qr/^# TYPE invoiceflow_http_request_duration_seconds histogram$/m, 'histogram type');
	my @b = $m =~ /^invoiceflow_http_request_duration_seconds_bucket\{route="upload",le="[^"]+"\} (\d+)$/mg;
	ok(@b > 5 && join(',', @b) eq join(',', sort { $a <=> $b } @b), 'upload histogram buckets are cumulative');
	like($m, qr/^invoiceflow_http_request_duration_seconds_count\{route="upload"\} \d+$/m, 'histogram count');
	my ($ub) = $m =~ /^invoiceflow_upload_bytes_total (\d+)$/m;
	ok($ub && $ub > 2 * $mb, 'upload bytes');
	like($m, qr/^invoiceflow_db_pool_connections\{state="open"\} [1-9]\d*$/m, 'pool: open connections');
	like($m, qr/^invoiceflow_db_pool_connections\{state="in_use"\} \d+$/m, 'pool: in use');
	like($m, qr/^invoiceflow_db_pool_acquired_total [1-9]\d*$/m, 'pool: acquired');
	like($m, qr/^invoiceflow_db_pool_wait_seconds_total [\d.]+$/m, 'pool: wait seconds');
}
$gw->stop;

# --- SIGTERM with a slow upload in flight: it completes, then the process exits 0 --------------
{
	my $gw3 = start_gateway($node, UPLOAD_TIMEOUT_SECONDS => 30);
	my ($head, $body) = upload_bytes(make_pdf('drained ' . ('y' x 3000)), headers => "X-Request-ID: drained-upload\r\n");
	my $kid = in_child("$tmp/drain.out", sub {
		my $t = raw_request($gw3, $head, chunks => in_pieces($body, 8, 0.4), timeout => 30);
		return ($t->{status} // 'closed') . ' ' . ($t->{json}{request_id} // '');
	});
	ok(wait_until(10, sub { gw_get($gw3, '/metrics')->{content} =~ /^invoiceflow_uploads_in_progress 1$/m }),
		'the slow upload is in flight');
	my $t0 = time;
	$gw3->{h}->signal('TERM');
	sleep 0.3;
	my $refused = eval { my $x = HTTP::Tiny->new(timeout => 2)->get($gw3->url . '/health'); $x->{status} };
	ok(!defined $refused || $refused == 599 || $refused == 503, 'no new connections while draining');
	waitpid($kid, 0);
	my ($st, $rid) = split / /, slurp_or_empty("$tmp/drain.out");
	is($st, 202, 'the upload in flight completes with 202 after SIGTERM');
	like($rid // '', qr/^[0-9a-f-]{36}$/, 'and has its request_id');
	is($gw3->stop, 0, 'the gateway exits 0 after the drain');
	ok((grep { ($_->{message} // '') =~ /SIGTERM|Terminated/ } log_lines($gw3)), 'the drain is logged');
	ok((grep { ($_->{message} // '') eq 'stopped' } log_lines($gw3)), 'and the stop');
	is($node->safe_psql('postgres', "SELECT status FROM invoiceflow.ingestions WHERE id = '$rid'"), 'PENDING',
		'the drained upload is in the database');
}

$node->stop;
done_testing();
