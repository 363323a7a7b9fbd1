/*
 * s3_client.h: a small S3 client (libcurl, SigV4 by CURLOPT_AWS_SIGV4).
 *
 * Free of PostgreSQL headers: linked into the extension's background worker
 * and into the sidecars. No global state; one s3c_client per thread (it owns
 * one curl easy handle and one multi handle, kept between calls so the
 * connection is reused). The caller runs curl_global_init() once per process
 * before the first client. Needs libcurl >= 7.75 and libcrypto (SHA-256, MD5).
 *
 * Addressing: with an endpoint (S3-compatible servers, tests) path-style,
 * <endpoint>/<bucket>/<key>; without one, AWS virtual-hosted style,
 * https://<bucket>.s3.<region>.amazonaws.com/<key>. Every request is signed
 * with "aws:amz:<region>:s3" and carries x-amz-content-sha256 (the hex
 * SHA-256 of the payload).
 *
 * Every call returns an s3c_status and, when not S3C_OK, fills *err (if given)
 * with the HTTP status, S3's error code (from the XML body) and a readable
 * message. Credentials never appear in messages.
 *
 *   S3C_TRANSIENT  retry later: timeouts, refused/reset connections, DNS,
 *                  HTTP 5xx, 429, 408, S3 codes SlowDown, RequestTimeout,
 *                  InternalError, ServiceUnavailable, RequestTimeTooSkewed,
 *                  an ETag that does not match the uploaded bytes
 *   S3C_PERMANENT  retrying cannot help: 403 (AccessDenied,
 *                  SignatureDoesNotMatch, InvalidAccessKeyId, ...), 404
 *                  (NoSuchBucket, NoSuchKey), other 4xx, 3xx (wrong region
 *                  on AWS), a bad argument, an object over the size limit
 *   S3C_ABORTED    the abort callback asked to stop
 */
#ifndef INVOICEFLOW_S3_CLIENT_H
#define INVOICEFLOW_S3_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum s3c_status
{
	S3C_OK = 0,
	S3C_TRANSIENT = 1,
	S3C_PERMANENT = 2,
	S3C_ABORTED = 3
} s3c_status;

#define S3C_MESSAGE_MAX 512

typedef struct s3c_error
{
	s3c_status	status;
	long		http_status;	/* 0 when no HTTP answer came */
	char		code[64];		/* S3 error code ("NoSuchBucket"), or "" */
	char		message[S3C_MESSAGE_MAX];
} s3c_error;

/* "ok", "transient", "permanent", "aborted" */
extern const char *s3c_status_name(s3c_status s);

/*
 * Called about every 100 ms while a request runs (and from libcurl's
 * progress callback); a non-zero return aborts the request (S3C_ABORTED).
 */
typedef int (*s3c_abort_fn) (void *arg);

typedef struct s3c_config
{
	const char *endpoint;		/* NULL or "": AWS; else e.g. http://127.0.0.1:9000 */
	const char *bucket;			/* required */
	const char *region;			/* NULL or "": us-east-1 */
	const char *access_key_id;	/* required */
	const char *secret_access_key;	/* required */
	long		connect_timeout_ms; /* 0: 5000 */
	long		timeout_ms;		/* total per request; 0: 30000 */
	bool		skip_etag_check;	/* for servers whose ETag is not the MD5 (SSE-KMS) */
} s3c_config;

typedef struct s3c_client s3c_client;

/* Copies everything it needs from cfg. NULL on bad config or out of memory. */
extern s3c_client *s3c_client_new(const s3c_config *cfg, s3c_error *err);
extern void s3c_client_free(s3c_client *c);
/* 0 leaves a timeout unchanged */
extern void s3c_client_set_timeouts(s3c_client *c, long connect_timeout_ms, long timeout_ms);
extern void s3c_client_set_abort(s3c_client *c, s3c_abort_fn fn, void *arg);
/* "<endpoint or https://bucket.s3.region.amazonaws.com>" for logs */
extern const char *s3c_client_base_url(const s3c_client *c);

/* Metadata for a PUT; every field may be NULL. */
typedef struct s3c_put_options
{
	const char *content_type;	/* NULL: application/octet-stream */
	const char *request_id;		/* x-amz-meta-request-id */
	const char *filename;		/* UTF-8; sent percent-encoded as x-amz-meta-filename */
	const char *sha256_hex;		/* x-amz-meta-sha256; NULL: computed from the body */
	const char *traceparent;	/* x-amz-meta-traceparent (W3C trace context), or NULL */
} s3c_put_options;

/*
 * PUT object with Content-MD5; on success the returned ETag is checked to be
 * the MD5 of body (unless skip_etag_check). etag_out (33 bytes, may be NULL)
 * receives the MD5 hex.
 */
extern s3c_status s3c_put_object(s3c_client *c, const char *key,
								 const void *body, size_t len,
								 const s3c_put_options *opt,
								 char *etag_out, s3c_error *err);

/*
 * Several PUTs at once: up to max_in_flight transfers side by side on the
 * client's multi handle (its connections reused), each checked as
 * s3c_put_object() checks one (Content-MD5, then ETag = MD5 of the bytes
 * sent) with its own outcome in its job. The abort callback stops them all
 * (S3C_ABORTED); jobs not started then are S3C_ABORTED too.
 */
typedef struct s3c_put_job
{
	const char *key;
	const void *body;
	size_t		len;
	s3c_put_options opt;
	/* outcome */
	s3c_status	status;
	s3c_error	err;
	char		etag[33];		/* the MD5 hex on success */
} s3c_put_job;

extern void s3c_put_objects(s3c_client *c, s3c_put_job *jobs, int n, int max_in_flight);

/*
 * GET object into a malloc'd buffer (*data, NUL-terminated beyond *len for
 * convenience; the caller free()s it). An object larger than max_size
 * (0: no limit) is S3C_PERMANENT with code "EntityTooLarge". On error *data
 * is NULL and *len 0.
 */
extern s3c_status s3c_get_object(s3c_client *c, const char *key, size_t max_size,
								 unsigned char **data, size_t *len, s3c_error *err);

/*
 * GET length bytes of an object from byte offset (an HTTP Range request) into a
 * malloc'd buffer, as s3c_get_object; fewer at the object's end. The memory it
 * takes is bounded by length whatever the object's size (the gateway streams
 * a file this way). A server that ignores Range and sends more than length is
 * S3C_PERMANENT "EntityTooLarge"; a range past the end is S3C_PERMANENT, 416.
 */
extern s3c_status s3c_get_range(s3c_client *c, const char *key, uint64_t offset, size_t length,
								unsigned char **data, size_t *len, s3c_error *err);

typedef struct s3c_object_info
{
	int64_t		size;			/* Content-Length, -1 if unknown */
	char		etag[80];		/* without quotes */
	char		content_type[128];
	char		last_modified[64];	/* as sent (RFC 7231 date) */
	char		request_id[64]; /* x-amz-meta-request-id */
	char		sha256[72];		/* x-amz-meta-sha256 */
	char		traceparent[64];	/* x-amz-meta-traceparent */
	char		filename[1024]; /* x-amz-meta-filename, percent-decoded (truncated
								 * if longer) */
} s3c_object_info;

/* HEAD object. A missing object is S3C_PERMANENT, http_status 404, code "NoSuchKey". */
extern s3c_status s3c_head_object(s3c_client *c, const char *key,
								  s3c_object_info *info, s3c_error *err);

/* DELETE object. S3 answers 204 also when the key does not exist. */
extern s3c_status s3c_delete_object(s3c_client *c, const char *key, s3c_error *err);

/* HEAD bucket: the health probe. 404 is S3C_PERMANENT with code "NoSuchBucket". */
extern s3c_status s3c_head_bucket(s3c_client *c, s3c_error *err);

/* Helpers, exposed for tests and callers: hex digests (out 65 / 33 bytes). */
extern void s3c_sha256_hex(const void *data, size_t len, char *out);
extern void s3c_md5_hex(const void *data, size_t len, char *out);

#endif							/* INVOICEFLOW_S3_CLIENT_H */
