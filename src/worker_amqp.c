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
if_amqp_publish(const char *routing_key, const char *message_id, const char *body, size_t len,
				const char *traceparent)
{
	IfResult	r = {0};
	amqpc_error err;
	amqpc_status st;
	amqpc_client *c = get_client(&r);

	if (c == NULL)
		return r;
	memset(&err, 0, sizeof(err));
	st = amqpc_publish_traced(c, NULL, routing_key, message_id, "application/json", traceparent,
							  body, len, &err);
	result_from(&r, st, &err);
	/* a broken connection is reopened on the next call */
	if (st != AMQPC_OK && !amqpc_usable(c))
		if_amqp_reset();
	return r;
}

IfResult
if_amqp_probe(void)
{
	IfResult	r = {0};

	(void) get_client(&r);
	return r;
}

/* ---------------------------------------------------------------------------
 * The sink: a batch of confirmed publishes
 * ------------------------------------------------------------------------- */

static void
publish_one(IfItem *it)
{
	char		activity[200];
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
	free(body);					/* jansson's allocation: malloc */
}

static void
amqp_deliver(IfBatch *b)
{
	int			i;

	for (i = 0; i < b->n; i++)
	{
		IfItem	   *it = b->items[i];

		memset(&it->result, 0, sizeof(it->result));
		if (!it->ingestion_exists)
			continue;			/* purged meanwhile: nothing to announce (OK) */
		if (!if_sink_may_send(&if_sink_amqp) || b->should_abort())
		{
			it->skipped = true;	/* breaker opened meanwhile, or stopping: no try used */
			continue;
		}
		publish_one(it);
		if_sink_report(&if_sink_amqp, &it->result);
	}
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
