/*
 * sinks.c: the table of delivery sinks (sink.h) and the one answer to "is this
 * sink configured".
 *
 * Configuration is read from the GUC variables directly, so that SQL running
 * as invoiceflow_owner can ask (_configured_sinks()) without the right to read
 * secret settings.
 */
#include "sink.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/* in delivery order: S3 first, so an announcement finds its file */
const IfSink *const if_sinks[] = {&if_sink_s3, &if_sink_amqp, &if_sink_opensearch, &if_sink_webhook};
const int	if_nsinks = lengthof(if_sinks);

StaticAssertDecl(lengthof(if_sinks) <= IF_MAX_SINKS, "raise IF_MAX_SINKS");

static bool
is_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

bool
if_s3_configured(void)
{
	return is_set(invoiceflow_s3_bucket);
}

bool
if_amqp_configured(void)
{
	return is_set(invoiceflow_rabbitmq_url);
}

bool
if_os_configured(void)
{
	return is_set(invoiceflow_opensearch_url);
}

/* an item may be sent while its sink's breaker is closed (or it has none) */
bool
if_sink_may_send(const IfSink *sink)
{
	TimestampTz open_until;

	return sink->dep == IF_DEP_COUNT ||
		if_breaker_poll(sink->dep, GetCurrentTimestamp(), &open_until) == IF_BREAKER_CLOSED;
}

/* one request's outcome, for the sink's breaker */
void
if_sink_report(const IfSink *sink, const IfResult *r)
{
	if (sink->dep == IF_DEP_COUNT)
		return;
	if (r->outcome == IF_OK)
		if_breaker_success(sink->dep);
	else
		if_breaker_failure(sink->dep, r->error, r->outcome == IF_TRANSIENT);
}

PG_FUNCTION_INFO_V1(invoiceflow_configured_sinks);

/* invoiceflow._configured_sinks() returns text[]: the outbox sinks, e.g. {s3,rabbitmq} */
Datum
invoiceflow_configured_sinks(PG_FUNCTION_ARGS)
{
	Datum		elems[lengthof(if_sinks)];
	int			n = 0;
	int			i;

	for (i = 0; i < if_nsinks; i++)
		if (if_sinks[i]->dep != IF_DEP_COUNT && if_sinks[i]->configured())
			elems[n++] = CStringGetTextDatum(if_sinks[i]->name);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}
