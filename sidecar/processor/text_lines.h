/* Line items from the text layer: a table with a recognisable header row (text_lines.c). */
#ifndef IF_TEXT_LINES_H
#define IF_TEXT_LINES_H

#include "invoice.h"
#include "pdf_doc.h"

/*
 * Finds item tables (a header band of column labels in EN, DE, FR, NL, ES, IT,
 * rows below it assigned to the columns by position), validates them
 * (quantity x unit price = net amount, sum of the lines = the invoice's net or
 * total from inv) and adds the lines of the best consistent one to inv
 * (lines_src = SRC_TEXT, lines_conf).  Call after the header fields are known.
 * Returns the number of lines added (0: no table, or nothing consistent).
 */
size_t text_extract_lines(const tlayout *l, invoice *inv);

#endif
