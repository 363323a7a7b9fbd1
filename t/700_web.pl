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
my $proc = start_processor($node, env => { PROCESSOR_CONCURRENCY => 2 });

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

# --- the browser run ---------------------------------------------------------------------
my $shots = $ENV{WEB_SCREENSHOTS} // "$dir/screenshots";
my %env = (
	BASE_URL => $gw->url, API_KEY => $key, KEY_NAME => 'web-clerk',
	PDF_A => $file{A}, PDF_B => $file{B}, PDF_X => $file{X}, OUT_DIR => $shots,
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

$proc->stop;
$gw->stop;
done_testing();
