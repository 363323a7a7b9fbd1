# Processor sandbox (issue 9 item 7): the per-document child runs without the
# parent's environment, without network, without writes outside its scratch
# directory and without reads outside the system directories it needs. The
# test-only probe (PROCESSOR_TEST_FAULTS=1, a file named sandbox-probe*.pdf)
# tries each from inside the child and reports; every attempt must be refused
# by the layer meant to refuse it, and a normal invoice must still be
# extracted. The suite runs as an unprivileged user: the switch away from root
# is tested by test/security/processor_sandbox_root.sh.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use InvoiceflowTest;
use ProcessorTest;

my $node = new_node('proc_sandbox');
my $dir = PostgreSQL::Test::Utils::tempdir();
my $scratch = "$dir/scratch";
mkdir $scratch or die "mkdir $scratch: $!";

# what a child must not reach: a listener on loopback, a file of ours, a writable directory
my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5, ReuseAddr => 1)
  or die "listen: $!";
my $port = $listener->sockport;
open(my $fh, '>', "$dir/secret.txt") or die;
print $fh "s3cret\n";
close $fh;
chmod 0600, "$dir/secret.txt";

my $probe = ingest_file($node, 'sandbox-probe.pdf',
	make_pdf("probe-port=$port probe-path=$dir/outside.txt probe-read=$dir/secret.txt"));
my $sample = ingest_file($node, 'sample-invoice.pdf', slurp_file_bin(sample_pdf_path()));
my $text = ingest_file($node, 'text-invoice.pdf', make_pdf('Invoice number T-303 total 12.50 EUR'));

my $p = start_processor($node, bin => 'plain', env => {
	PROCESSOR_TEST_FAULTS => 1, PROCESSOR_SCRATCH_DIR => $scratch, PROCESSOR_CONCURRENCY => 1,
	AWS_SECRET_ACCESS_KEY => 'probe-secret', AWS_ACCESS_KEY_ID => 'probe-key', LOG_LEVEL => 'INFO' });
ok(wait_all_done($node, 120), 'the documents are processed') or diag($p->stderr);

my $st = doc_status($node, $probe);
is($st->{status}, 'FAILED', 'the probe answers through fail()');
my $report = $st->{error}{message} // '';
note($report);
like($report, qr/^sandbox probe: /, 'the probe ran inside the child');
my %r = $report =~ /(\w+)=(\S+)/g;

# no secrets: an empty environment, no way to the parent's
is($r{env}, 0, 'the child starts with an empty environment');
is($r{database_url}, 'absent', 'DATABASE_URL cannot be read');
like($r{parent_environ}, qr/^refused/, "the parent's /proc/PID/environ cannot be read");
is($r{nnp}, 1, 'no_new_privs is set');
is($r{seccomp}, 2, 'a seccomp filter is in force');
like($r{setuid0}, qr/^refused/, 'no way back to root');

# no network: seccomp refuses sockets of every family
is($r{tcp_connect}, 'refused(EPERM)', 'a TCP socket to 127.0.0.1 is refused (seccomp)');
is($r{unix_socket}, 'refused(EPERM)', 'a unix socket is refused (seccomp)');
ok(!IO::Select->new($listener)->can_read(0), 'no connection reached the listener');

# no writes outside the scratch directory: seccomp refuses a write-open by path,
# Landlock what passes through the scratch directory's descriptor
is($r{write_outside}, 'refused(EPERM)', 'writing a file outside the scratch directory is refused (seccomp)');
ok(!-e "$dir/outside.txt", 'the file outside was not created');
# Landlock's ABI as the kernel reports it (landlock_create_ruleset, syscall 444 on
# x86_64 and arm64, with LANDLOCK_CREATE_RULESET_VERSION), asked here so that a
# child without Landlock on a kernel with it fails instead of skipping
my $kernel_landlock = `uname -m` =~ /^(x86_64|aarch64)$/ ? syscall(444, 0, 0, 1) : -1;
SKIP: {
	skip 'this kernel has no Landlock', 5 unless $kernel_landlock > 0;
	is($r{landlock}, $kernel_landlock, "Landlock (ABI $kernel_landlock) is in force in the child");
	is($r{write_outside_via_scratch}, 'refused(EACCES)',
		'an absolute path through the scratch descriptor is refused (Landlock)');
	ok(!-e "$dir/outside.txt.2", 'that file was not created either');
	is($r{write_scratch}, 'ok', 'the scratch directory is writable');
	is($r{read_outside}, 'refused(EACCES)', "a file of the processor's user outside the read list is refused (Landlock)");
}
is($r{read_tessdata}, 'ok', "Tesseract's language data stays readable");
is($r{exec}, 'refused(EPERM)', 'no new programs');
is($r{fork}, 'refused(EPERM)', 'no new processes');

# the scratch directories are gone once their children are
opendir(my $dh, $scratch) or die;
my @left = grep { !/^\.\.?$/ } readdir $dh;
closedir $dh;
is_deeply(\@left, [], 'every scratch directory was removed');

# and extraction works as before
$st = doc_status($node, $sample);
is($st->{status}, 'COMPLETED', 'sample invoice COMPLETED in the sandbox');
is($st->{invoice}{invoice_number}, '471102', 'sample: invoice_number');
is($st->{invoice}{totals}{total}, '529.87', 'sample: total');
is($st->{invoice}{seller}{name}, 'Lieferant GmbH', 'sample: seller');
$st = doc_status($node, $text);
is($st->{status}, 'COMPLETED', 'text invoice COMPLETED');
is($st->{invoice}{invoice_number}, 'T-303', 'text invoice: invoice_number from the text layer');

# the daemon is not dumpable: a process of its user (a child, or this test) cannot
# read its environment through /proc
ok(!open(my $env_fh, '<', "/proc/$p->{pid}/environ"), "the daemon's /proc/PID/environ is closed to its own user");

my ($line) = grep { ($_->{message} // '') =~ /^document sandbox/ } $p->lines;
ok($line, 'the start-up log names the sandbox layers');
$p->stop('TERM');
is($p->wait_exit(30), 0, 'the daemon stops cleanly');

done_testing();
