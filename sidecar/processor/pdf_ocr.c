/* A page (or an image region of it) rendered grey by MuPDF, read by Tesseract, and its
 * words turned into layout segments in page coordinates, as pdf_text.c cuts the text layer. */
#include "ocr.h"
#include "pdf_internal.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Tesseract refuses images over 32767 pixels a side; the area cap keeps a huge page
 * (PDF allows 200 x 200 inches) within the child's memory limit: an A3 page at 300 dpi
 * is 17.4 Mpx, a grey pixmap is one byte a pixel and Tesseract keeps a few copies. */
#define OCR_MAX_SIDE  16000
#define OCR_MAX_AREA  (24.0 * 1000 * 1000)
#define OCR_MIN_SIDE  8

/* The words of one Tesseract line become segments split at wide gaps, as the text
 * layer's characters are (pdf_text.c: a gap over 1.2 x the font size).  The font
 * size comes from the line's ink height: cap height to baseline is about 0.7 em,
 * ascender to descender about 0.9 em; 0.8 em is taken.  Boxes grow by 0.15 em above
 * and below to the height of the text layer's character boxes (1.1-1.2 em), so that
 * rows and "below" neighbours behave alike.  A lone colon joins its label whatever
 * the gap: labels are often aligned with spaces ("Number      : 123") that the text
 * layer keeps as characters and OCR cannot see. */
static int is_colon(const char *t)
{
	return strcmp(t, ":") == 0 || strcmp(t, "\xef\xbc\x9a") == 0;	/* ':' or U+FF1A */
}

/* A lone '>' or ';' after a label is a colon Tesseract misread ("Nummer > 123"):
 * nothing on an invoice prints those alone between two words. */
static void fix_colon(ocr_word *w)
{
	if (strcmp(w->text, ">") == 0 || strcmp(w->text, ";") == 0) strcpy(w->text, ":");
}

/* The middle dot of a separated line ("Hotel · Street 54 · 10557 City", a window
 * envelope's sender line) is small, and Tesseract reads it as '«', '»', '°' or a bullet:
 * alone between two words of a line, any of those is written as U+00B7 (ocr.h). */
void ocr_fix_dots(ocr_word *w, size_t n)
{
	static const char *const look[] = { "\xc2\xab", "\xc2\xbb", "\xc2\xb0", "\xe2\x80\xa2", "\xe2\x97\x8f", NULL };
	for (size_t q = 1; q + 1 < n; q++) {
		if (w[q - 1].line != w[q].line || w[q + 1].line != w[q].line) continue;
		for (int i = 0; look[i]; i++)
			if (strcmp(w[q].text, look[i]) == 0) {
				free(w[q].text);
				w[q].text = xstrdup("\xc2\xb7");
				break;
			}
	}
}

/* Table rules and box edges read as characters (ocr.h): invoices print no text with a bare
 * vertical bar, and a bracket without its pair in the word is a box's edge. */
int ocr_strip_rules(char *t)
{
	size_t n = strlen(t);
	int open = strchr(t, '[') != NULL, close = strchr(t, ']') != NULL;
	size_t a = 0;
	while (a < n && (t[a] == '|' || (t[a] == '[' && !close))) a++;
	while (n > a && (t[n - 1] == '|' || (t[n - 1] == ']' && !open))) n--;
	if (n == a) {
		/* "[" and "]" alone: bracketed words' halves are matched within the word only */
		int only = 1;
		for (const char *p = t; *p; p++) if (*p != '|' && *p != '[' && *p != ']') only = 0;
		return only ? 0 : 1;
	}
	/* a quote mark before a number that no quote closes is a speck, not a character:
	 * no amount or date is printed in quotes ("550,60 read as \"550,60) */
	if (n - a >= 2 && (t[a] == '"' || t[a] == '\'' || t[a] == '`') && isdigit((unsigned char) t[a + 1]) &&
		!memchr(t + a + 1, t[a], n - a - 1))
		a++;
	memmove(t, t + a, n - a);
	t[n - a] = 0;
	return 1;
}

static void words_to_segs(ocr_word *w, size_t *pn, float sx, float sy, float ox, float oy, int pg,
						  tseg **out, size_t *nout)
{
	size_t n = *pn, cap = n ? n : 1, k = 0;
	tseg *v = xcalloc(cap, sizeof *v);
	size_t keep = 0;
	for (size_t q = 0; q < n; q++) {
		if (ocr_strip_rules(w[q].text)) w[keep++] = w[q];
		else free(w[q].text);
	}
	n = *pn = keep;	/* the words left, for ocr_words_free() */
	ocr_fix_dots(w, n);
	size_t i = 0;
	while (i < n) {
		size_t j = i + 1;
		if (j < n && w[j].line == w[i].line) fix_colon(&w[j]);
		float lh = (float) (w[i].ly1 - w[i].ly0);
		float size = lh / 0.8f;
		while (j < n && w[j].line == w[i].line &&
			   ((float) (w[j].x0 - w[j - 1].x1) <= 1.2f * size || is_colon(w[j].text))) {
			j++;
			if (j < n && w[j].line == w[i].line) fix_colon(&w[j]);
		}
		sbuf b; sb_init(&b);
		tseg *s = &v[k];
		memset(s, 0, sizeof *s);
		float conf = 0, dconf = 1, csum = 0;
		int x0 = w[i].x0, x1 = w[i].x1, y0 = w[i].ly0, y1 = w[i].ly1;
		for (size_t m = i; m < j; m++) {
			if (m > i) sb_putc(&b, ' ');
			sb_puts(&b, w[m].text);
			if (w[m].x0 < x0) x0 = w[m].x0;
			if (w[m].x1 > x1) x1 = w[m].x1;
			if (m == i || w[m].conf < conf) conf = w[m].conf;
			csum += w[m].conf;
			if (strpbrk(w[m].text, "0123456789") && w[m].conf < dconf) dconf = w[m].conf;
		}
		char *t = collapse_ws(b.s ? b.s : "");
		sb_free(&b);
		if (*t) {
			s->text = t;
			s->x0 = ox + x0 / sx; s->x1 = ox + x1 / sx;
			s->y0 = oy + (y0 - 0.15f * size) / sy; s->y1 = oy + (y1 + 0.15f * size) / sy;
			s->size = size / sy;
			s->page = pg;
			s->ocr = 1;
			s->conf = conf;	/* the least sure word's: one misread letter spoils a name */
			s->conf_digits = dconf;	/* a number's own words, not its label's ("Nr.") */
			s->conf_mean = csum / (float) (j - i);
			k++;
		} else {
			free(t);
		}
		i = j;
	}
	*out = v;
	*nout = k;
}

/* Does s overlap a text-layer segment of its page by half its area? */
static int over_text(const tlayout *l, const tseg *s)
{
	float a = (s->x1 - s->x0) * (s->y1 - s->y0);
	for (size_t i = 0; i < l->nsegs; i++) {
		const tseg *t = &l->segs[i];
		if (t->page != s->page || t->ocr) continue;
		float w = (s->x1 < t->x1 ? s->x1 : t->x1) - (s->x0 > t->x0 ? s->x0 : t->x0);
		float h = (s->y1 < t->y1 ? s->y1 : t->y1) - (s->y0 > t->y0 ? s->y0 : t->y0);
		if (w > 0 && h > 0 && w * h * 2 >= a) return 1;
	}
	return 0;
}

int pdfsrc_ocr(pdf_src *p, struct ocr_engine **eng, const char *langs, int pg, const timage *clip,
			   int dpi, int skip_text, tlayout *out, char **error)
{
	fz_context *ctx = p->ctx;
	fz_page *page = NULL;
	fz_pixmap *pix = NULL;
	fz_device *dev = NULL;
	volatile int ok = 1;
	volatile float scale = dpi / 72.0f;
	ocr_word *words = NULL;
	size_t nwords = 0;
	char *oerr = NULL;
	fz_var(page);
	fz_var(pix);
	fz_var(dev);
	fz_try(ctx) {
		page = fz_load_page(ctx, (fz_document *) p->doc, pg);
		fz_rect area = fz_bound_page(ctx, page);
		if (clip) area = fz_intersect_rect(area, fz_make_rect(clip->x0, clip->y0, clip->x1, clip->y1));
		float w = area.x1 - area.x0, h = area.y1 - area.y0;
		if (w <= 0 || h <= 0) fz_throw(ctx, FZ_ERROR_GENERIC, "empty page");
		/* a lower resolution for pages too large to render at dpi */
		if (w * scale > OCR_MAX_SIDE) scale = OCR_MAX_SIDE / w;
		if (h * scale > OCR_MAX_SIDE) scale = OCR_MAX_SIDE / h;
		if ((double) w * scale * h * scale > OCR_MAX_AREA) scale = (float) __builtin_sqrt(OCR_MAX_AREA / ((double) w * h));
		if (w * scale < OCR_MIN_SIDE || h * scale < OCR_MIN_SIDE) fz_throw(ctx, FZ_ERROR_GENERIC, "too small to read");
		fz_matrix ctm = fz_scale(scale, scale);
		fz_irect ir = fz_round_rect(fz_transform_rect(area, ctm));
		pix = fz_new_pixmap_with_bbox(ctx, fz_device_gray(ctx), ir, NULL, 0);
		fz_clear_pixmap_with_value(ctx, pix, 0xff);
		dev = fz_new_draw_device(ctx, fz_identity, pix);
		fz_run_page(ctx, page, dev, ctm, NULL);
		fz_close_device(ctx, dev);
	}
	fz_always(ctx) {
		fz_drop_device(ctx, dev);
		fz_drop_page(ctx, page);
	}
	fz_catch(ctx) {
		sbuf b; sb_init(&b);
		sb_printf(&b, "OCR: cannot render page %d: %s", pg + 1, fz_caught_message(ctx));
		*error = sb_steal(&b);
		ok = 0;
	}
	if (!ok) { fz_drop_pixmap(ctx, pix); return 0; }

	if (!*eng) *eng = ocr_engine_new(langs, error);
	if (!*eng) { fz_drop_pixmap(ctx, pix); return 0; }
	int rdpi = (int) (scale * 72.0f + 0.5f);
	if (!ocr_recognize(*eng, pix->samples, pix->w, pix->h, (int) pix->stride, rdpi, &words, &nwords, &oerr)) {
		*error = oerr;
		fz_drop_pixmap(ctx, pix);
		return 0;
	}
	/* pixel -> page coordinates: the pixmap's origin is the area's corner at scale */
	float ox = pix->x / scale, oy = pix->y / scale;
	fz_drop_pixmap(ctx, pix);

	tseg *segs; size_t nsegs;
	words_to_segs(words, &nwords, scale, scale, ox, oy, pg, &segs, &nsegs);
	ocr_words_free(words, nwords);
	size_t k = 0;
	for (size_t i = 0; i < nsegs; i++) {
		if (skip_text && over_text(out, &segs[i])) { free(segs[i].text); continue; }
		segs[k++] = segs[i];
	}
	if (k) {
		out->segs = xrealloc(out->segs, (out->nsegs + k) * sizeof *out->segs);
		memcpy(out->segs + out->nsegs, segs, k * sizeof *segs);
		out->nsegs += k;
	}
	free(segs);
	return 1;
}
