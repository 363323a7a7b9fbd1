/*
 * request_id.h: the X-Request-ID correlation id (taken from the request when it
 * is a sane token, generated otherwise) and UUID text handling.
 */
#ifndef GATEWAY_REQUEST_ID_H
#define GATEWAY_REQUEST_ID_H

#include <stdbool.h>
#include <stddef.h>

#define REQUEST_ID_MAX 128
#define UUID_TEXT_LEN 36

/*
 * Accepts a client's X-Request-ID: 1..REQUEST_ID_MAX bytes of [A-Za-z0-9._:+=/-],
 * so that it can go into log lines and headers unescaped. Returns false when the
 * value must be replaced by a generated one.
 */
bool		request_id_acceptable(const char *s);

/* A random version 4 UUID, lower case, into out (at least UUID_TEXT_LEN + 1 bytes). */
void		uuid_generate_v4(char *out);

/*
 * Parses a UUID in its canonical 8-4-4-4-12 hex form (either case); writes the
 * lower-case form to out (UUID_TEXT_LEN + 1 bytes). Returns false otherwise.
 */
bool		uuid_parse(const char *s, char *out);

#endif
