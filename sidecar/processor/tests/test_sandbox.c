/*
 * test_sandbox: the sandbox's pieces one by one (sandbox.h), each in a forked
 * process so the test itself stays free: the seccomp filter (sockets, writes,
 * exec and fork refused; reads and threads allowed), Landlock (writes beneath
 * the scratch directory only, reads beneath the list only), the scratch
 * directory's removal (links left there are not followed), the user lookup.
 * The whole path (re-execution, user switch) is t/303 and
 * test/security/processor_sandbox.sh.
 */
#define _GNU_SOURCE
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int	passed, failed;

#define CHECK(cond, what) do { if (cond) passed++; else { failed++; fprintf(stderr, "FAIL: %s (%s:%d)\n", what, __FILE__, __LINE__); } } while (0)

/* Runs fn in a child; its exit status is the number of its failed checks (255: set-up failed). */
static int
in_child(int (*fn)(const char *), const char *arg)
{
	int			st;
	pid_t		pid = fork();

	if (pid == 0)
		_exit(fn(arg));
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return 255;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 254;
}

static int
errno_of(int rc)
{
	return rc >= 0 ? 0 : errno;
}

static void *
thread_fn(void *p)
{
	return p;
}

static int
seccomp_child(const char *dir)
{
	char		err[300], path[512];
	int			bad = 0, fd;
	pthread_t	t;
	void	   *ret = NULL;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || !sandbox_seccomp(false, err, sizeof err))
		return 255;
	bad += errno_of(socket(AF_INET, SOCK_STREAM, 0)) != EPERM;
	bad += errno_of(socket(AF_UNIX, SOCK_STREAM, 0)) != EPERM;
	bad += errno_of(socket(AF_NETLINK, SOCK_RAW, 0)) != EPERM;
	snprintf(path, sizeof path, "%s/written", dir);
	bad += errno_of(open(path, O_WRONLY | O_CREAT, 0600)) != EPERM;
	bad += errno_of(open(path, O_RDWR | O_CREAT, 0600)) != EPERM;
	bad += errno_of(mkdir(path, 0700)) != EPERM;
	/* without Landlock, not even the scratch descriptor takes writes */
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0 && dup2(fd, SANDBOX_SCRATCH_FD) == SANDBOX_SCRATCH_FD)
		bad += errno_of(openat(SANDBOX_SCRATCH_FD, "x", O_WRONLY | O_CREAT, 0600)) != EPERM;
	if (!UNDER_ASAN)
	{
		/* the sanitizer build keeps them for its symbolizer */
		bad += errno_of(execl("/bin/true", "true", (char *) NULL)) != EPERM;
		bad += errno_of(fork()) != EPERM;
	}
	/* what the parser needs */
	fd = open("/usr/share", O_RDONLY | O_DIRECTORY);
	bad += fd < 0;
	bad += pthread_create(&t, NULL, thread_fn, (void *) dir) != 0 || pthread_join(t, &ret) != 0 || ret != dir;
	return bad;
}

static int
landlock_child(const char *dir)
{
	char		err[300], scratch[512], outside[512], inside[512];
	int			bad = 0, fd;

	snprintf(scratch, sizeof scratch, "%s/scratch", dir);
	snprintf(outside, sizeof outside, "%s/outside", dir);
	snprintf(inside, sizeof inside, "%s/scratch/inside", dir);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || sandbox_landlock(scratch, err, sizeof err) <= 0)
		return 255;
	fd = open(inside, O_WRONLY | O_CREAT, 0600);
	bad += fd < 0;
	if (fd >= 0)
		close(fd);
	bad += errno_of(open(outside, O_WRONLY | O_CREAT, 0600)) != EACCES;
	bad += errno_of(open(dir, O_RDONLY | O_DIRECTORY)) != EACCES;	/* not in the read list */
	bad += errno_of(open("/etc/passwd", O_RDONLY)) != EACCES;
	bad += open("/usr/share", O_RDONLY | O_DIRECTORY) < 0;
	bad += open("/proc/self/status", O_RDONLY) < 0;
	return bad;
}

int
main(void)
{
	char		dir[] = "/tmp/test_sandbox.XXXXXX", path[600], link[600], target[600];
	char		err[300];
	sandbox_user u;
	struct stat st;
	int			fd;

	if (!mkdtemp(dir))
	{
		perror("mkdtemp");
		return 1;
	}

	/* the scratch directory: made 0700, removed with what is in it, links not followed */
	{
		char		scratch[512];
		sandbox_user none = {0};

		CHECK(sandbox_scratch_make(dir, &none, scratch, sizeof scratch, err, sizeof err), "scratch made");
		CHECK(stat(scratch, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700, "scratch is 0700");
		snprintf(target, sizeof target, "%s/keep.txt", dir);
		fd = open(target, O_WRONLY | O_CREAT, 0600);
		close(fd);
		snprintf(path, sizeof path, "%s/sub", scratch);
		mkdir(path, 0700);
		snprintf(path, sizeof path, "%s/sub/file", scratch);
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		close(fd);
		snprintf(link, sizeof link, "%s/sub/link-to-keep", scratch);
		CHECK(symlink(target, link) == 0, "symlink made");
		snprintf(link, sizeof link, "%s/dirlink", scratch);
		CHECK(symlink(dir, link) == 0, "directory symlink made");
		sandbox_scratch_remove(scratch);
		CHECK(stat(scratch, &st) != 0 && errno == ENOENT, "scratch removed");
		CHECK(stat(target, &st) == 0, "the file a link pointed to is still there");
		CHECK(stat(dir, &st) == 0, "the directory a link pointed to is still there");
	}

	/* the user: switched only when root; root itself refused */
	CHECK(sandbox_resolve_user("nobody", &u, err, sizeof err), "nobody resolves");
	CHECK(u.switch_user == (geteuid() == 0), "a switch only when root");
	if (geteuid() == 0)
	{
		CHECK(!sandbox_resolve_user("root", &u, err, sizeof err), "root is refused as the sandbox user");
		CHECK(!sandbox_resolve_user("no-such-user-here", &u, err, sizeof err), "an unknown user is refused");
	}

	CHECK(in_child(seccomp_child, dir) == 0, "seccomp: sockets, writes, exec, fork refused; reads, threads allowed");
	if (sandbox_landlock_abi() > 0)
	{
		snprintf(path, sizeof path, "%s/scratch", dir);
		mkdir(path, 0700);
		CHECK(in_child(landlock_child, dir) == 0, "Landlock: writes beneath scratch only, reads beneath the list only");
		snprintf(path, sizeof path, "%s/scratch/inside", dir);
		CHECK(stat(path, &st) == 0, "Landlock: the file in scratch was written");
		snprintf(path, sizeof path, "%s/outside", dir);
		CHECK(stat(path, &st) != 0, "Landlock: the file outside was not");
	}
	else
		printf("test_sandbox: this kernel has no Landlock: its checks are skipped\n");

	snprintf(path, sizeof path, "rm -rf '%s'", dir);
	if (system(path) != 0)
		fprintf(stderr, "test_sandbox: could not remove %s\n", dir);
	printf("test_sandbox: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
