/*
 * pdf_validate.c: the checks ingest() makes before it stores a file.
 *
 * Cheap structural checks only: the bytes look like a whole PDF (header,
 * trailer, a startxref that points at a cross-reference table or stream).
 * Real parsing of untrusted PDFs happens in the processor, outside the server.
 * Every refusal is SQLSTATE 22023 with a message meant for the uploader.
 */
#include "invoiceflow.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include <ctype.h>

#define MAX_FILENAME_BYTES 255
#define HEADER_WINDOW 1024		/* ISO 32000: the header may follow some junk */
#define TRAILER_WINDOW 1024		/* %%EOF must be near the end */

static void
reject(const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", msg),
			 detail ? errdetail("%s", detail) : 0));
}

/*
 * Characters a name must not hold beyond the ASCII controls: the C1 controls
 * (Cc), the format characters (Cf: bidirectional overrides such as U+202E that
 * make "fdp.exe" read as "exe.pdf", zero-width characters such as U+200B, the
 * byte order mark...) and the line and paragraph separators (Zl, Zp). The Cf
 * list is Unicode 15's.
 */
static bool
invisible_codepoint(pg_wchar c)
{
	static const pg_wchar ranges[][2] = {
		{0x0080, 0x009F}, {0x00AD, 0x00AD}, {0x0600, 0x0605}, {0x061C, 0x061C},
		{0x06DD, 0x06DD}, {0x070F, 0x070F}, {0x0890, 0x0891}, {0x08E2, 0x08E2},
		{0x180E, 0x180E}, {0x200B, 0x200F}, {0x2028, 0x202E}, {0x2060, 0x2064},
		{0x2066, 0x206F}, {0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFB}, {0x110BD, 0x110BD},
		{0x110CD, 0x110CD}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
		{0xE0001, 0xE0001}, {0xE0020, 0xE007F},
	};

	for (size_t i = 0; i < lengthof(ranges); i++)
		if (c >= ranges[i][0] && c <= ranges[i][1])
			return true;
	return false;
}

static void
validate_filename(text *t)
{
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);

	if (len == 0)
		reject("filename is empty", "Every upload needs a file name, such as invoice.pdf.");
	if (len > MAX_FILENAME_BYTES)
		reject("filename is too long",
			   psprintf("The name has %d bytes; the limit is %d.", len, MAX_FILENAME_BYTES));
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c < 0x20 || c == 0x7f)
			reject("filename contains control characters", NULL);
		if (c == '/' || c == '\\')
			reject("filename must not contain path separators",
				   "Send the file's own name, such as invoice.pdf, not a path.");
	}
	if (GetDatabaseEncoding() == PG_UTF8)
	{
		/* the server has checked the encoding: whole characters only */
		for (int i = 0; i < len; i += pg_utf_mblen((const unsigned char *) s + i))
		{
			pg_wchar	c = utf8_to_unicode((const unsigned char *) s + i);

			if (invisible_codepoint(c))
				reject("filename contains invisible or control characters",
					   psprintf("U+%04X at byte %d: names may not hold control, format (such as "
								"right-to-left overrides or zero-width spaces) or separator characters.",
								(unsigned int) c, i + 1));
		}
	}
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		reject("filename is not a valid file name", NULL);
}

/* memmem over a window, last occurrence */
static const char *
find_last(const char *hay, size_t hlen, const char *needle)
{
	size_t		nlen = strlen(needle);

	if (hlen < nlen)
		return NULL;
	for (size_t i = hlen - nlen + 1; i-- > 0;)
		if (memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\r' || *p == '\n' || *p == '\t' || *p == '\f' || *p == '\0'))
		p++;
	return p;
}

/* "xref" (classic table) or "N G obj" (cross-reference stream) at p */
static bool
looks_like_xref(const char *p, const char *end)
{
	p = skip_ws(p, end);
	if (end - p >= 4 && memcmp(p, "xref", 4) == 0)
		return true;
	/* object number */
	if (p >= end || !isdigit((unsigned char) *p))
		return false;
	while (p < end && isdigit((unsigned char) *p))
		p++;
	if (p >= end || !isspace((unsigned char) *p))
		return false;
	p = skip_ws(p, end);
	if (p >= end || !isdigit((unsigned char) *p))
		return false;
	while (p < end && isdigit((unsigned char) *p))
		p++;
	p = skip_ws(p, end);
	return end - p >= 3 && memcmp(p, "obj", 3) == 0;
}

static void
validate_pdf(bytea *b)
{
	const char *data = VARDATA_ANY(b);
	size_t		len = VARSIZE_ANY_EXHDR(b);
	size_t		limit = (size_t) invoiceflow_max_file_size_mb * 1024 * 1024;
	size_t		hwin = Min(len, HEADER_WINDOW);
	size_t		twin = Min(len, TRAILER_WINDOW);
	const char *tail = data + len - twin;
	const char *eof;
	const char *sx;
	const char *p;
	const char *end;
	int64		offset = 0;
	bool		header = false;

	if (len == 0)
		reject("file is empty", "The upload contained no bytes.");
	if (len > limit)
		reject("file is too large",
			   psprintf("The file has %zu bytes; the limit is %d MB (%zu bytes).",
						len, invoiceflow_max_file_size_mb, limit));

	for (size_t i = 0; i + 5 <= hwin; i++)
		if (memcmp(data + i, "%PDF-", 5) == 0)
		{
			header = true;
			break;
		}
	if (!header)
		reject("file is not a PDF", "A PDF file starts with \"%PDF-\"; this one does not.");

	eof = find_last(tail, twin, "%%EOF");
	if (eof == NULL)
		reject("PDF file is truncated or corrupted",
			   "The file does not end with the \"%%EOF\" marker; it was probably cut short.");

	sx = find_last(tail, eof - tail, "startxref");
	if (sx == NULL)
		reject("PDF file is corrupted", "The trailer has no \"startxref\" entry.");

	p = skip_ws(sx + strlen("startxref"), eof);
	end = eof;
	if (p >= end || !isdigit((unsigned char) *p))
		reject("PDF file is corrupted", "The \"startxref\" entry holds no offset.");
	while (p < end && isdigit((unsigned char) *p))
	{
		offset = offset * 10 + (*p - '0');
		if (offset > (int64) len)
			break;
		p++;
	}
	if (offset <= 0 || offset >= (int64) len ||
		!looks_like_xref(data + offset, data + len))
		reject("PDF file is corrupted",
			   "Its \"startxref\" offset does not point at a cross-reference table or stream.");
}

PG_FUNCTION_INFO_V1(invoiceflow_validate_upload);

/*
 * invoiceflow._validate_upload(filename text, content bytea) returns void
 * Raises SQLSTATE 22023 with a user-facing message when the upload is refused.
 */
Datum
invoiceflow_validate_upload(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		reject("filename is missing", NULL);
	if (PG_ARGISNULL(1))
		reject("file is empty", "The upload contained no bytes.");
	validate_filename(PG_GETARG_TEXT_PP(0));
	validate_pdf(PG_GETARG_BYTEA_PP(1));
	PG_RETURN_VOID();
}
