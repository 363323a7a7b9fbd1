/*
 * invoiceflow-processor: command-line front end, one subcommand per entry of
 * commands[] below:
 *   extract FILE.pdf [...]   the result JSON of one file
 *   layout FILE.pdf          the text rows with positions (debugging)
 *   run                      the daemon: claims documents from PostgreSQL or
 *                            RabbitMQ and extracts them (daemon_run.c)
 *   sandbox-run FILE.pdf     one document through the daemon's sandboxed child
 */
#include "daemon_run.h"
#include "extract.h"
#include "pdf_doc.h"
#include "sandbox_child.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT (256u << 20)

static unsigned char *read_file(const char *path, size_t *len, char **err)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f) {
		sbuf b; sb_init(&b);
		sb_printf(&b, "%s: %s", path, strerror(errno));
		*err = sb_steal(&b);
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap >= MAX_INPUT) { *err = xstrdup("input too large"); free(buf); if (f != stdin) fclose(f); return NULL; }
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		if (r == 0) break;
		n += r;
	}
	if (f != stdin) fclose(f);
	*len = n;
	return buf;
}

static int cmd_extract(int argc, char **argv)
{
	extract_options opt = {0};
	const char *path = NULL;
	int pretty = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--no-xml") == 0) opt.no_xml = 1;
		else if (strcmp(argv[i], "--pretty") == 0) pretty = 1;
		else if (strncmp(argv[i], "--max-pages=", 12) == 0) opt.max_pages = atoi(argv[i] + 12);
		else if (strncmp(argv[i], "--ocr=", 6) == 0) {
			const char *m = argv[i] + 6;
			if (strcmp(m, "auto") == 0) opt.ocr = EXTRACT_OCR_AUTO;
			else if (strcmp(m, "force") == 0) opt.ocr = EXTRACT_OCR_FORCE;
			else if (strcmp(m, "off") == 0) opt.ocr = EXTRACT_OCR_OFF;
			else { fprintf(stderr, "extract: --ocr must be auto, force or off\n"); return 2; }
		}
		else if (strncmp(argv[i], "--ocr-dpi=", 10) == 0) opt.ocr_dpi = atoi(argv[i] + 10);
		else if (!path) path = argv[i];
		else { fprintf(stderr, "extract: unexpected argument %s\n", argv[i]); return 2; }
	}
	if (!path) { fprintf(stderr, "usage: invoiceflow-processor extract FILE.pdf [--no-xml] [--ocr=auto|force|off] [--pretty]\n"); return 2; }
	char *err = NULL;
	size_t len = 0;
	unsigned char *buf = read_file(path, &len, &err);
	if (!buf) { fprintf(stderr, "extract: %s\n", err); free(err); return 1; }
	char *json = NULL;
	int ok = extract_document(buf, len, &opt, &json, &err);
	free(buf);
	if (!ok) {
		fprintf(stderr, "extract: %s: %s\n", path, err);
		free(err);
		return 1;
	}
	if (pretty) {
		json_t *j = json_loads(json, 0, NULL);
		char *p = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		puts(p ? p : json);
		free(p);
		json_decref(j);
	} else {
		puts(json);
	}
	free(json);
	return 0;
}

/* Debugging aid: rows and segments with positions, as the text path sees them. */
static int cmd_layout(int argc, char **argv)
{
	if (argc < 1) { fprintf(stderr, "usage: invoiceflow-processor layout FILE.pdf\n"); return 2; }
	char *err = NULL;
	size_t len = 0;
	unsigned char *buf = read_file(argv[0], &len, &err);
	if (!buf) { fprintf(stderr, "layout: %s\n", err); free(err); return 1; }
	pdf_src *src;
	if (!pdfsrc_open(buf, len, &src, &err)) { fprintf(stderr, "layout: %s\n", err); free(err); free(buf); return 1; }
	tlayout l;
	if (pdfsrc_layout(src, 0, &l, &err)) {
		for (size_t r = 0; r < l.nrows; r++) {
			printf("p%d r%-3zu", l.rows[r].page, r);
			for (int k = 0; k < l.rows[r].n; k++) {
				const tseg *s = &l.segs[l.rows[r].first + k];
				printf("  [%.0f,%.0f-%.0f] %s", s->x0, s->y0, s->x1, s->text);
			}
			printf("\n");
		}
		tlayout_free(&l);
	} else {
		fprintf(stderr, "layout: %s\n", err);
		free(err);
	}
	pdfsrc_close(src);
	free(buf);
	return 0;
}

static const struct { const char *name; int (*fn)(int, char **); const char *help; } commands[] = {
	{ "extract", cmd_extract, "extract FILE.pdf [--no-xml] [--ocr=auto|force|off] [--ocr-dpi=N] [--pretty]   print the result JSON" },
	{ "layout", cmd_layout, "layout FILE.pdf                          print the text rows with positions (debugging)" },
	{ "run", cmd_run, "run                                      the daemon: claim documents and extract them (run --help)" },
	{ "sandbox-run", cmd_sandbox_run, "sandbox-run FILE.pdf [NAME]               one document through the daemon's sandboxed child" },
};

int main(int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
			if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 2, argv + 2);
	fprintf(stderr, "usage: invoiceflow-processor COMMAND ...\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(stderr, "  %s\n", commands[i].help);
	return 2;
}
