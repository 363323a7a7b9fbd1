/* The processor's extraction entry point. */
#ifndef IF_EXTRACT_H
#define IF_EXTRACT_H

#include <stddef.h>

/* OCR modes (extract_options.ocr). */
#define EXTRACT_OCR_AUTO    0	/* pages without a usable text layer; image regions when key fields are missing */
#define EXTRACT_OCR_OFF   (-1)	/* never */
#define EXTRACT_OCR_FORCE   1	/* every page, the text layer ignored (measures the OCR path) */
#define EXTRACT_HAS_OCR_OPTION 1

typedef struct {
	int no_xml;		/* ignore embedded invoice XML (measure the text path) */
	int max_pages;		/* 0 = every page */
	int ocr;		/* EXTRACT_OCR_AUTO / _OFF / _FORCE */
	int ocr_max_pages;	/* pages OCR'd at most; 0: PROCESSOR_OCR_MAX_PAGES or 10 */
	const char *ocr_langs;	/* "eng+deu"; NULL: PROCESSOR_OCR_LANGS or OCR_DEFAULT_LANGS */
	int ocr_dpi;		/* 0: 300 */
} extract_options;

/*
 * Extracts the invoice of one PDF held in memory.  On success returns 1 and sets
 * *result_json to {"invoice": {...}, "text": "...", "meta": {...}} (malloc'd).
 * On failure returns 0 and sets *error to a readable reason (malloc'd):
 * "encrypted PDF", "unreadable PDF: ...", "no text layer and no invoice XML ...".
 * A document that opens but lacks fields is a success with needs_review = true.
 * Meant to run inside a child process with rlimits (the daemon's job).
 */
int extract_document(const unsigned char *buf, size_t len, const extract_options *opt,
					 char **result_json, char **error);

#endif
