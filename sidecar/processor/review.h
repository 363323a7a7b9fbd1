/* The review decision (review.c): when a person should look at an extraction, and why. */
#ifndef IF_REVIEW_H
#define IF_REVIEW_H

#include "invoice.h"

#include <stddef.h>

/* A field read with less confidence than this sends the document to review. */
#define REVIEW_MIN_CONF 0.7

/*
 * Sets inv->needs_review: a key field (number, issue date, total) missing,
 * net + tax != total, a due date before the issue date, or any returned header
 * field (number, dates, parties, currency, amounts) below REVIEW_MIN_CONF.
 * The reader's confidences are set so that "no review" means "every value
 * returned is one we would bet on" (eval: confident-but-wrong).
 * inv->review_reasons gets one bit per reason (review_reason_texts()).
 */
void invoice_review(invoice *inv);

/* The reasons recorded in a review_reasons mask, in a fixed order, as readable text
 * ("total missing", "amounts do not add up", "buyer.name low confidence"): writes up
 * to max of them into out, returns how many the mask holds. */
size_t review_reason_texts(unsigned mask, const char **out, size_t max);

#endif
