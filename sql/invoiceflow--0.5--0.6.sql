/* invoiceflow 0.5 -> 0.6: ways in (email, webhook), access scopes, hardening */
\echo Use "ALTER EXTENSION invoiceflow UPDATE TO '0.6'" to load this file. \quit

/*
 * This release is written by several changes at once; each keeps to its own
 * section below. A section that replaces a function another section also
 * replaces starts from that section's definition (the later one wins).
 */

-- ===== hardening: API key scopes, admin over REST, bounded inputs (issue 9) =====

-- ===== end hardening =====

-- ===== scopes: API key scopes, safe snippets, user-facing errors, no stallable locks (issue 9) =====

/*
 * API keys carry scopes: ingest (uploads and every other way in), read (status,
 * stats, health, the query API, files), review (changes to extracted data),
 * admin (retry, purge, keys). Keys made before 0.6 keep what they could do:
 * {ingest,read}.
 */
ALTER TABLE invoiceflow.api_keys ADD COLUMN scopes text[] NOT NULL DEFAULT '{ingest,read}'
	CONSTRAINT api_keys_scopes_check
	CHECK (cardinality(scopes) > 0 AND scopes <@ '{ingest,read,review,admin}'::text[]);

-- The scopes as given, checked (22023 for an unknown one), without repeats, in a fixed order.
CREATE FUNCTION invoiceflow._api_scopes(p_scopes text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_bad text;
BEGIN
	IF p_scopes IS NULL OR cardinality(p_scopes) = 0 OR array_position(p_scopes, NULL) IS NOT NULL THEN
		PERFORM invoiceflow._bad_input('a key needs at least one scope',
			'Scopes are ingest, read, review and admin.');
	END IF;
	SELECT s INTO v_bad FROM unnest(p_scopes) s
		WHERE s NOT IN ('ingest', 'read', 'review', 'admin') LIMIT 1;
	IF FOUND THEN
		PERFORM invoiceflow._bad_input(format('unknown scope: %s', left(v_bad, 50)),
			'Scopes are ingest, read, review and admin.');
	END IF;
	RETURN ARRAY(SELECT s FROM unnest(ARRAY['ingest', 'read', 'review', 'admin']) WITH ORDINALITY AS a(s, n)
				 WHERE s = ANY (p_scopes) ORDER BY n);
END
$$;

DROP FUNCTION invoiceflow.create_api_key(text);
CREATE FUNCTION invoiceflow.create_api_key(name text, scopes text[] DEFAULT '{ingest,read}') RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_key text := 'ifk_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
	v_scopes text[] := invoiceflow._api_scopes(create_api_key.scopes);
BEGIN
	IF create_api_key.name IS NULL OR length(create_api_key.name) NOT BETWEEN 1 AND 100
		OR create_api_key.name ~ '[[:cntrl:]]' THEN
		PERFORM invoiceflow._bad_input('key name must have 1 to 100 printable characters');
	END IF;
	INSERT INTO invoiceflow.api_keys (name, key_hash, scopes)
		VALUES (create_api_key.name, sha256(convert_to(v_key, 'UTF8')), v_scopes)
		ON CONFLICT DO NOTHING;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'an API key named % already exists', create_api_key.name
			USING ERRCODE = '23505', HINT = 'Revoke it and choose another name.';
	END IF;
	RETURN v_key;
END
$$;

-- The scopes of a valid key; NULL for an unknown or revoked one (the gateway's check).
CREATE FUNCTION invoiceflow.check_api_key_scopes(key text) RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT k.scopes FROM invoiceflow.api_keys k
	WHERE k.key_hash = sha256(convert_to(check_api_key_scopes.key, 'UTF8')) AND k.revoked_at IS NULL
$$;

-- Text for HTML: the five characters that can start markup or end an attribute.
CREATE FUNCTION invoiceflow._html_escape(s text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT replace(replace(replace(replace(replace(s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
		'"', '&quot;'), '''', '&#39;')
$$;

/*
 * ingest(): as in 0.1, but the idempotency key is settled by the unique index on
 * ingestions.idempotency_key instead of an advisory lock keyed on the key's text
 * (which any login could take and so stall every upload with that key). A second
 * upload racing with the first waits on the first's transaction only (the index
 * entry), does nothing, and reads the first's row: the same answer as before.
 */
CREATE OR REPLACE FUNCTION invoiceflow.ingest(filename text, content bytea, source text DEFAULT 'upload',
								   idempotency_key text DEFAULT NULL)
RETURNS TABLE (request_id uuid, status text, duplicate boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_sha bytea;
	v_id uuid;
	v_prev record;
BEGIN
	PERFORM invoiceflow._validate_upload(ingest.filename, ingest.content);
	IF ingest.source IS NULL OR ingest.source NOT IN ('upload', 'email', 'webhook') THEN
		PERFORM invoiceflow._bad_input(format('source must be upload, email or webhook, not %s',
											  coalesce(quote_literal(ingest.source), 'null')));
	END IF;
	IF ingest.idempotency_key IS NOT NULL AND (length(ingest.idempotency_key) NOT BETWEEN 1 AND 255
			OR ingest.idempotency_key ~ '[[:cntrl:]]') THEN
		PERFORM invoiceflow._bad_input('idempotency key must have 1 to 255 printable characters');
	END IF;

	v_sha := pg_catalog.sha256(ingest.content);

	-- a row with the key can be purged between the INSERT that saw it and the read: look again
	FOR attempt IN 1..3 LOOP
		-- Same key: the first request (same content) or 23505 (other content).
		IF ingest.idempotency_key IS NOT NULL THEN
			SELECT i.id, i.status, i.sha256 INTO v_prev
				FROM invoiceflow.ingestions i WHERE i.idempotency_key = ingest.idempotency_key;
			IF FOUND THEN
				IF v_prev.sha256 = v_sha THEN
					RETURN QUERY SELECT v_prev.id, v_prev.status, true;
					RETURN;
				END IF;
				RAISE EXCEPTION 'idempotency key was already used for different content'
					USING ERRCODE = '23505',
						  DETAIL = format('Key %s belongs to request %s.', ingest.idempotency_key, v_prev.id),
						  HINT = 'Use a new idempotency key for a new file.';
			END IF;
		END IF;

		-- Same content: the first request that has not FAILED, while dedup is on.
		IF pg_catalog.current_setting('invoiceflow.dedup')::boolean THEN
			PERFORM pg_catalog.pg_advisory_xact_lock(
				pg_catalog.hashtextextended('invoiceflow.sha:' || pg_catalog.encode(v_sha, 'hex'), 0));
			SELECT i.id, i.status INTO v_prev
				FROM invoiceflow.ingestions i WHERE i.sha256 = v_sha AND i.status <> 'FAILED'
				ORDER BY i.created_at LIMIT 1;
			IF FOUND THEN
				RETURN QUERY SELECT v_prev.id, v_prev.status, true;
				RETURN;
			END IF;
		END IF;

		v_id := gen_random_uuid();
		INSERT INTO invoiceflow.ingestions (id, filename, s3_key, size_bytes, sha256, source, idempotency_key)
			VALUES (v_id, ingest.filename, 'raw/' || v_id || '.pdf', length(ingest.content), v_sha,
					ingest.source, ingest.idempotency_key)
			ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING;
		IF FOUND THEN
			INSERT INTO invoiceflow.ingestion_files (ingestion_id, content) VALUES (v_id, ingest.content);
			RETURN QUERY SELECT v_id, 'PENDING'::text, false;
			RETURN;
		END IF;
	END LOOP;
	RAISE EXCEPTION 'idempotency key % is taken and released by concurrent requests', ingest.idempotency_key
		USING ERRCODE = '40001', HINT = 'Send the upload again.';
END
$$;

/*
 * search(): as in 0.5, and
 * - snippets are safe to put into HTML: the document text is escaped before
 *   ts_headline (an entity is one token, never cut), so the only markup in a
 *   snippet is the <em> added around matches;
 * - a cursor whose key does not fit its sort is "invalid cursor" (22023), never
 *   PostgreSQL's "invalid input syntax for type ..." from the page query's cast;
 * - numbers and dates are ASCII digits whatever the locale (\d follows it);
 * - invoiceflow.search_rank_window above 100000 (10 * window overflowed an
 *   integer) is refused with a message (the GUC's own maximum, from this build on).
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
	p_tmin numeric := invoiceflow._search_param('total_min', search.total_min, '^-?[0-9]{1,20}(\.[0-9]{1,10})?$', 'a decimal number')::numeric;
	p_tmax numeric := invoiceflow._search_param('total_max', search.total_max, '^-?[0-9]{1,20}(\.[0-9]{1,10})?$', 'a decimal number')::numeric;
	p_review boolean := invoiceflow._search_param('needs_review', search.needs_review, '^(true|false)$', 'true or false')::boolean;
	p_source text := lower(invoiceflow._search_param('source', search.source, '^(upload|email|webhook)$', 'upload, email or webhook'));
	p_from_x text := lower(invoiceflow._search_param('extracted_from', search.extracted_from, '^(xml|text|ocr)$', 'xml, text or ocr'));
BEGIN
	p_from := invoiceflow._safe_date(invoiceflow._search_param('issued_from', search.issued_from, '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', 'a date YYYY-MM-DD'));
	p_to := invoiceflow._safe_date(invoiceflow._search_param('issued_to', search.issued_to, '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', 'a date YYYY-MM-DD'));
	IF (search.issued_from <> '' AND p_from IS NULL) OR (search.issued_to <> '' AND p_to IS NULL) THEN
		PERFORM invoiceflow._bad_input('invalid date: no such day in the calendar');
	END IF;
	IF v_limit NOT BETWEEN 1 AND 100 THEN
		PERFORM invoiceflow._bad_input('limit must be between 1 and 100');
	END IF;
	IF v_window NOT BETWEEN 0 AND 100000 THEN
		PERFORM invoiceflow._bad_input('invoiceflow.search_rank_window must be between 0 and 100000',
			format('It is %s; 0 ranks every match.', v_window));
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
			IF current_setting('invoiceflow.search_backend') <> 'opensearch' THEN
				PERFORM CASE ltrim(v_cursor ->> 's', '-+')
					WHEN 'relevance' THEN v_ckey::real::text WHEN 'issue_date' THEN v_ckey::date::text
					WHEN 'total' THEN v_ckey::numeric::text ELSE v_ckey::timestamptz::text END;
			END IF;
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
					(SELECT ts_headline('simple', invoiceflow._html_escape(left(e.text, 20000)), $1,
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

/*
 * search() on OpenSearch: highlights come back between private-use sentinels
 * (U+E000, U+E001), the fragments are escaped here, and only then the sentinels
 * become <em>: the same guarantee without trusting the server's encoder.
 */
CREATE OR REPLACE FUNCTION invoiceflow._search_opensearch(p_q text, p_status text, p_seller text, p_buyer text,
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
			'fragment_size', 120, 'number_of_fragments', 2)), 'pre_tags', jsonb_build_array(U&'\E000'),
			'post_tags', jsonb_build_array(U&'\E001')));
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
			'snippet', (SELECT replace(replace(invoiceflow._html_escape(string_agg(f, ' … ')), U&'\E000', '<em>'),
							 U&'\E001', '</em>')
						FROM jsonb_array_elements_text(h.hit -> 'highlight' -> 'text') f))
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

-- Ownership and privileges. The gateway checks each route's scope, then calls the
-- admin functions for admin keys (retry, purge, keys over REST).
ALTER FUNCTION invoiceflow._api_scopes(text[]) OWNER TO invoiceflow_owner;
ALTER FUNCTION invoiceflow.create_api_key(text, text[]) OWNER TO invoiceflow_owner;
ALTER FUNCTION invoiceflow.check_api_key_scopes(text) OWNER TO invoiceflow_owner;
ALTER FUNCTION invoiceflow._html_escape(text) OWNER TO invoiceflow_owner;
REVOKE ALL ON FUNCTION invoiceflow._api_scopes(text[]), invoiceflow.create_api_key(text, text[]),
	invoiceflow.check_api_key_scopes(text), invoiceflow._html_escape(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION invoiceflow.create_api_key(text, text[]) TO invoiceflow_admin, invoiceflow_gateway;
GRANT EXECUTE ON FUNCTION invoiceflow.check_api_key_scopes(text) TO invoiceflow_gateway;
GRANT EXECUTE ON FUNCTION invoiceflow.retry(uuid), invoiceflow.purge(uuid), invoiceflow.revoke_api_key(text)
	TO invoiceflow_gateway;

-- ===== end scopes =====

-- ===== mail: inbound messages (issue 12) =====

-- ===== end mail =====
