# invoiceflow-mail against a real Dovecot (issue 12): which parts of a message
# are taken (one PDF, three, forwarded, inline, scan.bin as octet-stream, an
# RFC 2231 UTF-8 name, none, oversized, corrupted), the same message twice,
# IDLE pickup time, and `deliver` (0 / 65 / 75 with the database down, then up).
# After each: every PDF ingested exactly once, nothing else.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../sidecar/gateway/tests";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use InvoiceflowTest;
use MailTest;
use GatewayTest;

my $node = new_node('mail_parts');
# 1 MB files at most, so that an oversized PDF stays small for the test
$node->safe_psql('postgres', 'ALTER SYSTEM SET invoiceflow.max_file_size_mb = 1');
# content dedup off: only the idempotency keys may keep a PDF from being ingested twice
$node->safe_psql('postgres', 'ALTER SYSTEM SET invoiceflow.dedup = off');
$node->reload;
my $dc = start_dovecot();

my $big = unique_pdf('big');
$big =~ s/^(%PDF-1\.\d\n)/$1 . ('%' . ('x' x 1000) . "\n") x 1200/e;    # about 1.2 MB
my $broken = substr(unique_pdf('broken'), 0, 200);                          # no xref, no %%EOF

my @cases = (
	[ 'one', { parts => [ { name => 'one.pdf', body => unique_pdf('one') } ] } ],
	[ 'three', { parts => [ map { { name => "$_.pdf", body => unique_pdf("three-$_") } } qw(a b c) ] } ],
	[ 'forwarded', { parts => [ { rfc822 => build_message(message_id => 'inner@test', subject => 'orig',
			parts => [ { name => 'fwd.pdf', body => unique_pdf('fwd') } ]) } ] } ],
	[ 'inline', { parts => [ { multipart => 'related', parts => [
			{ type => 'text/html', encoding => 'quoted-printable', body => "<p>invoice</p>\r\n" },
			{ disposition => 'inline', body => unique_pdf('inline') } ] } ] } ],
	[ 'octet', { parts => [ { type => 'application/octet-stream', name => 'scan.bin', body => unique_pdf('scan') } ] } ],
	[ 'rfc2231', { parts => [ { filename_header => q{filename*=UTF-8''Rechnung%20M%C3%A4rz%202026.pdf},
			disposition => 'attachment', body => unique_pdf('maerz') } ] } ],
	[ 'nopdf', { parts => [ { type => 'image/png', name => 'logo.png', body => "\x89PNG\r\n\x1a\n" . ('x' x 50) } ] } ],
	[ 'oversized', { parts => [ { name => 'big.pdf', body => $big } ] } ],
	[ 'corrupted', { parts => [ { name => 'broken.pdf', body => $broken } ] } ],
	[ 'twice', { parts => [ { name => 'twice.pdf', body => unique_pdf('twice') } ] } ],
);
my @msgs = map { build_message(message_id => "$_->[0]\@test", subject => "case $_->[0]", %{ $_->[1] }) } @cases;
push @msgs, $msgs[-1];    # the same message twice
imap_append($dc, 'invoices', 'INBOX', \@msgs);

my %expect = map { $_ => 1 } ('one.pdf', 'a.pdf', 'b.pdf', 'c.pdf', 'fwd.pdf', 'attachment-2.2.pdf', 'scan.bin',
	"Rechnung M\x{e4}rz 2026.pdf", 'twice.pdf');

my $m = start_mail($node, $dc);
ok(wait_taken($dc, 'invoices', 'INBOX', scalar(@msgs), 60), 'every message is marked $Invoiceflow')
  or diag($m->stderr);

# every PDF once, nothing else
my $got = email_ingestions($node);
my %got_chars = map { my $k = $_; utf8::decode($k); ($k => $got->{$_}) } keys %$got;
is_deeply(\%got_chars, \%expect, 'every PDF ingested exactly once, nothing else')
  or diag(explain(\%got_chars));

my $o = mail_outcomes($node);
is($o->{'one@test'}, 'ingested', 'one PDF: ingested');
is($o->{'nopdf@test'}, 'no_invoice', 'no PDF: no_invoice');
is($o->{'oversized@test'}, 'rejected', 'oversized PDF: rejected');
is($o->{'corrupted@test'}, 'rejected', 'corrupted PDF: rejected');
my $reasons = $node->safe_psql('postgres', q{SELECT string_agg(p -> 'error' ->> 'message', ' | ' ORDER BY m.message_id)
	FROM invoiceflow.mail_messages m, jsonb_array_elements(m.parts) p WHERE p ? 'error'});
like($reasons, qr/1 MB|too large|exceeds|size/i, "the oversized part's reason is recorded ($reasons)");
like($reasons, qr/EOF|truncated|corrupt|xref/i, "the corrupted part's reason is recorded");
is($node->safe_psql('postgres', q{SELECT times_seen FROM invoiceflow.mail_messages WHERE message_id = 'twice@test'}),
	'2', 'the same message twice: one row, seen twice, one ingestion');
is($node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.mail_messages}), scalar(@cases),
	'one row per message');

# the metadata travels with the ingestion
my $st = json_decode($node->safe_psql('postgres',
	q{SELECT invoiceflow.status(id) FROM invoiceflow.ingestions WHERE filename = 'one.pdf'}));
is_deeply($st->{email}, { from => 'billing@acme.example', subject => 'case one', message_id => 'one@test',
		date => '2026-11-29T09:00:00.000000Z' }, 'status() carries email {from, subject, message_id, date}');
my $found = json_decode($node->safe_psql('postgres', q{SELECT invoiceflow.search(q => 'billing@acme.example', "limit" => 100)}));
is(scalar(@{ $found->{items} }), scalar(keys %expect), "search finds the invoices by the sender's address");
ok((grep { ($_->{email}{from} // '') eq 'billing@acme.example' } @{ $found->{items} }) == keys %expect,
	'search items carry email');
is(scalar(@{ json_decode($node->safe_psql('postgres',
	q{SELECT invoiceflow.search(q => 'nobody@else.example')}))->{items} }), 0, 'another address finds nothing');
my $health = json_decode($node->safe_psql('postgres', 'SELECT invoiceflow.health()'));
is($health->{dependencies}{mail}, 'healthy', 'health(): mail healthy');
is($node->safe_psql('postgres', q{SELECT has_function_privilege('ifmail', 'invoiceflow.status(uuid)', 'EXECUTE')
	OR has_function_privilege('ifmail', 'invoiceflow.purge(uuid)', 'EXECUTE')}), 'f',
	'the mail role may not read status or purge');

# --- the REST API: messages (keyset pages), invoice email, health, metrics -----------
my $gw = start_gateway($node);
my (@seen, $cursor, $pages);
do {
	my $r = gw_get($gw, '/api/v1/ingest/mail?limit=4' . ($cursor ? "&cursor=$cursor" : ''));
	is($r->{status}, 200, 'GET /api/v1/ingest/mail: 200') or last;
	push @seen, map { $_->{message_id} } @{ $r->{json}{items} };
	$cursor = $r->{json}{next_cursor};
	$pages++;
} while ($cursor && $pages < 10);
is_deeply([ sort @seen ], [ sort map { "$_->[0]\@test" } @cases ], 'the pages list every message once');
is($pages, 3, 'ten messages in pages of 4: three pages');
my $r = gw_get($gw, '/api/v1/ingest/mail?outcome=no_invoice');
is_deeply([ map { $_->{message_id} } @{ $r->{json}{items} } ], ['nopdf@test'], 'outcome filter');
is(gw_get($gw, '/api/v1/ingest/mail?limit=0')->{status}, 400, 'limit 0: 400');
is(gw_get($gw, '/api/v1/ingest/mail?cursor=zz')->{status}, 400, 'a bad cursor: 400');
is(gw_get($gw, '/api/v1/ingest/mail?foo=1')->{status}, 400, 'an unknown parameter: 400');
my $one = $node->safe_psql('postgres', q{SELECT id FROM invoiceflow.ingestions WHERE filename = 'one.pdf'});
is(gw_get($gw, "/api/v1/invoices/$one")->{json}{email}{message_id}, 'one@test', 'GET /api/v1/invoices/{id}: email');
my $s = gw_get($gw, '/api/v1/invoices?q=billing@acme.example&limit=100');
is(scalar(@{ $s->{json}{items} // [] }), scalar(keys %expect), 'GET /api/v1/invoices?q=<sender> finds them');
is(gw_get($gw, '/api/v1/ingest/health')->{json}{dependencies}{mail}, 'healthy', '/api/v1/ingest/health: mail healthy');
my $metrics = gw_get($gw, '/metrics')->{content};
like($metrics, qr/^invoiceflow_mail_messages_total\{outcome="rejected"\} 2$/m, '/metrics: messages by outcome');
like($metrics, qr/^invoiceflow_mail_parts_total\{result="ingested"\} 9$/m, '/metrics: parts ingested');
like($metrics, qr/^invoiceflow_mail_parts_total\{result="rejected"\} 2$/m, '/metrics: parts rejected');
like($metrics, qr/^invoiceflow_mail_seconds_since_last_check \d+\.\d+$/m, '/metrics: seconds since the last check');
# with keys required: the read scope, not ingest
my $gwk = start_gateway($node, REQUIRE_API_KEY => 'true');
my $ingest_key = $node->safe_psql('postgres', q{SELECT invoiceflow.create_api_key('t500-ingest', '{ingest}')});
my $read_key = $node->safe_psql('postgres', q{SELECT invoiceflow.create_api_key('t500-read', '{read}')});
is(gw_get($gwk, '/api/v1/ingest/mail')->{status}, 401, 'GET /api/v1/ingest/mail without a key: 401');
is(gw_get($gwk, '/api/v1/ingest/mail', Authorization => "Bearer $ingest_key")->{status}, 403, '... with an ingest key: 403');
is(gw_get($gwk, '/api/v1/ingest/mail', Authorization => "Bearer $read_key")->{status}, 200, '... with a read key: 200');

# --- IDLE: a new message is taken within seconds -----------------------------------
my @lat;
for my $i (1 .. 3) {
	my $t0 = time;
	imap_append($dc, 'invoices', 'INBOX', [ build_message(message_id => "idle$i\@test",
		parts => [ { name => "idle$i.pdf", body => unique_pdf("idle$i") } ]) ]);
	ok(wait_until(15, sub { $node->safe_psql('postgres',
		"SELECT count(*) FROM invoiceflow.ingestions WHERE filename = 'idle$i.pdf'") eq '1' }), "IDLE pickup $i");
	push @lat, time - $t0;
}
my ($max) = sort { $b <=> $a } @lat;
cmp_ok($max, '<', 5, sprintf('IDLE pickup latency %s s (append to committed; < 5 s)', join(' / ', map { sprintf '%.2f', $_ } @lat)));
diag(sprintf('FIGURE idle_pickup_seconds %s', join(' ', map { sprintf '%.3f', $_ } @lat)));

$m->stop('TERM');
is($m->wait_exit(20), 0, 'SIGTERM: clean exit');
unlike($m->stderr, qr/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error/, 'no sanitizer report') or diag($m->stderr);

# --- deliver --------------------------------------------------------------------------
my $d1 = build_message(message_id => 'deliver1@test', from => 'Shop <orders@shop.example>',
	parts => [ { name => 'delivered.pdf', body => unique_pdf('delivered') } ]);
is(run_deliver($node, $d1), 0, 'deliver: exit 0 once committed');
is(run_deliver($node, $d1, VALGRIND => 1), 0, 'deliver: the same message again (under valgrind: no error, no leak), exit 0');
is(email_ingestions($node)->{'delivered.pdf'}, 1, 'deliver: ingested once');
is(run_deliver($node, "\x00\x01binary garbage\xff" x 10), 65, 'deliver: not mail, exit 65 (EX_DATAERR)');
is(run_deliver($node, unique_pdf('bare')), 65, 'deliver: a bare PDF is not mail, exit 65');

my $d2 = build_message(message_id => 'deliver2@test', parts => [ { name => 'later.pdf', body => unique_pdf('later') } ]);
$node->stop('fast');
is(run_deliver($node, $d2), 75, 'deliver: database down, exit 75 (EX_TEMPFAIL)');
$node->start;
is(run_deliver($node, $d2), 0, 'deliver: database up again, exit 0');
is(email_ingestions($node)->{'later.pdf'}, 1, 'deliver: taken once after the retry');
is($node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.ingestions WHERE source = 'email'}),
	keys(%expect) + 3 + 2, 'nothing else ingested');

# --- pg_dump keeps the mail tables: a restore gives back the messages, the email of
# each ingestion and the search by sender (search_docs is rebuilt by the triggers)
my $dump = "$PostgreSQL::Test::Utils::tmp_check/500_mail.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ], 'pg_restore');
my $q = q{SELECT (SELECT count(*) FROM invoiceflow.mail_messages) || '/' || (SELECT count(*) FROM invoiceflow.mail_ingestions)
	|| '/' || jsonb_array_length(invoiceflow.search(q => 'billing@acme.example', "limit" => 100) -> 'items')};
is($node->safe_psql('restored', $q), $node->safe_psql('postgres', $q), 'restored: messages, email metadata, sender search');
$node->safe_psql('restored', q{SELECT invoiceflow.mail_record('x', 'mid:after-restore', NULL, NULL, NULL, NULL, '[]')});
is($node->safe_psql('restored', q{SELECT count(*) FROM invoiceflow.mail_messages}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM invoiceflow.mail_messages}) + 1, 'restored: the id sequence goes on');

done_testing();
