/*
 * imap_idle.h: IMAP IDLE (RFC 2177) on a second connection of the account, so a
 * new message is taken within seconds. libcurl logs in (TLS, STARTTLS,
 * SASL) with CURLOPT_CONNECT_ONLY and has no IDLE command of its own, so the
 * four lines IDLE needs (EXAMINE, IDLE, DONE and their answers) are sent here
 * over libcurl's connection with curl_easy_send / curl_easy_recv.
 */
#ifndef MAIL_IMAP_IDLE_H
#define MAIL_IMAP_IDLE_H

#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "mail_account.h"
#include "mail_config.h"

struct imap_idle
{
	CURL	   *curl;
	curl_socket_t sock;
	char		buf[16384];		/* received, not yet consumed */
	size_t		len;
	int			tag;
	bool		supported;		/* the server lists IDLE */
	bool		idling;
};

/* connects, logs in, asks CAPABILITY and EXAMINEs the folder */
extern bool imap_idle_open(struct imap_idle *ix, const struct mail_account *acct,
						   const struct mail_config *cfg, char *err, size_t errsz);
extern void imap_idle_close(struct imap_idle *ix);
/* sends IDLE and waits for the server's "+" */
extern bool imap_idle_start(struct imap_idle *ix, char *err, size_t errsz);
/*
 * Waits up to timeout_ms for a new message (an untagged EXISTS).
 * 1: one arrived, 0: timeout or *stop set, -1: connection lost.
 */
extern int	imap_idle_wait(struct imap_idle *ix, int timeout_ms, volatile sig_atomic_t *stop,
						   char *err, size_t errsz);
/* ends IDLE (DONE) and reads up to the tagged answer */
extern bool imap_idle_done(struct imap_idle *ix, char *err, size_t errsz);

#endif
