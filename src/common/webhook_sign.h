/*
 * webhook_sign.h: Standard Webhooks signatures, written once for the gateway
 * (verifying inbound requests) and the worker (signing outbound ones).
 *
 *   signed content  "<webhook-id>.<webhook-timestamp>.<body>"
 *   signature       "v1," + base64(HMAC-SHA256(key, signed content))
 *   secret          "whsec_" + base64(key)
 *   header          one or more signatures separated by spaces
 *
 * OpenSSL's HMAC, a constant-time comparison (CRYPTO_memcmp). No PostgreSQL headers.
 */
#ifndef INVOICEFLOW_WEBHOOK_SIGN_H
#define INVOICEFLOW_WEBHOOK_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#define WHS_KEY_MAX 128
#define WHS_SIG_LEN 47			/* "v1," + 44 base64 characters */

/* "whsec_<base64>" (the prefix is optional) -> key bytes; false if malformed */
bool		whs_decode_secret(const char *secret, unsigned char *key, size_t *keylen);

/* out (at least WHS_SIG_LEN + 1 bytes) = "v1,<base64>"; false on an OpenSSL failure */
bool		whs_sign(const unsigned char *key, size_t keylen, const char *id, const char *timestamp,
					 const char *body, size_t bodylen, char *out, size_t outsz);

/*
 * true when one of the space-separated signatures of header is the v1
 * signature of (id, timestamp, body) under key; every candidate is compared
 * in constant time.
 */
bool		whs_verify(const unsigned char *key, size_t keylen, const char *id, const char *timestamp,
					   const char *body, size_t bodylen, const char *header);

#endif
