/* OASIS UBL 2.1 Invoice and CreditNote (EN 16931 UBL syntax binding). */
#include "xml_invoice.h"
#include "parsers.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static void set_xml(invoice *inv, field_id id, char *v)
{
	if (v) inv_set(inv, id, v, 1.0, SRC_XML);
	free(v);
}

static void set_date(invoice *inv, field_id id, xmlNode *n, const char *path)
{
	if (inv->f[id].value) return;
	char *v = xml_text(n, path);
	char iso[11];
	if (v && date_parse(v, 0, iso)) inv_set(inv, id, iso, 1.0, SRC_XML);
	free(v);
}

static char *address(xmlNode *a)
{
	if (!a) return NULL;
	sbuf b; sb_init(&b);
	const char *parts[] = { "StreetName", "AdditionalStreetName", "AddressLine/Line", NULL };
	for (int i = 0; parts[i]; i++) {
		char *t = xml_text(a, parts[i]);
		if (t) { if (b.len) sb_puts(&b, ", "); sb_puts(&b, t); free(t); }
	}
	char *pc = xml_text(a, "PostalZone"), *city = xml_text(a, "CityName"), *cc = xml_text(a, "Country/IdentificationCode");
	if (pc || city) {
		if (b.len) sb_puts(&b, ", ");
		if (pc) sb_puts(&b, pc);
		if (pc && city) sb_putc(&b, ' ');
		if (city) sb_puts(&b, city);
	}
	if (cc) { if (b.len) sb_puts(&b, ", "); sb_puts(&b, cc); }
	free(pc); free(city); free(cc);
	char *r = sb_steal(&b);
	if (!*r) { free(r); return NULL; }
	return r;
}

static void party(invoice *inv, xmlNode *p, field_id name, field_id vat, field_id addr)
{
	if (!p) return;
	/* BT-27 / BT-44: legal registration name; the trading name as fallback */
	char *n = xml_text(p, "PartyLegalEntity/RegistrationName");
	if (!n) n = xml_text(p, "PartyName/Name");
	set_xml(inv, name, n);
	for (xmlNode *ts = xml_child(p, "PartyTaxScheme"); ts; ts = xml_next_same(ts)) {
		char *scheme = xml_text(ts, "TaxScheme/ID");
		if (!scheme || strcmp(scheme, "VAT") == 0 || !inv->f[vat].value)
			set_xml(inv, vat, xml_text(ts, "CompanyID"));
		free(scheme);
	}
	set_xml(inv, addr, address(xml_child(p, "PostalAddress")));
}

static char *amount_in(xmlNode *parent, const char *name, const char *currency)
{
	char *first = NULL;
	for (xmlNode *c = xml_child(parent, name); c; c = xml_next_same(c)) {
		char *cur = xml_attr(c, "currencyID");
		char *v = xml_text(c, NULL);
		int match = !cur || !currency || strcmp(cur, currency) == 0;
		free(cur);
		if (match && v) { free(first); return v; }
		if (!first) first = v; else free(v);
	}
	return first;
}

int ubl_fill(xmlNode *root, invoice *inv)
{
	int credit = xml_is(root, "CreditNote");
	char *prof = xml_text(root, "CustomizationID");
	if (!prof) prof = xml_text(root, "ProfileID");
	inv->profile = prof;

	set_xml(inv, F_INVOICE_NUMBER, xml_text(root, "ID"));
	set_date(inv, F_ISSUE_DATE, root, "IssueDate");
	set_date(inv, F_DUE_DATE, root, "DueDate");
	char *tc = xml_text(root, credit ? "CreditNoteTypeCode" : "InvoiceTypeCode");
	inv_set(inv, F_DOCUMENT_TYPE, credit ? "credit_note" : doc_type_from_code(tc), 1.0, SRC_XML);
	free(tc);
	char *cur = xml_text(root, "DocumentCurrencyCode");
	set_xml(inv, F_CURRENCY, xstrdup(cur));
	set_xml(inv, F_PURCHASE_ORDER, xml_text(root, "OrderReference/ID"));

	party(inv, xml_path(root, "AccountingSupplierParty/Party"), F_SELLER_NAME, F_SELLER_VAT, F_SELLER_ADDRESS);
	party(inv, xml_path(root, "AccountingCustomerParty/Party"), F_BUYER_NAME, F_BUYER_VAT, F_BUYER_ADDRESS);

	for (xmlNode *pm = xml_child(root, "PaymentMeans"); pm; pm = xml_next_same(pm)) {
		set_date(inv, F_DUE_DATE, pm, "PaymentDueDate");
		if (!inv->f[F_REFERENCE].value) set_xml(inv, F_REFERENCE, xml_text(pm, "PaymentID"));
		char *acct = xml_text(pm, "PayeeFinancialAccount/ID");
		if (acct && !inv->f[F_IBAN].value && iban_valid(acct)) {
			size_t k = 0;
			for (size_t j = 0; acct[j]; j++) if (acct[j] != ' ') acct[k++] = acct[j];
			acct[k] = 0;
			set_xml(inv, F_IBAN, acct);
			acct = NULL;
			set_xml(inv, F_BIC, xml_text(pm, "PayeeFinancialAccount/FinancialInstitutionBranch/ID"));
		}
		free(acct);
	}
	set_xml(inv, F_PAYMENT_TERMS, xml_text(root, "PaymentTerms/Note"));

	/* BT-110: the TaxTotal in the invoice currency (a second one may be in the tax currency) */
	xmlNode *tt_main = NULL;
	for (xmlNode *tt = xml_child(root, "TaxTotal"); tt; tt = xml_next_same(tt)) {
		char *c = xml_attr(xml_child(tt, "TaxAmount"), "currencyID");
		int match = !c || !cur || strcmp(c, cur) == 0;
		free(c);
		if (match && !tt_main) tt_main = tt;
	}
	if (tt_main) {
		set_xml(inv, F_TAX, xml_text(tt_main, "TaxAmount"));
		for (xmlNode *st = xml_child(tt_main, "TaxSubtotal"); st; st = xml_next_same(st)) {
			char *rate = xml_text(st, "TaxCategory/Percent");
			if (!rate) rate = xml_text(st, "Percent");
			char *base = xml_text(st, "TaxableAmount"), *amt = xml_text(st, "TaxAmount");
			inv_add_tax(inv, rate, base, amt);
			free(rate); free(base); free(amt);
		}
	}
	xmlNode *lmt = xml_child(root, "LegalMonetaryTotal");
	set_xml(inv, F_NET, amount_in(lmt, "TaxExclusiveAmount", cur));
	set_xml(inv, F_TOTAL, amount_in(lmt, "TaxInclusiveAmount", cur));
	set_xml(inv, F_AMOUNT_DUE, amount_in(lmt, "PayableAmount", cur));
	free(cur);

	for (xmlNode *li = xml_child(root, credit ? "CreditNoteLine" : "InvoiceLine"); li; li = xml_next_same(li)) {
		inv_line *l = inv_add_line(inv);
		l->description = xml_text(li, "Item/Name");
		if (!l->description) l->description = xml_text(li, "Item/Description");
		xmlNode *q = xml_child(li, credit ? "CreditedQuantity" : "InvoicedQuantity");
		l->quantity = xml_text(q, NULL);
		l->unit = xml_attr(q, "unitCode");
		l->unit_price = xml_text(li, "Price/PriceAmount");
		l->net_amount = xml_text(li, "LineExtensionAmount");
		l->tax_rate = xml_text(li, "Item/ClassifiedTaxCategory/Percent");
	}
	inv->lines_src = SRC_XML;
	inv->source = SRC_XML;
	return inv->f[F_INVOICE_NUMBER].value || inv->f[F_TOTAL].value;
}
