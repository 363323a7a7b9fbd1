-- Webhooks (0.6, issue 13): senders and secrets, the replay store, metadata in
-- status() and search(), subscriptions, and the webhook sink's outbox rows,
-- written in the transaction of each change. Deliveries themselves are tested
-- by t/601_webhooks_outbound.pl, the gateway's signature checks by t/600.
\set VERBOSITY terse
SET invoiceflow.dedup = off;
-- senders: whsec_ + base64 of 32 random bytes; rotation keeps the previous one 24 hours
SELECT invoiceflow.create_webhook_sender('scanco') AS s1 \gset
SELECT :'s1' ~ '^whsec_[A-Za-z0-9+/]{43}=$' AS secret_format, length(decode(substr(:'s1', 7), 'base64')) AS key_bytes;
SELECT try($$SELECT invoiceflow.create_webhook_sender('scanco')$$) AS same_name;
SELECT try($$SELECT invoiceflow.create_webhook_sender('bad name')$$) AS bad_name;
SELECT try($$SELECT invoiceflow.create_webhook_sender(NULL)$$) AS null_name;
SELECT array_agg(s = :'s1') AS current_only FROM invoiceflow._webhook_sender_secrets('scanco') s;
SELECT invoiceflow.rotate_webhook_secret('scanco') AS s2 \gset
SELECT :'s2' <> :'s1' AS new_secret,
       (SELECT array_agg(s ORDER BY s = :'s2' DESC) = ARRAY[:'s2', :'s1'] FROM invoiceflow._webhook_sender_secrets('scanco') s) AS both_valid;
SELECT previous_valid_until IS NOT NULL AS previous_listed, revoked_at IS NULL AS active FROM invoiceflow.webhook_senders();
SELECT try($$SELECT invoiceflow.rotate_webhook_secret('nobody')$$) AS rotate_unknown;
-- the replay store: a repeated webhook-id gets the first answer, whatever the body
SELECT request_id AS w1, status, duplicate FROM invoiceflow._webhook_ingest('scanco', 'msg_1', 'in.pdf',
       test_pdf('webhook one'), '{"order": "PO-7"}') \gset
SELECT :'status' AS status, :'duplicate' AS duplicate;
SELECT request_id = :'w1' AS same_request, status, duplicate
  FROM invoiceflow._webhook_ingest('scanco', 'msg_1', 'other.pdf', test_pdf('other body'));
SELECT count(*) AS ingestions FROM invoiceflow.ingestions WHERE source = 'webhook';
-- bad input writes nothing (22023)
SELECT try($$SELECT invoiceflow._webhook_ingest('scanco', 'msg_2', 'x.pdf', test_pdf('x'), '[1, 2]')$$) AS metadata_not_object;
SELECT try($$SELECT invoiceflow._webhook_ingest('scanco', 'msg_3', 'x.pdf', test_pdf('x'),
       jsonb_build_object('big', repeat('x', 17000)))$$) AS metadata_too_big;
SELECT try($$SELECT invoiceflow._webhook_ingest('scanco', 'msg_4', 'x.pdf', 'not a pdf')$$) AS not_pdf;
SELECT try($$SELECT invoiceflow._webhook_ingest('nobody', 'msg_5', 'x.pdf', test_pdf('x'))$$) AS unknown_sender;
SELECT count(*) AS ingestions, (SELECT count(*) FROM invoiceflow.webhook_receipts) AS receipts
  FROM invoiceflow.ingestions WHERE source = 'webhook';
-- status() and search() carry the sender and the metadata
SELECT invoiceflow.status(:'w1') -> 'webhook' AS webhook, invoiceflow.status(:'w1') ->> 'source' AS source;
SELECT request_id AS u1 FROM invoiceflow.ingest('upload.pdf', test_pdf('an upload')) \gset
SELECT invoiceflow.status(:'u1') ? 'webhook' AS upload_has_webhook;
SELECT jsonb_path_query_array(invoiceflow.search(sender => 'scanco'), '$.items[*].webhook') AS by_sender;
SELECT jsonb_array_length(invoiceflow.search(sender => 'other') -> 'items') AS other_sender,
       jsonb_array_length(invoiceflow.search(source => 'webhook') -> 'items') AS source_webhook,
       invoiceflow.search(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'upload')
         = invoiceflow.search(source => 'upload') AS old_positional_form;
SELECT try($$SELECT invoiceflow.search(sender => 'not a name')$$) AS bad_sender;
-- revoked: no secret left, no ingest
SELECT invoiceflow.revoke_webhook_sender('scanco') AS revoked, invoiceflow.revoke_webhook_sender('scanco') AS again;
SELECT count(*) AS secrets_left FROM invoiceflow._webhook_sender_secrets('scanco');
SELECT try($$SELECT invoiceflow._webhook_ingest('scanco', 'msg_6', 'x.pdf', test_pdf('after revoke'))$$) AS after_revoke;
-- subscriptions: http(s) only, known events; one outbox row per subscription and event
SELECT try($$SELECT invoiceflow.create_subscription('ftp://example.com/x')$$) AS ftp;
SELECT try($$SELECT invoiceflow.create_subscription('https://user:pw@example.com/x')$$) AS credentials;
SELECT try($$SELECT invoiceflow.create_subscription('https://example.com/x', '{invoice.eaten}')$$) AS unknown_event;
SELECT try($$SELECT invoiceflow.create_subscription('https://example.com/x', '{}')$$) AS no_event;
SELECT id AS sub1, secret AS sub1_secret FROM invoiceflow.create_subscription('https://hooks.example.com/a') \gset
SELECT id AS sub2 FROM invoiceflow.create_subscription('http://hooks.example.com/b', '{invoice.uploaded,invoice.completed}') \gset
SELECT url, events, active, pending FROM invoiceflow.subscriptions() ORDER BY url;
SELECT request_id AS e1 FROM invoiceflow.ingest('events.pdf', test_pdf('events')) \gset
SELECT lease AS l1 FROM invoiceflow.claim(:'e1', 'w') AS lease \gset
SELECT invoiceflow.complete(:'e1', :'l1', '{"invoice": {"invoice_number": "E-1"}, "text": ""}');
SELECT request_id AS e2 FROM invoiceflow.ingest('fails.pdf', test_pdf('fails')) \gset
SELECT lease AS l2 FROM invoiceflow.claim(:'e2', 'w') AS lease \gset
SELECT invoiceflow.fail(:'e2', :'l2', 'encrypted');
SELECT s.url, d.event, d.webhook_id = 'msg_' || d.ingestion_id || '_' || replace(d.event, 'invoice.', '') || '_1' AS stable_id,
       d.payload #>> '{data,status}' AS status, d.payload #>> '{data,error,message}' AS error
  FROM invoiceflow.webhook_deliveries d JOIN invoiceflow.webhook_subscriptions s ON s.id = d.subscription_id
  WHERE d.ingestion_id IN (:'e1', :'e2') ORDER BY s.url, d.id;
-- a rolled-back change writes no webhook row
BEGIN;
SELECT count(*) > 0 AS written FROM invoiceflow.ingest('rolled.pdf', test_pdf('rolled back'));
ROLLBACK;
SELECT count(*) AS rolled_back_rows FROM invoiceflow.webhook_deliveries d
  WHERE NOT EXISTS (SELECT 1 FROM invoiceflow.ingestions i WHERE i.id = d.ingestion_id);
-- the delivery log, and 410 Gone through the worker's record function
SELECT event, state, tries FROM invoiceflow.subscription_deliveries(:'sub2') ORDER BY id;
SELECT invoiceflow._webhook_record(min(id), 'gone', 410, 12, 'HTTP 410 Gone', 0)
  FROM invoiceflow.webhook_deliveries WHERE subscription_id = :'sub2';
SELECT active, disabled_reason ~ '410' AS says_410 FROM invoiceflow.subscriptions() WHERE id = :'sub2';
SELECT state, last_status, count(*) FROM invoiceflow.webhook_deliveries WHERE subscription_id = :'sub2' GROUP BY 1, 2 ORDER BY 1;
SELECT try($$SELECT * FROM invoiceflow.subscription_deliveries(gen_random_uuid(), 0)$$) AS bad_limit;
-- the log and the replay store keep webhook_retention_days (the worker prunes hourly)
UPDATE invoiceflow.webhook_deliveries SET done_at = now() - interval '31 days' WHERE subscription_id = :'sub2';
UPDATE invoiceflow.webhook_receipts SET received_at = now() - interval '31 days';
SELECT invoiceflow._webhook_prune(30) AS pruned;
SELECT state, count(*) AS kept FROM invoiceflow.webhook_deliveries GROUP BY 1 ORDER BY 1;
SELECT count(*) AS receipts_left FROM invoiceflow.webhook_receipts;
SELECT invoiceflow.delete_subscription(:'sub1') AS deleted, invoiceflow.delete_subscription(:'sub1') AS again;
-- privileges: admin only, the gateway its two functions and REST for admin keys
SELECT p.proname, array_agg(r.rolname ORDER BY r.rolname) AS may_execute
  FROM pg_proc p CROSS JOIN pg_roles r
  WHERE p.pronamespace = 'invoiceflow'::regnamespace AND r.rolname LIKE 'invoiceflow\_%'
    AND (p.proname LIKE '%webhook%' OR p.proname LIKE '%subscription%')
    AND has_function_privilege(r.oid, p.oid, 'EXECUTE') AND r.rolname <> 'invoiceflow_owner'
  GROUP BY p.proname ORDER BY 1;
SELECT has_table_privilege('invoiceflow_admin', 'invoiceflow.webhook_senders', 'SELECT') AS admin_reads_secrets;
