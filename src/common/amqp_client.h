/*
 * amqp_client.h: a small RabbitMQ client (librabbitmq-c 0.11) for invoiceflow's
 * events: publisher confirms on the publishing side, manual acks on the
 * consuming side (DESIGN.md § Events).
 *
 * Free of PostgreSQL headers: linked into the extension's background worker
 * and into the processor. No global state; one amqpc_client per thread. It
 * uses one connection and channel 1. Every wait is bounded (connect, RPC,
 * confirm and consume timeouts) and sliced into 100 ms steps that ask the
 * abort callback.
 *
 * Reconnecting is the caller's job: after any AMQPC_TRANSIENT result check
 * amqpc_usable(); when false, amqpc_close() the client and amqpc_connect()
 * again (with a backoff).
 *
 *   AMQPC_TRANSIENT  retry later: connection refused/reset/closed, DNS,
 *                    timeouts (no confirm in time), broker shutting down
 *                    (320), a nack, resource errors (405, 506, 541)
 *   AMQPC_PERMANENT  retrying cannot help: access refused (403), not found
 *                    (404, e.g. a missing exchange or queue), precondition
 *                    failed (406, e.g. a queue declared with other
 *                    arguments), vhost not allowed (530), a bad URL
 *   AMQPC_ABORTED    the abort callback asked to stop
 * Credentials never appear in messages.
 */
#ifndef INVOICEFLOW_AMQP_CLIENT_H
#define INVOICEFLOW_AMQP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum amqpc_status
{
	AMQPC_OK = 0,
	AMQPC_TRANSIENT = 1,
	AMQPC_PERMANENT = 2,
	AMQPC_ABORTED = 3
} amqpc_status;

#define AMQPC_MESSAGE_MAX 512

typedef struct amqpc_error
{
	amqpc_status status;
	int			reply_code;		/* AMQP reply code from the broker (403, 404, 320...), or 0 */
	char		message[AMQPC_MESSAGE_MAX];
} amqpc_error;

/* "ok", "transient", "permanent", "aborted" */
extern const char *amqpc_status_name(amqpc_status s);

/* Non-zero return aborts the wait in progress (asked about every 100 ms). */
typedef int (*amqpc_abort_fn) (void *arg);

typedef struct amqpc_config
{
	const char *url;			/* amqp://user:pass@host:port/vhost (amqps:// for TLS);
								 * an empty vhost ("...:5672/") means "/" */
	long		connect_timeout_ms; /* TCP connect; 0: 5000 */
	long		rpc_timeout_ms; /* login and every synchronous method; 0: 10000 */
	long		confirm_timeout_ms; /* publish: wait for basic.ack; 0: 10000 */
	int			heartbeat_s;	/* 0: no heartbeats */
} amqpc_config;

typedef struct amqpc_client amqpc_client;

/*
 * Connects, logs in and opens channel 1. NULL on failure with *err filled:
 * a bad URL or refused login is AMQPC_PERMANENT, an unreachable broker
 * AMQPC_TRANSIENT.
 */
extern amqpc_client *amqpc_connect(const amqpc_config *cfg, amqpc_error *err);

/* Closes politely when the connection is still usable (bounded by the RPC
 * timeout), then frees everything. NULL is allowed. */
extern void amqpc_close(amqpc_client *c);

/*
 * false once the connection or channel failed or the broker closed it. For a
 * client that does not consume, it also reads what the broker sent meanwhile
 * without waiting (a connection.close on shutdown, an EOF, heartbeats).
 */
extern bool amqpc_usable(amqpc_client *c);

extern void amqpc_set_abort(amqpc_client *c, amqpc_abort_fn fn, void *arg);
/* 0 leaves a timeout unchanged */
extern void amqpc_set_confirm_timeout(amqpc_client *c, long confirm_timeout_ms);
/* "host:port vhost V" for logs */
extern const char *amqpc_endpoint(const amqpc_client *c);

/*
 * Declares invoiceflow's topology: topic exchange "invoiceflow" (durable),
 * durable queue "invoiceflow.process" bound to "invoice.uploaded".
 */
extern amqpc_status amqpc_declare_topology(amqpc_client *c, amqpc_error *err);

/* Removes every ready message of queue (tests); *purged may be NULL. */
extern amqpc_status amqpc_queue_purge(amqpc_client *c, const char *queue,
									  uint32_t *purged, amqpc_error *err);

/*
 * Publishes one persistent message (delivery_mode 2, content_type
 * (NULL: application/json), message_id, timestamp, app_id "invoiceflow") and
 * waits for the broker's confirm. Publisher confirms are switched on at the
 * first call. AMQPC_OK only on basic.ack; a nack or no confirm within the
 * confirm timeout is AMQPC_TRANSIENT (and, for a timeout, the connection is
 * no longer usable). exchange NULL means "invoiceflow".
 */
extern amqpc_status amqpc_publish(amqpc_client *c, const char *exchange,
								  const char *routing_key, const char *message_id,
								  const char *content_type,
								  const void *body, size_t len, amqpc_error *err);
/* the same with a "traceparent" application header (W3C trace context; NULL: none) */
extern amqpc_status amqpc_publish_traced(amqpc_client *c, const char *exchange,
										 const char *routing_key, const char *message_id,
										 const char *content_type, const char *traceparent,
										 const void *body, size_t len, amqpc_error *err);

/* ------------------------------------------------------------------ consumer */

/*
 * Publishes n persistent messages back to back, then waits for the broker's
 * confirms (one per message; "multiple" acks settle several): each message
 * gets its own status (AMQPC_OK only once confirmed; a nack, a timeout or a
 * lost connection leave it AMQPC_TRANSIENT) and error text. Returns AMQPC_OK
 * when the batch was sent and every confirm came (acks and nacks alike).
 */
typedef struct amqpc_message
{
	const char *routing_key;
	const char *message_id;
	const char *content_type;	/* NULL: application/json */
	const char *traceparent;	/* NULL: no header */
	const void *body;
	size_t		len;
	/* outcome */
	amqpc_status status;
	uint64_t	seq;			/* its delivery tag */
	bool		settled;		/* confirmed, refused or failed */
	char		error[512];
} amqpc_message;

extern amqpc_status amqpc_publish_batch(amqpc_client *c, const char *exchange, amqpc_message *msgs,
										int n, amqpc_error *err);

typedef struct amqpc_delivery
{
	uint64_t	delivery_tag;
	bool		redelivered;
	char	   *exchange;
	char	   *routing_key;
	char	   *message_id;		/* NULL when the message has none */
	char	   *content_type;	/* NULL when the message has none */
	char	   *traceparent;	/* the "traceparent" header, NULL when absent */
	uint8_t		delivery_mode;	/* 2 = persistent; 0 when absent */
	unsigned char *body;		/* NUL-terminated beyond body_len */
	size_t		body_len;
} amqpc_delivery;

/* basic.qos prefetch (>= 1), then basic.consume with manual acks. */
extern amqpc_status amqpc_consume(amqpc_client *c, const char *queue, int prefetch,
								  amqpc_error *err);

/*
 * Waits up to timeout_ms for the next delivery. AMQPC_OK with *d set (free
 * with amqpc_delivery_free), or AMQPC_OK with *d NULL when none came in time.
 */
extern amqpc_status amqpc_next_delivery(amqpc_client *c, long timeout_ms,
										amqpc_delivery **d, amqpc_error *err);
extern void amqpc_delivery_free(amqpc_delivery *d);

extern amqpc_status amqpc_ack(amqpc_client *c, uint64_t delivery_tag, amqpc_error *err);
extern amqpc_status amqpc_nack(amqpc_client *c, uint64_t delivery_tag, bool requeue,
							   amqpc_error *err);

#endif							/* INVOICEFLOW_AMQP_CLIENT_H */
