//! The upstream side of the security model, end to end with the real binary:
//!
//! - pooled upstream connections never carry one exchange's leftovers into the next: an
//!   upstream that writes a body after a HEAD response, a body on a 204/304, or more than its
//!   Content-Length (CL.0), in the same segment or a later one, never gets its extra bytes
//!   read as another client's response (fixed cases, then generated cases with a fixed seed);
//! - `request_headers` mappings cannot be spoofed by a client header that a CGI/WSGI backend
//!   folds to the same name (`X_Principal_Id`), and a mapped value holding control
//!   characters is never sent (nor is the client's copy);
//! - a request body trickled to the upstream is cut at the body deadline (408), and the
//!   upstream connection it held is closed, not pooled;
//! - a chunked body of tiny chunks reaches the upstream in a few large chunks.
//!
//! Run: `cargo test -p tollgate --test e2e_security_upstream`.
//! `TOLLGATE_POOL_CASES=N` / `TOLLGATE_POOL_SEED=S` change the generated pool cases,
//! `TOLLGATE_POOL_IO=epoll` runs them under the epoll driver.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const LIMITS: &str = "    max_header_bytes: 8192
    max_body_bytes: 1048576
    header_timeout_ms: 5000
    idle_timeout_ms: 60000
    drain_timeout_ms: 2000";

/// One worker (so there is one pool), a greedy route to `backend`, a route with a short
/// `timeout_ms` (`/t/...`), and `extra_limits` appended under `gateway.limits`.
fn proxy_config(backend: SocketAddr, extra_limits: &str) -> String {
    format!(
        r#"gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 1
  listeners:
    - bind: "127.0.0.1:0"
  admin:
    bind: "{ADMIN_BIND}"
  access_log: off
  limits:
{LIMITS}
{extra_limits}
apis:
  - id: upsec00001
    name: upsec
    hosts: ["*"]
    stages:
      prod:
        variables: {{ backend: "{backend}" }}
    routes:
      - path: "/t/{{proxy+}}"
        methods: [ANY]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/{{proxy}}"
          timeout_ms: 1500
      - path: "/{{proxy+}}"
        methods: [ANY]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/{{proxy}}"
          timeout_ms: 10000
"#
    )
}

// ----------------------------------------------------------------------------------------
// A scripted upstream: keep-alive, each request answered by a list of segments written with
// pauses between them. `/fresh...` always answers correctly with `fresh:<query>`.

/// Bytes written in one `write`, after sleeping `pause_ms`.
#[derive(Debug, Clone)]
struct Segment {
    pause_ms: u64,
    bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Script {
    segments: Vec<Segment>,
    /// Close the connection after the last segment.
    close: bool,
}

struct Scripted {
    addr: SocketAddr,
    /// Scripts by the last path segment of the request target.
    scripts: Arc<Mutex<HashMap<String, Script>>>,
    /// Scripted answers written completely (their last segment sent).
    done: Arc<AtomicUsize>,
    /// Connections accepted / closed by the peer (the gateway).
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    /// Request heads received whole.
    heads: Arc<AtomicUsize>,
}

/// The forged answer an upstream bug leaves on a connection: what another client would see.
const FORGED: &[u8] = b"HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\nSet-Cookie: session=attacker\r\nContent-Length: 5\r\n\r\nSTALE";

fn fresh_answer(token: &str) -> Vec<u8> {
    let body = format!("fresh:{token}");
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl Scripted {
    fn start() -> Scripted {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let scripts: Arc<Mutex<HashMap<String, Script>>> = Arc::default();
        let done = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(AtomicUsize::new(0));
        let (sc, dn, ac, cl, hd) = (
            scripts.clone(),
            done.clone(),
            accepted.clone(),
            closed.clone(),
            heads.clone(),
        );
        thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                ac.fetch_add(1, Ordering::SeqCst);
                let (sc, dn, cl, hd) = (sc.clone(), dn.clone(), cl.clone(), hd.clone());
                thread::spawn(move || {
                    scripted_conn(s, &sc, &dn, &hd);
                    cl.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Scripted {
            addr,
            scripts,
            done,
            accepted,
            closed,
            heads,
        }
    }

    fn script(&self, name: &str, s: Script) {
        self.scripts.lock().unwrap().insert(name.to_owned(), s);
    }

    fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }
}

/// Serve one connection until the peer closes it (or a script closes it).
fn scripted_conn(
    mut s: TcpStream,
    scripts: &Mutex<HashMap<String, Script>>,
    done: &AtomicUsize,
    heads: &AtomicUsize,
) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        heads.fetch_add(1, Ordering::SeqCst);
        let lower = head.to_ascii_lowercase();
        let len: usize = lower
            .lines()
            .find_map(|l| {
                l.strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        // Chunked request bodies are not used with this origin.
        while buf.len() < end + 4 + len {
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        buf.drain(..end + 4 + len);
        let target = head.split(' ').nth(1).unwrap_or("").to_owned();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let last = path.rsplit('/').next().unwrap_or("").to_owned();
        if last.starts_with("fresh") {
            if s.write_all(&fresh_answer(query)).is_err() {
                return;
            }
            continue;
        }
        let Some(script) = scripts.lock().unwrap().get(&last).cloned() else {
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            continue;
        };
        for seg in &script.segments {
            thread::sleep(Duration::from_millis(seg.pause_ms));
            if s.write_all(&seg.bytes).is_err() {
                done.fetch_add(1, Ordering::SeqCst);
                return;
            }
            let _ = s.flush();
        }
        done.fetch_add(1, Ordering::SeqCst);
        if script.close {
            return;
        }
    }
}

/// Client B's request on a new connection: it must get its own fresh answer.
fn assert_fresh(gw: &Gateway, token: &str, what: &str) {
    let mut c = gw.connect();
    let r = c.request(&get(&format!("/prod/fresh?{token}"), ""));
    assert_eq!(
        (r.status, r.text()),
        (200, format!("fresh:{token}")),
        "{what}: the next client got another exchange's bytes: {r:?}"
    );
    assert!(!r.has("set-cookie"), "{what}: {r:?}");
    assert!(!r.has("location"), "{what}: {r:?}");
}

/// Client A's exchange on a new connection; then wait until the upstream has written the
/// whole script (its stale bytes included) and a little longer for them to arrive.
fn run_a(gw: &Gateway, up: &Scripted, req: &[u8]) -> Option<Response> {
    let before = up.done();
    let mut a = gw.connect();
    a.stream
        .set_read_timeout(Some(Duration::from_secs(12)))
        .unwrap();
    a.send(req);
    let head = req.starts_with(b"HEAD ");
    // Read A's answer without panicking on odd ones: B's check is the point.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| a.read_response(head))).ok();
    assert!(
        eventually(SOON, || up.done() > before),
        "the upstream never finished its script"
    );
    thread::sleep(Duration::from_millis(60));
    r
}

fn seg(pause_ms: u64, bytes: &[u8]) -> Segment {
    Segment {
        pause_ms,
        bytes: bytes.to_vec(),
    }
}

fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

/// HEAD answered with a body (`do_HEAD = do_GET`), a body on 204/304, CL.0 with extra bytes:
/// in the same segment as the head or in a later one (arriving once the head was consumed,
/// while the connection idles in the pool). Two clients in sequence: the second always gets
/// its own answer.
#[test]
fn an_upstream_that_writes_past_its_response_never_answers_the_next_client() {
    writes_past_the_response(&[]);
}

/// The same under the epoll driver (the default is io_uring where the kernel offers it).
#[test]
fn an_upstream_that_writes_past_its_response_never_answers_the_next_client_epoll() {
    writes_past_the_response(&["--io-driver", "epoll"]);
}

fn writes_past_the_response(args: &[&str]) {
    let up = Scripted::start();
    let gw = Gateway::start(&proxy_config(up.addr, ""), args);
    if !args.is_empty() {
        assert_eq!(gw.io, "epoll", "{}", gw.stderr_text());
    }
    let head200 = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 94\r\n\r\n";
    let cl0 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let no_content = b"HTTP/1.1 204 No Content\r\n\r\n";
    let not_modified = b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";
    let cases: Vec<(&str, &[u8], Vec<Segment>)> = vec![
        // HEAD: the body the head announces, then (as the "body") a forged response.
        (
            "headlater",
            b"HEAD",
            vec![seg(0, head200), seg(150, FORGED)],
        ),
        ("headsame", b"HEAD", vec![seg(0, &cat(head200, FORGED))]),
        // CL.0: Content-Length: 0 then a second response.
        ("cl0later", b"GET", vec![seg(0, cl0), seg(150, FORGED)]),
        ("cl0same", b"GET", vec![seg(0, &cat(cl0, FORGED))]),
        // 204 / 304 with a body.
        (
            "nocontent",
            b"GET",
            vec![seg(0, no_content), seg(150, FORGED)],
        ),
        (
            "notmodified",
            b"GET",
            vec![seg(0, not_modified), seg(150, FORGED)],
        ),
        (
            "notmodsame",
            b"GET",
            vec![seg(0, &cat(not_modified, FORGED))],
        ),
        // A correct Content-Length body, then more bytes later.
        (
            "lengthlater",
            b"GET",
            vec![
                seg(0, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
                seg(150, FORGED),
            ],
        ),
    ];
    for (i, (name, method, segments)) in cases.into_iter().enumerate() {
        up.script(
            name,
            Script {
                segments,
                close: false,
            },
        );
        let req = format!(
            "{} /prod/{name} HTTP/1.1\r\nHost: gw.test\r\n\r\n",
            String::from_utf8_lossy(method)
        );
        let a = run_a(&gw, &up, req.as_bytes());
        if let Some(a) = &a {
            assert!(
                !a.has("set-cookie") && a.status != 302,
                "{name}: client A got the forged answer: {a:?}"
            );
        }
        for k in 0..2 {
            assert_fresh(&gw, &format!("b{i}-{k}"), name);
        }
    }
    // The well-behaved path still pools: B's two requests did not need two connections each.
    assert!(
        up.accepted.load(Ordering::SeqCst) < 8 + 16,
        "pooling is gone: {} connections",
        up.accepted.load(Ordering::SeqCst)
    );
}

// ----------------------------------------------------------------------------------------
// Generated cases

/// xorshift64*: a fixed-seed generator (no dependency; the seed is printed on failure).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// One generated upstream answer: a valid response (framing respected), optionally followed
/// by bytes it must not send, the whole split into segments with pauses.
fn generate(rng: &mut Rng) -> (String, Vec<Segment>, bool, String) {
    let head_req = rng.below(4) == 0;
    let status = *rng.pick(&[200u16, 201, 204, 302, 304, 404, 500]);
    let bodyless = head_req || status == 204 || status == 304;
    let len = rng.below(40) as usize;
    let body: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    let chunked = !bodyless && rng.below(3) == 0;
    let mut out = format!("HTTP/1.1 {status} X\r\nX-Case: gen\r\n").into_bytes();
    if chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for part in body.chunks(7) {
            out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            out.extend_from_slice(part);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else if status == 204 || status == 304 {
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(format!("Content-Length: {len}\r\n\r\n").as_bytes());
        if !head_req {
            out.extend_from_slice(&body);
        }
    }
    let valid = out.len();
    let extra: Vec<u8> = match rng.below(6) {
        0 => Vec::new(),
        1 => FORGED.to_vec(),
        2 => body.clone(), // the body a HEAD/204/304 must not have, or a duplicate one
        3 => b"\r\n".to_vec(),
        4 => b"HTTP/1.1 200 OK\r\nContent-Len".to_vec(),
        _ => (0..1 + rng.below(20)).map(|_| rng.next() as u8).collect(),
    };
    out.extend_from_slice(&extra);
    // Split points: up to three, anywhere (inside the head, the body or the extra bytes).
    let mut cuts: Vec<usize> = (0..rng.below(4))
        .map(|_| 1 + rng.below(out.len() as u64 - 1) as usize)
        .collect();
    // Half the time, the extra bytes come in their own later segment.
    if !extra.is_empty() && rng.below(2) == 0 {
        cuts.push(valid);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut segments = Vec::new();
    let mut at = 0;
    for c in cuts.into_iter().chain([out.len()]) {
        if c > at {
            segments.push(Segment {
                pause_ms: if at == 0 { 0 } else { rng.below(40) },
                bytes: out[at..c].to_vec(),
            });
            at = c;
        }
    }
    let close = rng.below(8) == 0;
    let method = if head_req { "HEAD" } else { "GET" }.to_owned();
    let desc = format!(
        "{method} -> {:?} then {:?} in {} segment(s){}",
        String::from_utf8_lossy(&out[..valid]),
        String::from_utf8_lossy(&extra),
        segments.len(),
        if close { ", then close" } else { "" }
    );
    (method, segments, close, desc)
}

/// The class, not the payloads: for generated upstream answers (every status and framing,
/// HEAD or not, with or without trailing bytes, split anywhere with pauses), the following
/// request on the same route from another client always gets its own fresh answer.
#[test]
fn generated_upstream_answers_never_leak_into_the_next_exchange() {
    let seed: u64 = std::env::var("TOLLGATE_POOL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7011_6a7e_5eed_0001);
    let n: usize = std::env::var("TOLLGATE_POOL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let driver = std::env::var("TOLLGATE_POOL_IO").unwrap_or_default();
    let args: Vec<&str> = if driver.is_empty() {
        Vec::new()
    } else {
        vec!["--io-driver", driver.as_str()]
    };
    let up = Scripted::start();
    let gw = Gateway::start(&proxy_config(up.addr, ""), &args);
    let mut rng = Rng(seed);
    let started = Instant::now();
    for i in 0..n {
        let (method, segments, close, desc) = generate(&mut rng);
        let name = format!("gen{i}");
        up.script(&name, Script { segments, close });
        let req = format!("{method} /prod/{name} HTTP/1.1\r\nHost: gw.test\r\n\r\n");
        let _ = run_a(&gw, &up, req.as_bytes());
        let mut c = gw.connect();
        let token = format!("g{i}");
        let r = c.request(&get(&format!("/prod/fresh?{token}"), ""));
        assert_eq!(
            (r.status, r.text()),
            (200, format!("fresh:{token}")),
            "case {i} (seed {seed:#x}): {desc}\nthe next client got: {r:?}"
        );
    }
    eprintln!(
        "{n} generated cases in {:?} (seed {seed:#x}, io: {}), {} upstream connections",
        started.elapsed(),
        gw.io,
        up.accepted.load(Ordering::SeqCst)
    );
}

// ----------------------------------------------------------------------------------------
// Mapped identity headers

/// A Lambda authorizer (the Invoke API on a real socket) whose TOKEN selects the context
/// value `v`: `plain`, `absent`, or a value holding a control character.
fn ctx_authorizer() -> SocketAddr {
    serve_requests(|req| {
        let end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let ev: serde_json::Value = serde_json::from_slice(&req[end..]).unwrap();
        let token = ev["authorizationToken"].as_str().unwrap_or("").to_owned();
        let v = match token.as_str() {
            "plain" => Some("ok-value"),
            "crlf" => Some("a\r\nX-Injected: 1"),
            "lf" => Some("a\nb"),
            "nul" => Some("a\u{0}b"),
            "vt" => Some("a\u{b}b"),
            "del" => Some("a\u{7f}b"),
            "nel" => Some("a\u{85}b"),
            "lsep" => Some("a\u{2028}b"),
            _ => None,
        };
        let mut context = serde_json::json!({"other": "x"});
        if let Some(v) = v {
            context["v"] = serde_json::json!(v);
        }
        let body = serde_json::json!({
            "principalId": format!("user-{token}"),
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*:*:*"}]},
            "context": context,
        })
        .to_string();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
}

fn mapping_config(auth: SocketAddr, echo: SocketAddr) -> String {
    format!(
        r#"gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 1
  listeners:
    - bind: "127.0.0.1:0"
  admin:
    bind: "{ADMIN_BIND}"
  access_log: off
authorizers:
  - {{ name: ctx, type: TOKEN, function_url: "http://{auth}/2015-03-31/functions/function/invocations", identity_source: method.request.header.Authorization, ttl_seconds: 0 }}
apis:
  - id: mapped0001
    name: mapped
    hosts: ["*"]
    stages:
      prod:
        variables: {{ backend: "{echo}" }}
    routes:
      - path: /auth
        methods: [GET]
        authorization: CUSTOM
        authorizer: ctx
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/auth"
          request_headers:
            x-principal-id: context.authorizer.principalId
            x-ctx: context.authorizer.v
            X_Under_Score: "'static-under'"
      - path: /open
        methods: [GET]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/open"
          request_headers:
            x-principal-id: context.authorizer.principalId
            x-agent: context.identity.userAgent
            x-request-id: context.requestId
          drop_request_headers: [X-Trace-Id]
"#
    )
}

/// `X-Principal-Id` -> `x_principal_id`: the name a CGI/WSGI backend folds both to.
fn folded(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Every value the echo origin received under a name that folds to `name`.
fn received(v: &serde_json::Value, name: &str) -> Vec<String> {
    v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| folded(p[0].as_str().unwrap()) == name)
        .map(|p| p[1].as_str().unwrap().to_owned())
        .collect()
}

/// The spoofed copies a client sends of a header name, in every spelling a CGI-style
/// backend reads as the same variable.
fn spoofs(name: &str) -> String {
    let under = name.replace('-', "_");
    let mut s = String::new();
    for (i, n) in [
        name.to_owned(),
        name.to_ascii_uppercase(),
        under.clone(),
        under.to_ascii_uppercase(),
        format!("{}{}", &under[..1].to_ascii_uppercase(), &under[1..]),
    ]
    .iter()
    .enumerate()
    {
        s.push_str(&format!("{n}: spoof{i}\r\n"));
    }
    s
}

/// Client copies of a mapped header never reach the backend, in any spelling that folds to
/// the mapped name (case, `_` for `-`); the mapped value is sent when it is present and
/// clean, and nothing is sent when it is absent or holds a control character (CR, LF, NUL,
/// VT, DEL, NEL, U+2028).
#[test]
fn mapped_identity_headers_cannot_be_spoofed() {
    let auth = ctx_authorizer();
    let echo = Origin::start();
    let gw = Gateway::start(&mapping_config(auth, echo.addr), &[]);
    let all_spoofs = format!(
        "{}{}{}X-Forwarded-Proto: https\r\nX_Forwarded_Proto: https\r\nX_Forwarded_Port: 1\r\nX_Forwarded_For: 10.9.9.9\r\nX_Injected: spoof\r\n",
        spoofs("x-principal-id"),
        spoofs("x-ctx"),
        spoofs("x-under-score"),
    );
    let cases = [
        ("plain", Some("ok-value")),
        ("absent", None),
        ("crlf", None),
        ("lf", None),
        ("nul", None),
        ("vt", None),
        ("del", None),
        ("nel", None),
        ("lsep", None),
    ];
    for (token, want) in cases {
        let mut c = gw.connect();
        let r = c.request(&get(
            "/prod/auth",
            &format!("Authorization: {token}\r\n{all_spoofs}"),
        ));
        assert_eq!(r.status, 200, "{token}: {r:?}");
        let v = r.json();
        assert_eq!(
            received(&v, "x-principal-id"),
            vec![format!("user-{token}")],
            "{token}: {v}"
        );
        assert_eq!(
            received(&v, "x-ctx"),
            want.map(str::to_owned).into_iter().collect::<Vec<_>>(),
            "{token}: {v}"
        );
        assert_eq!(
            received(&v, "x-under-score"),
            vec!["static-under".to_owned()],
            "{token}: {v}"
        );
        // Headers the gateway sets itself are not spoofable by a folded spelling either.
        assert_eq!(
            received(&v, "x-forwarded-proto"),
            vec!["http"],
            "{token}: {v}"
        );
        assert_eq!(
            received(&v, "x-forwarded-port"),
            vec![gw.addr.port().to_string()],
            "{token}: {v}"
        );
        assert_eq!(
            received(&v, "x-forwarded-for"),
            vec!["127.0.0.1".to_owned()],
            "{token}: {v}"
        );
        assert!(
            received(&v, "x-injected").iter().all(|x| x == "spoof"),
            "{token}: a mapped value injected a header: {v}"
        );
    }
    // No authorizer: principalId is absent, so nothing is sent, and the client's copy (any
    // spelling) does not stand in for it. A User-Agent holding NEL (obs-text that decodes to
    // U+0085) is not mapped either.
    let mut c = gw.connect();
    let mut req = get("/prod/open", &spoofs("x-principal-id"));
    req.truncate(req.len() - 2);
    req.extend_from_slice(b"User-Agent: agent\xc2\x85x\r\n\r\n");
    let r = c.request(&req);
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert_eq!(received(&v, "x-principal-id"), Vec::<String>::new(), "{v}");
    assert_eq!(received(&v, "x-agent"), Vec::<String>::new(), "{v}");
    let r = c.request(&get("/prod/open", "User-Agent: agent/1.0\r\n"));
    assert_eq!(received(&r.json(), "x-agent"), vec!["agent/1.0"], "{r:?}");
}

/// `context.requestId` sends the id the client gets in `x-amzn-RequestId`, never the
/// client's own; a `drop_request_headers` name (what `tollgate import` writes for a mapping
/// it cannot supply) reaches the backend in no spelling at all.
#[test]
fn request_id_mapping_and_dropped_headers_cannot_be_spoofed() {
    let auth = ctx_authorizer();
    let echo = Origin::start();
    let gw = Gateway::start(&mapping_config(auth, echo.addr), &[]);
    let mut c = gw.connect();
    let spoofed = format!("{}{}", spoofs("x-request-id"), spoofs("x-trace-id"));
    for _ in 0..2 {
        let r = c.request(&get("/prod/open", &spoofed));
        assert_eq!(r.status, 200, "{r:?}");
        let rid = r.header("x-amzn-requestid").unwrap().to_owned();
        let v = r.json();
        assert_eq!(received(&v, "x-request-id"), vec![rid], "{v}");
        assert_eq!(received(&v, "x-trace-id"), Vec::<String>::new(), "{v}");
    }
}

// ----------------------------------------------------------------------------------------
// Slow request bodies

/// Send `head`, then trickle `body` one byte per `every` on a clone of the stream, in a
/// thread that stops at the first write error.
fn trickle(c: &Client, head: &[u8], body: Vec<u8>, every: Duration) -> thread::JoinHandle<usize> {
    let mut w = c.stream.try_clone().unwrap();
    w.write_all(head).unwrap();
    thread::spawn(move || {
        let mut sent = 0;
        for b in body {
            thread::sleep(every);
            if w.write_all(&[b]).is_err() {
                break;
            }
            sent += 1;
        }
        sent
    })
}

/// Read the answer to a trickled request within `bound`.
fn answer_within(c: &mut Client, bound: Duration, what: &str) -> (Response, Duration) {
    let t = Instant::now();
    c.stream.set_read_timeout(Some(bound)).unwrap();
    let mut tmp = [0u8; 4096];
    match c.stream.read(&mut tmp) {
        Ok(n) if n > 0 => c.buf.extend_from_slice(&tmp[..n]),
        Ok(_) => panic!("{what}: closed without an answer"),
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
            panic!(
                "{what}: no answer within {bound:?}: the trickling body still holds the upstream"
            )
        }
        Err(e) => panic!("{what}: {e}"),
    }
    let elapsed = t.elapsed();
    c.stream.set_read_timeout(Some(SOON)).unwrap();
    (c.read_response(false), elapsed)
}

/// How a trickled body is framed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Trickled {
    /// Content-Length 60: small enough to be read whole before any upstream connection.
    Small,
    /// Content-Length 10060, the first 10000 bytes sent at once: streamed upstream.
    Large,
    /// Chunked, one-byte chunks: streamed upstream.
    Chunked,
}

const TRICKLED: [Trickled; 3] = [Trickled::Small, Trickled::Large, Trickled::Chunked];

fn assert_cut(gw: &Gateway, up: &Scripted, path: &str, kind: Trickled, what: &str) {
    let (min, max) = (Duration::from_millis(1400), Duration::from_secs(8));
    let closed_before = up.closed.load(Ordering::SeqCst);
    let accepted_before = up.accepted.load(Ordering::SeqCst);
    let heads_before = up.heads.load(Ordering::SeqCst);
    let mut c = gw.connect();
    let head = match kind {
        Trickled::Chunked => {
            format!("POST {path} HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n")
                .into_bytes()
        }
        Trickled::Small => {
            format!("POST {path} HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 60\r\n\r\n")
                .into_bytes()
        }
        Trickled::Large => {
            let mut h =
                format!("POST {path} HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 10060\r\n\r\n")
                    .into_bytes();
            h.extend_from_slice(&[b'y'; 10000]);
            h
        }
    };
    let body: Vec<u8> = if kind == Trickled::Chunked {
        (0..60).flat_map(|_| *b"1\r\nx\r\n").collect()
    } else {
        vec![b'x'; 60]
    };
    let t = Instant::now();
    // 400 ms: the 1.5 s deadline falls between two bytes, not on one.
    let writer = trickle(&c, &head, body, Duration::from_millis(400));
    let (r, _) = answer_within(&mut c, max, what);
    let elapsed = t.elapsed();
    assert_eq!(r.status, 408, "{what}: {r:?}");
    assert_eq!(r.header("connection"), Some("close"), "{what}: {r:?}");
    assert!(
        elapsed >= min,
        "{what}: cut after {elapsed:?}, before the bound {min:?}"
    );
    assert!(
        c.closed_within(SOON),
        "{what}: the client connection stays open"
    );
    let sent = writer.join().unwrap();
    assert!(sent < 60, "{what}: the whole body went through");
    if kind == Trickled::Small {
        // Read whole before connecting: the upstream never saw this request at all.
        assert_eq!(
            (
                up.accepted.load(Ordering::SeqCst),
                up.heads.load(Ordering::SeqCst)
            ),
            (accepted_before, heads_before),
            "{what}: a small trickled body reached the upstream"
        );
    } else {
        // The upstream connection that had the partial request (a pooled one or a new one)
        // is closed, not pooled.
        assert!(
            up.heads.load(Ordering::SeqCst) > heads_before,
            "{what}: the head never reached the upstream"
        );
        assert!(
            eventually(SOON, || up.closed.load(Ordering::SeqCst) > closed_before),
            "{what}: the upstream connection was not released"
        );
    }
    // The route still works.
    assert_fresh(gw, &format!("after-{}", what.replace(' ', "-")), what);
}

/// A client that trickles its body (one byte per 400 ms, well inside the header timeout
/// between bytes) is cut at the route's `timeout_ms` (1.5 s): 408 and close. A streamed body
/// (large Content-Length, chunked): the upstream connection holding the partial request is
/// closed. A small Content-Length body: no upstream connection was taken for it.
#[test]
fn a_trickled_body_is_cut_at_the_route_timeout() {
    let up = Scripted::start();
    let gw = Gateway::start(&proxy_config(up.addr, ""), &[]);
    for kind in TRICKLED {
        assert_cut(
            &gw,
            &up,
            "/prod/t/sink",
            kind,
            &format!("route timeout {kind:?}"),
        );
    }
}

/// Same, bounded by `gateway.limits.body_timeout_ms` (1.5 s) on a route whose `timeout_ms`
/// is 10 s.
#[test]
fn a_trickled_body_is_cut_at_the_body_timeout() {
    let up = Scripted::start();
    let gw = Gateway::start(&proxy_config(up.addr, "    body_timeout_ms: 1500"), &[]);
    for kind in TRICKLED {
        assert_cut(
            &gw,
            &up,
            "/prod/sink",
            kind,
            &format!("body timeout {kind:?}"),
        );
    }
}

// ----------------------------------------------------------------------------------------
// Tiny chunks

/// 3000 one-byte chunks in one write: the upstream receives the same body in far fewer
/// chunks (decoded data is coalesced until the client's bytes run out or the buffer fills),
/// not one chunk and one write per client chunk.
#[test]
fn tiny_chunks_are_coalesced_upstream() {
    let echo = Origin::start();
    let gw = Gateway::start(&std_config(echo.addr, closed_port(), STD_LIMITS), &[]);
    let n = 3000;
    let mut req =
        b"POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    let mut want = Vec::new();
    for i in 0..n {
        let b = b'a' + (i % 26) as u8;
        req.extend_from_slice(&[b'1', b'\r', b'\n', b, b'\r', b'\n']);
        want.push(b);
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let mut c = gw.connect();
    let r = c.request(&req);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, want);
    let seen = echo.last();
    assert!(seen.chunked);
    assert_eq!(seen.body, want);
    eprintln!(
        "{n} one-byte chunks reached the upstream as {} chunks",
        seen.chunk_count
    );
    assert!(
        seen.chunk_count <= 50,
        "{n} one-byte chunks reached the upstream as {} chunks",
        seen.chunk_count
    );
}
