/*
 * upload.c: multipart/form-data uploads, streamed through libmicrohttpd's post
 * processor.
 *
 * Limits, in the order they apply:
 *  1. Content-Type must be multipart/form-data with a boundary (400 otherwise).
 *  2. A Content-Length above MAX_FILE_SIZE_MB plus UPLOAD_ENVELOPE_BYTES is
 *     refused with 400 before any of the body is read.
 *  3. One client address holds at most GATEWAY_MAX_UPLOADS_PER_IP uploads
 *     (429 with Retry-After past it), so one client cannot take every slot;
 *     then a slot under MAX_CONCURRENT_UPLOADS is taken (waiting up to
 *     SLOT_WAIT_MS, then 503 with Retry-After), so at most that many buffers
 *     exist at once.
 *  4. The file part's own bytes are counted: exactly MAX_FILE_SIZE_MB passes;
 *     past it the buffer is freed and the rest of the part is only counted (the
 *     Content-Length check bounds that to the envelope allowance; a chunked body
 *     that runs past the allowance gets its connection closed).
 *  5. UPLOAD_TIMEOUT_SECONDS bounds the whole upload from its headers on, and
 *     after GATEWAY_UPLOAD_RATE_GRACE_SECONDS the body must have come at
 *     GATEWAY_UPLOAD_MIN_BYTES_PER_SECOND on average: a body too slow is ended
 *     with 408 (server.c writes that answer in the middle of the body and
 *     closes the connection, lingering), and its slot is free at once. An idle
 *     one is closed by the connection timeout (UPLOAD_TIMEOUT_SECONDS).
 * libmicrohttpd only lets us queue an answer before the body or after all of
 * it, hence "count and discard, answer at the end" for a file over the limit.
 */
#include "upload.h"
#include "config.h"
#include "conn_guard.h"
#include "../../src/common/sidecar_log.h"
#include "metrics.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SLOT_WAIT_MS 5000
#define PP_BUFFER 65536

struct upload
{
	struct MHD_PostProcessor *pp;
	char	   *buf;
	size_t		len;
	size_t		cap;
	uint64_t	file_bytes;		/* bytes of the file part, kept or not */
	uint64_t	field_bytes;	/* bytes of other fields (ignored) */
	int			file_parts;
	bool		too_large;
	bool		no_filename;
	bool		pp_failed;
	bool		have_slot;
	bool		have_ip_share;
	char		client[64];		/* address whose share it counts against */
	bool		name_too_long;	/* the client's file name did not fit filename[] */
	double		deadline;
	char		filename[1024];	/* ingest() refuses names over 255 bytes with its own message */
};

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_freed;
static int	slots_free;

/* uploads in progress per client address (at most max_uploads addresses) */
struct ip_count
{
	char		client[64];
	int			n;
};
static struct ip_count *ip_counts;
static int	n_ip_counts;

void
upload_init(int max_concurrent)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&slot_freed, &attr);
	pthread_condattr_destroy(&attr);
	slots_free = max_concurrent;
	ip_counts = calloc((size_t) max_concurrent, sizeof(*ip_counts));
}

enum share
{
	SHARE_OK,
	SHARE_OVER,					/* this address has its share */
	SHARE_FULL,					/* max_uploads addresses are uploading already */
};

/* one more upload from client, unless it has its share */
static enum share
ip_share_take(const char *client)
{
	enum share	r = SHARE_FULL;
	int			i;

	pthread_mutex_lock(&slot_lock);
	for (i = 0; i < n_ip_counts; i++)
		if (strcmp(ip_counts[i].client, client) == 0)
			break;
	if (i < n_ip_counts)
	{
		r = SHARE_OVER;
		if (ip_counts[i].n < cfg.max_uploads_per_ip)
		{
			ip_counts[i].n++;
			r = SHARE_OK;
		}
	}
	else if (ip_counts && n_ip_counts < cfg.max_uploads)
	{
		snprintf(ip_counts[n_ip_counts].client, sizeof(ip_counts[0].client), "%s", client);
		ip_counts[n_ip_counts++].n = 1;
		r = SHARE_OK;
	}
	pthread_mutex_unlock(&slot_lock);
	return r;
}

static void
ip_share_give(const char *client)
{
	pthread_mutex_lock(&slot_lock);
	for (int i = 0; i < n_ip_counts; i++)
		if (strcmp(ip_counts[i].client, client) == 0)
		{
			if (--ip_counts[i].n == 0)
				ip_counts[i] = ip_counts[--n_ip_counts];
			break;
		}
	pthread_mutex_unlock(&slot_lock);
}

static double
now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool
slot_take(int wait_ms)
{
	struct timespec deadline;
	bool		got = false;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += wait_ms / 1000;
	deadline.tv_nsec += (long) (wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L)
	{
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&slot_lock);
	while (slots_free <= 0)
		if (pthread_cond_timedwait(&slot_freed, &slot_lock, &deadline) == ETIMEDOUT)
			break;
	if (slots_free > 0)
	{
		slots_free--;
		got = true;
	}
	pthread_mutex_unlock(&slot_lock);
	return got;
}

static void
slot_give(void)
{
	pthread_mutex_lock(&slot_lock);
	slots_free++;
	pthread_cond_signal(&slot_freed);
	pthread_mutex_unlock(&slot_lock);
}

/* A slot for another file-sized body (a webhook's): the same bound as uploads. */
bool
upload_slot_take(void)
{
	return slot_take(SLOT_WAIT_MS < cfg.upload_timeout * 1000 ? SLOT_WAIT_MS : cfg.upload_timeout * 1000);
}

void
upload_slot_give(void)
{
	slot_give();
}

const char *
upload_check_content_type(const char *ct)
{
	static const char mp[] = "multipart/form-data";
	const char *b;
	size_t		n = 0;

	if (!ct || !ct[0])
		return "request must be multipart/form-data with the PDF in the field \"file\" (no Content-Type given)";
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, mp, sizeof(mp) - 1) != 0 ||
		(ct[sizeof(mp) - 1] != ';' && ct[sizeof(mp) - 1] != ' ' && ct[sizeof(mp) - 1] != '\0'))
		return "request must be multipart/form-data with the PDF in the field \"file\"";
	/* libmicrohttpd takes everything after the first "boundary=" as the boundary */
	b = strstr(ct + sizeof(mp) - 1, "boundary=");
	if (!b)
		return "multipart/form-data Content-Type has no boundary";
	b += 9;
	while (b[n] && b[n] != ';' && b[n] != ' ' && b[n] != '"')
		n++;
	if (n == 0 || b[n] != '\0')
		return "multipart/form-data boundary must be 1 to 70 plain characters, unquoted, as the last parameter";
	/* RFC 2046: at most 70 characters from a restricted set */
	if (n > 70)
		return "multipart/form-data boundary must be 1 to 70 plain characters, unquoted, as the last parameter";
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char) b[i]) || strchr("'()+_,-./:=?", b[i])))
			return "multipart/form-data boundary must be 1 to 70 plain characters, unquoted, as the last parameter";
	return NULL;
}

/* the file's own name, without any directory a client put before it */
static const char *
base_name(const char *filename)
{
	const char *base = filename;

	for (const char *p = filename; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	return base;
}

/* is filename (as the client sent it) the one kept in u? */
static bool
same_filename(const struct upload *u, const char *filename)
{
	if (!filename)
		return u->no_filename;
	return !u->no_filename &&
		strncmp(u->filename, base_name(filename), sizeof(u->filename) - 1) == 0;
}

static void
keep_filename(struct upload *u, const char *filename)
{
	const char *base = base_name(filename);

	if (strlen(base) >= sizeof(u->filename))
		u->name_too_long = true;
	snprintf(u->filename, sizeof(u->filename), "%s", base);
}

static enum MHD_Result
on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
		const char *content_type, const char *transfer_encoding, const char *data,
		uint64_t off, size_t size)
{
	struct request *req = cls;
	struct upload *u = req->upload;

	(void) kind;
	(void) content_type;
	(void) transfer_encoding;
	if (!key || strcmp(key, "file") != 0)
	{
		u->field_bytes += size;
		return MHD_YES;
	}
	/*
	 * A new "file" part starts at offset 0. libmicrohttpd may call once with no
	 * data before the first bytes of a part, so offset 0 after an empty call of
	 * the same name is still the same part.
	 */
	if (off == 0 && (u->file_parts == 0 || u->file_bytes > 0 || !same_filename(u, filename)))
	{
		u->file_parts++;
		if (u->file_parts == 1)
		{
			if (filename)
				keep_filename(u, filename);
			else
				u->no_filename = true;
			utf8_sanitize(u->filename, req->filename, sizeof(req->filename));
		}
	}
	if (u->file_parts > 1)
		return MHD_YES;			/* refused at the end; nothing kept */

	u->file_bytes += size;
	metrics_add_upload_bytes(size);
	if (u->too_large || size == 0)
		return MHD_YES;
	if (u->file_bytes > cfg.max_file_bytes)
	{
		u->too_large = true;
		free(u->buf);
		u->buf = NULL;
		u->len = u->cap = 0;
		return MHD_YES;
	}
	if (u->len + size > u->cap)
	{
		size_t		cap = u->cap ? u->cap : 64 * 1024;
		char	   *nb;

		while (cap < u->len + size)
			cap *= 2;
		if (cap > cfg.max_file_bytes)
			cap = cfg.max_file_bytes;
		if (!(nb = realloc(u->buf, cap)))
			return MHD_NO;
		u->buf = nb;
		u->cap = cap;
	}
	memcpy(u->buf + u->len, data, size);
	u->len += size;
	return MHD_YES;
}

bool
upload_begin(struct request *req, struct reply *out)
{
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *why;
	struct upload *u;
	unsigned long long length = 0;
	const char *client;
	enum share	share;

	if ((why = upload_check_content_type(ct)))
	{
		reply_problem(out, 400, req->request_id, "%s", why);
		return false;
	}
	if (cl)
	{
		char	   *end;

		errno = 0;
		length = strtoull(cl, &end, 10);
		if (errno || end == cl || *end)
			length = ULLONG_MAX;
		if (length > cfg.max_file_bytes + UPLOAD_ENVELOPE_BYTES)
		{
			reply_problem(out, 400, req->request_id,
						  "file is too large: the request has %s bytes; the limit is %d MB (%zu bytes) per file",
						  cl, cfg.max_file_size_mb, cfg.max_file_bytes);
			snprintf(req->note, sizeof(req->note), "Content-Length %.40s over the limit", cl);
			return false;
		}
	}
	client = conn_guard_client(req->conn);
	share = ip_share_take(client);
	if (share == SHARE_FULL)
	{
		metrics_upload_refused();
		reply_problem(out, 503, req->request_id,
					  "too many uploads in progress (%d); retry shortly", cfg.max_uploads);
		out->retry_after = 1;
		snprintf(req->note, sizeof(req->note), "MAX_CONCURRENT_UPLOADS addresses uploading");
		return false;
	}
	if (share == SHARE_OVER)
	{
		metrics_upload_refused();
		reply_problem(out, 429, req->request_id,
					  "too many uploads in progress from your address (at most %d at once); retry shortly",
					  cfg.max_uploads_per_ip);
		out->retry_after = 1;
		snprintf(req->note, sizeof(req->note), "GATEWAY_MAX_UPLOADS_PER_IP reached for %s", client);
		return false;
	}
	if (!slot_take(SLOT_WAIT_MS < cfg.upload_timeout * 1000 ? SLOT_WAIT_MS : cfg.upload_timeout * 1000))
	{
		ip_share_give(client);
		metrics_upload_refused();
		reply_problem(out, 503, req->request_id,
					  "too many uploads in progress (%d); retry shortly", cfg.max_uploads);
		out->retry_after = 1;
		snprintf(req->note, sizeof(req->note), "MAX_CONCURRENT_UPLOADS reached");
		return false;
	}
	if (!(u = calloc(1, sizeof(*u))))
	{
		ip_share_give(client);
		slot_give();
		reply_problem(out, 500, req->request_id, "out of memory");
		return false;
	}
	u->have_slot = true;
	u->have_ip_share = true;
	snprintf(u->client, sizeof(u->client), "%s", client);
	metrics_uploads_add(1);
	req->upload = u;
	u->deadline = req->started + cfg.upload_timeout;
	if (!(u->pp = MHD_create_post_processor(req->conn, PP_BUFFER, on_part, req)))
	{
		reply_problem(out, 400, req->request_id, "malformed multipart/form-data Content-Type");
		upload_free(req);
		return false;
	}
	/* one allocation when the size is announced (bounded by the limit) */
	if (length > 0)
	{
		size_t		want = length < cfg.max_file_bytes ? (size_t) length : cfg.max_file_bytes;

		if ((u->buf = malloc(want)))
			u->cap = want;
	}
	return true;
}

bool
upload_feed(struct request *req, const char *data, size_t len)
{
	struct upload *u = req->upload;
	double		now;
	double		elapsed;

	req->body_bytes += len;
	if (!u)
		return true;
	now = now_monotonic();
	if (now > u->deadline)
	{
		req->log_status = 408;
		reply_problem(&req->reply, 408, req->request_id,
					  "upload not complete after %d seconds; send the file faster or in a smaller request",
					  cfg.upload_timeout);
		snprintf(req->note, sizeof(req->note), "upload not complete after UPLOAD_TIMEOUT_SECONDS=%d; connection closed",
				 cfg.upload_timeout);
		return false;
	}
	elapsed = now - req->started;
	if (cfg.upload_min_rate > 0 && elapsed > cfg.upload_rate_grace &&
		(double) req->body_bytes < cfg.upload_min_rate * elapsed)
	{
		req->log_status = 408;
		reply_problem(&req->reply, 408, req->request_id,
					  "upload too slow: %llu bytes in %.0f seconds; at least %d bytes per second are needed",
					  (unsigned long long) req->body_bytes, elapsed, cfg.upload_min_rate);
		snprintf(req->note, sizeof(req->note), "upload under GATEWAY_UPLOAD_MIN_BYTES_PER_SECOND=%d; connection closed",
				 cfg.upload_min_rate);
		return false;
	}
	if (req->body_bytes > cfg.max_file_bytes + UPLOAD_ENVELOPE_BYTES)
	{
		/* only a chunked body gets here: Content-Length was checked */
		req->log_status = 400;
		reply_problem(&req->reply, 400, req->request_id,
					  "file is too large: the body has more than %zu bytes; the limit is %d MB (%zu bytes) per file",
					  cfg.max_file_bytes + UPLOAD_ENVELOPE_BYTES, cfg.max_file_size_mb, cfg.max_file_bytes);
		snprintf(req->note, sizeof(req->note), "body over the size limit; connection closed");
		return false;
	}
	/*
	 * Parts other than "file" are counted and dropped, never buffered: the
	 * body bound above is all they need (a stray PDF in a field of another
	 * name must still get its 400 "no file field" at the end).
	 */
	if (!u->pp_failed && MHD_post_process(u->pp, data, len) != MHD_YES)
		u->pp_failed = true;
	return true;
}

bool
upload_finish(struct request *req, struct reply *out, const char **data, size_t *len,
			  const char **filename)
{
	struct upload *u = req->upload;
	bool		clean;

	if (!u)
	{
		reply_problem(out, 500, req->request_id, "upload state missing");
		return false;
	}
	clean = MHD_destroy_post_processor(u->pp) == MHD_YES && !u->pp_failed;
	u->pp = NULL;
	if (u->file_parts > 1)
		reply_problem(out, 400, req->request_id,
					  "send exactly one file in the field \"file\"; this request has %d", u->file_parts);
	else if (u->too_large)
		reply_problem(out, 400, req->request_id,
					  "file is too large: the file has more than %zu bytes; the limit is %d MB (%zu bytes)",
					  cfg.max_file_bytes, cfg.max_file_size_mb, cfg.max_file_bytes);
	else if (!clean)
		reply_problem(out, 400, req->request_id, "malformed multipart/form-data body");
	else if (u->file_parts == 0)
		reply_problem(out, 400, req->request_id,
					  "no file field: send the PDF in the multipart field \"file\"");
	else if (u->no_filename)
		reply_problem(out, 400, req->request_id,
					  "the field \"file\" must be a file (with a filename in its Content-Disposition)");
	else if (u->name_too_long)
		reply_problem(out, 400, req->request_id,
					  "filename is too long: at most 255 bytes");
	else
	{
		*data = u->buf ? u->buf : "";
		*len = u->len;
		*filename = u->filename;
		return true;
	}
	return false;
}

void
upload_free(struct request *req)
{
	struct upload *u = req->upload;

	if (!u)
		return;
	if (u->pp)
		MHD_destroy_post_processor(u->pp);
	free(u->buf);
	if (u->have_slot)
	{
		slot_give();
		metrics_uploads_add(-1);
	}
	if (u->have_ip_share)
		ip_share_give(u->client);
	free(u);
	req->upload = NULL;
}
