-- Setup shared by the regression tests: the extension and a few test helpers.
CREATE EXTENSION invoiceflow;
SELECT extname, extversion, nspname AS schema, pg_get_userbyid(e.extowner) <> '' AS has_owner
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE extname = 'invoiceflow';
SELECT invoiceflow.version() ->> 'library' = extversion AS library_matches
  FROM pg_extension WHERE extname = 'invoiceflow';

-- test_pdf(tag, pad): a small well-formed PDF; pad adds bytes inside a comment.
CREATE FUNCTION test_pdf(tag text, pad integer DEFAULT 0) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
  SELECT convert_to(h || E'xref\n0 2\n0000000000 65535 f \n0000000009 00000 n \ntrailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n'
                    || octet_length(h) || E'\n%%EOF\n', 'UTF8')
  FROM (SELECT E'%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n% ' || tag || ' ' || repeat('x', pad) || E'\n' AS h) s
$$;

-- try(sql): runs a statement and shows its SQLSTATE and message (UUIDs masked)
-- instead of failing.
CREATE FUNCTION try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' ||
    regexp_replace(SQLERRM, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g');
END
$$;

-- counts(): rows per status, to compare with stats()
CREATE FUNCTION counts() RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'pending', count(*) FILTER (WHERE status = 'PENDING'),
    'processing', count(*) FILTER (WHERE status = 'PROCESSING'),
    'failed', count(*) FILTER (WHERE status = 'FAILED'),
    'completed', count(*) FILTER (WHERE status = 'COMPLETED'),
    'total', count(*))
  FROM invoiceflow.ingestions
$$;

-- try_full(sql): SQLSTATE, message, detail and hint of the error (UUIDs masked).
CREATE FUNCTION try_full(q text) RETURNS TABLE (sqlstate text, message text, detail text, hint text)
LANGUAGE plpgsql AS $$
DECLARE s text; m text; d text; h text;
BEGIN
  EXECUTE q;
  RETURN QUERY SELECT '00000', 'ok', '', '';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
  RETURN QUERY SELECT s, m,
    regexp_replace(d, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g'), h;
END
$$;
