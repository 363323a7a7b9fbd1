/*
 * VAT breakdown tables ("Steuersatz Netto Steuer Brutto", "VAT rate / Net / VAT",
 * "Taux HT TVA TTC"): whatever their labels and language, each row states
 * base x rate = tax.  That arithmetic finds them, and their sums check (or supply)
 * the invoice's net and tax.
 */
#include "tax_table.h"
#include "rules.h"
#include "parsers.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int row_amounts(const char *s, long long *vals, int max, int *rate_bp)
{
	int n = 0;
	*rate_bp = -1;
	for (size_t i = 0; s[i]; i++) {
		if (i > 0) {
			unsigned char p = (unsigned char) s[i - 1];
			if (isalnum(p) || p == '.' || p == ',' || p == '-' || p == '/') continue;
		}
		char v[64];
		size_t len = amount_scan(s + i, 0, v, sizeof v);
		if (!len) continue;
		size_t j = i + len;
		while (s[j] == ' ') j++;
		long long c;
		if (!amount_cents(v, &c)) { i += len - 1; continue; }
		if (s[j] == '%') {
			if (*rate_bp < 0 && c > 0 && c <= 3000) *rate_bp = (int) c;
		} else if (n < max && (strchr(v, '.') || !isdigit((unsigned char) s[i]) ||
							   (unsigned char) s[i + len] >= 0x80 || s[i + len] == '$')) {
			/* decimal amounts, or whole ones with a currency sign ("25€", "$48"):
			 * bare counts and ids are not money */
			vals[n++] = c;
		}
		i += len - 1;
	}
	return n;
}

/* base x rate = tax, to the cent (rounding of each line can add a cent or two). */
static int rate_fits(long long base, long long tax, int rate_bp)
{
	if (base <= 0 || tax <= 0 || tax >= base) return 0;
	long long want = (base * rate_bp + 5000) / 10000;
	return llabs(want - tax) <= 1 + base / 10000;
}

/* A tax row: returns 1 and sets base/tax/rate. */
static int tax_row(const tlayout *l, size_t r, long long *base, long long *tax, int *rate, int *gross)
{
	char *t = tlayout_row_text(l, r);
	long long v[12];
	int rb;
	int n = row_amounts(t, v, 12, &rb);
	free(t);
	if (rb <= 0 || n < 2) return 0;
	for (int a = 0; a < n; a++)
		for (int b = 0; b < n; b++) {
			if (a == b || !rate_fits(v[a], v[b], rb)) continue;
			*base = v[a]; *tax = v[b]; *rate = rb;
			*gross = 0;
			for (int g = 0; g < n; g++) if (g != a && g != b && v[g] == v[a] + v[b]) *gross = 1;
			return 1;
		}
	/* the tax cell unreadable ("6, 32" from OCR) or missing: base and gross printed, and
	 * gross - base fits the rate, give the tax */
	if (rule_on(R_TAX_ROW_GROSS))
		for (int a = 0; a < n; a++)
			for (int g = 0; g < n; g++) {
				if (a == g || v[g] <= v[a] || !rate_fits(v[a], v[g] - v[a], rb)) continue;
				*base = v[a]; *tax = v[g] - v[a]; *rate = rb;
				*gross = 1;
				return 1;
			}
	return 0;
}

int tax_table_find(const tlayout *l, tax_table *t)
{
	memset(t, 0, sizeof *t);
	tax_table cur; memset(&cur, 0, sizeof cur);
	int rates[16], nrates = 0, gross_all = 1, dup = 0;
	long last = -10;
	for (size_t r = 0; r < l->nrows; r++) {
		long long b, x; int rate, gross;
		if (!tax_row(l, r, &b, &x, &rate, &gross)) continue;
		int same_block = cur.rows && (long) r - last <= 2 && l->rows[r].page == l->rows[cur.last_row].page;
		if (!same_block) {
			/* close the previous block */
			if (cur.rows && !dup && (cur.rows > 1 || gross_all)) *t = cur;
			memset(&cur, 0, sizeof cur);
			nrates = 0; gross_all = 1; dup = 0;
			cur.first_row = (int) r;
		}
		for (int i = 0; i < nrates; i++) if (rates[i] == rate) dup = 1;
		if (nrates < 16) rates[nrates++] = rate;
		gross_all &= gross;
		cur.rows++;
		cur.base += b;
		cur.tax += x;
		cur.last_row = (int) r;
		last = (long) r;
	}
	if (cur.rows && !dup && (cur.rows > 1 || gross_all)) *t = cur;
	return t->rows > 0;
}
