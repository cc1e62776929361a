#!/usr/bin/env python3
"""Tiny HTTP authorizer for peers that cannot call a Lambda-style function (Envoy ext_authz).

Two modes, so that every gateway in the authorizer scenario can call the same authorizer:
- POST /2015-03-31/functions/function/invocations (Lambda invoke, as tollgate's TOKEN authorizer
  calls it): the event's `authorizationToken` decides; answers 200 with an Allow/Deny policy.
- any other request (nginx auth_request, Envoy ext_authz): the Authorization header decides;
  answers 200 (allow) or 403 (deny), empty body.
Either way: sleeps --delay-ms, counts one invocation; a token (after an optional 'Bearer ')
starting with --allow-prefix is allowed. GET /__count answers the number of invocations. Stdlib only; HTTP/1.1 keep-alive; one thread
per connection.
"""
import argparse
import http.server
import json
import threading
import time

COUNT = 0
INVOKE = "/2015-03-31/functions/function/invocations"
LOCK = threading.Lock()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="127.0.0.1:19001")
    ap.add_argument("--delay-ms", type=float, default=1.0)
    ap.add_argument("--allow-prefix", default="allow")
    a = ap.parse_args()
    host, port = a.bind.rsplit(":", 1)
    delay = a.delay_ms / 1000.0

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else Nagle + delayed ACK add 40 ms to split writes
        wbufsize = 65536  # head and body leave in one write (flushed per request)

        def log_message(self, *args):  # noqa: D401 - silence
            pass

        def _reply(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _auth(self) -> None:
            global COUNT
            if self.command == "GET" and self.path == "/__count":
                self._reply(200, f"{COUNT}\n".encode())
                return
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n) if n else b""
            with LOCK:
                COUNT += 1
            time.sleep(delay)
            lam = self.command == "POST" and self.path == INVOKE
            if lam:
                try:
                    tok = str(json.loads(body or b"{}").get("authorizationToken") or "")
                except ValueError:
                    tok = ""
            else:
                tok = self.headers.get("authorization") or ""
            tok = tok[7:] if tok.startswith("Bearer ") else tok
            allow = tok.startswith(a.allow_prefix)
            if lam:
                self._reply(200, json.dumps({
                    "principalId": "user",
                    "policyDocument": {"Version": "2012-10-17", "Statement": [{
                        "Action": "execute-api:Invoke", "Effect": "Allow" if allow else "Deny",
                        "Resource": "*"}]}}).encode(), "application/json")
            else:
                self._reply(200 if allow else 403, b"")

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _auth

    http.server.ThreadingHTTPServer.request_queue_size = 1024  # default 5 drops SYN bursts
    srv = http.server.ThreadingHTTPServer((host, int(port)), H)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
