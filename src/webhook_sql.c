/*
 * webhook_sql.c: the webhook sink's settings and the one SQL helper it needs in C.
 *
 *   invoiceflow.webhook_allow_private   (superuser, off) deliver to loopback,
 *                                       private, link-local and metadata addresses
 *   invoiceflow.webhook_timeout_seconds total time of one delivery (connect: 1/3)
 *   invoiceflow.webhook_max_in_flight   deliveries one worker has in flight at once
 *   invoiceflow.webhook_per_subscription deliveries in flight per subscription
 *   invoiceflow.webhook_retention_days  ended deliveries and webhook-ids kept (30)
 *
 * _random_bytes(n): n bytes from the server's strong random source, for the
 * whsec_ secrets (PostgreSQL 15 has no such SQL function without pgcrypto).
 *
 * _webhook_seal(secret) / _webhook_unseal(stored): HMAC needs the secret
 * itself, so it cannot be stored hashed. With invoiceflow.webhook_secret_key set
 * (superuser only, from the server's configuration, never in the database) the
 * secrets are stored as "v1e:" + base64(nonce || AES-256-GCM ciphertext || tag)
 * under SHA-256 of that key, so a dump alone cannot forge or read them; without
 * it they are stored as issued (README § Security, Webhooks, says what a dump
 * then exposes). Unseal returns NULL (and warns) when a sealed secret cannot be
 * opened: a caller refuses that one secret, and nothing else stops.
 */
#include "invoiceflow.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/base64.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#define SEAL_PREFIX "v1e:"
#define SEAL_NONCE 12
#define SEAL_TAG 16

bool		invoiceflow_webhook_allow_private = false;
int			invoiceflow_webhook_timeout_seconds = 10;
int			invoiceflow_webhook_max_in_flight = 64;
int			invoiceflow_webhook_per_subscription = 8;
int			invoiceflow_webhook_retention_days = 30;
char	   *invoiceflow_webhook_secret_key = NULL;

void
invoiceflow_define_webhook_gucs(void)
{
	DefineCustomBoolVariable("invoiceflow.webhook_allow_private",
							 "Allow webhook deliveries to loopback, private, link-local and metadata addresses.",
							 "Checked on the address each delivery connects to, after name resolution.",
							 &invoiceflow_webhook_allow_private, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("invoiceflow.webhook_secret_key",
							   "Key that encrypts the webhook secrets stored in the database (AES-256-GCM).",
							   "Any string; SHA-256 of it is the key. Empty: secrets are stored as issued.",
							   &invoiceflow_webhook_secret_key, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.webhook_retention_days",
							"Days ended webhook deliveries and received webhook-ids are kept.",
							NULL, &invoiceflow_webhook_retention_days, 30, 1, 3650,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.webhook_timeout_seconds",
							"Total time limit of one webhook delivery.",
							NULL, &invoiceflow_webhook_timeout_seconds, 10, 1, 300,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.webhook_max_in_flight",
							"Webhook deliveries one worker keeps in flight at once.",
							NULL, &invoiceflow_webhook_max_in_flight, 64, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.webhook_per_subscription",
							"Webhook deliveries in flight per subscription.",
							NULL, &invoiceflow_webhook_per_subscription, 8, 1, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
}

PG_FUNCTION_INFO_V1(invoiceflow_random_bytes);

Datum
invoiceflow_random_bytes(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	bytea	   *out;

	if (n < 1 || n > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of random bytes must be between 1 and 1024")));
	out = (bytea *) palloc(VARHDRSZ + n);
	SET_VARSIZE(out, VARHDRSZ + n);
	if (!pg_strong_random(VARDATA(out), n))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
	PG_RETURN_BYTEA_P(out);
}

static bool
seal_key(unsigned char key[32])
{
	if (invoiceflow_webhook_secret_key == NULL || invoiceflow_webhook_secret_key[0] == '\0')
		return false;
	SHA256((const unsigned char *) invoiceflow_webhook_secret_key, strlen(invoiceflow_webhook_secret_key), key);
	return true;
}

/* AES-256-GCM, one shot; false on any OpenSSL failure (or a bad tag when decrypting) */
static bool
gcm(bool enc, const unsigned char *key, const unsigned char *nonce, const unsigned char *in, int inlen,
	unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int			n = 0;
	int			fin = 0;
	bool		ok;

	if (c == NULL)
		return false;
	ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) == 1 &&
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE, NULL) == 1 &&
		EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc ? 1 : 0) == 1 &&
		EVP_CipherUpdate(c, out, &n, in, inlen) == 1 &&
		(enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag) == 1) &&
		EVP_CipherFinal_ex(c, out + n, &fin) == 1 &&
		(!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, tag) == 1);
	EVP_CIPHER_CTX_free(c);
	return ok;
}

PG_FUNCTION_INFO_V1(invoiceflow_webhook_seal);

Datum
invoiceflow_webhook_seal(PG_FUNCTION_ARGS)
{
	text	   *plain = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(plain);
	unsigned char key[32];
	unsigned char *buf;
	char	   *b64;
	int			b64len;

	if (!seal_key(key))
		PG_RETURN_TEXT_P(plain);
	buf = palloc(SEAL_NONCE + len + SEAL_TAG);
	if (!pg_strong_random(buf, SEAL_NONCE) ||
		!gcm(true, key, buf, (unsigned char *) VARDATA_ANY(plain), len, buf + SEAL_NONCE, buf + SEAL_NONCE + len))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not encrypt a webhook secret")));
	explicit_bzero(key, sizeof(key));
	b64 = palloc(strlen(SEAL_PREFIX) + pg_b64_enc_len(SEAL_NONCE + len + SEAL_TAG) + 1);
	strcpy(b64, SEAL_PREFIX);
	b64len = pg_b64_encode((char *) buf, SEAL_NONCE + len + SEAL_TAG, b64 + strlen(SEAL_PREFIX),
						   pg_b64_enc_len(SEAL_NONCE + len + SEAL_TAG));
	if (b64len < 0)
		elog(ERROR, "base64 encoding failed");
	b64[strlen(SEAL_PREFIX) + b64len] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(b64));
}

PG_FUNCTION_INFO_V1(invoiceflow_webhook_unseal);

Datum
invoiceflow_webhook_unseal(PG_FUNCTION_ARGS)
{
	char	   *stored = text_to_cstring(PG_GETARG_TEXT_PP(0));
	size_t		plen = strlen(SEAL_PREFIX);
	unsigned char key[32];
	char	   *raw;
	int			rawlen;
	unsigned char *out;

	if (strncmp(stored, SEAL_PREFIX, plen) != 0)
		PG_RETURN_TEXT_P(cstring_to_text(stored));	/* stored as issued */
	if (!seal_key(key))
	{
		ereport(WARNING,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("a webhook secret is encrypted but invoiceflow.webhook_secret_key is not set"),
				 errhint("Set invoiceflow.webhook_secret_key to the key the secrets were stored with, and reload.")));
		PG_RETURN_NULL();
	}
	raw = palloc(pg_b64_dec_len(strlen(stored) - plen) + 1);
	rawlen = pg_b64_decode(stored + plen, strlen(stored) - plen, raw, pg_b64_dec_len(strlen(stored) - plen));
	out = palloc(Max(rawlen, 1) + 1);
	if (rawlen < SEAL_NONCE + SEAL_TAG ||
		!gcm(false, key, (unsigned char *) raw, (unsigned char *) raw + SEAL_NONCE, rawlen - SEAL_NONCE - SEAL_TAG,
			 out, (unsigned char *) raw + rawlen - SEAL_TAG))
	{
		explicit_bzero(key, sizeof(key));
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a webhook secret cannot be decrypted with invoiceflow.webhook_secret_key"),
				 errdetail("The key differs from the one the secret was stored with, or the stored value was changed."),
				 errhint("Set the key the secrets were stored with, or issue new secrets.")));
		PG_RETURN_NULL();
	}
	explicit_bzero(key, sizeof(key));
	PG_RETURN_TEXT_P(cstring_to_text_with_len((char *) out, rawlen - SEAL_NONCE - SEAL_TAG));
}
