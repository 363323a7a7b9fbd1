/*
 * run.h: `invoiceflow-mail run`: one thread per account (account_loop.c) until
 * SIGTERM or SIGINT, after which each thread finishes the message in hand.
 */
#ifndef MAIL_RUN_H
#define MAIL_RUN_H

#include "mail_config.h"

/* 0 on a clean stop, 2 when an account URL is refused */
extern int	run_main(const struct mail_config *cfg);

#endif
