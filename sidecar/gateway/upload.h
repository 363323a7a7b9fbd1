/*
 * upload.h: a multipart/form-data upload, streamed through libmicrohttpd's post
 * processor into one buffer bounded by MAX_FILE_SIZE_MB, under a cap on
 * concurrent uploads (so memory stays below MAX_CONCURRENT_UPLOADS x
 * MAX_FILE_SIZE_MB) and a deadline for the whole upload.
 */
#ifndef GATEWAY_UPLOAD_H
#define GATEWAY_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "routes.h"

/* Room for the multipart envelope (boundaries, part headers, small fields). */
#define UPLOAD_ENVELOPE_BYTES (64 * 1024)

void		upload_init(int max_concurrent);

/*
 * Content-Type check: 0 when it is multipart/form-data with a usable boundary,
 * else a static message saying what is wrong.
 */
const char *upload_check_content_type(const char *content_type);

/* First call of an upload request: headers checks and a slot; false fills out. */
bool		upload_begin(struct request *req, struct reply *out);

/*
 * Body bytes; false when the connection must be closed (req->log_status says
 * why, and req->reply holds the answer to send first, if any).
 */
bool		upload_feed(struct request *req, const char *data, size_t len);

/*
 * Body complete: true with the file (data, len, filename) when it is there;
 * false fills out with a 400.
 */
bool		upload_finish(struct request *req, struct reply *out,
						  const char **data, size_t *len, const char **filename);

/*
 * One of the MAX_CONCURRENT_UPLOADS slots for a file-sized body that is not a
 * multipart upload (ROUTE_FILE_BODY: webhooks), waiting as an upload does;
 * false when none came free. Give it back with upload_slot_give().
 */
bool		upload_slot_take(void);
void		upload_slot_give(void);

/* Frees the buffer and gives the slot back; safe to call twice. */
void		upload_free(struct request *req);

#endif
