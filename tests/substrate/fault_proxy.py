"""A fault-injecting HTTP proxy between m4host (or any AWS SDK) and moto, on loopback only.

    python3 tests/substrate/fault_proxy.py --upstream http://127.0.0.1:4566 [--port 0] [--trace FILE]

prints `listening 127.0.0.1:PORT` on its first stdout line, then serves until killed. Every request
is forwarded to the upstream unless a rule says otherwise. The AWS service of a request is read
from its SigV4 credential scope (`Credential=KEY/DATE/REGION/SERVICE/aws4_request`), its operation
from X-Amz-Target (JSON protocols), Action= (query protocols) or the method (S3 REST).

--trace FILE appends one JSON line per forwarded request when its answer has been sent: {"start",
"end" (seconds, monotonic), "service", "operation", "path"}; a benchmark reads from it which calls
ran one after another (tests/bench/m4_latency.sh).

Control (same port, never forwarded):
  POST /fault-proxy/rules  [{"service": "ecs"|"*", "operation": "DescribeServices"|"*", "kind": KIND,
                             "probability": 0..1 (1), "after": N requests first let through (0),
                             "count": at most N faults (unlimited), "delay_ms": N,
                             "first_attempt_only": true = never fault an SDK retry (transient faults a
                             retry rides out; read from the SDK's amz-sdk-request: attempt=N),
                             "path_contains": "TEXT" = only requests whose path holds TEXT (an S3 key)}]
                           replaces all rules
  POST /fault-proxy/release  lets every paused request go on (and those that pause later)
  GET  /fault-proxy/stats  {"calls": {"ecs": n, ...}, "operations": {"ecs:DescribeServices": n},
                            "actions": {"s3:ListBucket": n} (the IAM action each request needs),
                            "faults": {"ecs:throttle": n}, "paused": requests held now}
Kinds, each in the error shape of the service's protocol (the SDKs read these shapes):
  throttle   awsJson: 400 {"__type": "ThrottlingException"}; query (iam, sts): 400 <Code>Throttling</Code>;
             S3: 503 <Code>SlowDown</Code>
  error5xx   awsJson: 500 InternalFailure / query: 500 ServiceUnavailable / S3: 500 InternalError
  malformed  200 with a body cut in half (not parseable)
  latency    forwards after delay_ms
  reset      closes the connection without an answer (TCP RST)
  blackhole  holds the connection open and never answers (an endpoint that stopped answering)
  slow       answers correctly, but only after delay_ms (longer than the client's attempt timeout)
  corrupt    200 answers with one byte of the body changed (S3 returning other bytes than were put)
  pause      holds the request unanswered until /fault-proxy/release, then forwards it: a test
             holds a run at a known point (e.g. the PUT of a phase's snapshot), changes the world
             (stops a server), and lets it go on, without racing the run
"""
import argparse
import http.client
import json
import random
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QUERY = {"iam", "sts"}
LOCK = threading.Lock()
RULES = []
STATS = {"calls": {}, "operations": {}, "actions": {}, "faults": {}, "paused": 0}
RELEASED = threading.Event()
SEEN = {}  # rule index -> requests matched so far
FIRED = {}  # rule index -> faults injected so far
UPSTREAM = None
TRACE = None  # an open file, with --trace


def _bump(table, key):
    STATS[table][key] = STATS[table].get(key, 0) + 1


def _service(headers):
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", headers.get("Authorization", ""))
    return m.group(1) if m else "unknown"


def _operation(service, method, path, headers, body):
    target = headers.get("X-Amz-Target")
    if target:
        return target.split(".")[-1]
    if service in QUERY:
        fields = urllib.parse.parse_qs(body.decode(errors="replace"))
        return fields.get("Action", ["?"])[0]
    return f"{method} {'object' if path.count('/') > 1 else 'bucket'}"


# S3's REST operations and the IAM action each needs (S3 User Guide, "Required permissions for
# Amazon S3 API operations"; HeadBucket and ListObjectsV2 need s3:ListBucket, HeadObject needs
# s3:GetObject). A request of another kind names itself so a test that checks them fails.
S3_BUCKET_SUBRESOURCES = {"location": "s3:GetBucketLocation", "versioning": "s3:GetBucketVersioning",
                          "policy": "s3:GetBucketPolicy", "acl": "s3:GetBucketAcl", "tagging": "s3:GetBucketTagging"}


def _action(service, operation, method, path):
    """The IAM action a request needs: service:Operation for the JSON and query protocols (ECS,
    SSM, CloudWatch Logs, IAM and STS name their actions after their operations), and S3's by the
    table above."""
    if service != "s3":
        return f"{service}:{operation}"
    parsed = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    has_key = len([p for p in parsed.path.split("/") if p]) > 1
    if has_key:
        if "tagging" in query or "acl" in query or "uploads" in query or "uploadId" in query:
            return f"s3:?{method} object ?{'&'.join(sorted(query))}"
        return {"GET": "s3:GetObject", "HEAD": "s3:GetObject", "PUT": "s3:PutObject",
                "DELETE": "s3:DeleteObject"}.get(method, f"s3:?{method} object")
    for sub, action in S3_BUCKET_SUBRESOURCES.items():
        if sub in query:
            return action
    if method in ("GET", "HEAD"):
        return "s3:ListBucket"
    return f"s3:?{method} bucket"


def _error(service, kind):
    """(status, content type, body) of an error in the service's own protocol."""
    if service == "s3":
        code, status = ("SlowDown", 503) if kind == "throttle" else ("InternalError", 500)
        body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected {kind}</Message><RequestId>fault-proxy</RequestId></Error>"
        return status, "application/xml", body.encode()
    if service in QUERY:
        code, status = ("Throttling", 400) if kind == "throttle" else ("ServiceUnavailable", 500)
        kind_ = "Sender" if status == 400 else "Receiver"
        body = (f"<ErrorResponse><Error><Type>{kind_}</Type><Code>{code}</Code><Message>injected {kind}</Message>"
                f"</Error><RequestId>fault-proxy</RequestId></ErrorResponse>")
        return status, "text/xml", body.encode()
    code, status = ("ThrottlingException", 400) if kind == "throttle" else ("InternalFailure", 500)
    return status, "application/x-amz-json-1.1", json.dumps({"__type": code, "message": f"injected {kind}"}).encode()


def _pick(service, operation, path, attempt):
    with LOCK:
        for i, rule in enumerate(RULES):
            if rule.get("service", "*") not in ("*", service):
                continue
            if rule.get("path_contains", "") not in path:
                continue
            if rule.get("operation", "*") not in ("*", operation):
                continue
            if rule.get("first_attempt_only") and attempt > 1:
                continue
            SEEN[i] = SEEN.get(i, 0) + 1
            if SEEN[i] <= rule.get("after", 0):
                continue
            if "count" in rule and FIRED.get(i, 0) >= rule["count"]:
                continue
            if random.random() >= rule.get("probability", 1.0):
                continue
            FIRED[i] = FIRED.get(i, 0) + 1
            _bump("faults", f"{service}:{rule['kind']}")
            return rule
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An answer goes out as two writes (headers, then body). With Nagle's algorithm on, the body
    # waits for the client's ACK of the headers, which a client delays by up to 40 ms (Linux's
    # delayed ACK): 40 ms added to every call with a body, which no AWS endpoint adds and which
    # a latency benchmark would count as the host's.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _reply(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _control(self, body):
        if self.command == "POST" and self.path == "/fault-proxy/rules":
            rules = json.loads(body or b"[]")
            with LOCK:
                RULES[:] = rules
                SEEN.clear()
                FIRED.clear()
                RELEASED.clear()
            return self._reply(200, "application/json", b'{"ok": true}')
        if self.command == "POST" and self.path == "/fault-proxy/release":
            RELEASED.set()
            return self._reply(200, "application/json", b'{"ok": true}')
        if self.command == "GET" and self.path == "/fault-proxy/stats":
            with LOCK:
                data = json.dumps(STATS).encode()
            return self._reply(200, "application/json", data)
        return self._reply(404, "application/json", b'{"error": "no such control endpoint"}')

    def _handle(self):
        started = time.monotonic()
        size = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(size) if size else b""
        if self.path.startswith("/fault-proxy/"):
            return self._control(body)
        service = _service(self.headers)
        operation = _operation(service, self.command, self.path, self.headers, body)
        with LOCK:
            _bump("calls", service)
            _bump("operations", f"{service}:{operation}")
            _bump("actions", _action(service, operation, self.command, self.path))
        attempt = re.search(r"attempt=(\d+)", self.headers.get("amz-sdk-request", ""))
        rule = _pick(service, operation, self.path, int(attempt.group(1)) if attempt else 1)
        kind = rule["kind"] if rule else None
        if kind in ("throttle", "error5xx"):
            return self._reply(*_error(service, kind))
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if kind == "blackhole":
            self.close_connection = True
            time.sleep(3600)  # the client's timeout ends this, or the proxy is killed
            return
        if kind == "pause":
            with LOCK:
                STATS["paused"] += 1
            RELEASED.wait(timeout=300)  # bounded: a test that never releases still ends
            with LOCK:
                STATS["paused"] -= 1
        if kind in ("latency", "slow"):
            time.sleep(rule.get("delay_ms", 0) / 1000)
        status, headers, data = self._forward(body)
        if kind == "malformed" and status == 200:
            data = data[: len(data) // 2] or b"{"
        if kind == "corrupt" and status == 200 and data:
            data = data[:-1] + bytes([data[-1] ^ 0x01])
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        if TRACE is not None:
            line = json.dumps({"start": started, "end": time.monotonic(), "service": service,
                               "operation": operation, "path": self.path.split("?")[0]})
            with LOCK:
                TRACE.write(line + "\n")
                TRACE.flush()

    def _forward(self, body):
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


class Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a client opening more connections at once than
    # that (an SDK's concurrent calls on fresh connections) has SYNs dropped and waits out TCP's
    # 1 s retransmission, a delay no AWS endpoint adds. Let the kernel queue as many as it takes.
    request_queue_size = 512
    daemon_threads = True


def main():
    global UPSTREAM, TRACE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--trace", help="append one JSON line per forwarded request to this file")
    args = parser.parse_args()
    if args.trace:
        TRACE = open(args.trace, "a", encoding="utf-8")
    UPSTREAM = urllib.parse.urlsplit(args.upstream)
    if UPSTREAM.hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("fault_proxy: the upstream must be on loopback")
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"listening 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
