/*
 * log.h: structured log lines, one write(2) each, on stdout.
 * LOG_FORMAT=json gives the seed's shape: timestamp, level, logger, message,
 * service, request_id, then any extra fields; LOG_FORMAT=text a readable line.
 */
#ifndef GATEWAY_LOG_H
#define GATEWAY_LOG_H

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

void		log_init(int level, bool json, const char *service);
bool		log_enabled(int level);

/*
 * One line. request_id may be NULL; extra (may be NULL) is a JSON object whose
 * fields are added to the line; it is consumed (decref'd).
 */
void		log_emit(int level, const char *logger, const char *request_id, json_t *extra,
					 const char *fmt,...) __attribute__((format(printf, 5, 6)));

#define log_debug(logger, rid, ...) log_emit(LOG_DEBUG, logger, rid, NULL, __VA_ARGS__)
#define log_info(logger, rid, ...) log_emit(LOG_INFO, logger, rid, NULL, __VA_ARGS__)
#define log_warning(logger, rid, ...) log_emit(LOG_WARNING, logger, rid, NULL, __VA_ARGS__)
#define log_error(logger, rid, ...) log_emit(LOG_ERROR, logger, rid, NULL, __VA_ARGS__)

#endif
