/*
 * mime_parts.h: one RFC 5322 message read with GMime 3: its sender, subject,
 * Message-ID and date, and every part whose bytes are a PDF, wherever it sits
 * (attachment or inline, nested multiparts, forwarded message/rfc822), decoded
 * from base64 or quoted-printable, with its name cleaned for ingest().
 */
#ifndef MAIL_MIME_PARTS_H
#define MAIL_MIME_PARTS_H

#include <stdbool.h>
#include <stddef.h>

#include "filename_clean.h"

struct mail_part
{
	char		position[64];	/* IMAP-style part number: "2", "3.1.2" */
	char		filename[MAIL_FILENAME_MAX + 1];
	unsigned char *data;		/* decoded bytes (malloc) */
	size_t		len;
};

struct mail_message
{
	char	   *message_id;		/* without <>, NULL when absent */
	char	   *from;			/* the first sender's address, NULL when absent */
	char	   *subject;		/* decoded, NULL when absent */
	char	   *date;			/* ISO 8601 UTC, NULL when absent or unreadable */
	struct mail_part *parts;	/* the PDF parts, in message order */
	size_t		nparts;
	size_t		skipped;		/* leaf parts that are not PDFs */
};

/* once per process, before any thread parses */
extern void mime_init(void);
extern void mime_shutdown(void);

/* true when the bytes are a PDF by their content: "%PDF-" in the first 1024 bytes */
extern bool pdf_sniff(const unsigned char *data, size_t len);

/*
 * Reads raw[0..len). false when it is not mail at all (no RFC 5322 header
 * block with a From or a Date), with the reason in err.
 */
extern bool mime_parse(const unsigned char *raw, size_t len, struct mail_message *out,
					   char *err, size_t errsz);
extern void mail_message_free(struct mail_message *m);

#endif
