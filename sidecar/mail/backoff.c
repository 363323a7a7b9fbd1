/*
 * backoff.c: see backoff.h.
 */
#include "backoff.h"

#include <stdlib.h>

void
backoff_init(struct backoff *b, int max_seconds, int breaker_failures, int cooldown_seconds, unsigned int seed)
{
	b->failures = 0;
	b->max_seconds = max_seconds;
	b->breaker_failures = breaker_failures;
	b->cooldown_seconds = cooldown_seconds;
	b->state = BREAKER_CLOSED;
	b->seed = seed;
}

void
backoff_success(struct backoff *b)
{
	b->failures = 0;
	b->state = BREAKER_CLOSED;
}

long
backoff_failure(struct backoff *b)
{
	long		step_ms;
	long		cap_ms = (long) b->max_seconds * 1000;

	b->failures++;
	if (b->state != BREAKER_CLOSED || b->failures >= b->breaker_failures)
	{
		/* open: leave the server alone for the cooldown, then try once (half-open) */
		b->state = BREAKER_OPEN;
		return (long) b->cooldown_seconds * 1000;
	}
	step_ms = 1000L << (b->failures - 1 < 20 ? b->failures - 1 : 20);
	if (step_ms > cap_ms)
		step_ms = cap_ms;
	/* "equal jitter": half the step fixed, half random, so clients do not retry in step */
	return step_ms / 2 + (long) (rand_r(&b->seed) % (unsigned) (step_ms / 2 + 1));
}

const char *
breaker_state_name(enum breaker_state s)
{
	switch (s)
	{
		case BREAKER_OPEN:
			return "open";
		case BREAKER_HALF_OPEN:
			return "half-open";
		default:
			return "closed";
	}
}
