/*
 * membuf.c: see membuf.h.
 */
#include "membuf.h"

#include <stdlib.h>
#include <string.h>

bool
membuf_append(struct membuf *b, const void *p, size_t n)
{
	if (b->limit && b->len + n > b->limit)
	{
		b->overflow = true;
		return false;
	}
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 4096;
		unsigned char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL)
			return false;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

void
membuf_reset(struct membuf *b)
{
	b->len = 0;
	b->overflow = false;
	if (b->data)
		b->data[0] = '\0';
}

void
membuf_free(struct membuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->overflow = false;
}

bool
membuf_read_stream(struct membuf *b, FILE *f)
{
	char		chunk[65536];
	size_t		n;

	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (!membuf_append(b, chunk, n))
			return false;
	return !ferror(f);
}
