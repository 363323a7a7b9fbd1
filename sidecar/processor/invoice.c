#include "invoice.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

const char *const field_key[F_COUNT] = {
	"document_type", "invoice_number", "issue_date", "due_date", "currency",
	"purchase_order", "payment_terms",
	"seller.name", "seller.vat_id", "seller.address",
	"buyer.name", "buyer.vat_id", "buyer.address",
	"totals.net", "totals.tax", "totals.total", "totals.amount_due",
	"payment.iban", "payment.bic", "payment.reference",
};

void invoice_init(invoice *inv)
{
	memset(inv, 0, sizeof *inv);
}

static void line_free(inv_line *l)
{
	free(l->description); free(l->quantity); free(l->unit);
	free(l->unit_price); free(l->net_amount); free(l->tax_rate);
}

void invoice_free(invoice *inv)
{
	for (int i = 0; i < F_COUNT; i++) free(inv->f[i].value);
	for (size_t i = 0; i < inv->ntaxes; i++) {
		free(inv->taxes[i].rate); free(inv->taxes[i].base); free(inv->taxes[i].amount);
	}
	free(inv->taxes);
	for (size_t i = 0; i < inv->nlines; i++) line_free(&inv->lines[i]);
	free(inv->lines);
	free(inv->profile);
	invoice_init(inv);
}

void inv_set(invoice *inv, field_id id, const char *value, double conf, field_src src)
{
	char *v = trim_dup(value);
	if (!v) return;
	free(inv->f[id].value);
	inv->f[id].value = v;
	inv->f[id].conf = conf;
	inv->f[id].src = src;
}

void inv_add_tax(invoice *inv, const char *rate, const char *base, const char *amount)
{
	inv->taxes = xrealloc(inv->taxes, (inv->ntaxes + 1) * sizeof *inv->taxes);
	inv_tax *t = &inv->taxes[inv->ntaxes++];
	t->rate = trim_dup(rate);
	t->base = trim_dup(base);
	t->amount = trim_dup(amount);
}

inv_line *inv_add_line(invoice *inv)
{
	inv->lines = xrealloc(inv->lines, (inv->nlines + 1) * sizeof *inv->lines);
	inv_line *l = &inv->lines[inv->nlines++];
	memset(l, 0, sizeof *l);
	return l;
}

void invoice_fill_from(invoice *to, invoice *from)
{
	for (int i = 0; i < F_COUNT; i++) {
		if (!to->f[i].value && from->f[i].value) {
			to->f[i] = from->f[i];
			from->f[i].value = NULL;
		}
	}
	if (!to->ntaxes && from->ntaxes) {
		to->taxes = from->taxes; to->ntaxes = from->ntaxes;
		from->taxes = NULL; from->ntaxes = 0;
	}
	if (!to->nlines && from->nlines) {
		to->lines = from->lines; to->nlines = from->nlines; to->lines_src = from->lines_src; to->lines_conf = from->lines_conf;
		from->lines = NULL; from->nlines = 0;
	}
	if (!to->profile && from->profile) { to->profile = from->profile; from->profile = NULL; }
}
