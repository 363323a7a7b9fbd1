/*
 * make_scan: test and benchmark fixtures.
 *   make_scan IN.pdf OUT.pdf [DPI]   every page of IN rendered grey at DPI (default 200)
 *                                    and wrapped as an image-only PDF (no text layer)
 *   make_scan --text SPEC OUT.pdf    a one-page text PDF: SPEC lines "x y size text"
 *                                    (points from the top-left, Helvetica)
 */
#include "fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	size_t cap = 1 << 20, n = 0;
	unsigned char *b = malloc(cap);
	size_t r;
	while ((r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) b = realloc(b, cap *= 2);
	}
	fclose(f);
	*len = n;
	return b;
}

static int spit(const char *path, const unsigned char *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n) { perror(path); if (f) fclose(f); return 1; }
	return fclose(f) != 0;
}

int main(int argc, char **argv)
{
	size_t len = 0, outlen = 0;
	unsigned char *out;
	if (argc == 4 && strcmp(argv[1], "--text") == 0) {
		FILE *f = fopen(argv[2], "r");
		if (!f) { perror(argv[2]); return 1; }
		fx_line lines[200];
		char buf[200][512];
		size_t n = 0;
		while (n < 200 && fgets(buf[n], sizeof buf[n], f)) {
			int off = 0;
			buf[n][strcspn(buf[n], "\n")] = 0;
			if (sscanf(buf[n], "%f %f %f %n", &lines[n].x, &lines[n].y, &lines[n].size, &off) < 3 || !off) continue;
			lines[n].text = buf[n] + off;
			n++;
		}
		fclose(f);
		out = fx_text_pdf(lines, n, &outlen);
	} else if (argc == 3 || argc == 4) {
		unsigned char *in = slurp(argv[1], &len);
		if (!in) { perror(argv[1]); return 1; }
		out = fx_scan_pdf(in, len, argc == 4 ? atoi(argv[3]) : 200, &outlen);
		free(in);
	} else {
		fprintf(stderr, "usage: make_scan IN.pdf OUT.pdf [DPI] | make_scan --text SPEC OUT.pdf\n");
		return 2;
	}
	if (!out) { fprintf(stderr, "make_scan: MuPDF failed\n"); return 1; }
	int rc = spit(argv[argc == 4 && strcmp(argv[1], "--text") != 0 ? 2 : argc - 1], out, outlen);
	free(out);
	return rc;
}
