/*
 * worker_s3.c: the S3 sink, over the shared client (src/common/s3_client.h):
 * configuration from the GUCs, one client (one reused connection) per worker
 * process, an abort callback so SIGTERM stops a transfer within ~100 ms, and
 * the client's transient/permanent verdict. Its sink entry (if_sink_s3)
 * delivers a batch of PUTs and DELETEs.
 */
#include "invoiceflow.h"
#include "sink.h"

#include <curl/curl.h>

#include "pgstat.h"

#include "s3_client.h"

static s3c_client *client = NULL;

void
if_s3_reset(void)
{
	if (client != NULL)
		s3c_client_free(client);
	client = NULL;
}

static void
result_from(IfResult *r, s3c_status st, const s3c_error *err)
{
	char		msg[sizeof(r->error)];

	/* the client's message names the request, status and S3 code */
	if (err->message[0] == '\0')
		snprintf(msg, sizeof(msg), "HTTP %ld %s", err->http_status, err->code);
	else
		snprintf(msg, sizeof(msg), "%s", err->message);
	if_result_from(r, st == S3C_OK ? IF_OK : st == S3C_PERMANENT ? IF_PERMANENT : IF_TRANSIENT,
				   st == S3C_ABORTED, msg);
}

/* the client, created on first use; NULL (and *r filled) on bad configuration */
static s3c_client *
get_client(IfResult *r)
{
	s3c_config cfg;
	s3c_error	err;

	if (client != NULL)
		return client;
	if (!if_curl_init(r))
		return NULL;
	memset(&cfg, 0, sizeof(cfg));
	memset(&err, 0, sizeof(err));
	cfg.endpoint = invoiceflow_s3_endpoint;
	cfg.bucket = invoiceflow_s3_bucket;
	cfg.region = invoiceflow_s3_region;
	cfg.access_key_id = invoiceflow_s3_access_key_id;
	cfg.secret_access_key = invoiceflow_s3_secret_access_key;
	cfg.connect_timeout_ms = 5000;
	cfg.timeout_ms = (long) invoiceflow_request_timeout_seconds * 1000;
	client = s3c_client_new(&cfg, &err);
	if (client == NULL)
	{
		/* a missing key or bucket: retrying cannot help until the config changes */
		r->outcome = IF_PERMANENT;
		snprintf(r->error, sizeof(r->error), "S3 is not configured correctly: %s",
				 err.message[0] ? err.message : "check invoiceflow.s3_* settings");
		return NULL;
	}
	s3c_client_set_abort(client, if_abort_cb, NULL);
	return client;
}

IfResult
if_s3_delete(const char *key)
{
	IfResult	r = {0};
	s3c_error	err;
	s3c_client *c = get_client(&r);

	if (c == NULL)
		return r;
	memset(&err, 0, sizeof(err));
	result_from(&r, s3c_delete_object(c, key, &err), &err);
	return r;
}

IfResult
if_s3_probe(void)
{
	IfResult	r = {0};
	s3c_error	err;
	s3c_client *c = get_client(&r);
	s3c_status	st;

	if (c == NULL)
		return r;
	memset(&err, 0, sizeof(err));
	/* a probe answers fast or counts as down */
	s3c_client_set_timeouts(c, 2000, 5000);
	st = s3c_head_bucket(c, &err);
	s3c_client_set_timeouts(c, 5000, (long) invoiceflow_request_timeout_seconds * 1000);
	result_from(&r, st, &err);
	return r;
}

/* ---------------------------------------------------------------------------
 * The sink: a batch of PUTs, several in flight, and DELETEs one by one
 * ------------------------------------------------------------------------- */

/*
 * PUTs in flight at once (a sliding window over the group: the next starts as
 * soon as one ends), and what a group may hold in memory: its files are read
 * first, then sent together.
 */
#define S3_PUTS_IN_FLIGHT	8
#define S3_GROUP_MAX_ITEMS	32
#define S3_GROUP_MAX_BYTES	(32 * 1024 * 1024)

typedef struct PutGroup
{
	IfItem	   *items[S3_GROUP_MAX_ITEMS];
	bytea	   *content[S3_GROUP_MAX_ITEMS];
	char	   *md5_hex[S3_GROUP_MAX_ITEMS];
	int			n;
	size_t		bytes;
} PutGroup;

/*
 * Sends the group's PUTs side by side (libcurl multi). Each is verified on
 * its own: the client checks the ETag against the MD5 of the bytes it sent,
 * and here against the MD5 PostgreSQL computed of the stored bytes, before
 * those may be dropped from the database. The breaker hears each outcome.
 */
static void
put_group(PutGroup *g)
{
	s3c_put_job jobs[S3_GROUP_MAX_ITEMS];
	IfResult	r = {0};
	s3c_client *c;
	char		activity[100];
	int			i;

	if (g->n == 0)
		return;
	c = get_client(&r);
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < g->n; i++)
	{
		IfItem	   *it = g->items[i];

		jobs[i].key = it->s3_key;
		jobs[i].body = VARDATA_ANY(g->content[i]);
		jobs[i].len = VARSIZE_ANY_EXHDR(g->content[i]);
		jobs[i].opt.content_type = "application/pdf";
		jobs[i].opt.request_id = it->ingestion_id;
		jobs[i].opt.filename = it->filename;
		jobs[i].opt.sha256_hex = it->sha256_hex;
		jobs[i].opt.traceparent = it->traceparent;
	}
	if (c != NULL)
	{
		snprintf(activity, sizeof(activity), "S3 PUT %d files, %s ...", g->n, g->items[0]->s3_key);
		pgstat_report_activity(STATE_RUNNING, activity);
		s3c_put_objects(c, jobs, g->n, S3_PUTS_IN_FLIGHT);
	}
	for (i = 0; i < g->n; i++)
	{
		IfItem	   *it = g->items[i];

		if (c == NULL)
			it->result = r;		/* no client: the configuration's verdict */
		else
		{
			result_from(&it->result, jobs[i].status, &jobs[i].err);
			if (it->result.outcome == IF_OK && g->md5_hex[i] != NULL &&
				strcmp(jobs[i].etag, g->md5_hex[i]) != 0)
			{
				it->result.outcome = IF_TRANSIENT;
				snprintf(it->result.error, sizeof(it->result.error),
						 "S3 stored %s with ETag %s, expected MD5 %s",
						 it->s3_key, jobs[i].etag, g->md5_hex[i]);
			}
		}
		if_sink_report(&if_sink_s3, &it->result);
		pfree(g->content[i]);	/* the group's bytes go now */
	}
	g->n = 0;
	g->bytes = 0;
}

static void
delete_one(IfItem *it)
{
	char		activity[200];

	snprintf(activity, sizeof(activity), "S3 DELETE %s", it->s3_key);
	pgstat_report_activity(STATE_RUNNING, activity);
	it->result = if_s3_delete(it->s3_key);
	if_sink_report(&if_sink_s3, &it->result);
}

/* reads the wanted files' bytes in one statement, then PUTs them as one group */
static void
put_wanted(MemoryContext cxt, PutGroup *g, IfItem **want, int nwant)
{
	bytea	   *content[S3_GROUP_MAX_ITEMS];
	char	   *md5_hex[S3_GROUP_MAX_ITEMS];
	int			i;

	if (nwant == 0)
		return;
	if_outbox_files(cxt, want, nwant, content, md5_hex);
	for (i = 0; i < nwant; i++)
	{
		if (content[i] == NULL)
			continue;			/* dropped after an earlier verified PUT (OK) */
		want[i]->had_bytes = true;
		g->content[g->n] = content[i];
		g->md5_hex[g->n] = md5_hex[i];
		g->bytes += VARSIZE_ANY_EXHDR(content[i]);
		g->items[g->n++] = want[i];
	}
	put_group(g);
}

static void
s3_deliver(IfBatch *b)
{
	PutGroup	g = {0};
	IfItem	   *want[S3_GROUP_MAX_ITEMS];
	int			nwant = 0;
	int64		want_bytes = 0;
	int			i;

	for (i = 0; i < b->n; i++)
	{
		IfItem	   *it = b->items[i];

		memset(&it->result, 0, sizeof(it->result));
		if (!it->ingestion_exists && strcmp(it->action, "delete") != 0)
			continue;			/* purged meanwhile: nothing to send (OK) */
		/* a breaker that opened during this batch: the rest waits, using no try */
		if (!if_sink_may_send(&if_sink_s3) || b->should_abort())
		{
			it->skipped = true;	/* or stopping: the rest is released untried */
			continue;
		}
		if (strcmp(it->action, "put") != 0)
		{
			delete_one(it);
			continue;
		}
		/* a group holds a bounded amount: its sizes are known from the claim */
		want[nwant++] = it;
		want_bytes += it->size_bytes;
		if (nwant == S3_GROUP_MAX_ITEMS || want_bytes >= S3_GROUP_MAX_BYTES)
		{
			put_wanted(b->cxt, &g, want, nwant);
			nwant = 0;
			want_bytes = 0;
		}
	}
	put_wanted(b->cxt, &g, want, nwant);
}

const IfSink if_sink_s3 = {
	.name = "s3",
	.title = "S3",
	.dep = IF_DEP_S3,
	.configured = if_s3_configured,
	.probe = if_s3_probe,
	.deliver = s3_deliver,
	.reset = if_s3_reset,
};
