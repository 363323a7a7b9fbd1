/* Field labels of invoices in EN, DE, FR, NL, ES, IT (labels.c). */
#ifndef IF_LABELS_H
#define IF_LABELS_H

enum {
	LT_NUMBER, LT_ISSUE, LT_DUE, LT_TOTAL, LT_NET, LT_TAX, LT_DUEAMT,
	LT_SELLER, LT_BUYER, LT_PO, LT_TERMS, LT_REF, LT_BIC, LT_CURRENCY,
	LT_IGNORE	/* labels of other things: they hide shorter labels inside them */
};

#define LF_INLINE 1	/* the value must follow in the same segment ("Invoice INV-1") */
#define LF_COLON  2	/* party label: only with a colon or alone ("Seller:", not "Seller trade name") */

typedef struct {
	const char *text;	/* folded: lowercase ASCII, no diacritics, "n°" -> "no" */
	int type, weight, flags;
} text_label;

extern const text_label text_labels[];

#endif
