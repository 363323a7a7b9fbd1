/*
 * invoiceflow-eval CORPUS_DIR: extraction accuracy over every <stem>.pdf that has
 * a <stem>.json of expected values (corpus README: key "fields", null = not scored).
 *
 * Three views:
 *   xml      files that carry an invoice XML, pipeline as it runs on them
 *   text     every file, embedded XML ignored (text/layout heuristics alone)
 *   overall  every file, pipeline as it runs
 * Line items: each expected line counts as matched when a returned line (each
 * used once) has the same net_amount and a matching description (name rules).
 * Expected lines are the corpus JSON's "lines" when it has them, else the lines
 * of the embedded XML (so on those files the xml view scores itself and the
 * text view is measured against the structured data).
 * The output ends with the field totals of the three views, then the line totals.
 */
#include "extract.h"
#include "parsers.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_NUMBER, K_DATE, K_NAME, K_CODE, K_AMOUNT };

static const struct { const char *field; const char *path; int kind; const char *shortname; } fields[] = {
	{ "invoice_number", "invoice_number", K_NUMBER, "number" },
	{ "issue_date", "issue_date", K_DATE, "issue" },
	{ "due_date", "due_date", K_DATE, "due" },
	{ "issuer_name", "seller.name", K_NAME, "issuer" },
	{ "buyer_name", "buyer.name", K_NAME, "buyer" },
	{ "currency", "currency", K_CODE, "cur" },
	{ "total_amount", "totals.total", K_AMOUNT, "total" },
	{ "tax_amount", "totals.tax", K_AMOUNT, "tax" },
	{ "net_amount", "totals.net", K_AMOUNT, "net" },
};
#define NF ((int) (sizeof fields / sizeof fields[0]))

enum { V_XML, V_TEXT, V_ALL, NV };
static const char *view_name[NV] = { "xml", "text", "overall" };

typedef struct { int matched[NF], expected[NF]; } tally;

static const char *get_path(json_t *inv, const char *path)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%s", path);
	char *dot = strchr(buf, '.');
	json_t *v;
	if (dot) {
		*dot = 0;
		v = json_object_get(json_object_get(inv, buf), dot + 1);
	} else {
		v = json_object_get(inv, buf);
	}
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* lowercase, accents folded, punctuation -> space (when punct), white space collapsed */
static char *norm_name(const char *s, int punct)
{
	char *f; size_t *map;
	fold_text(s, &f, &map);
	free(map);
	sbuf b; sb_init(&b);
	int sp = 0;
	for (char *p = f; *p; p++) {
		int c = (unsigned char) *p;
		int blank = isspace(c) || (punct && !isalnum(c));
		if (blank) { sp = 1; continue; }
		if (sp && b.len) sb_putc(&b, ' ');
		sp = 0;
		sb_putc(&b, (char) c);
	}
	free(f);
	return sb_steal(&b);
}

static int name_match(const char *exp, const char *got)
{
	char *a = norm_name(exp, 0), *b = norm_name(got, 0);
	int ok = strcmp(a, b) == 0;
	free(a); free(b);
	if (ok) return 1;
	a = norm_name(exp, 1); b = norm_name(got, 1);
	/* containment on word boundaries, either way */
	char *pa, *pb;
	size_t la = strlen(a), lb = strlen(b);
	sbuf x; sb_init(&x); sb_printf(&x, " %s ", a); pa = sb_steal(&x);
	sb_printf(&x, " %s ", b); pb = sb_steal(&x);
	ok = la >= 3 && lb >= 3 && (strstr(pa, pb) || strstr(pb, pa));
	free(a); free(b); free(pa); free(pb);
	return ok;
}

/* canonical decimal: no sign for zero, no leading zeros, no trailing fraction zeros */
static int dec_norm(const char *s, char *out, size_t outsz)
{
	while (isspace((unsigned char) *s)) s++;
	int neg = 0;
	if (*s == '-' || *s == '+') { neg = *s == '-'; s++; }
	char ip[64] = "", fp[64] = "";
	size_t i = 0, f = 0;
	while (isdigit((unsigned char) *s) && i < 63) ip[i++] = *s++;
	if (*s == '.') { s++; while (isdigit((unsigned char) *s) && f < 63) fp[f++] = *s++; }
	while (isspace((unsigned char) *s)) s++;
	if (*s || (i == 0 && f == 0)) return 0;
	ip[i] = 0; fp[f] = 0;
	while (f && fp[f - 1] == '0') fp[--f] = 0;
	const char *ipp = ip;
	while (*ipp == '0' && ipp[1]) ipp++;
	if (!*ipp) ipp = "0";
	if (strcmp(ipp, "0") == 0 && f == 0) neg = 0;
	snprintf(out, outsz, "%s%s%s%s", neg ? "-" : "", ipp, f ? "." : "", fp);
	return 1;
}

static int value_match(int kind, const char *exp, const char *got)
{
	if (!got) return 0;
	switch (kind) {
	case K_NUMBER: {
		char a[256], b[256]; size_t i = 0, j = 0;
		for (; *exp && i < 255; exp++) if (!isspace((unsigned char) *exp)) a[i++] = *exp;
		for (; *got && j < 255; got++) if (!isspace((unsigned char) *got)) b[j++] = *got;
		a[i] = b[j] = 0;
		return strcmp(a, b) == 0;
	}
	case K_DATE:
	case K_CODE:
		return strcmp(exp, got) == 0;
	case K_NAME:
		return name_match(exp, got);
	case K_AMOUNT: {
		char a[80], b[80];
		return dec_norm(exp, a, sizeof a) && dec_norm(got, b, sizeof b) && strcmp(a, b) == 0;
	}
	}
	return 0;
}

typedef struct { int matched, expected, returned, files; } ltally;

/* Matches expected lines (array of {description, net_amount}) against got; returns matched. */
static int lines_match(json_t *exp, json_t *got)
{
	size_t ng = json_array_size(got);
	char *used = xcalloc(ng + 1, 1);
	int m = 0;
	for (size_t i = 0; i < json_array_size(exp); i++) {
		json_t *e = json_array_get(exp, i);
		const char *ed = json_string_value(json_object_get(e, "description"));
		const char *en = json_string_value(json_object_get(e, "net_amount"));
		if (!ed || !en) continue;
		for (size_t j = 0; j < ng; j++) {
			if (used[j]) continue;
			json_t *g = json_array_get(got, j);
			const char *gd = json_string_value(json_object_get(g, "description"));
			const char *gn = json_string_value(json_object_get(g, "net_amount"));
			if (gd && gn && value_match(K_AMOUNT, en, gn) && name_match(ed, gd)) { used[j] = 1; m++; break; }
		}
	}
	free(used);
	return m;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n < 0) { fclose(f); return NULL; }
	unsigned char *b = xmalloc((size_t) n + 1);
	size_t r = fread(b, 1, (size_t) n, f);
	fclose(f);
	*len = r;
	return b;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void pct(char *out, size_t sz, int m, int e)
{
	snprintf(out, sz, "%.1f", e ? 100.0 * m / e : 100.0);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "../../../shared/corpus/dev";
	DIR *d = opendir(dir);
	if (!d) { fprintf(stderr, "eval: cannot open corpus %s\n", dir); return 2; }
	char **names = NULL; size_t nn = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - 4, ".pdf") == 0) {
			names = xrealloc(names, (nn + 1) * sizeof *names);
			names[nn++] = xstrndup(e->d_name, l - 4);
		}
	}
	closedir(d);
	qsort(names, nn, sizeof *names, cmp_str);

	tally t[NV];
	memset(t, 0, sizeof t);
	ltally lt[NV];
	memset(lt, 0, sizeof lt);
	sbuf lrep; sb_init(&lrep);
	printf("invoiceflow extraction accuracy: %s\n", dir);
	printf("rules: numbers exact after removing white space; dates exact; currency exact; amounts numerically equal;\n"
		   "       names equal after folding case, accents and white space, or contained one in the other\n"
		   "       (either way, on word boundaries) after replacing punctuation with spaces; null expected = not scored\n\n");
	printf("%-58s %-7s", "file", "view");
	for (int k = 0; k < NF; k++) printf(" %-6s", fields[k].shortname);
	printf("\n");

	sbuf misses; sb_init(&misses);
	int files = 0;
	for (size_t i = 0; i < nn; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s.json", dir, names[i]);
		json_error_t jerr;
		json_t *exp = json_load_file(path, 0, &jerr);
		if (!exp) continue;
		json_t *ef = json_object_get(exp, "fields");
		snprintf(path, sizeof path, "%s/%s.pdf", dir, names[i]);
		size_t len = 0;
		unsigned char *pdf = slurp(path, &len);
		if (!pdf || !json_is_object(ef)) { free(pdf); json_decref(exp); continue; }
		files++;

		json_t *res[2] = { NULL, NULL };
		char *errs[2] = { NULL, NULL };
		for (int run = 0; run < 2; run++) {
			extract_options opt = { run == 1, 0 };
			char *out = NULL;
			if (extract_document(pdf, len, &opt, &out, &errs[run])) res[run] = json_loads(out, 0, NULL);
			free(out);
		}
		free(pdf);
		json_t *meta = json_object_get(res[0], "meta");
		int has_xml = json_is_string(json_object_get(meta, "xml_attachment"));

		/* expected lines: the corpus file's, else the embedded XML's */
		json_t *elines = json_object_get(exp, "lines");
		if (!json_is_array(elines)) elines = json_object_get(ef, "lines");
		const char *lref = "corpus";
		if (!json_is_array(elines) && has_xml) {
			json_t *xi = json_object_get(res[0], "invoice");
			const char *ls = json_string_value(json_object_get(json_object_get(xi, "sources"), "lines"));
			if (ls && strcmp(ls, "xml") == 0) { elines = json_object_get(xi, "lines"); lref = "xml"; }
		}
		if (!json_is_array(elines)) elines = NULL;

		for (int v = 0; v < NV; v++) {
			if (v == V_XML && !has_xml) continue;
			json_t *r = v == V_TEXT ? res[1] : res[0];
			json_t *inv = json_object_get(r, "invoice");
			printf("%-58s %-7s", names[i], view_name[v]);
			for (int k = 0; k < NF; k++) {
				json_t *ev = json_object_get(ef, fields[k].field);
				if (!json_is_string(ev)) { printf(" %-6s", "-"); continue; }
				const char *got = inv ? get_path(inv, fields[k].path) : NULL;
				int ok = value_match(fields[k].kind, json_string_value(ev), got);
				t[v].expected[k]++;
				t[v].matched[k] += ok;
				printf(" %-6s", ok ? "ok" : "MISS");
				if (!ok)
					sb_printf(&misses, "  %-7s %-45s %-14s expected \"%s\" got %s%s%s\n", view_name[v], names[i],
							  fields[k].field, json_string_value(ev), got ? "\"" : "", got ? got : "null", got ? "\"" : "");
			}
			const char *err = errs[v == V_TEXT ? 1 : 0];
			printf("%s%s\n", err ? "  error: " : "", err ? err : "");
			json_t *gl = json_object_get(inv, "lines");
			int nret = (int) json_array_size(gl);
			if (elines) {
				int ne = (int) json_array_size(elines), m = lines_match(elines, gl);
				lt[v].matched += m; lt[v].expected += ne; lt[v].returned += nret; lt[v].files++;
				sb_printf(&lrep, "  %-7s %-45s %2d/%-2d matched, %2d returned (reference: %s)\n",
						  view_name[v], names[i], m, ne, nret, lref);
			} else if (nret) {
				sb_printf(&lrep, "  %-7s %-45s %2d returned, no reference\n", view_name[v], names[i], nret);
			}
		}
		for (int run = 0; run < 2; run++) { json_decref(res[run]); free(errs[run]); }
		json_decref(exp);
	}
	for (size_t i = 0; i < nn; i++) free(names[i]);
	free(names);

	if (misses.len) printf("\nmisses:\n%s", misses.s);
	sb_free(&misses);

	printf("\nper field (matched/expected)   %d files\n", files);
	printf("%-16s %14s %14s %14s\n", "field", "xml", "text", "overall");
	int tm[NV] = {0}, te[NV] = {0};
	for (int k = 0; k < NF; k++) {
		printf("%-16s", fields[k].field);
		for (int v = 0; v < NV; v++) {
			char c[32];
			snprintf(c, sizeof c, "%d/%d", t[v].matched[k], t[v].expected[k]);
			printf(" %14s", c);
			tm[v] += t[v].matched[k];
			te[v] += t[v].expected[k];
		}
		printf("\n");
	}
	printf("\nline items (an expected line matches a returned one with equal net_amount and a matching description)\n%s", lrep.s ? lrep.s : "");
	sb_free(&lrep);
	printf("\n");
	for (int v = 0; v < NV; v++) {
		char p[16];
		pct(p, sizeof p, tm[v], te[v]);
		printf("%s: %d/%d fields (%s%%)\n", view_name[v], tm[v], te[v], p);
	}
	for (int v = 0; v < NV; v++) {
		char p[16];
		pct(p, sizeof p, lt[v].matched, lt[v].expected);
		printf("%s: %d/%d lines (%s%%) in %d files, %d returned\n", view_name[v], lt[v].matched, lt[v].expected, p,
			   lt[v].files, lt[v].returned);
	}
	return 0;
}
