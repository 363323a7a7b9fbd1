/* Private to pdf_text.c / pdf_attachments.c / pdf_scan.c / pdf_ocr.c. */
#ifndef IF_PDF_INTERNAL_H
#define IF_PDF_INTERNAL_H

#include <mupdf/fitz.h>
#include <mupdf/pdf.h>

#include "pdf_doc.h"

struct pdf_src {
	fz_context   *ctx;
	fz_stream    *stm;
	pdf_document *doc;
	int           pages;
};

/* pdf_scan.c: sets pi->scan, visible_glyphs and hidden_glyphs from what page draws
 * (bounds: the page's box). */
void page_census(fz_context *ctx, fz_page *page, fz_rect bounds, tpage *pi);

#endif
