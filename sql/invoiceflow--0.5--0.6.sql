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
 * Advisory locks are open to every login: one keyed on text anyone can compute
 * (a key, a file's sha256) can be taken first and held, stalling the uploads that
 * need it. Keys made by _lock_key() are seeded with a secret of this database
 * that only invoiceflow_owner reads, so no other login can name them in advance.
 * (Not dumped: a restored database gets a new secret, which only in-flight locks
 * could notice.)
 */
CREATE TABLE invoiceflow.lock_salt (salt bigint NOT NULL);
INSERT INTO invoiceflow.lock_salt
	VALUES (('x' || translate(gen_random_uuid()::text, '-', ''))::bit(64)::bigint);

CREATE FUNCTION invoiceflow._lock_key(p_name text) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT pg_catalog.hashtextextended(p_name, (SELECT s.salt FROM invoiceflow.lock_salt s))
$$;

/*
 * ingest(): as in 0.1, but the idempotency key is settled by the unique index on
 * ingestions.idempotency_key instead of an advisory lock keyed on the key's text
 * (which any login could take and so stall every upload with that key). A second
 * upload racing with the first waits on the first's transaction only (the index
 * entry), does nothing, and reads the first's row: the same answer as before.
 * The dedup lock on the content's sha256 is keyed with _lock_key().
 */
CREATE OR REPLACE FUNCTION invoiceflow.ingest(filename text, content bytea, source text DEFAULT 'upload',
								   idempotency_key text DEFAULT NULL)
RETURNS TABLE (request_id uuid, status text, duplicate boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
#variable_conflict use_column
DECLARE
	v_sha bytea;
	v_id uuid;
	v_prev record;
BEGIN
	-- (use_column: ON CONFLICT (idempotency_key) names the column, not the argument)
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
			-- keyed with this database's secret: no other login can name (and hold) it
			PERFORM pg_catalog.pg_advisory_xact_lock(
				invoiceflow._lock_key('invoiceflow.sha:' || pg_catalog.encode(v_sha, 'hex')));
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
 * search(): this section's changes (the document text HTML-escaped before
 * ts_headline, so the only markup in a snippet is the <em> around matches; a
 * cursor whose key does not fit its sort is "invalid cursor" (22023); ASCII
 * digits whatever the locale; search_rank_window bounded at 100000) are in the
 * one definition this script ends with (section "mail"): "webhooks" replaces the
 * 16-argument function by a 17-argument one, and every later section keeps them.
 */

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
ALTER FUNCTION invoiceflow._lock_key(text) OWNER TO invoiceflow_owner;
ALTER TABLE invoiceflow.lock_salt OWNER TO invoiceflow_owner;
REVOKE ALL ON FUNCTION invoiceflow._lock_key(text) FROM PUBLIC;
REVOKE ALL ON invoiceflow.lock_salt FROM PUBLIC;
REVOKE ALL ON FUNCTION invoiceflow._api_scopes(text[]), invoiceflow.create_api_key(text, text[]),
	invoiceflow.check_api_key_scopes(text), invoiceflow._html_escape(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION invoiceflow.create_api_key(text, text[]) TO invoiceflow_admin, invoiceflow_gateway;
GRANT EXECUTE ON FUNCTION invoiceflow.check_api_key_scopes(text) TO invoiceflow_gateway;
GRANT EXECUTE ON FUNCTION invoiceflow.retry(uuid), invoiceflow.purge(uuid), invoiceflow.revoke_api_key(text)
	TO invoiceflow_gateway;

-- ===== end scopes =====

-- ===== webhooks: signed webhooks in and out (issue 13) =====
/*
 * Standard Webhooks (https://www.standardwebhooks.com): a message is signed
 * with v1,<base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>, the key being
 * the bytes behind a secret "whsec_<base64>". HMAC needs the key itself, so
 * secrets cannot be stored hashed: with invoiceflow.webhook_secret_key set
 * (server configuration, superuser only) they are stored encrypted
 * (_webhook_seal(), AES-256-GCM), else as issued, and then a dump exposes them
 * (README, Security -> Webhooks). Only invoiceflow_owner reads the tables.
 *
 * Inbound: senders and their secrets (the previous one valid 24 hours after a
 * rotation); the gateway reads a sender's secrets through
 * _webhook_sender_secrets() (invoiceflow_gateway only), checks the signature
 * with OpenSSL, then calls _webhook_ingest(), which keeps the first response
 * of each webhook-id per sender. Outbound: subscriptions, and
 * webhook_deliveries, which is both the webhook sink's outbox (rows written by
 * triggers in the transaction of the state change) and the delivery log.
 */

CREATE FUNCTION invoiceflow._random_bytes(n integer) RETURNS bytea
	AS 'MODULE_PATHNAME', 'invoiceflow_random_bytes' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION invoiceflow._webhook_seal(secret text) RETURNS text
	AS 'MODULE_PATHNAME', 'invoiceflow_webhook_seal' LANGUAGE C VOLATILE STRICT;
CREATE FUNCTION invoiceflow._webhook_unseal(stored text) RETURNS text
	AS 'MODULE_PATHNAME', 'invoiceflow_webhook_unseal' LANGUAGE C STABLE STRICT;

CREATE FUNCTION invoiceflow._webhook_new_secret() RETURNS text
LANGUAGE sql VOLATILE AS $$
	SELECT 'whsec_' || translate(encode(invoiceflow._random_bytes(32), 'base64'), E'\n', '')
$$;

CREATE TABLE invoiceflow.webhook_senders (
	name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
	secret text NOT NULL,
	previous_secret text,
	previous_valid_until timestamp with time zone,
	created_at timestamp with time zone NOT NULL DEFAULT now(),
	rotated_at timestamp with time zone,
	revoked_at timestamp with time zone
);
COMMENT ON TABLE invoiceflow.webhook_senders IS 'Inbound webhook senders and their signing secrets (as issued: HMAC needs them).';

-- the first response to each webhook-id of a sender (the idempotency key)
CREATE TABLE invoiceflow.webhook_receipts (
	sender text NOT NULL,
	webhook_id text NOT NULL,
	request_id uuid NOT NULL,
	status text NOT NULL,
	duplicate boolean NOT NULL,
	received_at timestamp with time zone NOT NULL DEFAULT now(),
	PRIMARY KEY (sender, webhook_id)
);

-- what a webhook told us with an ingestion
CREATE TABLE invoiceflow.webhook_ingestions (
	ingestion_id uuid PRIMARY KEY REFERENCES invoiceflow.ingestions (id) ON DELETE CASCADE,
	sender text NOT NULL,
	webhook_id text NOT NULL,
	metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX webhook_ingestions_sender_idx ON invoiceflow.webhook_ingestions (sender);

CREATE TABLE invoiceflow.webhook_subscriptions (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	url text NOT NULL,
	events text[] NOT NULL,
	secret text NOT NULL,
	active boolean NOT NULL DEFAULT true,
	disabled_reason text,
	created_at timestamp with time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE invoiceflow.webhook_deliveries_id_seq;
CREATE TABLE invoiceflow.webhook_deliveries (
	id bigint PRIMARY KEY DEFAULT nextval('invoiceflow.webhook_deliveries_id_seq'),
	subscription_id uuid NOT NULL REFERENCES invoiceflow.webhook_subscriptions (id) ON DELETE CASCADE,
	ingestion_id uuid NOT NULL,
	event text NOT NULL CHECK (event IN ('invoice.uploaded', 'invoice.completed', 'invoice.failed',
										 'invoice.corrected')),
	-- the same on every retry of the event, and for every subscription
	webhook_id text NOT NULL,
	payload jsonb NOT NULL,
	state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed', 'cancelled')),
	tries integer NOT NULL DEFAULT 0,
	next_attempt_at timestamp with time zone NOT NULL DEFAULT now(),
	last_attempt_at timestamp with time zone,
	last_status integer,
	last_latency_ms integer,
	last_error text,
	claimed_by text,
	claimed_until timestamp with time zone,
	created_at timestamp with time zone NOT NULL DEFAULT now(),
	done_at timestamp with time zone
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
ALTER SEQUENCE invoiceflow.webhook_deliveries_id_seq OWNED BY invoiceflow.webhook_deliveries.id;
COMMENT ON TABLE invoiceflow.webhook_deliveries IS 'The webhook sink''s outbox and delivery log, one row per subscription and event.';
CREATE INDEX webhook_deliveries_due_idx ON invoiceflow.webhook_deliveries (next_attempt_at, id)
	WHERE state = 'pending';
CREATE INDEX webhook_deliveries_subscription_idx ON invoiceflow.webhook_deliveries (subscription_id, id);

SELECT pg_catalog.pg_extension_config_dump('invoiceflow.webhook_senders', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.webhook_receipts', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.webhook_ingestions', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.webhook_subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.webhook_deliveries', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.webhook_deliveries_id_seq', '');

-- ---------------------------------------------------------------------------
-- Senders (admin)
-- ---------------------------------------------------------------------------

CREATE FUNCTION invoiceflow._webhook_check_sender_name(name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF name IS NULL OR name !~ '^[A-Za-z0-9._-]{1,64}$' THEN
		PERFORM invoiceflow._bad_input('sender name must have 1 to 64 characters among A-Z a-z 0-9 . _ -');
	END IF;
END
$$;

CREATE FUNCTION invoiceflow.create_webhook_sender(name text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_secret text := invoiceflow._webhook_new_secret();
BEGIN
	PERFORM invoiceflow._webhook_check_sender_name(create_webhook_sender.name);
	IF EXISTS (SELECT 1 FROM invoiceflow.webhook_senders s WHERE s.name = create_webhook_sender.name) THEN
		RAISE EXCEPTION 'a webhook sender named % already exists', create_webhook_sender.name
			USING ERRCODE = '23505', HINT = 'Rotate its secret, or choose another name.';
	END IF;
	INSERT INTO invoiceflow.webhook_senders (name, secret)
		VALUES (create_webhook_sender.name, invoiceflow._webhook_seal(v_secret));
	RETURN v_secret;
END
$$;

-- a new secret; the previous one is accepted for 24 more hours
CREATE FUNCTION invoiceflow.rotate_webhook_secret(name text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_secret text := invoiceflow._webhook_new_secret();
BEGIN
	PERFORM invoiceflow._webhook_check_sender_name(rotate_webhook_secret.name);
	UPDATE invoiceflow.webhook_senders s
		SET previous_secret = s.secret, previous_valid_until = now() + interval '24 hours',
			secret = invoiceflow._webhook_seal(v_secret), rotated_at = now()
		WHERE s.name = rotate_webhook_secret.name AND s.revoked_at IS NULL;
	IF NOT FOUND THEN
		PERFORM invoiceflow._bad_input(format('no active webhook sender named %s', rotate_webhook_secret.name));
	END IF;
	RETURN v_secret;
END
$$;

CREATE FUNCTION invoiceflow.revoke_webhook_sender(name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	UPDATE invoiceflow.webhook_senders s
		SET revoked_at = now(), secret = '', previous_secret = NULL, previous_valid_until = NULL
		WHERE s.name = revoke_webhook_sender.name AND s.revoked_at IS NULL;
	RETURN FOUND;
END
$$;

CREATE FUNCTION invoiceflow.webhook_senders(OUT name text, OUT created_at text, OUT rotated_at text,
											OUT previous_valid_until text, OUT revoked_at text)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT s.name, invoiceflow._iso(s.created_at), invoiceflow._iso(s.rotated_at),
		   invoiceflow._iso(CASE WHEN s.previous_valid_until > now() THEN s.previous_valid_until END),
		   invoiceflow._iso(s.revoked_at)
	FROM invoiceflow.webhook_senders s ORDER BY s.name
$$;

-- ---------------------------------------------------------------------------
-- Inbound (the gateway)
-- ---------------------------------------------------------------------------

-- The secrets a request of this sender may be signed with: none when the sender
-- is unknown or revoked (the gateway answers 401 either way).
CREATE FUNCTION invoiceflow._webhook_sender_secrets(sender text) RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT invoiceflow._webhook_unseal(x.secret) FROM invoiceflow.webhook_senders s,
		LATERAL (VALUES (s.secret, true),
						(s.previous_secret, s.previous_valid_until > now())) x (secret, valid)
	WHERE s.name = _webhook_sender_secrets.sender AND s.revoked_at IS NULL
	  AND x.secret IS NOT NULL AND x.valid
$$;

-- One signed request, after the gateway verified its signature: the first
-- response of this webhook-id (duplicate = true) or a new ingestion.
CREATE FUNCTION invoiceflow._webhook_ingest(sender text, webhook_id text, filename text, content bytea,
											metadata jsonb DEFAULT NULL)
RETURNS TABLE (request_id uuid, status text, duplicate boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v record;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM invoiceflow.webhook_senders s
				   WHERE s.name = _webhook_ingest.sender AND s.revoked_at IS NULL) THEN
		RAISE EXCEPTION 'unknown or revoked webhook sender' USING ERRCODE = '28000';
	END IF;
	IF webhook_id IS NULL OR length(webhook_id) NOT BETWEEN 1 AND 200 OR webhook_id ~ '[[:cntrl:]]' THEN
		PERFORM invoiceflow._bad_input('webhook-id must have 1 to 200 printable characters');
	END IF;
	IF metadata IS NOT NULL AND jsonb_typeof(metadata) <> 'object' THEN
		PERFORM invoiceflow._bad_input('metadata must be a JSON object');
	END IF;
	IF metadata IS NOT NULL AND octet_length(metadata::text) > 16384 THEN
		PERFORM invoiceflow._bad_input('metadata must be at most 16 KB of JSON');
	END IF;
	-- keyed with the database's secret salt (section scopes): no other login can hold it first
	PERFORM pg_catalog.pg_advisory_xact_lock(invoiceflow._lock_key('invoiceflow.webhook:' || sender || ':' || webhook_id));
	RETURN QUERY SELECT r.request_id, r.status, r.duplicate FROM invoiceflow.webhook_receipts r
		WHERE r.sender = _webhook_ingest.sender AND r.webhook_id = _webhook_ingest.webhook_id;
	IF FOUND THEN
		RETURN;					-- a repeated webhook-id: the first response, as it was
	END IF;
	SELECT * INTO v FROM invoiceflow.ingest(filename, content, 'webhook') g;
	INSERT INTO invoiceflow.webhook_receipts (sender, webhook_id, request_id, status, duplicate)
		VALUES (_webhook_ingest.sender, _webhook_ingest.webhook_id, v.request_id, v.status, v.duplicate);
	IF NOT v.duplicate THEN
		INSERT INTO invoiceflow.webhook_ingestions (ingestion_id, sender, webhook_id, metadata)
			VALUES (v.request_id, _webhook_ingest.sender, _webhook_ingest.webhook_id,
					coalesce(_webhook_ingest.metadata, '{}'));
	END IF;
	RETURN QUERY SELECT v.request_id, v.status, v.duplicate;
END
$$;

-- {sender, metadata} of an ingestion that came by webhook, else NULL
CREATE FUNCTION invoiceflow._webhook_info(ingestion_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
	SELECT jsonb_build_object('sender', w.sender, 'metadata', w.metadata)
	FROM invoiceflow.webhook_ingestions w WHERE w.ingestion_id = _webhook_info.ingestion_id
$$;

-- ---------------------------------------------------------------------------
-- Outbound subscriptions (admin)
-- ---------------------------------------------------------------------------

CREATE FUNCTION invoiceflow.create_subscription(url text,
		events text[] DEFAULT '{invoice.completed,invoice.failed}', OUT id uuid, OUT secret text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_bad text;
BEGIN
	IF url IS NULL OR length(url) > 2000 OR url !~* '^https?://[^/?#@[:space:]]+(/[^[:space:][:cntrl:]]*)?$' THEN
		PERFORM invoiceflow._bad_input('url must be an http:// or https:// URL with a host',
			'User names and passwords in the URL are not accepted.');
	END IF;
	IF events IS NULL OR cardinality(events) = 0 THEN
		PERFORM invoiceflow._bad_input('events must name at least one event');
	END IF;
	SELECT e INTO v_bad FROM unnest(events) e
		WHERE e IS NULL OR e NOT IN ('invoice.uploaded', 'invoice.completed', 'invoice.failed', 'invoice.corrected')
		LIMIT 1;
	IF FOUND THEN
		PERFORM invoiceflow._bad_input(format('unknown event %s', coalesce(quote_literal(v_bad), 'null')),
			'Events are invoice.uploaded, invoice.completed, invoice.failed and invoice.corrected.');
	END IF;
	secret := invoiceflow._webhook_new_secret();
	INSERT INTO invoiceflow.webhook_subscriptions (url, events, secret)
		VALUES (create_subscription.url, ARRAY(SELECT DISTINCT e FROM unnest(events) e ORDER BY 1),
				invoiceflow._webhook_seal(create_subscription.secret))
		RETURNING webhook_subscriptions.id INTO create_subscription.id;
END
$$;

CREATE FUNCTION invoiceflow.delete_subscription(id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	DELETE FROM invoiceflow.webhook_subscriptions s WHERE s.id = delete_subscription.id;
	RETURN FOUND;
END
$$;

CREATE FUNCTION invoiceflow.subscriptions(OUT id uuid, OUT url text, OUT events text[], OUT active boolean,
										  OUT disabled_reason text, OUT created_at text,
										  OUT pending bigint, OUT failed bigint, OUT delivered bigint)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT s.id, s.url, s.events, s.active, s.disabled_reason, invoiceflow._iso(s.created_at),
		   count(*) FILTER (WHERE d.state = 'pending'), count(*) FILTER (WHERE d.state = 'failed'),
		   count(*) FILTER (WHERE d.state = 'done')
	FROM invoiceflow.webhook_subscriptions s
	LEFT JOIN invoiceflow.webhook_deliveries d ON d.subscription_id = s.id
	GROUP BY s.id ORDER BY s.created_at, s.id
$$;

-- the delivery log of a subscription, newest first
CREATE FUNCTION invoiceflow.subscription_deliveries(subscription_id uuid, "limit" integer DEFAULT 50)
RETURNS TABLE (id bigint, event text, request_id uuid, webhook_id text, state text, tries integer,
			   last_status integer, last_latency_ms integer, last_error text, last_attempt_at text,
			   next_attempt_at text, created_at text, done_at text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF "limit" IS NULL OR "limit" NOT BETWEEN 1 AND 1000 THEN
		PERFORM invoiceflow._bad_input('limit must be between 1 and 1000');
	END IF;
	RETURN QUERY
	SELECT d.id, d.event, d.ingestion_id, d.webhook_id, d.state, d.tries, d.last_status, d.last_latency_ms,
		   d.last_error, invoiceflow._iso(d.last_attempt_at),
		   invoiceflow._iso(CASE WHEN d.state = 'pending' THEN d.next_attempt_at END),
		   invoiceflow._iso(d.created_at), invoiceflow._iso(d.done_at)
	FROM invoiceflow.webhook_deliveries d
	WHERE d.subscription_id = subscription_deliveries.subscription_id
	ORDER BY d.id DESC LIMIT "limit";
END
$$;

-- ---------------------------------------------------------------------------
-- The webhook sink's outbox: written by triggers in the changing transaction
-- ---------------------------------------------------------------------------

CREATE FUNCTION invoiceflow._webhook_enqueue(p_rows jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	-- p_rows: [{id, event}] of ingestions; one row per active subscription of the event
	INSERT INTO invoiceflow.webhook_deliveries (subscription_id, ingestion_id, event, webhook_id, payload)
	SELECT s.id, i.id, r.event,
		   'msg_' || i.id || '_' || replace(r.event, 'invoice.', '') || '_' || i.attempt,
		   jsonb_build_object('type', r.event, 'timestamp', invoiceflow._iso(now()),
			   'data', jsonb_build_object('request_id', i.id, 'status', i.status, 'filename', i.filename,
										  'source', i.source)
				   || CASE WHEN r.event = 'invoice.failed' THEN jsonb_build_object('error',
						  jsonb_build_object('kind', i.error_kind, 'message', i.error_message))
						  ELSE '{}'::jsonb END)
	FROM jsonb_to_recordset(p_rows) r (id uuid, event text)
	JOIN invoiceflow.ingestions i ON i.id = r.id
	JOIN invoiceflow.webhook_subscriptions s ON s.active AND r.event = ANY (s.events)
	ORDER BY i.id, s.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		PERFORM invoiceflow._wake_at_commit();
	END IF;
END
$$;

CREATE FUNCTION invoiceflow._webhook_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM invoiceflow.webhook_subscriptions WHERE active) THEN
		PERFORM invoiceflow._webhook_enqueue(
			(SELECT jsonb_agg(jsonb_build_object('id', n.id, 'event', 'invoice.uploaded')) FROM new_rows n));
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION invoiceflow._webhook_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM invoiceflow.webhook_subscriptions WHERE active) THEN
		PERFORM invoiceflow._webhook_enqueue(
			(SELECT jsonb_agg(jsonb_build_object('id', n.id, 'event',
						CASE n.status WHEN 'PENDING' THEN 'invoice.uploaded'
									  WHEN 'COMPLETED' THEN 'invoice.completed'
									  ELSE 'invoice.failed' END))
			 FROM new_rows n JOIN old_rows o ON o.id = n.id
			 WHERE n.status IS DISTINCT FROM o.status AND n.status IN ('PENDING', 'COMPLETED', 'FAILED')));
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER ingestions_webhook_insert
	AFTER INSERT ON invoiceflow.ingestions REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._webhook_inserted();
CREATE TRIGGER ingestions_webhook_update
	AFTER UPDATE ON invoiceflow.ingestions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._webhook_updated();

-- ---------------------------------------------------------------------------
-- The worker's side (src/webhook_queue.c)
-- ---------------------------------------------------------------------------

/*
 * Claims up to p_max due deliveries, at most p_per_sub in flight per
 * subscription (a subscription with a backlog never holds the others back),
 * oldest first within each subscription. The body is built now: the invoice
 * of a completed event is the one stored when it is sent.
 */
CREATE FUNCTION invoiceflow._webhook_claim(p_worker text, p_max integer, p_per_sub integer, p_claim_secs double precision)
RETURNS TABLE (id bigint, subscription_id uuid, url text, key_hex text, webhook_id text, body text, tries integer)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	RETURN QUERY
	WITH busy AS (
		SELECT d.subscription_id, count(*) AS n FROM invoiceflow.webhook_deliveries d
		WHERE d.state = 'pending' AND d.claimed_until > now() GROUP BY d.subscription_id),
	due AS (
		SELECT d.id, row_number() OVER (PARTITION BY d.subscription_id ORDER BY d.next_attempt_at, d.id) AS rn,
			   coalesce(b.n, 0) AS busy, d.next_attempt_at
		FROM invoiceflow.webhook_deliveries d LEFT JOIN busy b ON b.subscription_id = d.subscription_id
		WHERE d.state = 'pending' AND d.next_attempt_at <= now()
		  AND (d.claimed_until IS NULL OR d.claimed_until < now())),
	pick AS (
		SELECT d.id FROM invoiceflow.webhook_deliveries d
		WHERE d.id IN (SELECT due.id FROM due WHERE due.rn + due.busy <= p_per_sub
					   ORDER BY due.rn, due.next_attempt_at, due.id LIMIT p_max)
		FOR UPDATE SKIP LOCKED),
	u AS (
		UPDATE invoiceflow.webhook_deliveries d
		SET claimed_by = p_worker, claimed_until = now() + make_interval(secs => p_claim_secs)
		FROM pick WHERE d.id = pick.id
		RETURNING d.*)
	SELECT u.id, u.subscription_id, s.url, encode(decode(substr(invoiceflow._webhook_unseal(s.secret), 7), 'base64'), 'hex'), u.webhook_id,
		   (CASE WHEN u.event = 'invoice.completed'
				 THEN jsonb_set(u.payload, '{data,invoice}', coalesce(
						(SELECT e.invoice FROM invoiceflow.extractions e WHERE e.ingestion_id = u.ingestion_id),
						'null'::jsonb))
				 ELSE u.payload END)::text,
		   u.tries
	FROM u JOIN invoiceflow.webhook_subscriptions s ON s.id = u.subscription_id
	ORDER BY u.id;
END
$$;

/*
 * One outcome: ok, transient (retry after p_delay seconds), permanent (this
 * delivery failed), gone (HTTP 410: the subscription is disabled and its
 * pending deliveries cancelled), wait (not tried: its host's circuit is open,
 * or its secret cannot be decrypted; no try is used up).
 */
CREATE FUNCTION invoiceflow._webhook_record(p_id bigint, p_outcome text, p_status integer, p_latency_ms integer,
											p_error text, p_delay double precision)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_sub uuid;
BEGIN
	IF p_outcome = 'wait' THEN
		UPDATE invoiceflow.webhook_deliveries d SET claimed_by = NULL, claimed_until = NULL,
			next_attempt_at = now() + make_interval(secs => p_delay),
			last_error = coalesce(nullif(p_error, ''), d.last_error)
			WHERE d.id = p_id AND d.state = 'pending';
		RETURN;
	END IF;
	UPDATE invoiceflow.webhook_deliveries d
	SET tries = d.tries + 1, last_attempt_at = now(), last_status = p_status, last_latency_ms = p_latency_ms,
		last_error = CASE WHEN p_outcome = 'ok' THEN NULL ELSE left(p_error, 1000) END,
		state = CASE p_outcome WHEN 'ok' THEN 'done' WHEN 'transient' THEN 'pending' ELSE 'failed' END,
		next_attempt_at = CASE WHEN p_outcome = 'transient' THEN now() + make_interval(secs => p_delay)
							   ELSE d.next_attempt_at END,
		done_at = CASE WHEN p_outcome = 'transient' THEN NULL ELSE now() END,
		claimed_by = NULL, claimed_until = NULL
	WHERE d.id = p_id AND d.state = 'pending'
	RETURNING d.subscription_id INTO v_sub;
	IF p_outcome = 'gone' AND v_sub IS NOT NULL THEN
		UPDATE invoiceflow.webhook_subscriptions s SET active = false,
			disabled_reason = format('the receiver answered HTTP 410 Gone at %s', invoiceflow._iso(now()))
			WHERE s.id = v_sub;
		UPDATE invoiceflow.webhook_deliveries d SET state = 'cancelled', claimed_by = NULL, claimed_until = NULL,
			last_error = 'subscription disabled: the receiver answered HTTP 410 Gone'
			WHERE d.subscription_id = v_sub AND d.state = 'pending' AND d.id <> p_id;
	END IF;
END
$$;

-- the log and the replay store older than p_days (the worker, hourly): ended
-- deliveries and webhook-ids; a sender retrying a message after that is taken
-- for a new one
CREATE FUNCTION invoiceflow._webhook_prune(p_days integer) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	n bigint;
	m bigint;
BEGIN
	DELETE FROM invoiceflow.webhook_deliveries d
		WHERE d.state <> 'pending' AND coalesce(d.done_at, d.created_at) < now() - make_interval(days => p_days);
	GET DIAGNOSTICS n = ROW_COUNT;
	DELETE FROM invoiceflow.webhook_receipts r WHERE r.received_at < now() - make_interval(days => p_days);
	GET DIAGNOSTICS m = ROW_COUNT;
	RETURN n + m;
END
$$;

-- at start-up: what this worker's previous run left claimed
CREATE FUNCTION invoiceflow._webhook_release(p_worker text) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
	WITH u AS (UPDATE invoiceflow.webhook_deliveries d SET claimed_by = NULL, claimed_until = NULL
			   WHERE d.claimed_by = p_worker AND d.state = 'pending' RETURNING 1)
	SELECT count(*) FROM u
$$;

-- status(): "webhook": {sender, metadata} for an ingestion that came by webhook,
-- in the one definition this script ends with (section "mail")

/*
 * search(): one more argument, sender (a webhook sender), after the sixteen of
 * 0.3, so every earlier call (positional or named) still works; items carry
 * "webhook": {sender, metadata} (null for other sources). The 17-argument
 * function is created once, at the end of this script (section "mail"), with
 * the changes of every section.
 */
DROP FUNCTION invoiceflow.search(text, text, text, text, text, text, text, text, text, text, text,
	text, text, integer, text, boolean);

-- ---------------------------------------------------------------------------
-- Ownership and privileges
-- ---------------------------------------------------------------------------
DO $$
DECLARE
	o text;
BEGIN
	FOREACH o IN ARRAY ARRAY['invoiceflow.webhook_senders', 'invoiceflow.webhook_receipts',
							 'invoiceflow.webhook_ingestions', 'invoiceflow.webhook_subscriptions',
							 'invoiceflow.webhook_deliveries', 'invoiceflow.webhook_deliveries_id_seq'] LOOP
		EXECUTE format('ALTER TABLE %s OWNER TO invoiceflow_owner', o);
		EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', o);
	END LOOP;
	FOREACH o IN ARRAY ARRAY['invoiceflow._random_bytes(integer)', 'invoiceflow._webhook_new_secret()',
			'invoiceflow._webhook_seal(text)', 'invoiceflow._webhook_unseal(text)',
			'invoiceflow._webhook_check_sender_name(text)', 'invoiceflow.create_webhook_sender(text)',
			'invoiceflow.rotate_webhook_secret(text)', 'invoiceflow.revoke_webhook_sender(text)',
			'invoiceflow.webhook_senders()', 'invoiceflow._webhook_sender_secrets(text)',
			'invoiceflow._webhook_ingest(text,text,text,bytea,jsonb)', 'invoiceflow._webhook_info(uuid)',
			'invoiceflow.create_subscription(text,text[])', 'invoiceflow.delete_subscription(uuid)',
			'invoiceflow.subscriptions()', 'invoiceflow.subscription_deliveries(uuid,integer)',
			'invoiceflow._webhook_enqueue(jsonb)', 'invoiceflow._webhook_inserted()',
			'invoiceflow._webhook_updated()', 'invoiceflow._webhook_claim(text,integer,integer,double precision)',
			'invoiceflow._webhook_record(bigint,text,integer,integer,text,double precision)',
			'invoiceflow._webhook_release(text)', 'invoiceflow._webhook_prune(integer)'] LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO invoiceflow_owner', o);
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', o);
	END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION invoiceflow._webhook_sender_secrets(text),
	invoiceflow._webhook_ingest(text, text, text, bytea, jsonb) TO invoiceflow_gateway;
GRANT EXECUTE ON FUNCTION invoiceflow.create_webhook_sender(text), invoiceflow.rotate_webhook_secret(text),
	invoiceflow.revoke_webhook_sender(text), invoiceflow.webhook_senders(),
	invoiceflow.create_subscription(text, text[]), invoiceflow.delete_subscription(uuid),
	invoiceflow.subscriptions(), invoiceflow.subscription_deliveries(uuid, integer) TO invoiceflow_admin;
-- REST for admin keys: the gateway checks the route's scope (admin), then calls these
GRANT EXECUTE ON FUNCTION invoiceflow.create_subscription(text, text[]), invoiceflow.delete_subscription(uuid),
	invoiceflow.subscriptions(), invoiceflow.subscription_deliveries(uuid, integer) TO invoiceflow_gateway;
-- ===== end webhooks =====

-- ===== downloads: a stored file read in slices, for bounded memory per download (issue 9) =====

-- The size in bytes of a file kept in PostgreSQL; NULL when it is not there
-- (moved to S3, purged, or no such request). octet_length() of the column,
-- stored uncompressed (STORAGE EXTERNAL), reads only its TOAST pointer.
CREATE FUNCTION invoiceflow.file_size(request_id uuid) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT octet_length(f.content)::bigint FROM invoiceflow.ingestion_files f
	 WHERE f.ingestion_id = file_size.request_id
$$;

-- "length" bytes of that file from byte "offset" (0-based; fewer at its end, ''
-- past it; NULL when the file is not in PostgreSQL). With STORAGE EXTERNAL
-- substring() fetches only the TOAST chunks of the slice, so the gateway can
-- send a file of any size a slice at a time, each in its own short statement.
CREATE FUNCTION invoiceflow.file_slice(request_id uuid, "offset" bigint, length integer) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF file_slice."offset" IS NULL OR file_slice."offset" NOT BETWEEN 0 AND 1073741824 THEN
		PERFORM invoiceflow._bad_input('offset must be from 0 to 1073741824 bytes');
	END IF;
	IF file_slice.length IS NULL OR file_slice.length NOT BETWEEN 1 AND 16777216 THEN
		PERFORM invoiceflow._bad_input('length must be from 1 to 16777216 bytes');
	END IF;
	RETURN (SELECT substring(f.content FROM (file_slice."offset" + 1)::integer FOR file_slice.length)
			  FROM invoiceflow.ingestion_files f WHERE f.ingestion_id = file_slice.request_id);
END
$$;

ALTER FUNCTION invoiceflow.file_size(uuid) OWNER TO invoiceflow_owner;
ALTER FUNCTION invoiceflow.file_slice(uuid, bigint, integer) OWNER TO invoiceflow_owner;
REVOKE ALL ON FUNCTION invoiceflow.file_size(uuid), invoiceflow.file_slice(uuid, bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION invoiceflow.file_size(uuid), invoiceflow.file_slice(uuid, bigint, integer)
	TO invoiceflow_worker, invoiceflow_gateway;

-- ===== end downloads =====

-- ===== review: corrections, approval, audit log, web sessions (issue 14) =====
/*
 * The extraction stays as the processor stored it (extractions.invoice). A
 * correction is kept beside it: review_state.patch maps a field path
 * ("totals.total", "seller.name", "lines") to its corrected value, and every
 * change is a row of corrections (field, old, new, actor, time). Readers
 * (status(), search(), the OpenSearch document) show the effective invoice:
 * the extraction with the patch laid over it (_effective_invoice()).
 * approve() clears needs_review. audit is append-only for every role, the
 * owner included (a trigger refuses UPDATE, DELETE and TRUNCATE).
 */

CREATE TABLE invoiceflow.review_state (
	ingestion_id uuid PRIMARY KEY REFERENCES invoiceflow.ingestions (id) ON DELETE CASCADE,
	patch jsonb NOT NULL DEFAULT '{}'::jsonb,	-- {"<path>": value}: the corrected fields
	revision integer NOT NULL DEFAULT 0,		-- corrections so far (the invoice.corrected message id)
	reviewed_by text,
	reviewed_at timestamp with time zone
);

-- plain sequences, not identity columns: pg_dump keeps a config sequence's value (the outbox's pattern)
CREATE SEQUENCE invoiceflow.corrections_id_seq;
CREATE SEQUENCE invoiceflow.audit_id_seq;
CREATE TABLE invoiceflow.corrections (
	id bigint PRIMARY KEY DEFAULT nextval('invoiceflow.corrections_id_seq'),
	ingestion_id uuid NOT NULL REFERENCES invoiceflow.ingestions (id) ON DELETE CASCADE,
	field text NOT NULL,
	old_value jsonb,
	new_value jsonb,
	actor text NOT NULL,
	corrected_at timestamp with time zone NOT NULL DEFAULT now()
);
CREATE INDEX corrections_ingestion_idx ON invoiceflow.corrections (ingestion_id, id);

-- No foreign key: the record of a purge outlives the ingestion.
CREATE TABLE invoiceflow.audit (
	id bigint PRIMARY KEY DEFAULT nextval('invoiceflow.audit_id_seq'),
	at timestamp with time zone NOT NULL DEFAULT now(),
	actor text NOT NULL,
	action text NOT NULL CHECK (action IN ('upload', 'correct', 'approve', 'retry', 'purge',
										   'key_create', 'key_change', 'key_revoke', 'key_delete')),
	request_id uuid,
	detail jsonb,
	db_role text NOT NULL DEFAULT session_user
);
CREATE INDEX audit_request_idx ON invoiceflow.audit (request_id, id) WHERE request_id IS NOT NULL;
COMMENT ON TABLE invoiceflow.audit IS 'Who did what: append-only (UPDATE, DELETE and TRUNCATE are refused for every role).';

-- Web sessions of the gateway's page: the token and CSRF token are known only to
-- the browser; the table keeps the token's hash.
CREATE TABLE invoiceflow.web_sessions (
	token_hash bytea PRIMARY KEY,
	key_name text NOT NULL,
	csrf text NOT NULL,
	created_at timestamp with time zone NOT NULL DEFAULT now(),
	last_seen timestamp with time zone NOT NULL DEFAULT now(),
	expires_at timestamp with time zone NOT NULL
);
CREATE INDEX web_sessions_expiry_idx ON invoiceflow.web_sessions (expires_at);

SELECT pg_catalog.pg_extension_config_dump('invoiceflow.review_state', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.corrections', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.audit', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.corrections_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.audit_id_seq', '');
ALTER SEQUENCE invoiceflow.corrections_id_seq OWNED BY invoiceflow.corrections.id;
ALTER SEQUENCE invoiceflow.audit_id_seq OWNED BY invoiceflow.audit.id;

-- ---------------------------------------------------------------------------
-- The audit log: append-only, written by triggers and by correct()/approve()
-- ---------------------------------------------------------------------------

CREATE FUNCTION invoiceflow._audit_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'invoiceflow.audit is append-only'
		USING ERRCODE = '42501', DETAIL = format('%s is refused for every role.', TG_OP);
END
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON invoiceflow.audit
	FOR EACH ROW EXECUTE FUNCTION invoiceflow._audit_refuse();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON invoiceflow.audit
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._audit_refuse();

-- Who acts: invoiceflow.actor when the caller set it (the gateway: the key's name), else the login role.
CREATE FUNCTION invoiceflow._actor() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT coalesce(nullif(left(current_setting('invoiceflow.actor', true), 200), ''), session_user::text)
$$;

/*
 * An upload is a row made now (created_at defaults to the transaction's time):
 * rows a restore puts back (pg_restore, with their old times) are not uploads
 * again, and their audit rows come back from the dump.
 */
CREATE FUNCTION invoiceflow._audit_ingestions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO invoiceflow.audit (actor, action, request_id, detail)
			SELECT invoiceflow._actor(), 'upload', n.id,
				   jsonb_build_object('filename', n.filename, 'source', n.source, 'size_bytes', n.size_bytes)
			FROM new_rows n WHERE n.created_at = now() ORDER BY n.created_at, n.id;
	ELSIF TG_OP = 'UPDATE' THEN
		INSERT INTO invoiceflow.audit (actor, action, request_id, detail)
			SELECT invoiceflow._actor(), 'retry', n.id, jsonb_build_object('attempt', n.attempt)
			FROM new_rows n JOIN old_rows o ON o.id = n.id
			WHERE o.status = 'FAILED' AND n.status = 'PENDING' ORDER BY n.id;
	ELSE
		INSERT INTO invoiceflow.audit (actor, action, request_id, detail)
			SELECT invoiceflow._actor(), 'purge', o.id, jsonb_build_object('filename', o.filename, 'status', o.status)
			FROM old_rows o ORDER BY o.id;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER ingestions_audit_insert AFTER INSERT ON invoiceflow.ingestions
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._audit_ingestions();
CREATE TRIGGER ingestions_audit_update AFTER UPDATE ON invoiceflow.ingestions
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._audit_ingestions();
CREATE TRIGGER ingestions_audit_delete AFTER DELETE ON invoiceflow.ingestions
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._audit_ingestions();

-- Key changes: created, revoked, scopes changed, deleted (never the key or its hash)
CREATE FUNCTION invoiceflow._audit_api_keys() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		IF NEW.created_at = now() THEN	-- not a restored key (as uploads above)
			INSERT INTO invoiceflow.audit (actor, action, detail)
				VALUES (invoiceflow._actor(), 'key_create', jsonb_build_object('name', NEW.name, 'scopes', NEW.scopes));
		END IF;
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO invoiceflow.audit (actor, action, detail)
			VALUES (invoiceflow._actor(), 'key_delete', jsonb_build_object('name', OLD.name));
	ELSIF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
		INSERT INTO invoiceflow.audit (actor, action, detail)
			VALUES (invoiceflow._actor(), 'key_revoke', jsonb_build_object('name', NEW.name));
	ELSIF (OLD.scopes, OLD.key_hash, OLD.name, OLD.revoked_at) IS DISTINCT FROM (NEW.scopes, NEW.key_hash, NEW.name, NEW.revoked_at) THEN
		INSERT INTO invoiceflow.audit (actor, action, detail)
			VALUES (invoiceflow._actor(), 'key_change', jsonb_build_object('name', NEW.name, 'old_name', OLD.name,
					'scopes', NEW.scopes, 'old_scopes', OLD.scopes, 'new_secret', OLD.key_hash <> NEW.key_hash));
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_audit AFTER INSERT OR UPDATE OR DELETE ON invoiceflow.api_keys
	FOR EACH ROW EXECUTE FUNCTION invoiceflow._audit_api_keys();

/*
 * The reader for admins: newest first, keyset-paginated by id (cursor = the
 * last id of the previous page), optionally for one request or one action.
 */
CREATE FUNCTION invoiceflow.audit_log(cursor text DEFAULT NULL, "limit" integer DEFAULT 50,
	request_id uuid DEFAULT NULL, action text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_before bigint;
	v_items jsonb;
	v_last bigint;
	v_n integer;
BEGIN
	IF audit_log."limit" IS NULL OR audit_log."limit" NOT BETWEEN 1 AND 500 THEN
		PERFORM invoiceflow._bad_input('limit must be between 1 and 500');
	END IF;
	IF nullif(audit_log.cursor, '') IS NOT NULL THEN
		IF audit_log.cursor !~ '^[0-9]{1,18}$' THEN
			PERFORM invoiceflow._bad_input('invalid cursor', 'Pass the next_cursor of the previous page.');
		END IF;
		v_before := audit_log.cursor::bigint;
	END IF;
	SELECT coalesce(jsonb_agg(jsonb_build_object('id', a.id, 'at', invoiceflow._iso(a.at), 'actor', a.actor,
				'action', a.action, 'request_id', a.request_id, 'detail', a.detail, 'db_role', a.db_role)
				ORDER BY a.id DESC), '[]'::jsonb), min(a.id), count(*)
		INTO v_items, v_last, v_n
		FROM (SELECT * FROM invoiceflow.audit x
			  WHERE (v_before IS NULL OR x.id < v_before)
				AND (audit_log.request_id IS NULL OR x.request_id = audit_log.request_id)
				AND (audit_log.action IS NULL OR x.action = audit_log.action)
			  ORDER BY x.id DESC LIMIT audit_log."limit") a;
	RETURN jsonb_build_object('items', v_items,
		'next_cursor', CASE WHEN v_n = audit_log."limit" AND EXISTS (
			SELECT 1 FROM invoiceflow.audit x WHERE x.id < v_last
				AND (audit_log.request_id IS NULL OR x.request_id = audit_log.request_id)
				AND (audit_log.action IS NULL OR x.action = audit_log.action)) THEN v_last::text END);
END
$$;

-- ---------------------------------------------------------------------------
-- Corrections
-- ---------------------------------------------------------------------------

-- The ISO 4217 alphabetic codes in use (2024 list), funds codes and X-codes for metals excluded.
CREATE FUNCTION invoiceflow._iso4217(code text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT code = ANY ('{AED,AFN,ALL,AMD,ANG,AOA,ARS,AUD,AWG,AZN,BAM,BBD,BDT,BGN,BHD,BIF,BMD,BND,BOB,BRL,BSD,BTN,BWP,BYN,BZD,CAD,CDF,CHF,CLP,CNY,COP,CRC,CUP,CVE,CZK,DJF,DKK,DOP,DZD,EGP,ERN,ETB,EUR,FJD,FKP,GBP,GEL,GHS,GIP,GMD,GNF,GTQ,GYD,HKD,HNL,HTG,HUF,IDR,ILS,INR,IQD,IRR,ISK,JMD,JOD,JPY,KES,KGS,KHR,KMF,KPW,KRW,KWD,KYD,KZT,LAK,LBP,LKR,LRD,LSL,LYD,MAD,MDL,MGA,MKD,MMK,MNT,MOP,MRU,MUR,MVR,MWK,MXN,MYR,MZN,NAD,NGN,NIO,NOK,NPR,NZD,OMR,PAB,PEN,PGK,PHP,PKR,PLN,PYG,QAR,RON,RSD,RUB,RWF,SAR,SBD,SCR,SDG,SEK,SGD,SHP,SLE,SOS,SRD,SSP,STN,SVC,SYP,SZL,THB,TJS,TMT,TND,TOP,TRY,TTD,TWD,TZS,UAH,UGX,USD,UYU,UZS,VED,VES,VND,VUV,WST,XAF,XCD,XCG,XOF,XPF,YER,ZAR,ZMW,ZWG}'::text[])
$$;

/*
 * One value of the invoice's JSON shape, checked by its kind: 'amount' (a
 * decimal as a string), 'date' (YYYY-MM-DD, a real day), 'currency', 'doctype',
 * 'text'. null clears a field. Raises 22023 naming the field.
 */
CREATE FUNCTION invoiceflow._review_check(p_field text, p_kind text, p_value jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v text;
BEGIN
	IF p_value IS NULL OR jsonb_typeof(p_value) = 'null' THEN
		RETURN;
	END IF;
	IF jsonb_typeof(p_value) <> 'string' THEN
		PERFORM invoiceflow._bad_input(format('%s must be a string or null', p_field),
			CASE WHEN p_kind = 'amount' THEN 'Amounts are decimals written as strings, such as "119.00".' END);
	END IF;
	v := p_value #>> '{}';
	IF p_kind = 'amount' AND v !~ '^-?[0-9]{1,20}(\.[0-9]{1,10})?$' THEN
		PERFORM invoiceflow._bad_input(format('%s must be a decimal number such as "119.00"', p_field),
			format('Got "%s".', left(v, 40)));
	ELSIF p_kind = 'date' AND (v !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' OR invoiceflow._safe_date_strict(v) IS NULL) THEN
		PERFORM invoiceflow._bad_input(format('%s must be a date YYYY-MM-DD', p_field), format('Got "%s".', left(v, 40)));
	ELSIF p_kind = 'currency' AND NOT invoiceflow._iso4217(v) THEN
		PERFORM invoiceflow._bad_input(format('%s must be an ISO 4217 currency code such as EUR', p_field),
			format('Got "%s".', left(v, 40)));
	ELSIF p_kind = 'doctype' AND v NOT IN ('invoice', 'credit_note') THEN
		PERFORM invoiceflow._bad_input(format('%s must be invoice or credit_note', p_field));
	ELSIF p_kind = 'text' AND (length(v) > 1000 OR v ~ '[\x01-\x08\x0B\x0C\x0E-\x1F\x7F]') THEN
		PERFORM invoiceflow._bad_input(format('%s must be printable text of at most 1000 characters', p_field));
	END IF;
END
$$;

-- a real calendar day, NULL otherwise (2025-02-30 is NULL, never an error)
CREATE FUNCTION invoiceflow._safe_date_strict(s text) RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	RETURN CASE WHEN to_char(s::date, 'YYYY-MM-DD') = s THEN s::date END;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END
$$;

/*
 * The fields a correction may set, with their kinds: the extracted invoice's
 * shape (DESIGN § Extracted invoice) less what the processor alone reports
 * (source, profile, confidence, sources, needs_review: approve() clears that).
 */
CREATE FUNCTION invoiceflow._review_fields() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT '{"document_type": "doctype", "invoice_number": "text", "issue_date": "date", "due_date": "date",
			 "currency": "currency", "purchase_order": "text", "payment_terms": "text",
			 "seller": {"name": "text", "vat_id": "text", "address": "text"},
			 "buyer": {"name": "text", "vat_id": "text", "address": "text"},
			 "totals": {"net": "amount", "tax": "amount", "total": "amount", "amount_due": "amount"},
			 "payment": {"iban": "text", "bic": "text", "reference": "text"},
			 "tax_breakdown": [{"rate": "amount", "base": "amount", "amount": "amount"}],
			 "lines": [{"description": "text", "quantity": "amount", "unit": "text", "unit_price": "amount",
						"net_amount": "amount", "tax_rate": "amount"}]}'::jsonb
$$;

/*
 * A patch -> {"<path>": value} with every value checked; 22023 for an
 * unknown key, a wrong type or a bad value. Objects are patched field by
 * field (seller.name), lists (lines, tax_breakdown) as a whole.
 */
CREATE FUNCTION invoiceflow._review_flatten(p_patch jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_spec jsonb := invoiceflow._review_fields();
	v_out jsonb := '{}'::jsonb;
	k text;
	v jsonb;
	k2 text;
	v2 jsonb;
	s jsonb;
	item jsonb;
	n integer := 0;
BEGIN
	IF p_patch IS NULL OR jsonb_typeof(p_patch) <> 'object' OR p_patch = '{}'::jsonb THEN
		PERFORM invoiceflow._bad_input('a correction is a JSON object of invoice fields',
			'For example {"totals": {"total": "119.00"}, "invoice_number": "R-1"}.');
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(p_patch) LOOP
		s := v_spec -> k;
		IF s IS NULL THEN
			PERFORM invoiceflow._bad_input(format('unknown invoice field: %s', left(k, 60)),
				'Fields: document_type, invoice_number, issue_date, due_date, currency, purchase_order, '
				'payment_terms, seller, buyer, totals, payment, tax_breakdown, lines.');
		END IF;
		IF jsonb_typeof(s) = 'string' THEN
			PERFORM invoiceflow._review_check(k, s #>> '{}', v);
			v_out := v_out || jsonb_build_object(k, v);
		ELSIF jsonb_typeof(s) = 'object' THEN
			IF jsonb_typeof(v) <> 'object' THEN
				PERFORM invoiceflow._bad_input(format('%s must be an object', k));
			END IF;
			FOR k2, v2 IN SELECT * FROM jsonb_each(v) LOOP
				IF NOT s ? k2 THEN
					PERFORM invoiceflow._bad_input(format('unknown invoice field: %s.%s', k, left(k2, 60)),
						format('Fields of %s: %s.', k, (SELECT string_agg(x, ', ') FROM jsonb_object_keys(s) x)));
				END IF;
				PERFORM invoiceflow._review_check(k || '.' || k2, s ->> k2, v2);
				v_out := v_out || jsonb_build_object(k || '.' || k2, v2);
			END LOOP;
		ELSE
			IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) > 1000 THEN
				PERFORM invoiceflow._bad_input(format('%s must be a list of at most 1000 objects', k));
			END IF;
			n := 0;
			FOR item IN SELECT * FROM jsonb_array_elements(v) LOOP
				n := n + 1;
				IF jsonb_typeof(item) <> 'object' THEN
					PERFORM invoiceflow._bad_input(format('%s[%s] must be an object', k, n));
				END IF;
				FOR k2, v2 IN SELECT * FROM jsonb_each(item) LOOP
					IF NOT (s -> 0) ? k2 THEN
						PERFORM invoiceflow._bad_input(format('unknown invoice field: %s[%s].%s', k, n, left(k2, 60)));
					END IF;
					PERFORM invoiceflow._review_check(format('%s[%s].%s', k, n, k2), s -> 0 ->> k2, v2);
				END LOOP;
			END LOOP;
			v_out := v_out || jsonb_build_object(k, v);
		END IF;
	END LOOP;
	RETURN v_out;
END
$$;

-- The extraction with the corrections over it, and needs_review false once approved.
CREATE FUNCTION invoiceflow._effective_invoice(p_invoice jsonb, p_patch jsonb, p_approved boolean) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v jsonb := p_invoice;
	k text;
	val jsonb;
	path text[];
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	END IF;
	FOR k, val IN SELECT * FROM jsonb_each(coalesce(p_patch, '{}'::jsonb)) ORDER BY 1 LOOP
		path := string_to_array(k, '.');
		IF cardinality(path) = 2 AND jsonb_typeof(v -> path[1]) IS DISTINCT FROM 'object' THEN
			v := jsonb_set(v, path[1:1], '{}'::jsonb, true);
		END IF;
		v := jsonb_set(v, path, val, true);
	END LOOP;
	IF p_approved THEN
		v := jsonb_set(v, '{needs_review}', 'false'::jsonb, true);
	END IF;
	RETURN v;
END
$$;

CREATE FUNCTION invoiceflow._invoice_of(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT invoiceflow._effective_invoice(e.invoice, r.patch, r.reviewed_at IS NOT NULL)
	FROM invoiceflow.extractions e LEFT JOIN invoiceflow.review_state r ON r.ingestion_id = e.ingestion_id
	WHERE e.ingestion_id = p_id
$$;

-- What status() and search() add: {corrections: [...], reviewed_by, reviewed_at}
CREATE FUNCTION invoiceflow._review_info(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT jsonb_build_object(
		'corrections', coalesce((SELECT jsonb_agg(jsonb_build_object('field', c.field, 'old', c.old_value,
					'new', c.new_value, 'actor', c.actor, 'at', invoiceflow._iso(c.corrected_at)) ORDER BY c.id)
				FROM invoiceflow.corrections c WHERE c.ingestion_id = p_id), '[]'::jsonb),
		'reviewed_by', r.reviewed_by,
		'reviewed_at', invoiceflow._iso(r.reviewed_at))
	FROM (SELECT 1) one LEFT JOIN invoiceflow.review_state r ON r.ingestion_id = p_id
$$;

-- The search document (and OpenSearch's, through the outbox) follows the effective invoice.
CREATE FUNCTION invoiceflow._review_sync(p_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_inv jsonb := invoiceflow._invoice_of(p_id);
BEGIN
	UPDATE invoiceflow.search_docs d SET
		invoice_number = left(v_inv ->> 'invoice_number', 200),
		seller = left(v_inv -> 'seller' ->> 'name', 500),
		buyer = left(v_inv -> 'buyer' ->> 'name', 500),
		currency = CASE WHEN v_inv ->> 'currency' ~ '^[A-Z]{3}$' THEN v_inv ->> 'currency' END,
		issue_date = invoiceflow._safe_date(v_inv ->> 'issue_date'),
		total = invoiceflow._safe_numeric(v_inv -> 'totals' ->> 'total'),
		needs_review = CASE WHEN jsonb_typeof(v_inv -> 'needs_review') = 'boolean'
							THEN (v_inv ->> 'needs_review')::boolean END,
		tsv = invoiceflow._doc_tsv(d.filename, v_inv, e.text)
			|| CASE WHEN d.source = 'email' THEN invoiceflow._mail_tsv(d.id) ELSE ''::tsvector END
	FROM invoiceflow.extractions e
	WHERE d.id = p_id AND e.ingestion_id = p_id;
	/*
	 * OpenSearch: the ingestion's index row is sent again (one row per ingestion,
	 * as the back-fill expects); a new one only when the row is in flight now,
	 * since its worker may have read the document before this change.
	 */
	IF invoiceflow._opensearch_enabled() THEN
		UPDATE invoiceflow.outbox x SET state = 'pending', tries = 0, next_attempt_at = now(), last_error = NULL,
				done_at = NULL
			WHERE x.ingestion_id = p_id AND x.sink = 'opensearch' AND x.action = 'index'
			  AND (x.claimed_until IS NULL OR x.claimed_until < now());
		IF NOT FOUND THEN
			INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt)
				SELECT i.id, 'opensearch', 'index', i.attempt FROM invoiceflow.ingestions i WHERE i.id = p_id;
		END IF;
		PERFORM invoiceflow._wake_at_commit();
	END IF;
END
$$;

-- invoice.corrected to RabbitMQ (message id <id>:invoice.corrected:<revision>) and to subscriptions
CREATE FUNCTION invoiceflow._review_announce(p_id uuid, p_revision integer, p_fields text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF 'rabbitmq' = ANY (invoiceflow._outbox_sinks()) THEN
		INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, event, attempt)
			VALUES (p_id, 'rabbitmq', 'publish', 'invoice.corrected', p_revision);
		PERFORM invoiceflow._wake_at_commit();
	END IF;
	/*
	 * Subscriptions: as _webhook_enqueue() (section webhooks) writes the other
	 * events, but one webhook id per correction (msg_<id>_corrected_<revision>;
	 * the attempt would repeat it) and the body taken now: the effective invoice
	 * and the fields this correction changed.
	 */
	INSERT INTO invoiceflow.webhook_deliveries (subscription_id, ingestion_id, event, webhook_id, payload)
	SELECT s.id, i.id, 'invoice.corrected', 'msg_' || i.id || '_corrected_' || p_revision,
		   jsonb_build_object('type', 'invoice.corrected', 'timestamp', invoiceflow._iso(now()),
			   'data', jsonb_build_object('request_id', i.id, 'status', i.status, 'filename', i.filename,
										  'source', i.source, 'revision', p_revision, 'fields', to_jsonb(p_fields),
										  'invoice', invoiceflow._invoice_of(i.id))
					   || invoiceflow._review_info(i.id))
	FROM invoiceflow.ingestions i
	JOIN invoiceflow.webhook_subscriptions s ON s.active AND 'invoice.corrected' = ANY (s.events)
	WHERE i.id = p_id
	ORDER BY s.id;
	IF FOUND THEN
		PERFORM invoiceflow._wake_at_commit();
	END IF;
END
$$;

CREATE FUNCTION invoiceflow._review_target(p_id uuid, p_actor text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_status text;
BEGIN
	IF p_actor IS NULL OR length(btrim(p_actor)) NOT BETWEEN 1 AND 200 OR p_actor ~ '[[:cntrl:]]' THEN
		PERFORM invoiceflow._bad_input('actor must have 1 to 200 printable characters');
	END IF;
	SELECT i.status INTO v_status FROM invoiceflow.ingestions i WHERE i.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no invoice with id %', p_id USING ERRCODE = 'P0002';
	END IF;
	IF v_status <> 'COMPLETED' THEN
		RAISE EXCEPTION 'invoice % is %: only a COMPLETED invoice can be reviewed', p_id, v_status
			USING ERRCODE = 'IF001', HINT = 'Wait until it is COMPLETED.';
	END IF;
	INSERT INTO invoiceflow.review_state (ingestion_id) VALUES (p_id) ON CONFLICT DO NOTHING;
END
$$;

/*
 * correct(): sets fields of the extracted invoice. Returns status() with the
 * effective invoice. Fields whose value does not change are not recorded; a
 * patch that changes nothing writes nothing.
 */
CREATE FUNCTION invoiceflow.correct(request_id uuid, patch jsonb, actor text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_flat jsonb := invoiceflow._review_flatten(correct.patch);
	v_before jsonb;
	v_old jsonb;
	k text;
	v jsonb;
	v_changed text[] := '{}';
	v_rev integer;
BEGIN
	PERFORM invoiceflow._review_target(correct.request_id, correct.actor);
	v_before := invoiceflow._invoice_of(correct.request_id);
	FOR k, v IN SELECT * FROM jsonb_each(v_flat) ORDER BY 1 LOOP
		v_old := v_before #> string_to_array(k, '.');
		IF coalesce(v_old, 'null'::jsonb) IS DISTINCT FROM v THEN
			INSERT INTO invoiceflow.corrections (ingestion_id, field, old_value, new_value, actor)
				VALUES (correct.request_id, k, coalesce(v_old, 'null'::jsonb), v, btrim(correct.actor));
			v_changed := v_changed || k;
		END IF;
	END LOOP;
	IF cardinality(v_changed) > 0 THEN
		UPDATE invoiceflow.review_state r SET patch = r.patch || v_flat, revision = r.revision + 1
			WHERE r.ingestion_id = correct.request_id RETURNING r.revision INTO v_rev;
		INSERT INTO invoiceflow.audit (actor, action, request_id, detail)
			VALUES (btrim(correct.actor), 'correct', correct.request_id,
					jsonb_build_object('fields', to_jsonb(v_changed), 'revision', v_rev,
						'old', (SELECT jsonb_object_agg(f, coalesce(v_before #> string_to_array(f, '.'), 'null'::jsonb)) FROM unnest(v_changed) f),
						'new', (SELECT jsonb_object_agg(f, v_flat -> f) FROM unnest(v_changed) f)));
		PERFORM invoiceflow._review_sync(correct.request_id);
		PERFORM invoiceflow._review_announce(correct.request_id, v_rev, v_changed);
	END IF;
	RETURN invoiceflow.status(correct.request_id);
END
$$;

-- approve(): the reviewer vouches for the (effective) invoice; needs_review becomes false.
CREATE FUNCTION invoiceflow.approve(request_id uuid, actor text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	PERFORM invoiceflow._review_target(approve.request_id, approve.actor);
	UPDATE invoiceflow.review_state r SET reviewed_by = btrim(approve.actor), reviewed_at = now()
		WHERE r.ingestion_id = approve.request_id;
	INSERT INTO invoiceflow.audit (actor, action, request_id)
		VALUES (btrim(approve.actor), 'approve', approve.request_id);
	PERFORM invoiceflow._review_sync(approve.request_id);
	RETURN invoiceflow.status(approve.request_id);
END
$$;

-- ---------------------------------------------------------------------------
-- Web sessions (the gateway's page): a key is exchanged for a session
-- ---------------------------------------------------------------------------

/*
 * A session for a valid key: an opaque token (the cookie) and a CSRF token,
 * idle for at most idle_seconds, alive for at most max_seconds. The session
 * carries the key: revoking the key or changing its scopes acts at once.
 */
CREATE FUNCTION invoiceflow._session_create(key text, idle_seconds integer DEFAULT 1800,
	max_seconds integer DEFAULT 43200, OUT token text, OUT csrf text, OUT name text, OUT scopes text[],
	OUT expires_at text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_name text;
BEGIN
	SELECT k.name, k.scopes INTO v_name, scopes FROM invoiceflow.api_keys k
		WHERE k.key_hash = sha256(convert_to(_session_create.key, 'UTF8')) AND k.revoked_at IS NULL;
	IF NOT FOUND THEN
		RETURN;		-- all NULL: not a valid key
	END IF;
	DELETE FROM invoiceflow.web_sessions s WHERE s.expires_at < now();
	token := encode(invoiceflow._random_bytes(32), 'hex');
	csrf := encode(invoiceflow._random_bytes(32), 'hex');
	name := v_name;
	INSERT INTO invoiceflow.web_sessions (token_hash, key_name, csrf, expires_at)
		VALUES (sha256(convert_to(token, 'UTF8')), v_name, csrf,
				now() + make_interval(secs => least(idle_seconds, max_seconds)))
		RETURNING invoiceflow._iso(web_sessions.expires_at) INTO expires_at;
END
$$;

-- The session's key name, scopes and CSRF token; no row when unknown, expired or its key revoked.
-- Its idle deadline moves on at most every 15 seconds (a page polling every 2 s writes little).
CREATE FUNCTION invoiceflow._session_check(token text, idle_seconds integer DEFAULT 1800,
	max_seconds integer DEFAULT 43200)
RETURNS TABLE (name text, scopes text[], csrf text)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	WITH s AS (
		SELECT w.token_hash, w.key_name, k.scopes, w.csrf, w.last_seen
		FROM invoiceflow.web_sessions w JOIN invoiceflow.api_keys k ON k.name = w.key_name AND k.revoked_at IS NULL
		WHERE w.token_hash = sha256(convert_to(_session_check.token, 'UTF8')) AND w.expires_at > now()),
	touch AS (
		UPDATE invoiceflow.web_sessions w
		SET last_seen = now(),
			expires_at = least(w.created_at + make_interval(secs => max_seconds), now() + make_interval(secs => idle_seconds))
		FROM s WHERE w.token_hash = s.token_hash AND s.last_seen < now() - interval '15 seconds')
	SELECT s.key_name, s.scopes, s.csrf FROM s
$$;

CREATE FUNCTION invoiceflow._session_end(token text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	DELETE FROM invoiceflow.web_sessions s WHERE s.token_hash = sha256(convert_to(_session_end.token, 'UTF8'));
	RETURN FOUND;
END
$$;

-- The name of a valid key (the actor of a review made with it).
CREATE FUNCTION invoiceflow._api_key_name(key text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT k.name FROM invoiceflow.api_keys k
	WHERE k.key_hash = sha256(convert_to(_api_key_name.key, 'UTF8')) AND k.revoked_at IS NULL
$$;

-- search() through OpenSearch: each completed item gets "review" as the embedded backend gives it
CREATE FUNCTION invoiceflow._review_items(p_result jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT CASE WHEN jsonb_typeof(p_result -> 'items') = 'array' THEN jsonb_set(p_result, '{items}',
		(SELECT coalesce(jsonb_agg(x.i || jsonb_build_object('review', CASE WHEN x.i ->> 'status' = 'COMPLETED'
					THEN invoiceflow._review_info((x.i ->> 'request_id')::uuid) END) ORDER BY x.n), '[]'::jsonb)
		 FROM jsonb_array_elements(p_result -> 'items') WITH ORDINALITY AS x (i, n)))
		ELSE p_result END
$$;

-- The outbox carries the new event to RabbitMQ
ALTER TABLE invoiceflow.outbox DROP CONSTRAINT outbox_event_check;
ALTER TABLE invoiceflow.outbox ADD CONSTRAINT outbox_event_check
	CHECK (event IN ('invoice.uploaded', 'invoice.completed', 'invoice.failed', 'invoice.corrected'));

-- Ownership and privileges
DO $$
DECLARE
	o text;
BEGIN
	FOREACH o IN ARRAY ARRAY['invoiceflow.review_state', 'invoiceflow.corrections', 'invoiceflow.audit',
							 'invoiceflow.web_sessions', 'invoiceflow.corrections_id_seq', 'invoiceflow.audit_id_seq'] LOOP
		EXECUTE format('ALTER TABLE %s OWNER TO invoiceflow_owner', o);
		EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', o);
	END LOOP;
	FOREACH o IN ARRAY ARRAY['invoiceflow._audit_refuse()', 'invoiceflow._actor()', 'invoiceflow._audit_ingestions()',
			'invoiceflow._audit_api_keys()', 'invoiceflow.audit_log(text,integer,uuid,text)',
			'invoiceflow._iso4217(text)', 'invoiceflow._review_check(text,text,jsonb)',
			'invoiceflow._safe_date_strict(text)', 'invoiceflow._review_fields()', 'invoiceflow._review_flatten(jsonb)',
			'invoiceflow._effective_invoice(jsonb,jsonb,boolean)', 'invoiceflow._invoice_of(uuid)',
			'invoiceflow._review_info(uuid)', 'invoiceflow._review_sync(uuid)',
			'invoiceflow._review_announce(uuid,integer,text[])', 'invoiceflow._review_target(uuid,text)',
			'invoiceflow.correct(uuid,jsonb,text)', 'invoiceflow.approve(uuid,text)',
			'invoiceflow._session_create(text,integer,integer)', 'invoiceflow._session_check(text,integer,integer)',
			'invoiceflow._session_end(text)', 'invoiceflow._api_key_name(text)', 'invoiceflow._review_items(jsonb)'] LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO invoiceflow_owner', o);
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', o);
	END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION invoiceflow.correct(uuid, jsonb, text), invoiceflow.approve(uuid, text)
	TO invoiceflow_admin, invoiceflow_gateway;
GRANT EXECUTE ON FUNCTION invoiceflow.audit_log(text, integer, uuid, text) TO invoiceflow_admin, invoiceflow_gateway;
GRANT EXECUTE ON FUNCTION invoiceflow._session_create(text, integer, integer),
	invoiceflow._session_check(text, integer, integer), invoiceflow._session_end(text),
	invoiceflow._api_key_name(text) TO invoiceflow_gateway;
GRANT EXECUTE ON FUNCTION invoiceflow._review_info(uuid), invoiceflow._invoice_of(uuid) TO invoiceflow_reader;

-- ===== end review =====

-- ===== observe: metrics() and trace context (issue 11, items 3 and 4) =====
/*
 * metrics(): the pipeline at a glance for the reader role and the gateway's
 * /metrics, at a cost independent of the table sizes: outbox depth and oldest
 * item per sink from the partial "pending" indexes (as large as the backlog),
 * delivery totals and latency histograms from shared-memory counters kept by
 * a row trigger on the outbox tables (observe.c), ingestion states from
 * stats_counters, extraction outcomes from extraction_counters (sharded like
 * stats_counters, kept by statement triggers on extractions).
 *
 * Tracing: ingestions.traceparent keeps the W3C trace context of the request
 * that created the row: the session setting invoiceflow.traceparent (checked
 * by its GUC check hook), else a new one. The gateway passes its request's
 * through the 5-argument ingest(); the worker sends it on as the RabbitMQ
 * "traceparent" header and the S3 object's x-amz-meta-traceparent, and
 * traceparent(request_id) gives it to processors and readers.
 */

CREATE FUNCTION invoiceflow._traceparent() RETURNS text
	AS 'MODULE_PATHNAME', 'invoiceflow_traceparent' LANGUAGE C VOLATILE;
CREATE FUNCTION invoiceflow._traceparent_valid(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'invoiceflow_traceparent_valid' LANGUAGE C IMMUTABLE STRICT;

-- rows from before 0.6 keep NULL (no rewrite); new rows get the session's trace or a new one
ALTER TABLE invoiceflow.ingestions ADD COLUMN traceparent text;
ALTER TABLE invoiceflow.ingestions ALTER COLUMN traceparent SET DEFAULT invoiceflow._traceparent();

/*
 * ingest() with the caller's trace context: the same as the 4-argument form
 * (which stays as it is: mail, webhooks and applications call it), with
 * invoiceflow.traceparent set for the call. A malformed traceparent is 22023.
 */
CREATE FUNCTION invoiceflow.ingest(filename text, content bytea, source text, idempotency_key text,
								   traceparent text)
RETURNS TABLE (request_id uuid, status text, duplicate boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_old text := pg_catalog.current_setting('invoiceflow.traceparent');
BEGIN
	IF ingest.traceparent IS NOT NULL AND NOT invoiceflow._traceparent_valid(ingest.traceparent) THEN
		PERFORM invoiceflow._bad_input('traceparent must be a W3C trace context',
			'Expected 00-<32 hex digits>-<16 hex digits>-<2 hex digits>, lower case, ids not all zeros.');
	END IF;
	PERFORM pg_catalog.set_config('invoiceflow.traceparent', coalesce(ingest.traceparent, ''), true);
	RETURN QUERY SELECT g.request_id, g.status, g.duplicate
		FROM invoiceflow.ingest(ingest.filename, ingest.content, ingest.source, ingest.idempotency_key) g;
	PERFORM pg_catalog.set_config('invoiceflow.traceparent', v_old, true);
END
$$;

CREATE FUNCTION invoiceflow.traceparent(request_id uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT i.traceparent FROM invoiceflow.ingestions i WHERE i.id = traceparent.request_id
$$;

-- ---------------------------------------------------------------------------
-- Delivery counters (shared memory, observe.c)
-- ---------------------------------------------------------------------------
CREATE FUNCTION invoiceflow._delivery_counted() RETURNS trigger
	AS 'MODULE_PATHNAME', 'invoiceflow_delivery_counted' LANGUAGE C;
CREATE FUNCTION invoiceflow._delivery_counters(OUT sink text, OUT delivered bigint, OUT failed bigint,
											   OUT retried bigint, OUT latency_sum double precision,
											   OUT latency_le double precision[], OUT latency_buckets bigint[])
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'invoiceflow_delivery_counters' LANGUAGE C VOLATILE;

-- a row that leaves 'pending' (done, failed) or is tried once more; nothing else pays a call
CREATE TRIGGER outbox_delivery_counted
	AFTER UPDATE OF state, tries ON invoiceflow.outbox
	FOR EACH ROW WHEN (OLD.state = 'pending' AND (NEW.state <> OLD.state OR NEW.tries > OLD.tries))
	EXECUTE FUNCTION invoiceflow._delivery_counted();
CREATE TRIGGER webhook_deliveries_delivery_counted
	AFTER UPDATE OF state, tries ON invoiceflow.webhook_deliveries
	FOR EACH ROW WHEN (OLD.state = 'pending' AND (NEW.state <> OLD.state OR NEW.tries > OLD.tries))
	EXECUTE FUNCTION invoiceflow._delivery_counted('webhook');

-- ---------------------------------------------------------------------------
-- Extraction outcomes: counters per (extracted_from, needs_review), sharded by
-- backend as stats_counters is (derived data: not dumped, rebuilt by the
-- triggers as a restore inserts the extractions)
-- ---------------------------------------------------------------------------
CREATE TABLE invoiceflow.extraction_counters (
	extracted_from text NOT NULL,
	needs_review boolean NOT NULL,
	shard integer NOT NULL,
	n bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (extracted_from, needs_review, shard)
) WITH (fillfactor = 50, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0,
		autovacuum_vacuum_cost_delay = 0);

CREATE FUNCTION invoiceflow._extraction_count(p_rows jsonb, p_sign integer) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_shard integer := pg_backend_pid() % 64;
	d record;
BEGIN
	FOR d IN SELECT x.f, x.r, x.n FROM jsonb_to_recordset(p_rows) AS x(f text, r boolean, n bigint)
			 ORDER BY 1, 2
	LOOP
		UPDATE invoiceflow.extraction_counters SET n = n + p_sign * d.n
			WHERE extracted_from = d.f AND needs_review = d.r AND shard = v_shard;
		IF NOT FOUND THEN
			INSERT INTO invoiceflow.extraction_counters AS c (extracted_from, needs_review, shard, n)
				VALUES (d.f, d.r, v_shard, p_sign * d.n)
				ON CONFLICT (extracted_from, needs_review, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
		END IF;
	END LOOP;
END
$$;

-- the outcome of one extraction: where its values came from, and whether it awaits review
CREATE FUNCTION invoiceflow._extraction_key(invoice jsonb, OUT f text, OUT r boolean)
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN invoice ->> 'source' IN ('xml', 'text', 'ocr') THEN invoice ->> 'source' ELSE 'unknown' END,
		   coalesce(invoice ->> 'needs_review' = 'true', false)
$$;

CREATE FUNCTION invoiceflow._extractions_counted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		PERFORM invoiceflow._extraction_count(
			(SELECT jsonb_agg(c) FROM (SELECT k.f, k.r, count(*) AS n FROM old_rows o,
				LATERAL invoiceflow._extraction_key(o.invoice) k GROUP BY 1, 2) c), -1);
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		PERFORM invoiceflow._extraction_count(
			(SELECT jsonb_agg(c) FROM (SELECT k.f, k.r, count(*) AS n FROM new_rows o,
				LATERAL invoiceflow._extraction_key(o.invoice) k GROUP BY 1, 2) c), 1);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER extractions_counted_insert AFTER INSERT ON invoiceflow.extractions
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._extractions_counted();
CREATE TRIGGER extractions_counted_update AFTER UPDATE ON invoiceflow.extractions
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._extractions_counted();
CREATE TRIGGER extractions_counted_delete AFTER DELETE ON invoiceflow.extractions
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._extractions_counted();

-- what is there already (one scan, at upgrade time)
INSERT INTO invoiceflow.extraction_counters (extracted_from, needs_review, shard, n)
	SELECT k.f, k.r, 0, count(*) FROM invoiceflow.extractions e,
		LATERAL invoiceflow._extraction_key(e.invoice) k GROUP BY 1, 2;

-- ---------------------------------------------------------------------------
-- metrics()
-- ---------------------------------------------------------------------------
CREATE FUNCTION invoiceflow.metrics() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	WITH q AS (
		-- the partial indexes on pending rows: as cheap as the backlog is small
		SELECT o.sink, count(*) AS depth, min(o.created_at) AS oldest
		FROM invoiceflow.outbox o WHERE o.state = 'pending' GROUP BY o.sink
		UNION ALL
		SELECT 'webhook', count(*), min(w.created_at)
		FROM invoiceflow.webhook_deliveries w WHERE w.state = 'pending'),
	sinks AS (
		SELECT c.sink,
			   CASE WHEN c.sink = 'webhook'
					THEN EXISTS (SELECT 1 FROM invoiceflow.webhook_subscriptions s WHERE s.active)
					ELSE c.sink = ANY (invoiceflow._configured_sinks()) END AS configured,
			   coalesce(q.depth, 0) AS depth,
			   coalesce(extract(epoch FROM now() - q.oldest), 0)::double precision AS oldest_age,
			   c.delivered, c.failed, c.retried, c.latency_sum, c.latency_le, c.latency_buckets,
			   b.state AS breaker
		FROM invoiceflow._delivery_counters() c
		LEFT JOIN q ON q.sink = c.sink
		LEFT JOIN invoiceflow._breakers() b ON b.dependency = c.sink),
	ex AS (
		SELECT e.extracted_from, e.needs_review, sum(e.n)::bigint AS n
		FROM invoiceflow.extraction_counters e GROUP BY 1, 2)
	SELECT jsonb_build_object(
		'sinks', (SELECT jsonb_object_agg(s.sink, jsonb_build_object(
					'configured', s.configured,
					'outbox_depth', s.depth,
					'oldest_age_seconds', round(s.oldest_age::numeric, 3),
					'delivered_total', s.delivered,
					'failed_total', s.failed,
					'retries_total', s.retried,
					-- the webhook sink keeps a breaker per receiving host, in each worker
					'breaker', s.breaker,
					'latency_seconds', jsonb_build_object('le', to_jsonb(s.latency_le),
						'buckets', to_jsonb(s.latency_buckets),
						'sum', round(s.latency_sum::numeric, 6), 'count', s.delivered)))
				  FROM sinks s),
		'ingestions', invoiceflow.stats(),
		'pending_oldest_age_seconds', coalesce(round(extract(epoch FROM now() - (
			SELECT min(i.created_at) FROM invoiceflow.ingestions i WHERE i.status = 'PENDING'))::numeric, 3), 0),
		'expired_leases', (SELECT count(*) FROM invoiceflow.ingestions i
						   WHERE i.status = 'PROCESSING' AND i.lease_expires_at < now()),
		'extractions', jsonb_build_object(
			'total', (SELECT coalesce(sum(n), 0) FROM ex),
			'needs_review', (SELECT coalesce(sum(n), 0) FROM ex WHERE ex.needs_review),
			'by_extracted_from', (SELECT jsonb_object_agg(f.name, coalesce(
										(SELECT sum(n) FROM ex WHERE ex.extracted_from = f.name), 0))
								  FROM unnest(ARRAY['xml', 'text', 'ocr', 'unknown']) f(name))))
$$;

DO $$
DECLARE
	o text;
BEGIN
	ALTER TABLE invoiceflow.extraction_counters OWNER TO invoiceflow_owner;
	REVOKE ALL ON invoiceflow.extraction_counters FROM PUBLIC;
	FOREACH o IN ARRAY ARRAY['invoiceflow._traceparent()', 'invoiceflow._traceparent_valid(text)',
			'invoiceflow.ingest(text,bytea,text,text,text)', 'invoiceflow.traceparent(uuid)',
			'invoiceflow._delivery_counted()', 'invoiceflow._delivery_counters()',
			'invoiceflow._extraction_count(jsonb,integer)', 'invoiceflow._extraction_key(jsonb)',
			'invoiceflow._extractions_counted()', 'invoiceflow.metrics()'] LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO invoiceflow_owner', o);
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', o);
	END LOOP;
END
$$;
-- a new ingestion's default calls it, whoever inserts
GRANT EXECUTE ON FUNCTION invoiceflow._traceparent(), invoiceflow._traceparent_valid(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION invoiceflow.metrics(), invoiceflow.traceparent(uuid) TO invoiceflow_reader;
GRANT EXECUTE ON FUNCTION invoiceflow.traceparent(uuid) TO invoiceflow_worker;
GRANT EXECUTE ON FUNCTION invoiceflow.ingest(text, bytea, text, text, text) TO invoiceflow_writer;
-- ===== end observe =====

-- ===== worker: the outbox's claim and record rules in SQL (issue 11, item 1) =====
/*
 * Claims up to p_limit due outbox rows of the given sinks for p_worker (a
 * lease of p_lease_secs), oldest first, and returns what a sink needs to send
 * them. The ordering rules live here, beside the triggers that write the rows:
 * an invoice.uploaded waits for the file's S3 PUT (processors read it from
 * there), and a purge's DELETE waits for a PUT still in flight.
 */
CREATE FUNCTION invoiceflow._outbox_claim(p_worker text, p_sinks text[], p_limit integer,
	p_lease_secs double precision)
RETURNS TABLE (id bigint, ingestion_id uuid, sink text, action text, event text, attempt integer,
	tries integer, s3_key text, filename text, sha256_hex text, size_bytes bigint, created_at text,
	ingestion_exists boolean, traceparent text)
LANGUAGE sql VOLATILE AS $$
WITH c AS (
	SELECT o.id FROM invoiceflow.outbox o
	WHERE o.state = 'pending' AND o.next_attempt_at <= now()
	  AND (o.claimed_until IS NULL OR o.claimed_until < now())
	  AND o.sink = ANY (p_sinks)
	  AND (o.event IS DISTINCT FROM 'invoice.uploaded' OR NOT EXISTS (
		SELECT 1 FROM invoiceflow.outbox p WHERE p.ingestion_id = o.ingestion_id
		  AND p.sink = 's3' AND p.action = 'put' AND p.state = 'pending'))
	  AND NOT (o.action = 'delete' AND EXISTS (
		SELECT 1 FROM invoiceflow.outbox p WHERE p.ingestion_id = o.ingestion_id
		  AND p.id <> o.id AND p.claimed_until > now()))
	ORDER BY o.next_attempt_at, o.id LIMIT p_limit
	FOR UPDATE SKIP LOCKED),
u AS (
	UPDATE invoiceflow.outbox o SET claimed_by = p_worker,
		claimed_until = now() + make_interval(secs => p_lease_secs)
	FROM c WHERE o.id = c.id
	RETURNING o.id, o.ingestion_id, o.sink, o.action, o.event, o.attempt, o.tries, o.s3_key)
SELECT u.id, u.ingestion_id, u.sink, u.action, u.event, u.attempt, u.tries,
	coalesce(i.s3_key, u.s3_key), i.filename, encode(i.sha256, 'hex'), i.size_bytes,
	invoiceflow._iso(i.created_at), i.id IS NOT NULL, i.traceparent
FROM u LEFT JOIN invoiceflow.ingestions i ON i.id = u.ingestion_id
ORDER BY u.id
$$;

/*
 * Records the outcome of one claimed row: 'done', 'retry' (transient: the
 * next try p_retry_secs from now), 'failed' (permanent) or 'skipped' (not
 * tried: a circuit opened meanwhile; no try is used up). The failure rules:
 * a file that cannot reach S3, or its processors (invoice.uploaded), fails the
 * ingestion PENDING -> FAILED and cancels its other pending uploads and
 * announcements; OpenSearch never changes an ingestion. A verified PUT drops
 * the bytes kept in PostgreSQL (p_drop_bytes); a completed purge removes its
 * delivery record. Returns the row's state afterwards (NULL: row gone).
 */
CREATE FUNCTION invoiceflow._outbox_record(p_id bigint, p_outcome text, p_error text,
	p_retry_secs double precision, p_drop_bytes boolean)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	r invoiceflow.outbox;
BEGIN
	IF p_outcome NOT IN ('done', 'retry', 'failed', 'skipped') THEN
		RAISE EXCEPTION 'unknown delivery outcome "%"', p_outcome
			USING ERRCODE = '22023', HINT = 'Use done, retry, failed or skipped.';
	END IF;
	-- cancelled by a purge while in flight: the claim ends now, not at its expiry
	UPDATE invoiceflow.outbox o SET claimed_by = NULL, claimed_until = NULL
	WHERE o.id = p_id AND o.state = 'cancelled' AND o.claimed_by IS NOT NULL;
	SELECT * INTO r FROM invoiceflow.outbox o WHERE o.id = p_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF p_outcome = 'skipped' THEN
		UPDATE invoiceflow.outbox o SET claimed_by = NULL, claimed_until = NULL WHERE o.id = p_id;
	ELSIF p_outcome = 'done' THEN
		UPDATE invoiceflow.outbox o SET state = 'done', tries = o.tries + 1, done_at = now(),
			last_error = NULL, claimed_by = NULL, claimed_until = NULL
		WHERE o.id = p_id AND o.state = 'pending';
		IF r.action = 'put' THEN
			IF p_drop_bytes THEN
				-- S3 holds a verified copy (ETag = MD5 of these bytes): drop ours
				DELETE FROM invoiceflow.ingestion_files f WHERE f.ingestion_id = r.ingestion_id;
			END IF;
			-- an invoice.uploaded may have waited for this PUT
			PERFORM invoiceflow._wake_at_commit();
		ELSIF r.action = 'delete' THEN
			-- the purge is complete (every sink's delete): its delivery record goes
			DELETE FROM invoiceflow.outbox o WHERE o.ingestion_id = r.ingestion_id
			  AND NOT EXISTS (SELECT 1 FROM invoiceflow.ingestions i WHERE i.id = r.ingestion_id)
			  AND NOT EXISTS (SELECT 1 FROM invoiceflow.outbox p WHERE p.ingestion_id = r.ingestion_id
				AND p.id <> p_id AND p.action = 'delete' AND p.state = 'pending');
		END IF;
	ELSIF p_outcome = 'retry' THEN
		UPDATE invoiceflow.outbox o SET tries = o.tries + 1, last_error = p_error,
			next_attempt_at = now() + make_interval(secs => p_retry_secs),
			claimed_by = NULL, claimed_until = NULL
		WHERE o.id = p_id AND o.state = 'pending';
	ELSE
		UPDATE invoiceflow.outbox o SET state = 'failed', tries = o.tries + 1, last_error = p_error,
			claimed_by = NULL, claimed_until = NULL
		WHERE o.id = p_id AND o.state = 'pending';
		-- a file that cannot reach S3, or processors, fails: PENDING -> FAILED
		IF r.sink <> 'opensearch' AND (r.action = 'put' OR r.event = 'invoice.uploaded') THEN
			UPDATE invoiceflow.outbox o SET state = 'cancelled', claimed_by = NULL, claimed_until = NULL
			WHERE o.ingestion_id = r.ingestion_id AND o.id <> p_id AND o.state = 'pending'
			  AND (o.event IS NULL OR o.event = 'invoice.uploaded');
			UPDATE invoiceflow.ingestions i SET status = 'FAILED', error_kind = 'delivery',
				error_message = left(p_error, 2000)
			WHERE i.id = r.ingestion_id AND i.status IN ('PENDING', 'PROCESSING');
		END IF;
	END IF;
	RETURN (SELECT o.state FROM invoiceflow.outbox o WHERE o.id = p_id);
END
$$;

/* when the earliest pending, unclaimed row of the given sinks is due (NULL: none) */
CREATE FUNCTION invoiceflow._outbox_next_due(p_sinks text[])
RETURNS timestamp with time zone
LANGUAGE sql STABLE AS $$
SELECT min(d) FROM unnest(p_sinks) s, LATERAL (
	SELECT o.next_attempt_at AS d FROM invoiceflow.outbox o
	WHERE o.state = 'pending' AND o.sink = s
	  AND (o.claimed_until IS NULL OR o.claimed_until < now())
	  AND o.next_attempt_at > now()
	ORDER BY o.next_attempt_at LIMIT 1) n
$$;

DO $$
DECLARE
	o text;
BEGIN
	FOREACH o IN ARRAY ARRAY['invoiceflow._outbox_claim(text,text[],integer,double precision)',
			'invoiceflow._outbox_record(bigint,text,text,double precision,boolean)',
			'invoiceflow._outbox_next_due(text[])'] LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO invoiceflow_owner', o);
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', o);
	END LOOP;
END
$$;
-- ===== end worker =====

-- ===== mail: inbound messages (issue 12) =====

-- Every message the mail sidecar (invoiceflow-mail) took, from an IMAP folder or
-- an MTA pipe: one row per (account, message identity), with the outcome of
-- each PDF part. A message seen again (re-read folder, sent twice) updates its
-- row; its parts' idempotency keys returned the same ingestions.
CREATE TABLE invoiceflow.mail_messages (
	id bigserial PRIMARY KEY,
	account text NOT NULL CHECK (length(account) BETWEEN 1 AND 600),
	message_key text NOT NULL CHECK (length(message_key) BETWEEN 1 AND 1000),
	message_id text CHECK (length(message_id) <= 1000),
	sender text CHECK (length(sender) <= 320),
	subject text CHECK (length(subject) <= 1000),
	sent_at timestamptz,
	outcome text NOT NULL CHECK (outcome IN ('ingested', 'partial', 'rejected', 'no_invoice')),
	parts jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(parts) = 'array'),
	received_at timestamptz NOT NULL DEFAULT now(),
	last_seen_at timestamptz NOT NULL DEFAULT now(),
	times_seen integer NOT NULL DEFAULT 1,
	UNIQUE (account, message_key)
);
CREATE INDEX mail_messages_sender_idx ON invoiceflow.mail_messages (sender);

-- The email an ingestion came in (the first one, when the same PDF came twice).
CREATE TABLE invoiceflow.mail_ingestions (
	ingestion_id uuid PRIMARY KEY REFERENCES invoiceflow.ingestions (id) ON DELETE CASCADE,
	message bigint NOT NULL,
	sender text,
	subject text,
	message_id text,
	sent_at timestamptz
);
CREATE INDEX mail_ingestions_sender_idx ON invoiceflow.mail_ingestions (sender);

-- Each account's last check, written by the sidecar (health() and /metrics).
-- Derived state like stats_counters: not dumped.
CREATE TABLE invoiceflow.mail_accounts (
	account text PRIMARY KEY,
	healthy boolean NOT NULL,
	reason text,
	checked_at timestamptz NOT NULL,
	last_success_at timestamptz
);

SELECT pg_catalog.pg_extension_config_dump('invoiceflow.mail_messages', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.mail_messages_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.mail_ingestions', '');

-- {from, subject, message_id, date} of an ingestion that came by mail, else NULL
CREATE FUNCTION invoiceflow._mail_info(ingestion_id uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT jsonb_build_object('from', m.sender, 'subject', m.subject, 'message_id', m.message_id,
							  'date', invoiceflow._iso(m.sent_at))
	FROM invoiceflow.mail_ingestions m WHERE m.ingestion_id = _mail_info.ingestion_id
$$;

-- Called by the sidecar in the transaction that ran ingest() for the message's
-- parts: parts is [{part, filename, size, request_id, status, duplicate} |
-- {part, filename, size, error: {code, message}}]. Returns the outcome.
CREATE FUNCTION invoiceflow.mail_record(account text, message_key text, message_id text, sender text,
										subject text, sent_at timestamptz, parts jsonb)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_ok integer;
	v_bad integer;
	v_outcome text;
	v_id bigint;
BEGIN
	IF account IS NULL OR length(account) NOT BETWEEN 1 AND 600 OR account ~ '[[:cntrl:]]' THEN
		PERFORM invoiceflow._bad_input('account must have 1 to 600 printable characters');
	END IF;
	IF message_key IS NULL OR length(message_key) NOT BETWEEN 1 AND 1000 THEN
		PERFORM invoiceflow._bad_input('message_key must have 1 to 1000 characters');
	END IF;
	IF parts IS NULL OR jsonb_typeof(parts) <> 'array' THEN
		PERFORM invoiceflow._bad_input('parts must be a JSON array');
	END IF;
	IF EXISTS (SELECT 1 FROM jsonb_array_elements(parts) p
			   WHERE jsonb_typeof(p) <> 'object'
				  OR ((p ->> 'request_id') IS NULL) = ((p -> 'error') IS NULL)
				  OR (p ->> 'request_id') !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') THEN
		PERFORM invoiceflow._bad_input('each part must be an object with either a request_id or an error');
	END IF;
	SELECT count(*) FILTER (WHERE p ? 'request_id'), count(*) FILTER (WHERE p ? 'error')
		INTO v_ok, v_bad FROM jsonb_array_elements(parts) p;
	v_outcome := CASE WHEN v_ok + v_bad = 0 THEN 'no_invoice'
					  WHEN v_bad = 0 THEN 'ingested'
					  WHEN v_ok = 0 THEN 'rejected'
					  ELSE 'partial' END;

	INSERT INTO invoiceflow.mail_messages AS m
			(account, message_key, message_id, sender, subject, sent_at, outcome, parts)
		VALUES (mail_record.account, mail_record.message_key, left(mail_record.message_id, 1000),
				left(lower(mail_record.sender), 320), left(mail_record.subject, 1000), mail_record.sent_at,
				v_outcome, mail_record.parts)
		ON CONFLICT ON CONSTRAINT mail_messages_account_message_key_key DO UPDATE
			SET times_seen = m.times_seen + 1, last_seen_at = now(),
				outcome = excluded.outcome, parts = excluded.parts
		RETURNING m.id INTO v_id;

	INSERT INTO invoiceflow.mail_ingestions (ingestion_id, message, sender, subject, message_id, sent_at)
		SELECT (p ->> 'request_id')::uuid, v_id, left(lower(mail_record.sender), 320),
			   left(mail_record.subject, 1000), left(mail_record.message_id, 1000), mail_record.sent_at
		FROM jsonb_array_elements(parts) p
		WHERE p ? 'request_id'
		ON CONFLICT (ingestion_id) DO NOTHING;
	RETURN v_outcome;
END
$$;

-- The sidecar's word on one account after each check (ok) or failure (reason).
CREATE FUNCTION invoiceflow.mail_heartbeat(account text, ok boolean, reason text DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF account IS NULL OR length(account) NOT BETWEEN 1 AND 600 OR account ~ '[[:cntrl:]]' THEN
		PERFORM invoiceflow._bad_input('account must have 1 to 600 printable characters');
	END IF;
	IF ok IS NULL THEN
		PERFORM invoiceflow._bad_input('ok must be true or false');
	END IF;
	INSERT INTO invoiceflow.mail_accounts AS a (account, healthy, reason, checked_at, last_success_at)
		VALUES (mail_heartbeat.account, mail_heartbeat.ok,
				CASE WHEN NOT mail_heartbeat.ok THEN left(coalesce(mail_heartbeat.reason, 'failed'), 1000) END,
				now(), CASE WHEN mail_heartbeat.ok THEN now() END)
		ON CONFLICT ON CONSTRAINT mail_accounts_pkey DO UPDATE
			SET healthy = excluded.healthy, reason = excluded.reason, checked_at = excluded.checked_at,
				last_success_at = coalesce(excluded.last_success_at, a.last_success_at);
	RETURN ok;
END
$$;

-- The mail dependency for health(): disabled (no sidecar ever reported), healthy,
-- or unhealthy with the reason (an account failing, or silent for 5 minutes).
CREATE FUNCTION invoiceflow._mail_health() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT CASE
		WHEN count(*) = 0 THEN jsonb_build_object('state', 'disabled')
		WHEN bool_and(a.healthy AND a.checked_at > now() - interval '5 minutes')
			THEN jsonb_build_object('state', 'healthy')
		ELSE jsonb_build_object('state', 'unhealthy', 'reason',
				string_agg(a.account || ': ' || CASE WHEN NOT a.healthy THEN a.reason
							ELSE 'no report from the mail sidecar since ' || invoiceflow._iso(a.checked_at) END,
						   '; ' ORDER BY a.account)
					FILTER (WHERE NOT (a.healthy AND a.checked_at > now() - interval '5 minutes')))
		END
	FROM invoiceflow.mail_accounts a
$$;

-- health() keeps the library's answer and adds the mail dependency: a failing
-- mailbox makes the service degraded, and its reason is under "mail".
CREATE FUNCTION invoiceflow._health_core() RETURNS jsonb
	AS 'MODULE_PATHNAME', 'invoiceflow_health' LANGUAGE C STABLE SECURITY DEFINER
	SET search_path = pg_catalog, invoiceflow, pg_temp;
CREATE OR REPLACE FUNCTION invoiceflow.health() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT jsonb_set(h, '{dependencies,mail}', m -> 'state')
		|| CASE WHEN m ->> 'state' = 'unhealthy'
				THEN jsonb_build_object('service', 'degraded', 'mail', jsonb_build_object('reason', m -> 'reason'))
				ELSE '{}'::jsonb END
	FROM invoiceflow._health_core() h, invoiceflow._mail_health() m
$$;

-- Inbound messages, newest first, keyset-paginated: {"items": [...], "next_cursor"}.
-- outcome filters (ingested, partial, rejected, no_invoice); cursor is the
-- next_cursor of the previous page.
CREATE FUNCTION invoiceflow.mail_messages(cursor text DEFAULT NULL, "limit" integer DEFAULT 50,
										  outcome text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_after bigint;
	v_items jsonb;
	v_last bigint;
	v_n integer;
BEGIN
	IF "limit" IS NULL OR "limit" NOT BETWEEN 1 AND 200 THEN
		PERFORM invoiceflow._bad_input('limit must be from 1 to 200');
	END IF;
	IF outcome IS NOT NULL AND outcome NOT IN ('ingested', 'partial', 'rejected', 'no_invoice') THEN
		PERFORM invoiceflow._bad_input('outcome must be ingested, partial, rejected or no_invoice');
	END IF;
	IF cursor IS NOT NULL THEN
		IF cursor !~ '^m[0-9]{1,18}$' THEN
			PERFORM invoiceflow._bad_input('cursor is not a cursor of this listing');
		END IF;
		v_after := substr(cursor, 2)::bigint;
	END IF;
	SELECT coalesce(jsonb_agg(x.item ORDER BY x.id DESC), '[]'::jsonb), min(x.id), count(*)
		INTO v_items, v_last, v_n
	FROM (SELECT m.id, jsonb_build_object(
				'account', m.account, 'message_id', m.message_id, 'from', m.sender, 'subject', m.subject,
				'date', invoiceflow._iso(m.sent_at), 'outcome', m.outcome, 'parts', m.parts,
				'received_at', invoiceflow._iso(m.received_at), 'last_seen_at', invoiceflow._iso(m.last_seen_at),
				'times_seen', m.times_seen) AS item
		  FROM invoiceflow.mail_messages m
		  WHERE (v_after IS NULL OR m.id < v_after)
			AND (mail_messages.outcome IS NULL OR m.outcome = mail_messages.outcome)
		  ORDER BY m.id DESC
		  LIMIT "limit") x;
	RETURN jsonb_build_object('items', v_items,
							  'next_cursor', CASE WHEN v_n = "limit" AND EXISTS (
									SELECT 1 FROM invoiceflow.mail_messages m WHERE m.id < v_last
									AND (mail_messages.outcome IS NULL OR m.outcome = mail_messages.outcome))
								   THEN 'm' || v_last END);
END
$$;

-- Counters for /metrics: messages by outcome, parts ingested and rejected, and
-- the seconds since the last successful check of any account (NULL: never).
CREATE FUNCTION invoiceflow.mail_metrics() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT jsonb_build_object(
		'messages', (SELECT count(*) FROM invoiceflow.mail_messages),
		'messages_by_outcome', (SELECT coalesce(jsonb_object_agg(o.outcome, o.n), '{}'::jsonb)
								FROM (SELECT m.outcome, count(*) AS n FROM invoiceflow.mail_messages m
									  GROUP BY m.outcome) o),
		'parts_ingested', (SELECT count(*) FROM invoiceflow.mail_messages m, jsonb_array_elements(m.parts) p
						   WHERE p ? 'request_id'),
		'parts_rejected', (SELECT count(*) FROM invoiceflow.mail_messages m, jsonb_array_elements(m.parts) p
						   WHERE p ? 'error'),
		'accounts', (SELECT count(*) FROM invoiceflow.mail_accounts),
		'accounts_unhealthy', (SELECT count(*) FROM invoiceflow.mail_accounts a WHERE NOT a.healthy),
		'seconds_since_last_success', (SELECT round(extract(epoch FROM now() - max(a.last_success_at))::numeric, 3)
									   FROM invoiceflow.mail_accounts a))
$$;


-- The sender's address (and its domain) in the ingestion's search document, so
-- that q => 'billing@acme.example' (or 'acme.example') finds its invoices.
CREATE FUNCTION invoiceflow._mail_tsv(p_id uuid) RETURNS tsvector
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT coalesce((SELECT setweight(to_tsvector('simple', m.sender || ' ' || split_part(m.sender, '@', 2)), 'A')
					 FROM invoiceflow.mail_ingestions m WHERE m.ingestion_id = p_id AND m.sender IS NOT NULL),
					''::tsvector)
$$;

CREATE FUNCTION invoiceflow._mail_search_docs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	UPDATE invoiceflow.search_docs d SET tsv = d.tsv || invoiceflow._mail_tsv(d.id)
		FROM new_rows n WHERE d.id = n.ingestion_id AND n.sender IS NOT NULL;
	RETURN NULL;
END
$$;
CREATE TRIGGER mail_ingestions_search
	AFTER INSERT ON invoiceflow.mail_ingestions REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._mail_search_docs();

-- complete() rebuilds the search document (0.3's definition): keep the sender in it
CREATE OR REPLACE FUNCTION invoiceflow._search_docs_extraction() RETURNS trigger
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
			|| CASE WHEN d.source = 'email' THEN invoiceflow._mail_tsv(d.id) ELSE ''::tsvector END
	FROM new_rows n
	WHERE d.id = n.ingestion_id;
	RETURN NULL;
END
$$;

-- status(): the seed's fields and ours, "webhook": {sender, metadata} for an
-- ingestion that came by webhook, and "email": {from, subject, message_id, date}
-- for one that came by mail (the one definition of this script)
CREATE OR REPLACE FUNCTION invoiceflow.status(request_id uuid) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT jsonb_build_object(
			'request_id', i.id,
			'filename', i.filename,
			'status', i.status,
			'created_at', invoiceflow._iso(i.created_at),
			'updated_at', invoiceflow._iso(i.updated_at),
			's3_key', i.s3_key,
			'size_bytes', i.size_bytes,
			'sha256', encode(i.sha256, 'hex'),
			'source', i.source,
			'attempts', i.attempt,
			'error', CASE WHEN i.error_kind IS NULL THEN NULL
						  ELSE jsonb_build_object('kind', i.error_kind, 'message', i.error_message) END,
			'delivery', invoiceflow._delivery(i.id, i.status))
		|| CASE WHEN i.status = 'COMPLETED'
				-- review (section "review"): the effective invoice, its corrections, who approved it
				THEN jsonb_build_object('invoice', invoiceflow._invoice_of(i.id)) || invoiceflow._review_info(i.id)
				ELSE '{}'::jsonb END
		|| CASE WHEN i.source = 'webhook'
				THEN jsonb_build_object('webhook', invoiceflow._webhook_info(i.id))
				ELSE '{}'::jsonb END
		|| CASE WHEN i.source = 'email'
				THEN jsonb_build_object('email', invoiceflow._mail_info(i.id))
				ELSE '{}'::jsonb END
	FROM invoiceflow.ingestions i
	WHERE i.id = status.request_id
$$;

/*
 * search(): the 17-argument function of the section "webhooks" (the sender
 * filter) with the changes of "scopes" (HTML-escaped snippets, checked cursors,
 * ASCII digits, a bounded rank window), and
 * "email": {from, subject, message_id, date} in each item. The sender's address
 * is matched by q through the search document (_mail_tsv above).
 */
CREATE FUNCTION invoiceflow.search(q text DEFAULT NULL, status text DEFAULT NULL, seller text DEFAULT NULL,
	buyer text DEFAULT NULL, currency text DEFAULT NULL, issued_from text DEFAULT NULL, issued_to text DEFAULT NULL,
	total_min text DEFAULT NULL, total_max text DEFAULT NULL, needs_review text DEFAULT NULL,
	source text DEFAULT NULL, extracted_from text DEFAULT NULL, sort text DEFAULT NULL,
	"limit" integer DEFAULT 20, cursor text DEFAULT NULL, facets boolean DEFAULT false,
	sender text DEFAULT NULL)
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
	p_sender text := invoiceflow._search_param('sender', search.sender, '^[A-Za-z0-9._-]{1,64}$', 'a webhook sender name');
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
	-- webhooks: the sender, by parameter $19 (after the page query's own $13-$18)
	IF p_sender IS NOT NULL THEN
		v_where := v_where || 'EXISTS (SELECT 1 FROM invoiceflow.webhook_ingestions w WHERE w.ingestion_id = d.id AND w.sender = $19)'::text;
	END IF;

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
		IF p_sender IS NOT NULL THEN
			PERFORM invoiceflow._bad_input('the sender filter needs the embedded search backend',
				'invoiceflow.search_backend is opensearch, whose documents do not carry the webhook sender.');
		END IF;
		-- review (section "review"): "review" in each item, as below
		RETURN invoiceflow._review_items(invoiceflow._search_opensearch(v_q, p_status, p_seller, p_buyer, p_currency,
			p_from, p_to, p_tmin, p_tmax, p_review, p_source, p_from_x, v_sort, v_limit, v_cursor, search.facets));
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
									  p_review, p_source, p_from_x, NULL::text, NULL::uuid, NULL::integer,
									  NULL::integer, NULL::text, NULL::uuid, p_sender;
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
				'webhook', CASE WHEN n.source = 'webhook' THEN invoiceflow._webhook_info(n.id) END,
				'email', CASE WHEN n.source = 'email' THEN invoiceflow._mail_info(n.id) END,
				'review', CASE WHEN n.status = 'COMPLETED' THEN invoiceflow._review_info(n.id) END,
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
			  p_source, p_from_x, v_ckey, v_cid, v_limit + 1, v_window, v_wts, v_wid, p_sender;

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
			  p_source, p_from_x, NULL::text, NULL::uuid, NULL::integer, NULL::integer, NULL::text,
			  NULL::uuid, p_sender;
	END IF;

	RETURN jsonb_build_object('items', v_items, 'next_cursor', v_next, 'facets', v_facets);
END
$$;
ALTER FUNCTION invoiceflow.search(text, text, text, text, text, text, text, text, text, text, text,
	text, text, integer, text, boolean, text) OWNER TO invoiceflow_owner;
REVOKE ALL ON FUNCTION invoiceflow.search(text, text, text, text, text, text, text, text, text, text, text,
	text, text, integer, text, boolean, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION invoiceflow.search(text, text, text, text, text, text, text, text, text, text, text,
	text, text, integer, text, boolean, text) TO invoiceflow_reader;

-- The sidecar's group role: ingest and record mail outcomes, nothing else.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'invoiceflow_mail') THEN
		CREATE ROLE invoiceflow_mail NOLOGIN;
	END IF;
END
$$;

DO $$
DECLARE
	o text;
BEGIN
	FOREACH o IN ARRAY ARRAY['invoiceflow.mail_messages', 'invoiceflow.mail_messages_id_seq',
							 'invoiceflow.mail_ingestions', 'invoiceflow.mail_accounts'] LOOP
		EXECUTE format('ALTER TABLE %s OWNER TO invoiceflow_owner', o);
		EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', o);
	END LOOP;
	FOREACH o IN ARRAY ARRAY['invoiceflow._mail_info(uuid)',
			'invoiceflow.mail_record(text,text,text,text,text,timestamptz,jsonb)',
			'invoiceflow.mail_heartbeat(text,boolean,text)', 'invoiceflow._mail_health()',
			'invoiceflow._health_core()', 'invoiceflow.health()',
			'invoiceflow.mail_messages(text,integer,text)', 'invoiceflow.mail_metrics()',
			'invoiceflow._mail_tsv(uuid)', 'invoiceflow._mail_search_docs()'] LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO invoiceflow_owner', o);
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', o);
	END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION invoiceflow.health() TO invoiceflow_reader;
GRANT EXECUTE ON FUNCTION invoiceflow.mail_messages(text, integer, text), invoiceflow.mail_metrics()
	TO invoiceflow_reader;
GRANT USAGE ON SCHEMA invoiceflow TO invoiceflow_mail;
GRANT EXECUTE ON FUNCTION invoiceflow.ingest(text, bytea, text, text),
	invoiceflow.mail_record(text, text, text, text, text, timestamptz, jsonb),
	invoiceflow.mail_heartbeat(text, boolean, text) TO invoiceflow_mail;

-- ===== end mail =====
