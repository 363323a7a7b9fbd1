/* log_line.c: see log_line.h. */
#include "log_line.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
log_line_write(bool as_json, const char *level, const char *logger, const char *service,
			   const char *request_id, const char *msg, json_t *extra)
{
	char		ts[40];

	timestamp(ts, sizeof(ts));
	if (as_json)
	{
		json_t	   *o = json_object();
		char	   *line;

		json_object_set_new(o, "timestamp", json_string(ts));
		json_object_set_new(o, "level", json_string(level));
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

		n = snprintf(line, sizeof(line), "%s %-7s %s [%s] %s", ts, level, logger,
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
}
