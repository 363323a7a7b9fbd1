/*
 * Unit tests of the gateway's own parsing and formatting (no network, no
 * database): routes, ids, API key headers, Content-Type, SQLSTATE mapping,
 * problem documents, configuration, metrics text. Prints "N passed, N failed".
 */
#include "auth.h"
#include "config.h"
#include "../../src/common/env_config.h"
#include "db_pool.h"
#include "handlers.h"
#include "../../src/common/sidecar_log.h"
#include "metrics.h"
#include "problem.h"
#include "request_id.h"
#include "routes.h"
#include "session.h"
#include "trace.h"
#include "upload.h"
#include "../../src/common/webhook_sign.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	passed,
			failed;

#define T(cond, name) do { \
	if (cond) { passed++; } \
	else { failed++; printf("not ok - %s (%s:%d)\n", name, __FILE__, __LINE__); } \
} while (0)

static enum route_match
find(const char *method, const char *path, const char **name, char *param, char *allow)
{
	const struct route *r;
	char		p[ROUTE_PARAM_MAX + 1];
	char		a[64];
	enum route_match m = route_find(routes, n_routes, method, path, &r, p, sizeof(p), a, sizeof(a));

	if (name)
		*name = r ? r->name : NULL;
	if (param)
		strcpy(param, p);
	if (allow)
		strcpy(allow, a);
	return m;
}

static void
test_routes(void)
{
	const char *name;
	char		param[ROUTE_PARAM_MAX + 1];
	char		allow[64];
	char		longpath[400];

	T(find("POST", "/api/v1/ingest/upload", &name, NULL, NULL) == ROUTE_FOUND && !strcmp(name, "upload"), "upload route");
	T(find("GET", "/api/v1/ingest/status/abc", &name, param, NULL) == ROUTE_FOUND && !strcmp(name, "status") &&
	  !strcmp(param, "abc"), "status route with param");
	T(find("GET", "/api/v1/ingest/status/", NULL, NULL, NULL) == ROUTE_NOT_FOUND, "empty id is not found");
	T(find("GET", "/api/v1/ingest/status/a/b", NULL, NULL, NULL) == ROUTE_NOT_FOUND, "id with slash not found");
	T(find("GET", "/api/v1/ingest/stats", &name, NULL, NULL) == ROUTE_FOUND && !strcmp(name, "stats"), "stats");
	T(find("HEAD", "/health", &name, NULL, NULL) == ROUTE_FOUND && !strcmp(name, "health"), "HEAD as GET");
	T(find("GET", "/api/v1/ingest/upload", NULL, NULL, allow) == ROUTE_METHOD_NOT_ALLOWED && !strcmp(allow, "POST"),
	  "GET upload is 405 with Allow: POST");
	T(find("DELETE", "/metrics", NULL, NULL, allow) == ROUTE_METHOD_NOT_ALLOWED && !strcmp(allow, "GET, HEAD"),
	  "DELETE metrics is 405 with Allow: GET, HEAD");
	T(find("GET", "/nope", NULL, NULL, NULL) == ROUTE_NOT_FOUND, "unknown path");
	T(find("GET", "/healthz", NULL, NULL, NULL) == ROUTE_NOT_FOUND, "prefix is not a match");
	T(find("GET", "/health/", NULL, NULL, NULL) == ROUTE_NOT_FOUND, "trailing slash is not a match");
	T(find("GET", "", NULL, NULL, NULL) == ROUTE_NOT_FOUND, "empty path");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	memcpy(longpath, "/api/v1/ingest/status/", 22);
	T(find("GET", longpath, &name, param, NULL) == ROUTE_FOUND && param[0] == '\0', "overlong id: found, empty param");
	/* a route without "{id}" after a long id filled the stack: the parameter is
	 * empty, never whatever the stack held (fuzzer finding) */
	memcpy(longpath, "/api/v1/invoices/", 17);
	(void) find("GET", longpath, NULL, NULL, NULL);
	param[0] = 'x';
	T(find("GET", "/api/v1/invoices", &name, param, NULL) == ROUTE_FOUND && !strcmp(name, "invoices") &&
	  param[0] == '\0', "route without a parameter: empty param");
	T(route_index(NULL) == n_routes, "unmatched index");
}

static void
test_ids(void)
{
	char		out[UUID_TEXT_LEN + 1];
	char		gen[UUID_TEXT_LEN + 1];

	T(uuid_parse("123E4567-E89B-42D3-A456-426614174000", out) &&
	  !strcmp(out, "123e4567-e89b-42d3-a456-426614174000"), "uuid lower-cased");
	T(!uuid_parse("123e4567e89b42d3a456426614174000", out), "uuid without dashes refused");
	T(!uuid_parse("123e4567-e89b-42d3-a456-4266141740000", out), "uuid too long refused");
	T(!uuid_parse("123e4567-e89b-42d3-a456-42661417400", out), "uuid too short refused");
	T(!uuid_parse("g23e4567-e89b-42d3-a456-426614174000", out), "uuid non-hex refused");
	T(!uuid_parse("not-a-uuid", out), "garbage refused");
	uuid_generate_v4(gen);
	T(uuid_parse(gen, out) && gen[14] == '4' && strchr("89ab", gen[19]), "generated v4 uuid");
	T(request_id_acceptable("abc-123"), "request id plain");
	T(request_id_acceptable("trace:1/2+3=4_5.6"), "request id punctuation");
	T(!request_id_acceptable(""), "empty request id refused");
	T(!request_id_acceptable("a b"), "space refused");
	T(!request_id_acceptable("a\"b"), "quote refused");
	T(!request_id_acceptable("a\nb"), "newline refused");
	{
		char		big[REQUEST_ID_MAX + 2];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		T(!request_id_acceptable(big), "129 bytes refused");
		big[REQUEST_ID_MAX] = '\0';
		T(request_id_acceptable(big), "128 bytes accepted");
	}
}

/* W3C traceparent: version 00, ids not all zeros, lower-case hex; a new one otherwise */
static void
test_traceparent(void)
{
	char		out[TRACEPARENT_LEN + 1];
	char		other[TRACEPARENT_LEN + 1];
	const char *ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

	T(traceparent_valid(ok), "traceparent valid");
	T(!traceparent_valid(NULL) && !traceparent_valid(""), "none refused");
	T(!traceparent_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "version 01 refused");
	T(!traceparent_valid("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), "zero trace id refused");
	T(!traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"), "zero parent id refused");
	T(!traceparent_valid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), "upper case refused");
	T(!traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"), "trailing text refused");
	T(!traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"), "non-hex refused");
	T(!traceparent_valid("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "separator checked");
	T(!traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"), "flags hex");
	T(traceparent_take(ok, out) && strcmp(out, ok) == 0, "a valid one is taken as is");
	T(!traceparent_take("garbage", out) && traceparent_valid(out), "garbage replaced by a valid one");
	T(!traceparent_take(NULL, other) && traceparent_valid(other) && strcmp(out, other) != 0,
	  "generated ones differ");
	T(strcmp(out + 52, "-01") == 0, "generated: sampled");
}

static void
test_bearer(void)
{
	const char *tok;
	size_t		len;

	T(auth_parse_bearer("Bearer ifk_abc", &tok, &len) && len == 7 && !strncmp(tok, "ifk_abc", 7), "bearer");
	T(auth_parse_bearer("bearer  abc==  ", &tok, &len) && len == 5, "scheme case, padding, spaces");
	T(!auth_parse_bearer("Basic abc", &tok, &len), "basic refused");
	T(!auth_parse_bearer("Bearer", &tok, &len), "no token");
	T(!auth_parse_bearer("Bearer ", &tok, &len), "empty token");
	T(!auth_parse_bearer("Bearerabc", &tok, &len), "no space");
	T(!auth_parse_bearer("Bearer a b", &tok, &len), "two tokens");
	T(!auth_parse_bearer("Bearer a\"b", &tok, &len), "quote");
	T(!auth_parse_bearer(NULL, &tok, &len), "NULL header");
	T(auth_parse_scopes("{ingest,read}") == (SCOPE_INGEST | SCOPE_READ), "scopes parsed");
	T(auth_parse_scopes("{admin}") == SCOPE_ADMIN && auth_parse_scopes("{readx,adm}") == 0 &&
	  auth_parse_scopes(NULL) == 0 && auth_parse_scopes("{}") == 0, "scopes: exact names only");
	{
		char		buf[64];

		auth_format_scopes(SCOPE_READ | SCOPE_ADMIN, buf, sizeof(buf));
		T(!strcmp(buf, "read, admin"), "scopes formatted");
		auth_format_scopes(0, buf, sizeof(buf));
		T(!strcmp(buf, "none"), "no scopes formatted");
	}
	T(text_is_utf8("caf\xc3\xa9.pdf") && !text_is_utf8("caf\xe9.pdf") && !text_is_utf8("\xc0\xaf"),
	  "UTF-8 check");
	for (size_t i = 0; i < n_routes; i++)
		T(!(routes[i].flags & ROUTE_AUTH) || routes[i].scope, "every keyed route names its scope");
}

static void
test_content_type(void)
{
	T(upload_check_content_type("multipart/form-data; boundary=abc") == NULL, "multipart ok");
	T(upload_check_content_type("Multipart/Form-Data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW") == NULL,
	  "case-insensitive type");
	T(upload_check_content_type(NULL) != NULL, "missing");
	T(upload_check_content_type("application/pdf") != NULL, "pdf body refused");
	T(upload_check_content_type("application/x-www-form-urlencoded") != NULL, "urlencoded refused");
	T(upload_check_content_type("multipart/form-data") != NULL, "no boundary");
	T(upload_check_content_type("multipart/form-data; boundary=") != NULL, "empty boundary");
	T(upload_check_content_type("multipart/form-data; boundary=\"abc\"") != NULL, "quoted boundary");
	T(upload_check_content_type("multipart/form-datax; boundary=abc") != NULL, "other type");
}

static void
test_sqlstate(void)
{
	T(db_sqlstate_http_status("22023") == 400, "22023 -> 400");
	T(db_sqlstate_http_status("22P02") == 400, "22P02 -> 400");
	T(db_sqlstate_http_status("23505") == 409, "23505 -> 409");
	T(db_sqlstate_http_status("IF001") == 409, "IF001 -> 409");
	T(db_sqlstate_http_status("P0002") == 404, "P0002 -> 404");
	T(db_sqlstate_http_status("55P03") == 503 && db_sqlstate_http_status("57014") == 503,
	  "lock and statement timeouts -> 503");
	T(db_sqlstate_http_status("57P01") == 503, "57P01 -> 503");
	T(db_sqlstate_http_status("08006") == 503, "08006 -> 503");
	T(db_sqlstate_http_status("53300") == 503, "53300 -> 503");
	T(db_sqlstate_http_status(NULL) == 503, "no sqlstate -> 503");
	T(db_sqlstate_http_status("42501") == 500, "42501 -> 500");
	T(db_sqlstate_http_status("XX000") == 500, "XX000 -> 500");
	T(db_sqlstate_http_status("2") == 500, "short -> 500");
}

static void
test_problem(void)
{
	struct reply r = {0};
	json_t	   *doc;
	char		buf[8];

	reply_problem(&r, 404, "rid-1", "no ingestion with request_id %s", "x");
	doc = json_loads(r.body, 0, NULL);
	T(doc && json_integer_value(json_object_get(doc, "status")) == 404, "problem status");
	T(doc && !strcmp(json_string_value(json_object_get(doc, "title")), "Not Found"), "problem title");
	T(doc && !strcmp(json_string_value(json_object_get(doc, "detail")), "no ingestion with request_id x"), "problem detail");
	T(doc && !strcmp(json_string_value(json_object_get(doc, "request_id")), "rid-1"), "problem request_id");
	T(!strcmp(r.content_type, "application/problem+json"), "problem content type");
	json_decref(doc);
	reply_problem(&r, 400, NULL, "bad \xff\xfe name \"q\"");
	doc = json_loads(r.body, 0, NULL);
	T(doc && !strcmp(json_string_value(json_object_get(doc, "detail")), "bad ?? name \"q\""), "invalid UTF-8 replaced");
	json_decref(doc);
	reply_clear(&r);
	utf8_sanitize("caf\xc3\xa9", buf, sizeof(buf));
	T(!strcmp(buf, "caf\xc3\xa9"), "valid UTF-8 kept");
	utf8_sanitize("abcdef\xc3\xa9", buf, sizeof(buf));
	T(!strcmp(buf, "abcdef"), "truncated on a character boundary");
	utf8_sanitize("\xed\xa0\x80", buf, sizeof(buf));
	T(!strcmp(buf, "???"), "surrogate refused");
}

static void
test_config(void)
{
	char		err[256];

	T(config_host_is_loopback("127.0.0.1") && config_host_is_loopback("127.1.2.3") &&
	  config_host_is_loopback("::1") && config_host_is_loopback("localhost"), "loopback hosts");
	T(!config_host_is_loopback("0.0.0.0") && !config_host_is_loopback("10.0.0.1") &&
	  !config_host_is_loopback("::"), "non-loopback hosts");
	T(log_parse_level("warning") == LOG_WARNING && log_parse_level("nope") < 0, "log levels");
	T(envc_parse_bool("TRUE") == 1 && envc_parse_bool("off") == 0 && envc_parse_bool("x") < 0, "bools");

	setenv("DATABASE_URL", "postgresql://x@127.0.0.1/db", 1);
	unsetenv("HOST");
	unsetenv("REQUIRE_API_KEY");
	T(config_load(err, sizeof(err)) && cfg.port == 8003 && cfg.max_file_size_mb == 10 &&
	  cfg.max_file_bytes == 10485760 && cfg.upload_timeout == 30 && cfg.require_api_key &&
	  !cfg.metrics_public && cfg.statement_timeout_ms == 30000 && cfg.lock_timeout_ms == 5000 &&
	  !strcmp(cfg.host, "127.0.0.1") && cfg.log_json, "defaults (keys required on loopback too)");
	config_free();
	setenv("HOST", "0.0.0.0", 1);
	T(config_load(err, sizeof(err)) && cfg.require_api_key, "keys required off loopback");
	config_free();
	setenv("REQUIRE_API_KEY", "false", 1);
	T(config_load(err, sizeof(err)) && !cfg.require_api_key, "REQUIRE_API_KEY=false wins");
	config_free();
	setenv("MAX_FILE_SIZE_MB", "0", 1);
	T(!config_load(err, sizeof(err)) && strstr(err, "MAX_FILE_SIZE_MB"), "bad MAX_FILE_SIZE_MB named");
	config_free();
	unsetenv("MAX_FILE_SIZE_MB");
	setenv("LOG_FORMAT", "xml", 1);
	T(!config_load(err, sizeof(err)) && strstr(err, "LOG_FORMAT"), "bad LOG_FORMAT named");
	config_free();
	unsetenv("LOG_FORMAT");
	unsetenv("DATABASE_URL");
	T(!config_load(err, sizeof(err)) && strstr(err, "DATABASE_URL"), "DATABASE_URL required");
	config_free();
	setenv("DATABASE_URL", "postgresql://x@127.0.0.1/db", 1);
	unsetenv("HOST");
	unsetenv("REQUIRE_API_KEY");
	config_load(err, sizeof(err));
}

static void
test_invoices(void)
{
	struct invoices_query q;
	char		cd[1400];
	const char *name;
	char		param[ROUTE_PARAM_MAX + 1];

	T(find("GET", "/api/v1/invoices", &name, NULL, NULL) == ROUTE_FOUND && !strcmp(name, "invoices"), "invoices route");
	T(find("GET", "/api/v1/invoices/abc", &name, param, NULL) == ROUTE_FOUND && !strcmp(name, "invoice") &&
	  !strcmp(param, "abc"), "invoice route");
	T(find("GET", "/api/v1/invoices/abc/file", &name, param, NULL) == ROUTE_FOUND && !strcmp(name, "invoice_file") &&
	  !strcmp(param, "abc"), "invoice file route");
	T(find("POST", "/api/v1/invoices", NULL, NULL, NULL) == ROUTE_METHOD_NOT_ALLOWED, "POST invoices 405");

	invoices_query_init(&q);
	T(invoices_query_add(&q, "q", "RE-2024/0815") && !strcmp(q.values[0], "RE-2024/0815"), "q kept");
	T(invoices_query_add(&q, "limit", "25") && !strcmp(q.values[13], "25"), "limit kept");
	T(invoices_query_add(&q, "facets", "true") && !strcmp(q.values[15], "true"), "facets true");
	T(invoices_query_add(&q, "status", "") && q.values[1] == NULL, "empty value is absent");
	T(invoices_query_add(&q, "cursor", NULL) && q.values[14] == NULL, "no '=' is absent");
	T(q.values[2] == NULL && !q.error[0], "others NULL");
	T(!invoices_query_add(&q, "q", "again") && strstr(q.error, "more than once"), "repeated refused");
	invoices_query_init(&q);
	T(!invoices_query_add(&q, "colour", "red") && strstr(q.error, "unknown query parameter \"colour\""), "unknown refused");
	invoices_query_init(&q);
	T(!invoices_query_add(&q, "limit", "0") && strstr(q.error, "limit"), "limit 0");
	invoices_query_init(&q);
	T(!invoices_query_add(&q, "limit", "101"), "limit 101");
	invoices_query_init(&q);
	T(!invoices_query_add(&q, "limit", "-5"), "limit negative");
	invoices_query_init(&q);
	T(!invoices_query_add(&q, "limit", "1e2"), "limit 1e2");
	invoices_query_init(&q);
	T(invoices_query_add(&q, "limit", "100") && !strcmp(q.values[13], "100"), "limit 100");
	invoices_query_init(&q);
	T(!invoices_query_add(&q, "facets", "yes") && strstr(q.error, "facets"), "facets yes refused");
	invoices_query_init(&q);
	T(!invoices_query_add(&q, "\xff\xfe", "x") && !strstr(q.error, "\xff"), "unknown name sanitised");

	content_disposition("invoice.pdf", cd, sizeof(cd));
	T(!strcmp(cd, "attachment; filename=\"invoice.pdf\"; filename*=UTF-8''invoice.pdf"), "plain name");
	content_disposition("a\"b\\c;d%e\r\n.pdf", cd, sizeof(cd));
	T(!strcmp(cd, "attachment; filename=\"a_b_c_d_e__.pdf\"; filename*=UTF-8''a%22b%5Cc%3Bd%25e%0D%0A.pdf"),
	  "quotes, backslash, ;, %, CRLF made safe");
	content_disposition("M\xc3\xa4rz.pdf", cd, sizeof(cd));
	T(!strcmp(cd, "attachment; filename=\"M_rz.pdf\"; filename*=UTF-8''M%C3%A4rz.pdf"), "UTF-8 name");
	content_disposition("", cd, sizeof(cd));
	T(strstr(cd, "filename=\"invoice.pdf\"") != NULL, "empty name: a default");
}

static void
test_metrics(void)
{
	size_t		len = 0;
	char	   *text;

	db_pool_init("dbname=none", 2, 10, "unit");
	metrics_init();
	metrics_observe_request(0, 202, 0.003);
	metrics_observe_request(n_routes, 404, 0.0001);
	metrics_observe_request(1, 200, 100.0);
	metrics_add_upload_bytes(1234);
	text = metrics_render(&len);
	T(text && strlen(text) == len, "metrics rendered");
	T(text && strstr(text, "invoiceflow_http_requests_total{route=\"upload\",status=\"202\"} 1\n"), "requests by route and status");
	T(text && strstr(text, "invoiceflow_http_requests_total{route=\"unmatched\",status=\"404\"} 1\n"), "unmatched route");
	T(text && strstr(text, "invoiceflow_http_request_duration_seconds_bucket{route=\"upload\",le=\"0.005\"} 1\n"), "histogram bucket");
	T(text && strstr(text, "invoiceflow_http_request_duration_seconds_bucket{route=\"status\",le=\"30\"} 0\n") &&
	  strstr(text, "invoiceflow_http_request_duration_seconds_bucket{route=\"status\",le=\"+Inf\"} 1\n"), "+Inf bucket");
	T(text && strstr(text, "invoiceflow_upload_bytes_total 1234\n"), "upload bytes");
	T(text && strstr(text, "invoiceflow_db_pool_connections{state=\"max\"} 2\n"), "pool size");
	T(text && strstr(text, "# TYPE invoiceflow_http_request_duration_seconds histogram\n"), "histogram TYPE");
	free(text);
	metrics_shutdown();
	db_pool_shutdown();
}

/* Standard Webhooks: the specification's published example, and what must fail */
static void
test_webhook_sign(void)
{
	unsigned char key[WHS_KEY_MAX];
	size_t		keylen = 0;
	char		sig[WHS_SIG_LEN + 1];
	const char *body = "{\"test\": 2432232314}";
	const char *good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

	T(whs_decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &keylen) && keylen == 24,
	  "webhook: whsec_ secret decodes to its 24 key bytes");
	T(!whs_decode_secret("whsec_not base64!", key, &keylen), "webhook: a malformed secret is refused");
	T(whs_decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &keylen) &&
	  whs_sign(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, strlen(body), sig, sizeof(sig)) &&
	  strcmp(sig, good) == 0, "webhook: the specification's example signature");
	T(whs_verify(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, strlen(body), good),
	  "webhook: verify the example");
	T(whs_verify(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, strlen(body),
				 "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1a,xyz v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
	  "webhook: one valid signature among several");
	T(!whs_verify(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265331", body, strlen(body), good),
	  "webhook: another timestamp fails");
	T(!whs_verify(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, strlen(body) - 1, good),
	  "webhook: another body fails");
	T(!whs_verify(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, strlen(body),
				  "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), "webhook: another version fails");
	T(!whs_verify(key, keylen, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body, strlen(body), ""),
	  "webhook: no signature fails");
}

/* the web page (issue 14): which files are served, and the CSRF comparison */
static void
test_web(void)
{
	const struct route *r;
	char		param[ROUTE_PARAM_MAX + 1];
	char		allow[64];

	T(strcmp(static_content_type("app.js"), "text/javascript; charset=utf-8") == 0, "web: .js type");
	T(strcmp(static_content_type("pdf.worker.min.mjs"), "text/javascript; charset=utf-8") == 0, "web: .mjs type");
	T(strcmp(static_content_type("app.css"), "text/css; charset=utf-8") == 0, "web: .css type");
	T(strcmp(static_content_type("index.html"), "text/html; charset=utf-8") == 0, "web: .html type");
	T(!static_content_type(".htaccess.css") && !static_content_type("a b.js") && !static_content_type("x.exe") &&
	  !static_content_type("noext") && !static_content_type("") && !static_content_type("..%2fx.js"),
	  "web: hidden, spaced, unknown or encoded names refused");
	T(route_find(routes, n_routes, "GET", "/web/../Makefile", &r, param, sizeof(param), allow, sizeof(allow))
	  == ROUTE_NOT_FOUND, "web: no route takes a path with a slash in the file name");
	T(route_find(routes, n_routes, "PATCH", "/api/v1/invoices/x", &r, param, sizeof(param), allow, sizeof(allow))
	  == ROUTE_FOUND && r->scope == SCOPE_REVIEW, "web: PATCH invoices needs review");
	T(route_find(routes, n_routes, "GET", "/api/v1/audit", &r, param, sizeof(param), allow, sizeof(allow))
	  == ROUTE_FOUND && r->scope == SCOPE_ADMIN, "web: the audit log needs admin");
	T(session_csrf_matches("abc", "abc") && !session_csrf_matches("abc", "abd") && !session_csrf_matches("abc", "ab")
	  && !session_csrf_matches("abc", NULL) && !session_csrf_matches("", ""), "web: CSRF token comparison");
}

int
main(void)
{
	log_init(LOG_CRITICAL, true, "unit");
	test_routes();
	test_ids();
	test_traceparent();
	test_bearer();
	test_content_type();
	test_sqlstate();
	test_problem();
	test_config();
	test_invoices();
	test_metrics();
	test_webhook_sign();
	test_web();
	config_free();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
