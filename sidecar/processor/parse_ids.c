/* Identifiers: IBAN (ISO 13616 mod-97), BIC, VAT ids, currency codes and symbols. */
#include "parsers.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* IBAN lengths per country (subset: SEPA and common others). */
static const struct { const char cc[3]; int len; } iban_len[] = {
	{"AD",24},{"AE",23},{"AT",20},{"BE",16},{"BG",22},{"CH",21},{"CY",28},{"CZ",24},{"DE",22},
	{"DK",18},{"EE",20},{"ES",24},{"FI",18},{"FR",27},{"GB",22},{"GI",23},{"GR",27},{"HR",21},
	{"HU",28},{"IE",22},{"IS",26},{"IT",27},{"LI",21},{"LT",20},{"LU",20},{"LV",21},{"MC",27},
	{"MT",31},{"NL",18},{"NO",15},{"PL",28},{"PT",25},{"RO",24},{"SE",24},{"SI",19},{"SK",24},
	{"SM",27},{"TR",26},{"VA",22},{"SA",24},{"IL",23},{"",0}
};

static int iban_expected_len(const char *cc)
{
	for (int i = 0; iban_len[i].len; i++)
		if (cc[0] == iban_len[i].cc[0] && cc[1] == iban_len[i].cc[1]) return iban_len[i].len;
	return 0;
}

int iban_valid(const char *s)
{
	char c[40]; size_t n = 0;
	for (; *s; s++) {
		if (*s == ' ') continue;
		if (!isalnum((unsigned char) *s) || n >= sizeof c - 1) return 0;
		c[n++] = (char) toupper((unsigned char) *s);
	}
	c[n] = 0;
	if (n < 15 || n > 34 || !isalpha((unsigned char) c[0]) || !isalpha((unsigned char) c[1]) ||
		!isdigit((unsigned char) c[2]) || !isdigit((unsigned char) c[3])) return 0;
	int el = iban_expected_len(c);
	if (el && (int) n != el) return 0;
	unsigned rem = 0;
	for (size_t k = 0; k < n; k++) {
		char ch = c[(k + 4) % n];
		if (isdigit((unsigned char) ch)) rem = (rem * 10 + (ch - '0')) % 97;
		else if (isupper((unsigned char) ch)) rem = (rem * 100 + (ch - 'A' + 10)) % 97;
		else return 0;
	}
	return rem == 1;
}

size_t iban_scan(const char *s, char *out, size_t outsz)
{
	if (!isalpha((unsigned char) s[0]) || !isalpha((unsigned char) s[1]) ||
		!isdigit((unsigned char) s[2]) || !isdigit((unsigned char) s[3])) return 0;
	char c[40]; size_t n = 0, i = 0;
	size_t best = 0; char bestc[40] = "";
	while (s[i] && n < 34) {
		if (s[i] == ' ' && isalnum((unsigned char) s[i + 1]) && n % 4 == 0) { i++; continue; }
		if (!isalnum((unsigned char) s[i])) break;
		c[n++] = (char) toupper((unsigned char) s[i]);
		i++;
		c[n] = 0;
		if (n >= 15 && !isalnum((unsigned char) s[i]) && iban_valid(c)) { best = i; memcpy(bestc, c, n + 1); }
	}
	if (!best) return 0;
	if (out) snprintf(out, outsz, "%s", bestc);
	return best;
}

int bic_valid(const char *s)
{
	size_t n = strlen(s);
	if (n != 8 && n != 11) return 0;
	for (int i = 0; i < 6; i++) if (!isupper((unsigned char) s[i])) return 0;
	for (size_t i = 6; i < n; i++) if (!isupper((unsigned char) s[i]) && !isdigit((unsigned char) s[i])) return 0;
	return 1;
}

static const char *vat_cc[] = {
	"AT","BE","BG","CY","CZ","DE","DK","EE","EL","ES","FI","FR","GB","HR","HU","IE","IT","LT",
	"LU","LV","MT","NL","PL","PT","RO","SE","SI","SK","XI","CH","NO", NULL
};

int vat_valid(const char *s)
{
	int ok = 0;
	for (int i = 0; vat_cc[i]; i++) if (strncmp(s, vat_cc[i], 2) == 0) ok = 1;
	if (!ok) return 0;
	size_t n = strlen(s), digits = 0;
	if (n < 10 || n > 16) return 0;
	for (size_t i = 2; i < n; i++) {
		if (!isalnum((unsigned char) s[i])) return 0;
		if (isdigit((unsigned char) s[i])) digits++;
	}
	return digits >= 7;
}

size_t vat_scan(const char *s, char *out, size_t outsz)
{
	if (!isupper((unsigned char) s[0]) || !isupper((unsigned char) s[1])) return 0;
	char c[24]; size_t n = 0, i = 0, last_ok = 0;
	char best[24] = "";
	c[n++] = s[0]; c[n++] = s[1]; i = 2;
	/* CHE-123.456.789 (MWST|TVA|IVA) */
	if (s[0] == 'C' && s[1] == 'H' && s[2] == 'E') { c[n++] = 'E'; i = 3; }
	if (s[i] == ' ' || s[i] == '-') i++;
	while (s[i] && n < sizeof c - 1) {
		if ((s[i] == ' ' || s[i] == '.' || s[i] == '-') && isalnum((unsigned char) s[i + 1]) && isdigit((unsigned char) s[i - 1])) { i++; continue; }
		if (!isupper((unsigned char) s[i]) && !isdigit((unsigned char) s[i])) break;
		c[n++] = s[i++];
		c[n] = 0;
		if (!isalnum((unsigned char) s[i]) && (vat_valid(c) || (c[0] == 'C' && c[2] == 'E' && n == 12))) { last_ok = i; memcpy(best, c, n + 1); }
	}
	if (!last_ok) return 0;
	/* must be a digit-bearing token after the prefix */
	if (out) snprintf(out, outsz, "%s", best);
	return last_ok;
}

static const char *codes[] = {
	"EUR","USD","GBP","CHF","INR","JPY","CNY","CAD","AUD","NZD","SEK","NOK","DKK","PLN","CZK",
	"HUF","RON","BGN","HRK","TRY","RUB","BRL","MXN","ZAR","SGD","HKD","KRW","AED","SAR","ILS",
	"THB","MYR","IDR","PHP","ISK","ARS","CLP","COP","PEN","TWD","VND","EGP","NGN","KES","MAD", NULL
};

int currency_is_code(const char *code)
{
	for (int i = 0; codes[i]; i++) if (strncmp(code, codes[i], 3) == 0 && !isalpha((unsigned char) code[3])) return 1;
	return 0;
}

size_t currency_scan(const char *s, char code[4])
{
	static const struct { const char *t; const char *code; int ci; } syms[] = {
		{"US$", "USD", 0}, {"A$", "AUD", 0}, {"C$", "CAD", 0}, {"CA$", "CAD", 0}, {"HK$", "HKD", 0},
		{"\xe2\x82\xac", "EUR", 0}, {"\xc2\xa3", "GBP", 0}, {"\xe2\x82\xb9", "INR", 0},
		{"\xc2\xa5", "JPY", 0}, {"$", "USD", 0}, {"Rs.", "INR", 0}, {"Rs ", "INR", 0},
		{"euros", "EUR", 1}, {"euro", "EUR", 1}, {"us dollars", "USD", 1}, {"us dollar", "USD", 1},
		{"pounds sterling", "GBP", 1}, {"rupees", "INR", 1}, {"sfr.", "CHF", 1}, {"fr.", "CHF", 0},
		{NULL, NULL, 0}
	};
	if (isupper((unsigned char) s[0]) && isupper((unsigned char) s[1]) && isupper((unsigned char) s[2]) &&
		!isalnum((unsigned char) s[3]) && currency_is_code(s)) {
		memcpy(code, s, 3); code[3] = 0;
		return 3;
	}
	for (int i = 0; syms[i].t; i++) {
		size_t l = strlen(syms[i].t);
		if (syms[i].ci ? strncasecmp(s, syms[i].t, l) == 0 : strncmp(s, syms[i].t, l) == 0) {
			if (syms[i].ci && isalpha((unsigned char) s[l])) continue;
			memcpy(code, syms[i].code, 4);
			return l;
		}
	}
	return 0;
}
