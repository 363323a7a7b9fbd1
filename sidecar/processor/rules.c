/*
 * The reader's rule table.  `needed_by` is measured, not remembered: it lists the
 * dev-corpus files that lose a correct field when the rule alone is switched off
 * (`invoiceflow-eval --ablate CORPUS`, which also warns when this table and the
 * measurement disagree).  A rule needed by one vendor only is a fitting suspect:
 * the processor README lists them and what became of them.
 */
#include "rules.h"

#include <string.h>

const rule_info reader_rules[R_COUNT] = {
	[R_VALUE_RIGHT]       = { "value-right", "a label's value right of it on its row", "" },
	[R_VALUE_BELOW]       = { "value-below", "a label's value below it in its column", "" },
	[R_NUMBER_INLINE]     = { "number-inline", "title word followed by the number (\"Invoice INV-1\")", "" },
	[R_DATE_AFTER_NUMBER] = { "date-after-number", "\"No. 1 of/vom/du DATE\"", "" },
	[R_FIRST_DATE]        = { "first-date", "no issue-date label: first date on page 1 (low confidence)", "" },
	[R_AMOUNT_TRIPLE]     = { "amount-triple", "net + tax = total picks among candidates", "" },
	[R_AMOUNT_DERIVE]     = { "amount-derive", "a missing amount derived from the other two", "" },
	[R_NO_TAX]            = { "no-tax", "no tax printed: net = total, tax 0 (low confidence)", "" },
	[R_TAX_TABLE]         = { "tax-table", "VAT rate table: rate x base = tax, column sums", "" },
	[R_LINES_SUM]         = { "lines-sum", "sum of the item lines confirms the net", "" },
	[R_CURRENCY_AMOUNT]   = { "currency-amount", "amount with a currency sign needs no decimals", "" },
	[R_PARTY_LABEL]       = { "party-label", "block after a seller/buyer label", "" },
	[R_ENVELOPE]          = { "envelope", "window-envelope sender line, addressee below", "" },
	[R_LEGAL_FORM]        = { "legal-form", "name with a legal form in the letterhead", "" },
	[R_NAME_BLOCK]        = { "name-block", "name-over-address blocks, sender first", "" },
	[R_FOOTER_SENDER]     = { "footer-sender", "sender's legal name in the footer", "" },
	[R_FIRST_LINE]        = { "first-line", "first name-like line is the sender (last resort)", "" },
	[R_US_DATES]          = { "us-dates", "month-first dates for USD / US addresses", "" },
	[R_LANG_DATES]        = { "lang-dates", "document language decides ambiguous numeric dates", "" },
	[R_CREDIT_NOTE]       = { "credit-note", "credit-note title on page 1", "" },
};

static unsigned char rule_off[R_COUNT];

int rule_on(rule_id r)
{
	return r >= 0 && r < R_COUNT && !rule_off[r];
}

void rules_set_off(const unsigned char *off)
{
	if (off) memcpy(rule_off, off, sizeof rule_off);
	else memset(rule_off, 0, sizeof rule_off);
}
