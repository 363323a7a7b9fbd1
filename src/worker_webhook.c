/*
 * worker_webhook.c: the webhook sink's transfers (libcurl multi, OpenSSL HMAC).
 *
 * Every delivery is one POST, signed as Standard Webhooks says:
 *   webhook-id: <id>   webhook-timestamp: <unix seconds>
 *   webhook-signature: v1,<base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>
 * Transfers of a worker share one multi handle and run side by side, so a slow
 * receiver holds only its own transfers, each bounded by a total timeout; the
 * worker's loop drives them a few milliseconds per turn (webhook_queue.c).
 *
 * Safe destinations: only http and https, no redirects, no proxy from the
 * environment, and unless allow_private is set every address curl is about to
 * connect to (after name resolution, in the open-socket callback, so DNS cannot
 * swing it between a check and the connect) must be public: loopback, private,
 * link-local (cloud metadata 169.254.169.254 included), CGNAT, multicast and
 * unspecified addresses are refused.
 *
 * Free of PostgreSQL headers, like worker_opensearch.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "deliver.h"
#include "webhook_sign.h"

static CURLM *multi = NULL;
static int	in_flight = 0;
static bool stale = false;		/* settings changed: no cached connection is reused */

struct IfWhTransfer
{
	CURL	   *easy;
	struct curl_slist *headers;
	char	   *body;
	struct timespec started;
	bool		refused_address;
	char		refused_text[64];
};

static void
result_set(IfResult *r, IfOutcome o, const char *fmt, const char *a, long b)
{
	r->outcome = o;
	snprintf(r->error, sizeof(r->error), fmt, a, b);
}

/* ---------------------------------------------------------------------------
 * Addresses
 * ------------------------------------------------------------------------- */

static bool
v4_is_private(uint32_t a)		/* host byte order */
{
	return (a >> 24) == 0 ||	/* 0.0.0.0/8 "this network" */
		(a >> 24) == 10 ||
		(a >> 24) == 127 ||
		(a >> 22) == ((100u << 2) | 1) ||	/* 100.64.0.0/10 CGNAT */
		(a >> 16) == ((169u << 8) | 254) ||	/* link-local, cloud metadata */
		(a >> 20) == ((172u << 4) | 1) ||	/* 172.16.0.0/12 */
		(a >> 16) == ((192u << 8) | 168) ||
		(a >> 8) == ((192u << 16) | 0) ||	/* 192.0.0.0/24 IETF protocol */
		(a >> 17) == ((198u << 7) | 9) ||	/* 198.18.0.0/15 benchmarking */
		a == ((168u << 24) | (63u << 16) | (129u << 8) | 16) ||	/* Azure metadata */
		(a >> 28) >= 14;		/* multicast, reserved, broadcast */
}

bool
if_wh_address_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_is_private(ntohl(((const struct sockaddr_in *) sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
	{
		const unsigned char *b = ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
		bool		zero_prefix = true;
		int			i;

		if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
			return v4_is_private(((uint32_t) b[12] << 24) | ((uint32_t) b[13] << 16) |
								 ((uint32_t) b[14] << 8) | b[15]);
		for (i = 0; i < 15; i++)
			zero_prefix = zero_prefix && b[i] == 0;
		if (zero_prefix)		/* :: and ::1 */
			return true;
		return (b[0] & 0xfe) == 0xfc ||	/* fc00::/7 unique local (AWS fd00:ec2::254) */
			(b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||	/* fe80::/10 link-local */
			b[0] == 0xff;		/* multicast */
	}
	return true;				/* anything but IP: no */
}

static curl_socket_t
open_socket_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct IfWhTransfer *t = arg;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (if_wh_address_private(&addr->addr))
	{
		t->refused_address = true;
		if (addr->family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *) &addr->addr)->sin_addr,
					  t->refused_text, sizeof(t->refused_text));
		else if (addr->family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &addr->addr)->sin6_addr,
					  t->refused_text, sizeof(t->refused_text));
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

static int
progress_cb(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	return if_abort_cb(NULL);
}

static size_t
discard_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	return size * nmemb;		/* the receiver's answer body is not kept */
}

/* "host:port" of an http(s) URL (a destination, the breaker's key); false if unparsable */
bool
if_wh_host(const char *url, char *out, size_t outsz)
{
	CURLU	   *u = curl_url();
	char	   *host = NULL;
	char	   *port = NULL;
	bool		ok = false;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
	{
		snprintf(out, outsz, "%s:%s", host, port);
		ok = true;
	}
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ok;
}

/* ---------------------------------------------------------------------------
 * Transfers
 * ------------------------------------------------------------------------- */

static void
transfer_free(IfWhItem *it)
{
	struct IfWhTransfer *t = it->transfer;

	if (t == NULL)
		return;
	if (t->easy)
	{
		if (multi)
			curl_multi_remove_handle(multi, t->easy);
		curl_easy_cleanup(t->easy);
		in_flight--;
	}
	curl_slist_free_all(t->headers);
	free(t->body);
	free(t);
	it->transfer = NULL;
}

bool
if_wh_start(IfWhItem *it, long timeout_ms, bool allow_private)
{
	struct IfWhTransfer *t;
	char		sig[WHS_SIG_LEN + 1];
	char		line[300];
	char		ts[24];
	CURL	   *e;

	memset(&it->result, 0, sizeof(it->result));
	it->http_status = 0;
	it->latency_ms = 0;
	if (stale && multi != NULL && in_flight == 0)
	{
		/* a new handle, so connections checked under the old settings close */
		curl_multi_cleanup(multi);
		multi = NULL;
		stale = false;
	}
	if (multi == NULL)
	{
		if (!if_curl_init(&it->result))
			return false;
		if ((multi = curl_multi_init()) == NULL)
		{
			result_set(&it->result, IF_TRANSIENT, "libcurl could not be initialised%s%ld", "", 0);
			return false;
		}
	}
	snprintf(ts, sizeof(ts), "%lld", (long long) time(NULL));
	if (!whs_sign(it->key, it->keylen, it->webhook_id, ts, it->body, strlen(it->body), sig, sizeof(sig)))
	{
		result_set(&it->result, IF_TRANSIENT, "could not sign the message%s%ld", "", 0);
		return false;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL || (t->body = strdup(it->body)) == NULL ||
		(e = curl_easy_init()) == NULL)
	{
		if (t)
			free(t->body);
		free(t);
		result_set(&it->result, IF_TRANSIENT, "out of memory%s%ld", "", 0);
		return false;
	}
	t->easy = e;
	it->transfer = t;
	in_flight++;
	t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
	t->headers = curl_slist_append(t->headers, "User-Agent: invoiceflow-webhooks");
	snprintf(line, sizeof(line), "webhook-id: %s", it->webhook_id);
	t->headers = curl_slist_append(t->headers, line);
	snprintf(line, sizeof(line), "webhook-timestamp: %s", ts);
	t->headers = curl_slist_append(t->headers, line);
	snprintf(line, sizeof(line), "webhook-signature: %s", sig);
	t->headers = curl_slist_append(t->headers, line);
	t->headers = curl_slist_append(t->headers, "Expect:");

	curl_easy_setopt(e, CURLOPT_URL, it->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");	/* no proxy from the environment */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) strlen(t->body));
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms / 3 > 1000 ? timeout_ms / 3 : 1000);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(e, CURLOPT_PRIVATE, it);
	if (stale)
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);	/* its own connection, checked now */
	if (!allow_private)
	{
		curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
		curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
	}
	clock_gettime(CLOCK_MONOTONIC, &t->started);
	if (curl_multi_add_handle(multi, e) != CURLM_OK)
	{
		curl_easy_cleanup(e);
		t->easy = NULL;
		in_flight--;
		transfer_free(it);
		result_set(&it->result, IF_TRANSIENT, "libcurl refused the transfer%s%ld", "", 0);
		return false;
	}
	return true;
}

/* sorts a finished transfer into an outcome (410 Gone: it->gone) */
static void
finish(IfWhItem *it, CURLcode rc)
{
	struct IfWhTransfer *t = it->transfer;
	struct timespec now;
	long		code = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	it->latency_ms = (int) ((now.tv_sec - t->started.tv_sec) * 1000 +
							(now.tv_nsec - t->started.tv_nsec) / 1000000);
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
	it->http_status = (int) code;
	it->gone = false;
	if (t->refused_address && rc != CURLE_OK)
		result_set(&it->result, IF_PERMANENT,
				   "destination address %s is loopback, private, link-local or reserved"
				   " (invoiceflow.webhook_allow_private is off)%.0ld", t->refused_text, 0);
	else if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT)
		result_set(&it->result, IF_PERMANENT, "%s%.0ld", curl_easy_strerror(rc), 0);
	else if (rc != CURLE_OK)
		result_set(&it->result, IF_TRANSIENT, "%s%.0ld", curl_easy_strerror(rc), 0);
	else if (code >= 200 && code < 300)
		it->result.outcome = IF_OK;
	else if (code == 410)
	{
		it->gone = true;
		result_set(&it->result, IF_PERMANENT, "%sHTTP %ld Gone: the subscription is disabled", "", code);
	}
	else if (code >= 500 || code == 408 || code == 429)
		result_set(&it->result, IF_TRANSIENT, "%sHTTP %ld", "", code);
	else if (code >= 300 && code < 400)
		result_set(&it->result, IF_PERMANENT, "%sHTTP %ld: redirects are not followed", "", code);
	else
		result_set(&it->result, IF_PERMANENT, "%sHTTP %ld", "", code);
	transfer_free(it);
}

int
if_wh_poll(int wait_ms, IfWhItem **done, int max)
{
	int			running = 0;
	int			n = 0;
	int			left;
	CURLMsg    *msg;

	if (multi == NULL || in_flight == 0)
		return 0;
	curl_multi_perform(multi, &running);
	if (wait_ms > 0 && running > 0)
	{
		curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
		curl_multi_perform(multi, &running);
	}
	while (n < max && (msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		IfWhItem   *it = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &it);
		finish(it, msg->data.result);
		done[n++] = it;
	}
	return n;
}

/*
 * The configuration was reloaded (webhook_allow_private may be off now): a
 * connection opened under the old settings is never reused. Transfers in
 * flight finish; new ones open fresh connections until the multi handle, and
 * its connection cache, is replaced at the next start with nothing in flight.
 */
void
if_wh_reset(void)
{
	stale = multi != NULL;
}

void
if_wh_abandon(IfWhItem *it)
{
	transfer_free(it);
}
