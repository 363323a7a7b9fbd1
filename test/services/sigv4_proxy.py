#!/usr/bin/python3
"""sigv4_proxy.py: a reverse proxy in front of s3rver that checks AWS SigV4.

s3rver is lenient about signatures; this proxy makes the tests as strict as
AWS: every request must carry an `Authorization: AWS4-HMAC-SHA256 ...` header
whose signature botocore's own signer (botocore.auth.S3SigV4Auth) reproduces
from the request, with the proxy's credentials, the region of the credential
scope (which must be the proxy's region), the signed headers and x-amz-date of
the request, and an x-amz-content-sha256 that is the SHA-256 of the body
(UNSIGNED-PAYLOAD is refused). On a mismatch it answers like S3 (XML error,
403 SignatureDoesNotMatch / InvalidAccessKeyId / AuthorizationHeaderMalformed
/ AccessDenied ...); otherwise it forwards the request byte for byte to the
upstream and streams the answer back.

Run with /usr/bin/python3 (Debian's python3-botocore):
  sigv4_proxy.py --upstream http://127.0.0.1:PORT [--port 0] [--port-file F]
                 [--access-key S3RVER] [--secret-key S3RVER] [--region us-east-1]
"""
import argparse
import datetime
import hashlib
import hmac
import http.client
import http.server
import re
import socketserver
import sys
import urllib.parse
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTH_RE = re.compile(
    r'^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,'
    r'\s*Signature=([0-9a-fA-F]+)\s*$')
HOP_BY_HOP = {'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization',
              'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect'}
MAX_SKEW = datetime.timedelta(minutes=15)
UNSIGNED = 'UNSIGNED-PAYLOAD'


class Reject(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'sigv4-proxy'

    def log_message(self, fmt, *args):
        sys.stderr.write('%s %s\n' % (self.log_date_time_string(), fmt % args))
        sys.stderr.flush()

    # -------------------------------------------------------------- helpers
    def _read_body(self):
        if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
            raise Reject(411, 'MissingContentLength',
                         'You must provide the Content-Length HTTP header.')
        n = self.headers.get('Content-Length')
        if n is None:
            return b''
        try:
            n = int(n)
        except ValueError:
            raise Reject(400, 'InvalidArgument', 'Bad Content-Length')
        return self.rfile.read(n) if n > 0 else b''

    def _error(self, status, code, message):
        resource = urllib.parse.urlsplit(self.path).path
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
                '<Message>%s</Message><Resource>%s</Resource><RequestId>sigv4proxy</RequestId>'
                '</Error>' % (escape(code), escape(message), escape(resource))).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/xml')
        self.send_header('x-amz-request-id', 'sigv4proxy')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)
        self.log_message('%s %s -> %d %s: %s', self.command, self.path, status, code, message)

    def _verify(self, body):
        cfg = self.server.cfg
        auth = self.headers.get('Authorization')
        if not auth:
            raise Reject(403, 'AccessDenied', 'Anonymous access is refused by this proxy.')
        m = AUTH_RE.match(auth.strip())
        if not m:
            raise Reject(400, 'AuthorizationHeaderMalformed',
                         'The authorization header is malformed.')
        credential, signed_headers, signature = m.group(1), m.group(2), m.group(3).lower()
        parts = credential.split('/')
        if len(parts) != 5 or parts[4] != 'aws4_request':
            raise Reject(400, 'AuthorizationHeaderMalformed',
                         'The authorization header is malformed; the Credential is malformed.')
        access_key, scope_date, region, service = parts[0], parts[1], parts[2], parts[3]
        if access_key != cfg.access_key:
            raise Reject(403, 'InvalidAccessKeyId',
                         'The AWS Access Key Id you provided does not exist in our records.')
        if service != 's3':
            raise Reject(400, 'AuthorizationHeaderMalformed',
                         "The authorization header is malformed; incorrect service '%s'. "
                         "This endpoint belongs to 's3'." % service)
        if region != cfg.region:
            # S3 says 400 here; the tests want a wrong region to be refused
            # like a wrong secret, so 403 (both are permanent for a client).
            raise Reject(403, 'AuthorizationHeaderMalformed',
                         "The authorization header is malformed; the region '%s' is wrong; "
                         "expecting '%s'" % (region, cfg.region))
        names = signed_headers.split(';')
        if 'host' not in names:
            raise Reject(403, 'AccessDenied', 'Host must be a signed header.')
        amz_date = self.headers.get('X-Amz-Date')
        if not amz_date or 'x-amz-date' not in names:
            raise Reject(403, 'AccessDenied', 'x-amz-date must be present and signed.')
        try:
            when = datetime.datetime.strptime(amz_date, '%Y%m%dT%H%M%SZ')
        except ValueError:
            raise Reject(403, 'AccessDenied', 'x-amz-date is not in ISO 8601 basic format.')
        if abs(datetime.datetime.utcnow() - when) > MAX_SKEW:
            raise Reject(403, 'RequestTimeTooSkewed',
                         'The difference between the request time and the current time is too large.')
        if scope_date != amz_date[:8]:
            raise Reject(403, 'SignatureDoesNotMatch',
                         'The credential scope date does not match x-amz-date.')
        content_sha = self.headers.get('X-Amz-Content-SHA256')
        if content_sha is None or 'x-amz-content-sha256' not in names:
            raise Reject(400, 'InvalidRequest',
                         'Missing required header for this request: x-amz-content-sha256')
        if content_sha == UNSIGNED:
            raise Reject(403, 'AccessDenied',
                         'UNSIGNED-PAYLOAD is refused: sign the SHA-256 of the payload.')
        if content_sha.lower() != hashlib.sha256(body).hexdigest():
            raise Reject(400, 'XAmzContentSHA256Mismatch',
                         "The provided 'x-amz-content-sha256' header does not match what was computed.")

        # Recompute with botocore's signer over exactly the signed headers.
        headers = {}
        for name in names:
            values = self.headers.get_all(name)
            if values is None:
                raise Reject(403, 'SignatureDoesNotMatch',
                             'Signed header %s is missing from the request.' % name)
            headers[name] = values[0] if len(values) == 1 else ','.join(values)
        url = 'http://%s%s' % (self.headers.get('Host'), self.path)
        request = AWSRequest(method=self.command, url=url, headers=headers, data=body)
        request.context['timestamp'] = amz_date
        signer = S3SigV4Auth(Credentials(cfg.access_key, cfg.secret_key), 's3', region)
        canonical_request = signer.canonical_request(request)
        # botocore's signed header list must be the client's one
        if signer.signed_headers(signer.headers_to_sign(request)) != signed_headers:
            raise Reject(403, 'SignatureDoesNotMatch',
                         'The signed headers are not the ones botocore would sign: %s vs %s'
                         % (signed_headers, signer.signed_headers(signer.headers_to_sign(request))))
        string_to_sign = signer.string_to_sign(request, canonical_request)
        expected = signer.signature(string_to_sign, request)
        if not hmac.compare_digest(expected, signature):
            if cfg.verbose:
                self.log_message('canonical request:\n%s\nstring to sign:\n%s',
                                 canonical_request, string_to_sign)
            raise Reject(403, 'SignatureDoesNotMatch',
                         'The request signature we calculated does not match the signature '
                         'you provided. Check your key and signing method.')

    def _forward(self, body):
        cfg = self.server.cfg
        conn = http.client.HTTPConnection(cfg.upstream_host, cfg.upstream_port, timeout=60)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    conn.putheader(name, value)
            conn.endheaders(body if body else None)
            resp = conn.getresponse()
        except OSError as e:
            conn.close()
            raise Reject(503, 'ServiceUnavailable', 'The upstream S3 server is unavailable: %s' % e)
        try:
            no_body = self.command == 'HEAD' or resp.status in (204, 304) or resp.status < 200
            length = resp.getheader('Content-Length')
            data = None
            if not no_body and length is None:
                data = resp.read()  # chunked upstream: re-frame with a length
            self.log_request(resp.status)
            self.send_response_only(resp.status, resp.reason)
            for name, value in resp.getheaders():
                if name.lower() in HOP_BY_HOP or name.lower() == 'content-length':
                    continue
                self.send_header(name, value)
            if data is not None:
                self.send_header('Content-Length', str(len(data)))
            elif length is not None:
                self.send_header('Content-Length', length)
            self.end_headers()
            if no_body:
                return
            if data is not None:
                self.wfile.write(data)
                return
            while True:
                chunk = resp.read(65536)
                if not chunk:
                    break
                self.wfile.write(chunk)
        finally:
            conn.close()

    def _handle(self):
        try:
            body = self._read_body()
            self._verify(body)
            self._forward(body)
        except Reject as r:
            self._error(r.status, r.code, r.message)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--upstream', required=True, help='http://127.0.0.1:PORT of s3rver')
    p.add_argument('--address', default='127.0.0.1')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--port-file', help='write the bound port here once listening')
    p.add_argument('--access-key', default='S3RVER')
    p.add_argument('--secret-key', default='S3RVER')
    p.add_argument('--region', default='us-east-1')
    p.add_argument('--verbose', action='store_true', help='log canonical requests on mismatch')
    cfg = p.parse_args()
    up = urllib.parse.urlsplit(cfg.upstream)
    cfg.upstream_host, cfg.upstream_port = up.hostname, up.port or 80
    server = Server((cfg.address, cfg.port), Handler)
    server.cfg = cfg
    port = server.server_address[1]
    if cfg.port_file:
        with open(cfg.port_file + '.tmp', 'w') as f:
            f.write('%d\n' % port)
        import os
        os.replace(cfg.port_file + '.tmp', cfg.port_file)
    sys.stderr.write('sigv4_proxy listening on %s:%d -> %s\n' % (cfg.address, port, cfg.upstream))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
