/*
 * event_json.h: the RabbitMQ event messages (DESIGN.md § Events), built with
 * jansson. Free of PostgreSQL headers; shared by the extension (publisher)
 * and the processor (consumer).
 *
 * Body: {"event", "request_id", "filename", "size_bytes", "sha256",
 *        "s3_bucket", "s3_key", "created_at"}
 * (s3_bucket and s3_key are null while the file is kept in PostgreSQL only).
 * message_id: "<request_id>:<event>:<attempt>".
 * The routing key of a message is its event name.
 */
#ifndef INVOICEFLOW_EVENT_JSON_H
#define INVOICEFLOW_EVENT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define EV_EXCHANGE			"invoiceflow"
#define EV_PROCESS_QUEUE	"invoiceflow.process"
#define EV_UPLOADED			"invoice.uploaded"
#define EV_COMPLETED		"invoice.completed"
#define EV_FAILED			"invoice.failed"
#define EV_CORRECTED		"invoice.corrected"	/* a correction (issue 14) */

typedef struct ev_event
{
	const char *event;			/* EV_UPLOADED, EV_COMPLETED or EV_FAILED */
	const char *request_id;		/* uuid text */
	const char *filename;		/* UTF-8 */
	int64_t		size_bytes;
	const char *sha256;			/* hex */
	const char *s3_bucket;		/* NULL: null */
	const char *s3_key;			/* NULL: null */
	const char *created_at;		/* ISO 8601 UTC with Z */
} ev_event;

/* true for one of the three event names */
extern bool ev_event_name_valid(const char *event);

/*
 * The body as a new JSON object, or NULL (and a reason in errbuf, if given)
 * when a required field is missing, size_bytes < 0, the event is unknown or
 * a string is not valid UTF-8.
 */
extern json_t *ev_event_json(const ev_event *e, char *errbuf, size_t errlen);

/*
 * The body as compact JSON text with keys in the order above; malloc'd by
 * jansson's allocator (free() with the default one), NULL as for ev_event_json.
 */
extern char *ev_event_body(const ev_event *e, char *errbuf, size_t errlen);

/*
 * Writes "<request_id>:<event>:<attempt>" into buf. Returns its length, or -1
 * when it does not fit or an argument is bad (attempt < 0).
 */
extern int	ev_message_id(const char *request_id, const char *event, int attempt,
						  char *buf, size_t buflen);

/*
 * Parses a received body. On success returns the JSON object (the caller
 * json_decref()s it) and fills *e with pointers into it (valid while it
 * lives). NULL with a reason in errbuf on malformed JSON or a missing field.
 */
extern json_t *ev_event_parse(const char *body, size_t len, ev_event *e,
							  char *errbuf, size_t errlen);

#endif							/* INVOICEFLOW_EVENT_JSON_H */
