/*
 * worker_amqp.c: the delivery worker's RabbitMQ side, over the shared client
 * (src/common/amqp_client.h): one connection per worker process, opened on
 * first use with the topology of DESIGN.md § Events declared, reopened after
 * the broker dropped it; persistent messages with publisher confirms; an abort
 * callback so that SIGTERM ends any wait within ~100 ms.
 */
#include "invoiceflow.h"
#include "deliver.h"

#include "amqp_client.h"

static amqpc_client *client = NULL;

bool
if_amqp_configured(void)
{
	return invoiceflow_rabbitmq_url != NULL && invoiceflow_rabbitmq_url[0] != '\0';
}

void
if_amqp_reset(void)
{
	if (client != NULL)
		amqpc_close(client);
	client = NULL;
}

static int
abort_cb(void *arg)
{
	return if_should_abort() ? 1 : 0;
}

static void
result_from(IfResult *r, amqpc_status st, const amqpc_error *err)
{
	memset(r, 0, sizeof(*r));
	switch (st)
	{
		case AMQPC_OK:
			r->outcome = IF_OK;
			return;
		case AMQPC_PERMANENT:
			r->outcome = IF_PERMANENT;
			break;
		case AMQPC_TRANSIENT:
		case AMQPC_ABORTED:
			r->outcome = IF_TRANSIENT;
			break;
	}
	if (st == AMQPC_ABORTED)
		snprintf(r->error, sizeof(r->error), "aborted: the worker is stopping");
	else if (err->message[0] == '\0')
		snprintf(r->error, sizeof(r->error), "AMQP reply code %d", err->reply_code);
	else		/* the client's message carries the reply code and text */
		snprintf(r->error, sizeof(r->error), "%s", err->message);
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
	amqpc_set_abort(client, abort_cb, NULL);
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
