/*
 * launcher.c: the invoiceflow launcher, a background worker in no database.
 *
 * It looks up invoiceflow.database in pg_database (a shared catalog, readable
 * without connecting to any database) and keeps invoiceflow.workers delivery
 * workers running there as dynamic background workers, restarting one that
 * exits after a short pause. Because the launcher holds no connection to the
 * database, and the workers leave it when it is about to be dropped (see
 * shmem.c), invoiceflow never blocks DROP DATABASE; while the database does
 * not exist the launcher waits and says so in the log.
 *
 * The launcher itself is a static worker with bgw_restart_time: a crash
 * restarts it, and it starts the workers again.
 */
#include "invoiceflow.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PGDLLEXPORT void invoiceflow_launcher_main(Datum main_arg);

/* a worker that exits is started again after this pause */
#define WORKER_RESTART_MS	1000
/* how often the launcher looks for a missing database */
#define DB_RECHECK_MS		5000

void
invoiceflow_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "invoiceflow");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "invoiceflow_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "invoiceflow launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "invoiceflow launcher");
	RegisterBackgroundWorker(&worker);
}

static void
launcher_detach(int code, Datum arg)
{
	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	if (if_shared->launcher_pid == MyProcPid)
	{
		if_shared->launcher_pid = 0;
		if_shared->launcher_latch = NULL;
	}
	LWLockRelease(if_shared->lock);
}

static Oid
lookup_database(void)
{
	Oid			dboid;

	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	/*
	 * A heap scan of the shared catalog, as autovacuum's get_database_list():
	 * with no database selected, index scans (get_database_oid) are not possible.
	 */
	dboid = InvalidOid;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (strcmp(NameStr(db->datname), invoiceflow_database) == 0 &&
			db->datconnlimit != DATCONNLIMIT_INVALID_DB)
		{
			dboid = db->oid;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return dboid;
}

static bool
start_worker(int slot, Oid dboid, BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher restarts it */
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "invoiceflow");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "invoiceflow_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "invoiceflow worker %d", slot);
	snprintf(worker.bgw_type, BGW_MAXLEN, "invoiceflow worker");
	worker.bgw_main_arg = Int32GetDatum(slot);
	memcpy(worker.bgw_extra, &dboid, sizeof(Oid));
	worker.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&worker, handle);
}

static bool
slot_running(int slot)
{
	bool		running;

	LWLockAcquire(if_shared->lock, LW_SHARED);
	running = if_shared->slots[slot].pid != 0;
	LWLockRelease(if_shared->lock);
	return running;
}

void
invoiceflow_launcher_main(Datum main_arg)
{
	BackgroundWorkerHandle *handles[IF_MAX_WORKERS] = {0};
	TimestampTz next_start[IF_MAX_WORKERS] = {0};
	bool		said_missing = false;
	bool		said_no_slots = false;
	int			nworkers = Min(invoiceflow_workers, IF_MAX_WORKERS);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: only shared catalogs (pg_database) are readable */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("invoiceflow launcher");

	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	if_shared->launcher_pid = MyProcPid;
	if_shared->launcher_latch = MyLatch;
	LWLockRelease(if_shared->lock);
	on_shmem_exit(launcher_detach, (Datum) 0);

	ereport(LOG,
			(errmsg("invoiceflow launcher started: %d worker(s) for database \"%s\"",
					nworkers, invoiceflow_database)));

	for (;;)
	{
		long		timeout = DB_RECHECK_MS;
		TimestampTz now = GetCurrentTimestamp();
		Oid			paused;
		Oid			dboid;
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		LWLockAcquire(if_shared->lock, LW_SHARED);
		paused = if_shared->paused_dboid;
		if (OidIsValid(paused) && now > if_shared->paused_until)
			paused = InvalidOid;	/* the pausing backend vanished */
		LWLockRelease(if_shared->lock);

		pgstat_report_activity(STATE_RUNNING, "looking up the database");
		dboid = lookup_database();
		if (!OidIsValid(dboid))
		{
			if (!said_missing)
				ereport(LOG,
						(errmsg("invoiceflow workers wait: database \"%s\" does not exist",
								invoiceflow_database),
						 errhint("Create the database and the extension in it, or set invoiceflow.database and restart the server.")));
			said_missing = true;
		}
		else if (dboid == paused)
			timeout = 100;		/* DROP/RENAME DATABASE in progress: stay out */
		else
		{
			if (said_missing)
				ereport(LOG, (errmsg("invoiceflow: database \"%s\" exists, starting workers",
									 invoiceflow_database)));
			said_missing = false;
			for (i = 0; i < nworkers; i++)
			{
				pid_t		pid;

				if (handles[i] != NULL &&
					GetBackgroundWorkerPid(handles[i], &pid) != BGWH_STOPPED)
					continue;	/* starting or running */
				if (handles[i] != NULL)
				{
					/* it stopped: start it again after a pause */
					pfree(handles[i]);
					handles[i] = NULL;
					next_start[i] = TimestampTzPlusMilliseconds(now, WORKER_RESTART_MS);
				}
				if (slot_running(i))
					continue;	/* left over from a previous launcher */
				if (now < next_start[i])
				{
					long		secs;
					int			usecs;

					TimestampDifference(now, next_start[i], &secs, &usecs);
					timeout = Min(timeout, secs * 1000 + usecs / 1000 + 1);
					continue;
				}
				if (!start_worker(i, dboid, &handles[i]))
				{
					handles[i] = NULL;
					if (!said_no_slots)
						ereport(WARNING,
								(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
								 errmsg("invoiceflow could not start worker %d: no background worker slot is free", i),
								 errhint("Raise max_worker_processes (it must exceed invoiceflow.workers plus one).")));
					said_no_slots = true;
					next_start[i] = TimestampTzPlusMilliseconds(now, DB_RECHECK_MS);
				}
			}
		}
		pgstat_report_activity(STATE_IDLE, "supervising the workers");

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
