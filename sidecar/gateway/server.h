/* server.h: the libmicrohttpd daemon, its request life cycle, and the drain on shutdown. */
#ifndef GATEWAY_SERVER_H
#define GATEWAY_SERVER_H

#include <stdbool.h>

bool		server_start(void);
int			server_port(void);
bool		server_draining(void);
/* Stops accepting, waits (up to cfg.drain_seconds) for requests in flight, stops. */
void		server_drain_and_stop(void);

#endif
