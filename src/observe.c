/*
 * observe.c: what invoiceflow.metrics() reads that no table holds, and the
 * trace context of an ingestion (issue 11, items 3 and 4).
 *
 *  - Delivery counters per sink in shared memory: delivered, failed for good,
 *    retried, and a histogram of the delay from the outbox row's commit
 *    (its created_at) to its recorded delivery. They are bumped by a row
 *    trigger on the outbox tables (outbox, webhook_deliveries) when a row
 *    leaves 'pending' or is tried again, so whatever records a delivery (the
 *    worker, an SQL function) is counted, at the cost of an atomic add, and
 *    metrics() reads fixed-size memory whatever the table size. They count
 *    since the server started (Prometheus counters may reset); an outcome
 *    rolled back after the trigger ran is counted anyway.
 *  - invoiceflow.traceparent (a W3C trace context, "00-<trace>-<parent>-<flags>"):
 *    a session setting the gateway gives each upload; _traceparent() is the
 *    default of ingestions.traceparent, the setting when set, else a new one.
 *  - invoiceflow.log_deliveries: one LOG line per delivered item, with its
 *    trace_id (off by default: a line per file at full rate is a lot of log).
 */
#include "invoiceflow.h"
#include "observe.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#define IF_SINK_COUNT 4
#define IF_LATENCY_BUCKETS 14

/* upper bounds of the latency buckets, in seconds (the last bucket is +Inf) */
static const double latency_le[IF_LATENCY_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300
};
static const char *const sink_names[IF_SINK_COUNT] = {"s3", "rabbitmq", "opensearch", "webhook"};

typedef struct IfSinkCounters
{
	pg_atomic_uint64 delivered;
	pg_atomic_uint64 failed;
	pg_atomic_uint64 retried;
	pg_atomic_uint64 latency_sum_us;
	pg_atomic_uint64 buckets[IF_LATENCY_BUCKETS + 1];	/* not cumulative; last: +Inf */
} IfSinkCounters;

static IfSinkCounters *counters = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static char *traceparent_setting = NULL;
bool		invoiceflow_log_deliveries = false;

static void
observe_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(IfSinkCounters) * IF_SINK_COUNT));
}

static void
observe_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	counters = ShmemInitStruct("invoiceflow delivery counters",
							   sizeof(IfSinkCounters) * IF_SINK_COUNT, &found);
	if (!found)
	{
		int			s,
					b;

		for (s = 0; s < IF_SINK_COUNT; s++)
		{
			pg_atomic_init_u64(&counters[s].delivered, 0);
			pg_atomic_init_u64(&counters[s].failed, 0);
			pg_atomic_init_u64(&counters[s].retried, 0);
			pg_atomic_init_u64(&counters[s].latency_sum_us, 0);
			for (b = 0; b <= IF_LATENCY_BUCKETS; b++)
				pg_atomic_init_u64(&counters[s].buckets[b], 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ---------------------------------------------------------------------------
 * Trace context
 * ------------------------------------------------------------------------- */

static bool
all_hex(const char *s, int n, bool *all_zero)
{
	int			i;

	*all_zero = true;
	for (i = 0; i < n; i++)
	{
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
		if (s[i] != '0')
			*all_zero = false;
	}
	return true;
}

/* W3C Trace Context, version 00: 00-<32 hex, not all 0>-<16 hex, not all 0>-<2 hex>, lower case */
bool
if_traceparent_valid(const char *s)
{
	bool		zero;

	if (s == NULL || strlen(s) != 55 || strncmp(s, "00-", 3) != 0 || s[35] != '-' || s[52] != '-')
		return false;
	if (!all_hex(s + 3, 32, &zero) || zero)
		return false;
	if (!all_hex(s + 36, 16, &zero) || zero)
		return false;
	return all_hex(s + 53, 2, &zero);
}

static bool
check_traceparent(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' || if_traceparent_valid(*newval))
		return true;
	GUC_check_errmsg("invalid traceparent \"%s\"", *newval);
	GUC_check_errdetail("A W3C traceparent is 00-<32 hex digits>-<16 hex digits>-<2 hex digits>, in lower case, with neither id all zeros.");
	return false;
}

static void
random_hex(char *out, int n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char buf[16];
	int			i;

	Assert(n <= 32);
	if (!pg_strong_random(buf, (n + 1) / 2))
		for (i = 0; i < (n + 1) / 2; i++)
			buf[i] = (unsigned char) pg_prng_uint32(&pg_global_prng_state);
	for (i = 0; i < n; i++)
		out[i] = hex[(buf[i / 2] >> ((i % 2) ? 0 : 4)) & 0xf];
	/* an all-zero id is invalid: vanishingly rare, but never emitted */
	if (strspn(out, "0") >= (size_t) n)
		out[n - 1] = '1';
}

PG_FUNCTION_INFO_V1(invoiceflow_traceparent);

/*
 * invoiceflow._traceparent(): the session's invoiceflow.traceparent when set
 * (already validated by its check hook), else a new trace, sampled ("01").
 */
Datum
invoiceflow_traceparent(PG_FUNCTION_ARGS)
{
	char		tp[56];

	if (traceparent_setting != NULL && traceparent_setting[0] != '\0')
		PG_RETURN_TEXT_P(cstring_to_text(traceparent_setting));
	memcpy(tp, "00-", 3);
	random_hex(tp + 3, 32);
	tp[35] = '-';
	random_hex(tp + 36, 16);
	memcpy(tp + 52, "-01", 4);
	PG_RETURN_TEXT_P(cstring_to_text(tp));
}

PG_FUNCTION_INFO_V1(invoiceflow_traceparent_valid);

/* invoiceflow._traceparent_valid(text) */
Datum
invoiceflow_traceparent_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(if_traceparent_valid(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}

/* the trace id of a traceparent ("-" when there is none), for log lines */
const char *
if_trace_id(const char *traceparent, char *out)
{
	if (traceparent != NULL && strlen(traceparent) >= 35)
	{
		memcpy(out, traceparent + 3, 32);
		out[32] = '\0';
	}
	else
		strcpy(out, "-");
	return out;
}

/* ---------------------------------------------------------------------------
 * Delivery counters
 * ------------------------------------------------------------------------- */

static int
sink_index(const char *name)
{
	int			s;

	for (s = 0; s < IF_SINK_COUNT; s++)
		if (strcmp(name, sink_names[s]) == 0)
			return s;
	return -1;
}

/* counts one delivery of sink s, seconds after its outbox row was written */
static void
count_delivered(int s, double seconds)
{
	int			b;

	if (counters == NULL)
		return;
	seconds = Max(seconds, 0.0);
	pg_atomic_fetch_add_u64(&counters[s].delivered, 1);
	pg_atomic_fetch_add_u64(&counters[s].latency_sum_us, (uint64) (seconds * 1e6));
	for (b = 0; b < IF_LATENCY_BUCKETS && seconds > latency_le[b]; b++)
		;
	pg_atomic_fetch_add_u64(&counters[s].buckets[b], 1);
}

PG_FUNCTION_INFO_V1(invoiceflow_delivery_counted);

/*
 * Row trigger AFTER UPDATE on an outbox table, WHEN the row was pending and
 * left that state or was tried once more. The sink is the trigger's argument
 * (webhook_deliveries) or the row's sink column (outbox).
 */
Datum
invoiceflow_delivery_counted(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newt;
	char	   *sink;
	char	   *state;
	int			s;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_UPDATE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "invoiceflow_delivery_counted: not called as an AFTER UPDATE row trigger");
	desc = td->tg_relation->rd_att;
	newt = td->tg_newtuple;
	sink = td->tg_trigger->tgnargs > 0 ? td->tg_trigger->tgargs[0] :
		SPI_getvalue(newt, desc, SPI_fnumber(desc, "sink"));
	state = SPI_getvalue(newt, desc, SPI_fnumber(desc, "state"));
	if (sink == NULL || state == NULL || (s = sink_index(sink)) < 0 || counters == NULL)
		return PointerGetDatum(NULL);
	if (strcmp(state, "done") == 0)
	{
		bool		isnull;
		Datum		created = SPI_getbinval(newt, desc, SPI_fnumber(desc, "created_at"), &isnull);
		double		secs = 0;

		if (!isnull)
			secs = (double) (GetCurrentTimestamp() - DatumGetTimestampTz(created)) / USECS_PER_SEC;
		count_delivered(s, secs);
	}
	else if (strcmp(state, "failed") == 0)
		pg_atomic_fetch_add_u64(&counters[s].failed, 1);
	else if (strcmp(state, "pending") == 0)
		pg_atomic_fetch_add_u64(&counters[s].retried, 1);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(invoiceflow_delivery_counters);

/*
 * invoiceflow._delivery_counters(): one row per sink: (sink, delivered,
 * failed, retried, latency_sum seconds, latency_le float8[], latency_buckets
 * bigint[] cumulative, the last one being +Inf = delivered).
 */
Datum
invoiceflow_delivery_counters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			s;

	InitMaterializedSRF(fcinfo, 0);
	for (s = 0; s < IF_SINK_COUNT; s++)
	{
		Datum		values[7];
		bool		nulls[7] = {0};
		Datum		le[IF_LATENCY_BUCKETS];
		Datum		cum[IF_LATENCY_BUCKETS + 1];
		uint64		run = 0;
		int			b;

		values[0] = CStringGetTextDatum(sink_names[s]);
		for (b = 0; b <= IF_LATENCY_BUCKETS; b++)
		{
			run += counters ? pg_atomic_read_u64(&counters[s].buckets[b]) : 0;
			cum[b] = Int64GetDatum((int64) run);
			if (b < IF_LATENCY_BUCKETS)
				le[b] = Float8GetDatum(latency_le[b]);
		}
		values[1] = Int64GetDatum(counters ? (int64) pg_atomic_read_u64(&counters[s].delivered) : 0);
		values[2] = Int64GetDatum(counters ? (int64) pg_atomic_read_u64(&counters[s].failed) : 0);
		values[3] = Int64GetDatum(counters ? (int64) pg_atomic_read_u64(&counters[s].retried) : 0);
		values[4] = Float8GetDatum(counters ?
								   (double) pg_atomic_read_u64(&counters[s].latency_sum_us) / 1e6 : 0.0);
		values[5] = PointerGetDatum(construct_array(le, IF_LATENCY_BUCKETS, FLOAT8OID, 8,
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[6] = PointerGetDatum(construct_array(cum, IF_LATENCY_BUCKETS + 1, INT8OID, 8,
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ---------------------------------------------------------------------------
 * Set-up (from _PG_init)
 * ------------------------------------------------------------------------- */

void
invoiceflow_observe_init(void)
{
	DefineCustomStringVariable("invoiceflow.traceparent",
							   "W3C traceparent kept with the ingestions this session creates.",
							   "Empty: each ingestion gets a new trace. The gateway sets it per upload.",
							   &traceparent_setting, "", PGC_USERSET, GUC_NOT_IN_SAMPLE,
							   check_traceparent, NULL, NULL);
	DefineCustomBoolVariable("invoiceflow.log_deliveries",
							 "Logs each delivered outbox item with its trace_id.",
							 NULL, &invoiceflow_log_deliveries, false, PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = observe_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = observe_shmem_startup;
}
