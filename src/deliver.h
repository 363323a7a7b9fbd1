/*
 * deliver.h: the clients of the sinks (worker_s3.c, worker_amqp.c,
 * worker_opensearch.c, worker_webhook.c), thin adapters over the shared
 * clients in src/common/ that keep one connection per worker, abort on
 * shutdown, and sort every error into one status: ok, transient or permanent.
 * Free of PostgreSQL headers: the OpenSearch and webhook clients use jansson
 * and libcurl only. The sink table over them is sink.h.
 */
#ifndef INVOICEFLOW_DELIVER_H
#define INVOICEFLOW_DELIVER_H

#include <stdbool.h>
#include <stddef.h>

typedef enum IfOutcome
{
	IF_OK = 0,
	IF_TRANSIENT,				/* timeout, refused, 5xx, broker down: retry */
	IF_PERMANENT				/* 403, bucket missing, bad signature, access refused */
} IfOutcome;

typedef struct IfResult
{
	IfOutcome	outcome;
	char		error[512];		/* readable, never holds credentials */
} IfResult;

/*
 * The helpers every client shares (sink_util.c): the abort check the worker
 * passes in (true when the worker must stop), the libcurl abort callback over
 * it, libcurl's one-time initialisation, and the one mapping of a client's
 * verdict onto IfResult.
 */
typedef bool (*IfAbortCheck) (void);
extern void if_abort_check_set(IfAbortCheck check);
extern bool if_aborting(void);
extern int	if_abort_cb(void *arg);	/* for the clients' set_abort(): 1 = stop */
extern bool if_curl_init(IfResult *r);
/* ok / transient / permanent as the client said; aborted counts as transient */
extern void if_result_from(IfResult *r, IfOutcome outcome, bool aborted, const char *message);

/* S3 (worker_s3.c) */
extern void if_s3_reset(void);	/* configuration changed: drop the client */
extern IfResult if_s3_delete(const char *key);
extern IfResult if_s3_probe(void);	/* HEAD bucket */

/* RabbitMQ (worker_amqp.c) */
extern void if_amqp_reset(void);
extern IfResult if_amqp_probe(void);

/*
 * OpenSearch (worker_opensearch.c, free of PostgreSQL headers: jansson). The
 * configuration is passed in; the client (one reused connection) is kept while
 * the URL stays the same. One call sends a batch through POST /invoices/_bulk,
 * creating the index with its explicit mapping first when this client has not
 * seen it yet, and gives each item its own outcome (a delete of a missing
 * document succeeds). The returned result is the request's: IF_OK when
 * OpenSearch answered (items may still have failed one by one).
 */
#define IF_OS_INDEX "invoices"

typedef struct IfOsItem
{
	bool		is_delete;
	const char *id;				/* the ingestion id: the document id */
	const char *doc_json;		/* index: the document, a JSON object */
	IfResult	result;
} IfOsItem;

extern void if_os_reset(void);
extern IfResult if_os_bulk(const char *url, long timeout_ms, IfOsItem *items, int n);
extern IfResult if_os_probe(const char *url);	/* GET /_cluster/health */

/*
 * The JSON body of an event (malloc'd: free() it) and its message id, from the
 * shared builder (worker_event.c); NULL with a reason in err.
 */
extern char *if_event_body(const char *event, const char *request_id, const char *filename,
						   long long size_bytes, const char *sha256, const char *s3_bucket,
						   const char *s3_key, const char *created_at, int attempt,
						   char *message_id, size_t message_id_len, char *err, size_t errlen);

/*
 * Webhooks (worker_webhook.c, free of PostgreSQL headers): signed POSTs run
 * side by side on one libcurl multi handle. An item is owned by its caller
 * (webhook_queue.c) from claim to record; the transfer lives in it->transfer.
 */
struct sockaddr;
typedef struct IfWhItem
{
	long long	id;				/* webhook_deliveries.id */
	char	   *url;
	char	   *webhook_id;
	char	   *body;
	char		host[300];		/* "host:port", the circuit breaker's key */
	unsigned char key[128];		/* the secret's bytes (whsec_ decoded) */
	size_t		keylen;
	int			tries;
	/* outcome */
	IfResult	result;
	int			http_status;	/* 0: no answer */
	int			latency_ms;
	bool		gone;			/* HTTP 410: disable the subscription */
	void	   *transfer;
} IfWhItem;

extern bool if_wh_start(IfWhItem *it, long timeout_ms, bool allow_private);
/* drives the transfers up to wait_ms; returns the finished ones (their result set) */
extern int	if_wh_poll(int wait_ms, IfWhItem **done, int max);
extern void if_wh_reset(void);	/* settings reloaded: no cached connection is reused */
extern void if_wh_abandon(IfWhItem *it);	/* stops its transfer, if any */
extern bool if_wh_host(const char *url, char *out, size_t outsz);
extern bool if_wh_address_private(const struct sockaddr *sa);

#endif
