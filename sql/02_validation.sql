-- ingest() refuses bad input with SQLSTATE 22023 and a message for the user,
-- and writes nothing.
SELECT try($$SELECT invoiceflow.ingest('a.pdf', ''::bytea)$$) AS empty_file;
SELECT try($$SELECT invoiceflow.ingest('a.pdf', NULL)$$) AS null_file;
SELECT try($$SELECT invoiceflow.ingest('a.pdf', convert_to('hello, world', 'UTF8'))$$) AS not_a_pdf;
SELECT try($$SELECT invoiceflow.ingest('a.pdf', convert_to('PK' || repeat('z', 100), 'UTF8'))$$) AS zip_file;
-- truncated: the last bytes (with %%EOF) are missing
SELECT try($$SELECT invoiceflow.ingest('a.pdf', substring(test_pdf('t') from 1 for 60))$$) AS truncated;
-- no startxref in the trailer
SELECT try($$SELECT invoiceflow.ingest('a.pdf', convert_to(E'%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n', 'UTF8'))$$) AS no_startxref;
-- startxref without an offset
SELECT try($$SELECT invoiceflow.ingest('a.pdf', convert_to(E'%PDF-1.4\n1 0 obj\n<<>>\nendobj\nstartxref\n%%EOF\n', 'UTF8'))$$) AS no_offset;
-- startxref pointing at the middle of an object
SELECT try($$SELECT invoiceflow.ingest('a.pdf', convert_to(E'%PDF-1.4\n1 0 obj\n<<>>\nendobj\nstartxref\n12\n%%EOF\n', 'UTF8'))$$) AS bad_offset;
-- startxref beyond the end of the file
SELECT try($$SELECT invoiceflow.ingest('a.pdf', convert_to(E'%PDF-1.4\n1 0 obj\n<<>>\nendobj\nstartxref\n99999\n%%EOF\n', 'UTF8'))$$) AS offset_past_end;
-- filenames
SELECT try($$SELECT invoiceflow.ingest('', test_pdf('f1'))$$) AS empty_name;
SELECT try($$SELECT invoiceflow.ingest(NULL, test_pdf('f2'))$$) AS null_name;
SELECT try($$SELECT invoiceflow.ingest(repeat('n', 252) || '.pdf', test_pdf('f3'))$$) AS name_256_bytes;
SELECT try($$SELECT invoiceflow.ingest(E'in\nvoice.pdf', test_pdf('f4'))$$) AS control_char;
SELECT try($$SELECT invoiceflow.ingest(E'in\x7fvoice.pdf', test_pdf('f4b'))$$) AS del_char;
SELECT try($$SELECT invoiceflow.ingest('dir/invoice.pdf', test_pdf('f5'))$$) AS slash;
SELECT try($$SELECT invoiceflow.ingest('dir\invoice.pdf', test_pdf('f6'))$$) AS backslash;
SELECT try($$SELECT invoiceflow.ingest('..', test_pdf('f7'))$$) AS dotdot;
-- source and idempotency key
SELECT try($$SELECT invoiceflow.ingest('a.pdf', test_pdf('s1'), 'fax')$$) AS bad_source;
SELECT try($$SELECT invoiceflow.ingest('a.pdf', test_pdf('s2'), NULL)$$) AS null_source;
SELECT try($$SELECT invoiceflow.ingest('a.pdf', test_pdf('k1'), 'upload', '')$$) AS empty_key;
SELECT try($$SELECT invoiceflow.ingest('a.pdf', test_pdf('k2'), 'upload', repeat('k', 256))$$) AS long_key;
-- size limit (1 MB here): a file of exactly the limit passes, one byte more fails
SET invoiceflow.max_file_size_mb = 1;
SELECT octet_length(test_pdf('big', 1048576 - 159)) AS exactly_limit_bytes;
SELECT try($$SELECT invoiceflow.ingest('big.pdf', test_pdf('big', 1048576 - 159))$$) AS exactly_limit;
SELECT try($$SELECT invoiceflow.ingest('big.pdf', test_pdf('big2', 1048576 - 158))$$) AS one_byte_over;
RESET invoiceflow.max_file_size_mb;
-- the 22023 message and detail as a client sees them
\x on
SELECT * FROM try_full($$SELECT invoiceflow.ingest('a.pdf', convert_to('hello', 'UTF8'))$$);
SELECT * FROM try_full($$SELECT invoiceflow.ingest('a.pdf', substring(test_pdf('t') from 1 for 60))$$);
\x off
-- a valid name with spaces and UTF-8 passes; an xref stream passes too
SELECT try($$SELECT invoiceflow.ingest('Rechnung März 2024.pdf', test_pdf('utf8'))$$) AS utf8_name;
SELECT try($$SELECT invoiceflow.ingest('xrefstream.pdf', convert_to(E'%PDF-1.5\n5 0 obj\n<< /Type /XRef >>\nstream\nendstream\nendobj\nstartxref\n9\n%%EOF\n', 'UTF8'))$$) AS xref_stream;
-- nothing but the two valid files was written
SELECT filename FROM invoiceflow.ingestions ORDER BY filename;
SELECT count(*) AS files FROM invoiceflow.ingestion_files;
SELECT invoiceflow.stats();
-- clean up for the next tests
SELECT invoiceflow.purge(id) FROM invoiceflow.ingestions;
