# Helpers for the delivery tests (t/1NN_*.pl): PDFs made in SQL, the test
# services' environment, reading S3 objects and RabbitMQ queues.
package DeliveryTest;
use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Utils;
use InvoiceflowTest;

our @EXPORT = qw(add_pdf_function services_available delivery_conf amqp_drain amqp_tool
                 s3_get s3_head sha256_hex start_own_services service_cmd);

# add_pdf_function(NODE, DB): pdf(tag text, pad int) returns a small valid PDF.
sub add_pdf_function {
	my ($node, $db) = @_;
	$node->safe_psql($db, q{
	CREATE OR REPLACE FUNCTION public.pdf(tag text, pad integer DEFAULT 0) RETURNS bytea LANGUAGE sql AS $$
	  SELECT convert_to(h || E'xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 >>\nstartxref\n'
	                    || octet_length(h) || E'\n%%EOF\n', 'UTF8')
	  FROM (SELECT E'%PDF-1.4\n% ' || tag || ' ' || repeat('x', pad) || E'\n' AS h) s $$});
}

# true when test/run-suite.sh started RabbitMQ and S3 for us
sub services_available {
	return defined $ENV{RABBITMQ_URL} && defined $ENV{S3_ENDPOINT_URL};
}

# postgresql.conf lines for the test services (override with %o)
sub delivery_conf {
	my (%o) = @_;
	my %c = (
		s3_endpoint => $ENV{S3_ENDPOINT_URL}, s3_bucket => $ENV{S3_BUCKET} // 'invoiceflow',
		s3_region => $ENV{AWS_REGION} // 'us-east-1', s3_access_key_id => $ENV{AWS_ACCESS_KEY_ID},
		s3_secret_access_key => $ENV{AWS_SECRET_ACCESS_KEY}, rabbitmq_url => $ENV{RABBITMQ_URL},
		retry_delay_seconds => '0.2', retry_backoff_factor => '2', retry_max_delay_seconds => '2',
		probe_interval_seconds => '1', breaker_cooldown_seconds => '2', %o);
	return join('', map { defined $c{$_} ? "invoiceflow.$_ = '$c{$_}'\n" : '' } sort keys %c);
}

# start_own_services(DIR): a private S3 server and RabbitMQ node for tests that
# stop and start them (test/services/*.sh start DIR/s3, DIR/rabbitmq); sets
# %ENV from their env files so delivery_conf() and the helpers use them.
# Returns the directory; stop them with service_cmd('stop').
my $own_dir;
sub start_own_services {
	my ($dir) = @_;
	my $svc = InvoiceflowTest::repo_root() . '/test/services';
	for my $s ('s3', 'rabbitmq') {
		system('bash', "$svc/$s.sh", 'start', "$dir/$s") == 0 or die "cannot start $s";
		open(my $fh, '<', "$dir/$s/env") or die;
		while (<$fh>) { chomp; $ENV{$1} = $2 if /^(\w+)=(.*)$/; }
		close $fh;
	}
	$own_dir = $dir;
	return $dir;
}

# service_cmd(CMD, [WHICH]): CMD (down, up, stop, restart) for s3, rabbitmq or both
sub service_cmd {
	my ($cmd, @which) = @_;
	@which = ('s3', 'rabbitmq') unless @which;
	my $svc = InvoiceflowTest::repo_root() . '/test/services';
	for my $s (@which) {
		system('bash', "$svc/$s.sh", $cmd, "$own_dir/$s") == 0 or die "$s.sh $cmd failed";
	}
}

END { local $?; eval { service_cmd('stop') } if $own_dir; }

sub amqp_tool { return InvoiceflowTest::repo_root() . '/test/tools/amqp_drain'; }

# amqp_drain(URL, QUEUE): every message now in QUEUE (consumed and acked), as
# hashes {routing_key, message_id, delivery_mode, content_type, body}
sub amqp_drain {
	my ($url, $queue) = @_;
	my ($out, $err);
	IPC::Run::run([amqp_tool(), $url, $queue], '>', \$out, '2>', \$err)
	  or die "amqp_drain failed: $err";
	my @msgs;
	for my $line (split /\n/, $out) {
		my %m;
		# one JSON object a line, flat string/number values; body is a JSON string
		while ($line =~ /"(\w+)":("((?:[^"\\]|\\.)*)"|(-?\d+))/g) {
			my ($k, $s, $n) = ($1, $3, $4);
			if (defined $s) { $s =~ s/\\(["\\\/])/$1/g; $s =~ s/\\n/\n/g; }
			$m{$k} = defined $s ? $s : $n;
		}
		push @msgs, \%m;
	}
	return @msgs;
}

sub sha256_hex {
	require Digest::SHA;
	return Digest::SHA::sha256_hex($_[0]);
}

# s3_get(KEY): the object's bytes from s3rver directly (no signature needed)
sub s3_get {
	my ($key) = @_;
	my ($out, $err);
	IPC::Run::run(['curl', '-sf', "$ENV{S3_DIRECT_URL}/$ENV{S3_BUCKET}/$key"], '>', \$out, '2>', \$err);
	return $out;
}

# s3_head(KEY): the response headers (lower-cased names) or undef when missing
sub s3_head {
	my ($key) = @_;
	my ($out, $err);
	IPC::Run::run(['curl', '-s', '-I', "$ENV{S3_DIRECT_URL}/$ENV{S3_BUCKET}/$key"], '>', \$out, '2>', \$err);
	return undef unless $out =~ m{^HTTP/\S+ 200};
	my %h;
	for (split /\r?\n/, $out) { $h{lc $1} = $2 if /^([\w-]+):\s*(.*)$/; }
	return \%h;
}

1;
