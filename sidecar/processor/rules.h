/*
 * The text reader's rules by id (rules.c), so that the eval can switch them off:
 * each rule lists the corpus files that needed it (measured by switching it off
 * alone, `invoiceflow-eval --ablate`); the cross-validated score of a file is
 * taken with the rules switched off that only its own vendor needed.
 */
#ifndef IF_RULES_H
#define IF_RULES_H

typedef enum {
	R_VALUE_RIGHT,		/* a label's value is right of it on its row */
	R_VALUE_BELOW,		/* ... or below it in the same column */
	R_NUMBER_INLINE,	/* "Invoice INV-1": the title word followed by the number */
	R_DATE_AFTER_NUMBER,	/* "Rechnung Nr. 1 vom 07.05.2024" */
	R_FIRST_DATE,		/* no issue-date label: the first date on page 1, low confidence */
	R_AMOUNT_TRIPLE,	/* net + tax = total picks the candidates */
	R_AMOUNT_DERIVE,	/* a missing amount from the other two */
	R_NO_TAX,		/* no tax amount printed: net = total, tax 0 (low confidence) */
	R_TAX_TABLE,		/* the VAT breakdown table: base x rate = tax per row, sums check the totals */
	R_LINES_SUM,		/* item lines adding up to the net confirm the amounts */
	R_CURRENCY_AMOUNT,	/* "25€", "$48": an amount with a currency sign needs no decimals */
	R_PARTY_LABEL,		/* "Bill to:", "Kunde", "Dati cliente": the block under/after it */
	R_ADDRESS_BLOCKS,	/* two address blocks: the one with phone/bank/VAT details is the sender */
	R_ENVELOPE,		/* window-envelope sender line "Name - Street 1 - 12345 City", addressee below */
	R_LEGAL_FORM,		/* a name with a legal form (GmbH, Ltd, SARL...) in the letterhead */
	R_NAME_BLOCK,		/* name-over-address blocks in reading order: sender first */
	R_FIRST_LINE,		/* last resort: the first name-like line is the sender */
	R_US_DATES,		/* month-first dates for USD / US addresses */
	R_CREDIT_NOTE,		/* a credit-note title in the top part of page 1 */
	R_TITLE_COLUMN,		/* "Nr." left of the number, the title word heading its column */
	R_PAID_BALANCE,		/* a total of 0.00 is the balance after payment: the VAT table gives the amounts */
	R_NUMBER_NOT_VAT,	/* a VAT id is never the invoice number */
	R_RECIPIENT_BLOCK,	/* the addressee's block (a person line, or the one block without sender details) is the buyer's */
	R_BLOCK_AFTER_SENDER,	/* with the sender known from the letterhead, the next name-over-address block is the recipient */
	R_NUMBER_PARTS,		/* "HA007 - 123123 - 37816396": hyphen-joined parts of one number */
	R_ENVELOPE_COMMA,	/* the envelope sender line with commas, right above an addressee block */
	R_FOOTER_SENDER,	/* the sender's block in the footer: name over street, contact lines below */
	R_TAX_ROW_GROSS,	/* a VAT table row with base and gross: gross - base is the tax when it fits the rate */
	R_RATE_ROWS_SUM,	/* one amount label repeated per rate ("VAT 19% / VAT 7%"): the parts add up */
	R_ENVELOPE_OCR_DOT,	/* the envelope line's middle dots as OCR reads them (« » °), above an addressee block */
	R_SENDER_BLOCK,		/* with the recipient known from a label, the one block with sender details is the sender's */
	R_WRAPPED_LABEL,	/* an amount label wrapped onto the next line of its block ("... INCL." / "VAT") is one label */
	R_COUNT
} rule_id;

typedef struct {
	const char *id;		/* short name used in reports */
	const char *what;
	const char *needed_by;	/* corpus stems that lose a field without it ("" = none) */
} rule_info;

extern const rule_info reader_rules[R_COUNT];

/* Is rule r on?  (All are, unless the eval switched some off.) */
int  rule_on(rule_id r);
/* off[r] != 0 switches r off; NULL switches all on again. */
void rules_set_off(const unsigned char *off);

#endif
