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

bool
text_is_utf8(const char *s)
{
	size_t		n = strlen(s);
	char	   *clean = malloc(n + 1);
	bool		ok;

	if (!clean)
		return false;
	/* the sanitiser replaces each invalid byte by '?': equal means valid */
	utf8_sanitize(s, clean, n + 1);
	ok = strcmp(clean, s) == 0;
	free(clean);
	return ok;
}

void
reply_clear(struct reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
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
