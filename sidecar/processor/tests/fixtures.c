/* Test fixtures built with MuPDF at test time (fixtures.h). */
#include "fixtures.h"

#include <mupdf/fitz.h>
#include <mupdf/pdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_W 595.0f
#define PAGE_H 842.0f

static unsigned char *save(fz_context *ctx, pdf_document *doc, size_t *len)
{
	fz_buffer *buf = fz_new_buffer(ctx, 1 << 16);
	fz_output *o = fz_new_output_with_buffer(ctx, buf);
	pdf_write_options wo = pdf_default_write_options;
	wo.do_compress = 1;
	pdf_write_document(ctx, doc, o, &wo);
	fz_close_output(ctx, o);
	fz_drop_output(ctx, o);
	unsigned char *data;
	size_t n = fz_buffer_storage(ctx, buf, &data);
	unsigned char *copy = malloc(n);
	memcpy(copy, data, n);
	fz_drop_buffer(ctx, buf);
	*len = n;
	return copy;
}

/* Helvetica whose encoding names every glyph /gXX: no name maps to Unicode, so the
 * page shows text that a text layer reads as U+FFFD (a font without ToUnicode). */
static pdf_obj *nomap_font(fz_context *ctx, pdf_document *doc)
{
	pdf_obj *f = pdf_new_dict(ctx, doc, 4);
	pdf_dict_put(ctx, f, PDF_NAME(Type), PDF_NAME(Font));
	pdf_dict_put(ctx, f, PDF_NAME(Subtype), PDF_NAME(Type1));
	pdf_dict_put_name(ctx, f, PDF_NAME(BaseFont), "Helvetica");
	pdf_obj *enc = pdf_dict_put_dict(ctx, f, PDF_NAME(Encoding), 2);
	pdf_obj *diff = pdf_dict_put_array(ctx, enc, PDF_NAME(Differences), 100);
	pdf_array_push_int(ctx, diff, 32);
	for (int c = 32; c < 127; c++) {
		char name[8];
		snprintf(name, sizeof name, "g%02x", c);
		pdf_array_push_name(ctx, diff, name);
	}
	pdf_obj *ref = pdf_add_object(ctx, doc, f);
	pdf_drop_obj(ctx, f);
	return ref;
}

static int nomap;	/* fx_nomap_pdf: the next pages use nomap_font */
static int layer = -1;	/* fx_scan_layer_pdf: how the text lies over the image (FX_LAYER_*), -1: text then image */

/* A page of w x h points: text lines (Helvetica) and optionally one image at a box; the
 * text is drawn first unless layer says otherwise. */
static void add_page(fz_context *ctx, pdf_document *doc, float w, float h, const fx_line *lines, size_t n,
					 fz_image *img, fz_rect box)
{
	pdf_obj *res = pdf_new_dict(ctx, doc, 2);
	fz_buffer *cb = fz_new_buffer(ctx, 1024);
	if (n && nomap) {
		pdf_obj *f = nomap_font(ctx, doc);
		pdf_obj *fonts = pdf_dict_put_dict(ctx, res, PDF_NAME(Font), 1);
		pdf_dict_puts(ctx, fonts, "F1", f);
		pdf_drop_obj(ctx, f);
	} else if (n) {
		fz_font *font = fz_new_base14_font(ctx, "Helvetica");
		pdf_obj *f = pdf_add_simple_font(ctx, doc, font, PDF_SIMPLE_ENCODING_LATIN);
		pdf_obj *fonts = pdf_dict_put_dict(ctx, res, PDF_NAME(Font), 1);
		pdf_dict_puts(ctx, fonts, "F1", f);
		pdf_drop_obj(ctx, f);
		fz_drop_font(ctx, font);
	}
	int image_first = img && (layer == FX_LAYER_INVISIBLE || layer == FX_LAYER_VISIBLE_ON_TOP);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == (image_first ? 0 : 1) && img) {
			pdf_obj *im = pdf_add_image(ctx, doc, img);
			pdf_obj *xo = pdf_dict_put_dict(ctx, res, PDF_NAME(XObject), 1);
			pdf_dict_puts(ctx, xo, "Im0", im);
			pdf_drop_obj(ctx, im);
			fz_append_printf(ctx, cb, "q %g 0 0 %g %g %g cm /Im0 Do Q\n", box.x1 - box.x0, box.y1 - box.y0, box.x0, h - box.y1);
		}
		if (pass == (image_first ? 1 : 0))
			for (size_t i = 0; i < n; i++)
				fz_append_printf(ctx, cb, "BT /F1 %g Tf %s%g %g Td (%s) Tj ET\n", lines[i].size,
								 layer == FX_LAYER_INVISIBLE ? "3 Tr " : "", lines[i].x, h - lines[i].y, lines[i].text);
	}
	pdf_obj *page = pdf_add_page(ctx, doc, fz_make_rect(0, 0, w, h), 0, res, cb);
	pdf_insert_page(ctx, doc, -1, page);
	pdf_drop_obj(ctx, page);
	pdf_drop_obj(ctx, res);
	fz_drop_buffer(ctx, cb);
}

unsigned char *fx_text_pdf(const fx_line *lines, size_t n, size_t *len)
{
	return fx_text_pdf_pages(lines, n, 1, len);
}

unsigned char *fx_text_pdf_pages(const fx_line *lines, size_t n, int pages, size_t *len)
{
	fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
	pdf_document *doc = NULL;
	unsigned char *out = NULL;
	fz_var(doc);
	fz_try(ctx) {
		doc = pdf_create_document(ctx);
		for (int i = 0; i < pages; i++) add_page(ctx, doc, PAGE_W, PAGE_H, lines, n, NULL, fz_empty_rect);
		out = save(ctx, doc, len);
	}
	fz_always(ctx) pdf_drop_document(ctx, doc);
	fz_catch(ctx) out = NULL;
	fz_drop_context(ctx);
	return out;
}

unsigned char *fx_nomap_pdf(const fx_line *lines, size_t n, size_t *len)
{
	nomap = 1;
	unsigned char *out = fx_text_pdf_pages(lines, n, 1, len);
	nomap = 0;
	return out;
}

unsigned char *fx_scan_pdf(const unsigned char *pdf, size_t len, int dpi, size_t *outlen)
{
	return fx_scan_layer_pdf(pdf, len, dpi, NULL, 0, -1, outlen);
}

unsigned char *fx_scan_layer_pdf(const unsigned char *pdf, size_t len, int dpi, const fx_line *lines, size_t n,
								 int how, size_t *outlen)
{
	fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
	fz_stream *stm = NULL;
	fz_document *src = NULL;
	pdf_document *doc = NULL;
	unsigned char *out = NULL;
	fz_var(stm); fz_var(src); fz_var(doc);
	fz_try(ctx) {
		fz_register_document_handlers(ctx);
		stm = fz_open_memory(ctx, pdf, len);
		src = fz_open_document_with_stream(ctx, "application/pdf", stm);
		doc = pdf_create_document(ctx);
		int np = fz_count_pages(ctx, src);
		for (int i = 0; i < np; i++) {
			fz_page *pg = fz_load_page(ctx, src, i);
			fz_rect b = fz_bound_page(ctx, pg);
			fz_pixmap *pix = fz_new_pixmap_from_page(ctx, pg, fz_scale(dpi / 72.0f, dpi / 72.0f), fz_device_gray(ctx), 0);
			fz_image *img = fz_new_image_from_pixmap(ctx, pix, NULL);
			layer = how;
			add_page(ctx, doc, b.x1 - b.x0, b.y1 - b.y0, lines, n, img, fz_make_rect(0, 0, b.x1 - b.x0, b.y1 - b.y0));
			layer = -1;
			fz_drop_image(ctx, img);
			fz_drop_pixmap(ctx, pix);
			fz_drop_page(ctx, pg);
		}
		out = save(ctx, doc, outlen);
	}
	fz_always(ctx) {
		pdf_drop_document(ctx, doc);
		fz_drop_document(ctx, src);
		fz_drop_stream(ctx, stm);
	}
	fz_catch(ctx) out = NULL;
	fz_drop_context(ctx);
	return out;
}

unsigned char *fx_logo_pdf(const fx_line *lines, size_t n, int dpi, size_t *len)
{
	fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
	pdf_document *logo = NULL, *doc = NULL;
	unsigned char *out = NULL;
	fz_var(logo); fz_var(doc);
	fz_try(ctx) {
		/* the logo: lines[0] alone on a page just large enough, rendered to an image */
		float lw = lines[0].size * 0.6f * (float) strlen(lines[0].text) + 20, lh = lines[0].size * 2;
		fx_line l0 = { 10, lines[0].size * 1.4f, lines[0].size, lines[0].text };
		logo = pdf_create_document(ctx);
		add_page(ctx, logo, lw, lh, &l0, 1, NULL, fz_empty_rect);
		fz_pixmap *pix = fz_new_pixmap_from_page_number(ctx, (fz_document *) logo, 0,
														 fz_scale(dpi / 72.0f, dpi / 72.0f), fz_device_gray(ctx), 0);
		fz_image *img = fz_new_image_from_pixmap(ctx, pix, NULL);
		fz_drop_pixmap(ctx, pix);
		float x = lines[0].x - 10, y = lines[0].y - l0.y;
		doc = pdf_create_document(ctx);
		add_page(ctx, doc, PAGE_W, PAGE_H, lines + 1, n - 1, img, fz_make_rect(x, y, x + lw, y + lh));
		fz_drop_image(ctx, img);
		out = save(ctx, doc, len);
	}
	fz_always(ctx) {
		pdf_drop_document(ctx, doc);
		pdf_drop_document(ctx, logo);
	}
	fz_catch(ctx) out = NULL;
	fz_drop_context(ctx);
	return out;
}
