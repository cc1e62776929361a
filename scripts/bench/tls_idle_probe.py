#!/usr/bin/env python3
"""Memory per idle TLS connection on one tollgate (release build by default).

Makes an ECDSA P-256 key and self-signed certificate with `openssl`, starts
`taskset -c 1 tollgate serve --workers 1` on bench/peers/tollgate/tls.yaml (TLS 1.3 only),
warms it with 20 short connections, reads VmRSS, opens N TLS 1.3 keep-alive connections with
Python's `ssl` (ALPN http/1.1, each after one GET), waits 1.5 s (past the gateway's 25 ms
direct read of a next request), reads VmRSS again and reports bytes per connection. Same
method as the `tls-idle` rows of `scripts/bench-all.sh tls`, for one build at a time.

    python3 scripts/bench/tls_idle_probe.py [N] [BINARY]   # default 2000, target/release/tollgate
"""
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
binary = sys.argv[2] if len(sys.argv) > 2 else str(ROOT / "target" / "release" / "tollgate")
port = int(os.environ.get("BENCH_PORT_BASE", "27390"))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
work = Path(tempfile.mkdtemp(prefix="tollgate-tls-idle-"))
key, cert = work / "key.pem", work / "cert.pem"
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                "-days", "2"], check=True, capture_output=True)
cfg = (ROOT / "bench" / "peers" / "tollgate" / "tls.yaml").read_text()
for k, v in {"@@LISTEN@@": f"127.0.0.1:{port}", "@@ADMIN@@": f"127.0.0.1:{port + 2}",
             "@@HTTP2@@": "false", "@@CERT@@": str(cert), "@@KEY@@": str(key)}.items():
    cfg = cfg.replace(k, v)
(work / "tls.yaml").write_text(cfg)
gw = subprocess.Popen(["taskset", "-c", "1", binary, "serve", "--config", str(work / "tls.yaml"),
                       "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rss_kib() -> int:
    for line in Path(f"/proc/{gw.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.set_alpn_protocols(["http/1.1"])


def one() -> ssl.SSLSocket:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                        server_hostname="localhost")
    s.sendall(b"GET /prod/bench HTTP/1.1\r\nHost: localhost\r\n\r\n")
    buf = b""
    while b'{"ok":true}' not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError(f"closed after {buf[:60]!r}")
        buf += chunk
    if not buf.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"got {buf[:60]!r}")
    return s


try:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    for _ in range(20):
        one().close()
    time.sleep(0.3)
    before = rss_kib()
    socks = [one() for _ in range(n)]
    time.sleep(1.5)
    after = rss_kib()
    print(f"{n} idle TLS connections: VmRSS {before} -> {after} KiB, "
          f"{(after - before) * 1024 / n:.0f} bytes per connection")
    for s in socks:
        s.close()
finally:
    gw.terminate()
    gw.wait()
    for p in work.iterdir():
        p.unlink()
    work.rmdir()
