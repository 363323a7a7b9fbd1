/*
 * opensearch_client.h: a small OpenSearch REST client (libcurl + jansson).
 *
 * Free of PostgreSQL headers: linked into the extension's background worker
 * and usable from the sidecars. No global state; one osc_client per thread
 * (it owns one reusable curl easy handle, so connections are kept alive).
 * The caller runs curl_global_init() once per process before the first client.
 *
 * Every call returns an osc_status and, when not OSC_OK, fills *err (if given)
 * with a readable message taken from OpenSearch's error.reason / error.type,
 * or from libcurl. Credentials in the base URL are never put in messages.
 *
 *   OSC_TRANSIENT  retry later: connection refused/reset/empty reply, timeouts,
 *                  DNS, HTTP 408, 429 and 5xx, an unreadable answer
 *   OSC_PERMANENT  retrying the same request cannot help: other 4xx (malformed
 *                  request, mapping conflict, auth), a bad URL or argument
 *   OSC_ABORTED    the abort callback asked to stop (e.g. a pending interrupt)
 */
#ifndef INVOICEFLOW_OPENSEARCH_CLIENT_H
#define INVOICEFLOW_OPENSEARCH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

typedef enum osc_status
{
	OSC_OK = 0,
	OSC_TRANSIENT = 1,
	OSC_PERMANENT = 2,
	OSC_ABORTED = 3
} osc_status;

#define OSC_MESSAGE_MAX 512

typedef struct osc_error
{
	osc_status	status;
	long		http_status;	/* 0 when no HTTP answer came */
	char		type[96];		/* OpenSearch error.type, or "" */
	char		message[OSC_MESSAGE_MAX];
} osc_error;

/* "ok", "transient", "permanent", "aborted" */
extern const char *osc_status_name(osc_status s);

/* Non-zero return aborts the transfer in progress (CURLOPT_XFERINFOFUNCTION). */
typedef int (*osc_abort_fn) (void *arg);

typedef struct osc_client osc_client;

/*
 * base_url: http(s)://[user:password@]host[:port][/prefix]; user and password
 * may be percent-encoded and are sent as HTTP basic auth. NULL on a bad URL
 * or out of memory (*err says which). Default timeouts: connect 5 s, total 30 s.
 */
extern osc_client *osc_client_new(const char *base_url, osc_error *err);
extern void osc_client_free(osc_client *c);
/* 0 leaves a timeout unchanged */
extern void osc_client_set_timeouts(osc_client *c, long connect_timeout_ms, long total_timeout_ms);
extern void osc_client_set_abort(osc_client *c, osc_abort_fn fn, void *arg);
/* the base URL without credentials, for logs */
extern const char *osc_client_url(const osc_client *c);

/*
 * One request. path starts with '/', body may be NULL (then body_len is
 * ignored), content_type NULL means application/json. On any HTTP answer
 * *http_status is set and *response (if not NULL) gets the parsed JSON body
 * (NULL for an empty or non-JSON body), also for 4xx/5xx; the caller
 * json_decref()s it. The result is OSC_OK for 2xx.
 */
extern osc_status osc_request(osc_client *c, const char *method, const char *path,
							  const char *content_type, const char *body, size_t body_len,
							  long *http_status, json_t **response, osc_error *err);

/* ------------------------------------------------------------------ index */

/*
 * Creates index with body (NULL = the invoices index: its settings and explicit
 * mapping, in opensearch_client.c) unless it exists.
 * An existing index (400 resource_already_exists_exception) is OSC_OK with
 * *created = false; its mapping is not compared.
 */
extern osc_status osc_ensure_index(osc_client *c, const char *index, const char *body,
								   bool *created, osc_error *err);

/* POST /<index>/_refresh (tests; production relies on the refresh interval) */
extern osc_status osc_refresh(osc_client *c, const char *index, osc_error *err);

/* GET /_cluster/health: OSC_OK when green or yellow; red is OSC_TRANSIENT.
 * cluster_status (may be NULL) receives "green", "yellow", "red" or "". */
extern osc_status osc_health(osc_client *c, char *cluster_status, size_t status_len, osc_error *err);

/*
 * POST /<index>/_search with query (a JSON object, not consumed). On OSC_OK
 * *response is the parsed answer (hits, aggregations, ...), the caller's to
 * json_decref(); on error *response is NULL.
 */
extern osc_status osc_search(osc_client *c, const char *index, const json_t *query,
							 json_t **response, osc_error *err);

/* ------------------------------------------------------------------ bulk */

typedef enum osc_bulk_action
{
	OSC_BULK_INDEX,
	OSC_BULK_DELETE
} osc_bulk_action;

typedef struct osc_bulk_item
{
	osc_bulk_action action;
	const char *id;
	osc_status	status;			/* OSC_OK once sent and accepted */
	long		http_status;	/* the item's status in the response; 0 if none */
	const char *error;			/* readable reason when status != OSC_OK, else NULL */
} osc_bulk_item;

typedef struct osc_bulk osc_bulk;

/* A bulk request against one index; NULL when out of memory. */
extern osc_bulk *osc_bulk_new(const char *index);
extern void osc_bulk_free(osc_bulk *b);

/* Add an action; 0 on success, -1 on bad arguments (empty id, doc not an
 * object) or out of memory. doc is serialised at once, not kept. */
extern int	osc_bulk_index(osc_bulk *b, const char *id, const json_t *doc);
extern int	osc_bulk_delete(osc_bulk *b, const char *id);

extern size_t osc_bulk_count(const osc_bulk *b);
/* bytes of the NDJSON body so far (to cap request sizes) */
extern size_t osc_bulk_bytes(const osc_bulk *b);
extern const osc_bulk_item *osc_bulk_item_at(const osc_bulk *b, size_t i);

/*
 * Sends the request (POST /<index>/_bulk, application/x-ndjson) and records
 * each item's outcome. A delete answered 404 (not_found, or the index is
 * missing) counts as success. Item 429/5xx are transient, other item errors
 * permanent. Returns OSC_OK when every item succeeded; else the request-level
 * error (every item then carries it), or when only some items failed:
 * OSC_PERMANENT if any failed permanently, otherwise OSC_TRANSIENT.
 * A bulk may be sent again (all its items are sent again).
 */
extern osc_status osc_bulk_send(osc_client *c, osc_bulk *b, osc_error *err);

/* A new bulk with the items of b that failed (transient ones only when
 * transient_only), to retry just those; NULL when out of memory. */
extern osc_bulk *osc_bulk_failed(const osc_bulk *b, bool transient_only);

#endif							/* INVOICEFLOW_OPENSEARCH_CLIENT_H */
