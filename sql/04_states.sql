-- The state machine holds for every writer, raw UPDATEs included.
SET invoiceflow.dedup = off;
CREATE TEMP TABLE st AS
  SELECT (invoiceflow.ingest('st-' || g || '.pdf', test_pdf('st' || g))).request_id AS id, g
  FROM generate_series(1, 4) g;
-- move row g to a given state along allowed paths
CREATE FUNCTION put_in(p_id uuid, p_status text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE invoiceflow.ingestions SET status = 'PENDING' WHERE id = p_id AND status = 'FAILED';
  IF p_status = 'PENDING' THEN RETURN; END IF;
  UPDATE invoiceflow.ingestions SET status = 'PROCESSING', lease = gen_random_uuid(),
         lease_owner = 't', lease_expires_at = now() + interval '1 hour' WHERE id = p_id AND status = 'PENDING';
  IF p_status = 'PROCESSING' THEN RETURN; END IF;
  UPDATE invoiceflow.ingestions SET status = p_status WHERE id = p_id;
END $$;

-- every ordered pair of distinct states, by raw UPDATE
CREATE TEMP TABLE pairs AS
  SELECT f AS from_state, t AS to_state
  FROM unnest(ARRAY['PENDING','PROCESSING','FAILED','COMPLETED']) f,
       unnest(ARRAY['PENDING','PROCESSING','FAILED','COMPLETED']) t WHERE f <> t;
CREATE FUNCTION try_transition(f text, t text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_id uuid := (invoiceflow.ingest('pair.pdf', test_pdf(f || '->' || t))).request_id;
BEGIN
  PERFORM put_in(v_id, f);
  IF (SELECT status FROM invoiceflow.ingestions WHERE id = v_id) <> f THEN RETURN 'setup failed'; END IF;
  RETURN try(format($q$UPDATE invoiceflow.ingestions SET status = %L,
      lease = CASE WHEN %L = 'PROCESSING' THEN gen_random_uuid() END,
      lease_expires_at = now() + interval '1 hour' WHERE id = %L$q$, t, t, v_id));
END $$;
SELECT from_state, to_state, try_transition(from_state, to_state) AS result
  FROM pairs ORDER BY 1, 2;

-- the error as a client sees it: SQLSTATE, message, detail, hint
\x on
SELECT put_in((SELECT id FROM st WHERE g = 2), 'COMPLETED');
SELECT * FROM try_full(format($$UPDATE invoiceflow.ingestions SET status = 'PENDING' WHERE id = %L$$,
  (SELECT id FROM st WHERE g = 2)));
\x off
\set VERBOSITY terse
SELECT try($$UPDATE invoiceflow.ingestions SET status = 'PROCESSING' WHERE status = 'COMPLETED'$$) AS bulk_update;

-- a return to PENDING starts a new attempt and drops the lease
SELECT put_in((SELECT id FROM st WHERE g = 3), 'PROCESSING');
SELECT attempt, lease IS NOT NULL AS leased FROM invoiceflow.ingestions WHERE id = (SELECT id FROM st WHERE g = 3);
UPDATE invoiceflow.ingestions SET status = 'PENDING' WHERE id = (SELECT id FROM st WHERE g = 3);
SELECT attempt, lease IS NOT NULL AS leased, lease_owner, lease_expires_at FROM invoiceflow.ingestions
  WHERE id = (SELECT id FROM st WHERE g = 3);
-- PROCESSING needs a lease
SELECT try($$UPDATE invoiceflow.ingestions SET status = 'PROCESSING' WHERE id = (SELECT id FROM st WHERE g = 4)$$) AS no_lease;
-- unknown states are refused by the seed's CHECK constraint
SELECT try($$UPDATE invoiceflow.ingestions SET status = 'DONE' WHERE id = (SELECT id FROM st WHERE g = 4)$$) AS unknown_state;
-- updated_at moves on update (the seed's trigger)
SELECT updated_at > created_at AS updated_at_moves FROM invoiceflow.ingestions WHERE id = (SELECT id FROM st WHERE g = 3);
SELECT invoiceflow.stats() = counts() AS stats_exact;
RESET invoiceflow.dedup;
