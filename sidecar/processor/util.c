#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) { fputs("out of memory\n", stderr); abort(); }
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p) { fputs("out of memory\n", stderr); abort(); }
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) { fputs("out of memory\n", stderr); abort(); }
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *r = xmalloc(n + 1);
	memcpy(r, s, n);
	r[n] = 0;
	return r;
}

char *xstrdup(const char *s)
{
	return s ? xstrndup(s, strlen(s)) : NULL;
}

void sb_init(sbuf *b) { b->s = NULL; b->len = b->cap = 0; }

void sb_putn(sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t c = b->cap ? b->cap * 2 : 64;
		while (c < b->len + n + 1) c *= 2;
		b->s = xrealloc(b->s, c);
		b->cap = c;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }
void sb_putc(sbuf *b, char c) { sb_putn(b, &c, 1); }

void sb_printf(sbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if ((size_t) n < sizeof tmp) { sb_putn(b, tmp, n); return; }
	char *big = xmalloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(big, n + 1, fmt, ap);
	va_end(ap);
	sb_putn(b, big, n);
	free(big);
}

char *sb_steal(sbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");
	sb_init(b);
	return s;
}

void sb_free(sbuf *b) { free(b->s); sb_init(b); }

static int is_space_at(const char *s, int *len)
{
	unsigned char c = (unsigned char) *s;
	if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') { *len = 1; return 1; }
	if (c == 0xC2 && (unsigned char) s[1] == 0xA0) { *len = 2; return 1; }
	if (c == 0xE2 && (unsigned char) s[1] == 0x80 &&
		((unsigned char) s[2] == 0xAF || ((unsigned char) s[2] >= 0x80 && (unsigned char) s[2] <= 0x8A))) { *len = 3; return 1; }
	return 0;
}

char *collapse_ws(const char *s)
{
	sbuf b; sb_init(&b);
	int pending = 0;
	while (*s) {
		int l;
		if (is_space_at(s, &l)) { pending = 1; s += l; continue; }
		if (pending && b.len) sb_putc(&b, ' ');
		pending = 0;
		sb_putc(&b, *s++);
	}
	return sb_steal(&b);
}

char *trim_dup(const char *s)
{
	if (!s) return NULL;
	char *r = collapse_ws(s);
	if (!*r) { free(r); return NULL; }
	return r;
}

unsigned utf8_decode(const char *p, int *len)
{
	const unsigned char *s = (const unsigned char *) p;
	if (s[0] < 0x80) { *len = 1; return s[0]; }
	if ((s[0] & 0xE0) == 0xC0 && (s[1] & 0xC0) == 0x80) { *len = 2; return ((s[0] & 0x1F) << 6) | (s[1] & 0x3F); }
	if ((s[0] & 0xF0) == 0xE0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80) {
		*len = 3; return ((s[0] & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
	}
	if ((s[0] & 0xF8) == 0xF0 && (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80) {
		*len = 4; return ((s[0] & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
	}
	*len = 1;
	return 0xFFFD;
}

/* Latin-1 supplement and Latin Extended-A letters without their marks. */
static const char *fold_cp(unsigned cp)
{
	static const char *lat1[64] = {
		"a","a","a","a","a","a","ae","c","e","e","e","e","i","i","i","i",
		"d","n","o","o","o","o","o","x","o","u","u","u","u","y","th","ss",
		"a","a","a","a","a","a","ae","c","e","e","e","e","i","i","i","i",
		"d","n","o","o","o","o","o","/","o","u","u","u","u","y","th","y" };
	if (cp >= 0xC0 && cp <= 0xFF) return lat1[cp - 0xC0];
	if (cp >= 0x100 && cp <= 0x17F) {
		static const char ext[] = "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkkllllllllllnnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
		static char one[2];
		one[0] = ext[cp - 0x100]; one[1] = 0;
		return one;
	}
	switch (cp) {
	case 0xA0: case 0x2000: case 0x2001: case 0x2002: case 0x2003: case 0x2004: case 0x2005:
	case 0x2006: case 0x2007: case 0x2008: case 0x2009: case 0x200A: case 0x202F: return " ";
	case 0xB0: return "o";		/* degree sign, used as in n° */
	case 0xBA: return "o";		/* masculine ordinal, nº */
	case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014: case 0x2212: return "-";
	case 0x2018: case 0x2019: case 0x201A: case 0x2032: return "'";
	case 0x201C: case 0x201D: case 0x201E: return "\"";
	case 0x20AC: return "\x02";	/* euro sign */
	case 0xA3: return "\x03";	/* pound */
	case 0x20B9: return "\x04";	/* rupee */
	case 0xA5: return "\x05";	/* yen */
	case 0xFB01: return "fi";
	case 0xFB02: return "fl";
	}
	return "\x01";
}

size_t fold_text(const char *s, char **out, size_t **map)
{
	size_t n = strlen(s);
	char *o = xmalloc(n * 2 + 1);
	size_t *m = xmalloc((n * 2 + 1) * sizeof *m);
	size_t oi = 0, i = 0;
	while (i < n) {
		int l;
		unsigned cp = utf8_decode(s + i, &l);
		if (cp < 0x80) {
			o[oi] = (char) tolower((int) cp);
			m[oi++] = i;
		} else {
			const char *f = fold_cp(cp);
			for (; *f; f++) { o[oi] = *f; m[oi++] = i; }
		}
		i += l;
	}
	o[oi] = 0;
	m[oi] = n;
	*out = o;
	*map = m;
	return oi;
}

int is_word_char(int c)
{
	return isalnum(c) || (c & 0x80);
}
