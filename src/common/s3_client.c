/*
 * s3_client.c: a small S3 client on libcurl (see s3_client.h).
 *
 * Signing is libcurl's own (CURLOPT_AWS_SIGV4 with CURLOPT_USERPWD); we only
 * add x-amz-content-sha256, which libcurl then takes as the payload hash and
 * signs with the other headers. Each request runs on the client's own multi
 * handle, polled every 100 ms so the abort callback is asked at least that
 * often even while nothing moves on the wire; the easy handle stays attached
 * to the client between requests, so its connection is reused.
 */
#include "s3_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "percent_encode.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 30000
#define POLL_INTERVAL_MS 100
#define ERROR_BODY_MAX (16 * 1024)

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#if defined(__GNUC__)
#define S3C_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define S3C_PRINTF(f, a)
#endif

struct s3c_client
{
	CURL	   *easy;
	CURLM	   *multi;
	char	   *endpoint;		/* NULL for AWS */
	char	   *bucket;
	char	   *userpwd;		/* key:secret */
	char	   *sigv4;			/* aws:amz:<region>:s3 */
	char	   *base_url;
	long		connect_timeout_ms;
	long		timeout_ms;
	bool		skip_etag_check;
	s3c_abort_fn abort_fn;
	void	   *abort_arg;
	bool		aborted;		/* set when abort_fn asked to stop */
	char		curl_error[CURL_ERROR_SIZE];
};

/* response body being received */
typedef struct s3c_buffer
{
	CURL	   *easy;			/* the transfer receiving it */
	unsigned char *data;
	size_t		len;
	size_t		cap;
	size_t		max;			/* 0: no limit (2xx bodies) */
	bool		too_big;
	bool		oom;
	bool		is_error_body;	/* decided at the first chunk */
	bool		decided;
} s3c_buffer;

/* request body being sent */
typedef struct s3c_upload
{
	const unsigned char *data;
	size_t		len;
	size_t		pos;
} s3c_upload;

/* ------------------------------------------------------------------ misc */

const char *
s3c_status_name(s3c_status s)
{
	switch (s)
	{
		case S3C_OK:
			return "ok";
		case S3C_TRANSIENT:
			return "transient";
		case S3C_PERMANENT:
			return "permanent";
		case S3C_ABORTED:
			return "aborted";
	}
	return "unknown";
}

static void set_error(s3c_error *err, s3c_status status, long http_status,
					  const char *code, const char *fmt,...) S3C_PRINTF(5, 6);

static void
set_error(s3c_error *err, s3c_status status, long http_status, const char *code,
		  const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return;
	err->status = status;
	err->http_status = http_status;
	snprintf(err->code, sizeof(err->code), "%s", code ? code : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

static void
clear_error(s3c_error *err)
{
	if (err == NULL)
		return;
	err->status = S3C_OK;
	err->http_status = 0;
	err->code[0] = '\0';
	err->message[0] = '\0';
}

static char *
xstrdup(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *d = malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

static char *xasprintf(const char *fmt,...) S3C_PRINTF(1, 2);

static char *
xasprintf(const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *s;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	s = malloc((size_t) n + 1);
	if (s == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static void
to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t		i;

	for (i = 0; i < n; i++)
	{
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* one-shot digest; false if libcrypto failed (e.g. MD5 off under FIPS) */
static bool
digest(const EVP_MD *md, const void *data, size_t len, unsigned char *out, unsigned int *out_len)
{
	return md != NULL && EVP_Digest(data, len, out, out_len, md, NULL) == 1;
}

void
s3c_sha256_hex(const void *data, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!digest(EVP_sha256(), data ? data : "", len, md, &n))
	{
		out[0] = '\0';
		return;
	}
	to_hex(md, n, out);
}

void
s3c_md5_hex(const void *data, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!digest(EVP_md5(), data ? data : "", len, md, &n))
	{
		out[0] = '\0';
		return;
	}
	to_hex(md, n, out);
}

static bool add_header(struct curl_slist **list, const char *fmt,...) S3C_PRINTF(2, 3);

static bool
add_header(struct curl_slist **list, const char *fmt,...)
{
	va_list		ap;
	char		small[512];
	char	   *s = small;
	int			n;
	struct curl_slist *l;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return false;
	if ((size_t) n >= sizeof(small))
	{
		s = malloc((size_t) n + 1);
		if (s == NULL)
			return false;
		va_start(ap, fmt);
		vsnprintf(s, (size_t) n + 1, fmt, ap);
		va_end(ap);
	}
	l = curl_slist_append(*list, s);
	if (s != small)
		free(s);
	if (l == NULL)
		return false;
	*list = l;
	return true;
}

/* copies the text between <tag> and </tag> of xml into out */
static void
xml_element(const char *xml, const char *tag, char *out, size_t out_size)
{
	char		open[32],
				close[32];
	const char *b,
			   *e;
	size_t		n;

	out[0] = '\0';
	if (xml == NULL)
		return;
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	b = strstr(xml, open);
	if (b == NULL)
		return;
	b += strlen(open);
	e = strstr(b, close);
	if (e == NULL)
		return;
	n = (size_t) (e - b);
	if (n >= out_size)
		n = out_size - 1;
	memcpy(out, b, n);
	out[n] = '\0';
}

/* ------------------------------------------------------------------ client */

s3c_client *
s3c_client_new(const s3c_config *cfg, s3c_error *err)
{
	s3c_client *c;
	const char *region;
	size_t		n;

	clear_error(err);
	if (cfg == NULL || cfg->bucket == NULL || cfg->bucket[0] == '\0' ||
		cfg->access_key_id == NULL || cfg->access_key_id[0] == '\0' ||
		cfg->secret_access_key == NULL)
	{
		set_error(err, S3C_PERMANENT, 0, "InvalidConfiguration",
				  "S3 configuration incomplete: bucket, access key id and secret access key are required");
		return NULL;
	}
	if (strchr(cfg->bucket, '/') != NULL || strchr(cfg->bucket, '?') != NULL)
	{
		set_error(err, S3C_PERMANENT, 0, "InvalidBucketName",
				  "invalid S3 bucket name \"%s\"", cfg->bucket);
		return NULL;
	}
	if (cfg->endpoint && cfg->endpoint[0] &&
		strncmp(cfg->endpoint, "http://", 7) != 0 && strncmp(cfg->endpoint, "https://", 8) != 0)
	{
		set_error(err, S3C_PERMANENT, 0, "InvalidConfiguration",
				  "S3 endpoint must start with http:// or https://");
		return NULL;
	}
	region = (cfg->region && cfg->region[0]) ? cfg->region : "us-east-1";

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto oom;
	c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->skip_etag_check = cfg->skip_etag_check;
	c->bucket = xstrdup(cfg->bucket);
	c->userpwd = xasprintf("%s:%s", cfg->access_key_id, cfg->secret_access_key);
	c->sigv4 = xasprintf("aws:amz:%s:s3", region);
	if (cfg->endpoint && cfg->endpoint[0])
	{
		c->endpoint = xstrdup(cfg->endpoint);
		if (c->endpoint)
		{
			n = strlen(c->endpoint);
			while (n > 0 && c->endpoint[n - 1] == '/')
				c->endpoint[--n] = '\0';
			c->base_url = xstrdup(c->endpoint);
		}
	}
	else
		c->base_url = xasprintf("https://%s.s3.%s.amazonaws.com", cfg->bucket, region);
	if (!c->bucket || !c->userpwd || !c->sigv4 || !c->base_url ||
		(cfg->endpoint && cfg->endpoint[0] && !c->endpoint))
		goto oom;
	c->easy = curl_easy_init();
	c->multi = curl_multi_init();
	if (c->easy == NULL || c->multi == NULL)
		goto oom;
	return c;

oom:
	s3c_client_free(c);
	set_error(err, S3C_TRANSIENT, 0, "", "out of memory creating the S3 client");
	return NULL;
}

void
s3c_client_free(s3c_client *c)
{
	if (c == NULL)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	free(c->endpoint);
	free(c->bucket);
	if (c->userpwd)
	{
		/* do not leave the secret in freed memory */
		volatile char *p = c->userpwd;

		while (*p)
			*p++ = '\0';
		free(c->userpwd);
	}
	free(c->sigv4);
	free(c->base_url);
	free(c);
}

void
s3c_client_set_timeouts(s3c_client *c, long connect_timeout_ms, long timeout_ms)
{
	if (connect_timeout_ms > 0)
		c->connect_timeout_ms = connect_timeout_ms;
	if (timeout_ms > 0)
		c->timeout_ms = timeout_ms;
}

void
s3c_client_set_abort(s3c_client *c, s3c_abort_fn fn, void *arg)
{
	c->abort_fn = fn;
	c->abort_arg = arg;
}

const char *
s3c_client_base_url(const s3c_client *c)
{
	return c->base_url;
}

/* URL of key (NULL: the bucket itself); malloc'd */
static char *
object_url(const s3c_client *c, const char *key)
{
	char	   *enc;
	char	   *url;

	if (key == NULL)
		return c->endpoint ? xasprintf("%s/%s", c->endpoint, c->bucket)
			: xasprintf("%s/", c->base_url);
	enc = pe_encode_alloc(key, true);
	if (enc == NULL)
		return NULL;
	url = c->endpoint ? xasprintf("%s/%s/%s", c->endpoint, c->bucket, enc)
		: xasprintf("%s/%s", c->base_url, enc);
	free(enc);
	return url;
}

/* ------------------------------------------------------------------ curl callbacks */

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	s3c_buffer *b = userdata;
	size_t		n = size * nmemb;
	size_t		want;

	if (!b->decided)
	{
		long		code = 0;

		curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &code);
		b->is_error_body = code < 200 || code >= 300;
		b->decided = true;
	}
	if (b->is_error_body)
	{
		/* keep the start of an error document, drop the rest */
		if (b->len >= ERROR_BODY_MAX)
			return n;
		want = n;
		if (b->len + want > ERROR_BODY_MAX)
			want = ERROR_BODY_MAX - b->len;
	}
	else
	{
		want = n;
		if (b->max > 0 && b->len + n > b->max)
		{
			b->too_big = true;
			return 0;			/* CURLE_WRITE_ERROR */
		}
	}
	if (b->len + want + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 16384;
		unsigned char *d;

		while (cap < b->len + want + 1)
			cap *= 2;
		if (!b->is_error_body && b->max > 0 && cap > b->max + 1)
			cap = b->max + 1;
		d = realloc(b->data, cap);
		if (d == NULL)
		{
			b->oom = true;
			return 0;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, want);
	b->len += want;
	b->data[b->len] = '\0';
	return n;
}

static size_t
read_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	s3c_upload *u = userdata;
	size_t		n = size * nitems;

	if (n > u->len - u->pos)
		n = u->len - u->pos;
	if (n > 0)
		memcpy(buffer, u->data + u->pos, n);
	u->pos += n;
	return n;
}

static int
seek_cb(void *userdata, curl_off_t offset, int origin)
{
	s3c_upload *u = userdata;

	if (origin != SEEK_SET || offset < 0 || (size_t) offset > u->len)
		return CURL_SEEKFUNC_CANTSEEK;
	u->pos = (size_t) offset;
	return CURL_SEEKFUNC_OK;
}

static int
xferinfo_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	s3c_client *c = userdata;

	(void) dltotal;
	(void) dlnow;
	(void) ultotal;
	(void) ulnow;
	if (c->abort_fn && c->abort_fn(c->abort_arg))
	{
		c->aborted = true;
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ one request */

typedef struct s3c_request
{
	const char *method;			/* GET PUT HEAD DELETE */
	const char *what;			/* for messages: the key or "bucket" */
	const char *key;			/* NULL: the bucket */
	struct curl_slist *headers; /* extra headers (owned by the caller) */
	const void *body;			/* PUT only */
	size_t		body_len;
	const char *payload_sha256; /* hex of body; NULL: empty payload */
	size_t		max_size;		/* GET only */
	s3c_buffer	resp;			/* response body (error document or object) */
	long		http_status;
} s3c_request;

static s3c_status
classify_curl(CURLcode rc)
{
	switch (rc)
	{
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_NOT_BUILT_IN:
		case CURLE_BAD_FUNCTION_ARGUMENT:
		case CURLE_UNKNOWN_OPTION:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_TOO_MANY_REDIRECTS:
			return S3C_PERMANENT;
		default:
			/* timeouts, refused/reset, DNS, empty reply, TLS handshake... */
			return S3C_TRANSIENT;
	}
}

static bool
transient_code(const char *code)
{
	static const char *const codes[] = {
		"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
		"RequestTimeTooSkewed", "OperationAborted", "Throttling", "ThrottlingException",
		"RequestThrottled", "TooManyRequests", "BadGateway", "GatewayTimeout", NULL
	};
	int			i;

	for (i = 0; codes[i]; i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

/* the code a HEAD error (no body) stands for */
static const char *
code_for_status(long status, bool bucket)
{
	switch (status)
	{
		case 301:
		case 307:
			return "PermanentRedirect";
		case 400:
			return "BadRequest";
		case 403:
			return "AccessDenied";
		case 404:
			return bucket ? "NoSuchBucket" : "NoSuchKey";
		case 408:
			return "RequestTimeout";
		case 429:
			return "SlowDown";
		case 500:
			return "InternalError";
		case 503:
			return "ServiceUnavailable";
		default:
			return "";
	}
}

/*
 * Sets easy up for request r: URL, SigV4, timeouts, headers (*headers_out,
 * the caller frees it), the body of a PUT (*up), the response buffer and the
 * abort check. false when out of memory.
 */
static bool
setup_easy(s3c_client *c, CURL *easy, s3c_request *r, s3c_upload *up, char *errbuf,
		   char **url_out, struct curl_slist **headers_out)
{
	struct curl_slist *headers = NULL;
	struct curl_slist *h;
	char	   *url;

	memset(&r->resp, 0, sizeof(r->resp));
	r->resp.easy = easy;
	r->resp.max = r->max_size;
	r->http_status = 0;
	errbuf[0] = '\0';
	*url_out = NULL;
	*headers_out = NULL;

	url = object_url(c, r->key);
	if (url == NULL)
		return false;
	*url_out = url;
	for (h = r->headers; h; h = h->next)
		if (!add_header(&headers, "%s", h->data))
			goto oom;
	if (!add_header(&headers, "x-amz-content-sha256: %s",
					r->payload_sha256 ? r->payload_sha256 : EMPTY_SHA256))
		goto oom;
	*headers_out = headers;

	curl_easy_reset(easy);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_USERPWD, c->userpwd);
	curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, c->sigv4);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "invoiceflow-s3/1");
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &r->resp);
	curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	curl_easy_setopt(easy, CURLOPT_XFERINFODATA, c);

	if (strcmp(r->method, "PUT") == 0)
	{
		up->data = r->body ? r->body : (const unsigned char *) "";
		up->len = r->body_len;
		up->pos = 0;
		curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(easy, CURLOPT_READDATA, up);
		curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(easy, CURLOPT_SEEKDATA, up);
		curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t) r->body_len);
	}
	else if (strcmp(r->method, "HEAD") == 0)
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	else if (strcmp(r->method, "DELETE") == 0)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
	else
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	return true;

oom:
	curl_slist_free_all(headers);
	return false;
}

/*
 * The verdict on a finished transfer of r on easy (rc: its CURLcode, errbuf:
 * its error buffer): transient or permanent as S3 and libcurl say. A failed
 * request keeps no body.
 */
static s3c_status
classify_done(s3c_client *c, s3c_request *r, CURL *easy, CURLcode rc, const char *errbuf,
			  s3c_error *err)
{
	s3c_status	st = S3C_OK;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->http_status);
	if (r->resp.too_big)
	{
		set_error(err, S3C_PERMANENT, r->http_status, "EntityTooLarge",
				  "S3 %s %s: the object is larger than the limit of %zu bytes",
				  r->method, r->what, r->max_size);
		st = S3C_PERMANENT;
	}
	else if (r->resp.oom)
	{
		set_error(err, S3C_TRANSIENT, 0, "", "S3 %s %s: out of memory", r->method, r->what);
		st = S3C_TRANSIENT;
	}
	else if (rc != CURLE_OK)
	{
		st = classify_curl(rc);
		set_error(err, st, 0, "", "S3 %s %s at %s: %s", r->method, r->what, c->base_url,
				  errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	else if (r->http_status < 200 || r->http_status >= 300)
	{
		char		code[64];
		char		message[256];
		const char *xml = (const char *) r->resp.data;

		xml_element(xml, "Code", code, sizeof(code));
		xml_element(xml, "Message", message, sizeof(message));
		if (code[0] == '\0')
			snprintf(code, sizeof(code), "%s", code_for_status(r->http_status, r->key == NULL));
		if (r->http_status >= 500 || r->http_status == 429 || r->http_status == 408 ||
			transient_code(code))
			st = S3C_TRANSIENT;
		else
			st = S3C_PERMANENT;
		set_error(err, st, r->http_status, code, "S3 %s %s: HTTP %ld%s%s%s%s",
				  r->method, r->what, r->http_status,
				  code[0] ? " " : "", code,
				  message[0] ? ": " : "", message);
	}
	if (st != S3C_OK)
	{
		free(r->resp.data);
		r->resp.data = NULL;
		r->resp.len = 0;
	}
	return st;
}

static s3c_status
perform(s3c_client *c, s3c_request *r, s3c_error *err)
{
	char	   *url = NULL;
	struct curl_slist *headers = NULL;
	s3c_upload	up;
	CURLMcode	mc = CURLM_OK;
	CURLcode	rc = CURLE_OK;
	int			running = 1;
	bool		added = false;
	s3c_status	st = S3C_OK;

	c->aborted = false;
	if (!setup_easy(c, c->easy, r, &up, c->curl_error, &url, &headers))
	{
		set_error(err, S3C_TRANSIENT, 0, "", "S3 %s %s: out of memory", r->method, r->what);
		st = S3C_TRANSIENT;
		goto done;
	}

	mc = curl_multi_add_handle(c->multi, c->easy);
	if (mc != CURLM_OK)
	{
		set_error(err, S3C_TRANSIENT, 0, "", "S3 %s %s: %s", r->method, r->what,
				  curl_multi_strerror(mc));
		st = S3C_TRANSIENT;
		goto done;
	}
	added = true;

	for (;;)
	{
		mc = curl_multi_perform(c->multi, &running);
		if (mc != CURLM_OK)
			break;
		if (!running)
			break;
		if (c->abort_fn && c->abort_fn(c->abort_arg))
		{
			c->aborted = true;
			break;
		}
		mc = curl_multi_poll(c->multi, NULL, 0, POLL_INTERVAL_MS, NULL);
		if (mc != CURLM_OK)
			break;
	}
	if (!c->aborted && mc == CURLM_OK)
	{
		CURLMsg    *msg;
		int			left;

		rc = CURLE_GOT_NOTHING;
		while ((msg = curl_multi_info_read(c->multi, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy)
				rc = msg->data.result;
	}

	if (c->aborted)
	{
		set_error(err, S3C_ABORTED, 0, "", "S3 %s %s: aborted", r->method, r->what);
		st = S3C_ABORTED;
	}
	else if (mc != CURLM_OK)
	{
		set_error(err, S3C_TRANSIENT, 0, "", "S3 %s %s: %s", r->method, r->what,
				  curl_multi_strerror(mc));
		st = S3C_TRANSIENT;
	}
	else
		st = classify_done(c, r, c->easy, rc, c->curl_error, err);

done:
	if (added)
		curl_multi_remove_handle(c->multi, c->easy);
	curl_slist_free_all(headers);
	free(url);
	/* a failed request keeps no body */
	if (st != S3C_OK)
	{
		free(r->resp.data);
		r->resp.data = NULL;
		r->resp.len = 0;
	}
	return st;
}

/* the value of a response header, or NULL */
static const char *
easy_header(CURL *easy, const char *name)
{
	struct curl_header *h;

	if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return NULL;
	return h->value;
}

static const char *
response_header(s3c_client *c, const char *name)
{
	return easy_header(c->easy, name);
}

/* copies an ETag without its quotes */
static void
copy_etag(const char *v, char *out, size_t out_size)
{
	size_t		n;

	out[0] = '\0';
	if (v == NULL)
		return;
	if (v[0] == 'W' && v[1] == '/')
		v += 2;
	if (*v == '"')
		v++;
	n = strlen(v);
	if (n > 0 && v[n - 1] == '"')
		n--;
	if (n >= out_size)
		n = out_size - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static bool
check_key(const char *key, const char *method, s3c_error *err)
{
	if (key == NULL || key[0] == '\0' || key[0] == '/')
	{
		set_error(err, S3C_PERMANENT, 0, "InvalidArgument",
				  "S3 %s: the object key must be non-empty and not start with '/'", method);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------ operations */

/*
 * A PUT's request: the Content-MD5, metadata and payload hash headers
 * (*headers, the caller frees them and *fname), md5_hex (33 bytes) and
 * sha_hex (65 bytes) of the body. Not S3C_OK: err says why.
 */
static s3c_status
put_prepare(const char *key, const void *body, size_t len, const s3c_put_options *opt,
			struct curl_slist **headers_out, char **fname_out, char *md5_hex, char *sha_hex,
			s3c_error *err)
{
	struct curl_slist *headers = NULL;
	unsigned char md5[EVP_MAX_MD_SIZE];
	unsigned int md5_len = 0;
	unsigned char md5_b64[32];
	char	   *fname = NULL;

	*headers_out = NULL;
	*fname_out = NULL;
	if (!check_key(key, "PUT", err))
		return S3C_PERMANENT;
	if (body == NULL && len > 0)
	{
		set_error(err, S3C_PERMANENT, 0, "InvalidArgument", "S3 PUT %s: no body", key);
		return S3C_PERMANENT;
	}
	if (!digest(EVP_md5(), body ? body : "", len, md5, &md5_len) || md5_len != 16)
	{
		set_error(err, S3C_PERMANENT, 0, "", "S3 PUT %s: MD5 is not available in libcrypto", key);
		return S3C_PERMANENT;
	}
	to_hex(md5, 16, md5_hex);
	EVP_EncodeBlock(md5_b64, md5, 16);
	s3c_sha256_hex(body, len, sha_hex);
	if (sha_hex[0] == '\0')
	{
		set_error(err, S3C_PERMANENT, 0, "", "S3 PUT %s: SHA-256 failed in libcrypto", key);
		return S3C_PERMANENT;
	}

	if (!add_header(&headers, "Content-Type: %s",
					opt && opt->content_type ? opt->content_type : "application/octet-stream") ||
		!add_header(&headers, "Content-MD5: %s", (const char *) md5_b64))
		goto oom;
	if (opt && opt->request_id &&
		!add_header(&headers, "x-amz-meta-request-id: %s", opt->request_id))
		goto oom;
	if (opt && opt->filename)
	{
		fname = pe_encode_alloc(opt->filename, false);
		if (fname == NULL || !add_header(&headers, "x-amz-meta-filename: %s", fname))
			goto oom;
	}
	if (!add_header(&headers, "x-amz-meta-sha256: %s",
					opt && opt->sha256_hex ? opt->sha256_hex : sha_hex))
		goto oom;
	/* only a well-formed trace context: nothing else may reach a header line */
	if (opt && opt->traceparent && opt->traceparent[0] &&
		strspn(opt->traceparent, "0123456789abcdef-") == strlen(opt->traceparent) &&
		!add_header(&headers, "x-amz-meta-traceparent: %s", opt->traceparent))
		goto oom;
	*headers_out = headers;
	*fname_out = fname;
	return S3C_OK;

oom:
	curl_slist_free_all(headers);
	free(fname);
	set_error(err, S3C_TRANSIENT, 0, "", "S3 PUT %s: out of memory", key);
	return S3C_TRANSIENT;
}

/* a stored object's ETag must be the MD5 of the bytes sent */
static s3c_status
put_check_etag(s3c_client *c, CURL *easy, const char *key, const char *md5_hex, long http_status,
			   s3c_error *err)
{
	char		etag[80];

	if (c->skip_etag_check)
		return S3C_OK;
	copy_etag(easy_header(easy, "ETag"), etag, sizeof(etag));
	if (strcasecmp(etag, md5_hex) == 0)
		return S3C_OK;
	set_error(err, S3C_TRANSIENT, http_status, "ETagMismatch",
			  "S3 PUT %s: the returned ETag \"%s\" is not the MD5 of the bytes sent (%s)",
			  key, etag, md5_hex);
	return S3C_TRANSIENT;
}

s3c_status
s3c_put_object(s3c_client *c, const char *key, const void *body, size_t len,
			   const s3c_put_options *opt, char *etag_out, s3c_error *err)
{
	s3c_request r;
	struct curl_slist *headers = NULL;
	char		md5_hex[33];
	char		sha_hex[65];
	char	   *fname = NULL;
	s3c_status	st;

	clear_error(err);
	if (etag_out)
		etag_out[0] = '\0';
	st = put_prepare(key, body, len, opt, &headers, &fname, md5_hex, sha_hex, err);
	if (st != S3C_OK)
		return st;
	memset(&r, 0, sizeof(r));
	r.method = "PUT";
	r.what = key;
	r.key = key;
	r.headers = headers;
	r.body = body;
	r.body_len = len;
	r.payload_sha256 = sha_hex;
	st = perform(c, &r, err);
	if (st == S3C_OK)
		st = put_check_etag(c, c->easy, key, md5_hex, r.http_status, err);
	if (st == S3C_OK && etag_out)
		memcpy(etag_out, md5_hex, 33);
	free(r.resp.data);
	curl_slist_free_all(headers);
	free(fname);
	return st;
}

/* one PUT of s3c_put_objects() in flight */
typedef struct put_flight
{
	s3c_put_job *job;
	CURL	   *easy;
	s3c_request r;
	s3c_upload	up;
	struct curl_slist *meta;	/* put_prepare()'s headers */
	struct curl_slist *headers; /* setup_easy()'s */
	char	   *url;
	char	   *fname;
	char		md5_hex[33];
	char		sha_hex[65];
	char		errbuf[CURL_ERROR_SIZE];
} put_flight;

static void
flight_end(s3c_client *c, put_flight *f)
{
	if (f->easy)
	{
		curl_multi_remove_handle(c->multi, f->easy);
		curl_easy_cleanup(f->easy);
	}
	free(f->r.resp.data);
	curl_slist_free_all(f->meta);
	curl_slist_free_all(f->headers);
	free(f->url);
	free(f->fname);
	memset(f, 0, sizeof(*f));
}

/* starts job on a free slot f; false (job->status set) when it could not start */
static bool
flight_start(s3c_client *c, put_flight *f, s3c_put_job *job)
{
	memset(f, 0, sizeof(*f));
	f->job = job;
	clear_error(&job->err);
	job->etag[0] = '\0';
	job->status = put_prepare(job->key, job->body, job->len, &job->opt, &f->meta, &f->fname,
							  f->md5_hex, f->sha_hex, &job->err);
	if (job->status != S3C_OK)
		goto fail;
	f->r.method = "PUT";
	f->r.what = job->key;
	f->r.key = job->key;
	f->r.headers = f->meta;
	f->r.body = job->body;
	f->r.body_len = job->len;
	f->r.payload_sha256 = f->sha_hex;
	if ((f->easy = curl_easy_init()) == NULL ||
		!setup_easy(c, f->easy, &f->r, &f->up, f->errbuf, &f->url, &f->headers))
	{
		set_error(&job->err, S3C_TRANSIENT, 0, "", "S3 PUT %s: out of memory", job->key);
		job->status = S3C_TRANSIENT;
		goto fail;
	}
	curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
	if (curl_multi_add_handle(c->multi, f->easy) != CURLM_OK)
	{
		set_error(&job->err, S3C_TRANSIENT, 0, "", "S3 PUT %s: libcurl refused the transfer", job->key);
		job->status = S3C_TRANSIENT;
		curl_easy_cleanup(f->easy);
		f->easy = NULL;
		goto fail;
	}
	return true;

fail:
	flight_end(c, f);
	return false;
}

void
s3c_put_objects(s3c_client *c, s3c_put_job *jobs, int n, int max_in_flight)
{
	put_flight *slots;
	int			next = 0;
	int			active = 0;
	int			i;

	if (n <= 0)
		return;
	if (max_in_flight < 1)
		max_in_flight = 1;
	if (max_in_flight > n)
		max_in_flight = n;
	slots = calloc((size_t) max_in_flight, sizeof(put_flight));
	if (slots == NULL)
	{
		for (i = 0; i < n; i++)
		{
			set_error(&jobs[i].err, S3C_TRANSIENT, 0, "", "S3 PUT %s: out of memory", jobs[i].key);
			jobs[i].status = S3C_TRANSIENT;
		}
		return;
	}
	c->aborted = false;
	for (;;)
	{
		CURLMsg    *msg;
		int			left;
		int			running = 0;
		CURLMcode	mc;

		/* fill the free slots */
		for (i = 0; i < max_in_flight && next < n; i++)
			if (slots[i].job == NULL && flight_start(c, &slots[i], &jobs[next++]))
				active++;
		if (active == 0 && next >= n)
			break;
		mc = curl_multi_perform(c->multi, &running);
		while ((msg = curl_multi_info_read(c->multi, &left)) != NULL)
		{
			put_flight *f = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &f);
			if (f == NULL || f->job == NULL)
				continue;
			f->job->status = classify_done(c, &f->r, f->easy, msg->data.result, f->errbuf, &f->job->err);
			if (f->job->status == S3C_OK)
				f->job->status = put_check_etag(c, f->easy, f->job->key, f->md5_hex,
												f->r.http_status, &f->job->err);
			if (f->job->status == S3C_OK)
				memcpy(f->job->etag, f->md5_hex, 33);
			flight_end(c, f);
			active--;
		}
		if (c->abort_fn && c->abort_fn(c->abort_arg))
			c->aborted = true;
		if (mc != CURLM_OK || c->aborted)
		{
			/* everything unfinished ends here, to be tried again */
			for (i = 0; i < max_in_flight; i++)
				if (slots[i].job != NULL)
				{
					s3c_put_job *job = slots[i].job;

					job->status = c->aborted ? S3C_ABORTED : S3C_TRANSIENT;
					set_error(&job->err, job->status, 0, "", "S3 PUT %s: %s", job->key,
							  c->aborted ? "aborted" : curl_multi_strerror(mc));
					flight_end(c, &slots[i]);
				}
			for (; next < n; next++)
			{
				jobs[next].status = c->aborted ? S3C_ABORTED : S3C_TRANSIENT;
				set_error(&jobs[next].err, jobs[next].status, 0, "", "S3 PUT %s: %s", jobs[next].key,
						  c->aborted ? "aborted" : "not started");
			}
			break;
		}
		if (active > 0)
			(void) curl_multi_poll(c->multi, NULL, 0, POLL_INTERVAL_MS, NULL);
	}
	free(slots);
}

s3c_status
s3c_get_object(s3c_client *c, const char *key, size_t max_size,
			   unsigned char **data, size_t *len, s3c_error *err)
{
	s3c_request r;
	s3c_status	st;

	clear_error(err);
	*data = NULL;
	*len = 0;
	if (!check_key(key, "GET", err))
		return S3C_PERMANENT;
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.what = key;
	r.key = key;
	r.max_size = max_size;
	st = perform(c, &r, err);
	if (st != S3C_OK)
		return st;
	if (r.resp.data == NULL)
	{
		/* an empty object */
		r.resp.data = malloc(1);
		if (r.resp.data == NULL)
		{
			set_error(err, S3C_TRANSIENT, 0, "", "S3 GET %s: out of memory", key);
			return S3C_TRANSIENT;
		}
		r.resp.data[0] = '\0';
	}
	*data = r.resp.data;
	*len = r.resp.len;
	return S3C_OK;
}

s3c_status
s3c_get_range(s3c_client *c, const char *key, uint64_t offset, size_t length,
			  unsigned char **data, size_t *len, s3c_error *err)
{
	s3c_request r;
	s3c_status	st;
	struct curl_slist *range = NULL;

	clear_error(err);
	*data = NULL;
	*len = 0;
	if (!check_key(key, "GET", err))
		return S3C_PERMANENT;
	if (length == 0)
	{
		set_error(err, S3C_PERMANENT, 0, "", "S3 GET %s: an empty range", key);
		return S3C_PERMANENT;
	}
	if (!add_header(&range, "Range: bytes=%llu-%llu", (unsigned long long) offset,
					(unsigned long long) (offset + length - 1)))
	{
		set_error(err, S3C_TRANSIENT, 0, "", "S3 GET %s: out of memory", key);
		return S3C_TRANSIENT;
	}
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.what = key;
	r.key = key;
	r.headers = range;
	r.max_size = length;
	st = perform(c, &r, err);
	curl_slist_free_all(range);
	if (st != S3C_OK)
		return st;
	if (r.resp.data == NULL && (r.resp.data = malloc(1)) == NULL)
	{
		set_error(err, S3C_TRANSIENT, 0, "", "S3 GET %s: out of memory", key);
		return S3C_TRANSIENT;
	}
	*data = r.resp.data;
	*len = r.resp.len;
	return S3C_OK;
}

s3c_status
s3c_head_object(s3c_client *c, const char *key, s3c_object_info *info, s3c_error *err)
{
	s3c_request r;
	s3c_status	st;
	const char *v;
	curl_off_t	cl = -1;

	clear_error(err);
	if (info)
		memset(info, 0, sizeof(*info));
	if (!check_key(key, "HEAD", err))
		return S3C_PERMANENT;
	memset(&r, 0, sizeof(r));
	r.method = "HEAD";
	r.what = key;
	r.key = key;
	st = perform(c, &r, err);
	free(r.resp.data);
	if (st != S3C_OK || info == NULL)
		return st;

	curl_easy_getinfo(c->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	info->size = cl;
	copy_etag(response_header(c, "ETag"), info->etag, sizeof(info->etag));
	if ((v = response_header(c, "Content-Type")) != NULL)
		snprintf(info->content_type, sizeof(info->content_type), "%s", v);
	if ((v = response_header(c, "Last-Modified")) != NULL)
		snprintf(info->last_modified, sizeof(info->last_modified), "%s", v);
	if ((v = response_header(c, "x-amz-meta-request-id")) != NULL)
		snprintf(info->request_id, sizeof(info->request_id), "%s", v);
	if ((v = response_header(c, "x-amz-meta-sha256")) != NULL)
		snprintf(info->sha256, sizeof(info->sha256), "%s", v);
	if ((v = response_header(c, "x-amz-meta-traceparent")) != NULL)
		snprintf(info->traceparent, sizeof(info->traceparent), "%s", v);
	if ((v = response_header(c, "x-amz-meta-filename")) != NULL)
	{
		char	   *dec = pe_decode_alloc(v, NULL);

		snprintf(info->filename, sizeof(info->filename), "%s", dec ? dec : v);
		free(dec);
	}
	return S3C_OK;
}

s3c_status
s3c_delete_object(s3c_client *c, const char *key, s3c_error *err)
{
	s3c_request r;
	s3c_status	st;

	clear_error(err);
	if (!check_key(key, "DELETE", err))
		return S3C_PERMANENT;
	memset(&r, 0, sizeof(r));
	r.method = "DELETE";
	r.what = key;
	r.key = key;
	st = perform(c, &r, err);
	free(r.resp.data);
	return st;
}

s3c_status
s3c_head_bucket(s3c_client *c, s3c_error *err)
{
	s3c_request r;
	s3c_status	st;

	clear_error(err);
	memset(&r, 0, sizeof(r));
	r.method = "HEAD";
	r.what = c->bucket;
	r.key = NULL;
	st = perform(c, &r, err);
	free(r.resp.data);
	return st;
}
