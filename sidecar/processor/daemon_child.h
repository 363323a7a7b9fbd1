/*
 * daemon_child.h: one document in one child process.
 *
 * The parent makes a scratch directory and forks; the child fetches the file
 * from S3 when the parent did not pass its bytes, puts it in a sealed memfd,
 * drops what the parser must not have (sandbox.h) and executes
 * invoiceflow-processor-child (sandbox_child.h), which sets its limits (RLIMIT_CPU, RLIMIT_AS, no core
 * files), confines itself, runs extract_document() and writes one answer to a pipe:
 *   "R <pages> <source>\n<result JSON>"   extracted
 *   "E\n<reason>"                          extract_document()'s error: fail
 *   "F\n<reason>"                          the file is gone for good: fail
 *   "T\n<reason>"                          fetching failed for now: release
 * Its stderr goes to a second pipe, whose tail tells an out-of-memory abort
 * from another crash. The child never touches the parent's libpq or AMQP
 * connections (it closes their descriptors), and the parser never sees the
 * parent's memory or environment. The scratch directory is removed when the
 * child has been reaped.
 */
#ifndef IF_DAEMON_CHILD_H
#define IF_DAEMON_CHILD_H

#include "daemon_config.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct child_job
{
	const char *request_id;
	const char *filename;		/* may be NULL (unknown) */
	const char *s3_key;			/* where to fetch when bytes is NULL */
	const unsigned char *bytes; /* NULL: the child fetches s3_key from S3 */
	size_t		len;
} child_job;

typedef enum outcome_kind
{
	OUTCOME_COMPLETED,
	OUTCOME_FAILED,				/* fail() with reason */
	OUTCOME_TRANSIENT			/* release(): try again later */
} outcome_kind;

typedef struct child_outcome
{
	outcome_kind kind;
	char	   *result_json;	/* COMPLETED (malloc'd) */
	char	   *reason;			/* FAILED, TRANSIENT (malloc'd) */
	int			pages;			/* -1 unknown */
	char		source[16];		/* "xml", "text", or "" */
} child_outcome;

typedef struct child_proc
{
	pid_t		pid;
	int			out_fd;			/* the answer; -1 at EOF */
	int			err_fd;			/* the child's stderr; -1 at EOF */
	sbuf		out;
	char		err_tail[2048];
	size_t		err_len;
	bool		killed_for_time;	/* the watchdog sent SIGKILL */
	bool		too_large;
	char		scratch[256];	/* its private scratch directory, removed after */
} child_proc;

/* The child's program: invoiceflow-processor-child[-asan] beside this binary. */
bool		child_program(char *path, size_t sz);
/* Forks the child. false with *err (malloc'd) when fork or pipe failed. */
bool		child_start(child_proc *c, const proc_config *cfg, const child_job *job, char **err);
/* Reads what the pipes hold (non-blocking); true once both reached EOF. */
bool		child_read(child_proc *c);
/* SIGKILL (the watchdog, or shutdown); the pipes still need reading to EOF. */
void		child_kill(child_proc *c, bool for_time);
/* Reaps the child (after child_read returned true) and classifies the end. */
void		child_finish(child_proc *c, const proc_config *cfg, child_outcome *o);
void		child_outcome_free(child_outcome *o);

/* Classification, exposed for the unit tests. */
void		child_classify(const proc_config *cfg, int wstatus, double cpu_seconds_used,
						   bool killed_for_time, const char *answer, size_t answer_len,
						   const char *err_tail, child_outcome *o);

#endif
