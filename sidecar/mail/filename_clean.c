/*
 * filename_clean.c: see filename_clean.h. ingest() refuses names that are empty,
 * over 255 bytes, or hold control characters or path separators; a sender's
 * attachment name may be any of those, so it is cleaned here instead of refused.
 */
#include "filename_clean.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "utf8_sanitize.h"

/* Length of the UTF-8 sequence that starts with byte c (input is valid UTF-8). */
static size_t
seq_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xE0) == 0xC0)
		return 2;
	if ((c & 0xF0) == 0xE0)
		return 3;
	return 4;
}

/* Truncates s (valid UTF-8) to at most max bytes, on a character boundary. */
static size_t
utf8_prefix(const char *s, size_t len, size_t max)
{
	size_t		i = 0;

	while (i < len)
	{
		size_t		n = seq_len((unsigned char) s[i]);

		if (i + n > max)
			break;
		i += n;
	}
	return i;
}

void
filename_clean(const char *name, const char *fallback, char *out, size_t outsz)
{
	char		valid[1024];
	char		clean[1024];
	const char *base;
	size_t		n = 0,
				len;

	if (name == NULL)
		name = "";
	utf8_sanitize(name, valid, sizeof(valid));

	/* the last path component: senders' clients put paths in names */
	base = valid;
	for (const char *p = valid; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;

	/* control characters (C0, DEL, and C1 as U+0080..U+009F) become '_' */
	for (const unsigned char *p = (const unsigned char *) base; *p && n < sizeof(clean) - 1;)
	{
		if (*p < 0x20 || *p == 0x7F)
		{
			clean[n++] = '_';
			p++;
		}
		else if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
		{
			clean[n++] = '_';
			p += 2;
		}
		else
		{
			size_t		k = seq_len(*p);

			if (n + k >= sizeof(clean))
				break;
			memcpy(clean + n, p, k);
			n += k;
			p += k;
		}
	}
	clean[n] = '\0';

	/* no surrounding blanks */
	{
		char	   *s = clean;

		while (*s == ' ' || *s == '\t')
			s++;
		len = strlen(s);
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		memmove(clean, s, len);
		clean[len] = '\0';
	}

	if (len == 0 || strcmp(clean, ".") == 0 || strcmp(clean, "..") == 0)
	{
		snprintf(out, outsz, "%s", fallback);
		return;
	}

	if (len > MAIL_FILENAME_MAX)
	{
		/* keep a short extension (".pdf") and cut the stem */
		const char *dot = strrchr(clean, '.');
		size_t		ext = dot ? strlen(dot) : 0;

		if (ext == 0 || ext > 16)
			len = utf8_prefix(clean, len, MAIL_FILENAME_MAX);
		else
		{
			size_t		stem = utf8_prefix(clean, (size_t) (dot - clean), MAIL_FILENAME_MAX - ext);

			memmove(clean + stem, dot, ext);
			len = stem + ext;
		}
		clean[len] = '\0';
	}
	snprintf(out, outsz, "%s", clean);
}
