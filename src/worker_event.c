/*
 * worker_event.c: the event body and message id from the shared builder
 * (src/common/event_json.h). Kept apart from PostgreSQL headers: jansson's
 * json_object() clashes with PostgreSQL's fmgr prototypes.
 */
#include <stdio.h>
#include <string.h>

#include "deliver.h"
#include "event_json.h"

char *
if_event_body(const char *event, const char *request_id, const char *filename,
			  long long size_bytes, const char *sha256, const char *s3_bucket,
			  const char *s3_key, const char *created_at, int attempt,
			  char *message_id, size_t message_id_len, char *err, size_t errlen)
{
	ev_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.event = event;
	ev.request_id = request_id;
	ev.filename = filename;
	ev.size_bytes = size_bytes;
	ev.sha256 = sha256;
	ev.s3_bucket = s3_bucket;
	ev.s3_key = s3_key;
	ev.created_at = created_at;
	if (ev_message_id(request_id, event, attempt, message_id, message_id_len) < 0)
	{
		snprintf(err, errlen, "message id does not fit");
		return NULL;
	}
	return ev_event_body(&ev, err, errlen);
}
