#!/usr/bin/env python3
"""Fleet convergence on etcd: time from `tollgate push` to every node serving the revision.

Starts etcd and three `tollgate serve --config etcd://...` nodes on loopback (free ports),
keeps a load generator running against all three (one keep-alive connection per node and
thread, GET /prod/hello, every non-200 answer or connection error counted as a failure),
then pushes N revisions one after another. For each push it records
  - push->served: from starting `tollgate push` (a new process: validate, connect, write) to
    the last of the three nodes answering GET /config with the new revision;
  - written->served: from `push` returning (the revision is in etcd) to the same moment.
Prints p50/p90/p99/max of both and the load's request and failure counts. Nothing is asserted.

  python3 scripts/bench/fleet.py [--pushes 50] [--tollgate target/release/tollgate] [--load-threads 2]
"""
import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

CONFIG = """gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{{ bind: "127.0.0.1:8080" }}]
  access_log: "off"
apis:
  - id: fleet00001
    stages: {{ prod: {{}} }}
    routes:
      - path: /hello
        methods: [GET]
        authorization: NONE
        integration: {{ type: mock, status: 200, body: 'revision {n}' }}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    i = min(len(xs) - 1, max(0, int(round(q / 100.0 * len(xs) + 0.5)) - 1))
    return xs[i]


def get_json(addr, path):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        c.request("GET", path)
        return json.loads(c.getresponse().read())
    finally:
        c.close()


def wait_for(pred, timeout, what):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def addr_in(log_path, prefix):
    try:
        with open(log_path) as f:
            for line in f:
                if prefix in line:
                    return line.split(prefix, 1)[1].split()[0].rstrip('"}')
    except FileNotFoundError:
        pass
    return None


class Load:
    def __init__(self, addrs, threads_per_node):
        self.addrs = addrs
        self.stop = threading.Event()
        self.ok = 0
        self.failed = 0
        self.errors = {}
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self.run, args=(a,), daemon=True)
            for a in addrs
            for _ in range(threads_per_node)
        ]

    def run(self, addr):
        host, port = addr.rsplit(":", 1)
        conn = None
        ok = failed = 0
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port), timeout=5)
                conn.request("GET", "/prod/hello")
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    ok += 1
                else:
                    failed += 1
                    self.note(f"status {r.status}")
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # every failure counts
                failed += 1
                self.note(type(e).__name__)
                if conn is not None:
                    conn.close()
                conn = None
        with self.lock:
            self.ok += ok
            self.failed += failed

    def note(self, what):
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pushes", type=int, default=50)
    ap.add_argument("--tollgate", default=None)
    ap.add_argument("--load-threads", type=int, default=1, help="load threads per node")
    ap.add_argument("--workers", type=int, default=1, help="workers per node")
    args = ap.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    tg = args.tollgate or next(
        (p for p in (f"{target}/release/tollgate", f"{target}/debug/tollgate") if os.access(p, os.X_OK)),
        None,
    )
    if not tg or not shutil.which("etcd"):
        raise SystemExit("needs a built tollgate (cargo build -p tollgate) and etcd (apt-get install etcd-server)")
    work = tempfile.mkdtemp(prefix="tollgate-fleet-bench-")
    procs = []
    try:
        cport, pport = free_port(), free_port()
        peer = f"http://127.0.0.1:{pport}"
        client = f"http://127.0.0.1:{cport}"
        procs.append(subprocess.Popen(
            ["etcd", "--name", "b", "--data-dir", f"{work}/etcd",
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"b={peer}"],
            stdout=subprocess.DEVNULL, stderr=open(f"{work}/etcd.log", "w")))
        url = f"etcd://127.0.0.1:{cport}/tollgate/config"
        cfg = f"{work}/config.yaml"

        def push(n, expect):
            with open(cfg, "w") as f:
                f.write(CONFIG.format(n=n))
            cmd = [tg, "push", "--config", cfg, url, "--expect-revision", str(expect)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(r.stderr)
            return int(r.stdout.strip())

        rev = None
        for _ in range(100):
            try:
                rev = push(0, 0)
                break
            except RuntimeError:
                time.sleep(0.1)
        if rev is None:
            raise SystemExit("cannot push to etcd; see " + work + "/etcd.log")
        nodes = []
        for i in range(3):
            log = f"{work}/node{i}.log"
            procs.append(subprocess.Popen(
                [tg, "serve", "--config", url, "--bind", "127.0.0.1:0", "--admin-bind", "127.0.0.1:0",
                 "--workers", str(args.workers), "--no-pin"],
                stdout=subprocess.DEVNULL, stderr=open(log, "w"), cwd=work))
            wait_for(lambda: addr_in(log, "listening on http://") and addr_in(log, "admin on http://"),
                     30, f"node {i}")
            nodes.append((addr_in(log, "listening on http://"), addr_in(log, "admin on http://")))
        load = Load([n[0] for n in nodes], args.load_threads)
        load.start()
        time.sleep(1)
        from_push, from_written = [], []
        for n in range(1, args.pushes + 1):
            t0 = time.monotonic()
            rev = push(n, rev)
            t1 = time.monotonic()
            pending = {a for _, a in nodes}
            deadline = t1 + 10
            while pending and time.monotonic() < deadline:
                for a in list(pending):
                    if get_json(a, "/config").get("revision") == rev:
                        pending.discard(a)
                if pending:
                    time.sleep(0.001)
            t2 = time.monotonic()
            if pending:
                print(f"push {n}: revision {rev} not served by {sorted(pending)} after 10 s", file=sys.stderr)
            from_push.append((t2 - t0) * 1000)
            from_written.append((t2 - t1) * 1000)
        time.sleep(0.5)
        load.finish()
        result = {
            "pushes": args.pushes,
            "nodes": 3,
            "tollgate": tg,
            "push_to_served_ms": {q: round(pct(from_push, v), 1) for q, v in
                                  (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
            "written_to_served_ms": {q: round(pct(from_written, v), 1) for q, v in
                                     (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
            "load_requests_ok": load.ok,
            "load_requests_failed": load.failed,
            "load_errors": load.errors,
        }
        print(json.dumps(result, indent=2))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
