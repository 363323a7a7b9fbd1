/*
 * imap_client.c: see imap_client.h. libcurl speaks IMAP; what this file adds is
 * which commands to send and reading the two untagged answers it needs
 * (STATUS's UIDVALIDITY and SEARCH's UID list).
 *
 * Messages are fetched through libcurl's URL form (;UIDVALIDITY=v/;UID=n), which
 * sends BODY[] and so sets \Seen: that is why a message is known as taken by the
 * $Invoiceflow keyword in every MAIL_AFTER mode, never by \Seen alone (a crash
 * between the fetch and the commit would otherwise lose it).
 */
#include "imap_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct membuf *b = userdata;

	if (!membuf_append(b, ptr, size * nmemb))
		return 0;				/* libcurl stops with CURLE_WRITE_ERROR */
	return size * nmemb;
}

void
imap_common_options(CURL *curl, const struct mail_account *acct, const struct mail_config *cfg)
{
	curl_easy_setopt(curl, CURLOPT_USERNAME, acct->user);
	curl_easy_setopt(curl, CURLOPT_PASSWORD, acct->password);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "imap,imaps");
	/*
	 * imap://: STARTTLS when the server offers it (MAIL_STARTTLS=require: refuse a
	 * server that does not); a certificate that fails verification is always an error
	 */
	curl_easy_setopt(curl, CURLOPT_USE_SSL, (long) (cfg->require_starttls ? CURLUSESSL_ALL : CURLUSESSL_TRY));
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cfg->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, cfg->ca_file);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	/* a server that stops answering: under 1 byte/s for 30 s ends the call */
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
}

bool
imap_client_open(struct imap_client *c, const struct mail_account *acct, const struct mail_config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->acct = acct;
	c->cfg = cfg;
	c->curl = curl_easy_init();
	if (c->curl == NULL)
		return false;
	imap_common_options(c->curl, acct, cfg);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
	return true;
}

void
imap_client_close(struct imap_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

static bool
perform(struct imap_client *c, const char *url, const char *custom, struct membuf *out,
		char *err, size_t errsz)
{
	CURLcode	rc;

	membuf_reset(out);
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, custom);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, out);
	rc = curl_easy_perform(c->curl);
	if (rc == CURLE_OK)
		return true;
	if (rc == CURLE_WRITE_ERROR && out->overflow)
		snprintf(err, errsz, "message larger than MAIL_MAX_MESSAGE_MB");
	else if (rc == CURLE_LOGIN_DENIED)
		snprintf(err, errsz, "IMAP login denied for %s%s%s", c->acct->name,
				 c->errbuf[0] ? ": " : "", c->errbuf);
	else
		snprintf(err, errsz, "IMAP %s: %s%s%s", custom ? custom : "FETCH", curl_easy_strerror(rc),
				 c->errbuf[0] ? ": " : "", c->errbuf);
	return false;
}

bool
imap_uidvalidity(struct imap_client *c, unsigned long *out, char *err, size_t errsz)
{
	struct membuf b = {0};
	char		cmd[512];
	const char *p;
	bool		ok;

	snprintf(cmd, sizeof(cmd), "STATUS \"%s\" (UIDVALIDITY)", c->acct->folder);
	ok = perform(c, c->acct->base_url, cmd, &b, err, errsz);
	if (ok)
	{
		p = b.data ? strstr((const char *) b.data, "UIDVALIDITY ") : NULL;
		if (p == NULL || (*out = strtoul(p + 12, NULL, 10)) == 0)
		{
			snprintf(err, errsz, "IMAP STATUS of %s gave no UIDVALIDITY", c->acct->folder);
			ok = false;
		}
	}
	membuf_free(&b);
	return ok;
}

size_t
imap_parse_search(const char *text, unsigned long **uids)
{
	size_t		n = 0,
				cap = 0;
	const char *line = text;

	*uids = NULL;
	while (line && *line)
	{
		const char *eol = strchr(line, '\n');

		if (strncmp(line, "* SEARCH", 8) == 0)
		{
			const char *p = line + 8;

			while (*p && p != eol)
			{
				char	   *end;
				unsigned long v;

				while (*p == ' ')
					p++;
				if (*p < '0' || *p > '9')
					break;
				v = strtoul(p, &end, 10);
				if (n == cap)
				{
					cap = cap ? cap * 2 : 64;
					*uids = realloc(*uids, cap * sizeof(**uids));
					if (*uids == NULL)
						abort();
				}
				(*uids)[n++] = v;
				p = end;
			}
		}
		line = eol ? eol + 1 : NULL;
	}
	return n;
}

static int
cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *) a,
				y = *(const unsigned long *) b;

	return x < y ? -1 : x > y;
}

bool
imap_pending_uids(struct imap_client *c, unsigned long **uids, size_t *n, char *err, size_t errsz)
{
	struct membuf b = {0};
	bool		ok;

	*uids = NULL;
	*n = 0;
	/*
	 * NOOP first: a server reports (and searches) messages that arrived since
	 * the folder was selected on this connection only once the session has
	 * synchronised, which a command boundary like NOOP allows.
	 */
	ok = perform(c, c->acct->folder_url, "NOOP", &b, err, errsz) &&
		perform(c, c->acct->folder_url, "UID SEARCH UNDELETED UNKEYWORD " MAIL_KEYWORD, &b, err, errsz);
	if (ok)
	{
		*n = imap_parse_search(b.data ? (const char *) b.data : "", uids);
		if (*n > 1)
			qsort(*uids, *n, sizeof(**uids), cmp_ulong);
	}
	membuf_free(&b);
	return ok;
}

bool
imap_fetch(struct imap_client *c, unsigned long uidvalidity, unsigned long uid,
		   struct membuf *out, char *err, size_t errsz)
{
	char		url[1200];

	snprintf(url, sizeof(url), "%s;UIDVALIDITY=%lu/;UID=%lu", c->acct->folder_url, uidvalidity, uid);
	out->limit = (size_t) c->cfg->max_message_mb * 1024 * 1024;
	return perform(c, url, NULL, out, err, errsz);
}

bool
imap_mark_done(struct imap_client *c, unsigned long uid, char *err, size_t errsz)
{
	struct membuf b = {0};
	char		cmd[512];
	bool		ok;

	switch (c->cfg->after)
	{
		case MAIL_AFTER_SEEN:
			snprintf(cmd, sizeof(cmd), "UID STORE %lu +FLAGS.SILENT (" MAIL_KEYWORD " \\Seen)", uid);
			break;
		case MAIL_AFTER_DELETE:
			snprintf(cmd, sizeof(cmd), "UID STORE %lu +FLAGS.SILENT (" MAIL_KEYWORD " \\Deleted)", uid);
			break;
		default:
			snprintf(cmd, sizeof(cmd), "UID STORE %lu +FLAGS.SILENT (" MAIL_KEYWORD ")", uid);
			break;
	}
	ok = perform(c, c->acct->folder_url, cmd, &b, err, errsz);
	if (ok && c->cfg->after == MAIL_AFTER_MOVE)
	{
		snprintf(cmd, sizeof(cmd), "UID MOVE %lu \"%s\"", uid, c->cfg->after_folder);
		ok = perform(c, c->acct->folder_url, cmd, &b, err, errsz);
	}
	else if (ok && c->cfg->after == MAIL_AFTER_DELETE)
	{
		/* UID EXPUNGE (UIDPLUS) removes this message only, never another client's \Deleted ones */
		snprintf(cmd, sizeof(cmd), "UID EXPUNGE %lu", uid);
		ok = perform(c, c->acct->folder_url, cmd, &b, err, errsz);
	}
	membuf_free(&b);
	return ok;
}
