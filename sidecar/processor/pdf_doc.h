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
} tseg;

/* Segments that share a baseline, left to right. */
typedef struct {
	int    first, n;		/* segs[first .. first+n) */
	int    page;
	float  y0, y1;
} trow;

typedef struct {
	tseg   *segs;  size_t nsegs;
	trow   *rows;  size_t nrows;
	int     pages;
	float  *page_h, *page_w;	/* per page */
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
/* Plain text: rows joined by newlines, segments by two spaces, pages by a blank line. */
char *tlayout_text(const tlayout *l);
/* Text of row r (segments joined by two spaces). */
char *tlayout_row_text(const tlayout *l, size_t r);

/* Embedded files (pdf_attachments.c): EmbeddedFiles name tree and /AF. */
int  pdfsrc_attachments(pdf_src *p, pdf_attachment **out, size_t *n);
void pdf_attachments_free(pdf_attachment *a, size_t n);

#endif
