/*
 * Line items from the text layer.
 *
 * 1. Header: a row with at least two column labels (EN, DE, FR, NL, ES, IT) and
 *    no decimal amount, widened to the label rows stacked just above and below it
 *    (multi-row headers, "Zeilenbetrag / Ohne MwSt.").  A segment holding two
 *    labels ("Disc.% Taxes") is split in proportion to the characters.  Segments
 *    that overlap horizontally form one column; its kind comes from the first
 *    label in its stacked text ("Montant / EUR TTC" is a gross amount).  A table
 *    needs a description column (or free space left of the first column, taken as
 *    one), a net or gross amount column and one more numeric column.
 * 2. Body: each later row's segments go to the column whose x-range (from the
 *    header, split at the middle of the gaps) they overlap most; a segment that
 *    straddles columns is cut into words placed by position.  A row with an
 *    amount in the amount column is a line; a row with only text in the
 *    description column continues a description (the previous line's, or the
 *    next line's when that one has no description of its own and the text is
 *    nearer to it); a row with words in a numeric column does not fit (two in a
 *    row end the table); a totals label ("Subtotal", "Summe", "Total HT", ...)
 *    ends it, unless a full line follows within two rows (section subtotals).
 *    A header with the same columns on the next page continues the table.
 * 3. Validation: quantity x unit price = amount (discounts allowed when there is
 *    a discount column), gross amounts made net with the line's rate, and the
 *    sum of the lines against the invoice's net (or gross against the total).
 *    The best consistent table wins; none consistent = no lines.
 */
#include "text_lines.h"
#include "labels.h"
#include "parsers.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
	C_NONE, C_POS, C_CODE, C_DESC, C_QTY, C_UNIT, C_PRICE, C_DISC, C_RATE, C_TAXAMT, C_NET, C_GROSS
} colkind;

static int numeric_kind(int k)
{
	return k == C_QTY || k == C_PRICE || k == C_DISC || k == C_RATE || k == C_TAXAMT || k == C_NET || k == C_GROSS;
}

/* Folded column labels (see fold_text()); overlapping matches keep the longest. */
static const struct { const char *text; int kind; } col_labels[] = {
	/* position */
	{"pos", C_POS}, {"pos.", C_POS}, {"position", C_POS}, {"#", C_POS}, {"nr", C_POS}, {"nr.", C_POS},
	{"no", C_POS}, {"no.", C_POS}, {"ligne", C_POS}, {"line", C_POS}, {"lfd. nr", C_POS}, {"regel", C_POS},
	{"riga", C_POS}, {"linea", C_POS},
	/* article code */
	{"art-nr", C_CODE}, {"art.-nr", C_CODE}, {"art. nr", C_CODE}, {"art.nr", C_CODE}, {"artikelnummer", C_CODE},
	{"artikelnr", C_CODE}, {"artikel-nr", C_CODE}, {"sku", C_CODE}, {"code", C_CODE}, {"code article", C_CODE},
	{"ref", C_CODE}, {"ref.", C_CODE}, {"reference", C_CODE}, {"product code", C_CODE}, {"item code", C_CODE},
	{"item no", C_CODE}, {"item #", C_CODE}, {"part no", C_CODE}, {"part number", C_CODE}, {"hsn", C_CODE},
	{"ean", C_CODE}, {"gtin", C_CODE}, {"codigo", C_CODE}, {"codice", C_CODE}, {"artikelcode", C_CODE},
	/* description */
	{"description", C_DESC}, {"item", C_DESC}, {"items", C_DESC}, {"item description", C_DESC},
	{"product", C_DESC}, {"products", C_DESC}, {"service", C_DESC}, {"services", C_DESC}, {"article", C_DESC},
	{"articles", C_DESC}, {"designation", C_DESC}, {"libelle", C_DESC}, {"nom", C_DESC}, {"title", C_DESC},
	{"details", C_DESC}, {"particulars", C_DESC}, {"beschreibung", C_DESC}, {"bezeichnung", C_DESC},
	{"artikel", C_DESC}, {"artikelbezeichnung", C_DESC}, {"leistung", C_DESC}, {"leistungsbeschreibung", C_DESC},
	{"produkt", C_DESC}, {"omschrijving", C_DESC}, {"descripcion", C_DESC}, {"concepto", C_DESC},
	{"articulo", C_DESC}, {"descrizione", C_DESC}, {"articolo", C_DESC}, {"prodotto", C_DESC},
	{"denominazione", C_DESC},
	/* quantity */
	{"qty", C_QTY}, {"qty.", C_QTY}, {"quantity", C_QTY}, {"menge", C_QTY}, {"anz", C_QTY}, {"anz.", C_QTY},
	{"anzahl", C_QTY}, {"qte", C_QTY}, {"quantite", C_QTY}, {"aantal", C_QTY}, {"cantidad", C_QTY},
	{"cant.", C_QTY}, {"quantita", C_QTY}, {"qta", C_QTY}, {"qta.", C_QTY},
	/* unit */
	{"unit", C_UNIT}, {"uom", C_UNIT}, {"einheit", C_UNIT}, {"unite", C_UNIT}, {"eenheid", C_UNIT},
	{"unidad", C_UNIT}, {"unita", C_UNIT}, {"u.m.", C_UNIT},
	/* unit price */
	{"unit price", C_PRICE}, {"price", C_PRICE}, {"rate", C_PRICE}, {"unit cost", C_PRICE},
	{"price per unit", C_PRICE}, {"einzelpreis", C_PRICE}, {"preis", C_PRICE}, {"e-preis", C_PRICE},
	{"stuckpreis", C_PRICE}, {"nettopreis", C_PRICE}, {"vk-preis", C_PRICE}, {"prix unitaire", C_PRICE},
	{"prix", C_PRICE}, {"p.u.", C_PRICE}, {"pu", C_PRICE}, {"prijs", C_PRICE}, {"prijs per stuk", C_PRICE},
	{"stukprijs", C_PRICE}, {"eenheidsprijs", C_PRICE}, {"precio unitario", C_PRICE}, {"precio", C_PRICE},
	{"prezzo unitario", C_PRICE}, {"prezzo", C_PRICE},
	/* discount */
	{"discount", C_DISC}, {"disc", C_DISC}, {"disc.", C_DISC}, {"rabatt", C_DISC}, {"remise", C_DISC},
	{"korting", C_DISC}, {"descuento", C_DISC}, {"dto", C_DISC}, {"dto.", C_DISC}, {"sconto", C_DISC},
	/* tax rate */
	{"vat", C_RATE}, {"vat %", C_RATE}, {"vat rate", C_RATE}, {"tax", C_RATE}, {"tax %", C_RATE},
	{"tax rate", C_RATE}, {"taxes", C_RATE}, {"gst", C_RATE}, {"mwst", C_RATE}, {"mwst.", C_RATE},
	{"ust", C_RATE}, {"ust.", C_RATE}, {"steuer", C_RATE}, {"steuersatz", C_RATE}, {"mwst-satz", C_RATE},
	{"tva", C_RATE}, {"% tva", C_RATE}, {"taux tva", C_RATE}, {"taux", C_RATE}, {"btw", C_RATE},
	{"btw %", C_RATE}, {"iva", C_RATE}, {"% iva", C_RATE}, {"aliquota", C_RATE},
	/* tax amount */
	{"tax amount", C_TAXAMT}, {"vat amount", C_TAXAMT}, {"mwst-betrag", C_TAXAMT}, {"mwst.-betrag", C_TAXAMT},
	{"mwst betrag", C_TAXAMT}, {"ust-betrag", C_TAXAMT}, {"ust.-betrag", C_TAXAMT}, {"steuerbetrag", C_TAXAMT},
	{"montant tva", C_TAXAMT}, {"btw bedrag", C_TAXAMT}, {"btw-bedrag", C_TAXAMT}, {"importe iva", C_TAXAMT},
	{"cuota iva", C_TAXAMT}, {"importo iva", C_TAXAMT},
	/* net line amount */
	{"amount", C_NET}, {"net amount", C_NET}, {"line total", C_NET}, {"total", C_NET}, {"net", C_NET},
	{"netto", C_NET}, {"betrag", C_NET}, {"gesamt", C_NET}, {"gesamtpreis", C_NET}, {"gesamtbetrag", C_NET},
	{"summe", C_NET}, {"entgelt", C_NET}, {"zeilenbetrag", C_NET}, {"nettobetrag", C_NET},
	{"positionsbetrag", C_NET}, {"montant", C_NET}, {"montant ht", C_NET}, {"total ht", C_NET},
	{"bedrag", C_NET}, {"totaal", C_NET}, {"importe", C_NET}, {"total neto", C_NET}, {"importo", C_NET},
	{"totale", C_NET}, {"subtotal", C_NET}, {"ext. price", C_NET}, {"extended", C_NET},
	/* gross line amount */
	{"amount incl", C_GROSS}, {"total incl", C_GROSS}, {"gross", C_GROSS}, {"gross amount", C_GROSS},
	{"brutto", C_GROSS}, {"bruttobetrag", C_GROSS}, {"montant ttc", C_GROSS}, {"total ttc", C_GROSS},
	{"prijs incl. btw", C_GROSS}, {"prijs incl btw", C_GROSS}, {"bedrag incl. btw", C_GROSS},
	{"incl. btw", C_GROSS}, {"inkl. mwst", C_GROSS}, {"incl. vat", C_GROSS}, {"incl vat", C_GROSS},
	{NULL, 0}
};

/* Totals that end a table (besides the total/net/amount-due labels of labels.c with weight >= 3). */
static const char *const totals_extra[] = {
	"total", "totale", "summe", "positionssumme", "gesamtsumme", "subtotal", "sub total", "zwischensumme",
	"ubertrag", "carried forward", "report", NULL
};

#define MAXCOL 16

typedef struct { int kind; float x0, x1; int pct; } tcol;

typedef struct {
	int    first, last;		/* band rows */
	int    page;
	int    ncol;
	tcol   col[MAXCOL];
	float  lo[MAXCOL], hi[MAXCOL];	/* assignment regions */
	int    used;
} theader;

typedef struct {
	char  *desc;
	char   qty[40], unit[40], price[40], net[40], gross[40], rate[40], taxamt[40];
	int    row, page;
	float  y;
} tline;

typedef struct {
	tline *v; size_t n;
	double conf;
	int    score;
} ttable;

/* ---------- helpers ---------- */

static size_t fold(const char *s, char **out)
{
	size_t *map;
	size_t n = fold_text(s, out, &map);
	free(map);
	return n;
}

static int wordc(int c) { return is_word_char(c); }

/* Leftmost-longest column label at or after *pos in folded f; returns kind or C_NONE. */
static int next_label(const char *f, size_t len, size_t *pos, size_t *mlen)
{
	for (size_t i = *pos; i < len; i++) {
		if (i > 0 && wordc((unsigned char) f[i - 1]) && wordc((unsigned char) f[i])) continue;
		int best = -1; size_t bl = 0;
		for (int k = 0; col_labels[k].text; k++) {
			size_t l = strlen(col_labels[k].text);
			if (l <= bl || i + l > len || strncmp(f + i, col_labels[k].text, l) != 0) continue;
			if (i + l < len && wordc((unsigned char) f[i + l]) && wordc((unsigned char) f[i + l - 1])) continue;
			best = k; bl = l;
		}
		if (best >= 0) { *pos = i; *mlen = bl; return col_labels[best].kind; }
	}
	return C_NONE;
}

static int has_digit(const char *s)
{
	for (; *s; s++) if (isdigit((unsigned char) *s)) return 1;
	return 0;
}

/* An amount with decimals somewhere in s (at a word start). */
static int has_decimal_amount(const char *s)
{
	char out[64];
	for (size_t i = 0; s[i]; i++) {
		if (i > 0 && (isalnum((unsigned char) s[i - 1]) || s[i - 1] == '.' || s[i - 1] == ',')) continue;
		if (amount_scan(s + i, 1, out, sizeof out)) return 1;
	}
	return 0;
}

/* Number at the start of a cell ("€ 12,00", "EUR 5", "1 Stk", "19 % VAT"); *rest after it. */
static int cell_number(const char *s, char *out, size_t outsz, const char **rest)
{
	if (!s) return 0;
	while (*s == ' ') s++;
	if (isupper((unsigned char) s[0]) && isupper((unsigned char) s[1]) && isupper((unsigned char) s[2]) && s[3] == ' ') {
		char code[4] = { s[0], s[1], s[2], 0 };
		if (currency_is_code(code)) s += 4;
	}
	size_t n = amount_scan(s, 0, out, outsz);
	if (!n) return 0;
	if (rest) *rest = s + n;
	return 1;
}

/* Amount cell: the whole cell, else the number at its start. */
static int cell_amount(const char *s, char *out, size_t outsz)
{
	if (!s || !*s) return 0;
	if (amount_parse(s, out, outsz)) return 1;
	return cell_number(s, out, outsz, NULL);
}

static int to_double(const char *canon, double *v)
{
	if (!canon || !*canon) return 0;
	char *end;
	*v = strtod(canon, &end);
	return end != canon && *end == 0;
}

static void fmt2(double v, char *out, size_t outsz)
{
	long long c = llround(v * 100.0);
	cents_format(c, out, outsz);
}

/* ---------- header ---------- */

typedef struct { float x0, x1; int row; int kind; char *text; } hseg;

/* Label pieces of one segment (split when it holds labels of several kinds). */
static int split_header_seg(const tseg *s, int row, hseg *out, int max, int *nlabels)
{
	char *f;
	size_t len = fold(s->text, &f);
	size_t starts[MAXCOL]; int kinds[MAXCOL]; int nm = 0;
	size_t pos = 0, ml = 0;
	int k;
	while (nm < MAXCOL && (k = next_label(f, len, &pos, &ml)) != C_NONE) {
		if (nm == 0 || kinds[nm - 1] != k) { starts[nm] = pos; kinds[nm] = k; nm++; }
		pos += ml;
	}
	*nlabels = nm;
	int n = 0;
	if (nm <= 1 || len == 0) {
		if (max > 0) { out[0] = (hseg) { s->x0, s->x1, row, nm ? kinds[0] : C_NONE, xstrdup(f) }; n = 1; }
	} else {
		float w = s->x1 - s->x0;
		for (int i = 0; i < nm && n < max; i++) {
			size_t a = i == 0 ? 0 : starts[i], b = i + 1 < nm ? starts[i + 1] : len;
			out[n++] = (hseg) { s->x0 + w * (float) a / (float) len, s->x0 + w * (float) b / (float) len - 1.0f,
								row, kinds[i], xstrndup(f + a, b - a) };
		}
	}
	free(f);
	return n;
}

static int row_has_decimals(const tlayout *l, size_t r)
{
	for (int i = 0; i < l->rows[r].n; i++)
		if (has_decimal_amount(l->segs[l->rows[r].first + i].text)) return 1;
	return 0;
}

static int row_label_segs(const tlayout *l, size_t r)
{
	int n = 0;
	for (int i = 0; i < l->rows[r].n; i++) {
		char *f;
		size_t len = fold(l->segs[l->rows[r].first + i].text, &f), pos = 0, ml = 0;
		if (next_label(f, len, &pos, &ml) != C_NONE) n++;
		free(f);
	}
	return n;
}

static int row_has_any_digit(const tlayout *l, size_t r)
{
	for (int i = 0; i < l->rows[r].n; i++)
		if (has_digit(l->segs[l->rows[r].first + i].text)) return 1;
	return 0;
}

static int cmp_hseg(const void *a, const void *b)
{
	const hseg *x = a, *y = b;
	return x->x0 < y->x0 ? -1 : x->x0 > y->x0;
}

static int contains_word(const char *f, const char *w)
{
	size_t wl = strlen(w);
	for (const char *p = strstr(f, w); p; p = strstr(p + 1, w)) {
		int a = p == f || !wordc((unsigned char) p[-1]);
		int b = !wordc((unsigned char) p[wl]);
		if (a && b) return 1;
	}
	return 0;
}

/* Can row r join the header band of anchor row a? */
static int band_row(const tlayout *l, size_t r, size_t a, float prev_y, float h)
{
	const trow *R = &l->rows[r];
	if (R->page != l->rows[a].page || fabsf(R->y0 - prev_y) > 1.7f * h) return 0;
	if (row_has_decimals(l, r)) return 0;
	if (row_label_segs(l, r) > 0) return 1;
	return !row_has_any_digit(l, r);	/* "(EUR)", "Ohne MwSt.", "EUR TTC" */
}

static int header_at(const tlayout *l, size_t a, theader *h)
{
	const trow *A = &l->rows[a];
	if (A->n < 2 || row_has_decimals(l, a) || row_label_segs(l, a) < 2) return 0;
	float hgt = A->y1 - A->y0;
	if (hgt < 4) hgt = 4;
	size_t first = a, last = a;
	float py = A->y0;
	for (size_t r = a; r > 0 && a - (r - 1) <= 3; r--) {
		if (!band_row(l, r - 1, a, py, hgt)) break;
		first = r - 1; py = l->rows[r - 1].y0;
	}
	py = A->y0;
	for (size_t r = a + 1; r < l->nrows && r - a <= 5; r++) {
		if (!band_row(l, r, a, py, hgt)) break;
		last = r; py = l->rows[r].y0;
	}

	hseg hs[96]; int nh = 0;
	for (size_t r = first; r <= last; r++)
		for (int i = 0; i < l->rows[r].n; i++) {
			int nl;
			nh += split_header_seg(&l->segs[l->rows[r].first + i], (int) r, hs + nh, 96 - nh, &nl);
		}
	qsort(hs, (size_t) nh, sizeof *hs, cmp_hseg);

	memset(h, 0, sizeof *h);
	h->first = (int) first; h->last = (int) last; h->page = A->page;
	int ok = 1;
	for (int i = 0; i < nh && ok; ) {
		float gx0 = hs[i].x0, gx1 = hs[i].x1;
		int j = i + 1;
		while (j < nh && hs[j].x0 < gx1 - 1.0f) { if (hs[j].x1 > gx1) gx1 = hs[j].x1; j++; }
		/* stacked text top to bottom */
		sbuf t; sb_init(&t);
		for (int r = h->first; r <= h->last; r++)
			for (int k = i; k < j; k++) if (hs[k].row == r) { if (t.len) sb_putc(&t, ' '); sb_puts(&t, hs[k].text); }
		char *txt = sb_steal(&t);
		size_t pos = 0, ml = 0;
		int kind = next_label(txt, strlen(txt), &pos, &ml);
		if (kind == C_NET && (contains_word(txt, "ttc") || contains_word(txt, "incl") || contains_word(txt, "inkl") ||
							  contains_word(txt, "brutto") || contains_word(txt, "gross") || contains_word(txt, "including")))
			kind = C_GROSS;
		if (h->ncol == MAXCOL) ok = 0;
		else h->col[h->ncol++] = (tcol) { kind, gx0, gx1, strchr(txt, '%') != NULL };
		free(txt);
		i = j;
	}
	for (int i = 0; i < nh; i++) free(hs[i].text);
	if (!ok) return 0;

	/* a second tax column without "%" is the tax amount ("Tax(%)" and "Tax") */
	int nrate = 0, rate_pct = 0;
	for (int i = 0; i < h->ncol; i++) if (h->col[i].kind == C_RATE) { nrate++; rate_pct |= h->col[i].pct; }
	if (nrate > 1) {
		int kept = 0;
		for (int i = 0; i < h->ncol; i++) {
			if (h->col[i].kind != C_RATE) continue;
			if ((rate_pct && !h->col[i].pct) || (!rate_pct && kept)) h->col[i].kind = C_TAXAMT;
			else kept = 1;
		}
	}

	int known = 0, desc = 0, amount = 0, numeric = 0;
	for (int i = 0; i < h->ncol; i++) {
		int k = h->col[i].kind;
		if (k != C_NONE) known++;
		if (k == C_DESC) desc = 1;
		if (k == C_NET || k == C_GROSS) amount = 1;
		if (numeric_kind(k)) numeric++;
	}
	/* free space left of the columns holds the description ("Montant HT | TVA | TTC") */
	float pw = l->page_w && A->page < l->pages ? l->page_w[A->page] : 600.0f;
	if (!desc && h->ncol > 0 && h->ncol < MAXCOL && h->col[0].x0 > 0.25f * pw) {
		memmove(h->col + 1, h->col, (size_t) h->ncol * sizeof *h->col);
		h->col[0] = (tcol) { C_DESC, 0, h->col[1].x0 - 2.0f, 0 };
		h->ncol++;
		desc = 1; known++;
	}
	if (!desc || !amount || numeric < 2 || known < 3) return 0;

	for (int i = 0; i < h->ncol; i++) {
		h->lo[i] = i == 0 ? -1e9f : h->hi[i - 1];
		if (i + 1 == h->ncol) h->hi[i] = 1e9f;
		else if (h->col[i].x1 < h->col[i + 1].x0) h->hi[i] = (h->col[i].x1 + h->col[i + 1].x0) / 2;
		else h->hi[i] = (h->col[i].x0 + h->col[i].x1 + h->col[i + 1].x0 + h->col[i + 1].x1) / 4;
	}
	return 1;
}

static int same_columns(const theader *a, const theader *b)
{
	if (a->ncol != b->ncol) return 0;
	for (int i = 0; i < a->ncol; i++)
		if (a->col[i].kind != b->col[i].kind || fabsf(a->col[i].x0 - b->col[i].x0) > 8) return 0;
	return 1;
}

/* ---------- body ---------- */

static int col_at(const theader *h, float x)
{
	for (int i = 0; i < h->ncol; i++) if (x >= h->lo[i] && x < h->hi[i]) return i;
	return h->ncol - 1;
}

static void cell_add(sbuf *c, const char *s, size_t n)
{
	if (c->len) sb_putc(c, ' ');
	sb_putn(c, s, n);
}

/* A token that starts a number: "12", "-5", "(3", "€" */
static int number_start(const char *s)
{
	unsigned char c = (unsigned char) s[0];
	if (isdigit(c)) return 1;
	if ((c == '-' || c == '+' || c == '(') && isdigit((unsigned char) s[1])) return 1;
	return c >= 0x80 && !isalpha(c) && s[1] && (unsigned char) s[1] >= 0x80 && !isalnum((unsigned char) s[2]);	/* € £ */
}

/* A token that is a number and nothing else ("12,50", "19%", "-2"), not "500ml" */
static int clean_number(const char *s, size_t n)
{
	char tok[64], out[64];
	if (n == 0 || n >= sizeof tok) return 0;
	memcpy(tok, s, n); tok[n] = 0;
	if (tok[n - 1] == '%') tok[n - 1] = 0;
	return amount_parse(tok, out, sizeof out);
}

/*
 * Put one segment into the cells.  Inside one column: all of it there.
 * Straddling columns: a run of numbers ("2 19 % VAT (S)") gives one number per
 * column when the counts agree; text ("Luftballon: Bunt, ca. 500ml") stays in
 * its first column up to the first plain number; the rest goes by position.
 */
static void assign_segment(const theader *h, const tseg *s, sbuf *cells)
{
	float w = s->x1 - s->x0;
	int best = 0; float bo = -1;
	int over[MAXCOL]; int nover = 0;
	for (int i = 0; i < h->ncol; i++) {
		float a = s->x0 > h->lo[i] ? s->x0 : h->lo[i], b = s->x1 < h->hi[i] ? s->x1 : h->hi[i];
		if (b - a > bo) { bo = b - a; best = i; }
		if (b - a > 1.0f && nover < MAXCOL) over[nover++] = i;
	}
	size_t len = strlen(s->text);
	if (w <= 0 || bo >= 0.95f * w || !strchr(s->text, ' ')) {
		if (w <= 0) best = col_at(h, s->x0);
		cell_add(&cells[best], s->text, len);
		return;
	}
	size_t ts[64], te[64]; int nt = 0;
	for (size_t i = 0; i < len && nt < 64; ) {
		while (i < len && s->text[i] == ' ') i++;
		size_t j = i;
		while (j < len && s->text[j] != ' ') j++;
		if (j > i) { ts[nt] = i; te[nt] = j; nt++; }
		i = j;
	}
	if (nt == 0) return;
	if (number_start(s->text + ts[0])) {
		int starts = 0;
		for (int t = 0; t < nt; t++) if (number_start(s->text + ts[t])) starts++;
		if (starts == nover) {
			int c = -1;
			for (int t = 0; t < nt; t++) {
				if (number_start(s->text + ts[t])) c++;
				cell_add(&cells[over[c]], s->text + ts[t], te[t] - ts[t]);
			}
			return;
		}
	}
	if (bo >= 0.6f * w) { cell_add(&cells[best], s->text, len); return; }
	int t = 0;
	int first = col_at(h, s->x0 + w * ((float) (ts[0] + te[0]) / 2.0f) / (float) len);
	if (!numeric_kind(h->col[first].kind))
		for (; t < nt && !clean_number(s->text + ts[t], te[t] - ts[t]); t++)
			cell_add(&cells[first], s->text + ts[t], te[t] - ts[t]);
	for (; t < nt; t++) {
		float cx = s->x0 + w * ((float) (ts[t] + te[t]) / 2.0f) / (float) len;
		cell_add(&cells[col_at(h, cx)], s->text + ts[t], te[t] - ts[t]);
	}
}

/* Does the segment start with a totals label? */
static int totals_seg(const char *text)
{
	char *f;
	size_t len = fold(text, &f);
	int hit = 0;
	for (int i = 0; !hit && totals_extra[i]; i++) {
		size_t l = strlen(totals_extra[i]);
		if (l <= len && strncmp(f, totals_extra[i], l) == 0 && (l == len || !wordc((unsigned char) f[l]))) hit = 1;
	}
	for (int i = 0; !hit && text_labels[i].text; i++) {
		const text_label *t = &text_labels[i];
		if ((t->type != LT_TOTAL && t->type != LT_NET && t->type != LT_DUEAMT) || t->weight < 3) continue;
		size_t l = strlen(t->text);
		if (l <= len && strncmp(f, t->text, l) == 0 && (l == len || !wordc((unsigned char) f[l]) || !wordc((unsigned char) f[l - 1])))
			hit = 1;
	}
	free(f);
	return hit;
}

enum { R_TEXT, R_LINE, R_MISFIT, R_TOTALS, R_HEADER };

typedef struct {
	int    kind;
	tline  ln;		/* R_LINE: parsed values, desc may be NULL */
	char  *text;		/* R_TEXT: description text */
} rowinfo;

/* "Bruttopreis : 9,90", "Net: 60,00": a label with a value, not a description */
static int label_value(const char *s)
{
	size_t n = strlen(s);
	if (n && s[n - 1] == ':') return 1;		/* its value went to a numeric column */
	const char *c = strchr(s, ':');
	if (!c) return 0;
	c++;
	while (*c == ' ') c++;
	char out[64];
	return cell_number(c, out, sizeof out, NULL);
}

static void classify_row(const tlayout *l, const theader *h, size_t r, rowinfo *ri)
{
	memset(ri, 0, sizeof *ri);
	const trow *R = &l->rows[r];
	int dec = row_has_decimals(l, r);
	for (int i = 0; i < R->n; i++)
		if (dec && totals_seg(l->segs[R->first + i].text)) { ri->kind = R_TOTALS; return; }
	if (!row_has_any_digit(l, r) && row_label_segs(l, r) >= 2) { ri->kind = R_HEADER; return; }

	sbuf cells[MAXCOL];
	for (int i = 0; i < h->ncol; i++) sb_init(&cells[i]);
	for (int i = 0; i < R->n; i++) assign_segment(h, &l->segs[R->first + i], cells);

	tline *ln = &ri->ln;
	ln->row = (int) r; ln->page = R->page; ln->y = R->y0;
	sbuf desc; sb_init(&desc);
	int misfit = 0;
	for (int i = 0; i < h->ncol; i++) {
		const char *c = cells[i].s;
		if (!cells[i].len) continue;
		int k = h->col[i].kind;
		char num[40] = "";
		const char *rest = NULL;
		if (numeric_kind(k)) {
			int okn = cell_number(c, num, sizeof num, &rest);
			if (!okn) { misfit = 1; continue; }
		}
		switch (k) {
		case C_DESC:
			if (desc.len) sb_putc(&desc, ' ');
			sb_puts(&desc, c);
			break;
		case C_QTY:
			if (!ln->qty[0]) {
				snprintf(ln->qty, sizeof ln->qty, "%s", num);
				while (rest && *rest == ' ') rest++;
				if (rest && *rest && !has_digit(rest) && strlen(rest) < sizeof ln->unit && !ln->unit[0])
					snprintf(ln->unit, sizeof ln->unit, "%s", rest);
			}
			break;
		case C_UNIT:
			if (strlen(c) < sizeof ln->unit) snprintf(ln->unit, sizeof ln->unit, "%s", c);
			break;
		case C_PRICE: if (!ln->price[0] && cell_amount(c, num, sizeof num)) snprintf(ln->price, sizeof ln->price, "%s", num); break;
		case C_RATE: {
			double v;
			if (!ln->rate[0] && to_double(num, &v) && v >= 0 && v < 100) snprintf(ln->rate, sizeof ln->rate, "%s", num);
			break;
		}
		case C_TAXAMT: if (!ln->taxamt[0] && cell_amount(c, num, sizeof num)) snprintf(ln->taxamt, sizeof ln->taxamt, "%s", num); break;
		case C_NET: if (!ln->net[0] && cell_amount(c, num, sizeof num)) snprintf(ln->net, sizeof ln->net, "%s", num); break;
		case C_GROSS: if (!ln->gross[0] && cell_amount(c, num, sizeof num)) snprintf(ln->gross, sizeof ln->gross, "%s", num); break;
		default: break;
		}
	}
	for (int i = 0; i < h->ncol; i++) sb_free(&cells[i]);
	char *d = sb_steal(&desc);
	char *dc = collapse_ws(d);
	free(d);
	if (!*dc) { free(dc); dc = NULL; }

	if (ln->net[0] || ln->gross[0]) {
		ri->kind = R_LINE;
		ln->desc = dc;
	} else if (misfit) {
		ri->kind = R_MISFIT;
		free(dc);
	} else {
		ri->kind = R_TEXT;
		if (dc && label_value(dc)) { free(dc); dc = NULL; }
		ri->text = dc;
	}
}

typedef struct { char *text; float y; int page; } pend;

static void append_desc(tline *ln, const char *t, int front)
{
	if (!t || !*t) return;
	sbuf b; sb_init(&b);
	if (front) { sb_puts(&b, t); if (ln->desc) { sb_putc(&b, ' '); sb_puts(&b, ln->desc); } }
	else { if (ln->desc) { sb_puts(&b, ln->desc); sb_putc(&b, ' '); } sb_puts(&b, t); }
	free(ln->desc);
	ln->desc = sb_steal(&b);
}

/* nearer to line a than to line b (rows on other pages go to the line on their page) */
static int nearer_prev(const pend *p, const tline *a, const tline *b)
{
	if (a->page != b->page) return p->page == a->page;
	return fabsf(p->y - a->y) < fabsf(b->y - p->y);
}

static void table_free(ttable *t)
{
	for (size_t i = 0; i < t->n; i++) free(t->v[i].desc);
	free(t->v);
	memset(t, 0, sizeof *t);
}

static void read_table(const tlayout *l, theader *hs, int nh, int hi, ttable *t)
{
	theader *h = &hs[hi];
	h->used = 1;
	pend *pv = NULL; size_t np = 0;
	int prev = -1;			/* index of the line continued by text rows; -1 none */
	int misfits = 0;
	int cur_page = h->page;
	size_t r = (size_t) h->last + 1;
	while (r < l->nrows) {
		/* a new page: skip to a repeated header when there is one */
		if (l->rows[r].page != cur_page) {
			cur_page = l->rows[r].page;
			for (int k = hi + 1; k < nh; k++)
				if (!hs[k].used && hs[k].page == cur_page && same_columns(h, &hs[k])) {
					hs[k].used = 1;
					r = (size_t) hs[k].last + 1;
					break;
				}
			if (r >= l->nrows) break;
		}
		rowinfo ri;
		classify_row(l, h, r, &ri);
		int stop = 0, resume_header = 0;
		switch (ri.kind) {
		case R_LINE: {
			misfits = 0;
			t->v = xrealloc(t->v, (t->n + 1) * sizeof *t->v);
			tline *ln = &t->v[t->n];
			*ln = ri.ln;
			tline *pl = prev >= 0 ? &t->v[prev] : NULL;
			int own = ln->desc != NULL;
			sbuf front; sb_init(&front);
			for (size_t i = 0; i < np; i++) {
				if (pl && (own || nearer_prev(&pv[i], pl, ln))) append_desc(pl, pv[i].text, 0);
				else if (!own) { if (front.len) sb_putc(&front, ' '); sb_puts(&front, pv[i].text); }
				free(pv[i].text);
			}
			np = 0;
			char *f = sb_steal(&front);
			append_desc(ln, f, 1);
			free(f);
			prev = (int) t->n;
			t->n++;
			break;
		}
		case R_TEXT:
			misfits = 0;
			if (ri.text) {
				pv = xrealloc(pv, (np + 1) * sizeof *pv);
				pv[np++] = (pend) { ri.text, l->rows[r].y0, l->rows[r].page };
			}
			break;
		case R_MISFIT:
			if (++misfits >= 2) { stop = 1; resume_header = 1; }
			break;
		case R_HEADER: {
			theader tmp;
			if (header_at(l, r, &tmp) && same_columns(h, &tmp)) { r = (size_t) tmp.last; break; }
			stop = 1;
			break;
		}
		case R_TOTALS: {
			/* a section subtotal: a full line follows within two rows */
			int resume = 0;
			for (size_t k = r + 1; k < l->nrows && k <= r + 2 && l->rows[k].page == l->rows[r].page; k++) {
				rowinfo nx;
				classify_row(l, h, k, &nx);
				int full = nx.kind == R_LINE && nx.ln.desc && (nx.ln.qty[0] || nx.ln.price[0]);
				free(nx.ln.desc); free(nx.text);
				if (nx.kind == R_TOTALS || nx.kind == R_HEADER) break;
				if (full) { resume = 1; break; }
			}
			if (prev >= 0) for (size_t i = 0; i < np; i++) append_desc(&t->v[prev], pv[i].text, 0);
			for (size_t i = 0; i < np; i++) free(pv[i].text);
			np = 0;
			if (!resume) stop = 1;
			prev = -1;
			break;
		}
		}
		if (stop) {
			if (prev >= 0) for (size_t i = 0; i < np; i++) append_desc(&t->v[prev], pv[i].text, 0);
			for (size_t i = 0; i < np; i++) free(pv[i].text);
			np = 0;
			int k2 = -1;
			if (resume_header)
				for (int k = hi + 1; k < nh; k++)
					if (!hs[k].used && hs[k].page == cur_page + 1 && hs[k].first > (int) r && same_columns(h, &hs[k])) { k2 = k; break; }
			if (k2 < 0) break;
			hs[k2].used = 1;
			cur_page = hs[k2].page;
			misfits = 0;
			r = (size_t) hs[k2].last + 1;
			continue;
		}
		r++;
	}
	if (prev >= 0) for (size_t i = 0; i < np; i++) append_desc(&t->v[prev], pv[i].text, 0);
	for (size_t i = 0; i < np; i++) free(pv[i].text);
	free(pv);
}

/* ---------- validation ---------- */

static int close_to(double a, double b, double tol) { return fabs(a - b) <= tol + 1e-9; }

static void validate(ttable *t, const theader *h, const invoice *inv)
{
	int has_disc = 0;
	for (int i = 0; i < h->ncol; i++) if (h->col[i].kind == C_DISC) has_disc = 1;
	int complete = 0, consistent = 0;
	int all_net = t->n > 0, all_gross = t->n > 0;
	double sum_net = 0, sum_gross = 0;
	for (size_t i = 0; i < t->n; i++) {
		tline *ln = &t->v[i];
		double q = 0, p = 0, n = 0, g = 0, tx = 0, rt = 0;
		int hq = to_double(ln->qty, &q), hp = to_double(ln->price, &p), hn = to_double(ln->net, &n);
		int hg = to_double(ln->gross, &g), ht = to_double(ln->taxamt, &tx), hr = to_double(ln->rate, &rt);
		/* a "Total" column that includes the line's tax */
		if (hn && ht && hq && hp && !close_to(q * p, n, 0.011) && close_to(q * p + tx, n, 0.02)) {
			if (!hg) { snprintf(ln->gross, sizeof ln->gross, "%s", ln->net); g = n; hg = 1; }
			n -= tx;
			fmt2(n, ln->net, sizeof ln->net);
		}
		if (!hn && hg) {
			if (hr && rt >= 0 && rt < 100) { n = g / (1 + rt / 100.0); hn = 1; }
			else if (ht) { n = g - tx; hn = 1; }
			if (hn) fmt2(n, ln->net, sizeof ln->net);
		}
		double amt = hn ? n : g;
		int hamt = hn || hg;
		if (hq && hp && hamt) {
			complete++;
			double qp = q * p;
			double ref = hn ? n : g;
			if (hg && !hn) ref = g;
			int ok = close_to(qp, ref, fmax(0.011, 0.005 * fabs(ref))) ||
					 (hg && close_to(qp, g, fmax(0.011, 0.005 * fabs(g))));
			if (!ok && has_disc && fabs(amt) < fabs(qp) && fabs(amt) >= 0.3 * fabs(qp)) ok = 1;
			consistent += ok;
		}
		if (hn) sum_net += n; else all_net = 0;
		if (hg) sum_gross += g; else all_gross = 0;
	}
	long long c;
	double tol = 0.011 * (double) (t->n > 2 ? t->n : 2);
	int sum_ok = 0;
	if (all_net && inv->f[F_NET].value && amount_cents(inv->f[F_NET].value, &c) && close_to(sum_net, (double) c / 100.0, tol)) sum_ok = 1;
	if (!sum_ok && all_gross && inv->f[F_TOTAL].value && amount_cents(inv->f[F_TOTAL].value, &c) && close_to(sum_gross, (double) c / 100.0, tol)) sum_ok = 1;
	if (!sum_ok && all_net && !inv->f[F_NET].value && inv->f[F_TOTAL].value && amount_cents(inv->f[F_TOTAL].value, &c) &&
		close_to(sum_net, (double) c / 100.0, tol)) sum_ok = 1;

	t->score = 0; t->conf = 0;
	if (t->n == 0) return;
	if (sum_ok) {
		t->conf = consistent > 0 && consistent * 2 >= complete ? 0.95 : 0.85;
		t->score = 1000 + consistent * 10 + (int) t->n;
	} else if (consistent > 0 && consistent * 2 >= complete) {
		t->conf = consistent == complete && complete == (int) t->n ? 0.7 : 0.55;
		t->score = consistent * 10 + (int) t->n;
	}
}

/* ---------- entry point ---------- */

size_t text_extract_lines(const tlayout *l, invoice *inv)
{
	if (!l || l->nrows == 0) return 0;
	int cap = 16, nh = 0;
	theader *hs = xmalloc((size_t) cap * sizeof *hs);
	for (size_t r = 0; r < l->nrows; r++) {
		if (nh && r <= (size_t) hs[nh - 1].last) continue;
		theader h;
		if (!header_at(l, r, &h)) continue;
		if (nh == cap) { cap *= 2; hs = xrealloc(hs, (size_t) cap * sizeof *hs); }
		hs[nh++] = h;
		r = (size_t) h.last;
	}
	ttable best; memset(&best, 0, sizeof best);
	for (int i = 0; i < nh; i++) {
		if (hs[i].used) continue;
		ttable t; memset(&t, 0, sizeof t);
		read_table(l, hs, nh, i, &t);
		validate(&t, &hs[i], inv);
		if (t.score > 0 && t.score > best.score) { table_free(&best); best = t; }
		else table_free(&t);
	}
	free(hs);
	if (best.n == 0) return 0;
	if (inv->nlines) { table_free(&best); return 0; }
	for (size_t i = 0; i < best.n; i++) {
		const tline *s = &best.v[i];
		inv_line *d = inv_add_line(inv);
		d->description = s->desc ? collapse_ws(s->desc) : NULL;
		d->quantity = s->qty[0] ? xstrdup(s->qty) : NULL;
		d->unit = s->unit[0] ? trim_dup(s->unit) : NULL;
		d->unit_price = s->price[0] ? xstrdup(s->price) : NULL;
		d->net_amount = s->net[0] ? xstrdup(s->net) : NULL;
		d->tax_rate = s->rate[0] ? xstrdup(s->rate) : NULL;
	}
	inv->lines_src = SRC_TEXT;
	inv->lines_conf = best.conf;
	size_t n = best.n;
	table_free(&best);
	return n;
}
