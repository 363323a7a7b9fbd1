# Webhooks in (issue 13): POST /api/v1/ingest/webhook/{sender} signed as
# Standard Webhooks says, the signatures made here in Perl from the
# specification; every refusal writes nothing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MIME::Base64 qw(encode_base64);
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use InvoiceflowTest;
use GatewayTest;
use WebhookTest;

# the secrets are stored encrypted under a key of the server's configuration
my $node = new_node('wh_in', conf => "invoiceflow.webhook_secret_key = 'test key: never in the database'");
my $gw = start_gateway($node, MAX_FILE_SIZE_MB => 1, WEBHOOK_RATE_PER_MINUTE => 20);
my $pdf = make_pdf('Webhook invoice 4711');
my $q = sub { $node->safe_psql('postgres', shift) };
my $count = sub { $q->('SELECT count(*) FROM invoiceflow.ingestions') };

my $secret = $q->(q{SELECT invoiceflow.create_webhook_sender('scanco')});
like($secret, qr{^whsec_[A-Za-z0-9+/]{43}=$}, 'a sender secret is whsec_ + base64 of 32 bytes');
like($q->(q{SELECT secret FROM invoiceflow.webhook_senders WHERE name = 'scanco'}), qr/^v1e:/,
	'stored encrypted (invoiceflow.webhook_secret_key)');
my $dump = `pg_dump -h @{[ $node->host ]} -p @{[ $node->port ]} -U @{[ $ENV{USER} // 'postgres' ]} --data-only postgres 2>&1`;
like($dump, qr/webhook_senders/, 'pg_dump has the senders');
ok(index($dump, substr($secret, 6)) < 0 && $dump !~ /whsec_/, 'a dump holds no secret');

# --- a valid request, then the same webhook-id again ---------------------------
my $r = wh_post($gw, 'scanco', $secret, $pdf, headers => { 'X-Filename' => 'scan-1.pdf' });
is($r->{status}, 202, 'signed application/pdf: 202');
is($r->{json}{status}, 'PENDING', 'upload-shaped answer: status');
like($r->{json}{request_id}, qr/^[0-9a-f-]{36}$/, 'upload-shaped answer: request_id');
is($r->{json}{message}, 'File uploaded successfully, processing started', 'upload-shaped answer: message');
my $id1 = $r->{json}{request_id};
is($q->("SELECT source || ' ' || filename FROM invoiceflow.ingestions WHERE id = '$id1'"), 'webhook scan-1.pdf',
	'stored with source webhook and the X-Filename');
is($q->("SELECT sender FROM invoiceflow.webhook_ingestions WHERE ingestion_id = '$id1'"), 'scanco',
	'the sender is kept with the ingestion');

my $again = wh_post($gw, 'scanco', $secret, $pdf, id => $r->{webhook_id}, headers => { 'X-Filename' => 'scan-1.pdf' });
is($again->{status}, 202, 'repeated webhook-id: 202');
is($again->{content}, $r->{content}, 'repeated webhook-id: exactly the first response');
my $other = wh_post($gw, 'scanco', $secret, make_pdf('other content'), id => $r->{webhook_id},
	headers => { 'X-Filename' => 'x.pdf' });
is($other->{json}{request_id}, $id1, 'repeated webhook-id with another body: still the first response');
is($count->(), 1, 'replays wrote nothing');

# --- refusals: 401 problem+json, nothing written ---------------------------------
sub refused {
	my ($r, $re, $name) = @_;
	is($r->{status}, 401, "$name: 401");
	like($r->{headers}{'content-type'} // '', qr{^application/problem\+json}, "$name: problem+json");
	like($r->{json}{detail} // '', $re, "$name: detail");
}
my $before = $count->();
refused(wh_post($gw, 'scanco', $secret, $pdf, signature => 'v1,' . encode_base64('x' x 32, '')),
	qr/invalid webhook signature/, 'bad signature');
# a signature of other bytes than those sent (one byte changed)
my $ts = time();
refused(wh_post($gw, 'scanco', $secret, $pdf . ' ', id => 'msg_tamper', ts => $ts,
		signature => wh_sign($secret, 'msg_tamper', $ts, $pdf)), qr/invalid webhook signature/, 'body changed after signing');
refused(wh_post($gw, 'scanco', $secret, $pdf, ts => time() - 301), qr/5 minutes/, 'timestamp 301 s old');
refused(wh_post($gw, 'scanco', $secret, $pdf, ts => time() + 400), qr/5 minutes/, 'timestamp 400 s ahead');
refused(wh_post($gw, 'scanco', $secret, $pdf, headers => { 'webhook-signature' => undef }, signature => ''),
	qr/headers are required/, 'no signature header');
refused(wh_post($gw, 'nobody', $secret, $pdf), qr/unknown or revoked/, 'unknown sender');
is($count->(), $before, 'no refused request wrote anything');
is($q->('SELECT count(*) FROM invoiceflow.webhook_receipts'), '1', 'no refused request left a receipt');

# --- rotation: both secrets for 24 hours, several signatures in one header -----
my $new = $q->(q{SELECT invoiceflow.rotate_webhook_secret('scanco')});
isnt($new, $secret, 'rotation gives a new secret');
$r = wh_post($gw, 'scanco', $new, make_pdf('rotated new'), headers => { 'X-Filename' => 'n.pdf' });
is($r->{status}, 202, 'rotated: the new secret is accepted');
$r = wh_post($gw, 'scanco', $secret, make_pdf('rotated old'), headers => { 'X-Filename' => 'o.pdf' });
is($r->{status}, 202, 'rotated: the previous secret is still accepted');
$ts = time();
my $body = make_pdf('two signatures');
$r = wh_post($gw, 'scanco', $new, $body, id => 'msg_two', ts => $ts, headers => { 'X-Filename' => 't.pdf' },
	signature => 'v1,' . encode_base64('y' x 32, '') . ' ' . wh_sign($new, 'msg_two', $ts, $body));
is($r->{status}, 202, 'space-separated signatures: one valid is enough');
$q->(q{UPDATE invoiceflow.webhook_senders SET previous_valid_until = now() - interval '1 second'});
refused(wh_post($gw, 'scanco', $secret, make_pdf('expired'), headers => { 'X-Filename' => 'e.pdf' }),
	qr/invalid webhook signature/, 'the previous secret after its 24 hours');

# --- each body type --------------------------------------------------------------
$r = wh_post($gw, 'scanco', $new, make_pdf('disposition'),
	headers => { 'Content-Disposition' => 'attachment; filename="Rechnung 12.pdf"' });
is($r->{status}, 202, 'application/pdf with Content-Disposition: 202');
is($q->("SELECT filename FROM invoiceflow.ingestions WHERE id = '$r->{json}{request_id}'"), 'Rechnung 12.pdf',
	'filename from Content-Disposition');
my ($ct, $mp) = multipart(['file', 'multi.pdf', make_pdf('multipart body')], ['metadata', undef, '{"batch": 7}']);
$r = wh_post($gw, 'scanco', $new, $mp, content_type => $ct);
is($r->{status}, 202, 'multipart/form-data field file: 202');
is($q->("SELECT filename || ' ' || (SELECT metadata::text FROM invoiceflow.webhook_ingestions WHERE ingestion_id = i.id)"
		. " FROM invoiceflow.ingestions i WHERE id = '$r->{json}{request_id}'"), 'multi.pdf {"batch": 7}',
	'multipart: filename of the part and the metadata field');
my $json = JSON::PP->new->canonical->encode({ filename => 'json.pdf',
		content_base64 => encode_base64(make_pdf('json body')), metadata => { order => 'PO-9', lines => [1, 2] } });
$r = wh_post($gw, 'scanco', $new, $json, content_type => 'application/json');
is($r->{status}, 202, 'application/json with content_base64: 202');
my $jid = $r->{json}{request_id};
is($q->("SELECT metadata->>'order' FROM invoiceflow.webhook_ingestions WHERE ingestion_id = '$jid'"), 'PO-9',
	'JSON: metadata stored');

# --- bad input after a valid signature: 400 / 413, nothing written ---------------
$before = $count->();
$r = wh_post($gw, 'scanco', $new, 'not a pdf at all', headers => { 'X-Filename' => 'n.pdf' });
is($r->{status}, 400, 'not a PDF: 400');
$r = wh_post($gw, 'scanco', $new, $pdf);
is($r->{status}, 400, 'no filename: 400');
like($r->{json}{detail}, qr/filename is required/, 'no filename: detail');
$json = JSON::PP->new->encode({ filename => 'm.pdf', content_base64 => encode_base64(make_pdf('meta')),
		metadata => { big => 'x' x 17000 } });
$r = wh_post($gw, 'scanco', $new, $json, content_type => 'application/json');
is($r->{status}, 400, 'metadata over 16 KB: 400');
$r = wh_post($gw, 'scanco', $new, '{"filename": "b.pdf", "content_base64": "%%%"}', content_type => 'application/json');
is($r->{status}, 400, 'content_base64 not base64: 400');
$r = wh_post($gw, 'scanco', $new, pdf_of_size(1024 * 1024 + 1), headers => { 'X-Filename' => 'big.pdf' });
is($r->{status}, 413, 'a file over MAX_FILE_SIZE_MB: 413');
$r = wh_post($gw, 'scanco', $new, 'x' x (2 * 1024 * 1024), headers => { 'X-Filename' => 'big.pdf' });
is($r->{status}, 413, 'a body over the webhook body limit: 413');
is($count->(), $before, 'bad input wrote nothing');

# --- status() and the query API show the sender and metadata ----------------------
my $st = json_decode($q->("SELECT invoiceflow.status('$jid')"));
is($st->{source}, 'webhook', 'status(): source webhook');
is_deeply($st->{webhook}, { sender => 'scanco', metadata => { order => 'PO-9', lines => [1, 2] } },
	'status(): webhook {sender, metadata}');
my $s = json_decode($q->(q{SELECT invoiceflow.search(source => 'webhook', sender => 'scanco')}));
ok(scalar(@{ $s->{items} }) >= 5, 'search(source => webhook, sender => scanco) finds the webhook ingestions');
is(scalar(grep { !$_->{webhook} || $_->{webhook}{sender} ne 'scanco' } @{ $s->{items} }), 0,
	'every search item carries webhook.sender');
$s = json_decode($q->(q{SELECT invoiceflow.search(sender => 'nobody')}));
is(scalar(@{ $s->{items} }), 0, 'search by another sender finds nothing');

# --- revoked sender --------------------------------------------------------------
$q->(q{SELECT invoiceflow.revoke_webhook_sender('scanco')});
refused(wh_post($gw, 'scanco', $new, make_pdf('revoked'), headers => { 'X-Filename' => 'r.pdf' }),
	qr/unknown or revoked/, 'revoked sender');

# --- rate limit per sender (20 a minute here) --------------------------------------
my $fast = $q->(q{SELECT invoiceflow.create_webhook_sender('fast')});
my %codes;
my $t_rate = time();
for my $i (1 .. 30) {
	my $rr = wh_post($gw, 'fast', $fast, make_pdf("rate $i"), headers => { 'X-Filename' => "r$i.pdf" });
	$codes{ $rr->{status} }++;
	if ($rr->{status} == 429) {
		like($rr->{headers}{'retry-after'} // '', qr/^\d+$/, '429 carries Retry-After') unless $codes{429} > 1;
	}
}
# the bucket refills at 20/60 a second while the requests go: that many more may pass
my $refill = int((time() - $t_rate + 1) * 20 / 60) + 1;
ok($codes{202} >= 20 && $codes{202} <= 20 + $refill, "the burst of 20 requests passes ($codes{202}, refill $refill)");
ok(($codes{429} // 0) >= 1 && $codes{202} + $codes{429} == 30, "the rest gets 429 ($codes{429})");
$r = wh_post($gw, 'other', 'whsec_' . encode_base64('k' x 32, ''), $pdf);
is($r->{status}, 401, 'the limit of one sender does not touch the others (unknown sender still 401)');

# --- subscriptions over REST (admin) -------------------------------------------------
my $http = HTTP::Tiny->new(timeout => 10);
$r = $http->request('POST', $gw->url . '/api/v1/subscriptions',
	{ headers => { 'Content-Type' => 'application/json' },
	  content => '{"url": "https://hooks.example.com/in", "events": ["invoice.completed"]}' });
is($r->{status}, 201, 'POST /api/v1/subscriptions: 201');
my $sub = json_decode($r->{content});
like($sub->{secret}, qr/^whsec_/, 'the subscription secret is returned once');
$r = $http->request('POST', $gw->url . '/api/v1/subscriptions',
	{ headers => { 'Content-Type' => 'application/json' }, content => '{"url": "ftp://x.example.com/"}' });
is($r->{status}, 400, 'a non-http URL: 400');
$r = $http->request('POST', $gw->url . '/api/v1/subscriptions',
	{ headers => { 'Content-Type' => 'application/json' }, content => '{"url": "https://x.example.com/", "events": ["invoice.eaten"]}' });
is($r->{status}, 400, 'an unknown event: 400');
$r = $http->get($gw->url . '/api/v1/subscriptions');
is($r->{status}, 200, 'GET /api/v1/subscriptions: 200');
my $list = json_decode($r->{content});
is($list->{items}[0]{url}, 'https://hooks.example.com/in', 'the list shows the URL');
ok(!exists $list->{items}[0]{secret}, 'the list never shows the secret');
$r = $http->get($gw->url . "/api/v1/subscriptions/$sub->{id}/deliveries");
is($r->{status}, 200, 'GET deliveries: 200');
$r = $http->request('DELETE', $gw->url . "/api/v1/subscriptions/$sub->{id}");
is($r->{status}, 204, 'DELETE: 204');
$r = $http->request('DELETE', $gw->url . "/api/v1/subscriptions/$sub->{id}");
is($r->{status}, 404, 'DELETE again: 404');
$r = $http->get($gw->url . "/api/v1/subscriptions/$sub->{id}/deliveries");
is($r->{status}, 404, 'deliveries of a deleted subscription: 404');

$gw->stop;

# --- a webhook body takes an upload slot: MAX_CONCURRENT_UPLOADS bounds both ----------
# (the held upload outlives the 5 s a request waits for a slot)
my $gw1 = start_gateway($node, MAX_CONCURRENT_UPLOADS => 1, UPLOAD_TIMEOUT_SECONDS => 20, MAX_FILE_SIZE_MB => 1,
	GATEWAY_UPLOAD_MIN_BYTES_PER_SECOND => 0);
my $held = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gw1->{port}) or die "connect: $!";
print $held "POST /api/v1/ingest/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=holdtheslot0123456789\r\n"
  . "Content-Length: 100000\r\n\r\n--holdtheslot0123456789\r\n";
sleep 0.5;
my $t_slot = time();
$r = wh_post($gw1, 'fast', $fast, make_pdf('slot'), headers => { 'X-Filename' => 'slot.pdf' });
is($r->{status}, 503, 'the only upload slot is taken: a webhook waits, then 503');
is($r->{headers}{'retry-after'}, '1', '... with Retry-After');
close $held;
$r = wh_post($gw1, 'fast', $fast, make_pdf('slot free'), headers => { 'X-Filename' => 'slot2.pdf' });
is($r->{status}, 202, 'the slot free again: 202');
$gw1->stop;
done_testing();
