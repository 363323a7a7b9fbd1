/*
 * auth.h: API keys and their scopes. "Authorization: Bearer <key>" is checked
 * through the SQL function check_api_key_scopes() (keys are stored as sha256
 * hashes in the database) and the answer, the key's scopes, is cached for
 * API_KEY_CACHE_SECONDS, so a revoked key or changed scopes take effect within
 * that time (at once for keys revoked through this gateway).
 */
#ifndef GATEWAY_AUTH_H
#define GATEWAY_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "db_pool.h"
#include "routes.h"

#define API_KEY_MAX 256

enum auth_result
{
	AUTH_OK,
	AUTH_MISSING,				/* no or malformed Authorization header */
	AUTH_INVALID,				/* unknown or revoked key */
	AUTH_UNAVAILABLE,			/* could not ask the database: err is set */
};

/*
 * Extracts the token of "Bearer <token>" (scheme case-insensitive, token68
 * characters, 1..API_KEY_MAX bytes). Returns false when header is not that.
 */
bool		auth_parse_bearer(const char *header, const char **token, size_t *len);

void		auth_init(int cache_seconds);
void		auth_shutdown(void);
/* Checks the header's key; AUTH_OK sets *scopes (SCOPE_* bits) and name (the key's name; NULL: not wanted). */
enum auth_result auth_check(const char *authorization, const char *request_id,
							unsigned int *scopes, char *name, size_t namesz, struct db_error *err);

/* Forgets every cached answer (after a key is revoked through the gateway). */
void		auth_cache_flush(void);

/* "{ingest,read}" (a PostgreSQL text[]) -> SCOPE_* bits; unknown names are ignored. */
unsigned int auth_parse_scopes(const char *pg_array);
/* SCOPE_* bits -> "ingest, read" */
void		auth_format_scopes(unsigned int scopes, char *out, size_t outsz);
const char *auth_scope_name(unsigned int scope);

/*
 * May this request use its route? The route table drives it: a route without
 * ROUTE_AUTH is open, ROUTE_METRICS routes are open under METRICS_PUBLIC=true,
 * every other one needs a key (unless REQUIRE_API_KEY=false) holding the
 * route's scope. Returns true, or false with out set to the 401/403/503 reply.
 */
bool		auth_route(struct request *req, struct reply *out);

#endif
