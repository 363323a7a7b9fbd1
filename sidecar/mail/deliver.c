/*
 * deliver.c: see deliver.h.
 */
#include "deliver.h"

#include <stdio.h>
#include <string.h>

#include "membuf.h"
#include "message.h"
#include "sidecar_log.h"

#define LOGGER "mail.deliver"

int
deliver_main(const struct mail_config *cfg)
{
	struct membuf raw = {.limit = (size_t) cfg->max_message_mb * 1024 * 1024};
	struct mail_db db = {.conninfo = cfg->database_url};
	struct mail_record_result res;
	char		err[1024] = "";
	int			status;

	if (!membuf_read_stream(&raw, stdin))
	{
		status = raw.overflow ? EXIT_DELIVER_DATAERR : EXIT_DELIVER_TEMPFAIL;
		log_error(LOGGER, NULL, "%s", raw.overflow ? "message larger than MAIL_MAX_MESSAGE_MB" :
				  "could not read the message from standard input");
		membuf_free(&raw);
		return status;
	}
	switch (message_process(&db, cfg->deliver_account, raw.data ? raw.data : (const unsigned char *) "",
							raw.len, 0, 0, false, &res, err, sizeof(err)))
	{
		case MESSAGE_COMMITTED:
			status = 0;
			break;
		case MESSAGE_NOT_MAIL:
			log_error(LOGGER, NULL, "refused: %s", err);
			/* the MTA shows this line in its bounce */
			fprintf(stderr, "invoiceflow-mail: %s\n", err);
			status = EXIT_DELIVER_DATAERR;
			break;
		default:
			log_error(LOGGER, NULL, "not taken, the MTA should try again: %s", err);
			fprintf(stderr, "invoiceflow-mail: temporary failure: %s\n", err);
			status = EXIT_DELIVER_TEMPFAIL;
			break;
	}
	mail_db_close(&db);
	membuf_free(&raw);
	return status;
}
