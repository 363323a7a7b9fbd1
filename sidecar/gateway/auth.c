/*
 * auth.c: Bearer API keys, checked with invoiceflow.check_api_key() and cached.
 *
 * The cache is a small fixed table keyed by a hash of the key, holding the key
 * itself for an exact comparison and the database's answer until it expires.
 * Unknown keys are cached too, so guessing costs no database round trip per try.
 */
#include "auth.h"
#include "../../src/common/sidecar_log.h"

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
	bool		valid;
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

/* 1 valid, 0 invalid, -1 not cached */
static int
cache_get(uint64_t h, const char *key, size_t len)
{
	struct cache_entry *e;
	int			r = -1;

	if (!cache || cache_seconds <= 0)
		return -1;
	pthread_mutex_lock(&cache_lock);
	e = &cache[h % CACHE_SLOTS];
	if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0 &&
		e->expires > now_monotonic())
		r = e->valid ? 1 : 0;
	pthread_mutex_unlock(&cache_lock);
	return r;
}

static void
cache_put(uint64_t h, const char *key, size_t len, bool valid)
{
	struct cache_entry *e;

	if (!cache || cache_seconds <= 0)
		return;
	pthread_mutex_lock(&cache_lock);
	e = &cache[h % CACHE_SLOTS];
	e->hash = h;
	e->len = len;
	memcpy(e->key, key, len);
	e->valid = valid;
	e->expires = now_monotonic() + cache_seconds;
	pthread_mutex_unlock(&cache_lock);
}

enum auth_result
auth_check(const char *authorization, const char *request_id, struct db_error *err)
{
	const char *token;
	size_t		len;
	uint64_t	h;
	int			cached;
	char		key[API_KEY_MAX + 1];
	const char *values[1];
	PGresult   *res;
	bool		valid;

	if (!auth_parse_bearer(authorization, &token, &len))
		return AUTH_MISSING;
	h = fnv1a(token, len);
	if ((cached = cache_get(h, token, len)) >= 0)
		return cached ? AUTH_OK : AUTH_INVALID;

	memcpy(key, token, len);
	key[len] = '\0';
	values[0] = key;
	res = db_exec(request_id, "SELECT invoiceflow.check_api_key($1)", 1, values, NULL, NULL,
				  true, err);
	explicit_bzero(key, sizeof(key));
	if (!res)
		return AUTH_UNAVAILABLE;
	valid = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	cache_put(h, token, len, valid);
	return valid ? AUTH_OK : AUTH_INVALID;
}
