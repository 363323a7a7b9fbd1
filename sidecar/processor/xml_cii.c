/*
 * UN/CEFACT Cross Industry Invoice: Factur-X / ZUGFeRD 2.x / XRechnung CII
 * (rsm:CrossIndustryInvoice) and ZUGFeRD 1.0 (rsm:CrossIndustryDocument).
 * Element names differ between the two generations; each step lists both.
 */
#include "xml_invoice.h"
#include "parsers.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define TX   "SupplyChainTradeTransaction|SpecifiedSupplyChainTradeTransaction"
#define AGR  "ApplicableHeaderTradeAgreement|ApplicableSupplyChainTradeAgreement"
#define SET  "ApplicableHeaderTradeSettlement|ApplicableSupplyChainTradeSettlement"
#define SUM  "SpecifiedTradeSettlementHeaderMonetarySummation|SpecifiedTradeSettlementMonetarySummation"
#define DOC  "ExchangedDocument|HeaderExchangedDocument"
#define CTX  "ExchangedDocumentContext|SpecifiedExchangedDocumentContext"

static void set_xml(invoice *inv, field_id id, char *v)
{
	if (v) inv_set(inv, id, v, 1.0, SRC_XML);
	free(v);
}

static void set_date(invoice *inv, field_id id, xmlNode *n, const char *path)
{
	char *v = xml_text(n, path);
	char iso[11];
	if (v && date_parse(v, 0, iso)) inv_set(inv, id, iso, 1.0, SRC_XML);
	free(v);
}

static char *address(xmlNode *a)
{
	if (!a) return NULL;
	sbuf b; sb_init(&b);
	const char *parts[] = { "LineOne", "LineTwo", "LineThree", NULL };
	for (int i = 0; parts[i]; i++) {
		char *t = xml_text(a, parts[i]);
		if (t) { if (b.len) sb_puts(&b, ", "); sb_puts(&b, t); free(t); }
	}
	char *pc = xml_text(a, "PostcodeCode"), *city = xml_text(a, "CityName"), *cc = xml_text(a, "CountryID");
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

static char *vat_of(xmlNode *party)
{
	char *fallback = NULL;
	for (xmlNode *t = xml_child(party, "SpecifiedTaxRegistration"); t; t = xml_next_same(t)) {
		xmlNode *id = xml_child(t, "ID");
		char *scheme = xml_attr(id, "schemeID");
		char *v = xml_text(id, NULL);
		if (scheme && strcmp(scheme, "VA") == 0) { free(scheme); free(fallback); return v; }
		free(scheme);
		if (!fallback) fallback = v; else free(v);
	}
	free(fallback);		/* an FC (tax number) is not a VAT id */
	return NULL;
}

static void party(invoice *inv, xmlNode *p, field_id name, field_id vat, field_id addr)
{
	if (!p) return;
	set_xml(inv, name, xml_text(p, "Name"));
	set_xml(inv, vat, vat_of(p));
	set_xml(inv, addr, address(xml_child(p, "PostalTradeAddress")));
}

/* Amount child of parent whose currencyID is the invoice currency (or has none). */
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

static void lines(invoice *inv, xmlNode *tx)
{
	for (xmlNode *li = xml_child(tx, "IncludedSupplyChainTradeLineItem"); li; li = xml_next_same(li)) {
		inv_line *l = inv_add_line(inv);
		xmlNode *prod = xml_child(li, "SpecifiedTradeProduct");
		l->description = xml_text(prod, "Name");
		if (!l->description) l->description = xml_text(prod, "Description");
		xmlNode *agr = xml_child(li, "SpecifiedLineTradeAgreement|SpecifiedSupplyChainTradeAgreement");
		l->unit_price = xml_text(agr, "NetPriceProductTradePrice/ChargeAmount");
		if (!l->unit_price) l->unit_price = xml_text(agr, "GrossPriceProductTradePrice/ChargeAmount");
		xmlNode *del = xml_child(li, "SpecifiedLineTradeDelivery|SpecifiedSupplyChainTradeDelivery");
		xmlNode *q = xml_child(del, "BilledQuantity");
		l->quantity = xml_text(q, NULL);
		l->unit = xml_attr(q, "unitCode");
		xmlNode *st = xml_child(li, "SpecifiedLineTradeSettlement|SpecifiedSupplyChainTradeSettlement");
		l->tax_rate = xml_text(st, "ApplicableTradeTax/RateApplicablePercent|ApplicablePercent");
		l->net_amount = xml_text(st, "SpecifiedTradeSettlementLineMonetarySummation|SpecifiedTradeSettlementMonetarySummation/LineTotalAmount");
	}
	inv->lines_src = SRC_XML;
}

int cii_fill(xmlNode *root, invoice *inv)
{
	xmlNode *doc = xml_child(root, DOC);
	xmlNode *tx = xml_child(root, TX);
	if (!doc || !tx) return 0;

	inv->profile = xml_text(root, CTX "/GuidelineSpecifiedDocumentContextParameter/ID");
	set_xml(inv, F_INVOICE_NUMBER, xml_text(doc, "ID"));
	set_date(inv, F_ISSUE_DATE, doc, "IssueDateTime/DateTimeString");
	char *tc = xml_text(doc, "TypeCode");
	inv_set(inv, F_DOCUMENT_TYPE, doc_type_from_code(tc), 1.0, SRC_XML);
	free(tc);

	xmlNode *agr = xml_child(tx, AGR);
	party(inv, xml_child(agr, "SellerTradeParty"), F_SELLER_NAME, F_SELLER_VAT, F_SELLER_ADDRESS);
	party(inv, xml_child(agr, "BuyerTradeParty"), F_BUYER_NAME, F_BUYER_VAT, F_BUYER_ADDRESS);
	set_xml(inv, F_PURCHASE_ORDER, xml_text(agr, "BuyerOrderReferencedDocument/IssuerAssignedID"));

	xmlNode *set = xml_child(tx, SET);
	char *cur = xml_text(set, "InvoiceCurrencyCode");
	set_xml(inv, F_CURRENCY, xstrdup(cur));
	set_xml(inv, F_REFERENCE, xml_text(set, "PaymentReference"));
	for (xmlNode *pm = xml_child(set, "SpecifiedTradeSettlementPaymentMeans"); pm; pm = xml_next_same(pm)) {
		char *iban = xml_text(pm, "PayeePartyCreditorFinancialAccount/IBANID");
		if (iban) {
			char *c = collapse_ws(iban);
			/* IBANs are written with or without spaces; store the compact form */
			size_t k = 0;
			for (size_t j = 0; c[j]; j++) if (c[j] != ' ') c[k++] = c[j];
			c[k] = 0;
			set_xml(inv, F_IBAN, c);
			set_xml(inv, F_BIC, xml_text(pm, "PayeeSpecifiedCreditorFinancialInstitution/BICID"));
			free(iban);
			break;
		}
		free(iban);
	}
	for (xmlNode *t = xml_child(set, "ApplicableTradeTax"); t; t = xml_next_same(t)) {
		char *rate = xml_text(t, "RateApplicablePercent|ApplicablePercent");
		char *base = xml_text(t, "BasisAmount");
		char *amt = xml_text(t, "CalculatedAmount");
		inv_add_tax(inv, rate, base, amt);
		free(rate); free(base); free(amt);
	}
	xmlNode *terms = xml_child(set, "SpecifiedTradePaymentTerms");
	set_xml(inv, F_PAYMENT_TERMS, xml_text(terms, "Description"));
	for (xmlNode *t = terms; t && !inv->f[F_DUE_DATE].value; t = xml_next_same(t))
		set_date(inv, F_DUE_DATE, t, "DueDateDateTime/DateTimeString");

	xmlNode *sum = xml_child(set, SUM);
	set_xml(inv, F_NET, amount_in(sum, "TaxBasisTotalAmount", cur));
	set_xml(inv, F_TAX, amount_in(sum, "TaxTotalAmount", cur));
	set_xml(inv, F_TOTAL, amount_in(sum, "GrandTotalAmount", cur));
	set_xml(inv, F_AMOUNT_DUE, amount_in(sum, "DuePayableAmount", cur));
	free(cur);

	lines(inv, tx);
	inv->source = SRC_XML;
	return inv->f[F_INVOICE_NUMBER].value || inv->f[F_TOTAL].value;
}
