/*
 * outbox.c: the SQL side of delivery, for the worker loop and the sinks.
 *
 * Claiming and recording are the extension's SQL functions (_outbox_claim,
 * _outbox_record_batch, _outbox_next_due: the ordering and failure rules live in SQL
 * beside the triggers that write the outbox). Every statement of a turn is
 * prepared once per worker (SPI_prepare + SPI_keepplan) and kept; the plan
 * cache re-plans it if the function is replaced.
 *
 * Also the short transactions every queue uses (if_tx_begin / if_tx_commit)
 * and the retry backoff (if_retry_delay).
 */
#include "sink.h"
#include "observe.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* ---------------------------------------------------------------------------
 * Transactions and the backoff
 * ------------------------------------------------------------------------- */

void
if_tx_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
if_tx_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* seconds until the next try: retry_delay * factor^n, capped, with +-20% jitter */
double
if_retry_delay(int tries_done)
{
	double		d = invoiceflow_retry_delay_seconds *
		pow(invoiceflow_retry_backoff_factor, Max(tries_done - 1, 0));

	d = Min(d, (double) invoiceflow_retry_max_delay_seconds);
	d *= 0.8 + 0.4 * pg_prng_double(&pg_global_prng_state);
	return d;
}

/* ---------------------------------------------------------------------------
 * Prepared statements
 * ------------------------------------------------------------------------- */

typedef enum
{
	STMT_CLAIM,
	STMT_FILE,
	STMT_DOC,
	STMT_RECORD,
	STMT_NEXT_DUE,
	STMT_COUNT
} Stmt;

static const struct
{
	const char *sql;
	int			nargs;
	Oid			types[5];
}			stmts[STMT_COUNT] = {
	[STMT_CLAIM] = {"SELECT * FROM invoiceflow._outbox_claim($1, $2, $3, $4)", 4,
	{TEXTOID, TEXTARRAYOID, INT4OID, FLOAT8OID}},
	[STMT_FILE] = {"SELECT ingestion_id::text, content, md5(content) FROM invoiceflow.ingestion_files"
	" WHERE ingestion_id = ANY ($1::uuid[])", 1, {TEXTARRAYOID}},
	[STMT_DOC] = {"SELECT invoiceflow._opensearch_doc($1::uuid)::text", 1, {TEXTOID}},
	[STMT_RECORD] = {"SELECT invoiceflow._outbox_record_batch($1, $2, $3, $4, $5)", 5,
	{INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, BOOLARRAYOID}},
	[STMT_NEXT_DUE] = {"SELECT invoiceflow._outbox_next_due($1)", 1, {TEXTARRAYOID}},
};

static SPIPlanPtr plans[STMT_COUNT];

/* the plan of a statement, prepared on first use (inside a transaction) */
static SPIPlanPtr
plan(Stmt s)
{
	if (plans[s] == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(stmts[s].sql, stmts[s].nargs, (Oid *) stmts[s].types);

		if (p == NULL)
			elog(ERROR, "SPI_prepare of \"%s\" failed: %s", stmts[s].sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "SPI_keepplan failed");
		plans[s] = p;
	}
	return plans[s];
}

static int
exec(Stmt s, Datum *args, const char *nulls, bool read_only, long count)
{
	int			rc = SPI_execute_plan(plan(s), args, nulls, read_only, count);

	if (rc < 0)
		elog(ERROR, "\"%s\" failed: %s", stmts[s].sql, SPI_result_code_string(rc));
	return rc;
}

static char *
copy_text(MemoryContext cxt, int col)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);

	return v ? MemoryContextStrdup(cxt, v) : NULL;
}

static char *
col_text(MemoryContext cxt, HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? MemoryContextStrdup(cxt, v) : NULL;
}

static Datum
text_array(const char *const *names, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(names[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* ---------------------------------------------------------------------------
 * Claim, read, record
 * ------------------------------------------------------------------------- */

int
if_outbox_claim(MemoryContext cxt, const char *worker, const char *const *sinks, int nsinks,
				int limit, double lease_secs, IfItem **items_out)
{
	Datum		args[4];
	IfItem	   *items;
	uint64		i;

	*items_out = NULL;
	if (nsinks == 0)
		return 0;
	if_tx_begin("claiming outbox rows");
	args[0] = CStringGetTextDatum(worker);
	args[1] = text_array(sinks, nsinks);
	args[2] = Int32GetDatum(limit);
	args[3] = Float8GetDatum(lease_secs);
	exec(STMT_CLAIM, args, NULL, false, 0);
	items = MemoryContextAllocZero(cxt, sizeof(IfItem) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		IfItem	   *it = &items[i];
		bool		isnull;

#define TEXT_COL(c) col_text(cxt, tup, desc, (c))
		it->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		it->ingestion_id = TEXT_COL(2);
		it->sink = TEXT_COL(3);
		it->action = TEXT_COL(4);
		it->event = TEXT_COL(5);
		it->attempt = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		it->tries = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
		it->s3_key = TEXT_COL(8);
		it->filename = TEXT_COL(9);
		it->sha256_hex = TEXT_COL(10);
		it->size_bytes = DatumGetInt64(SPI_getbinval(tup, desc, 11, &isnull));
		it->created_at = TEXT_COL(12);
		it->ingestion_exists = DatumGetBool(SPI_getbinval(tup, desc, 13, &isnull));
		it->traceparent = TEXT_COL(14);
#undef TEXT_COL
	}
	i = SPI_processed;
	if_tx_commit();
	*items_out = items;
	return (int) i;
}

/*
 * The bytes of a group of PUTs and their MD5, read in one statement and one
 * short transaction just before the upload (one transaction per file cost
 * more than the PUT itself). content[i] stays NULL when PostgreSQL no longer
 * has item i's bytes (dropped after an earlier verified PUT).
 */
void
if_outbox_files(MemoryContext cxt, IfItem **items, int n, bytea **content, char **md5_hex)
{
	const char **ids;
	int			i;
	uint64		r;

	for (i = 0; i < n; i++)
	{
		content[i] = NULL;
		md5_hex[i] = NULL;
	}
	if (n == 0)
		return;
	ids = MemoryContextAlloc(cxt, sizeof(char *) * n);
	for (i = 0; i < n; i++)
		ids[i] = items[i]->ingestion_id;
	if_tx_begin("reading files for S3");
	{
		Datum		args[1];

		args[0] = text_array(ids, n);
		if (exec(STMT_FILE, args, NULL, true, 0) == SPI_OK_SELECT)
			for (r = 0; r < SPI_processed; r++)
			{
				HeapTuple	tup = SPI_tuptable->vals[r];
				TupleDesc	desc = SPI_tuptable->tupdesc;
				char	   *id = SPI_getvalue(tup, desc, 1);
				bool		isnull;
				Datum		d = SPI_getbinval(tup, desc, 2, &isnull);

				if (isnull || id == NULL)
					continue;
				/* an ingestion may appear twice in a batch (a put retried by another row) */
				for (i = 0; i < n; i++)
					if (content[i] == NULL && strcmp(items[i]->ingestion_id, id) == 0)
					{
						MemoryContext old = MemoryContextSwitchTo(cxt);

						content[i] = DatumGetByteaPCopy(d);
						MemoryContextSwitchTo(old);
						md5_hex[i] = col_text(cxt, tup, desc, 3);
					}
			}
	}
	if_tx_commit();
	pfree(ids);
}

/* the OpenSearch document of an ingestion as it is now (NULL: not COMPLETED); inside a transaction */
char *
if_outbox_doc(MemoryContext cxt, const char *ingestion_id)
{
	Datum		args[1];

	args[0] = CStringGetTextDatum(ingestion_id);
	if (exec(STMT_DOC, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		return copy_text(cxt, 1);
	return NULL;
}

static const char *
action_noun(const char *action)
{
	return strcmp(action, "put") == 0 ? "upload" :
		strcmp(action, "delete") == 0 ? "delete" :
		strcmp(action, "index") == 0 ? "indexing" : "publish";
}

/* an item's outcome as _outbox_record() names it, and its error message (NULL: none) */
static const char *
outcome_of(const IfSink *sink, IfItem *it, char **msg)
{
	*msg = NULL;
	if (it->skipped)
		return "skipped";
	if (it->result.outcome == IF_OK)
		return "done";
	if (it->result.outcome == IF_TRANSIENT)
	{
		*msg = it->result.error;
		return "retry";
	}
	*msg = psprintf("%s %s failed permanently: %s", sink->title, action_noun(it->action),
					it->result.error);
	return "failed";
}

/* the log lines of one recorded outcome */
static void
log_outcome(const char *worker, const IfSink *sink, IfItem *it, const char *msg)
{
	char		trace_id[33];

	if (it->skipped)
		return;
	if_trace_id(it->traceparent, trace_id);
	if (it->result.outcome == IF_OK)
	{
		if (invoiceflow_log_deliveries)
			ereport(LOG,
					(errmsg("%s delivered %s %s%s%s of %s trace_id=%s", worker, sink->name,
							it->action, it->event ? " " : "", it->event ? it->event : "",
							it->ingestion_id, trace_id)));
	}
	else if (it->result.outcome == IF_TRANSIENT)
	{
		if (it->tries + 1 == invoiceflow_max_retries)
			ereport(LOG,
					(errmsg("%s: %s %s for %s still fails after %d quick retries; retrying with capped backoff",
							worker, sink->name, it->action, it->ingestion_id, it->tries + 1),
					 errdetail("Last error: %s (trace_id=%s)", it->result.error, trace_id)));
	}
	else if (sink->dep == IF_DEP_OPENSEARCH)
		/* search indexing never changes the ingestion's status */
		ereport(WARNING,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("invoiceflow could not index %s in OpenSearch", it->ingestion_id),
				 errdetail("%s (trace_id=%s)", msg, trace_id),
				 errhint("The ingestion keeps its status. Fix the index \"%s\", then reload the configuration: the document is sent again.",
						 IF_OS_INDEX)));
	else
		ereport(WARNING,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("invoiceflow delivery of %s failed permanently", it->ingestion_id),
				 errdetail("%s (trace_id=%s)", msg, trace_id),
				 errhint("Fix the configuration, then call invoiceflow.retry('%s').", it->ingestion_id)));
}

/*
 * Records items [from, to) with one call of _outbox_record_batch() (the rules
 * of _outbox_record() per row; the common 'done' as a few set statements),
 * then logs them.
 */
static void
record_items(const char *worker, const IfSink *sink, IfItem **items, int from, int to)
{
	int			n = to - from;
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *outcomes = palloc(sizeof(Datum) * n);
	Datum	   *errors = palloc(sizeof(Datum) * n);
	bool	   *error_nulls = palloc(sizeof(bool) * n);
	Datum	   *retry = palloc(sizeof(Datum) * n);
	Datum	   *drop = palloc(sizeof(Datum) * n);
	char	  **msgs = palloc(sizeof(char *) * n);
	int			dims[1];
	int			lbs[1] = {1};
	Datum		args[5];
	int			i;

	dims[0] = n;
	for (i = 0; i < n; i++)
	{
		IfItem	   *it = items[from + i];

		ids[i] = Int64GetDatum(it->id);
		outcomes[i] = CStringGetTextDatum(outcome_of(sink, it, &msgs[i]));
		errors[i] = msgs[i] ? CStringGetTextDatum(msgs[i]) : (Datum) 0;
		error_nulls[i] = msgs[i] == NULL;
		retry[i] = Float8GetDatum(if_retry_delay(it->tries + 1));
		drop[i] = BoolGetDatum(it->had_bytes && !invoiceflow_keep_files_in_database);
	}
	args[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(outcomes, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_md_array(errors, error_nulls, 1, dims, lbs,
												 TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(retry, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[4] = PointerGetDatum(construct_array(drop, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	exec(STMT_RECORD, args, NULL, false, 1);
	for (i = 0; i < n; i++)
		log_outcome(worker, sink, items[from + i], msgs[i]);
}

/*
 * Runs record_items() for items [from, to) in one subtransaction; on an error
 * rolls it back and returns false, with the error in *edata_out.
 */
static bool
record_range(const char *worker, const IfSink *sink, IfItem **items, int from, int to,
			 ErrorData **edata_out)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		record_items(worker, sink, items, from, to);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		*edata_out = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Records a sink's outcomes in one transaction: the whole batch in one
 * subtransaction (a subtransaction per row cost as much as the row), and only
 * if that fails, each row in its own, so one bad row does not hold back the
 * others. (The log lines of the first attempt may then appear twice.)
 */
void
if_outbox_record(const char *worker, const IfSink *sink, IfItem **items, int n)
{
	ErrorData  *edata = NULL;
	int			i;

	if (n == 0)
		return;
	if_tx_begin("recording delivery outcomes");
	if (!record_range(worker, sink, items, 0, n, &edata))
	{
		FreeErrorData(edata);
		for (i = 0; i < n; i++)
			if (!record_range(worker, sink, items, i, i + 1, &edata))
			{
				/* its claim expires and another turn tries again */
				ereport(WARNING,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("invoiceflow could not record the delivery of outbox row %lld",
								(long long) items[i]->id),
						 errdetail("%s", edata->message)));
				FreeErrorData(edata);
			}
	}
	if_tx_commit();
}

/* when the earliest pending row of the given sinks is due (DT_NOEND: none) */
TimestampTz
if_outbox_next_due(const char *const *sinks, int nsinks)
{
	TimestampTz due = DT_NOEND;
	Datum		args[1];

	if (nsinks == 0)
		return due;
	if_tx_begin("looking for the next retry deadline");
	args[0] = text_array(sinks, nsinks);
	if (exec(STMT_NEXT_DUE, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			due = DatumGetTimestampTz(v);
	}
	if_tx_commit();
	return due;
}
