/*
 * worker.c: an invoiceflow delivery worker, one of invoiceflow.workers, started
 * by the launcher (launcher.c) in invoiceflow.database.
 *
 * Each turn of the loop:
 *   1. claim a batch of due outbox rows (UPDATE ... claimed_by, FOR UPDATE SKIP
 *      LOCKED) for sinks whose circuit breaker is closed, and commit;
 *   2. deliver each item with no transaction open (S3 PUT/DELETE, confirmed
 *      AMQP publish; OpenSearch items of the batch together in one _bulk);
 *   3. record each outcome in one short transaction, each item in its own
 *      subtransaction: done, retry later (backoff with jitter), or a permanent
 *      error that fails the ingestion (never for OpenSearch: search indexing
 *      does not change an ingestion's status, only its delivery record).
 * When nothing is due it sleeps on its latch until the next retry deadline or
 * probe, and is woken at once by any commit that wrote outbox rows (shmem.c).
 * Worker 0 also probes the dependencies for health(), back-fills the outbox for
 * sinks configured later, and, in embedded mode, NOTIFYs the processors once
 * per batch of commits.
 */
#include "invoiceflow.h"
#include "deliver.h"
#include "observe.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "common/pg_prng.h"
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
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PGDLLEXPORT void invoiceflow_worker_main(Datum main_arg);

#define BATCH_SIZE			32
#define IDLE_MAX_MS			10000	/* longest sleep of a worker with nothing due */
#define EXTENSION_RECHECK_MS 10000

typedef struct OutboxItem
{
	int64		id;
	char	   *ingestion_id;
	IfDep		dep;
	char	   *action;
	char	   *event;			/* NULL unless publish */
	int			attempt;
	int			tries;
	char	   *s3_key;
	char	   *filename;
	char	   *sha256_hex;
	char	   *md5_hex;
	bytea	   *content;		/* put: the bytes while uploading, else NULL */
	bool		had_bytes;		/* put: PostgreSQL still had the bytes */
	int64		size_bytes;
	char	   *created_at;		/* ISO 8601 UTC */
	char	   *traceparent;	/* the ingestion's W3C trace context, or NULL */
	bool		ingestion_exists;
	bool		skipped;		/* not tried (breaker opened meanwhile) */
	IfResult	result;
} OutboxItem;

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

bool
if_should_abort(void)
{
	return ProcDiePending || !PostmasterIsAlive();
}

/* ---------------------------------------------------------------------------
 * Transactions
 * ------------------------------------------------------------------------- */

static void
tx_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
tx_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* the same for the sinks' queue files (webhook_queue.c) */
void
if_tx_begin(const char *activity)
{
	tx_begin(activity);
}

void
if_tx_commit(void)
{
	tx_commit();
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

	tx_begin("checking the extension version");
	strlcpy(my_dbname, get_database_name(MyDatabaseId), sizeof(my_dbname));
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'invoiceflow'",
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		installed = copy_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	tx_commit();

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
	tx_begin("releasing claims of a previous run");
	SPI_execute_with_args(my_slot == 0 ?
						  "UPDATE invoiceflow.outbox SET claimed_by = NULL, claimed_until = NULL "
						  "WHERE claimed_by = $1 OR claimed_by <> ALL ($2)" :
						  "UPDATE invoiceflow.outbox SET claimed_by = NULL, claimed_until = NULL "
						  "WHERE claimed_by = $1 AND $2 IS NOT NULL",
						  2, argtypes, args, NULL, false, 0);
	if (SPI_processed > 0)
		ereport(LOG, (errmsg("%s released %llu outbox row(s) left claimed by a previous run",
							 my_name, (unsigned long long) SPI_processed)));
	tx_commit();
}

/* ---------------------------------------------------------------------------
 * Worker 0's duties: embedded NOTIFY, probes, back-fill
 * ------------------------------------------------------------------------- */

static void
notify_processors(void)
{
	tx_begin("NOTIFY invoiceflow");
	Async_Notify("invoiceflow", NULL);
	tx_commit();
}

static void
backfill(void)
{
	int			total = 0;

	for (;;)
	{
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		tx_begin("back-filling the outbox for newly configured sinks");
		if (SPI_execute("SELECT invoiceflow._outbox_backfill(1000)"
						" + invoiceflow._outbox_backfill_opensearch(1000)", false, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			n = isnull ? 0 : DatumGetInt32(d);
		}
		tx_commit();
		total += n;
		if (n == 0)
			break;
	}
	if (total > 0)
		ereport(LOG, (errmsg("%s queued %d delivery(ies) that newly configured sinks had not seen",
							 my_name, total)));
}

static bool
os_configured(void)
{
	return invoiceflow_opensearch_url != NULL && invoiceflow_opensearch_url[0] != '\0';
}

static bool
dep_configured(IfDep dep)
{
	switch (dep)
	{
		case IF_DEP_S3:
			return if_s3_configured();
		case IF_DEP_RABBITMQ:
			return if_amqp_configured();
		case IF_DEP_OPENSEARCH:
			return os_configured();
		default:
			return false;
	}
}

static const char *
dep_title(IfDep dep)
{
	return dep == IF_DEP_S3 ? "S3" : dep == IF_DEP_RABBITMQ ? "RabbitMQ" : "OpenSearch";
}

/* probes each configured dependency when due; returns when the next is due */
static TimestampTz
probe_dependencies(TimestampTz *next_probe)
{
	TimestampTz next = DT_NOEND;
	int			d;

	for (d = 0; d < IF_DEP_COUNT; d++)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz open_until;
		IfBreakerState st;
		IfResult	r;

		if (!dep_configured((IfDep) d))
			continue;
		st = if_breaker_poll((IfDep) d, now, &open_until);
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
		pgstat_report_activity(STATE_RUNNING, d == IF_DEP_S3 ? "probing S3 (HEAD bucket)" :
							   d == IF_DEP_RABBITMQ ? "probing RabbitMQ" :
							   "probing OpenSearch (GET /_cluster/health)");
		r = (d == IF_DEP_S3) ? if_s3_probe() :
			(d == IF_DEP_RABBITMQ) ? if_amqp_probe() : if_os_probe(invoiceflow_opensearch_url);
		CHECK_FOR_INTERRUPTS();
		if (r.outcome == IF_OK)
			if_breaker_success((IfDep) d);
		else
			if_breaker_failure((IfDep) d, r.error, r.outcome == IF_TRANSIENT);
		next_probe[d] = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													invoiceflow_probe_interval_seconds * 1000);
		next = Min(next, next_probe[d]);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	return next;
}

/* ---------------------------------------------------------------------------
 * Claim, deliver, record
 * ------------------------------------------------------------------------- */

static const char *claim_sql =
"WITH c AS ("
"  SELECT o.id FROM invoiceflow.outbox o"
"  WHERE o.state = 'pending' AND o.next_attempt_at <= now()"
"    AND (o.claimed_until IS NULL OR o.claimed_until < now())"
"    AND o.sink = ANY ($2)"
	/* invoice.uploaded only once the file is where processors read it */
"    AND (o.event IS DISTINCT FROM 'invoice.uploaded' OR NOT EXISTS ("
"      SELECT 1 FROM invoiceflow.outbox p WHERE p.ingestion_id = o.ingestion_id"
"        AND p.sink = 's3' AND p.action = 'put' AND p.state = 'pending'))"
	/* a purge's DELETE waits for a PUT still in flight */
"    AND NOT (o.action = 'delete' AND EXISTS ("
"      SELECT 1 FROM invoiceflow.outbox p WHERE p.ingestion_id = o.ingestion_id"
"        AND p.id <> o.id AND p.claimed_until > now()))"
"  ORDER BY o.next_attempt_at, o.id LIMIT $3"
"  FOR UPDATE SKIP LOCKED),"
" u AS ("
"  UPDATE invoiceflow.outbox o SET claimed_by = $1, claimed_until = now() + make_interval(secs => $4)"
"  FROM c WHERE o.id = c.id"
"  RETURNING o.id, o.ingestion_id, o.sink, o.action, o.event, o.attempt, o.tries, o.s3_key)"
" SELECT u.id, u.ingestion_id, u.sink, u.action, u.event, u.attempt, u.tries,"
"   coalesce(i.s3_key, u.s3_key), i.filename, encode(i.sha256, 'hex'),"
"   NULL::text, NULL::bytea,"	/* put: the bytes are read one file at a time */
"   i.size_bytes, invoiceflow._iso(i.created_at),"
"   i.id IS NOT NULL, i.traceparent"
" FROM u LEFT JOIN invoiceflow.ingestions i ON i.id = u.ingestion_id"
" ORDER BY u.id";

/* claims up to BATCH_SIZE due items of the allowed sinks; returns how many */
static int
claim_batch(bool allowed[IF_DEP_COUNT], OutboxItem **items_out)
{
	Datum		sinks[IF_DEP_COUNT];
	int			nsinks = 0;
	Oid			argtypes[4] = {TEXTOID, TEXTARRAYOID, INT4OID, FLOAT8OID};
	Datum		args[4];
	OutboxItem	   *items;
	int			n = 0;
	uint64		i;
	int			d;

	for (d = 0; d < IF_DEP_COUNT; d++)
		if (allowed[d])
			sinks[nsinks++] = CStringGetTextDatum(if_dep_name((IfDep) d));
	if (nsinks == 0)
		return 0;

	args[0] = CStringGetTextDatum(my_name);
	args[1] = PointerGetDatum(construct_array(sinks, nsinks, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = Int32GetDatum(BATCH_SIZE);
	/* a claim outlives the longest batch: every request may take the full timeout */
	args[3] = Float8GetDatum((double) BATCH_SIZE * invoiceflow_request_timeout_seconds + 60.0);

	tx_begin("claiming outbox rows");
	if (SPI_execute_with_args(claim_sql, 4, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "claiming outbox rows failed");
	items = MemoryContextAllocZero(loop_ctx, sizeof(OutboxItem) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		OutboxItem	   *it = &items[n++];
		char	   *sink;
		bool		isnull;

		it->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		it->ingestion_id = copy_text(tup, desc, 2);
		sink = SPI_getvalue(tup, desc, 3);
		it->dep = strcmp(sink, "s3") == 0 ? IF_DEP_S3 :
			strcmp(sink, "opensearch") == 0 ? IF_DEP_OPENSEARCH : IF_DEP_RABBITMQ;
		it->action = copy_text(tup, desc, 4);
		it->event = copy_text(tup, desc, 5);
		it->attempt = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		it->tries = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
		it->s3_key = copy_text(tup, desc, 8);
		it->filename = copy_text(tup, desc, 9);
		it->sha256_hex = copy_text(tup, desc, 10);
		/* columns 11, 12 (md5, bytes) are read per file by fetch_content() */
		it->size_bytes = DatumGetInt64(SPI_getbinval(tup, desc, 13, &isnull));
		it->created_at = copy_text(tup, desc, 14);
		it->ingestion_exists = DatumGetBool(SPI_getbinval(tup, desc, 15, &isnull));
		it->traceparent = copy_text(tup, desc, 16);
	}
	tx_commit();
	*items_out = items;
	return n;
}

/*
 * The bytes of a PUT and their MD5, read in a short transaction just before
 * the upload: a batch never holds more than one file in memory.
 */
static void
fetch_content(OutboxItem *it)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];

	args[0] = CStringGetTextDatum(it->ingestion_id);
	tx_begin("reading a file for S3");
	if (SPI_execute_with_args("SELECT content, md5(content) FROM invoiceflow.ingestion_files"
							  " WHERE ingestion_id = $1::uuid", 1, types, args, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(loop_ctx);

			it->content = DatumGetByteaPCopy(d);
			it->had_bytes = true;
			MemoryContextSwitchTo(old);
			it->md5_hex = copy_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		}
	}
	tx_commit();
}

static void
deliver(OutboxItem *it)
{
	char		activity[200];

	memset(&it->result, 0, sizeof(it->result));
	if (!it->ingestion_exists && strcmp(it->action, "delete") != 0)
	{
		it->result.outcome = IF_OK;	/* purged meanwhile: nothing to send */
		return;
	}
	if (strcmp(it->action, "put") == 0)
	{
		fetch_content(it);
		if (it->content == NULL)
		{
			/* the bytes were dropped after an earlier verified PUT */
			it->result.outcome = IF_OK;
			return;
		}
		snprintf(activity, sizeof(activity), "S3 PUT %s", it->s3_key);
		pgstat_report_activity(STATE_RUNNING, activity);
		it->result = if_s3_put(it->s3_key, (unsigned char *) VARDATA_ANY(it->content),
							   VARSIZE_ANY_EXHDR(it->content), it->ingestion_id, it->filename,
							   it->sha256_hex, it->md5_hex, it->traceparent);
		/* free the bytes now; record_one only needs to know there were some */
		pfree(it->content);
		it->content = NULL;
	}
	else if (strcmp(it->action, "delete") == 0)
	{
		snprintf(activity, sizeof(activity), "S3 DELETE %s", it->s3_key);
		pgstat_report_activity(STATE_RUNNING, activity);
		it->result = if_s3_delete(it->s3_key);
	}
	else
	{
		char		message_id[160];
		char		err[256] = "";
		char	   *body;
		bool		s3 = if_s3_configured();

		body = if_event_body(it->event, it->ingestion_id, it->filename, (long long) it->size_bytes,
							 it->sha256_hex, s3 ? invoiceflow_s3_bucket : NULL,
							 s3 ? it->s3_key : NULL, it->created_at, it->attempt,
							 message_id, sizeof(message_id), err, sizeof(err));
		if (body == NULL)
		{
			it->result.outcome = IF_PERMANENT;
			snprintf(it->result.error, sizeof(it->result.error), "cannot build the event: %s", err);
			return;
		}
		snprintf(activity, sizeof(activity), "AMQP publish %s", message_id);
		pgstat_report_activity(STATE_RUNNING, activity);
		it->result = if_amqp_publish(it->event, message_id, body, strlen(body), it->traceparent);
		free(body);				/* jansson's allocation: malloc */
	}
}

/*
 * The OpenSearch items of a batch, together: their documents are read in one
 * short transaction (built from search_docs and the extraction as they are
 * now), then sent in one _bulk with no transaction open; each item gets its
 * own outcome, so only the failed ones are tried again. The breaker counts
 * the request once: a transient failure of the request or of any item is one
 * failure, an answer with every item accepted (or refused for good) a success.
 */
static void
deliver_opensearch(OutboxItem *items, int n)
{
	IfOsItem   *os = MemoryContextAllocZero(loop_ctx, sizeof(IfOsItem) * Max(n, 1));
	int		   *pos = MemoryContextAlloc(loop_ctx, sizeof(int) * Max(n, 1));
	int			m = 0;
	int			i;
	TimestampTz open_until;
	IfResult	req;
	bool		any_transient = false;
	const char *transient_error = NULL;
	char		activity[100];

	for (i = 0; i < n; i++)
	{
		OutboxItem *it = &items[i];

		if (it->dep != IF_DEP_OPENSEARCH)
			continue;
		memset(&it->result, 0, sizeof(it->result));
		if (if_breaker_poll(IF_DEP_OPENSEARCH, GetCurrentTimestamp(), &open_until) != IF_BREAKER_CLOSED)
		{
			it->skipped = true;
			continue;
		}
		if (!it->ingestion_exists && strcmp(it->action, "delete") != 0)
			continue;			/* purged meanwhile: nothing to index (OK) */
		os[m].is_delete = strcmp(it->action, "delete") == 0;
		os[m].id = it->ingestion_id;
		pos[m++] = i;
	}
	if (m == 0)
		return;

	/* the documents as they are now; one that is gone needs no indexing */
	tx_begin("reading documents for OpenSearch");
	for (i = 0; i < m; i++)
	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1];

		if (os[i].is_delete)
			continue;
		args[0] = CStringGetTextDatum(os[i].id);
		if (SPI_execute_with_args("SELECT invoiceflow._opensearch_doc($1::uuid)::text",
								  1, types, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
			os[i].doc_json = copy_text(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	}
	tx_commit();
	{
		int			k = 0;

		for (i = 0; i < m; i++)
		{
			if (!os[i].is_delete && os[i].doc_json == NULL)
				continue;		/* not COMPLETED (or purged): nothing to send, OK */
			os[k] = os[i];
			pos[k++] = pos[i];
		}
		m = k;
	}
	if (m == 0)
		return;

	snprintf(activity, sizeof(activity), "OpenSearch POST /%s/_bulk (%d actions)", IF_OS_INDEX, m);
	pgstat_report_activity(STATE_RUNNING, activity);
	req = if_os_bulk(invoiceflow_opensearch_url, (long) invoiceflow_request_timeout_seconds * 1000, os, m);
	CHECK_FOR_INTERRUPTS();
	for (i = 0; i < m; i++)
	{
		items[pos[i]].result = os[i].result;
		if (os[i].result.outcome == IF_TRANSIENT && !any_transient)
		{
			any_transient = true;
			transient_error = items[pos[i]].result.error;
		}
	}
	if (req.outcome == IF_TRANSIENT || any_transient)
		if_breaker_failure(IF_DEP_OPENSEARCH, req.outcome == IF_TRANSIENT ? req.error : transient_error, true);
	else if (req.outcome == IF_PERMANENT)
		if_breaker_failure(IF_DEP_OPENSEARCH, req.error, false);
	else
		if_breaker_success(IF_DEP_OPENSEARCH);
}

/* seconds until the next try: retry_delay * factor^n, capped, with +-20% jitter */
static double
retry_delay(int tries_done)
{
	double		d = invoiceflow_retry_delay_seconds *
		pow(invoiceflow_retry_backoff_factor, Max(tries_done - 1, 0));

	d = Min(d, (double) invoiceflow_retry_max_delay_seconds);
	d *= 0.8 + 0.4 * pg_prng_double(&pg_global_prng_state);
	return d;
}

double
if_retry_delay(int tries_done)
{
	return retry_delay(tries_done);
}

static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *values)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
}

static void
record_one(OutboxItem *it)
{
	Oid			t3[3] = {INT8OID, TEXTOID, FLOAT8OID};
	Oid			tu[2] = {INT8OID, UUIDOID};
	Datum		v[3];
	char		trace_id[33];

	if_trace_id(it->traceparent, trace_id);
	v[0] = Int64GetDatum(it->id);
	/* cancelled by a purge while in flight: the claim ends now, not at its expiry */
	spi_exec("UPDATE invoiceflow.outbox SET claimed_by = NULL, claimed_until = NULL"
			 " WHERE id = $1 AND state = 'cancelled' AND claimed_by IS NOT NULL", 1, t3, v);
	if (it->skipped)
		spi_exec("UPDATE invoiceflow.outbox SET claimed_by = NULL, claimed_until = NULL WHERE id = $1",
				 1, t3, v);
	else if (it->result.outcome == IF_OK)
	{
		spi_exec("UPDATE invoiceflow.outbox SET state = 'done', tries = tries + 1, done_at = now(),"
				 " last_error = NULL, claimed_by = NULL, claimed_until = NULL"
				 " WHERE id = $1 AND state = 'pending'", 1, t3, v);
		if (invoiceflow_log_deliveries)
			ereport(LOG,
					(errmsg("%s delivered %s %s%s%s of %s trace_id=%s", my_name, if_dep_name(it->dep),
							it->action, it->event ? " " : "", it->event ? it->event : "",
							it->ingestion_id, trace_id)));
		if (strcmp(it->action, "put") == 0 && it->had_bytes && !invoiceflow_keep_files_in_database)
		{
			/* S3 holds a verified copy (ETag = MD5 of these bytes): drop ours */
			v[1] = DirectFunctionCall1(uuid_in, CStringGetDatum(it->ingestion_id));
			spi_exec("DELETE FROM invoiceflow.ingestion_files WHERE ingestion_id = $2 AND $1 IS NOT NULL",
					 2, tu, v);
		}
		if (strcmp(it->action, "delete") == 0)
		{
			/* the purge is complete (every sink's delete): its delivery record goes */
			v[1] = DirectFunctionCall1(uuid_in, CStringGetDatum(it->ingestion_id));
			spi_exec("DELETE FROM invoiceflow.outbox WHERE ingestion_id = $2"
					 " AND NOT EXISTS (SELECT 1 FROM invoiceflow.ingestions WHERE id = $2)"
					 " AND NOT EXISTS (SELECT 1 FROM invoiceflow.outbox p WHERE p.ingestion_id = $2"
					 "   AND p.id <> $1 AND p.action = 'delete' AND p.state = 'pending')", 2, tu, v);
		}
		/* an invoice.uploaded may have waited for this PUT */
		if (strcmp(it->action, "put") == 0)
			invoiceflow_request_wake();
	}
	else if (it->result.outcome == IF_TRANSIENT)
	{
		double		delay = retry_delay(it->tries + 1);

		v[1] = CStringGetTextDatum(it->result.error);
		v[2] = Float8GetDatum(delay);
		spi_exec("UPDATE invoiceflow.outbox SET tries = tries + 1, last_error = $2,"
				 " next_attempt_at = now() + make_interval(secs => $3),"
				 " claimed_by = NULL, claimed_until = NULL"
				 " WHERE id = $1 AND state = 'pending'", 3, t3, v);
		if (it->tries + 1 == invoiceflow_max_retries)
			ereport(LOG,
					(errmsg("%s: %s %s for %s still fails after %d quick retries; retrying with capped backoff",
							my_name, if_dep_name(it->dep), it->action, it->ingestion_id, it->tries + 1),
					 errdetail("Last error: %s (trace_id=%s)", it->result.error, trace_id)));
	}
	else
	{
		char	   *msg = psprintf("%s %s failed permanently: %s",
								   dep_title(it->dep),
								   strcmp(it->action, "put") == 0 ? "upload" :
								   strcmp(it->action, "delete") == 0 ? "delete" :
								   strcmp(it->action, "index") == 0 ? "indexing" : "publish",
								   it->result.error);

		v[1] = CStringGetTextDatum(msg);
		spi_exec("UPDATE invoiceflow.outbox SET state = 'failed', tries = tries + 1, last_error = $2,"
				 " claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND state = 'pending'",
				 2, t3, v);
		/* a file that cannot reach S3, or processors, fails: PENDING -> FAILED */
		if (strcmp(it->action, "put") == 0 ||
			(it->event != NULL && strcmp(it->event, "invoice.uploaded") == 0))
		{
			Oid			tf[3] = {INT8OID, TEXTOID, UUIDOID};

			v[2] = DirectFunctionCall1(uuid_in, CStringGetDatum(it->ingestion_id));
			spi_exec("UPDATE invoiceflow.outbox SET state = 'cancelled', claimed_by = NULL, claimed_until = NULL"
					 " WHERE ingestion_id = $3 AND id <> $1 AND state = 'pending'"
					 " AND (event IS NULL OR event = 'invoice.uploaded') AND $2 IS NOT NULL",
					 3, tf, v);
			spi_exec("UPDATE invoiceflow.ingestions SET status = 'FAILED', error_kind = 'delivery',"
					 " error_message = left($2, 2000)"
					 " WHERE id = $3 AND status IN ('PENDING', 'PROCESSING') AND $1 IS NOT NULL",
					 3, tf, v);
		}
		if (it->dep == IF_DEP_OPENSEARCH)
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
}

/* records every outcome in one transaction, each item in a subtransaction */
static void
record_outcomes(OutboxItem *items, int n)
{
	int			i;

	tx_begin("recording delivery outcomes");
	for (i = 0; i < n; i++)
	{
		MemoryContext oldcontext = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;

		BeginInternalSubTransaction(NULL);
		PG_TRY();
		{
			record_one(&items[i]);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(loop_ctx);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
			/* its claim expires and another turn tries again */
			ereport(WARNING,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("invoiceflow could not record the delivery of outbox row %lld",
							(long long) items[i].id),
					 errdetail("%s", edata->message)));
			FreeErrorData(edata);
		}
		PG_END_TRY();
	}
	tx_commit();
}

/* when the earliest pending item of an allowed sink is due (DT_NOEND: none) */
static TimestampTz
next_due(bool allowed[IF_DEP_COUNT])
{
	TimestampTz due = DT_NOEND;
	int			d;

	tx_begin("looking for the next retry deadline");
	for (d = 0; d < IF_DEP_COUNT; d++)
	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1];

		if (!allowed[d])
			continue;
		args[0] = CStringGetTextDatum(if_dep_name((IfDep) d));
		if (SPI_execute_with_args("SELECT next_attempt_at FROM invoiceflow.outbox"
								  " WHERE state = 'pending' AND sink = $1"
								  "   AND (claimed_until IS NULL OR claimed_until < now())"
								  "   AND next_attempt_at > now()"
								  " ORDER BY next_attempt_at LIMIT 1",
								  1, types, args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		{
			bool		isnull;
			Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				due = Min(due, DatumGetTimestampTz(v));
		}
	}
	tx_commit();
	return due;
}

/* ---------------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------------- */

static void
reload_config(TimestampTz *next_probe, bool *need_backfill)
{
	int			d;

	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	/* new settings: new connections, a fresh look at each dependency */
	if_s3_reset();
	if_amqp_reset();
	if_os_reset();
	if_webhook_reset();
	if (my_slot == 0)
	{
		for (d = 0; d < IF_DEP_COUNT; d++)
		{
			if_breaker_reset((IfDep) d);
			next_probe[d] = 0;
		}
		*need_backfill = true;
	}
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
	if_shared->slots[my_slot].started_at = GetCurrentTimestamp();
	LWLockRelease(if_shared->lock);
	on_shmem_exit(worker_detach, (Datum) 0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname(my_name);

	loop_ctx = AllocSetContextCreate(TopMemoryContext, "invoiceflow worker loop",
									 ALLOCSET_DEFAULT_SIZES);

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
		bool		allowed[IF_DEP_COUNT];
		OutboxItem	   *items = NULL;
		int			n = 0;
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
			wake_at = probe_dependencies(next_probe);
		}

		now = GetCurrentTimestamp();
		for (i = 0; i < IF_DEP_COUNT; i++)
		{
			TimestampTz open_until;

			allowed[i] = dep_configured((IfDep) i) &&
				if_breaker_poll((IfDep) i, now, &open_until) == IF_BREAKER_CLOSED;
			if (dep_configured((IfDep) i) && !allowed[i])
				wake_at = Min(wake_at, Max(open_until, TimestampTzPlusMilliseconds(now, 200)));
		}

		/* webhooks run beside the batch: a slow receiver holds only its own rows */
		webhook_ms = if_webhook_turn(my_name);

		n = claim_batch(allowed, &items);
		if (n > 0)
		{
			/* OpenSearch items go together, in one _bulk */
			deliver_opensearch(items, n);
			for (i = 0; i < n; i++)
			{
				OutboxItem	   *it = &items[i];
				TimestampTz open_until;

				if (it->dep == IF_DEP_OPENSEARCH)
					continue;

				/* a breaker that opened during this batch: the rest waits, using no try */
				if (if_breaker_poll(it->dep, GetCurrentTimestamp(), &open_until) != IF_BREAKER_CLOSED)
				{
					it->skipped = true;
					continue;
				}
				deliver(it);
				CHECK_FOR_INTERRUPTS();
				if (it->result.outcome == IF_OK)
					if_breaker_success(it->dep);
				else
					if_breaker_failure(it->dep, it->result.error, it->result.outcome == IF_TRANSIENT);
			}
			record_outcomes(items, n);
			continue;			/* more may be due: look again before sleeping */
		}
		if (webhook_ms == 0)
			continue;			/* webhook rows were claimed: more may be due */

		now = GetCurrentTimestamp();
		wake_at = Min(wake_at, next_due(allowed));
		wake_at = Min(wake_at, webhook_ms >= 0 ? TimestampTzPlusMilliseconds(now, webhook_ms) :
					  if_webhook_next_due());
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
