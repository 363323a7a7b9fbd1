# pg_dump keeps every row of invoiceflow's tables; a restore into a fresh
# database gives back the same ingestions, files, extractions, keys and stats.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use InvoiceflowTest;

my $node = new_node('dump');
# a mix of states, with bytes, an extraction and an API key
for my $g (1 .. 20) {
	my $hex = unpack('H*', make_pdf("dump test $g"));
	$node->safe_psql('postgres',
		"SELECT invoiceflow.ingest('d$g.pdf', decode('$hex', 'hex'), 'email', 'key-$g')");
}
$node->safe_psql('postgres', q{
	SELECT invoiceflow.complete(request_id, lease, jsonb_build_object('invoice', jsonb_build_object('invoice_number', 'N-' || request_id), 'text', 'text of ' || request_id))
	  FROM invoiceflow.claim_next('w', 5);
	SELECT invoiceflow.fail(request_id, lease, 'broken') FROM invoiceflow.claim_next('w', 3);
	SELECT count(*) FROM invoiceflow.claim_next('w', 2);
	SELECT invoiceflow.create_api_key('dump-key');
});
# review (issue 14): a correction, an approval, their audit rows
$node->safe_psql('postgres', q{
	SELECT invoiceflow.correct(ingestion_id, '{"currency": "EUR"}', 'dumper') FROM invoiceflow.extractions LIMIT 1;
	SELECT invoiceflow.approve(ingestion_id, 'dumper') FROM invoiceflow.extractions LIMIT 1;
});
my $review_snapshot = q{
	SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
	  SELECT format('%s %s %s %s %s %s', id, at, actor, action, request_id, detail) AS x FROM invoiceflow.audit
	  UNION ALL SELECT format('%s %s %s %s', id, ingestion_id, field, new_value) FROM invoiceflow.corrections
	  UNION ALL SELECT format('%s %s %s', ingestion_id, patch, reviewed_by) FROM invoiceflow.review_state) s};
my $review_before = $node->safe_psql('postgres', $review_snapshot);

my $snapshot = q{
	SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
	  SELECT format('%s %s %s %s %s %s %s %s %s', id, filename, s3_key, status, created_at, updated_at, sha256, attempt, error_message) AS x FROM invoiceflow.ingestions
	  UNION ALL SELECT format('%s %s', ingestion_id, md5(content)) FROM invoiceflow.ingestion_files
	  UNION ALL SELECT format('%s %s %s', ingestion_id, invoice, text) FROM invoiceflow.extractions
	  UNION ALL SELECT format('%s %s %s', name, key_hash, revoked_at) FROM invoiceflow.api_keys) s};
my $before = $node->safe_psql('postgres', $snapshot);
my $stats_before = $node->safe_psql('postgres', 'SELECT invoiceflow.stats()');
is($node->safe_psql('postgres', 'SELECT count(*) FROM invoiceflow.ingestion_files'), 20, 'twenty files stored');

my $dump = $PostgreSQL::Test::Utils::tmp_check . '/invoiceflow.dump';
$node->command_ok(['pg_dump', '-Fc', '-d', $node->connstr('postgres'), '-f', $dump], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok(['pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump], 'pg_restore into a fresh database');

is($node->safe_psql('restored', $snapshot), $before, 'every row of every table is restored');
is($node->safe_psql('restored', $review_snapshot), $review_before,
	'the audit log, corrections and review state are restored as they were (no upload logged twice)');
is($node->safe_psql('restored', 'SELECT invoiceflow.stats()'), $stats_before, 'stats() after restore equals stats() before');
is($node->safe_psql('restored', q{SELECT invoiceflow.stats() = jsonb_build_object(
	'pending', count(*) FILTER (WHERE status = 'PENDING'), 'processing', count(*) FILTER (WHERE status = 'PROCESSING'),
	'failed', count(*) FILTER (WHERE status = 'FAILED'), 'completed', count(*) FILTER (WHERE status = 'COMPLETED'),
	'total', count(*)) FROM invoiceflow.ingestions}), 't', 'stats() exact after restore');
is($node->safe_psql('restored', q{SELECT count(*) FROM invoiceflow.ingestions WHERE status = 'COMPLETED'}), 5, 'five completed');
# the restored database works: the API, the state machine and the keys
my $id = $node->safe_psql('restored', q{SELECT id FROM invoiceflow.ingestions WHERE status = 'FAILED' LIMIT 1});
$node->safe_psql('restored', "SELECT invoiceflow.retry('$id')");
is($node->safe_psql('restored', "SELECT invoiceflow.status('$id')->>'status'"), 'PENDING', 'retry works after restore');
is($node->safe_psql('restored', q{SELECT count(*) FROM invoiceflow.audit WHERE action = 'retry'}), 1,
	'... and is audited once (no id collision with the restored log)');
my ($ret, $out, $err) = $node->psql('restored',
	q{UPDATE invoiceflow.ingestions SET status = 'PENDING' WHERE status = 'COMPLETED'});
like($err, qr/invalid status transition from COMPLETED to PENDING/, 'state machine enforced after restore');

$node->stop;
done_testing();
