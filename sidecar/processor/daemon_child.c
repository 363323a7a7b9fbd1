/* daemon_child.c: fork, fetch, drop privileges, re-execute sandboxed (see daemon_child.h). */
#define _GNU_SOURCE
#include "daemon_child.h"
#include "child_answer.h"
#include "sandbox.h"
#include "sandbox_child.h"
#include "../../src/common/s3_client.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_FILE   (256u << 20)		/* largest file fetched from S3 */
#define MAX_ANSWER (256u << 20)		/* largest result JSON accepted from a child */

/* ------------------------------------------------------------------ child side */

/*
 * Every descriptor above stderr closes at the exec (the parent's libpq and AMQP
 * sockets, the other children's pipes). close_range marks them all at once; a
 * loop over 65536 numbers costs milliseconds per document.
 */
static void
close_on_exec_all(void)
{
	long		max;

	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 3; fd < max; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
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
		child_answer(out, 'T', msg);
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
		child_answer(out, 'F', msg);
	}
	else
	{
		/* unreachable, 5xx, or our credentials/bucket refused: not the document's fault */
		snprintf(msg, sizeof msg, "S3 GET %s: %s (%s)", key, e.message, s3c_status_name(st));
		child_answer(out, 'T', msg);
	}
	return NULL;
}

bool
child_program(char *path, size_t sz)
{
	char		self[4096];
	ssize_t		n = readlink("/proc/self/exe", self, sizeof self - 1);
	char	   *slash;

	if (n <= 0)
		return false;
	self[n] = '\0';
	if (!(slash = strrchr(self, '/')))
		return false;
	*slash = '\0';
	return (size_t) snprintf(path, sz, "%s/invoiceflow-processor-child%s", self, UNDER_ASAN ? "-asan" : "") < sz;
}

/* The document as a sealed memfd: the re-executed child maps it from fd 0. */
static int
document_fd(const unsigned char *buf, size_t len)
{
	int			fd = memfd_create("document", MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	for (size_t off = 0; off < len;)
	{
		ssize_t		w = write(fd, buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
		{
			close(fd);
			return -1;
		}
		off += (size_t) w;
	}
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
	return fd;
}

/*
 * The environment of the re-executed child: no secret, only the OCR's tuning
 * (PROCESSOR_OCR_*, TESSDATA_PREFIX) and, in ASan builds, the sanitizers' options.
 */
static bool
passed_to_child(const char *var)
{
	return strncmp(var, "PROCESSOR_OCR_", 14) == 0 || strncmp(var, "TESSDATA_PREFIX=", 16) == 0 ||
		(UNDER_ASAN && (strncmp(var, "ASAN_OPTIONS=", 13) == 0 || strncmp(var, "UBSAN_OPTIONS=", 14) == 0 ||
						strncmp(var, "LSAN_OPTIONS=", 13) == 0));
}

static char **
child_environment(void)
{
	size_t		n = 0, k = 0;
	char	  **envp;

	for (char **v = environ; *v; v++)
		n++;
	envp = calloc(n + 1, sizeof *envp);
	if (envp)
		for (char **v = environ; *v; v++)
			if (passed_to_child(*v))
				envp[k++] = *v;
	return envp;
}

static void
sandbox_failed(int out, const char *what, const char *detail)
{
	char		msg[600];

	/* the processor's set-up, not the document: release it and back off */
	snprintf(msg, sizeof msg, "the sandbox could not start: %s: %s", what, detail);
	child_answer(out, 'T', msg);
	_exit(0);
}

/*
 * Runs in the forked child, still with the parent's memory and rights: fetch
 * the file if needed, then shed what the parser must not have (descriptors,
 * network, root, the parent's memory and environment) and re-execute.
 */
static void
child_main(const proc_config *cfg, const child_job *job, int out, int err, pid_t parent, const char *scratch)
{
	const unsigned char *buf = job->bytes;
	unsigned char *fetched = NULL;
	size_t		len = job->len;
	sigset_t	none;
	int			doc, exe, netns;
	char		errbuf[300], a_cpu[16], a_mem[16], a_netns[4], program[4096];
	char	   *argv[10], **envp;

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
	close_on_exec_all();

	if (!buf)
	{
		buf = fetched = fetch_s3(cfg, job->s3_key, &len, out);
		if (!buf)
			_exit(0);
	}
	doc = document_fd(buf, len);
	if (doc < 0)
		sandbox_failed(out, "memfd", strerror(errno));
	free(fetched);
	/* the child's program, opened while the path to it is surely still reachable */
	if (!child_program(program, sizeof program))
		sandbox_failed(out, "/proc/self/exe", "cannot tell where the processor is");
	exe = open(program, O_PATH | O_CLOEXEC);
	if (exe < 0)
		sandbox_failed(out, program, strerror(errno));
	/* 0 the document, 1 the answer, 2 stderr; nothing else survives the exec */
	if (dup2(doc, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0)
		sandbox_failed(out, "dup2", strerror(errno));
	close(doc);

	netns = sandbox_netns(&cfg->sandbox);
	if (!sandbox_drop_privileges(&cfg->sandbox, errbuf, sizeof errbuf))
		sandbox_failed(STDOUT_FILENO, "privileges", errbuf);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		sandbox_failed(STDOUT_FILENO, "no_new_privs", strerror(errno));
	/* a change of user clears the parent-death signal: set it again */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);

	snprintf(a_cpu, sizeof a_cpu, "%d", cfg->cpu_seconds);
	snprintf(a_mem, sizeof a_mem, "%d", cfg->memory_mb);
	snprintf(a_netns, sizeof a_netns, "%d", netns);
	argv[0] = "invoiceflow-processor-child";
	argv[1] = SANDBOX_CHILD_COMMAND;
	argv[2] = a_cpu;
	argv[3] = a_mem;
	argv[4] = cfg->test_faults ? "1" : "0";
	argv[5] = (char *) scratch;
	argv[6] = a_netns;
	/* the file name only chooses the test hooks; it would show in ps otherwise */
	argv[7] = (char *) (cfg->test_faults && job->filename ? job->filename : "");
	argv[8] = NULL;
	envp = child_environment();
	if (!envp)
		sandbox_failed(STDOUT_FILENO, "environment", "out of memory");
	execveat(exe, "", argv, envp, AT_EMPTY_PATH);
	sandbox_failed(STDOUT_FILENO, "exec", strerror(errno));
}

/* ------------------------------------------------------------------ parent side */

bool
child_start(child_proc *c, const proc_config *cfg, const child_job *job, char **err)
{
	int			outp[2], errp[2];

	char		msg[300];

	memset(c, 0, sizeof *c);
	c->pid = -1;
	c->out_fd = c->err_fd = -1;
	sb_init(&c->out);
	if (!sandbox_scratch_make(cfg->scratch_dir, &cfg->sandbox, c->scratch, sizeof c->scratch, msg, sizeof msg))
	{
		*err = xstrdup(msg);
		return false;
	}
	if (pipe(outp) != 0)
	{
		*err = xstrdup(strerror(errno));
		sandbox_scratch_remove(c->scratch);
		return false;
	}
	if (pipe(errp) != 0)
	{
		*err = xstrdup(strerror(errno));
		close(outp[0]);
		close(outp[1]);
		sandbox_scratch_remove(c->scratch);
		return false;
	}
	pid_t		parent = getpid();

	fflush(stdout);
	c->pid = fork();
	if (c->pid < 0)
	{
		*err = xstrdup(strerror(errno));
		close(outp[0]); close(outp[1]); close(errp[0]); close(errp[1]);
		sandbox_scratch_remove(c->scratch);
		return false;
	}
	if (c->pid == 0)
	{
		close(outp[0]);
		close(errp[0]);
		child_main(cfg, job, outp[1], errp[1], parent, c->scratch);
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
	sandbox_scratch_remove(c->scratch);	/* the child is gone: nothing races the removal */
	c->scratch[0] = '\0';
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
