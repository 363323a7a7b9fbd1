/*
 * handlers_ingest.c: the seed's ingestion API, one SQL function call each.
 *   POST /api/v1/ingest/upload          invoiceflow.ingest(filename, content, 'upload', key)
 *   GET  /api/v1/ingest/status/{id}     invoiceflow.status(id)
 *   GET  /api/v1/ingest/stats           invoiceflow.stats()
 *   GET  /api/v1/ingest/health          invoiceflow.health()
 * Bodies and status codes are the seed's; errors are problem documents (problem.c).
 */
#include "handlers.h"
#include "config.h"
#include "db_pool.h"
#include "../../src/common/sidecar_log.h"
#include "upload.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

static void
reply_db_error(struct request *req, struct reply *out, const struct db_error *err)
{
	reply_problem(out, err->http_status, req->request_id, "%s", err->message);
	if (err->http_status == 503)
		out->retry_after = 1;
}

/* A jsonb value from the database goes out as it is: it is already our JSON. */
static void
reply_jsonb(struct reply *out, unsigned int status, PGresult *res)
{
	reply_raw(out, status, "application/json", PQgetvalue(res, 0, 0),
			  (size_t) PQgetlength(res, 0, 0));
}

void
handle_upload(struct request *req, struct reply *out)
{
	const char *data;
	const char *filename;
	size_t		len;
	const char *key;
	const char *values[5];
	int			lengths[5] = {0, 0, 0, 0, 0};
	int			formats[5] = {0, 1, 0, 0, 0};
	char		lenbuf[32];
	struct db_error err;
	PGresult   *res;
	bool		duplicate;
	json_t	   *body;

	if (!upload_finish(req, out, &data, &len, &filename))
		return;
	if (len > (size_t) 0x7fffffff)
	{
		reply_problem(out, 400, req->request_id, "file is too large");
		return;
	}
	key = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Idempotency-Key");
	/* PostgreSQL would refuse these with its own text ("invalid byte sequence for encoding") */
	if (!text_is_utf8(filename))
	{
		reply_problem(out, 400, req->request_id,
					  "the file name is not valid UTF-8: send it UTF-8 encoded (RFC 7578)");
		return;
	}
	if (key && !text_is_utf8(key))
	{
		reply_problem(out, 400, req->request_id, "Idempotency-Key must be valid UTF-8 text");
		return;
	}
	values[0] = filename;
	values[1] = data;
	lengths[1] = (int) len;
	values[2] = key;			/* NULL: no key */
	values[3] = req->traceparent;	/* kept with the ingestion (trace.c) */
	values[4] = req->actor;		/* the audit log's actor: the key's name */
	snprintf(lenbuf, sizeof(lenbuf), "%zu", len);
	log_emit(LOG_INFO, "gateway.ingest", req->request_id,
			 json_pack("{s:s, s:s}", "filename", req->filename, "size_bytes", lenbuf),
			 "Processing upload request %s for file %s", req->request_id, req->filename);

	/* the file travels as a binary parameter: no escaping, no text copy */
	res = db_exec(req->request_id,
				  SQL_WITH_ACTOR("$5") "SELECT (r).request_id, (r).status, (r).duplicate FROM "
				  "(SELECT invoiceflow.ingest($1, $2, 'upload', $3, $4) AS r FROM actor OFFSET 0) s",
				  5, values, lengths, formats, false, &err);
	upload_free(req);			/* the buffer is no longer needed */
	if (!res)
	{
		reply_db_error(req, out, &err);
		return;
	}
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		log_error("gateway.ingest", req->request_id, "ingest() returned no row");
		reply_problem(out, 500, req->request_id, "internal error; see the gateway log for request %s",
					  req->request_id);
		return;
	}
	duplicate = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	body = json_object();
	json_object_set_new(body, "request_id", json_string(PQgetvalue(res, 0, 0)));
	json_object_set_new(body, "status", json_string(PQgetvalue(res, 0, 1)));
	json_object_set_new(body, "message", json_string(duplicate
													 ? "File already received, returning the first request"
													 : "File uploaded successfully, processing started"));
	json_object_set_new(body, "duplicate", json_boolean(duplicate));
	PQclear(res);
	reply_json(out, 202, body);
}

void
handle_status(struct request *req, struct reply *out)
{
	char		id[UUID_TEXT_LEN + 1];
	const char *values[1];
	struct db_error err;
	PGresult   *res;

	if (!uuid_parse(req->param, id))
	{
		reply_problem(out, 400, req->request_id,
					  "request_id must be a UUID such as 123e4567-e89b-42d3-a456-426614174000");
		return;
	}
	values[0] = id;
	if (!(res = db_exec(req->request_id, "SELECT invoiceflow.status($1::uuid)", 1, values,
						NULL, NULL, true, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		reply_problem(out, 404, req->request_id, "no ingestion with request_id %s", id);
	else
		reply_jsonb(out, 200, res);
	PQclear(res);
}

void
handle_stats(struct request *req, struct reply *out)
{
	struct db_error err;
	PGresult   *res;

	if (!(res = db_exec(req->request_id, "SELECT invoiceflow.stats()", 0, NULL, NULL, NULL, true, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		reply_problem(out, 500, req->request_id, "internal error; see the gateway log for request %s",
					  req->request_id);
	else
		reply_jsonb(out, 200, res);
	PQclear(res);
}

/*
 * 200 when healthy; 503 when degraded or unhealthy, as the seed answers a failed
 * dependency check. Without a database the body still has the seed's shape.
 */
void
handle_ingest_health(struct request *req, struct reply *out)
{
	struct db_error err;
	PGresult   *res;
	json_t	   *doc;
	const char *service;

	if (!(res = db_exec(req->request_id, "SELECT invoiceflow.health()", 0, NULL, NULL, NULL, true, &err)))
	{
		reply_json(out, 503, json_pack("{s:s, s:{s:s}}", "service", "unhealthy",
									   "dependencies", "database", "unhealthy"));
		out->retry_after = 1;
		return;
	}
	doc = (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
	PQclear(res);
	service = json_string_value(json_object_get(doc, "service"));
	if (!doc || !service)
	{
		json_decref(doc);
		log_error("gateway.ingest", req->request_id, "health() returned an unexpected value");
		reply_json(out, 503, json_pack("{s:s, s:{s:s}}", "service", "unhealthy",
									   "dependencies", "database", "healthy"));
		return;
	}
	reply_json(out, strcmp(service, "healthy") == 0 ? 200 : 503, doc);
}
