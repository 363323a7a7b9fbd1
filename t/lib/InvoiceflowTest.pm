# Shared helpers for invoiceflow's TAP tests (t/*.pl), run by prove as the postgres
# user from test/run-suite.sh (which also starts RabbitMQ and the S3 server and
# exports their addresses, see test/services/*.sh).
package InvoiceflowTest;
use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use JSON::PP ();
use Time::HiRes qw(time sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(new_node repo_root make_pdf pdf_from_objects sample_pdf_path corpus_dir slurp_file_bin
                 service_env wait_until json_decode);

# wait_until(SECONDS, CODE): polls CODE every 0.1 s until it returns true.
sub wait_until {
	my ($secs, $code) = @_;
	my $deadline = time + $secs;
	while (time < $deadline) {
		return 1 if $code->();
		sleep 0.1;
	}
	return $code->();
}

# json_decode(TEXT): the decoded value, or undef when TEXT is not JSON.
sub json_decode { my $s = shift; return eval { JSON::PP->new->utf8->decode($s) }; }

# Root of the (copied) source tree.
sub repo_root { return abs_path(dirname(__FILE__) . '/../..'); }

# new_node(NAME, conf => "extra postgresql.conf lines", no_extension => 1, dbname => 'postgres')
# A fresh cluster with invoiceflow preloaded, started, the extension created.
sub new_node {
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $db = $opt{dbname} // 'postgres';
	$node->append_conf('postgresql.conf', join("\n",
		"shared_preload_libraries = 'invoiceflow'",
		"invoiceflow.database = '$db'",
		"max_connections = 100",
		"log_line_prefix = '%m [%p] %q%a '",
		($opt{conf} // ''), ''));
	$node->start;
	$node->safe_psql('postgres', "CREATE DATABASE $db") if $db ne 'postgres';
	$node->safe_psql($db, 'CREATE EXTENSION invoiceflow') unless $opt{no_extension};
	return $node;
}

# make_pdf(TEXT): a small but well-formed PDF (header, objects, xref table, trailer,
# startxref, %%EOF) whose one page shows TEXT.
sub make_pdf {
	my ($text) = @_;
	$text //= 'invoiceflow test';
	$text =~ s/([()\\])/\\$1/g;
	my $stream = "BT /F1 12 Tf 72 720 Td ($text) Tj ET";
	my @objs = (
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		"<< /Length " . length($stream) . " >>\nstream\n$stream\nendstream",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
	return pdf_from_objects("%PDF-1.4\n", @objs);
}

# pdf_from_objects(HEADER, OBJECTS...): objects 1..n (1 is the catalog) with their
# xref table, trailer, startxref and %%EOF.
sub pdf_from_objects {
	my ($pdf, @objs) = @_;
	my @off;
	for my $i (0 .. $#objs) {
		push @off, length($pdf);
		$pdf .= ($i + 1) . " 0 obj\n$objs[$i]\nendobj\n";
	}
	my $xref = length($pdf);
	$pdf .= "xref\n0 " . (@objs + 1) . "\n0000000000 65535 f \n";
	$pdf .= sprintf("%010d 00000 n \n", $_) for @off;
	$pdf .= "trailer\n<< /Size " . (@objs + 1) . " /Root 1 0 R >>\nstartxref\n$xref\n%%EOF\n";
	return $pdf;
}

# A real invoice PDF shipped with the project (used by the README's quick start).
sub sample_pdf_path { return repo_root() . '/test/fixtures/sample-invoice.pdf'; }

# The extraction corpus (a copy of ../shared/corpus/dev), or undef when absent.
sub corpus_dir {
	my $d = $ENV{CORPUS_DIR} // repo_root() . '/../shared/corpus/dev';
	return -d $d ? $d : undef;
}

sub slurp_file_bin {
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "open $path: $!";
	local $/;
	my $data = <$fh>;
	close $fh;
	return $data;
}

# service_env(NAME): the value exported by test/services/*.sh, or undef.
sub service_env { return $ENV{ $_[0] }; }

1;
