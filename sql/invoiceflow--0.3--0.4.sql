/*
 * invoiceflow 0.3 -> 0.4: OpenSearch as a sink of the outbox.
 *
 * When invoiceflow.opensearch_url is set, the transaction that completes an
 * ingestion writes an outbox row (sink 'opensearch', action 'index') and the
 * one that purges it writes a delete; the workers (src/worker.c,
 * src/worker_opensearch.c) send them to the index "invoices" through _bulk,
 * with the retries, circuit breaker and health reporting of S3 and RabbitMQ.
 * The document is built when it is sent, from search_docs and the extraction,
 * so it is always the current one. An OpenSearch error never changes an
 * ingestion's status: it shows only in status() -> 'delivery' -> 'opensearch'.
 */
\echo Use "ALTER EXTENSION invoiceflow UPDATE TO '0.4'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- The outbox takes OpenSearch rows: 'index' (a completed invoice) and 'delete'
-- ---------------------------------------------------------------------------
ALTER TABLE invoiceflow.outbox DROP CONSTRAINT outbox_sink_check;
ALTER TABLE invoiceflow.outbox ADD CONSTRAINT outbox_sink_check
	CHECK (sink IN ('s3', 'rabbitmq', 'opensearch'));
ALTER TABLE invoiceflow.outbox DROP CONSTRAINT outbox_action_check;
ALTER TABLE invoiceflow.outbox ADD CONSTRAINT outbox_action_check
	CHECK (action IN ('put', 'delete', 'publish', 'index'));
-- OpenSearch rows index or delete a document; only OpenSearch rows index
ALTER TABLE invoiceflow.outbox ADD CONSTRAINT outbox_opensearch_action_check
	CHECK (CASE WHEN sink = 'opensearch' THEN action IN ('index', 'delete') ELSE action <> 'index' END);
COMMENT ON TABLE invoiceflow.outbox IS 'Deliveries to S3, RabbitMQ and OpenSearch, written in the transaction of each announced change.';

-- true when the OpenSearch sink is configured (invoiceflow.opensearch_url set)
CREATE FUNCTION invoiceflow._opensearch_enabled() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT 'opensearch' = ANY (invoiceflow._configured_sinks())
$$;

/*
 * The OpenSearch document of one ingestion (the flat fields of the index
 * mapping, src/common/opensearch_client.c), or NULL when there is nothing to
 * index: unknown, purged, or not COMPLETED. The text is capped at 200,000
 * characters, as the PostgreSQL text vector is; total is sent as a decimal
 * string (OpenSearch coerces it), so no binary rounding reaches _source.
 */
CREATE FUNCTION invoiceflow._opensearch_doc(p_id uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
	SELECT jsonb_strip_nulls(jsonb_build_object(
			'request_id', d.id, 'status', d.status, 'source', d.source, 'filename', d.filename,
			'document_type', left(e.invoice ->> 'document_type', 100),
			'invoice_number', d.invoice_number,
			'seller_name', d.seller, 'seller_vat_id', left(e.invoice -> 'seller' ->> 'vat_id', 100),
			'buyer_name', d.buyer, 'buyer_vat_id', left(e.invoice -> 'buyer' ->> 'vat_id', 100),
			'currency', d.currency,
			'issue_date', to_char(d.issue_date, 'YYYY-MM-DD'),
			'due_date', to_char(invoiceflow._safe_date(e.invoice ->> 'due_date'), 'YYYY-MM-DD'),
			'total', d.total::text,
			'needs_review', d.needs_review, 'extracted_from', d.extracted_from,
			'text', left(e.text, 200000),
			'created_at', invoiceflow._iso(d.created_at)))
	FROM invoiceflow.search_docs d
	JOIN invoiceflow.ingestions i ON i.id = d.id AND i.status = 'COMPLETED'
	LEFT JOIN invoiceflow.extractions e ON e.ingestion_id = d.id
	WHERE d.id = p_id
$$;

-- ---------------------------------------------------------------------------
-- Writing the outbox (beside the 0.2 triggers, which serve S3 and RabbitMQ)
-- ---------------------------------------------------------------------------

-- An ingestion that reaches COMPLETED is indexed (a FAILED one retried and
-- completed later is indexed then); what is sent is built at delivery time.
CREATE FUNCTION invoiceflow._outbox_opensearch_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	m integer;
BEGIN
	IF NOT invoiceflow._opensearch_enabled() THEN
		RETURN NULL;
	END IF;
	INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt)
		SELECT n.id, 'opensearch', 'index', n.attempt
		FROM new_rows n JOIN old_rows o ON o.id = n.id
		WHERE n.status = 'COMPLETED' AND o.status IS DISTINCT FROM 'COMPLETED';
	GET DIAGNOSTICS m = ROW_COUNT;
	IF m > 0 THEN
		PERFORM invoiceflow._wake_at_commit();
	END IF;
	RETURN NULL;
END
$$;

-- A purged ingestion's document goes (a delete of a missing document succeeds).
-- Runs after ingestions_outbox_delete (triggers fire in name order), which
-- clears the ingestion's earlier rows.
CREATE FUNCTION invoiceflow._outbox_opensearch_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
BEGIN
	IF invoiceflow._opensearch_enabled() THEN
		INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt)
			SELECT o.id, 'opensearch', 'delete', o.attempt FROM old_rows o;
		PERFORM invoiceflow._wake_at_commit();
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER ingestions_outbox_update_opensearch
	AFTER UPDATE ON invoiceflow.ingestions REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._outbox_opensearch_updated();
CREATE TRIGGER ingestions_outbox_delete_opensearch
	AFTER DELETE ON invoiceflow.ingestions REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION invoiceflow._outbox_opensearch_deleted();

/*
 * OpenSearch configured later picks up what it has not seen: COMPLETED
 * ingestions with no OpenSearch row pending or done. A document OpenSearch
 * refused (state 'failed', e.g. a mapping conflict) is queued again too: fix
 * the index, reload, and it is sent once more. Run by worker 0 beside
 * _outbox_backfill() at start-up and on reload; returns the rows written.
 * Also drops the delivery record of purged ingestions once nothing of theirs
 * is pending or claimed.
 */
CREATE FUNCTION invoiceflow._outbox_backfill_opensearch(p_limit integer DEFAULT 1000) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, invoiceflow, pg_temp AS $$
DECLARE
	n integer := 0;
BEGIN
	IF invoiceflow._opensearch_enabled() THEN
		INSERT INTO invoiceflow.outbox (ingestion_id, sink, action, attempt)
			SELECT i.id, 'opensearch', 'index', i.attempt FROM invoiceflow.ingestions i
			WHERE i.status = 'COMPLETED'
			  AND NOT EXISTS (SELECT 1 FROM invoiceflow.outbox x
							  WHERE x.ingestion_id = i.id AND x.sink = 'opensearch' AND x.action = 'index'
								AND x.state IN ('pending', 'done'))
			LIMIT p_limit;
		GET DIAGNOSTICS n = ROW_COUNT;
	END IF;
	DELETE FROM invoiceflow.outbox x
		WHERE x.state IN ('done', 'cancelled') AND (x.claimed_until IS NULL OR x.claimed_until < pg_catalog.now())
		  AND NOT EXISTS (SELECT 1 FROM invoiceflow.ingestions i WHERE i.id = x.ingestion_id)
		  AND NOT EXISTS (SELECT 1 FROM invoiceflow.outbox p WHERE p.ingestion_id = x.ingestion_id
						  AND p.state = 'pending');
	IF n > 0 THEN
		PERFORM invoiceflow._wake_at_commit();
	END IF;
	RETURN n;
END
$$;

-- ---------------------------------------------------------------------------
-- Ownership and privileges of the new objects
-- ---------------------------------------------------------------------------
DO $own$
DECLARE
	f regprocedure;
BEGIN
	FOREACH f IN ARRAY ARRAY['invoiceflow._opensearch_enabled()', 'invoiceflow._opensearch_doc(uuid)',
							 'invoiceflow._outbox_opensearch_updated()', 'invoiceflow._outbox_opensearch_deleted()',
							 'invoiceflow._outbox_backfill_opensearch(integer)']::regprocedure[]
	LOOP
		EXECUTE format('ALTER FUNCTION %s OWNER TO invoiceflow_owner', f);
		EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
	END LOOP;
END
$own$;
