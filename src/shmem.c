/*
 * shmem.c: what invoiceflow keeps in shared memory, and the hooks around it.
 *
 *  - worker slots: the delivery workers' PIDs and latches, so that any backend
 *    can wake them;
 *  - the commit wake-up: a backend whose transaction wrote outbox rows (or made
 *    any other change a processor must hear of) sets the workers' latches from
 *    a transaction callback at COMMIT, so the workers never poll;
 *  - one circuit breaker per external dependency, read by health();
 *  - the DROP DATABASE guard: a ProcessUtility hook that asks the workers of a
 *    database about to be dropped (renamed, copied, moved) to leave it first,
 *    since PostgreSQL 15 does not terminate background workers there itself.
 *
 * Shared memory is requested in shmem_request_hook and set up in
 * shmem_startup_hook under AddinShmemInitLock, with a named LWLock tranche, as
 * contrib/pg_stat_statements does on PostgreSQL 15.
 */
#include "invoiceflow.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "funcapi.h"
#include "utils/tuplestore.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

IfShared   *if_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* this backend's transaction made work for the workers / paused a database */
static bool wake_at_commit = false;
static bool paused_by_me = false;

static const char *const dep_names[IF_DEP_COUNT] = {"s3", "rabbitmq", "opensearch"};

const char *
if_dep_name(IfDep dep)
{
	return dep_names[dep];
}

static void
if_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(IfShared)));
	RequestNamedLWLockTranche("invoiceflow", 1);
}

static void
if_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	if_shared = ShmemInitStruct("invoiceflow", sizeof(IfShared), &found);
	if (!found)
	{
		memset(if_shared, 0, sizeof(IfShared));
		if_shared->lock = &(GetNamedLWLockTranche("invoiceflow"))->lock;
		pg_atomic_init_u64(&if_shared->wake_gen, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* ---------------------------------------------------------------------------
 * Waking the workers
 * ------------------------------------------------------------------------- */

/* Sets every live worker's latch (no lock: latches live in PGPROC, always valid). */
void
invoiceflow_wake_workers(void)
{
	int			i;

	if (if_shared == NULL)
		return;
	pg_atomic_fetch_add_u64(&if_shared->wake_gen, 1);
	for (i = 0; i < IF_MAX_WORKERS; i++)
	{
		Latch	   *latch = if_shared->slots[i].latch;

		if (if_shared->slots[i].pid != 0 && latch != NULL)
			SetLatch(latch);
	}
}

static void
if_clear_pause(void)
{
	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	if_shared->paused_dboid = InvalidOid;
	if_shared->paused_until = 0;
	LWLockRelease(if_shared->lock);
	if (if_shared->launcher_latch != NULL)
		SetLatch(if_shared->launcher_latch);
}

static void
if_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
				invoiceflow_wake_workers();
			wake_at_commit = false;
			if (paused_by_me)
				if_clear_pause();
			paused_by_me = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_at_commit = false;
			if (paused_by_me)
				if_clear_pause();
			paused_by_me = false;
			break;
		default:
			break;
	}
}

void
invoiceflow_xact_init(void)
{
	RegisterXactCallback(if_xact_callback, NULL);
}

/* The workers are woken when the current transaction commits. */
void
invoiceflow_request_wake(void)
{
	wake_at_commit = true;
}

PG_FUNCTION_INFO_V1(invoiceflow_wake_at_commit);

/*
 * invoiceflow._wake_at_commit(): the workers are woken when the current
 * transaction commits (once per transaction, whatever the number of rows).
 * Called by the statement triggers that write the outbox.
 */
Datum
invoiceflow_wake_at_commit(PG_FUNCTION_ARGS)
{
	wake_at_commit = true;
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------
 * Circuit breakers
 * ------------------------------------------------------------------------- */

void
if_breaker_success(IfDep dep)
{
	IfBreaker  *b = &if_shared->breakers[dep];
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	if (b->state != IF_BREAKER_CLOSED)
		ereport(LOG,
				(errmsg("invoiceflow: %s is reachable again, circuit breaker closed", dep_names[dep])));
	b->state = IF_BREAKER_CLOSED;
	b->consecutive_failures = 0;
	b->last_ok = true;
	b->checked = true;
	b->last_check = now;
	b->last_ok_at = now;
	b->last_error[0] = '\0';
	LWLockRelease(if_shared->lock);
}

/*
 * A failed call or probe. Transient failures count towards opening the
 * breaker; permanent ones (a wrong bucket or secret) only make the dependency
 * unhealthy: the items themselves fail, which is the information users need.
 */
void
if_breaker_failure(IfDep dep, const char *error, bool transient)
{
	IfBreaker  *b = &if_shared->breakers[dep];
	TimestampTz now = GetCurrentTimestamp();
	bool		opened = false;

	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	b->consecutive_failures++;
	b->last_ok = false;
	b->checked = true;
	b->last_check = now;
	strlcpy(b->last_error, error ? error : "unknown error", sizeof(b->last_error));
	if (!transient)
		b->consecutive_failures = 0;
	else if (b->state == IF_BREAKER_HALF_OPEN ||
		(b->state == IF_BREAKER_CLOSED && b->consecutive_failures >= invoiceflow_breaker_failures))
	{
		opened = (b->state == IF_BREAKER_CLOSED);
		b->state = IF_BREAKER_OPEN;
		b->open_until = TimestampTzPlusMilliseconds(now, invoiceflow_breaker_cooldown_seconds * 1000);
	}
	LWLockRelease(if_shared->lock);
	if (opened)
		ereport(LOG,
				(errmsg("invoiceflow: circuit breaker for %s opened after %d consecutive failures",
						dep_names[dep], invoiceflow_breaker_failures),
				 errdetail("Last error: %s", error ? error : "unknown error"),
				 errhint("Deliveries to %s wait %d s, then a probe checks it again.",
						 dep_names[dep], invoiceflow_breaker_cooldown_seconds)));
}

/*
 * The breaker's state now. An open breaker whose cool-down is over turns
 * half-open: the next probe decides. Items are sent only while it is closed.
 * *open_until is set to the end of the cool-down.
 */
IfBreakerState
if_breaker_poll(IfDep dep, TimestampTz now, TimestampTz *open_until)
{
	IfBreaker  *b = &if_shared->breakers[dep];
	IfBreakerState st;

	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	if (b->state == IF_BREAKER_OPEN && now >= b->open_until)
		b->state = IF_BREAKER_HALF_OPEN;
	st = b->state;
	if (open_until)
		*open_until = b->open_until;
	LWLockRelease(if_shared->lock);
	return st;
}

/* Forget what is known of dep (it was reconfigured or switched off). */
void
if_breaker_reset(IfDep dep)
{
	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	memset(&if_shared->breakers[dep], 0, sizeof(IfBreaker));
	LWLockRelease(if_shared->lock);
}

/* ---------------------------------------------------------------------------
 * health()
 * ------------------------------------------------------------------------- */

static bool
is_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

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
	const char *s3 = dep_health(IF_DEP_S3, is_set(invoiceflow_s3_bucket));
	const char *mq = dep_health(IF_DEP_RABBITMQ, is_set(invoiceflow_rabbitmq_url));
	const char *os = dep_health(IF_DEP_OPENSEARCH, is_set(invoiceflow_opensearch_url));
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
		values[0] = CStringGetTextDatum(dep_names[i]);
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

/* ---------------------------------------------------------------------------
 * DROP DATABASE guard
 * ------------------------------------------------------------------------- */

/*
 * dboid is about to be dropped, renamed, copied or moved: every one of these
 * needs it free of other sessions. Ask our workers connected to it to leave
 * (SIGTERM: they exit within a second, inside the 5 s PostgreSQL waits), and
 * keep the launcher from starting new ones until this transaction ends.
 */
static void
if_pause_database(Oid dboid)
{
	int			i;

	if (!OidIsValid(dboid) || if_shared == NULL)
		return;
	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	if_shared->paused_dboid = dboid;
	if_shared->paused_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 60 * 1000);
	for (i = 0; i < IF_MAX_WORKERS; i++)
	{
		if (if_shared->slots[i].pid != 0 && if_shared->slots[i].dboid == dboid)
			kill(if_shared->slots[i].pid, SIGTERM);
	}
	LWLockRelease(if_shared->lock);
	paused_by_me = true;
}

static bool
has_template_option(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, "template") == 0 || strcmp(d->defname, "tablespace") == 0)
			return true;
	}
	return false;
}

static char *
template_name(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, "template") == 0 && d->arg != NULL)
			return defGetString(d);
	}
	return NULL;
}

static void
if_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, DropdbStmt))
		if_pause_database(get_database_oid(((DropdbStmt *) parsetree)->dbname, true));
	else if (IsA(parsetree, RenameStmt) && ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		if_pause_database(get_database_oid(((RenameStmt *) parsetree)->subname, true));
	else if (IsA(parsetree, CreatedbStmt))
	{
		char	   *t = template_name(((CreatedbStmt *) parsetree)->options);

		if (t != NULL)
			if_pause_database(get_database_oid(t, true));
	}
	else if (IsA(parsetree, AlterDatabaseStmt) &&
			 has_template_option(((AlterDatabaseStmt *) parsetree)->options))
		if_pause_database(get_database_oid(((AlterDatabaseStmt *) parsetree)->dbname, true));
	else if ((IsA(parsetree, CreateExtensionStmt) &&
			  strcmp(((CreateExtensionStmt *) parsetree)->extname, "invoiceflow") == 0) ||
			 (IsA(parsetree, AlterExtensionStmt) &&
			  strcmp(((AlterExtensionStmt *) parsetree)->extname, "invoiceflow") == 0))
		wake_at_commit = true;	/* waiting workers check the version again */

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

void
invoiceflow_shmem_init_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = if_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = if_shmem_startup;
}

void
invoiceflow_utility_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = if_process_utility;
}
