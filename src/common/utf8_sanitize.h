/*
 * utf8_sanitize.h: client-supplied text (file names, paths, query strings) made
 * safe for JSON, which refuses invalid UTF-8. Free of PostgreSQL headers.
 */
#ifndef IF_UTF8_SANITIZE_H
#define IF_UTF8_SANITIZE_H

#include <stddef.h>

/*
 * Copies s into out (outsz bytes, always NUL-terminated, truncated on a
 * character boundary), replacing each byte that is not part of valid UTF-8
 * (overlong forms and surrogates included) by '?'.
 */
extern void utf8_sanitize(const char *s, char *out, size_t outsz);

#endif
