/* opensearch_text.c: see opensearch_text.h */
#include "opensearch_text.h"
#include "opensearch_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

ost_client *
ost_client_new(const char *url, long connect_timeout_ms, long total_timeout_ms,
			   int (*abort_fn) (void *), void *abort_arg, char *errbuf, size_t errlen)
{
	osc_error	err;
	osc_client *c = osc_client_new(url, &err);

	if (c == NULL)
	{
		snprintf(errbuf, errlen, "%s", err.message);
		return NULL;
	}
	osc_client_set_timeouts(c, connect_timeout_ms, total_timeout_ms);
	if (abort_fn)
		osc_client_set_abort(c, abort_fn, abort_arg);
	return c;
}

void
ost_client_free(ost_client *c)
{
	if (c)
		osc_client_free(c);
}

int
ost_request(ost_client *c, const char *method, const char *path, const char *body,
			char **response_text, char *errbuf, size_t errlen)
{
	json_t	   *resp = NULL;
	long		code = 0;
	osc_error	err;
	osc_status	st;

	*response_text = NULL;
	errbuf[0] = '\0';
	st = osc_request(c, method, path, "application/json", body, body ? strlen(body) : 0, &code, &resp, &err);
	if (st == OSC_OK)
	{
		*response_text = resp ? json_dumps(resp, JSON_COMPACT) : strdup("{}");
		json_decref(resp);
		if (*response_text == NULL)
		{
			snprintf(errbuf, errlen, "out of memory");
			return OST_PERMANENT;
		}
		return OST_OK;
	}
	json_decref(resp);
	snprintf(errbuf, errlen, "%s", err.message);
	switch (st)
	{
		case OSC_TRANSIENT:
			return OST_TRANSIENT;
		case OSC_ABORTED:
			return OST_ABORTED;
		default:
			return OST_PERMANENT;
	}
}
