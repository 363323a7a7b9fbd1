/*
 * sinks.c: which delivery sinks (S3, RabbitMQ, OpenSearch) are configured.
 *
 * Read from the GUC variables directly, so that SQL running as
 * invoiceflow_owner can ask without the right to read secret settings.
 */
#include "invoiceflow.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

static bool
is_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

PG_FUNCTION_INFO_V1(invoiceflow_configured_sinks);

/* invoiceflow._configured_sinks() returns text[]: e.g. {s3,rabbitmq} */
Datum
invoiceflow_configured_sinks(PG_FUNCTION_ARGS)
{
	Datum		elems[3];
	int			n = 0;

	if (is_set(invoiceflow_s3_bucket))
		elems[n++] = CStringGetTextDatum("s3");
	if (is_set(invoiceflow_rabbitmq_url))
		elems[n++] = CStringGetTextDatum("rabbitmq");
	if (is_set(invoiceflow_opensearch_url))
		elems[n++] = CStringGetTextDatum("opensearch");
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}
