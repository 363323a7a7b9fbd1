/*
 * Unit tests of invoiceflow-mail, run under ASan + UBSan by `make check`:
 * which MIME parts are taken (PDF sniffing, nesting, forwarded messages,
 * base64 / quoted-printable, RFC 2231 / 2047 names), filename cleaning,
 * idempotency keys, the accounts file's permission check, account URLs,
 * the SEARCH reply parser and the backoff. Last line: "N passed, N failed".
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backoff.h"
#include "filename_clean.h"
#include "imap_client.h"
#include "mail_account.h"
#include "mail_config.h"
#include "mail_db.h"
#include "mime_parts.h"

static int	passed,
			failed;

#define CHECK(cond, ...) do { \
	if (cond) passed++; \
	else { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
} while (0)

/* a small PDF: enough for sniffing (ingest() judges the rest) */
static const char PDF[] = "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
/* the same bytes in base64 */
static char pdf_b64[256];

static void
b64(const char *in, size_t len, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t		o = 0;

	for (size_t i = 0; i < len; i += 3)
	{
		unsigned	v = (unsigned char) in[i] << 16;

		if (i + 1 < len)
			v |= (unsigned char) in[i + 1] << 8;
		if (i + 2 < len)
			v |= (unsigned char) in[i + 2];
		out[o++] = t[(v >> 18) & 63];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < len ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

static bool
parse(const char *raw, struct mail_message *m)
{
	char		err[256];

	return mime_parse((const unsigned char *) raw, strlen(raw), m, err, sizeof(err));
}

static char *
fmt(const char *f,...) __attribute__((format(printf, 1, 2)));
static char *
fmt(const char *f,...)
{
	va_list		ap;
	char	   *s;

	va_start(ap, f);
	if (vasprintf(&s, f, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

static void
test_one_attachment(void)
{
	struct mail_message m;
	char	   *raw = fmt("From: Billing <Billing@ACME.example>\r\nTo: in@x\r\nSubject: =?UTF-8?Q?Rechnung_M=C3=A4rz?=\r\n"
						  "Message-ID: <a1@acme.example>\r\nDate: Sun, 29 Nov 2026 10:00:00 +0100\r\n"
						  "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
						  "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
						  "--b\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\n"
						  "Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n"
						  "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n", pdf_b64);

	CHECK(parse(raw, &m), "a message with one PDF parses");
	CHECK(m.nparts == 1, "one PDF part, got %zu", m.nparts);
	CHECK(m.skipped == 1, "the text part is skipped, got %zu", m.skipped);
	if (m.nparts == 1)
	{
		CHECK(strcmp(m.parts[0].position, "2") == 0, "position 2, got %s", m.parts[0].position);
		CHECK(strcmp(m.parts[0].filename, "invoice.pdf") == 0, "name invoice.pdf, got %s", m.parts[0].filename);
		CHECK(m.parts[0].len == strlen(PDF) && memcmp(m.parts[0].data, PDF, strlen(PDF)) == 0,
			  "base64 decoded to the PDF's bytes");
	}
	CHECK(m.from && strcmp(m.from, "billing@acme.example") == 0, "from lower-cased, got %s", m.from);
	CHECK(m.subject && strcmp(m.subject, "Rechnung M\xC3\xA4rz") == 0, "RFC 2047 subject decoded, got %s", m.subject);
	CHECK(m.message_id && strcmp(m.message_id, "a1@acme.example") == 0, "Message-ID without <>");
	CHECK(m.date && strcmp(m.date, "2026-11-29T09:00:00Z") == 0, "date in UTC, got %s", m.date);
	mail_message_free(&m);
	free(raw);
}

static void
test_nested_forwarded_inline_octet(void)
{
	struct mail_message m;

	/*
	 * 1 text, 2 multipart/related (2.1 html, 2.2 inline PDF), 3 forwarded
	 * message (3.1 text, 3.2 PDF), 4 octet-stream "scan.bin" holding a PDF,
	 * 5 application/pdf that is not a PDF, 6 quoted-printable PDF
	 */
	char	   *raw = fmt("From: a@b.example\r\nSubject: many\r\nMIME-Version: 1.0\r\n"
						  "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n"
						  "--o\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
						  "--o\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n"
						  "--r\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n"
						  "--r\r\nContent-Type: application/pdf\r\nContent-Disposition: inline\r\n"
						  "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--r--\r\n"
						  "--o\r\nContent-Type: message/rfc822\r\n\r\n"
						  "From: c@d.example\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
						  "Content-Type: multipart/mixed; boundary=\"f\"\r\n\r\n"
						  "--f\r\nContent-Type: text/plain\r\n\r\ninner\r\n"
						  "--f\r\nContent-Type: application/pdf; name=\"inner.pdf\"\r\n"
						  "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--f--\r\n"
						  "--o\r\nContent-Type: application/octet-stream; name=\"scan.bin\"\r\n"
						  "Content-Disposition: attachment; filename=\"scan.bin\"\r\n"
						  "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n"
						  "--o\r\nContent-Type: application/pdf; name=\"fake.pdf\"\r\n\r\nnot a pdf at all\r\n"
						  "--o\r\nContent-Type: application/pdf; name=\"qp.pdf\"\r\n"
						  "Content-Transfer-Encoding: quoted-printable\r\n\r\n%%PDF-1.4=0A=25=25EOF=0A\r\n"
						  "--o--\r\n", pdf_b64, pdf_b64, pdf_b64);

	CHECK(parse(raw, &m), "a nested message parses");
	CHECK(m.nparts == 4, "four PDF parts (inline, forwarded, scan.bin, qp), got %zu", m.nparts);
	if (m.nparts == 4)
	{
		CHECK(strcmp(m.parts[0].position, "2.2") == 0, "inline PDF at 2.2, got %s", m.parts[0].position);
		CHECK(strcmp(m.parts[0].filename, "attachment-2.2.pdf") == 0, "a nameless part gets a name, got %s",
			  m.parts[0].filename);
		CHECK(strcmp(m.parts[1].position, "3.2") == 0, "forwarded PDF at 3.2, got %s", m.parts[1].position);
		CHECK(strcmp(m.parts[1].filename, "inner.pdf") == 0, "name from Content-Type, got %s", m.parts[1].filename);
		CHECK(strcmp(m.parts[2].filename, "scan.bin") == 0, "octet-stream scan.bin taken by its bytes");
		CHECK(strcmp(m.parts[3].position, "6") == 0 && memcmp(m.parts[3].data, "%PDF-1.4\n%%EOF\n", 15) == 0,
			  "quoted-printable decoded");
	}
	CHECK(m.message_id == NULL && m.date == NULL, "no Message-ID, no Date");
	mail_message_free(&m);
	free(raw);
}

static void
test_filenames_encoded(void)
{
	struct mail_message m;
	char	   *raw = fmt("From: a@b.example\r\nMIME-Version: 1.0\r\n"
						  "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n"
						  "--o\r\nContent-Type: application/pdf\r\n"
						  "Content-Disposition: attachment; filename*=UTF-8''Rechnung%%20M%%C3%%A4rz%%20%%E2%%82%%AC.pdf\r\n"
						  "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n"
						  "--o\r\nContent-Type: application/pdf\r\n"
						  "Content-Disposition: attachment; filename*=iso-8859-1''Gr%%FC%%DFe.pdf\r\n"
						  "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n"
						  "--o\r\nContent-Type: application/pdf\r\n"
						  "Content-Disposition: attachment; filename=\"=?ISO-8859-1?Q?Quittung_=FC.pdf?=\"\r\n"
						  "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n"
						  "--o\r\nContent-Type: application/pdf\r\n"
						  "Content-Disposition: attachment; filename=\"..\\\\..\\\\etc\\\\evil.pdf\"\r\n"
						  "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n"
						  "--o\r\nContent-Type: application/pdf\r\n"
						  "Content-Disposition: attachment; filename*0*=UTF-8''long%%20;\r\n filename*1*=name.pdf\r\n"
						  "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n"
						  "--o--\r\n", pdf_b64, pdf_b64, pdf_b64, pdf_b64, pdf_b64);

	CHECK(parse(raw, &m), "parses");
	CHECK(m.nparts == 5, "five parts, got %zu", m.nparts);
	if (m.nparts == 5)
	{
		CHECK(strcmp(m.parts[0].filename, "Rechnung M\xC3\xA4rz \xE2\x82\xAC.pdf") == 0,
			  "RFC 2231 UTF-8 name, got %s", m.parts[0].filename);
		CHECK(strcmp(m.parts[1].filename, "Gr\xC3\xBC\xC3\x9F" "e.pdf") == 0,
			  "RFC 2231 Latin-1 name in UTF-8, got %s", m.parts[1].filename);
		CHECK(strcmp(m.parts[2].filename, "Quittung \xC3\xBC.pdf") == 0,
			  "RFC 2047 Latin-1 name, got %s", m.parts[2].filename);
		CHECK(strcmp(m.parts[3].filename, "evil.pdf") == 0, "path dropped, got %s", m.parts[3].filename);
		CHECK(strcmp(m.parts[4].filename, "long name.pdf") == 0, "RFC 2231 continuation, got %s", m.parts[4].filename);
	}
	mail_message_free(&m);
	free(raw);
}

static void
test_no_pdf_and_not_mail(void)
{
	struct mail_message m;
	char		err[256];
	static const char garbage[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

	CHECK(parse("From: a@b.example\r\nSubject: hi\r\n\r\njust text\r\n", &m) && m.nparts == 0 && m.skipped == 1,
		  "a text message has no PDF");
	mail_message_free(&m);
	CHECK(!mime_parse((const unsigned char *) garbage, sizeof(garbage), &m, err, sizeof(err)),
		  "binary garbage is not mail");
	CHECK(!parse("just a line of text\n", &m), "a line of text is not mail");
	CHECK(!parse("", &m), "nothing is not mail");
	/* the top-level body itself a PDF */
	{
		char	   *raw = fmt("From: a@b.example\r\nContent-Type: application/pdf\r\n"
							  "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n", pdf_b64);

		CHECK(parse(raw, &m) && m.nparts == 1 && strcmp(m.parts[0].position, "1") == 0,
			  "a single-part PDF message is part 1");
		mail_message_free(&m);
		free(raw);
	}
}

/* hostile nesting: 20,000 multiparts, 5,000 forwarded messages deep; must neither crash nor loop */
static void
test_deep_nesting(void)
{
	struct mail_message m;
	size_t		cap = 4 * 1024 * 1024,
				n = 0;
	char	   *s = malloc(cap);
	const unsigned char *pdf_part;

	n += (size_t) snprintf(s + n, cap - n, "From: a@b.example\r\nMIME-Version: 1.0\r\n");
	for (int i = 0; i < 20000; i++)
		n += (size_t) snprintf(s + n, cap - n, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i);
	n += (size_t) snprintf(s + n, cap - n, "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", pdf_b64);
	CHECK(mime_parse((const unsigned char *) s, n, &m, (char[64]){0}, 64), "20,000 nested multiparts parse");
	pdf_part = m.nparts ? m.parts[0].data : NULL;
	CHECK(m.nparts == 0 || (pdf_part && memcmp(pdf_part, "%PDF-", 5) == 0),
		  "and give at most the PDF (beyond the depth limit: nothing), got %zu", m.nparts);
	mail_message_free(&m);

	n = 0;
	for (int i = 0; i < 5000; i++)
		n += (size_t) snprintf(s + n, cap - n, "From: a@b.example\r\nContent-Type: message/rfc822\r\n\r\n");
	n += (size_t) snprintf(s + n, cap - n, "From: z@b.example\r\n\r\nbody\r\n");
	CHECK(mime_parse((const unsigned char *) s, n, &m, (char[64]){0}, 64) && m.nparts == 0,
		  "5,000 forwarded messages deep parse, no PDF");
	mail_message_free(&m);
	free(s);
}

static void
test_filename_clean(void)
{
	char		out[300];
	char		longname[400];

	filename_clean("a\x01" "b\tc.pdf", "fb.pdf", out, sizeof(out));
	CHECK(strcmp(out, "a_b_c.pdf") == 0, "control characters replaced, got %s", out);
	filename_clean("x\xC2\x85y.pdf", "fb.pdf", out, sizeof(out));
	CHECK(strcmp(out, "x_y.pdf") == 0, "C1 control replaced, got %s", out);
	filename_clean("bad\xFF\xFEname.pdf", "fb.pdf", out, sizeof(out));
	CHECK(strcmp(out, "bad??name.pdf") == 0, "invalid UTF-8 replaced, got %s", out);
	filename_clean("/etc/passwd", "fb.pdf", out, sizeof(out));
	CHECK(strcmp(out, "passwd") == 0, "path dropped, got %s", out);
	filename_clean("dir/", "fb.pdf", out, sizeof(out));
	CHECK(strcmp(out, "fb.pdf") == 0, "empty after the path: fallback, got %s", out);
	filename_clean("..", "fb.pdf", out, sizeof(out));
	CHECK(strcmp(out, "fb.pdf") == 0, ".. is no name");
	filename_clean(NULL, "fb.pdf", out, sizeof(out));
	CHECK(strcmp(out, "fb.pdf") == 0, "no name: fallback");
	filename_clean("  spaced.pdf  ", "fb.pdf", out, sizeof(out));
	CHECK(strcmp(out, "spaced.pdf") == 0, "trimmed, got '%s'", out);

	/* 300 x "ä" (600 bytes) + ".pdf": cut to <= 255 bytes on a character boundary, .pdf kept */
	longname[0] = '\0';
	for (int i = 0; i < 190; i++)
		strcat(longname, "\xC3\xA4");
	strcat(longname, ".pdf");
	filename_clean(longname, "fb.pdf", out, sizeof(out));
	CHECK(strlen(out) <= 255 && strlen(out) >= 250, "at most 255 bytes, got %zu", strlen(out));
	CHECK(strcmp(out + strlen(out) - 4, ".pdf") == 0, "extension kept");
	CHECK((strlen(out) - 4) % 2 == 0, "cut on a character boundary");
}

static void
test_keys(void)
{
	struct mail_message m = {0};
	char		k1[600],
				k2[600],
				k3[600];

	mail_message_key(&m, 7, 42, (const unsigned char *) "x", 1, k1, sizeof(k1));
	CHECK(strcmp(k1, "uid:7:42") == 0, "no Message-ID: UIDVALIDITY and UID, got %s", k1);
	mail_message_key(&m, 0, 0, (const unsigned char *) "x", 1, k1, sizeof(k1));
	CHECK(strncmp(k1, "sha256:", 7) == 0, "deliver without Message-ID: content hash");
	m.message_id = "m@x";
	mail_message_key(&m, 7, 42, (const unsigned char *) "x", 1, k1, sizeof(k1));
	CHECK(strcmp(k1, "mid:m@x") == 0, "Message-ID wins, got %s", k1);

	mail_part_key("acct", "mid:m@x", "2", k1, sizeof(k1));
	mail_part_key("acct", "mid:m@x", "3", k2, sizeof(k2));
	mail_part_key("acct2", "mid:m@x", "2", k3, sizeof(k3));
	CHECK(strncmp(k1, "email:", 6) == 0 && strlen(k1) == 70, "part key is email:<sha256>");
	CHECK(strcmp(k1, k2) != 0 && strcmp(k1, k3) != 0, "position and account change the key");
	mail_part_key("acct", "mid:m@x", "2", k2, sizeof(k2));
	CHECK(strcmp(k1, k2) == 0, "the same part gives the same key");
}

static void
test_accounts_file(void)
{
	char		path[] = "/tmp/mail-unit-XXXXXX";
	int			fd = mkstemp(path);
	char	  **urls = NULL;
	int			n = 0;
	char		err[512];

	CHECK(fd >= 0, "temp file");
	if (fd < 0)
		return;
	CHECK(write(fd, "# accounts\nimaps://u:p@h/INBOX\n\n  imap://v:q@h/Other  \n", 56) == 56, "written");
	close(fd);
	chmod(path, 0644);
	CHECK(!mail_accounts_file_read(path, &urls, &n, err, sizeof(err)) && strstr(err, "read by others"),
		  "a world-readable file is refused: %s", err);
	chmod(path, 0640);
	CHECK(!mail_accounts_file_read(path, &urls, &n, err, sizeof(err)), "a group-readable file is refused");
	chmod(path, 0600);
	CHECK(mail_accounts_file_read(path, &urls, &n, err, sizeof(err)) && n == 2, "0600: two URLs, got %d", n);
	if (n == 2)
		CHECK(strcmp(urls[1], "imap://v:q@h/Other") == 0, "trimmed, got %s", urls[1]);
	for (int i = 0; i < n; i++)
		free(urls[i]);
	free(urls);
	unlink(path);
}

static void
test_account_url(void)
{
	struct mail_account a;
	char		err[256];

	CHECK(mail_account_parse("imaps://user%40x:p%3Ass@mail.example:993/Invoices%20In", &a, err, sizeof(err)),
		  "parses: %s", err);
	CHECK(strcmp(a.user, "user@x") == 0 && strcmp(a.password, "p:ss") == 0, "credentials decoded");
	CHECK(strcmp(a.folder, "Invoices In") == 0, "folder decoded, got %s", a.folder);
	CHECK(strstr(a.name, "p:ss") == NULL && strstr(a.base_url, "p%3Ass") == NULL && strstr(a.base_url, "user") == NULL,
		  "no secret in name or URL");
	CHECK(strcmp(a.name, "user@x@mail.example:993/Invoices In") == 0, "name, got %s", a.name);
	CHECK(mail_account_parse("imap://u:p@h", &a, err, sizeof(err)) && strcmp(a.folder, "INBOX") == 0,
		  "default folder INBOX");
	CHECK(!mail_account_parse("http://u:p@h/INBOX", &a, err, sizeof(err)), "http refused");
	CHECK(!mail_account_parse("imap://h/INBOX", &a, err, sizeof(err)), "no user refused");
}

static void
test_search_and_backoff(void)
{
	unsigned long *uids;
	size_t		n = imap_parse_search("* SEARCH 3 17 4294967295\r\n", &uids);
	struct backoff b;
	long		d1,
				d5;

	CHECK(n == 3 && uids[0] == 3 && uids[1] == 17 && uids[2] == 4294967295UL, "SEARCH parsed");
	free(uids);
	n = imap_parse_search("* SEARCH\r\n", &uids);
	CHECK(n == 0, "empty SEARCH");
	free(uids);

	backoff_init(&b, 8, 5, 60, 1);
	d1 = backoff_failure(&b);
	CHECK(d1 >= 500 && d1 <= 1000, "first retry 0.5-1 s, got %ld", d1);
	backoff_failure(&b);
	backoff_failure(&b);
	d5 = backoff_failure(&b);
	CHECK(d5 >= 4000 && d5 <= 8000, "capped at 8 s, got %ld", d5);
	CHECK(b.state == BREAKER_CLOSED, "breaker still closed after 4");
	CHECK(backoff_failure(&b) == 60000 && b.state == BREAKER_OPEN, "fifth failure opens the breaker for the cooldown");
	backoff_success(&b);
	CHECK(b.state == BREAKER_CLOSED && b.failures == 0, "a success closes it");
}

int
main(void)
{
	b64(PDF, strlen(PDF), pdf_b64);
	mime_init();
	CHECK(pdf_sniff((const unsigned char *) PDF, strlen(PDF)), "sniff");
	CHECK(!pdf_sniff((const unsigned char *) "%PD", 3), "short");
	test_one_attachment();
	test_nested_forwarded_inline_octet();
	test_filenames_encoded();
	test_no_pdf_and_not_mail();
	test_deep_nesting();
	test_filename_clean();
	test_keys();
	test_accounts_file();
	test_account_url();
	test_search_and_backoff();
	mime_shutdown();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
