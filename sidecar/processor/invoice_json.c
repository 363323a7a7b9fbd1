/* The invoice structure as DESIGN.md's JSON (jansson). */
#include "invoice.h"
#include "review.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *src_name(field_src s)
{
	return s == SRC_XML ? "xml" : s == SRC_TEXT ? "text" : s == SRC_OCR ? "ocr" : NULL;
}

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *field(const invoice *inv, field_id id)
{
	return jstr(inv->f[id].value);
}

static json_t *build(const invoice *inv)
{
	json_t *o = json_object();
	json_object_set_new(o, "document_type", json_string(inv->f[F_DOCUMENT_TYPE].value ? inv->f[F_DOCUMENT_TYPE].value : "invoice"));
	json_object_set_new(o, "invoice_number", field(inv, F_INVOICE_NUMBER));
	json_object_set_new(o, "issue_date", field(inv, F_ISSUE_DATE));
	json_object_set_new(o, "due_date", field(inv, F_DUE_DATE));
	json_object_set_new(o, "currency", field(inv, F_CURRENCY));
	json_object_set_new(o, "purchase_order", field(inv, F_PURCHASE_ORDER));
	json_object_set_new(o, "payment_terms", field(inv, F_PAYMENT_TERMS));

	json_t *p = json_object();
	json_object_set_new(p, "name", field(inv, F_SELLER_NAME));
	json_object_set_new(p, "vat_id", field(inv, F_SELLER_VAT));
	json_object_set_new(p, "address", field(inv, F_SELLER_ADDRESS));
	json_object_set_new(o, "seller", p);
	p = json_object();
	json_object_set_new(p, "name", field(inv, F_BUYER_NAME));
	json_object_set_new(p, "vat_id", field(inv, F_BUYER_VAT));
	json_object_set_new(p, "address", field(inv, F_BUYER_ADDRESS));
	json_object_set_new(o, "buyer", p);

	json_t *t = json_object();
	json_object_set_new(t, "net", field(inv, F_NET));
	json_object_set_new(t, "tax", field(inv, F_TAX));
	json_object_set_new(t, "total", field(inv, F_TOTAL));
	json_object_set_new(t, "amount_due", field(inv, F_AMOUNT_DUE));
	json_object_set_new(o, "totals", t);

	json_t *tb = json_array();
	for (size_t i = 0; i < inv->ntaxes; i++) {
		json_t *e = json_object();
		json_object_set_new(e, "rate", jstr(inv->taxes[i].rate));
		json_object_set_new(e, "base", jstr(inv->taxes[i].base));
		json_object_set_new(e, "amount", jstr(inv->taxes[i].amount));
		json_array_append_new(tb, e);
	}
	json_object_set_new(o, "tax_breakdown", tb);

	json_t *pay = json_object();
	json_object_set_new(pay, "iban", field(inv, F_IBAN));
	json_object_set_new(pay, "bic", field(inv, F_BIC));
	json_object_set_new(pay, "reference", field(inv, F_REFERENCE));
	json_object_set_new(o, "payment", pay);

	json_t *lines = json_array();
	for (size_t i = 0; i < inv->nlines; i++) {
		const inv_line *l = &inv->lines[i];
		json_t *e = json_object();
		json_object_set_new(e, "description", jstr(l->description));
		json_object_set_new(e, "quantity", jstr(l->quantity));
		json_object_set_new(e, "unit", jstr(l->unit));
		json_object_set_new(e, "unit_price", jstr(l->unit_price));
		json_object_set_new(e, "net_amount", jstr(l->net_amount));
		json_object_set_new(e, "tax_rate", jstr(l->tax_rate));
		json_array_append_new(lines, e);
	}
	json_object_set_new(o, "lines", lines);

	json_object_set_new(o, "source", json_string(inv->source == SRC_XML ? "xml" : inv->source == SRC_OCR ? "ocr" : "text"));
	json_object_set_new(o, "profile", jstr(inv->profile));

	json_t *conf = json_object(), *srcs = json_object();
	for (int i = 0; i < F_COUNT; i++) {
		if (!inv->f[i].value || !src_name(inv->f[i].src)) continue;
		json_object_set_new(conf, field_key[i], json_real((double) (long) (inv->f[i].conf * 100 + 0.5) / 100.0));
		json_object_set_new(srcs, field_key[i], json_string(src_name(inv->f[i].src)));
	}
	if (inv->nlines && src_name(inv->lines_src)) {
		double lc = inv->lines_src == SRC_XML ? 1.0 : inv->lines_conf;
		json_object_set_new(conf, "lines", json_real((double) (long) (lc * 100 + 0.5) / 100.0));
		json_object_set_new(srcs, "lines", json_string(src_name(inv->lines_src)));
	}
	json_object_set_new(o, "confidence", conf);
	json_object_set_new(o, "sources", srcs);
	json_object_set_new(o, "needs_review", json_boolean(inv->needs_review));
	return o;
}

char *result_to_json(const invoice *inv, const char *text, int pages, int repaired, const char *xml_name)
{
	json_t *r = json_object();
	json_object_set_new(r, "invoice", build(inv));
	json_object_set_new(r, "text", json_string(text ? text : ""));
	json_t *m = json_object();
	json_object_set_new(m, "pages", json_integer(pages));
	json_object_set_new(m, "repaired", json_boolean(repaired));
	json_object_set_new(m, "xml_attachment", xml_name ? json_string(xml_name) : json_null());
	/* why needs_review is true (review.c); [] when the document goes straight through */
	const char *why[32];
	size_t nwhy = review_reason_texts(inv->review_reasons, why, 32);
	json_t *rr = json_array();
	for (size_t i = 0; i < nwhy && i < 32; i++) json_array_append_new(rr, json_string(why[i]));
	json_object_set_new(m, "review_reasons", rr);
	json_object_set_new(r, "meta", m);
	char *s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(r);
	return s;
}
