#!/usr/bin/env python3
"""A small HTTPS server for the gateway's client-side TLS tests.

argv: port certfile keyfile. Prints "READY" once listening. Answers, keep-alive:
- POST (a Lambda Invoke call): the reference authorizer's Allow policy for the event's
  methodArn, principalId "tls-user";
- GET /jwks.json: the file named by $JWKS_FILE (or {"keys": []});
- any other GET: the request headers as a JSON object (names lowercased).
"""
import json
import os
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/jwks.json"):
            path = os.environ.get("JWKS_FILE")
            self.reply(json.load(open(path)) if path else {"keys": []})
        else:
            self.reply({k.lower(): v for k, v in self.headers.items()} | {"x-path": self.path})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        event = json.loads(self.rfile.read(n) or b"{}")
        self.reply({
            "principalId": "tls-user",
            "policyDocument": {"Version": "2012-10-17", "Statement": [{
                "Action": "execute-api:Invoke", "Effect": "Allow",
                "Resource": event.get("methodArn", "*")}]},
            "context": {"via": "https"},
        })

    def log_message(self, *args):
        pass


def main():
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("READY", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
