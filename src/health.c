/*
 * health.c: invoiceflow.health() and invoiceflow._breakers(), from the circuit
 * breakers in shared memory (breakers.c) that the workers keep fresh.
 */
#include "sink.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

/* ---------------------------------------------------------------------------
 * health()
 * ------------------------------------------------------------------------- */

/* healthy: the last call or probe succeeded, recently, and the breaker is closed */
static const char *
dep_health(IfDep dep, bool configured)
{
	IfBreaker	b;
	TimestampTz now = GetCurrentTimestamp();
	int64		stale_ms = Max(3 * invoiceflow_probe_interval_seconds, 15) * INT64CONST(1000);

	if (!configured)
		return "disabled";
	LWLockAcquire(if_shared->lock, LW_SHARED);
	b = if_shared->breakers[dep];
	LWLockRelease(if_shared->lock);
	if (b.checked && b.last_ok && b.state == IF_BREAKER_CLOSED &&
		!TimestampDifferenceExceeds(b.last_check, now, stale_ms))
		return "healthy";
	return "unhealthy";
}

PG_FUNCTION_INFO_V1(invoiceflow_health);

/*
 * invoiceflow.health(): {"service", "dependencies": {database, s3, rabbitmq,
 * opensearch}}. The database answers (this is it); S3 and RabbitMQ come from
 * the circuit breakers, which the workers keep fresh with probes (OpenSearch:
 * GET /_cluster/health).
 */
Datum
invoiceflow_health(PG_FUNCTION_ARGS)
{
	const char *s3 = dep_health(IF_DEP_S3, if_s3_configured());
	const char *mq = dep_health(IF_DEP_RABBITMQ, if_amqp_configured());
	const char *os = dep_health(IF_DEP_OPENSEARCH, if_os_configured());
	bool		degraded = strcmp(s3, "unhealthy") == 0 || strcmp(mq, "unhealthy") == 0 ||
		strcmp(os, "unhealthy") == 0;
	char	   *json;

	json = psprintf("{\"service\": \"%s\", \"dependencies\": {\"database\": \"healthy\", "
					"\"s3\": \"%s\", \"rabbitmq\": \"%s\", \"opensearch\": \"%s\"}}",
					degraded ? "degraded" : "healthy", s3, mq, os);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

PG_FUNCTION_INFO_V1(invoiceflow_breakers);

/*
 * invoiceflow._breakers(): the breakers as a table, for tests and operators:
 * (dependency, state, consecutive_failures, last_ok, last_check, last_error).
 */
Datum
invoiceflow_breakers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;
	static const char *const states[] = {"closed", "open", "half-open"};

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < IF_DEP_COUNT; i++)
	{
		IfBreaker	b;
		Datum		values[6];
		bool		nulls[6] = {0};

		LWLockAcquire(if_shared->lock, LW_SHARED);
		b = if_shared->breakers[i];
		LWLockRelease(if_shared->lock);
		values[0] = CStringGetTextDatum(if_dep_name((IfDep) i));
		values[1] = CStringGetTextDatum(states[b.state]);
		values[2] = Int32GetDatum(b.consecutive_failures);
		values[3] = BoolGetDatum(b.last_ok);
		nulls[3] = !b.checked;
		values[4] = TimestampTzGetDatum(b.last_check);
		nulls[4] = !b.checked;
		values[5] = CStringGetTextDatum(b.last_error);
		nulls[5] = b.last_error[0] == '\0';
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

