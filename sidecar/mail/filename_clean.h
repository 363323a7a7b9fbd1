/*
 * filename_clean.h: an attachment's decoded name (RFC 2231 / RFC 2047, already
 * turned into UTF-8 by GMime) made into a name ingest() accepts: its last path
 * component, valid UTF-8, no control characters, 1 to 255 bytes.
 */
#ifndef MAIL_FILENAME_CLEAN_H
#define MAIL_FILENAME_CLEAN_H

#include <stddef.h>

#define MAIL_FILENAME_MAX 255

/*
 * Writes the cleaned name of `name` into out (outsz > MAIL_FILENAME_MAX). A name
 * that is NULL or cleans to nothing ("", ".", "..", only spaces) becomes
 * `fallback`, which must itself be clean.
 */
extern void filename_clean(const char *name, const char *fallback, char *out, size_t outsz);

#endif
