/* When to OCR what (extract.c's OCR policy): pages without a usable text layer, every
 * page when forced, scanned pages and images when key fields are missing. */
#ifndef IF_EXTRACT_OCR_H
#define IF_EXTRACT_OCR_H

#include "extract.h"
#include "pdf_doc.h"

typedef struct {
	int         mode;		/* EXTRACT_OCR_* */
	int         max_pages;	/* pages OCR'd at most (0: none) */
	int         dpi;
	const char *langs;
	struct ocr_engine *eng;	/* created at the first page */
	int         used;		/* pages OCR'd so far */
	int         stopped;	/* pages left unread for the limits */
	double      worst;		/* CPU seconds of the slowest page so far */
	char       *error;		/* the last OCR failure, for the no-text message */
} ocr_run;

/* Settings from opt and the environment; 0 and *error on a bad PROCESSOR_OCR_* value. */
int  ocr_run_init(ocr_run *r, const extract_options *opt, char **error);
void ocr_run_free(ocr_run *r);

/* Replaces the text layer of the pages that need OCR (every page when forced); on a scan
 * whose text layer is the scanner's OCR, keeps the better read of the two (per page).
 * Segments of a scanner's layer that stay are marked ocr with confidence 0. */
void ocr_pages(pdf_src *src, tlayout *l, ocr_run *r);

/* The page's words must come from OCR (ours or a scanner's): a scan (pdf_scan.c), no
 * text layer, or an unusable one.  Decided from the page itself, whatever the OCR mode. */
int  page_is_ocr_path(const tpage *p);

/* Marks the text-layer segments of scanned pages (tpage.scan) as OCR without confidence. */
void mark_scanner_layers(tlayout *l);

/* Second chance for a text page that lacks key fields: pages that are one big image
 * (a scan with the scanner's own text layer) are OCR'd whole and replace their text;
 * with regions, the first page's larger images (logos, letterheads) add their words.
 * Returns 1 when l changed. */
int  ocr_images(pdf_src *src, tlayout *l, ocr_run *r, int regions);

#endif
