/*
 * handlers_ops.c: what operators and load balancers call.
 *   GET /health   liveness: the process answers (no dependency is checked)
 *   GET /ready    readiness: uploads can be accepted, i.e. the database answers
 *                 and the gateway is not shutting down
 *   GET /metrics  Prometheus text format (metrics.c)
 */
#include "handlers.h"
#include "config.h"
#include "db_pool.h"
#include "metrics.h"
#include "server.h"

#include <jansson.h>
#include <stdlib.h>

void
handle_liveness(struct request *req, struct reply *out)
{
	(void) req;
	reply_json(out, 200, json_pack("{s:s, s:s, s:s}", "status", "ok",
								   "service", cfg.service_name, "version", cfg.version));
}

void
handle_ready(struct request *req, struct reply *out)
{
	struct db_error err;
	PGresult   *res;

	if (server_draining())
	{
		reply_problem(out, 503, req->request_id, "shutting down");
		return;
	}
	/* the cheapest call the gateway role may make that proves the extension is there */
	if (!(res = db_exec(req->request_id, "SELECT invoiceflow.stats() IS NOT NULL", 0, NULL, NULL,
						NULL, true, &err)))
	{
		reply_problem(out, 503, req->request_id,
					  "not ready: %s", err.http_status == 503 ? "database unavailable" : "database error");
		out->retry_after = 1;
		return;
	}
	PQclear(res);
	reply_json(out, 200, json_pack("{s:s}", "status", "ready"));
}

void
handle_metrics(struct request *req, struct reply *out)
{
	size_t		len = 0;
	char	   *text = metrics_render(&len);

	if (!text)
	{
		reply_problem(out, 500, req->request_id, "out of memory");
		return;
	}
	metrics_append_mail(req->request_id, &text, &len);
	metrics_append_pipeline(req->request_id, &text, &len);
	reply_clear(out);
	out->status = 200;
	out->content_type = "text/plain; version=0.0.4; charset=utf-8";
	out->body = text;
	out->body_len = len;
}
