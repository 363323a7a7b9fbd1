-- Issue 9, downloads with bounded memory: file_size() and file_slice() read a stored
-- file a slice at a time (the gateway streams GET /api/v1/invoices/{id}/file so).
\set VERBOSITY terse
SET invoiceflow.dedup = off;
SELECT request_id AS did FROM invoiceflow.ingest('slices.pdf', test_pdf('slices', 5000)) \gset
SELECT invoiceflow.file_size(:'did') = octet_length(test_pdf('slices', 5000)) AS size_is_the_files;
-- the slices put together are the file
SELECT (SELECT string_agg(invoiceflow.file_slice(:'did', o, 1000), ''::bytea ORDER BY o)
          FROM generate_series(0, invoiceflow.file_size(:'did') - 1, 1000) o) = invoiceflow.file(:'did') AS slices_of_1000;
SELECT invoiceflow.file_slice(:'did', 0, 16777216) = invoiceflow.file(:'did') AS one_slice;
-- at the end: fewer bytes, then none
SELECT octet_length(invoiceflow.file_slice(:'did', invoiceflow.file_size(:'did') - 3, 10)) AS last_3,
       octet_length(invoiceflow.file_slice(:'did', invoiceflow.file_size(:'did'), 10)) AS past_the_end;
-- not in PostgreSQL (unknown, purged or moved to S3): NULL
SELECT invoiceflow.file_size(gen_random_uuid()) IS NULL AS size_unknown,
       invoiceflow.file_slice(gen_random_uuid(), 0, 10) IS NULL AS slice_unknown;
-- bad input: 22023, with a message for the caller
SELECT invoiceflow.file_slice(:'did', -1, 10);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT invoiceflow.file_slice(:'did', NULL, 10);
SELECT invoiceflow.file_slice(:'did', 1073741825, 10);
SELECT invoiceflow.file_slice(:'did', 0, 0);
SELECT :'LAST_ERROR_SQLSTATE' AS sqlstate;
SELECT invoiceflow.file_slice(:'did', 0, 16777217);
-- the gateway and the worker may call them, a reader may not
SET ROLE invoiceflow_gateway;
SELECT invoiceflow.file_size(:'did') > 0 AS gateway_size, octet_length(invoiceflow.file_slice(:'did', 0, 4)) AS gateway_slice;
RESET ROLE;
SET ROLE invoiceflow_worker;
SELECT octet_length(invoiceflow.file_slice(:'did', 0, 4)) AS worker_slice;
RESET ROLE;
SET ROLE invoiceflow_reader;
SELECT invoiceflow.file_slice(:'did', 0, 4);
RESET ROLE;
SELECT invoiceflow.purge(:'did') AS purged;
SELECT invoiceflow.file_size(:'did') IS NULL AS size_after_purge;
