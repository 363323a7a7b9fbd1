/*
 * config.h: the gateway's settings, read once from the environment at start-up
 * (the seed service's variable names, DESIGN.md § Configuration) and read-only
 * afterwards.
 */
#ifndef GATEWAY_CONFIG_H
#define GATEWAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct config
{
	char	   *database_url;		/* DATABASE_URL (libpq URI or key=value) */
	char	   *host;				/* HOST, default 127.0.0.1 */
	int			port;				/* PORT, default 8003 */
	int			max_file_size_mb;	/* MAX_FILE_SIZE_MB, default 10 */
	size_t		max_file_bytes;		/* the same in bytes */
	int			upload_timeout;		/* UPLOAD_TIMEOUT_SECONDS, default 30 */
	int			log_level;			/* LOG_LEVEL, default INFO (DEBUG when DEBUG=true) */
	bool		log_json;			/* LOG_FORMAT json|text, default json */
	char	   *service_name;		/* SERVICE_NAME, default invoiceflow-gateway */
	char	   *version;			/* VERSION, default the build's version */
	bool		debug;				/* DEBUG */
	int			pool_size;			/* GATEWAY_POOL_SIZE, default 8 */
	int			pool_wait_ms;		/* GATEWAY_POOL_WAIT_MS, default 5000 */
	int			max_uploads;		/* MAX_CONCURRENT_UPLOADS, default 16 */
	int			max_connections;	/* GATEWAY_MAX_CONNECTIONS, default 256 */
	bool		require_api_key;	/* REQUIRE_API_KEY, default true (loopback too) */
	bool		metrics_public;		/* METRICS_PUBLIC, default false: /metrics needs a read key */
	int			statement_timeout_ms;	/* GATEWAY_STATEMENT_TIMEOUT_MS, default 30000 */
	int			lock_timeout_ms;	/* GATEWAY_LOCK_TIMEOUT_MS, default 5000 */
	int			auth_cache_seconds; /* API_KEY_CACHE_SECONDS, default 5 */
	int			drain_seconds;		/* SHUTDOWN_DRAIN_SECONDS, default UPLOAD_TIMEOUT_SECONDS + 10 */
	/* limits under abuse (README § Security, Limits under abuse) */
	int			max_connections_per_ip; /* GATEWAY_MAX_CONNECTIONS_PER_IP, default 32, 0: none */
	int			header_timeout;		/* GATEWAY_HEADER_TIMEOUT_SECONDS, default 10 */
	int			max_uploads_per_ip; /* GATEWAY_MAX_UPLOADS_PER_IP, default MAX_CONCURRENT_UPLOADS / 4 */
	int			upload_min_rate;	/* GATEWAY_UPLOAD_MIN_BYTES_PER_SECOND, default 10240, 0: none */
	int			upload_rate_grace;	/* GATEWAY_UPLOAD_RATE_GRACE_SECONDS, default 5 */
	int			linger_seconds;		/* GATEWAY_LINGER_SECONDS, default 5, 0: close at once */
	int			linger_max_mb;		/* GATEWAY_LINGER_MAX_MB, default 64 */
	/* the web page (issue 14): session.c, static_files.c */
	char	   *web_root;			/* WEB_ROOT, default the folder "web" beside the executable */
	int			session_idle_seconds;	/* SESSION_IDLE_SECONDS, default 1800 */
	int			session_max_seconds;	/* SESSION_MAX_SECONDS, default 43200 */
};

/* The configuration; written only by config_load() before any thread starts. */
extern struct config cfg;

/* Reads the environment into cfg; on a bad value writes why into err and returns false. */
bool		config_load(char *err, size_t errsz);
void		config_free(void);

/* true for 127.0.0.0/8, ::1 and "localhost" */
bool		config_host_is_loopback(const char *host);



#endif
