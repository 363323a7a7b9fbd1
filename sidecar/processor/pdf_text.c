/* MuPDF: open from memory, detect encryption and repairs, text with positions. */
#include "pdf_internal.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void quiet(void *user, const char *msg) { (void) user; (void) msg; }

int pdfsrc_open(const unsigned char *buf, size_t len, pdf_src **out, char **error)
{
	*out = NULL;
	fz_context *ctx = fz_new_context(NULL, NULL, 64u << 20);
	if (!ctx) { *error = xstrdup("cannot create MuPDF context"); return 0; }
	fz_set_warning_callback(ctx, quiet, NULL);
	fz_set_error_callback(ctx, quiet, NULL);
	pdf_src *p = xcalloc(1, sizeof *p);
	p->ctx = ctx;
	int ok = 1;
	fz_try(ctx) {
		p->stm = fz_open_memory(ctx, buf, len);
		p->doc = pdf_open_document_with_stream(ctx, p->stm);
		if (pdf_needs_password(ctx, p->doc)) {
			ok = -1;
		} else {
			p->pages = pdf_count_pages(ctx, p->doc);
		}
	}
	fz_catch(ctx) {
		sbuf b; sb_init(&b);
		sb_printf(&b, "unreadable PDF: %s", fz_caught_message(ctx));
		*error = sb_steal(&b);
		ok = 0;
	}
	if (ok == -1) { *error = xstrdup("encrypted PDF"); ok = 0; }
	if (!ok) { pdfsrc_close(p); return 0; }
	*out = p;
	return 1;
}

void pdfsrc_close(pdf_src *p)
{
	if (!p) return;
	fz_context *ctx = p->ctx;
	pdf_drop_document(ctx, p->doc);
	fz_drop_stream(ctx, p->stm);
	fz_drop_context(ctx);
	free(p);
}

int pdfsrc_pages(pdf_src *p) { return p->pages; }

int pdfsrc_repaired(pdf_src *p)
{
	volatile int r = 0;
	fz_try(p->ctx) r = pdf_was_repaired(p->ctx, p->doc);
	fz_catch(p->ctx) r = 1;
	return r;
}

/* ---- layout ---- */

typedef struct { tseg *v; size_t n, cap; } segvec;

static void segvec_push(segvec *sv, tseg *s)
{
	if (sv->n == sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 256;
		sv->v = xrealloc(sv->v, sv->cap * sizeof *sv->v);
	}
	sv->v[sv->n++] = *s;
}

static void flush_seg(segvec *sv, sbuf *b, tseg *cur)
{
	if (b->len) {
		char *t = collapse_ws(b->s);
		if (*t) { cur->text = t; cur->conf = 1; cur->conf_digits = 1; cur->conf_mean = 1; segvec_push(sv, cur); }
		else free(t);
	}
	sb_free(b);
}

/* Characters no font maps to Unicode: what a text layer without ToUnicode gives. */
static int unmappable(int c)
{
	return c == 0xFFFD || (c >= 0xE000 && c <= 0xF8FF) || (c >= 0 && c < 0x20 && c != '\t');
}

/* Images on the page: their share of its area, and the larger ones as OCR candidates. */
static void page_image(fz_stext_block *bl, int pageno, float pw, float ph, tlayout *out)
{
	fz_rect r = bl->bbox;
	if (r.x0 < 0) r.x0 = 0;
	if (r.y0 < 0) r.y0 = 0;
	if (r.x1 > pw) r.x1 = pw;
	if (r.y1 > ph) r.y1 = ph;
	float w = r.x1 - r.x0, h = r.y1 - r.y0;
	if (w <= 0 || h <= 0 || pw <= 0 || ph <= 0) return;
	tpage *pi = &out->pinfo[pageno];
	pi->image_cover += w * h / (pw * ph);
	if (pi->image_cover > 1) pi->image_cover = 1;
	/* a logo or a letterhead: big enough to hold a line of text */
	if (w < 40 || h < 12 || w * h < 1200) return;
	if (out->nimages % 16 == 0) out->images = xrealloc(out->images, (out->nimages + 16) * sizeof *out->images);
	timage *im = &out->images[out->nimages++];
	im->x0 = r.x0; im->y0 = r.y0; im->x1 = r.x1; im->y1 = r.y1; im->page = pageno;
}

static void page_segments(fz_context *ctx, fz_stext_page *sp, int pageno, segvec *sv, tlayout *out)
{
	tpage *pi = &out->pinfo[pageno];
	for (fz_stext_block *bl = sp->first_block; bl; bl = bl->next) {
		if (bl->type == FZ_STEXT_BLOCK_IMAGE) {
			page_image(bl, pageno, out->page_w[pageno], out->page_h[pageno], out);
			continue;
		}
		if (bl->type != FZ_STEXT_BLOCK_TEXT) continue;
		for (fz_stext_line *ln = bl->u.t.first_line; ln; ln = ln->next) {
			sbuf b; sb_init(&b);
			tseg cur; memset(&cur, 0, sizeof cur);
			float prev_x1 = 0; int prev_space = 1, have = 0;
			for (fz_stext_char *ch = ln->first_char; ch; ch = ch->next) {
				fz_rect r = fz_rect_from_quad(ch->quad);
				float size = ch->size > 0 ? ch->size : 10;
				int is_sp = ch->c == ' ' || ch->c == '\t' || ch->c == 0xA0;
				if (!is_sp) {
					pi->chars++;
					if (unmappable(ch->c)) pi->bad++;
				}
				if (ch->c == 0) continue;
				if (have) {
					float gap = r.x0 - prev_x1;
					if (gap > 1.2f * size) {
						flush_seg(sv, &b, &cur);
						memset(&cur, 0, sizeof cur);
						have = 0;
						prev_space = 1;
					} else if (gap > 0.15f * size && !prev_space && !is_sp) {
						sb_putc(&b, ' ');
					}
				}
				if (is_sp) {
					if (have && !prev_space) sb_putc(&b, ' ');
					prev_space = 1;
					prev_x1 = r.x1 > prev_x1 ? r.x1 : prev_x1;
					continue;
				}
				char u[8];
				int n = fz_runetochar(u, ch->c);
				sb_putn(&b, u, n);
				if (!have) {
					cur.x0 = r.x0; cur.y0 = r.y0; cur.x1 = r.x1; cur.y1 = r.y1;
					cur.size = size; cur.page = pageno; have = 1;
				} else {
					if (r.x0 < cur.x0) cur.x0 = r.x0;
					if (r.x1 > cur.x1) cur.x1 = r.x1;
					if (r.y0 < cur.y0) cur.y0 = r.y0;
					if (r.y1 > cur.y1) cur.y1 = r.y1;
					if (size > cur.size) cur.size = size;
				}
				prev_x1 = r.x1;
				prev_space = 0;
			}
			if (have) flush_seg(sv, &b, &cur);
			else sb_free(&b);
		}
	}
	(void) ctx;
}

static int cmp_seg_y(const void *a, const void *b)
{
	const tseg *s = a, *t = b;
	if (s->page != t->page) return s->page - t->page;
	float cs = (s->y0 + s->y1) / 2, ct = (t->y0 + t->y1) / 2;
	if (cs < ct) return -1;
	if (cs > ct) return 1;
	return s->x0 < t->x0 ? -1 : s->x0 > t->x0;
}

static int cmp_seg_x(const void *a, const void *b)
{
	const tseg *s = a, *t = b;
	return s->x0 < t->x0 ? -1 : s->x0 > t->x0;
}

void tlayout_build_rows(tlayout *l)
{
	free(l->rows);
	if (l->nsegs > 1) qsort(l->segs, l->nsegs, sizeof *l->segs, cmp_seg_y);
	l->rows = xcalloc(l->nsegs + 1, sizeof *l->rows);
	l->nrows = 0;
	size_t i = 0;
	while (i < l->nsegs) {
		tseg *f = &l->segs[i];
		float c = (f->y0 + f->y1) / 2, h = f->y1 - f->y0;
		size_t j = i + 1;
		while (j < l->nsegs && l->segs[j].page == f->page) {
			tseg *s = &l->segs[j];
			float cs = (s->y0 + s->y1) / 2, hs = s->y1 - s->y0;
			float tol = 0.35f * (hs < h ? hs : h);
			if (tol < 1.0f) tol = 1.0f;
			if (fabsf(cs - c) > tol) break;
			j++;
		}
		qsort(l->segs + i, j - i, sizeof *l->segs, cmp_seg_x);
		trow *r = &l->rows[l->nrows];
		r->first = (int) i; r->n = (int) (j - i); r->page = f->page;
		r->y0 = f->y0; r->y1 = f->y1;
		for (size_t k = i; k < j; k++) {
			l->segs[k].row = (int) l->nrows;
			if (l->segs[k].y0 < r->y0) r->y0 = l->segs[k].y0;
			if (l->segs[k].y1 > r->y1) r->y1 = l->segs[k].y1;
		}
		l->nrows++;
		i = j;
	}
}

/* One page into sv; returns 0 and a message on failure. */
static int one_page(fz_context *ctx, pdf_document *doc, int i, tlayout *out, segvec *sv, char **error)
{
	fz_page *page = NULL;
	fz_stext_page *sp = NULL;
	volatile int ok = 1;
	fz_var(page);
	fz_var(sp);
	fz_try(ctx) {
		page = fz_load_page(ctx, (fz_document *) doc, i);
		fz_rect bb = fz_bound_page(ctx, page);
		out->page_w[i] = bb.x1 - bb.x0;
		out->page_h[i] = bb.y1 - bb.y0;
		fz_stext_options opts;
		memset(&opts, 0, sizeof opts);
		opts.flags = FZ_STEXT_PRESERVE_IMAGES;	/* image blocks keep a reference, nothing is decoded */
		sp = fz_new_stext_page_from_page(ctx, page, &opts);
		page_segments(ctx, sp, i, sv, out);
		/* only a page mostly under images can be a scan: the others skip the census */
		if (out->pinfo[i].image_cover >= 0.5f) page_census(ctx, page, bb, &out->pinfo[i]);
	}
	fz_always(ctx) {
		fz_drop_stext_page(ctx, sp);
		fz_drop_page(ctx, page);
	}
	fz_catch(ctx) {
		sbuf b; sb_init(&b);
		sb_printf(&b, "unreadable PDF page: %s", fz_caught_message(ctx));
		*error = sb_steal(&b);
		ok = 0;
	}
	return ok;
}

int pdfsrc_layout(pdf_src *p, int max_pages, tlayout *out, char **error)
{
	memset(out, 0, sizeof *out);
	int np = p->pages;
	if (max_pages > 0 && np > max_pages) np = max_pages;
	segvec sv = {0};
	out->pages = np;
	out->page_h = xcalloc(np + 1, sizeof(float));
	out->page_w = xcalloc(np + 1, sizeof(float));
	out->pinfo = xcalloc(np + 1, sizeof(tpage));
	int good = 0;
	char *last = NULL;
	for (int i = 0; i < np; i++) {
		char *e = NULL;
		if (one_page(p->ctx, p->doc, i, out, &sv, &e)) good++;
		else { free(last); last = e; }
	}
	out->segs = sv.v;
	out->nsegs = sv.n;
	/* A broken page: keep what the others give, unless none could be read. */
	if (np > 0 && good == 0) {
		*error = last ? last : xstrdup("unreadable PDF: no page could be read");
		tlayout_free(out);
		return 0;
	}
	free(last);
	tlayout_build_rows(out);
	return 1;
}

void tlayout_free(tlayout *l)
{
	for (size_t i = 0; i < l->nsegs; i++) free(l->segs[i].text);
	free(l->segs);
	free(l->rows);
	free(l->page_h);
	free(l->page_w);
	free(l->pinfo);
	free(l->images);
	memset(l, 0, sizeof *l);
}

void tlayout_drop_page(tlayout *l, int pg)
{
	size_t k = 0;
	for (size_t i = 0; i < l->nsegs; i++) {
		if (l->segs[i].page == pg) free(l->segs[i].text);
		else l->segs[k++] = l->segs[i];
	}
	l->nsegs = k;
	tlayout_build_rows(l);
}

static void *dup_mem(const void *p, size_t n)
{
	if (!p) return NULL;
	void *d = xmalloc(n ? n : 1);
	memcpy(d, p, n);
	return d;
}

void tlayout_copy(tlayout *dst, const tlayout *src)
{
	*dst = *src;
	dst->segs = dup_mem(src->segs, src->nsegs * sizeof *src->segs);
	for (size_t i = 0; i < src->nsegs; i++) dst->segs[i].text = xstrdup(src->segs[i].text);
	dst->rows = dup_mem(src->rows, (src->nrows + 1) * sizeof *src->rows);
	dst->page_h = dup_mem(src->page_h, (src->pages + 1) * sizeof(float));
	dst->page_w = dup_mem(src->page_w, (src->pages + 1) * sizeof(float));
	dst->pinfo = dup_mem(src->pinfo, (src->pages + 1) * sizeof(tpage));
	dst->images = dup_mem(src->images, src->nimages * sizeof *src->images);
}

char *tlayout_row_text(const tlayout *l, size_t r)
{
	sbuf b; sb_init(&b);
	const trow *row = &l->rows[r];
	for (int k = 0; k < row->n; k++) {
		if (k) sb_puts(&b, "  ");
		sb_puts(&b, l->segs[row->first + k].text);
	}
	return sb_steal(&b);
}

char *tlayout_text(const tlayout *l)
{
	sbuf b; sb_init(&b);
	for (size_t r = 0; r < l->nrows; r++) {
		if (r) sb_puts(&b, l->rows[r].page != l->rows[r - 1].page ? "\n\n" : "\n");
		char *t = tlayout_row_text(l, r);
		sb_puts(&b, t);
		free(t);
	}
	return sb_steal(&b);
}
