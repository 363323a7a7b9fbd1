/* sandbox.c: privileges, scratch directory, network namespace, Landlock, seccomp (see sandbox.h). */
#define _GNU_SOURCE
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* libseccomp's SCMP_A0..A5 leave datum_b to its zero */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* Landlock rights newer than Debian 12's headers (Linux 6.1). */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

/* ------------------------------------------------------------------ user */

bool
sandbox_resolve_user(const char *name, sandbox_user *u, char *err, size_t errsz)
{
	struct passwd *pw;

	memset(u, 0, sizeof *u);
	snprintf(u->name, sizeof u->name, "%s", name);
	if (geteuid() != 0 && getuid() != 0)
		return true;			/* nothing to drop */
	pw = getpwnam(name);
	if (!pw)
	{
		snprintf(err, errsz, "PROCESSOR_SANDBOX_USER: no user named \"%s\" (the processor runs as "
				 "root and needs an unprivileged user for its document children)", name);
		return false;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0)
	{
		snprintf(err, errsz, "PROCESSOR_SANDBOX_USER: \"%s\" has uid or gid 0; choose an unprivileged user", name);
		return false;
	}
	u->switch_user = true;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	return true;
}

bool
sandbox_drop_privileges(const sandbox_user *u, char *err, size_t errsz)
{
	if (!u->switch_user)
		return true;
	/* groups first: setgroups needs the privilege that setuid gives away */
	if (setgroups(0, NULL) != 0 || setresgid(u->gid, u->gid, u->gid) != 0 ||
		setresuid(u->uid, u->uid, u->uid) != 0)
	{
		snprintf(err, errsz, "switching to user %s: %s", u->name, strerror(errno));
		return false;
	}
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || getuid() != u->uid || geteuid() != u->uid ||
		getgid() != u->gid || getegid() != u->gid || getgroups(0, NULL) != 0)
	{
		snprintf(err, errsz, "switching to user %s: root could be regained", u->name);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------ scratch */

bool
sandbox_scratch_make(const char *base, const sandbox_user *u, char *path, size_t pathsz, char *err, size_t errsz)
{
	if ((size_t) snprintf(path, pathsz, "%s/invoiceflow-scratch-XXXXXX", base) >= pathsz)
	{
		snprintf(err, errsz, "scratch directory: path too long");
		return false;
	}
	if (!mkdtemp(path))
	{
		snprintf(err, errsz, "scratch directory in %s: %s", base, strerror(errno));
		path[0] = '\0';
		return false;
	}
	if (u->switch_user && chown(path, u->uid, u->gid) != 0)
	{
		snprintf(err, errsz, "scratch directory %s: chown: %s", path, strerror(errno));
		rmdir(path);
		path[0] = '\0';
		return false;
	}
	return true;
}

static int
remove_entry(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void) st;
	(void) type;
	(void) f;
	remove(p);
	return 0;
}

void
sandbox_scratch_remove(const char *path)
{
	/* FTW_PHYS: a link the child left is removed, never followed */
	if (path && *path)
		nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void
sandbox_protect_parent(void)
{
	/*
	 * A child runs as the same user when the daemon is not root: without this it
	 * could read /proc/<parent>/environ (DATABASE_URL) or attach to the parent.
	 */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

bool
sandbox_netns_prepare(sandbox_user *u, char *err, size_t errsz)
{
	int			host = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int			empty = -1;

	u->has_netns = false;
	if (host < 0)
		return true;			/* no /proc: each child tries unshare() */
	/* root only (or a kernel that allows it otherwise); EPERM is not an error */
	if (unshare(CLONE_NEWNET) != 0)
	{
		close(host);
		return true;
	}
	empty = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	/* back to the host's namespace: the daemon itself needs the network */
	if (setns(host, CLONE_NEWNET) != 0)
	{
		snprintf(err, errsz, "network namespace: cannot return to the host's: %s", strerror(errno));
		close(host);
		if (empty >= 0)
			close(empty);
		return false;
	}
	close(host);
	if (empty < 0)
		return true;
	u->netns_fd = empty;
	u->has_netns = true;
	return true;
}

int
sandbox_netns(const sandbox_user *u)
{
	int			ok;

	if (!u->has_netns)
		return unshare(CLONE_NEWNET) == 0 ? 1 : 0;
	ok = setns(u->netns_fd, CLONE_NEWNET) == 0;
	close(u->netns_fd);
	return ok ? 1 : 0;
}

/* ------------------------------------------------------------------ Landlock */

int
sandbox_landlock_abi(void)
{
	long		abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return abi > 0 ? (int) abi : 0;
}

static bool
allow_path(int ruleset, const char *path, uint64_t rights, uint64_t handled, char *err, size_t errsz)
{
	struct landlock_path_beneath_attr attr;
	struct stat st;
	int			fd = open(path, O_PATH | O_CLOEXEC);
	int			rc;

	if (fd < 0)
		return true;			/* not on this machine: nothing to allow */
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		rights &= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |
			LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV;
	attr.allowed_access = rights & handled;
	attr.parent_fd = fd;
	rc = (int) syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
	close(fd);
	if (rc != 0)
	{
		snprintf(err, errsz, "landlock rule for %s: %s", path, strerror(errno));
		return false;
	}
	return true;
}

int
sandbox_landlock(const char *scratch, char *err, size_t errsz)
{
	/* read-only: libraries, Tesseract's data (/usr/share), time zone, CPU count */
	static const char *const readable[] = {
		"/usr", "/lib", "/lib64", "/etc/localtime", "/etc/ld.so.cache", "/dev/null", "/dev/zero",
		"/dev/urandom", "/proc/self", "/sys/devices/system/cpu",
	};
	struct landlock_ruleset_attr ra;
	int			abi = sandbox_landlock_abi();
	uint64_t	handled, read_rights;
	int			ruleset;
	bool		ok = true;

	if (abi <= 0)
		return 0;
	handled = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* ABI 1: bits 0-12 */
	if (abi >= 2)
		handled |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		handled |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	read_rights = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	if (UNDER_ASAN)
		read_rights |= LANDLOCK_ACCESS_FS_EXECUTE;	/* the sanitizer's symbolizer */
	memset(&ra, 0, sizeof ra);
	ra.handled_access_fs = handled;
	ruleset = (int) syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0);
	if (ruleset < 0)
	{
		snprintf(err, errsz, "landlock_create_ruleset: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; ok && i < sizeof readable / sizeof readable[0]; i++)
		ok = allow_path(ruleset, readable[i], read_rights, handled, err, errsz);
	/* the OCR's language data, when it is not beneath /usr/share */
	if (ok && getenv("TESSDATA_PREFIX") && getenv("TESSDATA_PREFIX")[0] == '/')
		ok = allow_path(ruleset, getenv("TESSDATA_PREFIX"), read_rights, handled, err, errsz);
	if (ok)
		ok = allow_path(ruleset, scratch, handled & ~LANDLOCK_ACCESS_FS_EXECUTE, handled, err, errsz);
	/* no_new_privs is already set (the parent half of the child did it) */
	if (ok && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
	{
		snprintf(err, errsz, "landlock_restrict_self: %s", strerror(errno));
		ok = false;
	}
	close(ruleset);
	return ok ? abi : -1;
}

/* ------------------------------------------------------------------ seccomp */

#define WRITE_FLAGS (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)

static int
rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n, const struct scmp_arg_cmp *cmp)
{
	return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

/*
 * The plain build: allow what the child needs (glibc, MuPDF, libxml2,
 * Tesseract and OpenMP, measured with strace over the corpus and scans), refuse
 * everything else with EPERM.
 */
static int
allowlist(scmp_filter_ctx ctx, bool landlock)
{
	static const int needed[] = {
		/* memory */
		SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect),
		SCMP_SYS(madvise),
		/* descriptors it has or opens for reading (openat below) */
		SCMP_SYS(read), SCMP_SYS(pread64), SCMP_SYS(readv), SCMP_SYS(write), SCMP_SYS(writev),
		SCMP_SYS(pwrite64), SCMP_SYS(lseek), SCMP_SYS(close), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
		SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(statx), SCMP_SYS(access), SCMP_SYS(faccessat),
		SCMP_SYS(faccessat2), SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(getdents64),
		SCMP_SYS(fcntl), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(ftruncate),
		SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(getcwd),
		/* threads (OpenMP, Tesseract) and their synchronisation */
		SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(get_robust_list), SCMP_SYS(rseq),
		SCMP_SYS(set_tid_address), SCMP_SYS(gettid), SCMP_SYS(getpid), SCMP_SYS(getppid),
		SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity), SCMP_SYS(getcpu), SCMP_SYS(membarrier),
		SCMP_SYS(exit), SCMP_SYS(exit_group),
		/* signals to itself (abort, raise), time, limits, identity */
		SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack),
		SCMP_SYS(tgkill), SCMP_SYS(restart_syscall), SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
		SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday), SCMP_SYS(time),
		SCMP_SYS(getrusage), SCMP_SYS(times), SCMP_SYS(sysinfo), SCMP_SYS(getrlimit), SCMP_SYS(uname), SCMP_SYS(getrandom), SCMP_SYS(getuid), SCMP_SYS(geteuid),
		SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getgroups), SCMP_SYS(getresuid),
		SCMP_SYS(getresgid),
	};
	/* changes inside the scratch directory, by its descriptor, with Landlock in force */
	static const int scratch_changes[] = {SCMP_SYS(unlinkat), SCMP_SYS(mkdirat)};
	struct scmp_arg_cmp read_only[] = {SCMP_A1(SCMP_CMP_MASKED_EQ, WRITE_FLAGS, 0)};
	struct scmp_arg_cmp at_read_only[] = {SCMP_A2(SCMP_CMP_MASKED_EQ, WRITE_FLAGS, 0)};
	struct scmp_arg_cmp in_scratch[] = {SCMP_A0(SCMP_CMP_EQ, SANDBOX_SCRATCH_FD)};
	struct scmp_arg_cmp both_in_scratch[] = {SCMP_A0(SCMP_CMP_EQ, SANDBOX_SCRATCH_FD),
	SCMP_A2(SCMP_CMP_EQ, SANDBOX_SCRATCH_FD)};
	struct scmp_arg_cmp thread[] = {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)};
	struct scmp_arg_cmp tcgets[] = {SCMP_A1(SCMP_CMP_EQ, TCGETS)};
	struct scmp_arg_cmp get_nnp[] = {SCMP_A0(SCMP_CMP_EQ, PR_GET_NO_NEW_PRIVS)};
	struct scmp_arg_cmp read_limit[] = {SCMP_A2(SCMP_CMP_EQ, 0)};
	int			rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof needed / sizeof needed[0]; i++)
		rc = rule(ctx, SCMP_ACT_ALLOW, needed[i], 0, NULL);
	if (rc == 0)				/* threads are clone(CLONE_THREAD); a process is not */
		rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, thread);
	if (rc == 0)				/* clone3 and openat2 hide their flags: glibc falls back on ENOSYS */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1, read_only);
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, at_read_only);
	if (rc == 0)				/* isatty() on its pipes */
		rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, tcgets);
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, get_nnp);
	if (rc == 0)				/* getrlimit() (glibc asks prlimit64 with no new limit); no raising */
		rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, read_limit);
	if (rc == 0 && landlock)
	{
		rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, in_scratch);
		for (size_t i = 0; rc == 0 && i < sizeof scratch_changes / sizeof scratch_changes[0]; i++)
			rc = rule(ctx, SCMP_ACT_ALLOW, scratch_changes[i], 1, in_scratch);
		if (rc == 0)
			rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(renameat), 2, both_in_scratch);
		if (rc == 0)
			rc = rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(renameat2), 2, both_in_scratch);
	}
	return rc;
}

/*
 * The sanitizer build: AddressSanitizer's runtime makes calls of its own
 * (and starts a symbolizer), so there the filter refuses what is dangerous and
 * allows the rest.
 */
static int
denylist(scmp_filter_ctx ctx, bool landlock)
{
	static const int refused[] = {
		SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen),
		SCMP_SYS(accept), SCMP_SYS(accept4),
		SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev), SCMP_SYS(kcmp),
		SCMP_SYS(pidfd_getfd), SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(chroot),
		SCMP_SYS(unshare), SCMP_SYS(setns), SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(keyctl),
		SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(userfaultfd), SCMP_SYS(init_module),
		SCMP_SYS(finit_module), SCMP_SYS(delete_module), SCMP_SYS(kexec_load), SCMP_SYS(kexec_file_load),
		SCMP_SYS(reboot), SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(acct), SCMP_SYS(quotactl),
		SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at), SCMP_SYS(fanotify_init),
		SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register),
		/* file system changes by path (the *at forms follow below) */
		SCMP_SYS(creat), SCMP_SYS(unlink), SCMP_SYS(rmdir), SCMP_SYS(mkdir), SCMP_SYS(rename),
		SCMP_SYS(link), SCMP_SYS(linkat), SCMP_SYS(symlink), SCMP_SYS(symlinkat), SCMP_SYS(mknod),
		SCMP_SYS(mknodat), SCMP_SYS(chmod), SCMP_SYS(chown), SCMP_SYS(lchown), SCMP_SYS(fchown),
		SCMP_SYS(fchownat), SCMP_SYS(truncate), SCMP_SYS(utime), SCMP_SYS(utimes), SCMP_SYS(futimesat),
		SCMP_SYS(setxattr), SCMP_SYS(lsetxattr), SCMP_SYS(fsetxattr), SCMP_SYS(removexattr),
		SCMP_SYS(lremovexattr), SCMP_SYS(fremovexattr),
	};
	static const unsigned long write_flags[] = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND};
	/* dirfd-relative changes: only inside the scratch directory, and only with Landlock */
	static const int at_changes[] = {SCMP_SYS(unlinkat), SCMP_SYS(mkdirat), SCMP_SYS(fchmodat),
	SCMP_SYS(utimensat), SCMP_SYS(renameat), SCMP_SYS(renameat2)};
	const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
	struct scmp_arg_cmp not_scratch = SCMP_A0(SCMP_CMP_NE, SANDBOX_SCRATCH_FD);
	int			rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof refused / sizeof refused[0]; i++)
		rc = rule(ctx, deny, refused[i], 0, NULL);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
	for (size_t i = 0; rc == 0 && i < sizeof write_flags / sizeof write_flags[0]; i++)
	{
		struct scmp_arg_cmp open_w = SCMP_A1(SCMP_CMP_MASKED_EQ, write_flags[i], write_flags[i]);
		struct scmp_arg_cmp openat_w[2] = {SCMP_A2(SCMP_CMP_MASKED_EQ, write_flags[i], write_flags[i]),
		not_scratch};

		rc = rule(ctx, deny, SCMP_SYS(open), 1, &open_w);
		if (rc == 0)
			rc = rule(ctx, deny, SCMP_SYS(openat), landlock ? 2 : 1, openat_w);
	}
	for (size_t i = 0; rc == 0 && i < sizeof at_changes / sizeof at_changes[0]; i++)
		rc = rule(ctx, deny, at_changes[i], landlock ? 1 : 0, &not_scratch);
	if (rc == 0 && landlock)
	{
		/* rename*at(olddirfd, old, newdirfd, new): both sides in the scratch directory */
		struct scmp_arg_cmp new_not_scratch = SCMP_A2(SCMP_CMP_NE, SANDBOX_SCRATCH_FD);

		rc = rule(ctx, deny, SCMP_SYS(renameat), 1, &new_not_scratch);
		if (rc == 0)
			rc = rule(ctx, deny, SCMP_SYS(renameat2), 1, &new_not_scratch);
	}
	return rc;
}

bool
sandbox_seccomp(bool landlock, char *err, size_t errsz)
{
	scmp_filter_ctx ctx = seccomp_init(UNDER_ASAN ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EPERM));
	int			rc = ctx ? 0 : -ENOMEM;

	if (rc == 0)
		rc = UNDER_ASAN ? denylist(ctx, landlock) : allowlist(ctx, landlock);
	if (rc == 0)
		rc = seccomp_load(ctx);
	if (rc != 0)
		snprintf(err, errsz, "seccomp: %s", strerror(-rc));
	if (ctx)
		seccomp_release(ctx);
	return rc == 0;
}
