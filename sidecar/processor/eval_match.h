/* The eval's scoring rules (eval_match.c): which expected value a returned one matches. */
#ifndef IF_EVAL_MATCH_H
#define IF_EVAL_MATCH_H

#include <jansson.h>

enum { K_NUMBER, K_DATE, K_NAME, K_CODE, K_AMOUNT };

typedef struct {
	const char *field;	/* key in the corpus JSON's "fields" */
	const char *path;	/* key in the invoice JSON ("seller.name") */
	int kind;
	const char *shortname;
} eval_field;

#define EVAL_NF 9
extern const eval_field eval_fields[EVAL_NF];

/* String at "a" or "a.b" in inv, NULL when absent or not a string. */
const char *eval_get_path(json_t *inv, const char *path);
/* Numbers exact without white space; dates, codes exact; amounts numerically equal;
 * names equal after folding, or contained one in the other on word boundaries. */
int eval_value_match(int kind, const char *exp, const char *got);
int eval_name_match(const char *exp, const char *got);
/* Expected lines matched by returned ones (equal net_amount, matching description). */
int eval_lines_match(json_t *exp, json_t *got);

#endif
