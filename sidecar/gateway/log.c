/*
 * log.c: one line per event on stdout, written with a single write(2) so that
 * lines from concurrent request threads never interleave.
 */
#include "log.h"
#include "problem.h"
#include "../../src/common/log_line.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int	min_level = LOG_INFO;
static bool as_json = true;
static const char *service = "invoiceflow-gateway";

void
log_init(int level, bool json, const char *service_name)
{
	min_level = level;
	as_json = json;
	service = service_name;
}

bool
log_enabled(int level)
{
	return level >= min_level;
}

static const char *
level_name(int level)
{
	switch (level)
	{
		case LOG_DEBUG:
			return "DEBUG";
		case LOG_INFO:
			return "INFO";
		case LOG_WARNING:
			return "WARNING";
		case LOG_ERROR:
			return "ERROR";
		default:
			return "CRITICAL";
	}
}

void
log_emit(int level, const char *logger, const char *request_id, json_t *extra,
		 const char *fmt,...)
{
	char		msg[2048];
	char		clean[sizeof(msg)];
	va_list		ap;

	if (level < min_level)
	{
		json_decref(extra);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* invalid UTF-8 (a client's file name) must not lose the line */
	utf8_sanitize(msg, clean, sizeof(clean));
	log_line_write(as_json, level_name(level), logger, service, request_id, clean, extra);
	json_decref(extra);
}
