/*
 * handlers_review.c: review over REST (issue 14), one SQL call each.
 *   PATCH /api/v1/invoices/{id}          invoiceflow.correct(id, body, actor)   review scope
 *   POST  /api/v1/invoices/{id}/approve  invoiceflow.approve(id, actor)         review scope
 *   GET   /api/v1/audit?cursor=&limit=&request_id=&action=   invoiceflow.audit_log()  admin scope
 * The actor is the web session's key name, else the name of the Bearer key
 * (looked up by _api_key_name() in the same statement). The functions check
 * the patch (22023 -> 400), the id (404) and the state (not COMPLETED -> 409).
 */
#include "auth.h"
#include "db_pool.h"
#include "handlers.h"
#include "../../src/common/sidecar_log.h"

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

/* The Bearer key of the request (copied into key), or NULL */
static const char *
bearer_key(struct request *req, char *key, size_t keysz)
{
	const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *token;
	size_t		len;

	if (!auth_parse_bearer(h, &token, &len) || len >= keysz)
		return NULL;
	memcpy(key, token, len);
	key[len] = '\0';
	return key;
}

/*
 * Runs sql ($1 id, $2 patch or unused, $3 session actor, $4 Bearer key) and
 * answers 200 with the status() document it returns.
 */
static void
review_call(struct request *req, struct reply *out, const char *sql, const char *patch, const char *what)
{
	char		id[UUID_TEXT_LEN + 1];
	char		key[API_KEY_MAX + 1];
	const char *values[4];
	struct db_error err;
	PGresult   *res;

	if (!uuid_parse(req->param, id))
	{
		reply_problem(out, 400, req->request_id,
					  "invoice id must be a UUID such as 123e4567-e89b-42d3-a456-426614174000");
		return;
	}
	values[0] = id;
	values[1] = patch;
	values[2] = req->actor[0] ? req->actor : NULL;
	values[3] = req->actor[0] ? NULL : bearer_key(req, key, sizeof(key));
	res = db_exec(req->request_id, sql, 4, values, NULL, NULL, false, &err);
	explicit_bzero(key, sizeof(key));
	if (!res)
	{
		reply_db_error(req, out, &err);
		return;
	}
	log_info("gateway.review", req->request_id, "%s of %s", what, id);
	reply_raw(out, 200, "application/json", PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));
	PQclear(res);
}

/* without keys (REQUIRE_API_KEY=false) the actor is "anonymous" */
#define ACTOR_SQL "coalesce($3, invoiceflow._api_key_name($4), 'anonymous')"

void
handle_invoice_correct(struct request *req, struct reply *out)
{
	json_t	   *body;

	if (!(body = request_body_object(req, out,
									 "send the fields to correct as a JSON object, such as {\"totals\": {\"total\": \"119.00\"}}")))
		return;
	json_decref(body);
	review_call(req, out, "SELECT invoiceflow.correct($1::uuid, $2::jsonb, " ACTOR_SQL ")", req->body,
				"correction");
}

void
handle_invoice_approve(struct request *req, struct reply *out)
{
	review_call(req, out, "SELECT invoiceflow.approve($1::uuid, " ACTOR_SQL ") WHERE $2::text IS NULL", NULL,
				"approval");
}

void
handle_audit(struct request *req, struct reply *out)
{
	const char *names[4] = {"cursor", "limit", "request_id", "action"};
	const char *values[4];
	char		id[UUID_TEXT_LEN + 1];
	struct db_error err;
	PGresult   *res;

	for (int i = 0; i < 4; i++)
	{
		values[i] = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, names[i]);
		if (values[i] && !values[i][0])
			values[i] = NULL;
		if (values[i] && !text_is_utf8(values[i]))
		{
			reply_problem(out, 400, req->request_id, "%s must be valid UTF-8", names[i]);
			return;
		}
	}
	if (values[1] && (strspn(values[1], "0123456789") != strlen(values[1]) || strlen(values[1]) > 4))
	{
		reply_problem(out, 400, req->request_id, "limit must be between 1 and 500");
		return;
	}
	if (values[2])
	{
		if (!uuid_parse(values[2], id))
		{
			reply_problem(out, 400, req->request_id, "request_id must be a UUID");
			return;
		}
		values[2] = id;
	}
	if (!(res = db_exec(req->request_id,
						"SELECT invoiceflow.audit_log($1, coalesce($2::integer, 50), $3::uuid, $4)", 4, values,
						NULL, NULL, true, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	reply_raw(out, 200, "application/json", PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));
	PQclear(res);
}
