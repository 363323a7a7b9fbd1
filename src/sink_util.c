/*
 * sink_util.c: the one copy of what every sink client needs (deliver.h): the
 * abort check passed in by the worker, the libcurl abort callback over it,
 * libcurl's global initialisation, and IfResult from a client's verdict.
 *
 * Free of PostgreSQL headers, like the clients that use it.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "deliver.h"

static IfAbortCheck abort_check = NULL;
static bool curl_ready = false;

void
if_abort_check_set(IfAbortCheck check)
{
	abort_check = check;
}

bool
if_aborting(void)
{
	return abort_check != NULL && abort_check();
}

/* the clients call it between reads and writes: SIGTERM stops a transfer in ~100 ms */
int
if_abort_cb(void *arg)
{
	(void) arg;
	return if_aborting() ? 1 : 0;
}

bool
if_curl_init(IfResult *r)
{
	if (curl_ready)
		return true;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		if_result_from(r, IF_TRANSIENT, false, "libcurl could not be initialised");
		return false;
	}
	curl_ready = true;
	return true;
}

void
if_result_from(IfResult *r, IfOutcome outcome, bool aborted, const char *message)
{
	memset(r, 0, sizeof(*r));
	r->outcome = aborted ? IF_TRANSIENT : outcome;
	if (aborted)
		snprintf(r->error, sizeof(r->error), "request aborted: the worker is stopping");
	else if (outcome != IF_OK)
		snprintf(r->error, sizeof(r->error), "%s",
				 message && message[0] ? message : "request failed");
}
