/*
 * metrics_pipeline.c: the pipeline's metrics on /metrics, from one call of
 * invoiceflow.metrics() (outbox per sink, delivery totals and latency,
 * breakers, ingestion states, expired leases, extraction outcomes), in
 * Prometheus naming. Without a database the lines are left out: /metrics
 * still answers with the gateway's own. No value is ever NaN.
 */
#include "handlers.h"
#include "db_pool.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a JSON number as a finite double (null, absent or odd: 0) */
static double
num(json_t *v)
{
	double		d = json_is_number(v) ? json_number_value(v) : 0.0;

	return isfinite(d) ? d : 0.0;
}

static long long
count(json_t *v)
{
	return json_is_integer(v) ? (long long) json_integer_value(v) : (long long) num(v);
}

/* one gauge or counter per sink, read from each sink's object at key */
static void
per_sink(FILE *f, json_t *sinks, const char *name, const char *type, const char *help, const char *key)
{
	const char *sink;
	json_t	   *s;

	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	json_object_foreach(sinks, sink, s)
	{
		json_t	   *v = json_object_get(s, key);

		if (json_is_integer(v))
			fprintf(f, "%s{sink=\"%s\"} %lld\n", name, sink, count(v));
		else
			fprintf(f, "%s{sink=\"%s\"} %.3f\n", name, sink, num(v));
	}
}

static void
latency(FILE *f, json_t *sinks)
{
	const char *sink;
	json_t	   *s;

	fprintf(f, "# HELP invoiceflow_delivery_latency_seconds From the commit that wrote an outbox item to its recorded delivery, per sink (since the server started).\n"
			"# TYPE invoiceflow_delivery_latency_seconds histogram\n");
	json_object_foreach(sinks, sink, s)
	{
		json_t	   *h = json_object_get(s, "latency_seconds");
		json_t	   *le = json_object_get(h, "le");
		json_t	   *b = json_object_get(h, "buckets");
		size_t		n = json_array_size(le);

		if (json_array_size(b) != n + 1)
			continue;
		for (size_t i = 0; i < n; i++)
			fprintf(f, "invoiceflow_delivery_latency_seconds_bucket{sink=\"%s\",le=\"%g\"} %lld\n",
					sink, num(json_array_get(le, i)), count(json_array_get(b, i)));
		fprintf(f, "invoiceflow_delivery_latency_seconds_bucket{sink=\"%s\",le=\"+Inf\"} %lld\n",
				sink, count(json_array_get(b, n)));
		fprintf(f, "invoiceflow_delivery_latency_seconds_sum{sink=\"%s\"} %.6f\n", sink,
				num(json_object_get(h, "sum")));
		fprintf(f, "invoiceflow_delivery_latency_seconds_count{sink=\"%s\"} %lld\n", sink,
				count(json_array_get(b, n)));
	}
}

static void
breakers(FILE *f, json_t *sinks)
{
	const char *sink;
	json_t	   *s;

	fprintf(f, "# HELP invoiceflow_breaker_open 1 while the sink's circuit breaker is open or half-open (no calls but a probe).\n"
			"# TYPE invoiceflow_breaker_open gauge\n");
	json_object_foreach(sinks, sink, s)
	{
		const char *st = json_string_value(json_object_get(s, "breaker"));

		if (st)				/* webhooks keep a breaker per receiving host: not here */
			fprintf(f, "invoiceflow_breaker_open{sink=\"%s\"} %d\n", sink, strcmp(st, "closed") != 0);
	}
	fprintf(f, "# HELP invoiceflow_sink_configured 1 when the sink is configured (webhook: an active subscription).\n"
			"# TYPE invoiceflow_sink_configured gauge\n");
	json_object_foreach(sinks, sink, s)
		fprintf(f, "invoiceflow_sink_configured{sink=\"%s\"} %d\n", sink,
				json_is_true(json_object_get(s, "configured")));
}

static void
render(FILE *f, json_t *m)
{
	json_t	   *sinks = json_object_get(m, "sinks");
	json_t	   *ing = json_object_get(m, "ingestions");
	json_t	   *ex = json_object_get(m, "extractions");
	json_t	   *by = json_object_get(ex, "by_extracted_from");
	static const char *const states[] = {"pending", "processing", "completed", "failed"};
	const char *k;
	json_t	   *v;

	per_sink(f, sinks, "invoiceflow_outbox_depth", "gauge", "Outbox items not yet delivered, per sink.",
			 "outbox_depth");
	per_sink(f, sinks, "invoiceflow_outbox_oldest_age_seconds", "gauge",
			 "Age of the oldest undelivered outbox item, per sink (0 when none).", "oldest_age_seconds");
	per_sink(f, sinks, "invoiceflow_delivered_total", "counter",
			 "Outbox items delivered, per sink (since the server started).", "delivered_total");
	per_sink(f, sinks, "invoiceflow_delivery_failed_total", "counter",
			 "Outbox items that failed for good, per sink (since the server started).", "failed_total");
	per_sink(f, sinks, "invoiceflow_delivery_retries_total", "counter",
			 "Delivery attempts that failed and will be tried again, per sink (since the server started).",
			 "retries_total");
	breakers(f, sinks);
	latency(f, sinks);

	fprintf(f, "# HELP invoiceflow_ingestions Ingestions by status.\n# TYPE invoiceflow_ingestions gauge\n");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		fprintf(f, "invoiceflow_ingestions{status=\"%s\"} %lld\n", states[i],
				count(json_object_get(ing, states[i])));
	fprintf(f, "# HELP invoiceflow_pending_oldest_age_seconds Age of the oldest PENDING ingestion (0 when none).\n"
			"# TYPE invoiceflow_pending_oldest_age_seconds gauge\n"
			"invoiceflow_pending_oldest_age_seconds %.3f\n",
			num(json_object_get(m, "pending_oldest_age_seconds")));
	fprintf(f, "# HELP invoiceflow_expired_leases PROCESSING ingestions whose lease has expired.\n"
			"# TYPE invoiceflow_expired_leases gauge\n"
			"invoiceflow_expired_leases %lld\n", count(json_object_get(m, "expired_leases")));
	fprintf(f, "# HELP invoiceflow_extractions Stored extractions by where their values came from.\n"
			"# TYPE invoiceflow_extractions gauge\n");
	json_object_foreach(by, k, v)
		fprintf(f, "invoiceflow_extractions{extracted_from=\"%s\"} %lld\n", k, count(v));
	fprintf(f, "# HELP invoiceflow_extractions_needs_review Stored extractions marked needs_review.\n"
			"# TYPE invoiceflow_extractions_needs_review gauge\n"
			"invoiceflow_extractions_needs_review %lld\n", count(json_object_get(ex, "needs_review")));
}

void
metrics_append_pipeline(const char *request_id, char **text, size_t *len)
{
	struct db_error err;
	PGresult   *res = db_exec(request_id, "SELECT invoiceflow.metrics()", 0, NULL, NULL, NULL, true, &err);
	json_t	   *m;
	char	   *buf = NULL;
	size_t		n = 0;
	FILE	   *f;
	char	   *grown;

	if (!res)
		return;
	m = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
	PQclear(res);
	if (!m || !(f = open_memstream(&buf, &n)))
	{
		json_decref(m);
		return;
	}
	render(f, m);
	json_decref(m);
	if (fclose(f) == 0 && buf && (grown = realloc(*text, *len + n + 1)))
	{
		memcpy(grown + *len, buf, n + 1);
		*text = grown;
		*len += n;
	}
	free(buf);
}
