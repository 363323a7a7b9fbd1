/*
 * membuf.h: a growing byte buffer with a cap, for libcurl write callbacks and stdin.
 */
#ifndef MAIL_MEMBUF_H
#define MAIL_MEMBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct membuf
{
	unsigned char *data;		/* always NUL-terminated (data[len] == 0) when not NULL */
	size_t		len;
	size_t		cap;
	size_t		limit;			/* 0: no limit */
	bool		overflow;		/* a write went past limit */
};

extern bool membuf_append(struct membuf *b, const void *p, size_t n);
extern void membuf_reset(struct membuf *b);
extern void membuf_free(struct membuf *b);
/* reads the whole stream; false on a read error or past b->limit */
extern bool membuf_read_stream(struct membuf *b, FILE *f);

#endif
