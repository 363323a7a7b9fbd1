/*
 * cli_exec.c: `run` and `sandbox-run` in the front end (invoiceflow-processor).
 * They execute invoiceflow-processor-daemon, beside this program, with the same
 * arguments (same pid, same argv[0], so `ps` and signals see no difference).
 * The front end links only the extraction libraries, statically: `extract` and
 * `layout` start without loading the daemon's libpq, libcurl, librabbitmq and
 * the thirty libraries behind them, which took 3.5 ms of CPU per process.
 */
#define _GNU_SOURCE
#include "daemon_run.h"
#include "sandbox_child.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAEMON_PROGRAM "invoiceflow-processor-daemon"

static int
exec_daemon(const char *command, int argc, char **argv)
{
	char		dir[4096], path[4200];
	ssize_t		n = readlink("/proc/self/exe", dir, sizeof dir - 1);
	char	   *slash;
	char	  **args;

	if (n <= 0 || (dir[n] = '\0', !(slash = strrchr(dir, '/'))))
	{
		fprintf(stderr, "invoiceflow-processor %s: cannot tell where the processor is\n", command);
		return 2;
	}
	*slash = '\0';
	snprintf(path, sizeof path, "%s/%s", dir, DAEMON_PROGRAM);
	args = calloc((size_t) argc + 3, sizeof *args);
	if (!args)
	{
		fprintf(stderr, "invoiceflow-processor %s: out of memory\n", command);
		return 1;
	}
	args[0] = program_invocation_name;
	args[1] = (char *) command;
	memcpy(args + 2, argv, (size_t) argc * sizeof *args);
	execv(path, args);
	fprintf(stderr, "invoiceflow-processor %s: %s: %s (build it with make -C sidecar/processor)\n", command,
			path, strerror(errno));
	free(args);
	return 2;
}

int
cmd_run(int argc, char **argv)
{
	return exec_daemon("run", argc, argv);
}

int
cmd_sandbox_run(int argc, char **argv)
{
	return exec_daemon("sandbox-run", argc, argv);
}
