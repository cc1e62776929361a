#!/usr/bin/env python3
"""How far below HAProxy the HTTP/2 implementations tollgate may use stand on their own.

Alternates, ROUNDS times, five servers answering h2c with the mock answer (200,
`content-type: application/json`, `{"ok":true}`) under the same h2load run, each on its own
start, pinned to the gateway CPU with h2load on the load CPU:

  tollgate            the gateway, bench/peers/tollgate/mock.yaml with `http2: true`
  tollgate-h2 alone   crates/tollgate-h2/examples/h2_floor.rs monoio (h2 over monoio, limits)
  h2 alone (tokio)    the same example, tokio: the h2 crate on its own runtime, hyper's way
  monoio-http alone   bench/peers/monoio-http-h2 (monoio-http 0.3.12's fork of h2 0.3)
  haproxy             bench/peers/haproxy/mock.cfg with `bind ... proto h2`

checks that every thread of the server may run on the gateway CPU only (a gateway pins its
own workers), and prints, per server, the median req/s and the server's CPU per request
(user + system time of its process over the measured run, from /proc), and the ratio of
each to HAProxy in the same rounds. Alternating rounds spread the machine's drift over every server.

    scripts/bench/h2_floors.py [ROUNDS]      (default 4; env BENCH_GW_CPU=1 BENCH_LOAD_CPU=0
                                              H2_FLOORS_REQUESTS=500000 BENCH_NO_BUILD=1)
"""

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_ticks, port_free, render_template, verify_placement  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GW_CPU = os.environ.get("BENCH_GW_CPU", "1")
LOAD_CPU = os.environ.get("BENCH_LOAD_CPU", "0")
REQUESTS = int(os.environ.get("H2_FLOORS_REQUESTS", "500000"))
PORT = int(os.environ.get("H2_FLOORS_PORT", "18590"))
ADDR = f"127.0.0.1:{PORT}"
URL = f"http://{ADDR}/prod/bench"
TICK = os.sysconf("SC_CLK_TCK")
PEER_TARGET = ROOT / "target" / "peers"
FLOOR = ROOT / "target" / "release" / "examples" / "h2_floor"
MONOIO_HTTP = PEER_TARGET / "release" / "monoio-http-h2-floor"
TOLLGATE = ROOT / "target" / "release" / "tollgate"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def build() -> None:
    run = lambda *a, **k: subprocess.run(*a, check=True, **k)  # noqa: E731
    run(["cargo", "build", "--release", "-q", "-p", "tollgate"], cwd=ROOT)
    run(["cargo", "build", "--release", "-q", "-p", "tollgate-h2", "--example", "h2_floor"],
        cwd=ROOT)
    run(["cargo", "build", "--release", "-q", "--target-dir", str(PEER_TARGET)],
        cwd=ROOT / "bench" / "peers" / "monoio-http-h2")


def render(work: Path) -> dict[str, list[str]]:
    """The command line of each server (configs rendered from the benchmark templates)."""
    subs = {"LISTEN": ADDR, "LISTEN_PORT": str(PORT), "ADMIN": f"127.0.0.1:{PORT + 2}",
            "WORK": str(work)}

    def fill(src: Path, edit: tuple[str, str]) -> Path:
        out = render_template(src, work / src.name, subs)
        text = out.read_text()
        if edit[0] not in text:
            raise SystemExit(f"{src}: {edit[0]!r} not found")
        out.write_text(text.replace(*edit))
        return out

    tg = fill(ROOT / "bench/peers/tollgate/mock.yaml",
              (f'{{ bind: "{ADDR}" }}', f'{{ bind: "{ADDR}", http2: true }}'))
    hap = fill(ROOT / "bench/peers/haproxy/mock.cfg", (f"bind {ADDR}\n", f"bind {ADDR} proto h2\n"))
    return {
        "tollgate": [str(TOLLGATE), "serve", "--config", str(tg), "--workers", "1"],
        "tollgate-h2 alone": [str(FLOOR), "monoio", ADDR],
        "h2 alone (tokio)": [str(FLOOR), "tokio", ADDR],
        "monoio-http alone": [str(MONOIO_HTTP), ADDR],
        "haproxy": [HAPROXY, "-db", "-f", str(hap)],
    }


def h2load(n: int) -> str:
    return subprocess.run(["taskset", "-c", LOAD_CPU, "h2load", "-c", "64", "-m", "10", "-t", "1",
                           "-n", str(n), URL], capture_output=True, text=True, timeout=300).stdout


def wait_port(p: subprocess.Popen) -> None:
    for _ in range(100):
        if p.poll() is not None:
            raise SystemExit(f"{p.args[0]} exited {p.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{p.args[0]} never listened on {ADDR}")


def measure(cmd: list[str], log: Path) -> tuple[float, float]:
    for _ in range(100):  # the previous server's socket may still be closing
        if port_free(PORT):
            break
        time.sleep(0.1)
    with open(log, "ab") as lf:
        p = subprocess.Popen(["taskset", "-c", GW_CPU, *cmd], stdout=lf, stderr=lf,
                             stdin=subprocess.DEVNULL)
    try:
        wait_port(p)
        h2load(30000)  # warm-up: connections, caches, the allocator's pages
        # Every thread of the server (a gateway pins its own workers) on the gateway CPU only.
        verify_placement(p.pid, GW_CPU, cmd[0])
        t0 = cpu_ticks(p.pid)
        out = h2load(REQUESTS)
        t1 = cpu_ticks(p.pid)
    finally:
        p.terminate()
        p.wait(timeout=10)
    ok = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if not ok or int(ok.group(1)) != REQUESTS or "h2c" not in out:
        raise SystemExit(f"{' '.join(cmd)}: not every request succeeded over h2c:\n{out[-800:]}\n"
                         f"server log:\n{log.read_text()[-800:]}")
    rps = float(re.search(r"finished in [0-9.]+m?s, ([0-9.]+) req/s", out).group(1))
    return rps, (t1 - t0) / TICK * 1e6 / REQUESTS


def main() -> None:
    arg = sys.argv[1] if len(sys.argv) > 1 else "4"
    if not arg.isdigit() or int(arg) < 1:
        raise SystemExit(f"usage: h2_floors.py [ROUNDS] (a positive number, not {arg!r})")
    rounds = int(arg)
    if not os.environ.get("BENCH_NO_BUILD"):
        build()
    work = Path(tempfile.mkdtemp(prefix="tollgate-h2-floors-"))
    cmds = render(work)
    res: dict[str, list[tuple[float, float]]] = {n: [] for n in cmds}
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, git "
          f"{subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()}, "
          f"load average {os.getloadavg()[0]:.2f}; h2load -c 64 -m 10 -t 1 -n {REQUESTS} on CPU "
          f"{LOAD_CPU}, servers on CPU {GW_CPU}")
    for r in range(rounds):
        for name, cmd in cmds.items():
            rps, us = measure(cmd, work / "servers.log")
            res[name].append((rps, us))
            print(f"round {r + 1}: {name}: {rps:,.0f} req/s, {us:.2f} µs/req", flush=True)
    hap_rps = statistics.median(x[0] for x in res["haproxy"])
    hap_us = statistics.median(x[1] for x in res["haproxy"])
    print("\n| server | median req/s | vs HAProxy (req/s) | median CPU µs/req | HAProxy's CPU / its |")
    print("|---|---:|---:|---:|---:|")
    for name, xs in res.items():
        rps, us = statistics.median(x[0] for x in xs), statistics.median(x[1] for x in xs)
        print(f"| {name} | {rps:,.0f} | {rps / hap_rps:.2f}x | {us:.2f} | {hap_us / us:.2f}x |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
