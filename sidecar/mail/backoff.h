/*
 * backoff.h: how long an account waits after a failed check. Capped exponential
 * backoff with jitter (1 s, 2 s, 4 s... up to MAIL_BACKOFF_MAX_SECONDS, each
 * between half and all of its step), behind a circuit breaker: after
 * MAIL_BREAKER_FAILURES failures in a row the breaker opens and the server is
 * left alone for MAIL_BREAKER_COOLDOWN_SECONDS, then one trial (half-open)
 * closes it again or reopens it.
 */
#ifndef MAIL_BACKOFF_H
#define MAIL_BACKOFF_H

#include <stdbool.h>

enum breaker_state
{
	BREAKER_CLOSED,
	BREAKER_OPEN,
	BREAKER_HALF_OPEN
};

struct backoff
{
	int			failures;		/* in a row */
	int			max_seconds;
	int			breaker_failures;
	int			cooldown_seconds;
	enum breaker_state state;
	unsigned int seed;
};

extern void backoff_init(struct backoff *b, int max_seconds, int breaker_failures, int cooldown_seconds,
						 unsigned int seed);
extern void backoff_success(struct backoff *b);
/* records a failure; returns the milliseconds to wait before the next attempt */
extern long backoff_failure(struct backoff *b);
extern const char *breaker_state_name(enum breaker_state s);

#endif
