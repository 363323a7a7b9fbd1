/* invoiceflow 0.5 -> 0.6: ways in (email, webhook), access scopes, hardening */
\echo Use "ALTER EXTENSION invoiceflow UPDATE TO '0.6'" to load this file. \quit

/*
 * This release is written by several changes at once; each keeps to its own
 * section below. A section that replaces a function another section also
 * replaces starts from that section's definition (the later one wins).
 */

-- ===== hardening: API key scopes, admin over REST, bounded inputs (issue 9) =====

-- ===== end hardening =====

-- ===== mail: inbound messages (issue 12) =====

-- ===== end mail =====
