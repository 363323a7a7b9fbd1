/*
 * conn_guard.h: what libmicrohttpd 0.9.75 does not bound for us, per TCP
 * connection (MHD_OPTION_NOTIFY_CONNECTION gives each one a guard):
 *
 *  - a deadline for a complete request head (GATEWAY_HEADER_TIMEOUT_SECONDS):
 *    MHD's connection timeout is an idle timeout, which a client sending one
 *    byte every few seconds never reaches; a watchdog thread shuts the socket
 *    of a connection whose head is late, and MHD then closes it;
 *  - a lingering close (as nginx's): a connection answered before its body was
 *    read is not closed with the body still arriving (the kernel would reset
 *    it, and a client that writes its whole body before reading would see the
 *    reset instead of the answer); the socket is kept, the rest of the body
 *    read and discarded for at most GATEWAY_LINGER_SECONDS and
 *    GATEWAY_LINGER_MAX_MB, then closed.
 */
#ifndef GATEWAY_CONN_GUARD_H
#define GATEWAY_CONN_GUARD_H

#include <microhttpd.h>
#include <stdbool.h>

/* Starts the watchdog thread; false if it cannot. */
bool		conn_guard_start(void);
/* Stops it and closes the sockets still lingering (after MHD_stop_daemon). */
void		conn_guard_stop(void);

/* MHD_OPTION_NOTIFY_CONNECTION */
void		conn_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
							  enum MHD_ConnectionNotificationCode code);

/* The request head is complete (first call of the access handler). */
void		conn_guard_head_done(struct MHD_Connection *conn);
/* A request is over; on a kept-alive connection the next head has the deadline again. */
void		conn_guard_head_rearm(struct MHD_Connection *conn);
/* Discard what the client still sends after the connection is closed (bounded). */
void		conn_guard_linger(struct MHD_Connection *conn);
/* The client's address as text ("" if unknown), valid while the connection is. */
const char *conn_guard_client(struct MHD_Connection *conn);

/* Connections whose head was late, connections lingered (for tests, metrics). */
unsigned long long conn_guard_head_timeouts(void);
unsigned long long conn_guard_lingered(void);

#endif
