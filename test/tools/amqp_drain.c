/*
 * amqp_drain URL QUEUE [IDLE_MS]: consumes (and acks) every message of QUEUE
 * until none arrives for IDLE_MS (default 1000), printing each as one JSON line:
 *   {"routing_key", "message_id", "traceparent" (when the message has one),
 *    "delivery_mode", "content_type", "redelivered",
 *    "recv_us" (arrival, microseconds since the epoch), "body"}
 * For the delivery tests (t/1NN_*.pl) and the benchmark. Exit 0, or 1 with a
 * message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include <jansson.h>

#include "amqp_client.h"

int
main(int argc, char **argv)
{
	amqpc_config cfg = {0};
	amqpc_error err = {0};
	amqpc_client *c;
	long		idle = argc > 3 ? atol(argv[3]) : 1000;

	if (argc < 3)
	{
		fprintf(stderr, "usage: amqp_drain URL QUEUE [IDLE_MS]\n");
		return 2;
	}
	cfg.url = argv[1];
	c = amqpc_connect(&cfg, &err);
	if (c == NULL)
	{
		fprintf(stderr, "amqp_drain: %s\n", err.message);
		return 1;
	}
	if (amqpc_declare_topology(c, &err) != AMQPC_OK ||
		amqpc_consume(c, argv[2], 500, &err) != AMQPC_OK)
	{
		fprintf(stderr, "amqp_drain: %s\n", err.message);
		amqpc_close(c);
		return 1;
	}
	for (;;)
	{
		amqpc_delivery *d = NULL;
		json_t	   *o;
		char	   *line;
		struct timeval tv;

		if (amqpc_next_delivery(c, idle, &d, &err) != AMQPC_OK)
		{
			fprintf(stderr, "amqp_drain: %s\n", err.message);
			amqpc_close(c);
			return 1;
		}
		if (d == NULL)
			break;
		gettimeofday(&tv, NULL);
		o = json_pack("{s:s, s:s?, s:s?, s:i, s:s?, s:b, s:I, s:s%}",
					  "routing_key", d->routing_key, "message_id", d->message_id,
					  "traceparent", d->traceparent,
					  "delivery_mode", (int) d->delivery_mode, "content_type", d->content_type,
					  "redelivered", d->redelivered,
					  "recv_us", (json_int_t) tv.tv_sec * 1000000 + tv.tv_usec, "body", (const char *) d->body, d->body_len);
		line = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (line)
			printf("%s\n", line);
		free(line);
		json_decref(o);
		if (amqpc_ack(c, d->delivery_tag, &err) != AMQPC_OK)
		{
			fprintf(stderr, "amqp_drain: %s\n", err.message);
			amqpc_delivery_free(d);
			amqpc_close(c);
			return 1;
		}
		amqpc_delivery_free(d);
	}
	amqpc_close(c);
	return 0;
}
