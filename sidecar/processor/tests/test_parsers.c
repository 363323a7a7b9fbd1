/*
 * Unit tests: value parsers, XML safety, and extraction of a few corpus files
 * (CORPUS_DIR; skipped with a message when the corpus is missing).
 * Last line: "N passed, N failed".
 */
#include "extract.h"
#include "invoice.h"
#include "parsers.h"
#include "pdf_doc.h"
#include "review.h"
#include "rules.h"
#include "tax_table.h"
#include "text_fields.h"
#include "text_lines.h"
#include "util.h"
#include "xml_invoice.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...) do { \
	if (cond) passed++; \
	else { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
} while (0)

static void date_is(const char *in, int us, const char *want)
{
	char out[11] = "";
	int ok = date_parse(in, us, out);
	if (!want) CHECK(!ok, "date \"%s\" should not parse, got %s", in, out);
	else CHECK(ok && strcmp(out, want) == 0, "date \"%s\" (us=%d): want %s got %s", in, us, want, ok ? out : "nothing");
}

static void amount_is(const char *in, const char *want)
{
	char out[64] = "";
	int ok = amount_parse(in, out, sizeof out);
	if (!want) CHECK(!ok, "amount \"%s\" should not parse, got %s", in, out);
	else CHECK(ok && strcmp(out, want) == 0, "amount \"%s\": want %s got %s", in, want, ok ? out : "nothing");
}

static void scan_is(const char *in, const char *want)
{
	char out[64] = "";
	size_t n = amount_scan(in, 1, out, sizeof out);
	if (!want) CHECK(n == 0, "scan \"%s\" should find no amount, got %s", in, out);
	else CHECK(n && strcmp(out, want) == 0, "scan \"%s\": want %s got %s", in, want, n ? out : "nothing");
}

static void currency_is(const char *in, const char *want)
{
	char code[4] = "";
	size_t n = currency_scan(in, code);
	if (!want) CHECK(n == 0, "currency \"%s\" should not match, got %s", in, code);
	else CHECK(n && strcmp(code, want) == 0, "currency \"%s\": want %s got %s", in, want, n ? code : "nothing");
}

static void vat_is(const char *in, const char *want)
{
	char out[32] = "";
	size_t n = vat_scan(in, out, sizeof out);
	if (!want) CHECK(n == 0, "vat \"%s\" should not match, got %s", in, out);
	else CHECK(n && strcmp(out, want) == 0, "vat \"%s\": want %s got %s", in, want, n ? out : "nothing");
}

static void test_dates(void)
{
	date_is("2024-05-07", 0, "2024-05-07");
	date_is("07.05.2024", 0, "2024-05-07");
	date_is("07.05.2024", 1, "2024-05-07");		/* dotted: always day first */
	date_is("07/05/2024", 0, "2024-05-07");
	date_is("5/7/2024", 1, "2024-05-07");		/* US */
	date_is("5/7/2024", 0, "2024-07-05");
	date_is("03/20/2023", 0, "2023-03-20");		/* day-first impossible */
	date_is("7. Mai 2014", 0, "2014-05-07");
	date_is("7 mai 2014", 0, "2014-05-07");
	date_is("May 7, 2014", 0, "2014-05-07");
	date_is("August 3 , 2014", 0, "2014-08-03");
	date_is("8-9-2022", 0, "2022-09-08");
	date_is("8-9-2022", 1, "2022-08-09");
	date_is("02 Juillet 2015", 0, "2015-07-02");
	date_is("19 april 2014", 0, "2014-04-19");
	date_is("7 de mayo de 2014", 0, "2014-05-07");
	date_is("7 maggio 2014", 0, "2014-05-07");
	date_is("1er août 2014", 0, "2014-08-01");
	date_is("12 März 2020", 0, "2020-03-12");
	date_is("21.05.14", 0, "2014-05-21");
	date_is("20170509", 0, "2017-05-09");
	date_is("2019-10-30T00:00:00", 0, "2019-10-30");
	date_is("31.02.2024", 0, NULL);
	date_is("1.234,56", 0, NULL);
	date_is("hello", 0, NULL);
	CHECK(date_days("2024-03-01") - date_days("2024-02-28") == 2, "leap-year day count");
}

static void test_amounts(void)
{
	amount_is("1.234,56", "1234.56");
	amount_is("1,234.56", "1234.56");
	amount_is("1 234,56", "1234.56");
	amount_is("1'234.56", "1234.56");
	amount_is("-8.79", "-8.79");
	amount_is("(8.79)", "-8.79");
	amount_is("8,79-", "-8.79");
	amount_is("\xe2\x82\xac 717,97", "717.97");
	amount_is("$4.11", "4.11");
	amount_is("EUR 1.000,00", "1000.00");
	amount_is("29.99 \xe2\x82\xac", "29.99");
	amount_is("1.234.567,89", "1234567.89");
	amount_is("0,00", "0.00");
	amount_is("-0,00", "0.00");
	amount_is("12", "12");
	amount_is("abc", NULL);
	scan_is("278.61", "278.61");
	scan_is("1 278.61", NULL);	/* a quantity next to a price, not 1278.61 */
	scan_is("2018", NULL);		/* running text needs decimals */
	scan_is("21.05.14", NULL);
	long long c = 0;
	CHECK(amount_cents("529.87", &c) && c == 52987, "cents 529.87");
	CHECK(amount_cents("-1.12", &c) && c == -112, "cents -1.12");
	char b[32];
	cents_format(-767, b, sizeof b);
	CHECK(strcmp(b, "-7.67") == 0, "cents_format -767 -> %s", b);
}

static void test_ids(void)
{
	CHECK(iban_valid("DE88 2008 0000 0970 3757 00"), "valid German IBAN");
	CHECK(iban_valid("NL50INGB0683251309"), "valid Dutch IBAN");
	CHECK(iban_valid("GB82 WEST 1234 5698 7654 32"), "valid UK IBAN");
	CHECK(!iban_valid("DE88 2008 0000 0970 3757 01"), "IBAN with a wrong check digit");
	CHECK(!iban_valid("DE88 2008 0000 0970 3757"), "IBAN of the wrong length");
	CHECK(!iban_valid("XX00"), "too short");
	char out[40];
	CHECK(iban_scan("DE30507500940000048567 SWIFT", out, sizeof out) && strcmp(out, "DE30507500940000048567") == 0, "iban_scan compact");
	CHECK(iban_scan("DE88 2008 0000 0970 3757 00", out, sizeof out) && strcmp(out, "DE88200800000970375700") == 0, "iban_scan grouped");
	CHECK(bic_valid("COBADEFFXXX") && bic_valid("INGBNL2A") && !bic_valid("COBADE"), "BIC");
	vat_is("DE123456789", "DE123456789");
	vat_is("DE 232 446 240", "DE232446240");
	vat_is("FR 11 123 456 782", "FR11123456782");
	vat_is("NL810433941B01", "NL810433941B01");
	vat_is("ATU12345678", "ATU12345678");
	vat_is("GB123456789", "GB123456789");
	vat_is("DE12", NULL);
	vat_is("Deutschland", NULL);
	currency_is("EUR", "EUR");
	currency_is("USD 5", "USD");
	currency_is("\xe2\x82\xac", "EUR");
	currency_is("$", "USD");
	currency_is("US$ 4", "USD");
	currency_is("\xc2\xa3", "GBP");
	currency_is("\xe2\x82\xb9", "INR");
	currency_is("Rs. 40", "INR");
	currency_is("Euro", "EUR");
	currency_is("EURO", "EUR");
	currency_is("XYZ", NULL);
	currency_is("EURX", NULL);
}

static void test_xml(void)
{
	/* an external entity must not be resolved (no network, no substitution) */
	const char *xxe =
		"<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
		"<rsm:CrossIndustryInvoice xmlns:rsm=\"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100\""
		" xmlns:ram=\"urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100\""
		" xmlns:udt=\"urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100\">"
		"<rsm:ExchangedDocument><ram:ID>&x;INV-1</ram:ID><ram:TypeCode>381</ram:TypeCode>"
		"<ram:IssueDateTime><udt:DateTimeString format=\"102\">20240507</udt:DateTimeString></ram:IssueDateTime></rsm:ExchangedDocument>"
		"<rsm:SupplyChainTradeTransaction><ram:ApplicableHeaderTradeSettlement><ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>"
		"<ram:SpecifiedTradeSettlementHeaderMonetarySummation><ram:TaxBasisTotalAmount>100.00</ram:TaxBasisTotalAmount>"
		"<ram:TaxTotalAmount currencyID=\"USD\">21.00</ram:TaxTotalAmount><ram:TaxTotalAmount currencyID=\"EUR\">19.00</ram:TaxTotalAmount>"
		"<ram:GrandTotalAmount>119.00</ram:GrandTotalAmount></ram:SpecifiedTradeSettlementHeaderMonetarySummation>"
		"</ram:ApplicableHeaderTradeSettlement></rsm:SupplyChainTradeTransaction></rsm:CrossIndustryInvoice>";
	invoice inv; invoice_init(&inv);
	xml_kind k = xml_invoice_parse((const unsigned char *) xxe, strlen(xxe), &inv);
	CHECK(k == XML_CII, "CII recognised");
	CHECK(inv.f[F_INVOICE_NUMBER].value && !strstr(inv.f[F_INVOICE_NUMBER].value, "root:"), "external entity not substituted (%s)",
		  inv.f[F_INVOICE_NUMBER].value ? inv.f[F_INVOICE_NUMBER].value : "null");
	CHECK(inv.f[F_ISSUE_DATE].value && strcmp(inv.f[F_ISSUE_DATE].value, "2024-05-07") == 0, "CII date format 102");
	CHECK(inv.f[F_TAX].value && strcmp(inv.f[F_TAX].value, "19.00") == 0, "tax total in the invoice currency");
	CHECK(inv.f[F_DOCUMENT_TYPE].value && strcmp(inv.f[F_DOCUMENT_TYPE].value, "credit_note") == 0, "381 is a credit note");
	invoice_free(&inv);

	const char *ubl =
		"<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\""
		" xmlns:cac=\"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2\""
		" xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2\">"
		"<cbc:ID>U-1</cbc:ID><cbc:IssueDate>2023-03-20</cbc:IssueDate><cbc:DueDate>2023-04-04</cbc:DueDate>"
		"<cbc:DocumentCurrencyCode>USD</cbc:DocumentCurrencyCode>"
		"<cac:AccountingSupplierParty><cac:Party><cac:PartyName><cbc:Name>Brand</cbc:Name></cac:PartyName>"
		"<cac:PartyLegalEntity><cbc:RegistrationName>Legal Co</cbc:RegistrationName></cac:PartyLegalEntity></cac:Party></cac:AccountingSupplierParty>"
		"<cac:LegalMonetaryTotal><cbc:TaxExclusiveAmount currencyID=\"USD\">10.00</cbc:TaxExclusiveAmount>"
		"<cbc:TaxInclusiveAmount currencyID=\"USD\">11.00</cbc:TaxInclusiveAmount><cbc:PayableAmount currencyID=\"USD\">11.00</cbc:PayableAmount>"
		"</cac:LegalMonetaryTotal></Invoice>";
	invoice_init(&inv);
	k = xml_invoice_parse((const unsigned char *) ubl, strlen(ubl), &inv);
	CHECK(k == XML_UBL, "UBL recognised");
	CHECK(inv.f[F_SELLER_NAME].value && strcmp(inv.f[F_SELLER_NAME].value, "Legal Co") == 0, "UBL seller is the registration name");
	CHECK(inv.f[F_DUE_DATE].value && strcmp(inv.f[F_DUE_DATE].value, "2023-04-04") == 0, "UBL due date");
	CHECK(inv.f[F_TOTAL].value && strcmp(inv.f[F_TOTAL].value, "11.00") == 0, "UBL total");
	invoice_free(&inv);

	invoice_init(&inv);
	CHECK(xml_invoice_parse((const unsigned char *) "<a>", 3, &inv) == XML_NONE, "broken XML is not an invoice");
	invoice_free(&inv);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *b = xmalloc(n > 0 ? (size_t) n : 1);
	*len = fread(b, 1, n > 0 ? (size_t) n : 0, f);
	fclose(f);
	return b;
}

static const char *jpath(json_t *inv, const char *a, const char *b)
{
	json_t *v = json_object_get(inv, a);
	if (b) v = json_object_get(v, b);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void expect(json_t *inv, const char *file, const char *a, const char *b, const char *want)
{
	const char *got = jpath(inv, a, b);
	CHECK(got && strcmp(got, want) == 0, "%s: %s%s%s want \"%s\" got \"%s\"", file, a, b ? "." : "", b ? b : "",
		  want, got ? got : "null");
}

static json_t *run(const char *dir, const char *name, int no_xml)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	size_t len = 0;
	unsigned char *buf = slurp(path, &len);
	if (!buf) { CHECK(0, "cannot read %s", path); return NULL; }
	extract_options opt = { .no_xml = no_xml };
	char *out = NULL, *err = NULL;
	int ok = extract_document(buf, len, &opt, &out, &err);
	free(buf);
	CHECK(ok, "%s: extraction failed: %s", name, err ? err : "?");
	free(err);
	if (!ok) return NULL;
	json_t *r = json_loads(out, 0, NULL);
	free(out);
	CHECK(r != NULL, "%s: result is JSON", name);
	return r;
}

static void test_corpus(void)
{
	const char *dir = getenv("CORPUS_DIR");
	FILE *probe = NULL;
	char path[4096];
	if (dir) {
		snprintf(path, sizeof path, "%s/mustang_GnuaccountingRE-20170509_505.pdf", dir);
		probe = fopen(path, "rb");
	}
	if (!probe) {
		printf("skip: corpus tests (set CORPUS_DIR to the dev corpus; %s not found)\n", dir ? dir : "unset");
		return;
	}
	fclose(probe);

	/* ZUGFeRD 1.0 XML */
	json_t *r = run(dir, "mustang_GnuaccountingRE-20170509_505.pdf", 0);
	json_t *inv = json_object_get(r, "invoice");
	expect(inv, "mustang", "invoice_number", NULL, "RE-20170509/505");
	expect(inv, "mustang", "issue_date", NULL, "2017-05-09");
	expect(inv, "mustang", "due_date", NULL, "2017-05-30");
	expect(inv, "mustang", "seller", "name", "Bei Spiel GmbH");
	expect(inv, "mustang", "seller", "vat_id", "DE136695976");
	expect(inv, "mustang", "totals", "total", "571.04");
	expect(inv, "mustang", "payment", "iban", "DE88200800000970375700");
	expect(inv, "mustang", "source", NULL, "xml");
	CHECK(json_array_size(json_object_get(inv, "lines")) == 3, "mustang: 3 XML lines");
	json_decref(r);

	/* the same file by its text alone */
	r = run(dir, "mustang_GnuaccountingRE-20170509_505.pdf", 1);
	inv = json_object_get(r, "invoice");
	expect(inv, "mustang/text", "invoice_number", NULL, "RE-20170509/505");
	expect(inv, "mustang/text", "issue_date", NULL, "2017-05-09");
	expect(inv, "mustang/text", "due_date", NULL, "2017-05-30");
	expect(inv, "mustang/text", "totals", "net", "496.00");
	expect(inv, "mustang/text", "totals", "tax", "75.04");
	expect(inv, "mustang/text", "totals", "total", "571.04");
	expect(inv, "mustang/text", "currency", NULL, "EUR");
	expect(inv, "mustang/text", "source", NULL, "text");
	json_decref(r);

	/* Factur-X credit note with negative totals and a GBP/EUR pair of tax totals */
	r = run(dir, "ferd211_EN16931_Rechnungskorrektur.pdf", 0);
	inv = json_object_get(r, "invoice");
	expect(inv, "korrektur", "document_type", NULL, "credit_note");
	expect(inv, "korrektur", "totals", "total", "-8.79");
	expect(inv, "korrektur", "totals", "tax", "-1.12");
	json_decref(r);
	r = run(dir, "ferd211_EXTENDED_Fremdwaehrung.pdf", 0);
	inv = json_object_get(r, "invoice");
	expect(inv, "fremdwaehrung", "currency", NULL, "GBP");
	expect(inv, "fremdwaehrung", "totals", "tax", "163.16");
	json_decref(r);

	/* UBL inside an Odoo PDF */
	r = run(dir, "i2d_AzureInterior.pdf", 0);
	inv = json_object_get(r, "invoice");
	expect(inv, "azure", "invoice_number", NULL, "INV/2023/03/0008");
	expect(inv, "azure", "due_date", NULL, "2023-04-04");
	expect(inv, "azure", "buyer", "name", "Mitchell Admin");
	expect(inv, "azure", "totals", "net", "262.90");
	json_decref(r);

	/* text only, Dutch */
	r = run(dir, "i2d_coolblue1.pdf", 0);
	inv = json_object_get(r, "invoice");
	expect(inv, "coolblue1", "invoice_number", NULL, "993548900");
	expect(inv, "coolblue1", "issue_date", NULL, "2014-04-19");
	expect(inv, "coolblue1", "totals", "total", "717.97");
	expect(inv, "coolblue1", "totals", "tax", "124.61");
	expect(inv, "coolblue1", "totals", "net", "593.36");
	expect(inv, "coolblue1", "payment", "iban", "NL50INGB0683251309");
	json_decref(r);
}

static void test_errors(void)
{
	extract_options opt = { 0 };
	char *out = NULL, *err = NULL;
	const char *junk = "this is not a PDF at all, just some text";
	int ok = extract_document((const unsigned char *) junk, strlen(junk), &opt, &out, &err);
	CHECK(!ok && err, "junk input is an error (%s)", err ? err : "none");
	free(out); free(err);
	out = err = NULL;
	/* a valid PDF with one empty page: no text, no XML */
	const char *empty =
		"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
		"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
		"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
		"trailer<</Root 1 0 R>>\n%%EOF\n";
	ok = extract_document((const unsigned char *) empty, strlen(empty), &opt, &out, &err);
	CHECK(!ok && err && strstr(err, "no text"), "empty page is an error (%s)", err ? err : "none");
	free(out); free(err);
}

/* ---- table reader on synthetic layouts ---- */

typedef struct { float x0, x1; const char *text; } tcell;

/* rows[i] is a list of cells ended by text == NULL; a row whose first cell has
 * x0 < 0 starts a new page.  Rows are 12 units apart. */
static void build_layout(tlayout *l, const tcell *const *rows, size_t nrows)
{
	memset(l, 0, sizeof *l);
	int page = 0;
	float y = 100;
	for (size_t r = 0; r < nrows; r++) {
		const tcell *c = rows[r];
		if (c[0].x0 < 0) { page++; y = 100; c++; }
		l->rows = realloc(l->rows, (l->nrows + 1) * sizeof *l->rows);
		trow *R = &l->rows[l->nrows];
		R->first = (int) l->nsegs; R->n = 0; R->page = page; R->y0 = y; R->y1 = y + 8;
		for (; c->text; c++) {
			l->segs = realloc(l->segs, (l->nsegs + 1) * sizeof *l->segs);
			tseg *s = &l->segs[l->nsegs++];
			memset(s, 0, sizeof *s);
			s->text = strdup(c->text);
			s->x0 = c->x0; s->x1 = c->x1; s->y0 = y; s->y1 = y + 8; s->size = 8; s->page = page;
			s->row = (int) l->nrows;
			R->n++;
		}
		l->nrows++;
		y += 12;
	}
	l->pages = page + 1;
	l->page_w = calloc((size_t) l->pages, sizeof *l->page_w);
	l->page_h = calloc((size_t) l->pages, sizeof *l->page_h);
	for (int p = 0; p < l->pages; p++) { l->page_w[p] = 595; l->page_h[p] = 842; }
}

static size_t run_lines(const tcell *const *rows, size_t nrows, const char *net, const char *total, invoice *inv)
{
	tlayout l;
	build_layout(&l, rows, nrows);
	invoice_init(inv);
	if (net) inv_set(inv, F_NET, net, 0.9, SRC_TEXT);
	if (total) inv_set(inv, F_TOTAL, total, 0.9, SRC_TEXT);
	size_t n = text_extract_lines(&l, inv);
	tlayout_free(&l);
	return n;
}

static void line_is(const invoice *inv, size_t i, const char *desc, const char *qty, const char *price, const char *net, const char *rate)
{
	if (i >= inv->nlines) { CHECK(0, "line %zu missing (have %zu)", i, inv->nlines); return; }
	const inv_line *ln = &inv->lines[i];
	const char *want[5] = { desc, qty, price, net, rate };
	const char *got[5] = { ln->description, ln->quantity, ln->unit_price, ln->net_amount, ln->tax_rate };
	static const char *name[5] = { "description", "quantity", "unit_price", "net_amount", "tax_rate" };
	for (int k = 0; k < 5; k++) {
		int ok = want[k] ? got[k] && strcmp(want[k], got[k]) == 0 : got[k] == NULL;
		CHECK(ok, "line %zu %s: want %s got %s", i, name[k], want[k] ? want[k] : "null", got[k] ? got[k] : "null");
	}
}

static void test_table_reader(void)
{
	invoice inv;
	/* English, one-row header, a wrapped description, a subtotal */
	static const tcell h1[] = { {40, 100, "Description"}, {300, 330, "Qty"}, {360, 410, "Unit Price"}, {480, 520, "Amount"}, {0, 0, NULL} };
	static const tcell a1[] = { {40, 160, "Consulting services"}, {320, 330, "10"}, {385, 410, "12.50"}, {490, 520, "125.00"}, {0, 0, NULL} };
	static const tcell a2[] = { {40, 150, "(March, on site)"}, {0, 0, NULL} };
	static const tcell a3[] = { {40, 120, "Travel costs"}, {325, 330, "1"}, {385, 410, "25.00"}, {495, 520, "25.00"}, {0, 0, NULL} };
	static const tcell a4[] = { {400, 450, "Subtotal"}, {490, 520, "150.00"}, {0, 0, NULL} };
	static const tcell a5[] = { {400, 450, "VAT 20%"}, {495, 520, "30.00"}, {0, 0, NULL} };
	const tcell *t1[] = { h1, a1, a2, a3, a4, a5 };
	CHECK(run_lines(t1, 6, "150.00", "180.00", &inv) == 2, "EN table: 2 lines, got %zu", inv.nlines);
	line_is(&inv, 0, "Consulting services (March, on site)", "10", "12.50", "125.00", NULL);
	line_is(&inv, 1, "Travel costs", "1", "25.00", "25.00", NULL);
	CHECK(inv.lines_src == SRC_TEXT && inv.lines_conf >= 0.9, "EN table: source text, confidence %.2f", inv.lines_conf);
	invoice_free(&inv);

	/* German, two-row header, amounts with decimal comma, quantity and rate in one segment */
	static const tcell h2a[] = { {50, 70, "Pos."}, {100, 160, "Bezeichnung"}, {330, 360, "Menge"}, {430, 465, "MwSt."},
								 {480, 510, "Einzelpreis"}, {525, 570, "Gesamt"}, {0, 0, NULL} };
	static const tcell h2b[] = { {525, 570, "netto"}, {0, 0, NULL} };
	static const tcell b1[] = { {60, 64, "1"}, {100, 180, "Schrauben M4"}, {340, 460, "200 19 %"}, {485, 510, "0,10"}, {545, 570, "20,00"}, {0, 0, NULL} };
	static const tcell b2[] = { {60, 64, "2"}, {100, 170, "Montage"}, {350, 360, "2"}, {445, 460, "19 %"}, {485, 510, "45,00"}, {545, 570, "90,00"}, {0, 0, NULL} };
	static const tcell b3[] = { {100, 200, "Zwischensumme"}, {545, 570, "110,00"}, {0, 0, NULL} };
	const tcell *t2[] = { h2a, h2b, b1, b2, b3 };
	CHECK(run_lines(t2, 5, "110.00", NULL, &inv) == 2, "DE table: 2 lines, got %zu", inv.nlines);
	line_is(&inv, 0, "Schrauben M4", "200", "0.10", "20.00", "19");
	line_is(&inv, 1, "Montage", "2", "45.00", "90.00", "19");
	invoice_free(&inv);

	/* description above the numbers; gross column made net with the rate */
	static const tcell h3[] = { {45, 90, "Artikel"}, {350, 380, "Aantal"}, {400, 450, "Prijs"}, {465, 480, "BTW"}, {500, 550, "Prijs incl. BTW"}, {0, 0, NULL} };
	static const tcell c0[] = { {45, 140, "Tablet 10 inch"}, {0, 0, NULL} };
	static const tcell c1[] = { {375, 380, "1"}, {420, 450, "121,00"}, {465, 480, "21%"}, {520, 550, "121,00"}, {0, 0, NULL} };
	static const tcell c2[] = { {45, 90, "Totaal"}, {520, 550, "121,00"}, {0, 0, NULL} };
	const tcell *t3[] = { h3, c0, c1, c2 };
	CHECK(run_lines(t3, 4, "100.00", "121.00", &inv) == 1, "NL table: 1 line, got %zu", inv.nlines);
	line_is(&inv, 0, "Tablet 10 inch", "1", "121.00", "100.00", "21");
	invoice_free(&inv);

	/* table continued on the next page under a repeated header */
	static const tcell h4[] = { {40, 110, "Désignation"}, {300, 330, "Qté"}, {360, 420, "Prix unitaire"}, {480, 520, "Montant HT"}, {0, 0, NULL} };
	static const tcell h4p[] = { {-1, 0, ""}, {40, 110, "Désignation"}, {300, 330, "Qté"}, {360, 420, "Prix unitaire"}, {480, 520, "Montant HT"}, {0, 0, NULL} };
	static const tcell d1[] = { {40, 100, "Papier A4"}, {320, 330, "3"}, {390, 420, "4,00"}, {490, 520, "12,00"}, {0, 0, NULL} };
	static const tcell d3[] = { {40, 100, "Stylos"}, {320, 330, "10"}, {390, 420, "0,80"}, {495, 520, "8,00"}, {0, 0, NULL} };
	static const tcell d4[] = { {300, 360, "Total HT"}, {490, 520, "20,00"}, {0, 0, NULL} };
	const tcell *t4[] = { h4, d1, h4p, d3, d4 };
	CHECK(run_lines(t4, 5, "20.00", NULL, &inv) == 2, "FR table over two pages: 2 lines, got %zu", inv.nlines);
	line_is(&inv, 0, "Papier A4", "3", "4.00", "12.00", NULL);
	line_is(&inv, 1, "Stylos", "10", "0.80", "8.00", NULL);
	invoice_free(&inv);

	/* nothing adds up: no lines rather than garbage */
	static const tcell e1[] = { {40, 100, "Descripción"}, {300, 340, "Cantidad"}, {360, 420, "Precio unitario"}, {480, 520, "Importe"}, {0, 0, NULL} };
	static const tcell e2[] = { {40, 100, "Servicio A"}, {330, 340, "3"}, {390, 420, "7,00"}, {490, 520, "55,00"}, {0, 0, NULL} };
	static const tcell e3[] = { {40, 100, "Servicio B"}, {330, 340, "2"}, {390, 420, "9,00"}, {490, 520, "40,00"}, {0, 0, NULL} };
	const tcell *t5[] = { e1, e2, e3 };
	CHECK(run_lines(t5, 3, "500.00", NULL, &inv) == 0 && inv.nlines == 0, "inconsistent table dropped, got %zu lines", inv.nlines);
	invoice_free(&inv);

	/* no header: no table */
	const tcell *t6[] = { a1, a3, a4 };
	CHECK(run_lines(t6, 3, "150.00", NULL, &inv) == 0, "no header, no lines (got %zu)", inv.nlines);
	invoice_free(&inv);
}

/* ---- field reader on synthetic layouts (not corpus files) ---- */

/* ocr: the words came from OCR, each read with Tesseract confidence conf */
static void read_fields_ocr(const tcell *const *rows, size_t nrows, invoice *inv, int ocr, float conf)
{
	tlayout l;
	build_layout(&l, rows, nrows);
	for (size_t i = 0; i < l.nsegs; i++) { l.segs[i].ocr = (unsigned char) ocr; l.segs[i].conf = l.segs[i].conf_digits = conf; }
	invoice_init(inv);
	text_extract_fields(&l, inv);
	invoice_review(inv);
	tlayout_free(&l);
}

static void read_fields_src(const tcell *const *rows, size_t nrows, invoice *inv, int ocr)
{
	read_fields_ocr(rows, nrows, inv, ocr, ocr ? 0.5f : 1.0f);
}

static void read_fields(const tcell *const *rows, size_t nrows, invoice *inv)
{
	read_fields_src(rows, nrows, inv, 0);
}

static void field_is(const invoice *inv, field_id id, const char *want, double min_conf, const char *what)
{
	const inv_field *f = &inv->f[id];
	if (!want) { CHECK(!f->value, "%s: want nothing, got %s", what, f->value); return; }
	CHECK(f->value && strcmp(f->value, want) == 0, "%s: want %s got %s", what, want, f->value ? f->value : "null");
	CHECK(f->conf >= min_conf, "%s: confidence %.2f below %.2f", what, f->conf, min_conf);
}

static void test_field_reader(void)
{
	invoice inv;
	/* German: party headings with "Name:" keys, title line "Nr. X vom DATE", totals block */
	static const tcell r0[] = { {50, 300, "Rechnung Nr. 4711-A vom 07.05.2024"}, {0, 0, NULL} };
	static const tcell r1[] = { {50, 100, "Währung:"}, {300, 320, "EUR"}, {0, 0, NULL} };
	static const tcell r2[] = { {50, 100, "Verkäufer"}, {0, 0, NULL} };
	static const tcell r3[] = { {50, 100, "Nummer:"}, {300, 340, "998877"}, {0, 0, NULL} };
	static const tcell r4[] = { {50, 100, "Name:"}, {300, 400, "Holzbau Beispiel GmbH"}, {0, 0, NULL} };
	static const tcell r5[] = { {50, 100, "Ansprechpartner:"}, {300, 400, "Frau Erika Muster"}, {0, 0, NULL} };
	static const tcell r6[] = { {50, 130, "Käufer/Leistungsempfänger"}, {0, 0, NULL} };
	static const tcell r7[] = { {50, 100, "Name:"}, {300, 400, "Kunde Zwei AG"}, {0, 0, NULL} };
	static const tcell r8[] = { {50, 100, "Anschrift:"}, {300, 400, "Weg 5"}, {0, 0, NULL} };
	static const tcell r9[] = { {300, 400, "Nettobetrag"}, {480, 520, "100,00"}, {0, 0, NULL} };
	static const tcell r10[] = { {300, 400, "MwSt. 19 %"}, {480, 520, "19,00"}, {0, 0, NULL} };
	static const tcell r11[] = { {300, 400, "Gesamtbetrag"}, {480, 520, "119,00"}, {0, 0, NULL} };
	static const tcell r12[] = { {50, 120, "Zahlbar bis"}, {130, 180, "21.05.2024"}, {0, 0, NULL} };
	const tcell *t1[] = { r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12 };
	read_fields(t1, 13, &inv);
	field_is(&inv, F_INVOICE_NUMBER, "4711-A", 0.85, "DE number (title line with date)");
	field_is(&inv, F_ISSUE_DATE, "2024-05-07", 0.7, "DE issue date");
	field_is(&inv, F_DUE_DATE, "2024-05-21", 0.7, "DE due date (plausible term)");
	field_is(&inv, F_SELLER_NAME, "Holzbau Beispiel GmbH", 0.85, "DE seller (heading + Name:)");
	field_is(&inv, F_BUYER_NAME, "Kunde Zwei AG", 0.85, "DE buyer (heading + Name:, not the seller block)");
	field_is(&inv, F_NET, "100.00", 0.7, "DE net");
	field_is(&inv, F_TAX, "19.00", 0.7, "DE tax");
	field_is(&inv, F_TOTAL, "119.00", 0.7, "DE total");
	field_is(&inv, F_CURRENCY, "EUR", 0.7, "DE currency");
	CHECK(!inv.needs_review, "DE: everything consistent and labelled goes straight through");
	invoice_free(&inv);
	/* the same words from OCR: names and the number may hold misread letters -> review;
	 * the amounts keep the confidence their arithmetic gave them */
	read_fields_src(t1, 13, &inv, 1);
	field_is(&inv, F_SELLER_NAME, "Holzbau Beispiel GmbH", 0.5, "DE seller from OCR");
	CHECK(inv.f[F_SELLER_NAME].conf < REVIEW_MIN_CONF, "OCR seller name is unsure (%.2f)", inv.f[F_SELLER_NAME].conf);
	field_is(&inv, F_TOTAL, "119.00", 0.7, "DE total from OCR");
	CHECK(inv.needs_review, "OCR words: names for review");
	invoice_free(&inv);
	/* OCR words read with high confidence, amounts that add up: names keep their confidence;
	 * a number mixing letters and digits ("4711-A") stays for review (O/0, I/1 misreads) */
	read_fields_ocr(t1, 13, &inv, 1, 0.95f);
	field_is(&inv, F_SELLER_NAME, "Holzbau Beispiel GmbH", 0.85, "sure OCR seller, amounts confirmed");
	field_is(&inv, F_BUYER_NAME, "Kunde Zwei AG", 0.85, "sure OCR buyer, amounts confirmed");
	CHECK(inv.f[F_INVOICE_NUMBER].conf < REVIEW_MIN_CONF, "OCR number with letters and digits unsure (%.2f)",
		  inv.f[F_INVOICE_NUMBER].conf);
	invoice_free(&inv);
	static const tcell o0[] = { {50, 300, "Rechnung Nr. 4711 vom 07.05.2024"}, {0, 0, NULL} };
	const tcell *t1o[] = { o0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12 };
	read_fields_ocr(t1o, 13, &inv, 1, 0.95f);
	field_is(&inv, F_INVOICE_NUMBER, "4711", 0.85, "sure OCR number of digits, amounts confirmed");
	CHECK(!inv.needs_review, "sure OCR words, amounts confirmed: straight through");
	invoice_free(&inv);
	/* a digits-only number is as sure as the words holding digits, whatever its label's */
	{
		tlayout l;
		build_layout(&l, t1o, 13);
		for (size_t i = 0; i < l.nsegs; i++) { l.segs[i].ocr = 1; l.segs[i].conf = i == 0 ? 0.4f : 0.95f; l.segs[i].conf_digits = 0.95f; }
		invoice_init(&inv);
		text_extract_fields(&l, &inv);
		field_is(&inv, F_INVOICE_NUMBER, "4711", 0.85, "OCR number: its digits sure, the label word not");
		invoice_free(&inv);
		l.segs[0].conf_digits = 0.5f;
		invoice_init(&inv);
		text_extract_fields(&l, &inv);
		CHECK(inv.f[F_INVOICE_NUMBER].conf < REVIEW_MIN_CONF, "OCR number with unsure digits: review (%.2f)",
			  inv.f[F_INVOICE_NUMBER].conf);
		invoice_free(&inv);
		tlayout_free(&l);
	}
	/* ... but not when one word of the name was unsure, nor when the amounts do not add up */
	read_fields_ocr(t1o, 13, &inv, 1, 0.8f);
	CHECK(inv.f[F_SELLER_NAME].conf < REVIEW_MIN_CONF && inv.needs_review, "unsure OCR words: review (%.2f)",
		  inv.f[F_SELLER_NAME].conf);
	invoice_free(&inv);
	static const tcell o11[] = { {300, 400, "Gesamtbetrag"}, {480, 520, "129,00"}, {0, 0, NULL} };
	const tcell *t1x[] = { o0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, o11, r12 };
	read_fields_ocr(t1x, 13, &inv, 1, 0.95f);
	CHECK(inv.f[F_SELLER_NAME].conf < REVIEW_MIN_CONF && inv.needs_review,
		  "sure OCR words, amounts do not add up: names for review (%.2f)", inv.f[F_SELLER_NAME].conf);
	invoice_free(&inv);
	/* OCR: a key aligned with its value and no colon seen ("Nummer    549910") is no seller
	 * name; "Nr. 4711 vom" and the date in the next segment of the row */
	static const tcell k0[] = { {50, 160, "Rechnung Nr. 4711 vom"}, {300, 360, "07.05.2024"}, {0, 0, NULL} };
	static const tcell k3[] = { {50, 90, "Nummer"}, {300, 340, "998877"}, {0, 0, NULL} };
	static const tcell k4[] = { {50, 180, "Holzbau Beispiel GmbH"}, {0, 0, NULL} };
	static const tcell k5[] = { {50, 180, "Hauptstraße 1"}, {0, 0, NULL} };
	const tcell *tk[] = { k0, r1, r2, k3, k4, k5, r9, r10, r11 };
	read_fields_ocr(tk, 9, &inv, 1, 0.95f);
	field_is(&inv, F_SELLER_NAME, "Holzbau Beispiel GmbH", 0.7, "key and id in columns are no seller name");
	field_is(&inv, F_ISSUE_DATE, "2024-05-07", 0.85, "date right of \"Nr. X vom\" on its row");
	invoice_free(&inv);
	/* the number in the segment after its label, the date after it: "Nr." | "4711 vom 07.05.2024" */
	static const tcell j0[] = { {50, 120, "Rechnungskorrektur Nr."}, {200, 330, "4711 vom 07.05.2024"}, {0, 0, NULL} };
	const tcell *tj[] = { j0, r1, r9, r10, r11 };
	read_fields(tj, 5, &inv);
	field_is(&inv, F_INVOICE_NUMBER, "4711", 0.7, "number right of its label");
	field_is(&inv, F_ISSUE_DATE, "2024-05-07", 0.85, "date after the number in the label's next segment");
	invoice_free(&inv);
	/* the title word heading the column of the number, "Nr." left of it: a sure number */
	static const tcell g0[] = { {100, 140, "FACTUUR"}, {260, 340, "ONZE REFERENTIE"}, {0, 0, NULL} };
	static const tcell g1[] = { {40, 50, "Nr."}, {110, 145, "16117778"}, {220, 310, "Exact April 2016"}, {0, 0, NULL} };
	static const tcell g2[] = { {40, 60, "Datum"}, {110, 150, "21-04-2016"}, {0, 0, NULL} };
	const tcell *tg[] = { g0, g1, g2, r9, r10, r11 };
	read_fields(tg, 6, &inv);
	field_is(&inv, F_INVOICE_NUMBER, "16117778", 0.85, "\"Nr.\" with the title word over the column");
	invoice_free(&inv);
	static const tcell g0b[] = { {260, 300, "FACTUUR"}, {0, 0, NULL} };	/* over another column */
	const tcell *tgb[] = { g0b, g1, g2, r9, r10, r11 };
	read_fields(tgb, 6, &inv);
	CHECK(inv.f[F_INVOICE_NUMBER].conf < REVIEW_MIN_CONF, "\"Nr.\" alone is unsure (%.2f)", inv.f[F_INVOICE_NUMBER].conf);
	invoice_free(&inv);
	/* a misread text layer ("Consu!t!ng") is unsure too */
	static const tcell n4[] = { {50, 100, "Name:"}, {300, 400, "Kunde Zw!e! AG"}, {0, 0, NULL} };
	const tcell *t1n[] = { r0, r1, r2, r3, r4, r5, r6, n4, r8, r9, r10, r11, r12 };
	read_fields(t1n, 13, &inv);
	CHECK(inv.f[F_BUYER_NAME].value && inv.f[F_BUYER_NAME].conf < REVIEW_MIN_CONF && inv.needs_review,
		  "misread buyer name goes to review (%.2f)", inv.f[F_BUYER_NAME].conf);
	invoice_free(&inv);

	/* Italian: amounts printed with a currency sign and no decimals ("25€") */
	static const tcell i0[] = { {400, 500, "numero: 123"}, {0, 0, NULL} };
	static const tcell i1[] = { {400, 500, "data: 18/01/2017"}, {0, 0, NULL} };
	static const tcell i2[] = { {300, 420, "Totale imponibile"}, {480, 500, "25\xe2\x82\xac"}, {0, 0, NULL} };
	static const tcell i3[] = { {300, 420, "Totale IVA"}, {480, 500, "5,5\xe2\x82\xac"}, {0, 0, NULL} };
	static const tcell i4[] = { {300, 420, "Totale"}, {480, 500, "30,5\xe2\x82\xac"}, {0, 0, NULL} };
	const tcell *t2[] = { i0, i1, i2, i3, i4 };
	read_fields(t2, 5, &inv);
	field_is(&inv, F_NET, "25.00", 0.7, "IT net with a currency sign");
	field_is(&inv, F_TAX, "5.50", 0.7, "IT tax with a currency sign");
	field_is(&inv, F_TOTAL, "30.50", 0.7, "IT total with a currency sign");
	field_is(&inv, F_CURRENCY, "EUR", 0.5, "IT currency from a sign after the digits");
	invoice_free(&inv);
	/* the same with the rule switched off: no amount without decimals (the rule switch works) */
	unsigned char off[R_COUNT] = {0};
	off[R_CURRENCY_AMOUNT] = 1;
	rules_set_off(off);
	read_fields(t2, 5, &inv);
	CHECK(!inv.f[F_TOTAL].value, "IT: with currency-amount off no total, got %s", inv.f[F_TOTAL].value);
	rules_set_off(NULL);
	invoice_free(&inv);

	/* unsure: the buyer only from a name-over-address block, the date only the first date on
	 * the page -- returned, but with low confidence and sent to review */
	static const tcell u0[] = { {50, 150, "Northwind Traders Ltd"}, {0, 0, NULL} };
	static const tcell u1[] = { {50, 150, "12 Harbour Road"}, {0, 0, NULL} };
	static const tcell u2[] = { {50, 150, "Jane Customer"}, {400, 480, "03/02/2024"}, {0, 0, NULL} };
	static const tcell u3[] = { {50, 150, "4 Mill Lane 22"}, {0, 0, NULL} };
	static const tcell u4[] = { {50, 150, "Invoice number: INV-88"}, {0, 0, NULL} };
	static const tcell u5[] = { {300, 400, "Total"}, {480, 520, "50.00"}, {0, 0, NULL} };
	const tcell *t3[] = { u0, u1, u2, u3, u4, u5 };
	read_fields(t3, 6, &inv);
	field_is(&inv, F_INVOICE_NUMBER, "INV-88", 0.85, "EN number");
	CHECK(inv.f[F_ISSUE_DATE].value && inv.f[F_ISSUE_DATE].conf < REVIEW_MIN_CONF,
		  "EN: an unlabelled date is returned with low confidence (%.2f)", inv.f[F_ISSUE_DATE].conf);
	CHECK(inv.needs_review, "EN: unsure fields send the document to review");
	invoice_free(&inv);

	/* Dutch: two address blocks, the one with phone and bank details is the sender */
	static const tcell b0[] = { {50, 120, "Jan Jansen"}, {400, 480, "Voorbeeld Handel"}, {0, 0, NULL} };
	static const tcell b1[] = { {50, 120, "Kerkstraat 12"}, {400, 480, "Weena 1"}, {0, 0, NULL} };
	static const tcell b2[] = { {50, 130, "1011 AB Amsterdam"}, {400, 490, "3012 CN Rotterdam"}, {0, 0, NULL} };
	static const tcell b3[] = { {400, 490, "Tel. 010 1234567"}, {0, 0, NULL} };
	static const tcell b4[] = { {400, 520, "IBAN NL50INGB0683251309"}, {0, 0, NULL} };
	static const tcell b5[] = { {50, 120, "Factuurnummer:"}, {130, 180, "2024-17"}, {0, 0, NULL} };
	static const tcell b6[] = { {50, 120, "Factuurdatum:"}, {130, 180, "05-03-2024"}, {0, 0, NULL} };
	static const tcell b7[] = { {300, 400, "Subtotaal"}, {480, 520, "100,00"}, {0, 0, NULL} };
	static const tcell b8[] = { {300, 400, "BTW 21%"}, {480, 520, "21,00"}, {0, 0, NULL} };
	static const tcell b9[] = { {300, 400, "Totaal"}, {480, 520, "121,00"}, {0, 0, NULL} };
	const tcell *t4[] = { b0, b1, b2, b3, b4, b5, b6, b7, b8, b9 };
	read_fields(t4, 10, &inv);
	field_is(&inv, F_SELLER_NAME, "Voorbeeld Handel", 0.8, "NL seller (block with phone and bank)");
	field_is(&inv, F_BUYER_NAME, "Jan Jansen", 0.7, "NL buyer (the other block)");
	field_is(&inv, F_ISSUE_DATE, "2024-03-05", 0.7, "NL issue date");
	CHECK(!inv.needs_review, "NL: two clear blocks and consistent totals go straight through");
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_ADDRESS_BLOCKS] = 1;
	rules_set_off(off);
	read_fields(t4, 10, &inv);
	CHECK(!inv.f[F_SELLER_NAME].value || inv.f[F_SELLER_NAME].conf < REVIEW_MIN_CONF || inv.needs_review,
		  "NL: without address-blocks the parties are unsure");
	rules_set_off(NULL);
	invoice_free(&inv);

	/* paid-balance: a hotel folio whose "Rechnungsbetrag" is 0,00 after the card payment;
	 * the VAT table holds the invoiced amounts */
	static const tcell pb0[] = { {50, 300, "Rechnung Nr. 534719706 vom 18.11.2019"}, {0, 0, NULL} };
	static const tcell pb1[] = { {50, 150, "Übernachtung"}, {490, 520, "80,50"}, {0, 0, NULL} };
	static const tcell pb2[] = { {50, 150, "Zahlung Mastercard"}, {490, 520, "-80,50"}, {0, 0, NULL} };
	static const tcell pb3[] = { {50, 150, "Rechnungsbetrag"}, {490, 520, "0,00"}, {0, 0, NULL} };
	static const tcell pb4[] = { {50, 120, "Steuersatz"}, {250, 300, "Netto EUR"}, {350, 410, "Steuer EUR"}, {470, 520, "Brutto EUR"}, {0, 0, NULL} };
	static const tcell pb5[] = { {50, 120, "19,00 %"}, {270, 295, "9,66"}, {390, 408, "1,84"}, {499, 522, "11,50"}, {0, 0, NULL} };
	static const tcell pb6[] = { {50, 120, "7,00 %"}, {270, 295, "64,49"}, {390, 408, "4,51"}, {499, 522, "69,00"}, {0, 0, NULL} };
	const tcell *tpb[] = { pb0, pb1, pb2, pb3, pb4, pb5, pb6 };
	read_fields(tpb, 7, &inv);
	field_is(&inv, F_TOTAL, "80.50", 0.7, "paid folio: total from the VAT table, not the 0,00 balance");
	field_is(&inv, F_NET, "74.15", 0.7, "paid folio: net from the VAT table");
	field_is(&inv, F_TAX, "6.35", 0.7, "paid folio: tax from the VAT table");
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_PAID_BALANCE] = 1;
	rules_set_off(off);
	read_fields(tpb, 7, &inv);
	CHECK(!inv.f[F_TOTAL].value || strcmp(inv.f[F_TOTAL].value, "80.50") != 0, "paid-balance off: the 0,00 stands (%s)",
		  inv.f[F_TOTAL].value ? inv.f[F_TOTAL].value : "null");
	rules_set_off(NULL);
	invoice_free(&inv);

	/* number-not-vat: a VAT id beside a number label is not the invoice number */
	static const tcell nv0[] = { {50, 120, "Invoice No."}, {130, 200, "DE258996536"}, {0, 0, NULL} };
	static const tcell nv1[] = { {300, 400, "Total"}, {480, 520, "50.00"}, {0, 0, NULL} };
	const tcell *tnv[] = { nv0, nv1 };
	read_fields(tnv, 2, &inv);
	CHECK(!inv.f[F_INVOICE_NUMBER].value, "a VAT id is no invoice number (got %s)", inv.f[F_INVOICE_NUMBER].value);
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_NUMBER_NOT_VAT] = 1;
	rules_set_off(off);
	read_fields(tnv, 2, &inv);
	CHECK(inv.f[F_INVOICE_NUMBER].value, "number-not-vat off: the VAT id is taken");
	rules_set_off(NULL);
	invoice_free(&inv);

	/* recipient-block: the addressee's block names a person ("Herr ..."); its company is the
	 * buyer, not the seller a legal form at the top would suggest */
	static const tcell rb0[] = { {400, 520, "Seaside Hotel"}, {0, 0, NULL} };
	static const tcell rb1[] = { {50, 200, "Example Consulting GmbH"}, {0, 0, NULL} };
	static const tcell rb2[] = { {50, 150, "Herr Max Muster"}, {0, 0, NULL} };
	static const tcell rb3[] = { {50, 150, "Hauptstr. 12"}, {0, 0, NULL} };
	static const tcell rb4[] = { {50, 150, "10117 Berlin"}, {0, 0, NULL} };
	static const tcell rb5[] = { {50, 120, "Rechnungsnummer:"}, {130, 180, "R-77"}, {0, 0, NULL} };
	static const tcell rb6[] = { {50, 120, "Rechnungsdatum:"}, {130, 190, "18.11.2019"}, {0, 0, NULL} };
	static const tcell rb7[] = { {300, 400, "Nettobetrag"}, {480, 520, "100,00"}, {0, 0, NULL} };
	static const tcell rb8[] = { {300, 400, "MwSt. 19 %"}, {480, 520, "19,00"}, {0, 0, NULL} };
	static const tcell rb9[] = { {300, 400, "Gesamtbetrag"}, {480, 520, "119,00"}, {0, 0, NULL} };
	static const tcell rb10[] = { {50, 540, "Seaside Hotel GmbH, Strandweg 1, 20095 Hamburg, Tel. 040 123456, USt-IdNr. DE123456789"}, {0, 0, NULL} };
	const tcell *trb[] = { rb0, rb1, rb2, rb3, rb4, rb5, rb6, rb7, rb8, rb9, rb10 };
	read_fields(trb, 11, &inv);
	field_is(&inv, F_BUYER_NAME, "Example Consulting GmbH", 0.7, "recipient block with a person line: the buyer");
	CHECK(!inv.f[F_SELLER_NAME].value || strcmp(inv.f[F_SELLER_NAME].value, "Example Consulting GmbH") != 0,
		  "the recipient's company is not the seller (got %s)", inv.f[F_SELLER_NAME].value);
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_RECIPIENT_BLOCK] = 1;
	rules_set_off(off);
	read_fields(trb, 11, &inv);
	CHECK(inv.f[F_SELLER_NAME].value && strcmp(inv.f[F_SELLER_NAME].value, "Example Consulting GmbH") == 0,
		  "recipient-block off: the legal form at the top is taken for the seller (got %s)", inv.f[F_SELLER_NAME].value);
	rules_set_off(NULL);
	invoice_free(&inv);

	/* block-after-sender: the sender's line with a legal form over a name-over-address block:
	 * the block is the recipient's (a window envelope's address field) */
	static const tcell ba0[] = { {50, 300, "Beispiel Hotel GmbH Hafenstr. 4 20459 Hamburg"}, {0, 0, NULL} };
	static const tcell ba1[] = { {50, 200, "Muster Consulting GmbH"}, {0, 0, NULL} };
	static const tcell ba2[] = { {50, 150, "Friedrichstr. 123"}, {0, 0, NULL} };
	static const tcell ba3[] = { {50, 150, "10117 Berlin"}, {0, 0, NULL} };
	const tcell *tba[] = { ba0, ba1, ba2, ba3, rb5, rb6, rb7, rb8, rb9 };
	read_fields(tba, 9, &inv);
	field_is(&inv, F_SELLER_NAME, "Beispiel Hotel GmbH", 0.5, "block-after-sender: the sender");
	field_is(&inv, F_BUYER_NAME, "Muster Consulting GmbH", 0.7, "block-after-sender: the block under the sender is the buyer");
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_BLOCK_AFTER_SENDER] = 1;
	rules_set_off(off);
	read_fields(tba, 9, &inv);
	CHECK(!inv.f[F_BUYER_NAME].value || strcmp(inv.f[F_BUYER_NAME].value, "Muster Consulting GmbH") != 0 ||
		  inv.f[F_BUYER_NAME].conf < REVIEW_MIN_CONF, "block-after-sender off: no sure buyer");
	rules_set_off(NULL);
	invoice_free(&inv);

	/* number-parts: "HA007 - 123123 - 37816396" is one number; a date after a hyphen is not part of it */
	static const tcell np0[] = { {50, 300, "Rechnungs.-Nr. HA007 - 123123 - 37816396"}, {0, 0, NULL} };
	static const tcell np1[] = { {50, 300, "Rechnung Nr. 4711 - 05.07.2019"}, {0, 0, NULL} };
	const tcell *tnp[] = { np0, nv1 }, *tnp2[] = { np1, nv1 };
	read_fields(tnp, 2, &inv);
	field_is(&inv, F_INVOICE_NUMBER, "HA007-123123-37816396", 0.5, "number in hyphen-joined parts");
	invoice_free(&inv);
	read_fields(tnp2, 2, &inv);
	field_is(&inv, F_INVOICE_NUMBER, "4711", 0.5, "a date after the hyphen is not part of the number");
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_NUMBER_PARTS] = 1;
	rules_set_off(off);
	read_fields(tnp, 2, &inv);
	field_is(&inv, F_INVOICE_NUMBER, "HA007", 0.0, "number-parts off: the first part only");
	rules_set_off(NULL);
	invoice_free(&inv);

	/* envelope-comma: "Hotel X, Street 19-21, 44787 City" right above the addressee block */
	static const tcell ec0[] = { {50, 300, "Hotel Beispiel City, Hauptstrasse 19-21, 44787 Bochum"}, {0, 0, NULL} };
	const tcell *tec[] = { ec0, ba1, ba2, ba3, rb5, rb6, rb7, rb8, rb9 };
	read_fields(tec, 9, &inv);
	field_is(&inv, F_SELLER_NAME, "Hotel Beispiel City", 0.7, "envelope line with commas: the sender");
	field_is(&inv, F_BUYER_NAME, "Muster Consulting GmbH", 0.7, "envelope line with commas: the addressee below");
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_ENVELOPE_COMMA] = 1;
	rules_set_off(off);
	read_fields(tec, 9, &inv);
	CHECK(!inv.f[F_SELLER_NAME].value || strcmp(inv.f[F_SELLER_NAME].value, "Hotel Beispiel City") != 0,
		  "envelope-comma off: the comma line is no sender line (got %s)", inv.f[F_SELLER_NAME].value);
	rules_set_off(NULL);
	invoice_free(&inv);

	/* footer-sender: nothing at the top names the sender; the footer's name over street over
	 * phone and e-mail does */
	static const tcell fs_empty[] = { {0, 0, NULL} };
	static const tcell fs0[] = { {50, 200, "Hotel Beispiel Hamburg"}, {0, 0, NULL} };
	static const tcell fs1[] = { {50, 250, "Ludwig-Str. 7, 20459 Hamburg"}, {0, 0, NULL} };
	static const tcell fs2[] = { {50, 300, "Tel: +49 40 300618 0, Email: info@example.com"}, {0, 0, NULL} };
	static const tcell fs3[] = { {50, 400, "Betreiber: Beispiel Betriebs GmbH, Amtsgericht Hamburg HRB 52815"}, {0, 0, NULL} };
	const tcell *tfs[53];
	size_t nfs = 0;
	tfs[nfs++] = rb5; tfs[nfs++] = rb6; tfs[nfs++] = rb7; tfs[nfs++] = rb8; tfs[nfs++] = rb9;
	while (nfs < 49) tfs[nfs++] = fs_empty;	/* down to the bottom quarter of the page */
	tfs[nfs++] = fs0; tfs[nfs++] = fs1; tfs[nfs++] = fs2; tfs[nfs++] = fs3;
	read_fields(tfs, nfs, &inv);
	/* a weak reading (below the top's blocks): returned for review */
	field_is(&inv, F_SELLER_NAME, "Hotel Beispiel Hamburg", 0.3, "the sender's block in the footer");
	CHECK(inv.needs_review, "a seller from the footer alone is for review");
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_FOOTER_SENDER] = 1;
	rules_set_off(off);
	read_fields(tfs, nfs, &inv);
	CHECK(!inv.f[F_SELLER_NAME].value || strcmp(inv.f[F_SELLER_NAME].value, "Hotel Beispiel Hamburg") != 0,
		  "footer-sender off: the operator's legal name further down instead (%s %.2f)",
		  inv.f[F_SELLER_NAME].value, inv.f[F_SELLER_NAME].conf);
	rules_set_off(NULL);
	invoice_free(&inv);

	/* sender-block: the recipient under "Bill to:" has a phone line too; the other block with
	 * phone and VAT number, level with it, is the sender's */
	static const tcell sb0[] = { {50, 150, "Acme Supplies Ltd"}, {350, 400, "Bill to:"}, {0, 0, NULL} };
	static const tcell sb1[] = { {50, 150, "12 High Street"}, {350, 450, "Globex Corporation"}, {0, 0, NULL} };
	static const tcell sb2[] = { {50, 150, "London EC1A 1BB"}, {350, 450, "500 Main Street"}, {0, 0, NULL} };
	static const tcell sb3[] = { {50, 150, "Tel. 020 7946 0000"}, {350, 450, "Springfield 12345"}, {0, 0, NULL} };
	static const tcell sb4[] = { {50, 150, "VAT GB 123 4567 89"}, {350, 450, "Tel. 555 0100"}, {0, 0, NULL} };
	static const tcell sb5[] = { {50, 120, "Invoice number:"}, {130, 180, "INV-9"}, {0, 0, NULL} };
	static const tcell sb6[] = { {50, 120, "Invoice date:"}, {130, 190, "18/11/2019"}, {0, 0, NULL} };
	static const tcell sb7[] = { {300, 400, "Subtotal"}, {480, 520, "100.00"}, {0, 0, NULL} };
	static const tcell sb8[] = { {300, 400, "VAT 20%"}, {480, 520, "20.00"}, {0, 0, NULL} };
	static const tcell sb9[] = { {300, 400, "Total"}, {480, 520, "120.00"}, {0, 0, NULL} };
	const tcell *tsb[] = { sb0, sb1, sb2, sb3, sb4, sb5, sb6, sb7, sb8, sb9 };
	read_fields(tsb, 10, &inv);
	field_is(&inv, F_SELLER_NAME, "Acme Supplies Ltd", 0.8, "sender-block: the block with sender details beside the labelled recipient");
	field_is(&inv, F_BUYER_NAME, "Globex Corporation", 0.7, "sender-block: the labelled recipient");
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_SENDER_BLOCK] = 1;
	rules_set_off(off);
	read_fields(tsb, 10, &inv);
	CHECK(!inv.f[F_SELLER_NAME].value || inv.f[F_SELLER_NAME].conf < 0.8, "sender-block off: the seller less sure (%.2f)",
		  inv.f[F_SELLER_NAME].conf);
	rules_set_off(NULL);
	invoice_free(&inv);

	/* sender-block: billing and shipping address side by side, both with a phone line: the
	 * shipping block (under its heading, the buyer's name again) is not the sender */
	static const tcell fk0[] = { {6, 58, "Sold By :"}, {61, 214, "Example Retail Pvt. Ltd.,"}, {0, 0, NULL} };
	static const tcell fk1[] = { {167, 229, "Billing Address"}, {326, 403, "Shipping Address"}, {0, 0, NULL} };
	static const tcell fk2[] = { {167, 229, "Ravi Kumar"}, {326, 388, "Ravi Kumar"}, {0, 0, NULL} };
	static const tcell fk3[] = { {167, 310, "3/64, Khand Nagar"}, {326, 469, "3/64, Khand Nagar"}, {0, 0, NULL} };
	static const tcell fk4[] = { {167, 293, "Lucknow 226010"}, {326, 452, "Lucknow 226010"}, {0, 0, NULL} };
	static const tcell fk5[] = { {167, 248, "Phone: 8756390642"}, {326, 407, "Phone: 8756390642"}, {0, 0, NULL} };
	const tcell *tfk[] = { fk0, fk1, fk2, fk3, fk4, fk5, sb5, sb6, sb7, sb8, sb9 };
	read_fields(tfk, 11, &inv);
	CHECK(!inv.f[F_SELLER_NAME].value || strcmp(inv.f[F_SELLER_NAME].value, "Ravi Kumar") != 0,
		  "the shipping block is not the sender (seller %s)", inv.f[F_SELLER_NAME].value);
	invoice_free(&inv);

	/* a stay's dates: "Arrival Date" above the folio's "Date:" is not the issue date */
	static const tcell ad0[] = { {10, 130, "Arrival Date : 30.11.19"}, {0, 0, NULL} };
	static const tcell ad1[] = { {10, 130, "Departure Date : 01.12.19"}, {0, 0, NULL} };
	static const tcell ad2[] = { {10, 75, "Date: 02.12.19"}, {157, 197, "INVOICE"}, {0, 0, NULL} };
	const tcell *tad[] = { ad0, ad1, ad2, nv1 };
	read_fields(tad, 4, &inv);
	field_is(&inv, F_ISSUE_DATE, "2019-12-02", 0.5, "arrival and departure dates are not the issue date");
	invoice_free(&inv);

	/* tax-row-gross: a VAT table row whose tax cell OCR split ("1, 84"): base and gross give it */
	static const tcell tg0[] = { {50, 300, "Rechnung Nr. 4711 vom 18.11.2019"}, {0, 0, NULL} };
	static const tcell tg1[] = { {300, 400, "Gesamtbetrag"}, {490, 520, "80,50"}, {0, 0, NULL} };
	static const tcell tg2[] = { {50, 120, "19,00 %"}, {270, 295, "9,66"}, {390, 408, "1, 84"}, {499, 522, "11,50"}, {0, 0, NULL} };
	const tcell *ttg[] = { tg0, tg1, pb4, tg2, pb6 };
	read_fields(ttg, 5, &inv);
	field_is(&inv, F_NET, "74.15", 0.7, "VAT table with an unreadable tax cell: net");
	field_is(&inv, F_TAX, "6.35", 0.7, "VAT table with an unreadable tax cell: tax from gross - base");
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_TAX_ROW_GROSS] = 1;
	rules_set_off(off);
	read_fields(ttg, 5, &inv);
	CHECK(!inv.f[F_TAX].value || strcmp(inv.f[F_TAX].value, "6.35") != 0 || inv.f[F_TAX].conf < 0.7,
		  "tax-row-gross off: no sure tax 6.35 (%s)", inv.f[F_TAX].value);
	rules_set_off(NULL);
	invoice_free(&inv);

	/* rate-rows-sum: the tax printed per rate, no tax total: the parts add up */
	static const tcell rr0[] = { {60, 150, "VAT INVOICE: 24361"}, {0, 0, NULL} };
	static const tcell rr1[] = { {60, 100, "VAT AT 19%"}, {220, 240, "1.58"}, {0, 0, NULL} };
	static const tcell rr2[] = { {60, 100, "VAT AT 7%"}, {220, 240, "13.81"}, {0, 0, NULL} };
	const tcell *trr[] = { rr0, rr1, rr2 };
	read_fields(trr, 3, &inv);
	field_is(&inv, F_TAX, "15.39", 0.3, "tax per rate: the sum of the rows");
	invoice_free(&inv);
	/* section subtotals are not parts: one of them is the others' sum */
	static const tcell rs1[] = { {60, 100, "VAT 19%"}, {220, 240, "1.58"}, {0, 0, NULL} };
	static const tcell rs2[] = { {60, 100, "VAT 7%"}, {220, 240, "13.81"}, {0, 0, NULL} };
	static const tcell rs3[] = { {60, 100, "VAT 19% + 7%"}, {220, 240, "15.39"}, {0, 0, NULL} };
	const tcell *trs[] = { rr0, rs1, rs2, rs3 };
	read_fields(trs, 4, &inv);
	CHECK(!inv.f[F_TAX].value || strcmp(inv.f[F_TAX].value, "30.78") != 0, "no sum over a row that is the others' sum (%s)",
		  inv.f[F_TAX].value);
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_RATE_ROWS_SUM] = 1;
	rules_set_off(off);
	read_fields(trr, 3, &inv);
	CHECK(!inv.f[F_TAX].value || strcmp(inv.f[F_TAX].value, "15.39") != 0, "rate-rows-sum off: one row's tax (%s)",
		  inv.f[F_TAX].value);
	rules_set_off(NULL);
	invoice_free(&inv);

	/* wrapped-label: a total label wrapped over two lines of a narrow column, the amount
	 * right of its first line; tax per rate above, net derived */
	static const tcell wl1[] = { {60, 160, "TRADE RECEIVABLES INCL."}, {220, 240, "221.00"}, {0, 0, NULL} };
	static const tcell wl2[] = { {60, 80, "VAT"}, {0, 0, NULL} };
	const tcell *twl[] = { rr0, rr1, rr2, wl1, wl2 };
	read_fields(twl, 5, &inv);
	field_is(&inv, F_TOTAL, "221.00", 0.3, "wrapped total label (amount right of line 1)");
	field_is(&inv, F_NET, "205.61", 0.3, "wrapped total label: net = total - tax");
	invoice_free(&inv);
	/* ... and the amount right of its second line: not the tax amount of "MwSt." alone */
	static const tcell wm1[] = { {60, 120, "Summe inkl."}, {0, 0, NULL} };
	static const tcell wm2[] = { {60, 90, "MwSt."}, {220, 240, "119,00"}, {0, 0, NULL} };
	const tcell *twm[] = { wm1, wm2 };
	read_fields(twm, 2, &inv);
	field_is(&inv, F_TOTAL, "119.00", 0.3, "wrapped total label (amount right of line 2)");
	CHECK(!inv.f[F_TAX].value || strcmp(inv.f[F_TAX].value, "119.00") != 0, "wrapped label's tail is not a tax label (%s)",
		  inv.f[F_TAX].value);
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_WRAPPED_LABEL] = 1;
	rules_set_off(off);
	read_fields(twl, 5, &inv);
	CHECK(!inv.f[F_TOTAL].value || strcmp(inv.f[F_TOTAL].value, "221.00") != 0, "wrapped-label off: no total 221.00 (%s)",
		  inv.f[F_TOTAL].value);
	invoice_free(&inv);
	read_fields(twm, 2, &inv);
	CHECK(!inv.f[F_TOTAL].value || strcmp(inv.f[F_TOTAL].value, "119.00") != 0, "wrapped-label off: no total 119.00 (%s)",
		  inv.f[F_TOTAL].value);
	rules_set_off(NULL);
	invoice_free(&inv);

	/* envelope-ocr-dot: the return-address line's middle dots read as "«" and "°" */
	static const tcell eo0[] = { {50, 300, "Hotel Beispiel City \xc2\xab Hauptstrasse 54 \xc2\xb0 10557 Berlin"}, {0, 0, NULL} };
	const tcell *teo[] = { eo0, ba1, ba2, ba3, rb5, rb6, rb7, rb8, rb9 };
	read_fields(teo, 9, &inv);
	field_is(&inv, F_SELLER_NAME, "Hotel Beispiel City", 0.7, "envelope line with OCR'd dots: the sender");
	invoice_free(&inv);
	memset(off, 0, sizeof off);
	off[R_ENVELOPE_OCR_DOT] = 1;
	rules_set_off(off);
	read_fields(teo, 9, &inv);
	CHECK(!inv.f[F_SELLER_NAME].value || strcmp(inv.f[F_SELLER_NAME].value, "Hotel Beispiel City") != 0,
		  "envelope-ocr-dot off: no sender from that line (%s)", inv.f[F_SELLER_NAME].value);
	rules_set_off(NULL);
	invoice_free(&inv);

	/* VAT breakdown table: two rates, found by base x rate = tax, supplies net and tax */
	static const tcell v0[] = { {50, 150, "Rechnungsnummer:"}, {160, 200, "R-77"}, {0, 0, NULL} };
	static const tcell v1[] = { {50, 150, "Rechnungsdatum:"}, {160, 220, "18.11.2019"}, {0, 0, NULL} };
	static const tcell v2[] = { {50, 150, "Rechnungsbetrag"}, {480, 520, "80,50"}, {0, 0, NULL} };
	static const tcell v3[] = { {50, 100, "Steuersatz"}, {250, 300, "Netto"}, {350, 400, "Steuer"}, {470, 520, "Brutto"}, {0, 0, NULL} };
	static const tcell v4[] = { {50, 100, "19,00 %"}, {270, 300, "9,66"}, {380, 400, "1,84"}, {490, 520, "11,50"}, {0, 0, NULL} };
	static const tcell v5[] = { {50, 100, "7,00 %"}, {270, 300, "64,49"}, {380, 400, "4,51"}, {490, 520, "69,00"}, {0, 0, NULL} };
	const tcell *t5[] = { v0, v1, v2, v3, v4, v5 };
	read_fields(t5, 6, &inv);
	field_is(&inv, F_TOTAL, "80.50", 0.7, "tax table: total");
	field_is(&inv, F_NET, "74.15", 0.7, "tax table: net = sum of the bases");
	field_is(&inv, F_TAX, "6.35", 0.7, "tax table: tax = sum of the tax column");
	invoice_free(&inv);
	off[R_ADDRESS_BLOCKS] = 0;
	off[R_TAX_TABLE] = 1;
	rules_set_off(off);
	read_fields(t5, 6, &inv);
	CHECK(!inv.f[F_NET].value || strcmp(inv.f[F_NET].value, "74.15") != 0 || inv.f[F_NET].conf < 0.7,
		  "tax table off: no confident net 74.15");
	rules_set_off(NULL);
	invoice_free(&inv);
	/* item rows with a tax column repeat their rate: not a breakdown table */
	static const tcell w0[] = { {50, 100, "Widget"}, {200, 230, "19 %"}, {300, 340, "100,00"}, {400, 440, "19,00"}, {0, 0, NULL} };
	static const tcell w1[] = { {50, 100, "Gadget"}, {200, 230, "19 %"}, {300, 340, "200,00"}, {400, 440, "38,00"}, {0, 0, NULL} };
	const tcell *t6[] = { w0, w1 };
	tlayout tl;
	build_layout(&tl, t6, 2);
	tax_table tt;
	CHECK(!tax_table_find(&tl, &tt), "rows repeating one rate are item lines, not a VAT table");
	tlayout_free(&tl);
	build_layout(&tl, t5, 6);
	CHECK(tax_table_find(&tl, &tt) && tt.rows == 2 && tt.base == 7415 && tt.tax == 635,
		  "VAT table: 2 rows, base 7415, tax 635 (got %d, %lld, %lld)", tt.rows, tt.base, tt.tax);
	tlayout_free(&tl);

	/* review decision alone: a consistent, confident invoice passes; one low field does not */
	invoice_init(&inv);
	inv_set(&inv, F_INVOICE_NUMBER, "1", 0.9, SRC_TEXT);
	inv_set(&inv, F_ISSUE_DATE, "2024-01-01", 0.9, SRC_TEXT);
	inv_set(&inv, F_NET, "10.00", 0.9, SRC_TEXT);
	inv_set(&inv, F_TAX, "2.00", 0.9, SRC_TEXT);
	inv_set(&inv, F_TOTAL, "12.00", 0.9, SRC_TEXT);
	invoice_review(&inv);
	CHECK(!inv.needs_review, "review: confident and consistent passes");
	inv_set(&inv, F_BUYER_NAME, "Someone", 0.5, SRC_TEXT);
	invoice_review(&inv);
	CHECK(inv.needs_review, "review: a low-confidence buyer sends it to review");
	/* the reasons are said: exactly the one that applies */
	const char *why[8];
	size_t nwhy = review_reason_texts(inv.review_reasons, why, 8);
	CHECK(nwhy == 1 && strcmp(why[0], "buyer.name low confidence") == 0, "review reason: buyer.name low confidence (%zu: %s)",
		  nwhy, nwhy ? why[0] : "-");
	inv_set(&inv, F_BUYER_NAME, "Someone", 0.9, SRC_TEXT);
	inv_set(&inv, F_TOTAL, "13.00", 0.9, SRC_TEXT);
	invoice_review(&inv);
	CHECK(inv.needs_review, "review: net + tax != total");
	nwhy = review_reason_texts(inv.review_reasons, why, 8);
	CHECK(nwhy == 1 && strcmp(why[0], "amounts do not add up") == 0, "review reason: amounts do not add up (%zu)", nwhy);
	/* ... and reach the result's meta, [] when straight through */
	char *js = result_to_json(&inv, "", 1, 0, NULL);
	json_t *jr = json_loads(js, 0, NULL);
	json_t *rr = json_object_get(json_object_get(jr, "meta"), "review_reasons");
	CHECK(json_array_size(rr) == 1 && strcmp(json_string_value(json_array_get(rr, 0)), "amounts do not add up") == 0,
		  "meta.review_reasons in the result JSON");
	json_decref(jr); free(js);
	inv_set(&inv, F_TOTAL, "12.00", 0.9, SRC_TEXT);
	free(inv.f[F_ISSUE_DATE].value); inv.f[F_ISSUE_DATE].value = NULL;
	invoice_review(&inv);
	nwhy = review_reason_texts(inv.review_reasons, why, 8);
	CHECK(inv.needs_review && nwhy == 1 && strcmp(why[0], "issue_date missing") == 0, "review reason: issue_date missing");
	inv_set(&inv, F_ISSUE_DATE, "2024-01-01", 0.9, SRC_TEXT);
	invoice_review(&inv);
	js = result_to_json(&inv, "", 1, 0, NULL);
	jr = json_loads(js, 0, NULL);
	rr = json_object_get(json_object_get(jr, "meta"), "review_reasons");
	CHECK(!inv.needs_review && inv.review_reasons == 0 && json_is_array(rr) && json_array_size(rr) == 0,
		  "straight through: meta.review_reasons []");
	json_decref(jr); free(js);
	invoice_free(&inv);
}

int main(void)
{
	test_dates();
	test_amounts();
	test_ids();
	test_xml();
	test_errors();
	test_table_reader();
	test_field_reader();
	test_corpus();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
