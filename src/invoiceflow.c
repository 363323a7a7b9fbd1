/*
 * invoiceflow.c: library entry point.
 *
 * The library must be preloaded (shared_preload_libraries): its background
 * workers and shared memory are set up by the postmaster, and its GUCs must
 * exist before any session reads them.
 */
#include "invoiceflow.h"
#include "observe.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("invoiceflow must be loaded via shared_preload_libraries"),
				 errdetail("Its background workers and shared memory can only be set up when the server starts."),
				 errhint("Add 'invoiceflow' to shared_preload_libraries in postgresql.conf and restart the server.")));

	/* before invoiceflow_define_gucs(), which reserves the prefix (placeholders of later ones are dropped) */
	invoiceflow_observe_init();	/* delivery counters, traceparent (observe.c) */
	invoiceflow_define_gucs();

	/* shared memory and the hooks every backend needs */
	invoiceflow_shmem_init_hooks();
	invoiceflow_xact_init();
	invoiceflow_utility_init();

	/* pg_upgrade starts the server only to move catalogs: start nothing. */
	if (IsBinaryUpgrade)
		return;

	/* the launcher (in no database) starts the per-database delivery workers */
	if (invoiceflow_workers > 0)
		invoiceflow_register_launcher();
}

PG_FUNCTION_INFO_V1(invoiceflow_library_version);

/* invoiceflow._library_version(): the version of the loaded library. */
Datum
invoiceflow_library_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(INVOICEFLOW_VERSION));
}
