/*
 * db_pool.h: a bounded pool of libpq connections shared by the request threads.
 *
 * One SQL statement per call. Connections are opened lazily, checked for a
 * server-side close before reuse (so a database restart costs 503s while it is
 * down and nothing after), and reopened after a connection failure.
 */
#ifndef GATEWAY_DB_POOL_H
#define GATEWAY_DB_POOL_H

#include <libpq-fe.h>
#include <stdbool.h>

struct db_error
{
	unsigned int http_status;	/* 400, 404, 409, 503, 500 */
	char		sqlstate[6];	/* "" for a connection failure */
	char		message[600];	/* for the client: only for 4xx, generic otherwise */
};

bool		db_pool_init(const char *conninfo, int size, int wait_ms, const char *application_name);
void		db_pool_shutdown(void);
/* Every session the pool opens from now on runs SET statement_timeout / lock_timeout (ms; 0: none). */
void		db_pool_set_timeouts(int statement_timeout_ms, int lock_timeout_ms);

/*
 * Runs sql with text parameters except where formats[i] is 1 (binary).
 * Returns a PGRES_TUPLES_OK result (caller PQclear()s it) or NULL with err set.
 * retry_safe: the statement may run twice (reads), so a connection found dead
 * when the statement is sent is reopened and the statement retried once.
 */
PGresult   *db_exec(const char *request_id, const char *sql, int nparams,
					const char *const *values, const int *lengths, const int *formats,
					bool retry_safe, struct db_error *err);

/* The same with the result in text (0) or binary (1) format (binary: bytea without hex). */
PGresult   *db_exec_format(const char *request_id, const char *sql, int nparams,
						   const char *const *values, const int *lengths, const int *formats,
						   int result_format, bool retry_safe, struct db_error *err);

/* SQLSTATE -> HTTP status (PostgREST-style); NULL or "" is a connection failure. */
unsigned int db_sqlstate_http_status(const char *sqlstate);

struct db_pool_stats
{
	int			size;
	int			in_use;
	int			open;
	unsigned long long acquired;
	unsigned long long wait_timeouts;
	unsigned long long connect_failures;
	double		wait_seconds;
};
void		db_pool_get_stats(struct db_pool_stats *s);

#endif
