/*
 * sandbox_child.h: the per-document child's program (invoiceflow-processor-child).
 *
 * daemon_child.c forks, fetches the file if needed, drops privileges and
 * executes the child's program (child_main.c) as
 *   invoiceflow-processor-child sandbox-child CPU_S MEMORY_MB TEST_FAULTS SCRATCH NETNS [FILENAME]
 * with an empty environment, the document on fd 0 (a sealed memfd), the
 * answer pipe on fd 1 and the stderr pipe on fd 2. The command sets the
 * limits, confines itself (sandbox.h), runs extract_document() and answers in
 * the format of daemon_child.h. It is not meant to be run by hand.
 */
#ifndef IF_SANDBOX_CHILD_H
#define IF_SANDBOX_CHILD_H

#include <stddef.h>

#define SANDBOX_CHILD_COMMAND "sandbox-child"

int			cmd_sandbox_child(int argc, char **argv);
/* sandbox_run.c: one document through the whole sandbox path, no database */
int			cmd_sandbox_run(int argc, char **argv);

/*
 * Test-only (PROCESSOR_TEST_FAULTS=1, file name "sandbox-probe..."): tries what
 * the sandbox must refuse and answers "E\nsandbox probe: ..." with the results.
 * The document's bytes name the target: "probe-port=N probe-path=/abs/file".
 */
void		sandbox_probe(int out, const unsigned char *doc, size_t len, int netns, int landlock);

#endif
