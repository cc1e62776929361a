//! End-to-end: what operators see (issue 14). For a routed 401, 403, 500 (dead authorizer),
//! 502 (upstream refused) and 504 (slow upstream): the metrics count it under its route, the
//! access-log record carries the route, resourcePath and the reason, and stderr has a
//! timestamped reason line (debug for 401/403). Plus histogram sanity, per-authorizer
//! labels, body-only `responseLength`, and `HEAD /metrics`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod lambda_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{ADMIN_BIND, Origin, SOON, TempFile, eventually, serve_requests};
use lambda_support::{Function, Gateway, Resp, closed_port, request};
use serde_json::Value;

/// A token only the deny path ever sees: it must never be logged.
const DENY_TOKEN: &str = "deny-s3cr3t-t0ken";

/// An upstream that announces 100 body bytes, sends 10 and then stalls.
fn cut_upstream() -> SocketAddr {
    serve_requests(|_| {
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789"
            .to_vec()
    })
}

fn config(f: &Function, origin: SocketAddr, refused: SocketAddr, log: &TempFile) -> String {
    let url = f.url();
    let cut = cut_upstream();
    let log = log.0.display();
    format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 2
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "{ADMIN_BIND}" }}
  access_log: "{log}"
authorizers:
  - {{ name: tok, type: TOKEN, function_url: "{url}", identity_source: method.request.header.Authorization, ttl_seconds: 0 }}
  - {{ name: dead, type: TOKEN, function_url: "http://{refused}/2015-03-31/functions/function/invocations", identity_source: method.request.header.Authorization, ttl_seconds: 0, timeout_ms: 1000 }}
apis:
  - id: obsapi0001
    name: obs
    hosts: ["*"]
    stages:
      prod:
        variables: {{}}
    routes:
      - {{ path: "/items/{{id}}", methods: [GET], authorization: CUSTOM, authorizer: tok, integration: {{ type: mock, status: 200, body: hello }} }}
      - {{ path: /dead, methods: [GET], authorization: CUSTOM, authorizer: dead, integration: {{ type: mock, status: 200, body: never }} }}
      - {{ path: /refused, methods: [GET], authorization: NONE, integration: {{ type: http_proxy, uri: "http://{refused}/x", timeout_ms: 5000 }} }}
      - {{ path: /slow, methods: [GET], authorization: NONE, integration: {{ type: http_proxy, uri: "http://{origin}/slow?ms=3000", timeout_ms: 300 }} }}
      - {{ path: /up, methods: [GET], authorization: NONE, integration: {{ type: http_proxy, uri: "http://{origin}/echo", timeout_ms: 5000 }} }}
      - {{ path: /stream, methods: [GET], authorization: NONE, integration: {{ type: http_proxy, uri: "http://{origin}/chunked?n=400", timeout_ms: 10000 }} }}
      - {{ path: /cut, methods: [GET], authorization: NONE, integration: {{ type: http_proxy, uri: "http://{cut}/cut", timeout_ms: 300 }} }}
"#
    )
}

struct Setup {
    gw: Gateway,
    log: TempFile,
    _f: Function,
    _origin: Origin,
}

fn start() -> Setup {
    let f = Function::start();
    let origin = Origin::start();
    let log = TempFile::new("access.log", "");
    let cfg = config(&f, origin.addr, closed_port(), &log);
    let gw = Gateway::start(&cfg, &["--log-level", "debug"]);
    Setup {
        gw,
        log,
        _f: f,
        _origin: origin,
    }
}

fn get(s: &Setup, path: &str, auth: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    request(s.gw.addr, "GET", path, &headers, "")
}

fn metrics(s: &Setup) -> String {
    let r = request(s.gw.admin, "GET", "/metrics", &[], "");
    assert_eq!(r.status, 200);
    r.body
}

/// The value of the sample `line_start` (full name and labels), 0 when absent.
fn sample(m: &str, line_start: &str) -> f64 {
    m.lines()
        .find(|l| l.starts_with(line_start) && l[line_start.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The access-log record of request `rid` (waits for it to be written).
fn record(s: &Setup, rid: &str) -> Value {
    let mut found = None;
    let ok = eventually(SOON, || {
        let text = std::fs::read_to_string(&s.log.0).unwrap_or_default();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("access-log line is not one JSON object ({e}): {line}"));
            if v["requestId"] == rid {
                found = Some(v);
                return true;
            }
        }
        false
    });
    assert!(ok, "no access-log record for {rid}");
    found.unwrap()
}

/// The stderr line naming request `rid` (waits for it).
/// The `x-amzn-RequestId` of a raw HTTP/1 answer.
fn request_id(raw: &str) -> String {
    raw.lines()
        .find_map(|l| l.strip_prefix("x-amzn-RequestId: "))
        .unwrap()
        .trim()
        .to_owned()
}

fn stderr_line(s: &Setup, rid: &str) -> String {
    let mut found = String::new();
    let ok = eventually(SOON, || {
        match s.gw.stderr_text().lines().find(|l| l.contains(rid)) {
            Some(l) => {
                found = l.to_owned();
                true
            }
            None => false,
        }
    });
    assert!(ok, "no stderr line for {rid}:\n{}", s.gw.stderr_text());
    found
}

/// `2026-11-30T15:31:03.603Z LEVEL ...`: an RFC 3339 UTC timestamp with milliseconds.
fn assert_timestamped(line: &str, level: &str) {
    let (ts, rest) = line.split_once(' ').unwrap();
    let b = ts.as_bytes();
    assert!(
        ts.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && ts.ends_with('Z'),
        "not an RFC 3339 ms timestamp: {line}"
    );
    assert!(rest.trim_start().starts_with(level), "not {level}: {line}");
}

struct Case {
    path: &'static str,
    auth: Option<&'static str>,
    status: u16,
    route: &'static str,
    resource_path: &'static str,
    level: &'static str,
    reason: &'static str,
}

const CASES: [Case; 6] = [
    Case {
        path: "/prod/items/1",
        auth: None,
        status: 401,
        route: "GET /items/{id}",
        resource_path: "/items/{id}",
        level: "DEBUG",
        reason: "authorizer tok: identity source missing or empty",
    },
    Case {
        path: "/prod/items/2",
        auth: Some("unauthorized"),
        status: 401,
        route: "GET /items/{id}",
        resource_path: "/items/{id}",
        level: "DEBUG",
        reason: "authorizer tok answered Unauthorized",
    },
    Case {
        path: "/prod/items/3",
        auth: Some(DENY_TOKEN),
        status: 403,
        route: "GET /items/{id}",
        resource_path: "/items/{id}",
        level: "DEBUG",
        reason: "access denied: explicit deny",
    },
    Case {
        path: "/prod/dead",
        auth: Some("allow"),
        status: 500,
        route: "GET /dead",
        resource_path: "/dead",
        level: "WARN",
        reason: "authorizer dead: call failed",
    },
    Case {
        path: "/prod/refused",
        auth: None,
        status: 502,
        route: "GET /refused",
        resource_path: "/refused",
        level: "WARN",
        reason: "upstream failed connecting",
    },
    Case {
        path: "/prod/slow",
        auth: None,
        status: 504,
        route: "GET /slow",
        resource_path: "/slow",
        level: "WARN",
        reason: "upstream timed out",
    },
];

#[test]
fn routed_errors_have_route_metrics_access_log_reasons_and_stderr_lines() {
    let s = start();
    for c in &CASES {
        let r = get(&s, c.path, c.auth);
        assert_eq!(r.status, c.status, "{}: {r:?}", c.path);
        let rid = r.header("x-amzn-RequestId").expect("request id").to_owned();

        let rec = record(&s, &rid);
        assert_eq!(rec["status"], c.status, "{rec}");
        assert_eq!(rec["apiId"], "obsapi0001", "{rec}");
        assert_eq!(rec["stage"], "prod", "{rec}");
        assert_eq!(rec["route"], c.route, "{rec}");
        assert_eq!(rec["resourcePath"], c.resource_path, "{rec}");
        let err = rec["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error: {rec}"));
        assert!(err.contains(c.reason), "{}: error {err:?}", c.path);
        assert_eq!(
            rec["responseLength"],
            r.body.len(),
            "body bytes only: {rec}"
        );
        assert!(rec.get("principal").is_none(), "{rec}");
        assert!(rec["latencyMs"].as_f64().unwrap() >= 0.0, "{rec}");
        if c.status >= 502 {
            assert!(rec["integrationLatencyMs"].as_f64().is_some(), "{rec}");
        }

        let line = stderr_line(&s, &rid);
        assert_timestamped(&line, c.level);
        assert!(line.contains(c.reason), "{line}");
        assert!(line.contains(&format!(" {} ", c.status)), "{line}");
        assert!(line.contains("api=obsapi0001 stage=prod"), "{line}");
        assert!(line.contains(&format!("route=\"{}\"", c.route)), "{line}");
    }
    // The 504 took at least the route's timeout upstream.
    let m = metrics(&s);
    for c in &CASES {
        let l = format!(
            "tollgate_requests_total{{api=\"obs\",route=\"{}\",status=\"{}\"}}",
            c.route, c.status
        );
        assert!(sample(&m, &l) >= 1.0, "{l} missing:\n{m}");
    }
    assert!(
        !m.contains("api=\"-\",route=\"-\",status=\"5"),
        "a routed 5xx counted unrouted:\n{m}"
    );
    // Per-authorizer labels.
    assert!(
        sample(
            &m,
            "tollgate_authorizer_invocations_total{authorizer=\"tok\"}"
        ) >= 2.0
    );
    assert!(
        sample(
            &m,
            "tollgate_authorizer_decisions_total{authorizer=\"tok\",outcome=\"deny\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &m,
            "tollgate_authorizer_decisions_total{authorizer=\"dead\",outcome=\"error\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &m,
            "tollgate_authorizer_duration_seconds_count{authorizer=\"dead\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &m,
            "tollgate_upstream_duration_seconds_bucket{api=\"obs\",route=\"GET /slow\",le=\"0.25\"}"
        ) == 0.0,
        "the 504 waited for its 300 ms timeout:\n{m}"
    );
    // The token of a refused request is nowhere in the logs.
    let log = std::fs::read_to_string(&s.log.0).unwrap();
    assert!(!log.contains(DENY_TOKEN), "{log}");
    assert!(!s.gw.stderr_text().contains(DENY_TOKEN));
}

#[test]
fn successes_carry_principal_body_length_and_integration_latency() {
    let s = start();
    let r = get(&s, "/prod/items/7", Some("allow"));
    assert_eq!((r.status, r.body.as_str()), (200, "hello"));
    let rec = record(&s, r.header("x-amzn-RequestId").unwrap());
    assert_eq!(rec["principal"], "user|allow", "{rec}");
    assert_eq!(rec["responseLength"], 5, "{rec}");
    assert_eq!(rec["resourcePath"], "/items/{id}", "{rec}");
    assert!(rec.get("error").is_none(), "{rec}");
    assert!(rec.get("integrationLatencyMs").is_none(), "mock: {rec}");

    let r = get(&s, "/prod/up", None);
    assert_eq!(r.status, 200, "{r:?}");
    let rec = record(&s, r.header("x-amzn-RequestId").unwrap());
    assert_eq!(rec["responseLength"], r.body.len(), "{rec}");
    let integ = rec["integrationLatencyMs"].as_f64().unwrap();
    let total = rec["latencyMs"].as_f64().unwrap();
    assert!(integ > 0.0 && integ <= total, "{rec}");
    assert!(rec["time"].as_str().unwrap().ends_with('Z'), "{rec}");
}

#[test]
fn a_response_cut_short_after_its_head_is_logged() {
    let s = start();
    let mut c = TcpStream::connect(s.gw.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /prod/cut HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("0123456789"), "{text}");
    let rid = request_id(&text);
    let rec = record(&s, &rid);
    assert_eq!(rec["status"], 200, "{rec}");
    assert_eq!(rec["responseLength"], 10, "{rec}");
    assert!(
        rec["error"].as_str().unwrap().contains("broke off"),
        "{rec}"
    );
    let line = stderr_line(&s, &rid);
    assert_timestamped(&line, "WARN");
    assert!(
        line.contains("200 api=obsapi0001 stage=prod route=\"GET /cut\""),
        "{line}"
    );
    let m = metrics(&s);
    assert!(sample(&m, "tollgate_upstream_errors_total{kind=\"broken\"}") >= 1.0);
}

#[test]
fn a_client_that_leaves_mid_answer_is_logged_as_gone_not_as_an_upstream_error() {
    let s = start();
    let broken = "tollgate_upstream_errors_total{kind=\"broken\"}";
    let before = sample(&metrics(&s), broken);
    // The origin sends 400 chunks 10 ms apart; the client reads the head and the first chunk,
    // then closes its socket with the rest unread.
    let mut c = TcpStream::connect(s.gw.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /prod/stream HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&raw).contains("chunk-0:") {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
    }
    drop(c);
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let rid = request_id(&text);
    // The record comes when the gateway's next write fails, long before the origin is done.
    let rec = record(&s, &rid);
    assert_eq!(rec["status"], 200, "{rec}");
    assert!(
        rec["error"]
            .as_str()
            .unwrap_or_default()
            .contains("the client closed the connection"),
        "{rec}"
    );
    let line = stderr_line(&s, &rid);
    assert_timestamped(&line, "DEBUG");
    assert!(line.contains("route=\"GET /stream\""), "{line}");
    // Not the upstream's fault.
    assert_eq!(sample(&metrics(&s), broken), before);
}

#[test]
fn a_routed_413_is_counted_and_logged_under_its_route() {
    let s = start();
    let mut c = TcpStream::connect(s.gw.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET /prod/up HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let rid = request_id(&text);
    let rec = record(&s, &rid);
    assert_eq!(rec["route"], "GET /up", "{rec}");
    assert!(
        rec["error"].as_str().unwrap().contains("max_body_bytes"),
        "{rec}"
    );
    let line = stderr_line(&s, &rid);
    assert_timestamped(&line, "DEBUG");
    let m = metrics(&s);
    let l = "tollgate_requests_total{api=\"obs\",route=\"GET /up\",status=\"413\"}";
    assert_eq!(sample(&m, l), 1.0, "{m}");
}

/// The `_bucket` samples of one histogram series, in order, and its `_count`.
fn buckets(m: &str, name: &str, labels: &str) -> (Vec<f64>, f64) {
    let prefix = format!("{name}_bucket{{{labels},le=");
    let b: Vec<f64> = m
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    (b, sample(m, &format!("{name}_count{{{labels}}}")))
}

#[test]
fn histograms_are_cumulative_and_grow() {
    let s = start();
    let labels = "api=\"obs\",route=\"GET /up\"";
    let name = "tollgate_request_duration_seconds";
    // A request is counted just after its answer is written: wait for the count.
    let count = format!("{name}_count{{{labels}}}");
    let counted = |n: f64| eventually(SOON, || sample(&metrics(&s), &count) >= n);
    assert_eq!(get(&s, "/prod/up", None).status, 200);
    assert!(counted(1.0), "the first request was never counted");
    let m1 = metrics(&s);
    for _ in 0..3 {
        assert_eq!(get(&s, "/prod/up", None).status, 200);
    }
    assert!(counted(4.0), "the next three were never counted");
    let m2 = metrics(&s);
    let (b1, n1) = buckets(&m1, name, labels);
    let (b2, n2) = buckets(&m2, name, labels);
    assert_eq!(b2.len(), 15, "14 bounds and +Inf:\n{m2}");
    assert!(
        b2.windows(2).all(|w| w[0] <= w[1]),
        "not cumulative: {b2:?}"
    );
    assert_eq!(*b2.last().unwrap(), n2, "+Inf == _count");
    assert_eq!((n1, n2), (1.0, 4.0));
    assert!(b1.iter().zip(&b2).all(|(a, b)| a <= b));
    let sum = sample(&m2, &format!("{name}_sum{{{labels}}}"));
    assert!(sum > 0.0 && sum < 40.0, "{sum}");
    let (ub, un) = buckets(&m2, "tollgate_upstream_duration_seconds", labels);
    assert_eq!((ub.len(), un), (15, 4.0), "{m2}");
    for family in [
        "tollgate_request_duration_seconds",
        "tollgate_upstream_duration_seconds",
        "tollgate_authorizer_duration_seconds",
    ] {
        assert!(m2.contains(&format!("# HELP {family} ")), "{family}");
        assert!(
            m2.contains(&format!("# TYPE {family} histogram")),
            "{family}"
        );
    }
    for family in ["tollgate_jwks_fetch_total", "tollgate_jwks_age_seconds"] {
        assert!(m2.contains(&format!("# TYPE {family} ")), "{family}");
    }
}

#[test]
fn head_metrics_answers_like_get_without_a_body() {
    let s = start();
    let mut c = TcpStream::connect(s.gw.admin).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"HEAD /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.is_empty(), "HEAD sent a body: {body:?}");
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("content-length");
    assert!(len > 500, "the GET body's length: {len}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain")
    );
    let r = request(s.gw.admin, "HEAD", "/config", &[], "");
    assert_eq!(r.status, 405, "HEAD only where GET is read-only: {r:?}");
}
