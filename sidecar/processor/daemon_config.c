/* daemon_config.c: environment -> proc_config, refusing bad values by name. */
#include "daemon_config.h"
#include "daemon_log.h"
#include "ocr.h"
#include "../../src/common/env_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

bool
config_from_env(proc_config *cfg, char *err, size_t errsz)
{
	long		cpus = sysconf(_SC_NPROCESSORS_ONLN);
	const char *v;

	memset(cfg, 0, sizeof *cfg);
	cfg->database_url = envc_get("DATABASE_URL");
	if (!cfg->database_url)
	{
		snprintf(err, errsz, "DATABASE_URL is not set (a libpq connection string or URL "
				 "for a role with invoiceflow_worker rights)");
		return false;
	}
	cfg->rabbitmq_url = envc_get("RABBITMQ_URL");
	if (cfg->rabbitmq_url && strncmp(cfg->rabbitmq_url, "amqp://", 7) != 0 &&
		strncmp(cfg->rabbitmq_url, "amqps://", 8) != 0)
	{
		snprintf(err, errsz, "RABBITMQ_URL must start with amqp:// or amqps://");
		return false;
	}

	cfg->s3_bucket = envc_get("S3_BUCKET");
	cfg->s3_endpoint = envc_get("S3_ENDPOINT_URL");
	cfg->s3_region = envc_get("AWS_REGION");
	cfg->s3_access_key_id = envc_get("AWS_ACCESS_KEY_ID");
	cfg->s3_secret_access_key = envc_get("AWS_SECRET_ACCESS_KEY");
	if (cfg->s3_bucket && (!cfg->s3_access_key_id || !cfg->s3_secret_access_key))
	{
		snprintf(err, errsz, "S3_BUCKET is set but AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not");
		return false;
	}
	if (cfg->s3_endpoint && strncmp(cfg->s3_endpoint, "http://", 7) != 0 &&
		strncmp(cfg->s3_endpoint, "https://", 8) != 0)
	{
		snprintf(err, errsz, "S3_ENDPOINT_URL must start with http:// or https://, not \"%s\"",
				 cfg->s3_endpoint);
		return false;
	}

	if (!envc_int("PROCESSOR_CONCURRENCY", cpus > 0 ? (int) (cpus < 256 ? cpus : 256) : 1, 1, 256,
				 &cfg->concurrency, err, errsz) ||
		!envc_int("PROCESSOR_CPU_SECONDS", 30, 1, 3600, &cfg->cpu_seconds, err, errsz) ||
		!envc_int("PROCESSOR_MEMORY_MB", 512, 16, 65536, &cfg->memory_mb, err, errsz) ||
		!envc_int("PROCESSOR_TIMEOUT_SECONDS", 60, 1, 3600, &cfg->timeout_seconds, err, errsz) ||
		!envc_int("PROCESSOR_SHUTDOWN_GRACE_SECONDS", 10, 0, 3600, &cfg->grace_seconds, err, errsz))
		return false;

	cfg->log_level = LOG_INFO;
	if ((v = envc_get("LOG_LEVEL")) && (cfg->log_level = log_parse_level(v)) < 0)
	{
		snprintf(err, errsz, "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not \"%s\"", v);
		return false;
	}
	cfg->log_json = true;
	if ((v = envc_get("LOG_FORMAT")))
	{
		if (strcasecmp(v, "json") == 0)
			cfg->log_json = true;
		else if (strcasecmp(v, "text") == 0)
			cfg->log_json = false;
		else
		{
			snprintf(err, errsz, "LOG_FORMAT must be json or text, not \"%s\"", v);
			return false;
		}
	}
	cfg->service_name = envc_get("SERVICE_NAME") ? envc_get("SERVICE_NAME") : "invoiceflow-processor";
	if (strlen(cfg->service_name) > 100)
	{
		snprintf(err, errsz, "SERVICE_NAME must be at most 100 characters");
		return false;
	}
	/* OCR settings are read again by each child (ocr.c); refused here by name at start */
	{
		int			ocr_pages;
		const char *ocr_langs;

		if (!ocr_settings(&ocr_pages, &ocr_langs, err, errsz))
			return false;
	}
	v = envc_get("PROCESSOR_TEST_FAULTS");
	cfg->test_faults = v && strcmp(v, "1") == 0;
	v = envc_get("PROCESSOR_SANDBOX_USER");
	if (!sandbox_resolve_user(v ? v : "nobody", &cfg->sandbox, err, errsz))
		return false;
	cfg->scratch_dir = envc_get("PROCESSOR_SCRATCH_DIR") ? envc_get("PROCESSOR_SCRATCH_DIR") : "/tmp";
	if (cfg->scratch_dir[0] != '/' || strlen(cfg->scratch_dir) > 200)
	{
		snprintf(err, errsz, "PROCESSOR_SCRATCH_DIR must be an absolute path of at most 200 characters");
		return false;
	}
	return true;
}

void
config_s3(const proc_config *cfg, s3c_config *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->endpoint = cfg->s3_endpoint;
	sc->bucket = cfg->s3_bucket;
	sc->region = cfg->s3_region;
	sc->access_key_id = cfg->s3_access_key_id;
	sc->secret_access_key = cfg->s3_secret_access_key;
}
