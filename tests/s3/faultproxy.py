#!/usr/bin/env python3
"""faultproxy.py — an HTTP/1.1 proxy that breaks a share of S3 requests.

Sits between cairn and s3rver for the S3 fault tests: cairn is pointed at
the proxy (s3:http://127.0.0.1:PROXY/bucket/...), the proxy forwards each
request's raw bytes unchanged to the upstream server and relays the answer.
Nothing is rewritten, the Host header included: cairn signed
"127.0.0.1:PROXY", and a signature check (--verify-sigv4 here, as a real
S3 would) uses the Host header as received, whatever port the server
really listens on, so the signature holds.

A chosen share of requests fails instead (--fail-rate), the kind of fault
taken in turn from --faults, so that every kind shows up once there are as
many faults as kinds:
  500    answered "500 InternalError" (S3 XML body), not forwarded
  503    answered "503 SlowDown" (S3 XML body), not forwarded
  429    answered "429 TooManyRequests" (S3 XML body; what some S3-compatible
         stores send instead of 503 SlowDown), not forwarded
  reset  forwarded, then the connection is closed without an answer (the
         write may well have happened: the client must cope with that)
  cut    forwarded, the answer's head and the first half of its body
         relayed, then, after CUT_PAUSE seconds for the client to read
         them (a reset that arrives first makes the kernel drop what it
         has not read yet), the connection is reset (a download broken
         off: the client has used part of a body that it must fetch again)
  stall  not forwarded; no answer for --stall-seconds, then the
         connection is closed (longer than the client's timeout)
--fail-all answers every request with 500; --fail-match REGEX always fails
(500) the requests whose "METHOD /path?query" matches; --cut-first REGEX
cuts the first request of each matching "METHOD /path?query" (its range
included), and forwards the ones asked again. --redirect-region R answers
every request as AWS answers one sent to the wrong region's endpoint:
"301 PermanentRedirect" with an x-amz-bucket-region: R header and (but for
HEAD) a body naming the endpoint BUCKET.s3.R.amazonaws.com.

--verify-sigv4 first checks each signed request's AWS Signature V4 with
sigv4.py (s3rver 3.7.1 accepts any V4 signature from a known key id) and
answers a bad one as S3 would (403 SignatureDoesNotMatch, 400
XAmzContentSHA256Mismatch, 400 AuthorizationHeaderMalformed for a region
other than --region, ...) without forwarding it; --key ID:SECRET (default
S3RVER:S3RVER) are the known keys.

Keep-alive connections, Content-Length and chunked bodies both ways,
"Expect: 100-continue" (answered by the proxy, the upstream's own 100 is
dropped) and HEAD are handled; one upstream connection per client
connection. Counts (requests by method, faults by kind) go to --stats FILE
as JSON on SIGTERM, SIGINT or exit, and on SIGUSR1; --log FILE gets a
line per request (and the canonical request of each rejected one).

  faultproxy.py --upstream 127.0.0.1:4568 [--listen PORT] [--ready-file F]
                [--fail-rate 0.2] [--faults 500,503,429,reset,cut,stall]
                [--stall-seconds 5] [--fail-all] [--fail-match REGEX] [--cut-first REGEX]
                [--redirect-region R]
                [--seed N] [--stats FILE] [--log FILE]
                [--verify-sigv4 [--key ID:SECRET]... [--region R|any]]
"""
import argparse
import hashlib
import json
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from xml.sax.saxutils import escape as xml_escape

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4  # noqa: E402

KINDS = ("500", "503", "429", "reset", "cut", "stall")
MAX_HEAD = 64 * 1024
CUT_PAUSE = 0.2


class Closed(Exception):
    """The peer closed the connection (cleanly, between messages, or not)."""


class Reader:
    """Buffered reads of an HTTP/1.1 stream, keeping the raw bytes."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out, self.buf = self.buf[: i + 2], self.buf[i + 2 :]
                return out
            if len(self.buf) > MAX_HEAD:
                raise ValueError("header line too long")
            self._fill()

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self):
        """Start line and headers up to the blank line: (raw, start, {lname: value})."""
        first = self.line()
        while first == b"\r\n":  # stray CRLF between messages
            first = self.line()
        raw = [first]
        headers = {}
        self.pairs = []
        while True:
            ln = self.line()
            raw.append(ln)
            if ln == b"\r\n":
                break
            name, _, value = ln.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
            self.pairs.append((name.strip(), value.strip()))
            if sum(map(len, raw)) > MAX_HEAD:
                raise ValueError("headers too long")
        return b"".join(raw), first.decode("latin-1").rstrip("\r\n"), headers

    def body(self, headers, until_close=False):
        """The raw body bytes as framed by the headers."""
        te = headers.get("transfer-encoding", "").lower()
        if "chunked" in te:
            out = []
            while True:
                size_line = self.line()
                out.append(size_line)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:  # trailers, then the blank line
                        t = self.line()
                        out.append(t)
                        if t == b"\r\n":
                            return b"".join(out)
                out.append(self.exact(size + 2))
        if "content-length" in headers:
            return self.exact(int(headers["content-length"]))
        if until_close:
            out = [self.buf]
            self.buf = b""
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return b"".join(out)
                out.append(data)
        return b""


def dechunk(raw):
    """The payload of a chunked body (raw bytes as framed on the wire)."""
    out, i = [], 0
    while True:
        j = raw.index(b"\r\n", i)
        size = int(raw[i:j].split(b";")[0].strip(), 16)
        if size == 0:
            return b"".join(out)
        out.append(raw[j + 2 : j + 2 + size])
        i = j + 2 + size + 2


REASONS = {400: "Bad Request", 403: "Forbidden", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Slow Down"}


def s3_error(status, reason, code, message, extra=None, head_only=False):
    """An S3 error response; for HEAD without its body, as S3 answers."""
    more = "".join("<%s>%s</%s>" % (k, xml_escape(v), k) for k, v in (extra or {}).items())
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            "<Error><Code>%s</Code><Message>%s</Message>%s"
            "<RequestId>faultproxy</RequestId></Error>" % (code, xml_escape(message), more)).encode()
    head = ("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\n"
            "Content-Length: %d\r\n\r\n" % (status, reason, len(body))).encode()
    return head if head_only else head + body


def redirect(target, region, head_only):
    """AWS's answer to a request for a bucket of another region."""
    bucket = target.split("?")[0].lstrip("/").split("/")[0]
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code>'
            "<Message>The bucket you are attempting to access must be addressed using the specified "
            "endpoint. Please send all future requests to this endpoint.</Message>"
            "<Endpoint>%s.s3.%s.amazonaws.com</Endpoint><Bucket>%s</Bucket>"
            "<RequestId>faultproxy</RequestId></Error>" % (bucket, region, bucket)).encode()
    head = ("HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: %s\r\n"
            "Content-Type: application/xml\r\nContent-Length: %d\r\n\r\n" % (region, len(body))).encode()
    return head if head_only else head + body


class Proxy:
    def __init__(self, args):
        self.args = args
        host, _, port = args.upstream.rpartition(":")
        self.upstream = (host or "127.0.0.1", int(port))
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.kinds = [k for k in args.faults.split(",") if k]
        for k in self.kinds:
            if k not in KINDS:
                sys.exit("faultproxy: unknown fault kind %r (have %s)" % (k, ",".join(KINDS)))
        self.next_kind = 0
        self.match = re.compile(args.fail_match) if args.fail_match else None
        self.cut_first = re.compile(args.cut_first) if args.cut_first else None
        self.cut_seen = set()
        self.stats = {"requests": {}, "faults": {k: 0 for k in KINDS}, "total": 0,
                      "forwarded": 0, "matched": 0, "connections": 0, "rejected": {}, "verified": 0}
        specs = [k.split(":", 2) for k in (args.key or ["S3RVER:S3RVER"])]
        self.keys = {k[0]: k[1] for k in specs}
        self.tokens = {k[0]: k[2] for k in specs if len(k) == 3}
        self.region = None if args.region == "any" else args.region
        self.log_file = open(args.log, "a", buffering=1) if args.log else None

    def log(self, msg):
        if self.log_file:
            self.log_file.write("%.3f %s\n" % (time.time(), msg))

    def write_stats(self):
        if not self.args.stats:
            return
        with self.lock:
            doc = json.dumps(self.stats, indent=1, sort_keys=True)
        tmp = self.args.stats + ".tmp"
        with open(tmp, "w") as f:
            f.write(doc + "\n")
        os.replace(tmp, self.args.stats)

    def count(self, method):
        """One more request of this method (self.lock held)."""
        self.stats["total"] += 1
        self.stats["requests"][method] = self.stats["requests"].get(method, 0) + 1

    def decide(self, method, target, rng=""):
        """None (forward) or the fault kind for this request; counts it."""
        with self.lock:
            self.count(method)
            if self.args.fail_all:
                kind = "500"
            elif self.match and self.match.search("%s %s" % (method, target)):
                self.stats["matched"] += 1
                kind = "500"
            elif (self.cut_first and self.cut_first.search("%s %s" % (method, target))
                  and (method, target, rng) not in self.cut_seen):
                self.cut_seen.add((method, target, rng))
                self.stats["matched"] += 1
                kind = "cut"
            elif self.kinds and self.rng.random() < self.args.fail_rate:
                kind = self.kinds[self.next_kind % len(self.kinds)]
                self.next_kind += 1
            else:
                self.stats["forwarded"] += 1
                return None
            self.stats["faults"][kind] += 1
            return kind

    # -- one client connection -------------------------------------------
    def serve(self, client):
        with self.lock:
            self.stats["connections"] += 1
        up = None
        up_reader = None
        reader = Reader(client)
        abort = False
        try:
            while True:
                try:
                    raw_head, start, headers = reader.head()
                except Closed:
                    return
                parts = start.split(" ")
                if len(parts) != 3:
                    client.sendall(s3_error(400, "Bad Request", "BadRequest", "bad request line"))
                    return
                method, target, _ = parts
                if headers.get("expect", "").lower() == "100-continue":
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = reader.body(headers)
                if self.args.verify_sigv4:
                    payload = dechunk(body) if "chunked" in headers.get("transfer-encoding", "").lower() else body
                    try:
                        if sigv4.verify(method, target, reader.pairs, hashlib.sha256(payload).hexdigest(),
                                        self.keys, self.region, tokens=self.tokens):
                            with self.lock:
                                self.stats["verified"] += 1
                    except sigv4.Reject as e:
                        with self.lock:
                            self.count(method)
                            self.stats["rejected"][e.code] = self.stats["rejected"].get(e.code, 0) + 1
                        self.log("%s %s -> rejected %s: %s %r" % (method, target, e.code, e.message, e.extra))
                        client.sendall(s3_error(e.status, REASONS.get(e.status, "Error"), e.code,
                                                e.message, e.extra, method == "HEAD"))
                        continue
                if self.args.redirect_region:
                    with self.lock:
                        self.count(method)
                    self.log("%s %s -> redirect %s" % (method, target, self.args.redirect_region))
                    client.sendall(redirect(target, self.args.redirect_region, method == "HEAD"))
                    continue
                kind = self.decide(method, target, headers.get("range", ""))
                self.log("%s %s -> %s" % (method, target, kind or "forward"))
                if kind == "500":
                    client.sendall(s3_error(500, "Internal Server Error", "InternalError",
                                            "We encountered an internal error. Please try again.",
                                            head_only=method == "HEAD"))
                    continue
                if kind == "503":
                    client.sendall(s3_error(503, "Slow Down", "SlowDown",
                                            "Please reduce your request rate.", head_only=method == "HEAD"))
                    continue
                if kind == "429":
                    client.sendall(s3_error(429, "Too Many Requests", "TooManyRequests",
                                            "Please reduce your request rate.", head_only=method == "HEAD"))
                    continue
                if kind == "stall":
                    time.sleep(self.args.stall_seconds)
                    return
                # Forward (also for "reset" and "cut": the request happens, the
                # answer is lost or broken off).
                for attempt in (0, 1):
                    if up is None:
                        up = socket.create_connection(self.upstream, timeout=300)
                        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        up_reader = Reader(up)
                    try:
                        up.sendall(raw_head + body)
                        resp_head, status_line, rh = up_reader.head()
                        while status_line.split(" ")[1].startswith("1"):  # 100 Continue etc.
                            resp_head, status_line, rh = up_reader.head()
                        break
                    except (Closed, ConnectionError, socket.timeout):
                        # A kept-alive upstream connection may have been closed
                        # by the server between requests: reconnect once.
                        up.close()
                        up = None
                        if attempt:
                            raise
                status = int(status_line.split(" ")[1])
                if method == "HEAD" or status in (204, 304):
                    resp_body = b""
                else:
                    resp_body = up_reader.body(rh, until_close=True)
                framed = ("content-length" in rh or "chunked" in rh.get("transfer-encoding", "").lower()
                          or method == "HEAD" or status in (204, 304))
                up_closes = rh.get("connection", "").lower() == "close" or not framed
                if kind == "reset":
                    abort = True
                    return
                if kind == "cut":
                    client.sendall(resp_head + resp_body[:len(resp_body) // 2])
                    time.sleep(CUT_PAUSE)
                    abort = True
                    return
                client.sendall(resp_head + resp_body)
                if up_closes:
                    up.close()
                    up = None
                if headers.get("connection", "").lower() == "close":
                    return
        except (Closed, ConnectionError, socket.timeout, OSError, ValueError) as e:
            self.log("connection ends: %r" % e)
            abort = True
        finally:
            if abort:
                # A reset (RST), not an orderly close: SO_LINGER on, 0 s.
                try:
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            client.close()
            if up is not None:
                up.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the S3 server")
    ap.add_argument("--ready-file", help="write the listening port here once ready")
    ap.add_argument("--fail-rate", type=float, default=0.0)
    ap.add_argument("--faults", default=",".join(KINDS))
    ap.add_argument("--stall-seconds", type=float, default=5.0)
    ap.add_argument("--fail-all", action="store_true")
    ap.add_argument("--fail-match", help="regex over 'METHOD /path?query': always 500")
    ap.add_argument("--cut-first", help="regex over 'METHOD /path?query': the first of each cut halfway")
    ap.add_argument("--redirect-region", help="answer everything 301 PermanentRedirect to this region")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stats", help="JSON counts written here on exit")
    ap.add_argument("--log", help="one line per request")
    ap.add_argument("--verify-sigv4", action="store_true",
                    help="check every signed request's SigV4 signature (sigv4.py) before anything else")
    ap.add_argument("--key", action="append", help="ID:SECRET[:TOKEN] accepted by --verify-sigv4 (default S3RVER:S3RVER); with TOKEN, "
                    "temporary credentials: requests must carry it, signed, in x-amz-security-token")
    ap.add_argument("--region", default="us-east-1", help="region the scope must name ('any': any)")
    args = ap.parse_args()

    proxy = Proxy(args)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.listen))
    srv.listen(128)
    port = srv.getsockname()[1]

    def on_term(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGUSR1, lambda s, f: proxy.write_stats())
    proxy.write_stats()
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.ready_file)
    try:
        while True:
            client, _ = srv.accept()
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=proxy.serve, args=(client,), daemon=True).start()
    finally:
        proxy.write_stats()
        srv.close()


if __name__ == "__main__":
    main()
