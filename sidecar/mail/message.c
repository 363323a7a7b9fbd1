/*
 * message.c: see message.h.
 */
#include "message.h"

#include <jansson.h>
#include <string.h>

#include "sidecar_log.h"

enum message_rc
message_process(struct mail_db *db, const char *account, const unsigned char *raw, size_t len,
				unsigned long uidvalidity, unsigned long uid, bool not_mail_ok,
				struct mail_record_result *res, char *err, size_t errsz)
{
	struct mail_message m;
	char		key[512];
	enum message_rc rc;

	if (!mime_parse(raw, len, &m, err, errsz))
	{
		if (!not_mail_ok)
			return MESSAGE_NOT_MAIL;
		log_warning("mail.message", NULL, "%s: message %lu is not mail (%s): recorded as no_invoice",
					account, uid, err);
		memset(&m, 0, sizeof(m));
	}
	mail_message_key(&m, uidvalidity, uid, raw, len, key, sizeof(key));
	if (mail_db_record(db, account, key, &m, res, err, errsz))
	{
		log_emit(LOG_INFO, "mail.message", NULL,
				 json_pack("{s:s, s:s, s:s?, s:i, s:i, s:i}", "account", account, "message_key", key,
						   "from", m.from, "parts", (int) m.nparts,
						   "ingested", res->ingested, "rejected", res->rejected),
				 "message %s: %s", key, res->outcome);
		rc = MESSAGE_COMMITTED;
	}
	else
		rc = MESSAGE_TEMPFAIL;
	mail_message_free(&m);
	return rc;
}
