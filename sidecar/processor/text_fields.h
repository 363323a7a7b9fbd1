/* Invoice fields from text with positions: labels and layout, six languages. */
#ifndef IF_TEXT_FIELDS_H
#define IF_TEXT_FIELDS_H

#include "invoice.h"
#include "pdf_doc.h"

/* Fills inv (source "text") from the layout; leaves unknown fields NULL. */
void text_extract_fields(const tlayout *l, invoice *inv);

#endif
