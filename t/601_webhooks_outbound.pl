# Webhooks out (issue 13): the worker's webhook sink, checked by a receiver
# that verifies every signature with the specification's algorithm in Python
# (test/webhooks/receiver.py). Completed and failed events, a receiver down
# then up, 410 Gone, a receiver that never answers, a private address refused
# by default, and 1,000 events (events/s).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use MIME::Base64 ();
use InvoiceflowTest;
use DeliveryTest qw(add_pdf_function);
use WebhookTest;

my $node = new_node('wh_out', conf => join("\n",
	"invoiceflow.webhook_allow_private = on",
	"invoiceflow.webhook_timeout_seconds = 2",
	"invoiceflow.retry_delay_seconds = 0.2",
	"invoiceflow.retry_backoff_factor = 2",
	"invoiceflow.retry_max_delay_seconds = 1",
	"invoiceflow.breaker_failures = 3",
	"invoiceflow.breaker_cooldown_seconds = 1",
	"invoiceflow.webhook_secret_key = 'outbound test key'"));
add_pdf_function($node, 'postgres');
my $q = sub { $node->safe_psql('postgres', shift) };
my $wait = sub { my ($secs, $sql, $name) = @_; ok($node->poll_query_until('postgres', $sql), $name) };

sub subscribe {
	my ($rcv, $events, $path) = @_;
	my ($id, $secret) = split /\|/, $q->("SELECT id, secret FROM invoiceflow.create_subscription('"
			. $rcv->url($path) . "'" . ($events ? ", '$events'" : '') . ')');
	$rcv->secrets($secret);
	return ($id, $secret);
}

# --- completed and failed events -------------------------------------------------
my $a = start_receiver('a');
my ($sub_a) = subscribe($a);
my ($ok_id) = split /\|/, $q->(q{SELECT request_id FROM invoiceflow.ingest('ok.pdf', pdf('ok'))});
my ($bad_id) = split /\|/, $q->(q{SELECT request_id FROM invoiceflow.ingest('bad.pdf', pdf('bad'))});
$q->(qq{SELECT invoiceflow.complete('$ok_id', invoiceflow.claim('$ok_id', 't'),
	'{"invoice": {"invoice_number": "INV-1", "totals": {"total": "119.00"}}, "text": "x"}')});
$q->(qq{SELECT invoiceflow.fail('$bad_id', invoiceflow.claim('$bad_id', 't'), 'encrypted PDF')});
$wait->(10, "SELECT count(*) = 2 FROM invoiceflow.webhook_deliveries WHERE state = 'done'",
	'both events delivered');
my @log = @{ $a->log };
is(scalar(@log), 2, 'the receiver got two requests (uploaded is not subscribed)');
is(scalar(grep { $_->{verified} } @log), 2, 'both signatures verify with the specification\'s algorithm');
my ($done) = grep { $_->{json}{type} eq 'invoice.completed' } @log;
my ($failed) = grep { $_->{json}{type} eq 'invoice.failed' } @log;
is($done->{json}{data}{request_id}, $ok_id, 'completed: request_id');
is($done->{json}{data}{status}, 'COMPLETED', 'completed: status');
is($done->{json}{data}{filename}, 'ok.pdf', 'completed: filename');
is($done->{json}{data}{source}, 'upload', 'completed: source');
is($done->{json}{data}{invoice}{invoice_number}, 'INV-1', 'completed: the invoice');
like($done->{json}{timestamp}, qr/^\d{4}-\d\d-\d\dT[\d:.]+Z$/, 'completed: timestamp');
is($failed->{json}{data}{error}{message}, 'encrypted PDF', 'failed: the error');
is($failed->{json}{data}{status}, 'FAILED', 'failed: status');
is($done->{id}, "msg_${ok_id}_completed_1", 'webhook-id names the event');
$wait->(5, "SELECT last_status = 200 AND last_latency_ms >= 0 AND tries = 1 FROM invoiceflow.subscription_deliveries('$sub_a') LIMIT 1",
	'the delivery log has the status code and latency');

# a wrong secret at the receiver: the signature does not verify (the check can fail)
$a->secrets('whsec_' . MIME::Base64::encode_base64('z' x 32, ''));
my ($x_id) = split /\|/, $q->(q{SELECT request_id FROM invoiceflow.ingest('x.pdf', pdf('x'))});
$q->(qq{SELECT invoiceflow.fail('$x_id', invoiceflow.claim('$x_id', 't'), 'no')});
$wait->(10, "SELECT count(*) = 3 FROM invoiceflow.webhook_deliveries WHERE state = 'done'", 'third event delivered');
is((grep { !$_->{verified} } @{ $a->log }) + 0, 1, 'a receiver with another secret rejects the signature');
$q->("SELECT invoiceflow.delete_subscription('$sub_a')");

# --- receiver down, then up: nothing lost, the same webhook-id on every retry ---------
my $port = WebhookTest::free_port();
my ($sub_b, $secret_b) = split /\|/, $q->("SELECT id, secret FROM invoiceflow.create_subscription("
		. "'http://127.0.0.1:$port/hook', '{invoice.uploaded}')");
$q->(q{SELECT invoiceflow.ingest('down' || g || '.pdf', pdf('down' || g)) FROM generate_series(1, 5) g});
$wait->(10, "SELECT bool_and(tries >= 2 AND state = 'pending') FROM invoiceflow.webhook_deliveries"
	. " WHERE subscription_id = '$sub_b'", 'receiver down: retried, still pending');
like($q->("SELECT last_error FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_b' LIMIT 1"),
	qr/connect|Connection refused|Couldn't/i, 'the log says why');
ok($node->wait_for_log(qr/webhook destination 127\.0\.0\.1:$port: circuit open for 1 s after 3 consecutive failures/),
	'the destination\'s circuit breaker opened');
my %ids_before = map { $_ => 1 } split /\n/, $q->("SELECT webhook_id FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_b'");
my $b = start_receiver('b', $port);
$b->secrets($secret_b);
$wait->(15, "SELECT bool_and(state = 'done') FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_b'",
	'receiver up: every event delivered');
my @blog = @{ $b->log };
is(scalar(keys %{ { map { $_->{id} => 1 } @blog } }), 5, 'five events, none lost');
is(scalar(grep { !$ids_before{ $_->{id} } } @blog), 0, 'the retries carry the webhook-ids of the first tries');
is(scalar(grep { $_->{verified} } @blog), scalar(@blog), 'every retry is signed');
$q->("SELECT invoiceflow.delete_subscription('$sub_b')");

# --- 410 Gone disables the subscription; another 4xx fails one delivery ---------------
my $c = start_receiver('c');
$c->mode("/gone 410\n/bad 400\n/redir 302\n/flaky 503\n200");
my ($sub_gone) = subscribe($c, '{invoice.uploaded}', '/gone');
my ($sub_bad) = subscribe($c, '{invoice.uploaded}', '/bad');
my ($sub_redir) = subscribe($c, '{invoice.uploaded}', '/redir');
my ($sub_flaky) = subscribe($c, '{invoice.uploaded}', '/flaky');
$q->(q{SELECT invoiceflow.ingest('g' || g || '.pdf', pdf('gone' || g)) FROM generate_series(1, 3) g});
$wait->(10, "SELECT NOT active FROM invoiceflow.webhook_subscriptions WHERE id = '$sub_gone'",
	'410: the subscription is disabled');
like($q->("SELECT disabled_reason FROM invoiceflow.subscriptions() WHERE id = '$sub_gone'"), qr/410/,
	'410: subscriptions() says why');
$wait->(10, "SELECT count(*) = 3 FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_bad' AND state = 'failed'"
	, '400: each delivery ends failed, without retries');
is($q->("SELECT max(tries) FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_bad'"), '1',
	'400: tried once');
$wait->(10, "SELECT count(*) = 3 FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_redir' AND state = 'failed'"
	. " AND last_status = 302 AND last_error ~ 'redirects are not followed'", '302: failed, the redirect not followed');
is((grep { $_->{path} eq '/redir' } @{ $c->log }) + 0, 3, '302: one request per event, nothing followed');
$wait->(10, "SELECT bool_and(state = 'pending' AND tries >= 2 AND last_status = 503) FROM invoiceflow.webhook_deliveries"
	. " WHERE subscription_id = '$sub_flaky'", '503: retried, still pending');
$c->mode("/gone 410\n/bad 400\n/redir 302\n200");
$wait->(15, "SELECT bool_and(state = 'done') FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_flaky'",
	'503 then 200: delivered');
my $gone_hits = grep { $_->{path} eq '/gone' } @{ $c->log };
$q->(q{SELECT invoiceflow.ingest('g4.pdf', pdf('gone4'))});
sleep 1;
is((grep { $_->{path} eq '/gone' } @{ $c->log }) + 0, $gone_hits, 'a disabled subscription receives nothing more');
$q->("SELECT invoiceflow.delete_subscription(id) FROM invoiceflow.subscriptions()");

# --- a receiver that never answers does not delay the others ---------------------------
my $d = start_receiver('d');
$d->mode('hang');
my $d2 = start_receiver('d2');
my ($sub_hang) = subscribe($d, '{invoice.uploaded}', '/hang');
my ($sub_fast) = subscribe($d2, '{invoice.uploaded}', '/fast');
my $t0 = time();
$q->(q{SELECT invoiceflow.ingest('h' || g || '.pdf', pdf('hang' || g)) FROM generate_series(1, 10) g});
$wait->(10, "SELECT count(*) = 10 FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_fast' AND state = 'done'",
	'the fast subscription gets its 10 events');
my $fast_secs = time() - $t0;
cmp_ok($fast_secs, '<', 1.9, sprintf('... within %.2f s, before the hanging receiver\'s 2 s timeout', $fast_secs));
$wait->(10, "SELECT bool_or(last_error ~* 'timeout|timed out') FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_hang'",
	'the hanging receiver: timed out, to be retried');
is($q->("SELECT count(*) FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_hang' AND state <> 'pending'"), '0',
	'the hanging receiver\'s events stay pending (nothing lost)');
$q->("SELECT invoiceflow.delete_subscription(id) FROM invoiceflow.subscriptions()");
$d->stop;

# --- 1,000 events --------------------------------------------------------------------------
my $e = start_receiver('e');
my ($sub_e) = subscribe($e, '{invoice.uploaded}');
$t0 = time();
$q->(q{SELECT count(*) FROM (SELECT invoiceflow.ingest('bulk' || g || '.pdf', pdf('bulk' || g)) FROM generate_series(1, 1000) g) s});
my $t1 = time();
$wait->(120, "SELECT count(*) = 1000 FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_e' AND state = 'done'",
	'1,000 events delivered');
my $t2 = time();
my @elog = @{ $e->log };
is(scalar(keys %{ { map { $_->{id} => 1 } @elog } }), 1000, '1,000 distinct webhook-ids received');
is(scalar(grep { !$_->{verified} } @elog), 0, 'every one verified');
my $rate = 1000 / ($t2 - $t0);
diag(sprintf('1,000 events: committed in %.2f s, all delivered %.2f s after the commit (%.0f events/s),'
		. ' %.2f s end to end (%.0f events/s); one receiver, one worker, webhook_per_subscription = 8',
		$t1 - $t0, $t2 - $t1, 1000 / ($t2 - $t1), $t2 - $t0, $rate));
$q->("SELECT invoiceflow.delete_subscription('$sub_e')");

# --- the secret key changed: the deliveries wait, nothing is sent unsigned or lost ---------
my $g = start_receiver('g');
my ($sub_g) = subscribe($g, '{invoice.uploaded}');
like($q->("SELECT secret FROM invoiceflow.webhook_subscriptions WHERE id = '$sub_g'"), qr/^v1e:/, 'subscription secret stored encrypted');
$node->safe_psql('postgres', "ALTER SYSTEM SET invoiceflow.webhook_secret_key = 'another key'");
$node->reload;
sleep 0.5;
$q->(q{SELECT invoiceflow.ingest('k.pdf', pdf('key changed'))});
$wait->(10, "SELECT last_error ~ 'cannot be decrypted' AND state = 'pending' FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_g'",
	'another webhook_secret_key: the delivery waits, with the reason');
is(scalar(@{ $g->log }), 0, '... and nothing was sent');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET invoiceflow.webhook_secret_key');
$node->reload;
$wait->(15, "SELECT state = 'done' FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_g'",
	'the right key back: delivered');
is(scalar(grep { $_->{verified} } @{ $g->log }), 1, '... signed with the subscription\'s secret');
$q->("SELECT invoiceflow.delete_subscription('$sub_g')");

# --- private addresses are refused by default (checked on the resolved address) ----------
$node->safe_psql('postgres', 'ALTER SYSTEM SET invoiceflow.webhook_allow_private = off');
$node->reload;
my $f = start_receiver('f');
my ($sub_f) = subscribe($f, '{invoice.uploaded}');
# "localhost" resolves to 127.0.0.1: the check is on the address, not the name
my ($sub_f2) = split /\|/, $q->("SELECT id FROM invoiceflow.create_subscription('http://localhost:$f->{port}/name', '{invoice.uploaded}')");
# receiver e served 1,000 events just before: the worker has connections to it in its cache,
# opened while private addresses were allowed; none may be reused now
my $e_hits = scalar(@{ $e->log });
my ($sub_e2) = subscribe($e, '{invoice.uploaded}');
$q->(q{SELECT invoiceflow.ingest('p.pdf', pdf('private'))});
$wait->(10, "SELECT count(*) = 3 FROM invoiceflow.webhook_deliveries WHERE state = 'failed' AND subscription_id IN ('$sub_f', '$sub_f2', '$sub_e2')",
	'a loopback destination fails by default');
is(scalar(@{ $e->log }), $e_hits, 'no connection opened while private addresses were allowed is reused');
like($q->("SELECT last_error FROM invoiceflow.webhook_deliveries WHERE subscription_id = '$sub_f2'"),
	qr/127\.0\.0\.1|::1/, 'the error names the resolved address');
is(scalar(@{ $f->log }), 0, 'the receiver got nothing');

done_testing();
