/*
 * mail_config.h: invoiceflow-mail's configuration from the environment, each bad
 * value refused with a message that names the variable.
 */
#ifndef MAIL_CONFIG_H
#define MAIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum mail_after
{
	MAIL_AFTER_KEYWORD,			/* add $Invoiceflow (the default) */
	MAIL_AFTER_SEEN,			/* add $Invoiceflow and \Seen */
	MAIL_AFTER_MOVE,			/* add $Invoiceflow, then move to after_folder */
	MAIL_AFTER_DELETE			/* add $Invoiceflow, then \Deleted and UID EXPUNGE */
};

struct mail_config
{
	char	  **accounts;		/* IMAP URLs, secrets included (never logged) */
	int			naccounts;
	const char *database_url;	/* NULL: libpq's PG* variables */
	const char *ca_file;		/* MAIL_CA_FILE */
	const char *deliver_account;	/* MAIL_DELIVER_ACCOUNT, the account name of `deliver` */
	enum mail_after after;
	const char *after_folder;
	int			poll_seconds;	/* MAIL_POLL_SECONDS (60) */
	int			idle_seconds;	/* MAIL_IDLE_SECONDS (600): IDLE is renewed this often */
	bool		idle;			/* MAIL_IDLE (on) */
	bool		require_starttls;	/* MAIL_STARTTLS=require: imap:// without STARTTLS is refused */
	int			backoff_max_seconds;	/* MAIL_BACKOFF_MAX_SECONDS (300) */
	int			breaker_failures;	/* MAIL_BREAKER_FAILURES (5) */
	int			breaker_cooldown_seconds;	/* MAIL_BREAKER_COOLDOWN_SECONDS (60) */
	int			heartbeat_seconds;	/* MAIL_HEARTBEAT_SECONDS (30) */
	int			max_message_mb; /* MAIL_MAX_MESSAGE_MB (64) */
	int			log_level;
	bool		log_json;
	const char *service_name;
	const char *test_pause;		/* MAIL_TEST_PAUSE: before_commit / after_commit, tests only */
};

/* need_accounts: `run` needs MAIL_IMAP_URL or MAIL_ACCOUNTS_FILE, `deliver` none */
extern bool mail_config_load(struct mail_config *cfg, bool need_accounts, char *err, size_t errsz);
extern void mail_config_free(struct mail_config *cfg);

/*
 * Reads an accounts file: one URL a line, blank lines and lines starting with
 * '#' skipped. Refused when group or others may read or write it (it holds
 * passwords) or when it is not a regular file.
 */
extern bool mail_accounts_file_read(const char *path, char ***urls, int *n, char *err, size_t errsz);

#endif
