/*
 * invoiceflow 0.1 -> 0.2: the transactional outbox and its delivery workers.
 *
 * Every announced state change (ingest, each return to PENDING, complete,
 * fail, purge) writes outbox rows in its own transaction, one per configured
 * sink (S3, RabbitMQ), from statement-level triggers on invoiceflow.ingestions.
 * The background workers (src/worker.c) drain the outbox and keep the rows as
 * the delivery record that status() shows. health() becomes C: it reads the
 * circuit breakers the workers keep in shared memory.
 */
\echo Use "ALTER EXTENSION invoiceflow UPDATE TO '0.2'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- The outbox
-- ---------------------------------------------------------------------------
CREATE SEQUENCE invoiceflow.outbox_id_seq;

/*
 * One row per delivery: a PUT or DELETE of the file in S3, or one event to
 * publish. No foreign key to ingestions: a purge's S3 DELETE outlives the row.
 * Rows stay after delivery ('done') as the record status() shows and from which
 * a sink configured later learns what it has not seen; purge removes them.
 */
CREATE TABLE invoiceflow.outbox (
	id bigint PRIMARY KEY DEFAULT nextval('invoiceflow.outbox_id_seq'),
	ingestion_id uuid NOT NULL,
	sink text NOT NULL CHECK (sink IN ('s3', 'rabbitmq')),
	action text NOT NULL CHECK (action IN ('put', 'delete', 'publish')),
	-- events: the routing key; the message id is <ingestion_id>:<event>:<attempt>
	event text CHECK (event IN ('invoice.uploaded', 'invoice.completed', 'invoice.failed')),
	attempt integer NOT NULL,
	s3_key text,
	state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed', 'cancelled')),
	tries integer NOT NULL DEFAULT 0,
	next_attempt_at timestamp with time zone NOT NULL DEFAULT now(),
	last_error text,
	-- a worker's claim: set and committed before any network call
	claimed_by text,
	claimed_until timestamp with time zone,
	created_at timestamp with time zone NOT NULL DEFAULT now(),
	done_at timestamp with time zone,
	CHECK ((action = 'publish') = (event IS NOT NULL)),
	CHECK ((action = 'publish') = (sink = 'rabbitmq'))
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
ALTER SEQUENCE invoiceflow.outbox_id_seq OWNED BY invoiceflow.outbox.id;
COMMENT ON TABLE invoiceflow.outbox IS 'Deliveries to S3 and RabbitMQ, written in the transaction of each announced change.';

-- what is due, oldest first; the partial index stays as small as the backlog
CREATE INDEX outbox_due_idx ON invoiceflow.outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_ingestion_idx ON invoiceflow.outbox (ingestion_id, sink);

SELECT pg_catalog.pg_extension_config_dump('invoiceflow.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('invoiceflow.outbox_id_seq', '');

-- ---------------------------------------------------------------------------
-- Helpers in C
-- ---------------------------------------------------------------------------

-- The workers are woken when the calling transaction commits (once per transaction).
CREATE FUNCTION invoiceflow._wake_at_commit() RETURNS void
	AS 'MODULE_PATHNAME', 'invoiceflow_wake_at_commit' LANGUAGE C VOLATILE;

-- The circuit breakers in shared memory, for operators and tests.
CREATE FUNCTION invoiceflow._breakers(OUT dependency text, OUT state text, OUT consecutive_failures integer,
									  OUT last_ok boolean, OUT last_check timestamptz, OUT last_error text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'invoiceflow_breakers' LANGUAGE C VOLATILE;

-- The sinks the outbox serves (OpenSearch is not delivered by these workers).
CREATE FUNCTION invoiceflow._outbox_sinks() RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT ARRAY(SELECT s FROM unnest(invoiceflow._configured_sinks()) s WHERE s IN ('s3', 'rabbitmq'))
$$;

-- ---------------------------------------------------------------------------
-- Writing the outbox: statement triggers, so a bulk change costs a few inserts
-- ---------------------------------------------------------------------------

CREATE FUNCTION invoiceflow._outbox_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_sinks text[] := invoiceflow._outbox_sinks();
BEGIN
	IF 's3' = ANY (v_sinks) THEN
		INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt, s3_key)
			SELECT n.id, 's3', 'put', n.attempt, n.s3_key FROM new_rows n;
	END IF;
	IF 'rabbitmq' = ANY (v_sinks) THEN
		INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, event, attempt)
			SELECT n.id, 'rabbitmq', 'publish', 'invoice.uploaded', n.attempt FROM new_rows n
			WHERE n.status = 'PENDING';
	END IF;
	-- new work: the workers deliver it, or (embedded) NOTIFY the processors
	PERFORM invoiceflow._wake_at_commit();
	RETURN NULL;
END
$$;

CREATE FUNCTION invoiceflow._outbox_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_sinks text[] := invoiceflow._outbox_sinks();
	v_wake boolean := false;
	m integer;
BEGIN
	-- only announced changes: to PENDING, COMPLETED or FAILED
	IF NOT EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
				   WHERE n.status IS DISTINCT FROM o.status AND n.status <> 'PROCESSING') THEN
		RETURN NULL;
	END IF;
	IF 's3' = ANY (v_sinks) THEN
		-- a return to PENDING needs the file in S3: a PUT unless one is due or done
		INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt, s3_key)
			SELECT n.id, 's3', 'put', n.attempt, n.s3_key
			FROM new_rows n JOIN old_rows o ON o.id = n.id
			WHERE n.status = 'PENDING' AND o.status <> 'PENDING'
			  AND NOT EXISTS (SELECT 1 FROM invoiceflow.outbox x
							  WHERE x.ingestion_id = n.id AND x.sink = 's3' AND x.action = 'put'
								AND x.state IN ('pending', 'done'));
		GET DIAGNOSTICS m = ROW_COUNT;
		v_wake := v_wake OR m > 0;
	END IF;
	IF 'rabbitmq' = ANY (v_sinks) THEN
		-- an older attempt's invoice.uploaded not yet sent is superseded
		UPDATE invoiceflow.outbox x SET state = 'cancelled', claimed_by = NULL, claimed_until = NULL
			FROM new_rows n JOIN old_rows o ON o.id = n.id
			WHERE n.status = 'PENDING' AND o.status <> 'PENDING'
			  AND x.ingestion_id = n.id AND x.sink = 'rabbitmq' AND x.event = 'invoice.uploaded'
			  AND x.state = 'pending' AND x.attempt < n.attempt
			  AND (x.claimed_until IS NULL OR x.claimed_until < pg_catalog.now());
		INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, event, attempt)
			SELECT n.id, 'rabbitmq', 'publish',
				   CASE n.status WHEN 'PENDING' THEN 'invoice.uploaded'
								 WHEN 'COMPLETED' THEN 'invoice.completed'
								 ELSE 'invoice.failed' END,
				   n.attempt
			FROM new_rows n JOIN old_rows o ON o.id = n.id
			WHERE n.status IS DISTINCT FROM o.status AND n.status IN ('PENDING', 'COMPLETED', 'FAILED');
		GET DIAGNOSTICS m = ROW_COUNT;
		v_wake := v_wake OR m > 0;
	END IF;
	-- outbox rows to deliver, or (embedded) work for the processors
	IF v_wake OR EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
						 WHERE n.status = 'PENDING' AND o.status <> 'PENDING') THEN
		PERFORM invoiceflow._wake_at_commit();
	END IF;
	RETURN NULL;
END
$$;

CREATE FUNCTION invoiceflow._outbox_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	-- what was not sent yet is no longer to be sent; a delivery in flight is
	-- marked cancelled and its worker cleans up after it
	DELETE FROM invoiceflow.outbox x USING old_rows o
		WHERE x.ingestion_id = o.id AND (x.claimed_until IS NULL OR x.claimed_until < pg_catalog.now());
	UPDATE invoiceflow.outbox x SET state = 'cancelled' FROM old_rows o
		WHERE x.ingestion_id = o.id AND x.state = 'pending';
	-- the object in S3 goes too (whether or not it was stored: DELETE is idempotent)
	IF 's3' = ANY (invoiceflow._outbox_sinks()) THEN
		INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt, s3_key)
			SELECT o.id, 's3', 'delete', o.attempt, o.s3_key FROM old_rows o;
		PERFORM invoiceflow._wake_at_commit();
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER ingestions_outbox_insert
	AFTER INSERT ON invoiceflow.ingestions REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._outbox_inserted();
CREATE TRIGGER ingestions_outbox_update
	AFTER UPDATE ON invoiceflow.ingestions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._outbox_updated();
CREATE TRIGGER ingestions_outbox_delete
	AFTER DELETE ON invoiceflow.ingestions REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._outbox_deleted();

/*
 * A sink configured later picks up what it has not seen: files of live
 * ingestions that S3 never received, and invoice.uploaded for PENDING ones
 * RabbitMQ never heard of. Run by a worker at start-up and on reload, in
 * batches of p_limit rows; returns how many rows it wrote.
 */
CREATE FUNCTION invoiceflow._outbox_backfill(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	v_sinks text[] := invoiceflow._outbox_sinks();
	n integer := 0;
	m integer;
BEGIN
	IF 's3' = ANY (v_sinks) THEN
		INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt, s3_key)
			SELECT i.id, 's3', 'put', i.attempt, i.s3_key FROM invoiceflow.ingestions i
			WHERE i.status <> 'FAILED'
			  AND EXISTS (SELECT 1 FROM invoiceflow.ingestion_files f WHERE f.ingestion_id = i.id)
			  AND NOT EXISTS (SELECT 1 FROM invoiceflow.outbox x WHERE x.ingestion_id = i.id AND x.sink = 's3')
			LIMIT p_limit;
		GET DIAGNOSTICS m = ROW_COUNT;
		n := n + m;
	END IF;
	IF 'rabbitmq' = ANY (v_sinks) THEN
		INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, event, attempt)
			SELECT i.id, 'rabbitmq', 'publish', 'invoice.uploaded', i.attempt FROM invoiceflow.ingestions i
			WHERE i.status = 'PENDING'
			  AND NOT EXISTS (SELECT 1 FROM invoiceflow.outbox x
							  WHERE x.ingestion_id = i.id AND x.sink = 'rabbitmq'
								AND x.event = 'invoice.uploaded' AND x.attempt = i.attempt)
			LIMIT p_limit;
		GET DIAGNOSTICS m = ROW_COUNT;
		n := n + m;
	END IF;
	-- rows of purged ingestions whose in-flight delivery has ended
	DELETE FROM invoiceflow.outbox x
		WHERE x.state = 'cancelled' AND (x.claimed_until IS NULL OR x.claimed_until < pg_catalog.now())
		  AND NOT EXISTS (SELECT 1 FROM invoiceflow.ingestions i WHERE i.id = x.ingestion_id);
	IF n > 0 THEN
		PERFORM invoiceflow._wake_at_commit();
	END IF;
	RETURN n;
END
$$;

-- ---------------------------------------------------------------------------
-- status() shows delivery per sink; health() reads the circuit breakers
-- ---------------------------------------------------------------------------

-- {"s3": {"state": "pending|retrying|done|failed", "attempts", "last_error", "next_attempt_at"}, ...}
CREATE FUNCTION invoiceflow._delivery(p_id uuid, p_status text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT coalesce(jsonb_object_agg(s.sink, coalesce(d.v,
			jsonb_build_object('state', 'pending', 'attempts', 0, 'last_error', NULL, 'next_attempt_at', NULL))),
			'{}'::jsonb)
	FROM (SELECT DISTINCT x.sink FROM invoiceflow.outbox x
		  WHERE x.ingestion_id = p_id AND x.state <> 'cancelled'
		  UNION
		  SELECT c FROM unnest(invoiceflow._outbox_sinks()) c WHERE p_status = 'PENDING') s
	LEFT JOIN LATERAL (
		SELECT jsonb_build_object(
				'state', CASE WHEN x.state = 'pending' AND x.tries = 0 THEN 'pending'
							  WHEN x.state = 'pending' THEN 'retrying'
							  ELSE x.state END,
				'attempts', x.tries,
				'last_error', x.last_error,
				'next_attempt_at', CASE WHEN x.state = 'pending' THEN invoiceflow._iso(x.next_attempt_at) END) AS v
		FROM invoiceflow.outbox x
		WHERE x.ingestion_id = p_id AND x.sink = s.sink AND x.state <> 'cancelled'
		ORDER BY (x.state = 'pending') DESC, x.id DESC
		LIMIT 1) d ON true
$$;

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
				THEN jsonb_build_object('invoice',
						(SELECT e.invoice FROM invoiceflow.extractions e WHERE e.ingestion_id = i.id))
				ELSE '{}'::jsonb END
	FROM invoiceflow.ingestions i
	WHERE i.id = status.request_id
$$;

CREATE OR REPLACE FUNCTION invoiceflow.health() RETURNS jsonb
	AS 'MODULE_PATHNAME', 'invoiceflow_health' LANGUAGE C STABLE SECURITY DEFINER
	SET search_path = pg_catalog, invoiceflow, pg_temp;

-- ---------------------------------------------------------------------------
-- Ownership and privileges of the new objects (as in 0.1: owner invoiceflow_owner,
-- nothing granted to PUBLIC, no role with table access)
-- ---------------------------------------------------------------------------
ALTER TABLE invoiceflow.outbox OWNER TO invoiceflow_owner;
REVOKE ALL ON invoiceflow.outbox FROM PUBLIC;
ALTER SEQUENCE invoiceflow.outbox_id_seq OWNER TO invoiceflow_owner;
REVOKE ALL ON SEQUENCE invoiceflow.outbox_id_seq FROM PUBLIC;
DO $own$
DECLARE
	f regprocedure;
BEGIN
	FOREACH f IN ARRAY ARRAY['invoiceflow._wake_at_commit()', 'invoiceflow._breakers()',
							 'invoiceflow._outbox_sinks()', 'invoiceflow._outbox_inserted()',
							 'invoiceflow._outbox_updated()', 'invoiceflow._outbox_deleted()',
							 'invoiceflow._outbox_backfill(integer)', 'invoiceflow._delivery(uuid,text)']::regprocedure[]
	LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO invoiceflow_owner', f);
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$own$;
