-- Issue 14, review: correct() and approve() over the extraction, the effective
-- values in status() and search(), invoice.corrected in the outboxes, and the
-- append-only audit log with its reader; web sessions for the gateway's page.
\set VERBOSITY terse
-- from an empty database: the audit log and the review queue hold this test's rows only
DROP EXTENSION invoiceflow CASCADE;
CREATE EXTENSION invoiceflow;
SET invoiceflow.dedup = off;
SELECT request_id AS rid FROM invoiceflow.ingest('review.pdf', test_pdf('review', 3000)) \gset
SELECT request_id AS pending FROM invoiceflow.ingest('pending.pdf', test_pdf('pending', 3000)) \gset
SELECT invoiceflow.claim(:'rid', 'w1') AS lease \gset
SELECT invoiceflow.complete(:'rid', :'lease', '{"invoice": {"document_type": "invoice",
  "invoice_number": "R-2025-017", "issue_date": "2025-03-01", "currency": "EUR",
  "seller": {"name": "Acme GmbH", "vat_id": null, "address": null},
  "totals": {"net": "100.00", "tax": "19.00", "total": "191.00", "amount_due": "191.00"},
  "lines": [], "confidence": {"totals.total": 0.4}, "needs_review": true, "source": "text"},
  "text": "Rechnung R-2025-017 Acme GmbH Gesamt 191,00"}');
-- a subscription to invoice.corrected, to see the webhook sink's row
SELECT id AS sub FROM invoiceflow.create_subscription('http://hooks.example.com/r', '{invoice.corrected}') \gset

-- bad patches: 22023, nothing written
SELECT invoiceflow.correct(:'rid', '{"totals": {"total": 119}}', 'alice');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT invoiceflow.correct(:'rid', '{"totals": {"total": "1,19"}}', 'alice');
SELECT invoiceflow.correct(:'rid', '{"issue_date": "2025-02-30"}', 'alice');
SELECT invoiceflow.correct(:'rid', '{"currency": "EUX"}', 'alice');
SELECT invoiceflow.correct(:'rid', '{"needs_review": false}', 'alice');
SELECT invoiceflow.correct(:'rid', '{"seller": {"nick": "x"}}', 'alice');
SELECT invoiceflow.correct(:'rid', '{"lines": [{"description": "a", "price": "1"}]}', 'alice');
SELECT invoiceflow.correct(:'rid', '{"document_type": "receipt"}', 'alice');
SELECT invoiceflow.correct(:'rid', '[]', 'alice');
SELECT invoiceflow.correct(:'rid', '{}', 'alice');
SELECT invoiceflow.correct(:'rid', '{"invoice_number": "X"}', '');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
-- unknown id: P0002; not COMPLETED: IF001 (the messages name the id)
\set VERBOSITY sqlstate
SELECT invoiceflow.correct(gen_random_uuid(), '{"invoice_number": "X"}', 'alice');
SELECT invoiceflow.correct(:'pending', '{"invoice_number": "X"}', 'alice');
\set VERBOSITY terse
SELECT (SELECT count(*) FROM invoiceflow.corrections) AS corrections,
       (SELECT count(*) FROM invoiceflow.audit WHERE action = 'correct') AS audited;

-- a correction: the effective total, the extraction as it came, the history
SELECT s -> 'invoice' -> 'totals' ->> 'total' AS total, s -> 'invoice' -> 'seller' ->> 'name' AS seller,
       s -> 'invoice' ->> 'issue_date' AS issue_date, s -> 'invoice' ->> 'needs_review' AS needs_review,
       jsonb_path_query_array(s -> 'corrections', '$[*].field') AS fields,
       s -> 'corrections' -> 0 ->> 'old' AS old0, s -> 'corrections' -> 0 ->> 'new' AS new0,
       s -> 'corrections' -> 0 ->> 'actor' AS actor
  FROM invoiceflow.correct(:'rid', '{"totals": {"total": "119.00"}, "issue_date": "2025-03-02",
                                     "seller": {"name": "ACME GmbH"}}', 'alice') s;
SELECT e.invoice -> 'totals' ->> 'total' AS extracted_total FROM invoiceflow.extractions e WHERE e.ingestion_id = :'rid';
-- the same values again change nothing
SELECT jsonb_array_length(invoiceflow.correct(:'rid', '{"totals": {"total": "119.00"}}', 'bob') -> 'corrections') AS still;
-- a second correction of the same field keeps both in the history
SELECT s -> 'invoice' -> 'totals' ->> 'total' AS total,
       s -> 'corrections' -> -1 ->> 'old' AS old, s -> 'corrections' -> -1 ->> 'actor' AS actor
  FROM invoiceflow.correct(:'rid', '{"totals": {"total": "120.00"}, "lines": [{"description": "Work", "quantity": "1", "net_amount": "100.00"}]}', 'bob') s;
SELECT s -> 'invoice' -> 'lines' -> 0 ->> 'description' AS line, s ->> 'reviewed_by' AS reviewed_by
  FROM invoiceflow.status(:'rid') s;

-- search follows: the corrected total and seller, the index has the new words
SELECT i ->> 'total' AS total, i ->> 'seller' AS seller, i ->> 'needs_review' AS needs_review,
       jsonb_array_length(i -> 'review' -> 'corrections') AS corrections
  FROM jsonb_array_elements(invoiceflow.search(q => 'R-2025-017') -> 'items') i;
SELECT jsonb_array_length(invoiceflow.search(total_min => '120', total_max => '120') -> 'items') AS by_new_total,
       jsonb_array_length(invoiceflow.search(total_min => '191', total_max => '191') -> 'items') AS by_old_total;

-- approve: needs_review false, reviewed_by/at; the review queue no longer has it
SELECT s -> 'invoice' ->> 'needs_review' AS needs_review, s ->> 'reviewed_by' AS reviewed_by,
       s ->> 'reviewed_at' IS NOT NULL AS reviewed_at
  FROM invoiceflow.approve(:'rid', 'carol') s;
SELECT jsonb_array_length(invoiceflow.search(needs_review => 'true') -> 'items') AS to_review;
\set VERBOSITY sqlstate
SELECT invoiceflow.approve(:'pending', 'carol');
\set VERBOSITY terse

-- invoice.corrected: one webhook delivery per correction, each with its own id and body
SELECT webhook_id ~ '_corrected_[12]$' AS id_per_revision, payload -> 'data' ->> 'revision' AS revision,
       payload -> 'data' -> 'invoice' -> 'totals' ->> 'total' AS total, payload -> 'data' -> 'fields' AS fields
  FROM invoiceflow.webhook_deliveries WHERE event = 'invoice.corrected' ORDER BY id;

-- the audit log: uploads, corrections, approval; a purge, key changes, a retry
SELECT invoiceflow.create_api_key('reviewer', '{read,review}') IS NOT NULL AS key_made;
SELECT invoiceflow.revoke_api_key('reviewer');
SELECT invoiceflow.purge(:'pending');
SELECT request_id AS failing FROM invoiceflow.ingest('failing.pdf', test_pdf('failing', 3000)) \gset
SELECT invoiceflow.claim(:'failing', 'w1') AS flease \gset
SELECT invoiceflow.fail(:'failing', :'flease', 'broken');
SELECT invoiceflow.retry(:'failing');
SELECT action, actor = session_user AS actor_is_login, request_id = :'rid' AS this_one, detail ->> 'fields' AS fields
  FROM invoiceflow.audit ORDER BY id;
-- the actor the gateway names, through invoiceflow.actor
BEGIN;
SET LOCAL invoiceflow.actor = 'ci-uploader';
SELECT request_id AS named FROM invoiceflow.ingest('named.pdf', test_pdf('named', 3000)) \gset
COMMIT;
SELECT actor FROM invoiceflow.audit WHERE request_id = :'named';
-- append-only, for the owner too
SET ROLE invoiceflow_owner;
UPDATE invoiceflow.audit SET actor = 'mallory';
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
DELETE FROM invoiceflow.audit;
TRUNCATE invoiceflow.audit;
RESET ROLE;
SELECT count(*) > 0 AS kept, count(*) FILTER (WHERE actor = 'mallory') AS changed FROM invoiceflow.audit;
-- the reader: newest first, keyset pages
SELECT jsonb_array_length(a -> 'items') AS n, a -> 'items' -> 0 ->> 'action' AS newest, a ->> 'next_cursor' IS NOT NULL AS more
  FROM invoiceflow.audit_log(NULL, 3) a;
SELECT (SELECT array_agg(x ->> 'action' ORDER BY (x ->> 'id')::bigint DESC)
          FROM jsonb_array_elements(invoiceflow.audit_log((invoiceflow.audit_log(NULL, 3) ->> 'next_cursor'), 3) -> 'items') x)
     = (SELECT array_agg(action ORDER BY id DESC) FROM (SELECT * FROM invoiceflow.audit ORDER BY id DESC OFFSET 3 LIMIT 3) y)
     AS second_page;
SELECT jsonb_array_length(invoiceflow.audit_log(NULL, 50, :'rid') -> 'items') AS for_rid;
SELECT invoiceflow.audit_log('x1', 3);
SELECT invoiceflow.audit_log(NULL, 0);

-- privileges: the gateway and admins review and read the log; a reader does neither
SET ROLE invoiceflow_reader;
SELECT invoiceflow.approve(:'rid', 'eve');
SELECT invoiceflow.audit_log();
SELECT count(*) FROM invoiceflow.audit;
RESET ROLE;
SET ROLE invoiceflow_gateway;
SELECT jsonb_array_length(invoiceflow.audit_log() -> 'items') > 0 AS gateway_reads;
RESET ROLE;

-- sessions: a key for a session; revoked key, unknown or ended session: nothing
SELECT invoiceflow.create_api_key('web', '{read,review}') AS webkey \gset
SELECT token, csrf FROM invoiceflow._session_create(:'webkey') \gset
SELECT length(:'token') AS token_len, name, scopes FROM invoiceflow._session_check(:'token');
SELECT count(*) AS bad_key FROM invoiceflow._session_create('ifk_nope') WHERE token IS NOT NULL;
SELECT (SELECT csrf FROM invoiceflow._session_check(:'token')) = :'csrf' AS csrf_kept;
-- expiry: a session past its time is gone
UPDATE invoiceflow.web_sessions SET expires_at = now() - interval '1 second'
 WHERE token_hash = sha256(convert_to(:'token', 'UTF8'));
SELECT count(*) AS expired FROM invoiceflow._session_check(:'token');
SELECT token AS token2 FROM invoiceflow._session_create(:'webkey') \gset
SELECT invoiceflow._session_end(:'token2') AS ended;
SELECT count(*) AS after_end FROM invoiceflow._session_check(:'token2');
SELECT token AS token3 FROM invoiceflow._session_create(:'webkey') \gset
SELECT invoiceflow.revoke_api_key('web');
SELECT count(*) AS after_revoke FROM invoiceflow._session_check(:'token3');
SELECT count(*) AS stored_in_clear FROM invoiceflow.web_sessions WHERE token_hash = convert_to(:'token3', 'UTF8');
