/* sandbox_child.c: limits, confinement, extraction, answer (see sandbox_child.h). */
#include "sandbox_child.h"
#include "child_answer.h"
#include "extract.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_FD 1

/* Address space already mapped (libraries, the file): the limit comes on top. */
static rlim_t
mapped_bytes(void)
{
	unsigned long pages = 0;
	FILE	   *f = fopen("/proc/self/statm", "r");

	if (f)
	{
		if (fscanf(f, "%lu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return (rlim_t) pages * (rlim_t) sysconf(_SC_PAGESIZE);
}

static void
set_limits(int cpu_seconds, int memory_mb)
{
	struct rlimit cpu = {(rlim_t) cpu_seconds, (rlim_t) cpu_seconds + 1};
	struct rlimit nocore = {0, 0};

	/* soft limit: SIGXCPU; one second later the hard limit: SIGKILL */
	setrlimit(RLIMIT_CPU, &cpu);
	setrlimit(RLIMIT_CORE, &nocore);
	if (!UNDER_ASAN)
	{
		rlim_t		as = mapped_bytes() + ((rlim_t) memory_mb << 20);
		struct rlimit mem = {as, as};

		setrlimit(RLIMIT_AS, &mem);
	}
}

/* Test-only hooks (PROCESSOR_TEST_FAULTS=1), chosen by the file name. */
static void
test_fault(const char *filename, int memory_mb)
{
	if (strncmp(filename, "fault-crash", 11) == 0)
		raise(SIGSEGV);
	else if (strncmp(filename, "fault-loop", 10) == 0)
	{
		volatile unsigned long spin = 0;

		for (;;)
			spin++;
	}
	else if (strncmp(filename, "fault-alloc", 11) == 0)
	{
		size_t		total = 0;

		for (;;)
		{
			char	   *p = malloc(16u << 20);

			/* under ASan there is no RLIMIT_AS: stop at the configured limit */
			if (!p || (UNDER_ASAN && total >= ((size_t) memory_mb << 20)))
			{
				fputs("out of memory\n", stderr);
				abort();
			}
			memset(p, 1, 16u << 20);
			total += 16u << 20;
		}
	}
}

/* The document: a sealed memfd (or any readable file) on fd 0. */
static const unsigned char *
map_document(size_t *len)
{
	struct stat st;
	void	   *p;

	*len = 0;
	if (fstat(0, &st) != 0 || st.st_size < 0)
		return NULL;
	if (st.st_size == 0)
		return (const unsigned char *) "";
	p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, 0, 0);
	if (p == MAP_FAILED)
		return NULL;
	*len = (size_t) st.st_size;
	return p;
}

/* Confinement; false (after answering T) when a layer that must apply failed. */
static bool
confine(const char *scratch, int *landlock)
{
	char		err[300], msg[400];
	int			fd = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || dup2(fd, SANDBOX_SCRATCH_FD) != SANDBOX_SCRATCH_FD || chdir(scratch) != 0)
	{
		snprintf(msg, sizeof msg, "the sandbox could not start: scratch directory %s: %s", scratch,
				 strerror(errno));
		child_answer(OUT_FD, 'T', msg);
		return false;
	}
	if (fd != SANDBOX_SCRATCH_FD)
		close(fd);
	/* set before the exec already; again so that this command never runs unconfined */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		snprintf(err, sizeof err, "no_new_privs: %s", strerror(errno));
	else if ((*landlock = sandbox_landlock(scratch, err, sizeof err)) >= 0 &&
			 sandbox_seccomp(*landlock > 0, err, sizeof err))
		return true;
	snprintf(msg, sizeof msg, "the sandbox could not start: %s", err);
	child_answer(OUT_FD, 'T', msg);
	return false;
}

int
cmd_sandbox_child(int argc, char **argv)
{
	const unsigned char *buf;
	size_t		len;
	int			cpu_seconds, memory_mb, test_faults, netns, landlock = 0;
	const char *scratch, *filename;
	extract_options opt;
	char	   *json = NULL, *error = NULL;

	if (argc < 5)
	{
		fprintf(stderr, "%s: started by the daemon only\n", SANDBOX_CHILD_COMMAND);
		return 2;
	}
	cpu_seconds = atoi(argv[0]);
	memory_mb = atoi(argv[1]);
	test_faults = atoi(argv[2]);
	scratch = argv[3];
	netns = atoi(argv[4]);
	filename = argc > 5 ? argv[5] : "";
	if (cpu_seconds <= 0 || memory_mb <= 0 || !*scratch)
	{
		fprintf(stderr, "%s: bad arguments\n", SANDBOX_CHILD_COMMAND);
		return 2;
	}
	memset(&opt, 0, sizeof opt);
	buf = map_document(&len);
	if (!buf)
	{
		child_answer(OUT_FD, 'T', "the sandbox could not start: no document on fd 0");
		return 0;
	}
	set_limits(cpu_seconds, memory_mb);
	if (!confine(scratch, &landlock))
		return 0;
	if (test_faults == 1)
	{
		if (strncmp(filename, "sandbox-probe", 13) == 0)
			sandbox_probe(OUT_FD, buf, len, netns, landlock);
		else
			test_fault(filename, memory_mb);
	}
	if (extract_document(buf, len, &opt, &json, &error))
	{
		json_t	   *j = json_loads(json, 0, NULL);
		json_t	   *pages = j ? json_object_get(json_object_get(j, "meta"), "pages") : NULL;
		const char *src = j ? json_string_value(json_object_get(json_object_get(j, "invoice"), "source")) : NULL;
		char		head[64];

		snprintf(head, sizeof head, "R %d %.15s\n", json_is_integer(pages) ? (int) json_integer_value(pages) : -1,
				 src && *src && !strchr(src, ' ') ? src : "-");
		child_write_all(OUT_FD, head, strlen(head));
		child_write_all(OUT_FD, json, strlen(json));
		json_decref(j);
	}
	else
		child_answer(OUT_FD, 'E', error ? error : "extraction failed");
	free(json);
	free(error);
	_exit(0);
}
