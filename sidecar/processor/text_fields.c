/*
 * Invoice fields from positioned text.
 *
 * 1. Every segment is folded (lowercase, no diacritics) and searched for labels
 *    of six languages (labels.h).  Overlapping matches keep the longest label, so
 *    "exclusief btw" (net) hides "btw" (tax) and "kundennr" (ignored) hides "nr".
 * 2. A label's value is looked for in the rest of its segment, then in the
 *    segments to its right on the same row, then in the segment just below
 *    (column headers, "Invoice Date:" over "03/20/2023").
 * 3. Amount candidates are combined so that net + tax = total where possible;
 *    a missing one is derived from the other two.
 * 4. Parties: a seller/buyer label, the sender line of a window envelope
 *    ("ACME GmbH - Street 1 - 12345 City"), a name carrying a legal form in the
 *    letterhead, name-over-address blocks in reading order, the first line.
 * No rule knows a particular vendor or file.
 */
#include "text_fields.h"
#include "text_lines.h"
#include "labels.h"
#include "parsers.h"
#include "rules.h"
#include "tax_table.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
	int    seg;
	size_t start, end;		/* folded offsets */
	int    type, weight, flags;
	int    cont;		/* the segment below holding the label's last words (wrapped label), else -1 */
} lmatch;

typedef struct {
	const tlayout *l;
	char   **fold;
	size_t **map;
	size_t  *flen;
	lmatch  *m;
	size_t   nm;
	int      us;
	int      tax_amount_seen;
	unsigned char *buyer_region;	/* per segment */
} tctx;

typedef struct {
	char   value[64];
	long long cents;
	double weight;
	int    seg;
	int    below;		/* found under a column header: only trusted in a consistent triple */
} cand;

typedef struct { cand *v; size_t n, cap; } candvec;

static void cv_push(candvec *cv, const char *value, double w, int seg, int below)
{
	if (cv->n == cv->cap) {
		cv->cap = cv->cap ? cv->cap * 2 : 16;
		cv->v = xrealloc(cv->v, cv->cap * sizeof *cv->v);
	}
	cand *c = &cv->v[cv->n++];
	memset(c, 0, sizeof *c);
	snprintf(c->value, sizeof c->value, "%s", value);
	amount_cents(value, &c->cents);
	c->weight = w;
	c->seg = seg;
	c->below = below;
}

/* ------------------------------------------------------------------ */
/* label matching                                                      */

static int cmp_len_desc(const void *a, const void *b)
{
	const lmatch *x = a, *y = b;
	size_t lx = x->end - x->start, ly = y->end - y->start;
	if (lx != ly) return lx > ly ? -1 : 1;
	if (x->seg != y->seg) return x->seg - y->seg;
	return (int) x->start - (int) y->start;
}

static int cmp_pos(const void *a, const void *b)
{
	const lmatch *x = a, *y = b;
	if (x->seg != y->seg) return x->seg - y->seg;
	return (int) x->start - (int) y->start;
}

/* The segment right under s that starts where s starts (the next line of its block), or -1. */
static int next_line_of_block(tctx *c, int s)
{
	const tlayout *l = c->l;
	const tseg *a = &l->segs[s];
	float lh = a->y1 - a->y0 > 4 ? a->y1 - a->y0 : (a->size > 0 ? a->size : 10);
	float tol = a->size > 0 ? a->size : 10;
	for (size_t r = (size_t) a->row + 1; r < l->nrows && r <= (size_t) a->row + 2; r++) {
		const trow *row = &l->rows[r];
		if (row->page != a->page) return -1;
		for (int j = 0; j < row->n; j++) {
			const tseg *b = &l->segs[row->first + j];
			if (b->y0 - a->y1 > 0.8f * lh) return -1;
			if (fabsf(b->x0 - a->x0) < tol && b->y0 > a->y0 + 0.5f * lh) return row->first + j;
		}
	}
	return -1;
}

/*
 * A long amount label wrapped in a narrow column: "TRADE RECEIVABLES INCL." over "VAT",
 * "Gesamtbetrag" over "inkl. MwSt."  When the line under a segment (same block, left
 * edges aligned) holds nothing but the end of an amount label that begins in the
 * segment, the two lines are one label: its amount is right of either line (label_amount).
 * The shorter labels inside it ("VAT" alone: a tax label) give way.
 */
static size_t wrapped_labels(tctx *c, lmatch **keep, size_t nk)
{
	if (!rule_on(R_WRAPPED_LABEL)) return nk;
	const tlayout *l = c->l;
	const int amount_types = (1 << LT_TOTAL) | (1 << LT_NET) | (1 << LT_TAX) | (1 << LT_DUEAMT);
	for (size_t s = 0; s < l->nsegs; s++) {
		int b = next_line_of_block(c, (int) s);
		if (b < 0) continue;
		const char *fb = c->fold[b];
		size_t lb = strlen(fb);
		while (lb && (fb[lb - 1] == ':' || fb[lb - 1] == ' ' || fb[lb - 1] == '.')) lb--;
		if (lb == 0 || lb > 30 || strpbrk(fb, "0123456789")) continue;	/* only words: the label's tail */
		size_t la = strlen(c->fold[s]);
		char *j = xmalloc(la + lb + 2);
		memcpy(j, c->fold[s], la);
		j[la] = ' ';
		memcpy(j + la + 1, fb, lb);
		j[la + 1 + lb] = 0;
		/* the longest amount label that starts in s and ends exactly at the end of b's words */
		int best = -1; size_t bst = 0;
		for (int k = 0; text_labels[k].text; k++) {
			const text_label *t = &text_labels[k];
			if (!((1 << t->type) & amount_types)) continue;
			size_t ll = strlen(t->text);
			if (ll > la + 1 + lb) continue;
			size_t st = la + 1 + lb - ll;
			if (st >= la || strncmp(j + st, t->text, ll) != 0) continue;
			if (st > 0 && isalnum((unsigned char) j[st - 1])) continue;
			if (best < 0 || ll > strlen(text_labels[best].text)) { best = k; bst = st; }
		}
		free(j);
		if (best < 0) continue;
		size_t blen = la + 1 + lb - bst;
		/* a longer label already read inside s over the same words keeps its place */
		int longer = 0;
		for (size_t i = 0; i < nk && !longer; i++)
			if (keep[0][i].seg == (int) s && keep[0][i].end > bst && keep[0][i].end - keep[0][i].start >= blen) longer = 1;
		if (longer) continue;
		size_t w = 0;
		for (size_t i = 0; i < nk; i++) {
			const lmatch *m = &keep[0][i];
			if (m->seg == b || (m->seg == (int) s && m->end > bst)) continue;
			keep[0][w++] = *m;
		}
		nk = w;
		*keep = xrealloc(*keep, (nk + 1) * sizeof **keep);
		lmatch *m = &keep[0][nk++];
		m->seg = (int) s; m->start = bst; m->end = la;
		m->type = text_labels[best].type; m->weight = text_labels[best].weight;
		m->flags = text_labels[best].flags; m->cont = b;
	}
	return nk;
}

static void find_labels(tctx *c)
{
	const tlayout *l = c->l;
	size_t cap = 64, n = 0;
	lmatch *all = xmalloc(cap * sizeof *all);
	for (size_t s = 0; s < l->nsegs; s++) {
		const char *f = c->fold[s];
		for (int k = 0; text_labels[k].text; k++) {
			const char *lab = text_labels[k].text;
			size_t ll = strlen(lab);
			const char *p = f;
			while ((p = strstr(p, lab)) != NULL) {
				size_t st = (size_t) (p - f), en = st + ll;
				int okb = st == 0 || !isalnum((unsigned char) f[st - 1]);
				int oka = !isalpha((unsigned char) f[en]) || !isalnum((unsigned char) lab[ll - 1]);
				if (okb && oka) {
					if (n == cap) { cap *= 2; all = xrealloc(all, cap * sizeof *all); }
					all[n].seg = (int) s; all[n].start = st; all[n].end = en;
					all[n].type = text_labels[k].type; all[n].weight = text_labels[k].weight;
					all[n].flags = text_labels[k].flags;
					n++;
				}
				p += 1;
			}
		}
	}
	qsort(all, n, sizeof *all, cmp_len_desc);
	lmatch *keep = xmalloc((n + 1) * sizeof *keep);
	size_t nk = 0;
	for (size_t i = 0; i < n; i++) {
		int clash = 0;
		for (size_t j = 0; j < nk && !clash; j++)
			if (keep[j].seg == all[i].seg && all[i].start < keep[j].end && keep[j].start < all[i].end) clash = 1;
		if (!clash) keep[nk++] = all[i];
	}
	free(all);
	for (size_t i = 0; i < nk; i++) keep[i].cont = -1;
	nk = wrapped_labels(c, &keep, nk);
	qsort(keep, nk, sizeof *keep, cmp_pos);
	c->m = keep;
	c->nm = nk;
}

/* Original-text pointer for folded offset off of segment s. */
static const char *orig_at(tctx *c, int s, size_t off)
{
	if (off > c->flen[s]) off = c->flen[s];
	return c->l->segs[s].text + c->map[s][off];
}

/* Skip separators between a label and its value. */
static const char *skip_sep(const char *p)
{
	for (;;) {
		if (*p == ' ' || *p == ':' || *p == '#' || *p == '=' || *p == '.' || *p == '*' || *p == '|')
			p++;
		else if (*p == '-' && p[1] == ' ')
			p++;
		else if ((unsigned char) p[0] == 0xC2 && ((unsigned char) p[1] == 0xB0 || (unsigned char) p[1] == 0xBA || (unsigned char) p[1] == 0xA0))
			p += 2;		/* °, º, NBSP */
		else if ((unsigned char) p[0] == 0xEF && (unsigned char) p[1] == 0xBC && (unsigned char) p[2] == 0x9A)
			p += 3;		/* full-width colon */
		else
			break;
	}
	return p;
}

/* Is there a label match of one of the amount types starting in segment s? */
static const lmatch *label_in_seg(tctx *c, int s, size_t from, int types_mask)
{
	for (size_t i = 0; i < c->nm; i++)
		if (c->m[i].seg == s && c->m[i].start >= from && ((1 << c->m[i].type) & types_mask)) return &c->m[i];
	return NULL;
}

static int same_column(const tseg *a, const tseg *b)
{
	float tol = 2.0f * (a->size > 0 ? a->size : 10);
	if (b->x0 <= a->x1 + 1 && a->x0 <= b->x1 + 1) return 1;
	return fabsf(a->x0 - b->x0) < tol;
}

/* k-th (0-based) segment below s in the same column within maxrows rows. */
static int seg_below(tctx *c, int s, int maxrows, int k)
{
	const tlayout *l = c->l;
	const tseg *a = &l->segs[s];
	int found = 0;
	/* within maxrows line heights below, however many rows of other columns lie between */
	float limit = a->y1 + (maxrows + 0.5f) * 1.3f * (a->y1 - a->y0 > 4 ? a->y1 - a->y0 : a->size);
	for (size_t r = (size_t) a->row + 1; r < l->nrows; r++) {
		const trow *row = &l->rows[r];
		if (row->page != a->page || row->y0 > limit) break;
		int best = -1;
		for (int j = 0; j < row->n; j++) {
			const tseg *b = &l->segs[row->first + j];
			if (same_column(a, b)) { best = row->first + j; break; }
		}
		if (best >= 0) {
			if (found == k) return best;
			found++;
		}
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* value parsers                                                       */

static int token_number(const char *s, char *out, size_t outsz)
{
	s = skip_sep(s);
	/* "No." / "Nr." / "number" words between the label and the value */
	static const char *fill[] = { "no.", "no ", "nr.", "nr ", "number ", "nummer ", "numero ", "num. ", NULL };
	for (int i = 0; fill[i]; i++)
		if (strncasecmp(s, fill[i], strlen(fill[i])) == 0) { s = skip_sep(s + strlen(fill[i])); break; }
	size_t n = 0;
	while (s[n] && s[n] != ' ' && n < 60) n++;
	while (n && (s[n - 1] == ',' || s[n - 1] == ';' || s[n - 1] == ':' || s[n - 1] == '.' || s[n - 1] == ')')) n--;
	if (n < 3 || n > 40) return 0;
	int digits = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char) s[i];
		if (isdigit(ch)) digits++;
		else if (!isalpha(ch) && ch != '/' && ch != '-' && ch != '_' && ch != '.') return 0;
	}
	if (!digits) return 0;
	char tok[64];
	memcpy(tok, s, n); tok[n] = 0;
	char tmp[64];
	if (date_scan(tok, 0, tmp) == n) return 0;	/* a date, not a number ("2024-03-10t172205" is more) */
	if (amount_scan(tok, 1, tmp, sizeof tmp) == n) return 0;
	/* "HA007 - 123123 - 37816396", "083 -72561": an identifier in parts joined by hyphens
	 * with spaces around them (as printed, or as OCR spaced them) is one number */
	const char *p = s + n;
	size_t tl = n;
	while (rule_on(R_NUMBER_PARTS) && tl < sizeof tok - 1) {
		const char *q = p;
		while (*q == ' ') q++;
		if (*q != '-' || (q == p && q[1] != ' ')) break;	/* "X-Y" was read whole; "X -Y", "X - Y" */
		q++;
		while (*q == ' ') q++;
		size_t m = 0, md = 0;
		while (q[m] && (isalnum((unsigned char) q[m]) || q[m] == '/') && m < 30) md += isdigit((unsigned char) q[m++]) != 0;
		if (m < 2 || !md || isalpha((unsigned char) q[m]) || tl + 1 + m >= sizeof tok) break;
		if (date_scan(q, 0, tmp) >= m) break;	/* "Nr. 12 - 05.07.2019": a date follows */
		tok[tl++] = '-';
		memcpy(tok + tl, q, m);
		tl += m;
		tok[tl] = 0;
		p = q + m;
	}
	snprintf(out, outsz, "%s", tok);
	return 1;
}

static int value_date(tctx *c, const char *s, char out[11])
{
	s = skip_sep(s);
	static const char *fill[] = { "le ", "du ", "on ", "am ", "vom ", "den ", "the ", "il ", "el ", "op ", "zum ", "bis ", NULL };
	for (int k = 0; k < 2; k++)
		for (int i = 0; fill[i]; i++)
			if (strncasecmp(s, fill[i], strlen(fill[i])) == 0) { s = skip_sep(s + strlen(fill[i])); break; }
	return date_scan(s, c->us, out) > 0;
}

/* Amounts in s (in order); returns how many were stored. */
static int amounts_in(const char *s, char vals[][64], int max)
{
	int n = 0;
	for (size_t i = 0; s[i] && n < max; i++) {
		if (i > 0) {
			unsigned char p = (unsigned char) s[i - 1];
			if (isalnum(p) || p == '.' || p == ',' || p == '/' || p == '-' || p == '\'') continue;
		}
		char v[64];
		size_t len = amount_scan(s + i, 1, v, sizeof v);
		if (!len && rule_on(R_CURRENCY_AMOUNT)) {
			/* "25€", "€ 25", "$48": a currency sign makes a whole number an amount */
			len = amount_scan(s + i, 0, v, sizeof v);
			if (len) {
				char code[4];
				int sign_before = !isdigit((unsigned char) s[i]) && s[i] != '-' && s[i] != '(';
				const char *a = s + i + len;
				while (*a == ' ') a++;
				int sign_after = (unsigned char) *a >= 0x80 || *a == '$';
				if (!(sign_before || (sign_after && currency_scan(a, code)))) len = 0;
			}
		}
		if (!len) continue;
		size_t j = i + len;
		while (s[j] == ' ') j++;
		if (s[j] == '%') { i += len - 1; continue; }
		snprintf(vals[n++], 64, "%s", v);
		i += len - 1;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* per-label value lookup                                              */

enum { V_NUMBER, V_DATE, V_TOKEN, V_TEXT };

/* Value for match m of kind; writes out; returns 0 (none), 1 (same row), 2 (below). */
static int label_value(tctx *c, const lmatch *m, int kind, char *out, size_t outsz)
{
	const tlayout *l = c->l;
	const tseg *sg = &l->segs[m->seg];
	const char *rest = skip_sep(orig_at(c, m->seg, m->end));
	char d[11];

	/* 1: rest of the segment */
	if (*rest) {
		if (kind == V_NUMBER && token_number(rest, out, outsz)) return 1;
		if (kind == V_DATE && value_date(c, rest, d)) { snprintf(out, outsz, "%s", d); return 1; }
		if (kind == V_TEXT || kind == V_TOKEN) {
			char *t = trim_dup(rest);
			if (t) {
				if (kind == V_TOKEN) { char *sp = strchr(t, ' '); if (sp) *sp = 0; }
				snprintf(out, outsz, "%s", t);
				free(t);
				return 1;
			}
		}
		if (m->flags & LF_INLINE) return 0;
		/* the rest of the segment is another text: stop unless it is short filler */
		if (strlen(rest) > 3 && kind != V_DATE) return 0;
	}
	if (m->flags & LF_INLINE) return 0;
	/* 2: segments to the right on the same row, up to the next label */
	const trow *row = &l->rows[sg->row];
	for (int j = 0; j < row->n && rule_on(R_VALUE_RIGHT); j++) {
		int s = row->first + j;
		if (l->segs[s].x0 <= sg->x0) continue;
		if (label_in_seg(c, s, 0, ~(1 << LT_IGNORE) & 0x7fffffff)) break;
		const char *t = l->segs[s].text;
		if (kind == V_NUMBER && token_number(t, out, outsz)) return 1;
		if (kind == V_DATE && value_date(c, t, d)) { snprintf(out, outsz, "%s", d); return 1; }
		if (kind == V_TEXT || kind == V_TOKEN) {
			snprintf(out, outsz, "%s", t);
			if (kind == V_TOKEN) { char *sp = strchr(out, ' '); if (sp) *sp = 0; }
			return 1;
		}
		break;
	}
	/* 3: below, same column */
	int b = rule_on(R_VALUE_BELOW) ? seg_below(c, m->seg, 2, 0) : -1;
	if (b >= 0 && !label_in_seg(c, b, 0, ~0)) {
		const char *t = l->segs[b].text;
		if (kind == V_NUMBER && token_number(t, out, outsz)) return 2;
		if (kind == V_DATE && value_date(c, t, d)) { snprintf(out, outsz, "%s", d); return 2; }
		if (kind == V_TEXT) { snprintf(out, outsz, "%s", t); return 2; }
	}
	return 0;
}

/* Amounts for an amount label: the last amount between the label and the next
 * label on its row; else the first amount just below (a column header). */
static int label_amount(tctx *c, const lmatch *m, char *out, size_t outsz, int *below)
{
	const tlayout *l = c->l;
	const tseg *sg = &l->segs[m->seg];
	const int amount_types = (1 << LT_TOTAL) | (1 << LT_NET) | (1 << LT_TAX) | (1 << LT_DUEAMT) | (1 << LT_IGNORE);
	char vals[16][64];
	char last[64] = "";
	int stop = 0;
	*below = 0;

	/* rest of the label's segment, up to another label */
	const lmatch *next = label_in_seg(c, m->seg, m->end, amount_types);
	const char *from = orig_at(c, m->seg, m->end);
	size_t lim = next ? (size_t) (orig_at(c, m->seg, next->start) - from) : strlen(from);
	char *part = xstrndup(from, lim);
	int n = amounts_in(part, vals, 16);
	free(part);
	if (n) snprintf(last, sizeof last, "%s", vals[n - 1]);
	if (next || !rule_on(R_VALUE_RIGHT)) stop = 1;
	const trow *row = &l->rows[sg->row];
	for (int j = 0; j < row->n && !stop; j++) {
		int s = row->first + j;
		if (l->segs[s].x0 <= sg->x0) continue;
		const lmatch *lm = label_in_seg(c, s, 0, amount_types);
		const char *t = l->segs[s].text;
		part = lm ? xstrndup(t, (size_t) (orig_at(c, s, lm->start) - t)) : xstrdup(t);
		n = amounts_in(part, vals, 16);
		free(part);
		if (n) snprintf(last, sizeof last, "%s", vals[n - 1]);
		if (lm) stop = 1;
	}
	if (*last) { snprintf(out, outsz, "%s", last); return 1; }
	/* a wrapped label: its amount may stand right of its second line */
	if (m->cont >= 0) {
		const tseg *cb = &l->segs[m->cont];
		const trow *crow = &l->rows[cb->row];
		for (int j = 0; j < crow->n; j++) {
			int s = crow->first + j;
			if (l->segs[s].x0 <= cb->x0) continue;
			if (label_in_seg(c, s, 0, amount_types)) break;
			n = amounts_in(l->segs[s].text, vals, 16);
			if (n) { snprintf(out, outsz, "%s", vals[n - 1]); return 1; }
		}
		return 0;
	}
	/* column header: the amount right below */
	int b = rule_on(R_VALUE_BELOW) ? seg_below(c, m->seg, 2, 0) : -1;
	if (b >= 0 && !label_in_seg(c, b, 0, amount_types)) {
		n = amounts_in(l->segs[b].text, vals, 16);
		if (n == 1) { snprintf(out, outsz, "%s", vals[0]); *below = 1; return 1; }
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* fields                                                              */

static const char *cur_code_at_best(tctx *c)
{
	static char best[4];
	struct { char code[4]; double score; } tally[16];
	int nt = 0;
	const tlayout *l = c->l;
	for (size_t s = 0; s < l->nsegs; s++) {
		const char *t = l->segs[s].text;
		double w = 1;
		if (label_in_seg(c, (int) s, 0, 1 << LT_CURRENCY)) w = 20;
		for (size_t i = 0; t[i]; i++) {
			/* a code is a word of its own; a sign may follow a digit ("25€") */
			if (i > 0 && isalnum((unsigned char) t[i - 1]) && (isalpha((unsigned char) t[i]) || !isdigit((unsigned char) t[i - 1]))) continue;
			char code[4];
			size_t n = currency_scan(t + i, code);
			if (!n) continue;
			int k;
			for (k = 0; k < nt; k++) if (strcmp(tally[k].code, code) == 0) break;
			if (k == nt) {
				if (nt == 16) continue;
				memcpy(tally[nt].code, code, 4);
				tally[nt].score = 0;
				nt++;
			}
			tally[k].score += w;
			i += n - 1;
		}
	}
	int bi = -1;
	for (int k = 0; k < nt; k++) if (bi < 0 || tally[k].score > tally[bi].score) bi = k;
	if (bi < 0) return NULL;
	memcpy(best, tally[bi].code, 4);
	return best;
}

/* "Nr." left of the value and the document's title word alone over its column ("FACTUUR"
 * heading the column, "Nr. 16117778" below): the grid spells "Factuur Nr." and the two
 * labels agree, so a weak "Nr." is as sure as a full "invoice number" label. */
static int title_heads_value(tctx *c, int label_seg, const char *value)
{
	const tlayout *l = c->l;
	const trow *r = &l->rows[l->segs[label_seg].row];
	int vs = -1;
	for (int j = 0; j < r->n; j++)
		if (r->first + j > label_seg && strcmp(l->segs[r->first + j].text, value) == 0) { vs = r->first + j; break; }
	if (vs < 0 || l->segs[label_seg].row == 0) return 0;
	const trow *up = &l->rows[l->segs[label_seg].row - 1];
	if (up->page != r->page || r->y0 - up->y1 > 2 * l->segs[vs].size) return 0;
	const tseg *v = &l->segs[vs];
	for (size_t i = 0; i < c->nm; i++) {
		const lmatch *m = &c->m[i];
		if (m->type != LT_NUMBER || !(m->flags & LF_INLINE) || m->start != 0 || m->end != c->flen[m->seg]) continue;
		if (m->seg < up->first || m->seg >= up->first + up->n) continue;
		const tseg *h = &l->segs[m->seg];
		if (h->x0 < v->x1 && v->x0 < h->x1) return 1;
	}
	return 0;
}

static void field_number(tctx *c, invoice *inv, int *num_seg)
{
	double bw = -1; char best[64] = ""; int bseg = -1;
	for (size_t i = 0; i < c->nm; i++) {
		const lmatch *m = &c->m[i];
		if (m->type != LT_NUMBER) continue;
		if ((m->flags & LF_INLINE) && !rule_on(R_NUMBER_INLINE)) continue;
		/* a title word heads its segment ("Invoice INV-1"); mid-sentence it is prose
		 * ("freier Text zur Rechnung BT-22") */
		if ((m->flags & LF_INLINE) && m->start > 0) continue;
		char v[64];
		int r = label_value(c, m, V_NUMBER, v, sizeof v);
		if (!r) continue;
		/* "VAT  DE258996536" beside a number label: a VAT id names a company, never an invoice */
		if (rule_on(R_NUMBER_NOT_VAT) && vat_scan(v, NULL, 0) == strlen(v)) continue;
		double w = m->weight - (r == 2 ? 0.5 : 0) - m->seg * 1e-6;
		if (c->l->segs[m->seg].page > 0) w -= 0.3;
		if (w > bw) { bw = w; snprintf(best, sizeof best, "%s", v); bseg = m->seg; }
	}
	/* weights carry a reading-order tie-break of 1e-6 per segment: compare with a margin */
	if (*best && bw < 3.9 && bseg >= 0 && rule_on(R_TITLE_COLUMN) && title_heads_value(c, bseg, best)) bw = 4;
	if (*best) inv_set(inv, F_INVOICE_NUMBER, best, bw >= 3.9 ? 0.9 : bw >= 1.9 ? 0.7 : 0.5, SRC_TEXT);
	*num_seg = bseg;
}

/* Only a word like "vom", "du", "of", "dated" follows (the date is on the next line). */
static int connector_only(const char *s)
{
	static const char *w[] = { "vom", "von", "du", "of", "from", "dated", "del", "de", "dd", "d.d.", "from", NULL };
	while (*s == ' ' || *s == ',') s++;
	for (int i = 0; w[i]; i++) {
		size_t n = strlen(w[i]);
		if (strncasecmp(s, w[i], n) == 0) {
			const char *t = s + n;
			while (*t == ' ' || *t == ':') t++;
			return *t == 0;
		}
	}
	return 0;
}

static int row_has_label(tctx *c, int row, int mask)
{
	const trow *r = &c->l->rows[row];
	for (int j = 0; j < r->n; j++) if (label_in_seg(c, r->first + j, 0, mask)) return 1;
	return 0;
}

static void field_dates(tctx *c, invoice *inv, int num_seg)
{
	const tlayout *l = c->l;
	double bw = -1; char best[11] = "";
	for (size_t i = 0; i < c->nm; i++) {
		const lmatch *m = &c->m[i];
		if (m->type != LT_ISSUE) continue;
		char v[64];
		int r = label_value(c, m, V_DATE, v, sizeof v);
		if (!r) continue;
		double w = m->weight - (r == 2 ? 0.5 : 0) - m->seg * 1e-6;
		if (w > bw) { bw = w; snprintf(best, sizeof best, "%.10s", v); }
	}
	/* "Invoice 123 of 2024-05-07" / "Rechnung Nr. 123 vom 07.05.2024" / "Facture n°1 du 2 juillet 2015" */
	if (num_seg >= 0 && inv->f[F_INVOICE_NUMBER].value && rule_on(R_DATE_AFTER_NUMBER)) {
		const char *t = l->segs[num_seg].text;
		const char *p = strstr(t, inv->f[F_INVOICE_NUMBER].value);
		/* the label's segment, the number right of it in the next one ("Nr." | "123 vom ...") */
		const trow *nrow = &l->rows[l->segs[num_seg].row];
		if (!p && num_seg + 1 < nrow->first + nrow->n &&
			(p = strstr(l->segs[num_seg + 1].text, inv->f[F_INVOICE_NUMBER].value)) != NULL)
			num_seg++;
		if (p) {
			char d[11]; size_t pos;
			const char *after = p + strlen(inv->f[F_INVOICE_NUMBER].value);
			if (date_find(after, c->us, d, &pos) && pos < 20 && 4 > bw) {
				bw = 4; snprintf(best, sizeof best, "%s", d);
				/* "Nr. 123 vom 07.05.2024": number and date joined by a connector word is how a
				 * title line states both, so the number is as sure as a labelled one */
				char *between = xstrndup(after, pos);
				if (connector_only(between) && inv->f[F_INVOICE_NUMBER].conf < 0.85) inv->f[F_INVOICE_NUMBER].conf = 0.85;
				free(between);
			} else if (4 > bw && connector_only(after)) {
				/* "... Nr. 123 vom" and the date right of it on its row (set apart by padding
				 * spaces, which OCR sees as a gap), or wrapped onto the next line */
				const trow *row = &l->rows[l->segs[num_seg].row];
				size_t nr = (size_t) l->segs[num_seg].row + 1;
				if (num_seg + 1 < row->first + row->n && date_scan(l->segs[num_seg + 1].text, c->us, d)) {
					bw = 4; snprintf(best, sizeof best, "%s", d);
					if (inv->f[F_INVOICE_NUMBER].conf < 0.85) inv->f[F_INVOICE_NUMBER].conf = 0.85;
				} else if (nr < l->nrows && l->rows[nr].page == row->page &&
					date_scan(l->segs[l->rows[nr].first].text, c->us, d)) {
					bw = 4; snprintf(best, sizeof best, "%s", d);
					if (inv->f[F_INVOICE_NUMBER].conf < 0.85) inv->f[F_INVOICE_NUMBER].conf = 0.85;
				}
			}
		}
	}
	/* fallback: the first date on page 1 not next to another kind of date label */
	if (!*best && rule_on(R_FIRST_DATE)) {
		for (size_t s = 0; s < l->nsegs && !*best; s++) {
			if (l->segs[s].page > 0) break;
			if (row_has_label(c, l->segs[s].row, (1 << LT_IGNORE) | (1 << LT_DUE))) continue;
			char d[11]; size_t pos;
			if (date_find(l->segs[s].text, c->us, d, &pos)) { snprintf(best, sizeof best, "%s", d); bw = 0.5; }
		}
	}
	if (*best) inv_set(inv, F_ISSUE_DATE, best, bw >= 3.9 ? 0.9 : bw >= 1.9 ? 0.7 : 0.4, SRC_TEXT);

	long issue = *best ? date_days(best) : -1;
	double dw = -1; char due[11] = "";
	for (size_t i = 0; i < c->nm; i++) {
		const lmatch *m = &c->m[i];
		if (m->type != LT_DUE) continue;
		char v[64];
		int r = label_value(c, m, V_DATE, v, sizeof v);
		if (!r) continue;
		if (issue >= 0 && date_days(v) < issue) continue;
		double w = m->weight - (r == 2 ? 0.5 : 0) - m->seg * 1e-6;
		if (w > dw) { dw = w; snprintf(due, sizeof due, "%.10s", v); }
	}
	/* a labelled due date a plausible payment term after the issue date (0-180 days) */
	double dconf = dw >= 3.5 ? 0.85 : 0.6;
	if (*due && dw >= 2.5 && issue >= 0 && date_days(due) - issue <= 180) dconf = dw >= 3.5 ? 0.9 : 0.8;
	if (*due) inv_set(inv, F_DUE_DATE, due, dconf, SRC_TEXT);
}

static void set_amount(invoice *inv, field_id id, long long cents, double conf)
{
	char b[40];
	cents_format(cents, b, sizeof b);
	inv_set(inv, id, b, conf, SRC_TEXT);
}

/* Is the amount (cents) printed on a row outside [from, to]? */
static int amount_printed_outside(tctx *c, long long cents, int from, int to)
{
	const tlayout *l = c->l;
	for (size_t r = 0; r < l->nrows; r++) {
		if ((int) r >= from && (int) r <= to) continue;
		char *t = tlayout_row_text(l, r);
		long long v[16]; int rate;
		int n = row_amounts(t, v, 16, &rate);
		free(t);
		for (int i = 0; i < n; i++) if (v[i] == cents) return 1;
	}
	return 0;
}

/* A row (or the row after it) that prints a rate ("19%", "7.00 %"). */
static int rate_near(tctx *c, int row)
{
	const tlayout *l = c->l;
	for (int r = row; r <= row + 1 && r < (int) l->nrows; r++) {
		if (l->rows[r].page != l->rows[row].page) break;
		char *t = tlayout_row_text(l, (size_t) r);
		long long v[16]; int rate;
		row_amounts(t, v, 16, &rate);
		free(t);
		if (rate > 0) return 1;
	}
	return 0;
}

/*
 * "VAT AT 19%  1.58 / VAT AT 7%  13.81", "NET 8.32 / 19% / NET 197.29 / 7%": one label
 * type repeated on two or more rows of one block, each row (or the row after it) with
 * a rate, and nowhere else: the parts of one amount per rate, whose sum is the total of
 * that type.  Not when one part is the sum of the others (section subtotals).
 */
static void rate_rows_sum(tctx *c, candvec *cv)
{
	if (!rule_on(R_RATE_ROWS_SUM) || cv->n < 2 || cv->n > 8) return;
	const tlayout *l = c->l;
	int r0 = 1 << 30, r1 = -1;
	long long sum = 0, maxv = 0;
	double w = 0;
	for (size_t i = 0; i < cv->n; i++) {
		const cand *a = &cv->v[i];
		int row = l->segs[a->seg].row;
		if (a->below || !rate_near(c, row)) return;
		for (size_t j = 0; j < i; j++) if (l->segs[cv->v[j].seg].row == row) return;
		if (row < r0) r0 = row;
		if (row > r1) r1 = row;
		sum += a->cents;
		if (llabs(a->cents) > maxv) maxv = llabs(a->cents);
		if (a->weight > w) w = a->weight;
	}
	if (r1 - r0 > 8 || l->rows[r0].page != l->rows[r1].page) return;
	if (2 * maxv == llabs(sum)) return;	/* one part is the others' sum: subtotals */
	char b[40];
	cents_format(sum, b, sizeof b);
	cv_push(cv, b, w + 0.5, cv->v[0].seg, 0);
}

static void field_amounts(tctx *c, invoice *inv)
{
	candvec T = {0}, N = {0}, X = {0}, D = {0};
	for (size_t i = 0; i < c->nm; i++) {
		const lmatch *m = &c->m[i];
		if (m->type != LT_TOTAL && m->type != LT_NET && m->type != LT_TAX && m->type != LT_DUEAMT) continue;
		char v[64]; int below;
		if (!label_amount(c, m, v, sizeof v, &below)) continue;
		double w = m->weight - (below ? 1.0 : 0);
		/* later occurrences of the same label win ties (totals come last) */
		w += m->seg * 1e-6;
		if (m->type == LT_TOTAL) cv_push(&T, v, w, m->seg, below);
		else if (m->type == LT_NET) cv_push(&N, v, w, m->seg, below);
		else if (m->type == LT_TAX) { cv_push(&X, v, w, m->seg, below); if (!below) c->tax_amount_seen = 1; }
		else { cv_push(&D, v, w, m->seg, below); cv_push(&T, v, w - 1, m->seg, below); }
	}
	rate_rows_sum(c, &X);
	rate_rows_sum(c, &N);
	for (size_t i = 0; i < T.n; i++) if (T.v[i].cents == 0) T.v[i].weight -= 2;
	for (size_t i = 0; i < N.n; i++) if (N.v[i].cents == 0) N.v[i].weight -= 2;

	double best = -1e9; long ti = -1, ni = -1, xi = -1;
	/* pass 0: complete consistent triples only (column-header values allowed);
	 * pass 1: anything, without column-header values */
	for (int pass = 0; pass < 2 && ti < 0 && ni < 0 && xi < 0; pass++)
	for (long a = -1; a < (long) T.n; a++)
		for (long b = -1; b < (long) N.n; b++)
			for (long d = -1; d < (long) X.n; d++) {
				if (pass == 0 && (a < 0 || b < 0 || d < 0)) continue;
				if (pass == 1 && ((a >= 0 && T.v[a].below) || (b >= 0 && N.v[b].below) || (d >= 0 && X.v[d].below))) continue;
				double s = (a >= 0 ? T.v[a].weight : 0) + (b >= 0 ? N.v[b].weight : 0) + (d >= 0 ? X.v[d].weight : 0);
				if (a >= 0 && b >= 0 && d >= 0) {
					if (llabs(N.v[b].cents + X.v[d].cents - T.v[a].cents) > 0) continue;
					if (rule_on(R_AMOUNT_TRIPLE)) s += 6;
				} else if (a >= 0 && b >= 0) {
					if (N.v[b].cents == T.v[a].cents) s += 0.5;	/* no tax */
					else if (llabs(N.v[b].cents) > llabs(T.v[a].cents)) continue;
				} else if (a >= 0 && d >= 0) {
					if (llabs(X.v[d].cents) >= llabs(T.v[a].cents) && T.v[a].cents != 0) continue;
				} else if (b >= 0 && d >= 0) {
					if (llabs(X.v[d].cents) > llabs(N.v[b].cents)) continue;
				}
				if (s > best) { best = s; ti = a; ni = b; xi = d; }
			}
	int consistent = ti >= 0 && ni >= 0 && xi >= 0;
	double conf = consistent ? 0.9 : 0.6;
	/* two strong readings of the total that disagree: a triple built from column values
	 * ("Netto MwSt Brutto" over one tax row) against a labelled total on its own row */
	if (consistent && (T.v[ti].below || N.v[ni].below || X.v[xi].below))
		for (size_t i = 0; i < T.n; i++)
			if (!T.v[i].below && T.v[i].weight >= 4 && T.v[i].cents != T.v[ti].cents) conf = 0.5;
	/* the VAT breakdown table: its sums confirm the triple, or complete a labelled total */
	tax_table tt;
	if (rule_on(R_TAX_TABLE) && tax_table_find(c->l, &tt)) {
		long long tg = tt.base + tt.tax;
		/* a total of 0.00 beside a VAT table of real amounts is what is left to pay after a
		 * payment (a hotel folio's "Balance 0,00", "offener Betrag 0,00" under the card
		 * payment), not the invoiced amount: the table's sums are the amounts */
		if (rule_on(R_PAID_BALANCE) && ti >= 0 && T.v[ti].cents == 0 && tg > 0) {
			double tc = amount_printed_outside(c, tg, tt.first_row, tt.last_row) ? 0.75 : 0.6;
			set_amount(inv, F_TOTAL, tg, tc);
			set_amount(inv, F_NET, tt.base, tc);
			set_amount(inv, F_TAX, tt.tax, tc);
			goto due;
		}
		if (consistent && N.v[ni].cents == tt.base && X.v[xi].cents == tt.tax && conf >= 0.9) conf = 0.95;
		else if (!consistent && ti >= 0 && T.v[ti].cents == tg) {
			set_amount(inv, F_TOTAL, T.v[ti].cents, 0.9);
			set_amount(inv, F_NET, tt.base, 0.9);
			set_amount(inv, F_TAX, tt.tax, 0.9);
			goto due;
		} else if (!consistent && ti < 0 && ni < 0) {
			/* no total label read: the table alone, sure only when its gross is printed elsewhere */
			double tc = amount_printed_outside(c, tg, tt.first_row, tt.last_row) ? 0.75 : 0.6;
			set_amount(inv, F_TOTAL, tg, tc);
			set_amount(inv, F_NET, tt.base, tc);
			set_amount(inv, F_TAX, tt.tax, tc);
			goto due;
		}
	}
	/* two labelled amounts and the third derived: sure when the derived one is printed too
	 * ("Totale prodotti e servizi 25€" over "Totale IVA 5,5€" and "Totale 30,5€") */
	int derived_printed = 0;
	if (!consistent && rule_on(R_AMOUNT_DERIVE)) {
		long long want = -1;
		if (ti >= 0 && xi >= 0 && ni < 0 && !T.v[ti].below && !X.v[xi].below) want = T.v[ti].cents - X.v[xi].cents;
		else if (ti >= 0 && ni >= 0 && xi < 0 && !T.v[ti].below && !N.v[ni].below && N.v[ni].cents != T.v[ti].cents)
			want = T.v[ti].cents - N.v[ni].cents;
		if (want > 0 && amount_printed_outside(c, want, -1, -1)) { derived_printed = 1; conf = 0.8; }
	}
	if (ti >= 0) set_amount(inv, F_TOTAL, T.v[ti].cents, conf);
	if (ni >= 0) set_amount(inv, F_NET, N.v[ni].cents, conf);
	if (xi >= 0) set_amount(inv, F_TAX, X.v[xi].cents, conf);
	double dc = derived_printed ? 0.8 : 0.6;
	if (!rule_on(R_AMOUNT_DERIVE)) ;
	else if (ti >= 0 && ni >= 0 && xi < 0) set_amount(inv, F_TAX, T.v[ti].cents - N.v[ni].cents, dc);
	else if (ti >= 0 && xi >= 0 && ni < 0) set_amount(inv, F_NET, T.v[ti].cents - X.v[xi].cents, dc);
	else if (ni >= 0 && xi >= 0 && ti < 0) set_amount(inv, F_TOTAL, N.v[ni].cents + X.v[xi].cents, 0.6);
	if (ti >= 0 && ni < 0 && xi < 0 && !c->tax_amount_seen && rule_on(R_NO_TAX)) {
		/* no tax amount printed anywhere: prices without VAT */
		set_amount(inv, F_NET, T.v[ti].cents, 0.35);
		set_amount(inv, F_TAX, 0, 0.35);
	}
due:;
	/* amount due */
	long di = -1;
	for (size_t i = 0; i < D.n; i++) if (!D.v[i].below && (di < 0 || D.v[i].weight > D.v[di].weight)) di = (long) i;
	if (di >= 0) set_amount(inv, F_AMOUNT_DUE, D.v[di].cents, 0.7);
	else if (inv->f[F_TOTAL].value) inv_set(inv, F_AMOUNT_DUE, inv->f[F_TOTAL].value, 0.5, SRC_TEXT);
	free(T.v); free(N.v); free(X.v); free(D.v);
}

/* ---- parties ---- */

static int is_title_word(const char *folded)
{
	static const char *w[] = { "invoice", "rechnung", "facture", "factuur", "factura", "fattura", "bill", "receipt",
		"credit note", "gutschrift", "avoir", "page", "seite", "tax invoice", "handelsrechnung", "quittung", "nota", NULL };
	char *t = xstrdup(folded);
	size_t n = strlen(t);
	while (n && !isalnum((unsigned char) t[n - 1])) t[--n] = 0;
	int r = 0;
	for (int i = 0; w[i]; i++) if (strcmp(t, w[i]) == 0) r = 1;
	free(t);
	return r;
}

static int name_ok(const char *s)
{
	size_t n = strlen(s), letters = 0, digits = 0;
	if (n < 2 || n > 90) return 0;
	if (strchr(s, '@') || strstr(s, "www.") || strstr(s, "http")) return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char) s[i];
		if (isalpha(ch) || ch >= 0x80) letters++;
		else if (isdigit(ch)) digits++;
	}
	if (letters < 2 || digits * 4 > n) return 0;
	if (n <= 3 && !strchr(s, ' ')) return 0;	/* "DE", "CN", "USA": a country code, not a name */
	/* "Seite 1 von 1", "Page 2 of 3", "Pagina 1": a page number, not a name */
	static const char *page[] = { "seite ", "page ", "pagina ", "pag. ", "blatt ", NULL };
	for (int i = 0; page[i]; i++) {
		size_t pl = strlen(page[i]);
		if (strncasecmp(s, page[i], pl) == 0 && isdigit((unsigned char) s[pl])) return 0;
	}
	char d[11];
	if (date_find(s, 0, d, NULL)) return 0;
	return 1;
}

static int addr_like(const char *s)
{
	size_t n = strlen(s);
	int digit = 0, alpha = 0;
	for (size_t i = 0; i < n; i++) {
		if (isdigit((unsigned char) s[i])) digit = 1;
		else if (isalpha((unsigned char) s[i])) alpha = 1;
	}
	return digit && alpha && n < 70 && !strchr(s, '@');
}

/* "key: value" lines inside a party block (Nummer: 123, Contact: ...) */
static int key_value(const char *s)
{
	const char *c = strchr(s, ':');
	return c && c - s < 32;
}

/* One word, then an identifier (mostly digits) further right on its row: "Nummer    549910",
 * a key and its value aligned in columns whose colon OCR did not see or the layout never had. */
static int key_then_id(tctx *c, int s)
{
	const tlayout *l = c->l;
	const trow *r = &l->rows[l->segs[s].row];
	if (strchr(l->segs[s].text, ' ') || s + 1 >= r->first + r->n) return 0;
	const char *v = l->segs[s + 1].text;
	size_t n = 0, d = 0;
	for (; v[n]; n++) d += isdigit((unsigned char) v[n]) != 0;
	return n >= 3 && d * 2 > n;
}

static int skip_party_line(tctx *c, int s)
{
	const char *t = c->l->segs[s].text;
	const char *f = c->fold[s];
	if (key_value(t) || t[0] == '(' || strstr(f, "contact") || strstr(f, "attn") || strstr(f, "z. hd") || strstr(f, "z.hd")) return 1;
	if (key_then_id(c, s)) return 1;
	return 0;
}

static char *clean_name(const char *s)
{
	char *t = trim_dup(s);
	if (!t) return NULL;
	size_t n = strlen(t);
	while (n && (t[n - 1] == ',' || t[n - 1] == ':' || t[n - 1] == ';' || t[n - 1] == '-')) t[--n] = 0;
	while (n && t[n - 1] == ' ') t[--n] = 0;
	if (!n) { free(t); return NULL; }
	return t;
}

/* "Seller:" or "Seller" alone, not "Seller trade name" */
static int colon_or_alone(const char *after)
{
	while (*after == ' ') after++;
	return *after == 0 || *after == ':';
}

/* The best name so far, and every rule's proposal: two rules that agree raise the confidence. */
typedef struct { char name[128]; double w; int seg; char votes[24][96]; int nvotes; } party_cand;

/* The segment begins with a label used as such ("Kunde:", "Bill to"), not a name
 * that happens to contain a label word ("Lieferant GmbH", "LE CLIENT"). */
static int starts_with_label(tctx *c, int s)
{
	for (size_t i = 0; i < c->nm; i++) {
		const lmatch *m = &c->m[i];
		if (m->seg != s || m->start != 0) continue;
		if ((m->flags & LF_COLON) && !colon_or_alone(orig_at(c, s, m->end))) continue;
		return 1;
	}
	return 0;
}

static int is_salutation(const char *folded);

static int starts_with_label(tctx *c, int s);

static void offer(tctx *c, party_cand *pc, const char *name, double w, int seg)
{
	/* a label word at the start of the whole segment ("Datum", "Zahlungsart:") is no name */
	if (seg >= 0 && name == c->l->segs[seg].text && starts_with_label(c, seg)) return;
	char *n = clean_name(name);
	if (!n) return;
	if (name_ok(n)) {
		char *f; size_t *map;
		fold_text(n, &f, &map);
		free(map);
		if (is_salutation(f)) w -= 1;	/* "Herr Jens Walter": the person, not the company */
		if (pc->nvotes < 24) snprintf(pc->votes[pc->nvotes++], sizeof pc->votes[0], "%s", f);
		free(f);
		if (w > pc->w) { snprintf(pc->name, sizeof pc->name, "%s", n); pc->w = w; pc->seg = seg; }
	}
	free(n);
}

/* How many times the name was proposed (by different rules, or found twice on the page). */
static int agrees(const party_cand *pc, const char *name)
{
	char *f; size_t *map;
	fold_text(name, &f, &map);
	free(map);
	int n = 0;
	for (int i = 0; i < pc->nvotes; i++) if (strcmp(pc->votes[i], f) == 0) n++;
	free(f);
	return n;
}

/* The value lines of a party label: the rest of the segment, else the lines below. */
static void party_from_label(tctx *c, const lmatch *m, party_cand *pc, double w, int mark_region)
{
	const char *rest = skip_sep(orig_at(c, m->seg, m->end));
	if (*rest && name_ok(rest)) { offer(c, pc, rest, w, m->seg); }
	for (int k = 0; k < 6; k++) {
		int b = seg_below(c, m->seg, 8, k);
		if (b < 0) break;
		if (mark_region) c->buyer_region[b] = 1;
		if (pc->seg == b || (*pc->name && pc->w >= w)) continue;
		if (skip_party_line(c, b) || starts_with_label(c, b)) continue;
		offer(c, pc, c->l->segs[b].text, w - 0.05 * k, b);
	}
}

static const char *legal_forms[] = {
	"gmbh & co. kg", "gmbh & co kg", "gmbh", "mbh", "ag", "kg", "ohg", "e.k.", "e.v.", "a.g.",
	"b.v.", "bv", "n.v.", "v.o.f.", "sas", "sarl", "s.a.r.l.", "s.a.", "sasu", "eurl", "s.a.s.",
	"ltd", "ltd.", "limited", "inc", "inc.", "llc", "llp", "plc", "corp.", "corporation",
	"s.l.", "s.r.l.", "srl", "s.p.a.", "pvt. ltd.", "pvt ltd", "gbr", "kgaa", "a/s", "aps", NULL
};

/* End (folded offset) of a legal form word in f, 0 when none. */
static size_t legal_form_end(const char *f)
{
	size_t best = 0;
	for (int i = 0; legal_forms[i]; i++) {
		size_t ll = strlen(legal_forms[i]);
		const char *p = f;
		while ((p = strstr(p, legal_forms[i])) != NULL) {
			size_t st = (size_t) (p - f), en = st + ll;
			if (st > 0 && (isalnum((unsigned char) f[st - 1])) ) { p++; continue; }
			if (st == 0) { p++; continue; }	/* the name comes before the form */
			if (isalnum((unsigned char) f[en]) || (f[en] == '.' && isalnum((unsigned char) f[en + 1]))) { p++; continue; }
			if (f[en] == '.' && legal_forms[i][ll - 1] != '.') en++;
			if (!best || st < best) best = en;
			break;
		}
	}
	return best;
}


/* "Herr", "Mr", "T.a.v.", "Attn": a person or an attention line inside an address block. */
static int is_salutation(const char *f)
{
	static const char *w[] = { "herr ", "frau ", "mr ", "mr. ", "mrs ", "mrs. ", "ms ", "ms. ", "m. ", "mme ",
		"t.a.v.", "tav ", "attn", "z. hd", "z.hd", "c/o", "a l'attention", "all'attenzione", "dhr.", "mevr.",
		"sr. ", "sra. ", "sig. ", "sig.ra", NULL };
	for (int i = 0; w[i]; i++) if (strncmp(f, w[i], strlen(w[i])) == 0) return 1;
	return 0;
}

/* "Name:", "Firmenname:", "Raison sociale :" -- the key of a name inside a party block;
 * returns the folded offset after the key and its colon, 0 when s is no such key. */
static size_t name_key(const char *f)
{
	static const char *k[] = { "firmenname", "company name", "raison sociale", "ragione sociale", "razon social",
		"bedrijfsnaam", "denominazione", "name", "firma", "company", "nom", "naam", "nombre", "nome", NULL };
	for (int i = 0; k[i]; i++) {
		size_t n = strlen(k[i]);
		if (strncmp(f, k[i], n) != 0) continue;
		size_t j = n;
		while (f[j] == ' ') j++;
		if (f[j] != ':') continue;
		return j + 1;
	}
	return 0;
}

/* A party heading: a short segment (at most five words, no digits) holding a seller or buyer
 * label ("Informationen zum Käufer", "Käufer/Leistungsempfänger", "Dati cliente", "Bill to").
 * Returns LT_SELLER / LT_BUYER or -1. */
static int party_heading(tctx *c, int s)
{
	const char *f = c->fold[s];
	int words = 1;
	for (const char *p = f; *p; p++) {
		if (isdigit((unsigned char) *p)) return -1;
		if (*p == ' ' || *p == '/') words++;
	}
	if (words > 5) return -1;
	for (size_t i = 0; i < c->nm; i++) {
		const lmatch *m = &c->m[i];
		if (m->seg != s || (m->type != LT_SELLER && m->type != LT_BUYER)) continue;
		const char *after = f + m->end;
		while (*after == ' ' || *after == ':') after++;
		/* the label ends the heading or is followed by another label word ("/Leistungsempfänger");
		 * "Auftraggeber Kaffeehaus GmbH" is a name, "Verkäufer-BIC:" a key */
		if (*after && *after != '/') continue;
		return m->type;
	}
	return -1;
}

/* The rows under a party heading, up to the next heading or a wide gap: a name key's value. */
static void party_from_heading(tctx *c, int h, party_cand *pc, int mark_region)
{
	const tlayout *l = c->l;
	const tseg *hs = &l->segs[h];
	float lh = hs->y1 - hs->y0 > 4 ? hs->y1 - hs->y0 : hs->size;
	float last_y = hs->y1;
	for (size_t r = (size_t) hs->row + 1; r < l->nrows && r <= (size_t) hs->row + 10; r++) {
		const trow *row = &l->rows[r];
		if (row->page != hs->page || row->y0 - last_y > 3.5f * lh) break;
		int stop = 0;
		for (int j = 0; j < row->n && !stop; j++) {
			int s = row->first + j;
			if (party_heading(c, s) >= 0) stop = 1;
		}
		if (stop) break;
		last_y = row->y1;
		for (int j = 0; j < row->n; j++) {
			int s = row->first + j;
			if (mark_region) c->buyer_region[s] = 1;
			size_t k = name_key(c->fold[s]);
			if (!k) continue;
			const char *v = skip_sep(orig_at(c, s, k));
			if (*v) { offer(c, pc, v, 4, s); continue; }
			if (j + 1 < row->n) {
				if (mark_region) c->buyer_region[s + 1] = 1;
				offer(c, pc, l->segs[s + 1].text, 4, s + 1);
			}
		}
	}
}

/* Sender details: a line like these belongs to the sender's block, rarely to the recipient's. */
static int contact_line(const char *f)
{
	static const char *w[] = { "tel", "fon", "fax", "phone", "e-mail", "email", "@", "www.", "http", "iban", "bic",
		"kvk", "siret", "siren", "vat", "ust", "btw", "tva", "iva", "hrb", "hra", "registr", "p.iva", "cif", "nif", NULL };
	for (int i = 0; w[i]; i++) {
		const char *p = strstr(f, w[i]);
		if (p && (p == f || !isalpha((unsigned char) p[-1]))) return 1;
	}
	return 0;
}

typedef struct { int seg[8]; int n, addr, contact; } ablock;

/*
 * Address blocks in the top half of page 1: a name line over 2-7 left-aligned lines, one of
 * them an address (a number with words).  Returns how many were found (at most max).
 */
static int address_blocks(tctx *c, ablock *out, int max)
{
	const tlayout *l = c->l;
	float ph = l->pages > 0 && l->page_h[0] > 0 ? l->page_h[0] : 842;
	unsigned char *used = xcalloc(l->nsegs + 1, 1);
	int nb = 0;
	for (size_t s = 0; s < l->nsegs && nb < max; s++) {
		const tseg *sg = &l->segs[s];
		if (sg->page > 0 || sg->y0 > ph * 0.5f) break;
		if (used[s] || !name_ok(sg->text) || starts_with_label(c, (int) s) || key_value(sg->text) ||
			is_title_word(c->fold[s]) || addr_like(sg->text) || contact_line(c->fold[s])) continue;
		int words = 1;
		for (const char *p = sg->text; *p; p++) words += *p == ' ';
		if (words > 6) continue;	/* prose, not a name */
		ablock b; memset(&b, 0, sizeof b);
		b.seg[b.n++] = (int) s;
		int cur = (int) s;
		int amounts = 0;
		while (b.n < 7) {
			int nx = seg_below(c, cur, 2, 0);
			if (nx < 0 || used[nx] || fabsf(l->segs[nx].x0 - sg->x0) > 2 * (sg->size > 0 ? sg->size : 10)) break;
			/* lines of one block: the gap between them at most two line heights */
			float lh = l->segs[cur].y1 - l->segs[cur].y0 > 4 ? l->segs[cur].y1 - l->segs[cur].y0 : l->segs[cur].size;
			if (l->segs[nx].y0 - l->segs[cur].y1 > 1.5f * lh) break;
			/* one block, one type size (a slogan or title above is not its name line) */
			float a = l->segs[nx].size, z = l->segs[cur].size;
			if (a > 0 && z > 0 && (a > 1.34f * z || z > 1.34f * a)) break;
			if (starts_with_label(c, nx) && !contact_line(c->fold[nx])) break;
			/* a line whose row holds an amount is a table row, not an address */
			char tmp[64][64];
			char *rt = tlayout_row_text(l, (size_t) l->segs[nx].row);
			if (amounts_in(rt, tmp, 64) > 0) amounts = 1;
			free(rt);
			b.seg[b.n++] = nx;
			cur = nx;
		}
		for (int i = 1; i < b.n; i++) {
			if (addr_like(l->segs[b.seg[i]].text) && !contact_line(c->fold[b.seg[i]])) b.addr = 1;
			if (contact_line(c->fold[b.seg[i]])) b.contact = 1;
		}
		if (b.n < 3 || !b.addr || amounts) continue;
		for (int i = 0; i < b.n; i++) used[b.seg[i]] = 1;
		out[nb++] = b;
	}
	free(used);
	return nb;
}

/* A heading over an address ("Name & Adresse", "Rechnungsadresse", "Billing address"):
 * a word for address and no digit. */
static int address_heading(const char *f)
{
	static const char *w[] = { "adress", "address", "anschrift", "indirizzo", "direccion", "adres", NULL };
	for (const char *p = f; *p; p++) if (isdigit((unsigned char) *p)) return 0;
	for (int i = 0; w[i]; i++) if (strstr(f, w[i])) return 1;
	return 0;
}

/*
 * The addressee's block among the address blocks without sender details: the one that
 * names a person with a salutation or attention line ("Herr Jens Walter", "Attn: ...":
 * a sender's letterhead does not address anyone), else the only such block when the
 * sender's details (phone, bank, VAT or register number) are printed elsewhere on page 1.
 * Its segments become the buyer's region (no seller is read there) and its name, the line
 * with a legal form or else the first name line, the buyer's.
 */
static void recipient_block(tctx *c, const ablock *bl, int nb, party_cand *buyer)
{
	const tlayout *l = c->l;
	int pick = -1, npers = 0, nplain = 0, plain = -1;
	for (int i = 0; i < nb; i++) {
		if (bl[i].contact) continue;
		nplain++; plain = i;
		for (int k = 0; k < bl[i].n; k++)
			if (is_salutation(c->fold[bl[i].seg[k]])) { npers++; pick = i; break; }
	}
	double w = 2.6;
	if (npers != 1) {
		pick = -1;
		if (npers == 0 && nplain == 1) {
			/* the sender's details elsewhere on page 1, and not right under this block (a
			 * letterhead whose phone, fax or bank lines follow after a gap) */
			int last = bl[plain].seg[bl[plain].n - 1];
			for (int k = 0; k < 3; k++) {
				int b = seg_below(c, last, 3, k);
				if (b >= 0 && contact_line(c->fold[b]) && !label_in_seg(c, b, 0, ~0)) return;
			}
			int elsewhere = 0;
			for (size_t s = 0; s < l->nsegs && !elsewhere; s++) {
				if (l->segs[s].page > 0) break;
				int inside = 0;
				for (int k = 0; k < bl[plain].n; k++) inside |= bl[plain].seg[k] == (int) s;
				if (!inside && contact_line(c->fold[s])) elsewhere = 1;
			}
			if (elsewhere) { pick = plain; w = 2.0; }
		}
	}
	if (pick < 0) return;
	const ablock *b = &bl[pick];
	int name = -1;
	for (int k = 0; k < b->n; k++) {
		int s = b->seg[k];
		c->buyer_region[s] = 1;
		const char *f = c->fold[s];
		if (is_salutation(f) || address_heading(f) || addr_like(l->segs[s].text) || !name_ok(l->segs[s].text)) continue;
		if (legal_form_end(f)) { name = s; break; }
		if (name < 0) name = s;
	}
	for (int k = 0; k < b->n; k++) c->buyer_region[b->seg[k]] = 1;
	if (name >= 0) offer(c, buyer, l->segs[name].text, w, name);
}

static void field_parties(tctx *c, invoice *inv)
{
	const tlayout *l = c->l;
	party_cand seller, buyer;
	memset(&seller, 0, sizeof seller); seller.seg = -1;
	memset(&buyer, 0, sizeof buyer); buyer.seg = -1;

	/* party headings with a block below: "Name:" keys */
	if (rule_on(R_PARTY_LABEL))
		for (size_t s = 0; s < l->nsegs; s++) {
			int t = party_heading(c, (int) s);
			if (t == LT_BUYER) party_from_heading(c, (int) s, &buyer, 1);
			else if (t == LT_SELLER) party_from_heading(c, (int) s, &seller, 0);
		}
	float ph = l->pages > 0 && l->page_h[0] > 0 ? l->page_h[0] : 842;

	/* buyer labels first: their block is not the seller */
	for (size_t i = 0; i < c->nm; i++) {
		const lmatch *m = &c->m[i];
		if (m->type == LT_BUYER && m->start == 0 && l->segs[m->seg].page == 0 && rule_on(R_PARTY_LABEL)) {
			if ((m->flags & LF_COLON) && !colon_or_alone(orig_at(c, m->seg, m->end))) continue;
			party_from_label(c, m, &buyer, 3, 1);
		}
	}
	for (size_t i = 0; i < c->nm; i++) {
		const lmatch *m = &c->m[i];
		if (m->type == LT_SELLER && m->start == 0 && rule_on(R_PARTY_LABEL)) {
			if ((m->flags & LF_COLON) && !colon_or_alone(orig_at(c, m->seg, m->end))) continue;
			party_from_label(c, m, &seller, 3, 0);
		}
	}
	/* two address blocks at the top, one with the sender's details (phone, e-mail, bank, VAT
	 * or register number), the other without: sender and recipient */
	if (rule_on(R_ADDRESS_BLOCKS) || rule_on(R_RECIPIENT_BLOCK)) {
		ablock bl[6];
		int nb = address_blocks(c, bl, 6), ns = 0, nr = 0, si = -1, ri = -1;
		for (int i = 0; i < nb; i++) {
			if (bl[i].contact) { ns++; si = i; }
			else { nr++; ri = i; }
		}
		if (ns == 1 && nr == 1 && rule_on(R_ADDRESS_BLOCKS)) {
			offer(c, &seller, l->segs[bl[si].seg[0]].text, 3, bl[si].seg[0]);
			for (int i = 0; i < bl[ri].n; i++) c->buyer_region[bl[ri].seg[i]] = 1;
			offer(c, &buyer, l->segs[bl[ri].seg[0]].text, 2.6, bl[ri].seg[0]);
		} else if (rule_on(R_RECIPIENT_BLOCK)) {
			recipient_block(c, bl, nb, &buyer);
		}
		/* the recipient known from a label or heading ("CLIENT :", "Bill to"): the one block
		 * with the sender's details outside the recipient's region is the sender's; its name
		 * is the line over the street */
		if (rule_on(R_SENDER_BLOCK) && buyer.w >= 2.5 && seller.w < 3 && buyer.seg >= 0) {
			int pick = -1, n = 0;
			for (int i = 0; i < nb; i++) {
				/* level with the recipient's block or above it: lower blocks are references,
				 * delivery details, the recipient's own identifiers */
				if (!bl[i].contact || l->segs[bl[i].seg[0]].y0 > l->segs[buyer.seg].y1) continue;
				/* the recipient's block holds the buyer's name or stands in its column (a
				 * heading's region spans whole rows, so it cannot tell the columns apart) */
				int in = same_column(&l->segs[bl[i].seg[0]], &l->segs[buyer.seg]);
				for (int k = 0; k < bl[i].n; k++) in |= bl[i].seg[k] == buyer.seg;
				if (!in) { n++; pick = i; }
			}
			/* an unlabelled block: one under a heading ("Shipping Address", "Lieferadresse")
			 * is another party's */
			if (n == 1) {
				const tseg *top = &l->segs[bl[pick].seg[0]];
				for (int r = top->row - 1; r >= 0 && r >= top->row - 2 && n == 1; r--) {
					if (l->rows[r].page != top->page) break;
					for (int k = 0; k < l->rows[r].n; k++) {
						int a = l->rows[r].first + k;
						if (same_column(top, &l->segs[a]) &&
							(label_in_seg(c, a, 0, ~(1 << LT_SELLER) & 0x7fffffff) || address_heading(c->fold[a]))) n = 0;
					}
				}
			}
			if (n == 1) {
				int name = bl[pick].seg[0];
				for (int k = 0; k + 1 < bl[pick].n; k++)
					if (addr_like(l->segs[bl[pick].seg[k + 1]].text) && !addr_like(l->segs[bl[pick].seg[k]].text)) {
						name = bl[pick].seg[k];
						break;
					}
				/* the buyer's name again (billing and shipping address side by side) is not the sender */
				if (!agrees(&buyer, l->segs[name].text) && strcasecmp(buyer.name, l->segs[name].text) != 0)
					offer(c, &seller, l->segs[name].text, 3, name);
			}
		}
	}
	/* window-envelope sender line: "Name - Street 1 - 12345 City" */
	for (size_t s = 0; s < l->nsegs && rule_on(R_ENVELOPE); s++) {
		const tseg *sg = &l->segs[s];
		if (sg->page > 0) break;
		if (sg->y0 > ph * 0.5f) continue;
		const char *t = sg->text;
		static const char *seps[] = { " - ", " \xe2\x80\xa2 ", " \xe2\x97\x8f ", " \xc2\xb7 ", " | ", " \xe2\x80\x93 ", " \xe2\x88\x92 ",
			", ", " \xc2\xab ", " \xc2\xbb ", " \xc2\xb0 ", NULL };
		for (int k = 0; seps[k]; k++) {
			/* weak separators: commas, and what OCR makes of a small middle dot or bullet
			 * ("Hotel « Street 54 ° 10557 City") */
			int comma = seps[k][0] == ',';
			int weak = comma || strcmp(seps[k], " \xc2\xab ") == 0 || strcmp(seps[k], " \xc2\xbb ") == 0 ||
				strcmp(seps[k], " \xc2\xb0 ") == 0;
			if (comma && !rule_on(R_ENVELOPE_COMMA)) continue;
			if (weak && !comma && !rule_on(R_ENVELOPE_OCR_DOT)) continue;
			const char *p1 = strstr(t, seps[k]);
			if (!p1) continue;
			const char *p2 = strstr(p1 + strlen(seps[k]), seps[k]);
			/* commas are everywhere: a comma line is a sender line only right above an
			 * addressee block ("Hotel X, Street 19-21, 44787 City" over the recipient) */
			if (!p2 || weak) {
				/* one separator ("Name · Street 1 12345 City"): only right above an
				 * addressee block (a name over an address line) */
				int b1 = seg_below(c, (int) s, 3, 0), b2 = seg_below(c, (int) s, 4, 1);
				if (b1 < 0 || b2 < 0 || !name_ok(l->segs[b1].text) || !addr_like(l->segs[b2].text)) continue;
				p2 = p1;
			}
			int pc = 0;
			for (const char *q = p2; *q; q++) if (isdigit((unsigned char) *q)) pc++;
			if (pc < 4) continue;
			char *name = xstrndup(t, (size_t) (p1 - t));
			/* "Nordkanalstrasse 18, 20097 Hamburg": a street before the comma, no name */
			if (weak && (addr_like(name) || !name_ok(name))) { free(name); continue; }
			offer(c, &seller, name, 3, (int) s);
			free(name);
			/* the addressee is the next line below */
			for (int k2 = 0; k2 < 3; k2++) {
				int b = seg_below(c, (int) s, 4, k2);
				if (b < 0) break;
				if (skip_party_line(c, b)) continue;
				offer(c, &buyer, l->segs[b].text, 2.5, b);
				c->buyer_region[b] = 1;
				break;
			}
			break;
		}
	}
	/* a name with a legal form; in the letterhead it is most likely the seller */
	for (size_t s = 0; s < l->nsegs && rule_on(R_LEGAL_FORM); s++) {
		const tseg *sg = &l->segs[s];
		if (c->buyer_region[s] || (int) s == buyer.seg) continue;
		size_t e = legal_form_end(c->fold[s]);
		if (!e) continue;
		const char *t = sg->text;
		char *name = xstrndup(t, c->map[s][e]);
		/* "Regd. office: ACME Ltd" -> "ACME Ltd" ; "sold by ACME Inc." */
		char *colon = strrchr(name, ':');
		const char *nm = colon ? colon + 1 : name;
		const char *by = strstr(c->fold[s], " by ");
		if (by && (size_t) (by - c->fold[s]) < e) nm = name + c->map[s][by - c->fold[s] + 4];
		double w = sg->page == 0 && sg->y0 < ph * 0.3f ? 2.5 : 1.2;
		if (strlen(nm) < 70) offer(c, &seller, nm, w, (int) s);
		free(name);
	}
	/* name-over-address blocks on page 1, in reading order: seller first, then buyer */
	int blocks = 0;
	for (size_t s = 0; s < l->nsegs && blocks < 2 && rule_on(R_NAME_BLOCK); s++) {
		const tseg *sg = &l->segs[s];
		if (sg->page > 0 || sg->y0 > ph * 0.5f) break;
		if (starts_with_label(c, (int) s) || is_title_word(c->fold[s]) || !name_ok(sg->text) || key_value(sg->text)) continue;
		if (addr_like(sg->text) || isdigit((unsigned char) sg->text[0])) continue;	/* a street, not a name */
		if (is_salutation(c->fold[s])) continue;	/* "T.a.v. ...", "Attn": the name is above it */
		int b = seg_below(c, (int) s, 1, 0);
		/* an attention line between the name and the street ("AttOra / T.a.v. Crediteuren / Street 94") */
		if (b >= 0 && is_salutation(c->fold[b])) b = seg_below(c, b, 1, 0);
		if (b < 0 || !addr_like(l->segs[b].text) || key_value(l->segs[b].text)) continue;
		/* the sender already named above (legal form, envelope line, label): a block under it
		 * with another name is the recipient's, as in a window envelope's address field */
		if (blocks == 0 && rule_on(R_BLOCK_AFTER_SENDER) && seller.w >= 2.5 && seller.seg >= 0 &&
			seller.seg != (int) s && l->segs[seller.seg].page == 0 && l->segs[seller.seg].y1 <= sg->y0 &&
			strcasecmp(seller.name, sg->text) != 0 && (buyer.w < 2.5 || agrees(&buyer, sg->text))) {
			c->buyer_region[s] = 1;
			c->buyer_region[b] = 1;
			offer(c, &buyer, sg->text, 2.5, (int) s);
			blocks = 2;
			continue;
		}
		if (blocks == 0 && !c->buyer_region[s]) offer(c, &seller, sg->text, 1.5, (int) s);
		else if (blocks == 1 || c->buyer_region[s]) offer(c, &buyer, sg->text, 1.5, (int) s);
		blocks++;
	}
	/* the sender's block in the footer: a name over its street, with phone, e-mail, bank or
	 * register lines on the rows below ("Hotel X / Street 7, 20459 City / Tel ... / HRB ...") */
	for (size_t s = 0; s < l->nsegs && rule_on(R_FOOTER_SENDER) && seller.w < 1.45; s++) {
		const tseg *sg = &l->segs[s];
		if (sg->page > 0) break;
		if (sg->y0 < ph * 0.75f || c->buyer_region[s] || sg->text[0] == '(') continue;
		if (!name_ok(sg->text) || addr_like(sg->text) || contact_line(c->fold[s]) || starts_with_label(c, (int) s) ||
			key_value(sg->text) || is_title_word(c->fold[s])) continue;
		int words = 1;
		for (const char *p = sg->text; *p; p++) words += *p == ' ';
		if (words > 6) continue;
		int b = seg_below(c, (int) s, 1, 0);
		if (b < 0 || !addr_like(l->segs[b].text) || contact_line(c->fold[b])) continue;
		int contact = 0;
		for (int r = sg->row + 1; r <= sg->row + 4 && r < (int) l->nrows && !contact; r++)
			for (int k = 0; k < l->rows[r].n; k++) contact |= contact_line(c->fold[l->rows[r].first + k]);
		if (!contact) continue;
		/* below the name-over-address blocks of the top (1.5), above a legal form further down */
		offer(c, &seller, sg->text, 1.45, (int) s);
		break;
	}
	/* last resort: the first line of text that could be a name */
	for (size_t s = 0; s < l->nsegs && rule_on(R_FIRST_LINE); s++) {
		if (l->segs[s].page > 0) break;
		if (c->buyer_region[s] || is_title_word(c->fold[s]) || starts_with_label(c, (int) s)) continue;
		if (!name_ok(l->segs[s].text)) continue;
		offer(c, &seller, l->segs[s].text, 0.5, (int) s);
		break;
	}
	/* confidence: a name key under a heading (4), a label or envelope line (3); a name that
	 * two rules found, or that the page prints twice, earns one step more */
	if (*seller.name) {
		/* labelled blocks lose 0.05 per line below the label: 2.7 is still "under a label" */
		double conf = seller.w >= 3.7 ? 0.9 : seller.w >= 2.7 ? 0.8 : seller.w >= 1.5 ? 0.6 : 0.3;
		if (agrees(&seller, seller.name) >= 2 && seller.w >= 1.5 && !agrees(&buyer, seller.name)) conf += 0.15;
		inv_set(inv, F_SELLER_NAME, seller.name, conf > 0.9 ? 0.9 : conf, SRC_TEXT);
	}
	if (*buyer.name && strcmp(buyer.name, seller.name) != 0) {
		double conf = buyer.w >= 3.7 ? 0.9 : buyer.w >= 2.5 ? 0.75 : 0.5;
		if (agrees(&buyer, buyer.name) >= 2 && buyer.w >= 2.5) conf += 0.1;
		inv_set(inv, F_BUYER_NAME, buyer.name, conf > 0.9 ? 0.9 : conf, SRC_TEXT);
	}

	/* VAT ids: one inside the buyer's block is the buyer's, the first other one the seller's */
	for (size_t s = 0; s < l->nsegs; s++) {
		const char *t = l->segs[s].text;
		for (size_t i = 0; t[i]; i++) {
			if (i > 0 && isalnum((unsigned char) t[i - 1])) continue;
			char v[32];
			size_t n = vat_scan(t + i, v, sizeof v);
			if (!n) continue;
			if (c->buyer_region[s]) { if (!inv->f[F_BUYER_VAT].value) inv_set(inv, F_BUYER_VAT, v, 0.6, SRC_TEXT); }
			else if (!inv->f[F_SELLER_VAT].value) inv_set(inv, F_SELLER_VAT, v, 0.6, SRC_TEXT);
			i += n - 1;
		}
	}
}

static void field_payment(tctx *c, invoice *inv)
{
	const tlayout *l = c->l;
	for (size_t s = 0; s < l->nsegs && !inv->f[F_IBAN].value; s++) {
		const char *t = l->segs[s].text;
		for (size_t i = 0; t[i]; i++) {
			if (i > 0 && isalnum((unsigned char) t[i - 1])) continue;
			char v[40];
			if (iban_scan(t + i, v, sizeof v)) { inv_set(inv, F_IBAN, v, 0.9, SRC_TEXT); break; }
		}
	}
	for (size_t i = 0; i < c->nm; i++) {
		const lmatch *m = &c->m[i];
		char v[256];
		if (m->type == LT_BIC && !inv->f[F_BIC].value && label_value(c, m, V_TOKEN, v, sizeof v)) {
			char *p = v;
			while (*p == ':' || *p == ' ') p++;
			if (bic_valid(p)) inv_set(inv, F_BIC, p, 0.8, SRC_TEXT);
		} else if (m->type == LT_PO && !inv->f[F_PURCHASE_ORDER].value && label_value(c, m, V_NUMBER, v, sizeof v)) {
			inv_set(inv, F_PURCHASE_ORDER, v, 0.6, SRC_TEXT);
		} else if (m->type == LT_TERMS && !inv->f[F_PAYMENT_TERMS].value && label_value(c, m, V_TEXT, v, sizeof v)) {
			inv_set(inv, F_PAYMENT_TERMS, v, 0.6, SRC_TEXT);
		} else if (m->type == LT_REF && !inv->f[F_REFERENCE].value && label_value(c, m, V_TOKEN, v, sizeof v)) {
			inv_set(inv, F_REFERENCE, v, 0.5, SRC_TEXT);
		}
	}
}

static void field_doctype(tctx *c, invoice *inv)
{
	static const char *credit[] = { "credit note", "creditnote", "gutschrift", "rechnungskorrektur", "avoir",
		"creditnota", "creditfactuur", "nota de credito", "nota di credito", "factura rectificativa", "credit memo", NULL };
	const tlayout *l = c->l;
	float ph = l->pages > 0 && l->page_h[0] > 0 ? l->page_h[0] : 842;
	for (size_t s = 0; s < l->nsegs && rule_on(R_CREDIT_NOTE); s++) {
		if (l->segs[s].page > 0 || l->segs[s].y0 > ph * 0.4f) break;
		for (int i = 0; credit[i]; i++) {
			const char *p = strstr(c->fold[s], credit[i]);
			if (p && (p == c->fold[s] || !isalpha((unsigned char) p[-1])) && !isalpha((unsigned char) p[strlen(credit[i])])) {
				inv_set(inv, F_DOCUMENT_TYPE, "credit_note", 0.7, SRC_TEXT);
				return;
			}
		}
	}
	inv_set(inv, F_DOCUMENT_TYPE, "invoice", 0.6, SRC_TEXT);
}

/*
 * Signs of a misread text layer (a scanner's OCR): '!' or '|' inside a word ("Consu!t!ng"),
 * letters of another script amid Latin text (Arabic, Thai, Cyrillic, Greek look-alikes),
 * full-width forms, replacement characters.
 */
static int noisy_text(const char *s)
{
	const unsigned char *u = (const unsigned char *) s;
	int latin = 0, other = 0;
	for (size_t i = 0; u[i]; i++) {
		if (isalpha(u[i])) latin++;
		if ((u[i] == '!' || u[i] == '|') && i > 0 && isalpha(u[i - 1]) && isalpha(u[i + 1])) return 1;
		if (u[i] >= 0xCE && u[i] <= 0xDB) other++;		/* Greek, Cyrillic, Hebrew, Arabic */
		if (u[i] == 0xE0 && (u[i + 1] == 0xB8 || u[i + 1] == 0xB9)) other++;	/* Thai */
		if (u[i] == 0xEF && (u[i + 1] == 0xBC || u[i + 1] == 0xBD || (u[i + 1] == 0xBF && u[i + 2] == 0xBD))) other++;
	}
	return other > 0 && latin > 0;
}

/* Share of page-1 segments that look misread: a noisy layer makes every reading unsure. */
static double layout_noise(tctx *c)
{
	size_t n = 0, bad = 0;
	for (size_t s = 0; s < c->l->nsegs; s++) {
		if (c->l->segs[s].page > 0) break;
		n++;
		bad += noisy_text(c->l->segs[s].text);
	}
	return n ? (double) bad / (double) n : 0;
}

/* Net + tax = total, each found with the confidence only a check gives (a labelled triple
 * that adds up, or one confirmed by the VAT table or the lines): a document whose
 * arithmetic holds was read well, which is what lets OCR'd names keep their confidence. */
/* Tesseract's word confidence (0..1) above which an OCR'd name is taken as read, when the
 * amounts check out: in the dev corpus's OCR view, correct names read 0.9-0.97, the misread
 * "Müller" -> "Miller" 0.68. */
#define OCR_SURE_WORDS 0.9

static int amounts_confirmed(const invoice *inv)
{
	long long n, t, g;
	const inv_field *fn = &inv->f[F_NET], *ft = &inv->f[F_TAX], *fg = &inv->f[F_TOTAL];
	if (!fn->value || !ft->value || !fg->value) return 0;
	if (fn->conf < 0.9 || ft->conf < 0.9 || fg->conf < 0.9) return 0;
	if (!amount_cents(fn->value, &n) || !amount_cents(ft->value, &t) || !amount_cents(fg->value, &g)) return 0;
	return llabs(n + t - g) <= 1 && g != 0;
}

/* "EUVINS1-...", "HAOO7": where letters and digits mix, OCR's confusions (O/0, I/l/1, S/5,
 * B/8, a stray letter) make another identifier that no check catches, however sure the
 * engine is; an identifier of digits and separators has no such neighbours. */
static int has_letter_and_digit(const char *v)
{
	int a = 0, d = 0;
	for (; *v; v++) { a |= isalpha((unsigned char) *v) != 0; d |= isdigit((unsigned char) *v) != 0; }
	return a && d;
}

/* The OCR confidence of the words a value was read from: the best segment holding the
 * value (segments carry their least sure word's confidence), 0 when none holds it. */
static double ocr_value_conf(const tlayout *l, const char *value)
{
	/* a value of digits and separators was read from the segment's words holding digits:
	 * the label beside it ("Nr.", "Rechnungsnummer") may be less sure without harm */
	int digits_only = 1, any_digit = 0;
	for (const char *p = value; *p; p++) {
		if (isalpha((unsigned char) *p) || (unsigned char) *p >= 0x80) digits_only = 0;
		any_digit |= isdigit((unsigned char) *p) != 0;
	}
	digits_only = digits_only && any_digit;
	double best = 0;
	for (size_t s = 0; s < l->nsegs; s++) {
		const tseg *g = &l->segs[s];
		double c = digits_only ? g->conf_digits : g->conf;
		if (g->ocr && c > best && strstr(g->text, value)) best = c;
	}
	return best;
}

/* Item lines whose sum matched the net (text_lines.c sets 0.85+ then) confirm a consistent
 * net + tax = total that the labels alone left unsure. */
static void confirm_by_lines(invoice *inv)
{
	if (!rule_on(R_LINES_SUM) || inv->nlines == 0 || inv->lines_conf < 0.85) return;
	long long n, t, g;
	if (!inv->f[F_NET].value || !inv->f[F_TAX].value || !inv->f[F_TOTAL].value) return;
	if (!amount_cents(inv->f[F_NET].value, &n) || !amount_cents(inv->f[F_TAX].value, &t) ||
		!amount_cents(inv->f[F_TOTAL].value, &g) || n + t != g) return;
	long long sum = 0, v;
	for (size_t i = 0; i < inv->nlines; i++) {
		if (!inv->lines[i].net_amount || !amount_cents(inv->lines[i].net_amount, &v)) return;
		sum += v;
	}
	if (sum != n) return;
	static const field_id f[] = { F_NET, F_TAX, F_TOTAL };
	for (int i = 0; i < 3; i++) if (inv->f[f[i]].conf < 0.8) inv->f[f[i]].conf = 0.8;
}

void text_extract_fields(const tlayout *l, invoice *inv)
{
	if (!l || l->nsegs == 0) return;
	tctx c;
	memset(&c, 0, sizeof c);
	c.l = l;
	c.fold = xcalloc(l->nsegs, sizeof *c.fold);
	c.map = xcalloc(l->nsegs, sizeof *c.map);
	c.flen = xcalloc(l->nsegs, sizeof *c.flen);
	c.buyer_region = xcalloc(l->nsegs, 1);
	for (size_t s = 0; s < l->nsegs; s++) c.flen[s] = fold_text(l->segs[s].text, &c.fold[s], &c.map[s]);
	find_labels(&c);

	const char *cur = cur_code_at_best(&c);
	if (cur) inv_set(inv, F_CURRENCY, cur, 0.7, SRC_TEXT);
	c.us = rule_on(R_US_DATES) && cur && strcmp(cur, "USD") == 0;
	if (!c.us && rule_on(R_US_DATES))
		for (size_t s = 0; s < l->nsegs && !c.us; s++)
			if (strstr(c.fold[s], "united states") || strstr(l->segs[s].text, "USA")) c.us = 1;

	int num_seg = -1;
	field_doctype(&c, inv);
	field_number(&c, inv, &num_seg);
	field_dates(&c, inv, num_seg);
	field_amounts(&c, inv);
	field_parties(&c, inv);
	field_payment(&c, inv);
	text_extract_lines(l, inv);
	inv->source = SRC_TEXT;
	confirm_by_lines(inv);

	/* a value that looks misread, or a page full of misreadings, is returned for review */
	int noisy_page = layout_noise(&c) > 0.05;
	/* words from OCR: letters can be misread ("Müller" -> "Miller") where no check catches
	 * it, so names and numbers read from them are for review; amounts and dates keep the
	 * confidence their arithmetic and format checks gave them */
	size_t nocr = 0;
	for (size_t s = 0; s < l->nsegs; s++) nocr += l->segs[s].ocr != 0;
	if (nocr * 2 > l->nsegs) {
		static const field_id textual[] = { F_INVOICE_NUMBER, F_SELLER_NAME, F_BUYER_NAME, F_PURCHASE_ORDER, F_REFERENCE };
		int sure = amounts_confirmed(inv);
		for (size_t i = 0; i < sizeof textual / sizeof textual[0]; i++) {
			inv_field *fl = &inv->f[textual[i]];
			if (!fl->value || fl->conf <= 0.65) continue;
			if (!sure || ocr_value_conf(l, fl->value) < OCR_SURE_WORDS || (textual[i] == F_INVOICE_NUMBER && has_letter_and_digit(fl->value)))
				fl->conf = 0.65;
		}
	}
	for (int f = 0; f < F_COUNT; f++) {
		inv_field *fl = &inv->f[f];
		if (!fl->value || f == F_DOCUMENT_TYPE) continue;
		if ((noisy_page || noisy_text(fl->value)) && fl->conf > 0.6) fl->conf = 0.6;
	}

	for (size_t s = 0; s < l->nsegs; s++) { free(c.fold[s]); free(c.map[s]); }
	free(c.fold); free(c.map); free(c.flen); free(c.m); free(c.buyer_region);
}
