/*
 * Tests of the OpenSearch client against OPENSEARCH_URL: the test double
 * (test/services/opensearch_double.py) or a real cluster (then the fault
 * injection tests are skipped). Prints "N passed, N failed".
 */
#include "opensearch_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

static int	passed;
static int	failed;

#define CHECK(cond, ...) check((cond), __LINE__, #cond, __VA_ARGS__)

static void check(int ok, int line, const char *expr, const char *fmt,...)
__attribute__((format(printf, 4, 5)));

static void
check(int ok, int line, const char *expr, const char *fmt,...)
{
	va_list		ap;

	if (ok)
	{
		passed++;
		return;
	}
	failed++;
	fprintf(stderr, "FAIL line %d: %s: ", line, expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static json_t *
parse(const char *s)
{
	json_error_t je;
	json_t	   *j = json_loads(s, 0, &je);

	if (j == NULL)
	{
		fprintf(stderr, "bad test JSON: %s: %s\n", je.text, s);
		exit(2);
	}
	return j;
}

static long
total_hits(const json_t *resp)
{
	return (long) json_integer_value(json_object_get(json_object_get(json_object_get(resp, "hits"), "total"), "value"));
}

static const json_t *
hits(const json_t *resp)
{
	return json_object_get(json_object_get(resp, "hits"), "hits");
}

static const char *
hit_id(const json_t *resp, size_t i)
{
	return json_string_value(json_object_get(json_array_get(hits(resp), i), "_id"));
}

/* search with a query given as JSON text; NULL on error (reported) */
static json_t *
search(osc_client *c, const char *index, const char *q, osc_error *err)
{
	json_t	   *query = parse(q);
	json_t	   *resp = NULL;
	osc_status	st = osc_search(c, index, query, &resp, err);

	json_decref(query);
	if (st != OSC_OK)
		return NULL;
	return resp;
}

static osc_status
set_fault(osc_client *c, const char *mode)
{
	char		body[128];
	osc_error	err;

	snprintf(body, sizeof(body), "{\"mode\":\"%s\",\"delay_ms\":1500}", mode);
	return osc_request(c, "POST", "/_double/fail", NULL, body, strlen(body), NULL, NULL, &err);
}

static int
abort_now(void *arg)
{
	int		   *calls = arg;

	(*calls)++;
	return 1;
}

static const char *const docs[] = {
	"{\"request_id\":\"a1\",\"status\":\"COMPLETED\",\"source\":\"upload\",\"filename\":\"acme-0815.pdf\","
	"\"invoice_number\":\"RE-2024/0815\",\"seller_name\":\"Acme GmbH\",\"buyer_name\":\"Globex Ltd\","
	"\"currency\":\"EUR\",\"issue_date\":\"2024-01-15\",\"due_date\":\"2024-02-14\",\"total\":\"1190.00\","
	"\"needs_review\":false,\"extracted_from\":\"xml\",\"created_at\":\"2024-01-16T08:00:00Z\","
	"\"text\":\"Rechnung RE-2024/0815 Acme GmbH Consulting services January total 1190.00 EUR\"}",
	"{\"request_id\":\"a2\",\"status\":\"COMPLETED\",\"source\":\"email\",\"filename\":\"acme-0816.pdf\","
	"\"invoice_number\":\"RE-2024/0816\",\"seller_name\":\"Acme GmbH\",\"buyer_name\":\"Initech\","
	"\"currency\":\"EUR\",\"issue_date\":\"2024-02-03\",\"due_date\":null,\"total\":\"250.50\","
	"\"needs_review\":true,\"extracted_from\":\"text\",\"created_at\":\"2024-02-04T08:00:00Z\","
	"\"text\":\"Invoice RE-2024/0816 from Acme GmbH for hosting and support\"}",
	"{\"request_id\":\"a3\",\"status\":\"COMPLETED\",\"source\":\"upload\",\"filename\":\"umbrella.pdf\","
	"\"invoice_number\":\"02091-C-71\",\"seller_name\":\"Umbrella Corp\",\"buyer_name\":\"Globex Ltd\","
	"\"currency\":\"USD\",\"issue_date\":\"2024-02-20\",\"due_date\":\"2024-03-20\",\"total\":\"99.99\","
	"\"needs_review\":false,\"extracted_from\":\"ocr\",\"created_at\":\"2024-02-21T08:00:00Z\","
	"\"text\":\"Invoice 02091-C-71 Umbrella Corp vaccine research supplies\"}",
	"{\"request_id\":\"a4\",\"status\":\"COMPLETED\",\"source\":\"webhook\",\"filename\":\"stark.pdf\","
	"\"invoice_number\":\"SI-77\",\"seller_name\":\"Stark Industries\",\"buyer_name\":\"Acme GmbH\","
	"\"currency\":\"EUR\",\"issue_date\":\"2024-03-01\",\"due_date\":\"2024-03-31\",\"total\":\"5000\","
	"\"needs_review\":false,\"extracted_from\":\"xml\",\"created_at\":\"2024-03-02T08:00:00Z\","
	"\"text\":\"Invoice SI-77 Stark Industries armour consulting\"}",
	"{\"request_id\":\"a5\",\"status\":\"COMPLETED\",\"source\":\"upload\",\"filename\":\"wayne.pdf\","
	"\"invoice_number\":\"WE-1\",\"seller_name\":\"Wayne Enterprises\",\"buyer_name\":\"Initech\","
	"\"currency\":\"EUR\",\"issue_date\":\"2024-03-15\",\"due_date\":\"2024-04-15\",\"total\":\"250.50\","
	"\"needs_review\":false,\"extracted_from\":\"text\",\"created_at\":\"2024-03-16T08:00:00Z\","
	"\"text\":\"Invoice WE-1 Wayne Enterprises consulting and hosting\"}",
};
static const char *const doc_ids[] = {"a1", "a2", "a3", "a4", "a5"};
#define NDOCS 5

static void
test_client_basics(const char *url)
{
	osc_error	err;
	osc_client *c;

	c = osc_client_new("ftp://example.com", &err);
	CHECK(c == NULL && err.status == OSC_PERMANENT, "ftp URL: %s", err.message);
	osc_client_free(c);
	c = osc_client_new("not a url at all", &err);
	CHECK(c == NULL && err.status == OSC_PERMANENT, "bad URL: %s", err.message);
	osc_client_free(c);
	c = osc_client_new("http://elastic:s3cr%40t@127.0.0.1:9200/prefix/", &err);
	CHECK(c != NULL, "URL with credentials: %s", err.message);
	if (c)
	{
		CHECK(strcmp(osc_client_url(c), "http://127.0.0.1:9200/prefix") == 0,
			  "credentials and trailing slash stripped: %s", osc_client_url(c));
		osc_client_free(c);
	}
	/* credentials are sent as basic auth; the double ignores them unless asked */
	{
		char		with_auth[512];
		const char *p = strstr(url, "://");

		snprintf(with_auth, sizeof(with_auth), "http://user:pass@%s", p ? p + 3 : url);
		c = osc_client_new(with_auth, &err);
		CHECK(c != NULL && osc_health(c, NULL, 0, &err) == OSC_OK, "health with credentials: %s", err.message);
		osc_client_free(c);
	}
}

static void
test_index(osc_client *c, const char *index)
{
	osc_error	err;
	bool		created = false;
	osc_status	st;
	json_t	   *resp = NULL;
	char		path[256];
	char		health[16];

	st = osc_health(c, health, sizeof(health), &err);
	CHECK(st == OSC_OK, "health: %s", err.message);
	CHECK(strcmp(health, "green") == 0 || strcmp(health, "yellow") == 0, "cluster status %s", health);

	st = osc_ensure_index(c, index, NULL, &created, &err);
	CHECK(st == OSC_OK && created, "ensure_index creates: %s", err.message);
	st = osc_ensure_index(c, index, NULL, &created, &err);
	CHECK(st == OSC_OK && !created, "ensure_index again is a no-op: %s", err.message);

	snprintf(path, sizeof(path), "/%s/_mapping", index);
	st = osc_request(c, "GET", path, NULL, NULL, 0, NULL, &resp, &err);
	CHECK(st == OSC_OK, "get mapping: %s", err.message);
	{
		const json_t *props = json_object_get(json_object_get(json_object_get(resp, index), "mappings"),
											  "properties");
		const char *t = json_string_value(json_object_get(json_object_get(props, "total"), "type"));
		const char *d = json_string_value(json_object_get(json_object_get(props, "issue_date"), "type"));

		CHECK(t && strcmp(t, "scaled_float") == 0, "total is scaled_float (%s)", t ? t : "null");
		CHECK(d && strcmp(d, "date") == 0, "issue_date is date (%s)", d ? d : "null");
	}
	json_decref(resp);

	st = osc_ensure_index(c, "Bad_Index", NULL, &created, &err);
	CHECK(st == OSC_PERMANENT, "upper-case index name refused: %s", err.message);
}

static void
test_bulk_and_search(osc_client *c, const char *index)
{
	osc_error	err;
	osc_bulk   *b = osc_bulk_new(index);
	osc_status	st;
	json_t	   *resp;
	size_t		i;

	CHECK(b != NULL, "bulk_new%s", "");
	if (b == NULL)
		return;
	for (i = 0; i < NDOCS; i++)
	{
		json_t	   *doc = parse(docs[i]);

		CHECK(osc_bulk_index(b, doc_ids[i], doc) == 0, "bulk_index %s", doc_ids[i]);
		json_decref(doc);
	}
	{
		json_t	   *empty = json_object();

		CHECK(osc_bulk_index(b, "", empty) == -1, "empty id refused%s", "");
		CHECK(osc_bulk_index(b, "x", NULL) == -1, "no document refused%s", "");
		json_decref(empty);
	}
	CHECK(osc_bulk_count(b) == NDOCS && osc_bulk_bytes(b) > 0, "count %zu", osc_bulk_count(b));
	st = osc_bulk_send(c, b, &err);
	CHECK(st == OSC_OK, "bulk send: %s", err.message);
	for (i = 0; i < osc_bulk_count(b); i++)
	{
		const osc_bulk_item *it = osc_bulk_item_at(b, i);

		CHECK(it->status == OSC_OK && (it->http_status == 201 || it->http_status == 200) && it->error == NULL,
			  "item %s: %ld %s", it->id, it->http_status, it->error ? it->error : "");
	}
	osc_bulk_free(b);
	st = osc_refresh(c, index, &err);
	CHECK(st == OSC_OK, "refresh: %s", err.message);

	/* keyword query over several fields, with highlight */
	resp = search(c, index,
				  "{\"query\":{\"simple_query_string\":{\"query\":\"acme\",\"fields\":[\"text\",\"seller_name\",\"buyer_name\"]}},"
				  "\"highlight\":{\"fields\":{\"text\":{}}},\"size\":10}", &err);
	CHECK(resp != NULL, "keyword search: %s", err.message);
	if (resp)
	{
		const char *frag = NULL;
		size_t		h;

		/* a1 matches in its text (a4 only through buyer_name: no text fragment) */
		for (h = 0; h < json_array_size(hits(resp)); h++)
			if (strcmp(hit_id(resp, h), "a1") == 0)
				frag = json_string_value(json_array_get(json_object_get(json_object_get(
								json_array_get(hits(resp), h), "highlight"), "text"), 0));

		CHECK(total_hits(resp) == 3, "acme matches a1, a2, a4: %ld", total_hits(resp));
		CHECK(frag && strstr(frag, "<em>Acme</em>") != NULL, "highlight fragment: %s", frag ? frag : "null");
		json_decref(resp);
	}

	/* invoice numbers as typed */
	resp = search(c, index,
				  "{\"query\":{\"multi_match\":{\"query\":\"02091-C-71\",\"fields\":[\"invoice_number^3\",\"text\"],"
				  "\"operator\":\"and\"}}}", &err);
	CHECK(resp != NULL && total_hits(resp) == 1 && strcmp(hit_id(resp, 0), "a3") == 0,
		  "invoice number search: %s", resp ? "" : err.message);
	json_decref(resp);
	resp = search(c, index, "{\"query\":{\"term\":{\"invoice_number\":\"re-2024/0815\"}}}", &err);
	CHECK(resp != NULL && total_hits(resp) == 1 && strcmp(hit_id(resp, 0), "a1") == 0,
		  "invoice number keyword, lower-cased by the normalizer: %s", resp ? "" : err.message);
	json_decref(resp);

	/* filters: currency, date range, total range, boolean */
	resp = search(c, index,
				  "{\"query\":{\"bool\":{\"filter\":["
				  "{\"term\":{\"currency\":\"EUR\"}},"
				  "{\"range\":{\"issue_date\":{\"gte\":\"2024-02-01\",\"lte\":\"2024-03-31\",\"format\":\"yyyy-MM-dd\"}}},"
				  "{\"range\":{\"total\":{\"gte\":100}}},"
				  "{\"term\":{\"needs_review\":false}}]}},"
				  "\"sort\":[{\"issue_date\":\"asc\"},{\"request_id\":\"asc\"}]}", &err);
	CHECK(resp != NULL, "filter search: %s", err.message);
	if (resp)
	{
		CHECK(total_hits(resp) == 2 && strcmp(hit_id(resp, 0), "a4") == 0 && strcmp(hit_id(resp, 1), "a5") == 0,
			  "filters give a4, a5: %ld", total_hits(resp));
		json_decref(resp);
	}

	/* sort by total desc with an id tiebreak, paged by search_after, 2 per page */
	{
		const char *expect[] = {"a4", "a1", "a2", "a5", "a3"};
		size_t		seen = 0;
		json_t	   *after = NULL;
		int			pages = 0;

		for (;;)
		{
			json_t	   *q = parse("{\"size\":2,\"query\":{\"match_all\":{}},"
								  "\"sort\":[{\"total\":\"desc\"},{\"request_id\":\"asc\"}]}");
			size_t		n;

			if (after)
				json_object_set_new(q, "search_after", after);
			after = NULL;
			st = osc_search(c, index, q, &resp, &err);
			json_decref(q);
			CHECK(st == OSC_OK, "page %d: %s", pages, err.message);
			if (st != OSC_OK)
				break;
			pages++;
			n = json_array_size(hits(resp));
			for (i = 0; i < n && seen < NDOCS; i++, seen++)
				CHECK(strcmp(hit_id(resp, i), expect[seen]) == 0, "page %d item %zu: %s, expected %s",
					  pages, i, hit_id(resp, i), expect[seen]);
			if (n > 0)
				after = json_deep_copy(json_object_get(json_array_get(hits(resp), n - 1), "sort"));
			json_decref(resp);
			if (n < 2 || pages > 5)
				break;
		}
		json_decref(after);
		CHECK(seen == NDOCS && pages == 3, "search_after paging saw %zu in %d pages", seen, pages);
	}

	/* facets: by seller, by currency, by month */
	resp = search(c, index,
				  "{\"size\":0,\"aggs\":{"
				  "\"seller\":{\"terms\":{\"field\":\"seller_name.keyword\",\"size\":10}},"
				  "\"currency\":{\"terms\":{\"field\":\"currency\"}},"
				  "\"month\":{\"date_histogram\":{\"field\":\"issue_date\",\"calendar_interval\":\"month\",\"format\":\"yyyy-MM\"}}}}",
				  &err);
	CHECK(resp != NULL, "aggs: %s", err.message);
	if (resp)
	{
		const json_t *aggs = json_object_get(resp, "aggregations");
		const json_t *sb = json_array_get(json_object_get(json_object_get(aggs, "seller"), "buckets"), 0);
		const json_t *cb = json_object_get(json_object_get(aggs, "currency"), "buckets");
		const json_t *mb = json_object_get(json_object_get(aggs, "month"), "buckets");

		CHECK(json_array_size(hits(resp)) == 0 && total_hits(resp) == NDOCS, "size 0 returns no hits%s", "");
		CHECK(strcmp(json_string_value(json_object_get(sb, "key")), "Acme GmbH") == 0 &&
			  json_integer_value(json_object_get(sb, "doc_count")) == 2, "top seller Acme GmbH x2%s", "");
		CHECK(json_array_size(cb) == 2 &&
			  json_integer_value(json_object_get(json_array_get(cb, 0), "doc_count")) == 4, "EUR x4, USD x1%s", "");
		CHECK(json_array_size(mb) == 3 &&
			  strcmp(json_string_value(json_object_get(json_array_get(mb, 1), "key_as_string")), "2024-02") == 0 &&
			  json_integer_value(json_object_get(json_array_get(mb, 1), "doc_count")) == 2,
			  "months Jan 1, Feb 2, Mar 2 (%zu buckets)", json_array_size(mb));
		json_decref(resp);
	}
}

static void
test_bulk_partial_failure_and_delete(osc_client *c, const char *index)
{
	osc_error	err;
	osc_bulk   *b = osc_bulk_new(index);
	osc_bulk   *retry;
	osc_status	st;
	json_t	   *good = parse("{\"request_id\":\"b1\",\"status\":\"COMPLETED\",\"issue_date\":\"2024-05-01\",\"total\":\"1.00\"}");
	json_t	   *bad = parse("{\"request_id\":\"b2\",\"status\":\"COMPLETED\",\"issue_date\":\"31/12/2024 oops\"}");
	json_t	   *good2 = parse("{\"request_id\":\"b3\",\"status\":\"COMPLETED\",\"text\":\"line one\\nline two\"}");
	json_t	   *resp;

	CHECK(osc_bulk_index(b, "b1", good) == 0 && osc_bulk_index(b, "b2", bad) == 0 &&
		  osc_bulk_index(b, "b3", good2) == 0, "bulk adds%s", "");
	json_decref(good);
	json_decref(bad);
	json_decref(good2);
	st = osc_bulk_send(c, b, &err);
	CHECK(st == OSC_PERMANENT, "one bad document: %s (%s)", osc_status_name(st), err.message);
	CHECK(osc_bulk_item_at(b, 0)->status == OSC_OK, "b1 ok%s", "");
	CHECK(osc_bulk_item_at(b, 1)->status == OSC_PERMANENT && osc_bulk_item_at(b, 1)->http_status == 400 &&
		  osc_bulk_item_at(b, 1)->error && strstr(osc_bulk_item_at(b, 1)->error, "mapper_parsing_exception"),
		  "b2 failed: %s", osc_bulk_item_at(b, 1)->error ? osc_bulk_item_at(b, 1)->error : "");
	CHECK(osc_bulk_item_at(b, 2)->status == OSC_OK, "b3 ok%s", "");
	retry = osc_bulk_failed(b, true);
	CHECK(retry != NULL && osc_bulk_count(retry) == 0, "nothing transient to retry%s", "");
	osc_bulk_free(retry);
	retry = osc_bulk_failed(b, false);
	CHECK(retry != NULL && osc_bulk_count(retry) == 1 && strcmp(osc_bulk_item_at(retry, 0)->id, "b2") == 0,
		  "the failed item alone%s", "");
	osc_bulk_free(retry);
	osc_bulk_free(b);

	/* delete: an existing id and a missing one both succeed */
	b = osc_bulk_new(index);
	CHECK(osc_bulk_delete(b, "b1") == 0 && osc_bulk_delete(b, "never-indexed") == 0 &&
		  osc_bulk_delete(b, "b3") == 0, "bulk deletes%s", "");
	st = osc_bulk_send(c, b, &err);
	CHECK(st == OSC_OK, "deletes: %s", err.message);
	CHECK(osc_bulk_item_at(b, 1)->status == OSC_OK && osc_bulk_item_at(b, 1)->http_status == 404,
		  "missing id is fine (%ld)", osc_bulk_item_at(b, 1)->http_status);
	osc_bulk_free(b);
	osc_refresh(c, index, NULL);
	resp = search(c, index, "{\"query\":{\"ids\":{\"values\":[\"b1\",\"b2\",\"b3\"]}}}", &err);
	CHECK(resp != NULL && total_hits(resp) == 0, "b1, b3 deleted, b2 never stored%s", "");
	json_decref(resp);

	/* delete in an index that does not exist: gone is gone */
	b = osc_bulk_new("invoiceflow-no-such-index");
	osc_bulk_delete(b, "x");
	st = osc_bulk_send(c, b, &err);
	CHECK(st == OSC_OK, "delete in a missing index: %s", err.message);
	osc_bulk_free(b);
}

static void
test_malformed(osc_client *c, const char *index)
{
	osc_error	err;
	json_t	   *resp;
	osc_status	st;
	long		code = 0;
	const char *badmap = "{\"mappings\":{\"properties\":{\"x\":{\"type\":\"strng\"}}}}";
	const char *nonl = "{\"index\":{\"_id\":\"1\"}}\n{\"a\":1}";
	char		path[256];

	resp = search(c, index, "{\"query\":{\"no_such_query\":{}}}", &err);
	CHECK(resp == NULL && err.status == OSC_PERMANENT && err.http_status == 400 &&
		  strcmp(err.type, "parsing_exception") == 0, "unknown query: %s", err.message);
	json_decref(resp);
	resp = search(c, index, "{\"query\":{\"match_all\":{}},\"sort\":[{\"text\":\"asc\"}]}", &err);
	CHECK(resp == NULL && err.status == OSC_PERMANENT && err.http_status == 400, "sort on text: %s", err.message);
	json_decref(resp);
	resp = search(c, "invoiceflow-missing", "{\"query\":{\"match_all\":{}}}", &err);
	CHECK(resp == NULL && err.status == OSC_PERMANENT && err.http_status == 404 &&
		  strcmp(err.type, "index_not_found_exception") == 0, "missing index: %s", err.message);
	json_decref(resp);

	st = osc_ensure_index(c, "invoiceflow-badmap", badmap, NULL, &err);
	CHECK(st == OSC_PERMANENT && strcmp(err.type, "mapper_parsing_exception") == 0, "bad mapping: %s", err.message);

	snprintf(path, sizeof(path), "/%s/_bulk", index);
	st = osc_request(c, "POST", path, "application/x-ndjson", nonl, strlen(nonl), &code, NULL, &err);
	CHECK(st == OSC_PERMANENT && code == 400 && strcmp(err.type, "illegal_argument_exception") == 0,
		  "bulk without final newline: %s", err.message);
	st = osc_request(c, "POST", path, "application/x-ndjson", "{\"index\":", 10, &code, NULL, &err);
	CHECK(st == OSC_PERMANENT && code == 400, "bulk with broken action line: %s", err.message);
}

static void
test_faults(osc_client *c, const char *index)
{
	osc_error	err;
	osc_status	st;
	osc_bulk   *b;
	osc_client *refused;
	json_t	   *doc;
	int			calls = 0;

	/* nothing listens on port 1 */
	refused = osc_client_new("http://127.0.0.1:1", &err);
	st = osc_health(refused, NULL, 0, &err);
	CHECK(st == OSC_TRANSIENT && err.http_status == 0, "connection refused: %s", err.message);
	osc_client_free(refused);

	CHECK(set_fault(c, "down") == OSC_OK, "fault down%s", "");
	st = osc_health(c, NULL, 0, &err);
	CHECK(st == OSC_TRANSIENT, "down: health %s (%s)", osc_status_name(st), err.message);
	b = osc_bulk_new(index);
	doc = parse("{\"request_id\":\"c1\",\"status\":\"COMPLETED\"}");
	osc_bulk_index(b, "c1", doc);
	osc_bulk_delete(b, "a5");
	st = osc_bulk_send(c, b, &err);
	CHECK(st == OSC_TRANSIENT && osc_bulk_item_at(b, 0)->status == OSC_TRANSIENT &&
		  osc_bulk_item_at(b, 1)->status == OSC_TRANSIENT, "down: bulk %s (%s)", osc_status_name(st), err.message);

	CHECK(set_fault(c, "500") == OSC_OK, "fault 500%s", "");
	st = osc_bulk_send(c, b, &err);
	CHECK(st == OSC_TRANSIENT && err.http_status == 500, "500: bulk %s (%s)", osc_status_name(st), err.message);
	st = osc_health(c, NULL, 0, &err);
	CHECK(st == OSC_TRANSIENT && err.http_status == 500, "500: health %s", err.message);

	CHECK(set_fault(c, "429") == OSC_OK, "fault 429%s", "");
	st = osc_ensure_index(c, index, NULL, NULL, &err);
	CHECK(st == OSC_TRANSIENT && err.http_status == 429 && strcmp(err.type, "es_rejected_execution_exception") == 0,
		  "429: %s", err.message);

	CHECK(set_fault(c, "slow") == OSC_OK, "fault slow%s", "");
	osc_client_set_timeouts(c, 1000, 300);
	st = osc_health(c, NULL, 0, &err);
	CHECK(st == OSC_TRANSIENT, "timeout: %s", err.message);
	osc_client_set_timeouts(c, 5000, 30000);

	CHECK(set_fault(c, "ok") == OSC_OK, "fault ok%s", "");
	st = osc_health(c, NULL, 0, &err);
	CHECK(st == OSC_OK, "recovered: health %s", err.message);
	st = osc_bulk_send(c, b, &err);
	CHECK(st == OSC_OK && osc_bulk_item_at(b, 0)->status == OSC_OK && osc_bulk_item_at(b, 1)->status == OSC_OK,
		  "recovered: the same bulk goes through (%s)", err.message);
	osc_bulk_free(b);
	json_decref(doc);

	/* the abort callback stops a request */
	osc_client_set_abort(c, abort_now, &calls);
	st = osc_health(c, NULL, 0, &err);
	CHECK(st == OSC_ABORTED && calls > 0, "abort callback: %s", osc_status_name(st));
	osc_client_set_abort(c, NULL, NULL);
	st = osc_health(c, NULL, 0, &err);
	CHECK(st == OSC_OK, "after abort: %s", err.message);
}

int
main(void)
{
	const char *url = getenv("OPENSEARCH_URL");
	osc_client *c;
	osc_error	err;
	char		index[64];
	char		path[96];
	long		code = 0;
	bool		is_double;

	if (url == NULL || url[0] == '\0')
	{
		fprintf(stderr, "OPENSEARCH_URL is not set\n");
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = osc_client_new(url, &err);
	if (c == NULL)
	{
		fprintf(stderr, "client: %s\n", err.message);
		curl_global_cleanup();
		return 2;
	}
	osc_client_set_timeouts(c, 2000, 10000);
	snprintf(index, sizeof(index), "invoiceflow-test-%ld", (long) getpid());
	is_double = osc_request(c, "GET", "/_double/fail", NULL, NULL, 0, &code, NULL, NULL) == OSC_OK;

	test_client_basics(url);
	test_index(c, index);
	test_bulk_and_search(c, index);
	test_bulk_partial_failure_and_delete(c, index);
	test_malformed(c, index);
	if (is_double)
		test_faults(c, index);
	else
		fprintf(stderr, "not the test double: fault injection tests skipped\n");

	snprintf(path, sizeof(path), "/%s", index);
	osc_request(c, "DELETE", path, NULL, NULL, 0, NULL, NULL, NULL);
	osc_client_free(c);
	curl_global_cleanup();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
