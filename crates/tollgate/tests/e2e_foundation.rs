//! Loopback end-to-end tests of the foundation: the real `tollgate` binary, real origin
//! servers on real sockets, raw `TcpStream` clients with byte-exact control.
//!
//! Run: `cargo build -p tollgate && cargo test -p tollgate --test e2e_foundation`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// An origin, a closed port and a gateway on the standard config with `limits`.
fn setup_with(limits: &str, args: &[&str]) -> (Origin, Gateway, u16) {
    let origin = Origin::start();
    let refused = closed_port();
    let gw = Gateway::start(&std_config(origin.addr, refused, limits), args);
    (origin, gw, refused)
}

fn setup() -> (Origin, Gateway) {
    let (o, g, _) = setup_with(STD_LIMITS, &[]);
    (o, g)
}

fn assert_gateway_error(r: &Response, status: u16) {
    assert_eq!(r.status, status, "{r:?}");
    assert!(
        r.has("x-amzn-ErrorType"),
        "gateway error without x-amzn-ErrorType: {r:?}"
    );
    assert!(r.has("x-amzn-RequestId"), "{r:?}");
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/json"),
        "{r:?}"
    );
    let _ = r.json();
}

// ----------------------------------------------------------------------------------------
// Mock routes

fn check_mock(gw: &Gateway) {
    let mut c = gw.connect();
    let r = c.request(&get("/prod/mock", ""));
    assert_eq!(r.status, 201);
    assert_eq!(r.version, "HTTP/1.1");
    assert_eq!(r.header("x-mock"), Some("yes"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-length"), Some("9"));
    assert_eq!(r.text(), "mock body");
    let rid1 = r
        .header("x-amzn-RequestId")
        .expect("x-amzn-RequestId")
        .to_owned();
    assert!(!rid1.is_empty());

    // HEAD: same headers, no body. The next response on the same connection parses only
    // if no body bytes followed the HEAD answer.
    let h = c.request(b"HEAD /prod/mock HTTP/1.1\r\nHost: gw.test\r\n\r\n");
    assert_eq!(h.status, 201);
    assert_eq!(h.header("content-length"), Some("9"));
    assert!(h.has("x-amzn-RequestId"));
    let r2 =
        c.request(b"POST /prod/mock HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(r2.status, 201);
    assert_eq!(r2.text(), "mock body");
    let rid2 = r2.header("x-amzn-RequestId").unwrap();
    assert_ne!(rid1, rid2, "request ids must differ per request");
    assert!(
        c.buf.is_empty(),
        "stray bytes after responses: {:?}",
        String::from_utf8_lossy(&c.buf)
    );
}

#[test]
fn mock_routes_answer_status_headers_body() {
    let (_o, gw) = setup();
    check_mock(&gw);
}

// ----------------------------------------------------------------------------------------
// http_proxy forwarding

fn check_proxy(gw: &Gateway, origin: &Origin) {
    let mut c = gw.connect();
    let req = "GET /prod/pets/42?x=1&y=two%20three HTTP/1.1\r\n\
               Host: gw.test\r\n\
               X-Custom: custom-value\r\n\
               Connection: keep-alive, X-Drop-Me\r\n\
               Keep-Alive: timeout=5\r\n\
               TE: trailers\r\n\
               Upgrade: websocket\r\n\
               Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\
               X-Drop-Me: secret\r\n\
               X-Forwarded-For: 10.1.1.1\r\n\
               X-Forwarded-Proto: gopher\r\n\
               X-Source-Ip: 6.6.6.6\r\n\
               X-Gateway: evil\r\n\
               X-Stage-Env: evil\r\n\
               \r\n";
    let r = c.request(req.as_bytes());
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-origin"), Some("echo"));
    assert!(r.has("x-amzn-RequestId"));
    let v = r.json();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["target"], "/backend/pets/42?x=1&y=two%20three");
    let h = echo_headers(&v);
    assert_eq!(
        h.get("host").map(String::as_str),
        Some(origin.addr.to_string().as_str()),
        "{h:?}"
    );
    assert_eq!(h.get("x-custom").map(String::as_str), Some("custom-value"));
    for hop in [
        "connection",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
        "x-drop-me",
    ] {
        assert!(
            !h.contains_key(hop),
            "hop-by-hop header {hop} reached the upstream: {h:?}"
        );
    }
    let xff = h.get("x-forwarded-for").expect("x-forwarded-for");
    assert!(
        !xff.contains('\n'),
        "one X-Forwarded-For line expected: {xff:?}"
    );
    assert!(
        xff.ends_with("127.0.0.1"),
        "X-Forwarded-For must end with the client address: {xff:?}"
    );
    assert_eq!(h.get("x-forwarded-proto").map(String::as_str), Some("http"));
    assert_eq!(h.get("x-forwarded-port"), Some(&gw.addr.port().to_string()));
    // request_headers: context value, static value, stage variable; client copies dropped.
    assert_eq!(
        h.get("x-source-ip").map(String::as_str),
        Some("127.0.0.1"),
        "{h:?}"
    );
    assert_eq!(
        h.get("x-gateway").map(String::as_str),
        Some("tollgate"),
        "{h:?}"
    );
    assert_eq!(
        h.get("x-stage-env").map(String::as_str),
        Some("prod"),
        "{h:?}"
    );

    // PUT with a body, DELETE, on the same connection.
    let r = c.request(b"PUT /prod/pets/7 HTTP/1.1\r\nHost: gw.test\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnew-pet-7");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(
        (
            v["method"].as_str(),
            v["target"].as_str(),
            v["body"].as_str()
        ),
        (Some("PUT"), Some("/backend/pets/7"), Some("new-pet-7"))
    );
    assert_eq!(
        echo_headers(&v).get("content-length").map(String::as_str),
        Some("9")
    );
    let r = c.request(b"DELETE /prod/pets/abc-def HTTP/1.1\r\nHost: gw.test\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["method"], "DELETE");
    assert_eq!(r.json()["target"], "/backend/pets/abc-def");

    // Greedy {proxy+}: the rest of the path, slashes included, plus the query.
    let r = c.request(&get("/prod/files/a/b/c.txt?download=1", ""));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["target"], "/a/b/c.txt?download=1");
    assert_eq!(origin.last().target, "/a/b/c.txt?download=1");
}

#[test]
fn http_proxy_forwards_method_path_query_headers() {
    let (origin, gw) = setup();
    check_proxy(&gw, &origin);
}

#[test]
fn stage_variables_choose_the_upstream() {
    let (origin, gw) = setup();
    // prod -> the origin; beta -> a closed port (so 502), same route and template.
    let mut c = gw.connect();
    let r = c.request(&get("/prod/pets/1", ""));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["target"], "/backend/pets/1");
    let before = origin.count();
    let t = Instant::now();
    let mut c = gw.connect();
    let r = c.request(&get("/beta/pets/1", ""));
    assert_gateway_error(&r, 502);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "502 took {:?}",
        t.elapsed()
    );
    assert_eq!(
        origin.count(),
        before,
        "beta must not reach the prod origin"
    );
}

// ----------------------------------------------------------------------------------------
// Bodies

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn chunked_request_body_reaches_upstream_intact() {
    let (origin, gw) = setup();
    let mut c = gw.connect();
    c.send(b"POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n");
    let parts: [&[u8]; 4] = [
        b"first-chunk;",
        b"second",
        b"-third-with-more-bytes-",
        b"end",
    ];
    let mut expected = Vec::new();
    for p in parts {
        // size with a chunk extension on one of them, each chunk in its own write
        c.send(format!("{:x}\r\n", p.len()).as_bytes());
        c.send(p);
        c.send(b"\r\n");
        expected.extend_from_slice(p);
        thread::sleep(Duration::from_millis(30));
    }
    c.send(b"0\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, expected);
    let seen = origin.last();
    assert!(
        seen.chunked,
        "the upstream should get the body chunked (streamed, length unknown)"
    );
    assert!(seen.chunk_count >= 1);
    assert_eq!(seen.body, expected);
    assert!(
        !seen
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    );

    // A chunk extension and a trailer are accepted, the connection stays usable.
    let r = c.request(b"POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    let r = c.request(&get("/prod/mock", ""));
    assert_eq!(r.status, 201);
}

#[test]
fn chunked_upstream_response_reaches_client_intact() {
    let (_origin, gw) = setup();
    let mut c = gw.connect();
    let r = c.request(&get("/prod/files/chunked?n=6", ""));
    assert_eq!(r.status, 200);
    assert!(
        r.chunked,
        "an HTTP/1.1 client gets the chunked body chunked: {r:?}"
    );
    assert_eq!(r.header("x-origin"), Some("chunked"));
    assert!(!r.has("content-length"));
    let expected: String = (0..6).map(chunk_text).collect();
    assert_eq!(r.text(), expected);
    // the connection is still good
    let r = c.request(&get("/prod/files/chunked?n=2", ""));
    assert_eq!(r.text(), (0..2).map(chunk_text).collect::<String>());
}

#[test]
fn chunked_upstream_to_http10_client_is_not_chunked() {
    let (_origin, gw) = setup();
    let mut c = gw.connect();
    c.send(b"GET /prod/files/chunked?n=3 HTTP/1.0\r\nHost: gw.test\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 200);
    assert!(
        !r.header("transfer-encoding")
            .unwrap_or("")
            .to_ascii_lowercase()
            .contains("chunked"),
        "chunked sent to an HTTP/1.0 client: {r:?}"
    );
    // Without a Content-Length the body ends at close; read_response read to EOF.
    assert_eq!(r.text(), (0..3).map(chunk_text).collect::<String>());
}

#[test]
fn content_length_bodies_both_ways_small_and_large() {
    let (origin, gw) = setup();
    let mut c = gw.connect();
    let r = c.request(b"POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 13\r\n\r\nhello, world!");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.body, b"hello, world!");
    assert!(!origin.last().chunked);

    // 2 MiB each way.
    let big = pattern(2 * 1024 * 1024 + 7);
    let mut req = format!(
        "POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    let r = c.request(&req);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(big.len().to_string().as_str())
    );
    assert!(
        r.body == big,
        "2 MiB body came back altered (len {})",
        r.body.len()
    );
    assert!(
        origin.last().body == big,
        "2 MiB body reached the origin altered"
    );

    // 2 MiB chunked up, Content-Length down.
    c.send(b"POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n");
    for piece in big.chunks(300_000) {
        c.send(format!("{:x}\r\n", piece.len()).as_bytes());
        c.send(piece);
        c.send(b"\r\n");
    }
    c.send(b"0\r\n\r\n");
    let r = c.read_response(false);
    assert_eq!(r.status, 200);
    assert!(
        r.body == big,
        "2 MiB chunked body came back altered (len {})",
        r.body.len()
    );
}

#[test]
fn expect_100_continue() {
    let (origin, gw) = setup();
    let mut c = gw.connect();
    c.send(b"POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.read_response(false);
    assert_eq!(interim.status, 100, "{interim:?}");
    assert_eq!(interim.version, "HTTP/1.1");
    c.send(b"hello there");
    let r = c.read_response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello there");
    let seen = origin.last();
    assert!(
        !seen
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("expect")),
        "Expect was forwarded"
    );
    assert_eq!(seen.body, b"hello there");
}

// ----------------------------------------------------------------------------------------
// Connections

fn check_keep_alive(gw: &Gateway, origin: &Origin) {
    let mut c = gw.connect();
    for i in 0..4 {
        let r = c.request(&get(&format!("/prod/pets/{i}"), ""));
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["target"], format!("/backend/pets/{i}"));
        assert!(
            !r.header("connection")
                .unwrap_or("")
                .eq_ignore_ascii_case("close")
        );
        let r = c.request(&get("/prod/mock", ""));
        assert_eq!(r.status, 201);
    }
    // The upstream pool reused its connection(s): far fewer upstream connections than requests.
    assert!(
        origin.connections.load(Ordering::SeqCst) <= 2,
        "upstream connections: {}",
        origin.connections.load(Ordering::SeqCst)
    );
    assert!(
        !c.closed_within(Duration::from_millis(200)),
        "keep-alive connection closed early"
    );
}

#[test]
fn keep_alive_many_requests_on_one_connection() {
    let (origin, gw) = setup();
    check_keep_alive(&gw, &origin);
}

#[test]
fn pipelined_requests_answer_in_order() {
    let (_origin, gw) = setup();
    let mut c = gw.connect();
    let mut batch = Vec::new();
    batch.extend_from_slice(&get("/prod/pets/first", ""));
    batch.extend_from_slice(&get("/prod/mock", ""));
    batch.extend_from_slice(
        b"POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nthird",
    );
    c.send(&batch);
    let r1 = c.read_response(false);
    let r2 = c.read_response(false);
    let r3 = c.read_response(false);
    assert_eq!(r1.status, 200);
    assert_eq!(r1.json()["target"], "/backend/pets/first");
    assert_eq!((r2.status, r2.text().as_str()), (201, "mock body"));
    assert_eq!((r3.status, r3.body.as_slice()), (200, b"third".as_slice()));
    // All three pipelined mock requests too, in one write.
    let batch = [
        get("/prod/mock", ""),
        get("/prod/nope", ""),
        get("/prod/mock", ""),
    ]
    .concat();
    c.send(&batch);
    assert_eq!(c.read_response(false).status, 201);
    c.read_response(false).assert_missing_token();
    assert_eq!(c.read_response(false).status, 201);
}

#[test]
fn http10_without_keep_alive_closes() {
    let (_origin, gw) = setup();
    for path in ["/prod/mock", "/prod/pets/5"] {
        let mut c = gw.connect();
        c.send(format!("GET {path} HTTP/1.0\r\nHost: gw.test\r\n\r\n").as_bytes());
        let r = c.read_response(false);
        assert!(r.status == 201 || r.status == 200, "{r:?}");
        assert!(
            c.closed_within(SOON),
            "HTTP/1.0 connection left open after {path}"
        );
    }
    // HTTP/1.1 with Connection: close also closes.
    let mut c = gw.connect();
    let r = c.request(&get("/prod/mock", "Connection: close\r\n"));
    assert_eq!(r.status, 201);
    assert!(c.closed_within(SOON));
}

// ----------------------------------------------------------------------------------------
// Unknown routes

#[test]
fn unknown_stage_path_method_host_are_missing_authentication_token() {
    let (origin, gw) = setup();
    let cases: Vec<Vec<u8>> = vec![
        get("/nostage/mock", ""),
        get("/prod/nope", ""),
        get("/prod", ""),
        get("/", ""),
        get("/prod/pets", ""),
        b"PATCH /prod/mock HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 0\r\n\r\n".to_vec(),
        b"DELETE /prod/mock HTTP/1.1\r\nHost: gw.test\r\n\r\n".to_vec(),
        b"GET /prod/hostonly HTTP/1.1\r\nHost: other.example\r\n\r\n".to_vec(),
        // decision 11: whatever Authorization holds
        get("/prod/nope", "Authorization: Bearer x\r\n"),
        get("/nostage/mock", "Authorization: Bearer x\r\n"),
        b"DELETE /prod/mock HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer x\r\n\r\n".to_vec(),
    ];
    let mut c = gw.connect();
    for req in &cases {
        let r = c.request(req);
        r.assert_missing_token();
    }
    // HEAD to an unknown route: the 403 head without its body, the connection still in step.
    let r = c.request(b"HEAD /prod/nope HTTP/1.1\r\nHost: gw.test\r\n\r\n");
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("MissingAuthenticationTokenException")
    );
    assert_eq!(c.request(&get("/prod/mock", "")).status, 201);
    assert_eq!(origin.count(), 0);
    // The host-specific API serves its own Host (with a port too), case-insensitively.
    let r = c.request(b"GET /prod/hostonly HTTP/1.1\r\nHost: ONLY.example:8080\r\n\r\n");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json(), json!({"host": "only"}));
    // ...and the host-specific API does not see the '*' API's routes.
    let r = c.request(b"GET /prod/mock HTTP/1.1\r\nHost: only.example\r\n\r\n");
    r.assert_missing_token();
}

// ----------------------------------------------------------------------------------------
// Limits and timeouts

const SMALL_LIMITS: &str = "    max_header_bytes: 2048
    max_body_bytes: 1000
    header_timeout_ms: 1000
    idle_timeout_ms: 1500
    drain_timeout_ms: 5000";

#[test]
fn size_limits() {
    let (origin, gw, _) = setup_with(SMALL_LIMITS, &[]);
    // head over max_header_bytes -> 431
    let mut c = gw.connect();
    let r = c.request(&get(
        "/prod/mock",
        &format!("X-Big: {}\r\n", "a".repeat(3000)),
    ));
    assert_gateway_error(&r, 431);
    assert!(c.closed_within(SOON), "connection open after 431");

    // many small headers over the limit -> 431 too
    let mut c = gw.connect();
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let r = c.request(&get("/prod/mock", &many));
    assert_gateway_error(&r, 431);

    // a long request target -> 414
    let mut c = gw.connect();
    let r = c.request(&get(&format!("/prod/{}", "p".repeat(3000)), ""));
    assert_gateway_error(&r, 414);
    assert!(c.closed_within(SOON));

    // Content-Length over max_body_bytes -> 413 (mock and proxy routes), nothing upstream
    for path in ["/prod/mock", "/prod/files/raw"] {
        let mut c = gw.connect();
        c.send(
            format!("POST {path} HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 1001\r\n\r\n")
                .as_bytes(),
        );
        let r = c.read_response(false);
        assert_gateway_error(&r, 413);
        assert!(c.closed_within(SOON));
    }
    assert_eq!(origin.count(), 0);
    // exactly at the limit is fine
    let mut c = gw.connect();
    let mut req =
        b"POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 1000\r\n\r\n".to_vec();
    req.extend_from_slice(&pattern(1000));
    let r = c.request(&req);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pattern(1000));

    // chunked body over max_body_bytes on a proxy route -> 413, connection closed
    let mut c = gw.connect();
    c.send(b"POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..3 {
        // 3 x 400 bytes = 1200 > 1000; the gateway may answer before all are sent
        let mut chunk = b"190\r\n".to_vec();
        chunk.extend_from_slice(&[b'z'; 400]);
        chunk.extend_from_slice(b"\r\n");
        if c.stream.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = c.stream.write_all(b"0\r\n\r\n");
    let r = c.read_response(false);
    assert_gateway_error(&r, 413);
    assert!(c.closed_within(SOON));
    // the origin never got a complete over-limit body
    assert!(
        origin
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.body.len() <= 1000)
    );
}

#[test]
fn header_timeout_closes_a_slowloris() {
    let (_o, gw, _) = setup_with(SMALL_LIMITS, &[]);
    // a partial head, then silence
    let mut c = gw.connect();
    let t = Instant::now();
    c.send(b"GET /prod/mock HTTP/1.1\r\nHost: gw.test\r\nX-Slow: ");
    let out = c.read_to_end();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(800),
        "closed too early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(6),
        "slowloris held the connection for {took:?}"
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 408 "),
        "expected a 408 before the close, got {text:?}"
    );
    assert!(text.contains("x-amzn-ErrorType: "), "{text:?}");

    // trickling one byte at a time does not extend the deadline: the whole head must
    // arrive within header_timeout.
    let mut c = gw.connect();
    let t = Instant::now();
    let head = b"GET /prod/mock HTTP/1.1\r\nHost: gw.test\r\nX-Trickle: abcdefghijklmnopqrstuvwxyz0123456789\r\n\r\n";
    let mut closed_at = None;
    let mut answer = Vec::new();
    for b in head.iter().take(head.len() - 2) {
        if c.stream.write_all(&[*b]).is_err() {
            closed_at = Some(t.elapsed());
            break;
        }
        if let Some(bytes) = c.wait_close(Duration::from_millis(100)) {
            closed_at = Some(t.elapsed());
            answer = bytes;
            break;
        }
    }
    let closed_at = closed_at.unwrap_or_else(|| {
        answer = c
            .wait_close(SOON)
            .expect("trickled connection never closed");
        t.elapsed()
    });
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 408 "),
        "expected a 408 before the close, got {text:?}"
    );
    assert!(
        closed_at >= Duration::from_millis(800),
        "trickle closed too early: {closed_at:?}"
    );
    assert!(
        closed_at < Duration::from_secs(5),
        "trickled head kept the connection {closed_at:?}"
    );
}

#[test]
fn idle_timeout_closes_keep_alive_connection() {
    let (_o, gw, _) = setup_with(SMALL_LIMITS, &[]);
    let mut c = gw.connect();
    assert_eq!(c.request(&get("/prod/mock", "")).status, 201);
    let t = Instant::now();
    assert!(
        c.closed_within(SOON),
        "idle keep-alive connection never closed"
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1200),
        "closed before idle_timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(6), "idle close took {took:?}");
    // a connection that never sends anything is closed too
    let mut c = gw.connect();
    assert!(c.closed_within(SOON));
}

#[test]
fn malformed_requests_get_400_and_close() {
    let (origin, gw) = setup();
    let cases: [(&str, &[u8]); 6] = [
        ("CL+TE", b"POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        ("bad chunk size", b"POST /prod/files/raw HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
        ("obs-fold", b"GET /prod/mock HTTP/1.1\r\nHost: gw.test\r\nX-Folded: a\r\n  b\r\n\r\n"),
        ("bare LF", b"GET /prod/mock HTTP/1.1\nHost: gw.test\n\n"),
        ("two Content-Lengths", b"POST /prod/mock HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        ("space before colon", b"GET /prod/mock HTTP/1.1\r\nHost : gw.test\r\n\r\n"),
    ];
    for (name, req) in cases {
        let mut c = gw.connect();
        c.send(req);
        let r = c.read_response(false);
        assert_eq!(r.status, 400, "{name}: {r:?}");
        assert!(r.has("x-amzn-RequestId"), "{name}");
        assert!(
            c.closed_within(SOON),
            "{name}: connection left open after 400"
        );
    }
    assert!(
        origin
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.body.is_empty() || s.body != b"hello")
    );
}

// ----------------------------------------------------------------------------------------
// Upstream failures

#[test]
fn upstream_refused_reset_garbage_502_and_slow_504() {
    let (_origin, gw) = setup();
    for path in [
        "/prod/refused",
        "/prod/files/close",
        "/prod/files/garbage",
        "/beta/files/x",
    ] {
        let t = Instant::now();
        let mut c = gw.connect();
        let r = c.request(&get(path, ""));
        assert_gateway_error(&r, 502);
        assert_eq!(
            r.json(),
            json!({"message": "Internal server error"}),
            "{path}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "{path}: 502 took {:?}",
            t.elapsed()
        );
        // the client connection either says close and closes, or carries the next request
        if r.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            assert!(
                c.closed_within(SOON),
                "{path}: connection: close but left open"
            );
        } else {
            assert_eq!(c.request(&get("/prod/mock", "")).status, 201, "{path}");
        }
    }
    // An upstream that resets the connection (body left unread) -> 502 in bounded time.
    let mut c = gw.connect();
    let t = Instant::now();
    let mut req =
        b"POST /prod/files/reset HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 20000\r\n\r\n"
            .to_vec();
    req.extend_from_slice(&pattern(20000));
    let r = c.request(&req);
    assert_gateway_error(&r, 502);
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "reset: 502 took {:?}",
        t.elapsed()
    );
    // A refused upstream leaves a pipelined follower intact (with and without a body).
    let mut c = gw.connect();
    c.send(&[get("/prod/refused", ""), get("/prod/mock", "")].concat());
    assert_gateway_error(&c.read_response(false), 502);
    assert_eq!(
        c.read_response(false).status,
        201,
        "the request after a 502 was mangled"
    );
    let mut c = gw.connect();
    c.send(
        &[
            b"POST /beta/files/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nhello"
                .to_vec(),
            get("/prod/mock", ""),
        ]
        .concat(),
    );
    assert_gateway_error(&c.read_response(false), 502);
    assert_eq!(
        c.read_response(false).status,
        201,
        "the request after a 502 with a body was mangled"
    );
    // slower than the route's timeout_ms (300) -> 504 in bounded time
    let mut c = gw.connect();
    let t = Instant::now();
    let r = c.request(&get("/prod/timeout/slow?ms=4000", ""));
    let took = t.elapsed();
    assert_gateway_error(&r, 504);
    assert_eq!(r.json(), json!({"message": "Endpoint request timed out"}));
    assert!(
        took >= Duration::from_millis(250),
        "504 before the timeout: {took:?}"
    );
    assert!(took < Duration::from_millis(3500), "504 took {took:?}");
    if r.header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    {
        assert!(
            c.closed_within(SOON),
            "504 said connection: close but left it open"
        );
        c = gw.connect();
    }
    // within the timeout the same route answers
    let r = c.request(&get("/prod/timeout/fast", ""));
    assert_eq!(r.status, 200);
}

// ----------------------------------------------------------------------------------------
// Shutdown

#[test]
fn sigterm_drains_in_flight_then_exits_zero() {
    let (origin, mut gw) = setup();
    let addr = gw.addr;
    let inflight = thread::spawn(move || {
        let mut c = Client::connect(addr);
        let r = c.request(&get("/prod/files/slow?ms=1500", ""));
        let closed = c.closed_within(SOON);
        (r, closed)
    });
    assert!(
        eventually(SOON, || origin.started.load(Ordering::SeqCst) >= 1),
        "the slow request never reached the origin"
    );
    gw.sigterm();
    // new connections are refused once the listener is closed
    let refused = eventually(SOON, || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()
    });
    assert!(refused, "the listener still accepts after SIGTERM");
    let (r, closed) = inflight.join().unwrap();
    assert_eq!(r.status, 200, "the in-flight request was cut: {r:?}");
    assert_eq!(r.json()["target"], "/slow?ms=1500");
    assert_eq!(
        r.header("connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("close")
    );
    assert!(closed);
    let st = gw
        .wait_exit(SOON)
        .expect("tollgate did not exit after SIGTERM");
    assert_eq!(
        st.code(),
        Some(0),
        "exit status {st:?}; stderr:\n{}",
        gw.stderr_text()
    );
}

// ----------------------------------------------------------------------------------------
// io drivers

fn log_line(s: &str) {
    // Not captured by the test harness: the run's output says which drivers ran.
    let _ = writeln!(std::io::stderr(), "{s}");
}

#[test]
fn both_io_drivers_serve_the_core_subset() {
    for driver in ["epoll", "io_uring"] {
        let origin = Origin::start();
        let cfg = std_config(origin.addr, closed_port(), STD_LIMITS);
        let cfg_file = TempFile::new("driver.yaml", &cfg);
        if driver == "io_uring" {
            // Is io_uring usable here? Try it; if the binary refuses it, say so and stop.
            let mut probe = std::process::Command::new(bin())
                .args(["serve", "--io-driver", "io_uring", "--config"])
                .arg(&cfg_file.0)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let exited = eventually(Duration::from_secs(2), || {
                probe.try_wait().unwrap().is_some()
            });
            if exited {
                let out = probe.wait_with_output().unwrap();
                log_line(&format!(
                    "e2e_foundation: io_uring UNAVAILABLE here, only epoll was tested: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                assert!(
                    std::env::var_os("TOLLGATE_REQUIRE_IO_URING").is_none(),
                    "io_uring required but unavailable"
                );
                continue;
            }
            let _ = probe.kill();
            let _ = probe.wait();
        }
        let gw = Gateway::start(&cfg, &["--io-driver", driver, "--workers", "2"]);
        assert_eq!(
            gw.io, driver,
            "asked for {driver}, the gateway says io: {}",
            gw.io
        );
        check_mock(&gw);
        check_proxy(&gw, &origin);
        check_keep_alive(&gw, &origin);
        log_line(&format!(
            "e2e_foundation: io driver {driver}: mock, proxy, keep-alive ok"
        ));
    }
}

// ----------------------------------------------------------------------------------------
// Admin API

fn admin(gw: &Gateway, method: &str, path: &str, body: &str) -> Response {
    let mut c = Client::connect(gw.admin);
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: admin\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    c.request(req.as_bytes())
}

#[test]
fn admin_api_health_metrics_config_put() {
    let origin = Origin::start();
    let refused = closed_port();
    let cfg = std_config(origin.addr, refused, STD_LIMITS);
    let gw = Gateway::start(&cfg, &[]);

    let r = admin(&gw, "GET", "/healthz", "");
    assert_eq!((r.status, r.text().trim()), (200, "ok"));

    let mut c = gw.connect();
    for _ in 0..3 {
        assert_eq!(c.request(&get("/prod/mock", "")).status, 201);
    }
    // A request is counted once its answer is written, so the last one may reach the
    // metrics just after its client has read the answer: read them until all three are in.
    let mut line = String::new();
    let counted = eventually(Duration::from_secs(5), || {
        let r = admin(&gw, "GET", "/metrics", "");
        assert_eq!(r.status, 200);
        let m = r.text();
        line = m
            .lines()
            .find(|l| {
                l.starts_with("tollgate_requests_total{")
                    && l.contains("/mock")
                    && l.contains("status=\"201\"")
            })
            .unwrap_or_else(|| panic!("no tollgate_requests_total line for /mock:\n{m}"))
            .to_owned();
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() >= 3.0
    });
    assert!(line.contains("route=\""), "{line}");
    assert!(
        line.contains("api=\"e2e\"") || line.contains("api=\"e2eapi0001\""),
        "{line}"
    );
    assert!(counted, "{line}");

    let r = admin(&gw, "GET", "/config", "");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["version"], 1);
    let sha = v["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    assert!(sha.bytes().all(|b| b.is_ascii_hexdigit()));
    let loaded = v["loaded_at"].as_str().unwrap();
    assert!(
        loaded.len() >= 20 && loaded.as_bytes()[4] == b'-' && loaded.contains('T'),
        "{loaded}"
    );

    // PUT a valid config with one more route.
    let new_route = r#"      - path: /newroute
        methods: [GET]
        authorization: NONE
        integration:
          type: mock
          status: 202
          body: '{"new":true}'
"#;
    let cfg2 = format!("{cfg}{new_route}");
    let r = admin(&gw, "PUT", "/config", &cfg2);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"version": 2}));
    let served = eventually(SOON, || {
        gw.connect().request(&get("/prod/newroute", "")).status == 202
    });
    assert!(served, "the new route does not serve after PUT /config");
    let v = admin(&gw, "GET", "/config", "").json();
    assert_eq!(v["version"], 2);
    assert_ne!(v["sha256"].as_str().unwrap(), sha);

    // PUT an invalid one: 400 naming every error with its path; nothing changes.
    let bad = cfg2
        .replace("account_id: \"123456789012\"", "account_id: \"12345\"")
        .replace("path: /newroute\n        methods: [GET]\n        authorization: NONE", "path: /newroute\n        methods: [GET]\n        authorization: CUSTOM\n        authorizer: nosuch")
        .replace("uri: \"http://127.0.0.1:", "uri: \"ftp://127.0.0.1:");
    assert_ne!(bad, cfg2);
    let r = admin(&gw, "PUT", "/config", &bad);
    assert_eq!(r.status, 400, "{}", r.text());
    let errs: Vec<String> = r.json()["errors"]
        .as_array()
        .expect("errors array")
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    assert!(errs.len() >= 3, "{errs:?}");
    assert!(
        errs.iter().any(|e| e.starts_with("gateway.account_id")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("apis[1].routes[") && e.contains("authorizer")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("apis[1].routes[4].integration.uri")),
        "{errs:?}"
    );
    let v = admin(&gw, "GET", "/config", "").json();
    assert_eq!(v["version"], 2);
    let mut c = gw.connect();
    assert_eq!(c.request(&get("/prod/newroute", "")).status, 202);
    assert_eq!(c.request(&get("/prod/refused", "")).status, 502);
}

// ----------------------------------------------------------------------------------------
// validate / serve with a broken config

const BROKEN: &str = r#"gateway:
  region: us-east-1
  account_id: "12345"
  listeners:
    - bind: "127.0.0.1:PORT"
  admin:
    bind: "127.0.0.2:0"
apis:
  - id: brokenapi1
    stages:
      prod:
        variables: { backend: "127.0.0.1:1" }
    routes:
      - path: /a
        methods: [GET]
        authorization: COGNITO_USER_POOLS
        authorizer: userz
        integration: { type: mock }
      - path: "/b/{id}"
        methods: [GET]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://${stageVariables.nope}/b/{id}"
"#;

#[test]
fn validate_and_serve_reject_a_broken_config() {
    let port = closed_port();
    let f = TempFile::new("broken.yaml", &BROKEN.replace("PORT", &port.to_string()));
    let path = f.0.to_str().unwrap();
    let out = run(&["validate", "--config", path]);
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = [
        "gateway.account_id:",
        "apis[0].routes[0].authorizer: unknown authorizer \"userz\"",
        "apis[0].routes[1].integration.uri:",
    ];
    for e in expected {
        assert!(
            text.lines().any(|l| l.starts_with(e)),
            "validate output lacks {e:?}:\n{text}"
        );
    }
    assert!(text.contains("nope"), "{text}");

    let t = Instant::now();
    let out = run(&["serve", "--config", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(t.elapsed() < SOON);
    let err = String::from_utf8_lossy(&out.stderr);
    for e in expected {
        assert!(
            err.lines().any(|l| l.starts_with(e)),
            "serve output lacks {e:?}:\n{err}"
        );
    }
    assert!(!err.contains("listening on"), "{err}");
    // nothing was bound: the port is still free
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());

    // and a valid file validates
    let ok = TempFile::new(
        "ok.yaml",
        &std_config("127.0.0.1:1".parse().unwrap(), 2, STD_LIMITS),
    );
    let out = run(&["validate", "--config", ok.0.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// ----------------------------------------------------------------------------------------
// Upstream keep-alive edge cases

#[test]
fn pooled_connection_closed_by_upstream_is_not_a_502() {
    let (origin, gw) = setup();
    let mut c = gw.connect();
    for (i, body) in ["first", "second", "third"].iter().enumerate() {
        // The origin answers, then closes its side (its keep-alive timer fired); the
        // gateway pooled that connection. The next request, with or without a body,
        // must not fail because of it.
        let req = format!(
            "POST /prod/files/oneshot HTTP/1.1\r\nHost: gw.test\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let r = c.request(req.as_bytes());
        assert_eq!(r.status, 200, "request {i}: {r:?}");
        assert_eq!(r.body, body.as_bytes());
        assert!(eventually(SOON, || origin.count() > i));
        thread::sleep(Duration::from_millis(50)); // let the FIN reach the gateway
        let r = c.request(&get("/prod/files/oneshot", ""));
        assert_eq!(
            r.status, 200,
            "GET after a closed pooled connection, round {i}: {r:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn head_through_the_proxy_has_no_body() {
    let (origin, gw) = setup();
    let mut c = gw.connect();
    let r = c.request(b"HEAD /prod/files/thing HTTP/1.1\r\nHost: gw.test\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(origin.last().method, "HEAD");
    let cl: usize = r
        .header("content-length")
        .expect("content-length of the HEAD answer")
        .parse()
        .unwrap();
    assert!(cl > 0);
    // nothing follows the head: the next response parses cleanly
    let r = c.request(&get("/prod/mock", ""));
    assert_eq!(r.status, 201);
    assert!(c.buf.is_empty());
}

#[test]
fn connections_over_the_per_worker_bound_are_closed_at_once() {
    let limits = format!("{STD_LIMITS}\n    max_connections: 3");
    let (_origin, gw, _) = setup_with(&limits, &["--workers", "1"]);
    let mut held: Vec<Client> = (0..3)
        .map(|_| {
            let mut c = gw.connect();
            let r = c.request(b"GET /prod/mock HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(r.status, 201, "the standard mock answers 201");
            c
        })
        .collect();
    // The fourth is accepted and closed without an answer.
    let mut extra = gw.connect();
    extra.send(b"GET /prod/mock HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(extra.wait_close(SOON).unwrap_or_default(), Vec::<u8>::new());
    // Once one closes, a new connection is served again.
    drop(held.pop());
    assert!(eventually(SOON, || {
        let mut c = gw.connect();
        c.send(b"GET /prod/mock HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        c.wait_close(SOON)
            .is_some_and(|b| b.starts_with(b"HTTP/1.1 201"))
    }));
    let mut admin = Client::connect(gw.admin);
    let m = admin
        .request(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        .text();
    assert!(!m.contains("tollgate_connections_refused_total 0\n"), "{m}");
}
