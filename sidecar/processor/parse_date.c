/* Date parsing: numeric and named-month forms in six languages. */
#include "parsers.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Folded (lowercase, accent-free) month names; abbreviations are prefixes of >= 3 letters. */
static const struct { const char *name; int month; } months[] = {
	/* English */
	{"january",1},{"february",2},{"march",3},{"april",4},{"may",5},{"june",6},{"july",7},
	{"august",8},{"september",9},{"october",10},{"november",11},{"december",12},{"sept",9},
	/* German */
	{"januar",1},{"janner",1},{"februar",2},{"marz",3},{"maerz",3},{"mai",5},{"juni",6},{"juli",7},
	{"oktober",10},{"dezember",12},
	/* French */
	{"janvier",1},{"fevrier",2},{"mars",3},{"avril",4},{"juin",6},{"juillet",7},{"aout",8},
	{"septembre",9},{"octobre",10},{"novembre",11},{"decembre",12},
	/* Dutch */
	{"januari",1},{"februari",2},{"maart",3},{"mei",5},{"augustus",8},{"oktober",10},
	/* Spanish */
	{"enero",1},{"febrero",2},{"marzo",3},{"abril",4},{"mayo",5},{"junio",6},{"julio",7},
	{"agosto",8},{"septiembre",9},{"setiembre",9},{"octubre",10},{"noviembre",11},{"diciembre",12},
	/* Italian */
	{"gennaio",1},{"febbraio",2},{"aprile",4},{"maggio",5},{"giugno",6},{"luglio",7},
	{"settembre",9},{"ottobre",10},{"dicembre",12},
	{NULL,0}
};

/* Common abbreviations (3-4 letters, optional trailing '.'). */
static const struct { const char *abbr; int month; } abbrs[] = {
	{"jan",1},{"feb",2},{"fev",2},{"mar",3},{"mrz",3},{"apr",4},{"avr",4},{"abr",4},{"jun",6},
	{"jul",7},{"juil",7},{"aug",8},{"ago",8},{"sep",9},{"set",9},{"oct",10},{"okt",10},{"ott",10},
	{"nov",11},{"dec",12},{"dez",12},{"dic",12},{"ene",1},{"gen",1},{"mag",5},{"giu",6},{"lug",7},
	{"mei",5},{"mai",5},{"may",5},{"janv",1},{"fevr",2},{"sept",9},{NULL,0}
};

int month_from_name(const char *f, size_t *len)
{
	size_t n = 0;
	while (isalpha((unsigned char) f[n])) n++;
	if (n < 3) return 0;
	for (int i = 0; months[i].name; i++)
		if (strlen(months[i].name) == n && strncmp(f, months[i].name, n) == 0) { *len = n; return months[i].month; }
	for (int i = 0; abbrs[i].abbr; i++)
		if (strlen(abbrs[i].abbr) == n && strncmp(f, abbrs[i].abbr, n) == 0) {
			*len = n + (f[n] == '.' ? 1 : 0);
			return abbrs[i].month;
		}
	return 0;
}

static int days_in_month(int y, int m)
{
	static const int d[] = {31,28,31,30,31,30,31,31,30,31,30,31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
	return d[m - 1];
}

static int valid_ymd(int y, int m, int d)
{
	return y >= 1900 && y <= 2199 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

static int fix_year(int y, int ndigits)
{
	if (ndigits == 2) return y < 70 ? 2000 + y : 1900 + y;
	return y;
}

static size_t num(const char *s, int *v, int maxd)
{
	size_t i = 0; *v = 0;
	while (isdigit((unsigned char) s[i]) && (int) i < maxd) { *v = *v * 10 + (s[i] - '0'); i++; }
	if (isdigit((unsigned char) s[i])) return 0;
	return i;
}

/* White space (incl. NBSP) at s; returns bytes. */
static size_t sp(const char *s)
{
	size_t i = 0;
	for (;;) {
		if (s[i] == ' ' || s[i] == '\t') i++;
		else if ((unsigned char) s[i] == 0xC2 && (unsigned char) s[i + 1] == 0xA0) i += 2;
		else break;
	}
	return i;
}

static void emit(char out[11], int y, int m, int d)
{
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned) y % 10000u, (unsigned) m % 100u, (unsigned) d % 100u);
}

/* Named month at s (original UTF-8); returns bytes consumed and month via *m. */
static size_t month_at(const char *s, int *m)
{
	char buf[32]; size_t bl = 0, i = 0;
	size_t srcoff[32];
	while (s[i] && bl < sizeof buf - 1) {
		int l;
		unsigned cp = utf8_decode(s + i, &l);
		char c;
		if (cp < 0x80 && (isalpha((int) cp) || cp == '.')) c = (char) tolower((int) cp);
		else if (cp == 0xE9 || cp == 0xC9) c = 'e';
		else if (cp == 0xFB || cp == 0xDB) c = 'u';
		else if (cp == 0xE4 || cp == 0xC4) c = 'a';
		else break;
		srcoff[bl] = i;
		buf[bl++] = c;
		i += l;
		if (c == '.') break;
	}
	buf[bl] = 0;
	size_t len;
	int mo = month_from_name(buf, &len);
	if (!mo) return 0;
	*m = mo;
	return len < bl ? srcoff[len] : i;
}

size_t date_scan(const char *s, int us_order, char out[11])
{
	int a, b, c;
	size_t la, lb, lc, i;

	if (!isalnum((unsigned char) s[0])) return 0;
	if (isdigit((unsigned char) s[0])) {
		la = num(s, &a, 4);
		if (!la) return 0;
		i = la;
		char sep = s[i];
		if ((sep == '-' || sep == '/' || sep == '.') && isdigit((unsigned char) s[i + 1])) {
			lb = num(s + i + 1, &b, 2);
			if (!lb || s[i + 1 + lb] != sep) goto named;
			lc = num(s + i + 2 + lb, &c, 4);
			if (!lc || lc == 1 || lc == 3) return 0;
			size_t end = i + 2 + lb + lc;
			if (isalnum((unsigned char) s[end]) || ((s[end] == '.' || s[end] == '/' || s[end] == '-') && isdigit((unsigned char) s[end + 1]))) return 0;
			if (la == 4) {		/* Y-M-D */
				if (!valid_ymd(a, b, c)) return 0;
				emit(out, a, b, c);
				return end;
			}
			if (la > 2) return 0;
			int y = fix_year(c, (int) lc);
			/* day-first unless US order is preferred or day-first is impossible */
			int dm_ok = valid_ymd(y, b, a), md_ok = valid_ymd(y, a, b);
			if (sep == '.') md_ok = 0;	/* dotted dates are always day-first */
			if (us_order && md_ok) { emit(out, y, a, b); return end; }
			if (dm_ok) { emit(out, y, b, a); return end; }
			if (md_ok) { emit(out, y, a, b); return end; }
			return 0;
		}
named:
		/* D[.] [de] Month[,] [de] YYYY */
		if (la > 2) return 0;
		i = la;
		if (s[i] == '.') i++;
		if (s[i] == 'e' && s[i + 1] == 'r') i += 2;	/* 1er */
		if (strncmp(s + i, "st", 2) == 0 || strncmp(s + i, "nd", 2) == 0 || strncmp(s + i, "rd", 2) == 0 || strncmp(s + i, "th", 2) == 0) i += 2;
		size_t w = sp(s + i);
		if (s[i + w] == '-') w++;
		i += w;
		if (strncmp(s + i, "de ", 3) == 0) i += 3;
		int m;
		size_t ml = month_at(s + i, &m);
		if (!ml) return 0;
		i += ml;
		if (s[i] == ',') i++;
		w = sp(s + i);
		if (s[i + w] == '-') w++;
		w += sp(s + i + w);
		i += w;
		if (strncmp(s + i, "de ", 3) == 0 || strncmp(s + i, "del ", 4) == 0) i += s[i + 2] == ' ' ? 3 : 4;
		int y;
		size_t ly = num(s + i, &y, 4);
		if (ly != 4 && ly != 2) return 0;
		if (ly == 2 && w == 0) return 0;
		y = fix_year(y, (int) ly);
		if (!valid_ymd(y, m, a)) return 0;
		emit(out, y, m, a);
		return i + ly;
	}
	/* Month D[,] YYYY ; also "August 3 , 2014" */
	int m;
	size_t ml = month_at(s, &m);
	if (!ml) return 0;
	i = ml;
	size_t w = sp(s + i);
	if (!w) return 0;
	i += w;
	int d;
	size_t ld = num(s + i, &d, 2);
	if (!ld) return 0;
	i += ld;
	if (strncmp(s + i, "st", 2) == 0 || strncmp(s + i, "nd", 2) == 0 || strncmp(s + i, "rd", 2) == 0 || strncmp(s + i, "th", 2) == 0) i += 2;
	i += sp(s + i);
	if (s[i] == ',') i++;
	i += sp(s + i);
	int y;
	size_t ly = num(s + i, &y, 4);
	if (ly != 4) return 0;
	if (!valid_ymd(y, m, d)) return 0;
	emit(out, y, m, d);
	return i + ly;
}

int date_parse(const char *s, int us_order, char out[11])
{
	if (!s) return 0;
	while (isspace((unsigned char) *s)) s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char) s[n - 1])) n--;
	if (n == 8) {
		int ok = 1;
		for (int i = 0; i < 8; i++) if (!isdigit((unsigned char) s[i])) ok = 0;
		if (ok) {
			int y = atoi((char[]) {s[0], s[1], s[2], s[3], 0});
			int m = (s[4] - '0') * 10 + (s[5] - '0');
			int d = (s[6] - '0') * 10 + (s[7] - '0');
			if (!valid_ymd(y, m, d)) return 0;
			emit(out, y, m, d);
			return 1;
		}
	}
	/* ISO date-time: take the date part */
	if (n >= 10 && isdigit((unsigned char) s[0]) && s[4] == '-' && s[7] == '-') {
		char tmp[11]; memcpy(tmp, s, 10); tmp[10] = 0;
		size_t l = date_scan(tmp, 0, out);
		return l == 10;
	}
	size_t l = date_scan(s, us_order, out);
	return l && l == n;
}

size_t date_find(const char *s, int us_order, char out[11], size_t *pos)
{
	for (size_t i = 0; s[i]; i++) {
		if (i > 0 && isalnum((unsigned char) s[i - 1])) continue;
		if ((unsigned char) s[i] >= 0x80) continue;
		size_t l = date_scan(s + i, us_order, out);
		if (l) { if (pos) *pos = i; return l; }
	}
	return 0;
}

long date_days(const char *iso)
{
	int y, m, d;
	if (!iso || sscanf(iso, "%4d-%2d-%2d", &y, &m, &d) != 3 || !valid_ymd(y, m, d)) return -1;
	/* days from civil (Howard Hinnant) */
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}
