/*
 * daemon_db.h: the daemon's one libpq connection and the worker's SQL API
 * (DESIGN.md § SQL API): claim_next, claim, extend, release, complete, fail,
 * file, and LISTEN invoiceflow. Every call is synchronous and short; a lost
 * connection is closed and reconnected later with a capped backoff.
 */
#ifndef IF_DAEMON_DB_H
#define IF_DAEMON_DB_H

#include <stdbool.h>
#include <stddef.h>

typedef enum db_result
{
	DB_OK = 0,
	DB_STALE,					/* SQLSTATE 55000: the lease is no longer ours */
	DB_GONE,					/* the connection was lost (reconnect pending) */
	DB_ERROR					/* any other SQL error (message in db_error()) */
} db_result;

typedef struct db db;

typedef struct db_claim
{
	char		request_id[37];
	char		lease[37];
} db_claim;

db		   *db_new(const char *url, const char *application_name);
void		db_free(db *d);

/* Connects when not connected and the backoff allows it; true when connected. */
bool		db_ensure(db *d, double now);
bool		db_connected(const db *d);
/* the socket to poll for NOTIFYs, or -1 */
int			db_socket(const db *d);
/* Reads what arrived; true when a NOTIFY invoiceflow came (or the connection was renewed). */
bool		db_take_notifies(db *d);
/* invoiceflow.lease_seconds as the server sees it (re-read by db_refresh_lease) */
int			db_lease_seconds(const db *d);
void		db_refresh_lease(db *d);
const char *db_error(const db *d);

/* Up to max claims into out[]; *n set. */
db_result	db_claim_next(db *d, const char *worker, int max, db_claim *out, int *n);
/* lease[0] = '\0' when claim() returned NULL */
db_result	db_claim_one(db *d, const char *request_id, const char *worker, char lease[37]);
/*
 * The file's bytes while PostgreSQL keeps them (*bytes NULL otherwise), and,
 * when the role may call status(), its filename and s3_key (else NULL), and
 * its traceparent (NULL for ingestions from before 0.6).
 * Everything returned is malloc'd.
 */
db_result	db_fetch(db *d, const char *request_id, unsigned char **bytes, size_t *len,
					 char **filename, char **s3_key, char **traceparent);
db_result	db_extend(db *d, const char *request_id, const char *lease);
db_result	db_release(db *d, const char *request_id, const char *lease);
db_result	db_complete(db *d, const char *request_id, const char *lease, const char *result_json);
db_result	db_fail(db *d, const char *request_id, const char *lease, const char *reason);

#endif
