/*
 * webhook_sql.c: the webhook sink's settings and the one SQL helper it needs in C.
 *
 *   invoiceflow.webhook_allow_private   (superuser, off) deliver to loopback,
 *                                       private, link-local and metadata addresses
 *   invoiceflow.webhook_timeout_seconds total time of one delivery (connect: 1/3)
 *   invoiceflow.webhook_max_in_flight   deliveries one worker has in flight at once
 *   invoiceflow.webhook_per_subscription deliveries in flight per subscription
 *
 * _random_bytes(n): n bytes from the server's strong random source, for the
 * whsec_ secrets (PostgreSQL 15 has no such SQL function without pgcrypto).
 */
#include "invoiceflow.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

bool		invoiceflow_webhook_allow_private = false;
int			invoiceflow_webhook_timeout_seconds = 10;
int			invoiceflow_webhook_max_in_flight = 64;
int			invoiceflow_webhook_per_subscription = 8;

void
invoiceflow_define_webhook_gucs(void)
{
	DefineCustomBoolVariable("invoiceflow.webhook_allow_private",
							 "Allow webhook deliveries to loopback, private, link-local and metadata addresses.",
							 "Checked on the address each delivery connects to, after name resolution.",
							 &invoiceflow_webhook_allow_private, false,
							 PGC_SUSET, 0, NULL, NULL, NULL);
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
