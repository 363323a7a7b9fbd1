/* daemon_db.c: libpq connection, reconnect with backoff, the worker's SQL calls. */
#include "daemon_db.h"
#include "daemon_log.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct db
{
	char	   *url;
	char	   *app;
	PGconn	   *conn;
	double		next_try;		/* earliest reconnect attempt */
	double		backoff;		/* seconds, doubled per failure up to 30 */
	bool		can_status;		/* the role may call status() */
	bool		renewed;		/* connected anew: look for work */
	bool		was_connected;
	int			lease_seconds;
	char		err[512];
};

db *
db_new(const char *url, const char *application_name)
{
	db		   *d = calloc(1, sizeof *d);

	if (!d)
		return NULL;
	d->url = strdup(url);
	d->app = strdup(application_name);
	d->lease_seconds = 300;
	d->backoff = 0.5;
	return d;
}

void
db_free(db *d)
{
	if (!d)
		return;
	if (d->conn)
		PQfinish(d->conn);
	free(d->url);
	free(d->app);
	free(d);
}

bool
db_connected(const db *d)
{
	return d->conn != NULL;
}

int
db_socket(const db *d)
{
	return d->conn ? PQsocket(d->conn) : -1;
}

int
db_lease_seconds(const db *d)
{
	return d->lease_seconds;
}

const char *
db_error(const db *d)
{
	return d->err;
}

static void
set_err(db *d, const char *msg)
{
	size_t		n;

	snprintf(d->err, sizeof d->err, "%s", msg ? msg : "unknown error");
	n = strlen(d->err);
	while (n > 0 && (d->err[n - 1] == '\n' || d->err[n - 1] == ' '))
		d->err[--n] = '\0';
}

static void
lost(db *d, double now)
{
	if (d->conn)
		PQfinish(d->conn);
	d->conn = NULL;
	d->next_try = now;			/* the first retry at once, then the backoff */
}

/* Runs one statement; DB_OK with *res (PQclear it) when it succeeded. */
static db_result
run(db *d, const char *sql, int nparams, const char *const *params, int binary, PGresult **res)
{
	PGresult   *r;
	ExecStatusType st;

	*res = NULL;
	if (!d->conn)
	{
		set_err(d, "not connected to PostgreSQL");
		return DB_GONE;
	}
	r = PQexecParams(d->conn, sql, nparams, NULL, params, NULL, NULL, binary);
	st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
	{
		*res = r;
		return DB_OK;
	}
	set_err(d, r ? PQresultErrorMessage(r) : PQerrorMessage(d->conn));
	if (PQstatus(d->conn) != CONNECTION_OK)
	{
		PQclear(r);
		plog(LOG_WARNING, NULL, NULL, "lost the PostgreSQL connection: %s", d->err);
		lost(d, 0);
		return DB_GONE;
	}
	{
		const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
		db_result	out = state && strcmp(state, "55000") == 0 ? DB_STALE : DB_ERROR;

		PQclear(r);
		return out;
	}
}

void
db_refresh_lease(db *d)
{
	PGresult   *r;

	/* current_setting() gives the value with its unit ("5min"), which interval reads */
	if (run(d, "SELECT coalesce(extract(epoch FROM current_setting('invoiceflow.lease_seconds', true)"
			"::interval)::int, 300)", 0, NULL, 0, &r) == DB_OK)
	{
		int			s = atoi(PQgetvalue(r, 0, 0));

		d->lease_seconds = s >= 3 ? s : 3;
		PQclear(r);
	}
}

bool
db_ensure(db *d, double now)
{
	PGresult   *r;
	const char *keys[] = {"application_name", "connect_timeout", "dbname", NULL};
	const char *vals[] = {d->app, "10", d->url, NULL};

	if (d->conn)
		return true;
	if (now < d->next_try)
		return false;
	/* defaults first: the URL's own settings override them */
	d->conn = PQconnectdbParams(keys, vals, 1);
	if (!d->conn || PQstatus(d->conn) != CONNECTION_OK)
	{
		set_err(d, d->conn ? PQerrorMessage(d->conn) : "out of memory");
		if (d->conn)
			PQfinish(d->conn);
		d->conn = NULL;
		plog(LOG_WARNING, NULL, json_pack("{s:f}", "retry_in_s", d->backoff),
			 "cannot connect to PostgreSQL: %s", d->err);
		d->next_try = now + d->backoff;
		d->backoff = d->backoff * 2 > 30 ? 30 : d->backoff * 2;
		return false;
	}
	d->backoff = 0.5;
	if (run(d, "LISTEN invoiceflow", 0, NULL, 0, &r) != DB_OK)
	{
		plog(LOG_ERROR, NULL, NULL, "LISTEN invoiceflow failed: %s", d->err);
		lost(d, now + 5);
		d->next_try = now + 5;
		return false;
	}
	PQclear(r);
	d->can_status = false;
	if (run(d, "SELECT has_function_privilege('invoiceflow.status(uuid)', 'EXECUTE')", 0, NULL, 0, &r) == DB_OK)
	{
		d->can_status = PQgetvalue(r, 0, 0)[0] == 't';
		PQclear(r);
	}
	else if (!d->conn)
		return false;
	db_refresh_lease(d);
	if (!d->conn)
		return false;
	plog(LOG_INFO, NULL, json_pack("{s:i,s:b}", "lease_seconds", d->lease_seconds,
									"status_allowed", d->can_status),
		 d->was_connected ? "reconnected to PostgreSQL" : "connected to PostgreSQL");
	d->was_connected = true;
	d->renewed = true;
	return true;
}

bool
db_take_notifies(db *d)
{
	bool		any = d->renewed;
	PGnotify   *n;

	d->renewed = false;
	if (!d->conn)
		return any;
	if (!PQconsumeInput(d->conn))
	{
		set_err(d, PQerrorMessage(d->conn));
		plog(LOG_WARNING, NULL, NULL, "lost the PostgreSQL connection: %s", d->err);
		lost(d, 0);
		return any;
	}
	while ((n = PQnotifies(d->conn)) != NULL)
	{
		any = true;
		PQfreemem(n);
	}
	return any;
}

db_result
db_claim_next(db *d, const char *worker, int max, db_claim *out, int *n)
{
	char		maxs[16];
	const char *p[2] = {worker, maxs};
	PGresult   *r;
	db_result	st;

	*n = 0;
	snprintf(maxs, sizeof maxs, "%d", max);
	st = run(d, "SELECT request_id, lease FROM invoiceflow.claim_next($1, $2::int)", 2, p, 0, &r);
	if (st != DB_OK)
		return st;
	for (int i = 0; i < PQntuples(r) && i < max; i++)
	{
		snprintf(out[i].request_id, sizeof out[i].request_id, "%s", PQgetvalue(r, i, 0));
		snprintf(out[i].lease, sizeof out[i].lease, "%s", PQgetvalue(r, i, 1));
		(*n)++;
	}
	PQclear(r);
	return DB_OK;
}

db_result
db_claim_one(db *d, const char *request_id, const char *worker, char lease[37])
{
	const char *p[2] = {request_id, worker};
	PGresult   *r;
	db_result	st;

	lease[0] = '\0';
	st = run(d, "SELECT invoiceflow.claim($1::uuid, $2)", 2, p, 0, &r);
	if (st != DB_OK)
		return st;
	if (!PQgetisnull(r, 0, 0))
		snprintf(lease, 37, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return DB_OK;
}

static char *
dup_value(PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? NULL : strdup(PQgetvalue(r, 0, col));
}

db_result
db_fetch(db *d, const char *request_id, unsigned char **bytes, size_t *len,
		 char **filename, char **s3_key, char **traceparent)
{
	const char *p[1] = {request_id};
	PGresult   *r;
	db_result	st;

	*bytes = NULL;
	*len = 0;
	*filename = *s3_key = *traceparent = NULL;
	/* binary results: the bytea as is, the text columns as plain strings */
	st = run(d, d->can_status
			 ? "SELECT invoiceflow.file($1::uuid), s->>'filename', s->>'s3_key',"
			 "  invoiceflow.traceparent($1::uuid)"
			 "  FROM (SELECT invoiceflow.status($1::uuid) AS s) x"
			 : "SELECT invoiceflow.file($1::uuid), NULL::text, NULL::text,"
			 "  invoiceflow.traceparent($1::uuid)", 1, p, 1, &r);
	if (st != DB_OK)
		return st;
	if (PQntuples(r) == 1)
	{
		if (!PQgetisnull(r, 0, 0))
		{
			size_t		n = (size_t) PQgetlength(r, 0, 0);

			*bytes = malloc(n ? n : 1);
			if (*bytes)
			{
				memcpy(*bytes, PQgetvalue(r, 0, 0), n);
				*len = n;
			}
		}
		*filename = dup_value(r, 1);
		*s3_key = dup_value(r, 2);
		*traceparent = dup_value(r, 3);
	}
	PQclear(r);
	return DB_OK;
}

static db_result
call(db *d, const char *sql, int n, const char *const *p)
{
	PGresult   *r;
	db_result	st = run(d, sql, n, p, 0, &r);

	if (st == DB_OK)
		PQclear(r);
	return st;
}

db_result
db_extend(db *d, const char *request_id, const char *lease)
{
	const char *p[2] = {request_id, lease};

	return call(d, "SELECT invoiceflow.extend($1::uuid, $2::uuid)", 2, p);
}

db_result
db_release(db *d, const char *request_id, const char *lease)
{
	const char *p[2] = {request_id, lease};

	return call(d, "SELECT invoiceflow.release($1::uuid, $2::uuid)", 2, p);
}

db_result
db_complete(db *d, const char *request_id, const char *lease, const char *result_json)
{
	const char *p[3] = {request_id, lease, result_json};

	return call(d, "SELECT invoiceflow.complete($1::uuid, $2::uuid, $3::jsonb)", 3, p);
}

db_result
db_fail(db *d, const char *request_id, const char *lease, const char *reason)
{
	const char *p[3] = {request_id, lease, reason};

	return call(d, "SELECT invoiceflow.fail($1::uuid, $2::uuid, $3)", 3, p);
}
