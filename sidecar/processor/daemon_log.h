/*
 * daemon_log.h: the daemon's log, one line per event on stdout, written with a
 * single write(2). LOG_FORMAT=json gives the seed's shape (timestamp, level,
 * logger, message, service, request_id, then extra fields); text a readable
 * line. Same approach as the gateway's log.c.
 */
#ifndef IF_DAEMON_LOG_H
#define IF_DAEMON_LOG_H

#include <jansson.h>
#include <stdbool.h>

enum plog_level
{
	PLOG_DEBUG = 10,
	PLOG_INFO = 20,
	PLOG_WARNING = 30,
	PLOG_ERROR = 40,
	PLOG_CRITICAL = 50
};

void		plog_init(int level, bool json, const char *service);
/* "DEBUG", "info", "WARN"... -> level, or -1 */
int			plog_parse_level(const char *s);

/*
 * One line. request_id may be NULL; extra (may be NULL) is a JSON object whose
 * fields are added to the line; it is consumed (decref'd).
 */
void		plog(int level, const char *request_id, json_t *extra, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

/* A JSON string for an extra field from untrusted text (invalid UTF-8 -> '?'). */
json_t	   *plog_string(const char *s);

#endif
