#!/usr/bin/env python3
"""tollgate side-by-side macro benchmarks (driver behind scripts/bench-all.sh).

Starts the origin/authorizer stubs and each contender (tollgate, HAProxy, Envoy, nginx) from the
templates in bench/peers/, pinned as docs/benchmarks.md and the measuring guide say (contender on
CPU 1, load generator + stubs on CPU 0, one worker each), measures peak throughput (closed loop)
then latency at one fixed rate per scenario (open loop, BENCH_RATE_FRACTION of the slowest peak),
gateway CPU per request (/proc/PID/stat utime+stime) and peak RSS (VmHWM), writes the raw JSON
under docs/benchmarks/ and renders docs/benchmarks.md. Stdlib only. Every process it starts is
killed on exit (normal, error, SIGINT/SIGTERM).

The TLS scenario (`tls`) drives tollgate-load over rustls (full handshakes, resumed handshakes,
keep-alive HTTPS, plus wrk over https) and holds idle TLS connections with Python's ssl; the
HTTP/2 scenarios (`h2`, `h2jwt`) drive h2load and parse its summary. These are peak-only rows.

Usage: run.py [SCENARIO ...]   (default: all; see SCENARIOS)
Env: BENCH_DURATION (10s), BENCH_WARMUP (1s), BENCH_CONCURRENCY (64), BENCH_RATE_FRACTION (0.6), BENCH_HOTSWAP_FRACTION (0.3),
     BENCH_CONNECTIONS (32, open loop), BENCH_IDLE_CONNS (2000), BENCH_JWT_DISTINCT (10000),
     BENCH_AUTHZ_DISTINCT (1000), BENCH_CIDRS ("10 1000 10000"), BENCH_OUT (docs/benchmarks),
     BENCH_TLS_IDLE_CONNS (2000), BENCH_H2_CONNECTIONS (the concurrency), BENCH_H2_STREAMS (10),
     TOLLGATE, TOLLGATE_LOAD, HAPROXY, NGINX, ENVOY, H2LOAD (binaries), BENCH_GW_CPU (1),
     BENCH_LOAD_CPU (0).
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_ticks, port_free, render_template, verify_placement  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "bench" / "peers"
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "docs" / "benchmarks"))
DOC = Path(os.environ.get("BENCH_DOC", ROOT / "docs" / "benchmarks.md"))

DURATION = os.environ.get("BENCH_DURATION", "10s")
WARMUP = os.environ.get("BENCH_WARMUP", "1s")
CONC = int(os.environ.get("BENCH_CONCURRENCY", "64"))
OPEN_CONNS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
RATE_FRACTION = float(os.environ.get("BENCH_RATE_FRACTION", "0.6"))
HOTSWAP_FRACTION = float(os.environ.get("BENCH_HOTSWAP_FRACTION", "0.3"))
HOTSWAP_DURATION = os.environ.get("BENCH_HOTSWAP_DURATION", "60s")
HOTSWAP_ROUTES = int(os.environ.get("BENCH_HOTSWAP_ROUTES", "10000"))
IDLE_CONNS = int(os.environ.get("BENCH_IDLE_CONNS", "2000"))
JWT_DISTINCT = int(os.environ.get("BENCH_JWT_DISTINCT", "10000"))
AUTHZ_DISTINCT = int(os.environ.get("BENCH_AUTHZ_DISTINCT", "1000"))
CIDRS = [int(x) for x in os.environ.get("BENCH_CIDRS", "10 1000 10000").split()]
GW_CPU = os.environ.get("BENCH_GW_CPU", "1")
LOAD_CPU = os.environ.get("BENCH_LOAD_CPU", "0")

TOLLGATE = os.environ.get("TOLLGATE", str(ROOT / "target" / "release" / "tollgate"))
LOAD = os.environ.get("TOLLGATE_LOAD", str(ROOT / "target" / "release" / "tollgate-load"))
HAPROXY = os.environ.get("HAPROXY", shutil.which("haproxy") or "haproxy")
NGINX = os.environ.get("NGINX", shutil.which("nginx") or "nginx")
ENVOY = os.environ.get("ENVOY", "")

# Ports (127.0.0.1 only) away from the usual 8080/9901/18080 that other work on the machine uses.
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "27080"))
LISTEN_PORT = PORT_BASE
ORIGIN_PORT = PORT_BASE + 1
ADMIN_PORT = PORT_BASE + 2
ENVOY_ADMIN_PORT = PORT_BASE + 3
AUTHZ_PORT = PORT_BASE + 4
EXTAUTHZ_PORT = PORT_BASE + 5
LISTEN = f"127.0.0.1:{LISTEN_PORT}"
URL = f"http://{LISTEN}/prod/bench"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"
TICK = os.sysconf("SC_CLK_TCK")

SCENARIOS = ["mock", "proxy", "jwt", "ip", "authz", "sigv4", "hotswap", "idle", "tls", "h2", "h2jwt"]
# https:// URL of the TLS scenarios (SNI `localhost`, the certificate's name).
TLS_URL = f"https://localhost:{LISTEN_PORT}/prod/bench"
TLS_IDLE_CONNS = int(os.environ.get("BENCH_TLS_IDLE_CONNS", str(min(IDLE_CONNS, 2000))))
H2_CONNS = int(os.environ.get("BENCH_H2_CONNECTIONS", str(CONC)))
H2_STREAMS = int(os.environ.get("BENCH_H2_STREAMS", "10"))
# HTTP/2 rows: contenders measured in turn this many times; each row keeps its median run
# (by req/s), so that a shared host's drift falls on every contender alike.
H2_ROUNDS = max(1, int(os.environ.get("BENCH_H2_ROUNDS", "3")))
H2LOAD = os.environ.get("H2LOAD", shutil.which("h2load") or "")
# crates/tollgate-h2/examples/h2_floor.rs: HTTP/2 servers that only answer (the h2 crate on
# tokio; tollgate-h2 on monoio), the floor under tollgate's h2c rows.
H2FLOOR = os.environ.get("H2FLOOR", str(ROOT / "target" / "release" / "examples" / "h2_floor"))

PROCS: list[subprocess.Popen] = []
WORK = Path(tempfile.mkdtemp(prefix="tollgate-bench-"))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


def cleanup() -> None:
    for p in PROCS:
        if p.poll() is None:
            try:
                p.terminate()
            except ProcessLookupError:
                pass
    deadline = time.time() + 5
    for p in PROCS:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    PROCS.clear()
    shutil.rmtree(WORK, ignore_errors=True)


def on_signal(signum, _frame):
    log(f"signal {signum}: cleaning up")
    cleanup()
    sys.exit(130)


atexit.register(cleanup)
signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGTERM, on_signal)


def start(cmd: list[str], cpu: str, name: str, port: int | None = None) -> subprocess.Popen:
    if port is not None:
        t0 = time.time()
        while not port_free(port):  # a previous contender may still be closing
            if time.time() - t0 > 10:
                raise RuntimeError(f"port {port} is in use by another process: set BENCH_PORT_BASE")
            time.sleep(0.1)
    logf = open(WORK / f"{name}.log", "ab")
    p = subprocess.Popen(["taskset", "-c", cpu, *cmd], stdout=logf, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    PROCS.append(p)
    return p


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def wait_port(port: int, p: subprocess.Popen, name: str, timeout: float = 20.0,
              logname: str | None = None) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if p.poll() is not None:
            raise RuntimeError(f"{name} exited with {p.returncode}: "
                               + (WORK / f"{logname or name}.log").read_text(errors="replace")[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {port} in {timeout}s")


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


# ---------------------------------------------------------------- contenders


class Contender:
    """One gateway configuration: how to render its config and start it."""

    def __init__(self, name: str, kind: str, template: str, subs: dict[str, str] | None = None,
                 note: str = ""):
        self.name, self.kind, self.template = name, kind, template
        self.subs = dict(subs or {})
        self.note = note
        self.cmdline = ""
        self.edit: tuple[str, str] | None = None  # (old, new) applied to the rendered text
        self.count = None  # callable -> authorizer invocations so far (authz scenario)
        self.deny: dict[str, str] | None = None  # headers of a request that must be refused

    def launch(self, tag: str) -> subprocess.Popen:
        if self.kind == "h2floor":
            return self.launch_floor(tag)
        d = WORK / f"{tag}-{self.name}".replace(" ", "_").replace("(", "").replace(")", "")
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        subs = {
            "LISTEN": LISTEN, "LISTEN_PORT": str(LISTEN_PORT), "ADMIN": f"127.0.0.1:{ADMIN_PORT}",
            "ENVOY_ADMIN_PORT": str(ENVOY_ADMIN_PORT), "ORIGIN": f"127.0.0.1:{ORIGIN_PORT}",
            "ORIGIN_PORT": str(ORIGIN_PORT), "AUTHZ": f"127.0.0.1:{AUTHZ_PORT}",
            "EXTAUTHZ": f"127.0.0.1:{EXTAUTHZ_PORT}", "EXTAUTHZ_PORT": str(EXTAUTHZ_PORT),
            "WORK": str(d), "ISSUER": ISSUER}
        subs.update(self.subs)
        src = PEERS / self.kind / self.template
        cfg = render_template(src, d / self.template, subs)
        if self.edit:
            text = cfg.read_text()
            if self.edit[0] not in text:
                raise RuntimeError(f"{src}: {self.edit[0]!r} not found")
            cfg.write_text(text.replace(*self.edit))
        if self.kind == "nginx":
            (d / "www").mkdir()
            (d / "www" / "ok.json").write_text('{"ok":true}')
        if self.kind == "tollgate":
            cmd = [TOLLGATE, "serve", "--config", str(cfg), "--workers", "1"]
        elif self.kind == "haproxy":
            cmd = [HAPROXY, "-db", "-f", str(cfg)]
        elif self.kind == "nginx":
            cmd = [NGINX, "-p", str(d), "-c", str(cfg), "-e", str(d / "nginx-error.log")]
        elif self.kind == "envoy":
            cmd = [ENVOY, "-c", str(cfg), "--concurrency", "1", "--log-level", "error",
                   "--disable-hot-restart"]
        else:
            raise ValueError(self.kind)
        rel = f"bench/peers/{self.kind}/{self.template}"
        self.cmdline = ("taskset -c " + GW_CPU + " " + " ".join(shlex.quote(c) for c in cmd)
                        .replace(str(cfg), f"<{rel} rendered>").replace(str(d), "$WORK")
                        .replace(str(ROOT) + "/", ""))
        if self.kind == "envoy" and not port_free(ENVOY_ADMIN_PORT):
            raise RuntimeError(f"port {ENVOY_ADMIN_PORT} is in use")
        p = start(cmd, GW_CPU, f"{tag}-{self.name}".replace(" ", "_"), LISTEN_PORT)
        ln = f"{tag}-{self.name}".replace(" ", "_")
        wait_port(LISTEN_PORT, p, self.name, logname=ln)
        if self.kind == "envoy":
            wait_port(ENVOY_ADMIN_PORT, p, self.name, logname=ln)
        self.sanity()
        verify_placement(p.pid, GW_CPU, self.name)
        return p

    def launch_floor(self, tag: str) -> subprocess.Popen:
        """An h2_floor server (no config: the template names its mode, tokio or monoio)."""
        cmd = [H2FLOOR, self.template, LISTEN]
        self.cmdline = ("taskset -c " + GW_CPU + " " + " ".join(shlex.quote(c) for c in cmd)
                        .replace(str(ROOT) + "/", ""))
        ln = f"{tag}-{self.name}".replace(" ", "_").replace("(", "").replace(")", "")
        p = start(cmd, GW_CPU, ln, LISTEN_PORT)
        wait_port(LISTEN_PORT, p, self.name, logname=ln)
        verify_placement(p.pid, GW_CPU, self.name)
        return p

    def sanity(self) -> None:
        """The contender answers 200 to nothing special and refuses a bad request (if any)."""
        if self.deny is None:
            return
        req = urllib.request.Request(URL, headers=self.deny)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                code = r.status
        except urllib.error.HTTPError as e:
            code = e.code
        if code < 400:
            raise RuntimeError(f"{self.name}: a request with {self.deny} got {code}, not refused")


def load_cmd(json_path: Path, mode: list[str], extra: list[str], url: str = URL,
             duration: str | None = None) -> list[str]:
    return [LOAD, "run", "--url", url, *mode, "--duration", duration or DURATION, "--warmup", WARMUP,
            "--quiet", "--json", str(json_path), *extra]


def run_load(gw: subprocess.Popen | None, json_path: Path, mode: list[str], extra: list[str],
             url: str = URL, duration: str | None = None) -> dict:
    cmd = load_cmd(json_path, mode, extra, url, duration)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = cpu_ticks(gw.pid) if gw else 0
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.time()
    lp = subprocess.Popen(["taskset", "-c", LOAD_CPU, *cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    # once the generator's threads exist, both sides must be on their own CPUs only
    time.sleep(0.3)
    placement = {}
    if lp.poll() is None:
        placement["load"] = verify_placement(lp.pid, LOAD_CPU, "load generator")
    if gw:
        placement["gateway"] = verify_placement(gw.pid, GW_CPU, "gateway")
    _, err = lp.communicate()
    wall = time.time() - w0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t1 = cpu_ticks(gw.pid) if gw else 0
    load_cpu_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    if lp.returncode != 0 or not json_path.exists():
        raise RuntimeError(f"load generator failed ({lp.returncode}): {err[-2000:]}")
    rep = json.loads(json_path.read_text())
    # the measured CPU window also spans the warm-up: divide by all requests sent in it
    sent = rep.get("requests", 0)
    warm_s = parse_secs(WARMUP)
    dur_s = rep.get("duration_s") or parse_secs(DURATION)
    total_est = sent * (dur_s + warm_s) / dur_s if dur_s else sent
    rep["_bench"] = {
        "command": "taskset -c " + LOAD_CPU + " " + " ".join(shlex.quote(c) for c in cmd)
        .replace(str(json_path), json_path.name).replace(str(WORK), "$WORK")
        .replace(str(ROOT) + "/", ""),
        "gw_cpu_s": (t1 - t0) / TICK,
        "load_cpu_s": load_cpu_s,
        "wall_s": wall,
        # share of one core each side used over the whole run (warm-up included)
        "gw_busy": ((t1 - t0) / TICK) / wall if wall else None,
        "load_busy": load_cpu_s / wall if wall else None,
        "placement": placement,
        "gw_cpu_us_per_req": ((t1 - t0) / TICK) * 1e6 / total_est if total_est else None,
    }
    json_path.write_text(json.dumps(rep, indent=1) + "\n")
    return rep


WRK = shutil.which("wrk") or ""
# Scenarios cross-checked with wrk (a second, independent generator) for these contenders.
WRK_SCENARIOS = {"mock", "proxy"}
WRK_CONTENDERS = {"tollgate", "haproxy"}


def run_wrk(gw: subprocess.Popen, url: str = URL) -> dict:
    """Peak rps by `wrk -t1 -c CONC` on the load CPU against a launched contender, with the
    same placement checks and CPU accounting as `run_load`."""
    cmd = [WRK, "-t1", f"-c{CONC}", f"-d{DURATION}", "--latency", url]
    t0 = cpu_ticks(gw.pid)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.time()
    lp = subprocess.Popen(["taskset", "-c", LOAD_CPU, *cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    if lp.poll() is None:
        verify_placement(lp.pid, LOAD_CPU, "wrk")
    verify_placement(gw.pid, GW_CPU, "gateway")
    out, err = lp.communicate()
    wall = time.time() - w0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t1 = cpu_ticks(gw.pid)
    m = re.search(r"Requests/sec:\s*([0-9.]+)", out)
    if lp.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({lp.returncode}): {(out + err)[-2000:]}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*([0-9]+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(m.group(1)),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errs.group(1).strip() if errs else "",
            "gw_busy": ((t1 - t0) / TICK) / wall if wall else None,
            "load_busy": ((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)) / wall
            if wall else None,
            "cmd": "taskset -c " + LOAD_CPU + " " + " ".join(shlex.quote(c) for c in cmd)}


def parse_secs(s: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(ms|s|m)?", s.strip())
    if not m:
        return 0.0
    v = float(m.group(1))
    return {"ms": v / 1000, "m": v * 60}.get(m.group(2) or "s", v)


def lat(rep: dict) -> dict:
    return rep.get("latency_corrected") or rep.get("latency") or {}


def errors(rep: dict) -> int:
    return sum((rep.get("errors") or {}).values())


def measure(scn: str, contenders: list[Contender], extra: list[str], results: dict,
            rate: float | None = None, extra_for: dict[str, list[str]] | None = None) -> None:
    """Peak (closed loop) for each contender, then all at one fixed rate."""
    rows = results.setdefault(scn, {"rows": {}, "notes": []})["rows"]
    d = OUT / scn
    for c in contenders:
        x = extra + (extra_for or {}).get(c.name, [])
        log(f"{scn}: {c.name} peak")
        p = c.launch(scn)
        authz_count = c.count
        before = authz_count() if authz_count else None
        rep = run_load(p, d / f"{slug(c.name)}-peak.json", ["--concurrency", str(CONC)], x)
        row = rows.setdefault(c.name, {})
        row.update({"peak_rps": rep["throughput_rps"], "peak_errors": errors(rep),
                    "peak_requests": rep.get("requests"),
                    "peak_status": rep.get("status"), "peak_cmd": rep["_bench"]["command"],
                    "gw_cmd": c.cmdline, "note": c.note,
                    "peak_cpu_us_per_req": rep["_bench"]["gw_cpu_us_per_req"],
                    "peak_gw_busy": rep["_bench"]["gw_busy"],
                    "peak_load_busy": rep["_bench"]["load_busy"],
                    # the gateway's core was not the limit: this peak cannot claim a target
                    "generator_bound": generator_bound(rep["_bench"]["gw_busy"],
                                                       rep["_bench"]["load_busy"]),
                    "rss_kib": status_kib(p.pid, "VmHWM")})
        if authz_count:
            time.sleep(0.2)
            row["invocations_peak"] = authz_count() - before
        stop(p)
    if WRK and scn in WRK_SCENARIOS:
        for c in contenders:
            if c.name not in WRK_CONTENDERS:
                continue
            log(f"{scn}: {c.name} peak with wrk (cross-check)")
            p = c.launch(scn)
            try:
                w = run_wrk(p)
            finally:
                stop(p)
            rows[c.name].update({"wrk_rps": w["rps"], "wrk_non_2xx": w["non_2xx"],
                                 "wrk_socket_errors": w["socket_errors"],
                                 "wrk_gw_busy": w["gw_busy"], "wrk_load_busy": w["load_busy"],
                                 "wrk_cmd": w["cmd"]})
    peaks = [r["peak_rps"] for r in rows.values() if r.get("peak_rps")]
    if rate is None:
        rate = max(100.0, round(RATE_FRACTION * min(peaks), -2)) if peaks else 1000.0
    results[scn]["rate"] = rate
    for c in contenders:
        x = extra + (extra_for or {}).get(c.name, [])
        log(f"{scn}: {c.name} at {rate:.0f} rps")
        p = c.launch(scn)
        authz_count = c.count
        before = authz_count() if authz_count else None
        rep = run_load(p, d / f"{slug(c.name)}-rate.json",
                       ["--rate", str(rate), "--connections", str(OPEN_CONNS)], x)
        L = lat(rep)
        row = rows[c.name]
        row.update({"rate_rps": rep["throughput_rps"], "p50_us": L.get("p50_us"),
                    "p99_us": L.get("p99_us"), "p999_us": L.get("p999_us"),
                    "rate_errors": errors(rep), "rate_cmd": rep["_bench"]["command"],
                    "cpu_us_per_req": rep["_bench"]["gw_cpu_us_per_req"],
                    "rss_kib": max(row.get("rss_kib", 0), status_kib(p.pid, "VmHWM"))})
        if authz_count:
            time.sleep(0.2)
            row["invocations_rate"] = authz_count() - before
        stop(p)


def generator_bound(gw_busy: float | None, load_busy: float | None) -> bool:
    """The gateway's core under 90% busy while the generator's is saturated: the generator,
    not the gateway, set the peak, which then cannot claim a target."""
    return (gw_busy or 0) < 0.9 and (load_busy or 0) > 0.9


def slug(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


# ---------------------------------------------------------------- scenarios


def envoy_ok() -> bool:
    return bool(ENVOY) and Path(ENVOY).exists()


def sc_mock(results: dict) -> None:
    cs = [Contender("tollgate", "tollgate", "mock.yaml"),
          Contender("haproxy", "haproxy", "mock.cfg"),
          Contender("nginx", "nginx", "mock.conf")]
    if envoy_ok():
        cs.insert(2, Contender("envoy", "envoy", "mock.yaml"))
    measure("mock", cs, [], results)
    mock_p99_at_haproxy_rate(results, cs[:2])


def mock_p99_at_haproxy_rate(results: dict, cs: list[Contender]) -> None:
    """The issue's latency target: tollgate's and HAProxy's p99 at 0.6x of *HAProxy's* peak
    (the table's fixed rate is 0.6x of the slowest contender's, which is far lower)."""
    rows = results["mock"]["rows"]
    hp = rows.get("haproxy", {}).get("peak_rps")
    if not hp:
        return
    rate = round(0.6 * hp, -2)
    res = {"rate": rate, "rows": {}}
    for c in cs:
        log(f"mock: {c.name} at {rate:.0f} rps (0.6x HAProxy's peak)")
        p = c.launch("mock")
        try:
            rep = run_load(p, OUT / "mock" / f"{slug(c.name)}-rate-haproxy.json",
                           ["--rate", str(rate), "--connections", str(OPEN_CONNS)], [])
        finally:
            stop(p)
        L = lat(rep)
        res["rows"][c.name] = {"rate_rps": rep["throughput_rps"], "p50_us": L.get("p50_us"),
                               "p99_us": L.get("p99_us"), "p999_us": L.get("p999_us"),
                               "errors": errors(rep), "cmd": rep["_bench"]["command"]}
    results["mock"]["at_haproxy_rate"] = res


def sc_proxy(results: dict) -> None:
    cs = [Contender("tollgate", "tollgate", "proxy.yaml"),
          Contender("haproxy", "haproxy", "proxy.cfg"),
          Contender("nginx", "nginx", "proxy.conf")]
    if envoy_ok():
        cs.insert(2, Contender("envoy", "envoy", "proxy.yaml"))
    measure("proxy", cs, [], results)


def jwt_material() -> dict[str, str]:
    d = WORK / "keys"
    if (d / "rs256.pem").exists():
        return {"key": str(d / "rs256.pem"), "JWKS_FILE": str(d / "jwks.json"),
                "PEM": str(d / "rs256.pub.pem"), "JWKS_INLINE": (d / "jwks.json").read_text()}
    d.mkdir(exist_ok=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(d / "rs256.pem")], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(d / "rs256.pem"), "-pubout",
                    "-out", str(d / "rs256.pub.pem")], check=True, capture_output=True)
    jwks = subprocess.run([LOAD, "jwks", "--key", str(d / "rs256.pem"), "--kid", "k1",
                           "--alg", "RS256"], check=True, capture_output=True, text=True).stdout
    jwks_min = json.dumps(json.loads(jwks), separators=(",", ":"))
    (d / "jwks.json").write_text(jwks_min)
    return jwt_material()


def sc_jwt(results: dict) -> None:
    m = jwt_material()
    subs = {k: v for k, v in m.items() if k != "key"}
    cache = ("                  jwt_cache_config: { jwt_cache_size: %d }")
    base = ["--jwt-key", m["key"], "--jwt-alg", "RS256", "--jwt-kid", "k1", "--jwt-bearer"]
    for scn, distinct in (("jwt-1", 1), (f"jwt-{JWT_DISTINCT}", JWT_DISTINCT)):
        cs = [Contender("tollgate", "tollgate", "jwt.yaml", subs,
                        "Cognito authorizer, result cache ttl 300 s"),
              Contender("haproxy", "haproxy", "jwt.cfg", subs, "jwt_verify, no cache")]
        if distinct > 1:
            cold = Contender("tollgate (ttl 0, no cache)", "tollgate", "jwt.yaml", subs,
                             "same config with ttl_seconds: 0: every request verified (cold)")
            cold.edit = ("ttl_seconds: 300", "ttl_seconds: 0")
            cs.insert(1, cold)
        if envoy_ok():
            cs.append(Contender("envoy (cache)", "envoy", "jwt.yaml",
                                {**subs, "JWT_CACHE": cache % max(100, distinct)},
                                f"jwt_cache_config size {max(100, distinct)}"))
            cs.append(Contender("envoy (no cache)", "envoy", "jwt.yaml",
                                {**subs, "JWT_CACHE": ""}, "no jwt_cache_config"))
        for c in cs:
            c.deny = {}  # no token: must be refused
        measure(scn, cs, [*base, "--jwt-distinct", str(distinct)], results)


def cidr_list(n: int) -> list[str]:
    out = [f"10.{(i // 256) % 256}.{i % 256}.0/24" if i < 65536 else f"11.{i // 256 % 256}.{i % 256}.0/24"
           for i in range(n - 1)]
    out.append("127.0.0.1/32")
    return out


def sc_ip(results: dict) -> None:
    for n in CIDRS:
        cidrs = cidr_list(n)
        d = WORK / f"ip-{n}"
        d.mkdir(exist_ok=True)
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
            "Resource": "execute-api:/*", "Condition": {"IpAddress": {"aws:SourceIp": cidrs}}}]}
        (d / "policy.json").write_text(json.dumps(policy))
        (d / "cidrs.txt").write_text("\n".join(cidrs) + "\n")
        principals = "\n".join(
            "                    - direct_remote_ip: { address_prefix: %s, prefix_len: %s }"
            % tuple(c.split("/")) for c in cidrs)
        cs = [Contender("tollgate", "tollgate", "ip.yaml",
                        {"POLICY_FILE": str(d / "policy.json")},
                        f"resource policy: 1 Allow statement, IpAddress list of {n} CIDRs"),
              Contender("haproxy", "haproxy", "ip.cfg", {"CIDR_FILE": str(d / "cidrs.txt")},
                        f"ACL src -f ({n} CIDRs)")]
        if envoy_ok():
            cs.append(Contender("envoy", "envoy", "ip.yaml", {"PRINCIPALS": principals},
                                f"RBAC, {n} direct_remote_ip principals"))
        measure(f"ip-{n}", cs, [], results)


def sc_authz(results: dict) -> None:
    a = start([LOAD, "authorizer", "--bind", f"127.0.0.1:{AUTHZ_PORT}", "--delay-ms", "1"],
              LOAD_CPU, "authorizer", AUTHZ_PORT)
    wait_port(AUTHZ_PORT, a, "authorizer")
    x = start([sys.executable, str(ROOT / "scripts" / "bench" / "authz_http.py"), "--bind",
               f"127.0.0.1:{EXTAUTHZ_PORT}", "--delay-ms", "1"], LOAD_CPU, "extauthz",
              EXTAUTHZ_PORT)
    wait_port(EXTAUTHZ_PORT, x, "extauthz")

    def count() -> int:
        return int(http_get(f"http://127.0.0.1:{AUTHZ_PORT}/count").strip())

    def xcount() -> int:
        return int(http_get(f"http://127.0.0.1:{EXTAUTHZ_PORT}/__count").strip())

    cs = [Contender("tollgate", "tollgate", "authz.yaml", {"AUTHZ": f"127.0.0.1:{EXTAUTHZ_PORT}"},
                    "TOKEN authorizer, ttl 300 s, to the Python authorizer (Lambda invoke, 1 ms)"),
          Contender("tollgate (Rust stub authorizer)", "tollgate", "authz.yaml", {},
                    "the same, to `tollgate-load authorizer --delay-ms 1`"),
          Contender("nginx", "nginx", "authz.conf", {},
                    "auth_request + proxy_cache (key: Authorization, 300 s) to the Python "
                    "authorizer (1 ms)")]
    cs[0].count, cs[1].count, cs[2].count = xcount, count, xcount
    if envoy_ok():
        e = Contender("envoy (ext_authz)", "envoy", "extauthz.yaml", {},
                      "ext_authz, no result cache, to the Python authorizer (1 ms)")
        e.count = xcount
        cs.append(e)
    for c in cs:
        c.deny = {"Authorization": "Bearer deny-000001"}
    measure("authz", cs, ["--token-prefix", "allow", "--token-distinct", str(AUTHZ_DISTINCT)],
            results)
    stop(a)
    stop(x)
    results["authz"]["distinct_tokens"] = AUTHZ_DISTINCT


def sc_sigv4(results: dict) -> None:
    for n in (1, 1000):
        d = WORK / f"sigv4-{n}"
        d.mkdir(exist_ok=True)
        keys, ids = [], []
        for i in range(n):
            kid, sec = f"AKIDBENCH{i:08d}", f"benchSecretKey{i:08d}ForTheLoadTest000000"
            keys.append(f"{kid}:{sec}")
            ids.append(f"  - arn: \"arn:aws:iam::123456789012:user/bench{i}\"\n"
                       f"    access_keys: [{{ id: {kid}, secret: \"{sec}\" }}]\n"
                       "    policies:\n      - Version: \"2012-10-17\"\n        Statement:\n"
                       "          - { Effect: Allow, Action: \"execute-api:Invoke\", "
                       "Resource: \"arn:aws:execute-api:*:*:*\" }")
        (d / "keys.txt").write_text("\n".join(keys) + "\n")
        c = Contender("tollgate", "tollgate", "sigv4.yaml", {"IDENTITIES": "\n".join(ids)},
                      f"AWS_IAM, {n} identities")
        c.deny = {}
        measure(f"sigv4-{n}", [c], ["--sigv4", "--keys-file", str(d / "keys.txt")], results)


def route_lines(n: int) -> str:
    """`n - 1` extra routes beside the benchmarked `/bench` (indented for routes.yaml)."""
    return "\n".join(
        f'      - {{ path: "/r{i}/items/{{id}}", methods: [GET], authorization: NONE, '
        f'integration: {{ type: mock, body: "r{i}" }} }}' for i in range(1, n))


def routes_json(n: int, body: str = '{"ok":true}') -> bytes:
    """The routes.yaml configuration with `n` routes, as JSON (what a generator would PUT)."""
    routes = [{"path": "/bench", "methods": ["GET"], "authorization": "NONE",
               "integration": {"type": "mock", "status": 200,
                               "headers": {"content-type": "application/json"}, "body": body}}]
    routes += [{"path": f"/r{i}/items/{{id}}", "methods": ["GET"], "authorization": "NONE",
                "integration": {"type": "mock", "body": f"r{i}"}} for i in range(1, n)]
    cfg = {"gateway": {"region": "us-east-1", "account_id": "123456789012", "workers": 1,
                       "listeners": [{"bind": LISTEN}], "admin": {"bind": f"127.0.0.1:{ADMIN_PORT}"},
                       "access_log": "off"},
           "apis": [{"id": "benchapi01", "hosts": ["*"], "stages": {"prod": {}}, "routes": routes}]}
    return json.dumps(cfg).encode()


def put_acks(body: bytes, times: int) -> list[float]:
    """PUT `body` `times` times to an idle gateway; the milliseconds to each 200."""
    import http.client
    out = []
    for _ in range(times):
        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", ADMIN_PORT, timeout=30)
        conn.request("PUT", "/config", body=body)
        r = conn.getresponse()
        r.read()
        conn.close()
        if r.status != 200:
            raise RuntimeError(f"PUT /config answered {r.status}")
        out.append((time.monotonic() - t0) * 1000.0)
    return sorted(out)


def sc_hotswap(results: dict) -> None:
    scn = "hotswap"
    res = results.setdefault(scn, {"rows": {}, "notes": []})
    res["rows"] = {}
    d = OUT / scn
    # Time from PUT to acknowledgement (validate + compile + publish) at 100 and N routes.
    res["ack_ms"] = {}
    for n in sorted({100, HOTSWAP_ROUTES}):
        c = Contender("tollgate", "tollgate", "routes.yaml", {"ROUTES": route_lines(n)})
        log(f"hotswap: PUT -> ack with {n} routes")
        p = c.launch(f"{scn}-ack{n}")
        yaml_acks = put_acks((WORK / f"{scn}-ack{n}-tollgate" / "routes.yaml").read_bytes(), 20)
        json_acks = put_acks(routes_json(n), 20)
        stop(p)
        res["ack_ms"][str(n)] = {"p50": yaml_acks[len(yaml_acks) // 2], "max": yaml_acks[-1],
                                 "json_p50": json_acks[len(json_acks) // 2],
                                 "json_max": json_acks[-1], "puts": len(yaml_acks)}
    c = Contender("tollgate", "tollgate", "routes.yaml", {"ROUTES": route_lines(HOTSWAP_ROUTES)})
    res["routes"] = HOTSWAP_ROUTES
    res["duration"] = HOTSWAP_DURATION
    log("hotswap: peak")
    p = c.launch(scn)
    peak = run_load(p, d / "peak.json", ["--concurrency", str(CONC)], [])
    stop(p)
    rate = max(100.0, round(HOTSWAP_FRACTION * peak["throughput_rps"], -2))
    res["rate"] = rate
    res["peak_rps"] = peak["throughput_rps"]
    # The swapped-in config: the same routes with another body, as JSON (generated configs
    # are JSON; it also parses faster than YAML, see the ack table).
    swap_cfg = WORK / "swap.json"
    swap_cfg.write_bytes(routes_json(HOTSWAP_ROUTES, '{"ok":"swapped"}'))
    for label, extra in (("steady", []),
                         ("swap 10/s", ["--swap-config", str(swap_cfg), "--swap-per-sec", "10",
                                        "--admin-url", f"http://127.0.0.1:{ADMIN_PORT}/config"])):
        log(f"hotswap: {label} at {rate:.0f} rps for {HOTSWAP_DURATION}")
        p = c.launch(scn)
        rep = run_load(p, d / f"{slug(label)}.json",
                       ["--rate", str(rate), "--connections", str(OPEN_CONNS)], extra,
                       duration=HOTSWAP_DURATION)
        L = lat(rep)
        res["rows"][label] = {"rate_rps": rep["throughput_rps"], "p50_us": L.get("p50_us"),
                              "p99_us": L.get("p99_us"), "p999_us": L.get("p999_us"),
                              "rate_errors": errors(rep), "swaps": rep.get("swaps"),
                              "rate_cmd": rep["_bench"]["command"], "gw_cmd": c.cmdline,
                              "cpu_us_per_req": rep["_bench"]["gw_cpu_us_per_req"],
                              "rss_kib": status_kib(p.pid, "VmHWM")}
        stop(p)


def sc_idle(results: dict) -> None:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE_CONNS + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    n = min(IDLE_CONNS, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 256)
    res = results.setdefault("idle", {"rows": {}, "notes": [], "connections": n})
    cs = [Contender("tollgate", "tollgate", "mock.yaml"), Contender("haproxy", "haproxy", "mock.cfg"),
          Contender("nginx", "nginx", "mock.conf")]
    if envoy_ok():
        cs.insert(2, Contender("envoy", "envoy", "mock.yaml"))
    req = b"GET /prod/bench HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    for c in cs:
        log(f"idle: {c.name} with {n} idle keep-alive connections")
        p = c.launch("idle")
        socks = []

        def one() -> socket.socket:
            s = socket.create_connection(("127.0.0.1", LISTEN_PORT), timeout=5)
            s.sendall(req)
            read_response(s)
            return s

        try:
            for _ in range(20):  # warm the allocator with a few short connections
                one().close()
            time.sleep(0.3)
            rss0 = status_kib(p.pid, "VmRSS")
            for _ in range(n):
                socks.append(one())
            # Past tollgate's 25 ms direct read of a keep-alive connection's next request (the
            # connection holds its buffers until then): the steady idle state of every contender.
            time.sleep(1.5)
            rss1 = status_kib(p.pid, "VmRSS")
            res["rows"][c.name] = {"rss_before_kib": rss0, "rss_after_kib": rss1,
                                   "per_conn_bytes": (rss1 - rss0) * 1024 / n, "gw_cmd": c.cmdline}
        finally:
            for s in socks:
                s.close()
            stop(p)
    (OUT / "idle").mkdir(parents=True, exist_ok=True)
    (OUT / "idle" / "idle.json").write_text(json.dumps(res, indent=1) + "\n")


# ---------------------------------------------------------------- TLS and HTTP/2


def tls_material() -> dict[str, str]:
    """One ECDSA P-256 key and self-signed certificate for `localhost`/127.0.0.1 (generated
    with openssl under the work dir), and the cert+key PEM HAProxy wants."""
    d = WORK / "tls"
    if not (d / "both.pem").exists():
        d.mkdir(exist_ok=True)
        subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-out", str(d / "key.pem")],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "req", "-x509", "-new", "-key", str(d / "key.pem"),
                        "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "7",
                        "-out", str(d / "cert.pem")], check=True, capture_output=True)
        (d / "both.pem").write_text((d / "cert.pem").read_text() + (d / "key.pem").read_text())
    return {"CERT": str(d / "cert.pem"), "KEY": str(d / "key.pem"),
            "CERT_KEY": str(d / "both.pem")}


# tollgate-load over TLS: TLS 1.3 only, no certificate checks on the generator's core (the
# benchmark measures the server's handshake work, not the client's).
TLS_LOAD = ["--insecure-skip-verify", "--tls13"]


def peak_row(rep: dict) -> dict:
    """The fields every peak-only row carries (commands, both cores' CPU, generator-bound)."""
    b = rep["_bench"]
    return {"peak_rps": rep["throughput_rps"], "peak_errors": errors(rep),
            "peak_requests": rep.get("requests"), "peak_status": rep.get("status"),
            "peak_cmd": b["command"], "peak_cpu_us_per_req": b["gw_cpu_us_per_req"],
            "peak_gw_busy": b["gw_busy"], "peak_load_busy": b["load_busy"],
            "generator_bound": generator_bound(b["gw_busy"], b["load_busy"])}


def sc_tls(results: dict) -> None:
    """TLS 1.3, ECDSA P-256, the mock response: full handshakes/s (one request per
    connection, resumption off in the client), resumed handshakes/s (the client offers the
    last ticket; the row records how many the server actually resumed), keep-alive HTTPS rps
    (plus a wrk https cross-check), then memory per idle TLS connection."""
    m = tls_material()
    cs = [Contender("tollgate", "tollgate", "tls.yaml", {**m, "HTTP2": "false"},
                    "HTTPS listener, TLS 1.3 only, tickets on (default)"),
          Contender("haproxy", "haproxy", "tls.cfg", {**m, "ALPN": "http/1.1"},
                    "bind ssl crt, ssl-min-ver TLSv1.3, tickets on (default)"),
          Contender("nginx", "nginx", "tls.conf", m,
                    "listen ssl, ssl_protocols TLSv1.3, ssl_session_tickets on")]
    modes = [("tls-full", ["--new-connection"]), ("tls-resumed", ["--resume"]),
             ("tls-keepalive", [])]
    for scn, _ in modes:
        results[scn] = {"rows": {}, "notes": [], "peak_only": True}
    for c in cs:
        p = c.launch("tls")
        try:
            for scn, extra in modes:
                log(f"{scn}: {c.name} peak")
                rep = run_load(p, OUT / scn / f"{slug(c.name)}-peak.json",
                               ["--concurrency", str(CONC)], [*TLS_LOAD, *extra], url=TLS_URL)
                row = {**peak_row(rep), "gw_cmd": c.cmdline, "note": c.note, "tls": rep.get("tls")}
                t = rep.get("tls") or {}
                if scn == "tls-resumed":
                    hs = t.get("handshakes") or 0
                    row["resumed_share"] = (t.get("resumed") or 0) / hs if hs else 0.0
                    # a row that claims resumed handshakes must have resumed (nearly) all
                    if row["resumed_share"] < 0.95:
                        row["invalid"] = (f"only {t.get('resumed', 0)} of {hs} handshakes "
                                          "were resumed")
                if scn != "tls-keepalive" and t.get("handshakes") != rep.get("requests"):
                    # one connection per request: every answered request had its handshake
                    row["invalid"] = (f"{t.get('handshakes')} handshakes for "
                                      f"{rep.get('requests')} requests")
                results[scn]["rows"][c.name] = row
            if WRK:
                log(f"tls-keepalive: {c.name} peak with wrk (cross-check)")
                w = run_wrk(p, f"https://127.0.0.1:{LISTEN_PORT}/prod/bench")
                results["tls-keepalive"]["rows"][c.name].update(
                    {"wrk_rps": w["rps"], "wrk_non_2xx": w["non_2xx"],
                     "wrk_socket_errors": w["socket_errors"], "wrk_gw_busy": w["gw_busy"],
                     "wrk_load_busy": w["load_busy"], "wrk_cmd": w["cmd"]})
        finally:
            stop(p)
    tls_idle(results, cs)


def read_response(s: socket.socket) -> bytes:
    """Read one HTTP/1.1 response with a Content-Length body from `s`; returns its head."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    need = int(m.group(1)) if m else 0
    while len(body) < need:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed")
        body += chunk
    return head


def tls_idle(results: dict, cs: list[Contender]) -> None:
    """N TLS 1.3 keep-alive connections (Python's ssl), each after one request, held idle;
    the gateway's VmRSS before and after, per connection."""
    import ssl
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < TLS_IDLE_CONNS + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(TLS_IDLE_CONNS + 256, hard), hard))
    n = min(TLS_IDLE_CONNS, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 256)
    res = results.setdefault("tls-idle", {"rows": {}, "notes": []})
    res["connections"] = n
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["http/1.1"])
    req = b"GET /prod/bench HTTP/1.1\r\nHost: localhost\r\n\r\n"

    def one() -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", LISTEN_PORT), timeout=5)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(req)
        head = read_response(s)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"idle probe got {head[:40]!r}")
        return s

    for c in cs:
        log(f"tls-idle: {c.name} with {n} idle TLS connections")
        p = c.launch("tls-idle")
        socks = []
        try:
            for _ in range(20):
                one().close()
            time.sleep(0.3)
            rss0 = status_kib(p.pid, "VmRSS")
            for _ in range(n):
                socks.append(one())
            time.sleep(1.5)
            rss1 = status_kib(p.pid, "VmRSS")
            res["rows"][c.name] = {"rss_before_kib": rss0, "rss_after_kib": rss1,
                                   "per_conn_bytes": (rss1 - rss0) * 1024 / n,
                                   "gw_cmd": c.cmdline, "note": c.note}
        finally:
            for s_ in socks:
                s_.close()
            stop(p)
    (OUT / "tls-idle").mkdir(parents=True, exist_ok=True)
    (OUT / "tls-idle" / "idle.json").write_text(json.dumps(res, indent=1) + "\n")


def run_h2load(gw: subprocess.Popen, url: str, extra: list[str], json_path: Path) -> dict:
    """`h2load -c C -m 10 -t 1 -D DURATION --warm-up-time WARMUP` on the load CPU, with the
    same placement checks and CPU accounting as `run_load`. Any non-2xx status, failed or
    errored request, or a protocol other than h2 (h2c for http:// URLs) invalidates the row
    (recorded, not raised)."""
    cmd = [H2LOAD, "-c", str(H2_CONNS), "-m", str(H2_STREAMS), "-t", "1", "-D", DURATION,
           "--warm-up-time", WARMUP, *extra, url]
    t0 = cpu_ticks(gw.pid)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.time()
    lp = subprocess.Popen(["taskset", "-c", LOAD_CPU, *cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    placement = {}
    if lp.poll() is None:
        placement["load"] = verify_placement(lp.pid, LOAD_CPU, "h2load")
    placement["gateway"] = verify_placement(gw.pid, GW_CPU, "gateway")
    out, err = lp.communicate()
    wall = time.time() - w0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t1 = cpu_ticks(gw.pid)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.with_suffix(".txt").write_text(out + err)
    r = parse_h2load(out + err)
    gw_s = (t1 - t0) / TICK
    load_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    done = r.get("done") or 0
    dur_s, warm_s = parse_secs(DURATION), parse_secs(WARMUP)
    total_est = done * (dur_s + warm_s) / dur_s if dur_s else done
    # the JWT itself is not worth printing: it is minted per run
    shown = [("Authorization: Bearer $TOKEN" if a.lower().startswith("authorization:") else a)
             for a in cmd]
    row = {"peak_rps": r.get("rps"), "peak_requests": done,
           "peak_errors": (r.get("failed") or 0) + (r.get("errored") or 0)
           + (r.get("timeout") or 0) + sum(v for k, v in (r.get("status") or {}).items()
                                           if k != "2xx"),
           "peak_status": r.get("status"), "protocol": r.get("protocol"),
           "peak_cmd": "taskset -c " + LOAD_CPU + " " + " ".join(shlex.quote(c) for c in shown),
           "peak_gw_busy": gw_s / wall if wall else None,
           "peak_load_busy": load_s / wall if wall else None,
           "peak_cpu_us_per_req": gw_s * 1e6 / total_est if total_est else None,
           "placement": placement}
    row["generator_bound"] = generator_bound(row["peak_gw_busy"], row["peak_load_busy"])
    why = []
    if lp.returncode != 0:
        why.append(f"h2load exited {lp.returncode}")
    want = "h2" if url.startswith("https:") else "h2c"
    if r.get("protocol") != want:
        why.append(f"protocol negotiated: {r.get('protocol') or 'none'} (not {want})")
    if not done:
        why.append("no request completed")
    if row["peak_errors"]:
        why.append(f"{row['peak_errors']} failed/errored/non-2xx requests")
    if why:
        row["invalid"] = "; ".join(why)
    json_path.write_text(json.dumps({**r, "_bench": row}, indent=1) + "\n")
    return row


def parse_h2load(text: str) -> dict:
    """req/s, request counts, status classes and the protocol from h2load's summary."""
    out: dict = {}
    m = re.search(r"finished in [0-9.]+m?s, ([0-9.]+) req/s", text)
    out["rps"] = float(m.group(1)) if m else None
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    if m:
        for i, k in enumerate(("total", "started", "done", "succeeded", "failed", "errored",
                               "timeout")):
            out[k] = int(m.group(i + 1))
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if m:
        out["status"] = {"2xx": int(m.group(1)), "3xx": int(m.group(2)),
                         "4xx": int(m.group(3)), "5xx": int(m.group(4))}
    m = re.search(r"Application protocol: (\S+)", text)
    out["protocol"] = m.group(1) if m else None
    return out


def h2_refuses(url: str) -> None:
    """A request without a token over h2 must be refused (4xx) before the JWT row counts."""
    out = subprocess.run([H2LOAD, "-n", "4", "-c", "1", url], capture_output=True, text=True,
                         timeout=30).stdout
    st = parse_h2load(out).get("status") or {}
    if not st.get("4xx") or st.get("2xx"):
        raise RuntimeError(f"a request without a token was not refused over h2: {st}")


def h2_measure(scn: str, cs: list[Contender], url: str, extra: list[str], results: dict,
               must_refuse: bool = False) -> None:
    res = results[scn] = {"rows": {}, "notes": [], "peak_only": True,
                          "h2": {"connections": H2_CONNS, "streams": H2_STREAMS,
                                 "rounds": H2_ROUNDS}}
    if (OUT / scn).is_dir():  # raw files of an earlier run, which may have had more rounds
        for f in (OUT / scn).glob("*-peak*"):
            f.unlink()
    runs: dict[str, list[dict]] = {c.name: [] for c in cs}
    for rnd in range(H2_ROUNDS):
        for c in cs:
            log(f"{scn}: {c.name} peak (h2load), round {rnd + 1} of {H2_ROUNDS}")
            tag = "peak" if H2_ROUNDS == 1 else f"peak-round{rnd + 1}"
            runs[c.name].append(h2_one(scn, c, url, extra, must_refuse, tag))
    for c in cs:
        res["rows"][c.name] = median_run(runs[c.name])


def h2_one(scn: str, c: Contender, url: str, extra: list[str], must_refuse: bool,
           tag: str) -> dict:
    """One start of the contender, one h2load run against it."""
    try:
        p = c.launch(scn)
    except RuntimeError as e:
        return {"invalid": f"did not start: {str(e)[-300:]}", "note": c.note}
    try:
        if must_refuse:
            h2_refuses(url)
        row = run_h2load(p, url, extra, OUT / scn / f"{slug(c.name)}-{tag}.json")
    finally:
        stop(p)
    row.update({"gw_cmd": c.cmdline, "note": c.note})
    if row.get("invalid"):
        log(f"{scn}: {c.name}: row invalid: {row['invalid']}")
    return row


def median_run(rows: list[dict]) -> dict:
    """The run with the median req/s (the lower middle of an even count); any invalid run
    makes the row invalid. With several runs, every run's req/s is kept beside it."""
    bad = [r for r in rows if r.get("invalid")]
    if bad:
        return bad[0]
    ordered = sorted(rows, key=lambda r: r.get("peak_rps") or 0)
    row = dict(ordered[(len(ordered) - 1) // 2])
    if len(rows) > 1:
        row["rounds_rps"] = [r.get("peak_rps") for r in rows]
        row["rounds_cpu_us_per_req"] = [r.get("peak_cpu_us_per_req") for r in rows]
    return row


def h2c_edits(kind: str) -> tuple[str, str]:
    return {"tollgate": (f'{{ bind: "{LISTEN}" }}', f'{{ bind: "{LISTEN}", http2: true }}'),
            "haproxy": (f"bind {LISTEN}\n", f"bind {LISTEN} proto h2\n"),
            "envoy": ("codec_type: HTTP1", "codec_type: AUTO")}[kind]


def sc_h2(results: dict) -> None:
    """Mock over h2c (prior knowledge) and over h2 (TLS 1.3, ALPN), h2load with 10 streams
    per connection."""
    if not H2LOAD:
        raise RuntimeError("h2load not found (Debian nghttp2-client)")
    cs = []
    for kind, tpl, note in (("tollgate", "mock.yaml", "mock.yaml + listener http2: true (h2c)"),
                            ("haproxy", "mock.cfg", "mock.cfg + bind ... proto h2"),
                            ("envoy", "mock.yaml", "mock.yaml + codec_type: AUTO")):
        if kind == "envoy" and not envoy_ok():
            continue
        c = Contender(kind, kind, tpl, {}, note)
        c.edit = h2c_edits(kind)
        cs.append(c)
    if Path(H2FLOOR).exists():
        cs += [Contender("h2 alone (tokio)", "h2floor", "tokio",
                         note="examples/h2_floor tokio: the h2 crate on tokio (current thread), "
                         "a task per stream as hyper runs it, the mock answer and nothing else"),
               Contender("tollgate-h2 alone", "h2floor", "monoio",
                         note="examples/h2_floor monoio: tollgate-h2's serve_connection (h2 over "
                         "monoio io_uring, limits, frame meter), a handler that only answers")]
    else:
        log(f"h2-h2c: {H2FLOOR} not built: no floor rows")
    h2_measure("h2-h2c", cs, URL, [], results)
    m = tls_material()
    cs = [Contender("tollgate", "tollgate", "tls.yaml", {**m, "HTTP2": "true"},
                    "tls.yaml with http2: true (ALPN h2), TLS 1.3"),
          Contender("haproxy", "haproxy", "tls.cfg", {**m, "ALPN": "h2,http/1.1"},
                    "bind ssl crt ... alpn h2,http/1.1, TLS 1.3")]
    if envoy_ok():
        cs.append(Contender("envoy", "envoy", "tls.yaml", m,
                            "TLS transport socket, alpn h2,http/1.1, codec_type AUTO, TLS 1.3"))
    h2_measure("h2-tls", cs, f"https://127.0.0.1:{LISTEN_PORT}/prod/bench", [], results)


def sc_h2jwt(results: dict) -> None:
    """JWT RS256, one token (tollgate: cache hit), over h2c, against HAProxy jwt_verify."""
    if not H2LOAD:
        raise RuntimeError("h2load not found (Debian nghttp2-client)")
    m = jwt_material()
    subs = {k: v for k, v in m.items() if k != "key"}
    token = subprocess.run([LOAD, "mint", "--jwt-key", m["key"], "--jwt-alg", "RS256",
                            "--jwt-kid", "k1", "--jwt-bearer"], check=True, capture_output=True,
                           text=True).stdout.strip()
    cs = []
    for kind, tpl, note in (("tollgate", "jwt.yaml", "Cognito authorizer, cache ttl 300 s; h2c"),
                            ("haproxy", "jwt.cfg", "jwt_verify, no cache; bind ... proto h2")):
        c = Contender(kind, kind, tpl, subs, note)
        c.edit = h2c_edits(kind)
        cs.append(c)
    h2_measure("h2jwt", cs, URL, ["-H", f"Authorization: {token}"], results, must_refuse=True)


# ---------------------------------------------------------------- report


def versions() -> dict[str, str]:
    def out(cmd: list[str]) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception as e:  # noqa: BLE001
            return f"unavailable ({e})"
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines()
                  if l.startswith("Model name")), platform.processor())
    return {
        "tollgate": out([TOLLGATE, "--version"]),
        "tollgate-load": out([LOAD, "--version"]),
        "haproxy": out([HAPROXY, "-v"]),
        "nginx": out([NGINX, "-v"]),
        "envoy": (out([ENVOY, "--version"]).split("version:")[-1].strip()
                  if envoy_ok() else "not installed"),
        "kernel": platform.release(),
        "cpu": model,
        "cpus": str(os.cpu_count()),
        "git": out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    }


def main() -> int:
    want = sys.argv[1:] or SCENARIOS
    bad = [s for s in want if s not in SCENARIOS]
    if bad:
        print(f"unknown scenario(s) {bad}; known: {' '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    summary_path = OUT / "results.json"
    prev = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    meta = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
            "versions": versions(),
            "settings": {"duration": DURATION, "warmup": WARMUP, "concurrency": CONC,
                         "open_loop_connections": OPEN_CONNS, "rate_fraction": RATE_FRACTION,
                         "gateway_cpu": GW_CPU, "load_cpu": LOAD_CPU},
            "command": " ".join(["scripts/bench-all.sh", *sys.argv[1:]])}
    log(f"work dir {WORK}; load average {meta['loadavg_start']}")
    origin = start([LOAD, "origin", "--bind", f"127.0.0.1:{ORIGIN_PORT}"], LOAD_CPU, "origin",
                   ORIGIN_PORT)
    wait_port(ORIGIN_PORT, origin, "origin")
    results: dict = {}
    fns = {"mock": sc_mock, "proxy": sc_proxy, "jwt": sc_jwt, "ip": sc_ip, "authz": sc_authz,
           "sigv4": sc_sigv4, "hotswap": sc_hotswap, "idle": sc_idle, "tls": sc_tls,
           "h2": sc_h2, "h2jwt": sc_h2jwt}
    failures = {}
    for s in want:
        t0 = time.time()
        try:
            fns[s](results)
        except Exception as e:  # noqa: BLE001 - one broken scenario must not lose the others
            log(f"scenario {s} FAILED: {e}")
            failures[s] = str(e)[-1500:]
        log(f"scenario {s} took {time.time() - t0:.0f}s")
    meta["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    meta["failures"] = failures
    # merge with an earlier run's scenarios when only some were rerun
    merged = prev.get("scenarios", {}) if sys.argv[1:] else {}
    merged.update(results)
    runs = prev.get("runs", {}) if sys.argv[1:] else {}
    for s in results:
        runs[s] = meta
    summary = {"meta": meta, "runs": runs, "scenarios": merged}
    summary_path.write_text(json.dumps(summary, indent=1) + "\n")
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(Path(__file__).parent))
    import report  # noqa: PLC0415
    DOC.write_text(report.render(summary))
    log(f"wrote {summary_path} and {DOC}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
