/*
 * imap_client.h: the IMAP commands invoiceflow-mail needs, through libcurl (one
 * easy handle per account, so the logged-in connection and the selected folder
 * are reused): the folder's UIDVALIDITY, the UIDs not yet taken, one message's
 * bytes, and the after-action once its parts are committed. TLS is verified
 * (MAIL_CA_FILE for a private CA); imap:// upgrades with STARTTLS when offered.
 */
#ifndef MAIL_IMAP_CLIENT_H
#define MAIL_IMAP_CLIENT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "mail_account.h"
#include "mail_config.h"
#include "membuf.h"

#define MAIL_KEYWORD "$Invoiceflow"

struct imap_client
{
	CURL	   *curl;
	const struct mail_account *acct;
	const struct mail_config *cfg;
	char		errbuf[CURL_ERROR_SIZE];
};

/* the options every handle of this account shares (TLS, credentials, timeouts) */
extern void imap_common_options(CURL *curl, const struct mail_account *acct, const struct mail_config *cfg);

extern bool imap_client_open(struct imap_client *c, const struct mail_account *acct,
							 const struct mail_config *cfg);
extern void imap_client_close(struct imap_client *c);

extern bool imap_uidvalidity(struct imap_client *c, unsigned long *out, char *err, size_t errsz);
/* UIDs in the folder that are neither deleted nor carry $Invoiceflow, ascending (malloc'd) */
extern bool imap_pending_uids(struct imap_client *c, unsigned long **uids, size_t *n, char *err, size_t errsz);
/* the message's bytes; false when it is gone (expunged) or on an error */
extern bool imap_fetch(struct imap_client *c, unsigned long uidvalidity, unsigned long uid,
					   struct membuf *out, char *err, size_t errsz);
/* MAIL_AFTER, run only after the message's parts have committed */
extern bool imap_mark_done(struct imap_client *c, unsigned long uid, char *err, size_t errsz);

/* "UID SEARCH" response lines -> UIDs; exposed for the unit tests */
extern size_t imap_parse_search(const char *text, unsigned long **uids);

#endif
