/*
 * guc.c: the invoiceflow.* configuration parameters (DESIGN.md § Configuration).
 *
 * Secrets are PGC_SIGHUP with GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL: they come from
 * postgresql.conf (or an include file readable by the server alone), never from a
 * session, and only superusers can read them. dedup and max_file_size_mb are
 * PGC_SUSET so that a writer cannot lift them for its own session.
 */
#include "invoiceflow.h"

#include <limits.h>

#include "utils/guc.h"

char	   *invoiceflow_database = NULL;
int			invoiceflow_workers = 2;
int			invoiceflow_max_file_size_mb = 10;
bool		invoiceflow_dedup = true;
char	   *invoiceflow_s3_endpoint = NULL;
char	   *invoiceflow_s3_bucket = NULL;
char	   *invoiceflow_s3_region = NULL;
char	   *invoiceflow_s3_access_key_id = NULL;
char	   *invoiceflow_s3_secret_access_key = NULL;
char	   *invoiceflow_rabbitmq_url = NULL;
char	   *invoiceflow_opensearch_url = NULL;
char	   *invoiceflow_search_backend = NULL;
static char *invoiceflow_actor = NULL;	/* read by SQL only (audit log, issue 14) */
int			invoiceflow_search_rank_window = 1000;
int			invoiceflow_lease_seconds = 300;
int			invoiceflow_max_retries = 3;
double		invoiceflow_retry_delay_seconds = 1.0;
double		invoiceflow_retry_backoff_factor = 2.0;
int			invoiceflow_retry_max_delay_seconds = 300;
bool		invoiceflow_keep_files_in_database = false;
int			invoiceflow_probe_interval_seconds = 5;
int			invoiceflow_breaker_failures = 5;
int			invoiceflow_breaker_cooldown_seconds = 10;
int			invoiceflow_request_timeout_seconds = 30;

#define SECRET_FLAGS (GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL)

void
invoiceflow_define_gucs(void)
{
	DefineCustomStringVariable("invoiceflow.database",
							   "Database the invoiceflow background workers connect to.",
							   NULL, &invoiceflow_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.workers",
							"Number of invoiceflow delivery workers.",
							NULL, &invoiceflow_workers, 2, 0, 32,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.max_file_size_mb",
							"Largest file ingest() accepts, in MiB.",
							NULL, &invoiceflow_max_file_size_mb, 10, 1, 1024,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("invoiceflow.dedup",
							 "Return the first live request for content already ingested.",
							 NULL, &invoiceflow_dedup, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("invoiceflow.s3_endpoint",
							   "S3-compatible endpoint URL (path-style); empty means AWS.",
							   NULL, &invoiceflow_s3_endpoint, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("invoiceflow.s3_bucket",
							   "Bucket that receives raw/<id>.pdf; empty disables S3.",
							   NULL, &invoiceflow_s3_bucket, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("invoiceflow.s3_region",
							   "S3 region used for SigV4 signing.",
							   NULL, &invoiceflow_s3_region, "us-east-1",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("invoiceflow.s3_access_key_id",
							   "S3 access key id.",
							   NULL, &invoiceflow_s3_access_key_id, "",
							   PGC_SIGHUP, SECRET_FLAGS, NULL, NULL, NULL);
	DefineCustomStringVariable("invoiceflow.s3_secret_access_key",
							   "S3 secret access key.",
							   NULL, &invoiceflow_s3_secret_access_key, "",
							   PGC_SIGHUP, SECRET_FLAGS, NULL, NULL, NULL);
	DefineCustomStringVariable("invoiceflow.rabbitmq_url",
							   "AMQP URL of RabbitMQ; empty disables publishing.",
							   NULL, &invoiceflow_rabbitmq_url, "",
							   PGC_SIGHUP, SECRET_FLAGS, NULL, NULL, NULL);
	DefineCustomStringVariable("invoiceflow.opensearch_url",
							   "OpenSearch base URL; empty disables indexing.",
							   NULL, &invoiceflow_opensearch_url, "",
							   PGC_SIGHUP, SECRET_FLAGS, NULL, NULL, NULL);
	DefineCustomStringVariable("invoiceflow.search_backend",
							   "Backend of search(): postgres or opensearch.",
							   NULL, &invoiceflow_search_backend, "postgres",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.search_rank_window",
							"search() sorted by relevance ranks this many of the newest matches; 0 ranks every match.",
							NULL, &invoiceflow_search_rank_window, 1000, 0, 100000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.lease_seconds",
							"Length of a processing lease.",
							NULL, &invoiceflow_lease_seconds, 300, 5, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.max_retries",
							"Quick retries of a failed delivery before the capped backoff.",
							NULL, &invoiceflow_max_retries, 3, 0, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("invoiceflow.retry_delay_seconds",
							 "First retry delay of a failed delivery.",
							 NULL, &invoiceflow_retry_delay_seconds, 1.0, 0.01, 3600.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("invoiceflow.retry_backoff_factor",
							 "Growth factor of the retry delay.",
							 NULL, &invoiceflow_retry_backoff_factor, 2.0, 1.0, 10.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.retry_max_delay_seconds",
							"Cap of the retry delay while an error stays transient.",
							NULL, &invoiceflow_retry_max_delay_seconds, 300, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomBoolVariable("invoiceflow.keep_files_in_database",
							 "Keep the file bytes in PostgreSQL after they were stored in S3.",
							 "When off (the default), the bytes are dropped from invoiceflow.ingestion_files "
							 "once S3 holds a verified copy, and file() returns NULL; processors read S3.",
							 &invoiceflow_keep_files_in_database, false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.probe_interval_seconds",
							"How often the worker checks each configured dependency for health().",
							NULL, &invoiceflow_probe_interval_seconds, 5, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.breaker_failures",
							"Consecutive failures of a dependency that open its circuit breaker.",
							NULL, &invoiceflow_breaker_failures, 5, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.breaker_cooldown_seconds",
							"How long an open circuit breaker waits before it probes again.",
							NULL, &invoiceflow_breaker_cooldown_seconds, 10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("invoiceflow.request_timeout_seconds",
							"Total time limit of one S3 request, AMQP publish or OpenSearch bulk request.",
							NULL, &invoiceflow_request_timeout_seconds, 30, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomStringVariable("invoiceflow.actor",
							   "Who acts, as the audit log records it (the gateway sets the API key's name).",
							   "Empty: the login role. A claim of the caller: the log keeps the login role beside it.",
							   &invoiceflow_actor, "", PGC_USERSET, GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
	invoiceflow_define_webhook_gucs();	/* webhook_sql.c */
	MarkGUCPrefixReserved("invoiceflow");
}
