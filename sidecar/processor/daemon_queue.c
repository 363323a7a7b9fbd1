/* daemon_queue.c: the invoiceflow.process consumer (see daemon_queue.h). */
#include "daemon_queue.h"
#include "daemon_log.h"
#include "../../src/common/amqp_client.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct queue
{
	char	   *url;
	int			prefetch;
	amqpc_client *c;
	unsigned	generation;
	double		next_try;
	double		backoff;
	bool		was_connected;
};

queue *
queue_new(const char *url, int prefetch)
{
	queue	   *q = calloc(1, sizeof *q);

	if (!q)
		return NULL;
	q->url = strdup(url);
	q->prefetch = prefetch;
	q->backoff = 0.5;
	return q;
}

void
queue_free(queue *q)
{
	if (!q)
		return;
	amqpc_close(q->c);
	free(q->url);
	free(q);
}

static void
drop(queue *q, double now, const char *why)
{
	plog(LOG_WARNING, NULL, NULL, "RabbitMQ connection lost: %s", why);
	amqpc_close(q->c);
	q->c = NULL;
	q->next_try = now;
}

bool
queue_ensure(queue *q, double now)
{
	amqpc_config cfg = {0};
	amqpc_error e = {0};

	if (q->c)
		return true;
	if (now < q->next_try)
		return false;
	cfg.url = q->url;
	cfg.heartbeat_s = 30;
	q->c = amqpc_connect(&cfg, &e);
	if (q->c && amqpc_declare_topology(q->c, &e) == AMQPC_OK &&
		amqpc_consume(q->c, "invoiceflow.process", q->prefetch, &e) == AMQPC_OK)
	{
		q->generation++;
		q->backoff = 0.5;
		plog(LOG_INFO, NULL, json_pack("{s:s,s:i}", "endpoint", amqpc_endpoint(q->c), "prefetch", q->prefetch),
			 q->was_connected ? "reconnected to RabbitMQ, consuming invoiceflow.process"
			 : "connected to RabbitMQ, consuming invoiceflow.process");
		q->was_connected = true;
		return true;
	}
	plog(LOG_WARNING, NULL, json_pack("{s:f}", "retry_in_s", q->backoff),
		 "cannot consume from RabbitMQ (%s): %s", amqpc_status_name(e.status), e.message);
	amqpc_close(q->c);
	q->c = NULL;
	q->next_try = now + q->backoff;
	q->backoff = q->backoff * 2 > 30 ? 30 : q->backoff * 2;
	return false;
}

static bool
is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !isxdigit((unsigned char) s[i]))
			return false;
	return true;
}

static char *
dup_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? strdup(s) : NULL;
}

bool
queue_parse_body(const char *body, size_t len, queue_msg *m)
{
	json_error_t je;
	json_t	   *j = json_loadb(body, len, 0, &je);
	const char *event, *rid;

	m->valid = false;
	if (!j || !json_is_object(j))
	{
		snprintf(m->why, sizeof m->why, "body is not a JSON object");
		json_decref(j);
		return false;
	}
	event = json_string_value(json_object_get(j, "event"));
	rid = json_string_value(json_object_get(j, "request_id"));
	if (event && strcmp(event, "invoice.uploaded") != 0)
		snprintf(m->why, sizeof m->why, "event is not invoice.uploaded");
	else if (!rid || !is_uuid(rid))
		snprintf(m->why, sizeof m->why, "request_id is missing or not a UUID");
	else
	{
		snprintf(m->request_id, sizeof m->request_id, "%s", rid);
		for (char *p = m->request_id; *p; p++)
			*p = (char) tolower((unsigned char) *p);
		m->filename = dup_str(j, "filename");
		m->s3_key = dup_str(j, "s3_key");
		m->valid = true;
	}
	json_decref(j);
	return m->valid;
}

bool
queue_next(queue *q, long timeout_ms, queue_msg *m)
{
	amqpc_delivery *d = NULL;
	amqpc_error e = {0};

	memset(m, 0, sizeof *m);
	if (!q->c)
		return false;
	if (amqpc_next_delivery(q->c, timeout_ms, &d, &e) != AMQPC_OK)
	{
		drop(q, 0, e.message);
		return false;
	}
	if (!d)
		return false;
	m->tag = d->delivery_tag;
	m->generation = q->generation;
	m->redelivered = d->redelivered;
	m->message_id = d->message_id ? strdup(d->message_id) : NULL;
	if (d->traceparent && strlen(d->traceparent) < sizeof(m->traceparent))
		snprintf(m->traceparent, sizeof(m->traceparent), "%s", d->traceparent);
	queue_parse_body((const char *) d->body, d->body_len, m);
	amqpc_delivery_free(d);
	return true;
}

void
queue_ack(queue *q, const queue_msg *m)
{
	amqpc_error e = {0};

	if (!q->c || m->generation != q->generation)
		return;					/* the broker gave it back when that connection closed */
	if (amqpc_ack(q->c, m->tag, &e) != AMQPC_OK)
		drop(q, 0, e.message);
}

void
queue_requeue(queue *q, const queue_msg *m)
{
	amqpc_error e = {0};

	if (!q->c || m->generation != q->generation)
		return;
	if (amqpc_nack(q->c, m->tag, true, &e) != AMQPC_OK)
		drop(q, 0, e.message);
}

void
queue_msg_free(queue_msg *m)
{
	free(m->filename);
	free(m->s3_key);
	free(m->message_id);
	m->filename = m->s3_key = m->message_id = NULL;
}
