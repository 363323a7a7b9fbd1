/*
 * db_pool.c: a fixed number of libpq connections shared by the request threads.
 *
 * - A request takes a free slot (waiting up to GATEWAY_POOL_WAIT_MS, else 503),
 *   runs one statement with PQexecParams, and gives the slot back.
 * - Slots connect lazily. Before reuse, an idle connection is polled: a server
 *   that went away (restart, pg_terminate_backend) has sent an error and closed
 *   the socket, so the slot reconnects instead of failing the request. That is
 *   how a database restart costs 503s while it is down and nothing after.
 * - Errors are mapped from SQLSTATE to HTTP the way PostgREST does; only the
 *   messages invoiceflow's functions write for users (22023, 23505, P0002,
 *   IF001) reach the client; PostgreSQL's own texts ("invalid input syntax for
 *   type ...") and everything else are logged here with their SQLSTATE.
 * - Every session gets statement_timeout and lock_timeout
 *   (GATEWAY_STATEMENT_TIMEOUT_MS, GATEWAY_LOCK_TIMEOUT_MS) when it connects, so
 *   no statement and no lock that another login holds can keep a request, and
 *   its pool slot, waiting without end.
 */
#include "db_pool.h"
#include "../../src/common/sidecar_log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot
{
	PGconn	   *conn;
	bool		in_use;
};

static struct
{
	pthread_mutex_t lock;
	pthread_cond_t	freed;
	struct slot *slots;
	int			size;
	int			in_use;
	int			wait_ms;
	char	   *conninfo;
	char	   *appname;
	char		session_sql[160];	/* SET statement_timeout ...; SET lock_timeout ... */
	int			open;			/* connected slots (atomic) */
	unsigned long long acquired;
	unsigned long long wait_timeouts;
	unsigned long long connect_failures;
	double		wait_seconds;
}			pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double
now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool
db_pool_init(const char *conninfo, int size, int wait_ms, const char *application_name)
{
	pthread_condattr_t attr;

	pool.slots = calloc((size_t) size, sizeof(struct slot));
	pool.conninfo = strdup(conninfo);
	pool.appname = strdup(application_name);
	if (!pool.slots || !pool.conninfo || !pool.appname)
		return false;
	pool.size = size;
	pool.wait_ms = wait_ms;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pool.freed, &attr);
	pthread_condattr_destroy(&attr);
	return true;
}

void
db_pool_set_timeouts(int statement_timeout_ms, int lock_timeout_ms)
{
	snprintf(pool.session_sql, sizeof(pool.session_sql),
			 "SET statement_timeout = %d; SET lock_timeout = %d", statement_timeout_ms, lock_timeout_ms);
}

void
db_pool_shutdown(void)
{
	for (int i = 0; i < pool.size; i++)
		if (pool.slots[i].conn)
			PQfinish(pool.slots[i].conn);
	free(pool.slots);
	free(pool.conninfo);
	free(pool.appname);
	pool.slots = NULL;
	pool.size = 0;
	pthread_cond_destroy(&pool.freed);
}

unsigned int
db_sqlstate_http_status(const char *s)
{
	if (!s || !s[0])
		return 503;				/* no server answer: connection failure */
	if (strlen(s) != 5)
		return 500;
	if (strncmp(s, "22", 2) == 0)	/* data exception: ingest()'s 22023 and bad input */
		return 400;
	if (strcmp(s, "23505") == 0)	/* idempotency key reused with other content */
		return 409;
	if (strcmp(s, "IF001") == 0)	/* invalid status transition (retry of a non-FAILED one) */
		return 409;
	if (strcmp(s, "P0002") == 0)	/* no such row (retry of an unknown id) */
		return 404;
	if (strncmp(s, "08", 2) == 0 ||	/* connection exception */
		strcmp(s, "57P01") == 0 ||	/* admin shutdown */
		strcmp(s, "57P02") == 0 ||	/* crash shutdown */
		strcmp(s, "57P03") == 0 ||	/* cannot connect now (starting up) */
		strcmp(s, "57014") == 0 ||	/* statement timeout / cancel */
		strncmp(s, "53", 2) == 0 ||	/* insufficient resources, too many connections */
		strcmp(s, "40001") == 0 ||	/* serialization failure */
		strcmp(s, "40P01") == 0 ||	/* deadlock */
		strcmp(s, "55P03") == 0)	/* lock not available */
		return 503;
	return 500;
}

/* An idle connection that the server has closed (restart): PQconsumeInput sees it. */
static bool
conn_usable(PGconn *conn)
{
	struct pollfd pfd;
	PGnotify   *n;

	if (!conn || PQstatus(conn) != CONNECTION_OK)
		return false;
	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0)
		return false;
	if (poll(&pfd, 1, 0) > 0)
	{
		if (!PQconsumeInput(conn))
			return false;
		while ((n = PQnotifies(conn)) != NULL)
			PQfreemem(n);
	}
	return PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
}

static void
note_connect_failure(void)
{
	pthread_mutex_lock(&pool.lock);
	pool.connect_failures++;
	pthread_mutex_unlock(&pool.lock);
}

/*
 * What libpq would print on stderr (a server's FATAL on an idle connection at
 * shutdown, notices) goes to the log instead, as one line.
 */
static void
notice_to_log(void *arg, const char *message)
{
	char		msg[400];
	size_t		n;

	(void) arg;
	snprintf(msg, sizeof(msg), "%s", message ? message : "");
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	log_info("gateway.db", NULL, "database says: %s", msg);
}

static const char *nz(const char *s);

static PGconn *
connect_one(const char *request_id)
{
	/* the URL may override these: expand_dbname values win over earlier keywords */
	const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
	const char *const vals[] = {"5", pool.appname, pool.conninfo, NULL};
	PGconn	   *conn = PQconnectdbParams(keys, vals, 1);

	if (!conn || PQstatus(conn) != CONNECTION_OK)
	{
		char		msg[300];
		size_t		n;

		snprintf(msg, sizeof(msg), "%s", conn ? PQerrorMessage(conn) : "out of memory");
		n = strlen(msg);
		while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			msg[--n] = '\0';
		log_warning("gateway.db", request_id, "cannot connect to the database: %s", msg);
		PQfinish(conn);
		note_connect_failure();
		return NULL;
	}
	PQsetNoticeProcessor(conn, notice_to_log, NULL);
	if (pool.session_sql[0])
	{
		PGresult   *res = PQexec(conn, pool.session_sql);

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			log_warning("gateway.db", request_id, "cannot set the session's timeouts: %s",
						nz(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)));
			PQclear(res);
			PQfinish(conn);
			note_connect_failure();
			return NULL;
		}
		PQclear(res);
	}
	__atomic_add_fetch(&pool.open, 1, __ATOMIC_RELAXED);
	return conn;
}

static void
close_conn(struct slot *s)
{
	PQfinish(s->conn);
	s->conn = NULL;
	__atomic_sub_fetch(&pool.open, 1, __ATOMIC_RELAXED);
}

static const char *
nz(const char *s)
{
	return s ? s : "";
}

static struct slot *
acquire(void)
{
	struct timespec deadline;
	double		t0 = now_monotonic();
	struct slot *s = NULL;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += pool.wait_ms / 1000;
	deadline.tv_nsec += (long) (pool.wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L)
	{
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pool.lock);
	while (pool.in_use >= pool.size)
	{
		if (pthread_cond_timedwait(&pool.freed, &pool.lock, &deadline) == ETIMEDOUT &&
			pool.in_use >= pool.size)
		{
			pool.wait_timeouts++;
			pool.wait_seconds += now_monotonic() - t0;
			pthread_mutex_unlock(&pool.lock);
			return NULL;
		}
	}
	/* prefer a slot with an open connection */
	for (int i = 0; i < pool.size && !s; i++)
		if (!pool.slots[i].in_use && pool.slots[i].conn)
			s = &pool.slots[i];
	for (int i = 0; i < pool.size && !s; i++)
		if (!pool.slots[i].in_use)
			s = &pool.slots[i];
	s->in_use = true;
	pool.in_use++;
	pool.acquired++;
	pool.wait_seconds += now_monotonic() - t0;
	pthread_mutex_unlock(&pool.lock);
	return s;
}

static void
release(struct slot *s)
{
	pthread_mutex_lock(&pool.lock);
	s->in_use = false;
	pool.in_use--;
	pthread_cond_signal(&pool.freed);
	pthread_mutex_unlock(&pool.lock);
}

static void
set_unavailable(struct db_error *err, const char *sqlstate)
{
	err->http_status = 503;
	snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate ? sqlstate : "");
	snprintf(err->message, sizeof(err->message), "database unavailable, try again later");
}

PGresult *
db_exec(const char *request_id, const char *sql, int nparams, const char *const *values,
		const int *lengths, const int *formats, bool retry_safe, struct db_error *err)
{
	return db_exec_format(request_id, sql, nparams, values, lengths, formats, 0, retry_safe, err);
}

PGresult *
db_exec_format(const char *request_id, const char *sql, int nparams, const char *const *values,
			   const int *lengths, const int *formats, int result_format, bool retry_safe,
			   struct db_error *err)
{
	struct slot *s;
	PGresult   *res = NULL;

	memset(err, 0, sizeof(*err));
	if (!(s = acquire()))
	{
		log_warning("gateway.db", request_id, "no database connection free after %d ms", pool.wait_ms);
		set_unavailable(err, NULL);
		return NULL;
	}
	for (int attempt = 0; attempt < 2; attempt++)
	{
		const char *state;

		if (!conn_usable(s->conn))
		{
			if (s->conn)
			{
				log_info("gateway.db", request_id, "database connection lost, reconnecting");
				close_conn(s);
			}
			if (!(s->conn = connect_one(request_id)))
			{
				set_unavailable(err, NULL);
				break;
			}
		}
		res = PQexecParams(s->conn, sql, nparams, NULL, values, lengths, formats, result_format);
		if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
			break;

		state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (PQstatus(s->conn) != CONNECTION_OK)
		{
			/* the connection died under the statement: reopen next time */
			close_conn(s);
			PQclear(res);
			res = NULL;
			if (retry_safe && attempt == 0)
				continue;
			log_warning("gateway.db", request_id, "database connection failed during a statement%s%s",
						state ? ", SQLSTATE " : "", state ? state : "");
			set_unavailable(err, state);
			break;
		}

		err->http_status = db_sqlstate_http_status(state);
		snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state ? state : "");
		if (err->http_status == 400 && strcmp(err->sqlstate, "22023") != 0)
		{
			/*
			 * A data exception raised by PostgreSQL itself (a cast, an encoding):
			 * its text names types and bytes, not what the client sent wrong.
			 */
			log_info("gateway.db", request_id, "refused by the database (SQLSTATE %s): %s",
					 err->sqlstate, nz(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)));
			snprintf(err->message, sizeof(err->message),
					 "invalid input: a value in the request is malformed (SQLSTATE %s)", err->sqlstate);
		}
		else if (err->http_status == 400 || err->http_status == 409 || err->http_status == 404)
		{
			const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
			const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

			/* the function's own message for the uploader, and its detail when it explains */
			if (err->http_status == 400 && detail && detail[0])
				snprintf(err->message, sizeof(err->message), "%s: %s", primary ? primary : "invalid input", detail);
			else
				snprintf(err->message, sizeof(err->message), "%s", primary ? primary : "invalid input");
			log_info("gateway.db", request_id, "refused by the database (SQLSTATE %s): %s",
					 err->sqlstate, err->message);
		}
		else if (err->http_status == 503)
		{
			log_warning("gateway.db", request_id, "database unavailable (SQLSTATE %s): %s",
						err->sqlstate, nz(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)));
			set_unavailable(err, state);
		}
		else
		{
			log_error("gateway.db", request_id, "statement failed (SQLSTATE %s): %s",
					  err->sqlstate, nz(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)));
			snprintf(err->message, sizeof(err->message), "internal error; see the gateway log for request %s",
					 request_id ? request_id : "-");
		}
		PQclear(res);
		res = NULL;
		break;
	}
	release(s);
	return res;
}

void
db_pool_get_stats(struct db_pool_stats *st)
{
	pthread_mutex_lock(&pool.lock);
	st->size = pool.size;
	st->in_use = pool.in_use;
	st->open = __atomic_load_n(&pool.open, __ATOMIC_RELAXED);
	st->acquired = pool.acquired;
	st->wait_timeouts = pool.wait_timeouts;
	st->connect_failures = pool.connect_failures;
	st->wait_seconds = pool.wait_seconds;
	pthread_mutex_unlock(&pool.lock);
}
