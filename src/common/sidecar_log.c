/* sidecar_log.c: see sidecar_log.h. */
#include "sidecar_log.h"
#include "utf8_sanitize.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int	min_level = LOG_INFO;
static bool as_json = true;
static const char *service = "invoiceflow";
static log_trace_fn trace_fn = NULL;

void
log_set_trace_source(log_trace_fn fn)
{
	trace_fn = fn;
}

void
log_init(int level, bool json, const char *service_name)
{
	min_level = level;
	as_json = json;
	service = service_name;
}

int
log_parse_level(const char *s)
{
	static const struct
	{
		const char *name;
		int			level;
	}			names[] = {
		{"DEBUG", LOG_DEBUG}, {"INFO", LOG_INFO}, {"WARNING", LOG_WARNING},
		{"WARN", LOG_WARNING}, {"ERROR", LOG_ERROR}, {"CRITICAL", LOG_CRITICAL},
		{"FATAL", LOG_CRITICAL},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].level;
	return -1;
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

/* 2024-03-01T10:00:00.123Z */
static void
timestamp(char *buf, size_t sz)
{
	struct timespec ts;
	struct tm	tm;
	char		base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, sz, "%.20s.%03dZ", base, (int) (ts.tv_nsec / 1000000) % 1000);
}

void
log_emit(int level, const char *logger, const char *request_id, json_t *extra, const char *fmt,...)
{
	char		raw[2048];
	char		msg[sizeof(raw)];
	char		ts[40];
	va_list		ap;

	if (level < min_level)
	{
		json_decref(extra);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* the trace this line belongs to (W3C trace id), unless the caller named one */
	if (trace_fn && !(extra && json_object_get(extra, "trace_id")))
	{
		const char *tid = trace_fn(request_id);

		if (tid && tid[0] && (extra || (extra = json_object()) != NULL))
			json_object_set_new(extra, "trace_id", json_string(tid));
	}
	/* invalid UTF-8 (a client's file name) must not lose the line */
	utf8_sanitize(raw, msg, sizeof(msg));
	timestamp(ts, sizeof(ts));
	if (as_json)
	{
		json_t	   *o = json_object();
		char	   *line;

		json_object_set_new(o, "timestamp", json_string(ts));
		json_object_set_new(o, "level", json_string(level_name(level)));
		json_object_set_new(o, "logger", json_string(logger));
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

		n = snprintf(line, sizeof(line), "%s %-7s %s [%s] %s", ts, level_name(level), logger,
					 request_id ? request_id : "-", msg);
		if (extra)
		{
			json_object_foreach(extra, key, val)
			{
				char	   *s;

				if (n >= (int) sizeof(line) - 2)
					break;
				s = json_is_string(val) ? NULL : json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
				n += snprintf(line + n, sizeof(line) - n, " %s=%s", key, s ? s : json_string_value(val));
				free(s);
			}
		}
		if (n > (int) sizeof(line) - 2)
			n = sizeof(line) - 2;
		/* one line per event: no raw newlines from clients' values */
		for (int i = 0; i < n; i++)
			if (line[i] == '\n' || line[i] == '\r')
				line[i] = ' ';
		line[n++] = '\n';
		write_all(line, (size_t) n);
	}
	json_decref(extra);
}
