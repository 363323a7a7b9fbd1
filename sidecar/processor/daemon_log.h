/*
 * daemon_log.h: the daemon's log, the sidecars' shared one
 * (src/common/sidecar_log.h) under the logger name "processor".
 */
#ifndef IF_DAEMON_LOG_H
#define IF_DAEMON_LOG_H

#include "../../src/common/sidecar_log.h"

#define plog(level, request_id, extra, ...) log_emit(level, "processor", request_id, extra, __VA_ARGS__)

/* A JSON string for an extra field from untrusted text (invalid UTF-8 -> '?'). */
json_t	   *plog_string(const char *s);

#endif
