/*
 * handlers_admin.c: what admin keys may do over REST (issue 9), one SQL call each.
 *   POST   /api/v1/ingest/{id}/retry   invoiceflow.retry(id)       FAILED -> PENDING
 *   DELETE /api/v1/invoices/{id}       invoiceflow.purge(id)       the ingestion and its bytes
 *   POST   /api/v1/keys                invoiceflow.create_api_key(name, scopes)
 *                                      body {"name": "...", "scopes": ["ingest", ...]}
 *                                      -> 201 with the key, shown this once
 *   DELETE /api/v1/keys/{name}         invoiceflow.revoke_api_key(name)
 * The route table gives each the admin scope; the functions check their input
 * (22023 -> 400, unknown id -> 404, retry of a non-FAILED one -> 409).
 */
#include "auth.h"
#include "handlers.h"
#include "db_pool.h"
#include "../../src/common/sidecar_log.h"

#include <stdio.h>
#include <string.h>

static void
reply_db_error(struct request *req, struct reply *out, const struct db_error *err)
{
	reply_problem(out, err->http_status, req->request_id, "%s", err->message);
	if (err->http_status == 503)
		out->retry_after = 1;
}

void
handle_retry(struct request *req, struct reply *out)
{
	char		id[UUID_TEXT_LEN + 1];
	const char *values[2] = {id, req->actor};
	struct db_error err;
	PGresult   *res;

	if (!uuid_parse(req->param, id))
	{
		reply_problem(out, 400, req->request_id,
					  "request_id must be a UUID such as 123e4567-e89b-42d3-a456-426614174000");
		return;
	}
	if (!(res = db_exec(req->request_id, SQL_WITH_ACTOR("$2") "SELECT invoiceflow.retry($1::uuid) FROM actor",
						2, values, NULL, NULL, false, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	PQclear(res);
	log_info("gateway.admin", req->request_id, "retry of %s", id);
	reply_json(out, 202, json_pack("{s:s, s:s}", "request_id", id, "status", "PENDING"));
}

void
handle_purge(struct request *req, struct reply *out)
{
	char		id[UUID_TEXT_LEN + 1];
	const char *values[2] = {id, req->actor};
	struct db_error err;
	PGresult   *res;
	bool		found;

	if (!uuid_parse(req->param, id))
	{
		reply_problem(out, 400, req->request_id,
					  "invoice id must be a UUID such as 123e4567-e89b-42d3-a456-426614174000");
		return;
	}
	if (!(res = db_exec(req->request_id, SQL_WITH_ACTOR("$2") "SELECT invoiceflow.purge($1::uuid) FROM actor",
						2, values, NULL, NULL, false, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	found = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!found)
	{
		reply_problem(out, 404, req->request_id, "no invoice with id %s", id);
		return;
	}
	log_info("gateway.admin", req->request_id, "purged %s", id);
	reply_json(out, 200, json_pack("{s:s, s:b}", "request_id", id, "purged", 1));
}

void
handle_key_create(struct request *req, struct reply *out)
{
	json_t	   *body;
	json_t	   *name;
	json_t	   *scopes;
	json_t	   *scope_list;
	char	   *scopes_json = NULL;
	const char *values[3];
	struct db_error err;
	PGresult   *res;
	unsigned int bits = 0;
	size_t		i;
	json_t	   *v;

	if (!(body = request_body_object(req, out,
									 "send a JSON object such as {\"name\": \"ci-uploader\", \"scopes\": [\"ingest\"]}")))
		return;
	name = json_object_get(body, "name");
	scopes = json_object_get(body, "scopes");
	if (!json_is_string(name) || (scopes && !json_is_array(scopes)))
	{
		json_decref(body);
		reply_problem(out, 400, req->request_id,
					  "\"name\" must be a string and \"scopes\" a list of ingest, read, review, admin");
		return;
	}
	json_array_foreach(scopes, i, v)
	{
		if (!json_is_string(v))
		{
			json_decref(body);
			reply_problem(out, 400, req->request_id, "\"scopes\" must be a list of strings");
			return;
		}
		bits |= auth_parse_scopes(json_string_value(v));
	}
	/* jansson gives valid UTF-8 strings: the scopes go as a JSON array, never as SQL text */
	values[0] = json_string_value(name);
	values[1] = NULL;
	if (scopes)
		values[1] = scopes_json = json_dumps(scopes, JSON_COMPACT);
	values[2] = req->actor;
	res = db_exec(req->request_id, scopes
				  ? SQL_WITH_ACTOR("$3") "SELECT invoiceflow.create_api_key($1, ARRAY(SELECT jsonb_array_elements_text($2::jsonb))) FROM actor"
				  : SQL_WITH_ACTOR("$3") "SELECT invoiceflow.create_api_key($1) FROM actor WHERE $2::text IS NULL",
				  3, values, NULL, NULL, false, &err);
	free(scopes_json);
	if (!res)
	{
		json_decref(body);
		reply_db_error(req, out, &err);
		return;
	}
	if (!scopes)
		bits = SCOPE_INGEST | SCOPE_READ;
	scope_list = json_array();
	for (unsigned int s = SCOPE_INGEST; s <= SCOPE_ADMIN; s <<= 1)
		if (bits & s)
			json_array_append_new(scope_list, json_string(auth_scope_name(s)));
	log_info("gateway.admin", req->request_id, "API key %s created", json_string_value(name));
	reply_json(out, 201, json_pack("{s:O, s:o, s:s, s:s}", "name", name, "scopes", scope_list,
								   "key", PQgetvalue(res, 0, 0),
								   "message", "keep this key: it is shown only this once"));
	PQclear(res);
	json_decref(body);
}

void
handle_key_revoke(struct request *req, struct reply *out)
{
	const char *values[2] = {req->param, req->actor};
	struct db_error err;
	PGresult   *res;
	bool		found;

	if (!text_is_utf8(req->param))
	{
		reply_problem(out, 400, req->request_id, "key name must be valid UTF-8");
		return;
	}
	if (!(res = db_exec(req->request_id, SQL_WITH_ACTOR("$2") "SELECT invoiceflow.revoke_api_key($1) FROM actor",
						2, values, NULL, NULL, false, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	found = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!found)
	{
		reply_problem(out, 404, req->request_id, "no active API key named %s", req->param);
		return;
	}
	/* this gateway forgets every cached answer now; other gateways within API_KEY_CACHE_SECONDS */
	auth_cache_flush();
	log_info("gateway.admin", req->request_id, "API key %s revoked", req->param);
	reply_json(out, 200, json_pack("{s:s, s:b}", "name", req->param, "revoked", 1));
}
