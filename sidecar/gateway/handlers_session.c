/*
 * handlers_session.c: the web page's sign-in (issue 14), and session.h's checks.
 *   POST   /api/v1/session   body {"key": "..."}: a valid key -> 201, the cookie
 *                            and {name, scopes, csrf_token, expires_at}
 *   GET    /api/v1/session   the cookie's session -> {name, scopes, csrf_token}, else 401
 *   DELETE /api/v1/session   signs out (X-CSRF-Token required), clears the cookie
 * One SQL call each: _session_create(), _session_check(), _session_end().
 */
#include "session.h"
#include "auth.h"
#include "config.h"
#include "db_pool.h"
#include "handlers.h"
#include "../../src/common/sidecar_log.h"

#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TOKEN_HEX 64

static bool
is_token(const char *s)
{
	size_t		n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')) || n >= TOKEN_HEX)
			return false;
	return n == TOKEN_HEX;
}

const char *
session_cookie(struct MHD_Connection *conn)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, SESSION_COOKIE);

	return is_token(v) ? v : NULL;
}

bool
session_csrf_matches(const char *expected, const char *token)
{
	unsigned char diff = 0;
	size_t		n;

	if (!expected || !token || !expected[0] || (n = strlen(expected)) != strlen(token))
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char) (expected[i] ^ token[i]);
	return diff == 0;
}

void
session_cookie_header(struct request *req, const char *token, int max_age, char *out, size_t outsz)
{
	const char *proto = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Forwarded-Proto");
	bool		secure = proto && strcasecmp(proto, "https") == 0;

	snprintf(out, outsz, "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s",
			 SESSION_COOKIE, token ? token : "", token ? max_age : 0, secure ? "; Secure" : "");
}

static void
reply_db_error(struct request *req, struct reply *out, const struct db_error *err)
{
	reply_problem(out, err->http_status, req->request_id, "%s", err->message);
	if (err->http_status == 503)
		out->retry_after = 1;
}

/* _session_check() for the cookie's token: a result with one row, or NULL with out set */
static PGresult *
session_lookup(struct request *req, struct reply *out, const char *token)
{
	char		idle[16];
	char		max[16];
	const char *values[3] = {token, idle, max};
	struct db_error err;
	PGresult   *res;

	snprintf(idle, sizeof(idle), "%d", cfg.session_idle_seconds);
	snprintf(max, sizeof(max), "%d", cfg.session_max_seconds);
	if (!(res = db_exec(req->request_id,
						"SELECT name, scopes, csrf FROM invoiceflow._session_check($1, $2::int, $3::int)",
						3, values, NULL, NULL, false, &err)))
	{
		reply_db_error(req, out, &err);
		return NULL;
	}
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		reply_problem(out, 401, req->request_id, "your session has ended: sign in again");
		snprintf(req->note, sizeof(req->note), "unknown or expired session");
		return NULL;
	}
	return res;
}

bool
session_auth(struct request *req, struct reply *out)
{
	PGresult   *res = session_lookup(req, out, session_cookie(req->conn));
	bool		change = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;

	if (!res)
		return false;
	if (change && !session_csrf_matches(PQgetvalue(res, 0, 2),
										MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
																	SESSION_CSRF_HEADER)))
	{
		PQclear(res);
		reply_problem(out, 403, req->request_id,
					  "a change made with a session needs its CSRF token in the " SESSION_CSRF_HEADER " header");
		snprintf(req->note, sizeof(req->note), "session without CSRF token");
		return false;
	}
	req->scopes = auth_parse_scopes(PQgetvalue(res, 0, 1));
	snprintf(req->actor, sizeof(req->actor), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return true;
}

/* {name, scopes: [...], csrf_token} from a row (name, scopes text[], csrf) */
static json_t *
session_json(PGresult *res, int name_col, int scopes_col, int csrf_col)
{
	unsigned int bits = auth_parse_scopes(PQgetvalue(res, 0, scopes_col));
	json_t	   *list = json_array();

	for (unsigned int s = SCOPE_INGEST; s <= SCOPE_ADMIN; s <<= 1)
		if (bits & s)
			json_array_append_new(list, json_string(auth_scope_name(s)));
	return json_pack("{s:s, s:o, s:s}", "name", PQgetvalue(res, 0, name_col), "scopes", list,
					 "csrf_token", PQgetvalue(res, 0, csrf_col));
}

void
handle_session_create(struct request *req, struct reply *out)
{
	json_t	   *body;
	json_t	   *key;
	char		idle[16];
	char		max[16];
	const char *values[3];
	struct db_error err;
	PGresult   *res;
	json_t	   *doc;

#define SESSION_BODY "send a JSON object {\"key\": \"<your API key>\"}"
	if (!(body = request_body_object(req, out, SESSION_BODY)))
		return;
	key = json_object_get(body, "key");
	if (!json_is_string(key) || json_string_length(key) == 0 || json_string_length(key) > API_KEY_MAX)
	{
		json_decref(body);
		reply_problem(out, 400, req->request_id, SESSION_BODY);
		return;
	}
	snprintf(idle, sizeof(idle), "%d", cfg.session_idle_seconds);
	snprintf(max, sizeof(max), "%d", cfg.session_max_seconds);
	values[0] = json_string_value(key);
	values[1] = idle;
	values[2] = max;
	res = db_exec(req->request_id,
				  "SELECT token, csrf, name, scopes, expires_at FROM invoiceflow._session_create($1, $2::int, $3::int)",
				  3, values, NULL, NULL, false, &err);
	json_decref(body);
	if (!res)
	{
		reply_db_error(req, out, &err);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		PQclear(res);
		reply_problem(out, 401, req->request_id, "invalid or revoked API key");
		snprintf(req->note, sizeof(req->note), "sign-in with an unknown or revoked key");
		return;
	}
	doc = session_json(res, 2, 3, 1);
	json_object_set_new(doc, "expires_at", json_string(PQgetvalue(res, 0, 4)));
	session_cookie_header(req, PQgetvalue(res, 0, 0), cfg.session_max_seconds, out->set_cookie,
						  sizeof(out->set_cookie));
	log_info("gateway.session", req->request_id, "session opened for key %s", PQgetvalue(res, 0, 2));
	PQclear(res);
	{
		char		cookie[sizeof(out->set_cookie)];

		/* reply_json() starts a fresh reply: keep the cookie across it */
		memcpy(cookie, out->set_cookie, sizeof(cookie));
		reply_json(out, 201, doc);
		memcpy(out->set_cookie, cookie, sizeof(cookie));
	}
}

void
handle_session_get(struct request *req, struct reply *out)
{
	const char *token = session_cookie(req->conn);
	PGresult   *res;

	if (!token)
	{
		reply_problem(out, 401, req->request_id, "not signed in");
		return;
	}
	if (!(res = session_lookup(req, out, token)))
		return;
	reply_json(out, 200, session_json(res, 0, 1, 2));
	PQclear(res);
}

void
handle_session_delete(struct request *req, struct reply *out)
{
	const char *token = session_cookie(req->conn);
	const char *values[1] = {token};
	struct db_error err;
	PGresult   *res;
	char		cookie[sizeof(out->set_cookie)];

	if (!token)
	{
		reply_problem(out, 401, req->request_id, "not signed in");
		return;
	}
	if (!session_auth(req, out))	/* a live session, and its CSRF token */
		return;
	if (!(res = db_exec(req->request_id, "SELECT invoiceflow._session_end($1)", 1, values, NULL, NULL,
						false, &err)))
	{
		reply_db_error(req, out, &err);
		return;
	}
	PQclear(res);
	log_info("gateway.session", req->request_id, "session of key %s ended", req->actor);
	session_cookie_header(req, NULL, 0, cookie, sizeof(cookie));
	reply_json(out, 200, json_pack("{s:b}", "signed_out", 1));
	memcpy(out->set_cookie, cookie, sizeof(cookie));
}
