/* A reading's quality without a dictionary: the share of its characters in tokens
 * that look like printed words.  Misreadings of an OCR layer make tokens no typesetter
 * prints: '!' or '|' between letters ("Consu!t!ng"), letters of another script amid
 * Latin ones ("mOTEL ОПЕ", an Arabic digit in "1٥ 11"), a lower-case letter followed
 * by a capital inside a word ("sterConsul"), letters glued to symbols ("z!mmer",
 * "Fre!dbchstrasse").  Numbers, amounts, dates, identifiers (letters and digits) and
 * words in lower, upper or title case are well-formed (a capital may end a word: "GmbH").
 * An OCR engine that cannot read an image still writes word-like tokens ("Immnipe Mo"
 * for "Invoice No" at 40 dpi), and says so in its confidences: words of a segment our
 * OCR read with a mean confidence under OCR_UNSURE count as misread. */
#include "layer_quality.h"

#include <ctype.h>
#include <string.h>

#define OCR_UNSURE 0.6f

/* characters a token may hold beside letters and digits: separators of numbers,
 * dates, identifiers, e-mail and web addresses, currency signs */
static int allowed_symbol(const unsigned char *p, size_t left, size_t *adv)
{
	*adv = 1;
	if (strchr(".,-/&@+%#'_:", *p)) return 1;
	/* € (E2 82 AC), £ (C2 A3), ° (C2 B0) */
	if (left >= 3 && p[0] == 0xE2 && p[1] == 0x82 && p[2] == 0xAC) { *adv = 3; return 1; }
	if (left >= 2 && p[0] == 0xC2 && (p[1] == 0xA3 || p[1] == 0xB0)) { *adv = 2; return 1; }
	return 0;
}

/* A Latin letter: ASCII, or a two-byte letter of Latin-1 Supplement / Extended-A
 * (lead bytes C3-C5, except the multiplication and division signs). */
static int latin_letter(const unsigned char *p, size_t left, size_t *adv, int *lower, int *upper)
{
	*adv = 1;
	*lower = *upper = 0;
	if (isalpha(*p)) { *lower = islower(*p) != 0; *upper = isupper(*p) != 0; return 1; }
	if (left >= 2 && p[0] >= 0xC3 && p[0] <= 0xC5 && (p[1] & 0xC0) == 0x80) {
		*adv = 2;
		if (p[0] == 0xC3 && (p[1] == 0x97 || p[1] == 0xB7)) return 0;
		/* Latin-1: C3 80-9E capitals, 9F-BF small; Extended-A alternates: even = capital */
		if (p[0] == 0xC3) { *upper = p[1] < 0x9F; *lower = !*upper; }
		else { *upper = (p[1] & 1) == 0; *lower = !*upper; }
		return 1;
	}
	return 0;
}

int token_well_formed(const char *tok, size_t len)
{
	const unsigned char *p = (const unsigned char *) tok;
	size_t i = 0;
	int prev_lower = 0;
	while (i < len) {
		size_t adv;
		int lo, up;
		if (latin_letter(p + i, len - i, &adv, &lo, &up)) {
			/* "sterConsul", "mOTEL"; a capital that ends the word is an abbreviation ("GmbH") */
			if (prev_lower && up && !(i + adv >= len || !isalpha(p[i + adv]))) return 0;
			prev_lower = lo;
			i += adv;
			continue;
		}
		if (isdigit(p[i])) { prev_lower = 0; i++; continue; }
		if (allowed_symbol(p + i, len - i, &adv)) {
			/* separators join words and numbers ("Berlin-Mitte", "B.V.", "R&D", "80,50");
			 * '!' and '|' are not among them */
			prev_lower = 0;
			i += adv;
			continue;
		}
		return 0;	/* another script, '!' inside a word, a stray symbol */
	}
	return 1;
}

/* leading and trailing punctuation is not part of the word: "(EUR)", "Datum:", "80,50)" */
static int edge_punct(unsigned char c)
{
	return c && strchr(".,:;()[]{}\"'*!?-/|<>", c) != NULL;
}

double layer_quality(const tlayout *l, int pg, int from_ocr, int *chars)
{
	size_t good = 0, all = 0;
	for (size_t s = 0; s < l->nsegs; s++) {
		const tseg *g = &l->segs[s];
		if (g->page != pg || (g->ocr != 0) != (from_ocr != 0)) continue;
		const char *t = g->text;
		int unsure = g->ocr && g->conf_mean < OCR_UNSURE;
		while (*t) {
			while (*t == ' ') t++;
			const char *e = t;
			while (*e && *e != ' ') e++;
			const char *a = t, *b = e;
			while (a < b && edge_punct((unsigned char) *a)) a++;
			while (b > a && edge_punct((unsigned char) b[-1])) b--;
			size_t n = (size_t) (b - a);
			if (n) {
				all += n;
				if (!unsure && token_well_formed(a, n)) good += n;
			}
			t = e;
		}
	}
	if (chars) *chars = (int) all;
	return all ? (double) good / (double) all : 0;
}
