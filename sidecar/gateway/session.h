/*
 * session.h: the web page's sessions (issue 14). The page signs in with an API
 * key, which POST /api/v1/session exchanges for a session: an opaque token in
 * an HttpOnly, SameSite=Strict cookie (Secure behind TLS) and a CSRF token the
 * page sends as X-CSRF-Token on every change. Sessions live in PostgreSQL
 * (invoiceflow.web_sessions, hashed), so any gateway serves them, and carry
 * their key: revoking it or changing its scopes acts at once.
 */
#ifndef GATEWAY_SESSION_H
#define GATEWAY_SESSION_H

#include <stdbool.h>

#include "routes.h"

#define SESSION_COOKIE "invoiceflow_session"
#define SESSION_CSRF_HEADER "X-CSRF-Token"

struct MHD_Connection;

/* The request's session token (64 hex digits) from its cookie, or NULL. */
const char *session_cookie(struct MHD_Connection *conn);

/*
 * Authenticates a request by its session: sets req->scopes and req->actor.
 * A change (any method but GET and HEAD) needs the session's CSRF token.
 * Returns false with out set to a 401/403/503 otherwise.
 */
bool		session_auth(struct request *req, struct reply *out);

/* Is token the expected CSRF token? (constant time; false when either is missing) */
bool		session_csrf_matches(const char *expected, const char *token);

/* Set-Cookie for token (NULL: clear it), Secure when the client came over https. */
void		session_cookie_header(struct request *req, const char *token, int max_age, char *out, size_t outsz);

#endif
