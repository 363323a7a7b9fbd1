# Issue 9 items 3, 5, 6 and part of 4, through the gateway: API key scopes per
# route (403 naming the missing scope), the admin routes (retry, purge, keys),
# X-Content-Type-Options on every response, snippets escaped for HTML, file names
# with invisible characters or invalid UTF-8 refused with a message for the user,
# tampered cursors, and no database lock holding an upload or a request forever
# (statement_timeout and lock_timeout on every gateway session; the idempotency
# path takes no advisory lock any more).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time sleep);
use InvoiceflowTest;
use GatewayTest;

my $node = new_node('gw_scopes');
sub new_key {
	my ($name, $scopes) = @_;
	return $node->safe_psql('postgres', defined $scopes
		? "SELECT invoiceflow.create_api_key('$name', '$scopes')"
		: "SELECT invoiceflow.create_api_key('$name')");
}
my %key = (
	ingest => new_key('t204-ingest', '{ingest}'),
	read => new_key('t204-read', '{read}'),
	review => new_key('t204-review', '{review}'),
	admin => new_key('t204-admin', '{admin}'),
	default => new_key('t204-default'),
	all => new_key('t204-all', '{ingest,read,review,admin}'));

# req($gw, METHOD, PATH, KEY, content => ..., headers => {...}, timeout => s)
sub req {
	my ($gw, $method, $path, $k, %o) = @_;
	my %h = ((defined $k ? (Authorization => "Bearer $k") : ()), %{ $o{headers} // {} });
	my $r = HTTP::Tiny->new(timeout => $o{timeout} // 30)->request($method, $gw->{url} . $path,
		{ headers => \%h, (defined $o{content} ? (content => $o{content}) : ()) });
	$r->{json} = json_decode($r->{content});
	return $r;
}

my $gw = start_gateway($node, REQUIRE_API_KEY => undef, API_KEY_CACHE_SECONDS => 1,
	GATEWAY_LOCK_TIMEOUT_MS => 1000);

# --- the scope each route needs --------------------------------------------------------
my $up = gw_upload($gw, make_pdf('t204 scoped upload'), headers => { Authorization => "Bearer $key{all}" });
is($up->{status}, 202, 'a key with every scope uploads');
my $id = $up->{json}{request_id};
my $nobody = '00000000-0000-4000-8000-000000000000';
my @routes = (
	[ 'GET', "/api/v1/ingest/status/$id", 'read' ],
	[ 'GET', '/api/v1/ingest/stats', 'read' ],
	[ 'GET', '/api/v1/ingest/health', 'read' ],
	[ 'GET', '/api/v1/invoices?q=t204', 'read' ],
	[ 'GET', "/api/v1/invoices/$id", 'read' ],
	[ 'GET', "/api/v1/invoices/$id/file", 'read' ],
	[ 'GET', '/metrics', 'read' ],
	[ 'POST', "/api/v1/ingest/$id/retry", 'admin' ],
	[ 'DELETE', "/api/v1/invoices/$nobody", 'admin' ],
	[ 'POST', '/api/v1/keys', 'admin' ],
	[ 'DELETE', '/api/v1/keys/t204-nobody', 'admin' ]);
for my $rt (@routes) {
	my ($m, $p, $need) = @$rt;
	for my $have (qw(ingest read review admin)) {
		my $r = req($gw, $m, $p, $key{$have}, content => '{}');
		if ($have eq $need) {
			ok($r->{status} != 401 && $r->{status} != 403, "$m $p with a $have key: allowed ($r->{status})");
		} else {
			is($r->{status}, 403, "$m $p with a $have key: 403");
			like($r->{json}{detail} // '', qr/scope "\Q$need\E"/, "$m $p: detail names the missing scope $need");
			like($r->{headers}{'content-type'} // '', qr{^application/problem\+json}, "$m $p: 403 is problem+json");
		}
	}
}
my $r = gw_upload($gw, make_pdf('t204 read key upload'), headers => { Authorization => "Bearer $key{read}" });
is($r->{status}, 403, 'upload with a read key: 403');
like($r->{json}{detail} // '', qr/scope "ingest"/, 'upload 403 names the ingest scope');
is(gw_upload($gw, make_pdf('t204 ingest key'), headers => { Authorization => "Bearer $key{ingest}" })->{status},
	202, 'upload with an ingest key: 202');
# a key made without scopes: {ingest,read}, as every key made before 0.6
is(gw_upload($gw, make_pdf('t204 default key'), headers => { Authorization => "Bearer $key{default}" })->{status},
	202, 'default key: upload');
is(req($gw, 'GET', '/api/v1/ingest/stats', $key{default})->{status}, 200, 'default key: read');
is(req($gw, 'DELETE', "/api/v1/invoices/$nobody", $key{default})->{status}, 403, 'default key: no admin');
for my $p ('/health', '/ready') {
	is(req($gw, 'GET', $p, undef)->{status}, 200, "$p needs no key");
}

# --- changed scopes take effect within the cache time (1 s) -------------------------------
is(req($gw, 'GET', '/api/v1/ingest/stats', $key{read})->{status}, 200, 'read key reads');
$node->safe_psql('postgres', "UPDATE invoiceflow.api_keys SET scopes = '{ingest}' WHERE name = 't204-read'");
my $t0 = time;
ok(wait_until(5, sub { req($gw, 'GET', '/api/v1/ingest/stats', $key{read})->{status} == 403 }),
	'scopes taken away: 403');
ok(time - $t0 <= 1 + 1.5, sprintf('within the cache time (1 s; took %.1f s)', time - $t0));

# --- keys over REST -------------------------------------------------------------------------
$r = req($gw, 'POST', '/api/v1/keys', $key{admin}, content => '{"name": "t204-made", "scopes": ["read"]}',
	headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 201, 'POST /api/v1/keys: 201');
like($r->{json}{key} // '', qr/^ifk_[0-9a-f]{64}$/, 'the key is shown');
is_deeply($r->{json}{scopes}, ['read'], 'with its scopes');
my $made = $r->{json}{key};
is(req($gw, 'GET', '/api/v1/ingest/stats', $made)->{status}, 200, 'the new key reads');
is(gw_upload($gw, make_pdf('t204 made'), headers => { Authorization => "Bearer $made" })->{status}, 403,
	'the new key cannot upload');
is($node->safe_psql('postgres', "SELECT scopes FROM invoiceflow.api_keys WHERE name = 't204-made'"), '{read}',
	'stored with its scopes');
$r = req($gw, 'POST', '/api/v1/keys', $key{admin}, content => '{"name": "t204-made"}');
is($r->{status}, 409, 'the same name again: 409');
$r = req($gw, 'POST', '/api/v1/keys', $key{admin}, content => '{"name": "t204-x", "scopes": ["superuser"]}');
is($r->{status}, 400, 'unknown scope: 400');
like($r->{json}{detail} // '', qr/unknown scope: superuser/, 'unknown scope named');
is(req($gw, 'POST', '/api/v1/keys', $key{admin}, content => '{"name": 5}')->{status}, 400, 'name not a string: 400');
is(req($gw, 'POST', '/api/v1/keys', $key{admin}, content => 'not json')->{status}, 400, 'not JSON: 400');
is(req($gw, 'POST', '/api/v1/keys', $key{admin}, content => '{"name": "' . ('x' x 5000) . '"}')->{status}, 413,
	'a body over 4 KB: 413');
$r = req($gw, 'POST', '/api/v1/keys', $key{admin}, content => '{"name": "t204-default-scopes"}');
is_deeply($r->{json}{scopes}, [ 'ingest', 'read' ], 'no scopes given: ingest and read');
$r = req($gw, 'DELETE', '/api/v1/keys/t204-made', $key{admin});
is($r->{status}, 200, 'DELETE /api/v1/keys/{name}: 200');
is(req($gw, 'GET', '/api/v1/ingest/stats', $made)->{status}, 401, 'the revoked key is refused at once');
is(req($gw, 'DELETE', '/api/v1/keys/t204-made', $key{admin})->{status}, 404, 'revoked twice: 404');
ok(!grep({ ($_->{message} // '') =~ /\Q$made\E/ || (join(' ', values %$_) =~ /\Q$made\E/) } log_lines($gw)),
	'a key made over REST never reaches the log');

# --- retry and purge ------------------------------------------------------------------------
$node->safe_psql('postgres', "SELECT invoiceflow.fail('$id', invoiceflow.claim('$id', 't204'), 'broken on purpose')");
$r = req($gw, 'POST', "/api/v1/ingest/$id/retry", $key{admin});
is($r->{status}, 202, 'retry of a FAILED ingestion: 202');
is($node->safe_psql('postgres', "SELECT status FROM invoiceflow.ingestions WHERE id = '$id'"), 'PENDING',
	'it is PENDING again');
$r = req($gw, 'POST', "/api/v1/ingest/$id/retry", $key{admin});
is($r->{status}, 409, 'retry of a PENDING one: 409');
like($r->{json}{detail} // '', qr/invalid status transition from PENDING to PENDING/, '409 says why');
is(req($gw, 'POST', "/api/v1/ingest/$nobody/retry", $key{admin})->{status}, 404, 'retry of an unknown id: 404');
is(req($gw, 'POST', '/api/v1/ingest/not-a-uuid/retry', $key{admin})->{status}, 400, 'retry of a malformed id: 400');
$r = req($gw, 'DELETE', "/api/v1/invoices/$id", $key{admin});
is($r->{status}, 200, 'purge: 200');
is(req($gw, 'GET', "/api/v1/invoices/$id", $key{all})->{status}, 404, 'purged: 404');
is(req($gw, 'DELETE', "/api/v1/invoices/$id", $key{admin})->{status}, 404, 'purged twice: 404');

# --- X-Content-Type-Options: nosniff on every response ---------------------------------------
my $fid = gw_upload($gw, make_pdf('t204 nosniff'), headers => { Authorization => "Bearer $key{all}" })->{json}{request_id};
for my $c ([ 'GET', '/health', undef ], [ 'GET', '/metrics', $key{all} ], [ 'GET', '/api/v1/ingest/stats', undef ],
	[ 'GET', '/api/v1/ingest/stats', $key{ingest} ], [ 'GET', '/nothing', undef ], [ 'PUT', '/health', undef ],
	[ 'GET', "/api/v1/invoices/$fid/file", $key{all} ], [ 'GET', "/api/v1/invoices/$fid", $key{all} ]) {
	my ($m, $p, $k) = @$c;
	$r = req($gw, $m, $p, $k);
	is($r->{headers}{'x-content-type-options'} // '', 'nosniff', "$m $p ($r->{status}): nosniff");
}

# --- snippets safe in HTML --------------------------------------------------------------------
my $xss = gw_upload($gw, make_pdf('t204 xss'), headers => { Authorization => "Bearer $key{all}" })->{json}{request_id};
$node->safe_psql('postgres', qq{SELECT invoiceflow.complete('$xss', invoiceflow.claim('$xss', 't204'),
	'{"invoice": {"invoice_number": "X-1"}, "text": "zeppelin <img src=x onerror=alert(1)> & <b>co</b>"}')});
$r = req($gw, 'GET', '/api/v1/invoices?q=zeppelin', $key{all});
my ($item) = grep { $_->{request_id} eq $xss } @{ $r->{json}{items} // [] };
my $snip = $item ? $item->{snippet} // '' : '';
like($snip, qr{<em>zeppelin</em>}, 'the match is marked');
like($snip, qr{^<em>zeppelin</em> &lt;img src=x onerror=alert}, 'the document text is escaped');
unlike($snip =~ s{</?em>}{}gr, qr/[<>]/, 'no other markup in the snippet');

# --- file names and other text for the user, never PostgreSQL's ----------------------------
for my $c ([ "invoice\xe2\x80\xaefdp.exe", 'U+202E right-to-left override' ],
	[ "in\xe2\x80\x8bvoice.pdf", 'U+200B zero-width space' ],
	[ "a\xe2\x80\xa8b.pdf", 'U+2028 line separator' ],
	[ "a\xc2\x85b.pdf", 'U+0085 next line (C1)' ]) {
	$r = gw_upload($gw, make_pdf("t204 $c->[1]"), filename => $c->[0], headers => { Authorization => "Bearer $key{all}" });
	is($r->{status}, 400, "file name with $c->[1]: 400");
	like($r->{json}{detail} // '', qr/filename contains invisible or control characters/, "$c->[1]: the reason");
}
$r = gw_upload($gw, make_pdf('t204 accents'), filename => "factur\xc3\xa9 \xe4\xb8\xad.pdf",
	headers => { Authorization => "Bearer $key{all}" });
is($r->{status}, 202, 'accents and CJK in a file name are fine');
$r = gw_upload($gw, make_pdf('t204 latin1'), filename => "caf\xe9.pdf", headers => { Authorization => "Bearer $key{all}" });
is($r->{status}, 400, 'file name in Latin-1 (invalid UTF-8): 400');
like($r->{json}{detail} // '', qr/file name is not valid UTF-8/, 'invalid UTF-8: a message for the user');
unlike($r->{json}{detail} // '', qr/byte sequence|encoding "UTF8"/, 'not PostgreSQL\'s text');
my ($ct, $mp) = multipart([ 'file', 'k.pdf', make_pdf('t204 key latin1') ]);
$r = raw_request($gw, "POST /api/v1/ingest/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $key{all}\r\n"
	. "Idempotency-Key: k\xe9y\r\nContent-Type: $ct\r\nContent-Length: " . length($mp) . "\r\nConnection: close\r\n\r\n$mp",
	timeout => 10);
is($r->{status}, 400, 'Idempotency-Key in Latin-1: 400');
unlike($r->{json}{detail} // '', qr/byte sequence/, 'Idempotency-Key: not PostgreSQL\'s text');
$r = req($gw, 'GET', '/api/v1/invoices?q=%FF%FE', $key{all});
is($r->{status}, 400, 'q with invalid UTF-8: 400');
like($r->{json}{detail} // '', qr/query parameter "q" is not valid UTF-8/, 'q: a message for the user');

sub cursor { my $j = shift; my $c = encode_base64($j, ''); $c =~ tr{+/}{-_}; $c =~ s/=+$//; return $c; }
for my $c ([ '-created_at', 'garbage' ], [ 'total', '1e' ], [ 'issue_date', '2024-13-45' ], [ 'relevance', 'x' ]) {
	my ($sort, $k) = @$c;
	my $q = $sort eq 'relevance' ? 'q=zeppelin&' : '';
	$r = req($gw, 'GET', "/api/v1/invoices?${q}sort=$sort&cursor="
		. cursor(qq({"s": "$sort", "k": "$k", "i": "$nobody"})), $key{all});
	is($r->{status}, 400, "tampered $sort cursor: 400");
	is($r->{json}{detail} // '', 'invalid cursor: Pass the next_cursor of the previous page, with the same sort.',
		"tampered $sort cursor: a message for the user");
}

# --- no lock another login takes stalls an upload; timeouts on every session --------------
$node->safe_psql('postgres', 'CREATE ROLE t204_other LOGIN');
my $bg = $node->background_psql('postgres', extra_params => [ '-U', 't204_other' ]);
$bg->query_safe(q{SELECT pg_advisory_lock(hashtextextended('invoiceflow.key:' || 'k204-adv', 0))});
$t0 = time;
$r = gw_upload($gw, make_pdf('t204 advisory'), headers => { Authorization => "Bearer $key{all}", 'Idempotency-Key' => 'k204-adv' },
	timeout => 15);
is($r->{status}, 202, 'another login holds the advisory lock of the old idempotency path: the upload is accepted');
ok(time - $t0 < 5, sprintf('and not held up (%.1f s)', time - $t0));
# the dedup lock on the content, as the previous ingest() keyed it (on the sha256 alone)
my $dedup_pdf = make_pdf('t204 dedup lock');
$bg->query_safe("SELECT pg_advisory_lock(hashtextextended('invoiceflow.sha:' || '" . sha256_hex($dedup_pdf) . "', 0))");
$t0 = time;
$r = gw_upload($gw, $dedup_pdf, headers => { Authorization => "Bearer $key{all}" }, timeout => 15);
is($r->{status}, 202, 'another login holds the previous dedup lock of the content: the upload is accepted');
ok(time - $t0 < 0.9, sprintf('without waiting for a lock (%.1f s)', time - $t0));
$bg->quit;

# an upload of the same key in an open transaction: the second waits lock_timeout (1 s), then 503
my $held = $node->background_psql('postgres');
my $pdf = make_pdf('t204 held key');
$held->query_safe("BEGIN; SELECT invoiceflow.ingest('held.pdf', decode('" . unpack('H*', $pdf) . "', 'hex'), 'upload', 'k204-held')");
$t0 = time;
$r = gw_upload($gw, $pdf, headers => { Authorization => "Bearer $key{all}", 'Idempotency-Key' => 'k204-held' },
	timeout => 15);
is($r->{status}, 503, 'the same key in an uncommitted upload: 503 once lock_timeout is over');
ok(time - $t0 < 5, sprintf('after about GATEWAY_LOCK_TIMEOUT_MS (%.1f s)', time - $t0));
$held->query_safe('COMMIT');
$r = gw_upload($gw, $pdf, headers => { Authorization => "Bearer $key{all}", 'Idempotency-Key' => 'k204-held' });
is($r->{status}, 202, 'committed: the same key and content answers');
ok($r->{json}{duplicate}, 'with duplicate = true');
$r = gw_upload($gw, make_pdf('t204 other'), headers => { Authorization => "Bearer $key{all}", 'Idempotency-Key' => 'k204-held' });
is($r->{status}, 409, 'the same key with other content: 409');

# a table lock held by the superuser: lock_timeout answers, then statement_timeout alone
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE invoiceflow.search_docs IN ACCESS EXCLUSIVE MODE');
$t0 = time;
$r = req($gw, 'GET', '/api/v1/invoices?q=zeppelin', $key{all}, timeout => 20);
is($r->{status}, 503, 'a locked table: 503 after lock_timeout');
ok(time - $t0 < 5, sprintf('lock_timeout bounds the wait (%.1f s)', time - $t0));
$locker->query_safe('ROLLBACK');	# (before stopping: a gateway without timeouts would wait for it)
$gw->stop;
my $gw2 = start_gateway($node, REQUIRE_API_KEY => undef, GATEWAY_LOCK_TIMEOUT_MS => 0, GATEWAY_STATEMENT_TIMEOUT_MS => 1500);
$locker->query_safe('BEGIN; LOCK TABLE invoiceflow.search_docs IN ACCESS EXCLUSIVE MODE');
$t0 = time;
$r = req($gw2, 'GET', '/api/v1/invoices?q=zeppelin', $key{all}, timeout => 20);
is($r->{status}, 503, 'no lock_timeout: statement_timeout answers 503');
ok(time - $t0 < 6, sprintf('statement_timeout bounds the wait (%.1f s)', time - $t0));
$locker->query_safe('ROLLBACK');
is(req($gw2, 'GET', '/api/v1/invoices?q=zeppelin', $key{all})->{status}, 200, 'lock gone: 200');
$locker->quit;
$gw2->stop;

$node->stop;
done_testing();
