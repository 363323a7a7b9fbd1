/*
 * webhook_sign.c: Standard Webhooks signing and verification (see webhook_sign.h).
 */
#include "webhook_sign.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

bool
whs_decode_secret(const char *secret, unsigned char *key, size_t *keylen)
{
	unsigned char buf[WHS_KEY_MAX + 3];
	size_t		len;
	int			n;

	if (secret == NULL)
		return false;
	if (strncmp(secret, "whsec_", 6) == 0)
		secret += 6;
	len = strlen(secret);
	if (len == 0 || len % 4 != 0 || len / 4 * 3 > sizeof(buf))
		return false;
	n = EVP_DecodeBlock(buf, (const unsigned char *) secret, (int) len);
	if (n <= 0)
		return false;
	/* EVP_DecodeBlock counts the padding as zero bytes */
	if (secret[len - 1] == '=')
		n--;
	if (secret[len - 2] == '=')
		n--;
	if (n <= 0 || (size_t) n > WHS_KEY_MAX)
		return false;
	memcpy(key, buf, (size_t) n);
	*keylen = (size_t) n;
	OPENSSL_cleanse(buf, sizeof(buf));
	return true;
}

bool
whs_sign(const unsigned char *key, size_t keylen, const char *id, const char *timestamp,
		 const char *body, size_t bodylen, char *out, size_t outsz)
{
	size_t		idlen = strlen(id);
	size_t		tslen = strlen(timestamp);
	size_t		msglen = idlen + 1 + tslen + 1 + bodylen;
	unsigned char *msg;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	bool		ok;

	if (outsz < WHS_SIG_LEN + 1 || (msg = malloc(msglen ? msglen : 1)) == NULL)
		return false;
	memcpy(msg, id, idlen);
	msg[idlen] = '.';
	memcpy(msg + idlen + 1, timestamp, tslen);
	msg[idlen + 1 + tslen] = '.';
	memcpy(msg + idlen + tslen + 2, body, bodylen);
	ok = HMAC(EVP_sha256(), key, (int) keylen, msg, msglen, mac, &maclen) != NULL && maclen == 32;
	free(msg);
	if (!ok)
		return false;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *) out + 3, mac, (int) maclen);
	return true;
}

bool
whs_verify(const unsigned char *key, size_t keylen, const char *id, const char *timestamp,
		   const char *body, size_t bodylen, const char *header)
{
	char		expected[WHS_SIG_LEN + 1];
	const char *p = header;
	bool		match = false;

	if (header == NULL || !whs_sign(key, keylen, id, timestamp, body, bodylen, expected, sizeof(expected)))
		return false;
	while (*p)
	{
		size_t		n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		/* other versions (v1a, ...) are skipped; every v1 candidate is compared */
		if (n == WHS_SIG_LEN && CRYPTO_memcmp(p, expected, WHS_SIG_LEN) == 0)
			match = true;
		p += n;
	}
	return match;
}
