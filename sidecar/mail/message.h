/*
 * message.h: one message from either way in (an IMAP fetch or `deliver`'s
 * stdin) parsed and committed: the piece `run` and `deliver` share.
 */
#ifndef MAIL_MESSAGE_H
#define MAIL_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "mail_db.h"

enum message_rc
{
	MESSAGE_COMMITTED,			/* every part's outcome is committed */
	MESSAGE_NOT_MAIL,			/* not an RFC 5322 message (nothing written) */
	MESSAGE_TEMPFAIL			/* nothing committed; try again later */
};

/*
 * uidvalidity/uid: the message's place in its IMAP folder (0/0 for `deliver`).
 * not_mail_ok: record a message that is not mail as no_invoice instead of
 * returning MESSAGE_NOT_MAIL (a mailbox's garbage must still be marked done).
 */
extern enum message_rc message_process(struct mail_db *db, const char *account,
									   const unsigned char *raw, size_t len,
									   unsigned long uidvalidity, unsigned long uid, bool not_mail_ok,
									   struct mail_record_result *res, char *err, size_t errsz);

#endif
