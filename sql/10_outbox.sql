-- 0.2: the outbox, its triggers and the C-backed health() (embedded mode here:
-- no sink is configured in the regression cluster; deliveries to real servers
-- are tested by t/101_delivery.pl and t/102_errors_outages.pl).
\set VERBOSITY terse
-- the outbox and its sequence are dumped with the data
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'invoiceflow' ORDER BY 1::text;
SELECT relpersistence AS outbox_is_logged FROM pg_class WHERE oid = 'invoiceflow.outbox'::regclass;
-- statement-level triggers write it, beside the counters
SELECT tgname, pg_get_triggerdef(oid) ~ 'FOR EACH STATEMENT' AS per_statement
  FROM pg_trigger WHERE tgrelid = 'invoiceflow.ingestions'::regclass AND tgname LIKE '%outbox%' ORDER BY 1;
-- embedded mode: no sink, no outbox rows, delivery {} in status()
SELECT invoiceflow._outbox_sinks() AS sinks;
SET invoiceflow.dedup = off;
SELECT request_id AS oid1 FROM invoiceflow.ingest('outbox-1.pdf', test_pdf('outbox one')) \gset
SELECT count(*) AS outbox_rows FROM invoiceflow.outbox;
SELECT invoiceflow.status(:'oid1')->'delivery' AS delivery;
SELECT lease AS ol FROM invoiceflow.claim(:'oid1', 'w') AS lease \gset
SELECT invoiceflow.release(:'oid1', :'ol');
SELECT invoiceflow.purge(:'oid1');
SELECT count(*) AS outbox_rows FROM invoiceflow.outbox;
-- the back-fill writes nothing while no sink is configured
SELECT invoiceflow._outbox_backfill(10) AS backfilled;
-- health(): C-backed (_health_core(), with the mail dependency added in SQL), every external dependency disabled, the service healthy
SELECT invoiceflow.health();
SELECT p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') AS health_in_c, p.provolatile, p.prosecdef
  FROM pg_proc p WHERE p.oid = 'invoiceflow._health_core()'::regprocedure;
SELECT dependency, state FROM invoiceflow._breakers() ORDER BY 1;
-- the outbox's CHECKs: a publish needs an event and goes to RabbitMQ only
SELECT try($$INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt) VALUES (gen_random_uuid(), 'rabbitmq', 'publish', 1)$$) AS publish_without_event;
SELECT try($$INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, event, attempt) VALUES (gen_random_uuid(), 's3', 'publish', 'invoice.uploaded', 1)$$) AS publish_to_s3;
SELECT try($$INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt) VALUES (gen_random_uuid(), 'elasticsearch', 'put', 1)$$) AS unknown_sink;
-- OpenSearch rows index or delete; only they index
SELECT try($$INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt) VALUES (gen_random_uuid(), 'opensearch', 'put', 1)$$) AS opensearch_put;
SELECT try($$INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt) VALUES (gen_random_uuid(), 's3', 'index', 1)$$) AS s3_index;
-- OpenSearch off: no OpenSearch rows, and nothing to back-fill
SELECT invoiceflow._outbox_backfill_opensearch(10) AS backfilled;
-- _wake_at_commit() is harmless outside a worker's view
SELECT invoiceflow._wake_at_commit();
-- no role but the owner has rights on the outbox
SELECT count(*) AS grants FROM information_schema.role_table_grants
  WHERE table_schema = 'invoiceflow' AND table_name = 'outbox' AND grantee <> 'invoiceflow_owner';
-- 0.7: the worker's claim and batch record, by hand (in one transaction, rolled
-- back): each file's invoice.uploaded waits for its PUT; one call records a
-- batch with the per-row rules: a done PUT drops the bytes and frees its event,
-- a permanent PUT failure fails the ingestion and cancels its event
BEGIN;
SELECT request_id AS bid FROM invoiceflow.ingest('outbox-batch.pdf', test_pdf('outbox batch')) \gset
SELECT request_id AS fid FROM invoiceflow.ingest('outbox-fail.pdf', test_pdf('outbox fail')) \gset
INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, event, attempt, s3_key) VALUES
  (:'bid', 's3', 'put', NULL, 1, 'raw/b.pdf'), (:'bid', 'rabbitmq', 'publish', 'invoice.uploaded', 1, NULL),
  (:'fid', 's3', 'put', NULL, 1, 'raw/f.pdf'), (:'fid', 'rabbitmq', 'publish', 'invoice.uploaded', 1, NULL);
SELECT count(*) AS events_claimable_before_puts FROM invoiceflow._outbox_claim('w', '{rabbitmq}', 10, 60);
SELECT array_agg(id ORDER BY id) AS puts FROM invoiceflow._outbox_claim('w', '{s3}', 10, 60) \gset
SELECT try(format('SELECT invoiceflow._outbox_record_batch(%L, %L, %L, %L, %L)', :'puts',
  '{done}', '{NULL,NULL}', '{1,1}', '{t,t}')) AS unequal_arrays;
SELECT try(format('SELECT invoiceflow._outbox_record_batch(%L, %L, %L, %L, %L)', :'puts',
  '{done,lost}', '{NULL,NULL}', '{1,1}', '{t,t}')) AS unknown_outcome;
SELECT count(*) AS unchanged FROM invoiceflow.outbox WHERE id = ANY (:'puts') AND state = 'pending' AND tries = 0;
SELECT invoiceflow._outbox_record_batch(:'puts', '{done,failed}', '{NULL,"S3 upload failed permanently: HTTP 404 NoSuchBucket"}',
  '{1,1}', '{t,t}');
SELECT i.filename, i.status, i.error_message, o.sink, o.state, o.tries, o.claimed_by,
       EXISTS (SELECT 1 FROM invoiceflow.ingestion_files f WHERE f.ingestion_id = i.id) AS bytes_in_db
  FROM invoiceflow.outbox o JOIN invoiceflow.ingestions i ON i.id = o.ingestion_id
  WHERE i.id IN (:'bid', :'fid') ORDER BY o.id;
SELECT c.filename, c.sink, c.event, c.ingestion_exists FROM invoiceflow._outbox_claim('w', '{rabbitmq}', 10, 60) c;
-- a retry: one try used, due later, the claim ended
SELECT array_agg(id) AS ev FROM invoiceflow.outbox WHERE ingestion_id = :'bid' AND sink = 'rabbitmq' \gset
SELECT invoiceflow._outbox_record_batch(:'ev', '{retry}', '{"broker down"}', '{30}', '{f}');
SELECT state, tries, last_error, next_attempt_at - now() AS due_in, claimed_by FROM invoiceflow.outbox WHERE id = ANY (:'ev');
ROLLBACK;
-- the claim, next-due and record rules are plpgsql: their plans are cached per session
SELECT p.oid::regprocedure AS function, l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
  WHERE p.proname IN ('_outbox_claim', '_outbox_next_due', '_outbox_record', '_outbox_record_batch') ORDER BY 1::text;
RESET invoiceflow.dedup;
