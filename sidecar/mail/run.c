/*
 * run.c: see run.h.
 */
#include "run.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "account_loop.h"
#include "sidecar_log.h"

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
	(void) sig;
	stop_requested = 1;
}

int
run_main(const struct mail_config *cfg)
{
	struct account_loop *loops = calloc((size_t) cfg->naccounts, sizeof(*loops));
	struct sigaction sa;
	char		err[512];
	int			started = 0;

	if (loops == NULL)
		return 1;
	for (int i = 0; i < cfg->naccounts; i++)
	{
		if (!mail_account_parse(cfg->accounts[i], &loops[i].acct, err, sizeof(err)))
		{
			/* the URL holds a password: name the line, never print it */
			log_error("mail.run", NULL, "account %d: %s", i + 1, err);
			free(loops);
			return 2;
		}
		loops[i].cfg = cfg;
		loops[i].stop = &stop_requested;
		loops[i].index = i;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (int i = 0; i < cfg->naccounts; i++)
	{
		if (pthread_create(&loops[i].thread, NULL, account_loop_main, &loops[i]) != 0)
		{
			log_error("mail.run", NULL, "could not start a thread for %s", loops[i].acct.name);
			stop_requested = 1;
			break;
		}
		started++;
	}
	log_info("mail.run", NULL, "invoiceflow-mail running with %d account(s)", started);
	for (int i = 0; i < started; i++)
		pthread_join(loops[i].thread, NULL);
	log_info("mail.run", NULL, "invoiceflow-mail stopped");
	free(loops);
	return started == cfg->naccounts ? 0 : 1;
}
