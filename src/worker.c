/*
 * worker.c: an invoiceflow delivery worker, one of invoiceflow.workers, started
 * by the launcher (launcher.c) in invoiceflow.database.
 *
 * The worker is this loop over the table of sinks (sink.h, sinks.c). Each turn,
 * for each sink whose circuit breaker is closed, in the table's order (S3
 * first):
 *   1. claim a batch of the sink's due outbox rows (invoiceflow._outbox_claim():
 *      the ordering rules are in SQL) and commit;
 *   2. hand the sink its batch, with no transaction open (S3 PUT/DELETE,
 *      confirmed AMQP publishes, one OpenSearch _bulk); the webhook sink, with
 *      its own queue, takes its turn here too;
 *   3. record the outcomes (invoiceflow._outbox_record_batch(): done, retry
 *      later with backoff and jitter, or a permanent error, with the failure
 *      rules in SQL), the batch in one call and one subtransaction (each row
 *      in its own only if that fails).
 * When nothing is due it sleeps on its latch until the next retry deadline or
 * probe, and is woken at once by any commit that wrote outbox rows (hooks.c).
 * Worker 0 also probes the sinks for health(), back-fills the outbox for
 * sinks configured later, and, in embedded mode, NOTIFYs the processors once
 * per batch of commits.
 */
#include "sink.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PGDLLEXPORT void invoiceflow_worker_main(Datum main_arg);

#define BATCH_SIZE			32
#define IDLE_MAX_MS			10000	/* longest sleep of a worker with nothing due */
#define EXTENSION_RECHECK_MS 10000

static int	my_slot = -1;
static char my_name[64];
static char my_dbname[NAMEDATALEN];
static MemoryContext loop_ctx = NULL;

/* the pid/latch of this worker in shared memory, released at exit */
static void
worker_detach(int code, Datum arg)
{
	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	if (if_shared->slots[my_slot].pid == MyProcPid)
	{
		if_shared->slots[my_slot].pid = 0;
		if_shared->slots[my_slot].latch = NULL;
	}
	LWLockRelease(if_shared->lock);
}

/* the abort check passed to the sinks: stop a transfer on SIGTERM or postmaster death */
static bool
should_abort(void)
{
	return ProcDiePending || !PostmasterIsAlive();
}

static char *
copy_text(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(loop_ctx, v) : NULL;
}

/* ---------------------------------------------------------------------------
 * Start-up: wait for the extension
 * ------------------------------------------------------------------------- */

/* true when the installed extension matches the library; logs once why not */
static bool
extension_ready(int *said)
{
	char	   *installed = NULL;
	int			state;

	if_tx_begin("checking the extension version");
	strlcpy(my_dbname, get_database_name(MyDatabaseId), sizeof(my_dbname));
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'invoiceflow'",
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		installed = copy_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if_tx_commit();

	state = installed == NULL ? 1 : (strcmp(installed, INVOICEFLOW_VERSION) != 0 ? 2 : 0);
	if (state != 0 && state != *said)
	{
		if (state == 1)
			ereport(LOG,
					(errmsg("%s waits: extension invoiceflow is not installed in database \"%s\"",
							my_name, my_dbname),
					 errhint("Run CREATE EXTENSION invoiceflow in that database.")));
		else
			ereport(LOG,
					(errmsg("%s waits: extension invoiceflow is at version %s, the library at %s",
							my_name, installed, INVOICEFLOW_VERSION),
					 errdetail("The worker needs the SQL objects of the library's version."),
					 errhint("Run ALTER EXTENSION invoiceflow UPDATE in database \"%s\".",
							 my_dbname)));
	}
	else if (state == 0 && *said > 0)
		ereport(LOG, (errmsg("%s: extension invoiceflow %s is installed, starting delivery",
							 my_name, INVOICEFLOW_VERSION)));
	*said = state;
	return state == 0;
}

/*
 * At start-up, rows this slot's previous run left claimed are released; worker
 * 0 also releases those of slots that no longer exist (invoiceflow.workers was
 * lowered). Anything else a dead worker held expires with claimed_until.
 */
static void
release_my_claims(void)
{
	Oid			argtypes[2] = {TEXTOID, TEXTARRAYOID};
	Datum		args[2];
	Datum	   *names = palloc(sizeof(Datum) * IF_MAX_WORKERS);
	int			nworkers = Min(invoiceflow_workers, IF_MAX_WORKERS);
	int			i;

	for (i = 0; i < nworkers; i++)
		names[i] = CStringGetTextDatum(psprintf("invoiceflow worker %d", i));
	args[0] = CStringGetTextDatum(my_name);
	args[1] = PointerGetDatum(construct_array(names, nworkers, TEXTOID, -1, false, TYPALIGN_INT));
	if_tx_begin("releasing claims of a previous run");
	SPI_execute_with_args(my_slot == 0 ?
						  "UPDATE invoiceflow.outbox SET claimed_by = NULL, claimed_until = NULL "
						  "WHERE claimed_by = $1 OR claimed_by <> ALL ($2)" :
						  "UPDATE invoiceflow.outbox SET claimed_by = NULL, claimed_until = NULL "
						  "WHERE claimed_by = $1 AND $2 IS NOT NULL",
						  2, argtypes, args, NULL, false, 0);
	if (SPI_processed > 0)
		ereport(LOG, (errmsg("%s released %llu outbox row(s) left claimed by a previous run",
							 my_name, (unsigned long long) SPI_processed)));
	if_tx_commit();
}

/* ---------------------------------------------------------------------------
 * Worker 0's duties: embedded NOTIFY, probes, back-fill
 * ------------------------------------------------------------------------- */

static void
notify_processors(void)
{
	if_tx_begin("NOTIFY invoiceflow");
	Async_Notify("invoiceflow", NULL);
	if_tx_commit();
}

static void
backfill(void)
{
	int			total = 0;

	for (;;)
	{
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		if_tx_begin("back-filling the outbox for newly configured sinks");
		if (SPI_execute("SELECT invoiceflow._outbox_backfill(1000)"
						" + invoiceflow._outbox_backfill_opensearch(1000)", false, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			n = isnull ? 0 : DatumGetInt32(d);
		}
		if_tx_commit();
		total += n;
		if (n == 0)
			break;
	}
	if (total > 0)
		ereport(LOG, (errmsg("%s queued %d delivery(ies) that newly configured sinks had not seen",
							 my_name, total)));
}

/* probes each configured sink when due; returns when the next probe is due */
static TimestampTz
probe_sinks(TimestampTz *next_probe)
{
	TimestampTz next = DT_NOEND;
	int			i;

	for (i = 0; i < if_nsinks; i++)
	{
		const IfSink *sink = if_sinks[i];
		IfDep		d = sink->dep;
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz open_until;
		IfBreakerState st;
		IfResult	r;
		char		activity[64];

		if (sink->probe == NULL || d == IF_DEP_COUNT || !sink->configured())
			continue;
		st = if_breaker_poll(d, now, &open_until);
		if (st == IF_BREAKER_OPEN)
		{
			next = Min(next, open_until);
			continue;
		}
		if (st == IF_BREAKER_CLOSED && now < next_probe[d])
		{
			next = Min(next, next_probe[d]);
			continue;
		}
		snprintf(activity, sizeof(activity), "probing %s", sink->title);
		pgstat_report_activity(STATE_RUNNING, activity);
		r = sink->probe();
		CHECK_FOR_INTERRUPTS();
		if_sink_report(sink, &r);
		next_probe[d] = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													invoiceflow_probe_interval_seconds * 1000);
		next = Min(next, next_probe[d]);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	return next;
}

/* ---------------------------------------------------------------------------
 * One turn: claim, deliver per sink, record
 * ------------------------------------------------------------------------- */

/*
 * Gives each allowed sink, in the table's order, a batch of its own due rows,
 * claimed just before it sends them, and records the outcomes; returns how
 * many rows were claimed. Claiming per sink, after the sinks before it have
 * recorded, lets the invoice.uploaded events of the files this turn's S3 PUTs
 * just stored go out in the same turn (the ordering rule in _outbox_claim()
 * sees those PUTs done) instead of waiting for the next turn's PUTs. The
 * webhook sink (its own queue) takes its turn with an empty batch;
 * *webhook_ms is its wish.
 */
static int
turn(const bool *allowed, long *webhook_ms)
{
	/* a claim outlives the longest batch: every request may take the full timeout */
	double		lease_secs = (double) BATCH_SIZE * invoiceflow_request_timeout_seconds + 60.0;
	int			total = 0;
	int			i;
	int			j;

	*webhook_ms = -1;
	for (i = 0; i < if_nsinks; i++)
	{
		const IfSink *sink = if_sinks[i];
		IfBatch		b = {0};
		IfItem	   *items = NULL;
		int			n = 0;

		if (!allowed[i])
			continue;
		if (sink->next_due == NULL)
		{
			n = if_outbox_claim(loop_ctx, my_name, &sink->name, 1, BATCH_SIZE, lease_secs, &items);
			if (n == 0)
				continue;
			total += n;
		}
		b.worker = my_name;
		b.should_abort = should_abort;
		b.cxt = loop_ctx;
		b.next_ms = -1;
		/* loop_ctx, not the current context: a claim's commit leaves TopMemoryContext current */
		b.items = MemoryContextAllocZero(loop_ctx, sizeof(IfItem *) * Max(n, 1));
		for (j = 0; j < n; j++)
			b.items[b.n++] = &items[j];
		sink->deliver(&b);
		CHECK_FOR_INTERRUPTS();
		if (sink->next_due != NULL)
			*webhook_ms = b.next_ms;
		if_outbox_record(my_name, sink, b.items, b.n);
	}
	return total;
}

/* ---------------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------------- */

static void
reload_config(TimestampTz *next_probe, bool *need_backfill)
{
	int			i;

	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	/* new settings: new connections, a fresh look at each dependency */
	for (i = 0; i < if_nsinks; i++)
		if_sinks[i]->reset();
	if (my_slot == 0)
	{
		for (i = 0; i < IF_DEP_COUNT; i++)
		{
			if_breaker_reset((IfDep) i);
			next_probe[i] = 0;
		}
		*need_backfill = true;
	}
}

/* when the next row of any sink is due (DT_NOEND: none) */
static TimestampTz
next_due(const bool *allowed)
{
	const char *names[IF_MAX_SINKS] = {0};
	int			nnames = 0;
	TimestampTz due;
	int			i;

	for (i = 0; i < if_nsinks; i++)
		if (allowed[i] && if_sinks[i]->next_due == NULL)
			names[nnames++] = if_sinks[i]->name;
	due = if_outbox_next_due(names, nnames);
	for (i = 0; i < if_nsinks; i++)
		if (allowed[i] && if_sinks[i]->next_due != NULL)
			due = Min(due, if_sinks[i]->next_due());
	return due;
}

void
invoiceflow_worker_main(Datum main_arg)
{
	Oid			dboid;
	int			said = -1;
	TimestampTz next_probe[IF_DEP_COUNT] = {0};
	bool		need_backfill = true;
	uint64		notified_gen = 0;

	my_slot = DatumGetInt32(main_arg);
	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	snprintf(my_name, sizeof(my_name), "invoiceflow worker %d", my_slot);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* one process per slot: a leftover of an earlier launcher keeps it */
	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	if (if_shared->slots[my_slot].pid != 0)
	{
		LWLockRelease(if_shared->lock);
		proc_exit(0);
	}
	if_shared->slots[my_slot].pid = MyProcPid;
	if_shared->slots[my_slot].latch = MyLatch;
	if_shared->slots[my_slot].dboid = dboid;
	LWLockRelease(if_shared->lock);
	on_shmem_exit(worker_detach, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname(my_name);

	/*
	 * The worker's own commits (claims, outcomes) need not wait for the WAL
	 * flush: a crash can lose only its last few hundred milliseconds of them,
	 * and that only makes it send those rows again (at least once, as every
	 * crash between a send and its record). The outbox rows themselves commit
	 * with the change that wrote them, under the writer's setting. Two flush
	 * waits per sink and turn were a good part of commit-to-queue latency.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	loop_ctx = AllocSetContextCreate(TopMemoryContext, "invoiceflow worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	/* the sinks' clients stop a transfer when this says so */
	if_abort_check_set(should_abort);

	/* wait (and say why) until the extension of our version is installed */
	while (!extension_ready(&said))
	{
		pgstat_report_activity(STATE_IDLE, "waiting for CREATE EXTENSION / ALTER EXTENSION UPDATE");
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 EXTENSION_RECHECK_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loop_ctx);
	}
	release_my_claims();
	if_webhook_release(my_name);
	ereport(LOG, (errmsg("%s started in database \"%s\"", my_name, my_dbname)));

	for (;;)
	{
		bool		allowed[IF_MAX_SINKS];
		int			n;
		int			i;
		TimestampTz now;
		TimestampTz wake_at = DT_NOEND;
		long		timeout;
		uint64		gen;
		long		webhook_ms;

		/* everything a turn allocates lives in loop_ctx, reset here */
		MemoryContextSwitchTo(loop_ctx);
		MemoryContextReset(loop_ctx);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
			reload_config(next_probe, &need_backfill);

		/* read before the work: a commit after this wakes the next turn */
		gen = pg_atomic_read_u64(&if_shared->wake_gen);

		if (my_slot == 0)
		{
			if (gen != notified_gen && !if_amqp_configured())
				notify_processors();	/* embedded: one NOTIFY per batch of commits */
			notified_gen = gen;
			if (need_backfill)
			{
				backfill();
				need_backfill = false;
			}
			wake_at = probe_sinks(next_probe);
		}

		/* a sink takes part while configured and its circuit is closed */
		now = GetCurrentTimestamp();
		for (i = 0; i < if_nsinks; i++)
		{
			const IfSink *sink = if_sinks[i];
			TimestampTz open_until;

			allowed[i] = sink->configured() &&
				(sink->dep == IF_DEP_COUNT ||
				 if_breaker_poll(sink->dep, now, &open_until) == IF_BREAKER_CLOSED);
			if (sink->configured() && !allowed[i])
				wake_at = Min(wake_at, Max(open_until, TimestampTzPlusMilliseconds(now, 200)));
		}

		n = turn(allowed, &webhook_ms);
		if (n > 0 || webhook_ms == 0)
			continue;			/* more may be due: look again before sleeping */

		now = GetCurrentTimestamp();
		wake_at = Min(wake_at, next_due(allowed));
		if (webhook_ms > 0)
			wake_at = Min(wake_at, TimestampTzPlusMilliseconds(now, webhook_ms));
		wake_at = Min(wake_at, TimestampTzPlusMilliseconds(now, IDLE_MAX_MS));
		{
			long		secs;
			int			usecs;

			TimestampDifference(now, wake_at, &secs, &usecs);
			timeout = Max(secs * 1000 + usecs / 1000, 10);
		}
		pgstat_report_activity(STATE_IDLE, "waiting for work or the next retry");
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
