/* daemon_log.c: see daemon_log.h. */
#include "daemon_log.h"
#include "../../src/common/utf8_sanitize.h"

#include <stdlib.h>
#include <string.h>

json_t *
plog_string(const char *s)
{
	size_t		n = strlen(s ? s : "") + 1;
	char	   *c = malloc(n);
	json_t	   *j;

	if (!c)
		return json_null();
	utf8_sanitize(s ? s : "", c, n);
	j = json_string(c);
	free(c);
	return j ? j : json_null();
}
