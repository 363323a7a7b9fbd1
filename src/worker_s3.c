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
if_s3_put(const char *key, const unsigned char *data, size_t len,
		  const char *request_id, const char *filename, const char *sha256_hex,
		  const char *md5_hex, const char *traceparent)
{
	IfResult	r = {0};
	s3c_put_options opt;
	s3c_error	err;
	char		etag[33] = "";
	s3c_status	st;
	s3c_client *c = get_client(&r);

	if (c == NULL)
		return r;
	memset(&opt, 0, sizeof(opt));
	memset(&err, 0, sizeof(err));
	opt.content_type = "application/pdf";
	opt.request_id = request_id;
	opt.filename = filename;
	opt.sha256_hex = sha256_hex;
	opt.traceparent = traceparent;
	st = s3c_put_object(c, key, data, len, &opt, etag, &err);
	result_from(&r, st, &err);
	/*
	 * The client checked the ETag against the bytes it sent; check it against
	 * the MD5 PostgreSQL computed of the stored bytes too, before they may be
	 * dropped from the database.
	 */
	if (r.outcome == IF_OK && md5_hex != NULL && etag[0] != '\0' && strcmp(etag, md5_hex) != 0)
	{
		r.outcome = IF_TRANSIENT;
		snprintf(r.error, sizeof(r.error), "S3 stored %s with ETag %s, expected MD5 %s", key, etag, md5_hex);
	}
	return r;
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
 * The sink: a batch of PUTs (bytes read one file at a time) and DELETEs
 * ------------------------------------------------------------------------- */

static void
deliver_one(IfBatch *b, IfItem *it)
{
	char		activity[200];

	if (strcmp(it->action, "put") == 0)
	{
		char	   *md5_hex = NULL;
		bytea	   *content = if_outbox_file(b->cxt, it->ingestion_id, &md5_hex);

		if (content == NULL)
		{
			/* the bytes were dropped after an earlier verified PUT */
			it->result.outcome = IF_OK;
			return;
		}
		it->had_bytes = true;
		snprintf(activity, sizeof(activity), "S3 PUT %s", it->s3_key);
		pgstat_report_activity(STATE_RUNNING, activity);
		it->result = if_s3_put(it->s3_key, (unsigned char *) VARDATA_ANY(content),
							   VARSIZE_ANY_EXHDR(content), it->ingestion_id, it->filename,
							   it->sha256_hex, md5_hex, it->traceparent);
		pfree(content);			/* a batch never holds more than one file */
	}
	else
	{
		snprintf(activity, sizeof(activity), "S3 DELETE %s", it->s3_key);
		pgstat_report_activity(STATE_RUNNING, activity);
		it->result = if_s3_delete(it->s3_key);
	}
}

static void
s3_deliver(IfBatch *b)
{
	int			i;

	for (i = 0; i < b->n; i++)
	{
		IfItem	   *it = b->items[i];

		memset(&it->result, 0, sizeof(it->result));
		if (!it->ingestion_exists && strcmp(it->action, "delete") != 0)
			continue;			/* purged meanwhile: nothing to send (OK) */
		/* a breaker that opened during this batch: the rest waits, using no try */
		if (!if_sink_may_send(&if_sink_s3))
		{
			it->skipped = true;
			continue;
		}
		if (b->should_abort())
		{
			it->skipped = true;	/* stopping: the rest is released untried */
			continue;
		}
		deliver_one(b, it);
		if_sink_report(&if_sink_s3, &it->result);
	}
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
