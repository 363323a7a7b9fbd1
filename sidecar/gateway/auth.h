/*
 * auth.h: API keys. "Authorization: Bearer <key>" is checked through the SQL
 * function check_api_key() (keys are stored as sha256 hashes in the database)
 * and the answer is cached for API_KEY_CACHE_SECONDS, so a revoked key stops
 * working within that time.
 */
#ifndef GATEWAY_AUTH_H
#define GATEWAY_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "db_pool.h"

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
enum auth_result auth_check(const char *authorization, const char *request_id,
							struct db_error *err);

#endif
