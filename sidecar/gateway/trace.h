/*
 * trace.h: the W3C Trace Context of a request (the traceparent header), taken
 * from the client when well formed, generated otherwise, kept with the
 * ingestion it creates and put on every log line of the request.
 */
#ifndef GATEWAY_TRACE_H
#define GATEWAY_TRACE_H

#include <stdbool.h>

#define TRACEPARENT_LEN 55			/* 00-<32>-<16>-<2> */
#define TRACE_ID_LEN 32

/* version 00, a 32-hex trace id and 16-hex parent id, neither all zeros, 2-hex flags; lower case */
bool		traceparent_valid(const char *s);

/*
 * The request's traceparent into out (TRACEPARENT_LEN + 1 bytes): the
 * client's header when valid, else a new trace (random ids, flags 01).
 * Returns true when the client's was taken.
 */
bool		traceparent_take(const char *header, char *out);

/*
 * The calling thread's current trace id (the gateway runs a thread per
 * connection, one request at a time): set when a request starts, cleared
 * when it ends; log lines of the thread carry it (sidecar_log's trace source).
 */
void		trace_set_current(const char *traceparent);
void		trace_init_logging(void);

#endif
