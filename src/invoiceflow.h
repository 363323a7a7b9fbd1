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
extern int	invoiceflow_search_rank_window;
extern int	invoiceflow_lease_seconds;
extern int	invoiceflow_max_retries;
extern double invoiceflow_retry_delay_seconds;
extern double invoiceflow_retry_backoff_factor;
extern int	invoiceflow_retry_max_delay_seconds;

extern bool invoiceflow_keep_files_in_database;
extern int	invoiceflow_probe_interval_seconds;
extern int	invoiceflow_breaker_failures;
extern int	invoiceflow_breaker_cooldown_seconds;
extern int	invoiceflow_request_timeout_seconds;

extern void invoiceflow_define_gucs(void);

/* webhook sink settings (webhook_sql.c) */
extern bool invoiceflow_webhook_allow_private;
extern int	invoiceflow_webhook_timeout_seconds;
extern int	invoiceflow_webhook_max_in_flight;
extern int	invoiceflow_webhook_per_subscription;
extern int	invoiceflow_webhook_retention_days;
extern char *invoiceflow_webhook_secret_key;
extern void invoiceflow_define_webhook_gucs(void);

/* ---------------------------------------------------------------------------
 * Shared memory (shmem.c): worker slots, the commit wake-up, circuit breakers.
 * ------------------------------------------------------------------------- */
#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#define IF_MAX_WORKERS 32

typedef enum IfDep
{
	IF_DEP_S3 = 0,
	IF_DEP_RABBITMQ,
	IF_DEP_OPENSEARCH,
	IF_DEP_COUNT
} IfDep;

typedef enum IfBreakerState
{
	IF_BREAKER_CLOSED = 0,		/* calls go through */
	IF_BREAKER_OPEN,			/* no calls until open_until */
	IF_BREAKER_HALF_OPEN		/* cool-down over: one probe decides */
} IfBreakerState;

typedef struct IfBreaker
{
	IfBreakerState state;
	int			consecutive_failures;
	TimestampTz open_until;
	TimestampTz last_check;		/* last outcome of a call or probe */
	bool		last_ok;
	bool		checked;		/* an outcome since the worker started */
	char		last_error[256];	/* never holds credentials */
} IfBreaker;

typedef struct IfWorkerSlot
{
	pid_t		pid;
	Latch	   *latch;
	Oid			dboid;
} IfWorkerSlot;

typedef struct IfShared
{
	LWLock	   *lock;
	pg_atomic_uint64 wake_gen;	/* bumped by each commit that wrote work */
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	Oid			paused_dboid;	/* DROP/RENAME DATABASE in progress */
	TimestampTz paused_until;
	IfWorkerSlot slots[IF_MAX_WORKERS];
	IfBreaker	breakers[IF_DEP_COUNT];
} IfShared;

extern IfShared *if_shared;

extern void invoiceflow_shmem_init_hooks(void);
extern void invoiceflow_xact_init(void);
extern void invoiceflow_utility_init(void);
extern void invoiceflow_wake_workers(void);
extern const char *if_dep_name(IfDep dep);

/* breaker outcome bookkeeping (any process) */
extern void if_breaker_success(IfDep dep);
extern void if_breaker_failure(IfDep dep, const char *error, bool transient);
extern IfBreakerState if_breaker_poll(IfDep dep, TimestampTz now, TimestampTz *open_until);
extern void if_breaker_reset(IfDep dep);

/* workers (launcher.c, worker.c) */
extern void invoiceflow_register_launcher(void);

/* outbox.c: short transactions and the retry backoff, for every sink's queue */
extern void if_tx_begin(const char *activity);
extern void if_tx_commit(void);
extern double if_retry_delay(int tries_done);

/* the webhook sink's own queue (webhook_queue.c) */
extern void if_webhook_release(const char *worker);
extern long if_webhook_turn(const char *worker);
extern TimestampTz if_webhook_next_due(void);
extern void if_webhook_reset(void);

#endif							/* INVOICEFLOW_H */
