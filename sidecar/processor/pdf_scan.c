/* Page census: what a page shows, to tell a scan from a born-digital page.
 *
 * A scan is a page whose visible content is essentially page-covering images: no
 * text, or only text nobody sees, which is a scanner's (or an archiving tool's) own
 * OCR laid over the picture: text in render mode 3 (MuPDF's ignore_text), text drawn
 * with alpha 0, or text drawn first and then painted over by an opaque image.  A
 * born-digital page with a logo, or with a full-page background picture under its
 * text, shows its glyphs (or, for glyphs converted to outlines, its paths) and is not
 * a scan.  The census runs the page through a device of its own that only records
 * bounding boxes in drawing order; images are not decoded. */
#include "pdf_internal.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* A page with at least this much visible text or vector drawing is not a scan: a
 * stamp, a page number or a signature line drawn over a scan stays under both. */
#define SCAN_MAX_VISIBLE_GLYPHS 20
#define SCAN_MAX_VISIBLE_PATHS  20
/* images cover at least this share of the page (scanners leave margins; strips add up) */
#define SCAN_MIN_IMAGE_COVER    0.5f
/* past this many drawing operations a page is too busy to be a scan: stop recording */
#define CENSUS_MAX_ITEMS        4096

enum { K_TEXT, K_HIDDEN_TEXT, K_PATH, K_IMAGE };

typedef struct {
	fz_rect r;
	int     kind;
	int     glyphs;		/* text: glyphs in it */
	int     opaque;		/* image: hides what lies under it */
} citem;

typedef struct {
	fz_device super;
	citem    *v;
	size_t    n, cap;
	int       overflow;
} census_dev;

static void add(fz_context *ctx, census_dev *d, fz_rect r, int kind, int glyphs, int opaque)
{
	(void) ctx;
	if (d->n >= CENSUS_MAX_ITEMS) { d->overflow = 1; return; }
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 64;
		d->v = xrealloc(d->v, d->cap * sizeof *d->v);
	}
	citem *c = &d->v[d->n++];
	c->r = r; c->kind = kind; c->glyphs = glyphs; c->opaque = opaque;
}

static int glyph_count(const fz_text *text)
{
	int n = 0;
	for (const fz_text_span *s = text->head; s; s = s->next) n += s->len;
	return n;
}

static void c_text(fz_context *ctx, census_dev *d, const fz_text *text, const fz_stroke_state *st,
				   fz_matrix ctm, int hidden)
{
	add(ctx, d, fz_bound_text(ctx, text, st, ctm), hidden ? K_HIDDEN_TEXT : K_TEXT, glyph_count(text), 0);
}

static void c_fill_text(fz_context *ctx, fz_device *dev, const fz_text *text, fz_matrix ctm,
						fz_colorspace *cs, const float *color, float alpha, fz_color_params cp)
{
	(void) cs; (void) color; (void) cp;
	c_text(ctx, (census_dev *) dev, text, NULL, ctm, alpha <= 0.0f);
}

static void c_stroke_text(fz_context *ctx, fz_device *dev, const fz_text *text, const fz_stroke_state *st,
						  fz_matrix ctm, fz_colorspace *cs, const float *color, float alpha, fz_color_params cp)
{
	(void) cs; (void) color; (void) cp;
	c_text(ctx, (census_dev *) dev, text, st, ctm, alpha <= 0.0f);
}

/* text as a clipping path shows whatever is painted through it: visible */
static void c_clip_text(fz_context *ctx, fz_device *dev, const fz_text *text, fz_matrix ctm, fz_rect scissor)
{
	(void) scissor;
	c_text(ctx, (census_dev *) dev, text, NULL, ctm, 0);
}

static void c_clip_stroke_text(fz_context *ctx, fz_device *dev, const fz_text *text, const fz_stroke_state *st,
							   fz_matrix ctm, fz_rect scissor)
{
	(void) scissor;
	c_text(ctx, (census_dev *) dev, text, st, ctm, 0);
}

/* render mode 3: the invisible text of a scanner's OCR layer */
static void c_ignore_text(fz_context *ctx, fz_device *dev, const fz_text *text, fz_matrix ctm)
{
	c_text(ctx, (census_dev *) dev, text, NULL, ctm, 1);
}

static void c_fill_path(fz_context *ctx, fz_device *dev, const fz_path *path, int even_odd, fz_matrix ctm,
						fz_colorspace *cs, const float *color, float alpha, fz_color_params cp)
{
	(void) even_odd; (void) cs; (void) color; (void) cp;
	if (alpha > 0.0f) add(ctx, (census_dev *) dev, fz_bound_path(ctx, path, NULL, ctm), K_PATH, 0, 0);
}

static void c_stroke_path(fz_context *ctx, fz_device *dev, const fz_path *path, const fz_stroke_state *st,
						  fz_matrix ctm, fz_colorspace *cs, const float *color, float alpha, fz_color_params cp)
{
	(void) cs; (void) color; (void) cp;
	if (alpha > 0.0f) add(ctx, (census_dev *) dev, fz_bound_path(ctx, path, st, ctm), K_PATH, 0, 0);
}

/* An image hides what was drawn under it unless it is translucent or masked. */
static void c_fill_image(fz_context *ctx, fz_device *dev, fz_image *img, fz_matrix ctm, float alpha,
						 fz_color_params cp)
{
	(void) cp;
	int opaque = alpha >= 0.99f && !img->mask && !img->use_colorkey;
	add(ctx, (census_dev *) dev, fz_transform_rect(fz_unit_rect, ctm), K_IMAGE, 0, opaque);
}

/* a stencil (1-bit scans are often drawn so) paints its ink, not its box */
static void c_fill_image_mask(fz_context *ctx, fz_device *dev, fz_image *img, fz_matrix ctm,
							  fz_colorspace *cs, const float *color, float alpha, fz_color_params cp)
{
	(void) img; (void) cs; (void) color; (void) cp;
	if (alpha > 0.0f) add(ctx, (census_dev *) dev, fz_transform_rect(fz_unit_rect, ctm), K_IMAGE, 0, 0);
}

static float area(fz_rect r)
{
	if (fz_is_empty_rect(r) || fz_is_infinite_rect(r)) return 0;
	return (r.x1 - r.x0) * (r.y1 - r.y0);
}

/* Is item i under an opaque image drawn after it (9/10 of its box inside the image)? */
static int covered_later(const census_dev *d, size_t i)
{
	float a = area(d->v[i].r);
	if (a <= 0) return 1;	/* nothing to see */
	for (size_t j = i + 1; j < d->n; j++) {
		const citem *c = &d->v[j];
		if (c->kind != K_IMAGE || !c->opaque) continue;
		if (area(fz_intersect_rect(d->v[i].r, c->r)) >= 0.9f * a) return 1;
	}
	return 0;
}

void page_census(fz_context *ctx, fz_page *page, fz_rect bounds, tpage *pi)
{
	census_dev *d = fz_new_derived_device(ctx, census_dev);
	d->super.fill_text = c_fill_text;
	d->super.stroke_text = c_stroke_text;
	d->super.clip_text = c_clip_text;
	d->super.clip_stroke_text = c_clip_stroke_text;
	d->super.ignore_text = c_ignore_text;
	d->super.fill_path = c_fill_path;
	d->super.stroke_path = c_stroke_path;
	d->super.fill_image = c_fill_image;
	d->super.fill_image_mask = c_fill_image_mask;
	fz_try(ctx) {
		fz_run_page(ctx, page, &d->super, fz_identity, NULL);
		fz_close_device(ctx, &d->super);
	}
	fz_catch(ctx) {
		d->overflow = 1;	/* a page that cannot be run is no scan we can tell */
	}

	float pa = area(bounds), cover = 0;
	int vis_glyphs = 0, hidden_glyphs = 0, vis_paths = 0;
	for (size_t i = 0; i < d->n && pa > 0; i++) {
		const citem *c = &d->v[i];
		switch (c->kind) {
		case K_IMAGE:
			cover += area(fz_intersect_rect(c->r, bounds)) / pa;
			break;
		case K_HIDDEN_TEXT:
			hidden_glyphs += c->glyphs;
			break;
		case K_TEXT:
			if (covered_later(d, i)) hidden_glyphs += c->glyphs;
			else vis_glyphs += c->glyphs;
			break;
		case K_PATH:
			if (!covered_later(d, i)) vis_paths++;
			break;
		}
	}
	if (cover > 1) cover = 1;
	pi->visible_glyphs = vis_glyphs;
	pi->hidden_glyphs = hidden_glyphs;
	pi->scan = !d->overflow && cover >= SCAN_MIN_IMAGE_COVER &&
		vis_glyphs < SCAN_MAX_VISIBLE_GLYPHS && vis_paths < SCAN_MAX_VISIBLE_PATHS;
	free(d->v);
	fz_drop_device(ctx, &d->super);
}
