/*
 * hooks.c: the hooks around invoiceflow's shared memory.
 *
 *  - the commit wake-up: a backend whose transaction wrote outbox rows (or made
 *    any other change a processor must hear of) sets the workers' latches from
 *    a transaction callback at COMMIT, so the workers never poll;
 *  - the DROP DATABASE guard: a ProcessUtility hook that asks the workers of a
 *    database about to be dropped (renamed, copied, moved) to leave it first,
 *    since PostgreSQL 15 does not terminate background workers there itself.
 */
#include "invoiceflow.h"

#include <signal.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* this backend's transaction made work for the workers / paused a database */
static bool wake_at_commit = false;
static bool paused_by_me = false;

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
invoiceflow_utility_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = if_process_utility;
}
