/*
 * mail_account.c: see mail_account.h. The URL is taken apart by libcurl's URL
 * parser (curl_url), not by hand.
 */
#include "mail_account.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool
get_part(CURLU *u, CURLUPart part, unsigned flags, char *out, size_t outsz)
{
	char	   *v = NULL;

	out[0] = '\0';
	if (curl_url_get(u, part, &v, flags) != CURLUE_OK || v == NULL)
		return false;
	snprintf(out, outsz, "%s", v);
	curl_free(v);
	return true;
}

bool
mail_account_parse(const char *url, struct mail_account *a, char *err, size_t errsz)
{
	CURLU	   *u = curl_url();
	char		scheme[16],
				host[256],
				port[16],
				path[512];
	char	   *esc;
	bool		ok = false;

	memset(a, 0, sizeof(*a));
	if (u == NULL)
		return false;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
	{
		snprintf(err, errsz, "not a URL (expected imaps://user:password@host/INBOX)");
		goto out;
	}
	get_part(u, CURLUPART_SCHEME, 0, scheme, sizeof(scheme));
	if (strcasecmp(scheme, "imap") != 0 && strcasecmp(scheme, "imaps") != 0)
	{
		snprintf(err, errsz, "the URL's scheme must be imap or imaps, not %s", scheme);
		goto out;
	}
	a->implicit_tls = strcasecmp(scheme, "imaps") == 0;
	if (!get_part(u, CURLUPART_USER, CURLU_URLDECODE, a->user, sizeof(a->user)) || !a->user[0])
	{
		snprintf(err, errsz, "the URL names no user (imaps://user:password@host/INBOX)");
		goto out;
	}
	get_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE, a->password, sizeof(a->password));
	get_part(u, CURLUPART_HOST, 0, host, sizeof(host));
	get_part(u, CURLUPART_PORT, 0, port, sizeof(port));
	get_part(u, CURLUPART_PATH, CURLU_URLDECODE, path, sizeof(path));
	{
		const char *f = path;

		while (*f == '/')
			f++;
		if (snprintf(a->folder, sizeof(a->folder), "%s", *f ? f : "INBOX") >= (int) sizeof(a->folder))
		{
			snprintf(err, errsz, "the folder name is too long");
			goto out;
		}
		/* a trailing slash is not part of the folder's name */
		for (size_t n = strlen(a->folder); n > 0 && a->folder[n - 1] == '/'; n--)
			a->folder[n - 1] = '\0';
	}
	if (strpbrk(a->folder, "\"\\\r\n;") != NULL)
	{
		snprintf(err, errsz, "the folder name holds a character this program does not quote (\" \\ ; or a line break)");
		goto out;
	}
	esc = curl_easy_escape(NULL, a->folder, 0);
	ok = snprintf(a->base_url, sizeof(a->base_url), "%s://%s%s%s/", a->implicit_tls ? "imaps" : "imap",
				  host, port[0] ? ":" : "", port) < (int) sizeof(a->base_url) &&
		snprintf(a->folder_url, sizeof(a->folder_url), "%s%s", a->base_url, esc ? esc : "INBOX") < (int) sizeof(a->folder_url) &&
		snprintf(a->name, sizeof(a->name), "%s@%s%s%s/%s", a->user, host, port[0] ? ":" : "", port,
				 a->folder) < (int) sizeof(a->name);
	curl_free(esc);
	if (!ok)
		snprintf(err, errsz, "the URL is too long");
out:
	curl_url_cleanup(u);
	return ok;
}
