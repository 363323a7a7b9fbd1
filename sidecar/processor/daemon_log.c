/* daemon_log.c: one line per event on stdout (see daemon_log.h). */
#include "daemon_log.h"

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

static void
write_all(const char *s, size_t len)
{
	while (len > 0)
	{
		ssize_t		n = write(STDOUT_FILENO, s, len);

		if (n <= 0)
			return;
		s += n;
		len -= (size_t) n;
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
	char		msg[2048], ts[40], base[32];
	struct timespec now;
	struct tm	tm;
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
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts, sizeof ts, "%.20s.%03dZ", base, (int) (now.tv_nsec / 1000000) % 1000);

	if (as_json)
	{
		json_t	   *o = json_object();
		char	   *line;

		json_object_set_new(o, "timestamp", json_string(ts));
		json_object_set_new(o, "level", json_string(level_name(level)));
		json_object_set_new(o, "logger", json_string("processor"));
		json_object_set_new(o, "message", json_string(msg));
		json_object_set_new(o, "service", json_string(service));
		if (request_id)
			json_object_set_new(o, "request_id", json_string(request_id));
		if (extra)
			json_object_update_missing(o, extra);
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6));
		json_decref(o);
		if (line)
		{
			size_t		n = strlen(line);

			line[n] = '\n';		/* json_dumps' buffer has room for the NUL */
			write_all(line, n + 1);
			free(line);
		}
	}
	else
	{
		char		line[4096];
		int			n;
		const char *key;
		json_t	   *val;

		n = snprintf(line, sizeof line, "%s %-7s processor [%s] %s", ts, level_name(level),
					 request_id ? request_id : "-", msg);
		if (extra)
		{
			json_object_foreach(extra, key, val)
			{
				char	   *s;

				if (n >= (int) sizeof line - 2)
					break;
				s = json_is_string(val) ? NULL : json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
				n += snprintf(line + n, sizeof line - n, " %s=%s", key, s ? s : json_string_value(val));
				free(s);
			}
		}
		if (n > (int) sizeof line - 2)
			n = sizeof line - 2;
		for (int i = 0; i < n; i++)
			if (line[i] == '\n' || line[i] == '\r')
				line[i] = ' ';
		line[n++] = '\n';
		write_all(line, (size_t) n);
	}
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
