-- Issue 9 in SQL: key scopes (and keys made before 0.6 after ALTER EXTENSION UPDATE),
-- snippets safe in HTML, tampered cursors, the rank window's bound, file names with
-- invisible characters, the idempotency path without an advisory lock.
\set VERBOSITY terse

-- a key made at 0.5 keeps working after the update, with {ingest,read}
DROP EXTENSION invoiceflow;
CREATE EXTENSION invoiceflow VERSION '0.5';
SELECT invoiceflow.create_api_key('made-at-0.5') AS old_key \gset
ALTER EXTENSION invoiceflow UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'invoiceflow';
SELECT invoiceflow.check_api_key(:'old_key') AS old_key_valid,
       invoiceflow.check_api_key_scopes(:'old_key') AS old_key_scopes;
SELECT name, scopes FROM invoiceflow.api_keys ORDER BY name;

-- scopes: checked, without repeats, in a fixed order; the default is ingest and read
SELECT invoiceflow.create_api_key('regress-default') AS k1 \gset
SELECT invoiceflow.create_api_key('regress-admin', '{admin,read,admin}') AS k2 \gset
SELECT invoiceflow.create_api_key('regress-all', '{review,admin,ingest,read}') AS k3 \gset
SELECT invoiceflow.check_api_key_scopes(:'k1') AS default_scopes, invoiceflow.check_api_key_scopes(:'k2') AS admin_read,
       invoiceflow.check_api_key_scopes(:'k3') AS every_scope;
SELECT try($$SELECT invoiceflow.create_api_key('bad-1', '{ingest,superuser}')$$) AS unknown_scope;
SELECT try($$SELECT invoiceflow.create_api_key('bad-2', '{}')$$) AS no_scope;
SELECT try($$SELECT invoiceflow.create_api_key('bad-3', NULL)$$) AS null_scopes;
SELECT try($$SELECT invoiceflow.create_api_key('bad-4', '{read,NULL}')$$) AS null_scope;
SELECT try($$SELECT invoiceflow.create_api_key('regress-admin', '{read}')$$) AS same_name;
SELECT count(*) AS bad_keys_written FROM invoiceflow.api_keys WHERE name LIKE 'bad-%';
SELECT invoiceflow.check_api_key_scopes(:'k1' || 'x') AS unknown_key, invoiceflow.check_api_key_scopes(NULL) AS null_key;
SELECT invoiceflow.revoke_api_key('regress-admin') AS revoked;
SELECT invoiceflow.check_api_key_scopes(:'k2') AS revoked_key;
SELECT try($$UPDATE invoiceflow.api_keys SET scopes = '{root}'$$) AS table_check;

-- snippets: the document's text is escaped, matches are marked with <em> only
SET invoiceflow.dedup = off;
SELECT (invoiceflow.ingest('xss.pdf', test_pdf('xss'))).request_id AS xss \gset
SELECT invoiceflow.complete(:'xss', invoiceflow.claim(:'xss', 'regress'), jsonb_build_object(
  'invoice', jsonb_build_object('invoice_number', 'XSS-1'),
  'text', 'zeppelin <img src=x onerror=alert(1)> "quoted" & ''single'' <em>fake</em> </em><script>x</script>'));
SELECT item ->> 'snippet' AS snippet
  FROM jsonb_array_elements(invoiceflow.search(q => 'zeppelin') -> 'items') item;
SELECT item ->> 'snippet' AS snippet_of_a_match_inside_markup
  FROM jsonb_array_elements(invoiceflow.search(q => 'onerror') -> 'items') item;
SELECT item ->> 'snippet' AS snippet_with_fake_em
  FROM jsonb_array_elements(invoiceflow.search(q => 'fake') -> 'items') item;
SELECT invoiceflow._html_escape('<a href="x">&''</a>') AS escaped;

-- a tampered cursor is "invalid cursor", never PostgreSQL's cast message
CREATE FUNCTION cursor_of(j text) RETURNS text LANGUAGE sql AS $$
  SELECT rtrim(translate(encode(convert_to(j, 'UTF8'), 'base64'), E'+/\n', '-_'), '=') $$;
SELECT s AS sort, try(format('SELECT invoiceflow.search(%s sort => %L, cursor => %L)',
    CASE WHEN s = 'relevance' THEN 'q => ''zeppelin'',' ELSE '' END, s,
    cursor_of(format('{"s": "%s", "k": "%s", "i": "3f1e7a0e-0000-4000-8000-000000000000"}', s, k)))) AS result
  FROM (VALUES ('-created_at', 'garbage'), ('created_at', '2024-99-01'), ('total', '1e'), ('-total', 'NaNx'),
               ('issue_date', '2024-13-45'), ('relevance', 'x')) v(s, k);
-- the window's bound in a cursor, too
SELECT try(format('SELECT invoiceflow.search(q => %L, cursor => %L)', 'zeppelin',
  cursor_of('{"s": "relevance", "k": "0.1", "i": "3f1e7a0e-0000-4000-8000-000000000000", "w": {"c": "created_at", "t": "yesterday-ish", "i": "3f1e7a0e-0000-4000-8000-000000000000"}}'))) AS window_cursor;
-- a good cursor still pages
SELECT jsonb_array_length(invoiceflow.search(sort => '-created_at', "limit" => 1,
  cursor => invoiceflow.search(sort => '-created_at', "limit" => 1) ->> 'next_cursor') -> 'items') AS next_page_rows;
-- digits are ASCII digits, whatever the locale
SELECT try($$SELECT invoiceflow.search(total_min => '١٢٣')$$) AS arabic_digits,
       try($$SELECT invoiceflow.search(issued_from => '２０２４-01-01')$$) AS fullwidth_digits;

-- the rank window has an upper bound instead of "integer out of range"
SELECT try($$SET invoiceflow.search_rank_window = 2147483647$$) AS huge_window;
SELECT try($$SET invoiceflow.search_rank_window = 100001$$) AS over_bound;
SET invoiceflow.search_rank_window = 100000;
SELECT jsonb_array_length(invoiceflow.search(q => 'zeppelin') -> 'items') AS rows_at_the_bound;
RESET invoiceflow.search_rank_window;

-- file names with control, format or separator characters are refused; letters of any script are not
SELECT what, try(format('SELECT invoiceflow.ingest(%L, test_pdf(%L))', n, 'name ' || n)) AS result
  FROM (VALUES ('U+202E right-to-left override', U&'invoice\202Efdp.exe'), ('U+200B zero-width space', U&'in\200Bvoice.pdf'),
               ('U+2028 line separator', U&'a\2028b.pdf'), ('U+2029 paragraph separator', U&'a\2029b.pdf'),
               ('U+0085 next line (C1)', U&'a\0085b.pdf'), ('U+FEFF byte order mark', U&'\FEFFinvoice.pdf'),
               ('U+200D zero-width joiner', U&'a\200Db.pdf'), ('U+2066 left-to-right isolate', U&'a\2066b.pdf'),
               ('U+00AD soft hyphen', U&'a\00ADb.pdf'), ('U+E0041 tag letter', U&'tag\+0E0041.pdf'),
               ('e acute', 'facturé.pdf'), ('CJK', '請求書.pdf'), ('Arabic', 'فاتورة.pdf')) v(what, n);

-- idempotency: the same answers as before, and no advisory lock keyed on the key
SELECT request_id AS idem, duplicate FROM invoiceflow.ingest('idem.pdf', test_pdf('idem'), 'upload', 'key-21') \gset
SELECT :'duplicate' AS first_duplicate,
       (SELECT request_id = :'idem' AND duplicate FROM invoiceflow.ingest('idem.pdf', test_pdf('idem'), 'upload', 'key-21')) AS same_again,
       try($$SELECT invoiceflow.ingest('idem2.pdf', test_pdf('other'), 'upload', 'key-21')$$) AS other_content;
BEGIN;
SELECT duplicate FROM invoiceflow.ingest('lock.pdf', test_pdf('lock'), 'upload', 'key-21-lock');
SELECT count(*) AS advisory_locks_held FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
  AND classid = ((hashtextextended('invoiceflow.key:' || 'key-21-lock', 0) >> 32) & 4294967295)::bigint::oid
  AND objid = (hashtextextended('invoiceflow.key:' || 'key-21-lock', 0) & 4294967295)::bigint::oid;
ROLLBACK;
RESET invoiceflow.dedup;
-- the dedup lock on the content is keyed with a secret of the database, not on the sha256 alone
CREATE FUNCTION held_lock(k bigint) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
    AND classid = ((k >> 32) & 4294967295)::bigint::oid AND objid = (k & 4294967295)::bigint::oid $$;
BEGIN;
SELECT duplicate FROM invoiceflow.ingest('lock2.pdf', test_pdf('lock2'));
SELECT held_lock(hashtextextended('invoiceflow.sha:' || encode(sha256(test_pdf('lock2')), 'hex'), 0)) AS unsalted_lock,
       held_lock(invoiceflow._lock_key('invoiceflow.sha:' || encode(sha256(test_pdf('lock2')), 'hex'))) AS salted_lock;
ROLLBACK;
SELECT count(*) AS salts, bool_and(salt <> 0) AS salt_set FROM invoiceflow.lock_salt;
