/*
 * invoiceflow-gateway: the REST API of invoiceflow over its SQL API.
 * main.c only wires configuration, logging, the database pool and the server
 * together, and turns SIGTERM/SIGINT into a drain.
 */
#include "auth.h"
#include "config.h"
#include "db_pool.h"
#include "handlers.h"
#include "../../src/common/sidecar_log.h"
#include "metrics.h"
#include "server.h"
#include "trace.h"
#include "upload.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

int
main(void)
{
	char		err[512];
	sigset_t	stop;
	int			sig = 0;
	struct db_error dberr;
	PGresult   *res;

	if (!config_load(err, sizeof(err)))
	{
		fprintf(stderr, "invoiceflow-gateway: %s\n", err);
		return 2;
	}
	log_init(cfg.log_level, cfg.log_json, cfg.service_name);
	trace_init_logging();		/* every line of a request carries its trace_id (trace.c) */
	json_object_seed(0);

	/* signals are taken by sigwait() below: block them before any thread exists */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	metrics_init();
	auth_init(cfg.auth_cache_seconds);
	upload_init(cfg.max_uploads);
	if (!db_pool_init(cfg.database_url, cfg.pool_size, cfg.pool_wait_ms, cfg.service_name))
		return 1;
	db_pool_set_timeouts(cfg.statement_timeout_ms, cfg.lock_timeout_ms);
	if (!server_start())
		return 1;

	log_emit(LOG_INFO, "gateway.main", NULL,
			 json_pack("{s:s, s:i, s:b, s:i, s:i, s:i, s:s}", "host", cfg.host, "port", server_port(),
					   "require_api_key", cfg.require_api_key, "pool_size", cfg.pool_size,
					   "max_file_size_mb", cfg.max_file_size_mb,
					   "max_concurrent_uploads", cfg.max_uploads, "version", cfg.version),
			 "listening on %s:%d", cfg.host, server_port());
	if (!cfg.require_api_key)
		log_warning("gateway.main", NULL, "REQUIRE_API_KEY=false: anyone who reaches %s:%d can upload, read, retry, purge and make keys%s",
					cfg.host, server_port(),
					config_host_is_loopback(cfg.host) ? " (on loopback: every user of this machine)" : "");
	if (cfg.metrics_public)
		log_info("gateway.main", NULL, "METRICS_PUBLIC=true: /metrics answers without an API key");
	/* say early whether the database and the extension are there (not fatal: /ready tells) */
	if ((res = db_exec(NULL, "SELECT invoiceflow.health()::text", 0, NULL, NULL, NULL, true, &dberr)))
	{
		log_info("gateway.main", NULL, "database reachable, health: %s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	else
		log_warning("gateway.main", NULL, "database not usable yet (HTTP %u); requests will get 503 until it is",
					dberr.http_status);

	sigwait(&stop, &sig);
	log_info("gateway.main", NULL, "%s received: draining %d request(s) in flight",
			 strsignal(sig), metrics_inflight());
	server_drain_and_stop();
	db_pool_shutdown();
	invoices_shutdown();
	auth_shutdown();
	metrics_shutdown();
	log_info("gateway.main", NULL, "stopped");
	config_free();
	return 0;
}
