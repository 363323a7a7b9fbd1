/*
 * log_line.h: the sidecars' log line, one per event on stdout, JSON (the seed's
 * LOG_FORMAT=json) or text, written with a single write(2) so that lines of
 * concurrent threads or processes never interleave. Free of PostgreSQL headers.
 */
#ifndef IF_LOG_LINE_H
#define IF_LOG_LINE_H

#include <jansson.h>
#include <stdbool.h>

/*
 * Writes {"timestamp", "level", "logger", "message", "service", "request_id"?,
 * ...extra} (or "TS LEVEL logger [request_id] message key=value ..."). msg must
 * be valid UTF-8; request_id and extra may be NULL; extra is not released.
 */
extern void log_line_write(bool as_json, const char *level, const char *logger, const char *service,
						   const char *request_id, const char *msg, json_t *extra);

#endif
