-- search(): full text, filters, sorting, keyset pagination, facets, hostile input.
\set VERBOSITY terse
SELECT count(*) FILTER (WHERE invoiceflow.purge(id)) >= 0 AS cleared FROM invoiceflow.ingestions;
SET invoiceflow.dedup = off;
-- 40 invoices with known fields
CREATE TEMP TABLE docs AS
  SELECT g, (invoiceflow.ingest('search-' || g || '.pdf', test_pdf('search' || g),
             (ARRAY['upload','email','webhook'])[1 + g % 3])).request_id AS id
  FROM generate_series(1, 40) g;
DO $$
DECLARE d record; l uuid;
BEGIN
  FOR d IN SELECT * FROM docs WHERE g <= 36 ORDER BY g LOOP
    l := invoiceflow.claim(d.id, 'search');
    PERFORM invoiceflow.complete(d.id, l, jsonb_build_object(
      'invoice', jsonb_build_object(
        'invoice_number', CASE WHEN d.g = 7 THEN 'RE-2024/0815' WHEN d.g = 8 THEN '02091-C-71' ELSE 'INV-' || d.g END,
        'issue_date', to_char(date '2024-01-01' + d.g * 9, 'YYYY-MM-DD'),
        'currency', CASE WHEN d.g % 4 = 0 THEN 'USD' ELSE 'EUR' END,
        'seller', jsonb_build_object('name', CASE WHEN d.g % 2 = 0 THEN 'Acme GmbH' ELSE 'Globex Ltd' END),
        'buyer', jsonb_build_object('name', 'Buyer ' || d.g),
        'totals', jsonb_build_object('total', (d.g * 100)::text || '.50'),
        'needs_review', d.g % 10 = 0, 'source', CASE WHEN d.g % 3 = 0 THEN 'xml' ELSE 'text' END),
      'text', CASE WHEN d.g % 5 = 0
                   THEN 'Rechnung für die Wartung der Kältemaschinen, zahlbar innerhalb von 14 Tagen.'
                   ELSE 'Invoice for consulting services rendered in the month; payment due in 30 days.' END
              || CASE WHEN d.g = 13 THEN ' Includes a rare zeppelin inspection.' ELSE '' END));
  END LOOP;
END $$;

CREATE FUNCTION ids(r jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(d.g::text, ',' ORDER BY o) FROM jsonb_array_elements(r -> 'items') WITH ORDINALITY AS e(item, o)
  JOIN docs d ON d.id = (e.item ->> 'request_id')::uuid $$;
-- idset(): the same, as a sorted set (for rows whose order is a tie)
CREATE FUNCTION idset(r jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(d.g::text, ',' ORDER BY d.g) FROM jsonb_array_elements(r -> 'items') AS e(item)
  JOIN docs d ON d.id = (e.item ->> 'request_id')::uuid $$;

-- numbers as typed, and typed otherwise
SELECT ids(invoiceflow.search(q => 'RE-2024/0815')) AS re_number,
       ids(invoiceflow.search(q => 're 2024 0815')) AS spaced,
       ids(invoiceflow.search(q => '02091-C-71')) AS dashed,
       ids(invoiceflow.search(q => '02091C71')) AS squashed;
-- words, stems, phrases, negation
SELECT ids(invoiceflow.search(q => 'zeppelin')) AS rare_word,
       jsonb_array_length(invoiceflow.search(q => 'Wartung', "limit" => 100) -> 'items') AS german_word,
       jsonb_array_length(invoiceflow.search(q => 'consult', "limit" => 100) -> 'items') AS english_stem,
       jsonb_array_length(invoiceflow.search(q => '"consulting services" -zeppelin', "limit" => 100) -> 'items') AS phrase_not;
-- the item shape
SELECT jsonb_object_keys(invoiceflow.search(q => 'zeppelin') -> 'items' -> 0) AS item_key ORDER BY 1;
SELECT i ->> 'invoice_number' AS number, i ->> 'seller' AS seller, i ->> 'total' AS total, i ->> 'issue_date' AS issued,
       i ->> 'snippet' AS snippet, (i ->> 'score')::numeric > 0 AS scored
  FROM jsonb_array_elements(invoiceflow.search(q => 'zeppelin') -> 'items') i;
-- filters
SELECT ids(invoiceflow.search(currency => 'usd', sort => 'issue_date')) AS usd,
       ids(invoiceflow.search(seller => 'acme', total_min => '1000', total_max => '1500', sort => 'total')) AS acme_1000_1500,
       ids(invoiceflow.search(issued_from => '2024-02-01', issued_to => '2024-03-01', sort => 'issue_date')) AS february,
       ids(invoiceflow.search(needs_review => 'true', sort => 'issue_date')) AS review,
       ids(invoiceflow.search(extracted_from => 'xml', source => 'upload', sort => 'issue_date')) AS xml_upload,
       idset(invoiceflow.search(status => 'pending', sort => 'created_at')) AS pending,
       ids(invoiceflow.search(q => 'wartung', buyer => 'buyer 1', sort => 'issue_date')) AS wartung_buyer1;
-- sorting: relevance puts the identifier match first; totals descending
SELECT ids(invoiceflow.search(q => 'INV-12 consulting', "limit" => 1)) AS best_match,
       ids(invoiceflow.search(sort => '-total', "limit" => 3)) AS top_totals;
-- keyset pagination: pages of 7 cover every completed invoice once, in order,
-- even while new invoices arrive between pages
CREATE TEMP TABLE pages (page int, ids text);
DO $$
DECLARE
  c text; r jsonb; p int := 0;
BEGIN
  LOOP
    r := invoiceflow.search(sort => '-issue_date', "limit" => 7, cursor => c);
    p := p + 1;
    INSERT INTO pages VALUES (p, ids(r));
    PERFORM invoiceflow.ingest('late-' || p || '.pdf', test_pdf('late' || p));  -- concurrent arrival
    c := r ->> 'next_cursor';
    EXIT WHEN c IS NULL OR p > 20;
  END LOOP;
END $$;
SELECT count(*) AS pages FROM pages;
SELECT count(*) AS listed, count(DISTINCT x) AS distinct_listed
  FROM pages, unnest(string_to_array(ids, ',')) x;
-- the rank window: relevance ranks the newest search_rank_window matches; its
-- pages list each of them once, and only them (0: every match)
CREATE FUNCTION relevance_pages(q text, lim int, issued_from text DEFAULT NULL) RETURNS TABLE (pages int, listed bigint, distinct_listed bigint, ids text)
LANGUAGE plpgsql AS $$
DECLARE c text; r jsonb; p int := 0; acc text[] := '{}';
BEGIN
  LOOP
    r := invoiceflow.search(q => q, "limit" => lim, cursor => c, issued_from => issued_from);
    p := p + 1;
    acc := acc || string_to_array(ids(r), ',');
    c := r ->> 'next_cursor';
    EXIT WHEN c IS NULL OR p > 50;
  END LOOP;
  RETURN QUERY SELECT p, count(*), count(DISTINCT x), string_agg(x, ',' ORDER BY x::int) FROM unnest(acc) x;
END $$;
SET invoiceflow.search_rank_window = 10;
SELECT pages, listed, distinct_listed,
       ids = (SELECT string_agg(g::text, ',' ORDER BY g) FROM (
                SELECT d.g FROM docs d JOIN invoiceflow.search_docs s ON s.id = d.id
                 WHERE s.tsv @@ to_tsquery('simple', 'consulting')
                 ORDER BY s.created_at DESC, s.id LIMIT 10) w) AS newest_ten_matches
  FROM relevance_pages('consulting', 4);
-- with an issue-date filter, "newest" is by issue date
SELECT pages, listed, distinct_listed,
       ids = (SELECT string_agg(g::text, ',' ORDER BY g) FROM (
                SELECT d.g FROM docs d JOIN invoiceflow.search_docs s ON s.id = d.id
                 WHERE s.tsv @@ to_tsquery('simple', 'consulting') AND s.issue_date >= '2024-02-01'
                 ORDER BY s.issue_date DESC, s.id LIMIT 10) w) AS latest_issued_ten_matches
  FROM relevance_pages('consulting', 3, '2024-02-01');
-- a cursor whose window was tampered with is refused
SELECT try(format('SELECT invoiceflow.search(q => %L, cursor => %L)', 'consulting',
  translate(encode(convert_to(jsonb_build_object('s', 'relevance', 'k', '0.1', 'i', gen_random_uuid(),
    'w', jsonb_build_object('c', 'filename', 't', 'x', 'i', gen_random_uuid()))::text, 'UTF8'), 'base64'),
    E'+/=\n', '-_'))) AS tampered_window;
-- fewer matches than the window: every one of them (the bitmap way)
SELECT pages, listed, distinct_listed FROM relevance_pages('wartung', 2);
SET invoiceflow.search_rank_window = 0;
SELECT pages, listed, distinct_listed FROM relevance_pages('consulting', 4);
RESET invoiceflow.search_rank_window;
-- facets
SELECT jsonb_pretty((invoiceflow.search(q => 'invoice', facets => true, "limit" => 1) -> 'facets') - 'month');
SELECT jsonb_array_length(invoiceflow.search(facets => true) -> 'facets' -> 'month') AS months;
-- hostile or odd queries never raise
SELECT count(*) AS errors FROM unnest(ARRAY['"', '''', '(', '&|!', 'a:*', '\\', '-', '<->', '!!!', repeat('x', 500),
       'SELECT * FROM pg_user', E'\t\n', '%', '_', 'und die der']) q
  WHERE try(format('SELECT invoiceflow.search(q => %L)', q)) <> 'ok';
-- bad parameters: 22023 with a message
SELECT try($$SELECT invoiceflow.search(status => 'DONE')$$) AS bad_status;
SELECT try($$SELECT invoiceflow.search(currency => 'EURO')$$) AS bad_currency;
SELECT try($$SELECT invoiceflow.search(issued_from => '2024-02-30')$$) AS bad_date;
SELECT try($$SELECT invoiceflow.search(total_min => '1e9')$$) AS bad_total;
SELECT try($$SELECT invoiceflow.search(needs_review => 'maybe')$$) AS bad_bool;
SELECT try($$SELECT invoiceflow.search(sort => 'price')$$) AS bad_sort;
SELECT try($$SELECT invoiceflow.search(sort => 'relevance')$$) AS relevance_without_q;
SELECT try($$SELECT invoiceflow.search("limit" => 101)$$) AS big_limit;
SELECT try($$SELECT invoiceflow.search(cursor => 'not-a-cursor')$$) AS bad_cursor;
SELECT try(format('SELECT invoiceflow.search(sort => %L, cursor => %L)', 'total',
  invoiceflow.search(sort => '-issue_date', "limit" => 1) ->> 'next_cursor')) AS cursor_of_other_sort;
SELECT try(format('SELECT invoiceflow.search(q => %L)', repeat('x', 501))) AS long_q;
-- purge removes the document from search
SELECT invoiceflow.purge((SELECT id FROM docs WHERE g = 13));
SELECT ids(invoiceflow.search(q => 'zeppelin')) AS after_purge;
RESET invoiceflow.dedup;
