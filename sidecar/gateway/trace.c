/* trace.c: see trace.h. */
#include "trace.h"
#include "../../src/common/sidecar_log.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static _Thread_local char current_trace_id[TRACE_ID_LEN + 1];

static bool
lower_hex(const char *s, size_t n, bool *all_zero)
{
	*all_zero = true;
	for (size_t i = 0; i < n; i++)
	{
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
		if (s[i] != '0')
			*all_zero = false;
	}
	return true;
}

bool
traceparent_valid(const char *s)
{
	bool		zero;

	if (!s || strlen(s) != TRACEPARENT_LEN || strncmp(s, "00-", 3) != 0 || s[35] != '-' || s[52] != '-')
		return false;
	if (!lower_hex(s + 3, 32, &zero) || zero)
		return false;
	if (!lower_hex(s + 36, 16, &zero) || zero)
		return false;
	return lower_hex(s + 53, 2, &zero);
}

static void
random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char buf[16] = {0};

	/* getrandom() without GRND_NONBLOCK only fails before the pool is seeded at boot */
	if (getrandom(buf, (n + 1) / 2, 0) < 0)
		memset(buf, 0x5a, sizeof(buf));
	for (size_t i = 0; i < n; i++)
		out[i] = hex[(buf[i / 2] >> ((i % 2) ? 0 : 4)) & 0xf];
	if (strspn(out, "0") >= n)
		out[n - 1] = '1';		/* an all-zero id is invalid */
}

bool
traceparent_take(const char *header, char *out)
{
	if (traceparent_valid(header))
	{
		memcpy(out, header, TRACEPARENT_LEN + 1);
		return true;
	}
	memcpy(out, "00-", 3);
	random_hex(out + 3, 32);
	out[35] = '-';
	random_hex(out + 36, 16);
	memcpy(out + 52, "-01", 4);
	return false;
}

void
trace_set_current(const char *traceparent)
{
	if (traceparent && strlen(traceparent) >= 35)
	{
		memcpy(current_trace_id, traceparent + 3, TRACE_ID_LEN);
		current_trace_id[TRACE_ID_LEN] = '\0';
	}
	else
		current_trace_id[0] = '\0';
}

static const char *
current(const char *request_id)
{
	(void) request_id;
	return current_trace_id[0] ? current_trace_id : NULL;
}

void
trace_init_logging(void)
{
	log_set_trace_source(current);
}
