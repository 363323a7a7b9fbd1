# invoiceflow-mail under faults (issue 12), against a real Dovecot: 1,000 messages
# waiting at start (messages/s), Dovecot stopped and restarted mid-run, the
# sidecar killed with SIGKILL mid-message (before and after its commit), SIGTERM
# finishing the message in hand, a wrong password and an unknown CA (unhealthy
# with the reason, backoff), STARTTLS, MAIL_AFTER move and delete, and an
# accounts file others may read. After each: every PDF ingested exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use InvoiceflowTest;
use MailTest;

my $node = new_node('mail_faults');
# content dedup off: only the idempotency keys may keep a PDF from being ingested twice
$node->safe_psql('postgres', 'ALTER SYSTEM SET invoiceflow.dedup = off');
$node->reload;
my $dc = start_dovecot();
my $seq = 0;
sub msgs {
	my ($n, $tag) = @_;
	return [ map { $seq++; build_message(message_id => "$tag-$_\@test",
		parts => [ { name => "$tag-$_.pdf", body => unique_pdf("$tag-$_-$seq") } ]) } 1 .. $n ];
}
sub email_count {
	my ($like) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM invoiceflow.ingestions WHERE source = 'email'"
		. ($like ? " AND filename LIKE '$like'" : ''));
}
sub once {
	my ($tag, $n, $what) = @_;
	is($node->safe_psql('postgres', qq{SELECT count(*) || '/' || count(DISTINCT filename)
		FROM invoiceflow.ingestions WHERE source = 'email' AND filename LIKE '$tag-%'}), "$n/$n",
		"$what: every PDF ingested exactly once");
}
my %fast = (MAIL_BACKOFF_MAX_SECONDS => 1, MAIL_BREAKER_COOLDOWN_SECONDS => 1, MAIL_HEARTBEAT_SECONDS => 1);

# --- 1,000 messages waiting at start (the -O2 build: this is the figure) ----------
imap_append($dc, 'invoices', 'INBOX', msgs(1000, 'backlog'));
my $t0 = time;
my $m = start_mail($node, $dc, bin => 'plain', env => { LOG_LEVEL => 'WARNING', MAIL_HEARTBEAT_SECONDS => 1 });
my $hb_mid_scan = 0;
ok(wait_until(240, sub {
	my $c = email_count('backlog-%');
	$hb_mid_scan ||= $c < 900 && $node->safe_psql('postgres', 'SELECT count(*) FROM invoiceflow.mail_accounts') > 0;
	$c == 1000 }), '1,000 waiting messages taken');
my $secs = time - $t0;
ok($hb_mid_scan, 'a long scan reports in (a heartbeat before the backlog is done)');
ok(wait_taken($dc, 'invoices', 'INBOX', 1000, 30), 'and all marked $Invoiceflow');
diag(sprintf('FIGURE backlog_1000_messages_per_second %.1f (%.1f s)', 1000 / $secs, $secs));
once('backlog', 1000, 'backlog');
$m->stop('TERM');
is($m->wait_exit(20), 0, 'backlog: SIGTERM, clean exit');

# --- Dovecot stopped and restarted mid-run --------------------------------------------
imap_append($dc, 'invoices', 'INBOX', msgs(150, 'outage'));
$m = start_mail($node, $dc, env => { %fast });
ok(wait_until(60, sub { email_count('outage-%') >= 10 }), 'outage: taking messages');
dovecot_ctl($dc, 'down');
ok(wait_until(30, sub { ($node->safe_psql('postgres', q{SELECT invoiceflow.health() -> 'dependencies' ->> 'mail'}) eq 'unhealthy') }),
	'outage: health() mail unhealthy while Dovecot is down');
like($node->safe_psql('postgres', q{SELECT invoiceflow.health() -> 'mail' ->> 'reason'}), qr/connect|IMAP|Couldn't|refused/i,
	'outage: with the reason');
dovecot_ctl($dc, 'up');
ok(wait_until(90, sub { email_count('outage-%') == 150 }), 'outage: every message taken after the restart');
ok(wait_taken($dc, 'invoices', 'INBOX', 1150, 30), 'outage: all marked');
ok(wait_until(20, sub { $node->safe_psql('postgres', q{SELECT invoiceflow.health() -> 'dependencies' ->> 'mail'}) eq 'healthy' }),
	'outage: healthy again');
once('outage', 150, 'outage');
ok($m->log_has(qr/retrying in/), 'outage: retried with backoff');

# --- SIGTERM finishes the message in hand ------------------------------------------------
$m->stop('TERM');
is($m->wait_exit(20), 0, 'SIGTERM while idle: clean exit');
imap_append($dc, 'invoices', 'INBOX', msgs(3, 'term'));
$m = start_mail($node, $dc, env => { MAIL_TEST_PAUSE => 'after_commit' });
ok(wait_until(30, sub { $m->log_has(qr/test pause after_commit/) }), 'SIGTERM: a message in hand');
$m->stop('TERM');
is($m->wait_exit(20), 0, 'SIGTERM: clean exit');
is(email_count('term-%'), 1, 'SIGTERM: the message in hand was finished, no other begun');
ok(wait_taken($dc, 'invoices', 'INBOX', 1151, 5), 'SIGTERM: and marked done on the server');
unlike($m->stderr, qr/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error/, 'no sanitizer report') or diag($m->stderr);

# --- SIGKILL mid-message: before the commit, after the commit ---------------------------
for my $where (qw(before_commit after_commit)) {
	my $before = email_count('term-%');
	$m = start_mail($node, $dc, env => { MAIL_TEST_PAUSE => $where });
	ok(wait_until(30, sub { $m->log_has(qr/test pause \Q$where\E|test pause before commit/) }), "SIGKILL $where: in hand");
	$m->stop('KILL');
	$m->wait_exit(10);
	is(email_count('term-%'), $before + ($where eq 'after_commit' ? 1 : 0),
		"SIGKILL $where: " . ($where eq 'after_commit' ? 'committed, not yet marked' : 'nothing committed'));
}
$m = start_mail($node, $dc, env => { %fast });
ok(wait_taken($dc, 'invoices', 'INBOX', 1153, 30), 'after the kills: every message marked');
once('term', 3, 'SIGKILL mid-message');
is($node->safe_psql('postgres', q{SELECT max(times_seen) FROM invoiceflow.mail_messages WHERE message_id LIKE 'term-%'}), '2',
	'the message killed after its commit was read twice, ingested once');
$m->stop('TERM');
$m->wait_exit(20);

# --- a wrong password, an unknown CA ------------------------------------------------------------
$node->safe_psql('postgres', 'TRUNCATE invoiceflow.mail_accounts');
$m = start_mail($node, $dc, url => "imaps://invoices:wrong\@127.0.0.1:$dc->{imaps_port}/INBOX",
	env => { MAIL_BACKOFF_MAX_SECONDS => 4, MAIL_BREAKER_FAILURES => 3, MAIL_BREAKER_COOLDOWN_SECONDS => 2 });
ok(wait_until(30, sub { $node->safe_psql('postgres', q{SELECT invoiceflow.health() -> 'mail' ->> 'reason'}) =~ /login denied/i }),
	'wrong password: health() mail unhealthy, reason "login denied"');
is($node->safe_psql('postgres', q{SELECT invoiceflow.health() ->> 'service'}), 'degraded', 'wrong password: service degraded');
ok(wait_until(30, sub { grep { ($_->{breaker} // '') eq 'open' } $m->lines }), 'wrong password: the breaker opens');
my @delays = map { $_->{retry_in_ms} } grep { defined $_->{retry_in_ms} } $m->lines;
ok(@delays >= 3 && $delays[1] >= 1000 && $delays[0] <= 1000 && $delays[2] == 2000,
	"wrong password: backoff with jitter, then the breaker's cooldown (@delays[0..2] ms)");
$m->stop('TERM');
is($m->wait_exit(20), 0, 'wrong password: clean exit');
my $nocafile = start_mail($node, $dc, env => { MAIL_CA_FILE => undef });
ok(wait_until(30, sub { $node->safe_psql('postgres', q{SELECT invoiceflow.health() -> 'mail' ->> 'reason'}) =~ /certificate|SSL/i }),
	'no MAIL_CA_FILE: the test CA is not trusted (TLS verified)');
$nocafile->stop('TERM');
$nocafile->wait_exit(20);
$node->safe_psql('postgres', 'TRUNCATE invoiceflow.mail_accounts');
$nocafile = start_mail($node, $dc, url => "imap://invoices:secret\@127.0.0.1:$dc->{imap_port}/INBOX", env => { MAIL_CA_FILE => undef });
ok(wait_until(30, sub { $node->safe_psql('postgres', q{SELECT invoiceflow.health() -> 'mail' ->> 'reason'}) =~ /certificate|SSL/i }),
	'no MAIL_CA_FILE, imap:// with STARTTLS: refused too, no fall-back to plain text');
$nocafile->stop('TERM');
$nocafile->wait_exit(20);

# --- STARTTLS on imap://, MAIL_AFTER=move:Archive, MAIL_AFTER=delete ---------------------------
imap_append($dc, 'other', 'INBOX', msgs(2, 'move'));
$m = start_mail($node, $dc, url => "imap://other:secret\@127.0.0.1:$dc->{imap_port}/INBOX",
	env => { MAIL_AFTER => 'move:Archive', MAIL_STARTTLS => 'require' });
ok(wait_until(30, sub { scalar(keys %{ imap_flags($dc, 'other', 'Archive') }) == 2 }), 'move:Archive: both moved');
is(scalar(keys %{ imap_flags($dc, 'other', 'INBOX') }), 0, 'move:Archive: the inbox is empty');
once('move', 2, 'STARTTLS + move');
$m->stop('TERM');
$m->wait_exit(20);
imap_append($dc, 'other', 'INBOX', msgs(2, 'delete'));
$m = start_mail($node, $dc, url => "imap://other:secret\@127.0.0.1:$dc->{imap_port}/INBOX",
	env => { MAIL_AFTER => 'delete' });
ok(wait_until(30, sub { email_count('delete-%') == 2 && !%{ imap_flags($dc, 'other', 'INBOX') } }),
	'delete: ingested, then expunged');
$m->stop('TERM');
$m->wait_exit(20);

# --- no IDLE: a poll every MAIL_POLL_SECONDS; a message over MAIL_MAX_MESSAGE_MB ------------
$m = start_mail($node, $dc, url => "imaps://other:secret\@127.0.0.1:$dc->{imaps_port}/INBOX",
	env => { MAIL_IDLE => 'off', MAIL_POLL_SECONDS => 1, MAIL_MAX_MESSAGE_MB => 1 });
ok(wait_until(20, sub { $m->log_has(qr/watching/) }), 'poll mode: started');
sleep 1.5;
imap_append($dc, 'other', 'INBOX', msgs(1, 'poll'));
my $huge = build_message(message_id => 'huge@test', parts => [ { name => 'huge.pdf', body => unique_pdf('huge') . ('%' . 'y' x 1000 . "\n") x 1100 } ]);
imap_append($dc, 'other', 'INBOX', [$huge]);
ok(wait_until(10, sub { email_count('poll-%') == 1 }), 'poll mode: taken by the next poll');
ok(wait_until(10, sub { $node->safe_psql('postgres', q{SELECT outcome FROM invoiceflow.mail_messages
	WHERE account LIKE 'other@%' AND parts -> 0 -> 'error' ->> 'message' LIKE '%MAIL_MAX_MESSAGE_MB%'}) eq 'rejected' }),
	'a message over MAIL_MAX_MESSAGE_MB: recorded as rejected with the reason');
ok(wait_until(10, sub { my $f = imap_flags($dc, 'other', 'INBOX'); 2 == grep { /\$Invoiceflow/ } values %$f }),
	'... and marked done');
$m->stop('TERM');
is($m->wait_exit(20), 0, 'poll mode: clean exit');

# --- an accounts file: two accounts at once; refused while others may read it -------------------
my $af = "$PostgreSQL::Test::Utils::tmp_check/accounts";
open(my $fh, '>', $af) or die;
print $fh "# two mailboxes\nimaps://invoices:secret\@127.0.0.1:$dc->{imaps_port}/INBOX\n\n"
  . "imap://other:secret\@127.0.0.1:$dc->{imap_port}/INBOX\n";
close $fh;
chmod 0644, $af;
$m = start_mail($node, $dc, url => undef, env => { MAIL_ACCOUNTS_FILE => $af });
is($m->wait_exit(10), 2, 'an accounts file readable by others: refused (exit 2)');
like($m->stderr, qr/read by others/, '... saying why');
chmod 0600, $af;
$m = start_mail($node, $dc, url => undef, env => { MAIL_ACCOUNTS_FILE => $af });
ok(wait_until(20, sub { $m->log_has(qr/watching/) >= 2 }), 'mode 0600: accepted, both accounts watched');
imap_append($dc, 'invoices', 'INBOX', msgs(2, 'multi-a'));
imap_append($dc, 'other', 'INBOX', msgs(2, 'multi-b'));
ok(wait_until(30, sub { email_count('multi-%') == 4 }), 'two accounts: both taken');
once('multi', 4, 'two accounts');
$m->stop('TERM');
is($m->wait_exit(20), 0, 'clean exit');

is(email_count(), 1000 + 150 + 3 + 2 + 2 + 1 + 4, 'nothing else ingested');
done_testing();
