# stats() stays exact under concurrent ingest / claim / complete / fail / release
# from 8 pgbench clients for 30 s (STATS_BENCH_SECONDS), and claim_next never
# hands one file to two workers.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use InvoiceflowTest;

my $seconds = $ENV{STATS_BENCH_SECONDS} // 30;
my $node = new_node('stats', conf => "max_connections = 50\ninvoiceflow.lease_seconds = 3600");
# every claim is logged, to check that no file was handed out twice
$node->safe_psql('postgres', q{
	CREATE TABLE claims_log (request_id uuid, lease uuid, worker text);
	CREATE FUNCTION pdf(tag text) RETURNS bytea LANGUAGE sql AS $$
	  SELECT convert_to(h || E'xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 >>\nstartxref\n'
	                    || octet_length(h) || E'\n%%EOF\n', 'UTF8')
	  FROM (SELECT E'%PDF-1.4\n% ' || tag || repeat(' ', 2000) || E'\n' AS h) s $$;
});

my $dir = $PostgreSQL::Test::Utils::tmp_check;
my %scripts = (
	'ingest.sql' => q{SELECT invoiceflow.ingest('bench.pdf', pdf(random()::text || clock_timestamp()::text));},
	'ingest_dup.sql' => q{SELECT invoiceflow.ingest('dup.pdf', pdf('the same file ' || (random() * 20)::int));},
	'claim_complete.sql' => q{
WITH c AS (SELECT * FROM invoiceflow.claim_next('w' || :client_id, 3)),
     l AS (INSERT INTO claims_log SELECT request_id, lease, 'w' || :client_id FROM c RETURNING request_id, lease)
SELECT invoiceflow.complete(request_id, lease, '{"invoice": {"invoice_number": "X"}, "text": "t"}') FROM l;},
	'claim_fail.sql' => q{
WITH c AS (SELECT * FROM invoiceflow.claim_next('w' || :client_id, 2)),
     l AS (INSERT INTO claims_log SELECT request_id, lease, 'w' || :client_id FROM c RETURNING request_id, lease)
SELECT invoiceflow.fail(request_id, lease, 'bench failure') FROM l;},
	'claim_only.sql' => q{
INSERT INTO claims_log SELECT request_id, lease, 'w' || :client_id FROM invoiceflow.claim_next('w' || :client_id, 1);},
	'retry.sql' => q{
SELECT invoiceflow.retry(id) FROM (SELECT id FROM invoiceflow.ingestions WHERE status = 'FAILED' LIMIT 1 FOR UPDATE SKIP LOCKED) f;},
	'reads.sql' => q{SELECT invoiceflow.stats(); SELECT invoiceflow.health();},
);
for my $f (keys %scripts) {
	open(my $fh, '>', "$dir/$f") or die;
	print $fh $scripts{$f};
	close $fh;
}
my @cmd = ('pgbench', '-n', '-c', '8', '-j', '2', '-T', $seconds,
	'-f', "$dir/ingest.sql\@10", '-f', "$dir/ingest_dup.sql\@2", '-f', "$dir/claim_complete.sql\@4",
	'-f', "$dir/claim_fail.sql\@2", '-f', "$dir/claim_only.sql\@1", '-f', "$dir/retry.sql\@1",
	'-f', "$dir/reads.sql\@2", '-d', $node->connstr('postgres'));
my ($stdout, $stderr);
my $ok = IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr);
ok($ok, 'pgbench ran the mix without errors') or diag($stderr);
my ($tps) = $stdout =~ /tps = ([\d.]+)/;
my ($tx) = $stdout =~ /number of transactions actually processed: (\d+)/;
diag("pgbench: 8 clients, $seconds s, $tx transactions, $tps tps");
ok($tx > 100, "a real load: $tx transactions");

my $counts = q{SELECT jsonb_build_object(
	'pending', count(*) FILTER (WHERE status = 'PENDING'), 'processing', count(*) FILTER (WHERE status = 'PROCESSING'),
	'failed', count(*) FILTER (WHERE status = 'FAILED'), 'completed', count(*) FILTER (WHERE status = 'COMPLETED'),
	'total', count(*)) FROM invoiceflow.ingestions};
my $stats = $node->safe_psql('postgres', 'SELECT invoiceflow.stats()');
my $real = $node->safe_psql('postgres', $counts);
diag("stats(): $stats");
is($stats, $real, 'stats() equals count(*) GROUP BY status after the run');
ok($node->safe_psql('postgres', q{SELECT count(DISTINCT status) FROM invoiceflow.ingestions}) >= 3,
	'the run produced several states');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT request_id, lease FROM claims_log GROUP BY 1, 2 HAVING count(*) > 1) d}),
	0, 'no lease was handed out twice');
# without releases or expiry in this mix, a file is claimed again only after retry()
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT request_id FROM claims_log GROUP BY 1
	  HAVING count(*) > (SELECT attempt FROM invoiceflow.ingestions i WHERE i.id = request_id)) d}),
	0, 'no file was claimed twice within one attempt');
ok($node->safe_psql('postgres', 'SELECT count(*) FROM claims_log') > 0, 'files were claimed');
$node->stop;
done_testing();
