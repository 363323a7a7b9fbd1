/* Private to pdf_text.c / pdf_attachments.c. */
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

#endif
