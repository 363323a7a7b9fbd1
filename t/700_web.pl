# The web page (issue 14) in a real browser: a cluster, the gateway (ASan
# build, keys required) and the processor, then test/browser/web.test.mjs
# drives Debian's chromium through sign-in, upload, inbox, search, the invoice
# view (correct, approve), the review queue, the audit log, the script-injection
# probe, a phone-sized screen and sign-out. Its TAP lines are checked one by one
# here, and the outcome is checked again in SQL.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run ();
use InvoiceflowTest;
use ProcessorTest;
use GatewayTest;
use HTTP::Tiny;

my $root = repo_root();
my $chromium = '/usr/bin/chromium';
my $driver = "$root/test/browser/node_modules/playwright-core/package.json";
# both are installed by test/services/install-deps.sh: missing is a failure, not a skip
ok(-x $chromium, "Debian's chromium is installed ($chromium)") or BAIL_OUT('chromium is missing');
ok(-f $driver, 'playwright-core is installed (test/browser)') or BAIL_OUT('playwright-core is missing');

my $node = new_node('web');
my $key = $node->safe_psql('postgres',
	q{SELECT invoiceflow.create_api_key('web-clerk', '{ingest,read,review,admin}')});
my $gw = start_gateway($node, REQUIRE_API_KEY => 'true', GATEWAY_UPLOAD_MIN_BYTES_PER_SECOND => 0);

# --- the PDFs: A's total does not add up (needs review), B is clean, X is the probe ---
my $dir = "$PostgreSQL::Test::Utils::tmp_check/web";
mkdir $dir;
sub page_pdf {
	my (@lines) = @_;
	my $y = 780;
	my $stream = join("\n", map {
		(my $t = $_) =~ s/([()\\])/\\$1/g;
		my $s = "BT /F1 11 Tf 60 $y Td ($t) Tj ET";
		$y -= 18;
		$s } @lines);
	return pdf_from_objects("%PDF-1.4\n",
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		"<< /Length " . length($stream) . " >>\nstream\n$stream\nendstream",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
}
sub invoice_pdf {
	my (%a) = @_;
	return page_pdf($a{seller}, 'Hauptstrasse 1, 10115 Berlin', 'VAT ID: DE123456789', '',
		"Bill to: Acme Buyer AG", '', 'INVOICE', "Invoice number: $a{number}", "Invoice date: $a{date}",
		'Due date: 2025-04-13', '', 'Description                Qty    Unit price    Amount',
		"$a{item}                   1      $a{net}       $a{net}", '',
		"Net amount: $a{net} EUR", "VAT 19%: $a{tax} EUR", "Total: $a{total} EUR", '', @{ $a{extra} // [] });
}
my %pdf = (
	A => invoice_pdf(seller => 'Webshop Supplies GmbH', number => 'INV-WEB-1001', date => '2025-03-14',
		item => 'Paper A4', net => '100.00', tax => '19.00', total => '191.00'),
	B => invoice_pdf(seller => 'Northwind Traders Ltd', number => 'NW-2025-0042', date => '2025-02-03',
		item => 'Toner', net => '200.00', tax => '38.00', total => '238.00'),
	X => invoice_pdf(seller => 'Evil <img src=x onerror=alert(1)> Corp', number => 'XSS-1', date => '2025-01-20',
		item => '<script>alert(2)</script>', net => '10.00', tax => '1.90', total => '11.90',
		extra => ['Note: <img src=x onerror=alert(1)>']),
);
my %file = (A => "$dir/webshop-invoice.pdf", B => "$dir/northwind-invoice.pdf", X => "$dir/probe.pdf");
for my $k (keys %pdf) {
	open(my $fh, '>:raw', $file{$k}) or die "$file{$k}: $!";
	print $fh $pdf{$k};
	close $fh;
}

# a FAILED one for the page's retry (failed before the processor starts)
my $failed_id = ingest_file($node, 'failed-once.pdf', invoice_pdf(seller => 'Retry Ltd', number => 'RT-7',
	date => '2025-01-05', item => 'Ink', net => '50.00', tax => '9.50', total => '59.50'));
$node->safe_psql('postgres', qq{SELECT invoiceflow.fail('$failed_id', invoiceflow.claim('$failed_id', 'test'), 'made to fail')});
my $proc = start_processor($node, env => { PROCESSOR_CONCURRENCY => 2 });

# --- the browser run ---------------------------------------------------------------------
my $shots = $ENV{WEB_SCREENSHOTS} // "$dir/screenshots";
my %env = (
	BASE_URL => $gw->url, API_KEY => $key, KEY_NAME => 'web-clerk',
	PDF_A => $file{A}, PDF_B => $file{B}, PDF_X => $file{X}, OUT_DIR => $shots, FAILED_ID => $failed_id,
	HOME => $dir,	# chromium writes beside its profile (a fresh --user-data-dir in TMPDIR)
	($ENV{WEB_DOCS_SHOT} ? (DOCS_SHOT => $ENV{WEB_DOCS_SHOT}) : ()));
my ($out, $err) = ('', '');
my $ok = eval {
	local @ENV{ keys %env } = values %env;
	IPC::Run::run(['node', "$root/test/browser/web.test.mjs"], '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(420));
};
note("screenshots: $shots");
my @lines = split /\n/, $out;
my $checks = 0;
for my $l (@lines) {
	if ($l =~ /^(not )?ok \d+ - (.*)$/) {
		$checks++;
		ok(!$1, "browser: $2");
	}
	elsif ($l =~ /^#/) {
		diag($l);
	}
}
cmp_ok($checks, '>=', 40, "the browser run made its checks ($checks)") or diag("stdout:\n$out\nstderr:\n$err");
ok($ok, 'the browser run exited 0') or diag("stderr:\n$err");

# --- the same outcome, seen from SQL ------------------------------------------------------------
my $a_id = $node->safe_psql('postgres',
	q{SELECT ingestion_id FROM invoiceflow.extractions WHERE invoice ->> 'invoice_number' = 'INV-WEB-1001'});
is($node->safe_psql('postgres', qq{SELECT invoice -> 'totals' ->> 'total' FROM invoiceflow.extractions WHERE ingestion_id = '$a_id'}),
	'191.00', 'SQL: the extraction is kept as it came');
is($node->safe_psql('postgres', qq{SELECT string_agg(field || '=' || (new_value #>> '{}') || ' by ' || actor, ', ' ORDER BY field)
	FROM invoiceflow.corrections WHERE ingestion_id = '$a_id'}),
	'totals.total=119.00 by web-clerk', 'SQL: the corrections beside it, with the actor');
is($node->safe_psql('postgres', qq{SELECT string_agg(action || ':' || actor, ' ' ORDER BY id) FROM invoiceflow.audit
	WHERE request_id = '$a_id' AND action IN ('correct', 'approve')}),
	'correct:web-clerk approve:web-clerk', 'SQL: the audit log has the correction and the approval by the key');
is($node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.web_sessions}), '0',
	'SQL: no session is left after sign-out');

# --- the review routes, sessions and their refusals over HTTP -----------------------------------
my $http = HTTP::Tiny->new(timeout => 30);
my $url = $gw->url;
my $reader = $node->safe_psql('postgres', q{SELECT invoiceflow.create_api_key('web-reader', '{read}')});
my $reviewer = $node->safe_psql('postgres', q{SELECT invoiceflow.create_api_key('web-reviewer', '{read,review}')});
sub req {
	my ($method, $path, %o) = @_;
	my %h = %{ $o{headers} // {} };
	$h{Authorization} = "Bearer $o{key}" if $o{key};
	$h{'Content-Type'} = 'application/json' if defined $o{body};
	my $r = $http->request($method, "$url$path", { headers => \%h, (defined $o{body} ? (content => $o{body}) : ()) });
	$r->{json} = json_decode($r->{content});
	return $r;
}
my $b_id = $node->safe_psql('postgres',
	q{SELECT ingestion_id FROM invoiceflow.extractions WHERE invoice ->> 'invoice_number' = 'NW-2025-0042'});
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM invoiceflow.corrections');
is(req('PATCH', "/api/v1/invoices/$b_id", key => $reader, body => '{"invoice_number": "X"}')->{status}, 403,
	'PATCH with a key without the review scope: 403');
is(req('POST', "/api/v1/invoices/$b_id/approve", key => $reader)->{status}, 403, 'approve without review: 403');
is(req('GET', '/api/v1/audit', key => $reviewer)->{status}, 403, 'the audit log needs admin: 403');
my $r = req('PATCH', "/api/v1/invoices/$b_id", key => $reviewer, body => '{"totals": {"total": 238}}');
ok($r->{status} == 400 && $r->{json}{detail} =~ /totals\.total must be a string/, 'a bad patch: 400 with the detail')
  or diag($r->{content});
$r = req('PATCH', "/api/v1/invoices/$b_id", key => $reviewer, body => '{"issue_date": "2025-02-30"}');
ok($r->{status} == 400 && $r->{json}{detail} =~ /issue_date/, 'a date that does not exist: 400');
is(req('PATCH', "/api/v1/invoices/$b_id", key => $reviewer, body => 'not json')->{status}, 400, 'a body that is not JSON: 400');
is($node->safe_psql('postgres', 'SELECT count(*) FROM invoiceflow.corrections'), $before, 'refused patches wrote nothing');
is(req('PATCH', '/api/v1/invoices/' . '0' x 8 . '-0000-4000-8000-' . '0' x 12, key => $reviewer,
	body => '{"invoice_number": "X"}')->{status}, 404, 'an unknown invoice: 404');
is(req('POST', '/api/v1/invoices/nope/approve', key => $reviewer)->{status}, 400, 'an id that is not a UUID: 400');
$r = req('PATCH', "/api/v1/invoices/$b_id", key => $reviewer, body => '{"seller": {"name": "Northwind Traders"}}');
ok($r->{status} == 200 && $r->{json}{invoice}{seller}{name} eq 'Northwind Traders'
	  && $r->{json}{corrections}[-1]{actor} eq 'web-reviewer', 'PATCH with a Bearer key: the key\'s name is the actor')
  or diag($r->{content});
$r = req('GET', "/api/v1/invoices?seller=northwind%20traders%20ltd", key => $reader);
is(scalar @{ $r->{json}{items} // [] }, 0, 'search follows the correction (the old seller name no longer matches)');
$r = req('GET', '/api/v1/audit?limit=2', key => $key);
ok($r->{status} == 200 && @{ $r->{json}{items} } == 2 && $r->{json}{next_cursor}, 'audit: a page of 2 with a cursor');
my $page2 = req('GET', "/api/v1/audit?limit=2&cursor=$r->{json}{next_cursor}", key => $key);
ok($page2->{json}{items}[0]{id} < $r->{json}{items}[1]{id}, 'audit: the next page is older');
is(req('GET', '/api/v1/audit?limit=0', key => $key)->{status}, 400, 'audit: a bad limit is 400');
is(req('GET', '/api/v1/audit?cursor=abc', key => $key)->{status}, 400, 'audit: a bad cursor is 400');

# sessions: Secure behind TLS, the key's scopes, expiry, revocation, a Bearer key wins
$r = req('POST', '/api/v1/session', body => qq{{"key": "$reviewer"}}, headers => { 'X-Forwarded-Proto' => 'https' });
my $cookie = $r->{headers}{'set-cookie'} // '';
like($cookie, qr/^invoiceflow_session=[0-9a-f]{64}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/,
	'behind TLS the cookie is Secure too');
my ($token) = $cookie =~ /=([0-9a-f]{64})/;
my $csrf = $r->{json}{csrf_token};
my %c = (Cookie => "invoiceflow_session=$token");
is(req('GET', '/api/v1/audit', headers => \%c)->{status}, 403, 'a session has its key\'s scopes only (no admin)');
is(req('PATCH', "/api/v1/invoices/$b_id", headers => \%c, body => '{"invoice_number": "NW-1"}')->{status}, 403,
	'a change with the session but without X-CSRF-Token: 403');
is(req('PATCH', "/api/v1/invoices/$b_id", headers => { %c, 'X-CSRF-Token' => 'f' x 64 }, body => '{"invoice_number": "NW-1"}')->{status},
	403, 'a wrong CSRF token: 403');
$r = req('PATCH', "/api/v1/invoices/$b_id", headers => { %c, 'X-CSRF-Token' => $csrf }, body => '{"invoice_number": "NW-1"}');
ok($r->{status} == 200 && $r->{json}{corrections}[-1]{actor} eq 'web-reviewer', 'with the CSRF token: corrected, by the session\'s key')
  or diag($r->{content});
is(req('GET', '/api/v1/invoices?limit=1', headers => { %c, Authorization => 'Bearer ifk_wrong' })->{status}, 401,
	'a request with a Bearer key is judged by the key alone');
$node->safe_psql('postgres', q{UPDATE invoiceflow.web_sessions SET expires_at = now() - interval '1 second'});
is(req('GET', '/api/v1/invoices?limit=1', headers => \%c)->{status}, 401, 'an expired session: 401');
$r = req('POST', '/api/v1/session', body => qq{{"key": "$reviewer"}});
($token) = ($r->{headers}{'set-cookie'} // '') =~ /=([0-9a-f]{64})/;
unlike($r->{headers}{'set-cookie'} // '', qr/Secure/, 'over plain HTTP the cookie is not Secure');
$node->safe_psql('postgres', q{SELECT invoiceflow.revoke_api_key('web-reviewer')});
is(req('GET', '/api/v1/invoices?limit=1', headers => { Cookie => "invoiceflow_session=$token" })->{status}, 401,
	'revoking the key ends its sessions');
is(req('POST', '/api/v1/session', body => '{"key": 1}')->{status}, 400, 'sign-in without a key string: 400');

# the audit log names the key behind uploads, purges and key changes made over REST
$r = req('POST', '/api/v1/keys', key => $key, body => '{"name": "web-made", "scopes": ["read"]}');
is($r->{status}, 201, 'an admin key makes a key');
is(req('DELETE', '/api/v1/keys/web-made', key => $key)->{status}, 200, '... and revokes it');
is(req('DELETE', "/api/v1/invoices/$b_id", key => $key)->{status}, 200, 'an admin key purges an invoice');
is($node->safe_psql('postgres', qq{SELECT string_agg(action || ':' || actor, ' ' ORDER BY id) FROM invoiceflow.audit
	WHERE action IN ('key_create', 'key_revoke', 'purge') AND (request_id = '$b_id' OR detail ->> 'name' = 'web-made')}),
	'key_create:web-clerk key_revoke:web-clerk purge:web-clerk', 'the audit log names the key behind key changes and purges');
is($node->safe_psql('postgres', qq{SELECT actor FROM invoiceflow.audit WHERE action = 'upload' AND request_id = '$a_id'}),
	'web-clerk', 'and behind an upload made in the page');
is($node->safe_psql('postgres', qq{SELECT actor FROM invoiceflow.audit WHERE action = 'retry' AND request_id = '$failed_id'}),
	'web-clerk', 'and behind the retry made in the page');
is($node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.audit WHERE actor = 'invoiceflow_gateway'}), '0',
	'no entry falls back to the gateway\'s login role');

# static files: plain names of known types only
is(req('GET', '/web/%2e%2e%2fMakefile')->{status}, 404, 'no path out of the web folder');
is(req('GET', '/web/index.exe')->{status}, 404, 'no unknown file types');
$r = req('GET', '/web/vendor/pdf.min.mjs');
is($r->{headers}{'content-type'}, 'text/javascript; charset=utf-8', 'pdf.js is served as JavaScript');

$proc->stop;
$gw->stop;
unlike($gw->stderr_text, qr/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/, 'the gateway ran clean under ASan/UBSan');
done_testing();
