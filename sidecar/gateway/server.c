/*
 * server.c: the HTTP server around the handlers, on libmicrohttpd.
 *
 * Threading: MHD_USE_INTERNAL_POLLING_THREAD with MHD_USE_THREAD_PER_CONNECTION.
 * Every handler makes one blocking libpq call (PQexecParams), which can take as
 * long as the database does (or GATEWAY_POOL_WAIT_MS while the pool is busy).
 * In MHD's thread-pool mode each pool thread multiplexes many connections, so
 * one slow statement would stall every other connection on that thread,
 * /health and /metrics included. A thread per connection isolates them; the
 * cost (one thread per open connection) is bounded by GATEWAY_MAX_CONNECTIONS,
 * and the database work itself is bounded by GATEWAY_POOL_SIZE.
 *
 * Life of a request (access handler calls):
 *   1st call (headers): request id, route match (404/405), API key (401),
 *                       upload checks (400/503) -- answered here when refused
 *   body calls:         streamed to upload.c (or discarded for other routes)
 *   last call:          the route's handler, then the reply
 *   completion:         one log line and the metrics, then everything is freed
 *
 * Limits under abuse (README § Security): MHD bounds connections in all and
 * per client address (GATEWAY_MAX_CONNECTIONS, GATEWAY_MAX_CONNECTIONS_PER_IP);
 * conn_guard.c bounds the time to a complete request head and drains what a
 * refused client still sends (lingering close); upload.c bounds the uploads.
 */
#include "server.h"
#include "auth.h"
#include "config.h"
#include "conn_guard.h"
#include "../../src/common/sidecar_log.h"
#include "metrics.h"
#include "routes.h"
#include "trace.h"
#include "upload.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct MHD_Daemon *daemon_handle;
static int	draining;
static int	bound_port;

static double
now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool
server_draining(void)
{
	return __atomic_load_n(&draining, __ATOMIC_SEQ_CST) != 0;
}

int
server_port(void)
{
	return bound_port;
}

static struct request *
request_new(struct MHD_Connection *conn, const char *url, const char *method)
{
	struct request *req = calloc(1, sizeof(*req));
	const char *rid;

	if (!req)
		return NULL;
	req->conn = conn;
	req->path = url;
	req->method = method;
	req->started = now_monotonic();
	rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-ID");
	if (request_id_acceptable(rid))
		snprintf(req->request_id, sizeof(req->request_id), "%s", rid);
	else
		uuid_generate_v4(req->request_id);
	traceparent_take(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent"), req->traceparent);
	trace_set_current(req->traceparent);	/* this connection's thread logs for this request now */
	return req;
}

/* a streamed body (struct reply's stream_*), owned by MHD's response once queued */
struct stream
{
	long		(*read) (void *cls, uint64_t pos, char *buf, size_t max);
	void		(*free) (void *cls);
	void	   *cls;
};

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	long		n = st->read(st->cls, pos, buf, max);

	return n < 0 ? MHD_CONTENT_READER_END_WITH_ERROR : (ssize_t) n;
}

static void
stream_free(void *cls)
{
	struct stream *st = cls;

	st->free(st->cls);
	free(st);
}

static struct MHD_Response *
stream_response(struct reply *r)
{
	struct stream *st = malloc(sizeof(*st));
	struct MHD_Response *resp;

	if (!st)
		return NULL;
	st->read = r->stream_read;
	st->free = r->stream_free;
	st->cls = r->stream_cls;
	/* the block MHD reads into: small, whatever the file size */
	if (!(resp = MHD_create_response_from_callback(r->stream_size, 32 * 1024, stream_read, st, stream_free)))
	{
		free(st);
		return NULL;
	}
	r->stream_read = NULL;		/* MHD owns it now */
	r->stream_free = NULL;
	r->stream_cls = NULL;
	return resp;
}

static bool
request_has_body(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
		(cl && strcmp(cl, "0") != 0);
}

/* Every response: nothing but the gateway's own origin, no inline script or style, no framing. */
#define WEB_CSP "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

static enum MHD_Result
send_reply(struct request *req, bool close_after)
{
	struct reply *r = &req->reply;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char		num[16];

	if (r->status == 0)
		reply_problem(r, 500, req->request_id, "internal error: no reply");
	if (r->stream_read)
		resp = stream_response(r);
	else
		resp = MHD_create_response_from_buffer(r->body ? r->body_len : 0, r->body, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	if (!r->stream_read)
	{
		r->body = NULL;			/* MHD frees it now */
		r->body_len = 0;
	}
	if (r->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	MHD_add_response_header(resp, "X-Request-ID", req->request_id);
	MHD_add_response_header(resp, "traceparent", req->traceparent);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");	/* no MIME sniffing of any body */
	if (r->allow[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->retry_after > 0)
	{
		snprintf(num, sizeof(num), "%d", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (r->disposition[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, r->disposition);
	if (r->www_authenticate)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"invoiceflow\"");
	/* the web page (issue 14): its session cookie; only its own origin for anything it loads */
	if (r->set_cookie[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
	MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
	if (server_draining() || close_after)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(req->conn, r->status, resp);
	MHD_destroy_response(resp);
	req->queued = true;
	return ret;
}

/* The first call, with the headers: everything that can refuse a request early. */
static enum MHD_Result
on_headers(struct request *req)
{
	struct reply *r = &req->reply;

	switch (route_find(routes, n_routes, req->method, req->path, &req->route,
					   req->param, sizeof(req->param), r->allow, sizeof(r->allow)))
	{
		case ROUTE_NOT_FOUND:
			reply_problem(r, 404, req->request_id, "no such endpoint: %s", req->path);
			return send_reply(req, false);
		case ROUTE_METHOD_NOT_ALLOWED:
			reply_problem(r, 405, req->request_id, "method %s is not allowed on %s (allowed: %s)",
						  req->method, req->path, r->allow);
			return send_reply(req, false);
		case ROUTE_FOUND:
			break;
	}
	if (!auth_route(req, r))		/* API key and scope, as the route table says (auth.c) */
		return send_reply(req, false);
	if ((req->route->flags & ROUTE_UPLOAD) && !upload_begin(req, r))
		return send_reply(req, false);
	return MHD_YES;
}

/*
 * An answer in the middle of a request body (an upload too slow, or too
 * large when chunked). libmicrohttpd 0.9.75 refuses MHD_queue_response()
 * until the body is complete, so this one small, complete response is
 * written on the connection's socket here (MHD writes nothing while it reads a
 * body); the access handler then returns MHD_NO, MHD closes the connection and
 * conn_guard drains what the client still sends.
 */
static void
send_reply_midbody(struct request *req)
{
	struct reply *r = &req->reply;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char		head[512];
	int			hl;
	struct iovec iov[2];
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
	double		deadline = now_monotonic() + 1.0;

	if (!ci || r->status == 0)
		return;
	hl = snprintf(head, sizeof(head),
				  "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nX-Request-ID: %s\r\n"
				  "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
				  r->status, http_reason(r->status), r->content_type ? r->content_type : "application/problem+json",
				  r->body_len, req->request_id);
	if (hl < 0 || (size_t) hl >= sizeof(head))
		return;
	iov[0] = (struct iovec) {.iov_base = head, .iov_len = (size_t) hl};
	iov[1] = (struct iovec) {.iov_base = r->body, .iov_len = r->body ? r->body_len : 0};
	while (iov[0].iov_len + iov[1].iov_len > 0 && now_monotonic() < deadline)
	{
		ssize_t		n = sendmsg(ci->connect_fd, &msg, MSG_NOSIGNAL);
		struct pollfd p = {.fd = ci->connect_fd, .events = POLLOUT};

		if (n < 0)
		{
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				break;
			poll(&p, 1, 100);
			continue;
		}
		for (int i = 0; i < 2 && n > 0; i++)
		{
			size_t		k = (size_t) n < iov[i].iov_len ? (size_t) n : iov[i].iov_len;

			iov[i].iov_base = (char *) iov[i].iov_base + k;
			iov[i].iov_len -= k;
			n -= (ssize_t) k;
		}
	}
	req->queued = true;			/* logged with its status */
	conn_guard_linger(req->conn);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
		   const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct request *req = *con_cls;

	(void) cls;
	(void) version;
	if (!req)
	{
		enum MHD_Result ret;

		conn_guard_head_done(conn);
		if (!(req = request_new(conn, url, method)))
			return MHD_NO;
		*con_cls = req;
		metrics_inflight_add(1);
		/* both: two ways to find where the body ends, the way requests are smuggled past proxies */
		if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) &&
			MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH))
		{
			reply_problem(&req->reply, 400, req->request_id,
						  "a request must not have both Content-Length and Transfer-Encoding");
			snprintf(req->note, sizeof(req->note), "Content-Length with Transfer-Encoding; connection closed");
			conn_guard_linger(conn);
			return send_reply(req, true);
		}
		ret = on_headers(req);
		/* answered before its body was read: MHD closes; drain the body rather than reset */
		if (req->queued && request_has_body(conn))
			conn_guard_linger(conn);
		return ret;
	}
	if (*upload_data_size > 0)
	{
		size_t		n = *upload_data_size;

		*upload_data_size = 0;
		if (req->queued)
			return MHD_YES;
		if (req->upload)
		{
			if (upload_feed(req, upload_data, n))
				return MHD_YES;
			send_reply_midbody(req);	/* when upload_feed left an answer */
			return MHD_NO;
		}
		req->body_bytes += n;	/* a body on a GET: ignored */
		if (req->route && (req->route->flags & ROUTE_BODY))
			request_body_append(req, upload_data, n);	/* a small JSON body (admin routes) */
		return MHD_YES;
	}
	if (req->queued)
		return MHD_YES;
	req->route->handler(req, &req->reply);
	return send_reply(req, false);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *req = *con_cls;
	unsigned int status;
	double		secs;
	json_t	   *extra;
	const char *client;
	char		path[512];
	char		method[32];

	(void) cls;
	if (!req)
		return;
	utf8_sanitize(req->path, path, sizeof(path));
	utf8_sanitize(req->method, method, sizeof(method));
	if (req->queued)
		status = req->reply.status;
	else if (req->log_status)
		status = req->log_status;
	else if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
		status = 408;
	else if (toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN)
		status = 503;
	else
		status = 499;			/* the client went away first (nginx's code) */
	if (!req->queued && !req->note[0])
		snprintf(req->note, sizeof(req->note), "no response sent (termination code %d)", (int) toe);
	secs = now_monotonic() - req->started;
	metrics_observe_request(route_index(req->route), status, secs);

	client = conn_guard_client(conn);	/* the address text the guard keeps */
	extra = json_pack("{s:s, s:s, s:i, s:f, s:s, s:I}",
					  "method", method, "path", path, "status", (int) status,
					  "duration_ms", (double) (long long) (secs * 1e6) / 1000.0,
					  "route", req->route ? req->route->name : "unmatched",
					  "bytes_in", (json_int_t) req->body_bytes);
	if (extra && client[0])
		json_object_set_new(extra, "client", json_string(client));
	if (extra && req->filename[0])
		json_object_set_new(extra, "filename", json_string(req->filename));
	if (extra && req->note[0])
		json_object_set_new(extra, "note", json_string(req->note));

	log_emit(status >= 500 ? LOG_WARNING : LOG_INFO, "gateway.http", req->request_id, extra,
			 "%s %s %u %.1fms", method, path, status, secs * 1000.0);

	trace_set_current(NULL);
	upload_free(req);
	request_body_free(req);
	if (req->reply.stream_free)
		req->reply.stream_free(req->reply.stream_cls);	/* never handed to MHD */
	reply_clear(&req->reply);
	conn_guard_head_rearm(conn);
	free(req);
	*con_cls = NULL;
	metrics_inflight_add(-1);
}

bool
server_start(void)
{
	struct addrinfo hints = {0};
	struct addrinfo *ai = NULL;
	char		port[16];
	unsigned int flags;
	int			rc;
	const union MHD_DaemonInfo *info;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", cfg.port);
	if ((rc = getaddrinfo(cfg.host, port, &hints, &ai)) != 0)
	{
		log_error("gateway.main", NULL, "cannot resolve HOST=%s: %s", cfg.host, gai_strerror(rc));
		return false;
	}
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
		MHD_USE_ITC |			/* for MHD_quiesce_daemon() on SIGTERM */
		(cfg.debug ? MHD_USE_ERROR_LOG : 0) |
		(ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
	/* before the daemon: its first connection already has a head deadline */
	if (!conn_guard_start())
	{
		log_error("gateway.main", NULL, "cannot start the connection watchdog thread");
		freeaddrinfo(ai);
		return false;
	}
	daemon_handle = MHD_start_daemon(flags, (uint16_t) cfg.port, NULL, NULL, on_request, NULL,
									 MHD_OPTION_SOCK_ADDR, ai->ai_addr,
									 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
									 MHD_OPTION_NOTIFY_CONNECTION, conn_guard_notify, NULL,
									 MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) cfg.max_connections_per_ip,
									 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) cfg.upload_timeout,
									 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) cfg.max_connections,
									 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (64 * 1024),
									 MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1,
									 MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!daemon_handle)
	{
		conn_guard_stop();
		log_error("gateway.main", NULL, "cannot listen on %s:%d (address in use or not available)",
				  cfg.host, cfg.port);
		return false;
	}
	info = MHD_get_daemon_info(daemon_handle, MHD_DAEMON_INFO_BIND_PORT);
	bound_port = info ? info->port : cfg.port;
	return true;
}

void
server_drain_and_stop(void)
{
	MHD_socket	s;
	double		deadline = now_monotonic() + cfg.drain_seconds;
	int			left;

	__atomic_store_n(&draining, 1, __ATOMIC_SEQ_CST);
	s = MHD_quiesce_daemon(daemon_handle);	/* no new connections from here on */
	if (s != MHD_INVALID_SOCKET)
		close(s);
	while ((left = metrics_inflight()) > 0 && now_monotonic() < deadline)
		usleep(20 * 1000);
	if (left > 0)
		log_warning("gateway.main", NULL, "%d request(s) still in flight after SHUTDOWN_DRAIN_SECONDS=%d; closing them",
					left, cfg.drain_seconds);
	MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
	conn_guard_stop();
}
