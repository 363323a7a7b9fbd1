-- Issue 11 items 3 and 4 in SQL: metrics() (shape, counters kept by the
-- outbox triggers, extraction outcomes, cost independent of the table sizes,
-- the reader role) and the trace context kept with each ingestion.
\set VERBOSITY terse
SET invoiceflow.dedup = off;
-- shape
SELECT jsonb_object_keys(invoiceflow.metrics()) AS key ORDER BY 1;
SELECT jsonb_object_keys(invoiceflow.metrics() -> 'sinks') AS sink ORDER BY 1;
SELECT jsonb_object_keys(invoiceflow.metrics() -> 'sinks' -> 's3') AS sink_key ORDER BY 1;
SELECT jsonb_object_keys(invoiceflow.metrics() -> 'extractions') AS extraction_key ORDER BY 1;
SELECT m -> 'sinks' -> 'webhook' -> 'breaker' AS webhook_breaker,
       m -> 'sinks' -> 's3' ->> 'breaker' AS s3_breaker,
       jsonb_array_length(m -> 'sinks' -> 's3' -> 'latency_seconds' -> 'buckets')
         = jsonb_array_length(m -> 'sinks' -> 's3' -> 'latency_seconds' -> 'le') + 1 AS buckets_and_inf
  FROM invoiceflow.metrics() m;
-- the reader role may call it; nobody else
CREATE ROLE regress_obs_reader IN ROLE invoiceflow_reader;
CREATE ROLE regress_obs_nobody;
SET ROLE regress_obs_reader;
SELECT invoiceflow.metrics() ? 'sinks' AS reader_can;
RESET ROLE;
SET ROLE regress_obs_nobody;
SELECT try('SELECT invoiceflow.metrics()') AS nobody_can;
RESET ROLE;

-- outbox depth, oldest age, delivered/failed/retried and latency from the triggers
CREATE TEMP TABLE m0 AS SELECT invoiceflow.metrics() AS m;
INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt, s3_key, created_at)
  SELECT gen_random_uuid(), 's3', 'put', 1, 'raw/x.pdf', now() - interval '2 seconds' FROM generate_series(1, 4);
SELECT (m -> 'sinks' -> 's3' ->> 'outbox_depth')::int - (SELECT (m -> 'sinks' -> 's3' ->> 'outbox_depth')::int FROM m0) AS depth_added,
       (m -> 'sinks' -> 's3' ->> 'oldest_age_seconds')::numeric >= 2 AS oldest_at_least_2s
  FROM invoiceflow.metrics() m;
WITH x AS (SELECT id FROM invoiceflow.outbox WHERE s3_key = 'raw/x.pdf' ORDER BY id LIMIT 2)
UPDATE invoiceflow.outbox o SET state = 'done', tries = tries + 1, done_at = now() FROM x WHERE o.id = x.id;
UPDATE invoiceflow.outbox SET tries = tries + 1
  WHERE id = (SELECT max(id) FROM invoiceflow.outbox WHERE s3_key = 'raw/x.pdf' AND state = 'pending');
UPDATE invoiceflow.outbox SET state = 'failed', tries = tries + 1
  WHERE id = (SELECT max(id) FROM invoiceflow.outbox WHERE s3_key = 'raw/x.pdf' AND state = 'pending');
-- a row that is not pending any more counts nothing
UPDATE invoiceflow.outbox SET tries = tries + 1 WHERE s3_key = 'raw/x.pdf' AND state = 'done';
WITH a AS (SELECT m -> 'sinks' -> 's3' AS s FROM invoiceflow.metrics() m),
     b AS (SELECT m -> 'sinks' -> 's3' AS s FROM m0)
SELECT (a.s ->> 'delivered_total')::int - (b.s ->> 'delivered_total')::int AS delivered,
       (a.s ->> 'failed_total')::int - (b.s ->> 'failed_total')::int AS failed,
       (a.s ->> 'retries_total')::int - (b.s ->> 'retries_total')::int AS retried,
       (a.s ->> 'outbox_depth')::int - (b.s ->> 'outbox_depth')::int AS depth_left,
       -- 2 s from commit to delivery: in the 2.5 s bucket, not in the 1 s one
       (a.s -> 'latency_seconds' -> 'buckets' ->> 8)::int - (b.s -> 'latency_seconds' -> 'buckets' ->> 8)::int AS le_2_5,
       (a.s -> 'latency_seconds' -> 'buckets' ->> 7)::int - (b.s -> 'latency_seconds' -> 'buckets' ->> 7)::int AS le_1,
       a.s -> 'latency_seconds' -> 'le' ->> 8 AS bound_8,
       ((a.s -> 'latency_seconds' ->> 'sum')::numeric - (b.s -> 'latency_seconds' ->> 'sum')::numeric) BETWEEN 4 AND 5 AS sum_about_4s,
       (a.s -> 'latency_seconds' ->> 'count')::int = (a.s ->> 'delivered_total')::int AS count_is_delivered
  FROM a, b;
-- the webhook sink's rows count under "webhook"
INSERT INTO invoiceflow.webhook_subscriptions (id, url, events, secret)
  VALUES ('00000000-0000-0000-0000-0000000000aa', 'https://example.test/hook', '{invoice.uploaded}', 'whsec_x');
INSERT INTO invoiceflow.webhook_deliveries (subscription_id, ingestion_id, event, webhook_id, payload)
  VALUES ('00000000-0000-0000-0000-0000000000aa', gen_random_uuid(), 'invoice.uploaded', 'msg_x', '{}');
SELECT (m -> 'sinks' -> 'webhook' ->> 'outbox_depth')::int - (SELECT (m -> 'sinks' -> 'webhook' ->> 'outbox_depth')::int FROM m0) AS webhook_depth,
       m -> 'sinks' -> 'webhook' -> 'configured' AS webhook_configured
  FROM invoiceflow.metrics() m;
UPDATE invoiceflow.webhook_deliveries SET state = 'done', done_at = now() WHERE webhook_id = 'msg_x';
SELECT (m -> 'sinks' -> 'webhook' ->> 'delivered_total')::int
         - (SELECT (m -> 'sinks' -> 'webhook' ->> 'delivered_total')::int FROM m0) AS webhook_delivered
  FROM invoiceflow.metrics() m;
DELETE FROM invoiceflow.webhook_subscriptions WHERE id = '00000000-0000-0000-0000-0000000000aa';
DELETE FROM invoiceflow.outbox WHERE s3_key = 'raw/x.pdf';

-- extraction outcomes: by extracted_from, needs_review; a purge takes them back
SELECT request_id AS e1 FROM invoiceflow.ingest('obs1.pdf', test_pdf('obs1')) \gset
SELECT request_id AS e2 FROM invoiceflow.ingest('obs2.pdf', test_pdf('obs2')) \gset
SELECT invoiceflow.claim(:'e1', 'w') AS l1 \gset
SELECT invoiceflow.claim(:'e2', 'w') AS l2 \gset
SELECT invoiceflow.complete(:'e1', :'l1', '{"invoice": {"source": "ocr", "needs_review": true}}');
SELECT invoiceflow.complete(:'e2', :'l2', '{"invoice": {"source": "xml", "needs_review": false}}');
WITH a AS (SELECT m -> 'extractions' AS e FROM invoiceflow.metrics() m), b AS (SELECT m -> 'extractions' AS e FROM m0)
SELECT (a.e ->> 'total')::int - (b.e ->> 'total')::int AS total,
       (a.e ->> 'needs_review')::int - (b.e ->> 'needs_review')::int AS needs_review,
       (a.e -> 'by_extracted_from' ->> 'ocr')::int - (b.e -> 'by_extracted_from' ->> 'ocr')::int AS ocr,
       (a.e -> 'by_extracted_from' ->> 'xml')::int - (b.e -> 'by_extracted_from' ->> 'xml')::int AS xml
  FROM a, b;
SELECT (SELECT sum(n) FROM invoiceflow.extraction_counters) = (SELECT count(*) FROM invoiceflow.extractions) AS counters_match_rows;
SELECT invoiceflow.purge(:'e1');
SELECT (SELECT sum(n) FROM invoiceflow.extraction_counters) = (SELECT count(*) FROM invoiceflow.extractions) AS counters_match_after_purge;
-- an expired lease shows
SELECT request_id AS e3 FROM invoiceflow.ingest('obs3.pdf', test_pdf('obs3')) \gset
SELECT invoiceflow.claim(:'e3', 'w') IS NOT NULL AS claimed;
UPDATE invoiceflow.ingestions SET lease_expires_at = now() - interval '1 minute' WHERE id = :'e3';
SELECT (invoiceflow.metrics() ->> 'expired_leases')::int >= 1 AS expired_lease_seen,
       (invoiceflow.metrics() -> 'ingestions' ->> 'processing')::int >= 1 AS processing_seen;

-- cheap: 20000 delivered outbox rows and 5000 ingestions are not read
INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt, s3_key, state, done_at)
  SELECT gen_random_uuid(), 's3', 'put', 1, 'raw/cheap.pdf', 'done', now() FROM generate_series(1, 20000);
INSERT INTO invoiceflow.ingestions (filename, s3_key, size_bytes, sha256, status)
  SELECT 'c.pdf', 'raw/cheap-' || g || '.pdf', 1, sha256(g::text::bytea), 'FAILED' FROM generate_series(1, 5000) g;
ANALYZE invoiceflow.outbox;
ANALYZE invoiceflow.ingestions;
SELECT pg_stat_force_next_flush();
BEGIN;
SELECT invoiceflow.metrics() ? 'sinks' AS ok;
SELECT relname, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) < 100 AS reads_few_rows
  FROM pg_stat_xact_user_tables WHERE schemaname = 'invoiceflow'
   AND relname IN ('outbox', 'ingestions', 'extractions', 'webhook_deliveries') ORDER BY 1;
COMMIT;
DELETE FROM invoiceflow.outbox WHERE s3_key = 'raw/cheap.pdf';
DELETE FROM invoiceflow.ingestions WHERE s3_key LIKE 'raw/cheap-%';

-- trace context: the caller's, a generated one, a malformed one refused (22023)
SELECT request_id AS t1 FROM invoiceflow.ingest('trace1.pdf', test_pdf('trace1'), 'upload', NULL,
  '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01') \gset
SELECT invoiceflow.traceparent(:'t1') AS given;
SELECT request_id AS t2 FROM invoiceflow.ingest('trace2.pdf', test_pdf('trace2')) \gset
SELECT invoiceflow._traceparent_valid(invoiceflow.traceparent(:'t2')) AS generated_valid,
       invoiceflow.traceparent(:'t2') <> invoiceflow.traceparent(:'t1') AS generated_differs;
SELECT try($q$SELECT invoiceflow.ingest('t3.pdf', test_pdf('t3'), 'upload', NULL, '00-00000000000000000000000000000000-00f067aa0ba902b7-01')$q$) AS zero_trace;
SELECT try($q$SELECT invoiceflow.ingest('t3.pdf', test_pdf('t3'), 'upload', NULL, '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')$q$) AS version_01;
SELECT try($q$SELECT invoiceflow.ingest('t3.pdf', test_pdf('t3'), 'upload', NULL, '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01')$q$) AS upper_case;
SELECT try($q$SELECT invoiceflow.ingest('t3.pdf', test_pdf('t3'), 'upload', NULL, '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01')$q$) AS zero_parent;
SELECT count(*) AS refused_wrote_nothing FROM invoiceflow.ingestions WHERE filename = 't3.pdf';
-- the session setting: checked when set, used by the 4-argument ingest(), restored after the 5-argument one
SELECT try($q$SET invoiceflow.traceparent = 'nonsense'$q$) AS bad_setting;
SET invoiceflow.traceparent = '00-11111111111111111111111111111111-2222222222222222-00';
SELECT request_id AS t4 FROM invoiceflow.ingest('trace4.pdf', test_pdf('trace4')) \gset
SELECT invoiceflow.traceparent(:'t4') AS from_setting;
SELECT request_id AS t5 FROM invoiceflow.ingest('trace5.pdf', test_pdf('trace5'), 'upload', NULL,
  '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01') \gset
SHOW invoiceflow.traceparent;
RESET invoiceflow.traceparent;
DROP ROLE regress_obs_reader, regress_obs_nobody;
RESET invoiceflow.dedup;
