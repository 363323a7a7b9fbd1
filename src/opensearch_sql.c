/*
 * opensearch_sql.c: search() queries OpenSearch when invoiceflow.search_backend
 * is 'opensearch'. The SQL side builds the query (sql/invoiceflow--0.2--0.3.sql);
 * this file sends it from the backend, with timeouts, and gives up at once on
 * query cancel or shutdown (the request's abort callback watches the interrupts).
 */
#include "invoiceflow.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include <curl/curl.h>

#include "opensearch_text.h"

#define SEARCH_CONNECT_TIMEOUT_MS 2000
#define SEARCH_TOTAL_TIMEOUT_MS 10000

/* One client per backend, kept while the URL stays the same (connection reuse). */
static ost_client *search_client = NULL;
static char *search_client_url = NULL;

static int
abort_on_interrupt(void *arg)
{
	return InterruptPending ? 1 : 0;
}

static ost_client *
get_client(void)
{
	char		errbuf[512];
	static bool curl_ready = false;

	if (invoiceflow_opensearch_url == NULL || invoiceflow_opensearch_url[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("invoiceflow.search_backend is 'opensearch' but invoiceflow.opensearch_url is not set"),
				 errhint("Set invoiceflow.opensearch_url, or set invoiceflow.search_backend to 'postgres'.")));
	if (search_client && search_client_url && strcmp(search_client_url, invoiceflow_opensearch_url) == 0)
		return search_client;
	if (!curl_ready)
	{
		curl_global_init(CURL_GLOBAL_DEFAULT);
		curl_ready = true;
	}
	ost_client_free(search_client);
	search_client = NULL;
	if (search_client_url)
		pfree(search_client_url);
	search_client_url = NULL;
	search_client = ost_client_new(invoiceflow_opensearch_url, SEARCH_CONNECT_TIMEOUT_MS,
								   SEARCH_TOTAL_TIMEOUT_MS, abort_on_interrupt, NULL, errbuf, sizeof(errbuf));
	if (search_client == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid invoiceflow.opensearch_url"),
				 errdetail("%s", errbuf)));
	search_client_url = MemoryContextStrdup(TopMemoryContext, invoiceflow_opensearch_url);
	return search_client;
}

PG_FUNCTION_INFO_V1(invoiceflow_opensearch_search);

/*
 * invoiceflow._opensearch_search(index text, body text) returns text
 * POSTs body to /<index>/_search and returns OpenSearch's JSON answer.
 */
Datum
invoiceflow_opensearch_search(PG_FUNCTION_ARGS)
{
	char	   *index = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *body = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ost_client *c = get_client();
	char		errbuf[512];
	char	   *out = NULL;
	char		path[300];
	int			st;
	text	   *result;

	snprintf(path, sizeof(path), "/%s/_search", index);
	st = ost_request(c, "POST", path, body, &out, errbuf, sizeof(errbuf));
	if (st == OST_ABORTED)
	{
		CHECK_FOR_INTERRUPTS();
		ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED), errmsg("OpenSearch request canceled")));
	}
	if (st == OST_TRANSIENT)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("OpenSearch is unavailable"),
				 errdetail("%s", errbuf),
				 errhint("Search works again when OpenSearch answers; invoiceflow.search_backend = 'postgres' searches PostgreSQL instead.")));
	if (st != OST_OK)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("OpenSearch refused the search"),
				 errdetail("%s", errbuf)));
	result = cstring_to_text(out);
	free(out);
	PG_RETURN_TEXT_P(result);
}
