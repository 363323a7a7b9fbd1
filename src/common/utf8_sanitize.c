/* utf8_sanitize.c: see utf8_sanitize.h. */
#include "utf8_sanitize.h"

#include <string.h>

/* length of the valid UTF-8 sequence at s, or 0 */
static size_t
utf8_seq(const unsigned char *s)
{
	size_t		n;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
	{
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		(cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void
utf8_sanitize(const char *s, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		j = 0;

	if (outsz == 0)
		return;
	while (*p)
	{
		size_t		n = utf8_seq(p);

		if (n == 0)
		{
			if (j + 1 >= outsz)
				break;
			out[j++] = '?';
			p++;
			continue;
		}
		if (j + n >= outsz)
			break;
		memcpy(out + j, p, n);
		j += n;
		p += n;
	}
	out[j] = '\0';
}
