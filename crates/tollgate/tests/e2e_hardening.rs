//! Hostile input, faults and resource bounds, end to end with the real binary:
//!
//! - request smuggling (CL.TE, TE.CL, TE.TE obfuscations, duplicate and signed lengths, bad
//!   chunk sizes, NUL/CR/LF, HTTP/0.9, versions): refused before any byte reaches the
//!   upstream, connection closed, a smuggled follower never answered;
//! - accepted variants forwarded byte for byte (an origin that records raw bytes);
//! - path normalisation: dot-segments, `//`, encoded separators and encoded unreserved bytes,
//!   path parameters (`;`), encoded delimiters and controls, double encoding, invalid UTF-8,
//!   edge whitespace, trailing dots, invisible and look-alike characters refused with 400
//!   before routing, so a resource policy on `/prod/GET/admin/*` cannot be bypassed; the
//!   router, the method ARN and the upstream see the same path;
//! - upstream faults (down, slow, hanging, resetting, garbage) answered in bounded time with
//!   502/504, automatic recovery when the upstream comes back, no worker stall;
//! - bounds: idle keep-alive connections (KiB per connection from VmRSS) and a slowloris
//!   crowd that does not slow other clients.
//!
//! Run: `cargo test -p tollgate --test e2e_hardening`. `TOLLGATE_IDLE_CONNS=10000` (see
//! `scripts/idle-connections.sh`) runs the idle-connection measurement at a larger size.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod hardening_support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use hardening_support::*;

const LIMITS: &str = "    max_header_bytes: 4096
    max_body_bytes: 65536
    header_timeout_ms: 1500
    idle_timeout_ms: 120000
    drain_timeout_ms: 2000";

/// One API: a resource policy that denies `GET /admin` and everything under it, a mock,
/// a greedy proxy route to the raw origin (`prod`), to the JSON echo origin (`echo`), to a
/// port that may or may not be listening (`flaky`); `/t/...` has an 800 ms timeout.
fn config(raw: SocketAddr, echo: SocketAddr, flaky: u16, workers: usize) -> String {
    format!(
        r#"gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: {workers}
  listeners:
    - bind: "127.0.0.1:0"
  admin:
    bind: "{ADMIN_BIND}"
  access_log: off
  limits:
{LIMITS}
apis:
  - id: hostonly01
    name: hostonly
    hosts: ["only.example"]
    stages:
      prod:
        variables: {{}}
    routes:
      - path: /hostonly
        methods: [GET]
        authorization: NONE
        integration: {{ type: mock, status: 200, body: '{{"api":"hostonly"}}' }}
  - id: hardapi001
    name: hard
    hosts: ["*"]
    stages:
      prod:
        variables: {{ backend: "{raw}" }}
      echo:
        variables: {{ backend: "{echo}" }}
      flaky:
        variables: {{ backend: "127.0.0.1:{flaky}" }}
    resource_policy:
      Version: "2012-10-17"
      Statement:
        - {{ Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*" }}
        - Effect: Deny
          Principal: "*"
          Action: "execute-api:Invoke"
          Resource: ["execute-api:/*/GET/admin", "execute-api:/*/GET/admin/*"]
    routes:
      - path: /mock
        methods: [GET, POST]
        authorization: NONE
        integration: {{ type: mock, status: 200, body: '{{"api":"hard"}}' }}
      - path: "/t/{{proxy+}}"
        methods: [ANY]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/{{proxy}}"
          timeout_ms: 800
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

struct Setup {
    raw: RawOrigin,
    echo: Origin,
    flaky: u16,
    gw: Gateway,
}

fn setup(workers: usize) -> Setup {
    setup_args(workers, &[])
}

fn setup_args(workers: usize, args: &[&str]) -> Setup {
    let raw = RawOrigin::start();
    let echo = Origin::start();
    let flaky = closed_port();
    let gw = Gateway::start(&config(raw.addr, echo.addr, flaky, workers), args);
    Setup {
        raw,
        echo,
        flaky,
        gw,
    }
}

fn assert_error(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {r:?}");
    assert!(r.has("x-amzn-RequestId"), "{what}: {r:?}");
    assert!(r.has("x-amzn-ErrorType"), "{what}: {r:?}");
}

/// A request the gateway must refuse with `status` (and close): nothing reaches the
/// upstream, and the request smuggled after it is never answered.
fn assert_refused(s: &Setup, name: &str, req: &[u8], status: u16) {
    let before = s.raw.count();
    let mut c = s.gw.connect();
    let mut bytes = req.to_vec();
    bytes.extend_from_slice(b"GET /prod/smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n");
    c.send(&bytes);
    let r = c.read_response(false);
    assert_error(&r, status, name);
    assert_eq!(
        r.header("connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("close"),
        "{name}: {r:?}"
    );
    let rest = c
        .wait_close(SOON)
        .unwrap_or_else(|| panic!("{name}: connection left open after {status}"));
    assert!(
        rest.is_empty() && c.buf.is_empty(),
        "{name}: bytes after the error: {:?}",
        String::from_utf8_lossy(&rest)
    );
    // A complete request never reached the origin (a refused chunked body may have started).
    thread::sleep(Duration::from_millis(30));
    let after = s.raw.seen.lock().unwrap()[before..].to_vec();
    assert!(after.is_empty(), "{name}: the origin received {after:?}");
}

// ----------------------------------------------------------------------------------------
// Smuggling and parser robustness

#[test]
fn smuggling_framing_variants_are_refused_before_the_upstream() {
    let s = setup(1);
    let post = |headers: &str, body: &str| {
        format!("POST /prod/public/x HTTP/1.1\r\nHost: gw.test\r\n{headers}\r\n{body}").into_bytes()
    };
    let chunked_body = "5\r\nhello\r\n0\r\n\r\n";
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        // CL.TE / TE.CL
        ("CL.TE", post("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nG"), 400),
        ("TE.CL", post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n"), 400),
        ("TE.CL, CL zero", post("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", chunked_body), 400),
        // TE.TE obfuscations
        ("TE chunked, cow", post("Transfer-Encoding: chunked, cow\r\n", chunked_body), 400),
        ("TE xchunked", post("Transfer-Encoding: xchunked\r\n", chunked_body), 400),
        ("TE chunkedx", post("Transfer-Encoding: chunkedx\r\n", chunked_body), 400),
        ("TE quoted", post("Transfer-Encoding: \"chunked\"\r\n", chunked_body), 400),
        ("TE parameter", post("Transfer-Encoding: chunked;q=1\r\n", chunked_body), 400),
        ("TE identity", post("Transfer-Encoding: identity\r\n", chunked_body), 400),
        ("TE empty", post("Transfer-Encoding: \r\n", chunked_body), 400),
        ("TE chunked twice", post("Transfer-Encoding: chunked, chunked\r\n", chunked_body), 400),
        ("TE two lines, cow last", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\n", chunked_body), 400),
        ("TE two chunked lines", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunked_body), 400),
        ("TE gzip, chunked", post("Transfer-Encoding: gzip, chunked\r\n", chunked_body), 501),
        ("TE space before colon", post("Transfer-Encoding : chunked\r\n", chunked_body), 400),
        ("TE obs-fold", post("Transfer-Encoding:\r\n chunked\r\n", chunked_body), 400),
        ("TE vertical tab", post("Transfer-Encoding:\x0bchunked\r\n", chunked_body), 400),
        ("TE NUL", post("Transfer-Encoding: chunked\0\r\n", chunked_body), 400),
        ("TE underscore", post("Transfer_Encoding: chunked\r\n", chunked_body), 400),
        ("CL underscore", post("Content_Length: 5\r\n", "hello"), 400),
        ("TE on HTTP/1.0", b"POST /prod/public/x HTTP/1.0\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec(), 400),
        // Content-Length
        ("two equal CL", post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"), 400),
        ("CL list", post("Content-Length: 5, 5\r\n", "hello"), 400),
        ("CL plus sign", post("Content-Length: +5\r\n", "hello"), 400),
        ("CL negative", post("Content-Length: -1\r\n", "hello"), 400),
        ("CL hex", post("Content-Length: 0x5\r\n", "hello"), 400),
        ("CL inner space", post("Content-Length: 5 5\r\n", "hello"), 400),
        ("CL overflow", post("Content-Length: 99999999999999999999999\r\n", "hello"), 400),
        ("CL empty", post("Content-Length: \r\n", "hello"), 400),
        // chunk sizes
        ("chunk size 0x prefix", post("Transfer-Encoding: chunked\r\n", "0x5\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size plus", post("Transfer-Encoding: chunked\r\n", "+5\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size minus", post("Transfer-Encoding: chunked\r\n", "-5\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size leading space", post("Transfer-Encoding: chunked\r\n", " 5\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size trailing space", post("Transfer-Encoding: chunked\r\n", "5 \r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size 17 digits", post("Transfer-Encoding: chunked\r\n", "00000000000000005\r\nhello\r\n0\r\n\r\n"), 400),
        ("chunk size bare LF", post("Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n"), 400),
        ("chunk data without CRLF", post("Transfer-Encoding: chunked\r\n", "5\r\nhelloX\r\n0\r\n\r\n"), 400),
        ("chunk extension with space", post("Transfer-Encoding: chunked\r\n", "5 ;a=b\r\nhello\r\n0\r\n\r\n"), 400),
        ("trailer obs-fold", post("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n"), 400),
        // NUL / CR / LF / controls
        ("NUL in value", post("X-A: a\0b\r\nContent-Length: 0\r\n", ""), 400),
        ("CR in value", post("X-A: a\rb\r\nContent-Length: 0\r\n", ""), 400),
        ("bare LF in value", post("X-A: a\nb\r\nContent-Length: 0\r\n", ""), 400),
        ("DEL in value", post("X-A: a\x7fb\r\nContent-Length: 0\r\n", ""), 400),
        ("NUL in name", post("X\0A: b\r\nContent-Length: 0\r\n", ""), 400),
        ("CR in name", post("X\rA: b\r\nContent-Length: 0\r\n", ""), 400),
        ("NUL in target", b"GET /prod/pub\0lic HTTP/1.1\r\nHost: gw.test\r\n\r\n".to_vec(), 400),
        ("space in target", b"GET /prod/pub lic HTTP/1.1\r\nHost: gw.test\r\n\r\n".to_vec(), 400),
        ("CR in target", b"GET /prod/pub\rlic HTTP/1.1\r\nHost: gw.test\r\n\r\n".to_vec(), 400),
        ("non-ASCII in target", b"GET /prod/caf\xc3\xa9 HTTP/1.1\r\nHost: gw.test\r\n\r\n".to_vec(), 400),
        // versions and request lines
        ("HTTP/0.9", b"GET /prod/public/x\r\n\r\n".to_vec(), 400),
        ("HTTP/2.0 line", b"GET /prod/public/x HTTP/2.0\r\nHost: gw.test\r\n\r\n".to_vec(), 505),
        ("HTTP/1.2", b"GET /prod/public/x HTTP/1.2\r\nHost: gw.test\r\n\r\n".to_vec(), 505),
        ("lower-case version", b"GET /prod/public/x http/1.1\r\nHost: gw.test\r\n\r\n".to_vec(), 400),
        ("two spaces", b"GET  /prod/public/x HTTP/1.1\r\nHost: gw.test\r\n\r\n".to_vec(), 400),
        // Host
        ("no Host on 1.1", b"GET /prod/public/x HTTP/1.1\r\n\r\n".to_vec(), 400),
        ("two Hosts", b"GET /prod/public/x HTTP/1.1\r\nHost: gw.test\r\nHost: only.example\r\n\r\n".to_vec(), 400),
        ("Host with userinfo", b"GET /prod/public/x HTTP/1.1\r\nHost: a@gw.test\r\n\r\n".to_vec(), 400),
        ("Host with path", b"GET /prod/public/x HTTP/1.1\r\nHost: gw.test/x\r\n\r\n".to_vec(), 400),
        ("absolute-form userinfo", b"GET http://u@gw.test/prod/public/x HTTP/1.1\r\nHost: gw.test\r\n\r\n".to_vec(), 400),
        ("absolute-form other scheme", b"GET ftp://gw.test/prod/public/x HTTP/1.1\r\nHost: gw.test\r\n\r\n".to_vec(), 400),
        ("authority-form", b"GET gw.test:80 HTTP/1.1\r\nHost: gw.test\r\n\r\n".to_vec(), 400),
        ("fragment", b"GET /prod/public/x#admin HTTP/1.1\r\nHost: gw.test\r\n\r\n".to_vec(), 400),
    ];
    let n = cases.len();
    for (name, req, status) in &cases {
        assert_refused(&s, name, req, *status);
    }
    assert_eq!(n, 62, "every case ran");
    // the gateway still serves, and never forwarded the smuggled request
    let mut c = s.gw.connect();
    assert_eq!(c.request(&get("/prod/public/after", "")).status, 200);
    let seen = s.raw.seen.lock().unwrap();
    assert!(
        seen.iter().all(|r| !r.target.contains("smuggled")),
        "{seen:?}"
    );
}

/// The exact bytes tollgate sends upstream for `head` (the client's headers as they should be
/// forwarded, each `Name: value\r\n`), framing line last.
fn expected_upstream(
    s: &Setup,
    line: &str,
    headers: &str,
    xff: &str,
    framing: &str,
    body: &str,
) -> String {
    format!(
        "{line}\r\nhost: {}\r\n{headers}x-forwarded-for: {xff}\r\nx-forwarded-proto: http\r\nx-forwarded-port: {}\r\n{framing}\r\n{body}",
        s.raw.addr,
        s.gw.addr.port()
    )
}

#[test]
fn accepted_variants_are_forwarded_byte_for_byte() {
    let s = setup(1);
    let mut c = s.gw.connect();

    // Transfer-Encoding in mixed case with OWS, chunk extensions and a trailer: re-framed as
    // plain chunked, extensions and trailers dropped; the two chunks, which arrive together,
    // are coalesced into one.
    let r = c.request(
        b"POST /prod/public/chunked?q=1 HTTP/1.1\r\nHost: gw.test\r\nX-Custom:  v1 \r\nTransfer-Encoding: \tChunked \r\n\r\n5;ext=\"a b\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let got = String::from_utf8(s.raw.last().bytes).unwrap();
    let want = expected_upstream(
        &s,
        "POST /public/chunked?q=1 HTTP/1.1",
        "X-Custom: v1\r\n",
        "127.0.0.1",
        "transfer-encoding: chunked\r\n",
        "b\r\nhello world\r\n0\r\n\r\n",
    );
    assert_eq!(got, want);

    // Content-Length with leading zeros: forwarded as the number.
    let r = c.request(
        b"PUT /prod/public/len HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 005\r\n\r\nhello",
    );
    assert_eq!(r.status, 200);
    let got = String::from_utf8(s.raw.last().bytes).unwrap();
    assert_eq!(
        got,
        expected_upstream(
            &s,
            "PUT /public/len HTTP/1.1",
            "",
            "127.0.0.1",
            "content-length: 5\r\n",
            "hello"
        )
    );

    // A 16-digit chunk size is still a chunk size.
    let r = c.request(b"POST /prod/public/sixteen HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000005\r\nhello\r\n0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(
        String::from_utf8(s.raw.last().bytes)
            .unwrap()
            .ends_with("\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    );

    // Hop-by-hop headers (named ones and those listed in Connection) are dropped; the
    // client's X-Forwarded-Proto/-Port are replaced; its X-Forwarded-For is kept as the
    // left part of the list (forwarded, never believed: see the policy tests).
    let r = c.request(
        b"GET /prod/public/hop HTTP/1.1\r\nHost: gw.test\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic Zm9v\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\nAccept: */*\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let got = String::from_utf8(s.raw.last().bytes).unwrap();
    assert_eq!(
        got,
        expected_upstream(
            &s,
            "GET /public/hop HTTP/1.1",
            "Accept: */*\r\n",
            "203.0.113.7, 127.0.0.1",
            "",
            ""
        )
    );

    // Absolute form: the target's authority selects the API (RFC 9112 §3.2.2) and the upstream
    // gets origin-form with its own Host. The Host header must name the same authority
    // (case-insensitively, a default port or none alike): see e2e_security_ingress.
    let r = c.request(b"GET http://gw.test/prod/public/abs?z=9 HTTP/1.1\r\nHost: gw.test\r\n\r\n");
    assert_eq!(r.status, 200);
    let got = String::from_utf8(s.raw.last().bytes).unwrap();
    assert_eq!(
        got,
        expected_upstream(&s, "GET /public/abs?z=9 HTTP/1.1", "", "127.0.0.1", "", "")
    );
    let r = c.request(
        b"GET http://only.example/prod/hostonly HTTP/1.1\r\nHost: Only.Example:80\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"api":"hostonly"}"#);
    let r = c.request(
        b"GET HTTP://ONLY.EXAMPLE:8080/prod/hostonly HTTP/1.1\r\nHost: only.example:8080\r\n\r\n",
    );
    assert_eq!(
        r.text(),
        r#"{"api":"hostonly"}"#,
        "scheme and host case, port ignored for routing"
    );

    // HTTP/1.0 with keep-alive: the connection stays, the upstream always gets HTTP/1.1.
    let mut c = s.gw.connect();
    for i in 0..3 {
        let r = c.request(
            format!("GET /prod/public/ten{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(r.status, 200);
        assert!(
            !r.header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close")),
            "{r:?}"
        );
        let got = String::from_utf8(s.raw.last().bytes).unwrap();
        assert_eq!(
            got,
            expected_upstream(
                &s,
                &format!("GET /public/ten{i} HTTP/1.1"),
                "",
                "127.0.0.1",
                "",
                ""
            )
        );
    }
    // HTTP/1.0 without keep-alive: answered, then closed.
    let r = c.request(b"GET /prod/public/ten HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(c.closed_within(SOON));
}

// ----------------------------------------------------------------------------------------
// Paths: one normalisation for router, method ARN and upstream

#[test]
fn paths_cannot_bypass_a_resource_policy() {
    let s = setup(1);
    // The policy works on the plain forms.
    let mut c = s.gw.connect();
    let r = c.request(&get("/prod/public/x", ""));
    assert_eq!(r.status, 200);
    assert_eq!(s.raw.last().target, "/public/x");
    for p in [
        "/prod/admin",
        "/prod/admin/",
        "/prod/admin/x",
        "/prod/admin/x/y",
    ] {
        let before = s.raw.count();
        let r = c.request(&get(p, ""));
        assert_error(&r, 403, p);
        assert_eq!(
            r.header("x-amzn-ErrorType"),
            Some("AccessDeniedException"),
            "{p}"
        );
        assert_eq!(s.raw.count(), before, "{p} reached the origin");
    }
    // Another method is not denied: the ARN carries the verb.
    let r = c.request(b"POST /prod/admin/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(s.raw.last().target, "/admin/x");

    // Every form that a server might read as /admin/... is refused before routing.
    let bypasses = [
        "/prod/public/../admin/x",
        "/prod/public/./../admin/x",
        "/prod/./admin/x",
        "/prod/admin/x/..",
        "/prod/admin/.",
        "/prod/public/%2e%2e/admin/x",
        "/prod/public/%2E%2E/admin/x",
        "/prod/public/.%2e/admin/x",
        "/prod/public/%2e./admin/x",
        "/prod/%2e/admin/x",
        "/prod//admin/x",
        "/prod/admin//x",
        "//prod/admin/x",
        "/prod/public/..%2fadmin",
        "/prod/public/..%2Fadmin%2Fx",
        "/prod/public%2f..%2fadmin",
        "/prod/public/..%5cadmin",
        "/prod/public/..\\admin",
        "/prod/%61dmin/x",
        "/prod/adm%69n/x",
        "/prod/%41DMIN/x",
        "http://gw.test/prod/public/../admin/x",
        "http://gw.test/prod//admin/x",
    ];
    for p in bypasses {
        assert_refused(&s, p, &get(p, ""), 400);
    }
    assert_eq!(bypasses.len(), 23);

    // Forms another server rewrites into /admin/...: path parameters (Tomcat, Spring and
    // Jetty cut `;...` out of a segment), encoded delimiters and controls, double encoding,
    // overlong or invalid UTF-8, trimmed whitespace and trailing dots, invisible, bidi and
    // NFKC look-alike characters. Each one: 400 before routing, nothing reaches the origin.
    let rewritten = [
        "/prod/admin;x/panel",
        "/prod/admin;/panel",
        "/prod/public/..;/admin/x",
        "/prod/admin%3B/panel",
        "/prod/admin%3bjsessionid=1/panel",
        "/prod/admin%00/panel",
        "/prod/admin%09/panel",
        "/prod/admin%0d%0a/panel",
        "/prod/admin%1f/panel",
        "/prod/admin%7F/panel",
        "/prod/admin%252Fpanel",
        "/prod/public/%252e%252e/admin/x",
        "/prod/admin%2500/panel",
        "/prod/admin%C0%AFpanel",
        "/prod/admin%E0%80%AFpanel",
        "/prod/public/%C0%AE%C0%AE/admin/x",
        "/prod/admin%FF/panel",
        "/prod/admin%20/panel",
        "/prod/%20admin/panel",
        "/prod/admin%23/panel",
        "/prod/admin%3F/panel",
        "/prod/admin./panel",
        "/prod/admin../panel",
        "/prod/admin%E2%80%AE/panel",
        "/prod/admin%E2%80%8B/panel",
        "/prod/admin%E2%81%A6/panel",
        "/prod/admin%EF%BB%BF/panel",
        "/prod/admin%C2%A0/panel",
        "/prod/admin%C2%AD/panel",
        "/prod/admin%EF%BC%8Fpanel",
        "/prod/%EF%BD%81dmin/panel",
        "/prod/admin%",
        "/prod/%u0061dmin/panel",
        "http://gw.test/prod/admin;x/panel",
        "http://gw.test/prod/admin%3B/panel",
        // Raw non-ASCII (refused by the request parser).
        "/prod/admin\u{202E}/panel",
        "/prod/admin\u{A0}/panel",
    ];
    for p in rewritten {
        assert_refused(&s, p, &get(p, ""), 400);
    }
    assert_eq!(rewritten.len(), 37);

    // Forms that stay unambiguous are served as sent, and the upstream sees the same path
    // the router matched (and the method ARN carried).
    for (p, upstream) in [
        ("/prod/public/a%20b", "/public/a%20b"),
        ("/prod/public/caf%C3%A9", "/public/caf%c3%a9"), // the raw origin lowercases heads
        (
            "/prod/public/%E6%97%A5%E6%9C%AC",
            "/public/%e6%97%a5%e6%9c%ac",
        ),
        ("/prod/public/.well-known", "/public/.well-known"),
        ("/prod/public/a..b", "/public/a..b"),
        ("/prod/public/x/", "/public/x/"),
        ("/prod/public/%25", "/public/%25"),
    ] {
        let r = c.request(&get(p, ""));
        assert_eq!(r.status, 200, "{p}: {r:?}");
        assert_eq!(s.raw.last().target, upstream, "{p}");
    }
}

// ----------------------------------------------------------------------------------------
// Upstream faults

/// A gateway error with the right status within `max`, and the same connection (or a new
/// one if the gateway closed it) still serves.
fn fault(s: &Setup, path: &str, status: u16, max: Duration) {
    let mut c = s.gw.connect();
    let t = Instant::now();
    let r = c.request(&get(path, ""));
    let took = t.elapsed();
    assert_error(&r, status, path);
    assert!(took < max, "{path}: {status} took {took:?}");
    if r.header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    {
        assert!(c.closed_within(SOON), "{path}: close promised, not done");
        c = s.gw.connect();
    }
    let r = c.request(&get("/prod/public/ok", ""));
    assert_eq!(r.status, 200, "after {path}: {r:?}");
}

#[test]
fn upstream_garbage_resets_and_hangs_answer_in_bounded_time() {
    let s = setup(1);
    let max = Duration::from_secs(5);
    for p in [
        "/prod/public/g-status",
        "/prod/public/g-clte",
        "/prod/public/g-hugehead",
        "/prod/public/g-nul",
        "/prod/public/g-http09",
        "/prod/public/g-rst",
    ] {
        fault(&s, p, 502, max);
    }
    // Hanging and trickling upstreams: 504 at the route's timeout (800 ms).
    for p in ["/prod/t/g-hang", "/prod/t/g-trickle"] {
        let t = Instant::now();
        fault(&s, p, 504, Duration::from_secs(4));
        assert!(
            t.elapsed() >= Duration::from_millis(700),
            "{p}: 504 before the timeout"
        );
    }
    // A body that breaks after the head was sent (cut short, or an invalid chunk): the
    // status cannot change any more, so the client sees the message end early (a short
    // Content-Length body, or a chunked body without its last chunk) and the connection
    // close, in bounded time; the gateway keeps serving.
    for (p, tail) in [
        ("/prod/public/g-short", "0123456789"),
        ("/prod/public/g-badchunk", "transfer-encoding: chunked"),
    ] {
        let mut c = s.gw.connect();
        let t = Instant::now();
        c.send(&get(p, ""));
        let got = c
            .wait_close(SOON)
            .expect("truncated response left the client hanging");
        assert!(t.elapsed() < max);
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200 "), "{p}: {text}");
        assert!(
            !text.contains("\r\n0\r\n\r\n"),
            "{p}: a broken body must not look complete: {text}"
        );
        assert!(text.contains(tail), "{p}: {text}");
        let mut c = s.gw.connect();
        assert_eq!(c.request(&get("/prod/public/ok", "")).status, 200);
    }
}

#[test]
fn upstream_down_then_back_recovers_without_restart() {
    let s = setup(1);
    let path = "/flaky/public/x";
    // down (nothing listening): 502 quickly, every time
    for _ in 0..3 {
        fault(&s, path, 502, Duration::from_secs(3));
    }
    // up: served
    let origin = RawOrigin::start_on(s.flaky);
    let mut c = s.gw.connect();
    for _ in 0..3 {
        assert_eq!(c.request(&get(path, "")).status, 200);
    }
    assert_eq!(origin.count(), 3);
    // down again, with a pooled connection to it left in the gateway: 502, not a hang
    origin.stop();
    drop(origin);
    thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let r = c.request(&get(path, ""));
    assert_error(&r, 502, "after the upstream went down");
    assert!(t.elapsed() < Duration::from_secs(3));
    // back again: served with no action on the gateway
    let origin = RawOrigin::start_on(s.flaky);
    let ok = eventually(SOON, || {
        let mut c = s.gw.connect();
        c.request(&get(path, "")).status == 200
    });
    assert!(ok, "no recovery after the upstream came back");
    assert!(origin.count() >= 1);
}

#[test]
fn a_slow_upstream_does_not_stall_the_worker() {
    // One worker: every connection below shares its event loop.
    let s = setup(1);
    let n_slow = 16;
    let addr = s.gw.addr;
    let slow: Vec<_> = (0..n_slow)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let t = Instant::now();
                let r = c.request(&get("/echo/public/slow?ms=2000", ""));
                (r.status, t.elapsed())
            })
        })
        .collect();
    // wait until the origin holds them all
    assert!(eventually(SOON, || {
        s.echo.started.load(std::sync::atomic::Ordering::SeqCst) >= n_slow
    }));
    let mut times = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1200) {
        for p in ["/prod/mock", "/prod/public/fast", "/echo/public/fast"] {
            let mut c = s.gw.connect();
            let t = Instant::now();
            let r = c.request(&get(p, ""));
            times.push(t.elapsed());
            assert_eq!(r.status, 200, "{p}");
        }
    }
    let fast = times.len();
    times.sort();
    let q = |f: f64| times[((fast - 1) as f64 * f) as usize];
    let (median, p99, worst) = (q(0.5), q(0.99), q(1.0));
    eprintln!(
        "beside {n_slow} slow upstream requests: {fast} fast ones, median {median:?}, p99 {p99:?}, worst {worst:?}"
    );
    for h in slow {
        let (status, took) = h.join().unwrap();
        assert_eq!(status, 200);
        assert!(
            took >= Duration::from_millis(1900),
            "slow request answered early: {took:?}"
        );
    }
    assert!(fast >= 15, "only {fast} fast requests in 1.2 s");
    // A stalled worker would hold the fast requests for the slow ones' 2 s.
    assert!(median < Duration::from_millis(50), "median {median:?}");
    assert!(
        p99 < Duration::from_millis(500),
        "fast requests waited behind slow upstream requests: p99 {p99:?}"
    );
}

// ----------------------------------------------------------------------------------------
// Bounds

fn idle_conns() -> usize {
    std::env::var("TOLLGATE_IDLE_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

#[test]
fn idle_keep_alive_connections_hold_little_memory() {
    let s = setup(1);
    let pid = s.gw.child.id();
    let n = idle_conns();
    // Warm up: allocator arenas, the upstream pool, the snapshot.
    let mut warm = s.gw.connect();
    for _ in 0..20 {
        assert_eq!(warm.request(&get("/prod/mock", "")).status, 200);
        assert_eq!(warm.request(&get("/prod/public/w", "")).status, 200);
    }
    thread::sleep(Duration::from_millis(200));
    let before = rss_kib(pid);
    // N keep-alive connections, each after one request (so each has its buffers), then idle.
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = s.gw.connect();
        let r = c.request(&get("/prod/mock", ""));
        assert_eq!(r.status, 200, "connection {i}");
        conns.push(c);
    }
    // Past the gateway's 25 ms direct read of the next request: the steady idle state.
    thread::sleep(Duration::from_millis(1500));
    let after = rss_kib(pid);
    let per_conn = (after.saturating_sub(before)) as f64 / n as f64;
    eprintln!(
        "idle keep-alive connections: {n}; VmRSS before {before} KiB, after {after} KiB: {per_conn:.2} KiB per connection"
    );
    // Other clients are not slowed by the idle crowd.
    let mut c = s.gw.connect();
    let t = Instant::now();
    for _ in 0..20 {
        assert_eq!(c.request(&get("/prod/mock", "")).status, 200);
    }
    let per_req = t.elapsed() / 20;
    eprintln!("latency beside {n} idle connections: {per_req:?} per request");
    assert!(
        per_req < Duration::from_millis(100),
        "{per_req:?} per request"
    );
    // The idle ones are all still usable.
    for c in conns.iter_mut().step_by((n / 50).max(1)) {
        assert_eq!(c.request(&get("/prod/mock", "")).status, 200);
    }
    // RSS also keeps what the burst of connections used while busy (their first 25 ms);
    // docs/benchmarks.md has the numbers, debug (this test's binary) and release.
    assert!(
        per_conn < 10.0,
        "{per_conn:.2} KiB per idle connection (bound: 10 KiB in a debug build)"
    );
}

/// Idle keep-alive connections do not poll the shutdown flag: SIGTERM wakes them. Connections
/// idle past the 25 ms direct read (readiness wait only) are closed at once, well before the
/// 2 s drain timeout would end the process anyway, and the gateway exits 0.
#[test]
fn sigterm_closes_idle_keep_alive_connections_at_once() {
    let mut s = setup(1);
    let mut idle: Vec<Client> = (0..20)
        .map(|_| {
            let mut c = s.gw.connect();
            assert_eq!(c.request(&get("/prod/mock", "")).status, 200);
            c
        })
        .collect();
    thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    s.gw.sigterm();
    for c in &mut idle {
        assert!(c.closed_within(SOON), "an idle connection stayed open");
    }
    let took = t.elapsed();
    let st =
        s.gw.wait_exit(SOON)
            .expect("tollgate did not exit after SIGTERM");
    assert_eq!(st.code(), Some(0), "{}", s.gw.stderr_text());
    eprintln!("idle connections closed {took:?} after SIGTERM");
    // The accept loops see the flag within 200 ms; the drain timeout is 2 s.
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn slowloris_crowd_is_cut_at_the_header_timeout_and_others_stay_fast() {
    let s = setup(1);
    let n = 300;
    let t0 = Instant::now();
    let mut slow: Vec<TcpStream> = (0..n)
        .map(|_| {
            let mut c = TcpStream::connect(s.gw.addr).unwrap();
            c.write_all(b"GET /prod/mock HTTP/1.1\r\nHost: gw.test\r\n")
                .unwrap();
            c
        })
        .collect();
    // Trickle a byte per slow connection every 200 ms while measuring other clients.
    let mut times = Vec::new();
    let mut cut = vec![false; n];
    while t0.elapsed() < Duration::from_millis(3500) {
        for (i, c) in slow.iter_mut().enumerate() {
            if !cut[i] && c.write_all(b"X").is_err() {
                cut[i] = true;
            }
        }
        for _ in 0..4 {
            let t = Instant::now();
            let mut c = s.gw.connect();
            assert_eq!(c.request(&get("/prod/mock", "")).status, 200);
            times.push(t.elapsed());
        }
        thread::sleep(Duration::from_millis(200));
    }
    times.sort();
    let q = |f: f64| times[((times.len() - 1) as f64 * f) as usize];
    let (median, p90, worst) = (q(0.5), q(0.9), q(1.0));
    eprintln!(
        "slowloris: {n} trickling connections; {} other requests, median {median:?}, p90 {p90:?}, worst {worst:?}",
        times.len()
    );
    // A worker held by the trickling heads would hold most requests for up to the header
    // timeout (1.5 s); the bounds leave room for a loaded 2-core machine running other tests
    // (a single request starved of CPU is not a stall).
    assert!(median < Duration::from_millis(50), "median {median:?}");
    assert!(p90 < Duration::from_millis(250), "p90 {p90:?}");
    // Every trickling connection was answered 408 and closed (header timeout 1.5 s).
    let mut closed = 0;
    for c in &mut slow {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut all = Vec::new();
        match std::io::Read::read_to_end(c, &mut all) {
            // closed by the gateway, after its 408 (or with the 408 lost to our own late
            // writes, which turn the close into a reset)
            Ok(_) => {
                let text = String::from_utf8_lossy(&all);
                assert!(
                    all.is_empty() || text.starts_with("HTTP/1.1 408 "),
                    "{text}"
                );
                closed += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(e) => panic!("a trickling connection is still open: {e}"),
        }
    }
    assert_eq!(closed, n, "trickling connections not cut");
}

/// Keep-alive clients that pause about as long as the gateway's first direct read of the
/// next request waits (25 ms) before it falls back to a readiness wait: a request that lands
/// while the read is being given up must not be lost (under io_uring, a dropped in-flight
/// read discards bytes the kernel already delivered).
#[test]
fn requests_arriving_as_the_keep_alive_read_is_given_up_are_not_lost() {
    // io_uring where the kernel offers it (the default), then epoll
    let mut drivers = vec![];
    for args in [&[][..], &["--io-driver", "epoll"][..]] {
        let s = setup_args(1, args);
        drivers.push(s.gw.io.clone());
        keep_alive_pauses(&s);
    }
    assert!(drivers.contains(&"epoll".to_owned()), "{drivers:?}");
}

fn keep_alive_pauses(s: &Setup) {
    let addr = s.gw.addr;
    let n = 200;
    let handles: Vec<_> = (0..n)
        .map(|i| {
            thread::spawn(move || {
                let mut lost = 0;
                let mut c = Client::connect(addr);
                c.stream
                    .set_read_timeout(Some(Duration::from_secs(4)))
                    .unwrap();
                assert_eq!(c.request(&get("/prod/mock", "")).status, 200);
                for round in 0..3 {
                    // spread the pauses over 20..30 ms around the 25 ms boundary
                    let us = 20_000 + ((i * 7 + round * 13) % 100) * 100;
                    thread::sleep(Duration::from_micros(us as u64));
                    c.send(&get("/prod/mock", ""));
                    let mut tmp = [0u8; 4096];
                    match std::io::Read::read(&mut c.stream, &mut tmp) {
                        Ok(k) if k > 0 => {
                            // each answer is small and arrives whole on loopback
                        }
                        _ => {
                            lost += 1;
                            c = Client::connect(addr);
                            c.stream
                                .set_read_timeout(Some(Duration::from_secs(4)))
                                .unwrap();
                        }
                    }
                }
                lost
            })
        })
        .collect();
    let lost: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(
        lost,
        0,
        "{lost} of {} keep-alive requests never answered (io: {})",
        n * 3,
        s.gw.io
    );
}
