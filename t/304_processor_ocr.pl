# OCR end to end (issue 10): a scanned invoice (an image-only PDF made here from a
# text PDF, tests/make_scan) uploaded over the gateway ends COMPLETED with
# source / extracted_from = ocr and is found by search on a word that exists only
# in the image; the processor that `make run` starts (the plain build named in
# test/services/run-local.sh) is the one doing it. Then hostile images (huge
# dimensions, a huge page, a 1 x 100000 strip, a corrupt JPEG, a corrupt JBIG2
# stream) each end FAILED or in review, with the processor alive; and the ASan
# build reads a scan without a sanitizer report. Valgrind is not run on OCR here:
# t/300 runs the parent under valgrind without tracing the children, so no OCR
# happens under it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Temp ();
use IPC::Run ();
use InvoiceflowTest;
use ProcessorTest;
use GatewayTest;

my $root = repo_root();
my $make_scan = "$root/sidecar/processor/tests/make_scan";
plan skip_all => "$make_scan is missing: run make -C sidecar/processor" unless -x $make_scan;

# make run's processor: the binary run-local.sh starts
my $run_local = slurp_file("$root/test/services/run-local.sh");
my ($run_bin) = $run_local =~ m{^PROCESSOR="\$ROOT/(sidecar/processor/[\w.-]+)"}m;
is($run_bin, 'sidecar/processor/invoiceflow-processor', 'make run starts the plain processor build');

# --- fixtures: a text invoice, scanned --------------------------------------------------
my $dir = File::Temp::tempdir(CLEANUP => 1);
my $word = 'Zebrafinch';    # only in the image
open(my $spec, '>', "$dir/spec.txt") or die;
print $spec <<"EOF";
50 60 20 Quokka Widgets GmbH
50 85 10 Musterstrasse 1, 10115 Berlin
50 150 11 Bill to: Globex AG
50 165 11 Hauptweg 7, 20095 Hamburg
50 220 22 INVOICE
50 260 12 Invoice No: RE-2024-0815
50 278 12 Invoice Date: 15.03.2024
50 330 12 Description
420 330 12 Amount
50 350 12 Consulting services $word
420 350 12 1,000.00
300 420 12 Net amount
420 420 12 1,000.00
300 438 12 VAT 19%
420 438 12 190.00
300 456 12 Total EUR
420 456 12 1,190.00
EOF
close $spec;
system($make_scan, '--text', "$dir/spec.txt", "$dir/text.pdf") == 0 or die 'make_scan --text failed';
system($make_scan, "$dir/text.pdf", "$dir/scan.pdf", 200) == 0 or die 'make_scan failed';
my $scan = slurp_file_bin("$dir/scan.pdf");
unlike($scan, qr/\Q$word\E/, 'the word is not in the scan\'s bytes (no text layer)');

# --- upload over the gateway, processed by make run's processor ---------------------------
my $node = new_node('proc_ocr');
my $gw = start_gateway($node);
my $p = start_processor($node, bin => "$root/$run_bin", env => { PROCESSOR_CONCURRENCY => 2, LOG_LEVEL => 'INFO' });
my $r = gw_upload($gw, $scan, filename => 'scanned-invoice.pdf');
is($r->{status}, 202, 'scan uploaded') or diag($r->{content});
my $id = $r->{json}{request_id};
ok(wait_until(90, sub { (doc_status($node, $id)->{status} // '') =~ /^(COMPLETED|FAILED)$/ }), 'the scan was processed')
  or diag($p->stderr);
$r = gw_get($gw, "/api/v1/invoices/$id");
is($r->{json}{status}, 'COMPLETED', 'COMPLETED') or diag($r->{content});
my $inv = $r->{json}{invoice} // {};
is($inv->{source}, 'ocr', 'extracted from OCR');
is($inv->{invoice_number}, 'RE-2024-0815', 'invoice number read from the image');
is($inv->{totals}{total}, '1190.00', 'total read from the image');
is($inv->{sources}{invoice_number}, 'ocr', 'sources say ocr');
$r = gw_get($gw, "/api/v1/invoices?q=$word");
is($r->{status}, 200, 'search answers') or diag($r->{content});
is_deeply([ map { $_->{request_id} } @{ $r->{json}{items} // [] } ], [$id], "found by search on \"$word\", a word only in the image");
$r = gw_get($gw, '/api/v1/invoices?extracted_from=ocr');
ok((grep { $_->{request_id} eq $id } @{ $r->{json}{items} // [] }), 'listed with extracted_from=ocr');
my ($line) = grep { ($_->{request_id} // '') eq $id } $p->documents;
is($line->{source}, 'ocr', 'the processor logs source ocr') if $line;

# --- hostile images: each ends FAILED or in review, the processor stays up ------------------
# A page showing one image XObject (object 5) over MEDIA, nothing else.
sub image_pdf {
	my ($media, $idict, $idata, $draw) = @_;
	$draw //= do { my ($w, $h) = (split ' ', $media)[2, 3]; "q $w 0 0 $h 0 0 cm /Im0 Do Q" };
	return pdf_from_objects("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [$media] /Contents 4 0 R /Resources << /XObject << /Im0 5 0 R >> >> >>",
		"<< /Length " . length($draw) . " >>\nstream\n$draw\nendstream",
		"<< /Type /XObject /Subtype /Image $idict /Length " . length($idata) . " >>\nstream\n$idata\nendstream");
}
my $gray = '/ColorSpace /DeviceGray /BitsPerComponent 8';
my %hostile = (
	# 50,000 x 50,000 pixels declared (2.5 GB decoded) from 1 MB of deflated zeros
	'img-huge.pdf' => image_pdf('0 0 612 792', "/Width 50000 /Height 50000 $gray /Filter /FlateDecode", flate_zeros(1)),
	# a page of 200 x 200 inches (the PDF maximum) with a scan on it
	'img-huge-page.pdf' => image_pdf('0 0 14400 14400', "/Width 100 /Height 100 $gray /Filter /FlateDecode", flate_zeros(1)),
	# a 1 x 100000 strip, drawn over the page and as a thin line
	'img-strip.pdf' => image_pdf('0 0 612 792', "/Width 1 /Height 100000 $gray", "\x80" x 100000),
	'img-strip-thin.pdf' => image_pdf('0 0 612 792', "/Width 100000 /Height 1 $gray", "\x40" x 100000,
		'q 600 0 0 0.5 6 400 cm /Im0 Do Q'),
	# a JPEG whose header claims 2000 x 2000 and whose data is garbage
	'img-corrupt-jpeg.pdf' => image_pdf('0 0 612 792', "/Width 2000 /Height 2000 $gray /Filter /DCTDecode",
		"\xff\xd8\xff\xc0\x00\x0b\x08\x07\xd0\x07\xd0\x01\x01\x11\x00\xff\xda" . join('', map { chr(($_ * 7919) % 256) } 1 .. 5000)),
	# a JBIG2 stream of garbage
	'img-corrupt-jbig2.pdf' => image_pdf('0 0 612 792', '/Width 2000 /Height 2000 /BitsPerComponent 1 /ColorSpace /DeviceGray /Filter /JBIG2Decode',
		"\x97JB2\x0d\x0a\x1a\x0a" . join('', map { chr(($_ * 104729) % 256) } 1 .. 5000)),
);
my %hid = map { $_ => ingest_file($node, $_, $hostile{$_}) } keys %hostile;
ok(wait_until(180, sub { !grep { doc_status($node, $_)->{status} =~ /^(PENDING|PROCESSING)$/ } values %hid }),
	'every hostile image ended') or diag($p->stderr);
for my $name (sort keys %hid) {
	my $s = doc_status($node, $hid{$name});
	ok($s->{status} eq 'FAILED' || ($s->{status} eq 'COMPLETED' && $s->{invoice}{needs_review}),
		"$name: FAILED or in review ($s->{status})");
	like($s->{error}{message} // '', qr/^[\x20-\x7e]{5,300}$/, "$name: readable reason") if $s->{status} eq 'FAILED';
	note("$name: $s->{status}" . ($s->{error} ? " ($s->{error}{message})" : ''));
}
ok(kill(0, $p->{pid}), 'the processor is still running');
my $again = ingest_file($node, 'scan-after.pdf', $scan . "\n%after\n");
ok(wait_until(60, sub { doc_status($node, $again)->{status} eq 'COMPLETED' }), 'a scan still completes after them');
is(doc_status($node, $again)->{invoice}{source}, 'ocr', 'through OCR');
$p->stop('TERM');
is($p->wait_exit(30), 0, 'SIGTERM: exit 0');

# --- the ASan build reads the scan cleanly (OCR included) --------------------------------
{
	my ($out, $err) = ('', '');
	local $ENV{ASAN_OPTIONS} = 'detect_leaks=1:abort_on_error=0';
	my $ok = IPC::Run::run([ "$root/sidecar/processor/invoiceflow-processor-asan", 'extract', "$dir/scan.pdf" ], '>', \$out, '2>', \$err);
	ok($ok, 'ASan build: extract exits 0');
	like($out, qr/"source":"ocr"/, 'ASan build: read through OCR');
	unlike($err, qr/AddressSanitizer|LeakSanitizer|runtime error/, 'ASan build: no sanitizer report') or diag($err);
}
# a language without data is refused at start, by name
my $bad = start_processor($node, bin => 'plain', env => { PROCESSOR_OCR_LANGS => 'eng+klingon' });
is($bad->wait_exit(15), 2, 'PROCESSOR_OCR_LANGS with a missing language: exit 2');
like($bad->stderr, qr/PROCESSOR_OCR_LANGS.*klingon/, 'the message names the variable and the language');
$gw->stop;
done_testing();
