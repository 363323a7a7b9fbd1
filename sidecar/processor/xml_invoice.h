/* Structured invoice XML: CII (Factur-X / ZUGFeRD 1.0-2.x / XRechnung) and UBL 2.1. */
#ifndef IF_XML_INVOICE_H
#define IF_XML_INVOICE_H

#include <stddef.h>
#include <libxml/tree.h>

#include "invoice.h"

typedef enum { XML_NONE = 0, XML_CII, XML_UBL } xml_kind;

/*
 * Parses data (no network, no entity substitution, no DTD loading) and fills inv
 * with source "xml" when it is a CII or UBL invoice.  Returns its kind.
 */
xml_kind xml_invoice_parse(const unsigned char *data, size_t len, invoice *inv);

/* ---- helpers (xml_util.c) for xml_cii.c / xml_ubl.c ---- */

/* First child element whose local name is one of the '|'-separated names. */
xmlNode *xml_child(xmlNode *n, const char *names);
/* Follow a '/'-separated path of such steps from n. */
xmlNode *xml_path(xmlNode *n, const char *path);
/* Trimmed text content of the node at path (NULL when missing / empty); caller frees. */
char *xml_text(xmlNode *n, const char *path);
/* Attribute (no namespace) of node; caller frees. */
char *xml_attr(xmlNode *n, const char *name);
/* Next sibling element with the same local name as n. */
xmlNode *xml_next_same(xmlNode *n);
/* Local name equality. */
int xml_is(xmlNode *n, const char *name);

int cii_fill(xmlNode *root, invoice *inv);
int ubl_fill(xmlNode *root, invoice *inv);

/* Document type from a UNTDID 1001 code: 381, 384, ... -> "credit_note". */
const char *doc_type_from_code(const char *code);

#endif
