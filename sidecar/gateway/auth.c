/*
 * auth.c: Bearer API keys, checked with invoiceflow.check_api_key() and cached.
 *
 * The cache is a small fixed table keyed by a hash of the key, holding the key
 * itself for an exact comparison and the database's answer until it expires.
 * Unknown keys are cached too, so guessing costs no database round trip per try.
 */
#include "auth.h"
#include "config.h"
#include "session.h"
#include "../../src/common/sidecar_log.h"

#include <microhttpd.h>
#include <stdio.h>

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CACHE_SLOTS 256

struct cache_entry
{
	uint64_t	hash;
	double		expires;
	unsigned int scopes;		/* 0: unknown or revoked */
	char		name[128];		/* the key's name: the actor of what it does (audit log) */
	size_t		len;
	char		key[API_KEY_MAX];
};

static struct cache_entry *cache;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static int	cache_seconds = 5;

void
auth_init(int seconds)
{
	cache_seconds = seconds;
	cache = calloc(CACHE_SLOTS, sizeof(struct cache_entry));
}

void
auth_shutdown(void)
{
	if (cache)
		explicit_bzero(cache, CACHE_SLOTS * sizeof(struct cache_entry));
	free(cache);
	cache = NULL;
}

/* RFC 7235 token68 */
static bool
token68_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

bool
auth_parse_bearer(const char *h, const char **token, size_t *len)
{
	size_t		n = 0;

	if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		return false;
	h += 6;
	while (*h == ' ' || *h == '\t')
		h++;
	while (token68_char((unsigned char) h[n]))
		n++;
	/* trailing '=' padding of token68, then optional whitespace only */
	while (h[n] == '=')
		n++;
	if (n == 0 || n > API_KEY_MAX)
		return false;
	for (const char *p = h + n; *p; p++)
		if (*p != ' ' && *p != '\t')
			return false;
	*token = h;
	*len = n;
	return true;
}

static uint64_t
fnv1a(const char *s, size_t n)
{
	uint64_t	h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
	{
		h ^= (unsigned char) s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static double
now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* the cached scopes (0: invalid key), or -1 when not cached */
static long
cache_get(uint64_t h, const char *key, size_t len, char *name, size_t namesz)
{
	struct cache_entry *e;
	long		r = -1;

	if (!cache || cache_seconds <= 0)
		return -1;
	pthread_mutex_lock(&cache_lock);
	e = &cache[h % CACHE_SLOTS];
	if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0 &&
		e->expires > now_monotonic())
	{
		r = (long) e->scopes;
		if (name && namesz)
			snprintf(name, namesz, "%s", e->name);
	}
	pthread_mutex_unlock(&cache_lock);
	return r;
}

static void
cache_put(uint64_t h, const char *key, size_t len, unsigned int scopes, const char *name)
{
	struct cache_entry *e;

	if (!cache || cache_seconds <= 0)
		return;
	pthread_mutex_lock(&cache_lock);
	e = &cache[h % CACHE_SLOTS];
	e->hash = h;
	e->len = len;
	memcpy(e->key, key, len);
	e->scopes = scopes;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->expires = now_monotonic() + cache_seconds;
	pthread_mutex_unlock(&cache_lock);
}

void
auth_cache_flush(void)
{
	if (!cache)
		return;
	pthread_mutex_lock(&cache_lock);
	explicit_bzero(cache, CACHE_SLOTS * sizeof(struct cache_entry));
	pthread_mutex_unlock(&cache_lock);
}

static const char *const scope_names[] = {"ingest", "read", "review", "admin"};

const char *
auth_scope_name(unsigned int scope)
{
	for (unsigned int i = 0; i < 4; i++)
		if (scope == (1u << i))
			return scope_names[i];
	return "admin";
}

unsigned int
auth_parse_scopes(const char *a)
{
	unsigned int bits = 0;

	/* text[] output of plain lower-case words: {ingest,read} */
	while (a && *a)
	{
		size_t		n;

		while (*a == '{' || *a == ',' || *a == '}' || *a == '"')
			a++;
		n = strcspn(a, ",}\"");
		for (unsigned int i = 0; i < 4; i++)
			if (n == strlen(scope_names[i]) && strncmp(a, scope_names[i], n) == 0)
				bits |= 1u << i;
		a += n;
	}
	return bits;
}

void
auth_format_scopes(unsigned int scopes, char *out, size_t outsz)
{
	size_t		used = 0;

	if (outsz == 0)
		return;
	out[0] = '\0';
	for (unsigned int i = 0; i < 4; i++)
		if (scopes & (1u << i))
		{
			int			w = snprintf(out + used, outsz - used, "%s%s", used ? ", " : "", scope_names[i]);

			if (w < 0 || (size_t) w >= outsz - used)
				break;
			used += (size_t) w;
		}
	if (!out[0])
		snprintf(out, outsz, "none");
}

enum auth_result
auth_check(const char *authorization, const char *request_id, unsigned int *scopes,
		   char *name, size_t namesz, struct db_error *err)
{
	const char *token;
	size_t		len;
	uint64_t	h;
	long		cached;
	char		key[API_KEY_MAX + 1];
	const char *values[1];
	PGresult   *res;
	unsigned int bits = 0;

	*scopes = 0;
	if (name && namesz)
		name[0] = '\0';
	if (!auth_parse_bearer(authorization, &token, &len))
		return AUTH_MISSING;
	h = fnv1a(token, len);
	if ((cached = cache_get(h, token, len, name, namesz)) >= 0)
	{
		*scopes = (unsigned int) cached;
		return cached ? AUTH_OK : AUTH_INVALID;
	}

	memcpy(key, token, len);
	key[len] = '\0';
	values[0] = key;
	res = db_exec(request_id, "SELECT invoiceflow.check_api_key_scopes($1), invoiceflow._api_key_name($1)",
				  1, values, NULL, NULL, true, err);
	explicit_bzero(key, sizeof(key));
	if (!res)
		return AUTH_UNAVAILABLE;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
	{
		bits = auth_parse_scopes(PQgetvalue(res, 0, 0));
		if (name && namesz)
			snprintf(name, namesz, "%s", PQgetvalue(res, 0, 1));
	}
	cache_put(h, token, len, bits, bits ? PQgetvalue(res, 0, 1) : "");
	PQclear(res);
	*scopes = bits;
	return bits ? AUTH_OK : AUTH_INVALID;
}

bool
auth_route(struct request *req, struct reply *out)
{
	const struct route *route = req->route;
	unsigned int need = route->scope ? route->scope : SCOPE_ADMIN;
	struct db_error err;
	const char *h;
	char		have[64];

	req->scopes = SCOPE_INGEST | SCOPE_READ | SCOPE_REVIEW | SCOPE_ADMIN;
	if (!(route->flags & ROUTE_AUTH) || !cfg.require_api_key ||
		((route->flags & ROUTE_METRICS) && cfg.metrics_public))
		return true;
	h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	/* no key but the web page's session cookie: the session's key and scopes (session.c) */
	if (!h && session_cookie(req->conn))
	{
		if (!session_auth(req, out))
			return false;
	}
	else switch (auth_check(h, req->request_id, &req->scopes, req->actor, sizeof(req->actor), &err))
	{
		case AUTH_OK:
			break;
		case AUTH_MISSING:
			reply_problem(out, 401, req->request_id,
						  "an API key is required: send Authorization: Bearer <key>");
			out->www_authenticate = true;
			snprintf(req->note, sizeof(req->note), "no API key");
			return false;
		case AUTH_INVALID:
			reply_problem(out, 401, req->request_id, "invalid or revoked API key");
			out->www_authenticate = true;
			snprintf(req->note, sizeof(req->note), "unknown or revoked API key");
			return false;
		case AUTH_UNAVAILABLE:
			reply_problem(out, err.http_status, req->request_id, "%s", err.message);
			if (err.http_status == 503)
				out->retry_after = 1;
			return false;
	}
	if (req->scopes & need)
		return true;
	auth_format_scopes(req->scopes, have, sizeof(have));
	reply_problem(out, 403, req->request_id,
				  "this API key lacks the scope \"%s\" that %s %s needs (the key has: %s)",
				  auth_scope_name(need), req->method, route->pattern, have);
	snprintf(req->note, sizeof(req->note), "API key without scope %s", auth_scope_name(need));
	return false;
}
