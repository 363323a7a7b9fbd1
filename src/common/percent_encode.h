/*
 * percent_encode.h: RFC 3986 percent-encoding.
 *
 * Free of PostgreSQL headers; shared by the extension and the sidecars.
 * Unreserved characters (A-Z a-z 0-9 - . _ ~) are kept, every other byte
 * (including each byte of a multi-byte UTF-8 sequence) becomes %XX with
 * upper-case hex digits, as S3 and SigV4 expect.
 */
#ifndef INVOICEFLOW_PERCENT_ENCODE_H
#define INVOICEFLOW_PERCENT_ENCODE_H

#include <stdbool.h>
#include <stddef.h>

/* true for A-Z a-z 0-9 - . _ ~ */
extern bool pe_is_unreserved(unsigned char c);

/*
 * Bytes needed to encode src[0..len), including the terminating NUL.
 * With keep_slash, '/' is kept too (for object keys in a URL path).
 */
extern size_t pe_encoded_size(const char *src, size_t len, bool keep_slash);

/*
 * Encodes src[0..len) into dst (dst_size bytes, NUL-terminated).
 * Returns the length written without the NUL, or (size_t) -1 when dst is too
 * small (dst then holds an empty string if dst_size > 0).
 */
extern size_t pe_encode(const char *src, size_t len, bool keep_slash,
						char *dst, size_t dst_size);

/* A malloc'd encoding of the NUL-terminated src; NULL when out of memory. */
extern char *pe_encode_alloc(const char *src, bool keep_slash);

/*
 * Decodes %XX sequences of src into a malloc'd NUL-terminated buffer
 * (*out_len, if not NULL, gets its length, which may include NUL bytes).
 * NULL on a malformed sequence or out of memory.
 */
extern char *pe_decode_alloc(const char *src, size_t *out_len);

#endif							/* INVOICEFLOW_PERCENT_ENCODE_H */
