#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! End to end: `tollgate-load run` over TLS against an independent HTTPS server (Python's
//! `ssl`, i.e. OpenSSL; `tests/https_server.py`) with an ECDSA P-256 certificate made by
//! `openssl` for the test: keep-alive, one full handshake per request, resumption (counted
//! from what rustls reports, including when the server refuses to resume), SNI, and a
//! certificate that does not verify.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tollgate-load");

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A work directory removed when the test ends.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA and a leaf for `localhost` / 127.0.0.1 signed by it, both ECDSA P-256; `other-ca.pem`
/// is an unrelated CA.
fn certs(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("tollgate-load-tls-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for ca in ["ca", "other-ca"] {
        openssl(
            &dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &format!("{ca}.key"),
            ],
        );
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &format!("{ca}.key"),
                "-subj",
                &format!("/CN={ca}"),
                "-days",
                "2",
                "-out",
                &format!("{ca}.pem"),
            ],
        );
    }
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "leaf.key",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            "/CN=localhost",
            "-out",
            "leaf.csr",
        ],
    );
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext",
            "-out",
            "leaf.pem",
        ],
    );
    TempDir(dir)
}

fn server(dir: &Path, tickets: u32) -> Server {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/https_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(dir.join("leaf.pem"))
        .arg(dir.join("leaf.key"))
        .arg("localhost")
        .arg(tickets.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    Server { child, port }
}

/// `tollgate-load run --url URL --concurrency N --fail-on-errors EXTRA...` for 1 s: its exit
/// code and JSON report.
fn run(dir: &Path, url: &str, concurrency: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec![
        "--url",
        url,
        "--concurrency",
        concurrency,
        "--fail-on-errors",
    ];
    args.extend_from_slice(extra);
    let json = dir.join(format!("report-{}.json", args.join(" ").len()));
    let out = Command::new(BIN)
        .arg("run")
        .args(args)
        .args(["--quiet", "--warmup", "0s", "--duration", "1s", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&out.stderr)));
    let _ = std::fs::remove_file(&json);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&text).unwrap(),
    )
}

fn n(v: &serde_json::Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("{path} missing in {v}"))
}

#[test]
fn keep_alive_https_verifies_the_server_and_handshakes_once_per_connection() {
    let dir = certs("ka");
    let srv = server(&dir, 2);
    let url = format!("https://localhost:{}/x", srv.port);
    let ca = dir.join("ca.pem");
    let (code, r) = run(&dir, &url, "2", &["--cacert", ca.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    assert!(n(&r, "/ok") >= 4, "{r}");
    assert_eq!(n(&r, "/tls/handshakes"), 2, "{r}");
    assert_eq!(n(&r, "/tls/full"), 2, "{r}");
    assert_eq!(r["tls"]["version"], "TLSv1.3", "{r}");
    assert_eq!(r["tls"]["resumption_offered"], false, "{r}");
}

#[test]
fn new_connection_does_one_full_handshake_per_request() {
    let dir = certs("new");
    let srv = server(&dir, 2);
    let url = format!("https://localhost:{}/x", srv.port);
    let (code, r) = run(
        &dir,
        &url,
        "2",
        &["--insecure-skip-verify", "--new-connection"],
    );
    assert_eq!(code, 0, "{r}");
    let ok = n(&r, "/ok");
    assert!(ok >= 4, "{r}");
    assert_eq!(n(&r, "/tls/handshakes"), ok, "{r}");
    assert_eq!(n(&r, "/tls/full"), ok, "{r}");
    assert_eq!(n(&r, "/tls/resumed"), 0, "{r}");
    assert!(n(&r, "/connects") >= ok, "{r}");
}

#[test]
fn resume_counts_only_the_handshakes_the_server_resumed() {
    let dir = certs("resume");
    let url = |s: &Server| format!("https://localhost:{}/x", s.port);
    let ca = dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    // The server sends tickets: only the first handshakes, made before any ticket arrived, are
    // full (at most one per connection slot).
    let srv = server(&dir, 2);
    let (code, r) = run(&dir, &url(&srv), "16", &["--cacert", ca, "--resume"]);
    assert_eq!(code, 0, "{r}");
    let hs = n(&r, "/tls/handshakes");
    assert_eq!(hs, n(&r, "/ok"), "{r}");
    assert!(hs > 16, "{r}");
    assert!(n(&r, "/tls/full") <= 16, "{r}");
    assert_eq!(n(&r, "/tls/resumed") + n(&r, "/tls/full"), hs, "{r}");
    assert_eq!(r["tls"]["resumption_offered"], true, "{r}");
    drop(srv);
    // No tickets: resumption is offered (nothing to offer, in fact) and never happens.
    let srv = server(&dir, 0);
    let (code, r) = run(&dir, &url(&srv), "2", &["--cacert", ca, "--resume"]);
    assert_eq!(code, 0, "{r}");
    assert!(n(&r, "/tls/handshakes") >= 4, "{r}");
    assert_eq!(n(&r, "/tls/resumed"), 0, "{r}");
    assert_eq!(n(&r, "/tls/full"), n(&r, "/tls/handshakes"), "{r}");
}

#[test]
fn sni_and_verification_failures_are_tls_errors() {
    let dir = certs("fail");
    let srv = server(&dir, 2);
    let other = dir.join("other-ca.pem");
    // An IP address in the URL: no SNI is sent and the server refuses; --sni fixes it.
    let ip_url = format!("https://127.0.0.1:{}/x", srv.port);
    let (code, r) = run(&dir, &ip_url, "1", &["--insecure-skip-verify"]);
    assert_eq!(code, 2, "{r}");
    assert_eq!(n(&r, "/ok"), 0, "{r}");
    assert!(n(&r, "/errors/tls") >= 1, "{r}");
    assert!(n(&r, "/tls/failed") >= 1, "{r}");
    let (code, r) = run(
        &dir,
        &ip_url,
        "1",
        &["--sni", "localhost", "--insecure-skip-verify"],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(n(&r, "/tls/handshakes"), 1, "{r}");
    // A CA that did not sign the server's certificate.
    let url = format!("https://localhost:{}/x", srv.port);
    let (code, r) = run(&dir, &url, "1", &["--cacert", other.to_str().unwrap()]);
    assert_eq!(code, 2, "{r}");
    assert_eq!(n(&r, "/ok"), 0, "{r}");
    assert!(n(&r, "/errors/tls") >= 1, "{r}");
}

#[test]
fn https_needs_a_trust_decision() {
    let out = Command::new(BIN)
        .args(["run", "--url", "https://127.0.0.1:1/", "--concurrency", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--cacert FILE or --insecure-skip-verify"),
        "{err}"
    );
}
