/*
 * sandbox.h: the walls around the per-document child (issue 9 item 7).
 *
 * The parent makes a private scratch directory per child and removes it after.
 * The forked child, before it executes invoiceflow-processor-child with an empty
 * environment, joins an empty network namespace where the kernel allows one, drops
 * root for PROCESSOR_SANDBOX_USER and sets no_new_privs. The re-executed child
 * then confines itself with Landlock (reads beneath a short list of system
 * directories, writes beneath its scratch directory) and a seccomp filter (no
 * sockets, no exec, no fork, no debugging of other processes, no writes
 * outside the scratch directory's descriptor). README: "Sandbox".
 */
#ifndef IF_SANDBOX_H
#define IF_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* AddressSanitizer reserves terabytes of address space and runs a symbolizer. */
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

/* In the re-executed child: 0 the document, 1 the answer, 2 stderr, 3 the scratch dir. */
#define SANDBOX_SCRATCH_FD 3

/* Root: switches to this user; otherwise stays who it is. */
typedef struct sandbox_user
{
	bool		switch_user;	/* the daemon runs as root */
	uid_t		uid;
	gid_t		gid;
	char		name[64];
	bool		has_netns;		/* netns_fd: the children's empty network namespace */
	int			netns_fd;
} sandbox_user;

/*
 * When running as root, looks NAME up (refusing unknown users and uid 0);
 * otherwise switch_user = false. false with a message in err.
 */
bool		sandbox_resolve_user(const char *name, sandbox_user *u, char *err, size_t errsz);

/* Parent: makes BASE/invoiceflow-scratch-XXXXXX (0700, owned by the sandbox user). */
bool		sandbox_scratch_make(const char *base, const sandbox_user *u, char *path, size_t pathsz,
								 char *err, size_t errsz);
/* Parent: removes it and whatever the child left in it (never following links). */
void		sandbox_scratch_remove(const char *path);

/* Parent: no ptrace and no /proc/<pid>/environ|mem for processes of the same user. */
void		sandbox_protect_parent(void);

/*
 * Parent, once at start: an empty network namespace (no interface but a
 * loopback that is down) for the children to join, kept open as u->netns_fd
 * (u->has_netns; root only). Creating one per document cost about 0.4 ms of the
 * child's CPU and two thirds as much in the kernel's worker that tears it down.
 * false (message in err) only when the caller could not return to its own
 * namespace.
 */
bool		sandbox_netns_prepare(sandbox_user *u, char *err, size_t errsz);
/* Child, still privileged: joins it (or makes one). 1 entered, 0 not allowed here. */
int			sandbox_netns(const sandbox_user *u);
/* Child: drops supplementary groups, setgid, setuid; checks root cannot come back. */
bool		sandbox_drop_privileges(const sandbox_user *u, char *err, size_t errsz);

/* Landlock ABI of the running kernel, 0 when it has none. */
int			sandbox_landlock_abi(void);

/*
 * Re-executed child: Landlock rules (when the kernel has Landlock). Returns the
 * ABI used, 0 when the kernel has none, -1 on error (message in err).
 */
int			sandbox_landlock(const char *scratch, char *err, size_t errsz);

/*
 * Re-executed child: the seccomp filter. With Landlock in force, writes are
 * allowed through SANDBOX_SCRATCH_FD (Landlock keeps them beneath it);
 * without, no file can be opened for writing at all.
 */
bool		sandbox_seccomp(bool landlock, char *err, size_t errsz);

#endif
