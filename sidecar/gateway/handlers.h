/* handlers.h: one function per endpoint (see routes.c for the table). */
#ifndef GATEWAY_HANDLERS_H
#define GATEWAY_HANDLERS_H

#include "routes.h"

/* handlers_ingest.c: the seed's ingestion API */
void		handle_upload(struct request *req, struct reply *out);
void		handle_status(struct request *req, struct reply *out);
void		handle_stats(struct request *req, struct reply *out);
void		handle_ingest_health(struct request *req, struct reply *out);

/* handlers_webhook.c: signed inbound webhooks, outbound subscriptions (issue 13) */
void		handle_webhook_ingest(struct request *req, struct reply *out);
void		handle_subscriptions(struct request *req, struct reply *out);
void		handle_subscription_create(struct request *req, struct reply *out);
void		handle_subscription_delete(struct request *req, struct reply *out);
void		handle_subscription_deliveries(struct request *req, struct reply *out);

/* handlers_mail.c: the messages the mail sidecar took, and its /metrics lines (issue 12) */
void		handle_mail_messages(struct request *req, struct reply *out);
void		metrics_append_mail(const char *request_id, char **text, size_t *len);
/* the pipeline from invoiceflow.metrics() (metrics_pipeline.c) */
void		metrics_append_pipeline(const char *request_id, char **text, size_t *len);

/* handlers_ops.c: probes and metrics */
void		handle_liveness(struct request *req, struct reply *out);
void		handle_ready(struct request *req, struct reply *out);
void		handle_metrics(struct request *req, struct reply *out);

/* handlers_admin.c: retry, purge and keys for admin keys (issue 9) */
void		handle_retry(struct request *req, struct reply *out);
void		handle_purge(struct request *req, struct reply *out);
void		handle_key_create(struct request *req, struct reply *out);
void		handle_key_revoke(struct request *req, struct reply *out);

/*
 * The audit log's actor (issue 14): a statement that starts with SQL_WITH_ACTOR("$n")
 * and reads FROM actor sets invoiceflow.actor to parameter n (the caller's key
 * name, req->actor; "" or NULL: the login role) for its own transaction, before
 * the call after it runs (a MATERIALIZED CTE is read before the select list).
 */
#define SQL_WITH_ACTOR(param) \
	"WITH actor AS MATERIALIZED (SELECT set_config('invoiceflow.actor', coalesce(" param "::text, ''), true)) "

/* handlers_review.c, handlers_session.c, static_files.c: review and the web page (issue 14) */
void		handle_invoice_correct(struct request *req, struct reply *out);
void		handle_invoice_approve(struct request *req, struct reply *out);
void		handle_audit(struct request *req, struct reply *out);
void		handle_session_create(struct request *req, struct reply *out);
void		handle_session_get(struct request *req, struct reply *out);
void		handle_session_delete(struct request *req, struct reply *out);
void		handle_page(struct request *req, struct reply *out);
void		handle_static(struct request *req, struct reply *out);
void		handle_static_vendor(struct request *req, struct reply *out);
const char *static_content_type(const char *name);

/* handlers_invoices.c: the query API (issue 6) */
void		handle_invoices_search(struct request *req, struct reply *out);
void		handle_invoice(struct request *req, struct reply *out);
void		handle_invoice_file(struct request *req, struct reply *out);

/* GET /api/v1/invoices query string -> search()'s 17 arguments (pure; unit-tested, fuzzed) */
#define INVOICES_NPARAMS 17
extern const char *const invoices_params[INVOICES_NPARAMS];
struct invoices_query
{
	const char *values[INVOICES_NPARAMS];	/* NULL: not given (SQL NULL) */
	bool		seen[INVOICES_NPARAMS];
	char		limit[16];
	char		error[400];		/* "" or why the query string is refused (400) */
};
void		invoices_query_init(struct invoices_query *q);
/* false (and q->error set) on an unknown or repeated name, or a bad limit/facets */
bool		invoices_query_add(struct invoices_query *q, const char *name, const char *value);
/* Content-Disposition: attachment with an ASCII-safe filename="" and an RFC 8187 filename* */
void		content_disposition(const char *filename, char *out, size_t outsz);
bool		invoices_s3_configured(void);
void		invoices_shutdown(void);

#endif
