/*
 * amqp_client.c: a small RabbitMQ client on librabbitmq-c 0.11 (see amqp_client.h).
 */
#include "amqp_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include "event_json.h"

#define CHANNEL 1
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_RPC_TIMEOUT_MS 10000
#define DEFAULT_CONFIRM_TIMEOUT_MS 10000
#define SLICE_MS 100

#if defined(__GNUC__)
#define AMQPC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define AMQPC_PRINTF(f, a)
#endif

struct amqpc_client
{
	amqp_connection_state_t conn;
	char	   *endpoint;		/* host:port/vhost */
	long		confirm_timeout_ms;
	bool		broken;			/* connection or channel lost */
	bool		confirms;		/* confirm.select done */
	bool		consuming;		/* basic.consume done */
	uint64_t	next_seq;		/* publish sequence number of the next message */
	amqpc_abort_fn abort_fn;
	void	   *abort_arg;
};

const char *
amqpc_status_name(amqpc_status s)
{
	switch (s)
	{
		case AMQPC_OK:
			return "ok";
		case AMQPC_TRANSIENT:
			return "transient";
		case AMQPC_PERMANENT:
			return "permanent";
		case AMQPC_ABORTED:
			return "aborted";
	}
	return "unknown";
}

static void set_error(amqpc_error *err, amqpc_status st, int reply_code,
					  const char *fmt,...) AMQPC_PRINTF(4, 5);

static void
set_error(amqpc_error *err, amqpc_status st, int reply_code, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return;
	err->status = st;
	err->reply_code = reply_code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

static void
clear_error(amqpc_error *err)
{
	if (err == NULL)
		return;
	err->status = AMQPC_OK;
	err->reply_code = 0;
	err->message[0] = '\0';
}

static struct timeval
ms_to_tv(long ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
should_abort(amqpc_client *c)
{
	return c->abort_fn != NULL && c->abort_fn(c->abort_arg) != 0;
}

/* AMQP reply codes: which ones retrying cannot fix */
static amqpc_status
classify_reply_code(int code)
{
	switch (code)
	{
		case AMQP_ACCESS_REFUSED:	/* 403 */
		case AMQP_NOT_FOUND:	/* 404 */
		case AMQP_PRECONDITION_FAILED:	/* 406 */
		case AMQP_NOT_ALLOWED:	/* 530 */
		case AMQP_SYNTAX_ERROR: /* 502 */
		case AMQP_COMMAND_INVALID:	/* 503 */
		case AMQP_NOT_IMPLEMENTED:	/* 540 */
		case AMQP_CONTENT_TOO_LARGE:	/* 311 */
			return AMQPC_PERMANENT;
		default:
			/* 320 connection forced, 405 resource locked, 504/505 channel or
			 * frame errors, 506 resource error, 541 internal error */
			return AMQPC_TRANSIENT;
	}
}

static void
copy_bytes(char *out, size_t out_size, amqp_bytes_t b)
{
	size_t		n = b.len < out_size - 1 ? b.len : out_size - 1;

	if (n > 0)
		memcpy(out, b.bytes, n);
	out[n] = '\0';
}

/*
 * The broker closed the channel or the connection (method in m): answer with
 * close-ok, mark the client broken, and report the reply code.
 */
static amqpc_status
handle_close(amqpc_client *c, amqp_channel_t channel, amqp_method_t *m,
			 const char *what, amqpc_error *err)
{
	char		text[256];
	int			code;
	amqpc_status st;

	c->broken = true;
	if (m->id == AMQP_CONNECTION_CLOSE_METHOD)
	{
		amqp_connection_close_t *cc = m->decoded;
		amqp_connection_close_ok_t ok;

		code = cc->reply_code;
		copy_bytes(text, sizeof(text), cc->reply_text);
		memset(&ok, 0, sizeof(ok));
		(void) amqp_send_method(c->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		st = classify_reply_code(code);
		set_error(err, st, code, "AMQP %s at %s: the broker closed the connection: %d %s",
				  what, c->endpoint, code, text);
	}
	else
	{
		amqp_channel_close_t *cc = m->decoded;
		amqp_channel_close_ok_t ok;

		code = cc->reply_code;
		copy_bytes(text, sizeof(text), cc->reply_text);
		memset(&ok, 0, sizeof(ok));
		(void) amqp_send_method(c->conn, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
		st = classify_reply_code(code);
		set_error(err, st, code, "AMQP %s at %s: the broker closed the channel: %d %s",
				  what, c->endpoint, code, text);
	}
	return st;
}

/* the outcome of a synchronous method */
static amqpc_status
rpc_result(amqpc_client *c, amqp_rpc_reply_t r, const char *what, amqpc_error *err)
{
	switch (r.reply_type)
	{
		case AMQP_RESPONSE_NORMAL:
			return AMQPC_OK;
		case AMQP_RESPONSE_NONE:
			c->broken = true;
			set_error(err, AMQPC_TRANSIENT, 0, "AMQP %s at %s: no reply", what, c->endpoint);
			return AMQPC_TRANSIENT;
		case AMQP_RESPONSE_LIBRARY_EXCEPTION:
			c->broken = true;
			set_error(err, AMQPC_TRANSIENT, 0, "AMQP %s at %s: %s", what, c->endpoint,
					  amqp_error_string2(r.library_error));
			return AMQPC_TRANSIENT;
		case AMQP_RESPONSE_SERVER_EXCEPTION:
			if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD ||
				r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
				return handle_close(c, CHANNEL, &r.reply, what, err);
			c->broken = true;
			set_error(err, AMQPC_TRANSIENT, 0, "AMQP %s at %s: unexpected method 0x%08X",
					  what, c->endpoint, (unsigned) r.reply.id);
			return AMQPC_TRANSIENT;
	}
	return AMQPC_TRANSIENT;
}

static bool
check_usable(amqpc_client *c, const char *what, amqpc_error *err)
{
	if (c == NULL || c->conn == NULL || c->broken)
	{
		set_error(err, AMQPC_TRANSIENT, 0, "AMQP %s: the connection is closed; reconnect", what);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------ connection */

amqpc_client *
amqpc_connect(const amqpc_config *cfg, amqpc_error *err)
{
	amqpc_client *c = NULL;
	struct amqp_connection_info ci;
	char	   *url = NULL;
	amqp_socket_t *sock;
	struct timeval tv;
	struct timeval rpc_tv;
	long		connect_ms;
	long		rpc_ms;
	int			rc;
	amqp_rpc_reply_t r;
	int			n;

	clear_error(err);
	if (cfg == NULL || cfg->url == NULL || cfg->url[0] == '\0')
	{
		set_error(err, AMQPC_PERMANENT, 0, "AMQP: no broker URL configured");
		return NULL;
	}
	url = strdup(cfg->url);
	c = calloc(1, sizeof(*c));
	if (url == NULL || c == NULL)
		goto oom;
	amqp_default_connection_info(&ci);
	if (amqp_parse_url(url, &ci) != AMQP_STATUS_OK)
	{
		/* never echo the URL: it may hold a password */
		set_error(err, AMQPC_PERMANENT, 0,
				  "AMQP: the broker URL is malformed (expected amqp://user:password@host:port/vhost)");
		free(url);
		free(c);
		return NULL;
	}
	/*
	 * amqp://host:port/ names the vhost "" by the AMQP URI spec; RabbitMQ has
	 * no such vhost, and the seed's RABBITMQ_URL (pika) means "/" by it.
	 */
	if (ci.vhost == NULL || ci.vhost[0] == '\0')
		ci.vhost = "/";
	n = snprintf(NULL, 0, "%s:%d vhost %s", ci.host, ci.port, ci.vhost);
	c->endpoint = malloc((size_t) n + 1);
	if (c->endpoint == NULL)
		goto oom;
	snprintf(c->endpoint, (size_t) n + 1, "%s:%d vhost %s", ci.host, ci.port, ci.vhost);
	c->confirm_timeout_ms = cfg->confirm_timeout_ms > 0 ? cfg->confirm_timeout_ms : DEFAULT_CONFIRM_TIMEOUT_MS;
	c->next_seq = 1;
	connect_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	rpc_ms = cfg->rpc_timeout_ms > 0 ? cfg->rpc_timeout_ms : DEFAULT_RPC_TIMEOUT_MS;

	c->conn = amqp_new_connection();
	if (c->conn == NULL)
		goto oom;
	sock = ci.ssl ? amqp_ssl_socket_new(c->conn) : amqp_tcp_socket_new(c->conn);
	if (sock == NULL)
		goto oom;
	if (ci.ssl)
	{
		amqp_ssl_socket_set_verify_peer(sock, 1);
		amqp_ssl_socket_set_verify_hostname(sock, 1);
	}
	tv = ms_to_tv(connect_ms);
	rc = amqp_socket_open_noblock(sock, ci.host, ci.port, &tv);
	if (rc != AMQP_STATUS_OK)
	{
		set_error(err, AMQPC_TRANSIENT, 0, "AMQP connect to %s: %s", c->endpoint,
				  amqp_error_string2(rc));
		goto fail;
	}
	rpc_tv = ms_to_tv(rpc_ms);
	if (amqp_set_handshake_timeout(c->conn, &rpc_tv) != AMQP_STATUS_OK ||
		amqp_set_rpc_timeout(c->conn, &rpc_tv) != AMQP_STATUS_OK)
	{
		set_error(err, AMQPC_PERMANENT, 0, "AMQP connect to %s: cannot set timeouts", c->endpoint);
		goto fail;
	}
	r = amqp_login(c->conn, ci.vhost, 0, AMQP_DEFAULT_FRAME_SIZE,
				   cfg->heartbeat_s > 0 ? cfg->heartbeat_s : 0,
				   AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		r.library_error == AMQP_STATUS_CONNECTION_CLOSED)
	{
		/* a broker that does not announce authentication_failure_close */
		c->broken = true;
		set_error(err, AMQPC_PERMANENT, AMQP_ACCESS_REFUSED,
				  "AMQP login to %s: the broker closed the connection (wrong user or password?)",
				  c->endpoint);
		goto fail;
	}
	if (rpc_result(c, r, "login", err) != AMQPC_OK)
		goto fail;
	amqp_channel_open(c->conn, CHANNEL);
	if (rpc_result(c, amqp_get_rpc_reply(c->conn), "channel.open", err) != AMQPC_OK)
		goto fail;
	free(url);
	return c;

oom:
	set_error(err, AMQPC_TRANSIENT, 0, "AMQP connect: out of memory");
fail:
	if (c)
	{
		if (c->conn)
			amqp_destroy_connection(c->conn);
		free(c->endpoint);
		free(c);
	}
	free(url);
	return NULL;
}

void
amqpc_close(amqpc_client *c)
{
	if (c == NULL)
		return;
	if (c->conn)
	{
		if (!c->broken)
		{
			amqp_channel_close(c->conn, CHANNEL, AMQP_REPLY_SUCCESS);
			amqp_connection_close(c->conn, AMQP_REPLY_SUCCESS);
		}
		amqp_destroy_connection(c->conn);
	}
	free(c->endpoint);
	free(c);
}

void
amqpc_set_abort(amqpc_client *c, amqpc_abort_fn fn, void *arg)
{
	c->abort_fn = fn;
	c->abort_arg = arg;
}

void
amqpc_set_confirm_timeout(amqpc_client *c, long confirm_timeout_ms)
{
	if (confirm_timeout_ms > 0)
		c->confirm_timeout_ms = confirm_timeout_ms;
}

const char *
amqpc_endpoint(const amqpc_client *c)
{
	return c->endpoint;
}

/*
 * Handles one frame that is not what the caller waits for: a close from the
 * broker (returns its status), a basic.return (its content is read and
 * dropped), anything else is ignored. AMQPC_OK means "go on waiting".
 */
static amqpc_status
side_frame(amqpc_client *c, amqp_frame_t *frame, const char *what, amqpc_error *err)
{
	if (frame->frame_type != AMQP_FRAME_METHOD)
		return AMQPC_OK;
	switch (frame->payload.method.id)
	{
		case AMQP_CONNECTION_CLOSE_METHOD:
		case AMQP_CHANNEL_CLOSE_METHOD:
			return handle_close(c, frame->channel, &frame->payload.method, what, err);
		case AMQP_BASIC_RETURN_METHOD:
			{
				amqp_message_t msg;
				amqp_rpc_reply_t r = amqp_read_message(c->conn, frame->channel, &msg, 0);

				if (r.reply_type != AMQP_RESPONSE_NORMAL)
					return rpc_result(c, r, what, err);
				amqp_destroy_message(&msg);
				return AMQPC_OK;
			}
		default:
			return AMQPC_OK;
	}
}

bool
amqpc_usable(amqpc_client *c)
{
	amqp_frame_t frame;
	struct timeval zero;
	int			rc;

	if (c == NULL || c->conn == NULL || c->broken)
		return false;
	if (c->consuming)
		return true;			/* frames belong to amqpc_next_delivery() */
	for (;;)
	{
		zero.tv_sec = 0;
		zero.tv_usec = 0;
		rc = amqp_simple_wait_frame_noblock(c->conn, &frame, &zero);
		if (rc == AMQP_STATUS_TIMEOUT)
			return true;
		if (rc != AMQP_STATUS_OK)
		{
			c->broken = true;
			return false;
		}
		if (side_frame(c, &frame, "check", NULL) != AMQPC_OK || c->broken)
			return false;
	}
}

/* ------------------------------------------------------------------ topology */

amqpc_status
amqpc_declare_topology(amqpc_client *c, amqpc_error *err)
{
	amqpc_status st;

	clear_error(err);
	if (!check_usable(c, "declare", err))
		return AMQPC_TRANSIENT;
	amqp_exchange_declare(c->conn, CHANNEL, amqp_cstring_bytes(EV_EXCHANGE),
						  amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
	st = rpc_result(c, amqp_get_rpc_reply(c->conn), "exchange.declare " EV_EXCHANGE, err);
	if (st != AMQPC_OK)
		return st;
	amqp_queue_declare(c->conn, CHANNEL, amqp_cstring_bytes(EV_PROCESS_QUEUE),
					   0, 1, 0, 0, amqp_empty_table);
	st = rpc_result(c, amqp_get_rpc_reply(c->conn), "queue.declare " EV_PROCESS_QUEUE, err);
	if (st != AMQPC_OK)
		return st;
	amqp_queue_bind(c->conn, CHANNEL, amqp_cstring_bytes(EV_PROCESS_QUEUE),
					amqp_cstring_bytes(EV_EXCHANGE), amqp_cstring_bytes(EV_UPLOADED),
					amqp_empty_table);
	return rpc_result(c, amqp_get_rpc_reply(c->conn), "queue.bind " EV_PROCESS_QUEUE, err);
}

amqpc_status
amqpc_queue_purge(amqpc_client *c, const char *queue, uint32_t *purged, amqpc_error *err)
{
	amqp_queue_purge_ok_t *ok;
	amqpc_status st;

	clear_error(err);
	if (purged)
		*purged = 0;
	if (!check_usable(c, "queue.purge", err))
		return AMQPC_TRANSIENT;
	ok = amqp_queue_purge(c->conn, CHANNEL, amqp_cstring_bytes(queue));
	st = rpc_result(c, amqp_get_rpc_reply(c->conn), "queue.purge", err);
	if (st == AMQPC_OK && ok && purged)
		*purged = ok->message_count;
	return st;
}

/* ------------------------------------------------------------------ publish */

amqpc_status
amqpc_publish(amqpc_client *c, const char *exchange, const char *routing_key,
			  const char *message_id, const char *content_type,
			  const void *body, size_t len, amqpc_error *err)
{
	return amqpc_publish_traced(c, exchange, routing_key, message_id, content_type, NULL,
								body, len, err);
}

/* confirm mode on the channel, once per connection */
static amqpc_status
ensure_confirms(amqpc_client *c, amqpc_error *err)
{
	amqpc_status st;

	if (c->confirms)
		return AMQPC_OK;
	amqp_confirm_select(c->conn, CHANNEL);
	st = rpc_result(c, amqp_get_rpc_reply(c->conn), "confirm.select", err);
	if (st != AMQPC_OK)
		return st;
	c->confirms = true;
	c->next_seq = 1;
	return AMQPC_OK;
}

/* one persistent message on the wire (no wait); its confirm's tag in *seq */
static amqpc_status
send_message(amqpc_client *c, const char *exchange, const amqpc_message *m, uint64_t *seq,
			 amqpc_error *err)
{
	amqp_basic_properties_t props;
	amqp_table_entry_t header;
	amqp_bytes_t payload;
	int			rc;

	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
		AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_APP_ID_FLAG;
	props.content_type = amqp_cstring_bytes(m->content_type ? m->content_type : "application/json");
	props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
	props.message_id = amqp_cstring_bytes(m->message_id);
	props.timestamp = (uint64_t) time(NULL);
	props.app_id = amqp_cstring_bytes("invoiceflow");
	if (m->traceparent != NULL && m->traceparent[0] != '\0')
	{
		/* the W3C trace context as an application header, as AMQP tracing conventions do */
		header.key = amqp_cstring_bytes("traceparent");
		header.value.kind = AMQP_FIELD_KIND_UTF8;
		header.value.value.bytes = amqp_cstring_bytes(m->traceparent);
		props.headers.num_entries = 1;
		props.headers.entries = &header;
		props._flags |= AMQP_BASIC_HEADERS_FLAG;
	}
	payload.len = m->len;
	payload.bytes = (void *) m->body;
	rc = amqp_basic_publish(c->conn, CHANNEL, amqp_cstring_bytes(exchange),
							amqp_cstring_bytes(m->routing_key), 0, 0, &props, payload);
	if (rc != AMQP_STATUS_OK)
	{
		c->broken = true;
		set_error(err, AMQPC_TRANSIENT, 0, "AMQP publish %s to %s at %s: %s", m->message_id,
				  exchange, c->endpoint, amqp_error_string2(rc));
		return AMQPC_TRANSIENT;
	}
	*seq = c->next_seq++;
	return AMQPC_OK;
}

amqpc_status
amqpc_publish_batch(amqpc_client *c, const char *exchange, amqpc_message *msgs, int n, amqpc_error *err)
{
	uint64_t	first;
	int			pending = 0;
	long		deadline;
	int			i;
	amqpc_status st;

	clear_error(err);
	for (i = 0; i < n; i++)
	{
		msgs[i].status = AMQPC_TRANSIENT;
		msgs[i].seq = 0;
		msgs[i].settled = false;
		snprintf(msgs[i].error, sizeof(msgs[i].error), "not sent");
	}
	if (n <= 0)
		return AMQPC_OK;
	if (!check_usable(c, "publish", err))
		goto fail_all;
	if (exchange == NULL)
		exchange = EV_EXCHANGE;
	if ((st = ensure_confirms(c, err)) != AMQPC_OK)
		goto fail_all;
	first = c->next_seq;
	for (i = 0; i < n; i++)
	{
		if (msgs[i].routing_key == NULL || msgs[i].message_id == NULL ||
			(msgs[i].body == NULL && msgs[i].len > 0))
		{
			msgs[i].status = AMQPC_PERMANENT;
			msgs[i].settled = true;
			snprintf(msgs[i].error, sizeof(msgs[i].error),
					 "AMQP publish: routing key, message id and body are required");
			continue;
		}
		if (send_message(c, exchange, &msgs[i], &msgs[i].seq, err) != AMQPC_OK)
			goto fail_all;		/* the connection is gone: nothing of the batch is confirmed */
		pending++;
	}

	/* the broker confirms each tag (or several at once, "multiple") */
	deadline = now_ms() + c->confirm_timeout_ms;
	while (pending > 0)
	{
		long		left = deadline - now_ms();
		struct timeval tv;
		amqp_frame_t frame;
		int			rc;

		if (should_abort(c))
		{
			set_error(err, AMQPC_ABORTED, 0, "AMQP publish: aborted while waiting for %d confirm(s)", pending);
			goto fail_pending;
		}
		if (left <= 0)
		{
			c->broken = true;
			set_error(err, AMQPC_TRANSIENT, 0, "AMQP publish to %s at %s: no confirm from the broker within %ld ms",
					  exchange, c->endpoint, c->confirm_timeout_ms);
			goto fail_pending;
		}
		tv = ms_to_tv(left < SLICE_MS ? left : SLICE_MS);
		rc = amqp_simple_wait_frame_noblock(c->conn, &frame, &tv);
		if (rc == AMQP_STATUS_TIMEOUT)
			continue;
		if (rc != AMQP_STATUS_OK)
		{
			c->broken = true;
			set_error(err, AMQPC_TRANSIENT, 0, "AMQP publish to %s at %s: %s while waiting for the confirms",
					  exchange, c->endpoint, amqp_error_string2(rc));
			goto fail_pending;
		}
		if (frame.frame_type == AMQP_FRAME_METHOD && frame.channel == CHANNEL &&
			(frame.payload.method.id == AMQP_BASIC_ACK_METHOD ||
			 frame.payload.method.id == AMQP_BASIC_NACK_METHOD))
		{
			bool		ack = frame.payload.method.id == AMQP_BASIC_ACK_METHOD;
			uint64_t	tag;
			bool		multiple;

			if (ack)
			{
				tag = ((amqp_basic_ack_t *) frame.payload.method.decoded)->delivery_tag;
				multiple = ((amqp_basic_ack_t *) frame.payload.method.decoded)->multiple;
			}
			else
			{
				tag = ((amqp_basic_nack_t *) frame.payload.method.decoded)->delivery_tag;
				multiple = ((amqp_basic_nack_t *) frame.payload.method.decoded)->multiple;
			}
			for (i = 0; i < n; i++)
			{
				amqpc_message *m = &msgs[i];

				if (m->seq == 0 || m->seq < first || m->settled)
					continue;	/* not sent, or already settled */
				if (m->seq == tag || (multiple && m->seq <= tag))
				{
					m->settled = true;
					m->status = ack ? AMQPC_OK : AMQPC_TRANSIENT;
					if (ack)
						m->error[0] = '\0';
					else
						snprintf(m->error, sizeof(m->error),
								 "AMQP publish %s to %s at %s: the broker refused the message (basic.nack)",
								 m->message_id, exchange, c->endpoint);
					pending--;
				}
			}
			continue;
		}
		st = side_frame(c, &frame, "publish", err);
		if (st != AMQPC_OK)
			goto fail_pending;
	}
	return AMQPC_OK;

fail_pending:
	for (i = 0; i < n; i++)
		if (!msgs[i].settled)
		{
			msgs[i].status = err->status == AMQPC_OK ? AMQPC_TRANSIENT : err->status;
			snprintf(msgs[i].error, sizeof(msgs[i].error), "%s", err->message);
		}
	return err->status == AMQPC_OK ? AMQPC_TRANSIENT : err->status;

fail_all:
	for (i = 0; i < n; i++)
		if (msgs[i].status != AMQPC_PERMANENT)
		{
			msgs[i].status = err->status == AMQPC_OK ? AMQPC_TRANSIENT : err->status;
			snprintf(msgs[i].error, sizeof(msgs[i].error), "%s", err->message);
		}
	return err->status == AMQPC_OK ? AMQPC_TRANSIENT : err->status;
}

amqpc_status
amqpc_publish_traced(amqpc_client *c, const char *exchange, const char *routing_key,
					 const char *message_id, const char *content_type, const char *traceparent,
					 const void *body, size_t len, amqpc_error *err)
{
	amqp_basic_properties_t props;
	amqp_table_entry_t header;
	amqp_bytes_t payload;
	amqp_frame_t frame;
	uint64_t	seq;
	long		deadline;
	int			rc;
	amqpc_status st;

	clear_error(err);
	if (routing_key == NULL || message_id == NULL || (body == NULL && len > 0))
	{
		set_error(err, AMQPC_PERMANENT, 0, "AMQP publish: routing key, message id and body are required");
		return AMQPC_PERMANENT;
	}
	if (!check_usable(c, "publish", err))
		return AMQPC_TRANSIENT;
	if (exchange == NULL)
		exchange = EV_EXCHANGE;
	if ((st = ensure_confirms(c, err)) != AMQPC_OK)
		return st;

	memset(&props, 0, sizeof(props));
	props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
		AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_APP_ID_FLAG;
	props.content_type = amqp_cstring_bytes(content_type ? content_type : "application/json");
	props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
	props.message_id = amqp_cstring_bytes(message_id);
	props.timestamp = (uint64_t) time(NULL);
	props.app_id = amqp_cstring_bytes("invoiceflow");
	if (traceparent != NULL && traceparent[0] != '\0')
	{
		/* the W3C trace context as an application header, as AMQP tracing conventions do */
		header.key = amqp_cstring_bytes("traceparent");
		header.value.kind = AMQP_FIELD_KIND_UTF8;
		header.value.value.bytes = amqp_cstring_bytes(traceparent);
		props.headers.num_entries = 1;
		props.headers.entries = &header;
		props._flags |= AMQP_BASIC_HEADERS_FLAG;
	}
	payload.len = len;
	payload.bytes = (void *) body;

	rc = amqp_basic_publish(c->conn, CHANNEL, amqp_cstring_bytes(exchange),
							amqp_cstring_bytes(routing_key), 0, 0, &props, payload);
	if (rc != AMQP_STATUS_OK)
	{
		c->broken = true;
		set_error(err, AMQPC_TRANSIENT, 0, "AMQP publish %s to %s at %s: %s", message_id,
				  exchange, c->endpoint, amqp_error_string2(rc));
		return AMQPC_TRANSIENT;
	}
	seq = c->next_seq++;

	/* wait for basic.ack / basic.nack covering seq */
	deadline = now_ms() + c->confirm_timeout_ms;
	for (;;)
	{
		long		left = deadline - now_ms();
		struct timeval tv;

		if (should_abort(c))
		{
			/* the confirm may still come: later waits skip it by its tag */
			set_error(err, AMQPC_ABORTED, 0, "AMQP publish %s: aborted while waiting for the confirm",
					  message_id);
			return AMQPC_ABORTED;
		}
		if (left <= 0)
		{
			c->broken = true;
			set_error(err, AMQPC_TRANSIENT, 0,
					  "AMQP publish %s to %s at %s: no confirm from the broker within %ld ms",
					  message_id, exchange, c->endpoint, c->confirm_timeout_ms);
			return AMQPC_TRANSIENT;
		}
		tv = ms_to_tv(left < SLICE_MS ? left : SLICE_MS);
		rc = amqp_simple_wait_frame_noblock(c->conn, &frame, &tv);
		if (rc == AMQP_STATUS_TIMEOUT)
			continue;
		if (rc != AMQP_STATUS_OK)
		{
			c->broken = true;
			set_error(err, AMQPC_TRANSIENT, 0,
					  "AMQP publish %s to %s at %s: %s while waiting for the confirm",
					  message_id, exchange, c->endpoint, amqp_error_string2(rc));
			return AMQPC_TRANSIENT;
		}
		if (frame.frame_type == AMQP_FRAME_METHOD && frame.channel == CHANNEL &&
			frame.payload.method.id == AMQP_BASIC_ACK_METHOD)
		{
			amqp_basic_ack_t *ack = frame.payload.method.decoded;

			if (ack->delivery_tag == seq || (ack->multiple && ack->delivery_tag >= seq))
				return AMQPC_OK;
			continue;
		}
		if (frame.frame_type == AMQP_FRAME_METHOD && frame.channel == CHANNEL &&
			frame.payload.method.id == AMQP_BASIC_NACK_METHOD)
		{
			amqp_basic_nack_t *nack = frame.payload.method.decoded;

			if (nack->delivery_tag == seq || (nack->multiple && nack->delivery_tag >= seq))
			{
				set_error(err, AMQPC_TRANSIENT, 0,
						  "AMQP publish %s to %s at %s: the broker refused the message (basic.nack)",
						  message_id, exchange, c->endpoint);
				return AMQPC_TRANSIENT;
			}
			continue;
		}
		st = side_frame(c, &frame, "publish", err);
		if (st != AMQPC_OK)
			return st;
	}
}

/* ------------------------------------------------------------------ consume */

amqpc_status
amqpc_consume(amqpc_client *c, const char *queue, int prefetch, amqpc_error *err)
{
	amqpc_status st;

	clear_error(err);
	if (!check_usable(c, "consume", err))
		return AMQPC_TRANSIENT;
	if (queue == NULL || queue[0] == '\0')
	{
		set_error(err, AMQPC_PERMANENT, 0, "AMQP consume: no queue");
		return AMQPC_PERMANENT;
	}
	amqp_basic_qos(c->conn, CHANNEL, 0, (uint16_t) (prefetch > 0 ? (prefetch > 65535 ? 65535 : prefetch) : 1), 0);
	st = rpc_result(c, amqp_get_rpc_reply(c->conn), "basic.qos", err);
	if (st != AMQPC_OK)
		return st;
	amqp_basic_consume(c->conn, CHANNEL, amqp_cstring_bytes(queue), amqp_empty_bytes,
					   0, 0, 0, amqp_empty_table);
	st = rpc_result(c, amqp_get_rpc_reply(c->conn), "basic.consume", err);
	if (st == AMQPC_OK)
		c->consuming = true;
	return st;
}

static char *
dup_bytes(amqp_bytes_t b, bool *oom)
{
	char	   *s = malloc(b.len + 1);

	if (s == NULL)
	{
		*oom = true;
		return NULL;
	}
	if (b.len > 0)
		memcpy(s, b.bytes, b.len);
	s[b.len] = '\0';
	return s;
}

void
amqpc_delivery_free(amqpc_delivery *d)
{
	if (d == NULL)
		return;
	free(d->exchange);
	free(d->routing_key);
	free(d->message_id);
	free(d->content_type);
	free(d->traceparent);
	free(d->body);
	free(d);
}

static amqpc_delivery *
copy_envelope(const amqp_envelope_t *env)
{
	amqpc_delivery *d = calloc(1, sizeof(*d));
	const amqp_basic_properties_t *p = &env->message.properties;
	bool		oom = false;

	if (d == NULL)
		return NULL;
	d->delivery_tag = env->delivery_tag;
	d->redelivered = env->redelivered != 0;
	d->exchange = dup_bytes(env->exchange, &oom);
	d->routing_key = dup_bytes(env->routing_key, &oom);
	if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
		d->message_id = dup_bytes(p->message_id, &oom);
	if (p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
		d->content_type = dup_bytes(p->content_type, &oom);
	if (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
		d->delivery_mode = p->delivery_mode;
	if (p->_flags & AMQP_BASIC_HEADERS_FLAG)
		for (int i = 0; i < p->headers.num_entries; i++)
		{
			const amqp_table_entry_t *h = &p->headers.entries[i];

			if (h->key.len == 11 && memcmp(h->key.bytes, "traceparent", 11) == 0 &&
				(h->value.kind == AMQP_FIELD_KIND_UTF8 || h->value.kind == AMQP_FIELD_KIND_BYTES) &&
				d->traceparent == NULL)
				d->traceparent = dup_bytes(h->value.value.bytes, &oom);
		}
	d->body = (unsigned char *) dup_bytes(env->message.body, &oom);
	d->body_len = env->message.body.len;
	if (oom)
	{
		amqpc_delivery_free(d);
		return NULL;
	}
	return d;
}

amqpc_status
amqpc_next_delivery(amqpc_client *c, long timeout_ms, amqpc_delivery **d, amqpc_error *err)
{
	long		deadline;

	clear_error(err);
	*d = NULL;
	if (!check_usable(c, "consume", err))
		return AMQPC_TRANSIENT;
	if (!c->consuming)
	{
		set_error(err, AMQPC_PERMANENT, 0, "AMQP: amqpc_consume() was not called");
		return AMQPC_PERMANENT;
	}
	deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;)
	{
		long		left = deadline - now_ms();
		struct timeval tv;
		amqp_envelope_t env;
		amqp_rpc_reply_t r;

		if (should_abort(c))
		{
			set_error(err, AMQPC_ABORTED, 0, "AMQP consume: aborted");
			return AMQPC_ABORTED;
		}
		amqp_maybe_release_buffers(c->conn);
		tv = ms_to_tv(left <= 0 ? 0 : (left < SLICE_MS ? left : SLICE_MS));
		r = amqp_consume_message(c->conn, &env, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_NORMAL)
		{
			*d = copy_envelope(&env);
			amqp_destroy_envelope(&env);
			if (*d == NULL)
			{
				set_error(err, AMQPC_TRANSIENT, 0, "AMQP consume: out of memory");
				return AMQPC_TRANSIENT;
			}
			return AMQPC_OK;
		}
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
			r.library_error == AMQP_STATUS_TIMEOUT)
		{
			if (left <= 0)
				return AMQPC_OK;	/* nothing came in time */
			continue;
		}
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
			r.library_error == AMQP_STATUS_UNEXPECTED_STATE)
		{
			/* a frame other than a delivery is waiting: read and handle it */
			amqp_frame_t frame;
			struct timeval ftv = ms_to_tv(SLICE_MS);
			int			rc = amqp_simple_wait_frame_noblock(c->conn, &frame, &ftv);
			amqpc_status st;

			if (rc == AMQP_STATUS_TIMEOUT)
				continue;
			if (rc != AMQP_STATUS_OK)
			{
				c->broken = true;
				set_error(err, AMQPC_TRANSIENT, 0, "AMQP consume at %s: %s", c->endpoint,
						  amqp_error_string2(rc));
				return AMQPC_TRANSIENT;
			}
			st = side_frame(c, &frame, "consume", err);
			if (st != AMQPC_OK)
				return st;
			continue;
		}
		return rpc_result(c, r, "consume", err);
	}
}

static amqpc_status
settle(amqpc_client *c, uint64_t tag, bool ack, bool requeue, amqpc_error *err)
{
	int			rc;

	clear_error(err);
	if (!check_usable(c, ack ? "ack" : "nack", err))
		return AMQPC_TRANSIENT;
	rc = ack ? amqp_basic_ack(c->conn, CHANNEL, tag, 0)
		: amqp_basic_nack(c->conn, CHANNEL, tag, 0, requeue ? 1 : 0);
	if (rc != AMQP_STATUS_OK)
	{
		c->broken = true;
		set_error(err, AMQPC_TRANSIENT, 0, "AMQP %s at %s: %s", ack ? "ack" : "nack",
				  c->endpoint, amqp_error_string2(rc));
		return AMQPC_TRANSIENT;
	}
	return AMQPC_OK;
}

amqpc_status
amqpc_ack(amqpc_client *c, uint64_t delivery_tag, amqpc_error *err)
{
	return settle(c, delivery_tag, true, false, err);
}

amqpc_status
amqpc_nack(amqpc_client *c, uint64_t delivery_tag, bool requeue, amqpc_error *err)
{
	return settle(c, delivery_tag, false, requeue, err);
}
