/*
 * event_json.c: the RabbitMQ event messages (see event_json.h).
 */
#include "event_json.h"

#include <stdio.h>
#include <string.h>

static void
set_err(char *errbuf, size_t errlen, const char *msg, const char *field)
{
	if (errbuf && errlen > 0)
		snprintf(errbuf, errlen, "%s%s%s", msg, field ? ": " : "", field ? field : "");
}

bool
ev_event_name_valid(const char *event)
{
	return event != NULL &&
		(strcmp(event, EV_UPLOADED) == 0 || strcmp(event, EV_COMPLETED) == 0 ||
		 strcmp(event, EV_FAILED) == 0 || strcmp(event, EV_CORRECTED) == 0);
}

/* adds key: string (or null when s is NULL and nullable); false on failure */
static bool
add_string(json_t *o, const char *key, const char *s, bool nullable,
		   char *errbuf, size_t errlen)
{
	json_t	   *v;

	if (s == NULL)
	{
		if (!nullable)
		{
			set_err(errbuf, errlen, "missing event field", key);
			return false;
		}
		v = json_null();
	}
	else
	{
		v = json_string(s);
		if (v == NULL)
		{
			set_err(errbuf, errlen, "event field is not valid UTF-8", key);
			return false;
		}
	}
	if (json_object_set_new(o, key, v) != 0)
	{
		set_err(errbuf, errlen, "out of memory", NULL);
		return false;
	}
	return true;
}

json_t *
ev_event_json(const ev_event *e, char *errbuf, size_t errlen)
{
	json_t	   *o;
	json_t	   *size;

	if (e == NULL || !ev_event_name_valid(e->event))
	{
		set_err(errbuf, errlen, "unknown event", e && e->event ? e->event : "(null)");
		return NULL;
	}
	if (e->request_id == NULL || e->request_id[0] == '\0')
	{
		set_err(errbuf, errlen, "missing event field", "request_id");
		return NULL;
	}
	if (e->size_bytes < 0)
	{
		set_err(errbuf, errlen, "negative event field", "size_bytes");
		return NULL;
	}
	o = json_object();
	if (o == NULL)
	{
		set_err(errbuf, errlen, "out of memory", NULL);
		return NULL;
	}
	if (!add_string(o, "event", e->event, false, errbuf, errlen) ||
		!add_string(o, "request_id", e->request_id, false, errbuf, errlen) ||
		!add_string(o, "filename", e->filename, false, errbuf, errlen))
		goto fail;
	size = json_integer((json_int_t) e->size_bytes);
	if (size == NULL || json_object_set_new(o, "size_bytes", size) != 0)
	{
		set_err(errbuf, errlen, "out of memory", NULL);
		goto fail;
	}
	if (!add_string(o, "sha256", e->sha256, false, errbuf, errlen) ||
		!add_string(o, "s3_bucket", e->s3_bucket, true, errbuf, errlen) ||
		!add_string(o, "s3_key", e->s3_key, true, errbuf, errlen) ||
		!add_string(o, "created_at", e->created_at, false, errbuf, errlen))
		goto fail;
	return o;

fail:
	json_decref(o);
	return NULL;
}

char *
ev_event_body(const ev_event *e, char *errbuf, size_t errlen)
{
	json_t	   *o = ev_event_json(e, errbuf, errlen);
	char	   *s;

	if (o == NULL)
		return NULL;
	/* insertion order is the documented order (jansson >= 2.8 keeps it) */
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		set_err(errbuf, errlen, "out of memory", NULL);
	return s;
}

int
ev_message_id(const char *request_id, const char *event, int attempt,
			  char *buf, size_t buflen)
{
	int			n;

	if (request_id == NULL || request_id[0] == '\0' || event == NULL ||
		event[0] == '\0' || attempt < 0 || buf == NULL || buflen == 0)
		return -1;
	n = snprintf(buf, buflen, "%s:%s:%d", request_id, event, attempt);
	if (n < 0 || (size_t) n >= buflen)
	{
		buf[0] = '\0';
		return -1;
	}
	return n;
}

static const char *
get_string(json_t *o, const char *key, bool nullable, bool *ok,
		   char *errbuf, size_t errlen)
{
	json_t	   *v = json_object_get(o, key);

	if (v != NULL && json_is_string(v))
		return json_string_value(v);
	if (nullable && (v == NULL || json_is_null(v)))
		return NULL;
	if (*ok)
		set_err(errbuf, errlen, "missing or non-string event field", key);
	*ok = false;
	return NULL;
}

json_t *
ev_event_parse(const char *body, size_t len, ev_event *e, char *errbuf, size_t errlen)
{
	json_error_t jerr;
	json_t	   *o;
	json_t	   *size;
	bool		ok = true;

	memset(e, 0, sizeof(*e));
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
	{
		if (errbuf && errlen > 0)
			snprintf(errbuf, errlen, "malformed event JSON: %s", jerr.text);
		return NULL;
	}
	if (!json_is_object(o))
	{
		set_err(errbuf, errlen, "event JSON is not an object", NULL);
		json_decref(o);
		return NULL;
	}
	e->event = get_string(o, "event", false, &ok, errbuf, errlen);
	e->request_id = get_string(o, "request_id", false, &ok, errbuf, errlen);
	e->filename = get_string(o, "filename", false, &ok, errbuf, errlen);
	e->sha256 = get_string(o, "sha256", false, &ok, errbuf, errlen);
	e->s3_bucket = get_string(o, "s3_bucket", true, &ok, errbuf, errlen);
	e->s3_key = get_string(o, "s3_key", true, &ok, errbuf, errlen);
	e->created_at = get_string(o, "created_at", false, &ok, errbuf, errlen);
	size = json_object_get(o, "size_bytes");
	if (ok && (size == NULL || !json_is_integer(size) || json_integer_value(size) < 0))
	{
		set_err(errbuf, errlen, "missing or bad event field", "size_bytes");
		ok = false;
	}
	if (ok && !ev_event_name_valid(e->event))
	{
		set_err(errbuf, errlen, "unknown event", e->event);
		ok = false;
	}
	if (!ok)
	{
		memset(e, 0, sizeof(*e));
		json_decref(o);
		return NULL;
	}
	e->size_bytes = (int64_t) json_integer_value(size);
	return o;
}
