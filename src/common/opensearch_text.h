/*
 * opensearch_text.h: a narrow face of opensearch_client for code that cannot
 * include jansson's header next to PostgreSQL's (both declare json_object):
 * an opaque client, JSON as text in and out.
 */
#ifndef INVOICEFLOW_OPENSEARCH_TEXT_H
#define INVOICEFLOW_OPENSEARCH_TEXT_H

#include <stddef.h>

typedef struct osc_client ost_client;

enum { OST_OK = 0, OST_TRANSIENT = 1, OST_PERMANENT = 2, OST_ABORTED = 3 };

/* NULL on a bad URL, with the reason in errbuf */
ost_client *ost_client_new(const char *url, long connect_timeout_ms, long total_timeout_ms,
						   int (*abort_fn) (void *), void *abort_arg, char *errbuf, size_t errlen);
void		ost_client_free(ost_client *c);

/* One of OST_*; on OST_OK *response_text is the answer (malloc'd, caller frees) */
int			ost_request(ost_client *c, const char *method, const char *path, const char *body,
						char **response_text, char *errbuf, size_t errlen);

#endif
