/* needs_review: missing or inconsistent key fields, or a value we are not sure of. */
#include "review.h"
#include "parsers.h"

#include <stdlib.h>

static int cents(const invoice *inv, field_id id, long long *c)
{
	return inv->f[id].value && amount_cents(inv->f[id].value, c);
}

void invoice_review(invoice *inv)
{
	int r = 0;
	if (!inv->f[F_INVOICE_NUMBER].value || !inv->f[F_ISSUE_DATE].value || !inv->f[F_TOTAL].value) r = 1;
	long long n, t, g;
	if (cents(inv, F_NET, &n) && cents(inv, F_TAX, &t) && cents(inv, F_TOTAL, &g) && llabs(n + t - g) > 1) r = 1;
	if (inv->f[F_DUE_DATE].value && inv->f[F_ISSUE_DATE].value &&
		date_days(inv->f[F_DUE_DATE].value) < date_days(inv->f[F_ISSUE_DATE].value)) r = 1;
	/* every header field a person would check, when it was returned */
	static const field_id checked[] = { F_INVOICE_NUMBER, F_ISSUE_DATE, F_DUE_DATE, F_CURRENCY,
		F_SELLER_NAME, F_BUYER_NAME, F_NET, F_TAX, F_TOTAL };
	for (size_t i = 0; i < sizeof checked / sizeof checked[0]; i++) {
		const inv_field *f = &inv->f[checked[i]];
		if (f->value && f->conf < REVIEW_MIN_CONF) r = 1;
	}
	inv->needs_review = r;
}
