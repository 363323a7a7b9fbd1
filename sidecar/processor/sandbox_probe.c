/*
 * sandbox_probe.c: the test-only probe (PROCESSOR_TEST_FAULTS=1, file name
 * "sandbox-probe..."), run where a parser exploit would run: inside the
 * confined child. It tries what an attacker would and reports each result, so
 * t/303_processor_sandbox.pl can check every layer. Never answers success.
 */
#define _GNU_SOURCE
#include "sandbox_child.h"
#include "child_answer.h"
#include "sandbox.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* "probe-NAME=VALUE" from the document's bytes (the test writes it in plain text) */
static void
param(const unsigned char *doc, size_t len, const char *name, char *out, size_t outsz)
{
	char		key[32];
	const unsigned char *p;
	size_t		n = 0;

	snprintf(key, sizeof key, "probe-%s=", name);
	out[0] = '\0';
	p = memmem(doc, len, key, strlen(key));
	if (!p)
		return;
	p += strlen(key);
	while (p < doc + len && n + 1 < outsz && *p > ' ' && *p != ')' && *p < 0x7f)
		out[n++] = (char) *p++;
	out[n] = '\0';
}

/* "ok" or "refused(ENAME)" */
static void
result(char *buf, size_t sz, const char *key, int rc, int err)
{
	size_t		n = strlen(buf);

	if (rc >= 0)
		snprintf(buf + n, sz - n, " %s=ok", key);
	else
		snprintf(buf + n, sz - n, " %s=refused(%s)", key, strerrorname_np(err) ? strerrorname_np(err) : "?");
}

static int
try_open(int dirfd, const char *path, int flags, int *err)
{
	int			fd = openat(dirfd, path, flags | O_CLOEXEC, 0600);

	*err = errno;
	if (fd >= 0)
	{
		if (flags & (O_WRONLY | O_RDWR))
			(void) !write(fd, "escaped\n", 8);
		close(fd);
	}
	return fd;
}

/* Network interfaces this process sees (/proc/self/net/dev): 1 (lo) in the empty namespace. */
static int
net_interfaces(void)
{
	FILE	   *f = fopen("/proc/self/net/dev", "r");
	char		line[256];
	int			n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		n += strchr(line, ':') != NULL;	/* the two heading lines have none */
	fclose(f);
	return n;
}

void
sandbox_probe(int out, const unsigned char *doc, size_t len, int netns, int landlock)
{
	char		r[1024], port_s[16], path[300], secret[300], other[310], pe[64];
	int			env_n = 0, rc, e;
	const char *db = getenv("DATABASE_URL");
	long		nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
	FILE	   *st = fopen("/proc/self/status", "r");
	int			seccomp_mode = -1;

	param(doc, len, "port", port_s, sizeof port_s);
	param(doc, len, "path", path, sizeof path);
	param(doc, len, "read", secret, sizeof secret);
	for (char **v = environ; v && *v; v++)
		if (strncmp(*v, "ASAN_OPTIONS=", 13) != 0 && strncmp(*v, "UBSAN_OPTIONS=", 14) != 0 &&
			strncmp(*v, "LSAN_OPTIONS=", 13) != 0)
			env_n++;
	if (st)
	{
		char		line[128];

		while (fgets(line, sizeof line, st))
			if (sscanf(line, "Seccomp: %d", &seccomp_mode) == 1)
				break;
		fclose(st);
	}
	snprintf(r, sizeof r, "sandbox probe: uid=%d gid=%d groups=%d env=%d database_url=%s nnp=%ld seccomp=%d "
			 "landlock=%d netns=%d netifs=%d", (int) getuid(), (int) getgid(), getgroups(0, NULL), env_n,
			 db ? "visible" : "absent", nnp, seccomp_mode, landlock, netns, net_interfaces());

	/* root again? */
	rc = setuid(0);
	result(r, sizeof r, "setuid0", rc == 0 && getuid() == 0 ? 0 : -1, errno);

	/* the parent's environment through /proc (same user when the daemon is not root) */
	snprintf(pe, sizeof pe, "/proc/%d/environ", (int) getppid());
	rc = try_open(AT_FDCWD, pe, O_RDONLY, &e);
	result(r, sizeof r, "parent_environ", rc, e);

	/* network: a TCP connection to the test's listener on 127.0.0.1 */
	{
		int			s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		e = errno;
		if (s >= 0)
		{
			struct sockaddr_in a;

			memset(&a, 0, sizeof a);
			a.sin_family = AF_INET;
			a.sin_port = htons((unsigned short) atoi(port_s));
			a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			rc = connect(s, (struct sockaddr *) &a, sizeof a);
			e = errno;
			close(s);
			result(r, sizeof r, "tcp_connect", rc, e);
		}
		else
			result(r, sizeof r, "tcp_connect", -1, e);
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		e = errno;
		if (s >= 0)
			close(s);
		result(r, sizeof r, "unix_socket", s, e);
	}

	/* files: outside the scratch directory, through it, inside it; reading a secret */
	rc = try_open(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, &e);
	result(r, sizeof r, "write_outside", rc, e);
	snprintf(other, sizeof other, "%s.2", path);
	rc = try_open(SANDBOX_SCRATCH_FD, other, O_WRONLY | O_CREAT | O_TRUNC, &e);
	result(r, sizeof r, "write_outside_via_scratch", rc, e);
	rc = try_open(SANDBOX_SCRATCH_FD, "probe.txt", O_WRONLY | O_CREAT | O_TRUNC, &e);
	result(r, sizeof r, "write_scratch", rc, e);
	rc = try_open(AT_FDCWD, secret, O_RDONLY, &e);
	result(r, sizeof r, "read_outside", rc, e);
	rc = try_open(AT_FDCWD, "/usr/share/tesseract-ocr/5/tessdata", O_RDONLY | O_DIRECTORY, &e);
	result(r, sizeof r, "read_tessdata", rc, e);

	/* new programs and processes */
	{
		char	   *const argv[] = {"/bin/true", NULL};
		char	   *const envp[] = {NULL};
		pid_t		pid;

		if (UNDER_ASAN)
		{
			/* the sanitizer build keeps exec and fork for its symbolizer */
			strncat(r, " exec=skipped fork=skipped", sizeof r - strlen(r) - 1);
			goto done;
		}
		rc = execve("/bin/true", argv, envp);
		result(r, sizeof r, "exec", rc, errno);
		pid = fork();
		if (pid == 0)
			_exit(0);
		e = errno;
		if (pid > 0)
			waitpid(pid, NULL, 0);
		result(r, sizeof r, "fork", pid, e);
	}

done:
	child_answer(out, 'E', r);
	_exit(0);
}
