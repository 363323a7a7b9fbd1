/*
 * invoiceflow-mail: the email way in. `run` watches IMAP folders, `deliver`
 * takes one message from an MTA pipe; both turn every PDF in a message into
 * one ingest(..., source => 'email') exactly once. This file only wires the
 * configuration, the log and the libraries together.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "deliver.h"
#include "mail_config.h"
#include "mime_parts.h"
#include "run.h"
#include "sidecar_log.h"

static int
usage(FILE *f)
{
	fprintf(f, "usage: invoiceflow-mail run       watch MAIL_IMAP_URL / MAIL_ACCOUNTS_FILE\n"
			"       invoiceflow-mail deliver   one message on standard input (exit 0, 65 or 75)\n");
	return f == stdout ? 0 : 2;
}

int
main(int argc, char **argv)
{
	struct mail_config cfg;
	char		err[1024];
	bool		deliver;
	int			status;

	if (argc != 2)
		return usage(stderr);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return usage(stdout);
	if (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "deliver") != 0)
		return usage(stderr);
	deliver = strcmp(argv[1], "deliver") == 0;

	if (!mail_config_load(&cfg, !deliver, err, sizeof(err)))
	{
		fprintf(stderr, "invoiceflow-mail: %s\n", err);
		mail_config_free(&cfg);
		/* deliver: a configuration error is the MTA's to retry, not the sender's to fix */
		return deliver ? EXIT_DELIVER_TEMPFAIL : 2;
	}
	log_init(cfg.log_level, cfg.log_json, cfg.service_name);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	mime_init();

	status = deliver ? deliver_main(&cfg) : run_main(&cfg);

	mime_shutdown();
	curl_global_cleanup();
	mail_config_free(&cfg);
	return status;
}
