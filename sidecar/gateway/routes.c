/*
 * routes.c: the route table, and matching a request against it.
 *
 * The query API of issue 6 (GET /api/v1/invoices, /api/v1/invoices/{id},
 * /api/v1/invoices/{id}/file) is in handlers_invoices.c.
 */
#include "routes.h"
#include "handlers.h"
#include "config.h"
#include "upload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each route with the scope a key needs for it (issue 9: keys carry scopes). */
const struct route routes[] = {
	{"POST", "/api/v1/ingest/upload", "upload", handle_upload, ROUTE_AUTH | ROUTE_UPLOAD, SCOPE_INGEST},
	{"GET", "/api/v1/ingest/status/{id}", "status", handle_status, ROUTE_AUTH, SCOPE_READ},
	{"GET", "/api/v1/ingest/stats", "stats", handle_stats, ROUTE_AUTH, SCOPE_READ},
	{"GET", "/api/v1/ingest/health", "ingest_health", handle_ingest_health, ROUTE_AUTH, SCOPE_READ},
	{"GET", "/api/v1/ingest/mail", "mail_messages", handle_mail_messages, ROUTE_AUTH, SCOPE_READ},
	{"POST", "/api/v1/ingest/{id}/retry", "retry", handle_retry, ROUTE_AUTH, SCOPE_ADMIN},
	{"GET", "/api/v1/invoices", "invoices", handle_invoices_search, ROUTE_AUTH, SCOPE_READ},
	{"GET", "/api/v1/invoices/{id}", "invoice", handle_invoice, ROUTE_AUTH, SCOPE_READ},
	{"DELETE", "/api/v1/invoices/{id}", "purge", handle_purge, ROUTE_AUTH, SCOPE_ADMIN},
	{"GET", "/api/v1/invoices/{id}/file", "invoice_file", handle_invoice_file, ROUTE_AUTH, SCOPE_READ},
	{"POST", "/api/v1/keys", "key_create", handle_key_create, ROUTE_AUTH | ROUTE_BODY, SCOPE_ADMIN},
	{"DELETE", "/api/v1/keys/{id}", "key_revoke", handle_key_revoke, ROUTE_AUTH, SCOPE_ADMIN},
	/* webhooks (handlers_webhook.c): the signature authenticates, no API key */
	{"POST", "/api/v1/ingest/webhook/{id}", "webhook_ingest", handle_webhook_ingest,
	 ROUTE_BODY | ROUTE_FILE_BODY, 0},
	{"GET", "/api/v1/subscriptions", "subscriptions", handle_subscriptions, ROUTE_AUTH, SCOPE_ADMIN},
	{"POST", "/api/v1/subscriptions", "subscription_create", handle_subscription_create, ROUTE_AUTH | ROUTE_BODY,
	 SCOPE_ADMIN},
	{"DELETE", "/api/v1/subscriptions/{id}", "subscription_delete", handle_subscription_delete, ROUTE_AUTH,
	 SCOPE_ADMIN},
	{"GET", "/api/v1/subscriptions/{id}/deliveries", "subscription_deliveries", handle_subscription_deliveries,
	 ROUTE_AUTH, SCOPE_ADMIN},
	/* review and the web page (issue 14): handlers_review.c, handlers_session.c, static_files.c */
	{"PATCH", "/api/v1/invoices/{id}", "invoice_correct", handle_invoice_correct, ROUTE_AUTH | ROUTE_BODY,
	 SCOPE_REVIEW},
	{"POST", "/api/v1/invoices/{id}/approve", "invoice_approve", handle_invoice_approve, ROUTE_AUTH, SCOPE_REVIEW},
	{"GET", "/api/v1/audit", "audit", handle_audit, ROUTE_AUTH, SCOPE_ADMIN},
	{"POST", "/api/v1/session", "session_create", handle_session_create, ROUTE_BODY, 0},
	{"GET", "/api/v1/session", "session", handle_session_get, 0, 0},
	{"DELETE", "/api/v1/session", "session_delete", handle_session_delete, 0, 0},
	{"GET", "/", "page", handle_page, 0, 0},
	{"GET", "/web/{id}", "page_file", handle_static, 0, 0},
	{"GET", "/web/vendor/{id}", "page_vendor_file", handle_static_vendor, 0, 0},
	{"GET", "/health", "health", handle_liveness, 0, 0},
	{"GET", "/ready", "ready", handle_ready, 0, 0},
	{"GET", "/metrics", "metrics", handle_metrics, ROUTE_AUTH | ROUTE_METRICS, SCOPE_READ},
};
const size_t n_routes = sizeof(routes) / sizeof(routes[0]);

void
request_body_append(struct request *req, const char *data, size_t n)
{
	size_t		max = req->route && (req->route->flags & ROUTE_FILE_BODY) ? route_file_body_max() : ROUTE_BODY_MAX;

	/* a file-sized body takes an upload slot, so uploads' memory bound holds */
	if (max > ROUTE_BODY_MAX && !req->body_slot && !req->body_no_slot)
	{
		req->body_slot = upload_slot_take();
		req->body_no_slot = !req->body_slot;
	}
	if (req->body_no_slot)
		return;
	if (req->body_too_large || req->body_len + n > max)
	{
		req->body_too_large = true;
		return;
	}
	if (!req->body && max <= ROUTE_BODY_MAX && !(req->body = malloc(ROUTE_BODY_MAX + 1)))
	{
		req->body_too_large = true;
		return;
	}
	/* a large body (webhooks) grows as it comes */
	if (max > ROUTE_BODY_MAX && req->body_len + n + 1 > req->body_cap)
	{
		size_t		cap = req->body_cap ? req->body_cap : 64 * 1024;
		char	   *grown;

		while (cap < req->body_len + n + 1)
			cap *= 2;
		if (!(grown = realloc(req->body, cap)))
		{
			req->body_too_large = true;
			return;
		}
		req->body = grown;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, n);
	req->body_len += n;
	req->body[req->body_len] = '\0';
}

size_t
route_file_body_max(void)
{
	return cfg.max_file_bytes / 3 * 4 + 4 + 80 * 1024;
}

void
request_body_free(struct request *req)
{
	if (req->body_slot)
		upload_slot_give();
	req->body_slot = false;
	free(req->body);
	req->body = NULL;
	req->body_len = 0;
}

json_t *
request_body_object(struct request *req, struct reply *out, const char *detail)
{
	json_error_t jerr;
	json_t	   *body;

	if (req->body_too_large)
	{
		reply_problem(out, 413, req->request_id, "the body is too large (at most %d bytes)", ROUTE_BODY_MAX);
		return NULL;
	}
	body = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(body))
	{
		json_decref(body);
		reply_problem(out, 400, req->request_id, "%s", detail);
		return NULL;
	}
	return body;
}

size_t
route_index(const struct route *r)
{
	if (r && r >= routes && r < routes + n_routes)
		return (size_t) (r - routes);
	return n_routes;
}

/*
 * Does path match pattern? Literal segments compare exactly; "{...}" takes one
 * non-empty segment (no '/'), copied into param when it fits.
 */
static bool
path_matches(const char *pattern, const char *path, char *param, size_t paramsz, bool *param_fits)
{
	const char *p = pattern;
	const char *s = path;

	*param_fits = true;
	if (param && paramsz)
		param[0] = '\0';		/* a pattern without "{...}" has an empty parameter */
	while (*p)
	{
		if (*p == '{')
		{
			const char *close = strchr(p, '}');
			size_t		n = 0;

			if (!close)
				return false;
			while (s[n] && s[n] != '/')
				n++;
			if (n == 0)
				return false;
			if (param && paramsz)
			{
				if (n < paramsz)
				{
					memcpy(param, s, n);
					param[n] = '\0';
				}
				else
				{
					param[0] = '\0';
					*param_fits = false;
				}
			}
			s += n;
			p = close + 1;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	return *s == '\0';
}

static bool
method_accepts(const char *route_method, const char *method)
{
	return strcmp(route_method, method) == 0 ||
		(strcmp(route_method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

enum route_match
route_find(const struct route *table, size_t n, const char *method, const char *path,
		   const struct route **out, char *param, size_t paramsz, char *allow, size_t allowsz)
{
	bool		path_known = false;
	size_t		alen = 0;

	*out = NULL;
	if (param && paramsz)
		param[0] = '\0';
	if (allow && allowsz)
		allow[0] = '\0';
	if (!method || !path)
		return ROUTE_NOT_FOUND;
	for (size_t i = 0; i < n; i++)
	{
		bool		fits;
		char		scratch[ROUTE_PARAM_MAX + 1] = "";

		if (!path_matches(table[i].pattern, path, scratch, sizeof(scratch), &fits))
			continue;
		if (method_accepts(table[i].method, method))
		{
			*out = &table[i];
			if (param && paramsz)
				snprintf(param, paramsz, "%s", fits ? scratch : "");
			return ROUTE_FOUND;
		}
		path_known = true;
		if (allow && allowsz > alen + 1)
		{
			const char *extra = strcmp(table[i].method, "GET") == 0 ? ", HEAD" : "";
			int			w = snprintf(allow + alen, allowsz - alen, "%s%s%s",
									 alen ? ", " : "", table[i].method, extra);

			if (w > 0 && (size_t) w < allowsz - alen)
				alen += (size_t) w;
			else
				allow[alen] = '\0';
		}
	}
	return path_known ? ROUTE_METHOD_NOT_ALLOWED : ROUTE_NOT_FOUND;
}
