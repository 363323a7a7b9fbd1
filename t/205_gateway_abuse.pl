# Gateway under abuse (issue 9 item 4): slow headers, slow uploads, downloads
# that are not read, bodies written in full before the answer is read, and
# Content-Length with Transfer-Encoding. The attacker connects from 127.0.0.2,
# the normal clients from 127.0.0.1, so the limits per address show. Each part
# prints its figures (connections held, memory, time for a normal client).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::MD5 qw(md5_hex);
use Errno qw(EAGAIN EWOULDBLOCK EINPROGRESS);
use HTTP::Tiny;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use InvoiceflowTest;
use GatewayTest;

my $node = new_node('gw_abuse');
my $mb = 1024 * 1024;
my $ATTACKER = '127.0.0.2';

# a socket from the attacker's address, non-blocking once connected
sub attacker_socket {
	my ($gw) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gw->{port}, LocalAddr => $ATTACKER,
		Timeout => 3) or return undef;
	$s->autoflush(1);
	$s->blocking(0);
	return $s;
}

# is the server's side still open? (reads and keeps whatever it sent)
sub still_open {
	my ($c) = @_;
	return 0 if $c->{closed};
	while (1) {
		my $n = sysread($c->{s}, my $buf, 65536);
		if (!defined $n) {
			return 1 if $! == EAGAIN || $! == EWOULDBLOCK;
			$c->{closed} = 1;
			return 0;
		}
		if ($n == 0) { $c->{closed} = 1; return 0; }
		$c->{in} .= $buf;
	}
}

sub timed_get {
	my ($gw, $path) = @_;
	my $t0 = time;
	my $r = HTTP::Tiny->new(timeout => 5)->get($gw->url . $path);
	return ($r, time - $t0);
}

# --- slow headers: 300 connections trickling a byte a second -------------------------------
{
	my $gw = start_gateway($node, GATEWAY_HEADER_TIMEOUT_SECONDS => 3, UPLOAD_TIMEOUT_SECONDS => 30);
	my $head = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " . ('a' x 100);
	my @c = map { my $s = attacker_socket($gw); $s ? { s => $s, sent => 0 } : () } 1 .. 300;
	is(scalar @c, 300, '300 connections opened from 127.0.0.2');
	my $trickle = sub {
		for my $c (@c) {
			next if $c->{closed};
			local $SIG{PIPE} = 'IGNORE';
			if (syswrite($c->{s}, substr($head, $c->{sent}, 1))) { $c->{sent}++ } else { $c->{closed} = 1 }
		}
	};
	my $t0 = time;
	$trickle->();
	sleep 1;
	$trickle->();
	my $held = grep { still_open($_) } @c;
	my ($r, $secs) = timed_get($gw, '/health');
	is($r->{status}, 200, 'a client from 127.0.0.1 is answered while they trickle');
	ok($secs < 2, sprintf('... in %.3f s', $secs));
	ok($held <= 32, "at most GATEWAY_MAX_CONNECTIONS_PER_IP=32 of them are held ($held)");
	# keep trickling past the head deadline: the idle timeout never fires, the deadline does
	while (time - $t0 < 5.5) { sleep 1; $trickle->(); }
	my $left = grep { still_open($_) } @c;
	is($left, 0, sprintf('none is held past GATEWAY_HEADER_TIMEOUT_SECONDS=3 although each sent a byte a second '
		  . '(%d left after %.1f s)', $left, time - $t0));
	my ($late) = gw_get($gw, '/metrics')->{content} =~ /^invoiceflow_http_head_timeouts_total (\d+)$/m;
	ok(($late // 0) >= $held, "the late heads are counted (invoiceflow_http_head_timeouts_total " . ($late // 'missing') . ')');
	diag(sprintf('slow headers: 300 connections from %s, %d held, normal client answered in %.3f s, '
		  . '%d left after %.1f s', $ATTACKER, $held, $secs, $left, time - $t0));
	close($_->{s}) for @c;
	$gw->stop;
}

# --- slow uploads: 16 trickling uploads from one address ------------------------------------
{
	my $gw = start_gateway($node, MAX_FILE_SIZE_MB => 1, GATEWAY_UPLOAD_RATE_GRACE_SECONDS => 2,
		UPLOAD_TIMEOUT_SECONDS => 30);
	my ($ct, $body) = multipart(['file', 'slow.pdf', 'x' x 200000]);
	my $head = "POST /api/v1/ingest/upload HTTP/1.1\r\nHost: x\r\nContent-Type: $ct\r\n"
	  . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n";
	my @c = map { my $s = attacker_socket($gw); $s ? { s => $s, sent => 0, in => '' } : () } 1 .. 16;
	my $t0 = time;
	for my $c (@c) { syswrite($c->{s}, $head . substr($body, 0, 100)); $c->{sent} = 100; }
	my $trickle = sub {
		local $SIG{PIPE} = 'IGNORE';
		for my $c (@c) {
			next if !still_open($c);
			if (syswrite($c->{s}, substr($body, $c->{sent}, 10))) { $c->{sent} += 10 } else { $c->{closed} = 1 }
		}
	};
	sleep 0.5;
	$trickle->();
	my $held = grep { still_open($_) && $_->{in} eq '' } @c;
	my $refused = grep { $_->{in} =~ m{^HTTP/1\.1 429} } @c;
	ok($held <= 4, "one address holds at most GATEWAY_MAX_UPLOADS_PER_IP=4 upload slots ($held held)");
	is($refused, 16 - $held, "the others are refused at once with 429 ($refused)");
	# normal clients meanwhile
	my @times;
	for my $k (1 .. 4) {
		my $u0 = time;
		my $u = gw_upload($gw, make_pdf("normal client $k"), filename => "normal$k.pdf");
		push @times, time - $u0;
		is($u->{status}, 202, "upload $k from 127.0.0.1 while they trickle: 202") or diag($u->{content});
	}
	my ($worst) = sort { $b <=> $a } @times;
	ok($worst < 2, sprintf('... each in under 2 s (slowest %.3f s)', $worst));
	# the trickling ones: 408 after the grace period, their slots free
	while (time - $t0 < 6 && grep { !$_->{closed} } @c) { sleep 0.5; $trickle->(); }
	my @timed_out = grep { $_->{in} =~ m{^HTTP/1\.1 408} } @c;
	is(scalar @timed_out, $held, 'every held trickling upload is ended with 408');
	like($timed_out[0]{in} // '', qr{Content-Type: application/problem\+json.*"detail":"upload too slow}s,
		'... a problem+json saying it was too slow');
	like(gw_get($gw, '/metrics')->{content}, qr/^invoiceflow_uploads_in_progress 0$/m, 'their slots are free');
	diag(sprintf('slow uploads: 16 from %s, %d held, %d refused 429, %d ended 408 after %.1f s; '
		  . 'normal uploads answered in at most %.3f s', $ATTACKER, $held, $refused, scalar @timed_out,
		  time - $t0, $worst));
	close($_->{s}) for @c;

	# --- rejected bodies: the client writes its whole body before it reads ----------------
	my $write_all_then_read = sub {
		my ($req) = @_;
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gw->{port}, Timeout => 5) or die;
		local $SIG{PIPE} = 'IGNORE';
		my $t = time;
		my ($off, $err) = (0, '');
		while ($off < length($req)) {
			my $n = syswrite($s, $req, 1 << 20, $off);
			if (!defined $n) { $err = "$!"; last; }
			$off += $n;
		}
		my $resp = '';
		while (1) { my $n = sysread($s, my $buf, 65536); last if !$n; $resp .= $buf; }
		close $s;
		return { written => $off, error => $err, resp => $resp, secs => time - $t };
	};
	my $big = 'x' x (16 * $mb);
	my $x = $write_all_then_read->("POST /api/v1/ingest/upload HTTP/1.1\r\nHost: x\r\nContent-Type: $ct\r\n"
		  . "Content-Length: " . length($big) . "\r\n\r\n" . $big);
	is($x->{error}, '', 'a 16 MB body over the limit is written in full (no reset) -- ' . $x->{written} . ' bytes');
	like($x->{resp}, qr{^HTTP/1\.1 400 .*application/problem\+json.*too large}s, '... and its 400 problem+json is read');
	my $y = $write_all_then_read->("POST /api/v1/ingest/upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
		  . "Content-Length: " . length($big) . "\r\n\r\n" . $big);
	is($y->{error}, '', 'an invalid upload (not multipart) of 16 MB is written in full');
	like($y->{resp}, qr{^HTTP/1\.1 400 .*multipart/form-data}s, '... and its 400 is read');
	diag(sprintf('rejected bodies: 16 MB written and the 400 read in %.3f s and %.3f s', $x->{secs}, $y->{secs}));
  SKIP: {
		skip 'no /usr/bin/python3', 1 unless -x '/usr/bin/python3';
		my $py = <<'PY';
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], data=b"x" * (16 << 20), method="POST",
    headers={"Content-Type": "multipart/form-data; boundary=b"})
try:
    urllib.request.urlopen(req, timeout=20)
    print("no error")
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get("Content-Type"), e.read().decode())
except Exception as e:
    print("exception", repr(e))
PY
		my $out = `/usr/bin/python3 -c '$py' '$gw->{url}/api/v1/ingest/upload' 2>&1`;
		like($out, qr{^400 application/problem\+json .*too large}, "Python urllib gets the 400, not a reset: $out");
	}
	is(gw_get($gw, '/health')->{status}, 200, 'gateway fine after the rejected bodies');
	my ($lingered) = gw_get($gw, '/metrics')->{content} =~ /^invoiceflow_http_lingering_closes_total (\d+)$/m;
	ok(($lingered // 0) >= 3, 'the drained connections are counted (invoiceflow_http_lingering_closes_total '
		  . ($lingered // 'missing') . ')');

	# --- Content-Length with Transfer-Encoding: 400 and the connection closed ------------
	my $t = raw_request($gw, "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
		  . "0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n", timeout => 5);
	is($t->{status}, 400, 'Content-Length with Transfer-Encoding: 400');
	like($t->{json}{detail} // '', qr/both Content-Length and Transfer-Encoding/, '... saying why');
	is(scalar(() = $t->{raw} =~ m{HTTP/1\.1 \d{3}}g), 1, '... and nothing after it: the pipelined request is not served');
	ok($t->{elapsed} < 4, sprintf('... the connection closed (%.2f s)', $t->{elapsed}));
	$gw->stop;
}

# --- downloads: 40 clients that do not read a 10 MB file -------------------------------------
# unread_downloads($gw, $id, $want, $from): a full download byte for byte, then 40 that are
# never read; the gateway's RSS must grow by a few MB at most for each
sub unread_downloads {
	my ($gw, $id, $want, $from) = @_;
	# one full download first (byte for byte), so the figures below are not first-use costs
	my $r = HTTP::Tiny->new(timeout => 30)->get($gw->url . "/api/v1/invoices/$id/file");
	is($r->{status}, 200, "$from: a 10 MB file: 200") or diag($r->{content});
	is(md5_hex($r->{content}) . ' ' . length($r->{content}), $want, "$from: ... byte for byte");
	is($r->{headers}{'content-length'}, 10485760, "$from: ... with its Content-Length");
	sleep 0.5;
	my $rss0 = $gw->rss_kb;
	my @c;
	for (1 .. 40) {
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gw->{port}, Timeout => 5) or next;
		print $s "GET /api/v1/invoices/$id/file HTTP/1.1\r\nHost: x\r\n\r\n";
		push @c, $s;				# never read
	}
	is(scalar @c, 40, "$from: 40 downloads started and not read");
	my $peak = $rss0;
	for (1 .. 8) { sleep 0.5; my $k = $gw->rss_kb; $peak = $k if $k > $peak; }
	# each is being answered: the head of a 200 is there to read (the rest stays unread)
	my $answered = 0;
	for my $s (@c) {
		$s->blocking(0);
		my $n = sysread($s, my $buf, 512);
		$answered++ if $n && $buf =~ m{^HTTP/1\.1 200 };
	}
	is($answered, 40, "$from: all 40 are being answered (a 200 head to read on each)");
	my $each = ($peak - $rss0) / 40 / 1024;
	ok($each < 3, sprintf('%s: the gateway grows by %.2f MB per unread 10 MB download (RSS %.0f -> %.0f MB)',
		$from, $each, $rss0 / 1024, $peak / 1024));
	my ($h, $secs) = timed_get($gw, '/health');
	is($h->{status}, 200, sprintf('%s: a normal client is answered meanwhile (%.3f s)', $from, $secs));
	diag(sprintf('downloads from %s: 40 unread 10 MB downloads, RSS %.1f MB before, peak %.1f MB (+%.2f MB each); '
		  . '/health in %.3f s', $from, $rss0 / 1024, $peak / 1024, $each, $secs));
	close $_ for @c;
}
# quarantine: ASan keeps freed memory for a while; a small one keeps RSS meaningful
my @dl_env = (ASAN_OPTIONS => 'detect_leaks=1:abort_on_error=0:quarantine_size_mb=16',
	GATEWAY_MAX_CONNECTIONS_PER_IP => 64);
{
	my $gw = start_gateway($node, @dl_env);
	my $id = $node->safe_psql('postgres', q{
		WITH i AS (INSERT INTO invoiceflow.ingestions (filename, s3_key, size_bytes, sha256)
				   VALUES ('big.pdf', 'raw/big.pdf', 10485760, sha256('big'::bytea)) RETURNING id)
		INSERT INTO invoiceflow.ingestion_files (ingestion_id, content)
		SELECT id, convert_to(repeat('%PDF-1.4 0123456789abcdef', 419430) || repeat('x', 10), 'UTF8') FROM i
		RETURNING ingestion_id});
	my $want = $node->safe_psql('postgres', "SELECT md5(invoiceflow.file('$id')) || ' ' || length(invoiceflow.file('$id'))");
	unread_downloads($gw, $id, $want, 'PostgreSQL');
	$gw->stop;
}
SKIP: {
	my ($ep, $bucket, $ak, $sk) = map { service_env($_) } qw(S3_ENDPOINT_URL S3_BUCKET AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY);
	skip 'S3 test server not running (test/run-suite.sh starts it)', 10 unless $ep && $bucket && $ak && $sk;
	my $region = service_env('AWS_REGION') // 'us-east-1';
	my $s3node = new_node('gw_abuse_s3', conf => join("\n",
		"invoiceflow.s3_endpoint = '$ep'", "invoiceflow.s3_bucket = '$bucket'", "invoiceflow.s3_region = '$region'",
		"invoiceflow.s3_access_key_id = '$ak'", "invoiceflow.s3_secret_access_key = '$sk'"));
	my $gw = start_gateway($s3node, @dl_env, MAX_FILE_SIZE_MB => 11, S3_ENDPOINT_URL => $ep, S3_BUCKET => $bucket,
		AWS_ACCESS_KEY_ID => $ak, AWS_SECRET_ACCESS_KEY => $sk, AWS_REGION => $region);
	my $pdf = pdf_of_size(10485760, 'kept in S3 ' . time);
	my $u = gw_upload($gw, $pdf, filename => 'big-s3.pdf');
	my $sid = $u->{json}{request_id} // 'none';
	ok(wait_until(60, sub { $s3node->safe_psql('postgres', "SELECT invoiceflow.file('$sid') IS NULL") eq 't' }),
		'the worker moved the 10 MB file to S3') or diag($u->{content});
	unread_downloads($gw, $sid, md5_hex($pdf) . ' ' . length($pdf), 'S3');
	$gw->stop;
	$s3node->stop;
}

done_testing();
