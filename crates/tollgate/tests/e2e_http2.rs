//! End-to-end: HTTP/2 through the real `tollgate` binary. h2c with prior knowledge on a
//! listener with `http2: true`, driven by independent clients (curl, nghttp, Python's `h2`);
//! every stream goes through the pipeline as its own request (route, authorizer,
//! integration, access log, metrics). Upstreams stay HTTP/1.1 (a real origin in this test).
//!
//! Tools: `apt-get install -y curl nghttp2-client python3-h2`.

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
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ADMIN_BIND, Gateway, Origin, TempFile, json_lines};
use lambda_support::Function;
use serde_json::Value;

/// The Python `h2` client: argv[1] host, argv[2] port, argv[3] a JSON list of requests
/// (`method`, `path`, `headers` [[k, v]], `body` (small; no content-length), `reset`: send RST_STREAM right after the
/// headers); prints a JSON list of answers (`status`, `headers`, `body_len`, `reset`), all
/// streams opened on ONE connection before any answer is read.
const H2_CLIENT: &str = r#"
import json, socket, sys, time
import h2.connection, h2.config, h2.events
host, port, reqs = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
s = socket.create_connection((host, port)); s.settimeout(10)
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
c.initiate_connection(); s.sendall(c.data_to_send())
ids = []
for r in reqs:
    sid = c.get_next_available_stream_id()
    hs = [(":method", r["method"]), (":path", r["path"]), (":scheme", "http"), (":authority", "%s:%d" % (host, port))]
    hs += [(k, v) for k, v in r.get("headers", [])]
    body = r.get("body", "").encode()
    c.send_headers(sid, hs, end_stream=not body)
    if body:
        c.send_data(sid, body, end_stream=True)
    if r.get("reset"):
        c.reset_stream(sid)
    ids.append(sid)
s.sendall(c.data_to_send())
out = {sid: {"status": None, "headers": {}, "body_len": 0, "reset": False} for sid in ids}
waiting = set(sid for sid, r in zip(ids, reqs) if not r.get("reset"))
deadline = time.time() + 10
while waiting and time.time() < deadline:
    data = s.recv(65536)
    if not data:
        break
    for ev in c.receive_data(data):
        if isinstance(ev, h2.events.ResponseReceived):
            hd = {k.decode(): v.decode() for k, v in ev.headers}
            out[ev.stream_id]["status"] = int(hd[":status"])
            out[ev.stream_id]["headers"] = hd
        elif isinstance(ev, h2.events.DataReceived):
            out[ev.stream_id]["body_len"] += len(ev.data)
            out[ev.stream_id]["body"] = out[ev.stream_id].get("body", "") + ev.data.decode("latin-1")
            c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            waiting.discard(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            out[ev.stream_id]["reset"] = True
            waiting.discard(ev.stream_id)
    s.sendall(c.data_to_send())
print(json.dumps([out[sid] for sid in ids]))
"#;

struct Setup {
    gw: Gateway,
    origin: Origin,
    function: Function,
    log: std::path::PathBuf,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn setup() -> Setup {
    let origin = Origin::start();
    let function = Function::start();
    let dir = std::env::temp_dir().join(format!(
        "tollgate-e2e-http2-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let url = function.url();
    let backend = origin.addr;
    let config = format!(
        r#"gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 1
  listeners:
    - {{ bind: "127.0.0.1:0", http2: true }}
    - {{ bind: "127.0.0.1:0" }}
  admin: {{ bind: "{ADMIN_BIND}" }}
  access_log: "{log}"
  limits:
    max_header_bytes: 8192
    max_body_bytes: 4194304
    header_timeout_ms: 5000
    idle_timeout_ms: 10000
identities:
  - arn: "arn:aws:iam::123456789012:user/alice"
    access_keys: [{{ id: AKIDALICE, secret: "alice/secret+KEY" }}]
    policies:
      - Version: "2012-10-17"
        Statement:
          - {{ Effect: Allow, Action: "execute-api:Invoke", Resource: "arn:aws:execute-api:*:*:*" }}
authorizers:
  - {{ name: tok, type: TOKEN, function_url: "{url}", identity_source: method.request.header.Authorization, ttl_seconds: 0 }}
apis:
  - id: h2api00001
    name: h2
    hosts: ["*"]
    stages:
      prod:
        variables: {{ backend: "{backend}" }}
    routes:
      - path: /mock
        methods: [GET, POST]
        authorization: NONE
        integration: {{ type: mock, status: 200, headers: {{ content-type: text/plain }}, body: "mock body" }}
      - path: /secret
        methods: [GET]
        authorization: CUSTOM
        authorizer: tok
        integration: {{ type: mock, status: 200, body: "secret" }}
      - path: "/iam/{{proxy+}}"
        methods: [ANY]
        authorization: AWS_IAM
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/{{proxy}}"
          timeout_ms: 20000
      - path: "/files/{{proxy+}}"
        methods: [ANY]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://${{stageVariables.backend}}/{{proxy}}"
          timeout_ms: 20000
"#,
        log = log.display()
    );
    let gw = Gateway::start(&config, &[]);
    Setup {
        gw,
        origin,
        function,
        log,
        _dir: TempDir(dir),
    }
}

fn tool(name: &str) {
    let ok = Command::new(name).arg("--version").output().is_ok();
    assert!(
        ok,
        "{name} is needed: apt-get install -y curl nghttp2-client python3-h2"
    );
}

/// `curl --http2-prior-knowledge` (one request per connection: Debian's curl 7.88 fails a
/// second stream on a prior-knowledge connection). Returns (http_version, status, body).
fn curl(addr: SocketAddr, path: &str, extra: &[&str]) -> (String, u16, Vec<u8>) {
    tool("curl");
    let out = Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge", "-m", "20", "-o", "-"])
        .args(["-w", "\n%{http_version} %{http_code}"])
        .args(extra)
        .arg(format!("http://{addr}{path}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl failed: {out:?}");
    let s = out.stdout;
    let nl = s.iter().rposition(|&b| b == b'\n').unwrap();
    let tail = String::from_utf8_lossy(&s[nl + 1..]).into_owned();
    let (ver, code) = tail.split_once(' ').unwrap();
    (ver.to_owned(), code.parse().unwrap(), s[..nl].to_vec())
}

fn h2_client(addr: SocketAddr, reqs: Value) -> Vec<Value> {
    let out = Command::new("/usr/bin/python3")
        .args(["-c", H2_CLIENT])
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(reqs.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python3 h2 client failed (apt-get install -y python3-h2): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn access_lines(s: &Setup) -> Vec<Value> {
    json_lines(&s.log)
}

/// The access log once `ready` holds for it (within 5 s). A line is written just after its
/// answer: the client may read the log before the last line is in.
fn access_lines_when(s: &Setup, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    common::eventually(Duration::from_secs(5), || ready(&access_lines(s)));
    access_lines(s)
}

fn metrics(s: &Setup) -> String {
    let mut c = TcpStream::connect(s.gw.admin).unwrap();
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    out
}

fn metric(m: &str, prefix: &str) -> u64 {
    m.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn curl_prior_knowledge_mock_and_unauthorized() {
    let s = setup();
    let (ver, status, body) = curl(s.gw.addrs[0], "/prod/mock", &[]);
    assert_eq!((ver.as_str(), status), ("2", 200));
    assert_eq!(body, b"mock body");
    // A CUSTOM (Lambda TOKEN) route without a token: 401 before the function is called.
    let (ver, status, body) = curl(s.gw.addrs[0], "/prod/secret", &[]);
    assert_eq!((ver.as_str(), status), ("2", 401));
    assert_eq!(body, br#"{"message":"Unauthorized"}"#);
    assert_eq!(s.function.count(), 0);
    // HTTP/1.1 still works on the same listener.
    let out = Command::new("curl")
        .args([
            "-sS",
            "--http1.1",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
        ])
        .arg(format!("http://{}/prod/mock", s.gw.addrs[0]))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1.1 200");
    // Each h2 request is one access-log line marked HTTP/2.0, with the route. (A line is
    // written just after its answer: the client may read the log before the last one is in.)
    let lines = access_lines_when(&s, |l| l.iter().any(|l| l["protocol"] == "HTTP/1.1"));
    let h2: Vec<_> = lines
        .iter()
        .filter(|l| l["protocol"] == "HTTP/2.0")
        .collect();
    assert_eq!(h2.len(), 2, "{lines:?}");
    assert_eq!(h2[0]["status"], 200);
    assert_eq!(h2[0]["route"], "GET,POST /mock");
    assert_eq!(h2[1]["status"], 401);
    assert!(
        lines.iter().any(|l| l["protocol"] == "HTTP/1.1"),
        "{lines:?}"
    );
}

#[test]
fn two_streams_on_one_connection_valid_and_invalid_token() {
    let s = setup();
    let before = metrics(&s);
    let res = h2_client(
        s.gw.addrs[0],
        serde_json::json!([
            {"method": "GET", "path": "/prod/secret", "headers": [["authorization", "allow-h2"]]},
            {"method": "GET", "path": "/prod/secret", "headers": [["authorization", "unauthorized"]]},
        ]),
    );
    assert_eq!(res[0]["status"], 200, "{res:?}");
    assert_eq!(res[0]["body_len"], 6);
    assert_eq!(res[1]["status"], 401, "{res:?}");
    let (a, b) = (
        res[0]["headers"]["x-amzn-requestid"].as_str().unwrap(),
        res[1]["headers"]["x-amzn-requestid"].as_str().unwrap(),
    );
    assert_ne!(a, b);
    // Two access-log lines with those ids, and the metrics under the route.
    let is_h2 = |l: &&Value| l["protocol"] == "HTTP/2.0";
    let lines = access_lines_when(&s, |l| l.iter().filter(is_h2).count() >= 2);
    let ids: Vec<_> = lines
        .iter()
        .filter(is_h2)
        .map(|l| l["requestId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{lines:?}");
    assert!(ids.contains(&a.to_owned()) && ids.contains(&b.to_owned()));
    let ok = r#"tollgate_requests_total{api="h2",route="GET /secret",status="200"}"#;
    let denied = r#"tollgate_requests_total{api="h2",route="GET /secret",status="401"}"#;
    // Counted just after the answer, like the log line.
    common::eventually(Duration::from_secs(5), || {
        let m = metrics(&s);
        metric(&m, ok) > metric(&before, ok) && metric(&m, denied) > metric(&before, denied)
    });
    let after = metrics(&s);
    assert_eq!(metric(&after, ok), metric(&before, ok) + 1, "{after}");
    assert_eq!(
        metric(&after, denied),
        metric(&before, denied) + 1,
        "{after}"
    );
}

#[test]
fn one_mib_up_and_down_through_an_http_proxy_route() {
    let s = setup();
    tool("nghttp");
    let data: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = TempFile::new("h2-upload.bin", "");
    std::fs::write(&file.0, &data).unwrap();
    // nghttp uploads the file (DATA frames under flow control); the origin answers the body
    // back (Content-Length), so the same MiB comes down.
    let out = Command::new("nghttp")
        .args(["-d", file.0.to_str().unwrap()])
        .arg(format!("http://{}/prod/files/raw", s.gw.addrs[0]))
        .output()
        .unwrap();
    assert!(out.status.success(), "nghttp: {out:?}");
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "the echoed body differs");
    let seen = s.origin.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.body.len(), data.len());
    // A chunked upstream answer is decoded and sent as DATA.
    let (_, status, body) = curl(s.gw.addrs[0], "/prod/files/chunked?n=40", &[]);
    assert_eq!(status, 200);
    let want: String = (0..40).map(common::chunk_text).collect();
    assert_eq!(String::from_utf8_lossy(&body), want);
    // curl uploads 1 MiB with a content-length too.
    let (_, status, body) = curl(
        s.gw.addrs[0],
        "/prod/files/raw",
        &["--data-binary", &format!("@{}", file.0.display())],
    );
    assert_eq!(status, 200);
    assert!(body == data);
}

#[test]
fn a_reset_stream_leaves_its_sibling_alone() {
    let s = setup();
    let res = h2_client(
        s.gw.addrs[0],
        serde_json::json!([
            {"method": "GET", "path": "/prod/files/slow?ms=1500", "reset": true},
            {"method": "GET", "path": "/prod/mock"},
            {"method": "GET", "path": "/prod/files/echo"},
        ]),
    );
    assert_eq!(res[1]["status"], 200, "{res:?}");
    assert_eq!(res[1]["body_len"], 9);
    assert_eq!(res[2]["status"], 200, "{res:?}");
    // The gateway is still serving afterwards.
    let (_, status, _) = curl(s.gw.addrs[0], "/prod/mock", &[]);
    assert_eq!(status, 200);
    // The reset stream's pipeline still ran to its end: one access-log line of its own, once
    // the slow upstream answered (an answer that went nowhere).
    let slow = |s: &Setup| {
        access_lines(s)
            .into_iter()
            .filter(|l| l["path"].as_str().unwrap_or("").contains("/files/slow"))
            .collect::<Vec<_>>()
    };
    assert!(
        common::eventually(Duration::from_secs(5), || !slow(&s).is_empty()),
        "{:?}",
        access_lines(&s)
    );
    let lines = slow(&s);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["protocol"], "HTTP/2.0", "{lines:?}");
    // The status is the upstream's, which the client never got: the record says why.
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("reset the stream"),
        "{lines:?}"
    );
}

#[test]
fn a_listener_without_http2_answers_the_preface_505_and_closes() {
    let s = setup();
    let mut c = TcpStream::connect(s.gw.addrs[1]).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 505 "), "{text}");
    // curl with prior knowledge gets no HTTP/2 answer there, quickly.
    let t = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge", "-m", "5"])
        .arg(format!("http://{}/prod/mock", s.gw.addrs[1]))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn metrics_count_h2_requests_under_their_route() {
    let s = setup();
    let key = r#"tollgate_requests_total{api="h2",route="GET,POST /mock",status="200"}"#;
    let before = metric(&metrics(&s), key);
    for _ in 0..3 {
        assert_eq!(curl(s.gw.addrs[0], "/prod/mock", &[]).1, 200);
    }
    // Counted just after each answer: wait for the third.
    common::eventually(Duration::from_secs(5), || {
        metric(&metrics(&s), key) >= before + 3
    });
    let m = metrics(&s);
    assert_eq!(metric(&m, key), before + 3, "{m}");
}

#[test]
fn a_request_body_without_content_length_is_buffered_and_forwarded() {
    let s = setup();
    let body = "x".repeat(3000) + "end";
    let res = h2_client(
        s.gw.addrs[0],
        serde_json::json!([
            {"method": "POST", "path": "/prod/files/raw", "body": body},
            {"method": "POST", "path": "/prod/mock", "body": "ignored"},
        ]),
    );
    assert_eq!(res[0]["status"], 200, "{res:?}");
    assert_eq!(res[0]["body"], body.as_str());
    let seen = s.origin.last();
    assert_eq!(seen.body, body.as_bytes());
    assert!(
        seen.headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-length") && v == "3003"),
        "{:?}",
        seen.headers
    );
    assert_eq!(res[1]["status"], 200, "{res:?}");
}

/// SigV4 headers (an independent signer) for `method http://{addr}{path}` with `body`, minus
/// `host` (HTTP/2 carries it as `:authority`).
fn sigv4_headers(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Vec<(String, String)> {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    use aws_smithy_runtime_api::client::identity::Identity;
    let identity: Identity =
        Credentials::new("AKIDALICE", "alice/secret+KEY", None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("execute-api")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = addr.to_string();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/json"),
    ];
    let signable = SignableRequest::new(
        method,
        format!("http://{host}{path}"),
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (extra, _) = instructions.into_parts();
    let mut out = vec![("content-type".to_owned(), "application/json".to_owned())];
    for h in extra {
        out.push((h.name().to_owned(), h.value().to_owned()));
    }
    out
}

#[test]
fn aws_iam_routes_verify_the_signed_body_over_http2() {
    let s = setup();
    let addr = s.gw.addrs[0];
    let body = r#"{"pet":"rex","n":42}"#;
    let good = sigv4_headers(addr, "POST", "/prod/iam/pets", body.as_bytes());
    let mut with_length = good.clone();
    with_length.push(("content-length".to_owned(), body.len().to_string()));
    let res = h2_client(
        addr,
        serde_json::json!([
            // No content-length: the body is collected first, then verified.
            {"method": "POST", "path": "/prod/iam/pets", "headers": good, "body": body},
            // With one: the pipeline buffers it for the signature as on HTTP/1.
            {"method": "POST", "path": "/prod/iam/pets", "headers": with_length, "body": body},
            // Another body under the same signature: refused.
            {"method": "POST", "path": "/prod/iam/pets", "headers": good, "body": r#"{"pet":"tom","n":42}"#},
            // No signature at all.
            {"method": "POST", "path": "/prod/iam/pets", "body": body},
        ]),
    );
    assert_eq!(res[0]["status"], 200, "{res:?}");
    assert_eq!(res[1]["status"], 200, "{res:?}");
    assert_eq!(res[2]["status"], 403, "{res:?}");
    assert_eq!(res[3]["status"], 403, "{res:?}");
    assert_eq!(s.origin.count(), 2);
    let seen = s.origin.last();
    assert_eq!(seen.body, body.as_bytes());
    assert!(
        seen.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("x-amz-date")),
        "{:?}",
        seen.headers
    );
}

/// A raw HTTP/2 client (hyperframe + hpack: Python `h2`'s state machine closes the
/// connection on the first GOAWAY, so it cannot watch a graceful one): argv[1] host, argv[2]
/// port, argv[3] path. Opens one stream, prints `sent`, then reads frames (acknowledging
/// SETTINGS and PING) until the server closes, and prints a JSON object: the events in order
/// (`goaway` with `last_stream_id` and `error_code`, `headers` with `status`, `data` with its
/// length, `end` when stream 1 ends), and whether the socket was closed by the server.
const RAW_DRAIN_CLIENT: &str = r#"
import json, socket, sys, time
from hpack import Encoder, Decoder
from hyperframe.frame import Frame, SettingsFrame, HeadersFrame, PingFrame, GoAwayFrame, DataFrame
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port)); s.settimeout(20)
enc, dec = Encoder(), Decoder()
h = HeadersFrame(1)
h.data = enc.encode([(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", "%s:%d" % (host, port))])
h.flags.add("END_HEADERS"); h.flags.add("END_STREAM")
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize() + h.serialize())
print("sent", flush=True)
events, buf, closed = [], b"", False
deadline = time.time() + 20
while time.time() < deadline:
    try:
        chunk = s.recv(65536)
    except OSError:
        break
    if not chunk:
        closed = True
        break
    buf += chunk
    while len(buf) >= 9:
        f, n = Frame.parse_frame_header(memoryview(buf[:9]))
        if len(buf) < 9 + n:
            break
        f.parse_body(memoryview(buf[9:9 + n]))
        buf = buf[9 + n:]
        if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
            s.sendall(SettingsFrame(0, flags=["ACK"]).serialize())
        elif isinstance(f, PingFrame) and "ACK" not in f.flags:
            s.sendall(PingFrame(0, opaque_data=f.opaque_data, flags=["ACK"]).serialize())
        elif isinstance(f, GoAwayFrame):
            events.append({"goaway": True, "last_stream_id": f.last_stream_id, "error_code": f.error_code})
        elif isinstance(f, HeadersFrame) and f.stream_id == 1:
            hd = dict((k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v) for k, v in dec.decode(f.data))
            events.append({"headers": True, "status": int(hd[":status"])})
        elif isinstance(f, DataFrame) and f.stream_id == 1:
            events.append({"data": len(f.data)})
        if f.stream_id == 1 and "END_STREAM" in f.flags:
            events.append({"end": True})
print(json.dumps({"events": events, "closed_by_server": closed}), flush=True)
"#;

#[test]
fn sigterm_sends_a_graceful_goaway_and_the_in_flight_stream_completes() {
    use std::io::BufRead;
    let mut s = setup();
    let addr = s.gw.addrs[0];
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", RAW_DRAIN_CLIENT])
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg("/prod/files/slow?ms=2000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim(),
        "sent",
        "python3 raw client (python3-h2 installs hpack, hyperframe)"
    );
    // The stream is in flight once the slow origin has it.
    assert!(
        common::eventually(Duration::from_secs(5), || s.origin.count() >= 1),
        "the request did not reach the origin"
    );
    let t = Instant::now();
    s.gw.sigterm();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let st = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(st.success(), "client failed: {err}");
    let v: Value = serde_json::from_str(rest.trim()).unwrap();
    let events = v["events"].as_array().unwrap();
    let pos = |f: &dyn Fn(&Value) -> bool| events.iter().position(f);
    let first_goaway = pos(&|e| e["goaway"] == true).expect("no GOAWAY");
    let status = pos(&|e| e["headers"] == true).expect("no response");
    let end = pos(&|e| e["end"] == true).expect("the stream did not end");
    // GOAWAY first (while the origin still sleeps), then the answer, complete.
    assert!(first_goaway < status && status < end, "{events:?}");
    assert_eq!(events[status]["status"], 200, "{events:?}");
    let body: u64 = events.iter().filter_map(|e| e["data"].as_u64()).sum();
    assert!(body > 0, "{events:?}");
    // Every GOAWAY is NO_ERROR, and the last names stream 1 as the last one processed.
    let goaways: Vec<_> = events.iter().filter(|e| e["goaway"] == true).collect();
    assert!(goaways.iter().all(|g| g["error_code"] == 0), "{goaways:?}");
    assert_eq!(goaways.last().unwrap()["last_stream_id"], 1, "{goaways:?}");
    assert_eq!(v["closed_by_server"], true, "{v}");
    // Then the process exits, cleanly, well within the drain timeout (10 s by default).
    let exit =
        s.gw.wait_exit(Duration::from_secs(15))
            .expect("still running");
    assert!(exit.success(), "{exit:?}: {}", s.gw.stderr_text());
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn head_answers_carry_the_length_and_no_body_over_http2() {
    let s = setup();
    let res = h2_client(
        s.gw.addrs[0],
        serde_json::json!([
            {"method": "HEAD", "path": "/prod/mock"},
            {"method": "HEAD", "path": "/prod/files/echo"},
            {"method": "GET", "path": "/prod/nowhere"},
        ]),
    );
    // HEAD is no method of /mock: the gateway's 403 (as for GET: content-length 42), no DATA.
    assert_eq!(res[0]["status"], 403, "{res:?}");
    assert_eq!(res[0]["headers"]["content-length"], "42", "{res:?}");
    assert_eq!(res[0]["body_len"], 0, "{res:?}");
    // A proxied answer to HEAD: the origin's head, no DATA.
    assert_eq!(res[1]["status"], 200, "{res:?}");
    assert_eq!(res[1]["headers"]["x-origin"], "echo", "{res:?}");
    assert_eq!(res[1]["body_len"], 0, "{res:?}");
    // A gateway error: its JSON body and the request id, no HTTP/1 framing fields.
    assert_eq!(res[2]["status"], 403, "{res:?}");
    let h = &res[2]["headers"];
    assert!(h["x-amzn-requestid"].is_string(), "{res:?}");
    assert!(h.get("connection").is_none() && h.get("transfer-encoding").is_none());
    assert_eq!(
        res[2]["body"].as_str().unwrap().len() as u64,
        res[2]["body_len"].as_u64().unwrap()
    );
}
