/*
 * handlers_webhook.c: webhooks in and out (issue 13).
 *
 *   POST   /api/v1/ingest/webhook/{sender}           no API key: Standard Webhooks signature
 *   GET    /api/v1/subscriptions                      invoiceflow.subscriptions()
 *   POST   /api/v1/subscriptions                      invoiceflow.create_subscription(url, events)
 *   DELETE /api/v1/subscriptions/{id}                 invoiceflow.delete_subscription(id)
 *   GET    /api/v1/subscriptions/{id}/deliveries      invoiceflow.subscription_deliveries(id, limit)
 *
 * An inbound request is checked in this order, and nothing is written until
 * the signature holds: the body's size (413), the three webhook-* headers and
 * the timestamp (within 5 minutes of ours), the sender's secrets
 * (_webhook_sender_secrets(): none for an unknown or revoked sender), the
 * signature over the exact body bytes (webhook_sign.c, constant time), the
 * sender's rate (429 + Retry-After), then the body (application/pdf,
 * multipart/form-data field "file", or JSON with content_base64) and one call
 * of _webhook_ingest(), which answers a repeated webhook-id with the first
 * response. Every refusal of the signature is one 401 problem.
 *
 * The per-sender rate limiter is this file's only state: a token bucket per
 * sender name (WEBHOOK_RATE_PER_MINUTE, default 600, burst the same), in
 * this gateway's memory behind a mutex.
 */
#include "handlers.h"
#include "config.h"
#include "db_pool.h"
#include "../../src/common/sidecar_log.h"
#include "../../src/common/webhook_sign.h"

#include <ctype.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TIMESTAMP_TOLERANCE 300	/* seconds, as the specification suggests */
#define METADATA_MAX 16384
#define RATE_SLOTS 256

static void
reply_db_error(struct request *req, struct reply *out, const struct db_error *err)
{
	reply_problem(out, err->http_status, req->request_id, "%s", err->message);
	if (err->http_status == 503)
		out->retry_after = 1;
}

/* ---------------------------------------------------------------------------
 * Rate limit per sender
 * ------------------------------------------------------------------------- */

static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct
{
	char		sender[65];
	double		tokens;
	double		at;
}			rate_slots[RATE_SLOTS];

static double
rate_per_minute(void)
{
	const char *v = getenv("WEBHOOK_RATE_PER_MINUTE");
	double		r = v ? atof(v) : 600.0;

	return r > 0 ? r : 600.0;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 0 when the request may go on, else the seconds to wait */
static int
rate_take(const char *sender)
{
	double		rate = rate_per_minute() / 60.0;
	double		burst = rate_per_minute();
	double		now = now_seconds();
	unsigned	h = 5381;
	int			wait = 0;
	int			i;

	for (const char *p = sender; *p; p++)
		h = h * 33 + (unsigned char) *p;
	i = (int) (h % RATE_SLOTS);
	pthread_mutex_lock(&rate_lock);
	if (strcmp(rate_slots[i].sender, sender) != 0)
	{
		/* a new sender (or another that hashed here): a full bucket */
		snprintf(rate_slots[i].sender, sizeof(rate_slots[i].sender), "%s", sender);
		rate_slots[i].tokens = burst;
		rate_slots[i].at = now;
	}
	rate_slots[i].tokens += (now - rate_slots[i].at) * rate;
	if (rate_slots[i].tokens > burst)
		rate_slots[i].tokens = burst;
	rate_slots[i].at = now;
	if (rate_slots[i].tokens >= 1.0)
		rate_slots[i].tokens -= 1.0;
	else
		wait = 1 + (int) ((1.0 - rate_slots[i].tokens) / rate);
	pthread_mutex_unlock(&rate_lock);
	return wait;
}

/* ---------------------------------------------------------------------------
 * Bodies
 * ------------------------------------------------------------------------- */

struct file_in
{
	char	   *data;			/* malloc'd, unless borrowed */
	bool		borrowed;		/* data is the request's own body (application/pdf) */
	size_t		len;
	size_t		cap;
	bool		too_large;
	char		filename[256];
	char	   *metadata;		/* JSON text, malloc'd, or NULL */
	size_t		metadata_len;
	bool		seen_file;
};

static bool
buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
	if (*len + n + 1 > *cap)
	{
		size_t		c = *cap ? *cap : 64 * 1024;
		char	   *g;

		while (c < *len + n + 1)
			c *= 2;
		if (!(g = realloc(*buf, c)))
			return false;
		*buf = g;
		*cap = c;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

static enum MHD_Result
multipart_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
				const char *content_type, const char *transfer_encoding, const char *data,
				uint64_t off, size_t size)
{
	struct file_in *f = cls;

	if (key && strcmp(key, "file") == 0)
	{
		f->seen_file = true;
		if (filename && !f->filename[0])
			snprintf(f->filename, sizeof(f->filename), "%s", filename);
		if (f->len + size > cfg.max_file_bytes)
		{
			f->too_large = true;
			return MHD_NO;
		}
		if (size && !buf_append(&f->data, &f->len, &f->cap, data, size))
		{
			f->too_large = true;
			return MHD_NO;
		}
	}
	else if (key && strcmp(key, "metadata") == 0 && size)
	{
		size_t		cap = f->metadata ? f->metadata_len + 1 : 0;

		if (f->metadata_len + size > METADATA_MAX ||
			!buf_append(&f->metadata, &f->metadata_len, &cap, data, size))
		{
			f->too_large = true;
			return MHD_NO;
		}
	}
	return MHD_YES;
}

/* filename="..." or filename=token of a Content-Disposition header */
static void
disposition_filename(const char *h, char *out, size_t outsz)
{
	const char *p;
	size_t		n = 0;

	out[0] = '\0';
	if (!h || !(p = strcasestr(h, "filename=")))
		return;
	p += strlen("filename=");
	if (*p == '"')
	{
		p++;
		while (p[n] && p[n] != '"')
			n++;
	}
	else
		n = strcspn(p, "; \t");
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* base64 (whitespace ignored) -> malloc'd bytes; NULL when it is not base64 */
static unsigned char *
base64_decode(const char *in, size_t inlen, size_t *outlen)
{
	char	   *clean = malloc(inlen + 1);
	size_t		n = 0;
	unsigned char *out;
	int			got;

	if (!clean)
		return NULL;
	for (size_t i = 0; i < inlen; i++)
		if (!isspace((unsigned char) in[i]))
			clean[n++] = in[i];
	if (n == 0 || n % 4 != 0 || !(out = malloc(n / 4 * 3 + 1)))
	{
		free(clean);
		return NULL;
	}
	got = EVP_DecodeBlock(out, (unsigned char *) clean, (int) n);
	if (got >= 0)
		got -= (clean[n - 1] == '=') + (clean[n - 2] == '=');
	free(clean);
	if (got <= 0)
	{
		free(out);
		return NULL;
	}
	*outlen = (size_t) got;
	return out;
}

/* the file (and metadata) of the body by its content type; false fills out */
static bool
read_body(struct request *req, struct reply *out, struct file_in *f)
{
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

	if (ct && strncasecmp(ct, "application/pdf", 15) == 0)
	{
		disposition_filename(MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
														 MHD_HTTP_HEADER_CONTENT_DISPOSITION),
							 f->filename, sizeof(f->filename));
		if (!f->filename[0])
		{
			const char *x = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Filename");

			snprintf(f->filename, sizeof(f->filename), "%s", x ? x : "");
		}
		if (req->body_len > cfg.max_file_bytes)
		{
			f->too_large = true;
			return false;
		}
		f->data = req->body;	/* the body is the file: no second copy */
		f->borrowed = true;
		f->len = req->body_len;
		return true;
	}
	if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0)
	{
		struct MHD_PostProcessor *pp = MHD_create_post_processor(req->conn, 64 * 1024, multipart_field, f);

		if (!pp)
		{
			reply_problem(out, 400, req->request_id, "multipart/form-data needs a boundary");
			return false;
		}
		if (MHD_post_process(pp, req->body ? req->body : "", req->body_len) != MHD_YES && !f->too_large)
		{
			MHD_destroy_post_processor(pp);
			reply_problem(out, 400, req->request_id, "the multipart body is malformed");
			return false;
		}
		MHD_destroy_post_processor(pp);
		if (f->too_large)
			return false;
		if (!f->seen_file)
		{
			reply_problem(out, 400, req->request_id, "the multipart body has no field \"file\"");
			return false;
		}
		return true;
	}
	if (ct && strncasecmp(ct, "application/json", 16) == 0)
	{
		json_error_t jerr;
		json_t	   *doc = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
		json_t	   *fn = json_object_get(doc, "filename");
		json_t	   *b64 = json_object_get(doc, "content_base64");
		json_t	   *meta = json_object_get(doc, "metadata");

		if (!json_is_object(doc) || !json_is_string(fn) || !json_is_string(b64) ||
			(meta && !json_is_object(meta) && !json_is_null(meta)))
		{
			json_decref(doc);
			reply_problem(out, 400, req->request_id,
						  "send a JSON object {\"filename\": \"...\", \"content_base64\": \"...\", \"metadata\": {...}}");
			return false;
		}
		snprintf(f->filename, sizeof(f->filename), "%s", json_string_value(fn));
		f->data = (char *) base64_decode(json_string_value(b64), json_string_length(b64), &f->len);
		if (!f->data)
		{
			json_decref(doc);
			reply_problem(out, 400, req->request_id, "content_base64 is not valid base64 (or empty)");
			return false;
		}
		if (f->len > cfg.max_file_bytes)
		{
			json_decref(doc);
			f->too_large = true;
			return false;
		}
		if (json_is_object(meta))
		{
			f->metadata = json_dumps(meta, JSON_COMPACT);
			f->metadata_len = f->metadata ? strlen(f->metadata) : 0;
		}
		json_decref(doc);
		return true;
	}
	reply_problem(out, 400, req->request_id,
				  "Content-Type must be application/pdf, multipart/form-data or application/json");
	return false;
}

/* ---------------------------------------------------------------------------
 * POST /api/v1/ingest/webhook/{sender}
 * ------------------------------------------------------------------------- */

static bool
sender_name_ok(const char *s)
{
	size_t		n = strlen(s);

	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char) s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static void
unauthorized(struct request *req, struct reply *out, const char *detail, const char *note)
{
	reply_problem(out, 401, req->request_id, "%s", detail);
	snprintf(req->note, sizeof(req->note), "webhook refused: %s", note);
}

/* true when the signature verifies with one of the sender's current secrets */
static bool
signature_ok(struct request *req, struct reply *out, const char *sender, const char *id,
			 const char *ts, const char *sig, bool *answered)
{
	const char *values[1] = {sender};
	struct db_error err;
	PGresult   *res;
	bool		ok = false;

	*answered = false;
	if (!(res = db_exec(req->request_id, "SELECT invoiceflow._webhook_sender_secrets($1)", 1, values,
						NULL, NULL, true, &err)))
	{
		reply_db_error(req, out, &err);
		*answered = true;
		return false;
	}
	for (int i = 0; i < PQntuples(res) && !ok; i++)
	{
		unsigned char key[WHS_KEY_MAX];
		size_t		keylen = 0;

		if (whs_decode_secret(PQgetvalue(res, i, 0), key, &keylen))
			ok = whs_verify(key, keylen, id, ts, req->body ? req->body : "", req->body_len, sig);
		OPENSSL_cleanse(key, sizeof(key));
	}
	if (PQntuples(res) == 0)
	{
		unauthorized(req, out, "unknown or revoked webhook sender", "unknown or revoked sender");
		*answered = true;
	}
	PQclear(res);
	return ok;
}

void
handle_webhook_ingest(struct request *req, struct reply *out)
{
	const char *id = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "webhook-id");
	const char *ts = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "webhook-timestamp");
	const char *sig = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "webhook-signature");
	const char *sender = req->param;
	struct file_in f = {0};
	bool		answered;
	int			wait;
	long long	t;
	char	   *end = NULL;
	const char *values[5];
	int			lengths[5] = {0, 0, 0, 0, 0};
	int			formats[5] = {0, 0, 0, 1, 0};
	struct db_error err;
	PGresult   *res;
	bool		duplicate;
	json_t	   *body;

	if (req->body_no_slot)
	{
		reply_problem(out, 503, req->request_id, "too many uploads in progress; retry shortly");
		out->retry_after = 1;
		snprintf(req->note, sizeof(req->note), "MAX_CONCURRENT_UPLOADS reached");
		return;
	}
	if (req->body_too_large)
	{
		reply_problem(out, 413, req->request_id, "file is too large (at most %d MB)", cfg.max_file_size_mb);
		return;
	}
	if (!sender_name_ok(sender))
	{
		unauthorized(req, out, "unknown or revoked webhook sender", "malformed sender name");
		return;
	}
	if (!id || !ts || !sig || !id[0] || !ts[0] || !sig[0])
	{
		unauthorized(req, out, "webhook-id, webhook-timestamp and webhook-signature headers are required",
					 "missing header");
		return;
	}
	t = strtoll(ts, &end, 10);
	if (!end || *end || end == ts || llabs((long long) time(NULL) - t) > TIMESTAMP_TOLERANCE)
	{
		unauthorized(req, out, "webhook-timestamp is more than 5 minutes away from the server's clock",
					 "timestamp out of tolerance");
		return;
	}
	if (!signature_ok(req, out, sender, id, ts, sig, &answered))
	{
		if (!answered)
			unauthorized(req, out, "invalid webhook signature", "bad signature");
		return;
	}
	if ((wait = rate_take(sender)) > 0)
	{
		reply_problem(out, 429, req->request_id, "too many requests from webhook sender %s", sender);
		out->retry_after = wait;
		return;
	}
	if (!read_body(req, out, &f))
	{
		if (f.too_large)
			reply_problem(out, 413, req->request_id, "file is too large (at most %d MB)", cfg.max_file_size_mb);
		else if (out->status == 0)
			reply_problem(out, 500, req->request_id, "internal error; see the gateway log for request %s",
						  req->request_id);
		goto done;
	}
	if (!f.filename[0])
	{
		reply_problem(out, 400, req->request_id,
					  "a filename is required (Content-Disposition, X-Filename, the multipart part or \"filename\")");
		goto done;
	}
	if (f.metadata_len > METADATA_MAX)
	{
		reply_problem(out, 400, req->request_id, "metadata must be at most 16 KB of JSON");
		goto done;
	}
	snprintf(req->filename, sizeof(req->filename), "%s", f.filename);
	values[0] = sender;
	values[1] = id;
	values[2] = f.filename;
	values[3] = f.data ? f.data : "";
	lengths[3] = (int) f.len;
	values[4] = f.metadata;		/* NULL: none */
	res = db_exec(req->request_id,
				  "SELECT request_id, status, duplicate FROM invoiceflow._webhook_ingest($1, $2, $3, $4, $5::jsonb)",
				  5, values, lengths, formats, false, &err);
	if (!res)
	{
		reply_db_error(req, out, &err);
		goto done;
	}
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		reply_problem(out, 500, req->request_id, "internal error; see the gateway log for request %s",
					  req->request_id);
		goto done;
	}
	duplicate = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	log_info("gateway.webhook", req->request_id, "webhook %s from %s: request %s%s", id, sender,
			 PQgetvalue(res, 0, 0), duplicate ? " (first response)" : "");
	body = json_object();
	json_object_set_new(body, "request_id", json_string(PQgetvalue(res, 0, 0)));
	json_object_set_new(body, "status", json_string(PQgetvalue(res, 0, 1)));
	json_object_set_new(body, "message", json_string(duplicate
													 ? "File already received, returning the first request"
													 : "File uploaded successfully, processing started"));
	json_object_set_new(body, "duplicate", json_boolean(duplicate));
	PQclear(res);
	reply_json(out, 202, body);
done:
	if (!f.borrowed)
		free(f.data);
	free(f.metadata);
}

/* ---------------------------------------------------------------------------
 * Subscriptions (admin)
 * ------------------------------------------------------------------------- */

static void
reply_rows(struct request *req, struct reply *out, const char *sql, int n, const char *const *values,
		   unsigned int status_empty_null)
{
	struct db_error err;
	PGresult   *res;

	if (!(res = db_exec(req->request_id, sql, n, values, NULL, NULL, true, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		reply_problem(out, status_empty_null, req->request_id, "no subscription with id %s", req->param);
	else
		reply_raw(out, 200, "application/json", PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));
	PQclear(res);
}

void
handle_subscriptions(struct request *req, struct reply *out)
{
	reply_rows(req, out,
			   "SELECT jsonb_build_object('items', coalesce(jsonb_agg(to_jsonb(s)), '[]'))"
			   " FROM invoiceflow.subscriptions() s", 0, NULL, 500);
}

void
handle_subscription_create(struct request *req, struct reply *out)
{
	json_t	   *doc;
	json_t	   *url;
	json_t	   *events;
	char	   *events_json = NULL;
	const char *values[2];
	struct db_error err;
	PGresult   *res;

#define SUBSCRIPTION_BODY "send a JSON object such as {\"url\": \"https://example.com/hook\", \"events\": [\"invoice.completed\"]}"
	if (!(doc = request_body_object(req, out, SUBSCRIPTION_BODY)))
		return;
	url = json_object_get(doc, "url");
	events = json_object_get(doc, "events");
	if (!json_is_string(url) || (events && !json_is_array(events)))
	{
		json_decref(doc);
		reply_problem(out, 400, req->request_id, SUBSCRIPTION_BODY);
		return;
	}
	values[0] = json_string_value(url);
	if (events)
		values[1] = events_json = json_dumps(events, JSON_COMPACT);
	/* the events go as a JSON array; a non-string element fails the cast (22023 below) */
	res = db_exec(req->request_id, events
				  ? "SELECT id, secret FROM invoiceflow.create_subscription($1,"
				  " ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))"
				  : "SELECT id, secret FROM invoiceflow.create_subscription($1)",
				  events ? 2 : 1, values, NULL, NULL, false, &err);
	free(events_json);
	json_decref(doc);
	if (!res)
	{
		reply_db_error(req, out, &err);
		return;
	}
	reply_json(out, 201, json_pack("{s:s, s:s, s:s}", "id", PQgetvalue(res, 0, 0),
								   "secret", PQgetvalue(res, 0, 1),
								   "message", "keep this secret: it is shown only this once"));
	PQclear(res);
}

void
handle_subscription_delete(struct request *req, struct reply *out)
{
	char		id[UUID_TEXT_LEN + 1];
	const char *values[1];
	struct db_error err;
	PGresult   *res;

	if (!uuid_parse(req->param, id))
	{
		reply_problem(out, 400, req->request_id, "subscription id must be a UUID");
		return;
	}
	values[0] = id;
	if (!(res = db_exec(req->request_id, "SELECT invoiceflow.delete_subscription($1::uuid)", 1, values,
						NULL, NULL, false, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		out->status = 204;		/* no body */
	else
		reply_problem(out, 404, req->request_id, "no subscription with id %s", id);
	PQclear(res);
}

void
handle_subscription_deliveries(struct request *req, struct reply *out)
{
	char		id[UUID_TEXT_LEN + 1];
	const char *values[1];

	if (!uuid_parse(req->param, id))
	{
		reply_problem(out, 400, req->request_id, "subscription id must be a UUID");
		return;
	}
	values[0] = id;
	reply_rows(req, out,
			   "SELECT CASE WHEN EXISTS (SELECT 1 FROM invoiceflow.subscriptions() s WHERE s.id = $1::uuid)"
			   " THEN jsonb_build_object('items', coalesce((SELECT jsonb_agg(to_jsonb(d))"
			   "   FROM invoiceflow.subscription_deliveries($1::uuid, 100) d), '[]')) END",
			   1, values, 404);
}
