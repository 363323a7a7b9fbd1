/*
 * worker_opensearch.c: the delivery worker's OpenSearch side, over the shared
 * client (src/common/opensearch_client.h): one client (one reused connection)
 * per worker process, kept while invoiceflow.opensearch_url stays the same;
 * the index "invoices" created with its explicit mapping before the first
 * _bulk of each client (and again after an outage: the cluster may have been
 * replaced); documents batched through POST /invoices/_bulk with an outcome
 * per item; an abort callback so that SIGTERM stops a request within ~100 ms.
 *
 * Free of PostgreSQL headers on purpose: jansson's json_object() clashes with
 * PostgreSQL's (see jansson_shim.c). The worker passes the configuration in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "deliver.h"
#include "opensearch_client.h"

static osc_client *client = NULL;
static char *client_url = NULL;
static long client_timeout_ms = 0;
static bool index_ready = false;	/* this client created or found the index */

void
if_os_reset(void)
{
	if (client != NULL)
		osc_client_free(client);
	client = NULL;
	free(client_url);
	client_url = NULL;
	index_ready = false;
}

static void
result_from(IfResult *r, osc_status st, const char *message)
{
	if_result_from(r, st == OSC_OK ? IF_OK : st == OSC_PERMANENT ? IF_PERMANENT : IF_TRANSIENT,
				   st == OSC_ABORTED, message && message[0] ? message : "OpenSearch request failed");
}

/* the client for url, created on first use; NULL (and *r filled) on a bad URL */
static osc_client *
get_client(const char *url, long timeout_ms, IfResult *r)
{
	osc_error	err;

	if (client != NULL && client_url != NULL && strcmp(client_url, url) == 0)
	{
		if (timeout_ms != client_timeout_ms)
		{
			osc_client_set_timeouts(client, 5000, timeout_ms);
			client_timeout_ms = timeout_ms;
		}
		return client;
	}
	if_os_reset();
	if (!if_curl_init(r))
		return NULL;
	memset(&err, 0, sizeof(err));
	client = osc_client_new(url, &err);
	if (client == NULL)
	{
		/* retrying cannot help until the configuration changes */
		char		msg[600];

		snprintf(msg, sizeof(msg), "OpenSearch is not configured correctly: %s",
				 err.message[0] ? err.message : "check invoiceflow.opensearch_url");
		result_from(r, OSC_PERMANENT, msg);
		return NULL;
	}
	client_url = strdup(url);
	if (client_url == NULL)
	{
		osc_client_free(client);
		client = NULL;
		result_from(r, OSC_TRANSIENT, "out of memory");
		return NULL;
	}
	osc_client_set_timeouts(client, 5000, timeout_ms);
	client_timeout_ms = timeout_ms;
	osc_client_set_abort(client, if_abort_cb, NULL);
	return client;
}

static void
all_items(IfOsItem *items, int n, const IfResult *r)
{
	int			i;

	for (i = 0; i < n; i++)
		items[i].result = *r;
}

IfResult
if_os_bulk(const char *url, long timeout_ms, IfOsItem *items, int n)
{
	IfResult	r = {0};
	osc_error	err;
	osc_status	st;
	osc_bulk   *bulk;
	int		   *pos;			/* bulk position -> item */
	int			nb = 0;
	int			i;
	osc_client *c = get_client(url, timeout_ms, &r);

	if (c == NULL)
	{
		all_items(items, n, &r);
		return r;
	}
	memset(&err, 0, sizeof(err));
	if (!index_ready)
	{
		bool		created = false;

		st = osc_ensure_index(c, IF_OS_INDEX, NULL, &created, &err);
		if (st != OSC_OK)
		{
			char		msg[600];

			snprintf(msg, sizeof(msg), "cannot create index %s: %s", IF_OS_INDEX, err.message);
			result_from(&r, st, msg);
			all_items(items, n, &r);
			return r;
		}
		index_ready = true;
	}

	bulk = osc_bulk_new(IF_OS_INDEX);
	pos = malloc(sizeof(int) * (n > 0 ? n : 1));
	if (bulk == NULL || pos == NULL)
	{
		osc_bulk_free(bulk);
		free(pos);
		result_from(&r, OSC_TRANSIENT, "out of memory");
		all_items(items, n, &r);
		return r;
	}
	for (i = 0; i < n; i++)
	{
		IfOsItem   *it = &items[i];
		int			rc;

		memset(&it->result, 0, sizeof(it->result));
		if (it->is_delete)
			rc = osc_bulk_delete(bulk, it->id);
		else
		{
			json_error_t jerr;
			json_t	   *doc = json_loads(it->doc_json ? it->doc_json : "", 0, &jerr);

			if (doc == NULL || !json_is_object(doc))
			{
				json_decref(doc);
				it->result.outcome = IF_PERMANENT;
				snprintf(it->result.error, sizeof(it->result.error),
						 "the document is not a JSON object: %s", doc ? "" : jerr.text);
				continue;
			}
			rc = osc_bulk_index(bulk, it->id, doc);
			json_decref(doc);
		}
		if (rc != 0)
		{
			it->result.outcome = IF_PERMANENT;
			snprintf(it->result.error, sizeof(it->result.error), "cannot add document %s to a bulk request",
					 it->id ? it->id : "");
			continue;
		}
		pos[nb++] = i;
	}
	if (nb == 0)
	{
		osc_bulk_free(bulk);
		free(pos);
		return r;				/* nothing sent: the request itself did not fail */
	}

	st = osc_bulk_send(c, bulk, &err);
	for (i = 0; i < nb; i++)
	{
		const osc_bulk_item *bi = osc_bulk_item_at(bulk, i);
		IfOsItem   *it = &items[pos[i]];

		result_from(&it->result, bi->status, bi->error);
		/* the index went away (deleted, or a new cluster): create it again */
		if (bi->status != OSC_OK && bi->error && strstr(bi->error, "index_not_found_exception"))
		{
			index_ready = false;
			it->result.outcome = IF_TRANSIENT;
		}
	}
	/* the request's own outcome: items failing one by one do not make it fail */
	if (st != OSC_OK && err.http_status == 200)
		st = OSC_OK;
	result_from(&r, st, err.message);
	if (st == OSC_TRANSIENT || st == OSC_ABORTED)
		index_ready = false;	/* after an outage, check the index again */
	osc_bulk_free(bulk);
	free(pos);
	return r;
}

IfResult
if_os_probe(const char *url)
{
	IfResult	r = {0};
	osc_error	err;
	osc_status	st;
	char		cluster[16] = "";
	osc_client *c = get_client(url, client_timeout_ms > 0 ? client_timeout_ms : 30000, &r);

	if (c == NULL)
		return r;
	memset(&err, 0, sizeof(err));
	/* a probe answers fast or counts as down */
	osc_client_set_timeouts(c, 2000, 5000);
	st = osc_health(c, cluster, sizeof(cluster), &err);
	osc_client_set_timeouts(c, 5000, client_timeout_ms);
	result_from(&r, st, err.message);
	return r;
}
