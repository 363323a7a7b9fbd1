/* Entry point: embedded XML first, text fallback, merge, consistency, review flag. */
#include "extract.h"
#include "invoice.h"
#include "parsers.h"
#include "pdf_doc.h"
#include "review.h"
#include "text_fields.h"
#include "util.h"
#include "xml_invoice.h"

#include <ctype.h>
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

int extract_document(const unsigned char *buf, size_t len, const extract_options *opt,
					 char **result_json, char **error)
{
	extract_options defaults = {0, 0};
	if (!opt) opt = &defaults;
	*result_json = NULL;
	*error = NULL;
	if (!buf || len < 8) { *error = xstrdup("unreadable PDF: empty or truncated file"); return 0; }

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
	if (!xml_name && lay.nsegs == 0) {
		*error = xstrdup("no text layer and no embedded invoice XML: scanned, empty or not an invoice");
		tlayout_free(&lay);
		invoice_free(&xinv);
		pdf_attachments_free(att, natt);
		pdfsrc_close(src);
		return 0;
	}

	invoice tinv; invoice_init(&tinv);
	text_extract_fields(&lay, &tinv);

	invoice *out;
	if (xml_name) {
		out = &xinv;
		out->source = SRC_XML;
		invoice_fill_from(out, &tinv);
	} else {
		out = &tinv;
		out->source = SRC_TEXT;
	}
	if (!out->f[F_DOCUMENT_TYPE].value) inv_set(out, F_DOCUMENT_TYPE, "invoice", 0.5, out->source);
	invoice_review(out);	/* review.c */

	char *text = tlayout_text(&lay);
	*result_json = result_to_json(out, text, pdfsrc_pages(src), pdfsrc_repaired(src), xml_name);
	free(text);

	tlayout_free(&lay);
	invoice_free(&tinv);
	invoice_free(&xinv);
	pdf_attachments_free(att, natt);
	pdfsrc_close(src);
	if (!*result_json) { *error = xstrdup("cannot encode the result as JSON"); return 0; }
	return 1;
}
