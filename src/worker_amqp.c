/*
 * worker_amqp.c: the RabbitMQ sink (if_sink_amqp), over the shared client
 * (src/common/amqp_client.h): one connection per worker process, opened on
 * first use with the topology of DESIGN.md § Events declared, reopened after
 * the broker dropped it; persistent messages with publisher confirms; an abort
 * callback so that SIGTERM ends any wait within ~100 ms.
 */
#include "invoiceflow.h"
#include "sink.h"

#include "pgstat.h"

#include "amqp_client.h"

static amqpc_client *client = NULL;

void
if_amqp_reset(void)
{
	if (client != NULL)
		amqpc_close(client);
	client = NULL;
}

static void
result_from(IfResult *r, amqpc_status st, const amqpc_error *err)
{
	char		msg[sizeof(r->error)];

	/* the client's message carries the reply code and text */
	if (err->message[0] == '\0')
		snprintf(msg, sizeof(msg), "AMQP reply code %d", err->reply_code);
	else
		snprintf(msg, sizeof(msg), "%s", err->message);
	if_result_from(r, st == AMQPC_OK ? IF_OK : st == AMQPC_PERMANENT ? IF_PERMANENT : IF_TRANSIENT,
				   st == AMQPC_ABORTED, msg);
}

/* a usable connection with the topology declared, or NULL and *r filled */
static amqpc_client *
get_client(IfResult *r)
{
	amqpc_config cfg;
	amqpc_error err;
	amqpc_status st;

	if (client != NULL && amqpc_usable(client))
		return client;
	if_amqp_reset();
	memset(&cfg, 0, sizeof(cfg));
	memset(&err, 0, sizeof(err));
	cfg.url = invoiceflow_rabbitmq_url;
	cfg.connect_timeout_ms = 5000;
	cfg.rpc_timeout_ms = 10000;
	cfg.confirm_timeout_ms = (long) invoiceflow_request_timeout_seconds * 1000;
	cfg.heartbeat_s = 0;
	client = amqpc_connect(&cfg, &err);
	if (client == NULL)
	{
		result_from(r, err.status == AMQPC_OK ? AMQPC_TRANSIENT : err.status, &err);
		return NULL;
	}
	amqpc_set_abort(client, if_abort_cb, NULL);
	st = amqpc_declare_topology(client, &err);
	if (st != AMQPC_OK)
	{
		result_from(r, st, &err);
		if_amqp_reset();
		return NULL;
	}
	return client;
}

IfResult
if_amqp_probe(void)
{
	IfResult	r = {0};

	(void) get_client(&r);
	return r;
}

/* ---------------------------------------------------------------------------
 * The sink: a batch of publishes, pipelined, each confirmed
 * ------------------------------------------------------------------------- */

/*
 * Builds every event of the batch, publishes them back to back and waits for
 * the broker's confirms: a message counts as delivered only once its own
 * confirm came (a nack, a timeout or a lost connection leave it to be tried
 * again). The breaker hears each outcome.
 */
static void
amqp_deliver(IfBatch *b)
{
	amqpc_message *msgs = MemoryContextAllocZero(b->cxt, sizeof(amqpc_message) * Max(b->n, 1));
	IfItem	  **who = MemoryContextAllocZero(b->cxt, sizeof(IfItem *) * Max(b->n, 1));
	char	  **bodies = MemoryContextAllocZero(b->cxt, sizeof(char *) * Max(b->n, 1));
	bool		s3 = if_s3_configured();
	IfResult	r = {0};
	amqpc_client *c;
	amqpc_error err;
	char		activity[100];
	int			m = 0;
	int			i;

	for (i = 0; i < b->n; i++)
	{
		IfItem	   *it = b->items[i];
		char	   *message_id = MemoryContextAllocZero(b->cxt, 160);
		char		why[256] = "";

		memset(&it->result, 0, sizeof(it->result));
		if (!it->ingestion_exists)
			continue;			/* purged meanwhile: nothing to announce (OK) */
		if (!if_sink_may_send(&if_sink_amqp) || b->should_abort())
		{
			it->skipped = true;	/* breaker opened meanwhile, or stopping: no try used */
			continue;
		}
		bodies[m] = if_event_body(it->event, it->ingestion_id, it->filename, (long long) it->size_bytes,
								  it->sha256_hex, s3 ? invoiceflow_s3_bucket : NULL,
								  s3 ? it->s3_key : NULL, it->created_at, it->attempt,
								  message_id, 160, why, sizeof(why));
		if (bodies[m] == NULL)
		{
			it->result.outcome = IF_PERMANENT;
			snprintf(it->result.error, sizeof(it->result.error), "cannot build the event: %s", why);
			continue;
		}
		msgs[m].routing_key = it->event;
		msgs[m].message_id = message_id;
		msgs[m].content_type = "application/json";
		msgs[m].traceparent = it->traceparent;
		msgs[m].body = bodies[m];
		msgs[m].len = strlen(bodies[m]);
		who[m++] = it;
	}
	if (m == 0)
		return;

	snprintf(activity, sizeof(activity), "AMQP publish %d events, %s ...", m, msgs[0].message_id);
	pgstat_report_activity(STATE_RUNNING, activity);
	c = get_client(&r);
	if (c != NULL)
	{
		memset(&err, 0, sizeof(err));
		(void) amqpc_publish_batch(c, NULL, msgs, m, &err);
	}
	for (i = 0; i < m; i++)
	{
		if (c == NULL)
			who[i]->result = r;	/* no connection: its verdict for each */
		else
		{
			amqpc_error e;

			memset(&e, 0, sizeof(e));
			snprintf(e.message, sizeof(e.message), "%s", msgs[i].error);
			result_from(&who[i]->result, msgs[i].status, &e);
		}
		if_sink_report(&if_sink_amqp, &who[i]->result);
		free(bodies[i]);		/* jansson's allocation: malloc */
	}
	/* a broken connection is reopened on the next call */
	if (c != NULL && !amqpc_usable(c))
		if_amqp_reset();
}

const IfSink if_sink_amqp = {
	.name = "rabbitmq",
	.title = "RabbitMQ",
	.dep = IF_DEP_RABBITMQ,
	.configured = if_amqp_configured,
	.probe = if_amqp_probe,
	.deliver = amqp_deliver,
	.reset = if_amqp_reset,
};
