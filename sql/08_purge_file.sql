-- purge() removes the ingestion, its bytes and its extraction; file() serves the bytes.
SELECT request_id AS pid FROM invoiceflow.ingest('purge-me.pdf', test_pdf('purge')) \gset
SELECT lease AS plid FROM invoiceflow.claim(:'pid', 'p') AS lease \gset
SELECT invoiceflow.complete(:'pid', :'plid', '{"invoice": {"invoice_number": "P-1"}, "text": "purge me"}');
SELECT octet_length(invoiceflow.file(:'pid')) = octet_length(test_pdf('purge')) AS file_kept;
SELECT (SELECT count(*) FROM invoiceflow.ingestions WHERE id = :'pid') AS ingestions,
       (SELECT count(*) FROM invoiceflow.ingestion_files WHERE ingestion_id = :'pid') AS files,
       (SELECT count(*) FROM invoiceflow.extractions WHERE ingestion_id = :'pid') AS extractions;
SELECT invoiceflow.purge(:'pid') AS purged;
SELECT (SELECT count(*) FROM invoiceflow.ingestions WHERE id = :'pid') AS ingestions,
       (SELECT count(*) FROM invoiceflow.ingestion_files WHERE ingestion_id = :'pid') AS files,
       (SELECT count(*) FROM invoiceflow.extractions WHERE ingestion_id = :'pid') AS extractions;
SELECT invoiceflow.purge(:'pid') AS purged_again;
SELECT invoiceflow.status(:'pid') IS NULL AS status_gone, invoiceflow.file(:'pid') IS NULL AS file_gone;
-- the same content can be ingested again after a purge
SELECT duplicate FROM invoiceflow.ingest('purge-me.pdf', test_pdf('purge'));
SELECT invoiceflow.stats() = counts() AS stats_exact;
