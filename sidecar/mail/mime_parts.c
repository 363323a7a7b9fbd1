/*
 * mime_parts.c: see mime_parts.h. All MIME decoding is GMime's: the walk below
 * only decides which leaves are PDFs and numbers them as IMAP does (RFC 3501
 * section 6.4.5), so a part keeps its position however often it is read.
 */
#include "mime_parts.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* deeper nesting than this is hostile; its parts are not looked at */
#define MIME_MAX_DEPTH 32

void
mime_init(void)
{
	g_mime_init();
}

void
mime_shutdown(void)
{
	g_mime_shutdown();
}

bool
pdf_sniff(const unsigned char *data, size_t len)
{
	size_t		lim = len < 1024 ? len : 1024;

	for (size_t i = 0; i + 5 <= lim; i++)
		if (memcmp(data + i, "%PDF-", 5) == 0)
			return true;
	return false;
}

static char *
dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static void
add_part(struct mail_message *m, const char *position, const char *name,
		 const unsigned char *data, size_t len)
{
	struct mail_part *p;
	char		fallback[96];

	m->parts = realloc(m->parts, (m->nparts + 1) * sizeof(*m->parts));
	if (m->parts == NULL)
		abort();
	p = &m->parts[m->nparts++];
	memset(p, 0, sizeof(*p));
	snprintf(p->position, sizeof(p->position), "%s", position);
	snprintf(fallback, sizeof(fallback), "attachment-%s.pdf", position);
	filename_clean(name, fallback, p->filename, sizeof(p->filename));
	p->data = malloc(len ? len : 1);
	if (p->data == NULL)
		abort();
	memcpy(p->data, data, len);
	p->len = len;
}

static void walk(GMimeObject *obj, const char *position, int depth, struct mail_message *m);

/* a leaf: decode its transfer encoding and keep it when the bytes are a PDF */
static void
walk_leaf(GMimePart *part, const char *position, struct mail_message *m)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GMimeStream *mem;
	GByteArray *bytes;

	if (content == NULL)
	{
		m->skipped++;
		return;
	}
	mem = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(content, mem) < 0)
	{
		g_object_unref(mem);
		m->skipped++;
		return;
	}
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	if (bytes && pdf_sniff(bytes->data, bytes->len))
		add_part(m, position, g_mime_part_get_filename(part), bytes->data, bytes->len);
	else
		m->skipped++;
	g_object_unref(mem);
}

static void
walk(GMimeObject *obj, const char *position, int depth, struct mail_message *m)
{
	char		child[64];

	if (obj == NULL || depth > MIME_MAX_DEPTH)
		return;
	if (GMIME_IS_MULTIPART(obj))
	{
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int			n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n; i++)
		{
			if (*position)
				snprintf(child, sizeof(child), "%s.%d", position, i + 1);
			else
				snprintf(child, sizeof(child), "%d", i + 1);
			walk(g_mime_multipart_get_part(mp, i), child, depth + 1, m);
		}
	}
	else if (GMIME_IS_MESSAGE_PART(obj))
	{
		/* a forwarded message: its body's parts are numbered under this one */
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

		if (inner)
		{
			GMimeObject *body = g_mime_message_get_mime_part(inner);

			if (body && !GMIME_IS_MULTIPART(body))
			{
				snprintf(child, sizeof(child), "%s.1", *position ? position : "1");
				walk(body, child, depth + 1, m);
			}
			else
				walk(body, *position ? position : "1", depth + 1, m);
		}
	}
	else if (GMIME_IS_PART(obj))
		walk_leaf(GMIME_PART(obj), *position ? position : "1", m);
}

static char *
first_mailbox(InternetAddressList *list)
{
	int			n = list ? internet_address_list_length(list) : 0;

	for (int i = 0; i < n; i++)
	{
		InternetAddress *a = internet_address_list_get_address(list, i);

		if (INTERNET_ADDRESS_IS_MAILBOX(a))
		{
			const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));

			if (addr && *addr)
			{
				char	   *s = strdup(addr);

				/* addresses compare case-insensitively in practice; keep them lower case */
				for (char *p = s; *p; p++)
					if (*p >= 'A' && *p <= 'Z')
						*p += 'a' - 'A';
				return s;
			}
		}
	}
	return NULL;
}

static char *
iso_date(GDateTime *dt)
{
	GDateTime  *utc;
	gchar	   *s;
	char	   *r;

	if (dt == NULL)
		return NULL;
	utc = g_date_time_to_utc(dt);
	if (utc == NULL)
		return NULL;
	s = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ");
	g_date_time_unref(utc);
	r = dup_or_null(s);
	g_free(s);
	return r;
}

bool
mime_parse(const unsigned char *raw, size_t len, struct mail_message *out, char *err, size_t errsz)
{
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
	GMimeObject *top;
	bool		has_from,
				has_date;

	memset(out, 0, sizeof(*out));
	stream = g_mime_stream_mem_new_with_buffer((const char *) raw, len);
	parser = g_mime_parser_new_with_stream(stream);
	g_object_unref(stream);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (msg == NULL)
	{
		snprintf(err, errsz, "not an RFC 5322 message: no header block");
		return false;
	}
	top = GMIME_OBJECT(msg);
	has_from = g_mime_object_get_header(top, "From") != NULL;
	has_date = g_mime_object_get_header(top, "Date") != NULL;
	if (!has_from && !has_date)
	{
		g_object_unref(msg);
		snprintf(err, errsz, "not an RFC 5322 message: neither a From nor a Date header");
		return false;
	}

	out->message_id = dup_or_null(g_mime_message_get_message_id(msg));
	out->from = first_mailbox(g_mime_message_get_from(msg));
	out->subject = dup_or_null(g_mime_message_get_subject(msg));
	out->date = iso_date(g_mime_message_get_date(msg));
	walk(g_mime_message_get_mime_part(msg), "", 0, out);
	g_object_unref(msg);
	return true;
}

void
mail_message_free(struct mail_message *m)
{
	for (size_t i = 0; i < m->nparts; i++)
		free(m->parts[i].data);
	free(m->parts);
	free(m->message_id);
	free(m->from);
	free(m->subject);
	free(m->date);
	memset(m, 0, sizeof(*m));
}
