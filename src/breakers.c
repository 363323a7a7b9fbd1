/*
 * breakers.c: one circuit breaker per external dependency (S3, RabbitMQ,
 * OpenSearch) in shared memory, fed by every worker's calls and worker 0's
 * probes, read by health() (health.c) and the worker loop.
 */
#include "invoiceflow.h"

#include "utils/timestamp.h"

/* ---------------------------------------------------------------------------
 * Circuit breakers
 * ------------------------------------------------------------------------- */

void
if_breaker_success(IfDep dep)
{
	IfBreaker  *b = &if_shared->breakers[dep];
	TimestampTz now = GetCurrentTimestamp();

	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	if (b->state != IF_BREAKER_CLOSED)
		ereport(LOG,
				(errmsg("invoiceflow: %s is reachable again, circuit breaker closed", if_dep_name(dep))));
	b->state = IF_BREAKER_CLOSED;
	b->consecutive_failures = 0;
	b->last_ok = true;
	b->checked = true;
	b->last_check = now;
	b->last_error[0] = '\0';
	LWLockRelease(if_shared->lock);
}

/*
 * A failed call or probe. Transient failures count towards opening the
 * breaker; permanent ones (a wrong bucket or secret) only make the dependency
 * unhealthy: the items themselves fail, which is the information users need.
 */
void
if_breaker_failure(IfDep dep, const char *error, bool transient)
{
	IfBreaker  *b = &if_shared->breakers[dep];
	TimestampTz now = GetCurrentTimestamp();
	bool		opened = false;

	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	b->consecutive_failures++;
	b->last_ok = false;
	b->checked = true;
	b->last_check = now;
	strlcpy(b->last_error, error ? error : "unknown error", sizeof(b->last_error));
	if (!transient)
		b->consecutive_failures = 0;
	else if (b->state == IF_BREAKER_HALF_OPEN ||
		(b->state == IF_BREAKER_CLOSED && b->consecutive_failures >= invoiceflow_breaker_failures))
	{
		opened = (b->state == IF_BREAKER_CLOSED);
		b->state = IF_BREAKER_OPEN;
		b->open_until = TimestampTzPlusMilliseconds(now, invoiceflow_breaker_cooldown_seconds * 1000);
	}
	LWLockRelease(if_shared->lock);
	if (opened)
		ereport(LOG,
				(errmsg("invoiceflow: circuit breaker for %s opened after %d consecutive failures",
						if_dep_name(dep), invoiceflow_breaker_failures),
				 errdetail("Last error: %s", error ? error : "unknown error"),
				 errhint("Deliveries to %s wait %d s, then a probe checks it again.",
						 if_dep_name(dep), invoiceflow_breaker_cooldown_seconds)));
}

/*
 * The breaker's state now. An open breaker whose cool-down is over turns
 * half-open: the next probe decides. Items are sent only while it is closed.
 * *open_until is set to the end of the cool-down.
 */
IfBreakerState
if_breaker_poll(IfDep dep, TimestampTz now, TimestampTz *open_until)
{
	IfBreaker  *b = &if_shared->breakers[dep];
	IfBreakerState st;

	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	if (b->state == IF_BREAKER_OPEN && now >= b->open_until)
		b->state = IF_BREAKER_HALF_OPEN;
	st = b->state;
	if (open_until)
		*open_until = b->open_until;
	LWLockRelease(if_shared->lock);
	return st;
}

/* Forget what is known of dep (it was reconfigured or switched off). */
void
if_breaker_reset(IfDep dep)
{
	LWLockAcquire(if_shared->lock, LW_EXCLUSIVE);
	memset(&if_shared->breakers[dep], 0, sizeof(IfBreaker));
	LWLockRelease(if_shared->lock);
}

