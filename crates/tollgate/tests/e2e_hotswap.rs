//! Hot swap under load with the real binary: while keep-alive and new-connection clients hammer
//! the gateway on two workers, configs that add and remove routes, flip a resource policy from
//! allow to deny and revoke nothing else are swapped in through `PUT /config`. Every request
//! that ended before a swap was sent is answered under the old rules, every request that started
//! after the acknowledgement under the new ones, and none fails. An invalid config sent under
//! load is rejected with all its errors while the old one keeps serving with zero errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Gateway;

fn config(flavor: &str) -> String {
    let (body, extra_route, effect) = match flavor {
        "A" => (
            "A",
            "      - { path: /only-a, methods: [GET], authorization: NONE, integration: { type: mock, body: 'only-a' } }\n",
            "Allow",
        ),
        _ => ("B", "", "Deny"),
    };
    format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0" }}
  access_log: off
apis:
  - id: swap1
    hosts: ["swap.test"]
    stages: {{ prod: {{}} }}
    routes:
      - {{ path: /flip, methods: [GET], authorization: NONE, integration: {{ type: mock, body: '{body}' }} }}
{extra_route}  - id: guarded1
    hosts: ["guarded.test"]
    stages: {{ prod: {{}} }}
    resource_policy:
      Version: "2012-10-17"
      Statement:
        - {{ Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*" }}
        - {{ Effect: {effect}, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/prod/GET/guarded" }}
    routes:
      - {{ path: /guarded, methods: [GET], authorization: NONE, integration: {{ type: mock, body: 'open' }} }}
"#
    )
}

/// What each probe answers under config A and B.
const PROBES: [(&str, &str, &str, &str); 3] = [
    // host, path, answer under A, answer under B
    ("swap.test", "/prod/flip", "200 A", "200 B"),
    ("swap.test", "/prod/only-a", "200 only-a", "403"),
    ("guarded.test", "/prod/guarded", "200 open", "403"),
];

fn summarize(resp: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(resp);
    let status = text.split(' ').nth(1)?.to_owned();
    let body = text.split_once("\r\n\r\n")?.1;
    Some(if status == "200" {
        format!("200 {body}")
    } else {
        status
    })
}

/// Read one response with a Content-Length from a keep-alive stream.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })?;
            if buf.len() >= end + 4 + len {
                return Some(buf.drain(..end + 4 + len).collect());
            }
        }
        let mut tmp = [0u8; 4096];
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

#[derive(Clone, Debug)]
struct Sample {
    probe: usize,
    start: Instant,
    end: Instant,
    answer: Option<String>,
}

fn admin_put(admin: SocketAddr, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let req = format!(
        "PUT /config HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    (
        status,
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default(),
    )
}

#[test]
fn swaps_under_load_answer_old_then_new_and_never_fail() {
    let gw = Gateway::start(&config("A"), &["--workers", "2"]);
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let mut clients = Vec::new();
    for t in 0..4 {
        let (stop, samples, addr) = (stop.clone(), samples.clone(), gw.addr);
        clients.push(std::thread::spawn(move || {
            let keep_alive = t % 2 == 0;
            let mut conn: Option<(TcpStream, Vec<u8>)> = None;
            let mut i = t;
            let mut local = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let probe = i % PROBES.len();
                let (host, path, _, _) = PROBES[probe];
                let start = Instant::now();
                if conn.is_none() {
                    let s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    conn = Some((s, Vec::new()));
                }
                let (s, buf) = conn.as_mut().unwrap();
                let close = if keep_alive {
                    ""
                } else {
                    "Connection: close\r\n"
                };
                let ok = s
                    .write_all(
                        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{close}\r\n").as_bytes(),
                    )
                    .is_ok();
                let answer = if ok {
                    read_response(s, buf).and_then(|r| summarize(&r))
                } else {
                    None
                };
                local.push(Sample {
                    probe,
                    start,
                    end: Instant::now(),
                    answer,
                });
                if !keep_alive {
                    conn = None;
                }
            }
            samples.lock().unwrap().extend(local);
        }));
    }
    // Swap A -> B -> A ... and record when each swap was sent and acknowledged.
    let mut swaps: Vec<(Instant, Instant, &str)> = Vec::new();
    let mut flavor = "A";
    for n in 0..16 {
        std::thread::sleep(Duration::from_millis(60));
        flavor = if flavor == "A" { "B" } else { "A" };
        let sent = Instant::now();
        let (status, body) = admin_put(gw.admin, &config(flavor));
        let acked = Instant::now();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, format!("{{\"version\":{}}}", n + 2));
        swaps.push((sent, acked, flavor));
        // An invalid config under load: rejected with all its errors, nothing changes.
        if n == 7 {
            let broken = config(flavor)
                .replace("methods: [GET]", "methods: [GRAB]")
                .replace("effect", "x");
            let broken = broken.replace("account_id: \"123456789012\"", "account_id: \"12\"");
            let (status, body) = admin_put(gw.admin, &broken);
            assert_eq!(status, 400, "{body}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let errors = v["errors"].as_array().unwrap();
            assert!(errors.len() >= 3, "{body}");
            assert!(
                errors
                    .iter()
                    .any(|e| e.as_str().unwrap().starts_with("gateway.account_id")),
                "{body}"
            );
            assert!(
                errors
                    .iter()
                    .any(|e| e.as_str().unwrap().starts_with("apis[0].routes[0].methods")),
                "{body}"
            );
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let samples = samples.lock().unwrap();
    assert!(samples.len() > 200, "too few requests: {}", samples.len());
    let failed: Vec<_> = samples.iter().filter(|s| s.answer.is_none()).collect();
    assert!(
        failed.is_empty(),
        "{} requests failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    // Which config rules a request must have seen.
    let mut checked = 0;
    for s in samples.iter() {
        let (_, _, a, b) = PROBES[s.probe];
        let answer = s.answer.as_deref().unwrap();
        let ruling = |t: Instant, acked_only: bool| {
            // The flavor live at `t`: the last swap acknowledged (or, for the "ended before"
            // side, sent) before it.
            let mut f = "A";
            for (sent, acked, fl) in &swaps {
                let at = if acked_only { *acked } else { *sent };
                if at <= t {
                    f = fl;
                }
            }
            f
        };
        // Started after an acknowledgement and ended before the next swap was sent: exact.
        let after_ack = ruling(s.start, true);
        let before_next = ruling(s.end, false);
        if after_ack == before_next {
            let want = if after_ack == "A" { a } else { b };
            assert_eq!(
                answer, want,
                "probe {} under {after_ack}",
                PROBES[s.probe].1
            );
            checked += 1;
        } else {
            assert!(answer == a || answer == b, "{answer}");
        }
    }
    assert!(
        checked > 100,
        "too few requests fell between swaps: {checked}"
    );
}

#[test]
fn changes_that_need_a_restart_are_refused_naming_the_field() {
    let gw = Gateway::start(&config("A"), &["--workers", "2"]);
    let moved = config("A").replace(
        "listeners: [{ bind: \"127.0.0.1:0\" }]",
        "listeners: [{ bind: \"127.0.0.1:0\" }, { bind: \"127.0.0.1:0\", proxy_protocol: true }]",
    );
    let (status, body) = admin_put(gw.admin, &moved);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("gateway.listeners"), "{body}");
    let workers = config("A").replace("  access_log: off", "  access_log: off\n  workers: 7");
    let (status, body) = admin_put(gw.admin, &workers);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("gateway.workers"), "{body}");
    // Nothing changed: still version 1, still serving A.
    let mut s = TcpStream::connect(gw.admin).unwrap();
    s.write_all(b"GET /config HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.contains("\"version\":1"), "{out}");
}
