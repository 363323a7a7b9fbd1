-- ingest(), status(), file(), duplicates and idempotency.
SELECT request_id IS NOT NULL AS has_id, status, duplicate
  FROM invoiceflow.ingest('invoice-1.pdf', test_pdf('one')) \gset first_
SELECT r.request_id AS id1 FROM invoiceflow.ingestions i, LATERAL (SELECT i.id AS request_id) r
  WHERE i.filename = 'invoice-1.pdf' \gset
-- the status body: the seed's fields and invoiceflow's
SELECT jsonb_object_keys(invoiceflow.status(:'id1')) AS key ORDER BY 1;
SELECT s->>'filename' AS filename, s->>'status' AS status, s->>'s3_key' = 'raw/' || :'id1' || '.pdf' AS s3_key_ok,
       (s->>'size_bytes')::int = octet_length(test_pdf('one')) AS size_ok,
       s->>'sha256' = encode(sha256(test_pdf('one')), 'hex') AS sha_ok,
       s->>'source' AS source, s->'attempts' AS attempts, s->'error' AS error, s->'delivery' AS delivery,
       s->>'created_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS created_utc_iso,
       s->>'updated_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS updated_utc_iso,
       s ? 'invoice' AS has_invoice
  FROM invoiceflow.status(:'id1') s;
SELECT invoiceflow.status('00000000-0000-0000-0000-000000000000') IS NULL AS unknown_is_null;
SELECT invoiceflow.file(:'id1') = test_pdf('one') AS file_roundtrip;
SELECT invoiceflow.file('00000000-0000-0000-0000-000000000000') IS NULL AS unknown_file_is_null;
-- bytes are stored uncompressed and out of line
SELECT attstorage FROM pg_attribute WHERE attrelid = 'invoiceflow.ingestion_files'::regclass AND attname = 'content';

-- same content while dedup is on: the first request, duplicate = true
SELECT request_id = :'id1' AS same_request, status, duplicate
  FROM invoiceflow.ingest('copy-of-invoice-1.pdf', test_pdf('one'), 'email');
-- dedup off (superuser only): a new request
SET invoiceflow.dedup = off;
SELECT request_id <> :'id1' AS new_request, status, duplicate
  FROM invoiceflow.ingest('copy-2.pdf', test_pdf('one'));
RESET invoiceflow.dedup;
-- a FAILED request is not returned for the same content
UPDATE invoiceflow.ingestions SET status = 'FAILED', error_kind = 'processing', error_message = 'test'
  WHERE sha256 = sha256(test_pdf('one'));
SELECT request_id <> :'id1' AS new_request, status, duplicate
  FROM invoiceflow.ingest('again.pdf', test_pdf('one'));

-- idempotency keys
SELECT request_id AS kid FROM invoiceflow.ingest('k.pdf', test_pdf('key'), 'webhook', 'key-123') \gset
SELECT request_id = :'kid' AS same_request, duplicate
  FROM invoiceflow.ingest('k-again.pdf', test_pdf('key'), 'webhook', 'key-123');
SELECT try($$SELECT invoiceflow.ingest('k-other.pdf', test_pdf('other content'), 'webhook', 'key-123')$$) AS key_reused;
SELECT count(*) AS rows_for_key FROM invoiceflow.ingestions WHERE idempotency_key = 'key-123';
-- a key with other content writes nothing: still only the one row with that key
SELECT count(*) AS files_with_other_content FROM invoiceflow.ingestion_files WHERE content = test_pdf('other content');
-- the same key with dedup off still returns the first request
SET invoiceflow.dedup = off;
SELECT request_id = :'kid' AS same_request, duplicate
  FROM invoiceflow.ingest('k-3.pdf', test_pdf('key'), 'webhook', 'key-123');
RESET invoiceflow.dedup;
SELECT source, count(*) FROM invoiceflow.ingestions GROUP BY source ORDER BY source;
SELECT invoiceflow.stats() = counts() AS stats_exact;
