/*
 * daemon_config.h: the daemon's settings, read once from the environment
 * (DESIGN.md § Configuration plus the processor's own PROCESSOR_* names).
 */
#ifndef IF_DAEMON_CONFIG_H
#define IF_DAEMON_CONFIG_H

#include "../../src/common/s3_client.h"
#include "sandbox.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct proc_config
{
	const char *database_url;	/* libpq conninfo or URL (required) */
	const char *rabbitmq_url;	/* NULL: embedded mode (claim_next + LISTEN) */
	/* S3 (NULL bucket: off) */
	const char *s3_bucket;
	const char *s3_endpoint;
	const char *s3_region;
	const char *s3_access_key_id;
	const char *s3_secret_access_key;
	int			concurrency;	/* documents at once */
	int			cpu_seconds;	/* RLIMIT_CPU of a child */
	int			memory_mb;		/* address space a child may add (RLIMIT_AS) */
	int			timeout_seconds;	/* wall clock per document */
	int			grace_seconds;	/* SIGTERM: time left to documents in flight */
	int			log_level;
	bool		log_json;
	const char *service_name;
	bool		test_faults;	/* PROCESSOR_TEST_FAULTS=1: test-only fault hooks */
	sandbox_user sandbox;		/* PROCESSOR_SANDBOX_USER, resolved when root */
	const char *scratch_dir;	/* PROCESSOR_SCRATCH_DIR: where per-child scratch dirs go */
} proc_config;

/*
 * Fills *cfg from the environment. On a bad value returns false with a
 * message naming the variable in err.
 */
bool		config_from_env(proc_config *cfg, char *err, size_t errsz);

/* The S3 client's settings from cfg's S3 fields (timeouts left at their zero). */
void		config_s3(const proc_config *cfg, s3c_config *sc);

#endif
