/* daemon_log.c: see daemon_log.h. */
#include "daemon_log.h"
#include "../../src/common/utf8_sanitize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* (request id, trace id) of the documents in hand; a handful, searched linearly */
typedef struct trace_entry
{
	char		rid[37];
	char		trace_id[33];
} trace_entry;

static trace_entry *traces = NULL;
static size_t ntraces = 0;

static const char *
trace_of(const char *request_id)
{
	if (!request_id)
		return NULL;
	for (size_t i = 0; i < ntraces; i++)
		if (strcmp(traces[i].rid, request_id) == 0)
			return traces[i].trace_id;
	return NULL;
}

void
plog_trace_init(void)
{
	log_set_trace_source(trace_of);
}

void
plog_trace_set(const char *request_id, const char *traceparent)
{
	trace_entry *grown;
	size_t		i;

	/* 00-<32 hex trace id>-...: only a well-formed one is logged */
	if (!request_id || !traceparent || strlen(traceparent) != 55 || strncmp(traceparent, "00-", 3) != 0 ||
		strspn(traceparent + 3, "0123456789abcdef") < 32)
		return;
	for (i = 0; i < ntraces && strcmp(traces[i].rid, request_id) != 0; i++)
		;
	if (i == ntraces)
	{
		if (!(grown = realloc(traces, (ntraces + 1) * sizeof(*traces))))
			return;
		traces = grown;
		ntraces++;
		snprintf(traces[i].rid, sizeof(traces[i].rid), "%s", request_id);
	}
	memcpy(traces[i].trace_id, traceparent + 3, 32);
	traces[i].trace_id[32] = '\0';
}

void
plog_trace_clear(const char *request_id)
{
	for (size_t i = 0; request_id && i < ntraces; i++)
		if (strcmp(traces[i].rid, request_id) == 0)
		{
			traces[i] = traces[--ntraces];
			return;
		}
}

json_t *
plog_string(const char *s)
{
	size_t		n = strlen(s ? s : "") + 1;
	char	   *c = malloc(n);
	json_t	   *j;

	if (!c)
		return json_null();
	utf8_sanitize(s ? s : "", c, n);
	j = json_string(c);
	free(c);
	return j ? j : json_null();
}
