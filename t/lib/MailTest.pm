# Helpers for the mail sidecar's TAP tests (t/50N_mail_*.pl): a private Dovecot
# (test/services/dovecot.sh), messages put in with IMAP APPEND, MIME messages
# built at test time, `invoiceflow-mail run` / `deliver` against a
# PostgreSQL::Test::Cluster node, and the checks every case ends with.
package MailTest;
use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Utils;
use InvoiceflowTest;

our @EXPORT = qw(start_dovecot dovecot_ctl imap_append imap_flags mail_role start_mail run_deliver
                 build_message unique_pdf email_ingestions wait_taken mail_outcomes);

my $mail_count = 0;

sub file_prefix {
	(my $t = $0) =~ s{.*/}{};
	$t =~ s/\.pl$//;
	return "$PostgreSQL::Test::Utils::tmp_check/$t";
}

# start_dovecot(): a Dovecot of this test's own; returns {imap_port, imaps_port, ca, dir}.
# Stopped when the test ends.
my @dovecots;
sub start_dovecot {
	my $dir = file_prefix() . '-dovecot' . (scalar(@dovecots) + 1);
	my $sh = repo_root() . '/test/services/dovecot.sh';
	system('bash', $sh, 'start', $dir) == 0 or die "dovecot.sh start failed";
	my %env;
	open(my $fh, '<', "$dir/env") or die "$dir/env: $!";
	while (<$fh>) { chomp; my ($k, $v) = split /=/, $_, 2; $env{$k} = $v; }
	close $fh;
	my $dc = { dir => $dir, sh => $sh, imap_port => $env{DOVECOT_IMAP_PORT},
		imaps_port => $env{DOVECOT_IMAPS_PORT}, ca => $env{DOVECOT_CA_FILE} };
	push @dovecots, $dc;
	return $dc;
}

# dovecot_ctl(DC, 'down' | 'up' | 'stop')
sub dovecot_ctl {
	my ($dc, $cmd) = @_;
	system('bash', $dc->{sh}, $cmd, $dc->{dir}) == 0 or die "dovecot.sh $cmd failed";
}

END { system('bash', $_->{sh}, 'stop', $_->{dir}) for @dovecots; }

# A logged-in plain IMAP session on loopback (the test's own server; the
# sidecar itself is tested over TLS).
sub imap_session {
	my ($dc, $user) = @_;
	my $err;
	# a loaded machine: a few tries before the test gives up on its own server
	for my $try (1 .. 5) {
		my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $dc->{imap_port}, Timeout => 10);
		if ($s) {
			$s->autoflush(1);
			my $greet = <$s>;
			return $s if eval { imap_cmd($s, "a0 LOGIN $user secret", 'a0'); 1 };
			$err = $@;
			close $s;
		} else {
			$err = "connect to Dovecot: $!";
		}
		sleep 0.5;
	}
	die "IMAP session for $user: $err";
}

sub imap_cmd {
	my ($s, $line, $tag) = @_;
	print $s "$line\r\n";
	my @out;
	while (my $l = <$s>) {
		push @out, $l;
		if ($l =~ /^\Q$tag\E (OK|NO|BAD)/) {
			die "IMAP $line: $l" unless $1 eq 'OK';
			return @out;
		}
	}
	die "IMAP connection closed after $line";
}

# imap_append(DC, USER, FOLDER, [RAW, ...]): APPENDs each message (LITERAL+, one session).
sub imap_append {
	my ($dc, $user, $folder, $msgs) = @_;
	my $s = imap_session($dc, $user);
	my $n = 0;
	for my $raw (@$msgs) {
		$n++;
		my $len = length($raw);
		print $s "p$n APPEND \"$folder\" {$len+}\r\n$raw\r\n";
		while (my $l = <$s>) {
			next unless $l =~ /^p$n (OK|NO|BAD)/;
			die "APPEND: $l" unless $1 eq 'OK';
			last;
		}
	}
	imap_cmd($s, 'z LOGOUT', 'z');
	close $s;
}

# imap_flags(DC, USER, FOLDER): {uid => 'flags'} of every message in FOLDER
sub imap_flags {
	my ($dc, $user, $folder) = @_;
	my $s = imap_session($dc, $user);
	imap_cmd($s, "b1 EXAMINE \"$folder\"", 'b1');
	my %f;
	for (imap_cmd($s, 'b2 UID FETCH 1:* (FLAGS)', 'b2')) {
		$f{$1} = $2 if /UID (\d+) FLAGS \(([^)]*)\)/;
		$f{$2} = $1 if /FLAGS \(([^)]*)\) UID (\d+)/;
	}
	imap_cmd($s, 'z LOGOUT', 'z');
	close $s;
	return \%f;
}

# mail_role(NODE): a login role in invoiceflow_mail only; its DATABASE_URL
my %role_url;
sub mail_role {
	my ($node) = @_;
	return $role_url{ $node->name } if $role_url{ $node->name };
	$node->safe_psql('postgres', q{DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ifmail') THEN
			CREATE ROLE ifmail LOGIN IN ROLE invoiceflow_mail;
		END IF; END $$});
	return $role_url{ $node->name } =
	  'postgresql:///postgres?host=' . $node->host . '&port=' . $node->port . '&user=ifmail';
}

# start_mail(NODE, DC, %opt): `invoiceflow-mail run` (ASan build) on DC's INBOX over
# imaps (or url => ...). env => {...}. Returns a ProcessorTest-like handle.
sub start_mail {
	my ($node, $dc, %opt) = @_;
	my $bin = repo_root() . '/sidecar/mail/invoiceflow-mail' . (($opt{bin} // 'asan') eq 'asan' ? '-asan' : '');
	die "$bin is missing: run make -C sidecar/mail" unless -x $bin;
	my $n = ++$mail_count;
	my $pre = file_prefix() . "-mail$n";
	my %env = (
		DATABASE_URL => mail_role($node),
		MAIL_IMAP_URL => exists $opt{url} ? $opt{url} : "imaps://invoices:secret\@127.0.0.1:$dc->{imaps_port}/INBOX",
		MAIL_CA_FILE => $dc->{ca},
		LOG_FORMAT => 'json',
		LOG_LEVEL => 'DEBUG',
		ASAN_OPTIONS => 'detect_leaks=1:abort_on_error=0',
		LSAN_OPTIONS => 'suppressions=' . repo_root() . '/sidecar/mail/tests/lsan.supp',
		UBSAN_OPTIONS => 'print_stacktrace=1',
		%{ $opt{env} // {} });
	my $self = bless { out => "$pre.stdout", err => "$pre.stderr", n => $n }, 'MailTest::Proc';
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		delete @ENV{qw(MAIL_IMAP_URL MAIL_ACCOUNTS_FILE MAIL_AFTER)};
		@ENV{keys %env} = values %env;
		delete $ENV{$_} for grep { !defined $env{$_} } keys %env;
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', $self->{out}) or POSIX::_exit(127);
		open(STDERR, '>', $self->{err}) or POSIX::_exit(127);
		exec($bin, 'run') or POSIX::_exit(127);
	}
	$self->{pid} = $pid;
	return $self;
}

sub MailTest::Proc::stop { my ($self, $sig) = @_; kill($sig // 'TERM', $self->{pid}) if $self->{pid}; }

sub MailTest::Proc::wait_exit {
	my ($self, $secs) = @_;
	return $self->{status} if defined $self->{status};
	my $deadline = time + ($secs // 10);
	while (time < $deadline) {
		my $r = waitpid($self->{pid}, POSIX::WNOHANG());
		if ($r == $self->{pid}) {
			$self->{status} = ($? & 127) ? 128 + ($? & 127) : $? >> 8;
			$self->{pid} = undef;
			return $self->{status};
		}
		sleep 0.05;
	}
	return undef;
}

sub MailTest::Proc::lines {
	my ($self) = @_;
	open(my $fh, '<', $self->{out}) or return ();
	my @l = grep { defined } map { json_decode($_) } <$fh>;
	close $fh;
	return @l;
}

sub MailTest::Proc::log_has {
	my ($self, $re) = @_;
	return scalar grep { ($_->{message} // '') =~ $re } $self->lines;
}

sub MailTest::Proc::stderr {
	my ($self) = @_;
	open(my $fh, '<', $self->{err}) or return '';
	local $/;
	my $s = <$fh>;
	return $s // '';
}

sub MailTest::Proc::DESTROY {
	my ($self) = @_;
	if ($self->{pid}) { kill('KILL', $self->{pid}); waitpid($self->{pid}, 0); }
}

# run_deliver(NODE, RAW, %env): `invoiceflow-mail deliver` with RAW on stdin; exit status.
# VALGRIND => 1 in %env: the -O2 build under valgrind (exit 99 on any error or definite leak)
sub run_deliver {
	my ($node, $raw, %env) = @_;
	my $vg = delete $env{VALGRIND};
	my $bin = repo_root() . '/sidecar/mail/invoiceflow-mail' . ($vg ? '' : '-asan');
	my $pre = file_prefix() . '-deliver' . (++$mail_count);
	open(my $fh, '>:raw', "$pre.eml") or die $!;
	print $fh $raw;
	close $fh;
	my $url = mail_role($node);    # in the parent: a child must never die into END blocks
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		$ENV{DATABASE_URL} = $url;
		$ENV{LOG_FORMAT} = 'json';
		$ENV{ASAN_OPTIONS} = 'detect_leaks=1:abort_on_error=0';
		$ENV{LSAN_OPTIONS} = 'suppressions=' . repo_root() . '/sidecar/mail/tests/lsan.supp';
		@ENV{keys %env} = values %env;
		open(STDIN, '<:raw', "$pre.eml");
		open(STDOUT, '>>', "$pre.out");
		open(STDERR, '>>', "$pre.out");
		my @pre = $vg ? ('valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
			'--errors-for-leak-kinds=definite') : ();
		exec(@pre, $bin, 'deliver') or POSIX::_exit(127);
	}
	waitpid($pid, 0);
	return ($? & 127) ? 128 + ($? & 127) : $? >> 8;
}

# unique_pdf(TAG): a small valid PDF whose bytes differ per TAG (dedup would merge equal ones)
sub unique_pdf { return make_pdf("Invoice $_[0] total 10.00 EUR"); }

# build_message(%opt): an RFC 5322 message.
#   from, subject, message_id (undef: no Message-ID header), date,
#   parts => [ {type, name, filename_header (raw Content-Disposition params),
#              disposition, encoding (base64 | quoted-printable | 7bit), body}
#              | {rfc822 => RAW} | {multipart => 'related', parts => [...]} ]
sub build_message {
	my (%o) = @_;
	my $h = "From: " . ($o{from} // 'Billing <billing@acme.example>') . "\r\n"
	  . "To: invoices\@example.com\r\n"
	  . "Subject: " . ($o{subject} // 'invoice') . "\r\n"
	  . "Date: " . ($o{date} // 'Sun, 29 Nov 2026 10:00:00 +0100') . "\r\n"
	  . (exists $o{message_id} && !defined $o{message_id} ? '' : "Message-ID: <" . ($o{message_id} // ('m' . rand() . '@test')) . ">\r\n")
	  . "MIME-Version: 1.0\r\n";
	return $h . multipart_body('mixed', [ { type => 'text/plain', body => "Please find the invoice attached.\r\n" },
		@{ $o{parts} // [] } ]);
}

my $bcount = 0;
sub multipart_body {
	my ($sub, $parts) = @_;
	my $b = 'bnd' . (++$bcount) . 'x';
	my $s = "Content-Type: multipart/$sub; boundary=\"$b\"\r\n\r\n";
	for my $p (@$parts) {
		$s .= "--$b\r\n";
		if ($p->{rfc822}) {
			$s .= "Content-Type: message/rfc822\r\n\r\n$p->{rfc822}\r\n";
		} elsif ($p->{multipart}) {
			$s .= multipart_body($p->{multipart}, $p->{parts}) . "\r\n";
		} else {
			my $enc = $p->{encoding} // 'base64';
			$s .= "Content-Type: " . ($p->{type} // 'application/pdf')
			  . (defined $p->{name} ? "; name=\"$p->{name}\"" : '') . "\r\n";
			$s .= "Content-Disposition: " . ($p->{disposition} // 'attachment')
			  . (defined $p->{filename_header} ? "; $p->{filename_header}"
				: defined $p->{name} ? "; filename=\"$p->{name}\"" : '') . "\r\n"
			  if $p->{disposition} || defined $p->{name} || defined $p->{filename_header};
			$s .= "Content-Transfer-Encoding: $enc\r\n\r\n";
			my $body = $p->{body};
			if ($enc eq 'base64') { $body = encode_base64($body, "\r\n"); }
			elsif ($enc eq 'quoted-printable') { require MIME::QuotedPrint; $body = MIME::QuotedPrint::encode_qp($body, "\r\n"); }
			$s .= $body . "\r\n";
		}
	}
	return $s . "--$b--\r\n";
}

# email_ingestions(NODE): {filename => number of ingestions with that name} of source email
sub email_ingestions {
	my ($node) = @_;
	my %n;
	for (split /\n/, $node->safe_psql('postgres',
			q{SELECT filename || '|' || count(*) FROM invoiceflow.ingestions WHERE source = 'email' GROUP BY filename})) {
		my ($f, $c) = /^(.*)\|(\d+)$/ or next;
		$n{$f} = $c;
	}
	return \%n;
}

# wait_taken(DC, USER, FOLDER, N, SECS): every message of FOLDER carries $Invoiceflow (N of them)
sub wait_taken {
	my ($dc, $user, $folder, $n, $secs) = @_;
	return wait_until($secs // 30, sub {
		my $f = imap_flags($dc, $user, $folder);
		my $taken = grep { /\$Invoiceflow/ } values %$f;
		return $taken >= $n;
	});
}

# mail_outcomes(NODE): {message_id => outcome}
sub mail_outcomes {
	my ($node) = @_;
	my %o;
	for (split /\n/, $node->safe_psql('postgres',
			q{SELECT coalesce(message_id, message_key) || '|' || outcome FROM invoiceflow.mail_messages})) {
		my ($k, $v) = /^(.*)\|([a-z_]+)$/ or next;
		$o{$k} = $v;
	}
	return \%o;
}

1;
