-- invoiceflow 0.6 -> 0.7: delivery throughput (issue 11, item 2)
\echo Use "ALTER EXTENSION invoiceflow UPDATE TO '0.7'" to load this file. \quit

-- ===== worker: claim and record with cached plans, a batch in one call =====
/*
 * Due rows are found per sink: the partial index of pending rows leads with
 * the sink, so a claim reads only the sink's due rows in order, not every
 * pending row of every sink (0.6 read them all and sorted: a claim cost grew
 * with the backlog).
 */
DROP INDEX invoiceflow.outbox_due_idx;
CREATE INDEX outbox_sink_due_idx ON invoiceflow.outbox (sink, next_attempt_at, id) WHERE state = 'pending';

/*
 * The same claim as 0.6 (the ordering rules unchanged), now plpgsql: a
 * LANGUAGE sql set-returning function with a data-modifying CTE is parsed and
 * planned again on every call (a third of a worker's CPU while a backlog
 * drained); plpgsql keeps its plans for the session. The sinks are claimed
 * one after the other, in the order given, up to p_limit rows in all; within
 * a sink, oldest due first.
 */
CREATE OR REPLACE FUNCTION invoiceflow._outbox_claim(p_worker text, p_sinks text[], p_limit integer,
	p_lease_secs double precision)
RETURNS TABLE (id bigint, ingestion_id uuid, sink text, action text, event text, attempt integer,
	tries integer, s3_key text, filename text, sha256_hex text, size_bytes bigint, created_at text,
	ingestion_exists boolean, traceparent text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	s text;
	wanted integer := p_limit;
	got integer;
BEGIN
	FOREACH s IN ARRAY coalesce(p_sinks, '{}') LOOP
		EXIT WHEN wanted <= 0;
		RETURN QUERY
		WITH c AS (
			SELECT o.id FROM invoiceflow.outbox o
			WHERE o.state = 'pending' AND o.sink = s AND o.next_attempt_at <= now()
			  AND (o.claimed_until IS NULL OR o.claimed_until < now())
			  AND (o.event IS DISTINCT FROM 'invoice.uploaded' OR NOT EXISTS (
				SELECT 1 FROM invoiceflow.outbox p WHERE p.ingestion_id = o.ingestion_id
				  AND p.sink = 's3' AND p.action = 'put' AND p.state = 'pending'))
			  AND NOT (o.action = 'delete' AND EXISTS (
				SELECT 1 FROM invoiceflow.outbox p WHERE p.ingestion_id = o.ingestion_id
				  AND p.id <> o.id AND p.claimed_until > now()))
			ORDER BY o.next_attempt_at, o.id LIMIT wanted
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
		ORDER BY u.id;
		GET DIAGNOSTICS got = ROW_COUNT;
		wanted := wanted - got;
	END LOOP;
END
$$;

/* when the earliest pending, unclaimed row of the given sinks is due (NULL: none); plpgsql for its cached plan */
CREATE OR REPLACE FUNCTION invoiceflow._outbox_next_due(p_sinks text[])
RETURNS timestamp with time zone
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN (SELECT min(d) FROM unnest(p_sinks) s, LATERAL (
		SELECT o.next_attempt_at AS d FROM invoiceflow.outbox o
		WHERE o.state = 'pending' AND o.sink = s
		  AND (o.claimed_until IS NULL OR o.claimed_until < now())
		  AND o.next_attempt_at > now()
		ORDER BY o.next_attempt_at LIMIT 1) n);
END
$$;

/*
 * Records the outcomes of a batch of claimed rows in one call: element i of
 * each array is row i's _outbox_record() arguments, and the effect is the same
 * as calling it for each row in order. The common outcome, 'done' of a PUT or
 * a publish, is applied to the whole batch in a few set statements; every
 * other one (retry, failed, skipped, a done DELETE) goes through
 * _outbox_record(), where the failure rules are. 22023 for arrays of unequal
 * length or an unknown outcome, before anything changes.
 */
CREATE FUNCTION invoiceflow._outbox_record_batch(p_ids bigint[], p_outcomes text[], p_errors text[],
	p_retry_secs double precision[], p_drop_bytes boolean[])
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	n integer := coalesce(cardinality(p_ids), 0);
	i integer;
	done_ids bigint[];
	drop_ids bigint[];
	puts bigint;
BEGIN
	IF coalesce(cardinality(p_outcomes), 0) <> n OR coalesce(cardinality(p_errors), 0) <> n
		OR coalesce(cardinality(p_retry_secs), 0) <> n OR coalesce(cardinality(p_drop_bytes), 0) <> n THEN
		RAISE EXCEPTION 'the outcome arrays differ in length'
			USING ERRCODE = '22023', HINT = 'Pass one element per outbox row in each array.';
	END IF;
	IF EXISTS (SELECT 1 FROM unnest(p_outcomes) u(o)
			   WHERE o IS NULL OR o NOT IN ('done', 'retry', 'failed', 'skipped')) THEN
		RAISE EXCEPTION 'unknown delivery outcome in a batch'
			USING ERRCODE = '22023', HINT = 'Use done, retry, failed or skipped.';
	END IF;
	-- done PUTs and publishes: the set path (a done DELETE may remove rows: per row)
	SELECT array_agg(o.id), array_agg(o.id) FILTER (WHERE o.action = 'put' AND b.d),
		count(*) FILTER (WHERE o.action = 'put')
	INTO done_ids, drop_ids, puts
	FROM unnest(p_ids, p_outcomes, p_drop_bytes) b(id, oc, d)
	JOIN invoiceflow.outbox o ON o.id = b.id
	WHERE b.oc = 'done' AND o.action <> 'delete';
	IF done_ids IS NOT NULL THEN
		-- cancelled by a purge while in flight: the claim ends now, not at its expiry
		UPDATE invoiceflow.outbox o SET claimed_by = NULL, claimed_until = NULL
		WHERE o.id = ANY (done_ids) AND o.state = 'cancelled' AND o.claimed_by IS NOT NULL;
		UPDATE invoiceflow.outbox o SET state = 'done', tries = o.tries + 1, done_at = now(),
			last_error = NULL, claimed_by = NULL, claimed_until = NULL
		WHERE o.id = ANY (done_ids) AND o.state = 'pending';
		IF drop_ids IS NOT NULL THEN
			-- S3 holds verified copies (ETag = MD5 of these bytes): drop ours
			DELETE FROM invoiceflow.ingestion_files f WHERE f.ingestion_id = ANY (ARRAY(
				SELECT o.ingestion_id FROM invoiceflow.outbox o WHERE o.id = ANY (drop_ids)));
		END IF;
		IF puts > 0 THEN
			-- invoice.uploaded rows may have waited for these PUTs
			PERFORM invoiceflow._wake_at_commit();
		END IF;
	END IF;
	FOR i IN 1 .. n LOOP
		IF p_ids[i] = ANY (coalesce(done_ids, '{}')) THEN
			CONTINUE;
		END IF;
		PERFORM invoiceflow._outbox_record(p_ids[i], p_outcomes[i], p_errors[i], p_retry_secs[i],
			p_drop_bytes[i]);
	END LOOP;
END
$$;

DO $$
DECLARE
	o text;
BEGIN
	FOREACH o IN ARRAY ARRAY['invoiceflow._outbox_claim(text,text[],integer,double precision)',
			'invoiceflow._outbox_next_due(text[])',
			'invoiceflow._outbox_record_batch(bigint[],text[],text[],double precision[],boolean[])'] LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO invoiceflow_owner', o);
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', o);
	END LOOP;
END
$$;
-- ===== end worker =====

-- ===== webhook-claim: a delivery claimed by one worker only =====
/*
 * 0.6 chose the due rows in a CTE and locked them by id alone. A row another
 * worker claimed and committed after this statement's snapshot was then
 * locked (no longer held, so not skipped) and claimed a second time: the same
 * delivery sent twice, seen with two workers (the default since 0.7). The
 * claim conditions now stand in the locking query too, where PostgreSQL
 * checks them again on the row's latest version.
 */
CREATE OR REPLACE FUNCTION invoiceflow._webhook_claim(p_worker text, p_max integer, p_per_sub integer, p_claim_secs double precision)
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
		  AND d.state = 'pending' AND (d.claimed_until IS NULL OR d.claimed_until < now())
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
-- ===== end webhook-claim =====
