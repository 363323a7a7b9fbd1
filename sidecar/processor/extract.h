/* The processor's extraction entry point. */
#ifndef IF_EXTRACT_H
#define IF_EXTRACT_H

#include <stddef.h>

typedef struct {
	int no_xml;		/* ignore embedded invoice XML (measure the text path) */
	int max_pages;		/* 0 = every page */
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
