//! End-to-end: HTTP/2 over TLS (h2 chosen by ALPN) through the real `tollgate` binary, with
//! independent clients: curl (`--http2` and `--http1.1` on one listener), nghttp (several
//! streams on one connection), Python's `h2` over `ssl` (one valid and one invalid token on
//! two streams of one connection; mutual TLS with the client certificate reaching a REQUEST
//! authorizer on every stream), `openssl s_client` (ALPN on a listener without `http2`, and
//! `http2` flipped by `PUT /config`, while an HTTP/2 connection opened before goes on).
//! Certificates come from the `openssl` CLI at test time.
//!
//! Tools: `apt-get install -y curl openssl nghttp2-client python3-h2`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod lambda_support;
mod tls_support;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ADMIN_BIND, Gateway, Origin, TempFile, json_lines};
use lambda_support::Function;
use serde_json::Value;
use tls_support::Pki;

/// The server name the default certificate is for.
const HOST: &str = "default.example.test";

/// The Python `h2` client over `ssl`: argv[1] port, argv[2] the CA file, argv[3] the SNI name,
/// argv[4] a JSON list of requests (`method`, `path`, `headers` [[k, v]]), argv[5] (optional)
/// "cert.pem:key.pem" for mutual TLS. All streams are opened on ONE TLS connection (ALPN
/// `h2`, checked) before any answer is read; prints a JSON list of answers (`status`,
/// `headers`, `body`).
const H2_TLS_CLIENT: &str = r#"
import json, socket, ssl, sys, time
import h2.connection, h2.config, h2.events
port, cafile, name, reqs = int(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
ctx = ssl.create_default_context(cafile=cafile)
ctx.set_alpn_protocols(["h2"])
if len(sys.argv) > 5:
    cert, key = sys.argv[5].split(":")
    ctx.load_cert_chain(cert, key)
raw = socket.create_connection(("127.0.0.1", port)); raw.settimeout(10)
s = ctx.wrap_socket(raw, server_hostname=name)
assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
c.initiate_connection(); s.sendall(c.data_to_send())
ids = []
for r in reqs:
    sid = c.get_next_available_stream_id()
    hs = [(":method", r["method"]), (":path", r["path"]), (":scheme", "https"), (":authority", "%s:%d" % (name, port))]
    hs += [(k, v) for k, v in r.get("headers", [])]
    c.send_headers(sid, hs, end_stream=True)
    ids.append(sid)
s.sendall(c.data_to_send())
out = {sid: {"status": None, "headers": {}, "body": ""} for sid in ids}
waiting = set(ids)
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
            out[ev.stream_id]["body"] += ev.data.decode("latin-1")
            c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
            waiting.discard(ev.stream_id)
    s.sendall(c.data_to_send())
print(json.dumps([out[sid] for sid in ids]))
"#;

/// A Python `h2` client over `ssl` that keeps ONE connection open: argv[1] port, argv[2] the
/// CA file, argv[3] the SNI name; for each path read from stdin it sends one GET on a new
/// stream of that connection and prints `STATUS <code> <body>`.
const H2_TLS_KEEPALIVE: &str = r#"
import socket, ssl, sys
import h2.connection, h2.config, h2.events
port, cafile, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
ctx.set_alpn_protocols(["h2"])
raw = socket.create_connection(("127.0.0.1", port)); raw.settimeout(10)
s = ctx.wrap_socket(raw, server_hostname=name)
assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
c.initiate_connection(); s.sendall(c.data_to_send())
for line in sys.stdin:
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "GET"), (":path", line.strip()), (":scheme", "https"), (":authority", name)], end_stream=True)
    s.sendall(c.data_to_send())
    status, body, done = None, b"", False
    while not done:
        data = s.recv(65536)
        if not data:
            break
        for ev in c.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                status = dict(ev.headers)[b":status"].decode()
            elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                body += ev.data
                c.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) and ev.stream_id == sid:
                done = True
        s.sendall(c.data_to_send())
    print("STATUS %s %s" % (status, body.decode()), flush=True)
"#;

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A gateway with one HTTPS listener (the `default` certificate; `http2` and `tls_extra` as
/// given), a JSON access log, and routes: `GET /prod/hello` (mock), `GET /prod/secret`
/// (Lambda TOKEN authorizer `tok`), `GET /prod/authz` (REQUEST authorizer `req` on `X-Token`,
/// proxied to `echo` with the client certificate mapped into headers), `ANY
/// /prod/files/{proxy+}` (proxied to a real HTTP/1.1 origin that echoes bodies).
struct Setup {
    gw: Gateway,
    pki: Pki,
    function: Function,
    origin: Origin,
    log: std::path::PathBuf,
    _dir: TempDir,
}

fn config(
    pki: &Pki,
    http2: bool,
    tls_extra: &str,
    fn_url: &str,
    (echo, origin): (SocketAddr, SocketAddr),
    log: &str,
) -> String {
    format!(
        r#"gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 1
  listeners:
    - bind: "127.0.0.1:0"
      http2: {http2}
      tls:
        certificates: [{{ cert_file: "{cert}", key_file: "{key}" }}]
        {tls_extra}
  admin: {{ bind: "{ADMIN_BIND}" }}
  access_log: "{log}"
  limits:
    header_timeout_ms: 5000
    idle_timeout_ms: 10000
authorizers:
  - {{ name: tok, type: TOKEN, function_url: "{fn_url}", identity_source: method.request.header.Authorization, ttl_seconds: 0 }}
  - {{ name: req, type: REQUEST, function_url: "{fn_url}", identity_source: method.request.header.X-Token, ttl_seconds: 0 }}
apis:
  - id: h2tls00001
    name: h2tls
    hosts: ["*"]
    stages:
      prod:
        variables: {{}}
    routes:
      - path: /hello
        methods: [GET]
        authorization: NONE
        integration: {{ type: mock, status: 200, body: "hello over h2" }}
      - path: /secret
        methods: [GET]
        authorization: CUSTOM
        authorizer: tok
        integration: {{ type: mock, status: 200, body: "secret" }}
      - path: /authz
        methods: [GET]
        authorization: CUSTOM
        authorizer: req
        integration:
          type: http_proxy
          uri: "http://{echo}/seen"
          request_headers:
            x-client-subject: context.identity.clientCert.subjectDN
            x-client-serial: context.identity.clientCert.serialNumber
      - path: "/files/{{proxy+}}"
        methods: [ANY]
        authorization: NONE
        integration:
          type: http_proxy
          uri: "http://{origin}/{{proxy}}"
          timeout_ms: 20000
"#,
        cert = pki.path("default.pem"),
        key = pki.path("default.key"),
    )
}

struct Parts {
    pki: Pki,
    function: Function,
    echo: SocketAddr,
    origin: Origin,
    log: std::path::PathBuf,
    dir: TempDir,
}

impl Parts {
    fn new(tag: &str) -> Parts {
        let dir =
            std::env::temp_dir().join(format!("tollgate-e2e-h2tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Parts {
            pki: Pki::new(&format!("h2-{tag}")),
            function: Function::start(),
            echo: lambda_support::echo_backend(),
            origin: Origin::start(),
            log: dir.join("access.log"),
            dir: TempDir(dir),
        }
    }

    fn config(&self, http2: bool, tls_extra: &str) -> String {
        config(
            &self.pki,
            http2,
            tls_extra,
            &self.function.url(),
            (self.echo, self.origin.addr),
            &self.log.display().to_string(),
        )
    }

    fn start(self, http2: bool, tls_extra: &str) -> Setup {
        let gw = Gateway::start(&self.config(http2, tls_extra), &[]);
        Setup {
            gw,
            pki: self.pki,
            function: self.function,
            origin: self.origin,
            log: self.log,
            _dir: self.dir,
        }
    }
}

fn tool(name: &str) {
    let ok = Command::new(name).arg("--version").output().is_ok();
    assert!(
        ok,
        "{name} is needed: apt-get install -y curl openssl nghttp2-client python3-h2"
    );
}

/// `curl` an HTTPS path as [`HOST`] (private CA); returns (http_version, status, body).
fn curl(s: &Setup, path: &str, extra: &[&str]) -> (String, u16, String) {
    tool("curl");
    let port = s.gw.addr.port();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", &s.pki.path("ca.pem")])
        .args(["--resolve", &format!("{HOST}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_version} %{http_code}"])
        .args(extra)
        .arg(format!("https://{HOST}:{port}{path}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "curl failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap();
    let (ver, code) = tail.split_once(' ').unwrap();
    (ver.to_owned(), code.parse().unwrap(), body.to_owned())
}

fn h2_client(s: &Setup, reqs: Value, cert: Option<&str>) -> Vec<Value> {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.args(["-c", H2_TLS_CLIENT])
        .arg(s.gw.addr.port().to_string())
        .arg(s.pki.path("ca.pem"))
        .arg(HOST)
        .arg(reqs.to_string());
    if let Some(stem) = cert {
        cmd.arg(format!(
            "{}:{}",
            s.pki.path(&format!("{stem}.pem")),
            s.pki.path(&format!("{stem}.key"))
        ));
    }
    let out = cmd.output().unwrap();
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

/// `openssl s_client` offering `alpn`, stdin closed, killed after 15 s: (exited by itself,
/// output).
fn s_client_alpn(s: &Setup, alpn: &str) -> (bool, String) {
    tool("openssl");
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &s.gw.addr.to_string()])
        .args(["-CAfile", &s.pki.path("ca.pem"), "-servername", HOST])
        .args(["-alpn", alpn])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut exited = false;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            exited = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    (
        exited,
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn curl_gets_http2_by_alpn_and_http1_1_on_the_same_listener() {
    let s = Parts::new("curl").start(true, "");
    let (ver, status, body) = curl(&s, "/prod/hello", &["--http2"]);
    assert_eq!((ver.as_str(), status), ("2", 200), "{body}");
    assert_eq!(body, "hello over h2");
    // A Lambda TOKEN route without a token: 401 over h2 too.
    let (ver, status, _) = curl(&s, "/prod/secret", &["--http2"]);
    assert_eq!((ver.as_str(), status), ("2", 401));
    let (ver, status, body) = curl(&s, "/prod/hello", &["--http1.1"]);
    assert_eq!((ver.as_str(), status), ("1.1", 200));
    assert_eq!(body, "hello over h2");
    let lines = access_lines_when(&s, |l| l.len() >= 3);
    let protocols: Vec<&str> = lines
        .iter()
        .map(|l| l["protocol"].as_str().unwrap())
        .collect();
    assert_eq!(protocols, ["HTTP/2.0", "HTTP/2.0", "HTTP/1.1"], "{lines:?}");
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[1]["status"], 401);
}

#[test]
fn nghttp_multiplexes_several_streams_on_one_tls_connection() {
    tool("nghttp");
    let s = Parts::new("nghttp").start(true, "");
    // Distinct URLs: nghttp asks for each URL once.
    let urls: Vec<String> = (1..=4)
        .map(|i| format!("https://127.0.0.1:{}/prod/hello?n={i}", s.gw.addr.port()))
        .collect();
    let out = Command::new("nghttp")
        .args(["-n", "-v", "-y"])
        .args(&urls)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{out:?}");
    assert!(text.contains("The negotiated protocol: h2"), "{text}");
    assert_eq!(text.matches(":status: 200").count(), 4, "{text}");
    let lines = access_lines_when(&s, |l| l.len() >= 4);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["protocol"], "HTTP/2.0");
            assert_eq!(l["status"], 200);
            l["requestId"].as_str().unwrap()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "{lines:?}");
}

#[test]
fn one_mib_up_and_down_over_h2_and_tls_through_an_http_proxy_route() {
    tool("nghttp");
    let s = Parts::new("mib").start(true, "");
    let data: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = TempFile::new("h2tls-upload.bin", "");
    std::fs::write(&file.0, &data).unwrap();
    // The origin answers the body back, so the same MiB goes up and comes down, under both
    // HTTP/2 flow control and TLS records.
    let out = Command::new("nghttp")
        .args(["-y", "-d", file.0.to_str().unwrap()])
        .arg(format!(
            "https://127.0.0.1:{}/prod/files/raw",
            s.gw.addr.port()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "nghttp: {out:?}");
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "the echoed body differs");
    assert_eq!(s.origin.last().body.len(), data.len());
    let (ver, status, body) = curl(
        &s,
        "/prod/files/raw",
        &[
            "--http2",
            "--data-binary",
            &format!("@{}", file.0.display()),
        ],
    );
    assert_eq!((ver.as_str(), status), ("2", 200));
    // curl's body is compared as (lossy) text; nghttp above compared the bytes.
    assert!(
        body == String::from_utf8_lossy(&data),
        "the echoed body differs"
    );
}

#[test]
fn two_streams_on_one_tls_connection_valid_and_invalid_token() {
    let s = Parts::new("token").start(true, "");
    let res = h2_client(
        &s,
        serde_json::json!([
            {"method": "GET", "path": "/prod/secret", "headers": [["authorization", "allow-h2tls"]]},
            {"method": "GET", "path": "/prod/secret", "headers": [["authorization", "unauthorized"]]},
        ]),
        None,
    );
    assert_eq!(res[0]["status"], 200, "{res:?}");
    assert_eq!(res[0]["body"], "secret");
    assert_eq!(res[1]["status"], 401, "{res:?}");
    let (a, b) = (
        res[0]["headers"]["x-amzn-requestid"].as_str().unwrap(),
        res[1]["headers"]["x-amzn-requestid"].as_str().unwrap(),
    );
    assert_ne!(a, b);
    let lines = access_lines_when(&s, |l| l.len() >= 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in &lines {
        assert_eq!(l["protocol"], "HTTP/2.0", "{l}");
    }
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["requestId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&a) && ids.contains(&b), "{lines:?}");
    assert_eq!(s.function.events_for("allow-h2tls").len(), 1);
}

#[test]
fn mutual_tls_required_the_client_certificate_reaches_every_streams_authorizer() {
    let p = Parts::new("mtls");
    let extra = format!(
        "client_auth: {{ truststore_file: \"{}\", required: true }}",
        p.pki.path("clientca.pem")
    );
    let s = p.start(true, &extra);
    // Two streams on one connection: each gets the certificate in its event and its mapping.
    let res = h2_client(
        &s,
        serde_json::json!([
            {"method": "GET", "path": "/prod/authz", "headers": [["x-token", "allow-cert-1"]]},
            {"method": "GET", "path": "/prod/authz", "headers": [["x-token", "allow-cert-2"]]},
        ]),
        Some("client"),
    );
    for (i, r) in res.iter().enumerate() {
        assert_eq!(r["status"], 200, "{res:?}");
        let seen: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            seen["x-client-subject"], "O=Tollgate Tests,CN=My Client",
            "{seen}"
        );
        let ev = s.function.events_for(&format!("allow-cert-{}", i + 1));
        assert_eq!(ev.len(), 1);
        let cc = &ev[0]["requestContext"]["identity"]["clientCert"];
        assert_eq!(cc["subjectDN"], "O=Tollgate Tests,CN=My Client", "{cc}");
        assert_eq!(cc["issuerDN"], "CN=Tollgate Client CA", "{cc}");
        assert_eq!(seen["x-client-serial"], cc["serialNumber"]);
        let pem = std::fs::read_to_string(s.pki.path("client.pem")).unwrap();
        assert_eq!(
            cc["clientCertPem"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .collect::<String>(),
            pem.split_whitespace().collect::<String>()
        );
    }
    // curl --http2 with the certificate: HTTP/2, the mapped header upstream.
    let (ver, status, body) = curl(
        &s,
        "/prod/authz",
        &[
            "--http2",
            "-H",
            "X-Token: allow-cert-curl",
            "--cert",
            &s.pki.path("client.pem"),
            "--key",
            &s.pki.path("client.key"),
        ],
    );
    assert_eq!((ver.as_str(), status), ("2", 200), "{body}");
    let seen: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(seen["x-client-subject"], "O=Tollgate Tests,CN=My Client");
    // Without a certificate: no handshake, so no stream at all.
    let out = Command::new("curl")
        .args(["-sS", "--http2", "--max-time", "10"])
        .args(["--cacert", &s.pki.path("ca.pem")])
        .args([
            "--resolve",
            &format!("{HOST}:{}:127.0.0.1", s.gw.addr.port()),
        ])
        .arg(format!("https://{HOST}:{}/prod/hello", s.gw.addr.port()))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let lines = access_lines_when(&s, |l| l.len() >= 3);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines.iter().all(|l| l["protocol"] == "HTTP/2.0"),
        "{lines:?}"
    );
}

#[test]
fn a_listener_without_http2_refuses_an_h2_only_client_at_once_and_keeps_serving() {
    let s = Parts::new("noh2").start(false, "");
    let (exited, text) = s_client_alpn(&s, "h2");
    assert!(exited, "openssl s_client -alpn h2 hung: {text}");
    assert!(!text.contains("ALPN protocol: h2"), "{text}");
    // rustls answers a ClientHello whose ALPN list has nothing it offers with an alert.
    assert!(text.contains("no application protocol"), "{text}");
    // Offering both, the client gets http/1.1; curl --http2 falls back to HTTP/1.1.
    let (exited, text) = s_client_alpn(&s, "h2,http/1.1");
    assert!(exited, "{text}");
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
    let (ver, status, _) = curl(&s, "/prod/hello", &["--http2"]);
    assert_eq!((ver.as_str(), status), ("1.1", 200));
}

#[test]
fn flipping_http2_by_put_config_changes_what_new_handshakes_offer() {
    let p = Parts::new("flip");
    let (h1_config, h2_config) = (p.config(false, ""), p.config(true, ""));
    let s = p.start(false, "");
    let (_, text) = s_client_alpn(&s, "h2,http/1.1");
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");

    let r = s.gw.put_config(&h2_config);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (_, text) = s_client_alpn(&s, "h2,http/1.1");
    assert!(text.contains("ALPN protocol: h2"), "{text}");
    let (ver, status, _) = curl(&s, "/prod/hello", &["--http2"]);
    assert_eq!((ver.as_str(), status), ("2", 200));

    let r = s.gw.put_config(&h1_config);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (_, text) = s_client_alpn(&s, "h2,http/1.1");
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
    let (ver, status, _) = curl(&s, "/prod/hello", &["--http2"]);
    assert_eq!((ver.as_str(), status), ("1.1", 200));
}

#[test]
fn an_open_h2_connection_keeps_serving_after_http2_is_turned_off() {
    let p = Parts::new("keep");
    let h1_config = p.config(false, "");
    let s = p.start(true, "");
    let mut py = Command::new("/usr/bin/python3")
        .args(["-c", H2_TLS_KEEPALIVE])
        .arg(s.gw.addr.port().to_string())
        .arg(s.pki.path("ca.pem"))
        .arg(HOST)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut to_py = py.stdin.take().unwrap();
    let mut from_py = BufReader::new(py.stdout.take().unwrap());
    let mut ask = |path: &str| -> String {
        writeln!(to_py, "{path}").unwrap();
        to_py.flush().unwrap();
        let mut line = String::new();
        from_py.read_line(&mut line).unwrap();
        line
    };
    assert_eq!(ask("/prod/hello").trim_end(), "STATUS 200 hello over h2");

    let r = s.gw.put_config(&h1_config);
    assert_eq!(r.status, 200, "{:?}", r.body);
    // New handshakes: http/1.1 only.
    let (_, text) = s_client_alpn(&s, "h2,http/1.1");
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
    // The connection opened before keeps its HTTP/2, stream after stream.
    for _ in 0..3 {
        assert_eq!(ask("/prod/hello").trim_end(), "STATUS 200 hello over h2");
    }
    drop(to_py);
    let _ = py.wait();
    let is_h2 = |l: &&Value| l["protocol"] == "HTTP/2.0";
    let lines = access_lines_when(&s, |l| l.iter().filter(is_h2).count() >= 4);
    let h2 = lines.iter().filter(is_h2).count();
    assert_eq!(h2, 4, "{lines:?}");
}
