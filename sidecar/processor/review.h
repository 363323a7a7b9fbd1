/* The review decision (review.c): when a person should look at an extraction. */
#ifndef IF_REVIEW_H
#define IF_REVIEW_H

#include "invoice.h"

/* A field read with less confidence than this sends the document to review. */
#define REVIEW_MIN_CONF 0.7

/*
 * Sets inv->needs_review: a key field (number, issue date, total) missing,
 * net + tax != total, a due date before the issue date, or any returned header
 * field (number, dates, parties, currency, amounts) below REVIEW_MIN_CONF.
 * The reader's confidences are set so that "no review" means "every value
 * returned is one we would bet on" (eval: confident-but-wrong).
 */
void invoice_review(invoice *inv);

#endif
