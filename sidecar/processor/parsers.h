/* Value parsers for the text path: amounts, dates, identifiers, currencies. */
#ifndef IF_PARSERS_H
#define IF_PARSERS_H

#include <stddef.h>

/* ---- amounts (parse_amount.c) ---- */

/*
 * Scan one amount starting exactly at s: optional sign or "(", optional currency
 * symbol, digits with group separators ("1.234,56", "1,234.56", "1 234,56",
 * "1'234.56"), decimal part, optional closing ")" or trailing "-".
 * require_decimals: the amount must carry a 1-2 digit decimal part (used when
 * scanning running text, where bare integers are ids, years or quantities).
 * Writes the canonical form ("-1234.56", "4.11", "1234") into out and returns
 * the number of bytes consumed, 0 when there is no amount at s.
 */
size_t amount_scan(const char *s, int require_decimals, char *out, size_t outsz);

/* Whole-string parse (surrounding white space and currency codes/symbols allowed). */
int amount_parse(const char *s, char *out, size_t outsz);

/* Decimal string to cents (rounded); returns 0 when unparsable. */
int amount_cents(const char *canon, long long *cents);
/* Format cents as "-12.34". */
void cents_format(long long cents, char *out, size_t outsz);

/* ---- dates (parse_date.c) ---- */

/*
 * Scan one date starting exactly at s.  Numeric forms: Y-M-D, D.M.Y, D/M/Y,
 * D-M-Y (two- or four-digit years), M/D/Y when us_order is set or when the
 * day-first reading is impossible.  Named months in EN, DE, FR, NL, ES, IT:
 * "7. Mai 2014", "7 mai 2014", "7 de mayo de 2014", "May 7, 2014",
 * "August 3 , 2014", "02-Jul-2015".  out receives "YYYY-MM-DD".
 * Returns bytes consumed or 0.
 */
size_t date_scan(const char *s, int us_order, char out[11]);
/* Whole-string parse, also "YYYYMMDD" (CII format 102). */
int date_parse(const char *s, int us_order, char out[11]);
/* First date anywhere in s; *pos gets its offset.  Returns bytes of the date or 0. */
size_t date_find(const char *s, int us_order, char out[11], size_t *pos);
/* Days since 1970-01-01 of a "YYYY-MM-DD" string (-1 when invalid). */
long date_days(const char *iso);
/* Month number 1..12 of a (folded, lowercase ASCII) month name or abbreviation, 0 if none. *len gets its length. */
int month_from_name(const char *folded, size_t *len);

/* ---- identifiers (parse_ids.c) ---- */

/* IBAN: letters+digits with optional spaces; 1 when the mod-97 check passes. */
int iban_valid(const char *s);
/* Scan an IBAN at s (groups of 4 separated by single spaces allowed); out gets the compact form. */
size_t iban_scan(const char *s, char *out, size_t outsz);
/* BIC / SWIFT: 8 or 11 chars, AAAABBCC(DDD). */
int bic_valid(const char *s);
/* VAT id (EU country prefix + 8-12 alnum, GB, CHE-...); out gets the compact form. */
size_t vat_scan(const char *s, char *out, size_t outsz);
int vat_valid(const char *s);

/* ISO 4217 code known to us (3 upper-case letters). */
int currency_is_code(const char *code);
/*
 * Currency at s: an ISO code as a whole word, a symbol ("€", "$", "£", "₹", "¥",
 * "US$", "Rs."), or a name ("Euro", "US Dollars").  Returns bytes consumed and
 * copies the ISO code into code[4]; 0 when none.
 */
size_t currency_scan(const char *s, char code[4]);

#endif
