/*
 * handlers_invoices.c: the query API (DESIGN.md § Query API, issue 6 item 4),
 * one SQL function call each.
 *   GET /api/v1/invoices               invoiceflow.search(q => $1, ..., facets => $16, sender => $17)
 *   GET /api/v1/invoices/{id}          invoiceflow.status(id)   (with "invoice" once COMPLETED)
 *   GET /api/v1/invoices/{id}/file     invoiceflow.file_size(id), then file_slice(id, ...) a slice
 *                                      at a time, or ranged GETs of raw/<id>.pdf from S3 once
 *                                      the background worker has moved the bytes there
 * search() checks every value itself (22023 -> 400 with its message); the
 * gateway refuses what it alone can see: unknown or repeated parameters, a
 * limit or facets that is not an integer / boolean.
 */
#include "handlers.h"
#include "config.h"
#include "db_pool.h"
#include "../../src/common/sidecar_log.h"
#include "metrics.h"

#include "../../src/common/percent_encode.h"
#include "../../src/common/s3_client.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the query parameters of GET /api/v1/invoices, in search()'s argument order */
const char *const invoices_params[INVOICES_NPARAMS] = {
	"q", "status", "seller", "buyer", "currency", "issued_from", "issued_to",
	"total_min", "total_max", "needs_review", "source", "extracted_from", "sort",
	"limit", "cursor", "facets", "sender",
};

#define P_LIMIT 13
#define P_FACETS 15
#define PARAM_VALUE_MAX 2000

static const char search_sql[] =
	"SELECT invoiceflow.search(q => $1, status => $2, seller => $3, buyer => $4, currency => $5, "
	"issued_from => $6, issued_to => $7, total_min => $8, total_max => $9, needs_review => $10, "
	"source => $11, extracted_from => $12, sort => $13, \"limit\" => $14::integer, cursor => $15, "
	"facets => $16::boolean, sender => $17)";

void
invoices_query_init(struct invoices_query *q)
{
	memset(q, 0, sizeof(*q));
}

bool
invoices_query_add(struct invoices_query *q, const char *name, const char *value)
{
	int			i;

	if (q->error[0])
		return false;
	if (!name)
		name = "";
	if (!value)
		value = "";				/* "?facets" without "=": an empty value */
	for (i = 0; i < INVOICES_NPARAMS; i++)
		if (strcmp(name, invoices_params[i]) == 0)
			break;
	if (i == INVOICES_NPARAMS)
	{
		char		clean[64];

		utf8_sanitize(name, clean, sizeof(clean));
		snprintf(q->error, sizeof(q->error),
				 "unknown query parameter \"%s\"; the parameters are q, status, seller, buyer, currency, "
				 "issued_from, issued_to, total_min, total_max, needs_review, source, extracted_from, "
				 "sort, limit, cursor, facets", clean);
		return false;
	}
	if (q->seen[i])
	{
		snprintf(q->error, sizeof(q->error), "query parameter \"%s\" is given more than once", name);
		return false;
	}
	q->seen[i] = true;
	if (strlen(value) > PARAM_VALUE_MAX)
	{
		snprintf(q->error, sizeof(q->error), "query parameter \"%s\" is too long (at most %d bytes)",
				 name, PARAM_VALUE_MAX);
		return false;
	}
	if (!text_is_utf8(value))
	{
		/* PostgreSQL would answer with its own "invalid byte sequence for encoding" */
		snprintf(q->error, sizeof(q->error), "query parameter \"%s\" is not valid UTF-8 text", name);
		return false;
	}
	if (value[0] == '\0')
		return true;			/* empty: as if absent (search() treats '' as no filter) */
	if (i == P_LIMIT)
	{
		char	   *end;
		long		n;

		errno = 0;
		n = strtol(value, &end, 10);
		if (errno || end == value || *end || !isdigit((unsigned char) value[0]) || n < 1 || n > 100)
		{
			snprintf(q->error, sizeof(q->error), "limit must be an integer from 1 to 100");
			return false;
		}
		snprintf(q->limit, sizeof(q->limit), "%ld", n);
		q->values[i] = q->limit;
		return true;
	}
	if (i == P_FACETS)
	{
		if (strcmp(value, "true") == 0)
			q->values[i] = "true";
		else if (strcmp(value, "false") == 0)
			q->values[i] = "false";
		else
		{
			snprintf(q->error, sizeof(q->error), "facets must be true or false");
			return false;
		}
		return true;
	}
	q->values[i] = value;
	return true;
}

void
content_disposition(const char *filename, char *out, size_t outsz)
{
	char		ascii[300];
	char		enc[800];
	size_t		j = 0;

	if (!filename || !filename[0])
		filename = "invoice.pdf";
	/* the quoted form: printable ASCII but for the characters that end or escape it */
	for (const unsigned char *p = (const unsigned char *) filename; *p && j + 1 < sizeof(ascii); p++)
	{
		if (*p >= 0x80 && *p < 0xc0)
			continue;			/* a UTF-8 continuation byte: its character is one '_' already */
		ascii[j++] = (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '%' &&
					  *p != ';') ? (char) *p : '_';
	}
	ascii[j] = '\0';
	/* RFC 6266 / 8187: the exact name, UTF-8 percent-encoded */
	if (pe_encode(filename, strnlen(filename, 255), false, enc, sizeof(enc)) == (size_t) -1)
		enc[0] = '\0';
	if (enc[0])
		snprintf(out, outsz, "attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, enc);
	else
		snprintf(out, outsz, "attachment; filename=\"%s\"", ascii);
}

static void
reply_db_error(struct request *req, struct reply *out, const struct db_error *err)
{
	reply_problem(out, err->http_status, req->request_id, "%s", err->message);
	if (err->http_status == 503)
		out->retry_after = 1;
}

static enum MHD_Result
collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void) kind;
	return invoices_query_add(cls, key, value) ? MHD_YES : MHD_NO;
}

void
handle_invoices_search(struct request *req, struct reply *out)
{
	struct invoices_query q;
	struct db_error err;
	PGresult   *res;

	invoices_query_init(&q);
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
	if (q.error[0])
	{
		reply_problem(out, 400, req->request_id, "%s", q.error);
		return;
	}
	if (!(res = db_exec(req->request_id, search_sql, INVOICES_NPARAMS, q.values, NULL, NULL, true, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		reply_problem(out, 500, req->request_id, "internal error; see the gateway log for request %s",
					  req->request_id);
	else
		reply_raw(out, 200, "application/json", PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));
	PQclear(res);
}

static bool
parse_id(struct request *req, struct reply *out, char *id)
{
	if (uuid_parse(req->param, id))
		return true;
	reply_problem(out, 400, req->request_id,
				  "invoice id must be a UUID such as 123e4567-e89b-42d3-a456-426614174000");
	return false;
}

void
handle_invoice(struct request *req, struct reply *out)
{
	char		id[UUID_TEXT_LEN + 1];
	const char *values[1] = {id};
	struct db_error err;
	PGresult   *res;

	if (!parse_id(req, out, id))
		return;
	if (!(res = db_exec(req->request_id, "SELECT invoiceflow.status($1::uuid)", 1, values,
						NULL, NULL, true, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		reply_problem(out, 404, req->request_id, "no invoice with id %s", id);
	else
		reply_raw(out, 200, "application/json", PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));
	PQclear(res);
}

/* --- S3: files the background worker has moved out of PostgreSQL ------------- */

#define S3_IDLE_MAX 8
#define S3_MAX_OBJECT ((size_t) 1024 * 1024 * 1024)

static pthread_once_t s3_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t s3_lock = PTHREAD_MUTEX_INITIALIZER;
static s3c_client *s3_idle[S3_IDLE_MAX];
static int	s3_n_idle;
static bool s3_curl_ok;

static void
s3_global_init(void)
{
	s3_curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static const char *
envs(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? v : NULL;
}

bool
invoices_s3_configured(void)
{
	return envs("S3_BUCKET") != NULL;
}

/* an idle client, or a new one; NULL with err set */
static s3c_client *
s3_take(s3c_error *err)
{
	s3c_client *c = NULL;
	s3c_config	sc = {0};

	pthread_once(&s3_once, s3_global_init);
	if (!s3_curl_ok)
	{
		snprintf(err->message, sizeof(err->message), "curl_global_init failed");
		return NULL;
	}
	pthread_mutex_lock(&s3_lock);
	if (s3_n_idle > 0)
		c = s3_idle[--s3_n_idle];
	pthread_mutex_unlock(&s3_lock);
	if (c)
		return c;
	sc.endpoint = envs("S3_ENDPOINT_URL");
	sc.bucket = envs("S3_BUCKET");
	sc.region = envs("AWS_REGION");
	sc.access_key_id = envs("AWS_ACCESS_KEY_ID");
	sc.secret_access_key = envs("AWS_SECRET_ACCESS_KEY");
	sc.timeout_ms = 60000;
	return s3c_client_new(&sc, err);
}

static void
s3_give(s3c_client *c)
{
	pthread_mutex_lock(&s3_lock);
	if (s3_n_idle < S3_IDLE_MAX)
	{
		s3_idle[s3_n_idle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s3_lock);
	if (c)
		s3c_client_free(c);
}

void
invoices_shutdown(void)
{
	pthread_mutex_lock(&s3_lock);
	while (s3_n_idle > 0)
		s3c_client_free(s3_idle[--s3_n_idle]);
	pthread_mutex_unlock(&s3_lock);
	if (s3_curl_ok)
		curl_global_cleanup();
	s3_curl_ok = false;
}

/* an S3 failure (not S3C_OK) as the client's answer */
static void
reply_s3_error(struct request *req, struct reply *out, const char *id, const char *key,
			   s3c_status st, const s3c_error *err)
{
	if (st == S3C_PERMANENT && err->http_status == 404)
	{
		log_warning("gateway.invoices", req->request_id, "S3 has no object %s: %s", key, err->message);
		reply_problem(out, 404, req->request_id, "the file of invoice %s is not in storage", id);
	}
	else if (st == S3C_TRANSIENT)
	{
		log_warning("gateway.invoices", req->request_id, "S3 HEAD %s failed (transient): %s", key, err->message);
		reply_problem(out, 503, req->request_id, "file storage unavailable, try again later");
		out->retry_after = 1;
	}
	else
	{
		log_error("gateway.invoices", req->request_id, "S3 HEAD %s failed: HTTP %ld %s %s", key,
				  err->http_status, err->code, err->message);
		reply_problem(out, 502, req->request_id, "file storage refused the request; see the gateway log for request %s",
					  req->request_id);
	}
}

/* the size of raw/<id>.pdf in S3; false when out holds the error */
static bool
s3_size(struct request *req, struct reply *out, const char *id, const char *key, uint64_t *size)
{
	s3c_error	err = {0};
	s3c_object_info info;
	s3c_client *c;
	s3c_status	st;

	if (!invoices_s3_configured())
	{
		log_error("gateway.invoices", req->request_id,
				  "the file of %s is no longer in PostgreSQL and S3_BUCKET is not set", id);
		reply_problem(out, 503, req->request_id,
					  "the file is kept in S3 and this gateway has no S3 configuration");
		return false;
	}
	if (!(c = s3_take(&err)))
	{
		log_error("gateway.invoices", req->request_id, "S3 configuration unusable: %s", err.message);
		reply_problem(out, 500, req->request_id, "internal error; see the gateway log for request %s",
					  req->request_id);
		return false;
	}
	st = s3c_head_object(c, key, &info, &err);
	if (st == S3C_OK && info.size >= 0 && (uint64_t) info.size <= S3_MAX_OBJECT)
	{
		s3_give(c);
		*size = (uint64_t) info.size;
		return true;
	}
	/* a client whose request failed may hold a broken connection: drop it */
	s3c_client_free(c);
	if (st == S3C_OK)
	{
		log_error("gateway.invoices", req->request_id, "S3 object %s has no usable size (%lld)", key,
				  (long long) info.size);
		reply_problem(out, 502, req->request_id, "file storage gave no usable size; see the gateway log for request %s",
					  req->request_id);
		return false;
	}
	reply_s3_error(req, out, id, key, st, &err);
	return false;
}

/*
 * --- the file, streamed a slice at a time --------------------------------------
 * Memory per download is one slice (SLICE_BYTES) plus libmicrohttpd's small
 * block, whatever the file size and however slowly the client reads: MHD asks
 * for the next bytes only when the socket takes them. Each slice is its own
 * short statement (invoiceflow.file_slice) or ranged S3 GET, so a slow client
 * holds no database connection and no S3 client between slices.
 */
#define SLICE_BYTES (256 * 1024)

struct file_stream
{
	char		id[UUID_TEXT_LEN + 1];
	char		request_id[REQUEST_ID_MAX + 1];
	char		key[128];		/* the S3 key */
	bool		from_s3;		/* else PostgreSQL */
	uint64_t	size;
	uint64_t	buf_pos;		/* file offset of buf[0] */
	size_t		buf_len;
	unsigned char *buf;
};

/* the slice at pos from PostgreSQL; NULL result: the file left PostgreSQL (moved to S3) */
static bool
slice_from_db(struct file_stream *fs, uint64_t pos, bool *gone)
{
	char		off[24];
	char		len[16];
	const char *values[3] = {fs->id, off, len};
	struct db_error err;
	PGresult   *res;
	size_t		n;

	snprintf(off, sizeof(off), "%llu", (unsigned long long) pos);
	snprintf(len, sizeof(len), "%d", SLICE_BYTES);
	if (!(res = db_exec_format(fs->request_id, "SELECT invoiceflow.file_slice($1::uuid, $2::bigint, $3::integer)",
							   3, values, NULL, NULL, 1, true, &err)))
	{
		log_warning("gateway.invoices", fs->request_id, "download of %s cut at byte %llu: %s", fs->id,
					(unsigned long long) pos, err.message);
		return false;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		PQclear(res);
		*gone = true;
		return false;
	}
	n = (size_t) PQgetlength(res, 0, 0);
	if (n == 0 || !(fs->buf = malloc(n)))
	{
		PQclear(res);
		return false;
	}
	memcpy(fs->buf, PQgetvalue(res, 0, 0), n);
	fs->buf_len = n;
	PQclear(res);
	return true;
}

static bool
slice_from_s3(struct file_stream *fs, uint64_t pos)
{
	s3c_error	err = {0};
	s3c_client *c;
	s3c_status	st;
	unsigned char *data = NULL;
	size_t		len = 0;

	if (!invoices_s3_configured() || !(c = s3_take(&err)))
		return false;
	st = s3c_get_range(c, fs->key, pos, SLICE_BYTES, &data, &len, &err);
	if (st != S3C_OK || len == 0)
	{
		s3c_client_free(c);
		free(data);
		log_warning("gateway.invoices", fs->request_id, "download of %s from S3 cut at byte %llu: %s", fs->id,
					(unsigned long long) pos, err.message);
		return false;
	}
	s3_give(c);
	fs->buf = data;
	fs->buf_len = len;
	return true;
}

static long
file_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct file_stream *fs = cls;
	size_t		n;

	if (pos < fs->buf_pos || pos >= fs->buf_pos + fs->buf_len)
	{
		bool		gone = false;
		bool		ok;

		free(fs->buf);
		fs->buf = NULL;
		fs->buf_len = 0;
		fs->buf_pos = pos;
		ok = fs->from_s3 ? slice_from_s3(fs, pos) : slice_from_db(fs, pos, &gone);
		if (!ok && gone && invoices_s3_configured())
		{
			/* the worker moved the bytes to S3 while this download ran */
			fs->from_s3 = true;
			ok = slice_from_s3(fs, pos);
		}
		if (!ok)
			return -1;
	}
	n = (size_t) (fs->buf_pos + fs->buf_len - pos);
	if (n > max)
		n = max;
	memcpy(out, fs->buf + (pos - fs->buf_pos), n);
	metrics_add_download_bytes(n);
	return (long) n;
}

static void
file_stream_free(void *cls)
{
	struct file_stream *fs = cls;

	free(fs->buf);
	free(fs);
}

void
handle_invoice_file(struct request *req, struct reply *out)
{
	char		id[UUID_TEXT_LEN + 1];
	const char *values[1] = {id};
	struct db_error err;
	PGresult   *res;
	char		filename[1024];
	char		key[128];
	struct file_stream *fs;
	bool		in_db;
	uint64_t	size = 0;

	if (!parse_id(req, out, id))
		return;
	/* the size only: the bytes follow a slice at a time as the client reads */
	if (!(res = db_exec(req->request_id,
						"SELECT s ->> 'filename', s ->> 's3_key', invoiceflow.file_size($1::uuid) "
						"FROM invoiceflow.status($1::uuid) AS s WHERE s IS NOT NULL",
						1, values, NULL, NULL, true, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		reply_problem(out, 404, req->request_id, "no invoice with id %s", id);
		return;
	}
	snprintf(filename, sizeof(filename), "%.*s", PQgetisnull(res, 0, 0) ? 0 : PQgetlength(res, 0, 0),
			 PQgetvalue(res, 0, 0));
	snprintf(key, sizeof(key), "%.*s", PQgetisnull(res, 0, 1) ? 0 : PQgetlength(res, 0, 1),
			 PQgetvalue(res, 0, 1));
	if (!key[0])
		snprintf(key, sizeof(key), "raw/%s.pdf", id);
	in_db = !PQgetisnull(res, 0, 2);
	if (in_db)
		size = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	if (!in_db && !s3_size(req, out, id, key, &size))
		return;
	if (!(fs = calloc(1, sizeof(*fs))))
	{
		reply_problem(out, 500, req->request_id, "out of memory");
		return;
	}
	snprintf(fs->id, sizeof(fs->id), "%s", id);
	snprintf(fs->request_id, sizeof(fs->request_id), "%s", req->request_id);
	snprintf(fs->key, sizeof(fs->key), "%s", key);
	fs->from_s3 = !in_db;
	fs->size = size;
	reply_clear(out);
	out->status = 200;
	out->content_type = "application/pdf";
	out->stream_size = size;
	out->stream_read = file_stream_read;
	out->stream_free = file_stream_free;
	out->stream_cls = fs;
	content_disposition(filename, out->disposition, sizeof(out->disposition));
}
