/*
 * daemon_queue.h: RabbitMQ mode. Consumes queue invoiceflow.process with manual
 * acks and prefetch = concurrency through the shared client (src/common/
 * amqp_client.h), reconnecting with a capped backoff after a broker restart,
 * and turns each message into a request id (DESIGN.md § Events).
 */
#ifndef IF_DAEMON_QUEUE_H
#define IF_DAEMON_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct queue queue;

typedef struct queue_msg
{
	uint64_t	tag;
	unsigned	generation;		/* the connection it came on: tags die with it */
	bool		valid;			/* false: malformed (why says so) */
	char		request_id[37];
	char	   *filename;		/* malloc'd, may be NULL */
	char	   *s3_key;			/* malloc'd, may be NULL */
	char	   *message_id;		/* malloc'd, may be NULL */
	char		traceparent[56];	/* the "traceparent" header, "" when absent */
	bool		redelivered;
	char		why[160];
} queue_msg;

queue	   *queue_new(const char *url, int prefetch);
void		queue_free(queue *q);	/* closes the connection (unacked messages go back) */
/* Connects when needed and the backoff allows; true when consuming. */
bool		queue_ensure(queue *q, double now);
/* One delivery if one is there (waits at most timeout_ms); true with *m filled. */
bool		queue_next(queue *q, long timeout_ms, queue_msg *m);
/* Ack / nack-with-requeue; ignored when the message came on an older connection. */
void		queue_ack(queue *q, const queue_msg *m);
void		queue_requeue(queue *q, const queue_msg *m);
void		queue_msg_free(queue_msg *m);

/* Parses a message body; exposed for the unit tests. */
bool		queue_parse_body(const char *body, size_t len, queue_msg *m);

#endif
