"""A keep-alive HTTPS server for tollgate-load's TLS tests: Python's http.server over the
ssl module (OpenSSL), an implementation independent of rustls.

usage: https_server.py CERT KEY SNI_NAME TICKETS
Prints "listening on 127.0.0.1:PORT" and serves until killed. Answers every GET with 200 and
a small JSON body (HTTP/1.1, keep-alive). Handshakes whose SNI is not SNI_NAME are refused
(unrecognized_name alert). TICKETS: TLS 1.3 session tickets sent after each full handshake
(0 disables resumption)."""
import http.server
import socketserver
import ssl
import sys

cert, key, sni_name, tickets = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(cert, key)
ctx.num_tickets = tickets


def check_sni(sock, name, _ctx):
    if name != sni_name:
        return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
    return None


ctx.sni_callback = check_sni
srv = Server(("127.0.0.1", 0), Handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(f"listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
srv.serve_forever()
