/* The VAT breakdown table of an invoice (tax_table.c): one row per rate with base and tax. */
#ifndef IF_TAX_TABLE_H
#define IF_TAX_TABLE_H

#include "pdf_doc.h"

typedef struct {
	int       rows;		/* rows found (0 = no table) */
	long long base, tax;	/* sums in cents */
	int       first_row, last_row;	/* tlayout rows of the table */
} tax_table;

/*
 * Finds the last block of consecutive rows (at most one other row between) that
 * each print a rate ("19 %", "7,00%") and two amounts base and tax with
 * base x rate = tax (to a cent per 100, rounding), every rate once.  A single row
 * must also print base + tax.  Item lines with a tax column pass the row test but
 * repeat rates or follow each other without a gross column, so they are not taken.
 * Returns 1 and fills *t when a table is found.
 */
int tax_table_find(const tlayout *l, tax_table *t);

/* The amounts (cents) and the rate (hundredths of a percent, -1 = none) printed in text s. */
int row_amounts(const char *s, long long *vals, int max, int *rate_bp);

#endif
