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
RESET invoiceflow.dedup;
