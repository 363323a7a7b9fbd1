/*
 * mail_account.h: one IMAP account from its URL (imap[s]://user:password@host[:port]/FOLDER),
 * split so that the password never reaches a log line, a URL libcurl may print,
 * or the database: `name` (user@host:port/FOLDER) is what is shown and stored.
 */
#ifndef MAIL_ACCOUNT_H
#define MAIL_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>

struct mail_account
{
	char		name[512];		/* user@host:port/FOLDER, no secret */
	char		base_url[512];	/* imap[s]://host:port/ without credentials */
	char		folder[256];	/* decoded, e.g. INBOX */
	char		folder_url[1024];	/* base_url + the escaped folder */
	char		user[256];
	char		password[256];
	bool		implicit_tls;	/* imaps:// */
};

extern bool mail_account_parse(const char *url, struct mail_account *a, char *err, size_t errsz);

#endif
