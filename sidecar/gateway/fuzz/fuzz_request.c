/*
 * libFuzzer target: the request handling that is ours, not libmicrohttpd's.
 * The input is split at '\n' into: method, path, X-Request-ID, Authorization,
 * Content-Type, SQLSTATE, and a free text used as a problem "detail". Each part
 * goes through its parser, and the invariants are checked:
 *  - route_find: a found route's method accepts the method; {id} fits its buffer;
 *    405 comes with a non-empty Allow
 *  - uuid_parse: accepts exactly 36 canonical characters, output lower case and
 *    parses again to itself
 *  - request_id_acceptable: accepted ids are short and header/log safe
 *  - auth_parse_bearer: the token lies inside the header and is token68
 *  - upload_check_content_type: never crashes
 *  - problem_body: always valid JSON, and "detail" survives the round trip
 *  - invoices_query_add (the free text read as a query string a=b&c=d):
 *    accepts only known names once each, limit 1..100, facets true|false
 *  - content_disposition (the free text as a file name): printable ASCII,
 *    one quoted string, no header injection
 */
#include "auth.h"
#include "config.h"
#include "db_pool.h"
#include "handlers.h"
#include "problem.h"
#include "request_id.h"
#include "routes.h"
#include "upload.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* true when s is valid UTF-8 (jansson refuses anything else) */
static bool
json_t_check_utf8_free(const char *s)
{
	json_t	   *j = json_string(s);
	bool		ok = j != NULL;

	json_decref(j);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *buf = malloc(size + 1);
	char	   *fields[7] = {"", "", "", "", "", "", ""};
	char	   *p;
	int			n = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	p = buf;
	while (n < 7)
	{
		char	   *nl = strchr(p, '\n');

		fields[n++] = p;
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}

	/* routing */
	{
		const struct route *r;
		char		param[ROUTE_PARAM_MAX + 1];
		char		allow[64];
		enum route_match m = route_find(routes, n_routes, fields[0], fields[1], &r,
										param, sizeof(param), allow, sizeof(allow));

		if (m == ROUTE_FOUND)
		{
			CHECK(r != NULL);
			CHECK(strcmp(r->method, fields[0]) == 0 ||
				  (strcmp(fields[0], "HEAD") == 0 && strcmp(r->method, "GET") == 0));
			CHECK(strlen(param) <= ROUTE_PARAM_MAX);
			CHECK(strchr(param, '/') == NULL);
			CHECK(route_index(r) < n_routes);
		}
		else
		{
			CHECK(r == NULL);
			CHECK(m != ROUTE_METHOD_NOT_ALLOWED || allow[0] != '\0');
		}
		/* ids */
		{
			char		id[UUID_TEXT_LEN + 1];
			char		again[UUID_TEXT_LEN + 1];

			if (uuid_parse(param, id))
			{
				CHECK(strlen(param) == UUID_TEXT_LEN);
				for (int i = 0; i < UUID_TEXT_LEN; i++)
					CHECK(!isupper((unsigned char) id[i]));
				CHECK(uuid_parse(id, again) && strcmp(id, again) == 0);
			}
			if (uuid_parse(fields[1], id))
				CHECK(strlen(fields[1]) == UUID_TEXT_LEN);
		}
	}

	/* X-Request-ID */
	if (request_id_acceptable(fields[2]))
	{
		size_t		len = strlen(fields[2]);

		CHECK(len >= 1 && len <= REQUEST_ID_MAX);
		for (size_t i = 0; i < len; i++)
			CHECK(fields[2][i] > ' ' && fields[2][i] < 0x7f && fields[2][i] != '"' && fields[2][i] != '\\');
	}

	/* Authorization */
	{
		const char *tok;
		size_t		len;

		if (auth_parse_bearer(fields[3], &tok, &len))
		{
			CHECK(len >= 1 && len <= API_KEY_MAX);
			CHECK(tok > fields[3] && tok + len <= fields[3] + strlen(fields[3]));
			for (size_t i = 0; i < len; i++)
				CHECK(tok[i] > ' ' && tok[i] < 0x7f);
		}
	}

	/* Content-Type */
	(void) upload_check_content_type(fields[4]);

	/* SQLSTATE mapping: always one of ours */
	{
		unsigned int s = db_sqlstate_http_status(fields[5]);

		CHECK(s == 400 || s == 404 || s == 409 || s == 500 || s == 503);
	}

	/* problem JSON: valid, and detail round-trips when it is valid UTF-8 */
	{
		static const unsigned int statuses[] = {400, 401, 404, 405, 409, 500, 503};
		unsigned int status = statuses[size % 7];
		size_t		len = 0;
		char	   *body = problem_body(status, fields[6], fields[2], &len);
		json_error_t jerr;
		json_t	   *doc;
		json_t	   *check = json_string(fields[6]);	/* NULL when not UTF-8 */

		CHECK(body != NULL && strlen(body) == len);
		doc = json_loads(body, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
		CHECK(doc != NULL);
		CHECK(json_integer_value(json_object_get(doc, "status")) == status);
		CHECK(json_is_string(json_object_get(doc, "detail")));
		if (check)
		{
			const char *d = json_string_value(json_object_get(doc, "detail"));

			CHECK(strncmp(d, fields[6], strlen(d)) == 0);
			CHECK(strlen(fields[6]) >= 1000 || strcmp(d, fields[6]) == 0);
		}
		json_decref(check);
		json_decref(doc);
		free(body);
	}
	/* GET /api/v1/invoices query string */
	{
		struct invoices_query q;
		char	   *qs = strdup(fields[6]);
		char	   *save = NULL;
		bool		ok = true;

		CHECK(qs != NULL);
		invoices_query_init(&q);
		for (char *pair = strtok_r(qs, "&", &save); pair && ok; pair = strtok_r(NULL, "&", &save))
		{
			char	   *eq = strchr(pair, '=');

			if (eq)
				*eq = '\0';
			ok = invoices_query_add(&q, pair, eq ? eq + 1 : NULL);
			CHECK(ok == (q.error[0] == '\0'));
		}
		if (ok)
		{
			if (q.values[13])
			{
				long		n = strtol(q.values[13], NULL, 10);

				CHECK(n >= 1 && n <= 100);
			}
			if (q.values[15])
				CHECK(!strcmp(q.values[15], "true") || !strcmp(q.values[15], "false"));
		}
		CHECK(json_t_check_utf8_free(q.error));
		free(qs);
	}

	/* Content-Disposition from a stored file name */
	{
		char		cd[1400];
		const char *open_q,
				   *close_q;

		content_disposition(fields[6], cd, sizeof(cd));
		CHECK(strncmp(cd, "attachment; filename=\"", 22) == 0);
		for (const char *c = cd; *c; c++)
			CHECK(*c >= 0x20 && *c < 0x7f);
		open_q = cd + 21;
		close_q = strchr(open_q + 1, '"');
		CHECK(close_q != NULL);
		CHECK(strchr(close_q + 1, '"') == NULL);
	}
	free(buf);
	return 0;
}
