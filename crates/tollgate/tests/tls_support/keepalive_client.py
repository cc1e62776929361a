#!/usr/bin/env python3
"""A keep-alive HTTPS client driven line by line (for the hot-swap test).

argv: host port cafile [servername]. Connects once (verifying against cafile, SNI =
servername or host), then for each line read on stdin ("GET /path") sends that request on the
same connection and prints "STATUS <code> <peer certificate CN>" (flushed).
"""
import socket
import ssl
import sys


def read_response(f):
    status = f.readline().decode()
    length = 0
    while True:
        line = f.readline().decode()
        if line in ("\r\n", "\n", ""):
            break
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        f.read(length)
    return status.split(" ")[1] if " " in status else "0"


def main():
    host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    name = sys.argv[4] if len(sys.argv) > 4 else host
    ctx = ssl.create_default_context(cafile=cafile)
    raw = socket.create_connection(("127.0.0.1", port), timeout=15)
    s = ctx.wrap_socket(raw, server_hostname=name)
    cn = dict(x[0] for x in s.getpeercert()["subject"]).get("commonName", "")
    f = s.makefile("rb")
    for line in sys.stdin:
        path = line.split()[1]
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\n\r\n".encode())
        print("STATUS", read_response(f), cn, flush=True)


if __name__ == "__main__":
    main()
