/*
 * worker_s3.c: the delivery worker's S3 side, over the shared client
 * (src/common/s3_client.h): configuration from the GUCs, one client (one
 * reused connection) per worker process, an abort callback so SIGTERM stops a
 * transfer within ~100 ms, and the client's transient/permanent verdict.
 */
#include "invoiceflow.h"
#include "deliver.h"

#include <curl/curl.h>

#include "s3_client.h"

static s3c_client *client = NULL;
static bool curl_ready = false;

bool
if_s3_configured(void)
{
	return invoiceflow_s3_bucket != NULL && invoiceflow_s3_bucket[0] != '\0';
}

void
if_s3_reset(void)
{
	if (client != NULL)
		s3c_client_free(client);
	client = NULL;
}

static int
abort_cb(void *arg)
{
	return if_should_abort() ? 1 : 0;
}

static void
result_from(IfResult *r, s3c_status st, const s3c_error *err)
{
	memset(r, 0, sizeof(*r));
	switch (st)
	{
		case S3C_OK:
			r->outcome = IF_OK;
			return;
		case S3C_PERMANENT:
			r->outcome = IF_PERMANENT;
			break;
		case S3C_TRANSIENT:
		case S3C_ABORTED:
			r->outcome = IF_TRANSIENT;
			break;
	}
	if (st == S3C_ABORTED)
		snprintf(r->error, sizeof(r->error), "request aborted: the worker is stopping");
	else if (err->message[0] == '\0')
		snprintf(r->error, sizeof(r->error), "HTTP %ld %s", err->http_status, err->code);
	else		/* the client's message names the request, status and S3 code */
		snprintf(r->error, sizeof(r->error), "%s", err->message);
}

/* the client, created on first use; NULL (and *r filled) on bad configuration */
static s3c_client *
get_client(IfResult *r)
{
	s3c_config cfg;
	s3c_error	err;

	if (client != NULL)
		return client;
	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		{
			r->outcome = IF_TRANSIENT;
			strlcpy(r->error, "libcurl could not be initialised", sizeof(r->error));
			return NULL;
		}
		curl_ready = true;
	}
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
	s3c_client_set_abort(client, abort_cb, NULL);
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
