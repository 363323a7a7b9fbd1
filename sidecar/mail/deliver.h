/*
 * deliver.h: `invoiceflow-mail deliver`, one message on standard input from an
 * MTA's pipe transport (Postfix pipe, Sieve pipe). Its exit status is what the
 * MTA acts on: 0 once every part is committed, 75 (EX_TEMPFAIL: the MTA keeps
 * the message and tries again) when the database cannot take it now, 65
 * (EX_DATAERR: bounced) for input that is not mail at all.
 */
#ifndef MAIL_DELIVER_H
#define MAIL_DELIVER_H

#include "mail_config.h"

#define EXIT_DELIVER_DATAERR 65
#define EXIT_DELIVER_TEMPFAIL 75

extern int	deliver_main(const struct mail_config *cfg);

#endif
