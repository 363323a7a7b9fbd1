/*
 * account_loop.h: `run` for one IMAP account (one thread each): take every
 * message not yet taken, then wait for the next one with IDLE (or a poll every
 * MAIL_POLL_SECONDS), retrying a failing server with backoff behind a circuit
 * breaker, and reporting the account's health to the database.
 */
#ifndef MAIL_ACCOUNT_LOOP_H
#define MAIL_ACCOUNT_LOOP_H

#include <pthread.h>
#include <signal.h>

#include "mail_account.h"
#include "mail_config.h"

struct account_loop
{
	const struct mail_config *cfg;
	struct mail_account acct;
	volatile sig_atomic_t *stop;
	pthread_t	thread;
	int			index;
};

/* the thread's body; arg is a struct account_loop */
extern void *account_loop_main(void *arg);

#endif
