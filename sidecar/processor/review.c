/* needs_review: missing or inconsistent key fields, or a value we are not sure of. */
#include "review.h"
#include "parsers.h"

#include <stdlib.h>

/* every header field a person would check, when it was returned */
static const field_id checked[] = { F_INVOICE_NUMBER, F_ISSUE_DATE, F_DUE_DATE, F_CURRENCY,
	F_SELLER_NAME, F_BUYER_NAME, F_NET, F_TAX, F_TOTAL };
#define NCHECKED (sizeof checked / sizeof checked[0])

/* reason bits: the structural ones, then one "low confidence" bit per checked field */
enum { RV_NO_NUMBER, RV_NO_ISSUE_DATE, RV_NO_TOTAL, RV_SUM, RV_DUE_BEFORE_ISSUE, RV_LOW_CONF };

static const char *const reason_text[RV_LOW_CONF] = {
	"invoice_number missing", "issue_date missing", "total missing",
	"amounts do not add up", "due date before issue date",
};

static const char *const low_conf_text[NCHECKED] = {
	"invoice_number low confidence", "issue_date low confidence", "due_date low confidence",
	"currency low confidence", "seller.name low confidence", "buyer.name low confidence",
	"totals.net low confidence", "totals.tax low confidence", "totals.total low confidence",
};

static int cents(const invoice *inv, field_id id, long long *c)
{
	return inv->f[id].value && amount_cents(inv->f[id].value, c);
}

void invoice_review(invoice *inv)
{
	unsigned m = 0;
	if (!inv->f[F_INVOICE_NUMBER].value) m |= 1u << RV_NO_NUMBER;
	if (!inv->f[F_ISSUE_DATE].value) m |= 1u << RV_NO_ISSUE_DATE;
	if (!inv->f[F_TOTAL].value) m |= 1u << RV_NO_TOTAL;
	long long n, t, g;
	if (cents(inv, F_NET, &n) && cents(inv, F_TAX, &t) && cents(inv, F_TOTAL, &g) && llabs(n + t - g) > 1)
		m |= 1u << RV_SUM;
	if (inv->f[F_DUE_DATE].value && inv->f[F_ISSUE_DATE].value &&
		date_days(inv->f[F_DUE_DATE].value) < date_days(inv->f[F_ISSUE_DATE].value))
		m |= 1u << RV_DUE_BEFORE_ISSUE;
	for (size_t i = 0; i < NCHECKED; i++) {
		const inv_field *f = &inv->f[checked[i]];
		if (f->value && f->conf < REVIEW_MIN_CONF) m |= 1u << (RV_LOW_CONF + i);
	}
	inv->review_reasons = m;
	inv->needs_review = m != 0;
}

size_t review_reason_texts(unsigned mask, const char **out, size_t max)
{
	size_t n = 0;
	for (unsigned b = 0; b < RV_LOW_CONF + NCHECKED; b++) {
		if (!(mask & (1u << b))) continue;
		if (n < max) out[n] = b < RV_LOW_CONF ? reason_text[b] : low_conf_text[b - RV_LOW_CONF];
		n++;
	}
	return n;
}
