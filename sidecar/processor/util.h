/* Small helpers shared by the extraction code: growable strings, UTF-8 folding. */
#ifndef IF_UTIL_H
#define IF_UTIL_H

#include <stddef.h>

typedef struct {
	char   *s;
	size_t  len, cap;
} sbuf;

void  sb_init(sbuf *b);
void  sb_putn(sbuf *b, const char *s, size_t n);
void  sb_puts(sbuf *b, const char *s);
void  sb_putc(sbuf *b, char c);
void  sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sb_steal(sbuf *b);		/* returns the string (never NULL), resets b */
void  sb_free(sbuf *b);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Trimmed copy (ASCII space, tabs, newlines, NBSP); NULL when s is NULL or only space. */
char *trim_dup(const char *s);
/* Collapse runs of white space into one space and trim; returns a new string. */
char *collapse_ws(const char *s);

/*
 * Fold UTF-8 text to lowercase ASCII for label matching: letters with diacritics
 * lose them (é -> e, ß -> ss, ü -> u), other non-ASCII code points become one
 * byte 0x01 ("€" stays distinguishable as 0x02).  map[i] is the byte offset in s
 * of the code point that produced out[i]; map[outlen] == strlen(s).
 * Caller frees *out and *map.
 */
size_t fold_text(const char *s, char **out, size_t **map);

/* Decode one UTF-8 code point at s; sets *len (>= 1). Invalid bytes yield U+FFFD. */
unsigned utf8_decode(const char *s, int *len);

int is_word_char(int c);	/* ASCII alnum or a byte >= 0x80 */

#endif
