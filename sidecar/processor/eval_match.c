/* Matching rules of the eval (eval_match.h): the same for every view. */
#include "eval_match.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const eval_field eval_fields[] = {
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


const char *eval_get_path(json_t *inv, const char *path)
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

int eval_name_match(const char *exp, const char *got)
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

int eval_value_match(int kind, const char *exp, const char *got)
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
		return eval_name_match(exp, got);
	case K_AMOUNT: {
		char a[80], b[80];
		return dec_norm(exp, a, sizeof a) && dec_norm(got, b, sizeof b) && strcmp(a, b) == 0;
	}
	}
	return 0;
}

/* Matches expected lines (array of {description, net_amount}) against got; returns matched. */
int eval_lines_match(json_t *exp, json_t *got)
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
			if (gd && gn && eval_value_match(K_AMOUNT, en, gn) && eval_name_match(ed, gd)) { used[j] = 1; m++; break; }
		}
	}
	free(used);
	return m;
}

