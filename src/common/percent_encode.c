/*
 * percent_encode.c: RFC 3986 percent-encoding (see percent_encode.h).
 */
#include "percent_encode.h"

#include <stdlib.h>
#include <string.h>

static const char hexdigits[] = "0123456789ABCDEF";

bool
pe_is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool
kept(unsigned char c, bool keep_slash)
{
	return pe_is_unreserved(c) || (keep_slash && c == '/');
}

size_t
pe_encoded_size(const char *src, size_t len, bool keep_slash)
{
	size_t		n = 1;
	size_t		i;

	for (i = 0; i < len; i++)
		n += kept((unsigned char) src[i], keep_slash) ? 1 : 3;
	return n;
}

size_t
pe_encode(const char *src, size_t len, bool keep_slash, char *dst, size_t dst_size)
{
	size_t		o = 0;
	size_t		i;

	if (dst_size == 0)
		return (size_t) -1;
	if (pe_encoded_size(src, len, keep_slash) > dst_size)
	{
		dst[0] = '\0';
		return (size_t) -1;
	}
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) src[i];

		if (kept(c, keep_slash))
			dst[o++] = (char) c;
		else
		{
			dst[o++] = '%';
			dst[o++] = hexdigits[c >> 4];
			dst[o++] = hexdigits[c & 0x0f];
		}
	}
	dst[o] = '\0';
	return o;
}

char *
pe_encode_alloc(const char *src, bool keep_slash)
{
	size_t		len = strlen(src);
	size_t		size = pe_encoded_size(src, len, keep_slash);
	char	   *dst = malloc(size);

	if (dst == NULL)
		return NULL;
	(void) pe_encode(src, len, keep_slash, dst, size);
	return dst;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
pe_decode_alloc(const char *src, size_t *out_len)
{
	size_t		len = strlen(src);
	char	   *dst = malloc(len + 1);
	size_t		o = 0;
	size_t		i;

	if (dst == NULL)
		return NULL;
	for (i = 0; i < len; i++)
	{
		if (src[i] == '%')
		{
			int			hi,
						lo;

			if (len - i < 3)
			{
				free(dst);
				return NULL;
			}
			hi = hexval(src[i + 1]);
			lo = hi < 0 ? -1 : hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
			{
				free(dst);
				return NULL;
			}
			dst[o++] = (char) ((hi << 4) | lo);
			i += 2;
		}
		else
			dst[o++] = src[i];
	}
	dst[o] = '\0';
	if (out_len)
		*out_len = o;
	return dst;
}
