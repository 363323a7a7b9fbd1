/*
 * sink_opensearch.c: the OpenSearch sink (if_sink_opensearch), the PostgreSQL
 * side of worker_opensearch.c.
 *
 * A batch's documents are read in one short transaction (built from
 * search_docs and the extraction as they are now), then sent in one _bulk with
 * no transaction open; each item gets its own outcome, so only the failed ones
 * are tried again. The breaker counts the request once: a transient failure of
 * the request or of any item is one failure, an answer with every item
 * accepted (or refused for good) a success. Search indexing never changes an
 * ingestion's status (_outbox_record).
 */
#include "sink.h"

#include "pgstat.h"
#include "utils/memutils.h"

static IfResult
os_probe(void)
{
	return if_os_probe(invoiceflow_opensearch_url);
}

static void
os_deliver(IfBatch *b)
{
	IfOsItem   *os = MemoryContextAllocZero(b->cxt, sizeof(IfOsItem) * Max(b->n, 1));
	IfItem	  **pos = MemoryContextAllocZero(b->cxt, sizeof(IfItem *) * Max(b->n, 1));
	int			m = 0;
	int			i;
	int			k;
	IfResult	req;
	bool		any_transient = false;
	const char *transient_error = NULL;
	char		activity[100];

	for (i = 0; i < b->n; i++)
	{
		IfItem	   *it = b->items[i];

		memset(&it->result, 0, sizeof(it->result));
		if (!if_sink_may_send(&if_sink_opensearch) || b->should_abort())
		{
			it->skipped = true;
			continue;
		}
		if (!it->ingestion_exists && strcmp(it->action, "delete") != 0)
			continue;			/* purged meanwhile: nothing to index (OK) */
		os[m].is_delete = strcmp(it->action, "delete") == 0;
		os[m].id = it->ingestion_id;
		pos[m++] = it;
	}

	/* the documents as they are now; one that is gone (not COMPLETED) is OK unsent */
	if (m > 0)
	{
		if_tx_begin("reading documents for OpenSearch");
		for (i = 0; i < m; i++)
			if (!os[i].is_delete)
				os[i].doc_json = if_outbox_doc(b->cxt, os[i].id);
		if_tx_commit();
	}
	for (i = 0, k = 0; i < m; i++)
	{
		if (!os[i].is_delete && os[i].doc_json == NULL)
			continue;
		os[k] = os[i];
		pos[k++] = pos[i];
	}
	m = k;
	if (m == 0)
		return;

	snprintf(activity, sizeof(activity), "OpenSearch POST /%s/_bulk (%d actions)", IF_OS_INDEX, m);
	pgstat_report_activity(STATE_RUNNING, activity);
	req = if_os_bulk(invoiceflow_opensearch_url, (long) invoiceflow_request_timeout_seconds * 1000, os, m);
	for (i = 0; i < m; i++)
	{
		pos[i]->result = os[i].result;
		if (os[i].result.outcome == IF_TRANSIENT && !any_transient)
		{
			any_transient = true;
			transient_error = pos[i]->result.error;
		}
	}
	if (req.outcome == IF_TRANSIENT || any_transient)
		if_breaker_failure(IF_DEP_OPENSEARCH, req.outcome == IF_TRANSIENT ? req.error : transient_error, true);
	else if (req.outcome == IF_PERMANENT)
		if_breaker_failure(IF_DEP_OPENSEARCH, req.error, false);
	else
		if_breaker_success(IF_DEP_OPENSEARCH);
}

const IfSink if_sink_opensearch = {
	.name = "opensearch",
	.title = "OpenSearch",
	.dep = IF_DEP_OPENSEARCH,
	.configured = if_os_configured,
	.probe = os_probe,
	.deliver = os_deliver,
	.reset = if_os_reset,
};
