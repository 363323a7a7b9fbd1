/*
 * sink.h: the delivery sinks as one table (sinks.c) and the outbox rows they
 * deliver.
 *
 * The worker (worker.c) is a loop over this table: it claims due outbox rows
 * (outbox.c, SQL functions _outbox_claim / _outbox_record), hands each sink the
 * rows that are its own as one batch, and records the outcomes. A sink never
 * calls back into the loop: what it needs (the abort check, the worker's name)
 * comes in the batch; it reads bytes or documents through outbox.c and reports
 * to its circuit breaker (breakers.c).
 *
 *   name        the outbox's sink column ("s3", "rabbitmq", "opensearch") or
 *               "webhook" (its own queue table, webhook_deliveries)
 *   configured  its settings are there (rows are written only then)
 *   probe       a cheap request for health() (NULL: every delivery is one)
 *   deliver     sends a batch; sets each item's result
 *   reset       the configuration changed: drop clients and connections
 *   next_due    a sink with its own queue: when its next row is due (NULL:
 *               the outbox's _outbox_next_due() answers)
 */
#ifndef INVOICEFLOW_SINK_H
#define INVOICEFLOW_SINK_H

#include "invoiceflow.h"
#include "deliver.h"

typedef struct IfItem
{
	int64		id;				/* outbox.id */
	char	   *ingestion_id;
	char	   *sink;			/* the sink table's name */
	char	   *action;			/* put | delete | publish | index */
	char	   *event;			/* NULL unless publish */
	int			attempt;
	int			tries;
	char	   *s3_key;
	char	   *filename;
	char	   *sha256_hex;
	int64		size_bytes;
	char	   *created_at;		/* ISO 8601 UTC */
	char	   *traceparent;	/* the ingestion's W3C trace context, or NULL */
	bool		ingestion_exists;
	/* set by the sink */
	bool		had_bytes;		/* put: PostgreSQL still had the bytes */
	bool		skipped;		/* not tried (its breaker opened meanwhile) */
	IfResult	result;
} IfItem;

typedef struct IfBatch
{
	IfItem	  **items;			/* this sink's rows of the claim */
	int			n;
	const char *worker;			/* "invoiceflow worker N" */
	IfAbortCheck should_abort;
	MemoryContext cxt;			/* lives until the outcomes are recorded */
	long		next_ms;		/* out, webhook: ms until it wants a turn (-1: none) */
} IfBatch;

typedef struct IfSink
{
	const char *name;
	const char *title;			/* in messages: "S3", "RabbitMQ", ... */
	IfDep		dep;			/* its shared breaker; IF_DEP_COUNT: none (webhook) */
	bool		(*configured) (void);
	IfResult	(*probe) (void);
	void		(*deliver) (IfBatch *batch);
	void		(*reset) (void);
	TimestampTz (*next_due) (void);
} IfSink;

/* sinks.c: the table, in delivery order */
#define IF_MAX_SINKS 8
extern const IfSink *const if_sinks[];
extern const int if_nsinks;

extern bool if_s3_configured(void);
extern bool if_amqp_configured(void);
extern bool if_os_configured(void);

extern const IfSink if_sink_s3;		/* worker_s3.c */
extern const IfSink if_sink_amqp;	/* worker_amqp.c */
extern const IfSink if_sink_opensearch;	/* sink_opensearch.c */
extern const IfSink if_sink_webhook;	/* webhook_queue.c */

/*
 * outbox.c: the SQL side, with statements prepared once (SPI_prepare +
 * SPI_keepplan). Claim and record run the extension's SQL functions.
 */
extern int	if_outbox_claim(MemoryContext cxt, const char *worker, const char *const *sinks, int nsinks,
							int limit, double lease_secs, IfItem **items);
extern void if_outbox_files(MemoryContext cxt, IfItem **items, int n, bytea **content,
							char **md5_hex);
extern char *if_outbox_doc(MemoryContext cxt, const char *ingestion_id);
extern void if_outbox_record(const char *worker, const IfSink *sink, IfItem **items, int n);
extern TimestampTz if_outbox_next_due(const char *const *sinks, int nsinks);

/* the breaker's verdict for a sink's item: true when it may be sent now */
extern bool if_sink_may_send(const IfSink *sink);
extern void if_sink_report(const IfSink *sink, const IfResult *r);

#endif
