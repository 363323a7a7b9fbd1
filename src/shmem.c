/*
 * shmem.c: what invoiceflow keeps in shared memory: the delivery workers'
 * slots (PIDs and latches, so that any backend can wake them), the launcher's,
 * the DROP DATABASE pause and one circuit breaker per dependency (IfShared in
 * invoiceflow.h). The jobs over it have their own files: breakers.c (the
 * circuit breakers), health.c (health() and _breakers()), hooks.c (the commit
 * wake-up and the DROP DATABASE guard).
 *
 * Shared memory is requested in shmem_request_hook and set up in
 * shmem_startup_hook under AddinShmemInitLock, with a named LWLock tranche, as
 * contrib/pg_stat_statements does on PostgreSQL 15.
 */
#include "invoiceflow.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

IfShared   *if_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static const char *const dep_names[IF_DEP_COUNT] = {"s3", "rabbitmq", "opensearch"};

const char *
if_dep_name(IfDep dep)
{
	return dep_names[dep];
}

static void
if_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(IfShared)));
	RequestNamedLWLockTranche("invoiceflow", 1);
}

static void
if_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	if_shared = ShmemInitStruct("invoiceflow", sizeof(IfShared), &found);
	if (!found)
	{
		memset(if_shared, 0, sizeof(IfShared));
		if_shared->lock = &(GetNamedLWLockTranche("invoiceflow"))->lock;
		pg_atomic_init_u64(&if_shared->wake_gen, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
invoiceflow_shmem_init_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = if_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = if_shmem_startup;
}

