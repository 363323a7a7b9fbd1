/*
 * daemon_log.h: the daemon's log, the sidecars' shared one
 * (src/common/sidecar_log.h) under the logger name "processor".
 */
#ifndef IF_DAEMON_LOG_H
#define IF_DAEMON_LOG_H

#include "../../src/common/sidecar_log.h"

#define plog(level, request_id, extra, ...) log_emit(level, "processor", request_id, extra, __VA_ARGS__)

/*
 * Trace ids per document: while a request id is being worked on, every log
 * line naming it carries "trace_id" (the ingestion's W3C traceparent, from the
 * RabbitMQ message's header or from invoiceflow.traceparent()).
 */
void		plog_trace_init(void);
void		plog_trace_set(const char *request_id, const char *traceparent);
void		plog_trace_clear(const char *request_id);

/* A JSON string for an extra field from untrusted text (invalid UTF-8 -> '?'). */
json_t	   *plog_string(const char *s);

#endif
