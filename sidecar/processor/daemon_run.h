/* daemon_run.h: `invoiceflow-processor run`, the daemon (see README.md § Daemon). */
#ifndef IF_DAEMON_RUN_H
#define IF_DAEMON_RUN_H

int			cmd_run(int argc, char **argv);

#endif
