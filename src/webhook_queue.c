/*
 * webhook_queue.c: the webhook sink (if_sink_webhook in the sink table), over
 * its own queue invoiceflow.webhook_deliveries: the worker hands it an empty
 * batch once per turn and it runs if_webhook_turn().
 *
 * Unlike S3 and RabbitMQ, whose calls are short and one at a time, a webhook
 * receiver may be slow or never answer. So transfers are not waited for: a
 * turn records the transfers that finished, claims more due rows (at most
 * webhook_per_subscription in flight per subscription, webhook_max_in_flight in
 * all), starts them, and drives them for a few milliseconds. A receiver that
 * hangs holds only its own rows until webhook_timeout_seconds, never the other
 * subscriptions or the other sinks. Claims are committed before any transfer
 * starts and outcomes recorded in a short transaction afterwards (the same rules
 * as the outbox's); a claim outlives the timeout, so a crash only delays a row.
 *
 * Circuit breakers are per destination (host:port) and per worker (in this process'
 * memory): after breaker_failures consecutive transient failures, that host's
 * rows wait breaker_cooldown_seconds without using up a try.
 *
 * Its sink entry: configured (always: rows exist only for active
 * subscriptions), probe (none: each delivery is its own probe), deliver (a
 * turn), reset (if_webhook_reset), next_due (if_webhook_next_due).
 */
#include "sink.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#define TURN_DRIVE_MS		5		/* how long a turn drives the transfers */
#define BUSY_TURN_MS		10		/* next turn while transfers are in flight */
#define MAX_HOSTS			128

typedef struct HostBreaker
{
	char		host[300];		/* host:port */
	int			failures;
	TimestampTz open_until;
	TimestampTz last_used;
} HostBreaker;

#define PRUNE_INTERVAL_MS	(3600 * 1000)

static IfWhItem **flight = NULL;	/* the transfers in flight (malloc'd) */
static TimestampTz next_prune = 0;
static int	nflight = 0;
static HostBreaker hosts[MAX_HOSTS];

static HostBreaker *
host_breaker(const char *host)
{
	HostBreaker *oldest = &hosts[0];
	int			i;

	for (i = 0; i < MAX_HOSTS; i++)
	{
		if (strcmp(hosts[i].host, host) == 0)
			return &hosts[i];
		if (hosts[i].last_used < oldest->last_used)
			oldest = &hosts[i];
	}
	memset(oldest, 0, sizeof(*oldest));
	strlcpy(oldest->host, host, sizeof(oldest->host));
	return oldest;
}

static void
item_free(IfWhItem *it)
{
	if_wh_abandon(it);
	free(it->url);
	free(it->webhook_id);
	free(it->body);
	explicit_bzero(it->key, sizeof(it->key));
	free(it);
}

/* on reload: the breakers start afresh, no connection of the old settings is reused */
void
if_webhook_reset(void)
{
	memset(hosts, 0, sizeof(hosts));
	if_wh_reset();
}

void
if_webhook_release(const char *worker)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];

	args[0] = CStringGetTextDatum(worker);
	if_tx_begin("releasing webhook deliveries of a previous run");
	if (SPI_execute_with_args("SELECT invoiceflow._webhook_release($1)", 1, types, args, NULL, false, 1) < 0)
		elog(ERROR, "releasing webhook deliveries failed");
	if_tx_commit();
}

static const char *
outcome_name(IfWhItem *it, bool waiting)
{
	if (waiting)
		return "wait";
	if (it->result.outcome == IF_OK)
		return "ok";
	if (it->gone)
		return "gone";
	return it->result.outcome == IF_TRANSIENT ? "transient" : "permanent";
}

/* records outcomes in one transaction, each in a subtransaction; frees the items */
static void
record(IfWhItem **items, int n, const double *wait_secs)
{
	Oid			types[6] = {INT8OID, TEXTOID, INT4OID, INT4OID, TEXTOID, FLOAT8OID};
	int			i;

	if (n == 0)
		return;
	if_tx_begin("recording webhook deliveries");
	for (i = 0; i < n; i++)
	{
		IfWhItem   *it = items[i];
		bool		waiting = wait_secs != NULL;
		Datum		args[6];
		bool		nulls_unused = false;
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
		MemoryContext oldcontext = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;

		(void) nulls_unused;
		args[0] = Int64GetDatum(it->id);
		args[1] = CStringGetTextDatum(outcome_name(it, waiting));
		args[2] = Int32GetDatum(it->http_status);
		args[3] = Int32GetDatum(it->latency_ms);
		args[4] = CStringGetTextDatum(it->result.error);
		args[5] = Float8GetDatum(waiting ? wait_secs[i] : if_retry_delay(it->tries + 1));
		if (waiting || it->http_status == 0)
			nulls[2] = 'n';
		if (waiting)
			nulls[3] = 'n';
		BeginInternalSubTransaction(NULL);
		PG_TRY();
		{
			if (SPI_execute_with_args("SELECT invoiceflow._webhook_record($1, $2, $3, $4, $5, $6)",
									  6, types, args, nulls, false, 1) < 0)
				elog(ERROR, "_webhook_record failed");
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(oldcontext);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
			/* its claim expires and a later turn sends it again */
			ereport(WARNING,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("invoiceflow could not record webhook delivery %lld", it->id),
					 errdetail("%s", edata->message)));
			FreeErrorData(edata);
		}
		PG_END_TRY();
		if (!waiting && it->result.outcome == IF_PERMANENT)
			ereport(LOG,
					(errmsg("invoiceflow webhook delivery %lld to %s failed: %s",
							it->id, it->host, it->result.error)));
	}
	if_tx_commit();
	for (i = 0; i < n; i++)
		item_free(items[i]);
}

/* records the transfers that finished; returns how many */
static int
harvest(int wait_ms)
{
	IfWhItem  **done;
	int			n;
	int			i;
	int			j;

	if (nflight == 0)
		return 0;
	done = palloc(sizeof(IfWhItem *) * nflight);
	n = if_wh_poll(wait_ms, done, nflight);
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
	{
		IfWhItem   *it = done[i];
		HostBreaker *b = host_breaker(it->host);

		b->last_used = GetCurrentTimestamp();
		if (it->result.outcome == IF_TRANSIENT)
		{
			if (++b->failures >= invoiceflow_breaker_failures)
			{
				if (b->open_until < GetCurrentTimestamp())
					ereport(LOG,
							(errmsg("invoiceflow webhook destination %s: circuit open for %d s after %d consecutive failures",
									it->host, invoiceflow_breaker_cooldown_seconds, b->failures),
							 errdetail("Last error: %s", it->result.error)));
				b->open_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															invoiceflow_breaker_cooldown_seconds * 1000);
			}
		}
		else if (it->http_status > 0)
			b->failures = 0;	/* the host answered */
		for (j = 0; j < nflight; j++)
			if (flight[j] == it)
			{
				flight[j] = flight[--nflight];
				break;
			}
	}
	record(done, n, NULL);
	return n;
}

static const char *claim_sql =
"SELECT id, url, key_hex, webhook_id, body, tries"
" FROM invoiceflow._webhook_claim($1, $2, $3, $4)";

static int
claim_and_start(const char *worker)
{
	Oid			types[4] = {TEXTOID, INT4OID, INT4OID, FLOAT8OID};
	Datum		args[4];
	int			room = invoiceflow_webhook_max_in_flight - nflight;
	IfWhItem  **waiting;
	double	   *wait_secs;
	int			nwait = 0;
	uint64		i;
	MemoryContext callerctx = CurrentMemoryContext;

	if (room <= 0)
		return 0;
	args[0] = CStringGetTextDatum(worker);
	args[1] = Int32GetDatum(room);
	args[2] = Int32GetDatum(invoiceflow_webhook_per_subscription);
	args[3] = Float8GetDatum((double) invoiceflow_webhook_timeout_seconds + 60.0);

	if_tx_begin("claiming webhook deliveries");
	if (SPI_execute_with_args(claim_sql, 4, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "claiming webhook deliveries failed");
	waiting = MemoryContextAlloc(callerctx, sizeof(IfWhItem *) * Max(SPI_processed, 1));
	wait_secs = MemoryContextAlloc(callerctx, sizeof(double) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		IfWhItem   *it = calloc(1, sizeof(IfWhItem));
		bool		isnull;
		char	   *hex = SPI_getvalue(tup, desc, 3);
		size_t		hexlen = hex ? strlen(hex) : 0;
		TimestampTz now = GetCurrentTimestamp();
		HostBreaker *b;

		if (it == NULL)
			elog(ERROR, "out of memory");
		it->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		it->url = strdup(SPI_getvalue(tup, desc, 2));
		it->webhook_id = strdup(SPI_getvalue(tup, desc, 4));
		it->body = strdup(SPI_getvalue(tup, desc, 5));
		it->tries = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		if (hexlen / 2 <= sizeof(it->key))
			it->keylen = hex_decode(hex, hexlen, (char *) it->key);
		if (!if_wh_host(it->url, it->host, sizeof(it->host)))
			strlcpy(it->host, "(unparsable URL)", sizeof(it->host));
		b = host_breaker(it->host);
		b->last_used = now;
		if (it->keylen == 0)
		{
			/* sealed with another invoiceflow.webhook_secret_key (warned): wait for the right one */
			it->result.outcome = IF_TRANSIENT;
			strlcpy(it->result.error, "the subscription's secret cannot be decrypted with invoiceflow.webhook_secret_key",
					sizeof(it->result.error));
			wait_secs[nwait] = Max(if_retry_delay(it->tries + 1), 5.0);
			waiting[nwait++] = it;
			continue;
		}
		if (b->open_until > now)
		{
			/* open circuit: the row waits for the cool-down, using no try */
			long		secs;
			int			usecs;

			TimestampDifference(now, b->open_until, &secs, &usecs);
			wait_secs[nwait] = secs + usecs / 1e6 + 0.05;
			waiting[nwait++] = it;
			continue;
		}
		if (!if_wh_start(it, (long) invoiceflow_webhook_timeout_seconds * 1000,
						 invoiceflow_webhook_allow_private))
		{
			wait_secs[nwait] = if_retry_delay(it->tries + 1);
			waiting[nwait++] = it;
			continue;
		}
		flight[nflight++] = it;
	}
	if_tx_commit();
	record(waiting, nwait, wait_secs);
	return (int) i;
}

/*
 * One turn: record what finished, start what is due, drive the transfers a
 * few milliseconds. Returns the milliseconds after which the next turn is
 * wanted: 0 when the turn claimed or finished deliveries (more may be due, or
 * a subscription's cap may have room again: the loop turns again at once), a
 * few while transfers are in flight, -1 when nothing is in flight (a commit or
 * the next due row wakes the worker: see if_webhook_next_due()).
 */
long
if_webhook_turn(const char *worker)
{
	int			progress;

	if (flight == NULL)
		flight = MemoryContextAllocZero(TopMemoryContext, sizeof(IfWhItem *) * 1000);
	if (GetCurrentTimestamp() >= next_prune)
	{
		Oid			types[1] = {INT4OID};
		Datum		args[1] = {Int32GetDatum(invoiceflow_webhook_retention_days)};

		/* the log and the replay store keep webhook_retention_days */
		if_tx_begin("pruning the webhook log");
		if (SPI_execute_with_args("SELECT invoiceflow._webhook_prune($1)", 1, types, args, NULL, false, 1) < 0)
			elog(ERROR, "pruning the webhook log failed");
		if_tx_commit();
		next_prune = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PRUNE_INTERVAL_MS);
	}
	progress = harvest(0);
	CHECK_FOR_INTERRUPTS();
	progress += claim_and_start(worker);
	progress += harvest(TURN_DRIVE_MS);
	if (progress > 0)
		return 0;
	return nflight > 0 ? BUSY_TURN_MS : -1;
}

/* when the earliest waiting delivery is due (DT_NOEND: none) */
TimestampTz
if_webhook_next_due(void)
{
	TimestampTz due = DT_NOEND;

	if_tx_begin("looking for the next webhook retry");
	if (SPI_execute("SELECT min(next_attempt_at) FROM invoiceflow.webhook_deliveries"
					" WHERE state = 'pending' AND (claimed_until IS NULL OR claimed_until < now())"
					"   AND next_attempt_at > now()",
					true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			due = DatumGetTimestampTz(v);
	}
	if_tx_commit();
	return due;
}

static bool
webhook_configured(void)
{
	return true;				/* rows exist only for active subscriptions */
}

static void
webhook_deliver(IfBatch *b)
{
	b->next_ms = if_webhook_turn(b->worker);
}

const IfSink if_sink_webhook = {
	.name = "webhook",
	.title = "Webhook",
	.dep = IF_DEP_COUNT,		/* breakers per destination host, in this file */
	.configured = webhook_configured,
	.probe = NULL,
	.deliver = webhook_deliver,
	.reset = if_webhook_reset,
	.next_due = if_webhook_next_due,
};
