/*
 * problem.h: the reply a handler produces, and its two common shapes:
 * a JSON document, or an RFC 9457 problem (application/problem+json) whose
 * "detail" holds the human message (the field the seed's clients read).
 */
#ifndef GATEWAY_PROBLEM_H
#define GATEWAY_PROBLEM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../src/common/utf8_sanitize.h"

struct reply
{
	unsigned int status;		/* 0 until a handler sets it */
	char	   *body;			/* malloc'd, owned by the reply */
	size_t		body_len;
	const char *content_type;	/* static string */
	char		allow[64];		/* Allow header for 405, or "" */
	int			retry_after;	/* Retry-After seconds, or 0 */
	bool		www_authenticate;	/* add WWW-Authenticate: Bearer */
	char		disposition[1400];	/* Content-Disposition header, or "" */
	/*
	 * A body read piece by piece while it is sent (downloads), instead of
	 * body: stream_read(cls, pos, buf, max) gives up to max bytes at pos (-1 on
	 * error); server.c calls stream_free(cls) once the response is done.
	 */
	uint64_t	stream_size;
	long		(*stream_read) (void *cls, uint64_t pos, char *buf, size_t max);
	void		(*stream_free) (void *cls);
	void	   *stream_cls;
	char		set_cookie[256];	/* Set-Cookie header (session.c), or "" */
};

/* The standard reason phrase ("Not Found"); "Unknown" for codes we never send. */
const char *http_reason(unsigned int status);

/* Sets r to a problem document; detail is copied (printf format). */
void		reply_problem(struct reply *r, unsigned int status, const char *request_id,
						  const char *fmt,...) __attribute__((format(printf, 4, 5)));

/* Sets r to the serialised JSON value (consumed). */
void		reply_json(struct reply *r, unsigned int status, json_t *value);

/* Sets r to a copy of len bytes of body with the given content type. */
void		reply_raw(struct reply *r, unsigned int status, const char *content_type,
					  const char *body, size_t len);

/* Builds the problem JSON text (malloc'd) without a reply; for tests and the fuzzer. */
char	   *problem_body(unsigned int status, const char *detail, const char *request_id,
						 size_t *len);

void		reply_clear(struct reply *r);

/* Is s valid UTF-8 (what PostgreSQL accepts as text)? Checked before a client's text reaches SQL. */
bool		text_is_utf8(const char *s);


#endif
