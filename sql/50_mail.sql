-- Issue 12, the mail sidecar's SQL: mail_record() checks its input, computes the
-- outcome and keeps one row per message; the email metadata in status() and
-- search() (found by the sender's address); mail_messages() pages; health()'s
-- mail dependency; the invoiceflow_mail role's rights.
\set VERBOSITY terse
SET invoiceflow.dedup = off;
-- no sidecar ever reported
SELECT invoiceflow.health() -> 'dependencies' ->> 'mail' AS mail_before;
-- one message, two PDF parts (one refused), in one transaction as the sidecar does it
BEGIN;
SELECT request_id AS rid FROM invoiceflow.ingest('mailed.pdf', test_pdf('mailed'), 'email', 'email:k1') \gset
SELECT invoiceflow.mail_record('inv@mail.test:993/INBOX', 'mid:m1@x', 'm1@x', 'Billing@ACME.example', 'Rechnung März',
	'2026-11-29T09:00:00Z', jsonb_build_array(
		jsonb_build_object('part', '2', 'filename', 'mailed.pdf', 'size', 1, 'request_id', :'rid'),
		jsonb_build_object('part', '3', 'filename', 'bad.pdf', 'size', 1,
						   'error', jsonb_build_object('code', '22023', 'message', 'not a PDF')))) AS outcome;
COMMIT;
SELECT invoiceflow.status(:'rid') -> 'email' AS email;
-- the same message again: one row, seen twice
SELECT invoiceflow.mail_record('inv@mail.test:993/INBOX', 'mid:m1@x', 'm1@x', 'billing@acme.example', 'Rechnung März',
	'2026-11-29T09:00:00Z', jsonb_build_array(jsonb_build_object('part', '2', 'request_id', :'rid'))) AS outcome_again;
SELECT count(*) AS rows, max(times_seen) AS times_seen FROM invoiceflow.mail_messages;
-- a message without a PDF
SELECT invoiceflow.mail_record('inv@mail.test:993/INBOX', 'uid:7:1', NULL, 'x@y.example', 'hello', NULL, '[]') AS no_pdf;
-- search finds the invoice by its sender, or the sender's domain; items carry email
SELECT i -> 'email' ->> 'from' AS found_from, i ->> 'filename' AS filename
  FROM jsonb_array_elements(invoiceflow.search(q => 'billing@acme.example') -> 'items') i;
SELECT jsonb_array_length(invoiceflow.search(q => 'acme.example') -> 'items') AS by_domain,
       jsonb_array_length(invoiceflow.search(q => 'other@acme.example') -> 'items') AS other_sender;
-- complete() rebuilds the search document: the sender stays searchable
SELECT invoiceflow.claim(:'rid', 'w') AS lease \gset
SELECT invoiceflow.complete(:'rid', :'lease', '{"invoice": {"invoice_number": "M-1"}, "text": "Rechnung"}') IS NOT NULL AS completed;
SELECT jsonb_array_length(invoiceflow.search(q => 'billing@acme.example') -> 'items') AS after_complete;
-- listing: newest first, keyset pages, outcome filter
SELECT i ->> 'message_id' AS message_id, i ->> 'outcome' AS outcome, i ->> 'from' AS sender
  FROM jsonb_array_elements(invoiceflow.mail_messages() -> 'items') i;
SELECT invoiceflow.mail_messages("limit" => 1) ->> 'next_cursor' AS next_cursor \gset
SELECT jsonb_array_length(invoiceflow.mail_messages(cursor => :'next_cursor', "limit" => 1) -> 'items') AS page2,
       invoiceflow.mail_messages(cursor => :'next_cursor', "limit" => 1) -> 'next_cursor' AS page2_next;
SELECT jsonb_array_length(invoiceflow.mail_messages(outcome => 'no_invoice') -> 'items') AS no_invoice;
-- bad input: 22023, nothing written
SELECT invoiceflow.mail_messages(cursor => 'x');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT invoiceflow.mail_messages("limit" => 0);
SELECT invoiceflow.mail_messages(outcome => 'lost');
SELECT invoiceflow.mail_record('', 'k', NULL, NULL, NULL, NULL, '[]');
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT invoiceflow.mail_record('a', 'k', NULL, NULL, NULL, NULL, '{}');
SELECT invoiceflow.mail_record('a', 'k', NULL, NULL, NULL, NULL, '[{"part": "1"}]');
SELECT invoiceflow.mail_record('a', 'k', NULL, NULL, NULL, NULL, '[{"request_id": "nope"}]');
SELECT invoiceflow.mail_heartbeat('a', NULL);
SELECT count(*) AS rows_after_bad_input FROM invoiceflow.mail_messages;
-- health: healthy, then unhealthy with the reason (service degraded), then silent
SELECT invoiceflow.mail_heartbeat('inv@mail.test:993/INBOX', true) AS hb;
SELECT invoiceflow.health() -> 'dependencies' ->> 'mail' AS mail_ok, invoiceflow.health() ->> 'service' AS service;
SELECT invoiceflow.mail_heartbeat('inv@mail.test:993/INBOX', false, 'IMAP login denied') AS hb;
SELECT invoiceflow.health() -> 'dependencies' ->> 'mail' AS mail_failing, invoiceflow.health() -> 'mail' ->> 'reason' AS reason,
       invoiceflow.health() ->> 'service' AS service;
SELECT invoiceflow.mail_heartbeat('inv@mail.test:993/INBOX', true) AS hb;
UPDATE invoiceflow.mail_accounts SET checked_at = now() - interval '6 minutes';
SELECT invoiceflow.health() -> 'dependencies' ->> 'mail' AS mail_silent,
       invoiceflow.health() -> 'mail' ->> 'reason' LIKE '%no report from the mail sidecar since%' AS silent_reason;
SELECT m - 'seconds_since_last_success' AS metrics, (m ->> 'seconds_since_last_success')::numeric >= 0 AS since_ok
  FROM invoiceflow.mail_metrics() m;
-- the sidecar's role: ingest and record, nothing else
SET ROLE invoiceflow_mail;
SELECT invoiceflow.mail_record('r', 'mid:r', NULL, NULL, NULL, NULL, '[]') AS mail_role_records;
SELECT invoiceflow.status(:'rid');
SELECT invoiceflow.mail_messages();
SELECT count(*) FROM invoiceflow.mail_messages;
RESET ROLE;
SET ROLE invoiceflow_reader;
SELECT jsonb_array_length(invoiceflow.mail_messages() -> 'items') AS reader_lists;
SELECT invoiceflow.mail_record('r2', 'mid:r2', NULL, NULL, NULL, NULL, '[]');
RESET ROLE;
-- purge removes the ingestion's email metadata with it
SELECT invoiceflow.purge(:'rid') AS purged;
SELECT count(*) AS mail_ingestions_left FROM invoiceflow.mail_ingestions;
RESET invoiceflow.dedup;
