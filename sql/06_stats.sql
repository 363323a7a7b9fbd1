-- stats() is exact, and reads a fixed number of counter rows whatever the table size.
SELECT invoiceflow.stats() = counts() AS stats_exact;
SET invoiceflow.dedup = off;
SELECT count(*) FROM (SELECT invoiceflow.ingest('s.pdf', test_pdf('stats' || g)) FROM generate_series(1, 50) g) s;
SELECT count(*) FROM invoiceflow.claim_next('stats-worker', 20);
SELECT count(*) FROM (SELECT invoiceflow.complete(id, lease, '{"invoice": {}}') FROM invoiceflow.ingestions
  WHERE lease_owner = 'stats-worker' ORDER BY created_at LIMIT 10) s;
SELECT count(*) FROM (SELECT invoiceflow.fail(id, lease, 'bad') FROM invoiceflow.ingestions
  WHERE lease_owner = 'stats-worker' ORDER BY created_at LIMIT 5) s;
SELECT invoiceflow.stats() = counts() AS stats_exact, invoiceflow.stats() - 'total' = counts() - 'total' AS by_status;
-- deletes (purge) are counted too
SELECT count(*) FROM (SELECT invoiceflow.purge(id) FROM invoiceflow.ingestions ORDER BY created_at LIMIT 7) s;
SELECT invoiceflow.stats() = counts() AS stats_exact;
-- a rolled-back ingest changes nothing
BEGIN;
SELECT count(*) FROM invoiceflow.ingest('rolled-back.pdf', test_pdf('rollback'));
ROLLBACK;
SELECT invoiceflow.stats() = counts() AS stats_exact;
-- a fixed number of counter rows, not one per ingestion
SELECT count(*) AS counter_rows FROM invoiceflow.stats_counters;
RESET invoiceflow.dedup;
