# Helpers for the webhook tests (t/600_webhooks_*.pl): Standard Webhooks
# signing written here from the specification (Digest::SHA, MIME::Base64; no
# project code), signed requests to the gateway, and the test receiver
# (test/webhooks/receiver.py, which verifies outbound signatures in Python).
package WebhookTest;
use strict;
use warnings;
use Exporter 'import';
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64 decode_base64);
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use InvoiceflowTest;

our @EXPORT = qw(wh_sign wh_post start_receiver free_port);

# wh_sign(SECRET, ID, TIMESTAMP, BODY) -> "v1,<base64>"
sub wh_sign {
	my ($secret, $id, $ts, $body) = @_;
	(my $b64 = $secret) =~ s/^whsec_//;
	my $key = decode_base64($b64);
	return 'v1,' . encode_base64(hmac_sha256("$id.$ts.$body", $key), '');
}

# wh_post(GW, SENDER, SECRET, BODY, content_type => ..., id => ..., ts => ...,
#         headers => {...}, signature => ...) -> HTTP::Tiny response with {json}
my $seq = 0;
sub wh_post {
	my ($gw, $sender, $secret, $body, %o) = @_;
	my $id = $o{id} // sprintf('msg_test_%d_%d', $$, ++$seq);
	my $ts = $o{ts} // time();
	my $sig = $o{signature} // wh_sign($secret, $id, $ts, $body);
	my %h = ('webhook-id' => $id, 'webhook-timestamp' => $ts, 'webhook-signature' => $sig,
		'Content-Type' => $o{content_type} // 'application/pdf', %{ $o{headers} // {} });
	delete @h{ grep { !defined $h{$_} } keys %h };
	my $r = HTTP::Tiny->new(timeout => 30)->request('POST', $gw->url . "/api/v1/ingest/webhook/$sender",
		{ headers => \%h, content => $body });
	$r->{json} = InvoiceflowTest::json_decode($r->{content});
	$r->{webhook_id} = $id;
	return $r;
}

sub free_port {
	require IO::Socket::INET;
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
	my $p = $s->sockport;
	close $s;
	return $p;
}

# start_receiver(NAME, [PORT]) -> receiver object (test/webhooks/receiver.py)
sub start_receiver {
	my ($name, $port) = @_;
	$port //= free_port();
	my $dir = "$PostgreSQL::Test::Utils::tmp_check/receiver_$name";
	mkdir $dir;
	unlink "$dir/ready";
	my $self = bless { port => $port, dir => $dir, name => $name }, 'WebhookTest::Receiver';
	$self->{h} = IPC::Run::start(['/usr/bin/python3', InvoiceflowTest::repo_root() . '/test/webhooks/receiver.py',
			$port, $dir], '<', \undef, '>', "$dir/stdout", '2>', "$dir/stderr");
	InvoiceflowTest::wait_until(10, sub { -e "$dir/ready" }) or die "receiver $name did not start";
	return $self;
}

package WebhookTest::Receiver;

sub url { my ($s, $path) = @_; return "http://127.0.0.1:$s->{port}" . ($path // '/hook'); }

sub _write {
	my ($s, $file, $text) = @_;
	open(my $fh, '>', "$s->{dir}/$file.tmp") or die;
	print $fh $text;
	close $fh;
	rename("$s->{dir}/$file.tmp", "$s->{dir}/$file") or die;
}
sub secrets { my ($s, @secrets) = @_; $s->_write('secrets', join("\n", @secrets) . "\n"); }
sub mode { my ($s, $mode) = @_; $s->_write('mode', "$mode\n"); }

# every request received so far: [{path, id, timestamp, signature, verified, body, json}]
sub log {
	my ($s) = @_;
	my @out;
	open(my $fh, '<', "$s->{dir}/log.jsonl") or return [];
	while (my $l = <$fh>) {
		my $e = eval { JSON::PP->new->decode($l) } or next;
		$e->{json} = eval { JSON::PP->new->decode($e->{body}) };
		push @out, $e;
	}
	close $fh;
	return \@out;
}

sub stop {
	my ($s) = @_;
	return unless $s->{h};
	$s->{h}->kill_kill;
	$s->{h}->finish;
	delete $s->{h};
}

sub DESTROY { local $?; $_[0]->stop; }

1;
