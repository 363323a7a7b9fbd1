/*
 * invoiceflow 0.1: schema, state machine and SQL API.
 *
 * Every later change ships as sql/invoiceflow--A--B.sql (DESIGN.md § Versions).
 * Objects are owned by invoiceflow_owner; the API is a set of SECURITY DEFINER
 * functions with a fixed search_path, and no role is granted table access.
 */
\echo Use "CREATE EXTENSION invoiceflow" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Roles: cluster-wide, so created only where missing (the extension may live in
-- several databases of one cluster). DROP EXTENSION leaves them; see README.
-- ---------------------------------------------------------------------------
DO $roles$
DECLARE
	r text;
	m record;
BEGIN
	FOREACH r IN ARRAY ARRAY['invoiceflow_owner', 'invoiceflow_reader', 'invoiceflow_writer',
							 'invoiceflow_worker', 'invoiceflow_gateway', 'invoiceflow_admin']
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
	-- writer can read; the gateway reads and writes; admin can do everything.
	FOR m IN SELECT * FROM (VALUES
			('invoiceflow_reader', 'invoiceflow_writer'),
			('invoiceflow_writer', 'invoiceflow_gateway'),
			('invoiceflow_gateway', 'invoiceflow_admin'),
			('invoiceflow_worker', 'invoiceflow_admin')) AS v(grp, member)
	LOOP
		IF NOT pg_catalog.pg_has_role(m.member, m.grp, 'MEMBER') THEN
			EXECUTE pg_catalog.format('GRANT %I TO %I', m.grp, m.member);
		END IF;
	END LOOP;
END
$roles$;

ALTER SCHEMA invoiceflow OWNER TO invoiceflow_owner;
REVOKE ALL ON SCHEMA invoiceflow FROM PUBLIC;
GRANT USAGE ON SCHEMA invoiceflow TO invoiceflow_reader, invoiceflow_writer, invoiceflow_worker,
	invoiceflow_gateway, invoiceflow_admin;

-- ---------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------

-- The seed's table, column for column, and what invoiceflow adds beside it.
CREATE TABLE invoiceflow.ingestions (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	filename text NOT NULL,
	s3_key text NOT NULL UNIQUE,
	status text CHECK(status IN ('PENDING','PROCESSING','FAILED','COMPLETED')) NOT NULL DEFAULT 'PENDING',
	created_at timestamp with time zone DEFAULT now() NOT NULL,
	updated_at timestamp with time zone DEFAULT now() NOT NULL,
	-- invoiceflow
	size_bytes bigint NOT NULL CHECK (size_bytes > 0),
	sha256 bytea NOT NULL CHECK (length(sha256) = 32),
	source text NOT NULL DEFAULT 'upload' CHECK (source IN ('upload', 'email', 'webhook')),
	idempotency_key text,
	-- grows each time the ingestion returns to PENDING (message ids carry it)
	attempt integer NOT NULL DEFAULT 1,
	error_kind text,
	error_message text,
	lease uuid,
	lease_owner text,
	lease_expires_at timestamp with time zone,
	CHECK ((status = 'PROCESSING') = (lease IS NOT NULL))
) WITH (
	-- status changes are HOT updates when the page has room
	fillfactor = 85,
	autovacuum_vacuum_scale_factor = 0.01,
	autovacuum_vacuum_insert_scale_factor = 0.05,
	autovacuum_analyze_scale_factor = 0.02
);
COMMENT ON TABLE invoiceflow.ingestions IS 'One row per accepted upload (the seed''s table plus invoiceflow''s columns).';

CREATE UNIQUE INDEX ingestions_idempotency_key_idx ON invoiceflow.ingestions (idempotency_key)
	WHERE idempotency_key IS NOT NULL;
CREATE INDEX ingestions_sha256_idx ON invoiceflow.ingestions (sha256);
-- claim_next(): oldest PENDING first; the partial index stays as small as the backlog.
CREATE INDEX ingestions_pending_idx ON invoiceflow.ingestions (created_at) WHERE status = 'PENDING';
-- lease expiry sweep
CREATE INDEX ingestions_lease_expiry_idx ON invoiceflow.ingestions (lease_expires_at)
	WHERE status = 'PROCESSING';

-- The file bytes while PostgreSQL keeps them. EXTERNAL storage: out of line and
-- uncompressed, since PDFs are compressed already.
CREATE TABLE invoiceflow.ingestion_files (
	ingestion_id uuid PRIMARY KEY REFERENCES invoiceflow.ingestions (id) ON DELETE CASCADE,
	content bytea NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE invoiceflow.ingestion_files ALTER COLUMN content SET STORAGE EXTERNAL;

-- What the processor extracted (complete()).
CREATE TABLE invoiceflow.extractions (
	ingestion_id uuid PRIMARY KEY REFERENCES invoiceflow.ingestions (id) ON DELETE CASCADE,
	invoice jsonb NOT NULL,
	text text NOT NULL DEFAULT '',
	extracted_at timestamp with time zone NOT NULL DEFAULT now()
) WITH (autovacuum_vacuum_scale_factor = 0.02);

-- Gateway API keys, stored as sha256 hashes only.
CREATE TABLE invoiceflow.api_keys (
	name text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 100),
	key_hash bytea NOT NULL UNIQUE,
	created_at timestamp with time zone NOT NULL DEFAULT now(),
	revoked_at timestamp with time zone
);

/*
 * Status counters for stats(): one row per (status, shard), kept by a trigger.
 * A backend updates the shard of its own PID, so concurrent ingests rarely touch
 * the same row (a single counter row would serialise every ingest), and stats()
 * sums a fixed number of rows whatever the table size. The counts are derived
 * data: not dumped, rebuilt by the same trigger as a restore inserts the rows.
 */
CREATE TABLE invoiceflow.stats_counters (
	status text NOT NULL,
	shard integer NOT NULL,
	n bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (status, shard)
) WITH (fillfactor = 50, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0,
		autovacuum_vacuum_cost_delay = 0);
INSERT INTO invoiceflow.stats_counters (status, shard)
	SELECT s, g FROM unnest(ARRAY['PENDING', 'PROCESSING', 'FAILED', 'COMPLETED']) AS s,
		generate_series(0, 63) AS g;

SELECT pg_catalog.pg_extension_config_dump('invoiceflow.ingestions', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.ingestion_files', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.extractions', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.api_keys', '');

-- ---------------------------------------------------------------------------
-- Triggers: updated_at (the seed's), the state machine, the counters
-- ---------------------------------------------------------------------------

-- The seed's trigger, as it was.
CREATE FUNCTION invoiceflow.update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ language 'plpgsql';

CREATE TRIGGER update_ingestions_updated_at
    BEFORE UPDATE ON invoiceflow.ingestions
    FOR EACH ROW EXECUTE FUNCTION invoiceflow.update_updated_at_column();

/*
 * The state machine (DESIGN.md § Data and states), enforced for every writer,
 * raw UPDATEs included. It also keeps the bookkeeping that goes with a state:
 * a lease only while PROCESSING, a new attempt on every return to PENDING.
 */
CREATE FUNCTION invoiceflow._check_transition() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF NEW.status IS DISTINCT FROM OLD.status THEN
		IF (OLD.status, NEW.status) NOT IN (
				('PENDING', 'PROCESSING'), ('PROCESSING', 'COMPLETED'), ('PROCESSING', 'FAILED'),
				('PENDING', 'FAILED'), ('PROCESSING', 'PENDING'), ('FAILED', 'PENDING')) THEN
			RAISE EXCEPTION 'invalid status transition from % to %', OLD.status, NEW.status
				USING ERRCODE = 'IF001',
					  DETAIL = format('Ingestion %s is %s; invoiceflow does not allow %s -> %s.',
									  OLD.id, OLD.status, OLD.status, NEW.status),
					  HINT = 'Allowed: PENDING -> PROCESSING -> COMPLETED | FAILED, PENDING -> FAILED, '
						  'PROCESSING -> PENDING, FAILED -> PENDING (retry).';
		END IF;
		IF NEW.status = 'PENDING' THEN
			NEW.attempt := OLD.attempt + 1;
		END IF;
	END IF;
	IF NEW.status <> 'PROCESSING' THEN
		NEW.lease := NULL;
		NEW.lease_owner := NULL;
		NEW.lease_expires_at := NULL;
	END IF;
	RETURN NEW;
END
$$;

CREATE TRIGGER ingestions_check_transition
	BEFORE UPDATE ON invoiceflow.ingestions
	FOR EACH ROW EXECUTE FUNCTION invoiceflow._check_transition();

/*
 * Counting is statement-level with transition tables: one counter update per
 * status a statement touches, so a bulk load (or a restore's COPY) costs a few
 * updates, not one per row.
 */
CREATE FUNCTION invoiceflow._apply_counts(p_deltas jsonb) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_shard integer := pg_backend_pid() % 64;
	d record;
BEGIN
	FOR d IN SELECT key AS status, value::bigint AS delta FROM jsonb_each_text(p_deltas)
			 WHERE value::bigint <> 0 ORDER BY key
	LOOP
		UPDATE invoiceflow.stats_counters SET n = n + d.delta
			WHERE status = d.status AND shard = v_shard;
		IF NOT FOUND THEN
			INSERT INTO invoiceflow.stats_counters AS c (status, shard, n) VALUES (d.status, v_shard, d.delta)
				ON CONFLICT (status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
		END IF;
	END LOOP;
END
$$;

CREATE FUNCTION invoiceflow._count_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	PERFORM invoiceflow._apply_counts(
		(SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*) AS n FROM new_rows GROUP BY status) c));
	RETURN NULL;
END
$$;

CREATE FUNCTION invoiceflow._count_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	PERFORM invoiceflow._apply_counts(
		(SELECT jsonb_object_agg(status, -n) FROM (SELECT status, count(*) AS n FROM old_rows GROUP BY status) c));
	RETURN NULL;
END
$$;

CREATE FUNCTION invoiceflow._count_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	PERFORM invoiceflow._apply_counts(
		(SELECT jsonb_object_agg(status, n) FROM (
			SELECT status, sum(n) AS n FROM (
				SELECT status, -count(*) AS n FROM old_rows GROUP BY status
				UNION ALL
				SELECT status, count(*) FROM new_rows GROUP BY status) u
			GROUP BY status) c));
	RETURN NULL;
END
$$;

CREATE TRIGGER ingestions_count_insert
	AFTER INSERT ON invoiceflow.ingestions REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._count_inserted();
CREATE TRIGGER ingestions_count_update
	AFTER UPDATE ON invoiceflow.ingestions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._count_updated();
CREATE TRIGGER ingestions_count_delete
	AFTER DELETE ON invoiceflow.ingestions REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._count_deleted();

-- ---------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------

CREATE FUNCTION invoiceflow._configured_sinks() RETURNS text[]
	AS 'MODULE_PATHNAME', 'invoiceflow_configured_sinks' LANGUAGE C STRICT STABLE;

CREATE FUNCTION invoiceflow._library_version() RETURNS text
	AS 'MODULE_PATHNAME', 'invoiceflow_library_version' LANGUAGE C STRICT;

-- Raises 22023 with a user-facing message when the upload is refused.
CREATE FUNCTION invoiceflow._validate_upload(filename text, content bytea) RETURNS void
	AS 'MODULE_PATHNAME', 'invoiceflow_validate_upload' LANGUAGE C;

-- Timestamps leave the database in UTC, ISO 8601 with Z.
CREATE FUNCTION invoiceflow._iso(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT pg_catalog.to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE FUNCTION invoiceflow._bad_input(msg text, detail text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = msg, DETAIL = coalesce(detail, '');
END
$$;

CREATE FUNCTION invoiceflow._lease_interval() RETURNS interval
LANGUAGE sql STABLE AS $$
	-- SHOW gives the value with its unit (e.g. 5min), which interval input reads
	SELECT pg_catalog.current_setting('invoiceflow.lease_seconds')::interval
$$;

CREATE FUNCTION invoiceflow._stale_lease(p_id uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'lease on ingestion % is no longer current', p_id
		USING ERRCODE = '55000',
			  DETAIL = 'The lease expired or was released, or the ingestion was claimed again or purged.',
			  HINT = 'Stop working on this file; another worker may have taken it.';
END
$$;

-- Returns expired leases to PENDING (at most p_limit rows); returns how many.
CREATE FUNCTION invoiceflow._expire_leases(p_limit integer DEFAULT 100) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	n integer;
BEGIN
	UPDATE invoiceflow.ingestions i SET status = 'PENDING'
	WHERE i.id IN (SELECT e.id FROM invoiceflow.ingestions e
				   WHERE e.status = 'PROCESSING' AND e.lease_expires_at < pg_catalog.now()
				   ORDER BY e.lease_expires_at LIMIT p_limit
				   FOR UPDATE SKIP LOCKED);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- The row of a current lease, locked; raises 55000 when the lease is not current.
CREATE FUNCTION invoiceflow._current_lease(p_id uuid, p_lease uuid) RETURNS invoiceflow.ingestions
LANGUAGE plpgsql SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	r invoiceflow.ingestions;
BEGIN
	IF p_id IS NULL OR p_lease IS NULL THEN
		PERFORM invoiceflow._bad_input('request_id and lease are required');
	END IF;
	SELECT * INTO r FROM invoiceflow.ingestions WHERE id = p_id FOR UPDATE;
	IF NOT FOUND OR r.status <> 'PROCESSING' OR r.lease IS DISTINCT FROM p_lease
		OR r.lease_expires_at <= pg_catalog.now() THEN
		PERFORM invoiceflow._stale_lease(p_id);
	END IF;
	RETURN r;
END
$$;

-- ---------------------------------------------------------------------------
-- SQL API
-- ---------------------------------------------------------------------------

CREATE FUNCTION invoiceflow.ingest(filename text, content bytea, source text DEFAULT 'upload',
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

	-- Same key: the first request (same content) or 23505 (other content).
	-- The advisory lock makes concurrent uploads with one key wait for each other.
	IF ingest.idempotency_key IS NOT NULL THEN
		PERFORM pg_catalog.pg_advisory_xact_lock(
			pg_catalog.hashtextextended('invoiceflow.key:' || ingest.idempotency_key, 0));
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
				ingest.source, ingest.idempotency_key);
	INSERT INTO invoiceflow.ingestion_files (ingestion_id, content) VALUES (v_id, ingest.content);
	RETURN QUERY SELECT v_id, 'PENDING'::text, false;
END
$$;

CREATE FUNCTION invoiceflow.status(request_id uuid) RETURNS jsonb
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
			'delivery', '{}'::jsonb)
		|| CASE WHEN i.status = 'COMPLETED'
				THEN jsonb_build_object('invoice',
						(SELECT e.invoice FROM invoiceflow.extractions e WHERE e.ingestion_id = i.id))
				ELSE '{}'::jsonb END
	FROM invoiceflow.ingestions i
	WHERE i.id = status.request_id
$$;

CREATE FUNCTION invoiceflow.stats() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT jsonb_build_object(
		'pending', coalesce(sum(n) FILTER (WHERE status = 'PENDING'), 0)::bigint,
		'processing', coalesce(sum(n) FILTER (WHERE status = 'PROCESSING'), 0)::bigint,
		'failed', coalesce(sum(n) FILTER (WHERE status = 'FAILED'), 0)::bigint,
		'completed', coalesce(sum(n) FILTER (WHERE status = 'COMPLETED'), 0)::bigint,
		'total', coalesce(sum(n), 0)::bigint)
	FROM invoiceflow.stats_counters
$$;

-- 0.1 has no delivery worker: a configured sink cannot be healthy yet.
CREATE FUNCTION invoiceflow.health() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	WITH d AS (
		SELECT s.name, CASE WHEN s.name = ANY (invoiceflow._configured_sinks()) THEN 'unhealthy'
							ELSE 'disabled' END AS state
		FROM unnest(ARRAY['s3', 'rabbitmq', 'opensearch']) AS s(name))
	SELECT jsonb_build_object(
		'service', CASE WHEN bool_or(d.state = 'unhealthy') THEN 'degraded' ELSE 'healthy' END,
		'dependencies', jsonb_build_object('database', 'healthy') || jsonb_object_agg(d.name, d.state))
	FROM d
$$;

CREATE FUNCTION invoiceflow.claim_next(worker text, max integer)
RETURNS TABLE (request_id uuid, lease uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF claim_next.worker IS NULL OR length(claim_next.worker) NOT BETWEEN 1 AND 200 THEN
		PERFORM invoiceflow._bad_input('worker must be a name of 1 to 200 characters');
	END IF;
	IF claim_next.max IS NULL OR claim_next.max NOT BETWEEN 1 AND 1000 THEN
		PERFORM invoiceflow._bad_input('max must be between 1 and 1000');
	END IF;
	PERFORM invoiceflow._expire_leases();
	-- SKIP LOCKED: concurrent workers each take different rows and never wait.
	RETURN QUERY
	WITH c AS (
		SELECT i.id FROM invoiceflow.ingestions i
		WHERE i.status = 'PENDING'
		ORDER BY i.created_at
		LIMIT claim_next.max
		FOR UPDATE SKIP LOCKED)
	UPDATE invoiceflow.ingestions u
	SET status = 'PROCESSING', lease = gen_random_uuid(), lease_owner = claim_next.worker,
		lease_expires_at = now() + invoiceflow._lease_interval()
	FROM c WHERE u.id = c.id
	RETURNING u.id, u.lease;
END
$$;

CREATE FUNCTION invoiceflow.claim(request_id uuid, worker text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_lease uuid;
BEGIN
	IF claim.worker IS NULL OR length(claim.worker) NOT BETWEEN 1 AND 200 THEN
		PERFORM invoiceflow._bad_input('worker must be a name of 1 to 200 characters');
	END IF;
	-- an expired lease on this row goes back to PENDING first
	UPDATE invoiceflow.ingestions SET status = 'PENDING'
		WHERE id = claim.request_id AND status = 'PROCESSING' AND lease_expires_at < now();
	UPDATE invoiceflow.ingestions
	SET status = 'PROCESSING', lease = gen_random_uuid(), lease_owner = claim.worker,
		lease_expires_at = now() + invoiceflow._lease_interval()
	WHERE id = claim.request_id AND status = 'PENDING'
	RETURNING lease INTO v_lease;
	RETURN v_lease;
END
$$;

CREATE FUNCTION invoiceflow.extend(request_id uuid, lease uuid) RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_until timestamptz := now() + invoiceflow._lease_interval();
BEGIN
	PERFORM invoiceflow._current_lease(extend.request_id, extend.lease);
	UPDATE invoiceflow.ingestions SET lease_expires_at = v_until WHERE id = extend.request_id;
	RETURN v_until;
END
$$;

CREATE FUNCTION invoiceflow.release(request_id uuid, lease uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	PERFORM invoiceflow._current_lease(release.request_id, release.lease);
	UPDATE invoiceflow.ingestions SET status = 'PENDING' WHERE id = release.request_id;
END
$$;

CREATE FUNCTION invoiceflow.complete(request_id uuid, lease uuid, result jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF complete.result IS NULL OR jsonb_typeof(complete.result) <> 'object'
		OR jsonb_typeof(complete.result -> 'invoice') IS DISTINCT FROM 'object' THEN
		PERFORM invoiceflow._bad_input('result must be an object with an "invoice" object',
									   'Expected {"invoice": {...}, "text": "..."}.');
	END IF;
	IF complete.result ? 'text' AND jsonb_typeof(complete.result -> 'text') NOT IN ('string', 'null') THEN
		PERFORM invoiceflow._bad_input('result.text must be a string');
	END IF;
	PERFORM invoiceflow._current_lease(complete.request_id, complete.lease);
	UPDATE invoiceflow.ingestions SET status = 'COMPLETED', error_kind = NULL, error_message = NULL
		WHERE id = complete.request_id;
	INSERT INTO invoiceflow.extractions AS e (ingestion_id, invoice, text)
		VALUES (complete.request_id, complete.result -> 'invoice',
				-- PostgreSQL text (and jsonb) cannot hold NUL bytes: none to remove here
				coalesce(complete.result ->> 'text', ''))
		ON CONFLICT (ingestion_id) DO UPDATE
			SET invoice = EXCLUDED.invoice, text = EXCLUDED.text, extracted_at = now();
END
$$;

CREATE FUNCTION invoiceflow.fail(request_id uuid, lease uuid, reason text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF fail.reason IS NULL OR btrim(fail.reason) = '' THEN
		PERFORM invoiceflow._bad_input('reason must say why the file failed');
	END IF;
	PERFORM invoiceflow._current_lease(fail.request_id, fail.lease);
	UPDATE invoiceflow.ingestions
	SET status = 'FAILED', error_kind = 'processing', error_message = left(fail.reason, 2000)
	WHERE id = fail.request_id;
END
$$;

CREATE FUNCTION invoiceflow.retry(request_id uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_status text;
BEGIN
	SELECT i.status INTO v_status FROM invoiceflow.ingestions i WHERE i.id = retry.request_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'ingestion % does not exist', retry.request_id USING ERRCODE = 'P0002';
	END IF;
	IF v_status <> 'FAILED' THEN
		RAISE EXCEPTION 'invalid status transition from % to PENDING', v_status
			USING ERRCODE = 'IF001', DETAIL = 'Only FAILED ingestions can be retried.';
	END IF;
	UPDATE invoiceflow.ingestions SET status = 'PENDING', error_kind = NULL, error_message = NULL
		WHERE id = retry.request_id;
END
$$;

CREATE FUNCTION invoiceflow.purge(request_id uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	DELETE FROM invoiceflow.ingestions WHERE id = purge.request_id;
	RETURN FOUND;
END
$$;

CREATE FUNCTION invoiceflow.file(request_id uuid) RETURNS bytea
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT f.content FROM invoiceflow.ingestion_files f WHERE f.ingestion_id = file.request_id
$$;

CREATE FUNCTION invoiceflow.version() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT jsonb_build_object('library', invoiceflow._library_version(),
							  'installed', (SELECT extversion FROM pg_extension WHERE extname = 'invoiceflow'))
$$;

-- API keys of the gateway ------------------------------------------------------

CREATE FUNCTION invoiceflow.create_api_key(name text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_key text := 'ifk_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
BEGIN
	IF create_api_key.name IS NULL OR length(create_api_key.name) NOT BETWEEN 1 AND 100
		OR create_api_key.name ~ '[[:cntrl:]]' THEN
		PERFORM invoiceflow._bad_input('key name must have 1 to 100 printable characters');
	END IF;
	IF EXISTS (SELECT 1 FROM invoiceflow.api_keys k WHERE k.name = create_api_key.name) THEN
		RAISE EXCEPTION 'an API key named % already exists', create_api_key.name
			USING ERRCODE = '23505', HINT = 'Revoke it and choose another name.';
	END IF;
	INSERT INTO invoiceflow.api_keys (name, key_hash)
		VALUES (create_api_key.name, sha256(convert_to(v_key, 'UTF8')));
	RETURN v_key;
END
$$;

CREATE FUNCTION invoiceflow.revoke_api_key(name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	UPDATE invoiceflow.api_keys k SET revoked_at = now()
		WHERE k.name = revoke_api_key.name AND k.revoked_at IS NULL;
	RETURN FOUND;
END
$$;

CREATE FUNCTION invoiceflow.check_api_key(key text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT key IS NOT NULL AND EXISTS (
		SELECT 1 FROM invoiceflow.api_keys k
		WHERE k.key_hash = sha256(convert_to(check_api_key.key, 'UTF8')) AND k.revoked_at IS NULL)
$$;

-- ---------------------------------------------------------------------------
-- Ownership and privileges
-- ---------------------------------------------------------------------------
DO $own$
DECLARE
	o record;
BEGIN
	FOR o IN SELECT c.oid::regclass AS rel FROM pg_class c
			 WHERE c.relnamespace = 'invoiceflow'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
	LOOP
		EXECUTE format('ALTER TABLE %s OWNER TO invoiceflow_owner', o.rel);
		EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', o.rel);
	END LOOP;
	FOR o IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
			 WHERE p.pronamespace = 'invoiceflow'::regnamespace
	LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO invoiceflow_owner', o.fn);
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', o.fn);
	END LOOP;
END
$own$;

GRANT EXECUTE ON FUNCTION invoiceflow.status(uuid), invoiceflow.stats(), invoiceflow.health(),
	invoiceflow.version() TO invoiceflow_reader;
GRANT EXECUTE ON FUNCTION invoiceflow.ingest(text, bytea, text, text) TO invoiceflow_writer;
GRANT EXECUTE ON FUNCTION invoiceflow.claim_next(text, integer), invoiceflow.claim(uuid, text),
	invoiceflow.extend(uuid, uuid), invoiceflow.release(uuid, uuid),
	invoiceflow.complete(uuid, uuid, jsonb), invoiceflow.fail(uuid, uuid, text),
	invoiceflow.file(uuid) TO invoiceflow_worker;
GRANT EXECUTE ON FUNCTION invoiceflow.file(uuid), invoiceflow.check_api_key(text) TO invoiceflow_gateway;
GRANT EXECUTE ON FUNCTION invoiceflow.retry(uuid), invoiceflow.purge(uuid),
	invoiceflow.create_api_key(text), invoiceflow.revoke_api_key(text) TO invoiceflow_admin;
