/*
 * routes.h: the route table and the request every handler receives.
 *
 * Adding an endpoint is one entry in routes.c and one handler (a function
 * struct request * -> struct reply, in a handlers_*.c file). server.c does all
 * of the HTTP mechanics (matching, auth, request id, logs, metrics) around it.
 */
#ifndef GATEWAY_ROUTES_H
#define GATEWAY_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "problem.h"
#include "request_id.h"

struct upload;
struct MHD_Connection;

#define ROUTE_PARAM_MAX 128

/* One HTTP request, from its headers to its completion. */
struct request
{
	struct MHD_Connection *conn;
	const char *method;			/* as MHD gives it; valid for the request */
	const char *path;
	const struct route *route;	/* NULL: no route matched */
	char		param[ROUTE_PARAM_MAX + 1];	/* the {id} path segment, if any */
	char		request_id[REQUEST_ID_MAX + 1];
	char		traceparent[56];	/* W3C trace context: the client's, or generated (trace.c) */
	double		started;		/* monotonic seconds */
	struct upload *upload;		/* multipart state of an upload route */
	struct reply reply;
	bool		queued;			/* reply handed to MHD */
	unsigned int log_status;	/* status for the log when no reply was sent (408, 499) */
	char		note[160];		/* internal reason, logged, never sent */
	char		filename[256];	/* uploaded file name, for the log line */
	uint64_t	body_bytes;		/* request body bytes received */
	char	   *body;			/* a ROUTE_BODY route's body (malloc'd, NUL-terminated) */
	size_t		body_len;
	size_t		body_cap;		/* allocated size of a large body (ROUTE_FILE_BODY) */
	bool		body_slot;		/* ROUTE_FILE_BODY: holds an upload slot (upload.c) */
	bool		body_no_slot;	/* ROUTE_FILE_BODY: no slot came free; the body is dropped */
	bool		body_too_large;	/* more than ROUTE_BODY_MAX bytes came */
	unsigned int scopes;		/* the caller's scopes (SCOPE_*), once auth_route() allowed it */
	char		actor[128];		/* a web session's key name (session.c), or "" */
};

#define ROUTE_BODY_MAX 4096

/* Appends a piece of a ROUTE_BODY route's body; past ROUTE_BODY_MAX it only counts. */
void		request_body_append(struct request *req, const char *data, size_t n);
void		request_body_free(struct request *req);
/*
 * A ROUTE_BODY route's body as a JSON object (the caller owns it), or NULL once
 * out holds the answer: 413 past ROUTE_BODY_MAX, 400 with detail for anything
 * that is not one JSON object.
 */
json_t	   *request_body_object(struct request *req, struct reply *out, const char *detail);
/* a ROUTE_FILE_BODY body: MAX_FILE_SIZE_MB as base64 (4/3) plus 80 KB of envelope */
size_t		route_file_body_max(void);

typedef void (*handler_fn) (struct request *req, struct reply *out);

enum route_flags
{
	ROUTE_AUTH = 1 << 0,		/* needs an API key when keys are required (see scope) */
	ROUTE_UPLOAD = 1 << 1,		/* body is multipart, streamed by upload.c */
	ROUTE_BODY = 1 << 2,		/* a small body (JSON), kept in req->body */
	ROUTE_METRICS = 1 << 3,		/* open without a key when METRICS_PUBLIC=true */
	ROUTE_FILE_BODY = 1 << 4,	/* with ROUTE_BODY: a body up to route_file_body_max() (webhooks) */
};

/*
 * What an API key may do (README § API keys and scopes). A route names the one
 * scope it needs; auth_route() (auth.c) checks it.
 */
enum scope
{
	SCOPE_INGEST = 1 << 0,		/* uploads and every other way in */
	SCOPE_READ = 1 << 1,		/* status, stats, health, the query API, files, metrics */
	SCOPE_REVIEW = 1 << 2,		/* changes to extracted data */
	SCOPE_ADMIN = 1 << 3,		/* retry, purge, keys */
};

struct route
{
	const char *method;			/* "GET" also answers HEAD */
	const char *pattern;		/* literal segments and "{id}" */
	const char *name;			/* metrics label */
	handler_fn	handler;
	int			flags;
	unsigned int scope;			/* SCOPE_* a key needs (ROUTE_AUTH); 0 there means SCOPE_ADMIN */
};

extern const struct route routes[];
extern const size_t n_routes;

enum route_match
{
	ROUTE_FOUND,
	ROUTE_NOT_FOUND,
	ROUTE_METHOD_NOT_ALLOWED,
};

/*
 * Finds the route for method and path (query string already removed).
 * ROUTE_FOUND: *out is set and param holds the {id} segment (or "").
 * ROUTE_METHOD_NOT_ALLOWED: allow holds the methods the path accepts.
 */
enum route_match route_find(const struct route *table, size_t n, const char *method,
							const char *path, const struct route **out,
							char *param, size_t paramsz, char *allow, size_t allowsz);

/* The index of a route for metrics: its position, or n_routes for "unmatched". */
size_t		route_index(const struct route *r);

#endif
