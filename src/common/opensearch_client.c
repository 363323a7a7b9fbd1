/*
 * opensearch_client.c: a small OpenSearch REST client (libcurl + jansson).
 * See opensearch_client.h for the contract.
 */
#include "opensearch_client.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define OSC_MAX_RESPONSE (256u * 1024u * 1024u)

struct osc_client
{
	CURL	   *curl;
	char	   *base;			/* scheme://host[:port][/prefix], no credentials, no trailing '/' */
	char	   *user;
	char	   *password;
	long		connect_timeout_ms;
	long		total_timeout_ms;
	osc_abort_fn abort_fn;
	void	   *abort_arg;
	char		errbuf[CURL_ERROR_SIZE];
};

typedef struct osc_buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		overflow;
} osc_buf;

typedef struct bulk_entry
{
	osc_bulk_item pub;
	char	   *id;
	char	   *lines;			/* action line + source line, each ending in '\n' */
	size_t		lines_len;
	char	   *error;
} bulk_entry;

struct osc_bulk
{
	char	   *index;
	bulk_entry *items;
	size_t		n;
	size_t		cap;
	size_t		bytes;
};

/* ------------------------------------------------------------------ errors */

const char *
osc_status_name(osc_status s)
{
	switch (s)
	{
		case OSC_OK:
			return "ok";
		case OSC_TRANSIENT:
			return "transient";
		case OSC_PERMANENT:
			return "permanent";
		case OSC_ABORTED:
			return "aborted";
	}
	return "unknown";
}

static char *
dup_str(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *d = malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

static void
copy_str(char *dst, size_t dstlen, const char *src)
{
	size_t		n;

	if (dstlen == 0)
		return;
	n = src ? strlen(src) : 0;
	if (n >= dstlen)
		n = dstlen - 1;
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static osc_status
set_error(osc_error *err, osc_status status, long http_status, const char *type, const char *fmt,...)
__attribute__((format(printf, 5, 6)));

static osc_status
set_error(osc_error *err, osc_status status, long http_status, const char *type, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return status;
	err->status = status;
	err->http_status = http_status;
	copy_str(err->type, sizeof(err->type), type ? type : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return status;
}

static void
clear_error(osc_error *err)
{
	if (err == NULL)
		return;
	err->status = OSC_OK;
	err->http_status = 0;
	err->type[0] = '\0';
	err->message[0] = '\0';
}

/* HTTP status -> class: 2xx ok; 408, 429, 5xx transient; other 4xx permanent. */
static osc_status
classify_http(long code)
{
	if (code >= 200 && code < 300)
		return OSC_OK;
	if (code == 408 || code == 429 || code >= 500)
		return OSC_TRANSIENT;
	if (code >= 400)
		return OSC_PERMANENT;
	return OSC_TRANSIENT;		/* 1xx/3xx: not an answer we can use; likely a proxy */
}

static osc_status
classify_curl(CURLcode rc)
{
	switch (rc)
	{
		case CURLE_OK:
			return OSC_OK;
		case CURLE_ABORTED_BY_CALLBACK:
			return OSC_ABORTED;
		case CURLE_URL_MALFORMAT:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_BAD_FUNCTION_ARGUMENT:
		case CURLE_NOT_BUILT_IN:
		case CURLE_LOGIN_DENIED:
			return OSC_PERMANENT;
		default:
			/* refused, reset, timeout, empty reply, DNS, TLS handshake, OOM ... */
			return OSC_TRANSIENT;
	}
}

/*
 * The readable part of an OpenSearch error body: "type: reason (caused by:
 * type: reason)"; the error may also be a bare string (406, 405, 400 no handler).
 */
static void
describe_error_body(const json_t *body, char *type, size_t typelen, char *out, size_t outlen)
{
	const json_t *e = body ? json_object_get(body, "error") : NULL;
	const char *t = NULL;
	const char *r = NULL;
	const char *ct = NULL;
	const char *cr = NULL;

	copy_str(type, typelen, "");
	if (json_is_string(e))
	{
		copy_str(out, outlen, json_string_value(e));
		return;
	}
	if (json_is_object(e))
	{
		const json_t *cb = json_object_get(e, "caused_by");

		t = json_string_value(json_object_get(e, "type"));
		r = json_string_value(json_object_get(e, "reason"));
		if (r == NULL)
		{
			const json_t *rc = json_array_get(json_object_get(e, "root_cause"), 0);

			if (t == NULL)
				t = json_string_value(json_object_get(rc, "type"));
			r = json_string_value(json_object_get(rc, "reason"));
		}
		if (json_is_object(cb))
		{
			ct = json_string_value(json_object_get(cb, "type"));
			cr = json_string_value(json_object_get(cb, "reason"));
		}
	}
	copy_str(type, typelen, t ? t : "");
	if (t == NULL && r == NULL)
	{
		copy_str(out, outlen, "no error details in the response");
		return;
	}
	if (ct || cr)
		snprintf(out, outlen, "%s: %s (caused by %s: %s)", t ? t : "error", r ? r : "",
				 ct ? ct : "error", cr ? cr : "");
	else
		snprintf(out, outlen, "%s: %s", t ? t : "error", r ? r : "");
}

/* ------------------------------------------------------------------ client */

osc_client *
osc_client_new(const char *base_url, osc_error *err)
{
	osc_client *c = NULL;
	CURLU	   *u = NULL;
	CURLUcode	uc;
	char	   *scheme = NULL;
	char	   *user = NULL;
	char	   *password = NULL;
	char	   *query = NULL;
	char	   *url = NULL;
	size_t		n;

	clear_error(err);
	if (base_url == NULL || base_url[0] == '\0')
	{
		set_error(err, OSC_PERMANENT, 0, "", "OpenSearch URL is empty");
		return NULL;
	}
	u = curl_url();
	c = calloc(1, sizeof(*c));
	if (u == NULL || c == NULL)
	{
		set_error(err, OSC_TRANSIENT, 0, "", "out of memory");
		goto fail;
	}
	uc = curl_url_set(u, CURLUPART_URL, base_url, 0);
	if (uc != CURLUE_OK)
	{
		/* never echo the URL: it may hold a password */
		set_error(err, OSC_PERMANENT, 0, "", "invalid OpenSearch URL: %s", curl_url_strerror(uc));
		goto fail;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		(strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
	{
		set_error(err, OSC_PERMANENT, 0, "", "invalid OpenSearch URL: the scheme must be http or https");
		goto fail;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query != NULL)
	{
		set_error(err, OSC_PERMANENT, 0, "", "invalid OpenSearch URL: no query string allowed");
		goto fail;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE) == CURLUE_OK && user != NULL)
	{
		c->user = dup_str(user);
		if (curl_url_get(u, CURLUPART_PASSWORD, &password, CURLU_URLDECODE) == CURLUE_OK && password != NULL)
			c->password = dup_str(password);
		else
			c->password = dup_str("");
		if (c->user == NULL || c->password == NULL)
		{
			set_error(err, OSC_TRANSIENT, 0, "", "out of memory");
			goto fail;
		}
	}
	curl_url_set(u, CURLUPART_USER, NULL, 0);
	curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
	curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
	if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
	{
		set_error(err, OSC_PERMANENT, 0, "", "invalid OpenSearch URL");
		goto fail;
	}
	c->base = dup_str(url);
	if (c->base == NULL)
	{
		set_error(err, OSC_TRANSIENT, 0, "", "out of memory");
		goto fail;
	}
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	c->curl = curl_easy_init();
	if (c->curl == NULL)
	{
		set_error(err, OSC_TRANSIENT, 0, "", "curl_easy_init failed");
		goto fail;
	}
	c->connect_timeout_ms = 5000;
	c->total_timeout_ms = 30000;
	curl_free(scheme);
	curl_free(user);
	if (password)
	{
		memset(password, 0, strlen(password));
		curl_free(password);
	}
	curl_free(url);
	curl_url_cleanup(u);
	return c;

fail:
	curl_free(scheme);
	curl_free(user);
	if (password)
	{
		memset(password, 0, strlen(password));
		curl_free(password);
	}
	curl_free(query);
	curl_free(url);
	if (u)
		curl_url_cleanup(u);
	osc_client_free(c);
	return NULL;
}

void
osc_client_free(osc_client *c)
{
	if (c == NULL)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->base);
	free(c->user);
	if (c->password)
	{
		memset(c->password, 0, strlen(c->password));
		free(c->password);
	}
	free(c);
}

void
osc_client_set_timeouts(osc_client *c, long connect_timeout_ms, long total_timeout_ms)
{
	if (connect_timeout_ms > 0)
		c->connect_timeout_ms = connect_timeout_ms;
	if (total_timeout_ms > 0)
		c->total_timeout_ms = total_timeout_ms;
}

void
osc_client_set_abort(osc_client *c, osc_abort_fn fn, void *arg)
{
	c->abort_fn = fn;
	c->abort_arg = arg;
}

const char *
osc_client_url(const osc_client *c)
{
	return c->base;
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	osc_buf    *b = userdata;
	size_t		n = size * nmemb;

	if (n == 0)
		return 0;
	if (b->len + n + 1 > OSC_MAX_RESPONSE)
	{
		b->overflow = true;
		return 0;				/* makes curl fail with CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 4096;
		char	   *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL)
			return 0;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static int
xferinfo_cb(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	osc_client *c = p;

	(void) dltotal;
	(void) dlnow;
	(void) ultotal;
	(void) ulnow;
	return c->abort_fn != NULL && c->abort_fn(c->abort_arg) != 0;
}

osc_status
osc_request(osc_client *c, const char *method, const char *path, const char *content_type,
			const char *body, size_t body_len, long *http_status, json_t **response, osc_error *err)
{
	osc_buf		buf = {NULL, 0, 0, false};
	struct curl_slist *headers = NULL;
	struct curl_slist *h;
	char	   *url = NULL;
	char		ctype[128];
	CURLcode	rc;
	long		code = 0;
	osc_status	st;
	json_t	   *parsed = NULL;
	size_t		ulen;

	clear_error(err);
	if (http_status)
		*http_status = 0;
	if (response)
		*response = NULL;
	if (c == NULL || method == NULL || path == NULL || path[0] != '/')
		return set_error(err, OSC_PERMANENT, 0, "", "osc_request: bad arguments");

	ulen = strlen(c->base) + strlen(path) + 1;
	url = malloc(ulen);
	if (url == NULL)
		return set_error(err, OSC_TRANSIENT, 0, "", "out of memory");
	snprintf(url, ulen, "%s%s", c->base, path);

	snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type ? content_type : "application/json");
	h = curl_slist_append(headers, "Accept: application/json");
	if (h)
		headers = h;
	if (h && body)
	{
		h = curl_slist_append(headers, ctype);
		if (h)
			headers = h;
	}
	if (h)
	{
		h = curl_slist_append(headers, "Expect:");	/* no 100-continue round trip */
		if (h)
			headers = h;
	}
	if (h == NULL)
	{
		curl_slist_free_all(headers);
		free(url);
		return set_error(err, OSC_TRANSIENT, 0, "", "out of memory");
	}

	curl_easy_reset(c->curl);	/* keeps the connection cache */
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->total_timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "invoiceflow-opensearch-client/1");
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &buf);
	curl_easy_setopt(c->curl, CURLOPT_ACCEPT_ENCODING, "");
	if (c->user)
	{
		curl_easy_setopt(c->curl, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(c->curl, CURLOPT_USERNAME, c->user);
		curl_easy_setopt(c->curl, CURLOPT_PASSWORD, c->password);
	}
	if (c->abort_fn)
	{
		curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
		curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c);
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	else if (body != NULL || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
	{
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) (body ? body_len : 0));
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	}
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);

	rc = curl_easy_perform(c->curl);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	/* the slist and url must outlive the transfer, not the handle: unhook them */
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(headers);
	free(url);

	if (rc != CURLE_OK)
	{
		st = classify_curl(rc);
		if (buf.overflow)
			set_error(err, OSC_TRANSIENT, code, "", "OpenSearch %s %s: response larger than %u bytes",
					  method, path, OSC_MAX_RESPONSE);
		else if (st == OSC_ABORTED)
			set_error(err, st, 0, "", "OpenSearch %s %s: aborted", method, path);
		else
			set_error(err, st, 0, "", "OpenSearch %s %s: %s", method, path,
					  c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		free(buf.data);
		return st;
	}
	if (http_status)
		*http_status = code;
	if (buf.len > 0)
		parsed = json_loadb(buf.data, buf.len, 0, NULL);
	st = classify_http(code);
	if (st != OSC_OK)
	{
		char		type[96];
		char		msg[OSC_MESSAGE_MAX];

		if (parsed)
			describe_error_body(parsed, type, sizeof(type), msg, sizeof(msg));
		else
		{
			type[0] = '\0';
			copy_str(msg, sizeof(msg), buf.len ? "unreadable error body" : "empty body");
		}
		set_error(err, st, code, type, "OpenSearch %s %s: HTTP %ld %s", method, path, code, msg);
	}
	else if (buf.len > 0 && parsed == NULL)
	{
		/* a 2xx that is not JSON: something else answers at this URL */
		st = set_error(err, OSC_TRANSIENT, code, "", "OpenSearch %s %s: HTTP %ld with a body that is not JSON",
					   method, path, code);
	}
	free(buf.data);
	if (response)
		*response = parsed;
	else
		json_decref(parsed);
	return st;
}

/* ------------------------------------------------------------------ index */

static const char invoice_index_body[] =
"{"
"\"settings\":{\"index\":{\"number_of_shards\":1,"
"\"analysis\":{\"normalizer\":{\"invoiceflow_lowercase\":{\"type\":\"custom\",\"filter\":[\"lowercase\"]}}}}},"
"\"mappings\":{\"dynamic\":false,\"properties\":{"
"\"request_id\":{\"type\":\"keyword\"},"
"\"status\":{\"type\":\"keyword\"},"
"\"source\":{\"type\":\"keyword\"},"
"\"filename\":{\"type\":\"text\",\"fields\":{\"keyword\":{\"type\":\"keyword\",\"ignore_above\":512}}},"
"\"document_type\":{\"type\":\"keyword\"},"
"\"invoice_number\":{\"type\":\"keyword\",\"normalizer\":\"invoiceflow_lowercase\","
"\"fields\":{\"text\":{\"type\":\"text\"}}},"
"\"seller_name\":{\"type\":\"text\",\"fields\":{\"keyword\":{\"type\":\"keyword\",\"ignore_above\":256}}},"
"\"seller_vat_id\":{\"type\":\"keyword\"},"
"\"buyer_name\":{\"type\":\"text\",\"fields\":{\"keyword\":{\"type\":\"keyword\",\"ignore_above\":256}}},"
"\"buyer_vat_id\":{\"type\":\"keyword\"},"
"\"currency\":{\"type\":\"keyword\"},"
"\"issue_date\":{\"type\":\"date\",\"format\":\"strict_date_optional_time||yyyy-MM-dd\"},"
"\"due_date\":{\"type\":\"date\",\"format\":\"strict_date_optional_time||yyyy-MM-dd\"},"
"\"total\":{\"type\":\"scaled_float\",\"scaling_factor\":100},"
"\"needs_review\":{\"type\":\"boolean\"},"
"\"extracted_from\":{\"type\":\"keyword\"},"
"\"text\":{\"type\":\"text\"},"
"\"created_at\":{\"type\":\"date\"}"
"}}}";

/* OpenSearch index names: lower case, no path or wildcard characters. */
static bool
valid_index_name(const char *s)
{
	const char *p;

	if (s == NULL || s[0] == '\0' || s[0] == '_' || s[0] == '-' || s[0] == '+' || strlen(s) > 255 ||
		strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (p = s; *p; p++)
	{
		unsigned char ch = (unsigned char) *p;

		if (!(islower(ch) || isdigit(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '+'))
			return false;
	}
	return true;
}

static osc_status
index_path(char *out, size_t outlen, const char *index, const char *suffix, osc_error *err)
{
	if (!valid_index_name(index))
		return set_error(err, OSC_PERMANENT, 0, "", "invalid OpenSearch index name \"%s\"", index ? index : "");
	snprintf(out, outlen, "/%s%s", index, suffix);
	return OSC_OK;
}

osc_status
osc_ensure_index(osc_client *c, const char *index, const char *body, bool *created, osc_error *err)
{
	char		path[300];
	long		code = 0;
	osc_status	st;

	if (created)
		*created = false;
	st = index_path(path, sizeof(path), index, "", err);
	if (st != OSC_OK)
		return st;
	if (body == NULL)
		body = invoice_index_body;
	st = osc_request(c, "PUT", path, NULL, body, strlen(body), &code, NULL, err);
	if (st == OSC_OK)
	{
		if (created)
			*created = true;
		return OSC_OK;
	}
	if (err && code == 400 && strcmp(err->type, "resource_already_exists_exception") == 0)
	{
		clear_error(err);
		return OSC_OK;
	}
	if (err == NULL && code == 400)
	{
		/* no error struct to read the type from: ask whether it exists */
		st = osc_request(c, "HEAD", path, NULL, NULL, 0, &code, NULL, NULL);
		if (st == OSC_OK)
			return OSC_OK;
		return OSC_PERMANENT;
	}
	return st;
}

osc_status
osc_refresh(osc_client *c, const char *index, osc_error *err)
{
	char		path[300];
	osc_status	st = index_path(path, sizeof(path), index, "/_refresh", err);

	if (st != OSC_OK)
		return st;
	return osc_request(c, "POST", path, NULL, NULL, 0, NULL, NULL, err);
}

osc_status
osc_health(osc_client *c, char *cluster_status, size_t status_len, osc_error *err)
{
	json_t	   *resp = NULL;
	const char *s;
	osc_status	st;

	if (cluster_status && status_len)
		cluster_status[0] = '\0';
	st = osc_request(c, "GET", "/_cluster/health", NULL, NULL, 0, NULL, &resp, err);
	if (st != OSC_OK)
	{
		json_decref(resp);
		return st;
	}
	s = json_string_value(json_object_get(resp, "status"));
	if (cluster_status && status_len)
		copy_str(cluster_status, status_len, s ? s : "");
	if (s == NULL)
		st = set_error(err, OSC_TRANSIENT, 200, "", "OpenSearch GET /_cluster/health: no status in the answer");
	else if (strcmp(s, "green") != 0 && strcmp(s, "yellow") != 0)
		st = set_error(err, OSC_TRANSIENT, 200, "", "OpenSearch cluster status is %s", s);
	json_decref(resp);
	return st;
}

osc_status
osc_search(osc_client *c, const char *index, const json_t *query, json_t **response, osc_error *err)
{
	char		path[300];
	char	   *body;
	osc_status	st;
	json_t	   *resp = NULL;

	if (response)
		*response = NULL;
	st = index_path(path, sizeof(path), index, "/_search", err);
	if (st != OSC_OK)
		return st;
	if (!json_is_object(query))
		return set_error(err, OSC_PERMANENT, 0, "", "osc_search: the query must be a JSON object");
	body = json_dumps(query, JSON_COMPACT);
	if (body == NULL)
		return set_error(err, OSC_TRANSIENT, 0, "", "out of memory");
	st = osc_request(c, "POST", path, NULL, body, strlen(body), NULL, &resp, err);
	free(body);
	if (st == OSC_OK && !json_is_object(resp))
		st = set_error(err, OSC_TRANSIENT, 200, "", "OpenSearch POST %s: empty answer", path);
	if (st != OSC_OK)
	{
		json_decref(resp);
		return st;
	}
	if (response)
		*response = resp;
	else
		json_decref(resp);
	return OSC_OK;
}

/* ------------------------------------------------------------------ bulk */

osc_bulk *
osc_bulk_new(const char *index)
{
	osc_bulk   *b;

	if (!valid_index_name(index))
		return NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->index = dup_str(index);
	if (b->index == NULL)
	{
		free(b);
		return NULL;
	}
	return b;
}

void
osc_bulk_free(osc_bulk *b)
{
	size_t		i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
	{
		free(b->items[i].id);
		free(b->items[i].lines);
		free(b->items[i].error);
	}
	free(b->items);
	free(b->index);
	free(b);
}

/* Takes ownership of lines (freed on failure). */
static int
bulk_add(osc_bulk *b, osc_bulk_action action, const char *id, char *lines, size_t lines_len)
{
	bulk_entry *e;

	if (b->n == b->cap)
	{
		size_t		cap = b->cap ? b->cap * 2 : 16;
		bulk_entry *items = realloc(b->items, cap * sizeof(*items));

		if (items == NULL)
		{
			free(lines);
			return -1;
		}
		b->items = items;
		b->cap = cap;
	}
	e = &b->items[b->n];
	memset(e, 0, sizeof(*e));
	e->id = dup_str(id);
	if (e->id == NULL)
	{
		free(lines);
		return -1;
	}
	e->lines = lines;
	e->lines_len = lines_len;
	e->pub.action = action;
	e->pub.id = e->id;
	e->pub.status = OSC_TRANSIENT;	/* not sent yet */
	e->pub.http_status = 0;
	e->pub.error = NULL;
	b->n++;
	b->bytes += lines_len;
	return 0;
}

/* action line for id, as compact JSON (jansson escapes whatever id holds) */
static char *
action_line(const char *action, const char *id)
{
	json_t	   *meta = json_object();
	json_t	   *inner = json_object();
	char	   *s = NULL;

	if (meta && inner && json_object_set_new(inner, "_id", json_string(id)) == 0 &&
		json_object_set(meta, action, inner) == 0)
		s = json_dumps(meta, JSON_COMPACT);
	json_decref(inner);
	json_decref(meta);
	return s;
}

int
osc_bulk_index(osc_bulk *b, const char *id, const json_t *doc)
{
	char	   *meta;
	char	   *src;
	char	   *lines;
	size_t		ml,
				sl;

	if (b == NULL || id == NULL || id[0] == '\0' || strlen(id) > 512 || !json_is_object(doc))
		return -1;
	meta = action_line("index", id);
	/* compact output never contains a raw newline: NDJSON-safe */
	src = json_dumps(doc, JSON_COMPACT);
	if (meta == NULL || src == NULL)
	{
		free(meta);
		free(src);
		return -1;
	}
	ml = strlen(meta);
	sl = strlen(src);
	lines = malloc(ml + sl + 3);
	if (lines == NULL)
	{
		free(meta);
		free(src);
		return -1;
	}
	memcpy(lines, meta, ml);
	lines[ml] = '\n';
	memcpy(lines + ml + 1, src, sl);
	lines[ml + 1 + sl] = '\n';
	lines[ml + sl + 2] = '\0';
	free(meta);
	free(src);
	return bulk_add(b, OSC_BULK_INDEX, id, lines, ml + sl + 2);
}

int
osc_bulk_delete(osc_bulk *b, const char *id)
{
	char	   *meta;
	char	   *lines;
	size_t		ml;

	if (b == NULL || id == NULL || id[0] == '\0' || strlen(id) > 512)
		return -1;
	meta = action_line("delete", id);
	if (meta == NULL)
		return -1;
	ml = strlen(meta);
	lines = malloc(ml + 2);
	if (lines == NULL)
	{
		free(meta);
		return -1;
	}
	memcpy(lines, meta, ml);
	lines[ml] = '\n';
	lines[ml + 1] = '\0';
	free(meta);
	return bulk_add(b, OSC_BULK_DELETE, id, lines, ml + 1);
}

size_t
osc_bulk_count(const osc_bulk *b)
{
	return b ? b->n : 0;
}

size_t
osc_bulk_bytes(const osc_bulk *b)
{
	return b ? b->bytes : 0;
}

const osc_bulk_item *
osc_bulk_item_at(const osc_bulk *b, size_t i)
{
	if (b == NULL || i >= b->n)
		return NULL;
	return &b->items[i].pub;
}

static void
item_result(bulk_entry *e, osc_status status, long http_status, const char *message)
{
	free(e->error);
	e->error = NULL;
	e->pub.status = status;
	e->pub.http_status = http_status;
	if (status != OSC_OK && message)
		e->error = dup_str(message);
	e->pub.error = e->error;
}

osc_status
osc_bulk_send(osc_client *c, osc_bulk *b, osc_error *err)
{
	char		path[300];
	char	   *body;
	char	   *p;
	size_t		i;
	json_t	   *resp = NULL;
	const json_t *items;
	osc_status	st;
	osc_error	local;
	size_t		failed = 0;
	size_t		first_failed = 0;
	bool		any_permanent = false;

	clear_error(err);
	if (b == NULL || b->n == 0)
		return set_error(err, OSC_PERMANENT, 0, "", "osc_bulk_send: no actions");
	st = index_path(path, sizeof(path), b->index, "/_bulk", err);
	if (st != OSC_OK)
		return st;
	body = malloc(b->bytes + 1);
	if (body == NULL)
		return set_error(err, OSC_TRANSIENT, 0, "", "out of memory");
	for (p = body, i = 0; i < b->n; i++)
	{
		memcpy(p, b->items[i].lines, b->items[i].lines_len);
		p += b->items[i].lines_len;
	}
	*p = '\0';

	st = osc_request(c, "POST", path, "application/x-ndjson", body, b->bytes, NULL, &resp, &local);
	free(body);
	items = json_object_get(resp, "items");
	if (st == OSC_OK && (!json_is_array(items) || json_array_size(items) != b->n))
		st = set_error(&local, OSC_TRANSIENT, 200, "",
					   "OpenSearch POST %s: the answer has %zu items for %zu actions",
					   path, json_is_array(items) ? json_array_size(items) : (size_t) 0, b->n);
	if (st != OSC_OK)
	{
		for (i = 0; i < b->n; i++)
			item_result(&b->items[i], st, local.http_status, local.message);
		json_decref(resp);
		if (err)
			*err = local;
		return st;
	}

	for (i = 0; i < b->n; i++)
	{
		bulk_entry *e = &b->items[i];
		json_t	   *wrap = json_array_get(items, i);
		void	   *it = json_is_object(wrap) ? json_object_iter(wrap) : NULL;
		json_t	   *res = it ? json_object_iter_value(it) : NULL;
		const char *id = json_string_value(json_object_get(res, "_id"));
		long		code = (long) json_integer_value(json_object_get(res, "status"));
		json_t	   *error = json_object_get(res, "error");
		osc_status	ist;
		char		msg[OSC_MESSAGE_MAX];
		char		type[96];

		if (res == NULL || code == 0 || (id != NULL && strcmp(id, e->id) != 0))
		{
			item_result(e, OSC_TRANSIENT, code, "OpenSearch bulk: unexpected item in the answer");
			failed++;
			if (failed == 1)
				first_failed = i;
			continue;
		}
		if (e->pub.action == OSC_BULK_DELETE && code == 404)
			ist = OSC_OK;		/* not_found, or no such index: the document is gone */
		else if (error != NULL || code < 200 || code >= 300)
			ist = classify_http(code) == OSC_OK ? OSC_PERMANENT : classify_http(code);
		else
			ist = OSC_OK;
		if (ist == OSC_OK)
		{
			item_result(e, OSC_OK, code, NULL);
			continue;
		}
		{
			json_t	   *wrapper = json_object();

			json_object_set(wrapper, "error", error);
			describe_error_body(wrapper, type, sizeof(type), msg, sizeof(msg));
			json_decref(wrapper);
		}
		{
			char		full[OSC_MESSAGE_MAX + 32];

			snprintf(full, sizeof(full), "HTTP %ld %s", code, msg);
			item_result(e, ist, code, full);
		}
		if (ist == OSC_PERMANENT)
			any_permanent = true;
		failed++;
		if (failed == 1)
			first_failed = i;
	}
	json_decref(resp);
	if (failed == 0)
		return OSC_OK;
	return set_error(err, any_permanent ? OSC_PERMANENT : OSC_TRANSIENT, 200, "",
					 "OpenSearch bulk: %zu of %zu actions failed; first (id %s): %s",
					 failed, b->n, b->items[first_failed].id,
					 b->items[first_failed].error ? b->items[first_failed].error : "");
}

osc_bulk *
osc_bulk_failed(const osc_bulk *b, bool transient_only)
{
	osc_bulk   *nb;
	size_t		i;

	if (b == NULL)
		return NULL;
	nb = osc_bulk_new(b->index);
	if (nb == NULL)
		return NULL;
	for (i = 0; i < b->n; i++)
	{
		const bulk_entry *e = &b->items[i];
		char	   *lines;

		if (e->pub.status == OSC_OK)
			continue;
		if (transient_only && e->pub.status == OSC_PERMANENT)
			continue;
		lines = malloc(e->lines_len + 1);
		if (lines == NULL)
		{
			osc_bulk_free(nb);
			return NULL;
		}
		memcpy(lines, e->lines, e->lines_len + 1);
		if (bulk_add(nb, e->pub.action, e->id, lines, e->lines_len) != 0)
		{
			osc_bulk_free(nb);
			return NULL;
		}
	}
	return nb;
}
