/*
 * OCR unit tests on fixtures generated here (tests/fixtures.c): an invoice drawn as
 * text, the same page "scanned" (rendered grey, wrapped as an image-only PDF), and a
 * page whose seller name exists only in a logo image.  Checks the words, their
 * positions against the text layer's, the OCR policy (auto / force / off, the page
 * cap, born-digital pages left alone) and the sources.
 * Last line: "test_ocr: N passed, N failed".
 */
#include "extract.h"
#include "extract_ocr.h"
#include "fixtures.h"
#include "layer_quality.h"
#include "ocr.h"
#include "pdf_doc.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int passed, failed;

#define CHECK(cond, ...) do { \
	if (cond) passed++; \
	else { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
} while (0)

/* The logo line first (fx_logo_pdf draws it as an image). */
static const fx_line invoice_lines[] = {
	{ 50, 60, 22, "Quokka Widgets GmbH" },
	{ 50, 90, 10, "Musterstrasse 1, 10115 Berlin" },
	{ 50, 150, 11, "Bill to: Globex AG" },
	{ 50, 165, 11, "Hauptweg 7, 20095 Hamburg" },
	{ 50, 220, 22, "INVOICE" },
	{ 50, 260, 12, "Invoice No: RE-2024-0815" },
	{ 50, 278, 12, "Invoice Date: 15.03.2024" },
	{ 50, 330, 12, "Description" },
	{ 420, 330, 12, "Amount" },
	{ 50, 350, 12, "Consulting services Zebrafinch" },
	{ 420, 350, 12, "1,000.00" },
	{ 300, 420, 12, "Net amount" },
	{ 420, 420, 12, "1,000.00" },
	{ 300, 438, 12, "VAT 19%" },
	{ 420, 438, 12, "190.00" },
	{ 300, 456, 12, "Total EUR" },
	{ 420, 456, 12, "1,190.00" },
};
#define NLINES (sizeof invoice_lines / sizeof invoice_lines[0])

static json_t *extract(const unsigned char *pdf, size_t len, int mode, int max_pages, char **err)
{
	extract_options opt = { .ocr = mode, .ocr_max_pages = max_pages };
	char *json = NULL;
	*err = NULL;
	if (!extract_document(pdf, len, &opt, &json, err)) return NULL;
	json_t *j = json_loads(json, 0, NULL);
	free(json);
	return j;
}

static const char *inv_str(json_t *j, const char *a, const char *b)
{
	json_t *o = json_object_get(json_object_get(j, "invoice"), a);
	if (b) o = json_object_get(o, b);
	return json_string_value(o);
}

static int meta_int(json_t *j, const char *k)
{
	json_t *v = json_object_get(json_object_get(j, "meta"), k);
	return json_is_integer(v) ? (int) json_integer_value(v) : -1;
}

static const tseg *find_seg(const tlayout *l, const char *word)
{
	for (size_t i = 0; i < l->nsegs; i++)
		if (strstr(l->segs[i].text, word)) return &l->segs[i];
	return NULL;
}

/* Words and their positions: OCR of the scan against the text layer of the original. */
static void test_words_and_positions(const unsigned char *text_pdf, size_t tlen, const unsigned char *scan, size_t slen)
{
	char *err = NULL;
	pdf_src *ts, *ss;
	tlayout tl, sl;
	CHECK(pdfsrc_open(text_pdf, tlen, &ts, &err) && pdfsrc_layout(ts, 0, &tl, &err), "text fixture opens: %s", err ? err : "");
	CHECK(pdfsrc_open(scan, slen, &ss, &err) && pdfsrc_layout(ss, 0, &sl, &err), "scan fixture opens: %s", err ? err : "");
	CHECK(sl.nsegs == 0 && sl.pinfo[0].chars == 0, "the scan has no text layer (%zu segments)", sl.nsegs);
	CHECK(sl.pinfo[0].image_cover > 0.95f, "the scan is one page-sized image (cover %.2f)", sl.pinfo[0].image_cover);
	CHECK(tl.pinfo[0].chars > 100 && tl.pinfo[0].bad == 0, "the text fixture has a clean text layer");

	extract_options opt = { .ocr = EXTRACT_OCR_AUTO, .ocr_max_pages = 10 };
	ocr_run r;
	CHECK(ocr_run_init(&r, &opt, &err), "ocr settings: %s", err ? err : "");
	ocr_pages(ss, &sl, &r);
	CHECK(r.used == 1 && sl.pinfo[0].ocr == 1, "auto: the page without text is OCR'd (used %d)", r.used);
	CHECK(sl.nsegs >= 10, "OCR gives segments (%zu)", sl.nsegs);
	const char *words[] = { "INVOICE", "RE-2024-0815", "15.03.2024", "Zebrafinch", "1,190.00", "Globex", NULL };
	for (int i = 0; words[i]; i++) {
		const tseg *o = find_seg(&sl, words[i]), *t = find_seg(&tl, words[i]);
		CHECK(o != NULL, "OCR found \"%s\"", words[i]);
		if (!o || !t) continue;
		CHECK(o->ocr == 1 && o->conf > 0.5f && o->conf <= 1.0f, "\"%s\": ocr flag and confidence (%.2f)", words[i], o->conf);
		/* same place as the text layer's segment, within a few points */
		float oc = (o->y0 + o->y1) / 2, tc = (t->y0 + t->y1) / 2;
		CHECK(fabsf(o->x0 - t->x0) < 4 && fabsf(oc - tc) < 4,
			  "\"%s\": OCR at (%.1f, %.1f), text layer at (%.1f, %.1f)", words[i], o->x0, oc, t->x0, tc);
		CHECK(fabsf(o->size - t->size) < 0.35f * t->size, "\"%s\": size %.1f vs %.1f", words[i], o->size, t->size);
	}
	/* a label and its value on one row, split into two segments at the wide gap */
	const tseg *net = find_seg(&sl, "Net amount");
	CHECK(net && strcmp(net->text, "Net amount") == 0, "\"Net amount\" is a segment of its own (%s)", net ? net->text : "none");
	if (net) {
		const trow *row = &sl.rows[net->row];
		int found = 0;
		for (int k = 0; k < row->n; k++) found |= strcmp(sl.segs[row->first + k].text, "1,000.00") == 0;
		CHECK(found, "its amount is on the same row");
	}
	/* the text layer's own page is left alone in auto mode */
	ocr_pages(ts, &tl, &r);
	CHECK(r.used == 1 && tl.pinfo[0].ocr == 0, "auto: a page with a text layer is not OCR'd");
	ocr_run_free(&r);
	tlayout_free(&tl);
	tlayout_free(&sl);
	pdfsrc_close(ts);
	pdfsrc_close(ss);
	free(err);
}

static void test_extract_scan(const unsigned char *scan, size_t slen)
{
	char *err = NULL;
	json_t *j = extract(scan, slen, EXTRACT_OCR_AUTO, 0, &err);
	CHECK(j != NULL, "the scan extracts: %s", err ? err : "");
	if (j) {
		CHECK(inv_str(j, "source", NULL) && strcmp(inv_str(j, "source", NULL), "ocr") == 0, "source ocr");
		const char *num = inv_str(j, "invoice_number", NULL), *tot = inv_str(j, "totals", "total");
		CHECK(num && strcmp(num, "RE-2024-0815") == 0, "invoice number from OCR: %s", num ? num : "null");
		CHECK(tot && strcmp(tot, "1190.00") == 0, "total from OCR: %s", tot ? tot : "null");
		const char *d = inv_str(j, "issue_date", NULL);
		CHECK(d && strcmp(d, "2024-03-15") == 0, "issue date from OCR: %s", d ? d : "null");
		CHECK(inv_str(j, "sources", "invoice_number") && strcmp(inv_str(j, "sources", "invoice_number"), "ocr") == 0,
			  "sources.invoice_number ocr");
		CHECK(meta_int(j, "ocr_pages") == 1, "meta.ocr_pages 1 (%d)", meta_int(j, "ocr_pages"));
		const char *text = json_string_value(json_object_get(j, "text"));
		CHECK(text && strstr(text, "Zebrafinch"), "the OCR text is in result.text");
		json_decref(j);
	}
	free(err); err = NULL;
	j = extract(scan, slen, EXTRACT_OCR_OFF, 0, &err);
	CHECK(!j && err && strstr(err, "no text layer"), "OCR off: a scan fails with \"no text layer\" (%s)", err ? err : "ok");
	json_decref(j);
	free(err);
}

static void test_modes_on_text(const unsigned char *pdf, size_t len)
{
	char *err = NULL;
	json_t *j = extract(pdf, len, EXTRACT_OCR_AUTO, 0, &err);
	CHECK(j && meta_int(j, "ocr_pages") == -1, "auto: a born-digital invoice is not OCR'd (ocr_pages %d)", j ? meta_int(j, "ocr_pages") : -2);
	CHECK(j && strcmp(inv_str(j, "source", NULL), "text") == 0, "auto: source text");
	json_decref(j);
	j = extract(pdf, len, EXTRACT_OCR_FORCE, 0, &err);
	CHECK(j && meta_int(j, "ocr_pages") == 1, "force: the text page is OCR'd");
	CHECK(j && strcmp(inv_str(j, "source", NULL), "ocr") == 0, "force: source ocr");
	const char *num = j ? inv_str(j, "invoice_number", NULL) : NULL;
	CHECK(num && strcmp(num, "RE-2024-0815") == 0, "force: invoice number %s", num ? num : "null");
	json_decref(j);
	free(err);
}

/* A text layer of U+FFFD only (no glyph maps to Unicode) is replaced by OCR. */
static void test_unmappable(void)
{
	size_t len;
	unsigned char *pdf = fx_nomap_pdf(invoice_lines, NLINES, &len);
	CHECK(pdf != NULL, "unmappable-font fixture");
	if (!pdf) return;
	char *err = NULL;
	pdf_src *src = NULL;
	tlayout l;
	memset(&l, 0, sizeof l);
	CHECK(pdfsrc_open(pdf, len, &src, &err) && pdfsrc_layout(src, 0, &l, &err), "opens: %s", err ? err : "");
	if (src && l.pinfo) {
		CHECK(l.pinfo[0].chars > 100 && l.pinfo[0].bad == l.pinfo[0].chars,
			  "every character is unmappable (%d of %d)", l.pinfo[0].bad, l.pinfo[0].chars);
		tlayout_free(&l);
		pdfsrc_close(src);
	}
	json_t *j = extract(pdf, len, EXTRACT_OCR_AUTO, 0, &err);
	const char *num = j ? inv_str(j, "invoice_number", NULL) : NULL;
	CHECK(j && meta_int(j, "ocr_pages") == 1, "auto: the unusable page is OCR'd");
	CHECK(num && strcmp(num, "RE-2024-0815") == 0, "invoice number from OCR: %s", num ? num : "null");
	const char *text = j ? json_string_value(json_object_get(j, "text")) : NULL;
	CHECK(text && strstr(text, "Zebrafinch") && !strstr(text, "\xef\xbf\xbd"), "result.text is OCR's, without U+FFFD");
	json_decref(j);
	free(err);
	free(pdf);
}

/* The seller's name only in a logo image: auto OCRs the image and adds its words. */
static void test_logo(void)
{
	size_t len;
	unsigned char *pdf = fx_logo_pdf(invoice_lines, NLINES, 200, &len);
	CHECK(pdf != NULL, "logo fixture");
	if (!pdf) return;
	char *err = NULL;
	json_t *off = extract(pdf, len, EXTRACT_OCR_OFF, 0, &err);
	const char *s = off ? inv_str(off, "seller", "name") : NULL;
	CHECK(off && (!s || !strstr(s, "Quokka")), "OCR off: no seller name from the logo (%s)", s ? s : "null");
	json_t *j = extract(pdf, len, EXTRACT_OCR_AUTO, 0, &err);
	s = j ? inv_str(j, "seller", "name") : NULL;
	CHECK(s && strcmp(s, "Quokka Widgets GmbH") == 0, "auto: seller name from the logo (%s)", s ? s : "null");
	const char *src = j ? inv_str(j, "sources", "seller.name") : NULL;
	CHECK(src && strcmp(src, "ocr") == 0, "sources.seller.name ocr (%s)", src ? src : "null");
	src = j ? inv_str(j, "sources", "invoice_number") : NULL;
	CHECK(src && strcmp(src, "text") == 0, "sources.invoice_number still text (%s)", src ? src : "null");
	CHECK(j && strcmp(inv_str(j, "source", NULL), "text") == 0, "overall source text: the key fields come from the text layer");
	CHECK(j && meta_int(j, "ocr_pages") == 1, "one page OCR'd for its image");
	const char *text = j ? json_string_value(json_object_get(j, "text")) : NULL;
	CHECK(text && strstr(text, "Quokka") && strstr(text, "Zebrafinch"), "result.text has the logo's words and the text layer's");
	json_decref(off);
	json_decref(j);
	free(err);
	free(pdf);
}

static void test_limits(void)
{
	/* three scanned pages, at most two OCR'd: the document completes with what was read */
	char *err = NULL;
	size_t tlen = 0, slen = 0;
	unsigned char *text3 = fx_text_pdf_pages(invoice_lines + 1, NLINES - 1, 3, &tlen);
	unsigned char *scan3 = text3 ? fx_scan_pdf(text3, tlen, 150, &slen) : NULL;
	CHECK(scan3 != NULL, "three-page scan fixture");
	json_t *j = scan3 ? extract(scan3, slen, EXTRACT_OCR_AUTO, 2, &err) : NULL;
	CHECK(j && meta_int(j, "ocr_pages") == 2 && meta_int(j, "ocr_pages_skipped") == 1,
		  "page cap 2 of 3: ocr_pages %d, skipped %d", j ? meta_int(j, "ocr_pages") : -2, j ? meta_int(j, "ocr_pages_skipped") : -2);
	json_decref(j);
	/* the CPU limit: with under two seconds left no page is started, and the document
	 * fails with a reason instead of being killed by SIGXCPU */
	struct rlimit old, rl;
	struct rusage ru;
	getrlimit(RLIMIT_CPU, &old);
	getrusage(RUSAGE_SELF, &ru);
	rl.rlim_cur = (rlim_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 3);
	rl.rlim_max = old.rlim_max;
	setrlimit(RLIMIT_CPU, &rl);
	free(err); err = NULL;
	j = scan3 ? extract(scan3, slen, EXTRACT_OCR_AUTO, 0, &err) : NULL;
	setrlimit(RLIMIT_CPU, &old);
	CHECK(!j && err && strstr(err, "within the limits"), "CPU limit nearly reached: no page OCR'd, a reason (%s)", err ? err : "none");
	json_decref(j);
	free(err);
	err = NULL;
	free(text3);
	free(scan3);
	setenv("PROCESSOR_OCR_LANGS", "eng+xx1", 1);
	int mp; const char *langs; char msg[256];
	CHECK(!ocr_settings(&mp, &langs, msg, sizeof msg) && strstr(msg, "PROCESSOR_OCR_LANGS"), "unknown language refused: %s", msg);
	setenv("PROCESSOR_OCR_LANGS", "eng;rm", 1);
	CHECK(!ocr_settings(&mp, &langs, msg, sizeof msg) && strstr(msg, "PROCESSOR_OCR_LANGS"), "bad language list refused");
	unsetenv("PROCESSOR_OCR_LANGS");
	setenv("PROCESSOR_OCR_MAX_PAGES", "-1", 1);
	CHECK(!ocr_settings(&mp, &langs, msg, sizeof msg) && strstr(msg, "PROCESSOR_OCR_MAX_PAGES"), "negative page cap refused");
	setenv("PROCESSOR_OCR_MAX_PAGES", "0", 1);
	CHECK(ocr_settings(&mp, &langs, msg, sizeof msg) && mp == 0, "PROCESSOR_OCR_MAX_PAGES=0 turns OCR off");
	unsetenv("PROCESSOR_OCR_MAX_PAGES");
	CHECK(ocr_settings(&mp, &langs, msg, sizeof msg) && mp == OCR_DEFAULT_MAX_PAGES && strcmp(langs, OCR_DEFAULT_LANGS) == 0,
		  "defaults: %d pages, %s", OCR_DEFAULT_MAX_PAGES, OCR_DEFAULT_LANGS);
	free(err);
}

static void test_strip_rules(void)
{
	static const struct { const char *in, *out; } c[] = {
		{ "|", NULL }, { "||", NULL }, { "[", NULL }, { "]|", NULL },
		{ "|Kaufer", "Kaufer" }, { "Kaufer|", "Kaufer" }, { "[Zahlungsart", "Zahlungsart" },
		{ "EUR]", "EUR" }, { "[optional]", "[optional]" }, { "a|b", "a|b" }, { "123", "123" },
		{ "\"550,60", "550,60" }, { "'12", "12" }, { "\"12\"", "\"12\"" }, { "\"Zahlung", "\"Zahlung" },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char buf[32];
		snprintf(buf, sizeof buf, "%s", c[i].in);
		int keep = ocr_strip_rules(buf);
		if (!c[i].out) CHECK(!keep, "\"%s\" is a rule, dropped", c[i].in);
		else CHECK(keep && strcmp(buf, c[i].out) == 0, "\"%s\" -> \"%s\", got \"%s\"", c[i].in, c[i].out, keep ? buf : "(dropped)");
	}
}

/* A scanner's own OCR layer as scanners write it: the page's lines, misread ('!' for
 * 'i' and 'l', as in the dev corpus's ScanSnap folios). */
static const fx_line garbled_lines[] = {
	{ 50, 90, 10, "Musterstrasse 1, 10115 Ber!in" },
	{ 50, 150, 11, "B!ll to: G!obex AG" },
	{ 50, 165, 11, "Hauptweg 7, 20095 Hamburg" },
	{ 50, 220, 22, "INVOICE" },
	{ 50, 260, 12, "Invo!ce No: RE-2024-08!5" },
	{ 50, 278, 12, "Invo!ce Date: 15.03.2024" },
	{ 50, 330, 12, "Descr!pt!on" },
	{ 420, 330, 12, "Amount" },
	{ 50, 350, 12, "Consu!t!ng serv!ces Zebraf!nch" },
	{ 420, 350, 12, "1,000.00" },
	{ 300, 420, 12, "Net amount" },
	{ 420, 420, 12, "1,000.00" },
	{ 300, 438, 12, "VAT 19%" },
	{ 420, 438, 12, "190.00" },
	{ 300, 456, 12, "Total EUR" },
	{ 420, 456, 12, "1,190.00" },
};
#define NGARBLED (sizeof garbled_lines / sizeof garbled_lines[0])

/* The page census of one fixture: its first page's tpage. */
static tpage census(const unsigned char *pdf, size_t len)
{
	tpage p;
	memset(&p, 0, sizeof p);
	p.scan = -1;
	char *err = NULL;
	pdf_src *src;
	tlayout l;
	if (pdfsrc_open(pdf, len, &src, &err)) {
		if (pdfsrc_layout(src, 0, &l, &err)) { p = l.pinfo[0]; tlayout_free(&l); }
		pdfsrc_close(src);
	}
	free(err);
	return p;
}

static const char *meta_str_at(json_t *j, const char *k, size_t i)
{
	json_t *v = json_object_get(json_object_get(j, "meta"), k);
	if (json_is_array(v)) v = json_array_get(v, i);
	return json_string_value(v);
}

/* The scan detector (pdf_scan.c): a page that shows only page-covering images, its text
 * invisible or under the image, is a scan; a born-digital page with a logo or a
 * background picture under visible text is not. */
static void test_scan_detector(const unsigned char *text_pdf, size_t tlen)
{
	size_t n;
	tpage p = census(text_pdf, tlen);
	CHECK(p.scan == 0, "born-digital text page: not a scan (%d)", p.scan);

	unsigned char *logo = fx_logo_pdf(invoice_lines, NLINES, 150, &n);
	p = logo ? census(logo, n) : p;
	CHECK(logo && p.scan == 0, "born-digital page with a logo image: not a scan (%d)", p.scan);
	free(logo);

	unsigned char *plain = fx_scan_pdf(text_pdf, tlen, 100, &n);
	p = plain ? census(plain, n) : p;
	CHECK(plain && p.scan == 1 && p.chars == 0, "image-only page: a scan (%d, %d chars)", p.scan, p.chars);
	free(plain);

	unsigned char *inv = fx_scan_layer_pdf(text_pdf, tlen, 100, garbled_lines, NGARBLED, FX_LAYER_INVISIBLE, &n);
	p = inv ? census(inv, n) : p;
	CHECK(inv && p.scan == 1 && p.chars > 100 && p.hidden_glyphs > 100 && p.visible_glyphs == 0,
		  "image with invisible text (render mode 3) on top: a scan (scan %d, %d chars, %d hidden, %d visible)",
		  p.scan, p.chars, p.hidden_glyphs, p.visible_glyphs);
	free(inv);

	unsigned char *under = fx_scan_layer_pdf(text_pdf, tlen, 100, garbled_lines, NGARBLED, FX_LAYER_UNDER, &n);
	p = under ? census(under, n) : p;
	CHECK(under && p.scan == 1 && p.hidden_glyphs > 100 && p.visible_glyphs == 0,
		  "text drawn under an opaque page image: a scan (scan %d, %d hidden, %d visible)", p.scan, p.hidden_glyphs, p.visible_glyphs);
	free(under);

	unsigned char *bg = fx_scan_layer_pdf(text_pdf, tlen, 100, invoice_lines + 1, NLINES - 1, FX_LAYER_VISIBLE_ON_TOP, &n);
	p = bg ? census(bg, n) : p;
	CHECK(bg && p.scan == 0 && p.visible_glyphs > 100 && p.image_cover > 0.95f,
		  "visible text over a full-page background image: not a scan (scan %d, %d visible)", p.scan, p.visible_glyphs);
	if (bg) {
		char *err = NULL;
		json_t *j = extract(bg, n, EXTRACT_OCR_AUTO, 0, &err);
		const char *rp = j ? meta_str_at(j, "read_path", 0) : NULL;
		CHECK(rp && strcmp(rp, "text") == 0, "background-image page: read_path text (%s)", rp ? rp : "null");
		json_decref(j);
		free(err);
	}
	free(bg);
}

/* On a scan with the scanner's layer, the better read of the two is kept (per page). */
static void test_scan_choice(const unsigned char *text_pdf, size_t tlen)
{
	size_t n;
	char *err = NULL;
	/* a misread layer over a good image: ours */
	unsigned char *pdf = fx_scan_layer_pdf(text_pdf, tlen, 200, garbled_lines, NGARBLED, FX_LAYER_INVISIBLE, &n);
	json_t *j = pdf ? extract(pdf, n, EXTRACT_OCR_AUTO, 0, &err) : NULL;
	CHECK(j != NULL, "scan with a misread layer extracts: %s", err ? err : "");
	if (j) {
		const char *rp = meta_str_at(j, "read_path", 0), *how = meta_str_at(j, "page_readings", 0);
		json_t *sp = json_object_get(json_object_get(j, "meta"), "scanned_pages");
		CHECK(rp && strcmp(rp, "ocr") == 0, "read_path ocr (%s)", rp ? rp : "null");
		CHECK(json_array_size(sp) == 1 && json_integer_value(json_array_get(sp, 0)) == 1, "scanned_pages [1]");
		CHECK(how && strcmp(how, "ocr") == 0, "a misread scanner layer gives way to our OCR (%s)", how ? how : "null");
		const char *num = inv_str(j, "invoice_number", NULL);
		CHECK(num && strcmp(num, "RE-2024-0815") == 0, "number from our OCR, not the layer's RE-2024-08!5: %s", num ? num : "null");
		CHECK(inv_str(j, "source", NULL) && strcmp(inv_str(j, "source", NULL), "ocr") == 0, "source ocr");
		json_decref(j);
	}
	free(pdf); free(err); err = NULL;

	/* OCR off: the scanner's layer is read, and what comes from it is marked ocr */
	pdf = fx_scan_layer_pdf(text_pdf, tlen, 200, invoice_lines + 1, NLINES - 1, FX_LAYER_INVISIBLE, &n);
	j = pdf ? extract(pdf, n, EXTRACT_OCR_OFF, 0, &err) : NULL;
	if (j) {
		const char *how = meta_str_at(j, "page_readings", 0), *src = inv_str(j, "sources", "invoice_number");
		CHECK(how && strcmp(how, "scanner") == 0, "OCR off: the scanner's layer is read (%s)", how ? how : "null");
		CHECK(src && strcmp(src, "ocr") == 0, "a scanner's layer is OCR: sources.invoice_number %s", src ? src : "null");
		double c = json_real_value(json_object_get(json_object_get(json_object_get(j, "invoice"), "confidence"), "invoice_number"));
		CHECK(c < 0.7, "a number read from a scanner's layer (no word confidences) is for review (%.2f)", c);
	}
	CHECK(j != NULL, "scan with a clean layer, OCR off, extracts: %s", err ? err : "");
	json_decref(j);
	free(pdf); free(err); err = NULL;

	/* a clean layer over an image too coarse to read (40 dpi): the layer */
	pdf = fx_scan_layer_pdf(text_pdf, tlen, 40, invoice_lines + 1, NLINES - 1, FX_LAYER_INVISIBLE, &n);
	j = pdf ? extract(pdf, n, EXTRACT_OCR_AUTO, 0, &err) : NULL;
	if (j) {
		const char *how = meta_str_at(j, "page_readings", 0);
		CHECK(how && strcmp(how, "scanner") == 0, "a clean layer over an unreadable image is kept (%s)", how ? how : "null");
		const char *num = inv_str(j, "invoice_number", NULL);
		CHECK(num && strcmp(num, "RE-2024-0815") == 0, "number from the layer: %s", num ? num : "null");
	}
	CHECK(j != NULL, "coarse scan with a clean layer extracts: %s", err ? err : "");
	json_decref(j);
	free(pdf); free(err);
}

/* Middle dots of a separated line, misread, become U+00B7 again; at a line's end, no. */
static void test_fix_dots(void)
{
	const char *in[] = { "Hotel", "\xc2\xab", "Street", "\xc2\xb0", "10557", "Berlin", "\xc2\xbb" };
	const int line[] = { 0, 0, 0, 0, 0, 0, 0 };
	ocr_word w[7];
	memset(w, 0, sizeof w);
	for (int i = 0; i < 7; i++) { w[i].text = xstrdup(in[i]); w[i].line = line[i]; }
	ocr_fix_dots(w, 7);
	CHECK(strcmp(w[1].text, "\xc2\xb7") == 0 && strcmp(w[3].text, "\xc2\xb7") == 0, "\"Hotel \xc2\xab Street \xc2\xb0 10557\": dots (%s, %s)", w[1].text, w[3].text);
	CHECK(strcmp(w[6].text, "\xc2\xbb") == 0, "a guillemet ending the line stays");
	CHECK(strcmp(w[0].text, "Hotel") == 0 && strcmp(w[2].text, "Street") == 0, "words stay");
	for (int i = 0; i < 7; i++) free(w[i].text);
	/* between two lines: not a separator */
	ocr_word v[3];
	memset(v, 0, sizeof v);
	v[0].text = xstrdup("Hotel"); v[1].text = xstrdup("\xc2\xb0"); v[2].text = xstrdup("Street");
	v[2].line = 1;
	ocr_fix_dots(v, 3);
	CHECK(strcmp(v[1].text, "\xc2\xb0") == 0, "a degree sign at a line's end stays");
	for (int i = 0; i < 3; i++) free(v[i].text);
}

/* The quality measure's tokens (layer_quality.c). */
static void test_token_quality(void)
{
	static const struct { const char *t; int good; } c[] = {
		{ "Consulting", 1 }, { "GmbH", 1 }, { "APImeister", 1 }, { "INVOICE", 1 }, { "80,50", 1 },
		{ "18.11.2019", 1 }, { "DE254615074", 1 }, { "Berlin-Mitte", 1 }, { "\xe2\x82\xac" "221.00", 1 },
		{ "M\xc3\xbcller", 1 }, { "Consu!t!ng", 0 }, { "z!mmer", 0 }, { "sterConsul", 0 },
		{ "mOTEL", 0 }, { "1\xd9\xa5", 0 }, { "\xd0\x9e\xd0\x9f\xd0\x95", 0 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		CHECK(token_well_formed(c[i].t, strlen(c[i].t)) == c[i].good, "token \"%s\": %s", c[i].t, c[i].good ? "well-formed" : "misread");
}

int main(void)
{
	test_strip_rules();
	test_token_quality();
	test_fix_dots();
	size_t tlen = 0, slen = 0;
	unsigned char *text_pdf = fx_text_pdf(invoice_lines + 1, NLINES - 1, &tlen);
	CHECK(text_pdf != NULL, "text fixture");
	unsigned char *scan = text_pdf ? fx_scan_pdf(text_pdf, tlen, 200, &slen) : NULL;
	CHECK(scan != NULL, "scan fixture");
	if (text_pdf && scan) {
		test_words_and_positions(text_pdf, tlen, scan, slen);
		test_extract_scan(scan, slen);
		test_modes_on_text(text_pdf, tlen);
		test_scan_detector(text_pdf, tlen);
		test_scan_choice(text_pdf, tlen);
	}
	test_logo();
	test_unmappable();
	test_limits();
	free(text_pdf);
	free(scan);
	printf("test_ocr: %d passed, %d failed\n", passed, failed);
	return failed != 0;
}
