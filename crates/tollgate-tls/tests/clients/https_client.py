"""An independent HTTPS client (Python's ssl module, OpenSSL) for the tollgate-tls tests.

get HOST PORT SNI CAFILE [CERT KEY]   one request; prints the body, or ERROR and the reason
hotswap HOST PORT SNI CAFILE          request on connection 1, print READY, wait for a line on
                                      stdin, request again on connection 1, then on a new one;
                                      prints the peer certificate's O for each
"""
import socket
import ssl
import sys


def context(cafile, cert=None, key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def connect(ctx, host, port, sni):
    raw = socket.create_connection((host, int(port)), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=sni)


def request(conn, sni):
    conn.sendall(("GET /echo HTTP/1.1\r\nHost: %s\r\n\r\n" % sni).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("closed before a response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("closed inside a response")
        body += chunk
    return head.split(b"\r\n")[0].decode(), body.decode()


def org(conn):
    for rdn in conn.getpeercert()["subject"]:
        for k, v in rdn:
            if k == "organizationName":
                return v
    return "-"


def main():
    mode, host, port, sni, cafile = sys.argv[1:6]
    if mode == "get":
        rest = sys.argv[6:]
        try:
            conn = connect(context(cafile, *rest), host, port, sni)
            status, body = request(conn, sni)
            print(status)
            print(body, end="")
        except (ssl.SSLError, OSError) as e:
            print("ERROR %s: %s" % (type(e).__name__, e))
        return
    if mode == "hotswap":
        ctx = context(cafile)
        first = connect(ctx, host, port, sni)
        status, _ = request(first, sni)
        print("1 %s %s" % (status, org(first)), flush=True)
        print("READY", flush=True)
        sys.stdin.readline()
        status, _ = request(first, sni)
        print("2 %s %s" % (status, org(first)), flush=True)
        second = connect(ctx, host, port, sni)
        status, _ = request(second, sni)
        print("3 %s %s" % (status, org(second)), flush=True)
        return
    raise SystemExit("unknown mode " + mode)


main()
