/* Amount parsing: every common European / Anglo-Saxon grouping style. */
#include "parsers.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A currency symbol at s (UTF-8); returns its byte length or 0. */
static size_t symbol_len(const char *s)
{
	static const char *syms[] = { "US$", "\xe2\x82\xac", "\xc2\xa3", "\xe2\x82\xb9", "\xc2\xa5", "$", "Rs.", "Rs", NULL };
	for (int i = 0; syms[i]; i++) {
		size_t l = strlen(syms[i]);
		if (strncmp(s, syms[i], l) == 0) return l;
	}
	return 0;
}

/* Group-separator at s: returns its byte length, kind in *k ('.', ',', ' ', '\''). */
static size_t sep_at(const char *s, char *k)
{
	unsigned char c = (unsigned char) s[0];
	if (c == '.' || c == ',' || c == '\'' || c == ' ') { *k = (char) c; return 1; }
	if (c == 0xC2 && (unsigned char) s[1] == 0xA0) { *k = ' '; return 2; }	/* NBSP */
	if (c == 0xE2 && (unsigned char) s[1] == 0x80 && ((unsigned char) s[2] == 0xAF || (unsigned char) s[2] == 0x89)) { *k = ' '; return 3; }
	if (c == 0xE2 && (unsigned char) s[1] == 0x80 && (unsigned char) s[2] == 0x99) { *k = '\''; return 3; }	/* ’ */
	return 0;
}

static size_t skip_sp(const char *s)
{
	size_t i = 0;
	while (s[i] == ' ' || ((unsigned char) s[i] == 0xC2 && (unsigned char) s[i + 1] == 0xA0)) i += s[i] == ' ' ? 1 : 2;
	return i;
}

size_t amount_scan(const char *s, int require_decimals, char *out, size_t outsz)
{
	size_t i = 0;
	int neg = 0, paren = 0;

	if (s[i] == '(') { paren = 1; i++; i += skip_sp(s + i); }
	if (s[i] == '-' || s[i] == '+') { neg = s[i] == '-'; i++; }
	else if ((unsigned char) s[i] == 0xE2 && (unsigned char) s[i + 1] == 0x88 && (unsigned char) s[i + 2] == 0x92) { neg = 1; i += 3; }
	size_t sl = symbol_len(s + i);
	if (sl) {
		i += sl;
		i += skip_sp(s + i);
		if (!neg && (s[i] == '-' || s[i] == '+')) { neg = s[i] == '-'; i++; }
	}
	if (!isdigit((unsigned char) s[i])) return 0;

	/* Collect digit groups and the separators between them. */
	char digits[64]; size_t nd = 0;
	size_t gstart[16], glen[16]; char gsep[16]; int ng = 0;
	size_t end = i;
	for (;;) {
		size_t st = nd;
		while (isdigit((unsigned char) s[i])) {
			if (nd < sizeof digits - 1) digits[nd++] = s[i];
			i++;
		}
		if (ng == 16) return 0;
		gstart[ng] = st; glen[ng] = nd - st; gsep[ng] = 0; ng++;
		end = i;
		char k;
		size_t l = sep_at(s + i, &k);
		if (!l || !isdigit((unsigned char) s[i + l])) break;
		gsep[ng - 1] = k;
		i += l;
	}
	/* Decide which separator (if any) is the decimal point: the last one,
	 * when followed by 1-2 digits, or when it differs from the earlier ones. */
	int dec = -1;		/* index of group that is the fraction */
	if (ng >= 2) {
		char last = gsep[ng - 2];
		size_t fl = glen[ng - 1];
		int others_same = 1, others_any = 0;
		for (int g = 0; g < ng - 2; g++) { others_any = 1; if (gsep[g] != last) others_same = 0; }
		if (last != ' ' && last != '\'' && (fl <= 2 || (others_any && !others_same) || fl > 3))
			dec = ng - 1;
	}
	/* Validate grouping of the integer part: groups after the first have 3 digits. */
	int nint = dec >= 0 ? dec : ng;
	for (int g = 1; g < nint; g++)
		if (glen[g] != 3) {
			/* "1 278.61" style in running text: stop the amount before the bad group. */
			return 0;
		}
	if (nint > 1 && glen[0] > 3) return 0;
	/* Space grouping in running text only together with a decimal comma. */
	if (require_decimals && nint > 1 && gsep[0] == ' ' && !(dec >= 0 && gsep[dec - 1] == ',')) return 0;
	if (require_decimals && (dec < 0 || glen[dec] != 2)) return 0;
	if (dec >= 0 && glen[dec] > 4) return 0;

	/* Closing parenthesis / trailing minus. */
	size_t j = end;
	if (paren) {
		size_t k = j + skip_sp(s + j);
		if (s[k] == ')') { neg = 1; j = k + 1; }
		else if (!neg) { /* "(" without ")" was not a sign */ }
	}
	if (s[j] == '-' && !isdigit((unsigned char) s[j + 1]) && !neg && !isalpha((unsigned char) s[j + 1])) { neg = 1; j++; }
	/* Not part of a longer token: "12.34.56", "12,34abc", "12.34%". */
	if (isalnum((unsigned char) s[j]) && !(s[j] == 'E' || s[j] == 'U')) { /* EUR/USD glued: allow */
		if (isdigit((unsigned char) s[j])) return 0;
	}
	if ((s[j] == '.' || s[j] == ',') && isdigit((unsigned char) s[j + 1])) return 0;

	char buf[80]; size_t bl = 0;
	if (neg) buf[bl++] = '-';
	for (int g = 0; g < nint; g++) {
		memcpy(buf + bl, digits + gstart[g], glen[g]);
		bl += glen[g];
	}
	/* strip leading zeros of the integer part, keep one */
	size_t z = neg ? 1 : 0;
	while (bl - z > 1 && buf[z] == '0') { memmove(buf + z, buf + z + 1, bl - z - 1); bl--; }
	if (dec >= 0) {
		buf[bl++] = '.';
		memcpy(buf + bl, digits + gstart[dec], glen[dec]);
		bl += glen[dec];
	}
	buf[bl] = 0;
	if (strcmp(buf, "-0") == 0 || strcmp(buf, "-0.00") == 0 || strcmp(buf, "-0.0") == 0) memmove(buf, buf + 1, bl);
	if (out && outsz) snprintf(out, outsz, "%s", buf);
	return j;
}

int amount_parse(const char *s, char *out, size_t outsz)
{
	if (!s) return 0;
	while (isspace((unsigned char) *s)) s++;
	/* leading ISO code: "EUR 12,00" */
	if (isupper((unsigned char) s[0]) && isupper((unsigned char) s[1]) && isupper((unsigned char) s[2]) && s[3] == ' ') s += 4;
	while (isspace((unsigned char) *s)) s++;
	size_t n = amount_scan(s, 0, out, outsz);
	if (!n) return 0;
	s += n;
	while (isspace((unsigned char) *s)) s++;
	char code[4];
	size_t c = currency_scan(s, code);
	s += c;
	while (isspace((unsigned char) *s)) s++;
	return *s == 0;
}

int amount_cents(const char *canon, long long *cents)
{
	if (!canon) return 0;
	const char *p = canon;
	int neg = 0;
	while (isspace((unsigned char) *p)) p++;
	if (*p == '-') { neg = 1; p++; } else if (*p == '+') p++;
	if (!isdigit((unsigned char) *p) && *p != '.') return 0;
	long long ip = 0;
	while (isdigit((unsigned char) *p)) { ip = ip * 10 + (*p - '0'); p++; if (ip > 100000000000000LL) return 0; }
	long long frac = 0; int fd = 0, round_up = 0;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char) *p)) {
			if (fd < 2) { frac = frac * 10 + (*p - '0'); fd++; }
			else if (fd == 2) { round_up = *p >= '5'; fd++; }
			p++;
		}
	}
	while (isspace((unsigned char) *p)) p++;
	if (*p) return 0;
	if (fd == 1) frac *= 10;
	long long v = ip * 100 + frac + round_up;
	*cents = neg ? -v : v;
	return 1;
}

void cents_format(long long c, char *out, size_t outsz)
{
	int neg = c < 0;
	unsigned long long a = neg ? (unsigned long long) (-c) : (unsigned long long) c;
	snprintf(out, outsz, "%s%llu.%02llu", neg ? "-" : "", a / 100, a % 100);
}
