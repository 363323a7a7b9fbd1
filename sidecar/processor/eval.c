/*
 * invoiceflow-eval [--cv] [--ablate] CORPUS_DIR: extraction accuracy over every
 * <stem>.pdf that has a <stem>.json of expected values (corpus README: key
 * "fields", null = not scored).
 *
 * Views:
 *   xml      files that carry an invoice XML, pipeline as it runs on them
 *   text     every file, embedded XML ignored, no OCR: the text-layer reader alone
 *   ocr      every file, embedded XML ignored, every page read by OCR
 *            (needs extract_options.ocr; "n/a" in builds without it)
 *   overall  every file, pipeline as it runs
 * Per view: fields found / expected, fields returned, confident-but-wrong (a field
 * returned in a document with needs_review false whose value differs from the
 * expected one), documents straight through (needs_review false).
 * Paths: each file is classed by what the processor says of it (the pipeline run's
 * meta.read_path, else its invoice.source): "text"
 * (a born-digital text layer: the text path) or "scan" (no usable text layer:
 * the OCR path); never by file name or corpus metadata.  The text, ocr, overall and
 * text-cv views are also summed over the files of each path.
 * Review: the reasons the processor gives for needs_review (meta.review_reasons) per
 * file, and counted per view.
 * Line items: an expected line matches a returned one (each used once) with the
 * same net_amount and a matching description.  Expected lines are the corpus
 * JSON's "lines", else the embedded XML's (then the xml view scores itself).
 *
 * --cv      the text view again, each file read with the rules switched off that
 *           only its own vendor needed (rules.c: needed_by; vendor = the expected
 *           issuer name), beside the normal figure
 * --ablate  each rule switched off alone: which files lose fields (or straight-through) or gain fields;
 *           differences from rules.c's needed_by are flagged
 */
#include "eval_match.h"
#include "extract.h"
#include "rules.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NF EVAL_NF

enum { V_XML, V_TEXT, V_OCR, V_ALL, NV };
static const char *view_name[NV] = { "xml", "text", "ocr", "overall" };
/* which extraction run a view reads: 0 pipeline, 1 no XML / no OCR, 2 no XML / OCR */
static const int view_run[NV] = { 0, 1, 2, 0 };
#define NRUN 3

#ifdef EXTRACT_HAS_OCR_OPTION
static const int have_ocr = 1;
#else
static const int have_ocr = 0;
#endif

/* the processor's classes of documents (paths) */
enum { P_TEXT, P_SCAN, NP };
static const char *path_name[NP] = { "text", "scan" };
static const char *path_what[NP] = { "text path: born-digital text layer", "OCR path: scans" };

#define MAXREASONS 24
typedef struct {
	int matched[NF], expected[NF];
	int returned, cbw, docs, straight;
	int lmatched, lexpected, lreturned, lfiles;
	int nreasons;
	const char *reason[MAXREASONS];	/* interned: the strings live in reason_pool */
	int reason_docs[MAXREASONS];
} vstats;

/* review reasons seen, kept for the whole run (vstats point into it) */
static char *reason_pool[64];
static size_t nreason_pool;

static const char *intern_reason(const char *r)
{
	for (size_t i = 0; i < nreason_pool; i++) if (strcmp(reason_pool[i], r) == 0) return reason_pool[i];
	if (nreason_pool == sizeof reason_pool / sizeof reason_pool[0]) return "(other)";
	return reason_pool[nreason_pool++] = xstrdup(r);
}

typedef struct {
	char  *stem;
	char  *vendor;		/* folded expected issuer name, else the stem */
	json_t *exp;		/* the corpus JSON */
	unsigned char *pdf; size_t len;
	int    good[NF];	/* text view: field matched (for --ablate) */
	int    straight;	/* text view: needs_review false */
	int    path;		/* P_TEXT / P_SCAN, as the pipeline run classes it */
} cfile;

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

static double pct(int m, int e) { return e ? 100.0 * m / e : 100.0; }

static char *vendor_key(const char *name, const char *stem)
{
	if (!name) return xstrdup(stem);
	char *f; size_t *map;
	fold_text(name, &f, &map);
	free(map);
	size_t j = 0;
	for (size_t i = 0; f[i]; i++) if (isalnum((unsigned char) f[i])) f[j++] = f[i];
	f[j] = 0;
	return f;
}

/* One extraction; run 1 = no XML, no OCR; run 2 = no XML, OCR on every page. */
static json_t *extract_run(const cfile *cf, int run, char **err)
{
	extract_options opt = { .no_xml = run != 0, .max_pages = 0 };
#ifdef EXTRACT_HAS_OCR_OPTION
	opt.ocr = run == 1 ? -1 : run == 2 ? 1 : 0;
#else
	if (run == 2) { *err = xstrdup("OCR not built"); return NULL; }
#endif
	char *out = NULL;
	json_t *r = NULL;
	*err = NULL;
	if (extract_document(cf->pdf, cf->len, &opt, &out, err)) r = json_loads(out, 0, NULL);
	free(out);
	return r;
}

/* The path the processor's pipeline run puts a document on: its own word for it
 * (meta.read_path "ocr": most pages are scans or have no usable text layer), else
 * (older results without it) whether it read the document from OCR words
 * (invoice.source "ocr"); a born-digital text layer otherwise. */
static int doc_path(json_t *pipeline_res)
{
	const char *rp = json_string_value(json_object_get(json_object_get(pipeline_res, "meta"), "read_path"));
	if (rp) return strcmp(rp, "ocr") == 0 ? P_SCAN : P_TEXT;
	const char *src = json_string_value(json_object_get(json_object_get(pipeline_res, "invoice"), "source"));
	return src && strcmp(src, "ocr") == 0 ? P_SCAN : P_TEXT;
}

/* Adds ndocs documents to st's count of reason r (interned); reasons past MAXREASONS are not counted. */
static void add_reason(vstats *st, const char *r, int ndocs)
{
	int k = 0;
	while (k < st->nreasons && st->reason[k] != r) k++;
	if (k == st->nreasons) {
		if (k == MAXREASONS) return;
		st->reason[k] = r; st->reason_docs[k] = 0; st->nreasons++;
	}
	st->reason_docs[k] += ndocs;
}

/* Counts the document's review reasons (meta.review_reasons) into st; row gets them. */
static void count_reasons(vstats *st, json_t *res, sbuf *row)
{
	json_t *rr = json_object_get(json_object_get(res, "meta"), "review_reasons");
	if (!res) { if (row) sb_puts(row, "  (no result)"); return; }
	if (!json_is_array(rr)) { if (row) sb_puts(row, "  (no reasons reported)"); return; }
	for (size_t i = 0; i < json_array_size(rr); i++) {
		const char *r = json_string_value(json_array_get(rr, i));
		if (!r) continue;
		if (row) sb_printf(row, "%s%s", i ? "; " : "  ", r);
		add_reason(st, intern_reason(r), 1);
	}
}

/* Scores one document into st (and into st2 when not NULL: the path's figures);
 * good[k] gets whether field k matched; misses/row optional. */
static void score2(vstats *st, vstats *st2, const cfile *cf, json_t *res, int *good, sbuf *row, sbuf *misses,
				   const char *vname)
{
	json_t *ef = json_object_get(cf->exp, "fields");
	json_t *inv = json_object_get(res, "invoice");
	int straight = inv && json_is_false(json_object_get(inv, "needs_review"));
	vstats one; memset(&one, 0, sizeof one);
	vstats *st_in = st;
	st = &one;
	st->docs++;
	st->straight += straight;
	for (int k = 0; k < NF; k++) {
		if (good) good[k] = 0;
		json_t *ev = json_object_get(ef, eval_fields[k].field);
		if (!json_is_string(ev)) { if (row) sb_printf(row, " %-6s", "-"); continue; }
		const char *got = inv ? eval_get_path(inv, eval_fields[k].path) : NULL;
		int ok = eval_value_match(eval_fields[k].kind, json_string_value(ev), got);
		st->expected[k]++;
		st->matched[k] += ok;
		if (good) good[k] = ok;
		if (got) st->returned++;
		int cbw = got && !ok && straight;
		st->cbw += cbw;
		if (row) sb_printf(row, " %-6s", ok ? "ok" : cbw ? "WRONG!" : "MISS");
		if (!ok && misses)
			sb_printf(misses, "  %-7s %-45s %-14s expected \"%s\" got %s%s%s%s\n", vname, cf->stem,
					  eval_fields[k].field, json_string_value(ev), got ? "\"" : "", got ? got : "null", got ? "\"" : "",
					  cbw ? "  (confident, no review)" : "");
	}
	if (row) sb_printf(row, "  %s", straight ? "straight" : "review");
	count_reasons(st, res, straight ? NULL : row);
	for (vstats *d = st_in; d; d = d == st_in ? st2 : NULL) {
		for (int k = 0; k < NF; k++) { d->matched[k] += one.matched[k]; d->expected[k] += one.expected[k]; }
		d->returned += one.returned; d->cbw += one.cbw; d->docs += one.docs; d->straight += one.straight;
		for (int k = 0; k < one.nreasons; k++) add_reason(d, one.reason[k], one.reason_docs[k]);
	}
}

static void score(vstats *st, const cfile *cf, json_t *res, int *good, sbuf *row, sbuf *misses, const char *vname)
{
	score2(st, NULL, cf, res, good, row, misses, vname);
}

static int text_matched(const vstats *s)
{
	int m = 0;
	for (int k = 0; k < NF; k++) m += s->matched[k];
	return m;
}

static int text_expected(const vstats *s)
{
	int e = 0;
	for (int k = 0; k < NF; k++) e += s->expected[k];
	return e;
}

/* over: NULL for all documents, else the path's description */
static void summary(const char *label, const vstats *s, const char *over)
{
	int m = text_matched(s), e = text_expected(s);
	printf("%-8s %3d/%-3d fields (%5.1f%%)  returned %3d  confident-but-wrong %2d (%.1f%% of returned)  "
		   "straight through %2d/%-2d docs (%3.0f%%)  %s\n", label, m, e, pct(m, e), s->returned, s->cbw,
		   s->returned ? 100.0 * s->cbw / s->returned : 0.0, s->straight, s->docs, pct(s->straight, s->docs),
		   over ? over : "all documents");
}

static void summary_paths(const char *label, const vstats s[NP])
{
	for (int p = 0; p < NP; p++) {
		char over[96];
		snprintf(over, sizeof over, "%s (%d docs)", path_what[p], s[p].docs);
		summary(label, &s[p], over);
	}
}

static void lines_summary(const char *label, const vstats *s, const char *over)
{
	printf("%-8s %d/%d lines (%.1f%%) in %d files, %d returned  %s\n", label, s->lmatched, s->lexpected,
		   pct(s->lmatched, s->lexpected), s->lfiles, s->lreturned, over ? over : "all documents");
}

static void reasons_summary(const char *label, const vstats *s, const char *over)
{
	int idx[MAXREASONS];
	/* most frequent first (insertion sort: a handful of reasons) */
	for (int k = 0; k < s->nreasons; k++) {
		int j = k;
		while (j > 0 && (s->reason_docs[idx[j - 1]] < s->reason_docs[k] ||
						 (s->reason_docs[idx[j - 1]] == s->reason_docs[k] && strcmp(s->reason[idx[j - 1]], s->reason[k]) > 0))) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = k;
	}
	printf("  %-8s %s: %d of %d docs in review", label, over, s->docs - s->straight, s->docs);
	for (int k = 0; k < s->nreasons; k++) printf("%s%s %d", k ? ", " : ": ", s->reason[idx[k]], s->reason_docs[idx[k]]);
	printf("\n");
}

/* Is every stem of the comma-separated list from vendor v (and the list non-empty)? */
static int only_vendor(const char *list, const char *v, cfile *files, size_t nf)
{
	if (!list || !*list) return 0;
	char *dup = xstrdup(list), *save = NULL;
	int only = 1, any = 0;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ') t++;
		const char *fv = NULL;
		for (size_t i = 0; i < nf; i++) if (strcmp(files[i].stem, t) == 0) fv = files[i].vendor;
		any = 1;
		if (!fv || strcmp(fv, v) != 0) only = 0;	/* a stem of another vendor, or not in this corpus */
	}
	free(dup);
	return any && only;
}

static void cross_validate(cfile *files, size_t nf, const vstats *plain, const vstats plain_path[NP])
{
	vstats cv, cvp[NP];
	memset(&cv, 0, sizeof cv);
	memset(cvp, 0, sizeof cvp);
	printf("\ncross-validated text view: each file read without the rules only its own vendor needed\n");
	for (size_t i = 0; i < nf; i++) {
		unsigned char off[R_COUNT] = {0};
		sbuf which; sb_init(&which);
		int n = 0;
		for (int r = 0; r < R_COUNT; r++)
			if (only_vendor(reader_rules[r].needed_by, files[i].vendor, files, nf)) {
				off[r] = 1; n++;
				sb_printf(&which, " %s", reader_rules[r].id);
			}
		rules_set_off(n ? off : NULL);
		char *err = NULL;
		json_t *res = extract_run(&files[i], 1, &err);
		vstats one; memset(&one, 0, sizeof one);
		score(&one, &files[i], res, NULL, NULL, NULL, "cv");
		score2(&cv, &cvp[files[i].path], &files[i], res, NULL, NULL, NULL, "cv");
		if (n) printf("  %-45s off:%s -> %d/%d fields\n", files[i].stem, which.s, text_matched(&one), text_expected(&one));
		sb_free(&which);
		json_decref(res);
		free(err);
	}
	rules_set_off(NULL);
	summary("text", plain, NULL);
	summary("text-cv", &cv, NULL);
	summary_paths("text", plain_path);
	summary_paths("text-cv", cvp);
}

static void ablate(cfile *files, size_t nf)
{
	printf("\nablation: each rule switched off alone (text view); needed by = files that lose a field or go to review\n");
	for (int r = 0; r < R_COUNT; r++) {
		unsigned char off[R_COUNT] = {0};
		off[r] = 1;
		rules_set_off(off);
		sbuf lose, gain; sb_init(&lose); sb_init(&gain);
		int nl = 0;
		for (size_t i = 0; i < nf; i++) {
			char *err = NULL;
			json_t *res = extract_run(&files[i], 1, &err);
			vstats one; memset(&one, 0, sizeof one);
			int good[NF];
			score(&one, &files[i], res, good, NULL, NULL, "ablate");
			int l = 0, g = 0;
			for (int k = 0; k < NF; k++) { l += files[i].good[k] && !good[k]; g += !files[i].good[k] && good[k]; }
			/* a rule that only raises confidence is needed when, without it, a file is reviewed */
			if (files[i].straight && !one.straight) l++;
			if (l) { sb_printf(&lose, "%s%s", nl ? "," : "", files[i].stem); nl++; }
			if (g) sb_printf(&gain, " %s(+%d)", files[i].stem, g);
			json_decref(res);
			free(err);
		}
		const char *table = reader_rules[r].needed_by;
		int same = strcmp(table, lose.s ? lose.s : "") == 0;
		printf("  %-18s needed by: %s\n", reader_rules[r].id, lose.s ? lose.s : "-");
		if (gain.s) printf("  %-18s better without it on:%s\n", "", gain.s);
		if (!same) printf("  %-18s ! rules.c says: %s\n", "", *table ? table : "-");
		sb_free(&lose); sb_free(&gain);
	}
	rules_set_off(NULL);
}

int main(int argc, char **argv)
{
	int do_cv = 0, do_ablate = 0;
	const char *dir = "../../../shared/corpus/dev";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cv") == 0) do_cv = 1;
		else if (strcmp(argv[i], "--ablate") == 0) do_ablate = 1;
		else dir = argv[i];
	}
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

	cfile *files = xcalloc(nn + 1, sizeof *files);
	size_t nf = 0;
	for (size_t i = 0; i < nn; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s.json", dir, names[i]);
		json_error_t jerr;
		json_t *exp = json_load_file(path, 0, &jerr);
		json_t *ef = json_object_get(exp, "fields");
		snprintf(path, sizeof path, "%s/%s.pdf", dir, names[i]);
		size_t len = 0;
		unsigned char *pdf = exp ? slurp(path, &len) : NULL;
		if (!pdf || !json_is_object(ef)) { free(pdf); json_decref(exp); free(names[i]); continue; }
		cfile *cf = &files[nf++];
		cf->stem = names[i];
		cf->exp = exp;
		cf->pdf = pdf; cf->len = len;
		cf->vendor = vendor_key(json_string_value(json_object_get(ef, "issuer_name")), names[i]);
	}
	free(names);

	vstats st[NV], stp[NV][NP];
	memset(st, 0, sizeof st);
	memset(stp, 0, sizeof stp);
	sbuf lrep; sb_init(&lrep);
	sbuf misses; sb_init(&misses);
	printf("invoiceflow extraction accuracy: %s\n", dir);
	printf("rules: numbers exact after removing white space; dates exact; currency exact; amounts numerically equal;\n"
		   "       names equal after folding case, accents and white space, or contained one in the other\n"
		   "       (either way, on word boundaries) after replacing punctuation with spaces; null expected = not scored\n"
		   "       WRONG! = returned in a document with needs_review false and not the expected value\n\n");
	printf("path: text = born-digital text layer, scan = no usable text layer (OCR path), as the pipeline run classes it\n"
		   "after straight/review: the processor's reasons for review (meta.review_reasons)\n\n");
	printf("%-58s %-7s %-4s", "file", "view", "path");
	for (int k = 0; k < NF; k++) printf(" %-6s", eval_fields[k].shortname);
	printf("\n");

	for (size_t i = 0; i < nf; i++) {
		cfile *cf = &files[i];
		json_t *res[NRUN] = { NULL };
		char *errs[NRUN] = { NULL };
		for (int run = 0; run < NRUN; run++) res[run] = extract_run(cf, run, &errs[run]);
		int has_xml = json_is_string(json_object_get(json_object_get(res[0], "meta"), "xml_attachment"));
		cf->path = doc_path(res[0]);

		/* expected lines: the corpus file's, else the embedded XML's */
		json_t *elines = json_object_get(cf->exp, "lines");
		const char *lref = "corpus";
		if (!json_is_array(elines) && has_xml) {
			json_t *xi = json_object_get(res[0], "invoice");
			const char *ls = json_string_value(json_object_get(json_object_get(xi, "sources"), "lines"));
			if (ls && strcmp(ls, "xml") == 0) { elines = json_object_get(xi, "lines"); lref = "xml"; }
		}
		if (!json_is_array(elines)) elines = NULL;

		for (int v = 0; v < NV; v++) {
			if (v == V_XML && !has_xml) continue;
			if (v == V_OCR && !have_ocr) continue;
			int run = view_run[v];
			json_t *inv = json_object_get(res[run], "invoice");
			sbuf row; sb_init(&row);
			int before = st[v].straight;
			score2(&st[v], &stp[v][cf->path], cf, res[run], v == V_TEXT ? cf->good : NULL, &row, &misses, view_name[v]);
			if (v == V_TEXT) cf->straight = st[v].straight > before;
			printf("%-58s %-7s %-4s%s%s%s\n", cf->stem, view_name[v], path_name[cf->path], row.s,
				   errs[run] ? "  error: " : "", errs[run] ? errs[run] : "");
			sb_free(&row);
			json_t *gl = json_object_get(inv, "lines");
			int nret = (int) json_array_size(gl);
			if (elines) {
				int ne = (int) json_array_size(elines), m = eval_lines_match(elines, gl);
				st[v].lmatched += m; st[v].lexpected += ne; st[v].lreturned += nret; st[v].lfiles++;
				vstats *pv = &stp[v][cf->path];
				pv->lmatched += m; pv->lexpected += ne; pv->lreturned += nret; pv->lfiles++;
				sb_printf(&lrep, "  %-7s %-45s %2d/%-2d matched, %2d returned (reference: %s)\n",
						  view_name[v], cf->stem, m, ne, nret, lref);
			} else if (nret) {
				sb_printf(&lrep, "  %-7s %-45s %2d returned, no reference\n", view_name[v], cf->stem, nret);
			}
		}
		for (int run = 0; run < NRUN; run++) { json_decref(res[run]); free(errs[run]); }
	}

	if (misses.len) printf("\nmisses:\n%s", misses.s);
	sb_free(&misses);

	printf("\nper field (matched/expected)   %zu files\n", nf);
	printf("%-16s %14s %14s %14s %14s\n", "field", "xml", "text", "ocr", "overall");
	for (int k = 0; k < NF; k++) {
		printf("%-16s", eval_fields[k].field);
		for (int v = 0; v < NV; v++) {
			char c[32];
			if (v == V_OCR && !have_ocr) snprintf(c, sizeof c, "n/a");
			else snprintf(c, sizeof c, "%d/%d", st[v].matched[k], st[v].expected[k]);
			printf(" %14s", c);
		}
		printf("\n");
	}
	printf("\nline items (an expected line matches a returned one with equal net_amount and a matching description)\n%s",
		   lrep.s ? lrep.s : "");
	sb_free(&lrep);
	printf("\n");
	for (int v = 0; v < NV; v++) {
		if (v == V_OCR && !have_ocr) { printf("%-8s n/a (this build has no OCR option)\n", view_name[v]); continue; }
		summary(view_name[v], &st[v], NULL);
	}
	for (int v = 0; v < NV; v++) {
		if (v == V_OCR && !have_ocr) continue;
		lines_summary(view_name[v], &st[v], NULL);
	}
	printf("\nby path (the processor's class of each document, column \"path\" above)\n");
	for (int v = V_TEXT; v < NV; v++) {
		if (v == V_OCR && !have_ocr) continue;
		summary_paths(view_name[v], stp[v]);
	}
	for (int v = V_TEXT; v < NV; v++) {
		if (v == V_OCR && !have_ocr) continue;
		for (int p = 0; p < NP; p++) lines_summary(view_name[v], &stp[v][p], path_what[p]);
	}
	printf("\nwhy documents go to review (documents per reason, meta.review_reasons)\n");
	for (int v = 0; v < NV; v++) {
		if (v == V_OCR && !have_ocr) continue;
		reasons_summary(view_name[v], &st[v], "all documents");
		if (v != V_XML)
			for (int p = 0; p < NP; p++) reasons_summary(view_name[v], &stp[v][p], path_what[p]);
	}
	if (do_cv) cross_validate(files, nf, &st[V_TEXT], stp[V_TEXT]);
	if (do_ablate) ablate(files, nf);

	for (size_t i = 0; i < nf; i++) {
		free(files[i].stem); free(files[i].vendor); free(files[i].pdf); json_decref(files[i].exp);
	}
	free(files);
	for (size_t i = 0; i < nreason_pool; i++) free(reason_pool[i]);
	return 0;
}
