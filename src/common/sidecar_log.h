/*
 * sidecar_log.h: the sidecars' log, one line per event on stdout, written with a
 * single write(2) so that lines of concurrent threads or processes never
 * interleave. LOG_FORMAT=json gives the seed's shape: timestamp, level, logger,
 * message, service, request_id, then any extra fields; LOG_FORMAT=text a
 * readable line. Free of PostgreSQL headers.
 */
#ifndef IF_SIDECAR_LOG_H
#define IF_SIDECAR_LOG_H

#include <jansson.h>
#include <stdbool.h>

enum log_level
{
	LOG_DEBUG = 10,
	LOG_INFO = 20,
	LOG_WARNING = 30,
	LOG_ERROR = 40,
	LOG_CRITICAL = 50
};

extern void log_init(int level, bool json, const char *service);
/* "DEBUG", "info", "WARN", "fatal"... -> its level, or -1 */
extern int	log_parse_level(const char *s);

/*
 * One line. request_id may be NULL; extra (may be NULL) is a JSON object whose
 * fields are added to the line; it is consumed (decref'd). Invalid UTF-8 in the
 * message becomes '?'.
 */
extern void log_emit(int level, const char *logger, const char *request_id, json_t *extra,
					 const char *fmt,...) __attribute__((format(printf, 5, 6)));

/*
 * The trace id (32 hex digits of a W3C traceparent) a line belongs to, given
 * its request_id (may be NULL); NULL: none. When set, every line gets a
 * "trace_id" field: the gateway answers with its thread's request, the
 * processor with the document being worked on.
 */
typedef const char *(*log_trace_fn) (const char *request_id);
extern void log_set_trace_source(log_trace_fn fn);

#define log_debug(logger, rid, ...) log_emit(LOG_DEBUG, logger, rid, NULL, __VA_ARGS__)
#define log_info(logger, rid, ...) log_emit(LOG_INFO, logger, rid, NULL, __VA_ARGS__)
#define log_warning(logger, rid, ...) log_emit(LOG_WARNING, logger, rid, NULL, __VA_ARGS__)
#define log_error(logger, rid, ...) log_emit(LOG_ERROR, logger, rid, NULL, __VA_ARGS__)

#endif
