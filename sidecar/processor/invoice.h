/* The extracted invoice (DESIGN.md § Extracted invoice) as a C structure. */
#ifndef IF_INVOICE_H
#define IF_INVOICE_H

#include <stddef.h>

typedef enum { SRC_NONE = 0, SRC_XML, SRC_TEXT, SRC_OCR } field_src;

typedef enum {
	F_DOCUMENT_TYPE, F_INVOICE_NUMBER, F_ISSUE_DATE, F_DUE_DATE, F_CURRENCY,
	F_PURCHASE_ORDER, F_PAYMENT_TERMS,
	F_SELLER_NAME, F_SELLER_VAT, F_SELLER_ADDRESS,
	F_BUYER_NAME, F_BUYER_VAT, F_BUYER_ADDRESS,
	F_NET, F_TAX, F_TOTAL, F_AMOUNT_DUE,
	F_IBAN, F_BIC, F_REFERENCE,
	F_COUNT
} field_id;

/* Key of the field in "confidence" / "sources" ("seller.name", "totals.total", ...). */
extern const char *const field_key[F_COUNT];

typedef struct {
	char      *value;		/* NULL = unknown */
	double     conf;		/* 0..1 */
	field_src  src;
} inv_field;

typedef struct { char *rate, *base, *amount; } inv_tax;

typedef struct {
	char *description, *quantity, *unit, *unit_price, *net_amount, *tax_rate;
} inv_line;

typedef struct {
	inv_field  f[F_COUNT];
	inv_tax   *taxes;  size_t ntaxes;
	inv_line  *lines;  size_t nlines;
	field_src  lines_src;
	double     lines_conf;		/* 0..1; XML lines are 1 */
	char      *profile;		/* XML guideline id */
	field_src  source;		/* overall: xml when structured data was used */
	int        needs_review;
	unsigned   review_reasons;	/* review.c: why needs_review was set (bits) */
} invoice;

void invoice_init(invoice *inv);
void invoice_free(invoice *inv);
/* Set a field (takes a copy of value; a NULL or empty value is ignored). */
void inv_set(invoice *inv, field_id id, const char *value, double conf, field_src src);
void inv_add_tax(invoice *inv, const char *rate, const char *base, const char *amount);
inv_line *inv_add_line(invoice *inv);
/* Move everything known in `from` into `to` where `to` is unknown; frees nothing of `to`. */
void invoice_fill_from(invoice *to, invoice *from);

/* Full processor result (invoice_json.c) {"invoice": {...}, "text": "...", "meta": {...}}. */
char *result_to_json(const invoice *inv, const char *text, int pages, int repaired, const char *xml_name);

#endif
