/* Tesseract 5 through its C API: one engine per document, words with boxes at RIL_WORD. */
#include "ocr.h"
#include "util.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tesseract/capi.h>

/*
 * libtesseract is loaded with dlopen() at the first OCR'd page, not linked: linking it
 * (with leptonica, libarchive, libcurl, libgomp and Tesseract's many static
 * initialisers) added about 10-25 ms to every process start, a third of a
 * born-digital document's whole extraction.  The C API's own prototypes type the
 * pointers.
 */
#define TESS_LIB "libtesseract.so.5"
#define TESS_FUNCS(X) X(TessBaseAPICreate) X(TessBaseAPIDelete) X(TessBaseAPISetVariable) \
	X(TessBaseAPIInit2) X(TessBaseAPISetPageSegMode) X(TessBaseAPIEnd) X(TessBaseAPISetImage) \
	X(TessBaseAPISetSourceResolution) X(TessBaseAPIRecognize) X(TessBaseAPIClear) \
	X(TessBaseAPIGetIterator) X(TessResultIteratorGetPageIteratorConst) \
	X(TessPageIteratorIsAtBeginningOf) X(TessPageIteratorBoundingBox) \
	X(TessResultIteratorGetUTF8Text) X(TessDeleteText) X(TessResultIteratorConfidence) \
	X(TessResultIteratorNext) X(TessResultIteratorDelete)

static struct {
#define TESS_FIELD(f) __typeof__(&f) f;
	TESS_FUNCS(TESS_FIELD)
	/* libgomp (Tesseract's LSTM uses OpenMP): with no active parallel level every
	 * region runs on the calling thread, the effect of OMP_THREAD_LIMIT=1.  The
	 * child's CPU limit counts all threads, and PROCESSOR_CONCURRENCY children
	 * already fill the cores. */
	void (*omp_set_max_active_levels)(int);
	void *lib;
} T;

static int tess_load(char **error)
{
	if (T.lib) return 1;
	void *h = dlopen(TESS_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		sbuf b; sb_init(&b);
		sb_printf(&b, "OCR: cannot load %s: %s", TESS_LIB, dlerror());
		*error = sb_steal(&b);
		return 0;
	}
#define TESS_LOAD(f) \
	if (!(*(void **) &T.f = dlsym(h, #f))) { \
		*error = xstrdup("OCR: " TESS_LIB " lacks " #f); \
		dlclose(h); \
		return 0; \
	}
	TESS_FUNCS(TESS_LOAD)
	*(void **) &T.omp_set_max_active_levels = dlsym(h, "omp_set_max_active_levels");
	T.lib = h;	/* kept for the life of the process (the child) */
	return 1;
}

struct ocr_engine {
	TessBaseAPI *api;
};

#define TESSDATA_DIR "/usr/share/tesseract-ocr/5/tessdata"

ocr_engine *ocr_engine_new(const char *langs, char **error)
{
	if (!tess_load(error)) return NULL;
	if (T.omp_set_max_active_levels) T.omp_set_max_active_levels(0);
	TessBaseAPI *api = T.TessBaseAPICreate();
	if (!api) { *error = xstrdup("OCR: cannot create the Tesseract engine"); return NULL; }
	/* Tesseract's own chatter (resolution guesses, "Empty page!!") stays out of stderr,
	 * which the daemon reads to classify crashes. */
	T.TessBaseAPISetVariable(api, "debug_file", "/dev/null");
	if (T.TessBaseAPIInit2(api, NULL, langs, OEM_LSTM_ONLY) != 0) {
		sbuf b; sb_init(&b);
		sb_printf(&b, "OCR: cannot load the language data \"%s\"", langs);
		*error = sb_steal(&b);
		T.TessBaseAPIDelete(api);
		return NULL;
	}
	/* Measured on the corpus (README): page layout analysis finds the columns of an
	 * invoice; the inverted-text retry per line costs time and finds nothing on
	 * printed invoices. */
	T.TessBaseAPISetPageSegMode(api, PSM_AUTO);
	T.TessBaseAPISetVariable(api, "tessedit_do_invert", "0");
	ocr_engine *e = xcalloc(1, sizeof *e);
	e->api = api;
	return e;
}

void ocr_engine_free(ocr_engine *e)
{
	if (!e) return;
	T.TessBaseAPIEnd(e->api);
	T.TessBaseAPIDelete(e->api);
	free(e);
}

void ocr_words_free(ocr_word *w, size_t n)
{
	for (size_t i = 0; i < n; i++) free(w[i].text);
	free(w);
}

int ocr_recognize(ocr_engine *e, const unsigned char *px, int w, int h, int stride, int dpi,
				  ocr_word **words, size_t *nwords, char **error)
{
	*words = NULL;
	*nwords = 0;
	TessBaseAPI *api = e->api;
	T.TessBaseAPISetImage(api, px, w, h, 1, stride);
	T.TessBaseAPISetSourceResolution(api, dpi);
	if (T.TessBaseAPIRecognize(api, NULL) != 0) {
		T.TessBaseAPIClear(api);
		*error = xstrdup("OCR: recognition failed");
		return 0;
	}
	TessResultIterator *it = T.TessBaseAPIGetIterator(api);
	size_t n = 0, cap = 0;
	ocr_word *v = NULL;
	int line = -1, ly0 = 0, ly1 = 0;
	if (it) {
		const TessPageIterator *pi = T.TessResultIteratorGetPageIteratorConst(it);
		do {
			if (T.TessPageIteratorIsAtBeginningOf(pi, RIL_TEXTLINE)) {
				int a, b, c, d;
				line++;
				if (T.TessPageIteratorBoundingBox(pi, RIL_TEXTLINE, &a, &b, &c, &d)) { ly0 = b; ly1 = d; }
			}
			char *t = T.TessResultIteratorGetUTF8Text(it, RIL_WORD);
			int x0, y0, x1, y1;
			if (!t) continue;
			if (!*t || !T.TessPageIteratorBoundingBox(pi, RIL_WORD, &x0, &y0, &x1, &y1)) {
				T.TessDeleteText(t);
				continue;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				v = xrealloc(v, cap * sizeof *v);
			}
			ocr_word *o = &v[n++];
			o->text = xstrdup(t);
			T.TessDeleteText(t);
			o->x0 = x0; o->y0 = y0; o->x1 = x1; o->y1 = y1;
			o->line = line < 0 ? 0 : line;
			o->ly0 = ly0 < y0 ? ly0 : y0;
			o->ly1 = ly1 > y1 ? ly1 : y1;
			o->conf = T.TessResultIteratorConfidence(it, RIL_WORD) / 100.0f;
		} while (T.TessResultIteratorNext(it, RIL_WORD));
		T.TessResultIteratorDelete(it);
	}
	T.TessBaseAPIClear(api);
	*words = v;
	*nwords = n;
	return 1;
}

/* lang[+lang...]: names of installed traineddata files. */
static int langs_ok(const char *langs, char *err, size_t errsz)
{
	const char *dir = getenv("TESSDATA_PREFIX") ? getenv("TESSDATA_PREFIX") : TESSDATA_DIR;
	const char *p = langs;
	if (!*p) { snprintf(err, errsz, "PROCESSOR_OCR_LANGS must name at least one language (eng, deu, ...)"); return 0; }
	while (*p) {
		size_t k = 0;
		while (p[k] && p[k] != '+') {
			if (!(islower((unsigned char) p[k]) || p[k] == '_') || k >= 32) {
				snprintf(err, errsz, "PROCESSOR_OCR_LANGS must be languages joined by + (eng+deu), not \"%s\"", langs);
				return 0;
			}
			k++;
		}
		if (k == 0) {
			snprintf(err, errsz, "PROCESSOR_OCR_LANGS must be languages joined by + (eng+deu), not \"%s\"", langs);
			return 0;
		}
		char path[512];
		snprintf(path, sizeof path, "%s/%.*s.traineddata", dir, (int) k, p);
		if (access(path, R_OK) != 0) {
			snprintf(err, errsz, "PROCESSOR_OCR_LANGS: no language data %.*s (%s is missing; install tesseract-ocr-%.*s)",
					 (int) k, p, path, (int) k, p);
			return 0;
		}
		p += k;
		if (*p == '+') p++;
	}
	return 1;
}

int ocr_settings(int *max_pages, const char **langs, char *err, size_t errsz)
{
	const char *v = getenv("PROCESSOR_OCR_MAX_PAGES");
	*max_pages = OCR_DEFAULT_MAX_PAGES;
	if (v && *v) {
		char *end;
		long n = strtol(v, &end, 10);
		if (*end || n < 0 || n > 1000) {
			snprintf(err, errsz, "PROCESSOR_OCR_MAX_PAGES must be an integer from 0 (no OCR) to 1000, not \"%s\"", v);
			return 0;
		}
		*max_pages = (int) n;
	}
	v = getenv("PROCESSOR_OCR_LANGS");
	*langs = v && *v ? v : OCR_DEFAULT_LANGS;
	return *max_pages == 0 || langs_ok(*langs, err, errsz);
}
