/*
 * request_id.c: correlation ids and UUID text.
 */
#include "request_id.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

bool
request_id_acceptable(const char *s)
{
	size_t		n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
	{
		unsigned char c = (unsigned char) s[n];

		if (n >= REQUEST_ID_MAX)
			return false;
		if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '+' ||
			  c == '=' || c == '/'))
			return false;
	}
	return n > 0;
}

void
uuid_generate_v4(char *out)
{
	unsigned char b[16];
	size_t		got = 0;

	while (got < sizeof(b))
	{
		ssize_t		n = getrandom(b + got, sizeof(b) - got, 0);

		if (n <= 0)
		{
			/* cannot happen on Linux >= 3.17; never leave the id unset */
			uint64_t	t = (uint64_t) time(NULL) ^ (uint64_t) (uintptr_t) out;

			for (; got < sizeof(b); got++, t = t * 6364136223846793005ULL + 1)
				b[got] = (unsigned char) (t >> 56);
			break;
		}
		got += (size_t) n;
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, UUID_TEXT_LEN + 1,
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
			 b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool
uuid_parse(const char *s, char *out)
{
	if (!s)
		return false;
	for (int i = 0; i < UUID_TEXT_LEN; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (c != '-')
				return false;
		}
		else if (!isxdigit(c))
			return false;
		out[i] = (char) tolower(c);
	}
	if (s[UUID_TEXT_LEN] != '\0')
		return false;
	out[UUID_TEXT_LEN] = '\0';
	return true;
}
