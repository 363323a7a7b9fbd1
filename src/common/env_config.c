/* env_config.c: see env_config.h. */
#include "env_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *
envc_get(const char *name)
{
	const char *v = getenv(name);

	return (v && *v) ? v : NULL;
}

bool
envc_int(const char *name, int def, int min, int max, int *out, char *err, size_t errsz)
{
	const char *v = envc_get(name);
	char	   *end;
	long		n;

	*out = def;
	if (!v)
		return true;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < min || n > max)
	{
		snprintf(err, errsz, "%s must be an integer from %d to %d, not \"%s\"", name, min, max, v);
		return false;
	}
	*out = (int) n;
	return true;
}

int
envc_parse_bool(const char *s)
{
	if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
		return 1;
	if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no") || !strcasecmp(s, "off"))
		return 0;
	return -1;
}

bool
envc_bool(const char *name, bool def, bool *out, char *err, size_t errsz)
{
	const char *v = envc_get(name);
	int			b;

	*out = def;
	if (!v)
		return true;
	if ((b = envc_parse_bool(v)) < 0)
	{
		snprintf(err, errsz, "%s must be true or false, not \"%s\"", name, v);
		return false;
	}
	*out = b;
	return true;
}
