/*
 * problem.c: replies. Errors are RFC 9457 problem documents:
 *   {"type": "about:blank", "title": <reason phrase>, "status": N,
 *    "detail": <message for a human>, "request_id": <X-Request-ID>}
 * "detail" is also the field FastAPI (the seed) puts its error message in.
 */
#include "problem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
http_reason(unsigned int status)
{
	switch (status)
	{
		case 200:
			return "OK";
		case 202:
			return "Accepted";
		case 400:
			return "Bad Request";
		case 401:
			return "Unauthorized";
		case 403:
			return "Forbidden";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 408:
			return "Request Timeout";
		case 409:
			return "Conflict";
		case 413:
			return "Content Too Large";
		case 429:
			return "Too Many Requests";
		case 431:
			return "Request Header Fields Too Large";
		case 500:
			return "Internal Server Error";
		case 502:
			return "Bad Gateway";
		case 503:
			return "Service Unavailable";
		default:
			return "Unknown";
	}
}

void
reply_clear(struct reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* length of the valid UTF-8 sequence at s, or 0 */
static size_t
utf8_seq(const unsigned char *s)
{
	size_t		n;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
	{
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		(cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void
utf8_sanitize(const char *s, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		j = 0;

	if (outsz == 0)
		return;
	while (*p)
	{
		size_t		n = utf8_seq(p);

		if (n == 0)
		{
			if (j + 1 >= outsz)
				break;
			out[j++] = '?';
			p++;
			continue;
		}
		if (j + n >= outsz)
			break;
		memcpy(out + j, p, n);
		j += n;
		p += n;
	}
	out[j] = '\0';
}

char *
problem_body(unsigned int status, const char *detail, const char *request_id, size_t *len)
{
	json_t	   *o = json_object();
	char	   *s;
	char		clean[1024];

	json_object_set_new(o, "type", json_string("about:blank"));
	json_object_set_new(o, "title", json_string(http_reason(status)));
	json_object_set_new(o, "status", json_integer(status));
	/* messages may quote a client's bytes: invalid UTF-8 becomes "?" */
	utf8_sanitize(detail, clean, sizeof(clean));
	json_object_set_new(o, "detail", json_string(clean));
	if (request_id && request_id[0])
		json_object_set_new(o, "request_id", json_string(request_id));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(o);
	if (s && len)
		*len = strlen(s);
	return s;
}

void
reply_problem(struct reply *r, unsigned int status, const char *request_id, const char *fmt,...)
{
	char		detail[1024];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	free(r->body);
	r->status = status;
	r->content_type = "application/problem+json";
	r->body = problem_body(status, detail, request_id, &r->body_len);
}

void
reply_json(struct reply *r, unsigned int status, json_t *value)
{
	free(r->body);
	r->status = status;
	r->content_type = "application/json";
	r->body = json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	r->body_len = r->body ? strlen(r->body) : 0;
	json_decref(value);
}

void
reply_raw(struct reply *r, unsigned int status, const char *content_type,
		  const char *body, size_t len)
{
	free(r->body);
	r->status = status;
	r->content_type = content_type;
	r->body = malloc(len + 1);
	if (r->body)
	{
		memcpy(r->body, body, len);
		r->body[len] = '\0';
	}
	r->body_len = r->body ? len : 0;
	if (!r->body)
		reply_problem(r, 500, NULL, "out of memory");
}
