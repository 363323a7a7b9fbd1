/*
 * config.c: reads the seed's environment variables (and the gateway's own
 * GATEWAY_* ones) once, before any thread starts; refuses bad values with a
 * message naming the variable.
 */
#include "config.h"
#include "../../src/common/env_config.h"
#include "../../src/common/sidecar_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifndef GATEWAY_VERSION
#define GATEWAY_VERSION "0.0.0"
#endif

struct config cfg;

bool
config_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	return false;
}

static char *
env_str(const char *name, const char *def)
{
	const char *v = envc_get(name);

	return strdup(v ? v : def);
}

/* WEB_ROOT, or the folder "web" beside the executable (installed together, see the Makefile) */
static char *
web_root_default(void)
{
	char		exe[4096];
	ssize_t		n;
	char	   *slash;
	const char *v = envc_get("WEB_ROOT");

	if (v)
		return strdup(v);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 5);
	if (n <= 0)
		return strdup("web");
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')))
		slash[1] = '\0';
	strcat(exe, "web");
	return strdup(exe);
}

bool
config_load(char *err, size_t errsz)
{
	const char *v;

	memset(&cfg, 0, sizeof(cfg));
	cfg.database_url = env_str("DATABASE_URL", "");
	cfg.host = env_str("HOST", "127.0.0.1");
	cfg.service_name = env_str("SERVICE_NAME", "invoiceflow-gateway");
	cfg.version = env_str("VERSION", GATEWAY_VERSION);

	if (!envc_int("PORT", 8003, 0, 65535, &cfg.port, err, errsz) ||
		!envc_int("MAX_FILE_SIZE_MB", 10, 1, 1024, &cfg.max_file_size_mb, err, errsz) ||
		!envc_int("UPLOAD_TIMEOUT_SECONDS", 30, 1, 3600, &cfg.upload_timeout, err, errsz) ||
		!envc_int("GATEWAY_POOL_SIZE", 8, 1, 256, &cfg.pool_size, err, errsz) ||
		!envc_int("GATEWAY_POOL_WAIT_MS", 5000, 1, 600000, &cfg.pool_wait_ms, err, errsz) ||
		!envc_int("MAX_CONCURRENT_UPLOADS", 16, 1, 4096, &cfg.max_uploads, err, errsz) ||
		!envc_int("GATEWAY_MAX_CONNECTIONS", 256, 4, 16384, &cfg.max_connections, err, errsz) ||
		!envc_int("API_KEY_CACHE_SECONDS", 5, 0, 3600, &cfg.auth_cache_seconds, err, errsz) ||
		!envc_bool("DEBUG", false, &cfg.debug, err, errsz))
		return false;
	if (!envc_int("SHUTDOWN_DRAIN_SECONDS", cfg.upload_timeout + 10, 0, 86400,
				 &cfg.drain_seconds, err, errsz))
		return false;
	cfg.max_file_bytes = (size_t) cfg.max_file_size_mb * 1024 * 1024;
	if (!envc_int("GATEWAY_MAX_CONNECTIONS_PER_IP", 32, 0, 16384, &cfg.max_connections_per_ip, err, errsz) ||
		!envc_int("GATEWAY_HEADER_TIMEOUT_SECONDS", 10, 1, 3600, &cfg.header_timeout, err, errsz) ||
		!envc_int("GATEWAY_MAX_UPLOADS_PER_IP", cfg.max_uploads / 4 > 0 ? cfg.max_uploads / 4 : 1, 1, 4096,
				  &cfg.max_uploads_per_ip, err, errsz) ||
		!envc_int("GATEWAY_UPLOAD_MIN_BYTES_PER_SECOND", 10240, 0, 1 << 30, &cfg.upload_min_rate, err, errsz) ||
		!envc_int("GATEWAY_UPLOAD_RATE_GRACE_SECONDS", 5, 1, 3600, &cfg.upload_rate_grace, err, errsz) ||
		!envc_int("GATEWAY_LINGER_SECONDS", 5, 0, 300, &cfg.linger_seconds, err, errsz) ||
		!envc_int("GATEWAY_LINGER_MAX_MB", 64, 1, 4096, &cfg.linger_max_mb, err, errsz))
		return false;

	cfg.log_level = cfg.debug ? LOG_DEBUG : LOG_INFO;
	if ((v = envc_get("LOG_LEVEL")) && (cfg.log_level = log_parse_level(v)) < 0)
	{
		snprintf(err, errsz, "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not \"%s\"", v);
		return false;
	}
	cfg.log_json = true;
	if ((v = envc_get("LOG_FORMAT")))
	{
		if (strcasecmp(v, "json") == 0)
			cfg.log_json = true;
		else if (strcasecmp(v, "text") == 0)
			cfg.log_json = false;
		else
		{
			snprintf(err, errsz, "LOG_FORMAT must be json or text, not \"%s\"", v);
			return false;
		}
	}
	/*
	 * Keys are required by default, loopback included: on a shared machine any
	 * local user reaches 127.0.0.1. REQUIRE_API_KEY=false opens it (warned at start).
	 */
	if (!envc_bool("REQUIRE_API_KEY", true, &cfg.require_api_key, err, errsz) ||
		!envc_bool("METRICS_PUBLIC", false, &cfg.metrics_public, err, errsz) ||
		!envc_int("GATEWAY_STATEMENT_TIMEOUT_MS", 30000, 0, 3600000, &cfg.statement_timeout_ms, err, errsz) ||
		!envc_int("GATEWAY_LOCK_TIMEOUT_MS", 5000, 0, 3600000, &cfg.lock_timeout_ms, err, errsz) ||
		!envc_int("SESSION_IDLE_SECONDS", 1800, 1, 86400, &cfg.session_idle_seconds, err, errsz) ||
		!envc_int("SESSION_MAX_SECONDS", 43200, 1, 30 * 86400, &cfg.session_max_seconds, err, errsz))
		return false;
	cfg.web_root = web_root_default();
	if (!cfg.database_url[0])
	{
		snprintf(err, errsz, "DATABASE_URL is not set (e.g. postgresql://invoiceflow_gateway@127.0.0.1:5432/invoiceflow)");
		return false;
	}
	return true;
}

void
config_free(void)
{
	free(cfg.database_url);
	free(cfg.host);
	free(cfg.service_name);
	free(cfg.version);
	free(cfg.web_root);
	memset(&cfg, 0, sizeof(cfg));
}
