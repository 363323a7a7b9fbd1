/* OCR of grey images with Tesseract 5 (C API): words with their boxes and confidences. */
#ifndef IF_OCR_H
#define IF_OCR_H

#include <stddef.h>

#define OCR_DEFAULT_LANGS     "eng"	/* measured: README § OCR */
#define OCR_DEFAULT_MAX_PAGES 10

/* One recognised word; the box is in pixels of the image given to ocr_recognize(). */
typedef struct {
	char  *text;			/* UTF-8 */
	int    x0, y0, x1, y1;
	int    line;			/* words of one Tesseract text line share this number */
	int    ly0, ly1;		/* that line's top and bottom (pixels) */
	float  conf;			/* 0..1 */
} ocr_word;

typedef struct ocr_engine ocr_engine;

/* An engine for langs ("eng+deu").  NULL and *error when Tesseract cannot load them. */
ocr_engine *ocr_engine_new(const char *langs, char **error);
void        ocr_engine_free(ocr_engine *e);

/* Recognises an 8-bit grey image (w x h, stride bytes per row) rendered at dpi.
 * Returns 1 with the words (free with ocr_words_free), or 0 and *error. */
int  ocr_recognize(ocr_engine *e, const unsigned char *px, int w, int h, int stride, int dpi,
				   ocr_word **words, size_t *nwords, char **error);
void ocr_words_free(ocr_word *w, size_t n);

/* Cuts what table rules and box edges read as characters from an OCR word, in place: a '|'
 * at either end, an unmatched '[' or ']' ("| Kaufer |", "[Zahlungsart"), an unclosed quote
 * mark before a number ("\"550,60").  Returns 0 when
 * nothing else is left (the word is dropped), 1 otherwise. */
int  ocr_strip_rules(char *text);

/* A lone '«', '»', '°' or bullet between two words of one line becomes the middle dot
 * U+00B7 it was printed as (a separated sender line), in place. */
void ocr_fix_dots(ocr_word *w, size_t n);

/* PROCESSOR_OCR_MAX_PAGES (0-1000, 0 = no OCR) and PROCESSOR_OCR_LANGS (lang[+lang...],
 * each installed).  Returns 0 and a message naming the variable on a bad value. */
int  ocr_settings(int *max_pages, const char **langs, char *err, size_t errsz);

#endif
