#!/usr/bin/python3
"""
bench_inbound.py SECRET SENDER N CLIENTS [HOST:PORT]: N signed application/pdf
webhook requests (each a distinct small PDF and webhook-id) from CLIENTS
keep-alive connections to a running gateway; prints requests/s and the status
codes. The sender needs WEBHOOK_RATE_PER_MINUTE above N on the gateway.
"""
import base64, hashlib, hmac, http.client, sys, threading, time
secret, sender, n, conc = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
key = base64.b64decode(secret[6:])
host, _, port = (sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1:8003").rpartition(":")
ADDR = (host, int(port))
def pdf(tag):
    h = b"%PDF-1.4\n% " + tag.encode() + b"\n"
    return h + b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 >>\nstartxref\n" + str(len(h)).encode() + b"\n%%EOF\n"
codes = {}
RUN = str(time.time())
lock = threading.Lock()
def worker(w):
    c = http.client.HTTPConnection(*ADDR)
    for i in range(w, n, conc):
        body = pdf("bench %s %d %f" % (sender, i, time.time()))
        mid, ts = "msg_b%d_%s_%s" % (i, sender, RUN), str(int(time.time()))
        sig = "v1," + base64.b64encode(hmac.new(key, f"{mid}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
        c.request("POST", "/api/v1/ingest/webhook/" + sender, body,
                  {"webhook-id": mid, "webhook-timestamp": ts, "webhook-signature": sig,
                   "Content-Type": "application/pdf", "X-Filename": "b%d.pdf" % i})
        r = c.getresponse(); r.read()
        with lock: codes[r.status] = codes.get(r.status, 0) + 1
t0 = time.time()
ts = [threading.Thread(target=worker, args=(w,)) for w in range(conc)]
[t.start() for t in ts]; [t.join() for t in ts]
dt = time.time() - t0
print(f"{n} signed webhook uploads, {conc} clients: {dt:.2f} s, {n/dt:.0f} requests/s, codes {codes}")
