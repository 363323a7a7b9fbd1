-- Leases: claim_next, claim, extend, release, complete, fail, retry, expiry.
\set VERBOSITY terse
SELECT count(*) FILTER (WHERE invoiceflow.purge(id)) AS purged FROM invoiceflow.ingestions;
SET invoiceflow.dedup = off;
CREATE TEMP TABLE files AS
  SELECT (invoiceflow.ingest('l-' || g || '.pdf', test_pdf('lease' || g))).request_id AS id, g
  FROM generate_series(1, 5) g;
-- arguments
SELECT try($$SELECT * FROM invoiceflow.claim_next('', 1)$$) AS empty_worker;
SELECT try($$SELECT * FROM invoiceflow.claim_next('w', 0)$$) AS zero_max;
SELECT try($$SELECT * FROM invoiceflow.claim_next('w', 1001)$$) AS huge_max;
-- oldest first, up to max
CREATE TEMP TABLE c1 AS SELECT * FROM invoiceflow.claim_next('worker-a', 2);
SELECT f.g, c1.lease IS NOT NULL AS leased FROM c1 JOIN files f ON f.id = c1.request_id ORDER BY f.g;
SELECT status, lease_owner, lease_expires_at > now() + interval '299 seconds' AS lease_300s
  FROM invoiceflow.ingestions i JOIN c1 ON c1.request_id = i.id ORDER BY i.created_at;
-- a claimed file is not handed out again
SELECT count(*) AS overlap FROM invoiceflow.claim_next('worker-b', 10) n JOIN c1 USING (request_id);
SELECT status, count(*) FROM invoiceflow.ingestions GROUP BY status ORDER BY status;
-- give two back so the rest of the test has PENDING files
SELECT invoiceflow.release(i.id, i.lease) FROM invoiceflow.ingestions i
  WHERE i.lease_owner = 'worker-b' AND i.id IN (SELECT id FROM files WHERE g IN (4, 5));

-- claim(): one file by id; NULL when it is not PENDING
SELECT invoiceflow.claim((SELECT id FROM files WHERE g = 4), 'worker-c') AS lease4 \gset
SELECT :'lease4' <> '' AS claimed;
SELECT invoiceflow.claim((SELECT id FROM files WHERE g = 4), 'worker-d') IS NULL AS second_claim_null;
SELECT invoiceflow.claim('00000000-0000-0000-0000-000000000000', 'w') IS NULL AS unknown_null;

-- extend(): a current lease only
SELECT invoiceflow.extend((SELECT id FROM files WHERE g = 4), :'lease4') > now() AS extended;
SELECT try(format('SELECT invoiceflow.extend(%L, gen_random_uuid())', (SELECT id FROM files WHERE g = 4))) AS wrong_lease;

-- complete(): validation, stale leases, result stored
SELECT try(format($$SELECT invoiceflow.complete(%L, %L, '{"text": "x"}')$$, (SELECT id FROM files WHERE g = 4), :'lease4')) AS no_invoice;
SELECT try(format($$SELECT invoiceflow.complete(%L, %L, '[1]')$$, (SELECT id FROM files WHERE g = 4), :'lease4')) AS not_object;
SELECT try(format($$SELECT invoiceflow.complete(%L, %L, '{"invoice": {}, "text": 5}')$$, (SELECT id FROM files WHERE g = 4), :'lease4')) AS bad_text;
SELECT try(format($$SELECT invoiceflow.complete(%L, gen_random_uuid(), '{"invoice": {}}')$$, (SELECT id FROM files WHERE g = 4))) AS stale_complete;
SELECT invoiceflow.complete((SELECT id FROM files WHERE g = 4), :'lease4',
  '{"invoice": {"invoice_number": "RE-1", "totals": {"total": "119.00"}}, "text": "Invoice RE-1 total 119.00"}');
SELECT s->>'status' AS status, s->'invoice' AS invoice, s->'error' AS error
  FROM invoiceflow.status((SELECT id FROM files WHERE g = 4)) s;
SELECT text FROM invoiceflow.extractions WHERE ingestion_id = (SELECT id FROM files WHERE g = 4);
-- the same lease cannot complete or fail twice
SELECT try(format($$SELECT invoiceflow.complete(%L, %L, '{"invoice": {}}')$$, (SELECT id FROM files WHERE g = 4), :'lease4')) AS complete_twice;
SELECT try(format($$SELECT invoiceflow.fail(%L, %L, 'x')$$, (SELECT id FROM files WHERE g = 4), :'lease4')) AS fail_after_complete;

-- fail(): reason required; FAILED with a readable error
SELECT invoiceflow.claim((SELECT id FROM files WHERE g = 5), 'worker-c') AS lease5 \gset
SELECT try(format($$SELECT invoiceflow.fail(%L, %L, '  ')$$, (SELECT id FROM files WHERE g = 5), :'lease5')) AS empty_reason;
SELECT try(format($$SELECT invoiceflow.fail(%L, gen_random_uuid(), 'x')$$, (SELECT id FROM files WHERE g = 5))) AS stale_fail;
SELECT invoiceflow.fail((SELECT id FROM files WHERE g = 5), :'lease5', 'encrypted PDF');
SELECT s->>'status' AS status, s->'error' AS error, s ? 'invoice' AS has_invoice
  FROM invoiceflow.status((SELECT id FROM files WHERE g = 5)) s;

-- retry(): FAILED -> PENDING with a new attempt; anything else is refused
SELECT invoiceflow.retry((SELECT id FROM files WHERE g = 5));
SELECT s->>'status' AS status, s->'attempts' AS attempts, s->'error' AS error
  FROM invoiceflow.status((SELECT id FROM files WHERE g = 5)) s;
SELECT try(format('SELECT invoiceflow.retry(%L)', (SELECT id FROM files WHERE g = 5))) AS retry_pending;
SELECT try(format('SELECT invoiceflow.retry(%L)', (SELECT id FROM files WHERE g = 4))) AS retry_completed;
SELECT try($$SELECT invoiceflow.retry('00000000-0000-0000-0000-000000000000')$$) AS retry_unknown;

-- release(): back to PENDING, new attempt; the old lease is dead
SELECT invoiceflow.claim((SELECT id FROM files WHERE g = 5), 'worker-e') AS lease5b \gset
SELECT invoiceflow.release((SELECT id FROM files WHERE g = 5), :'lease5b');
SELECT status, attempt FROM invoiceflow.ingestions WHERE id = (SELECT id FROM files WHERE g = 5);
SELECT try(format('SELECT invoiceflow.release(%L, %L)', (SELECT id FROM files WHERE g = 5), :'lease5b')) AS release_twice;

-- an expired lease returns the file to PENDING; the old lease can neither complete nor fail
SELECT invoiceflow.claim((SELECT id FROM files WHERE g = 5), 'worker-f') AS lease5c \gset
UPDATE invoiceflow.ingestions SET lease_expires_at = now() - interval '1 second'
  WHERE id = (SELECT id FROM files WHERE g = 5);
SELECT try(format($$SELECT invoiceflow.complete(%L, %L, '{"invoice": {}}')$$, (SELECT id FROM files WHERE g = 5), :'lease5c')) AS complete_expired;
SELECT try(format('SELECT invoiceflow.extend(%L, %L)', (SELECT id FROM files WHERE g = 5), :'lease5c')) AS extend_expired;
CREATE TEMP TABLE c2 AS SELECT * FROM invoiceflow.claim_next('worker-g', 10);
SELECT (SELECT id FROM files WHERE g = 5) IN (SELECT request_id FROM c2) AS reclaimed,
       (SELECT lease FROM c2 WHERE request_id = (SELECT id FROM files WHERE g = 5)) <> :'lease5c' AS new_lease;
SELECT attempt, lease_owner FROM invoiceflow.ingestions WHERE id = (SELECT id FROM files WHERE g = 5);
SELECT try(format($$SELECT invoiceflow.fail(%L, %L, 'late')$$, (SELECT id FROM files WHERE g = 5), :'lease5c')) AS fail_expired;
-- claim() of an expired lease reclaims it too
UPDATE invoiceflow.ingestions SET lease_expires_at = now() - interval '1 second'
  WHERE id = (SELECT id FROM files WHERE g = 5);
SELECT invoiceflow.claim((SELECT id FROM files WHERE g = 5), 'worker-h') IS NOT NULL AS claimed_after_expiry;
-- lease_seconds
SET invoiceflow.lease_seconds = 60;
SELECT invoiceflow.extend((SELECT id FROM files WHERE g = 5), lease) < now() + interval '61 seconds' AS lease_60s
  FROM invoiceflow.ingestions WHERE id = (SELECT id FROM files WHERE g = 5);
RESET invoiceflow.lease_seconds;
SELECT invoiceflow.stats() = counts() AS stats_exact;
RESET invoiceflow.dedup;
