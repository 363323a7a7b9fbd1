# Helpers for the processor's TAP tests (t/30N_processor_*.pl): a login role for
# the daemon, starting and stopping `invoiceflow-processor run` against a
# PostgreSQL::Test::Cluster node, ingesting files, waiting for states, reading
# its JSON log lines, and hostile PDFs built at test time.
package ProcessorTest;
use strict;
use warnings;
use Exporter 'import';
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Utils;
use InvoiceflowTest;

our @EXPORT = qw(processor_role start_processor ingest_file doc_status wait_all_done
                 count_transitions add_transition_log pdf_with_objects flate_zeros
                 amqp_publish);

# processor_role(NODE, DB): a login role with the worker's rights (and the
# reader's, so the daemon can read file names for its logs and the fault hooks).
sub processor_role {
	my ($node, $db) = @_;
	$db //= 'postgres';
	$node->safe_psql($db, q{DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ifprocessor') THEN
			CREATE ROLE ifprocessor LOGIN IN ROLE invoiceflow_worker, invoiceflow_reader;
		END IF; END $$});
	return 'postgresql:///' . $db . '?host=' . $node->host . '&port=' . $node->port . '&user=ifprocessor';
}

# start_processor(NODE, %opt): runs `invoiceflow-processor run`.
#   bin => 'asan' (default) | 'plain' | path, valgrind => 1, env => {...}
# Returns an object: pid, out (stdout file: the JSON log), err, stop(SIGNAL),
# wait_exit(SECONDS) -> exit status or undef, lines() -> decoded log lines.
my $count = 0;
# files of this test only (prove -j runs several tests at once in one tmp_check)
sub file_prefix {
	(my $t = $0) =~ s{.*/}{};
	$t =~ s/\.pl$//;
	return "$PostgreSQL::Test::Utils::tmp_check/$t";
}

sub start_processor {
	my ($node, %opt) = @_;
	my $root = repo_root();
	my $which = $opt{bin} // 'asan';
	my $bin = $which eq 'asan' ? "$root/sidecar/processor/invoiceflow-processor-asan"
	  : $which eq 'plain' ? "$root/sidecar/processor/invoiceflow-processor" : $which;
	die "$bin is missing: run make -C sidecar/processor" unless -x $bin;
	my $dir = file_prefix();
	my $n = ++$count;
	my %env = (
		DATABASE_URL => processor_role($node, $opt{db}),
		LOG_FORMAT => 'json',
		LOG_LEVEL => 'DEBUG',
		PROCESSOR_CONCURRENCY => 2,
		ASAN_OPTIONS => 'detect_leaks=1:abort_on_error=0',
		UBSAN_OPTIONS => 'print_stacktrace=1',
		%{ $opt{env} // {} });
	# valgrind follows no exec (--trace-children=no): it runs the daemon's own program,
	# not the front end that executes it (sidecar/processor/cli_exec.c)
	$bin = "$root/sidecar/processor/invoiceflow-processor-daemon" if $opt{valgrind} && $which eq 'plain';
	my @cmd = ($bin, 'run');
	@cmd = ('valgrind', '-q', '--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite',
		'--trace-children=no', "--log-file=$dir-processor$n.valgrind", @cmd) if $opt{valgrind};
	my $self = bless { out => "$dir-processor$n.stdout", err => "$dir-processor$n.stderr", n => $n,
		valgrind_log => "$dir-processor$n.valgrind" }, 'ProcessorTest::Proc';
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		# RABBITMQ_URL and the S3 variables come only from %opt{env}
		delete @ENV{qw(RABBITMQ_URL S3_BUCKET S3_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION)};
		@ENV{keys %env} = values %env;
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', $self->{out}) or POSIX::_exit(127);
		open(STDERR, '>', $self->{err}) or POSIX::_exit(127);
		exec(@cmd) or POSIX::_exit(127);
	}
	$self->{pid} = $pid;
	return $self;
}

sub ProcessorTest::Proc::stop {
	my ($self, $sig) = @_;
	kill($sig // 'TERM', $self->{pid}) if $self->{pid};
}

# exit status (as $? >> 8, or 128 + signal) within SECONDS, else undef
sub ProcessorTest::Proc::wait_exit {
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

sub ProcessorTest::Proc::lines {
	my ($self) = @_;
	open(my $fh, '<', $self->{out}) or return ();
	my @l = grep { defined } map { json_decode($_) } <$fh>;
	close $fh;
	return @l;
}

sub ProcessorTest::Proc::documents {
	my ($self) = @_;
	return grep { ($_->{message} // '') =~ /^document (completed|failed)$/ } $self->lines;
}

sub ProcessorTest::Proc::stderr {
	my ($self) = @_;
	open(my $fh, '<', $self->{err}) or return '';
	local $/;
	my $s = <$fh>;
	return $s // '';
}

sub ProcessorTest::Proc::DESTROY {
	my ($self) = @_;
	if ($self->{pid}) {
		kill('KILL', $self->{pid});
		waitpid($self->{pid}, 0);
	}
}

# ingest_file(NODE, FILENAME, BYTES) -> request_id
sub ingest_file {
	my ($node, $name, $bytes, $db) = @_;
	my $hex = unpack('H*', $bytes);
	(my $q = $name) =~ s/'/''/g;
	return $node->safe_psql($db // 'postgres',
		"SELECT request_id FROM invoiceflow.ingest('$q', '\\x$hex'::bytea)");
}

# doc_status(NODE, ID) -> the status() body as a hash
sub doc_status {
	my ($node, $id, $db) = @_;
	return json_decode($node->safe_psql($db // 'postgres', "SELECT invoiceflow.status('$id')"));
}

# wait_all_done(NODE, SECONDS): true once nothing is PENDING or PROCESSING
sub wait_all_done {
	my ($node, $secs, $db) = @_;
	return wait_until($secs, sub {
		$node->safe_psql($db // 'postgres',
			"SELECT count(*) FROM invoiceflow.ingestions WHERE status IN ('PENDING', 'PROCESSING')") == 0 });
}

# add_transition_log(NODE): records every status change in public.transitions
sub add_transition_log {
	my ($node, $db) = @_;
	$node->safe_psql($db // 'postgres', q{
		CREATE TABLE public.transitions (id uuid, old text, new text, at timestamptz DEFAULT clock_timestamp());
		CREATE FUNCTION public.log_transition() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
		SET search_path = pg_catalog AS $$
		BEGIN
			IF NEW.status IS DISTINCT FROM OLD.status THEN
				INSERT INTO public.transitions (id, old, new) VALUES (NEW.id, OLD.status, NEW.status);
			END IF;
			RETURN NULL;
		END $$;
		CREATE TRIGGER zz_log_transition AFTER UPDATE ON invoiceflow.ingestions
			FOR EACH ROW EXECUTE FUNCTION public.log_transition();});
}

# count_transitions(NODE, ID, NEW_STATUS)
sub count_transitions {
	my ($node, $id, $new, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT count(*) FROM public.transitions WHERE id = '$id' AND new = '$new'");
}

# pdf_with_objects(PAGE_CONTENT_STREAM_DICT_AND_DATA, EXTRA_OBJECTS...): a PDF with a
# valid xref table (so ingest() takes it). The first argument is [dict, data] for
# the page's content stream; extra objects are raw strings numbered from 6 on,
# and catalog_extra is added to the catalog dictionary.
sub pdf_with_objects {
	my (%o) = @_;
	my ($cdict, $cdata) = @{ $o{content} // [ '', 'BT /F1 12 Tf 72 720 Td (hostile) Tj ET' ] };
	my @objs = (
		"<< /Type /Catalog /Pages 2 0 R " . ($o{catalog_extra} // '') . " >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
		  . "/Resources << /Font << /F1 5 0 R >> >> " . ($o{page_extra} // '') . " >>",
		"<< /Length " . length($cdata) . " $cdict >>\nstream\n$cdata\nendstream",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
		@{ $o{extra} // [] });
	return pdf_from_objects("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", @objs);
}

# flate_zeros(MB): MB megabytes of zeros, deflated (about 1 KB per MB)
sub flate_zeros {
	my ($mb) = @_;
	require Compress::Zlib;
	my ($d) = Compress::Zlib::deflateInit(-Level => 9);
	my $chunk = "\0" x (1 << 20);
	my $out = '';
	for (1 .. $mb) { my ($o) = $d->deflate($chunk); $out .= $o; }
	my ($o) = $d->flush();
	return $out . $o;
}

# amqp_publish(URL, ROUTING_KEY, MESSAGE_ID, BODY): one persistent message to
# exchange "invoiceflow" through the shared client (a tiny C tool built on first use).
my $publisher;
sub amqp_publish {
	my ($url, $rk, $mid, $body) = @_;
	unless ($publisher) {
		my $dir = file_prefix();
		my $common = repo_root() . '/src/common';
		open(my $fh, '>', "$dir-amqp_publish.c") or die;
		print $fh <<'C';
#include <stdio.h>
#include <string.h>
#include "amqp_client.h"
int main(int argc, char **argv)
{
	amqpc_config cfg = {0};
	amqpc_error e = {0};
	amqpc_client *c;
	if (argc < 5) return 2;
	cfg.url = argv[1];
	c = amqpc_connect(&cfg, &e);
	if (!c || amqpc_declare_topology(c, &e) != AMQPC_OK ||
		amqpc_publish(c, NULL, argv[2], argv[3], NULL, argv[4], strlen(argv[4]), &e) != AMQPC_OK)
	{ fprintf(stderr, "amqp_publish: %s\n", e.message); return 1; }
	amqpc_close(c);
	return 0;
}
C
		close $fh;
		system("cc -O1 -I$common -o $dir-amqp_publish $dir-amqp_publish.c $common/amqp_client.c "
			. '$(pkg-config --cflags --libs librabbitmq jansson)') == 0 or die 'cannot build amqp_publish';
		$publisher = "$dir-amqp_publish";
	}
	return system($publisher, $url, $rk, $mid, $body) == 0;
}

1;
