/* invoiceflow 0.4 -> 0.5: search() ranks relevance within a window of the newest matches */
\echo Use "ALTER EXTENSION invoiceflow UPDATE TO '0.5'" to load this file. \quit

/*
 * search(): as in 0.3, but sort => 'relevance' ranks the newest
 * invoiceflow.search_rank_window matches (default 1000; 0 ranks every match), so a
 * keyword that matches a fifth of a million invoices answers in milliseconds.
 * CREATE OR REPLACE keeps the owner (invoiceflow_owner) and the grants of 0.3.
 */
CREATE OR REPLACE FUNCTION invoiceflow.search(q text DEFAULT NULL, status text DEFAULT NULL, seller text DEFAULT NULL,
	buyer text DEFAULT NULL, currency text DEFAULT NULL, issued_from text DEFAULT NULL, issued_to text DEFAULT NULL,
	total_min text DEFAULT NULL, total_max text DEFAULT NULL, needs_review text DEFAULT NULL,
	source text DEFAULT NULL, extracted_from text DEFAULT NULL, sort text DEFAULT NULL,
	"limit" integer DEFAULT 20, cursor text DEFAULT NULL, facets boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER	-- VOLATILE: it asks the planner for estimates (EXPLAIN); it writes nothing
SET search_path = pg_catalog, invoiceflow, pg_temp
SET client_min_messages = warning	-- websearch_to_tsquery notices about stop words
SET max_parallel_workers_per_gather = 0	-- starting workers costs more than a first page (and they start even for a branch never run)
SET enable_seqscan = on	-- (so that the facets' set_config() below ends with the call)
SET jit = off	-- compiling the plan took 30 ms of a 38 ms first page (its costs count branches never run)
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
	-- relevance ranks the newest v_window matches (0: every match); later pages keep
	-- the first page's window through its oldest row (v_wts, v_wid) in the cursor
	v_window integer := coalesce(current_setting('invoiceflow.search_rank_window', true), '1000')::integer;
	v_wcol text;		-- what "newest" means: created_at, or issue_key with an issue-date filter
	v_wts text;
	v_wid uuid;
	v_probe integer := 10;	-- the probe walks v_probe * v_window documents (0: no probe)
	v_scope text;		-- the documents the probe walks (a stretch of issue dates, or all)
	v_plan json;
	v_scope_rows float8;
	v_match_rows float8;
	v_with text := '';
	v_wbound text := 'NULL::jsonb';
	v_page_where text[];	-- v_where, less what the window already applied
	v_wnext jsonb;		-- the window's oldest row, for the next page's cursor
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
			v_wcol := v_cursor -> 'w' ->> 'c';
			v_wts := CASE v_wcol WHEN 'created_at' THEN ((v_cursor -> 'w' ->> 't')::timestamptz)::text
								 WHEN 'issue_key' THEN ((v_cursor -> 'w' ->> 't')::date)::text END;
			v_wid := (v_cursor -> 'w' ->> 'i')::uuid;
			IF v_cursor ? 'w' AND (v_wts IS NULL OR v_wid IS NULL) THEN
				v_cursor := NULL;
			END IF;
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

	/*
	 * The rank window: ranking every match of a broad query (20% of a million rows)
	 * costs hundreds of milliseconds, so relevance orders the newest v_window
	 * matches: by created_at, or by issue date when the issue date is filtered (the
	 * filter then picks a stretch of that index). The first page's cursor carries the
	 * oldest of them, and later pages rank the matches from that one on, so no page
	 * skips or repeats a row of the window.
	 */
	IF v_sort = 'relevance' AND v_window > 0 THEN
		IF v_cid IS NULL THEN
			v_wcol := CASE WHEN p_from IS NOT NULL OR p_to IS NOT NULL THEN 'issue_key' ELSE 'created_at' END;
			v_scope := CASE WHEN v_wcol = 'created_at' THEN 'true'
				ELSE concat_ws(' AND ', CASE WHEN p_from IS NOT NULL THEN 'issue_key >= $6' END,
									   CASE WHEN p_to IS NOT NULL THEN 'issue_key <= $7' END) END;
			-- the planner's estimates: with fewer than one match in ten documents of the
			-- scope the probe would walk its 10 * window documents for nothing
			EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM invoiceflow.search_docs WHERE ' || v_scope
				INTO v_plan USING v_ts, p_status, p_seller, p_buyer, p_currency, p_from, p_to;
			v_scope_rows := (v_plan -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
			IF v_scope_rows > 10.0 * v_window THEN
				EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 1 FROM invoiceflow.search_docs d WHERE '
					|| array_to_string(v_where, ' AND ')
					INTO v_plan USING v_ts, p_status, p_seller, p_buyer, p_currency, p_from, p_to, p_tmin, p_tmax,
									  p_review, p_source, p_from_x;
				v_match_rows := (v_plan -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
				IF v_match_rows * 10.0 < v_scope_rows THEN
					v_probe := 0;
				END IF;
			END IF;
			/*
			 * Two ways to the newest matches, and the planner cannot tell which is cheap
			 * (created_at correlates with issue_date, so "newest first, filter" can read
			 * most of the table): walk the 10 * window newest documents; when fewer match
			 * (or the estimates say they would), the matches are sparse and a bitmap scan
			 * of them all, sorted, is the cheap way (sorting on "col + 0" keeps the
			 * planner off the index there).
			 */
			v_with := format($q$probe AS MATERIALIZED (SELECT d.* FROM (SELECT * FROM invoiceflow.search_docs
					WHERE %3$s ORDER BY %2$I DESC, id LIMIT $16 * %5$s) d
					WHERE %1$s ORDER BY d.%2$I DESC, d.id LIMIT $16),
				win AS MATERIALIZED (
					SELECT * FROM probe WHERE (SELECT count(*) FROM probe) = $16
					UNION ALL
					(SELECT d.* FROM invoiceflow.search_docs d WHERE %1$s AND (SELECT count(*) FROM probe) < $16
					 ORDER BY d.%2$I + %4$s DESC, d.id LIMIT $16)),$q$,
				array_to_string(v_where, ' AND '), v_wcol, v_scope,
				CASE WHEN v_wcol = 'created_at' THEN 'interval ''0''' ELSE '0' END, v_probe);
			v_page_where := ARRAY['true'];
			v_wbound := format($q$(SELECT CASE WHEN (SELECT count(*) FROM win) = $16 THEN
				(SELECT jsonb_build_object('c', %1$L, 't', w.%1$I, 'i', w.id) FROM win w
				 ORDER BY w.%1$I, w.id DESC LIMIT 1) END)$q$, v_wcol);
		ELSIF v_wts IS NOT NULL THEN
			v_page_where := v_where || format('(d.%1$I > $17::%2$s OR (d.%1$I = $17::%2$s AND d.id <= $18))',
				v_wcol, CASE v_wcol WHEN 'created_at' THEN 'timestamptz' ELSE 'date' END);
			v_wbound := format($q$jsonb_build_object('c', %L, 't', $17, 'i', $18)$q$, v_wcol);
		END IF;
	END IF;

	-- keyset: rows after (key, id) in the order (key desc|asc, id asc|desc)
	v_sql := format($q$
		SELECT d.*, %1$s AS sort_key FROM %3$s d WHERE %2$s$q$,
		v_key, array_to_string(coalesce(v_page_where, v_where), ' AND '),
		CASE WHEN v_with <> '' THEN 'win' ELSE 'invoiceflow.search_docs' END);
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
		WITH %s page AS (%s),
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
			(SELECT jsonb_build_object('k', l.sort_key::text, 'i', l.id) FROM numbered l WHERE l.rn = $15 - 1),
			%s
		FROM numbered n$q$, v_with, v_sql, CASE WHEN v_desc THEN 'DESC' ELSE 'ASC' END,
		CASE WHEN v_desc THEN 'ASC' ELSE 'DESC' END, v_wbound);

	EXECUTE v_sql INTO v_items, v_more, v_cursor, v_wnext
		USING v_ts, p_status, p_seller, p_buyer, p_currency, p_from, p_to, p_tmin, p_tmax, p_review,
			  p_source, p_from_x, v_ckey, v_cid, v_limit + 1, v_window, v_wts, v_wid;

	IF v_more THEN
		v_next := translate(encode(convert_to((v_cursor || jsonb_build_object('s', v_sort)
			|| CASE WHEN v_wnext IS NOT NULL THEN jsonb_build_object('w', v_wnext) ELSE '{}' END)::text,
			'UTF8'), 'base64'), E'+/=\n', '-_');
	END IF;

	IF search.facets THEN
		IF v_q IS NOT NULL THEN
			/*
			 * The GIN index finds a broad keyword's matches six times faster than a
			 * sequential scan that evaluates @@ on every row, but @@ is costed like an
			 * equality, so the planner picks the scan. Local to this call: the function's
			 * own SET enable_seqscan restores it on return.
			 */
			PERFORM set_config('enable_seqscan', 'off', true);
		END IF;
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
						  FROM (SELECT to_char(m, 'YYYY-MM') AS v, c
								FROM (SELECT date_trunc('month', issue_date::timestamp) AS m, count(*) AS c FROM f
									  WHERE issue_date IS NOT NULL GROUP BY 1 ORDER BY 1 DESC LIMIT 24) m) s))$q$,
			array_to_string(v_where, ' AND '))
		INTO v_facets
		USING v_ts, p_status, p_seller, p_buyer, p_currency, p_from, p_to, p_tmin, p_tmax, p_review,
			  p_source, p_from_x;
	END IF;

	RETURN jsonb_build_object('items', v_items, 'next_cursor', v_next, 'facets', v_facets);
END
$$;
