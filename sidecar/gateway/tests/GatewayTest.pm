# Helpers for the gateway's TAP tests (t/2*_gateway_*.pl): start the ASan build
# of invoiceflow-gateway against a PostgreSQL::Test::Cluster node, talk HTTP to
# it, build multipart bodies and PDFs of exact sizes, read its JSON log lines.
package GatewayTest;
use strict;
use warnings;
use Exporter 'import';
use HTTP::Tiny;
use IO::Socket::INET;
use IPC::Run ();
use JSON::PP ();
use Time::HiRes qw(time sleep);
use Test::More;
use InvoiceflowTest;

our @EXPORT = qw(start_gateway gw_get gw_upload multipart pdf_of_size raw_request
                 log_lines free_tcp_port);

sub free_tcp_port {
	my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1, ReuseAddr => 1)
	  or die "no free port: $!";
	my $p = $s->sockport;
	close $s;
	return $p;
}

# start_gateway($node, %env): the ASan gateway on a free port, connected as
# invoiceflow_gateway. Returns an object with url, port, stop(), log_file.
# Keys are required by default (issue 9); tests that are not about keys get
# REQUIRE_API_KEY=false unless they pass REQUIRE_API_KEY themselves
# (REQUIRE_API_KEY => undef: left unset, the gateway's own default).
sub start_gateway {
	my ($node, %env) = @_;
	# GATEWAY_BIN: another build (e.g. an older one, to see a test fail on it)
	my $bin = $ENV{GATEWAY_BIN} // repo_root() . '/sidecar/gateway/invoiceflow-gateway-asan';
	die "$bin is missing: run make -C sidecar/gateway all" unless -x $bin;
	$node->safe_psql('postgres', 'ALTER ROLE invoiceflow_gateway LOGIN');
	my $port = $env{PORT} // free_tcp_port();
	my $dir = $PostgreSQL::Test::Utils::tmp_check;
	my $n = ++$GatewayTest::count;
	my $self = bless {
		port => $port,
		url => "http://127.0.0.1:$port",
		out => "$dir/gateway$n.stdout",
		err => "$dir/gateway$n.stderr",
	}, 'GatewayTest::Gateway';
	my %e = (
		DATABASE_URL => 'postgresql:///postgres?host=' . $node->host . '&port=' . $node->port
		  . '&user=invoiceflow_gateway',
		PORT => $port,
		LOG_FORMAT => 'json',
		ASAN_OPTIONS => 'detect_leaks=1:abort_on_error=0',
		UBSAN_OPTIONS => 'print_stacktrace=1',
		REQUIRE_API_KEY => 'false',
		%env);
	my @unset = grep { !defined $e{$_} } keys %e;
	delete @e{@unset};
	local @ENV{keys %e} = values %e;
	delete local @ENV{@unset};
	$self->{h} = IPC::Run::start([$bin], '<', \undef, '>', $self->{out}, '2>', $self->{err});
	my $http = HTTP::Tiny->new(timeout => 5);
	wait_until(30, sub { my $r = $http->get("$self->{url}/health"); $r->{status} == 200 })
	  or die "gateway did not answer on $self->{url}: " . `cat $self->{out} $self->{err}`;
	return $self;
}

sub gw_get {
	my ($gw, $path, %headers) = @_;
	my $r = HTTP::Tiny->new(timeout => 30)->get($gw->{url} . $path, { headers => \%headers });
	$r->{json} = json_decode($r->{content});
	return $r;
}

# multipart([name, filename, content], ...) -> (content type, body)
sub multipart {
	my @parts = @_;
	my $b = 'gwtestboundary' . int(rand(1e9));
	my $body = '';
	for my $p (@parts) {
		my ($name, $filename, $content) = @$p;
		$body .= "--$b\r\nContent-Disposition: form-data; name=\"$name\""
		  . (defined $filename ? "; filename=\"$filename\"" : '') . "\r\n"
		  . (defined $filename ? "Content-Type: application/pdf\r\n" : '') . "\r\n$content\r\n";
	}
	$body .= "--$b--\r\n";
	return ("multipart/form-data; boundary=$b", $body);
}

# gw_upload($gw, $content, filename => ..., headers => {...})
sub gw_upload {
	my ($gw, $content, %o) = @_;
	my ($ct, $body) = multipart(['file', $o{filename} // 'invoice.pdf', $content]);
	my $r = HTTP::Tiny->new(timeout => $o{timeout} // 60)->request('POST', "$gw->{url}/api/v1/ingest/upload",
		{ headers => { 'Content-Type' => $ct, %{ $o{headers} // {} } }, content => $body });
	$r->{json} = json_decode($r->{content});
	return $r;
}

# A well-formed PDF of exactly $size bytes (a comment line after the header pads it).
sub pdf_of_size {
	my ($size, $text) = @_;
	my $build = sub {
		my ($pad) = @_;
		my $stream = 'BT /F1 12 Tf 72 720 Td (' . ($text // 'size test') . ') Tj ET';
		my @objs = ('<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
			'<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>',
			'<< /Length ' . length($stream) . " >>\nstream\n$stream\nendstream");
		my $pdf = "%PDF-1.4\n%" . ('x' x $pad) . "\n";
		my @off;
		for my $i (0 .. $#objs) { push @off, length($pdf); $pdf .= ($i + 1) . " 0 obj\n$objs[$i]\nendobj\n"; }
		my $xref = length($pdf);
		$pdf .= "xref\n0 " . (@objs + 1) . "\n0000000000 65535 f \n";
		$pdf .= sprintf("%010d 00000 n \n", $_) for @off;
		$pdf .= "trailer\n<< /Size " . (@objs + 1) . " /Root 1 0 R >>\nstartxref\n$xref\n%%EOF\n";
		return $pdf;
	};
	my $pad = 0;
	for (1 .. 5) {
		my $len = length($build->($pad));
		last if $len == $size;
		$pad += $size - $len;
		die "size $size too small" if $pad < 0;
	}
	my $pdf = $build->($pad);
	die "pdf_of_size: got " . length($pdf) . " not $size" unless length($pdf) == $size;
	return $pdf;
}

# raw_request($gw, $bytes, %o): sends bytes on a fresh socket and reads the answer
# (until close or o{timeout}). o{chunks} => [[bytes, delay], ...] sends slowly.
# Returns { status, headers (lc), body, closed_after }.
sub raw_request {
	my ($gw, $bytes, %o) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gw->{port}, Timeout => 5)
	  or die "connect: $!";
	my $t0 = time;
	$s->autoflush(1);
	local $SIG{PIPE} = 'IGNORE';
	print $s $bytes if defined $bytes;
	for my $c (@{ $o{chunks} // [] }) {
		sleep $c->[1] if $c->[1];
		last unless print $s $c->[0];
	}
	shutdown($s, 1) if $o{half_close};
	my $resp = '';
	my $deadline = time + ($o{timeout} // 30);
	$s->blocking(0);
	while (time < $deadline) {
		my $n = sysread($s, my $buf, 65536);
		if (defined $n && $n == 0) { last; }
		if (defined $n) { $resp .= $buf; last if $o{one} && $resp =~ /\r\n\r\n/ && _complete($resp); next; }
		sleep 0.02;
	}
	close $s;
	my %r = (raw => $resp, elapsed => time - $t0);
	if ($resp =~ m{^HTTP/1\.\d (\d{3})}) {
		$r{status} = $1;
		my ($head, $body) = split /\r\n\r\n/, $resp, 2;
		for my $l (split /\r\n/, $head) { $r{headers}{ lc $1 } = $2 if $l =~ /^([^:]+):\s*(.*)$/; }
		$r{body} = $body;
		$r{json} = json_decode($body // '');
	}
	return \%r;
}

sub _complete {
	my ($resp) = @_;
	my ($head, $body) = split /\r\n\r\n/, $resp, 2;
	return 1 unless $head =~ /content-length:\s*(\d+)/i;
	return length($body // '') >= $1;
}

# log_lines($gw): the JSON log lines written so far, decoded.
sub log_lines {
	my ($gw) = @_;
	open(my $fh, '<', $gw->{out}) or return ();
	my @l = grep { defined } map { json_decode($_) } <$fh>;
	close $fh;
	return @l;
}

package GatewayTest::Gateway;
use Test::More;

sub url { $_[0]{url} }

# the gateway's process id, and its resident memory in kB (Linux /proc)
sub pid { $_[0]{h}{KIDS}[0]{PID} }
sub rss_kb {
	my ($self) = @_;
	open(my $fh, '<', '/proc/' . $self->pid . '/status') or return undef;
	my ($kb) = map { /^VmRSS:\s+(\d+)/ ? $1 : () } <$fh>;
	close $fh;
	return $kb;
}

sub stderr_text {
	my ($self) = @_;
	open(my $fh, '<', $self->{err}) or return '';
	local $/;
	my $t = <$fh>;
	close $fh;
	return $t // '';
}

# stop(): SIGTERM, expect exit 0 and no sanitizer report. Returns the exit code.
sub stop {
	my ($self, %o) = @_;
	return $self->{rc} if defined $self->{rc};
	$self->{h}->signal('TERM');
	my $ok = eval { $self->{h}->finish; 1 };
	# full_result: the wait status (result() is undef when the exit code is 0)
	my $st = $self->{h}->full_result(0);
	$self->{rc} = !defined $st ? -1 : ($st & 127) ? 128 + ($st & 127) : $st >> 8;
	unless ($o{quiet}) {
		is($self->{rc}, 0, 'gateway exits 0 on SIGTERM');
		my $err = $self->stderr_text;
		unlike($err, qr/(AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer)/,
			'no sanitizer report in the gateway stderr') or diag($err);
	}
	return $self->{rc};
}

sub DESTROY {
	my ($self) = @_;
	if ($self->{h} && !defined $self->{rc}) { eval { $self->{h}->kill_kill(grace => 5) }; }
}

1;
