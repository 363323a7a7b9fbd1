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
	[R_VALUE_RIGHT] = { "value-right", "a label's value right of it on its row",
		"adsi_invoice-maker_fr,"
		"akretion_invoice_EN16931,"
		"credimi_FatturaPA_FPA02_123,"
		"ferd211_BASIC_Taxifahrt,"
		"ferd211_EN16931_Einfach,"
		"ferd211_EN16931_Haftpflichtversicherung_Versicherungssteuer,"
		"ferd211_EN16931_Miete,"
		"ferd211_EN16931_Rechnungskorrektur,"
		"ferd211_EXTENDED_Fremdwaehrung,"
		"ferd24_EN16931_Kleinunternehmer_123,"
		"ferd24_EXT_Bau_1_Abschlagsrechnung_210111,"
		"ferd24_EXT_Bau_Schlussrechnung_210113,"
		"ferd24_EXT_SubInvoiceLines_Hardware_99877,"
		"ferd24_EXT_SubInvoiceLines_Kaffee_50099877,"
		"i2d_AmazonWebServices,"
		"i2d_AzureInterior,"
		"i2d_QualityHosting,"
		"i2d_coolblue1,"
		"i2d_coolblue2,"
		"jw_Madison_505050,"
		"jw_Mercure_37816396,"
		"jw_MotelOne_534719706,"
		"jw_Moxy_FrankfurtAirport_227638,"
		"kosit_XR_04.01a_MeierHandwerk_12345,"
		"kosit_XR_maxRechnung_1234567890,"
		"oca_efff_ExactOnline_16117778" },
	[R_VALUE_BELOW] = { "value-below", "a label's value below it in its column",
		"akretion_invoice_EN16931,"
		"ferd211_BASIC_Taxifahrt,"
		"ferd211_EXTENDED_Fremdwaehrung,"
		"ferd24_EN16931_Kleinunternehmer_123,"
		"ferd24_EXT_Bau_1_Abschlagsrechnung_210111,"
		"ferd24_EXT_SubInvoiceLines_Hardware_99877,"
		"ferd24_EXT_SubInvoiceLines_Kaffee_50099877,"
		"i2d_AzureInterior,"
		"oca_efff_ExactOnline_16117778" },
	[R_NUMBER_INLINE] = { "number-inline", "title word followed by the number (\"Invoice INV-1\")", "i2d_AzureInterior,mustang_GnuaccountingRE-20170509_505" },
	[R_DATE_AFTER_NUMBER] = { "date-after-number", "\"No. 1 of/vom/du DATE\"",
		"ferd211_BASIC_Taxifahrt,"
		"ferd211_EN16931_Einfach,"
		"ferd211_EN16931_Haftpflichtversicherung_Versicherungssteuer,"
		"ferd211_EN16931_Miete,"
		"ferd211_EN16931_Rechnungskorrektur,"
		"ferd211_EXTENDED_Fremdwaehrung,"
		"ferd24_EN16931_Kleinunternehmer_123,"
		"ferd24_EXT_Bau_1_Abschlagsrechnung_210111,"
		"ferd24_EXT_Bau_Schlussrechnung_210113,"
		"ferd24_EXT_SubInvoiceLines_Hardware_99877,"
		"ferd24_EXT_SubInvoiceLines_Kaffee_50099877,"
		"i2d_free_fiber,"
		"mustang_GnuaccountingRE-20170509_505" },
	[R_FIRST_DATE] = { "first-date", "no issue-date label: first date on page 1 (low confidence)", "" },
	[R_AMOUNT_TRIPLE] = { "amount-triple", "net + tax = total picks among candidates", "" },
	[R_AMOUNT_DERIVE] = { "amount-derive", "a missing amount derived from the other two",
		"credimi_FatturaPA_FPA02_123,"
		"i2d_AmazonWebServices,"
		"jw_Moxy_FrankfurtAirport_227638" },
	[R_NO_TAX] = { "no-tax", "no tax printed: net = total, tax 0 (low confidence)", "i2d_QualityHosting" },
	[R_TAX_TABLE] = { "tax-table", "VAT breakdown table: base x rate = tax, sums check the totals", "jw_MotelOne_534719706" },
	[R_LINES_SUM] = { "lines-sum", "item lines adding up to the net confirm the amounts", "i2d_QualityHosting" },
	[R_CURRENCY_AMOUNT] = { "currency-amount", "amount with a currency sign needs no decimals", "credimi_FatturaPA_FPA02_123" },
	[R_PARTY_LABEL] = { "party-label", "block after a seller/buyer label",
		"adsi_invoice-maker_es,"
		"adsi_invoice-maker_fr,"
		"akretion_invoice_EN16931,"
		"credimi_FatturaPA_FPA02_123,"
		"ferd211_BASIC_Taxifahrt,"
		"ferd211_EN16931_Einfach,"
		"ferd211_EN16931_Haftpflichtversicherung_Versicherungssteuer,"
		"ferd211_EN16931_Miete,"
		"ferd211_EN16931_Rechnungskorrektur,"
		"ferd211_EXTENDED_Fremdwaehrung,"
		"ferd24_EN16931_Kleinunternehmer_123,"
		"ferd24_EXT_Bau_1_Abschlagsrechnung_210111,"
		"ferd24_EXT_Bau_Schlussrechnung_210113,"
		"ferd24_EXT_SubInvoiceLines_Hardware_99877,"
		"ferd24_EXT_SubInvoiceLines_Kaffee_50099877,"
		"i2d_AmazonWebServices,"
		"i2d_free_fiber,"
		"kosit_XR_04.01a_MeierHandwerk_12345,"
		"kosit_XR_maxRechnung_1234567890" },
	[R_ADDRESS_BLOCKS] = { "address-blocks", "two address blocks: the one with contact details is the sender", "i2d_coolblue1,i2d_coolblue2" },
	[R_ENVELOPE] = { "envelope", "window-envelope sender line, addressee below", "jw_MotelOne_534719706,mustang_GnuaccountingRE-20170509_505" },
	[R_LEGAL_FORM] = { "legal-form", "name with a legal form in the letterhead", "jw_Madison_505050" },
	[R_NAME_BLOCK] = { "name-block", "name-over-address blocks, sender first",
		"i2d_AzureInterior,"
		"i2d_QualityHosting,"
		"i2d_free_fiber,"
		"jw_Hampton_24361,"
		"jw_Madison_505050" },
	[R_FIRST_LINE] = { "first-line", "first name-like line is the sender (last resort)", "i2d_free_fiber" },
	[R_US_DATES] = { "us-dates", "month-first dates for USD / US addresses", "" },
	[R_CREDIT_NOTE] = { "credit-note", "credit-note title on page 1", "" },
	[R_TITLE_COLUMN] = { "title-column", "\"Nr.\" left of the number, the title word over its column", "oca_efff_ExactOnline_16117778" },
	[R_PAID_BALANCE] = { "paid-balance", "a total of 0.00 (balance after payment) gives way to the VAT table's sums", "" },
	[R_NUMBER_NOT_VAT] = { "number-not-vat", "a VAT id is not the invoice number", "" },
	[R_RECIPIENT_BLOCK] = { "recipient-block", "the addressee block (person line, or the only block without sender details) is the buyer", "jw_Hampton_24361" },
	[R_NUMBER_PARTS] = { "number-parts", "a number in parts joined by spaced hyphens is one number", "" },
	[R_ENVELOPE_COMMA] = { "envelope-comma", "envelope sender line separated by commas, above an addressee block", "jw_Mercure_37816396" },
	[R_FOOTER_SENDER] = { "footer-sender", "sender block in the footer: name over street, contact lines below", "" },
	[R_TAX_ROW_GROSS] = { "tax-row-gross", "VAT table row: gross - base is the tax when it fits the rate", "" },
	[R_RATE_ROWS_SUM] = { "rate-rows-sum", "one amount label repeated per rate: the total is the parts' sum", "" },
	[R_ENVELOPE_OCR_DOT] = { "envelope-ocr-dot", "envelope line whose middle dots OCR read as << >> or a degree sign, above an addressee block", "" },
	[R_SENDER_BLOCK] = { "sender-block", "recipient known from a label: the one other block with sender details is the sender", "akretion_invoice_EN16931" },
	[R_WRAPPED_LABEL] = { "wrapped-label", "an amount label wrapped onto the next line of its block is one label, its amount right of either line", "" },
	[R_BLOCK_AFTER_SENDER] = { "block-after-sender", "sender known from the letterhead: the next name-over-address block is the recipient", "i2d_QualityHosting,jw_Madison_505050" },
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
