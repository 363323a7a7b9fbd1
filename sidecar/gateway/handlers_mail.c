/*
 * handlers_mail.c: the email way in as the REST API shows it (issue 12).
 *   GET /api/v1/ingest/mail   invoiceflow.mail_messages(cursor, limit, outcome): the
 *                             messages the mail sidecar took, newest first, keyset-paginated
 *                             ({"items": [...], "next_cursor"}); read scope
 * and the mail lines of /metrics, from invoiceflow.mail_metrics(): the sidecar
 * has no HTTP server of its own, and its counters live in the database anyway.
 */
#include "handlers.h"
#include "db_pool.h"
#include "../../src/common/sidecar_log.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAIL_NPARAMS 3
static const char *const mail_params[MAIL_NPARAMS] = {"cursor", "limit", "outcome"};

struct mail_query
{
	const char *values[MAIL_NPARAMS];
	char		error[200];
};

static enum MHD_Result
collect_mail_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct mail_query *q = cls;

	(void) kind;
	for (int i = 0; i < MAIL_NPARAMS; i++)
		if (strcmp(key, mail_params[i]) == 0)
		{
			if (q->values[i])
			{
				snprintf(q->error, sizeof(q->error), "parameter %s given twice", mail_params[i]);
				return MHD_NO;
			}
			q->values[i] = value ? value : "";
			return MHD_YES;
		}
	snprintf(q->error, sizeof(q->error), "unknown parameter (known: cursor, limit, outcome)");
	return MHD_NO;
}

void
handle_mail_messages(struct request *req, struct reply *out)
{
	struct mail_query q;
	struct db_error err;
	PGresult   *res;
	const char *limit;

	memset(&q, 0, sizeof(q));
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, collect_mail_arg, &q);
	limit = q.values[1];
	if (!q.error[0] && limit && (strlen(limit) == 0 || strlen(limit) > 4 || strspn(limit, "0123456789") != strlen(limit)))
		snprintf(q.error, sizeof(q.error), "limit must be from 1 to 200");
	if (q.error[0])
	{
		reply_problem(out, 400, req->request_id, "%s", q.error);
		return;
	}
	if (!(res = db_exec(req->request_id,
						"SELECT invoiceflow.mail_messages(nullif($1, ''), coalesce($2::integer, 50), nullif($3, ''))",
						MAIL_NPARAMS, q.values, NULL, NULL, true, &err)))
	{
		reply_problem(out, err.http_status, req->request_id, "%s", err.message);
		if (err.http_status == 503)
			out->retry_after = 1;
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		reply_problem(out, 500, req->request_id, "internal error; see the gateway log for request %s",
					  req->request_id);
	else
		reply_raw(out, 200, "application/json", PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));
	PQclear(res);
}

static void
append(char **text, size_t *len, const char *fmt,...) __attribute__((format(printf, 3, 4)));
static void
append(char **text, size_t *len, const char *fmt,...)
{
	va_list		ap;
	char	   *line = NULL;
	int			n;
	char	   *grown;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	grown = realloc(*text, *len + (size_t) n + 1);
	if (grown)
	{
		memcpy(grown + *len, line, (size_t) n + 1);
		*text = grown;
		*len += (size_t) n;
	}
	free(line);
}

void
metrics_append_mail(const char *request_id, char **text, size_t *len)
{
	struct db_error err;
	PGresult   *res = db_exec(request_id, "SELECT invoiceflow.mail_metrics()", 0, NULL, NULL, NULL, true, &err);
	json_t	   *m,
			   *by,
			   *since;
	static const char *const outcomes[] = {"ingested", "partial", "rejected", "no_invoice"};

	/* no database, or no mail functions: /metrics still answers, without these lines */
	if (!res)
		return;
	m = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
	PQclear(res);
	if (!m)
		return;
	by = json_object_get(m, "messages_by_outcome");
	append(text, len, "# HELP invoiceflow_mail_messages_total Messages the mail sidecar took, by outcome.\n"
		   "# TYPE invoiceflow_mail_messages_total counter\n");
	for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
		append(text, len, "invoiceflow_mail_messages_total{outcome=\"%s\"} %lld\n", outcomes[i],
			   (long long) json_integer_value(json_object_get(by, outcomes[i])));
	append(text, len, "# HELP invoiceflow_mail_parts_total PDF parts of mail messages, ingested or rejected by ingest().\n"
		   "# TYPE invoiceflow_mail_parts_total counter\n"
		   "invoiceflow_mail_parts_total{result=\"ingested\"} %lld\n"
		   "invoiceflow_mail_parts_total{result=\"rejected\"} %lld\n",
		   (long long) json_integer_value(json_object_get(m, "parts_ingested")),
		   (long long) json_integer_value(json_object_get(m, "parts_rejected")));
	append(text, len, "# HELP invoiceflow_mail_accounts Mail accounts that reported, and those failing now.\n"
		   "# TYPE invoiceflow_mail_accounts gauge\n"
		   "invoiceflow_mail_accounts{state=\"all\"} %lld\n"
		   "invoiceflow_mail_accounts{state=\"unhealthy\"} %lld\n",
		   (long long) json_integer_value(json_object_get(m, "accounts")),
		   (long long) json_integer_value(json_object_get(m, "accounts_unhealthy")));
	since = json_object_get(m, "seconds_since_last_success");
	append(text, len, "# HELP invoiceflow_mail_seconds_since_last_check Seconds since a mail account was last checked successfully (no sample until one was).\n"
		   "# TYPE invoiceflow_mail_seconds_since_last_check gauge\n");
	/* never checked: no sample (as Prometheus clients do for an unknown gauge), never NaN */
	if (json_is_number(since))
		append(text, len, "invoiceflow_mail_seconds_since_last_check %.3f\n", json_number_value(since));
	json_decref(m);
}
