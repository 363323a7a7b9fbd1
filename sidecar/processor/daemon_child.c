/* daemon_child.c: fork, limits, extract, answer through a pipe (see daemon_child.h). */
#include "daemon_child.h"
#include "extract.h"
#include "../../src/common/s3_client.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* AddressSanitizer reserves terabytes of address space: RLIMIT_AS cannot apply. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define MAX_FILE   (256u << 20)		/* largest file fetched from S3 */
#define MAX_ANSWER (256u << 20)		/* largest result JSON accepted from a child */

/* ------------------------------------------------------------------ child side */

static void
write_all(int fd, const char *s, size_t n)
{
	while (n > 0)
	{
		ssize_t		w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t) w;
	}
}

static void
answer(int fd, char kind, const char *text)
{
	char		head[3] = {kind, '\n', '\0'};

	write_all(fd, head, 2);
	write_all(fd, text, strlen(text));
}

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
set_limits(const proc_config *cfg)
{
	struct rlimit cpu = {(rlim_t) cfg->cpu_seconds, (rlim_t) cfg->cpu_seconds + 1};

	/* soft limit: SIGXCPU; one second later the hard limit: SIGKILL */
	setrlimit(RLIMIT_CPU, &cpu);
	if (!UNDER_ASAN)
	{
		rlim_t		as = mapped_bytes() + ((rlim_t) cfg->memory_mb << 20);
		struct rlimit mem = {as, as};

		setrlimit(RLIMIT_AS, &mem);
	}
}

/* Test-only hooks (PROCESSOR_TEST_FAULTS=1), chosen by the file name. */
static void
test_fault(const proc_config *cfg, const char *filename)
{
	if (!cfg->test_faults || !filename)
		return;
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
			if (!p || (UNDER_ASAN && total >= ((size_t) cfg->memory_mb << 20)))
			{
				fputs("out of memory\n", stderr);
				abort();
			}
			memset(p, 1, 16u << 20);
			total += 16u << 20;
		}
	}
}

static void
close_inherited(int keep1, int keep2)
{
	long		max = sysconf(_SC_OPEN_MAX);

	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 3; fd < max; fd++)
		if (fd != keep1 && fd != keep2)
			close(fd);
}

static unsigned char *
fetch_s3(const proc_config *cfg, const char *key, size_t *len, int out)
{
	s3c_config sc;
	s3c_error	e = {0};
	s3c_client *c;
	unsigned char *data = NULL;
	char		msg[700];
	long		t = cfg->timeout_seconds * 1000L / 2;
	s3c_status	st;

	config_s3(cfg, &sc);
	sc.connect_timeout_ms = 5000;
	sc.timeout_ms = t < 30000 ? t : 30000;
	c = s3c_client_new(&sc, &e);
	if (!c)
	{
		snprintf(msg, sizeof msg, "S3 client: %s", e.message);
		answer(out, 'T', msg);
		return NULL;
	}
	st = s3c_get_object(c, key, MAX_FILE, &data, len, &e);
	s3c_client_free(c);
	if (st == S3C_OK)
		return data;
	if (st == S3C_PERMANENT && (strcmp(e.code, "NoSuchKey") == 0 || strcmp(e.code, "EntityTooLarge") == 0))
	{
		snprintf(msg, sizeof msg, strcmp(e.code, "NoSuchKey") == 0
				 ? "the file is missing from S3 (%s)" : "the file in S3 is too large (%s)", key);
		answer(out, 'F', msg);
	}
	else
	{
		/* unreachable, 5xx, or our credentials/bucket refused: not the document's fault */
		snprintf(msg, sizeof msg, "S3 GET %s: %s (%s)", key, e.message, s3c_status_name(st));
		answer(out, 'T', msg);
	}
	return NULL;
}

static void
child_main(const proc_config *cfg, const child_job *job, int out, int err, pid_t parent)
{
	struct rlimit nocore = {0, 0};
	const unsigned char *buf = job->bytes;
	unsigned char *fetched = NULL;
	size_t		len = job->len;
	extract_options opt = {0};
	char	   *json = NULL, *error = NULL;
	sigset_t	none;

	/* an orphan must not run on: die with the parent (even when it is SIGKILLed) */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	signal(SIGTERM, SIG_IGN);	/* the parent decides: a Ctrl-C to the group must not */
	signal(SIGINT, SIG_IGN);	/* kill documents that have a grace period to finish */
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	dup2(err, STDERR_FILENO);
	close_inherited(out, STDERR_FILENO);
	setrlimit(RLIMIT_CORE, &nocore);

	if (!buf)
	{
		buf = fetched = fetch_s3(cfg, job->s3_key, &len, out);
		if (!buf)
			_exit(0);
	}
	set_limits(cfg);
	test_fault(cfg, job->filename);
	if (extract_document(buf, len, &opt, &json, &error))
	{
		json_t	   *j = json_loads(json, 0, NULL);
		json_t	   *pages = j ? json_object_get(json_object_get(j, "meta"), "pages") : NULL;
		const char *src = j ? json_string_value(json_object_get(json_object_get(j, "invoice"), "source")) : NULL;
		char		head[64];

		snprintf(head, sizeof head, "R %d %.15s\n", json_is_integer(pages) ? (int) json_integer_value(pages) : -1,
				 src && *src && !strchr(src, ' ') ? src : "-");
		write_all(out, head, strlen(head));
		write_all(out, json, strlen(json));
		json_decref(j);
	}
	else
		answer(out, 'E', error ? error : "extraction failed");
	/* freed so that valgrind and LeakSanitizer runs stay quiet about the child */
	free(json);
	free(error);
	free(fetched);
	_exit(0);
}

/* ------------------------------------------------------------------ parent side */

bool
child_start(child_proc *c, const proc_config *cfg, const child_job *job, char **err)
{
	int			outp[2], errp[2];

	memset(c, 0, sizeof *c);
	c->pid = -1;
	c->out_fd = c->err_fd = -1;
	sb_init(&c->out);
	if (pipe(outp) != 0)
	{
		*err = xstrdup(strerror(errno));
		return false;
	}
	if (pipe(errp) != 0)
	{
		*err = xstrdup(strerror(errno));
		close(outp[0]);
		close(outp[1]);
		return false;
	}
	pid_t		parent = getpid();

	fflush(stdout);
	c->pid = fork();
	if (c->pid < 0)
	{
		*err = xstrdup(strerror(errno));
		close(outp[0]); close(outp[1]); close(errp[0]); close(errp[1]);
		return false;
	}
	if (c->pid == 0)
	{
		close(outp[0]);
		close(errp[0]);
		child_main(cfg, job, outp[1], errp[1], parent);
		_exit(0);
	}
	close(outp[1]);
	close(errp[1]);
	c->out_fd = outp[0];
	c->err_fd = errp[0];
	fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->out_fd, F_SETFD, FD_CLOEXEC);
	fcntl(c->err_fd, F_SETFD, FD_CLOEXEC);
	return true;
}

void
child_kill(child_proc *c, bool for_time)
{
	if (c->pid > 0)
	{
		kill(c->pid, SIGKILL);
		c->killed_for_time |= for_time;
	}
}

/* Drains fd; false at EOF (or error). */
static bool
drain(int fd, child_proc *c, bool is_err)
{
	char		buf[65536];

	for (;;)
	{
		ssize_t		n = read(fd, buf, sizeof buf);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;
		if (is_err)
		{
			/* keep the last bytes only */
			size_t		keep = sizeof c->err_tail - 1;

			if ((size_t) n >= keep)
			{
				memcpy(c->err_tail, buf + n - keep, keep);
				c->err_len = keep;
			}
			else
			{
				if (c->err_len + n > keep)
				{
					size_t		drop = c->err_len + n - keep;

					memmove(c->err_tail, c->err_tail + drop, c->err_len - drop);
					c->err_len -= drop;
				}
				memcpy(c->err_tail + c->err_len, buf, n);
				c->err_len += n;
			}
			c->err_tail[c->err_len] = '\0';
		}
		else if (c->out.len + n > MAX_ANSWER)
		{
			c->too_large = true;
			child_kill(c, false);
		}
		else
			sb_putn(&c->out, buf, (size_t) n);
	}
}

bool
child_read(child_proc *c)
{
	if (c->out_fd >= 0 && !drain(c->out_fd, c, false))
	{
		close(c->out_fd);
		c->out_fd = -1;
	}
	if (c->err_fd >= 0 && !drain(c->err_fd, c, true))
	{
		close(c->err_fd);
		c->err_fd = -1;
	}
	return c->out_fd < 0 && c->err_fd < 0;
}

static bool
mentions_memory(const char *s)
{
	return s && (strstr(s, "out of memory") || strstr(s, "Out of memory") ||
				 strstr(s, "malloc") || strstr(s, "cannot allocate") ||
				 strstr(s, "Cannot allocate") || strstr(s, "memory exhausted"));
}

static char *
fmt(const char *f, int n)
{
	sbuf		b;

	sb_init(&b);
	sb_printf(&b, f, n);
	return sb_steal(&b);
}

void
child_classify(const proc_config *cfg, int wstatus, double cpu_used, bool killed_for_time,
			   const char *ans, size_t ans_len, const char *err_tail, child_outcome *o)
{
	memset(o, 0, sizeof *o);
	o->pages = -1;
	o->kind = OUTCOME_FAILED;
	if (killed_for_time)
	{
		o->reason = fmt("processing exceeded the time limit of %d s", cfg->timeout_seconds);
		return;
	}
	if (WIFSIGNALED(wstatus))
	{
		int			sig = WTERMSIG(wstatus);

		if (sig == SIGXCPU || (sig == SIGKILL && cpu_used >= cfg->cpu_seconds - 0.05))
			o->reason = fmt("processing exceeded the CPU limit of %d s", cfg->cpu_seconds);
		else if (mentions_memory(err_tail))
			o->reason = fmt("processing exceeded the memory limit of %d MB", cfg->memory_mb);
		else
			o->reason = fmt("the parser crashed (signal %d)", sig);
		return;
	}
	if (ans_len >= 2 && ans[1] == '\n' && strchr("EFT", ans[0]))
	{
		const char *text = ans + 2;

		if (ans[0] == 'T')
			o->kind = OUTCOME_TRANSIENT;
		if (ans[0] == 'E' && mentions_memory(text))
			o->reason = fmt("processing exceeded the memory limit of %d MB", cfg->memory_mb);
		else
			o->reason = xstrdup(*text ? text : "extraction failed");
		return;
	}
	if (ans_len >= 2 && ans[0] == 'R' && ans[1] == ' ')
	{
		const char *nl = memchr(ans, '\n', ans_len);
		char		src[16] = "";

		if (nl && sscanf(ans + 2, "%d %15s", &o->pages, src) >= 1)
		{
			o->kind = OUTCOME_COMPLETED;
			o->result_json = xstrndup(nl + 1, ans_len - (size_t) (nl + 1 - ans));
			snprintf(o->source, sizeof o->source, "%s", strcmp(src, "-") == 0 ? "" : src);
			return;
		}
	}
	if (mentions_memory(err_tail))
		o->reason = fmt("processing exceeded the memory limit of %d MB", cfg->memory_mb);
	else
		o->reason = fmt("the parser exited without an answer (exit status %d)",
						WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
}

void
child_finish(child_proc *c, const proc_config *cfg, child_outcome *o)
{
	int			wstatus = 0;
	struct rusage ru;
	double		cpu = 0;

	memset(&ru, 0, sizeof ru);
	while (wait4(c->pid, &wstatus, 0, &ru) < 0 && errno == EINTR)
		;
	cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	c->pid = -1;
	if (c->too_large)
	{
		memset(o, 0, sizeof *o);
		o->kind = OUTCOME_FAILED;
		o->pages = -1;
		o->reason = xstrdup("the extraction result is too large");
	}
	else
		child_classify(cfg, wstatus, cpu, c->killed_for_time, c->out.s ? c->out.s : "", c->out.len,
					   c->err_tail, o);
	sb_free(&c->out);
}

void
child_outcome_free(child_outcome *o)
{
	free(o->result_json);
	free(o->reason);
	o->result_json = o->reason = NULL;
}
