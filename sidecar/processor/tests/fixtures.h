/* Test fixtures built with MuPDF at test time: text PDFs with words at known places,
 * and "scans" of them (each page rendered to a grey image, wrapped in an image-only PDF). */
#ifndef IF_TEST_FIXTURES_H
#define IF_TEST_FIXTURES_H

#include <stddef.h>

/* One line of text: baseline origin (x, y from the top-left, points), font size. */
typedef struct { float x, y, size; const char *text; } fx_line;

/* A one-page A4 PDF (Helvetica) with the lines; *len set; malloc'd. */
unsigned char *fx_text_pdf(const fx_line *lines, size_t n, size_t *len);
/* The same text drawn with a font whose glyph names map to no Unicode character
 * (the text layer reads U+FFFD): an unusable text layer. */
unsigned char *fx_nomap_pdf(const fx_line *lines, size_t n, size_t *len);
/* The same page repeated. */
unsigned char *fx_text_pdf_pages(const fx_line *lines, size_t n, int pages, size_t *len);

/* Every page of pdf rendered at dpi (grey) and stored as one Flate image per page,
 * same page size, no text layer.  NULL on failure. */
unsigned char *fx_scan_pdf(const unsigned char *pdf, size_t len, int dpi, size_t *outlen);

/* The same, with the lines as a text layer laid over or under the page image: as a
 * scanner's OCR does (invisible, render mode 3, drawn after the image; or visible but
 * drawn first, hidden under the opaque image), or as a born-digital page with a
 * full-page background picture does (visible, drawn after the image). */
enum { FX_LAYER_INVISIBLE, FX_LAYER_UNDER, FX_LAYER_VISIBLE_ON_TOP };
unsigned char *fx_scan_layer_pdf(const unsigned char *pdf, size_t len, int dpi, const fx_line *lines, size_t n,
								 int how, size_t *outlen);

/* A text PDF whose lines[0] is drawn as an image (the logo) and lines[1..n) as text. */
unsigned char *fx_logo_pdf(const fx_line *lines, size_t n, int dpi, size_t *len);

#endif
