/* A PDF opened with MuPDF from memory, its text layout and its attachments. */
#ifndef IF_PDF_DOC_H
#define IF_PDF_DOC_H

#include <stddef.h>

/* One run of text on one visual line, separated from its neighbours by a wide gap. */
typedef struct {
	char  *text;			/* UTF-8, single-spaced */
	float  x0, y0, x1, y1;		/* page coordinates, y grows downwards */
	float  size;			/* font size */
	int    page;			/* 0-based */
	int    row;			/* index into tlayout.rows */
	unsigned char ocr;		/* 1: the words came from OCR (pdf_ocr.c), 0: the text layer */
	float  conf;			/* OCR: its least sure word's confidence 0..1; text layer: 1 */
	float  conf_digits;		/* OCR: the least sure of its words holding a digit (1 if none) */
	float  conf_mean;		/* OCR: its words' mean confidence; text layer: 1 */
} tseg;

/* Segments that share a baseline, left to right. */
typedef struct {
	int    first, n;		/* segs[first .. first+n) */
	int    page;
	float  y0, y1;
} trow;

/* What the text layer of one page holds, to decide whether it needs OCR. */
typedef struct {
	int    chars;			/* characters in the text layer, spaces excluded */
	int    bad;			/* of them unmappable: U+FFFD, private use, control */
	float  image_cover;		/* share of the page area under images (0..1, capped) */
	int    scan;			/* 1: a scan (pdf_scan.c): page-covering images, no visible text;
					 * its text layer, if any, is a scanner's OCR */
	int    visible_glyphs;		/* glyphs drawn visibly (counted on pages mostly image) */
	int    hidden_glyphs;		/* glyphs nobody sees: invisible, or under an opaque image */
	int    ocr;			/* 1: the page's words come from OCR, its text layer was dropped */
	int    scanner_layer;		/* 1: a scan whose own text layer was kept (read better than ours) */
	float  quality_layer, quality_ocr;	/* layer_quality() of both readings of a scan, -1 if not measured */
	int    ocr_regions;		/* image regions OCR'd on a text page (words added) */
} tpage;

/* An image drawn on a page (page coordinates), candidate for region OCR. */
typedef struct {
	float  x0, y0, x1, y1;
	int    page;
} timage;

typedef struct {
	tseg   *segs;  size_t nsegs;
	trow   *rows;  size_t nrows;
	int     pages;
	float  *page_h, *page_w;	/* per page */
	tpage  *pinfo;			/* per page */
	timage *images; size_t nimages;
	int     ocr_pages;		/* pages OCR'd whole or in part */
} tlayout;

typedef struct {
	char          *name;
	unsigned char *data;
	size_t         len;
} pdf_attachment;

typedef struct pdf_src pdf_src;

/* Opens buf (not copied: keep it alive).  Returns 0 and sets *error on failure
 * ("encrypted PDF", "unreadable PDF: ..."). */
int  pdfsrc_open(const unsigned char *buf, size_t len, pdf_src **out, char **error);
void pdfsrc_close(pdf_src *p);
int  pdfsrc_pages(pdf_src *p);
int  pdfsrc_repaired(pdf_src *p);

/* Text with positions (pdf_text.c); max_pages caps the work (0 = all). */
int  pdfsrc_layout(pdf_src *p, int max_pages, tlayout *out, char **error);
void tlayout_free(tlayout *l);
/* Sorts the segments and groups them into rows again (after segments were added). */
void tlayout_build_rows(tlayout *l);
/* Drops page pg's segments; rows are rebuilt. */
void tlayout_drop_page(tlayout *l, int pg);
/* A deep copy. */
void tlayout_copy(tlayout *dst, const tlayout *src);

/* OCR (pdf_ocr.c).  An engine is created at the first call and kept in *eng
 * (free with ocr_engine_free).  Page pg rendered whole, or only the clip
 * rectangle (page coordinates) when clip is not NULL, at up to dpi; the words
 * become segments with ocr = 1 appended to out (rows not rebuilt).  With
 * skip_text, words over an existing text segment are left out. */
struct ocr_engine;
int  pdfsrc_ocr(pdf_src *p, struct ocr_engine **eng, const char *langs, int pg, const timage *clip,
				int dpi, int skip_text, tlayout *out, char **error);
/* Plain text: rows joined by newlines, segments by two spaces, pages by a blank line. */
char *tlayout_text(const tlayout *l);
/* Text of row r (segments joined by two spaces). */
char *tlayout_row_text(const tlayout *l, size_t r);

/* Embedded files (pdf_attachments.c): EmbeddedFiles name tree and /AF. */
int  pdfsrc_attachments(pdf_src *p, pdf_attachment **out, size_t *n);
void pdf_attachments_free(pdf_attachment *a, size_t n);

#endif
