/* libxml2 parsing with safe options, and local-name navigation. */
#include "xml_invoice.h"
#include "util.h"

#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

int xml_is(xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *) n->name, name) == 0;
}

static int name_in(const xmlChar *name, const char *names)
{
	size_t nl = strlen((const char *) name);
	const char *p = names;
	while (*p) {
		const char *e = strchr(p, '|');
		size_t l = e ? (size_t) (e - p) : strlen(p);
		if (l == nl && strncmp(p, (const char *) name, l) == 0) return 1;
		if (!e) break;
		p = e + 1;
	}
	return 0;
}

xmlNode *xml_child(xmlNode *n, const char *names)
{
	if (!n) return NULL;
	for (xmlNode *c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && name_in(c->name, names)) return c;
	return NULL;
}

xmlNode *xml_path(xmlNode *n, const char *path)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s", path);
	char *save = NULL;
	for (char *step = strtok_r(buf, "/", &save); step && n; step = strtok_r(NULL, "/", &save))
		n = xml_child(n, step);
	return n;
}

char *xml_text(xmlNode *n, const char *path)
{
	if (path && *path) n = xml_path(n, path);
	if (!n) return NULL;
	xmlChar *c = xmlNodeGetContent(n);
	if (!c) return NULL;
	char *r = trim_dup((const char *) c);
	xmlFree(c);
	return r;
}

char *xml_attr(xmlNode *n, const char *name)
{
	if (!n) return NULL;
	xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *) name);
	if (!v) return NULL;
	char *r = trim_dup((const char *) v);
	xmlFree(v);
	return r;
}

xmlNode *xml_next_same(xmlNode *n)
{
	for (xmlNode *c = n->next; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, n->name)) return c;
	return NULL;
}

const char *doc_type_from_code(const char *code)
{
	static const char *credit[] = { "381", "384", "261", "262", "296", "308", "396", "420", "458", "532", NULL };
	if (!code) return "invoice";
	for (int i = 0; credit[i]; i++) if (strcmp(code, credit[i]) == 0) return "credit_note";
	return "invoice";
}

static void silent(void *ctx, const char *msg, ...) { (void) ctx; (void) msg; }

xml_kind xml_invoice_parse(const unsigned char *data, size_t len, invoice *inv)
{
	if (!data || len == 0 || len > (64u << 20)) return XML_NONE;
	xmlSetGenericErrorFunc(NULL, silent);
	/* NONET: no network; no NOENT (entities are not substituted); no DTDLOAD / DTDATTR. */
	xmlDoc *doc = xmlReadMemory((const char *) data, (int) len, "invoice.xml", NULL,
								XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);
	if (!doc) return XML_NONE;
	xmlNode *root = xmlDocGetRootElement(doc);
	xml_kind k = XML_NONE;
	const char *ns = root && root->ns && root->ns->href ? (const char *) root->ns->href : "";
	if (root && (xml_is(root, "CrossIndustryInvoice") || xml_is(root, "CrossIndustryDocument")) &&
		(strstr(ns, "uncefact") || strstr(ns, "ferd") || !*ns)) {
		if (cii_fill(root, inv)) k = XML_CII;
	} else if (root && (xml_is(root, "Invoice") || xml_is(root, "CreditNote")) && strstr(ns, "oasis")) {
		if (ubl_fill(root, inv)) k = XML_UBL;
	}
	xmlFreeDoc(doc);
	return k;
}
