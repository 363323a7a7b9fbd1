/* daemon_log.c: one line per event on stdout (see daemon_log.h). */
#include "daemon_log.h"
#include "../../src/common/log_line.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int	min_level = PLOG_INFO;
static bool as_json = true;
static const char *service = "invoiceflow-processor";

void
plog_init(int level, bool json, const char *service_name)
{
	min_level = level;
	as_json = json;
	service = service_name;
}

int
plog_parse_level(const char *s)
{
	static const struct { const char *name; int level; } names[] = {
		{"DEBUG", PLOG_DEBUG}, {"INFO", PLOG_INFO}, {"WARNING", PLOG_WARNING},
		{"WARN", PLOG_WARNING}, {"ERROR", PLOG_ERROR}, {"CRITICAL", PLOG_CRITICAL},
		{"FATAL", PLOG_CRITICAL},
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].level;
	return -1;
}

static const char *
level_name(int level)
{
	switch (level)
	{
		case PLOG_DEBUG: return "DEBUG";
		case PLOG_INFO: return "INFO";
		case PLOG_WARNING: return "WARNING";
		case PLOG_ERROR: return "ERROR";
		default: return "CRITICAL";
	}
}

/* Invalid UTF-8 (a user's file name) becomes '?', so jansson keeps the line. */
static void
utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *) s;

	while (*p)
	{
		int			n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
		int			ok = n > 0;

		for (int i = 1; ok && i < n; i++)
			ok = (p[i] & 0xC0) == 0x80;
		if (!ok)
		{
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

void
plog(int level, const char *request_id, json_t *extra, const char *fmt,...)
{
	char		msg[2048];
	va_list		ap;

	if (level < min_level)
	{
		json_decref(extra);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	utf8_clean(msg);
	log_line_write(as_json, level_name(level), "processor", service, request_id, msg, extra);
	json_decref(extra);
}

json_t *
plog_string(const char *s)
{
	char	   *c = strdup(s ? s : "");
	json_t	   *j;

	if (!c)
		return json_null();
	utf8_clean(c);
	j = json_string(c);
	free(c);
	return j ? j : json_null();
}
