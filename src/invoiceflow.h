/*
 * invoiceflow.h: what the extension's files share: GUC variables and entry points.
 */
#ifndef INVOICEFLOW_H
#define INVOICEFLOW_H

#include "postgres.h"

#ifndef INVOICEFLOW_VERSION
#error "INVOICEFLOW_VERSION must be defined by the Makefile (from invoiceflow.control)"
#endif

/* SQLSTATE of a forbidden status transition: class "IF" is ours. */
#define ERRCODE_INVOICEFLOW_INVALID_TRANSITION MAKE_SQLSTATE('I','F','0','0','1')

/* GUCs (guc.c) */
extern char *invoiceflow_database;
extern int	invoiceflow_workers;
extern int	invoiceflow_max_file_size_mb;
extern bool invoiceflow_dedup;
extern char *invoiceflow_s3_endpoint;
extern char *invoiceflow_s3_bucket;
extern char *invoiceflow_s3_region;
extern char *invoiceflow_s3_access_key_id;
extern char *invoiceflow_s3_secret_access_key;
extern char *invoiceflow_rabbitmq_url;
extern char *invoiceflow_opensearch_url;
extern char *invoiceflow_search_backend;
extern int	invoiceflow_lease_seconds;
extern int	invoiceflow_max_retries;
extern double invoiceflow_retry_delay_seconds;
extern double invoiceflow_retry_backoff_factor;
extern int	invoiceflow_retry_max_delay_seconds;

extern void invoiceflow_define_gucs(void);

#endif							/* INVOICEFLOW_H */
