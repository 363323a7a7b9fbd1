/*
 * metrics.c: counters kept with atomic adds (no lock on the request path) and
 * rendered in the Prometheus text exposition format on GET /metrics.
 *
 *   invoiceflow_http_requests_total{route,status}            counter
 *   invoiceflow_http_request_duration_seconds{route}         histogram
 *   invoiceflow_http_requests_in_flight                      gauge
 *   invoiceflow_upload_bytes_total                           counter (file bytes received)
 *   invoiceflow_download_bytes_total                         counter (file bytes sent by /file)
 *   invoiceflow_uploads_in_progress                          gauge
 *   invoiceflow_uploads_refused_total                        counter (concurrency cap)
 *   invoiceflow_http_head_timeouts_total                     counter (GATEWAY_HEADER_TIMEOUT_SECONDS)
 *   invoiceflow_http_lingering_closes_total                  counter (bodies drained after an answer)
 *   invoiceflow_db_pool_connections{state="in_use|open|max"} gauge
 *   invoiceflow_db_pool_acquired_total, _wait_seconds_total, _wait_timeouts_total,
 *   invoiceflow_db_connect_failures_total                    counters
 *   invoiceflow_gateway_info{version,service}                gauge (always 1)
 */
#include "metrics.h"
#include "config.h"
#include "conn_guard.h"
#include "db_pool.h"
#include "routes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_MIN 100
#define STATUS_MAX 599

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct route_metrics
{
	uint64_t	status[STATUS_MAX - STATUS_MIN + 1];
	uint64_t	bucket[N_BUCKETS];	/* non-cumulative; summed when rendered */
	uint64_t	count;
	uint64_t	sum_us;
};

static struct route_metrics *per_route;	/* n_routes + 1 ("unmatched") */
static uint64_t upload_bytes;
static uint64_t uploads_refused;
static uint64_t download_bytes;
static int	inflight;
static int	uploads;

void
metrics_init(void)
{
	per_route = calloc(n_routes + 1, sizeof(struct route_metrics));
}

void
metrics_shutdown(void)
{
	free(per_route);
	per_route = NULL;
}

void
metrics_observe_request(size_t idx, unsigned int status, double seconds)
{
	struct route_metrics *m;
	size_t		b = 0;

	if (!per_route)
		return;
	m = &per_route[idx <= n_routes ? idx : n_routes];
	if (status < STATUS_MIN || status > STATUS_MAX)
		status = 500;
	__atomic_add_fetch(&m->status[status - STATUS_MIN], 1, __ATOMIC_RELAXED);
	while (b < N_BUCKETS && seconds > buckets[b])
		b++;
	if (b < N_BUCKETS)
		__atomic_add_fetch(&m->bucket[b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->count, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&m->sum_us, (uint64_t) (seconds * 1e6), __ATOMIC_RELAXED);
}

void
metrics_add_upload_bytes(uint64_t n)
{
	__atomic_add_fetch(&upload_bytes, n, __ATOMIC_RELAXED);
}

void
metrics_add_download_bytes(uint64_t n)
{
	__atomic_add_fetch(&download_bytes, n, __ATOMIC_RELAXED);
}

void
metrics_upload_refused(void)
{
	__atomic_add_fetch(&uploads_refused, 1, __ATOMIC_RELAXED);
}

void
metrics_inflight_add(int delta)
{
	__atomic_add_fetch(&inflight, delta, __ATOMIC_SEQ_CST);
}

int
metrics_inflight(void)
{
	return __atomic_load_n(&inflight, __ATOMIC_SEQ_CST);
}

void
metrics_uploads_add(int delta)
{
	__atomic_add_fetch(&uploads, delta, __ATOMIC_RELAXED);
}

struct buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
};

static void __attribute__((format(printf, 2, 3)))
bprintf(struct buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	for (;;)
	{
		if (!b->data)
			return;
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t) n < b->cap - b->len)
		{
			b->len += (size_t) n;
			return;
		}
		b->cap = (b->cap + (size_t) n) * 2;
		{
			char	   *d = realloc(b->data, b->cap);

			if (!d)
			{
				free(b->data);
				b->data = NULL;
				return;
			}
			b->data = d;
		}
	}
}

/* label values are ours (route names, config strings): escape \ " and newline anyway */
static const char *
label_escape(const char *s, char *out, size_t outsz)
{
	size_t		j = 0;

	for (; *s && j + 2 < outsz; s++)
	{
		if (*s == '\\' || *s == '"')
			out[j++] = '\\', out[j++] = *s;
		else if (*s == '\n')
			out[j++] = '\\', out[j++] = 'n';
		else
			out[j++] = *s;
	}
	out[j] = '\0';
	return out;
}

static const char *
route_label(size_t i)
{
	return i < n_routes ? routes[i].name : "unmatched";
}

char *
metrics_render(size_t *len)
{
	struct buf	b = {malloc(8192), 0, 8192};
	struct db_pool_stats ps;
	char		e1[128],
				e2[128];

	if (!per_route)
		return NULL;
	bprintf(&b, "# HELP invoiceflow_gateway_info Gateway build and service name.\n"
			"# TYPE invoiceflow_gateway_info gauge\n"
			"invoiceflow_gateway_info{service=\"%s\",version=\"%s\"} 1\n",
			label_escape(cfg.service_name ? cfg.service_name : "", e1, sizeof(e1)),
			label_escape(cfg.version ? cfg.version : "", e2, sizeof(e2)));

	bprintf(&b, "# HELP invoiceflow_http_requests_total HTTP requests answered, by route and status.\n"
			"# TYPE invoiceflow_http_requests_total counter\n");
	for (size_t i = 0; i <= n_routes; i++)
		for (int s = STATUS_MIN; s <= STATUS_MAX; s++)
		{
			uint64_t	v = __atomic_load_n(&per_route[i].status[s - STATUS_MIN], __ATOMIC_RELAXED);

			if (v)
				bprintf(&b, "invoiceflow_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
						route_label(i), s, (unsigned long long) v);
		}

	bprintf(&b, "# HELP invoiceflow_http_request_duration_seconds Time from request headers to response, by route.\n"
			"# TYPE invoiceflow_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= n_routes; i++)
	{
		struct route_metrics *m = &per_route[i];
		uint64_t	cum = 0;
		uint64_t	count = __atomic_load_n(&m->count, __ATOMIC_RELAXED);

		for (size_t k = 0; k < N_BUCKETS; k++)
		{
			cum += __atomic_load_n(&m->bucket[k], __ATOMIC_RELAXED);
			bprintf(&b, "invoiceflow_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
					route_label(i), buckets[k], (unsigned long long) cum);
		}
		if (count < cum)
			count = cum;
		bprintf(&b, "invoiceflow_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
				"invoiceflow_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
				"invoiceflow_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
				route_label(i), (unsigned long long) count, route_label(i),
				__atomic_load_n(&m->sum_us, __ATOMIC_RELAXED) / 1e6,
				route_label(i), (unsigned long long) count);
	}

	bprintf(&b, "# HELP invoiceflow_http_requests_in_flight Requests being handled now.\n"
			"# TYPE invoiceflow_http_requests_in_flight gauge\n"
			"invoiceflow_http_requests_in_flight %d\n", metrics_inflight());
	bprintf(&b, "# HELP invoiceflow_upload_bytes_total File bytes received in uploads.\n"
			"# TYPE invoiceflow_upload_bytes_total counter\n"
			"invoiceflow_upload_bytes_total %llu\n",
			(unsigned long long) __atomic_load_n(&upload_bytes, __ATOMIC_RELAXED));
	bprintf(&b, "# HELP invoiceflow_download_bytes_total File bytes sent by GET /api/v1/invoices/{id}/file.\n"
			"# TYPE invoiceflow_download_bytes_total counter\n"
			"invoiceflow_download_bytes_total %llu\n",
			(unsigned long long) __atomic_load_n(&download_bytes, __ATOMIC_RELAXED));
	bprintf(&b, "# HELP invoiceflow_uploads_in_progress Uploads holding a buffer now.\n"
			"# TYPE invoiceflow_uploads_in_progress gauge\n"
			"invoiceflow_uploads_in_progress %d\n"
			"# HELP invoiceflow_uploads_max Cap on concurrent uploads (MAX_CONCURRENT_UPLOADS).\n"
			"# TYPE invoiceflow_uploads_max gauge\n"
			"invoiceflow_uploads_max %d\n"
			"# HELP invoiceflow_uploads_refused_total Uploads refused because the cap was reached.\n"
			"# TYPE invoiceflow_uploads_refused_total counter\n"
			"invoiceflow_uploads_refused_total %llu\n",
			__atomic_load_n(&uploads, __ATOMIC_RELAXED), cfg.max_uploads,
			(unsigned long long) __atomic_load_n(&uploads_refused, __ATOMIC_RELAXED));
	bprintf(&b, "# HELP invoiceflow_http_head_timeouts_total Connections closed for want of a complete request head in time.\n"
			"# TYPE invoiceflow_http_head_timeouts_total counter\n"
			"invoiceflow_http_head_timeouts_total %llu\n"
			"# HELP invoiceflow_http_lingering_closes_total Connections answered before their body was read, then drained.\n"
			"# TYPE invoiceflow_http_lingering_closes_total counter\n"
			"invoiceflow_http_lingering_closes_total %llu\n",
			conn_guard_head_timeouts(), conn_guard_lingered());

	db_pool_get_stats(&ps);
	bprintf(&b, "# HELP invoiceflow_db_pool_connections Database pool connections by state.\n"
			"# TYPE invoiceflow_db_pool_connections gauge\n"
			"invoiceflow_db_pool_connections{state=\"in_use\"} %d\n"
			"invoiceflow_db_pool_connections{state=\"open\"} %d\n"
			"invoiceflow_db_pool_connections{state=\"max\"} %d\n"
			"# HELP invoiceflow_db_pool_acquired_total Connections taken from the pool.\n"
			"# TYPE invoiceflow_db_pool_acquired_total counter\n"
			"invoiceflow_db_pool_acquired_total %llu\n"
			"# HELP invoiceflow_db_pool_wait_seconds_total Time spent waiting for a free connection.\n"
			"# TYPE invoiceflow_db_pool_wait_seconds_total counter\n"
			"invoiceflow_db_pool_wait_seconds_total %.6f\n"
			"# HELP invoiceflow_db_pool_wait_timeouts_total Requests that found no free connection in time.\n"
			"# TYPE invoiceflow_db_pool_wait_timeouts_total counter\n"
			"invoiceflow_db_pool_wait_timeouts_total %llu\n"
			"# HELP invoiceflow_db_connect_failures_total Failed attempts to connect to the database.\n"
			"# TYPE invoiceflow_db_connect_failures_total counter\n"
			"invoiceflow_db_connect_failures_total %llu\n",
			ps.in_use, ps.open, ps.size, ps.acquired, ps.wait_seconds, ps.wait_timeouts,
			ps.connect_failures);
	if (b.data)
		*len = b.len;
	return b.data;
}
