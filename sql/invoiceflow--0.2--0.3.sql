/*
 * invoiceflow 0.2 -> 0.3: search (DESIGN.md § Query API).
 * search_docs is derived data (rebuilt by triggers, also during a restore), so it
 * is not registered with pg_extension_config_dump.
 */
\echo Use "ALTER EXTENSION invoiceflow UPDATE TO '0.3'" to load this file. \quit

/*
 * One row per ingestion with what search() filters, sorts and matches on,
 * kept in the same transaction as the ingestion: created at ingest, its status
 * followed by a trigger, its invoice fields and text vector set by complete().
 */
CREATE TABLE invoiceflow.search_docs (
	id uuid PRIMARY KEY REFERENCES invoiceflow.ingestions (id) ON DELETE CASCADE,
	status text NOT NULL,
	source text NOT NULL,
	filename text NOT NULL,
	created_at timestamptz NOT NULL,
	invoice_number text,
	seller text,
	buyer text,
	currency text,
	issue_date date,
	total numeric,
	needs_review boolean,
	extracted_from text,
	tsv tsvector NOT NULL DEFAULT ''::tsvector,
	-- sort keys without NULLs, so keyset pagination compares plain values
	issue_key date GENERATED ALWAYS AS (coalesce(issue_date, '-infinity'::date)) STORED,
	total_key numeric GENERATED ALWAYS AS (coalesce(total, '-Infinity'::numeric)) STORED
) WITH (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

CREATE INDEX search_docs_tsv_idx ON invoiceflow.search_docs USING gin (tsv);
CREATE INDEX search_docs_created_idx ON invoiceflow.search_docs (created_at DESC, id);
CREATE INDEX search_docs_issue_idx ON invoiceflow.search_docs (issue_key DESC, id);
CREATE INDEX search_docs_total_idx ON invoiceflow.search_docs (total_key DESC, id);
CREATE INDEX search_docs_seller_idx ON invoiceflow.search_docs (lower(seller) text_pattern_ops);
CREATE INDEX search_docs_buyer_idx ON invoiceflow.search_docs (lower(buyer) text_pattern_ops);
CREATE INDEX search_docs_status_idx ON invoiceflow.search_docs (status, created_at DESC, id);

-- Lower-case alphanumerics only: "RE-2024/0815" and "re 2024 0815" meet at "re20240815".
CREATE FUNCTION invoiceflow._squash(s text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT lower(regexp_replace(s, '[^[:alnum:]]+', '', 'g'))
$$;

-- The text search configuration for a document: the language whose common words
-- it uses most among those invoiceflow reads; 'simple' when none stands out.
CREATE FUNCTION invoiceflow._guess_config(doc text) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	WITH words AS (
		SELECT w FROM regexp_split_to_table(lower(left(doc, 4000)), '[^[:alpha:]]+') AS w WHERE w <> ''),
	langs(cfg, stop) AS (VALUES
		('english', ARRAY['the','and','invoice','total','date','due','amount','to','of','for','payment']),
		('german', ARRAY['der','die','und','rechnung','betrag','datum','summe','bis','zahlbar','mit','für']),
		('french', ARRAY['le','la','les','et','facture','montant','date','total','du','des','pour']),
		('dutch', ARRAY['de','het','en','factuur','bedrag','datum','totaal','van','voor','te']),
		('spanish', ARRAY['el','la','los','y','factura','importe','fecha','total','del','para','de']),
		('italian', ARRAY['il','la','e','fattura','importo','data','totale','del','per','di']))
	SELECT coalesce((
		SELECT l.cfg FROM langs l, LATERAL (SELECT count(*) AS hits FROM words WHERE w = ANY (l.stop)) h
		WHERE h.hits >= 3 ORDER BY h.hits DESC, l.cfg LIMIT 1), 'simple')::regconfig
$$;

-- Identifier-like tokens (with digits) of a text, squashed: extra lexemes so that
-- numbers are found however they are typed.
CREATE FUNCTION invoiceflow._id_lexemes(s text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT coalesce(array_agg(DISTINCT invoiceflow._squash(m[1])), '{}')
	FROM regexp_matches(coalesce(s, ''), '([[:alnum:]]+(?:[-/._:#][[:alnum:]]+)+|[[:alpha:]]*[[:digit:]][[:alnum:]]*)', 'g') AS m
	WHERE m[1] ~ '[[:digit:]]' AND length(m[1]) BETWEEN 3 AND 64
$$;

CREATE FUNCTION invoiceflow._safe_date(s text) RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	IF s ~ '^\d{4}-\d{2}-\d{2}$' THEN
		RETURN s::date;
	END IF;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END
$$;

CREATE FUNCTION invoiceflow._safe_numeric(s text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN s ~ '^-?\d{1,30}(\.\d{1,10})?$' THEN s::numeric END
$$;

-- The text vector of one document: identifiers and parties first (weight A),
-- then the text as written ('simple', B) and stemmed in its language (C).
-- The text indexed is capped at 200,000 characters.
CREATE FUNCTION invoiceflow._doc_tsv(p_filename text, p_invoice jsonb, p_text text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT setweight(to_tsvector('simple', concat_ws(' ', p_invoice ->> 'invoice_number',
					p_invoice -> 'seller' ->> 'name', p_invoice -> 'buyer' ->> 'name',
					p_invoice -> 'seller' ->> 'vat_id', p_invoice -> 'buyer' ->> 'vat_id',
					p_invoice ->> 'purchase_order', p_invoice -> 'payment' ->> 'reference')), 'A')
		|| setweight(array_to_tsvector(invoiceflow._id_lexemes(concat_ws(' ', p_invoice ->> 'invoice_number',
					p_invoice ->> 'purchase_order', p_invoice -> 'payment' ->> 'reference', p_filename))), 'A')
		|| setweight(array_to_tsvector(invoiceflow._id_lexemes(left(p_text, 200000))), 'B')
		|| setweight(to_tsvector('simple', concat_ws(' ', p_filename, left(p_text, 200000))), 'B')
		|| setweight(to_tsvector(invoiceflow._guess_config(p_text), left(p_text, 200000)), 'C')
$$;

CREATE FUNCTION invoiceflow._search_docs_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	INSERT INTO invoiceflow.search_docs (id, status, source, filename, created_at, tsv)
		SELECT n.id, n.status, n.source, n.filename, n.created_at,
			   setweight(to_tsvector('simple', n.filename), 'B')
		FROM new_rows n;
	RETURN NULL;
END
$$;

CREATE FUNCTION invoiceflow._search_docs_status() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	UPDATE invoiceflow.search_docs d SET status = n.status
		FROM new_rows n JOIN old_rows o ON o.id = n.id
		WHERE d.id = n.id AND n.status IS DISTINCT FROM o.status;
	RETURN NULL;
END
$$;

CREATE TRIGGER ingestions_search_insert
	AFTER INSERT ON invoiceflow.ingestions REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._search_docs_insert();
CREATE TRIGGER ingestions_search_status
	AFTER UPDATE ON invoiceflow.ingestions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._search_docs_status();

-- complete() stores the extraction; this keeps search_docs in step (same
-- transaction). Statement-level, so a bulk load updates search_docs in one pass.
CREATE FUNCTION invoiceflow._search_docs_extraction() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	UPDATE invoiceflow.search_docs d SET
		invoice_number = left(n.invoice ->> 'invoice_number', 200),
		seller = left(n.invoice -> 'seller' ->> 'name', 500),
		buyer = left(n.invoice -> 'buyer' ->> 'name', 500),
		currency = CASE WHEN n.invoice ->> 'currency' ~ '^[A-Z]{3}$' THEN n.invoice ->> 'currency' END,
		issue_date = invoiceflow._safe_date(n.invoice ->> 'issue_date'),
		total = invoiceflow._safe_numeric(n.invoice -> 'totals' ->> 'total'),
		needs_review = CASE WHEN jsonb_typeof(n.invoice -> 'needs_review') = 'boolean'
							THEN (n.invoice ->> 'needs_review')::boolean END,
		extracted_from = CASE WHEN n.invoice ->> 'source' IN ('xml', 'text', 'ocr') THEN n.invoice ->> 'source' END,
		tsv = invoiceflow._doc_tsv(d.filename, n.invoice, n.text)
	FROM new_rows n
	WHERE d.id = n.ingestion_id;
	RETURN NULL;
END
$$;

CREATE TRIGGER extractions_search_insert
	AFTER INSERT ON invoiceflow.extractions REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._search_docs_extraction();
CREATE TRIGGER extractions_search_update
	AFTER UPDATE ON invoiceflow.extractions REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._search_docs_extraction();

CREATE FUNCTION invoiceflow._search_param(p_name text, p_value text, p_pattern text, p_expect text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF p_value IS NULL OR p_value = '' THEN
		RETURN NULL;
	END IF;
	IF p_value !~* p_pattern THEN
		RAISE EXCEPTION 'invalid % parameter: %', p_name, left(p_value, 100)
			USING ERRCODE = '22023', DETAIL = format('Expected %s.', p_expect);
	END IF;
	RETURN p_value;
END
$$;

/*
 * search(): full-text query and filters over the ingestions, keyset-paginated.
 * Every argument is optional text (as a query string gives it) and checked here:
 * a bad value raises 22023 and a hostile query string never raises anything.
 * Returns {"items": [...], "next_cursor": "..." | null, "facets": {...} | null}.
 */
CREATE FUNCTION invoiceflow.search(q text DEFAULT NULL, status text DEFAULT NULL, seller text DEFAULT NULL,
	buyer text DEFAULT NULL, currency text DEFAULT NULL, issued_from text DEFAULT NULL, issued_to text DEFAULT NULL,
	total_min text DEFAULT NULL, total_max text DEFAULT NULL, needs_review text DEFAULT NULL,
	source text DEFAULT NULL, extracted_from text DEFAULT NULL, sort text DEFAULT NULL,
	"limit" integer DEFAULT 20, cursor text DEFAULT NULL, facets boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, invoiceflow, pg_temp
SET client_min_messages = warning	-- websearch_to_tsquery notices about stop words
AS $$
DECLARE
	v_q text := nullif(btrim(search.q), '');
	v_ts tsquery;
	v_sort text := lower(coalesce(nullif(search.sort, ''), CASE WHEN v_q IS NOT NULL THEN 'relevance' ELSE '-created_at' END));
	v_key text;			-- sort key expression
	v_desc boolean;
	v_where text[] := ARRAY['true'];
	v_cursor jsonb;
	v_ckey text;
	v_cid uuid;
	v_limit integer := coalesce(search."limit", 20);
	v_sql text;
	v_items jsonb;
	v_more boolean;
	v_next text;
	v_facets jsonb;
	p_status text := upper(invoiceflow._search_param('status', search.status,
		'^(pending|processing|failed|completed)$', 'PENDING, PROCESSING, FAILED or COMPLETED'));
	p_seller text := lower(left(nullif(btrim(search.seller), ''), 200));
	p_buyer text := lower(left(nullif(btrim(search.buyer), ''), 200));
	p_currency text := upper(invoiceflow._search_param('currency', search.currency, '^[a-z]{3}$', 'an ISO 4217 code such as EUR'));
	p_from date;
	p_to date;
	p_tmin numeric := invoiceflow._search_param('total_min', search.total_min, '^-?\d{1,20}(\.\d{1,10})?$', 'a decimal number')::numeric;
	p_tmax numeric := invoiceflow._search_param('total_max', search.total_max, '^-?\d{1,20}(\.\d{1,10})?$', 'a decimal number')::numeric;
	p_review boolean := invoiceflow._search_param('needs_review', search.needs_review, '^(true|false)$', 'true or false')::boolean;
	p_source text := lower(invoiceflow._search_param('source', search.source, '^(upload|email|webhook)$', 'upload, email or webhook'));
	p_from_x text := lower(invoiceflow._search_param('extracted_from', search.extracted_from, '^(xml|text|ocr)$', 'xml, text or ocr'));
BEGIN
	p_from := invoiceflow._safe_date(invoiceflow._search_param('issued_from', search.issued_from, '^\d{4}-\d{2}-\d{2}$', 'a date YYYY-MM-DD'));
	p_to := invoiceflow._safe_date(invoiceflow._search_param('issued_to', search.issued_to, '^\d{4}-\d{2}-\d{2}$', 'a date YYYY-MM-DD'));
	IF (search.issued_from <> '' AND p_from IS NULL) OR (search.issued_to <> '' AND p_to IS NULL) THEN
		PERFORM invoiceflow._bad_input('invalid date: no such day in the calendar');
	END IF;
	IF v_limit NOT BETWEEN 1 AND 100 THEN
		PERFORM invoiceflow._bad_input('limit must be between 1 and 100');
	END IF;
	IF length(v_q) > 500 THEN
		PERFORM invoiceflow._bad_input('q is too long', 'A query has at most 500 characters.');
	END IF;

	-- the query: words as written, English stems, and numbers however they are typed
	IF v_q IS NOT NULL THEN
		v_ts := websearch_to_tsquery('simple', v_q) || websearch_to_tsquery('english', v_q);
		IF v_q ~ '[[:digit:]]' AND length(invoiceflow._squash(v_q)) BETWEEN 3 AND 64 THEN
			v_ts := v_ts || to_tsquery('simple', quote_literal(invoiceflow._squash(v_q)));
		END IF;
		IF numnode(v_ts) = 0 THEN
			-- nothing searchable in q (only punctuation or stop words): no match
			RETURN jsonb_build_object('items', '[]'::jsonb, 'next_cursor', NULL,
									  'facets', CASE WHEN search.facets THEN '{}'::jsonb END);
		END IF;
		v_where := v_where || 'd.tsv @@ $1'::text;
	END IF;

	v_desc := left(v_sort, 1) = '-' OR v_sort = 'relevance';
	v_key := CASE ltrim(v_sort, '-+')
		WHEN 'relevance' THEN 'ts_rank(d.tsv, $1, 1)'
		WHEN 'issue_date' THEN 'd.issue_key'
		WHEN 'total' THEN 'd.total_key'
		WHEN 'created_at' THEN 'd.created_at' END;
	IF v_key IS NULL OR (ltrim(v_sort, '-+') = 'relevance' AND v_q IS NULL) OR v_sort = '-relevance' THEN
		PERFORM invoiceflow._bad_input(format('invalid sort: %s', left(search.sort, 50)),
			'Sort by relevance (with q), issue_date, total or created_at; a leading "-" sorts descending.');
	END IF;

	IF p_status IS NOT NULL THEN v_where := v_where || 'd.status = $2'::text; END IF;
	IF p_seller IS NOT NULL THEN v_where := v_where || $w$lower(d.seller) LIKE replace(replace(replace($3, '\', '\\'), '%', '\%'), '_', '\_') || '%'$w$::text; END IF;
	IF p_buyer IS NOT NULL THEN v_where := v_where || $w$lower(d.buyer) LIKE replace(replace(replace($4, '\', '\\'), '%', '\%'), '_', '\_') || '%'$w$::text; END IF;
	IF p_currency IS NOT NULL THEN v_where := v_where || 'd.currency = $5'::text; END IF;
	IF p_from IS NOT NULL THEN v_where := v_where || 'd.issue_date >= $6'::text; END IF;
	IF p_to IS NOT NULL THEN v_where := v_where || 'd.issue_date <= $7'::text; END IF;
	IF p_tmin IS NOT NULL THEN v_where := v_where || 'd.total >= $8'::text; END IF;
	IF p_tmax IS NOT NULL THEN v_where := v_where || 'd.total <= $9'::text; END IF;
	IF p_review IS NOT NULL THEN v_where := v_where || 'd.needs_review = $10'::text; END IF;
	IF p_source IS NOT NULL THEN v_where := v_where || 'd.source = $11'::text; END IF;
	IF p_from_x IS NOT NULL THEN v_where := v_where || 'd.extracted_from = $12'::text; END IF;

	-- the cursor: base64 of {"s": sort, "k": last key, "i": last id}
	IF nullif(search.cursor, '') IS NOT NULL THEN
		BEGIN
			v_cursor := convert_from(decode(rpad(translate(search.cursor, '-_', '+/'),
				(length(search.cursor) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb;
			v_ckey := v_cursor ->> 'k';
			v_cid := (v_cursor ->> 'i')::uuid;
		EXCEPTION WHEN OTHERS THEN
			v_cursor := NULL;
		END;
		IF v_cursor IS NULL OR v_cursor ->> 's' IS DISTINCT FROM v_sort OR v_ckey IS NULL OR v_cid IS NULL THEN
			PERFORM invoiceflow._bad_input('invalid cursor',
				'Pass the next_cursor of the previous page, with the same sort.');
		END IF;
	END IF;

	IF current_setting('invoiceflow.search_backend') = 'opensearch' THEN
		RETURN invoiceflow._search_opensearch(v_q, p_status, p_seller, p_buyer, p_currency, p_from, p_to,
			p_tmin, p_tmax, p_review, p_source, p_from_x, v_sort, v_limit, v_cursor, search.facets);
	END IF;

	-- keyset: rows after (key, id) in the order (key desc|asc, id asc|desc)
	v_sql := format($q$
		SELECT d.*, %1$s AS sort_key FROM invoiceflow.search_docs d WHERE %2$s$q$,
		v_key, array_to_string(v_where, ' AND '));
	IF v_cid IS NOT NULL THEN
		v_sql := format($q$SELECT * FROM (%1$s) s WHERE s.sort_key %2$s $13::%3$s
			OR (s.sort_key = $13::%3$s AND s.id %4$s $14)$q$, v_sql, CASE WHEN v_desc THEN '<' ELSE '>' END,
			CASE ltrim(v_sort, '-+') WHEN 'relevance' THEN 'real' WHEN 'issue_date' THEN 'date'
				WHEN 'total' THEN 'numeric' ELSE 'timestamptz' END,
			CASE WHEN v_desc THEN '>' ELSE '<' END);
	ELSE
		v_sql := format('SELECT * FROM (%s) s', v_sql);
	END IF;
	v_sql := v_sql || format(' ORDER BY s.sort_key %s, s.id %s LIMIT $15',
		CASE WHEN v_desc THEN 'DESC' ELSE 'ASC' END, CASE WHEN v_desc THEN 'ASC' ELSE 'DESC' END);

	v_sql := format($q$
		WITH page AS (%s),
		numbered AS (SELECT p.*, row_number() OVER (ORDER BY p.sort_key %s, p.id %s) AS rn FROM page p)
		SELECT coalesce(jsonb_agg(jsonb_build_object(
				'request_id', n.id, 'status', n.status, 'source', n.source, 'filename', n.filename,
				'created_at', invoiceflow._iso(n.created_at), 'invoice_number', n.invoice_number,
				'seller', n.seller, 'buyer', n.buyer, 'currency', n.currency,
				'issue_date', to_char(n.issue_date, 'YYYY-MM-DD'), 'total', n.total::text,
				'needs_review', n.needs_review, 'extracted_from', n.extracted_from,
				'score', CASE WHEN $1 IS NOT NULL THEN round(ts_rank(n.tsv, $1, 1)::numeric, 6) END,
				'snippet', CASE WHEN $1 IS NOT NULL THEN
					(SELECT ts_headline('simple', left(e.text, 20000), $1,
						'MaxFragments=2, MinWords=5, MaxWords=18, StartSel=<em>, StopSel=</em>')
					 FROM invoiceflow.extractions e WHERE e.ingestion_id = n.id) END)
			ORDER BY n.rn) FILTER (WHERE n.rn <= $15 - 1), '[]'::jsonb),
			count(*) > $15 - 1,
			(SELECT jsonb_build_object('k', l.sort_key::text, 'i', l.id) FROM numbered l WHERE l.rn = $15 - 1)
		FROM numbered n$q$, v_sql, CASE WHEN v_desc THEN 'DESC' ELSE 'ASC' END, CASE WHEN v_desc THEN 'ASC' ELSE 'DESC' END);

	EXECUTE v_sql INTO v_items, v_more, v_cursor
		USING v_ts, p_status, p_seller, p_buyer, p_currency, p_from, p_to, p_tmin, p_tmax, p_review,
			  p_source, p_from_x, v_ckey, v_cid, v_limit + 1;

	IF v_more THEN
		v_next := translate(encode(convert_to((v_cursor || jsonb_build_object('s', v_sort))::text, 'UTF8'), 'base64'),
							E'+/=\n', '-_');
	END IF;

	IF search.facets THEN
		EXECUTE format($q$
			WITH f AS (SELECT d.seller, d.currency, d.issue_date FROM invoiceflow.search_docs d WHERE %s)
			SELECT jsonb_build_object(
				'seller', (SELECT coalesce(jsonb_agg(jsonb_build_object('value', v, 'count', c) ORDER BY c DESC, v), '[]')
						   FROM (SELECT seller AS v, count(*) AS c FROM f WHERE seller IS NOT NULL
								 GROUP BY seller ORDER BY c DESC, seller LIMIT 10) s),
				'currency', (SELECT coalesce(jsonb_agg(jsonb_build_object('value', v, 'count', c) ORDER BY c DESC, v), '[]')
							 FROM (SELECT currency AS v, count(*) AS c FROM f WHERE currency IS NOT NULL
								   GROUP BY currency ORDER BY c DESC, currency LIMIT 20) s),
				'month', (SELECT coalesce(jsonb_agg(jsonb_build_object('value', v, 'count', c) ORDER BY v DESC), '[]')
						  FROM (SELECT to_char(issue_date, 'YYYY-MM') AS v, count(*) AS c FROM f
								WHERE issue_date IS NOT NULL GROUP BY 1 ORDER BY 1 DESC LIMIT 24) s))$q$,
			array_to_string(v_where, ' AND '))
		INTO v_facets
		USING v_ts, p_status, p_seller, p_buyer, p_currency, p_from, p_to, p_tmin, p_tmax, p_review,
			  p_source, p_from_x;
	END IF;

	RETURN jsonb_build_object('items', v_items, 'next_cursor', v_next, 'facets', v_facets);
END
$$;

CREATE FUNCTION invoiceflow._opensearch_search(index text, body text) RETURNS text
	AS 'MODULE_PATHNAME', 'invoiceflow_opensearch_search' LANGUAGE C STRICT VOLATILE;

/*
 * search() with invoiceflow.search_backend = 'opensearch': the same arguments
 * (already checked by search()) as an OpenSearch query on index "invoices"; the
 * same result shape, with statuses taken from PostgreSQL.
 */
CREATE FUNCTION invoiceflow._search_opensearch(p_q text, p_status text, p_seller text, p_buyer text,
	p_currency text, p_from date, p_to date, p_tmin numeric, p_tmax numeric, p_review boolean,
	p_source text, p_from_x text, p_sort text, p_limit integer, p_cursor jsonb, p_facets boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_filter jsonb := '[]';
	v_must jsonb := '[]';
	v_sort jsonb;
	v_field text := ltrim(p_sort, '-+');
	v_order text := CASE WHEN left(p_sort, 1) = '-' OR p_sort = 'relevance' THEN 'desc' ELSE 'asc' END;
	v_body jsonb;
	v_resp jsonb;
	v_hits jsonb;
	v_items jsonb;
	v_next text;
	v_facets jsonb;
BEGIN
	IF p_q IS NOT NULL THEN
		v_must := v_must || jsonb_build_object('bool', jsonb_build_object('should', jsonb_build_array(
			jsonb_build_object('simple_query_string', jsonb_build_object('query', p_q,
				'fields', jsonb_build_array('invoice_number.text^4', 'seller_name^2', 'buyer_name^2', 'text', 'filename'),
				'default_operator', 'and')),
			jsonb_build_object('term', jsonb_build_object('invoice_number', lower(p_q)))),
			'minimum_should_match', 1));
	END IF;
	IF p_status IS NOT NULL THEN v_filter := v_filter || jsonb_build_object('term', jsonb_build_object('status', p_status)); END IF;
	IF p_seller IS NOT NULL THEN v_filter := v_filter || jsonb_build_object('match', jsonb_build_object('seller_name', jsonb_build_object('query', p_seller, 'operator', 'and'))); END IF;
	IF p_buyer IS NOT NULL THEN v_filter := v_filter || jsonb_build_object('match', jsonb_build_object('buyer_name', jsonb_build_object('query', p_buyer, 'operator', 'and'))); END IF;
	IF p_currency IS NOT NULL THEN v_filter := v_filter || jsonb_build_object('term', jsonb_build_object('currency', p_currency)); END IF;
	IF p_from IS NOT NULL OR p_to IS NOT NULL THEN
		v_filter := v_filter || jsonb_build_object('range', jsonb_build_object('issue_date',
			jsonb_strip_nulls(jsonb_build_object('gte', to_char(p_from, 'YYYY-MM-DD'), 'lte', to_char(p_to, 'YYYY-MM-DD'), 'format', 'yyyy-MM-dd'))));
	END IF;
	IF p_tmin IS NOT NULL OR p_tmax IS NOT NULL THEN
		v_filter := v_filter || jsonb_build_object('range', jsonb_build_object('total',
			jsonb_strip_nulls(jsonb_build_object('gte', p_tmin, 'lte', p_tmax))));
	END IF;
	IF p_review IS NOT NULL THEN v_filter := v_filter || jsonb_build_object('term', jsonb_build_object('needs_review', p_review)); END IF;
	IF p_source IS NOT NULL THEN v_filter := v_filter || jsonb_build_object('term', jsonb_build_object('source', p_source)); END IF;
	IF p_from_x IS NOT NULL THEN v_filter := v_filter || jsonb_build_object('term', jsonb_build_object('extracted_from', p_from_x)); END IF;

	v_sort := jsonb_build_array(
		CASE v_field WHEN 'relevance' THEN jsonb_build_object('_score', 'desc')
			ELSE jsonb_build_object(v_field, jsonb_build_object('order', v_order, 'missing', '_last')) END,
		jsonb_build_object('request_id', CASE WHEN v_order = 'desc' THEN 'asc' ELSE 'desc' END));
	v_body := jsonb_build_object(
		'query', jsonb_build_object('bool', jsonb_build_object('must', v_must, 'filter', v_filter)),
		'sort', v_sort, 'size', p_limit + 1, 'track_total_hits', false,
		'_source', jsonb_build_array('request_id', 'invoice_number', 'seller_name', 'buyer_name', 'currency',
			'issue_date', 'total', 'needs_review', 'extracted_from', 'source', 'filename', 'created_at'),
		'highlight', jsonb_build_object('fields', jsonb_build_object('text', jsonb_build_object(
			'fragment_size', 120, 'number_of_fragments', 2)), 'pre_tags', jsonb_build_array('<em>'),
			'post_tags', jsonb_build_array('</em>')));
	IF p_cursor IS NOT NULL THEN
		v_body := v_body || jsonb_build_object('search_after', p_cursor -> 'a');
	END IF;
	IF p_facets THEN
		v_body := v_body || jsonb_build_object('aggs', jsonb_build_object(
			'seller', jsonb_build_object('terms', jsonb_build_object('field', 'seller_name.keyword', 'size', 10)),
			'currency', jsonb_build_object('terms', jsonb_build_object('field', 'currency', 'size', 20)),
			'month', jsonb_build_object('date_histogram', jsonb_build_object('field', 'issue_date',
				'calendar_interval', 'month', 'format', 'yyyy-MM', 'min_doc_count', 1))));
	END IF;

	v_resp := invoiceflow._opensearch_search('invoices', v_body::text)::jsonb;
	v_hits := coalesce(v_resp -> 'hits' -> 'hits', '[]');

	-- statuses from PostgreSQL; documents already purged here are left out
	SELECT coalesce(jsonb_agg(jsonb_build_object(
			'request_id', d.id, 'status', d.status, 'source', d.source, 'filename', d.filename,
			'created_at', invoiceflow._iso(d.created_at), 'invoice_number', h.hit -> '_source' ->> 'invoice_number',
			'seller', h.hit -> '_source' ->> 'seller_name', 'buyer', h.hit -> '_source' ->> 'buyer_name',
			'currency', h.hit -> '_source' ->> 'currency', 'issue_date', h.hit -> '_source' ->> 'issue_date',
			'total', h.hit -> '_source' ->> 'total', 'needs_review', h.hit -> '_source' -> 'needs_review',
			'extracted_from', h.hit -> '_source' ->> 'extracted_from',
			'score', CASE WHEN p_q IS NOT NULL THEN h.hit -> '_score' END,
			'snippet', (SELECT string_agg(f, ' … ') FROM jsonb_array_elements_text(h.hit -> 'highlight' -> 'text') f))
			ORDER BY h.n), '[]')
	INTO v_items
	FROM jsonb_array_elements(v_hits) WITH ORDINALITY AS h(hit, n)
	JOIN invoiceflow.search_docs d ON d.id = (h.hit -> '_source' ->> 'request_id')::uuid
	WHERE h.n <= p_limit;

	IF jsonb_array_length(v_hits) > p_limit THEN
		v_next := translate(encode(convert_to(jsonb_build_object('s', p_sort,
			'a', v_hits -> (p_limit - 1) -> 'sort', 'k', 'os', 'i', v_hits -> (p_limit - 1) -> '_source' ->> 'request_id')::text,
			'UTF8'), 'base64'), E'+/=\n', '-_');
	END IF;
	IF p_facets THEN
		v_facets := jsonb_build_object(
			'seller', (SELECT coalesce(jsonb_agg(jsonb_build_object('value', b ->> 'key', 'count', (b ->> 'doc_count')::bigint)), '[]')
					   FROM jsonb_array_elements(v_resp -> 'aggregations' -> 'seller' -> 'buckets') b),
			'currency', (SELECT coalesce(jsonb_agg(jsonb_build_object('value', b ->> 'key', 'count', (b ->> 'doc_count')::bigint)), '[]')
						 FROM jsonb_array_elements(v_resp -> 'aggregations' -> 'currency' -> 'buckets') b),
			'month', (SELECT coalesce(jsonb_agg(jsonb_build_object('value', b ->> 'key_as_string', 'count', (b ->> 'doc_count')::bigint)
								ORDER BY b ->> 'key_as_string' DESC), '[]')
					  FROM jsonb_array_elements(v_resp -> 'aggregations' -> 'month' -> 'buckets') b));
	END IF;
	RETURN jsonb_build_object('items', v_items, 'next_cursor', v_next, 'facets', v_facets);
END
$$;

-- Documents for what is already there.
INSERT INTO invoiceflow.search_docs (id, status, source, filename, created_at, tsv)
	SELECT i.id, i.status, i.source, i.filename, i.created_at, setweight(to_tsvector('simple', i.filename), 'B')
	FROM invoiceflow.ingestions i;
UPDATE invoiceflow.extractions SET invoice = invoice;	-- fires extractions_search_update

-- Ownership and privileges of the new objects
DO $own$
DECLARE
	o record;
BEGIN
	FOR o IN SELECT c.oid::regclass AS rel FROM pg_class c
			 WHERE c.relnamespace = 'invoiceflow'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
			   AND c.relowner <> 'invoiceflow_owner'::regrole
	LOOP
		EXECUTE format('ALTER TABLE %s OWNER TO invoiceflow_owner', o.rel);
		EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', o.rel);
	END LOOP;
	FOR o IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
			 WHERE p.pronamespace = 'invoiceflow'::regnamespace AND p.proowner <> 'invoiceflow_owner'::regrole
	LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO invoiceflow_owner', o.fn);
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', o.fn);
	END LOOP;
END
$own$;

GRANT EXECUTE ON FUNCTION invoiceflow.search(text, text, text, text, text, text, text, text, text, text, text,
	text, text, integer, text, boolean) TO invoiceflow_reader;
