/* How well a page's words were read (layer_quality.c): to choose, on a scan, between
 * the scanner's own text layer and our OCR by the same measure for both. */
#ifndef IF_LAYER_QUALITY_H
#define IF_LAYER_QUALITY_H

#include "pdf_doc.h"

/* Share (0..1) of the characters of page pg's segments with ocr == from_ocr that lie in
 * well-formed tokens; *chars gets how many characters were looked at. */
double layer_quality(const tlayout *l, int pg, int from_ocr, int *chars);

/* The same for one token (exposed for the unit tests): 1 well-formed, 0 misread. */
int token_well_formed(const char *tok, size_t len);

#endif
