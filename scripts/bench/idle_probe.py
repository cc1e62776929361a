#!/usr/bin/env python3
"""Memory and CPU of idle keep-alive connections on one tollgate (release build by default).

Starts `taskset -c 1 tollgate serve --workers 1` on bench/peers/tollgate/mock.yaml, warms it
with 20 short connections, reads VmRSS, opens N keep-alive connections (each after one GET),
waits 1.5 s (past the gateway's 25 ms direct read of a next request), reads VmRSS again and
reports bytes per connection, then the gateway's CPU (utime+stime) over 5 s while they idle.
Same method as the `idle` scenario of scripts/bench-all.sh, plus the CPU reading. Needs
nofile >= N + 100 here and the gateway's bound (nofile - 72) / 2 >= N.

    python3 scripts/bench/idle_probe.py [N] [BINARY]     # default 9000, target/release/tollgate
"""
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
n = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
binary = sys.argv[2] if len(sys.argv) > 2 else str(ROOT / "target" / "release" / "tollgate")
port = int(os.environ.get("BENCH_PORT_BASE", "27380"))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
cfg = (ROOT / "bench" / "peers" / "tollgate" / "mock.yaml").read_text()
cfg = cfg.replace("@@LISTEN@@", f"127.0.0.1:{port}").replace("@@ADMIN@@", f"127.0.0.1:{port + 2}")
conf = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
conf.write(cfg)
conf.close()
req = b"GET /prod/bench HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
p = subprocess.Popen(["taskset", "-c", "1", binary, "serve", "--config", conf.name, "--workers", "1"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kib(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path(f"/proc/{p.pid}/status").read_text()).group(1))


def cpu() -> float:
    f = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def one() -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    need = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(body) < need:
        body += s.recv(4096)
    return s


try:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    for _ in range(20):
        one().close()
    time.sleep(0.3)
    r0 = kib("VmRSS")
    socks = [one() for _ in range(n)]
    time.sleep(1.5)
    r1 = kib("VmRSS")
    c0 = cpu()
    time.sleep(5)
    c1 = cpu()
    print(f"{n} idle: VmRSS {r0} -> {r1} KiB, {(r1 - r0) * 1024 / n:.0f} bytes per connection; "
          f"gateway CPU while idle {100 * (c1 - c0) / 5:.1f}% of a core")
finally:
    p.kill()
    p.wait()
    os.unlink(conf.name)
