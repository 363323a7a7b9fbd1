/* Entry point: embedded XML first, text fallback, merge, consistency, review flag. */
#include "extract.h"
#include "extract_ocr.h"
#include "invoice.h"
#include "parsers.h"
#include "pdf_doc.h"
#include "review.h"
#include "text_fields.h"
#include "util.h"
#include "xml_invoice.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Rank of an attachment name: the standard invoice XML names first, other .xml after. */
static int xml_rank(const char *name)
{
	static const char *known[] = { "factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "order-x.xml", NULL };
	for (int i = 0; known[i]; i++) if (strcasecmp(name, known[i]) == 0) return 0;
	size_t n = strlen(name);
	if (n >= 4 && strcasecmp(name + n - 4, ".xml") == 0) return 1;
	return 2;
}

static const char *find_xml(pdf_attachment *att, size_t n, invoice *inv)
{
	for (int rank = 0; rank < 3; rank++)
		for (size_t i = 0; i < n; i++) {
			if (xml_rank(att[i].name) != rank) continue;
			/* a non-.xml name is only tried when the content looks like XML */
			if (rank == 2) {
				const unsigned char *d = att[i].data;
				size_t k = 0;
				while (k < att[i].len && isspace(d[k])) k++;
				if (k + 3 < att[i].len && d[k] == 0xEF) k += 3;	/* BOM */
				if (k >= att[i].len || d[k] != '<') continue;
			}
			invoice tmp; invoice_init(&tmp);
			if (xml_invoice_parse(att[i].data, att[i].len, &tmp) != XML_NONE) {
				*inv = tmp;
				return att[i].name;
			}
			invoice_free(&tmp);
		}
	return NULL;
}

/* Key fields a second OCR pass looks for: a reading's score is the sum of their
 * confidences (0 when missing). */
static const field_id key_fields[] = { F_INVOICE_NUMBER, F_ISSUE_DATE, F_TOTAL, F_SELLER_NAME };
#define NKEY (sizeof key_fields / sizeof key_fields[0])

static double key_score(const invoice *inv)
{
	double s = 0;
	for (size_t i = 0; i < NKEY; i++) if (inv->f[key_fields[i]].value) s += inv->f[key_fields[i]].conf;
	return s;
}

/* 1: a key field is missing, 2: one is below the review threshold, 0: neither */
static int key_gap(const invoice *inv)
{
	int weak = 0;
	for (size_t i = 0; i < NKEY; i++) {
		if (!inv->f[key_fields[i]].value) return 1;
		if (inv->f[key_fields[i]].conf < REVIEW_MIN_CONF) weak = 2;
	}
	return weak;
}

static int field_count(const invoice *inv)
{
	int n = 0;
	for (int i = 0; i < F_COUNT; i++) n += inv->f[i].value != NULL;
	return n;
}

static int layout_has_ocr(const tlayout *l, int *all)
{
	size_t n = 0;
	for (size_t i = 0; i < l->nsegs; i++) n += l->segs[i].ocr;
	*all = l->nsegs > 0 && n == l->nsegs;
	return n > 0;
}

/* Fields read from OCR words.  The reader marks them itself where it can (SRC_OCR from
 * the segment's ocr flag); otherwise: every field of an all-OCR layout, and on a mixed
 * one the fields that the text layer alone (base) does not give the same way. */
static void mark_ocr(invoice *inv, const tlayout *l, const invoice *base)
{
	int all;
	if (!layout_has_ocr(l, &all)) return;
	for (int i = 0; i < F_COUNT; i++) {
		inv_field *f = &inv->f[i];
		if (!f->value || f->src != SRC_TEXT) continue;
		if (all || !base || !base->f[i].value || strcmp(base->f[i].value, f->value) != 0) f->src = SRC_OCR;
	}
	if (inv->nlines && inv->lines_src == SRC_TEXT && all) inv->lines_src = SRC_OCR;
}

/* The text path's reading, with OCR where the text layer falls short.  Returns the
 * invoice in *tinv and the layout it was read from in *lay. */
static void read_text(pdf_src *src, tlayout *lay, ocr_run *oc, int have_xml, invoice *tinv)
{
	ocr_pages(src, lay, oc);
	invoice_init(tinv);
	text_extract_fields(lay, tinv);

	invoice base; invoice_init(&base);
	int have_base = 0;
	/* a second chance from images when the text layer lacks a key field */
	int gap = have_xml || oc->mode != EXTRACT_OCR_AUTO ? 0 : key_gap(tinv);
	if (gap) {
		/* scanned pages for any gap; the first page's images (logos) only when a key
		 * field is missing or the seller's name is unsure: on a page with a usable
		 * text layer that is the one field an image often holds */
		int regions = gap == 1 || !tinv->f[F_SELLER_NAME].value || tinv->f[F_SELLER_NAME].conf < REVIEW_MIN_CONF;
		tlayout more;
		tlayout_copy(&more, lay);
		if (ocr_images(src, &more, oc, regions)) {
			invoice t2; invoice_init(&t2);
			text_extract_fields(&more, &t2);
			double k1 = key_score(tinv), k2 = key_score(&t2);
			if (k2 > k1 + 0.05 || (k2 >= k1 - 0.05 && field_count(&t2) > field_count(tinv))) {
				/* the reading without the new words tells which fields they gave */
				base = *tinv;
				have_base = 1;
				*tinv = t2;
				tlayout_free(lay);
				*lay = more;
				memset(&more, 0, sizeof more);
			} else {
				invoice_free(&t2);
			}
		}
		tlayout_free(&more);
	}
	if (!have_base && lay->ocr_pages > 0) {
		/* pages OCR'd up front: the text pages alone are the base */
		tlayout t; tlayout_copy(&t, lay);
		size_t k = 0;
		for (size_t i = 0; i < t.nsegs; i++) {
			if (t.segs[i].ocr) free(t.segs[i].text);
			else t.segs[k++] = t.segs[i];
		}
		t.nsegs = k;
		tlayout_build_rows(&t);
		text_extract_fields(&t, &base);
		have_base = 1;
		tlayout_free(&t);
	}
	mark_ocr(tinv, lay, have_base ? &base : NULL);
	invoice_free(&base);
}

/* Source of the whole reading: ocr when a key field or every word came from OCR. */
static field_src overall_source(const invoice *inv, const tlayout *l)
{
	int all;
	if (!layout_has_ocr(l, &all)) return SRC_TEXT;
	if (all) return SRC_OCR;
	const field_id key[] = { F_INVOICE_NUMBER, F_ISSUE_DATE, F_TOTAL };
	for (int i = 0; i < 3; i++) if (inv->f[key[i]].src == SRC_OCR) return SRC_OCR;
	return SRC_TEXT;
}

/* What the pages are and how each was read, beside the reader's meta:
 *   read_path      "ocr" when most pages need OCR (scans, no or an unusable text layer),
 *                  else "text": the path a document belongs to, whatever the OCR mode
 *   scanned_pages  1-based numbers of the pages that are scans (pdf_scan.c)
 *   page_readings  per page: "text", "ocr" (our OCR), "scanner" (a scan's own layer kept)
 *                  or "none" (a page that needed OCR and was not read)
 *   ocr_pages / ocr_pages_skipped  pages OCR'd, pages left unread for the limits */
static char *add_page_meta(char *json, const ocr_run *oc, const tlayout *l)
{
	if (!json) return json;
	json_t *j = json_loads(json, 0, NULL);
	json_t *meta = j ? json_object_get(j, "meta") : NULL;
	if (!json_is_object(meta)) { json_decref(j); return json; }
	json_t *scanned = json_array(), *readings = json_array();
	int ocr_path = 0;
	for (int pg = 0; pg < l->pages; pg++) {
		const tpage *p = &l->pinfo[pg];
		ocr_path += page_is_ocr_path(p);
		if (p->scan) json_array_append_new(scanned, json_integer(pg + 1));
		const char *how = p->ocr ? "ocr" : p->scanner_layer || (p->scan && p->chars > 0) ? "scanner"
			: page_is_ocr_path(p) ? "none" : "text";
		json_array_append_new(readings, json_string(how));
	}
	json_object_set_new(meta, "read_path", json_string(l->pages > 0 && ocr_path * 2 > l->pages ? "ocr" : "text"));
	json_object_set_new(meta, "scanned_pages", scanned);
	json_object_set_new(meta, "page_readings", readings);
	if (oc->used) json_object_set_new(meta, "ocr_pages", json_integer(oc->used));
	if (oc->stopped) json_object_set_new(meta, "ocr_pages_skipped", json_integer(oc->stopped));
	char *out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!out) return json;
	free(json);
	return out;
}

int extract_document(const unsigned char *buf, size_t len, const extract_options *opt,
					 char **result_json, char **error)
{
	extract_options defaults = {0};
	if (!opt) opt = &defaults;
	*result_json = NULL;
	*error = NULL;
	if (!buf || len < 8) { *error = xstrdup("unreadable PDF: empty or truncated file"); return 0; }

	ocr_run oc;
	if (!ocr_run_init(&oc, opt, error)) return 0;
	pdf_src *src;
	if (!pdfsrc_open(buf, len, &src, error)) return 0;

	invoice xinv; invoice_init(&xinv);
	const char *xml_name = NULL;
	pdf_attachment *att = NULL; size_t natt = 0;
	if (!opt->no_xml) {
		pdfsrc_attachments(src, &att, &natt);
		xml_name = find_xml(att, natt, &xinv);
	}

	tlayout lay;
	if (!pdfsrc_layout(src, opt->max_pages, &lay, error)) {
		if (!xml_name) {
			invoice_free(&xinv);
			pdf_attachments_free(att, natt);
			pdfsrc_close(src);
			return 0;
		}
		free(*error);
		*error = NULL;
		memset(&lay, 0, sizeof lay);
	}

	invoice tinv;
	read_text(src, &lay, &oc, xml_name != NULL, &tinv);
	if (!xml_name && lay.nsegs == 0) {
		if (oc.used > 0)
			*error = xstrdup(oc.error ? oc.error : "no text layer, no embedded invoice XML and OCR found no words: empty or not an invoice");
		else if (oc.stopped > 0)
			*error = xstrdup("no text layer and no embedded invoice XML, and no page could be OCR'd within the limits (PROCESSOR_OCR_MAX_PAGES, CPU time)");
		else
			*error = xstrdup("no text layer and no embedded invoice XML: scanned, empty or not an invoice");
		invoice_free(&tinv);
		ocr_run_free(&oc);
		tlayout_free(&lay);
		invoice_free(&xinv);
		pdf_attachments_free(att, natt);
		pdfsrc_close(src);
		return 0;
	}

	invoice *out;
	if (xml_name) {
		out = &xinv;
		out->source = SRC_XML;
		invoice_fill_from(out, &tinv);
	} else {
		out = &tinv;
		out->source = overall_source(out, &lay);
	}
	if (!out->f[F_DOCUMENT_TYPE].value) inv_set(out, F_DOCUMENT_TYPE, "invoice", 0.5, out->source);
	invoice_review(out);	/* review.c */

	char *text = tlayout_text(&lay);
	*result_json = result_to_json(out, text, pdfsrc_pages(src), pdfsrc_repaired(src), xml_name);
	*result_json = add_page_meta(*result_json, &oc, &lay);
	free(text);

	ocr_run_free(&oc);
	tlayout_free(&lay);
	invoice_free(&tinv);
	invoice_free(&xinv);
	pdf_attachments_free(att, natt);
	pdfsrc_close(src);
	if (!*result_json) { *error = xstrdup("cannot encode the result as JSON"); return 0; }
	return 1;
}
