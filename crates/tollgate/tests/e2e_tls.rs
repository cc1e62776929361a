//! HTTPS listeners end to end, with independent clients (curl, `openssl s_client`, Python's
//! `ssl`) against the real binary: SNI (exact names and the default certificate),
//! `min_version`, ALPN, mutual TLS required and optional, a certificate swapped by `PUT
//! /config` under an open keep-alive connection, a bad PEM refused naming the file, and
//! garbage / truncated / plaintext input on the TLS port. Test certificates come from the
//! `openssl` CLI at test time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod lambda_support;
mod tls_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ADMIN_BIND, Gateway, SOON, eventually};
use tls_support::Pki;

/// A gateway config with one HTTPS listener holding `certs` (stems), `tls_extra` added to its
/// `tls` mapping, and a mock route `GET /prod/hello`.
fn config(pki: &Pki, certs: &[&str], tls_extra: &str) -> String {
    let list: Vec<String> = certs
        .iter()
        .map(|c| {
            format!(
                "{{ cert_file: \"{}\", key_file: \"{}\" }}",
                pki.path(&format!("{c}.pem")),
                pki.path(&format!("{c}.key"))
            )
        })
        .collect();
    format!(
        r#"gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 1
  listeners:
    - bind: "127.0.0.1:0"
      tls:
        certificates: [{}]
        {tls_extra}
  admin:
    bind: "{ADMIN_BIND}"
  access_log: off
  limits:
    header_timeout_ms: 2000
apis:
  - id: e2etls0001
    name: tls
    hosts: ["*"]
    stages:
      prod:
        variables: {{}}
    routes:
      - path: /hello
        methods: [GET]
        authorization: NONE
        integration:
          type: mock
          status: 200
          body: "hello over tls"
"#,
        list.join(", ")
    )
}

/// `openssl s_client` output for one handshake (SNI `name`, extra arguments), stdin closed.
fn s_client(addr: SocketAddr, pki: &Pki, name: Option<&str>, extra: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &addr.to_string(),
        "-CAfile",
        &pki.path("ca.pem"),
    ]);
    match name {
        Some(n) => cmd.args(["-servername", n]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The subject line of the server certificate `s_client` saw.
fn subject(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or("")
        .to_owned()
}

/// `curl` an HTTPS URL on `addr` as `host`; (exit ok, status code, body).
fn curl(addr: SocketAddr, host: &str, pki: &Pki, extra: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", &pki.path("ca.pem")])
        .args(["--resolve", &format!("{host}:{}:127.0.0.1", addr.port())])
        .args(extra)
        .args(["-w", "\n%{http_code}"])
        .arg(format!("https://{host}:{}/prod/hello", addr.port()))
        .output()
        .expect("curl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn admin(gw: &Gateway, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(gw.admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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

fn metric(gw: &Gateway, line_start: &str) -> u64 {
    let (_, text) = admin(gw, "GET", "/metrics", "");
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn sni_picks_exact_names_then_the_default_and_curl_gets_an_answer() {
    let pki = Pki::new("sni");
    let gw = Gateway::start(&config(&pki, &["default", "a", "b"], ""), &[]);
    assert!(
        gw.stderr_text()
            .contains(&format!("listening on https://{}", gw.addr))
    );
    for (sni, want) in [
        (Some("a.example.test"), "a.example.test"),
        (Some("b.example.test"), "b.example.test"),
        (Some("other.example.test"), "default.example.test"),
        (None, "default.example.test"),
    ] {
        let (_, text) = s_client(gw.addr, &pki, sni, &[]);
        assert!(
            subject(&text).contains(want),
            "SNI {sni:?}: {}",
            subject(&text)
        );
    }
    for host in ["a.example.test", "b.example.test", "default.example.test"] {
        let (ok, out) = curl(gw.addr, host, &pki, &[]);
        assert!(ok && out.ends_with("hello over tls\n200"), "{host}: {out}");
    }
    // A name the certificate it gets does not hold: curl refuses it (verification is real).
    let (ok, out) = curl(gw.addr, "other.example.test", &pki, &[]);
    assert!(!ok, "{out}");
}

#[test]
fn min_version_1_3_refuses_tls_1_2_and_alpn_offers_http_1_1_only() {
    let pki = Pki::new("version");
    let gw = Gateway::start(&config(&pki, &["default"], "min_version: \"1.3\""), &[]);
    let (ok, text) = s_client(gw.addr, &pki, Some("default.example.test"), &["-tls1_2"]);
    assert!(
        !ok || !text.contains("Cipher is ECDHE"),
        "TLS 1.2 accepted: {text}"
    );
    let (ok, text) = s_client(
        gw.addr,
        &pki,
        Some("default.example.test"),
        &["-tls1_3", "-alpn", "h2,http/1.1"],
    );
    assert!(ok, "{text}");
    assert!(text.contains("TLSv1.3"), "{text}");
    // Without `http2: true` ALPN offers http/1.1 only (HTTP/2 over TLS: e2e_http2_tls.rs).
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
    assert!(
        eventually(SOON, || metric(
            &gw,
            "tollgate_tls_handshake_failures_total{reason=\"protocol\"}"
        ) >= 1),
        "the refused handshake is counted"
    );
}

#[test]
fn mutual_tls_required_refuses_clients_without_a_certificate() {
    let pki = Pki::new("mtls");
    let extra = format!(
        "client_auth: {{ truststore_file: \"{}\", required: true }}",
        pki.path("clientca.pem")
    );
    let gw = Gateway::start(&config(&pki, &["default"], &extra), &[]);
    let (ok, out) = curl(gw.addr, "default.example.test", &pki, &[]);
    assert!(!ok && !out.ends_with("200"), "{out}");
    let (ok, out) = curl(
        gw.addr,
        "default.example.test",
        &pki,
        &[
            "--cert",
            &pki.path("client.pem"),
            "--key",
            &pki.path("client.key"),
        ],
    );
    assert!(ok && out.ends_with("hello over tls\n200"), "{out}");
    // A certificate from another CA (a server certificate of the server CA) fails too.
    let (ok, out) = curl(
        gw.addr,
        "default.example.test",
        &pki,
        &["--cert", &pki.path("a.pem"), "--key", &pki.path("a.key")],
    );
    assert!(!ok, "{out}");
}

#[test]
fn mutual_tls_optional_lets_clients_without_a_certificate_through() {
    let pki = Pki::new("mtlsopt");
    let extra = format!(
        "client_auth: {{ truststore_file: \"{}\", required: false }}",
        pki.path("clientca.pem")
    );
    let gw = Gateway::start(&config(&pki, &["default"], &extra), &[]);
    let (ok, out) = curl(gw.addr, "default.example.test", &pki, &[]);
    assert!(ok && out.ends_with("hello over tls\n200"), "{out}");
    let (ok, out) = curl(
        gw.addr,
        "default.example.test",
        &pki,
        &[
            "--cert",
            &pki.path("client.pem"),
            "--key",
            &pki.path("client.key"),
        ],
    );
    assert!(ok && out.ends_with("hello over tls\n200"), "{out}");
}

#[test]
fn a_new_certificate_by_put_config_serves_new_handshakes_and_open_connections_keep_working() {
    let pki = Pki::new("swap");
    let gw = Gateway::start(&config(&pki, &["a"], ""), &[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/tls_support/keepalive_client.py"
    );
    let mut py = Command::new("python3")
        .args([
            script,
            "a.example.test",
            &gw.addr.port().to_string(),
            &pki.path("ca.pem"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut to_py = py.stdin.take().unwrap();
    let mut from_py = BufReader::new(py.stdout.take().unwrap());
    let mut ask = |line: &mut String| {
        writeln!(to_py, "GET /prod/hello").unwrap();
        to_py.flush().unwrap();
        line.clear();
        from_py.read_line(line).unwrap();
    };
    let mut line = String::new();
    ask(&mut line);
    assert!(line.starts_with("STATUS 200 a.example.test"), "{line}");
    let (_, before) = s_client(gw.addr, &pki, Some("a.example.test"), &[]);
    let before = subject(&before);

    // Same name, another certificate (and key): swapped without a restart.
    let (status, body) = admin(&gw, "PUT", "/config", &config(&pki, &["a2", "b"], ""));
    assert_eq!(status, 200, "{body}");
    let (_, text) = s_client(gw.addr, &pki, Some("b.example.test"), &[]);
    assert!(
        subject(&text).contains("b.example.test"),
        "{}",
        subject(&text)
    );
    let (_, after) = s_client(gw.addr, &pki, Some("a.example.test"), &["-showcerts"]);
    let leaf = |t: &str| -> String {
        t.split("-----BEGIN CERTIFICATE-----")
            .nth(1)
            .and_then(|r| r.split("-----END CERTIFICATE-----").next())
            .unwrap_or("")
            .split_whitespace()
            .collect()
    };
    let file = |f: &str| leaf(&std::fs::read_to_string(pki.path(f)).unwrap());
    assert_eq!(
        leaf(&after),
        file("a2.pem"),
        "new handshakes get the new certificate"
    );
    assert_ne!(leaf(&after), file("a.pem"), "was {before}");

    // The connection opened before the swap still answers, several times.
    for _ in 0..3 {
        ask(&mut line);
        assert!(line.starts_with("STATUS 200 a.example.test"), "{line}");
    }
    drop(to_py);
    let _ = py.wait();
}

#[test]
fn a_bad_pem_in_put_config_is_refused_naming_the_file_and_the_old_certificates_stay() {
    let pki = Pki::new("badpem");
    let gw = Gateway::start(&config(&pki, &["a"], ""), &[]);
    std::fs::write(
        pki.dir.join("broken.pem"),
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let bad = config(&pki, &["a"], "").replace(&pki.path("a.pem"), &pki.path("broken.pem"));
    let (status, body) = admin(&gw, "PUT", "/config", &bad);
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(body.contains("broken.pem"), "{body}");
    let mismatch = config(&pki, &["a"], "").replace(&pki.path("a.key"), &pki.path("b.key"));
    let (status, body) = admin(&gw, "PUT", "/config", &mismatch);
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(
        body.contains("b.key") && body.contains("does not match"),
        "{body}"
    );
    let (ok, out) = curl(gw.addr, "a.example.test", &pki, &[]);
    assert!(ok && out.ends_with("200"), "{out}");
    // `tollgate validate` says the same.
    let cfg = common::TempFile::new("bad.yaml", &bad);
    let out = common::run(&["validate", "--config", &cfg.0.display().to_string()]);
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("broken.pem"), "{text}");
}

#[test]
fn garbage_truncated_and_plaintext_input_on_the_tls_port_is_refused() {
    let pki = Pki::new("garbage");
    let gw = Gateway::start(&config(&pki, &["default"], ""), &[]);
    let exchange = |bytes: &[u8], close_write: bool| -> Vec<u8> {
        let mut s = TcpStream::connect(gw.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(bytes).unwrap();
        if close_write {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    };
    // Plain HTTP: a plaintext 400, then close.
    let out = exchange(b"GET /prod/hello HTTP/1.1\r\nHost: x\r\n\r\n", false);
    assert!(
        out.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    // Garbage: at most an alert record, then close (never an HTTP answer).
    let out = exchange(
        &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 6, 7, 8],
        false,
    );
    assert!(out.is_empty() || out[0] == 0x15, "{out:?}");
    // A truncated ClientHello, then EOF.
    let out = exchange(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01], true);
    assert!(out.is_empty() || out[0] == 0x15, "{out:?}");
    // Silence: closed once header_timeout_ms (2 s) passes.
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t0 = std::time::Instant::now();
    let mut b = [0u8; 16];
    assert_eq!(s.read(&mut b).unwrap_or(0), 0);
    assert!(t0.elapsed() < Duration::from_secs(9));
    for reason in ["plain_http", "protocol", "eof", "timeout"] {
        let key = format!("tollgate_tls_handshake_failures_total{{reason=\"{reason}\"}}");
        assert!(eventually(SOON, || metric(&gw, &key) >= 1), "{key}");
    }
    // The listener still serves.
    let (ok, out) = curl(gw.addr, "default.example.test", &pki, &[]);
    assert!(ok && out.ends_with("200"), "{out}");
}

#[test]
fn a_client_certificate_reaches_a_request_authorizer_and_a_mapped_header() {
    let pki = Pki::new("clientcert");
    let f = lambda_support::Function::start();
    let echo = lambda_support::echo_backend();
    let extra = format!(
        "client_auth: {{ truststore_file: \"{}\", required: false }}",
        pki.path("clientca.pem")
    );
    let cfg = config(&pki, &["default"], &extra).replace(
        "apis:\n",
        &format!(
            "authorizers:\n  - {{ name: req, type: REQUEST, function_url: \"{}\", identity_source: method.request.header.X-Token, ttl_seconds: 0 }}\n  - {{ name: bycert, type: REQUEST, function_url: \"{}\", identity_source: \"method.request.header.X-Token, context.identity.clientCert.serialNumber\", ttl_seconds: 300 }}\napis:\n",
            f.url(),
            f.url()
        ),
    ) + &format!(
        r#"      - path: /authz
        methods: [GET]
        authorization: CUSTOM
        authorizer: req
        integration:
          type: http_proxy
          uri: "http://{echo}/seen"
          request_headers:
            x-client-subject: context.identity.clientCert.subjectDN
            x-client-serial: context.identity.clientCert.serialNumber
      - path: /bycert
        methods: [GET]
        authorization: CUSTOM
        authorizer: bycert
        integration: {{ type: mock, status: 200, body: ok }}
"#
    );
    let gw = Gateway::start(&cfg, &[]);
    let get = |path: &str, token: &str, cert: bool| -> String {
        let mut args = vec!["-H".to_owned(), format!("X-Token: {token}")];
        if cert {
            args.extend(
                [
                    "--cert",
                    &pki.path("client.pem"),
                    "--key",
                    &pki.path("client.key"),
                ]
                .map(str::to_owned),
            );
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert", &pki.path("ca.pem")])
            .args([
                "--resolve",
                &format!("default.example.test:{}:127.0.0.1", gw.addr.port()),
            ])
            .args(&args)
            .args(["-w", "\n%{http_code}"])
            .arg(format!(
                "https://default.example.test:{}/prod/{path}",
                gw.addr.port()
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // With a certificate: the event carries it, and the mapped header reaches the upstream.
    let body = get("authz", "allow-cert", true);
    let (body, _) = body.rsplit_once('\n').unwrap();
    let seen: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{body}"));
    assert_eq!(
        seen["x-client-subject"], "O=Tollgate Tests,CN=My Client",
        "{seen}"
    );
    // The client came in over HTTPS: the upstream is told so, as API Gateway does.
    assert_eq!(seen["x-forwarded-proto"], "https", "{seen}");
    let ev = f.events_for("allow-cert");
    assert_eq!(ev.len(), 1);
    let cc = &ev[0]["requestContext"]["identity"]["clientCert"];
    assert_eq!(cc["subjectDN"], "O=Tollgate Tests,CN=My Client", "{cc}");
    assert_eq!(cc["issuerDN"], "CN=Tollgate Client CA", "{cc}");
    assert_eq!(seen["x-client-serial"], cc["serialNumber"]);
    let pem = std::fs::read_to_string(pki.path("client.pem")).unwrap();
    assert_eq!(
        cc["clientCertPem"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect::<String>(),
        pem.split_whitespace().collect::<String>()
    );
    for k in ["notBefore", "notAfter"] {
        assert!(
            cc["validity"][k].as_str().unwrap().ends_with(" GMT"),
            "{cc}"
        );
    }
    // Without one: no clientCert in the event (as AWS), no mapped header.
    let body = get("authz", "allow-nocert", false);
    let (body, _) = body.rsplit_once('\n').unwrap();
    let seen: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{body}"));
    assert!(seen.get("x-client-subject").is_none(), "{seen}");
    assert_eq!(seen["x-forwarded-proto"], "https", "{seen}");
    let ev = f.events_for("allow-nocert");
    assert_eq!(ev.len(), 1);
    assert!(
        ev[0]["requestContext"]["identity"]
            .get("clientCert")
            .is_none(),
        "{}",
        ev[0]
    );
    // Keyed on the certificate too: cached per certificate, and without one a 401 without a
    // call (the source is missing), never the cached answer of a client that had one.
    let status = |out: String| out.rsplit_once('\n').unwrap().1.to_owned();
    assert_eq!(status(get("bycert", "allow-bc", true)), "200");
    assert_eq!(status(get("bycert", "allow-bc", true)), "200");
    assert_eq!(
        f.events_for("allow-bc").len(),
        1,
        "cached for this certificate"
    );
    assert_eq!(status(get("bycert", "allow-bc", false)), "401");
    assert_eq!(f.events_for("allow-bc").len(), 1);
}

/// A real HTTPS server (Python's `ssl`, `tls_support/https_server.py`) on 127.0.0.1 with
/// certificate `stem`; killed on drop.
struct HttpsServer {
    child: std::process::Child,
    addr: SocketAddr,
}

impl HttpsServer {
    fn start(pki: &Pki, stem: &str, jwks_file: Option<&str>) -> HttpsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/tls_support/https_server.py"
        );
        let mut cmd = Command::new("python3");
        cmd.args([
            script,
            &port.to_string(),
            &pki.path(&format!("{stem}.pem")),
            &pki.path(&format!("{stem}.key")),
        ]);
        if let Some(f) = jwks_file {
            cmd.env("JWKS_FILE", f);
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("READY"), "{line}");
        HttpsServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plaintext gateway whose routes reach `good` (certificate from the trusted CA) and
/// `rogue` (from another CA) over https://, with `ca.pem` as `upstream.ca_file`.
fn client_config(pki: &Pki, good: SocketAddr, rogue: SocketAddr) -> String {
    format!(
        r#"gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 1
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "{ADMIN_BIND}" }}
  access_log: "{log}"
  upstream: {{ ca_file: "{ca}" }}
authorizers:
  - {{ name: fn, type: REQUEST, function_url: "https://{good}/2015-03-31/functions/f/invocations", identity_source: method.request.header.X-Token, ttl_seconds: 0 }}
  - {{ name: badfn, type: REQUEST, function_url: "https://{rogue}/2015-03-31/functions/f/invocations", identity_source: method.request.header.X-Token, ttl_seconds: 0 }}
apis:
  - id: e2etls0002
    name: tlsclient
    hosts: ["*"]
    stages:
      prod:
        variables: {{}}
    routes:
      - {{ path: /up, methods: [GET], authorization: NONE, integration: {{ type: http_proxy, uri: "https://{good}/seen" }} }}
      - {{ path: /rogue, methods: [GET], authorization: NONE, integration: {{ type: http_proxy, uri: "https://{rogue}/seen" }} }}
      - path: /authz
        methods: [GET]
        authorization: CUSTOM
        authorizer: fn
        integration:
          type: http_proxy
          uri: "https://{good}/authz"
          request_headers: {{ x-principal: context.authorizer.principalId }}
      - {{ path: /badauthz, methods: [GET], authorization: CUSTOM, authorizer: badfn, integration: {{ type: mock, status: 200 }} }}
"#,
        ca = pki.path("ca.pem"),
        log = pki.path("access.log")
    )
}

#[test]
fn https_upstreams_and_authorizers_are_verified_against_the_ca_file() {
    let pki = Pki::new("client");
    let good = HttpsServer::start(&pki, "local", None);
    let rogue = HttpsServer::start(&pki, "rogue", None);
    let gw = Gateway::start(&client_config(&pki, good.addr, rogue.addr), &[]);
    let mut c = gw.connect();
    // A private CA the gateway trusts: 200, over a pooled keep-alive TLS connection.
    for _ in 0..3 {
        let r = c.request(&common::get("/prod/up", ""));
        assert_eq!(
            r.status,
            200,
            "{} {}",
            r.text(),
            std::fs::read_to_string(pki.path("access.log")).unwrap_or_default()
        );
        assert_eq!(r.json()["x-path"], "/seen");
    }
    // An unknown CA: an upstream failure, 502.
    let r = c.request(&common::get("/prod/rogue", ""));
    assert_eq!(r.status, 502, "{}", r.text());
    // ... with the reason in the access log (and on stderr).
    let log = || std::fs::read_to_string(pki.path("access.log")).unwrap_or_default();
    assert!(
        eventually(SOON, || log().contains("UnknownIssuer")),
        "{}",
        log()
    );
    // An https:// authorizer with the private CA: called, and its answer applied.
    let r = c.request(&common::get("/prod/authz", "X-Token: t\r\n"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["x-principal"], "tls-user");
    // An https:// authorizer whose certificate does not verify: 500, as any failed call.
    let r = c.request(&common::get("/prod/badauthz", "X-Token: t\r\n"));
    assert_eq!(r.status, 500, "{}", r.text());
}

#[test]
fn an_https_jwks_is_fetched_with_the_private_ca_and_refused_with_another() {
    let pki = Pki::new("jwks");
    let key = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/jose-cookbook-rfc7520/jwk/3_3.rsa_public_key.json"
    ))
    .unwrap();
    let doc = format!("{{\"keys\": [{key}]}}");
    let jwks_file = pki.path("jwks.json");
    std::fs::write(&jwks_file, doc).unwrap();
    let good = HttpsServer::start(&pki, "local", Some(&jwks_file));
    let rogue = HttpsServer::start(&pki, "rogue", Some(&jwks_file));
    let pools = format!(
        r#"  - {{ name: pool, type: COGNITO_USER_POOLS, provider_arns: ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Good"], jwks: {{ url: "https://{}/jwks.json" }} }}
  - {{ name: rogue, type: COGNITO_USER_POOLS, provider_arns: ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Bad"], jwks: {{ url: "https://{}/jwks.json" }} }}
apis:
"#,
        good.addr, rogue.addr
    );
    let cfg = client_config(&pki, good.addr, rogue.addr).replacen("apis:\n", &pools, 1);
    let gw = Gateway::start(&cfg, &[]);
    let ok = format!(
        "tollgate_jwks_fetch_total{{url=\"https://{}/jwks.json\",result=\"ok\"}}",
        good.addr
    );
    let bad = format!(
        "tollgate_jwks_fetch_total{{url=\"https://{}/jwks.json\",result=\"error\"}}",
        rogue.addr
    );
    assert!(eventually(SOON, || metric(&gw, &ok) >= 1), "{ok}");
    assert!(eventually(SOON, || metric(&gw, &bad) >= 1), "{bad}");
    let rogue_ok = format!(
        "tollgate_jwks_fetch_total{{url=\"https://{}/jwks.json\",result=\"ok\"}}",
        rogue.addr
    );
    assert_eq!(metric(&gw, &rogue_ok), 0);
}

#[test]
fn a_proxy_protocol_header_comes_before_the_tls_handshake() {
    let pki = Pki::new("proxy");
    let cfg = config(&pki, &["default"], "").replace(
        "    - bind: \"127.0.0.1:0\"\n",
        "    - bind: \"127.0.0.1:0\"\n      proxy_protocol: true\n",
    );
    let gw = Gateway::start(&cfg, &[]);
    let src: SocketAddr = "203.0.113.7:4567".parse().unwrap();
    let header = tollgate_gateway::proxy_protocol::encode_v2(src, gw.addr, None);
    let hex: String = header.iter().map(|b| format!("{b:02x}")).collect();
    // Python: the PROXY v2 header in plaintext, then TLS (verified, SNI) on the same socket.
    let script = r#"
import socket, ssl, sys
port, ca, hexhdr = int(sys.argv[1]), sys.argv[2], sys.argv[3]
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
raw.sendall(bytes.fromhex(hexhdr))
s = ssl.create_default_context(cafile=ca).wrap_socket(raw, server_hostname="default.example.test")
s.sendall(b"GET /prod/hello HTTP/1.1\r\nHost: default.example.test\r\nConnection: close\r\n\r\n")
out = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    out += b
print(out.decode().split("\r\n")[0])
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            &gw.addr.port().to_string(),
            &pki.path("ca.pem"),
            &hex,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without the PROXY header, a ClientHello is not a PROXY header: refused, counted.
    let (ok, out) = curl(gw.addr, "default.example.test", &pki, &[]);
    assert!(!ok, "{out}");
    assert!(eventually(SOON, || metric(
        &gw,
        "tollgate_tls_handshake_failures_total{reason=\"io\"}"
    ) >= 1));
}
