#!/usr/bin/python3
"""
receiver.py: a webhook receiver for the tests, written from the Standard
Webhooks specification alone (Python's hmac, hashlib and base64; nothing of
the project's code).

    receiver.py PORT DIR

DIR/secrets   one whsec_ secret per line (read on every request, so a test can
              write it after create_subscription())
DIR/mode      how to answer, read on every request: a status code (default
              200), "hang" (never answer), or "<path-prefix> <status|hang>" lines
DIR/log.jsonl one JSON line per request: path, webhook headers, body, whether
              the signature verified, the status sent
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
DIR = sys.argv[2]
LOCK = threading.Lock()
TOLERANCE = 300


def read(name, default=""):
    try:
        with open(os.path.join(DIR, name)) as f:
            return f.read()
    except FileNotFoundError:
        return default


def verify(headers, body):
    """The specification's algorithm: HMAC-SHA256 over id.timestamp.body."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return False
    if abs(time.time() - int(ts)) > TOLERANCE:
        return False
    content = msg_id.encode() + b"." + ts.encode() + b"." + body
    for secret in read("secrets").split():
        key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        for sig in sigs.split(" "):
            version, _, value = sig.partition(",")
            if version == "v1" and hmac.compare_digest(value, expected):
                return True
    return False


def mode_for(path):
    answer = "200"
    for line in read("mode", "200").splitlines():
        parts = line.split()
        if len(parts) == 1:
            answer = parts[0]
        elif len(parts) == 2 and path.startswith(parts[0]):
            return parts[1]
    return answer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # headers and body in one write (no 40 ms delayed-ACK stall)

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        mode = mode_for(self.path)
        entry = {
            "path": self.path,
            "id": self.headers.get("webhook-id"),
            "timestamp": self.headers.get("webhook-timestamp"),
            "signature": self.headers.get("webhook-signature"),
            "verified": verify(self.headers, body),
            "body": body.decode("utf-8", "replace"),
            "mode": mode,
            "at": time.time(),
        }
        with LOCK:
            with open(os.path.join(DIR, "log.jsonl"), "a") as f:
                f.write(json.dumps(entry) + "\n")
        if mode == "hang":
            time.sleep(3600)
            return
        status = int(mode)
        out = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default 5 drops concurrent connects (1 s SYN retries)


if __name__ == "__main__":
    srv = Server(("127.0.0.1", PORT), Handler)
    with open(os.path.join(DIR, "ready"), "w") as f:
        f.write(str(os.getpid()))
    srv.serve_forever()
