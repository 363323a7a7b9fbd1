/*
 * sandbox_run.c: `invoiceflow-processor sandbox-run FILE.pdf [NAME]`: one
 * document through the daemon's sandboxed child (daemon_child.c), without a
 * database; prints "completed <pages> <source>\n<result JSON>" or
 * "failed|transient: <reason>". For debugging the sandbox and for
 * test/security/processor_sandbox.sh, which runs it as root. The limits,
 * PROCESSOR_SANDBOX_USER, PROCESSOR_SCRATCH_DIR and PROCESSOR_TEST_FAULTS are
 * read from the environment as the daemon reads them.
 */
#include "daemon_child.h"
#include "daemon_config.h"
#include "sandbox_child.h"
#include "../../src/common/env_config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long		n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
		(buf = malloc((size_t) n + 1)) && fread(buf, 1, (size_t) n, f) == (size_t) n)
		*len = (size_t) n;
	else
	{
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int
cmd_sandbox_run(int argc, char **argv)
{
	proc_config cfg;
	char		err[512];
	const char *v;
	child_job	job;
	child_proc	c;
	child_outcome o;
	char	   *e = NULL;
	int			rc;

	if (argc < 1)
	{
		fprintf(stderr, "usage: invoiceflow-processor sandbox-run FILE.pdf [NAME]\n");
		return 2;
	}
	memset(&cfg, 0, sizeof cfg);
	if (!envc_int("PROCESSOR_CPU_SECONDS", 30, 1, 3600, &cfg.cpu_seconds, err, sizeof err) ||
		!envc_int("PROCESSOR_MEMORY_MB", 512, 16, 65536, &cfg.memory_mb, err, sizeof err) ||
		!envc_int("PROCESSOR_TIMEOUT_SECONDS", 60, 1, 3600, &cfg.timeout_seconds, err, sizeof err) ||
		!sandbox_resolve_user((v = envc_get("PROCESSOR_SANDBOX_USER")) ? v : "nobody", &cfg.sandbox, err,
							  sizeof err))
	{
		fprintf(stderr, "sandbox-run: %s\n", err);
		return 2;
	}
	if (!sandbox_netns_prepare(&cfg.sandbox, err, sizeof err))
	{
		fprintf(stderr, "sandbox-run: %s\n", err);
		return 1;
	}
	cfg.test_faults = (v = envc_get("PROCESSOR_TEST_FAULTS")) && strcmp(v, "1") == 0;
	cfg.scratch_dir = envc_get("PROCESSOR_SCRATCH_DIR") ? envc_get("PROCESSOR_SCRATCH_DIR") : "/tmp";
	memset(&job, 0, sizeof job);
	job.request_id = "sandbox-run";
	job.filename = argc > 1 ? argv[1] : argv[0];
	job.bytes = slurp(argv[0], &job.len);
	if (!job.bytes)
	{
		fprintf(stderr, "sandbox-run: %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	if (!child_start(&c, &cfg, &job, &e))
	{
		fprintf(stderr, "sandbox-run: %s\n", e);
		free(e);
		free((void *) job.bytes);
		return 1;
	}
	while (!child_read(&c))
	{
		struct pollfd p[2] = {{c.out_fd, POLLIN, 0}, {c.err_fd, POLLIN, 0}};

		/* a closed pipe is -1, which poll() skips; the watchdog is the daemon's */
		poll(p, 2, 1000);
	}
	child_finish(&c, &cfg, &o);
	if (o.kind == OUTCOME_COMPLETED)
		printf("completed %d %s\n%s\n", o.pages, o.source, o.result_json);
	else
		printf("%s: %s\n", o.kind == OUTCOME_FAILED ? "failed" : "transient", o.reason);
	if (c.err_len)
		fprintf(stderr, "%s", c.err_tail);
	rc = o.kind == OUTCOME_COMPLETED ? 0 : 1;
	child_outcome_free(&o);
	free((void *) job.bytes);
	return rc;
}
