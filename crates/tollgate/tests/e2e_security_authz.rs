//! Security regressions (review issue 12) through the real binary and real sockets:
//!
//! * repeated identity sources (headers, query strings, `Authorization` on TOKEN and Cognito
//!   routes) are refused with 400 before the authorizer is called, so nothing is cached;
//! * the Lambda authorizer cache keeps no failure records and a flood of distinct rejected
//!   tokens does not evict a cached good token;
//! * the admin API serves connections concurrently, checks the token before reading a body;
//! * `PUT /config` errors name a file, never its content; a non-loopback admin bind needs a
//!   token;
//! * a low `RLIMIT_NOFILE` bounds client connections so requests keep working and the accept
//!   error line is rate-limited;
//! * deeply nested YAML is refused quickly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod lambda_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::TempFile;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_support::{Function, Gateway, Resp, echo_backend};
use serde_json::json;

const KEY_A_PKCS1: &[u8] =
    include_bytes!("../../tollgate-jwt/tests/keys/rsa2048_test_only.pkcs1.der");
const KEY_A_PK8: &[u8] = include_bytes!("../../tollgate-jwt/tests/keys/rsa2048_test_only.pk8.der");
const POOL: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example";
const CLIENT: &str = "3n4b5urk1ft4fl3mg5e62d9ado";
const ADMIN_TOKEN: &str = "admin-secret-token";

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn jwks_doc() -> String {
    let kp = ring::signature::RsaKeyPair::from_pkcs8(KEY_A_PK8).unwrap();
    let c = ring::signature::RsaPublicKeyComponents::<Vec<u8>>::from(kp.public());
    json!({"keys": [{"kty":"RSA","kid":"key-a","use":"sig","alg":"RS256","n":b64(&c.n),"e":b64(&c.e)}]})
        .to_string()
}

fn id_token() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"sub": "alice-sub", "iss": POOL, "aud": CLIENT, "token_use": "id",
        "auth_time": t, "iat": t, "exp": t + 3600, "cognito:username": "alice"});
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("key-a".to_owned());
    jsonwebtoken::encode(&h, &claims, &EncodingKey::from_rsa_der(KEY_A_PKCS1)).unwrap()
}

fn config(f: &Function, echo: SocketAddr, jwks_file: &str, limits: &str) -> String {
    let url = f.url();
    format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 2
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0", token: "{ADMIN_TOKEN}" }}
  access_log: "off"
  limits: {{ {limits} }}
authorizers:
  - {{ name: tok, type: TOKEN, function_url: "{url}", identity_source: method.request.header.Authorization, ttl_seconds: 300 }}
  - {{ name: req, type: REQUEST, function_url: "{url}", identity_source: "method.request.header.X-Token, method.request.querystring.q", ttl_seconds: 300 }}
  - name: users
    type: COGNITO_USER_POOLS
    provider_arns: ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"]
    jwks: {{ file: "{jwks_file}" }}
    client_ids: ["{CLIENT}"]
apis:
  - id: api1abc
    hosts: ["*"]
    stages:
      prod:
        variables: {{ backend: "{echo}" }}
    routes:
      - {{ path: /open, methods: [GET], authorization: NONE, integration: {{ type: mock, status: 200, body: open }} }}
      - {{ path: "/tok", methods: [GET], authorization: CUSTOM, authorizer: tok, integration: {{ type: mock, status: 200, body: ok }} }}
      - {{ path: "/req", methods: [GET], authorization: CUSTOM, authorizer: req, integration: {{ type: mock, status: 200, body: ok }} }}
      - {{ path: "/cog", methods: [GET], authorization: COGNITO_USER_POOLS, authorizer: users, integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/cog" }} }}
      - {{ path: "/proxied", methods: [GET], authorization: NONE, integration: {{ type: http_proxy, uri: "http://${{stageVariables.backend}}/p" }} }}
"#
    )
}

struct World {
    f: Function,
    gw: Gateway,
    _jwks: TempFile,
}

fn world(limits: &str) -> World {
    let f = Function::start();
    let echo = echo_backend();
    let jwks = TempFile::new("jwks.json", &jwks_doc());
    let cfg = config(&f, echo, jwks.0.to_str().unwrap(), limits);
    let gw = Gateway::start(&cfg, &["--workers", "2"]);
    World { f, gw, _jwks: jwks }
}

fn assert_400(r: &Resp, what: &str) {
    assert_eq!(r.status, 400, "{what}: {r:?}");
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("BadRequestException"),
        "{what}"
    );
}

// ------------------------------------------------------------------ item 4: repeated sources

/// A REQUEST authorizer's key and event must be made of the same value: a repeated header or
/// query-string source is refused (400) without a call, and so cannot plant an Allow under a
/// token the function never saw.
#[test]
fn repeated_identity_sources_are_refused_without_a_call() {
    let w = world("");
    let (gw, f) = (&w.gw, &w.f);

    // The poisoning attempt: key from the first X-Token, event from the last one.
    let r = gw.get(
        "/prod/req?q=1",
        &[("X-Token", "forged-1"), ("X-Token", "allow-real")],
    );
    assert_400(&r, "two X-Token headers");
    let r = gw.get(
        "/prod/req?q=1",
        &[("x-token", "forged-2"), ("X-TOKEN", "allow-real")],
    );
    assert_400(&r, "two X-Token headers, different casing");
    // Repeated query-string source (also when one of them is percent-encoded).
    let r = gw.get("/prod/req?q=forged-3&q=allow-real", &[("X-Token", "t")]);
    assert_400(&r, "two q parameters");
    let r = gw.get("/prod/req?%71=forged-4&q=allow-real", &[("X-Token", "t")]);
    assert_400(&r, "q and %71");
    // TOKEN: a repeated Authorization.
    let r = gw.get(
        "/prod/tok",
        &[
            ("Authorization", "forged-5"),
            ("Authorization", "allow-real"),
        ],
    );
    assert_400(&r, "two Authorization on a TOKEN route");
    assert_eq!(f.count(), 0, "the function must not be called");

    // Nothing was cached: the forged tokens alone are the function's to judge (500 here).
    for (path, hdr, v) in [
        ("/prod/req?q=1", "X-Token", "forged-1"),
        ("/prod/req?q=1", "X-Token", "forged-2"),
        ("/prod/tok", "Authorization", "forged-5"),
    ] {
        let r = gw.get(path, &[(hdr, v)]);
        assert_ne!(r.status, 200, "{v} must not be authorized: {r:?}");
    }
    let r = gw.get("/prod/req?q=forged-3", &[("X-Token", "t")]);
    assert_ne!(r.status, 200, "{r:?}");
    // Single sources still work.
    let r = gw.get("/prod/req?q=1", &[("X-Token", "allow-real")]);
    assert_eq!(r.status, 200, "{r:?}");
    let r = gw.get("/prod/tok", &[("Authorization", "allow-real")]);
    assert_eq!(r.status, 200, "{r:?}");
}

/// A Cognito route refuses a repeated `Authorization` (it would otherwise check the first and
/// forward both upstream).
#[test]
fn cognito_refuses_repeated_authorization() {
    let w = world("");
    let gw = &w.gw;
    let token = id_token();
    let r = gw.get("/prod/cog", &[("Authorization", &token)]);
    assert_eq!(r.status, 200, "{r:?}");
    let r = gw.get(
        "/prod/cog",
        &[("Authorization", &token), ("Authorization", "Bearer other")],
    );
    assert_400(&r, "two Authorization on a Cognito route");
    let r = gw.get(
        "/prod/cog",
        &[("Authorization", "Bearer other"), ("authorization", &token)],
    );
    assert_400(&r, "two Authorization on a Cognito route, valid last");
}

// ------------------------------------------------------------- item 6: cache under a flood

/// Send `n` requests with distinct tokens on one keep-alive connection; returns the statuses.
fn flood(gw: &Gateway, path: &str, header: &str, prefix: &str, n: usize) -> Vec<u16> {
    let mut c = gw.connect();
    (0..n)
        .map(|i| {
            let raw = format!(
                "GET {path} HTTP/1.1\r\nHost: api.example.com\r\n{header}: {prefix}{i}-{}\r\n\r\n",
                "p".repeat(200)
            );
            c.request(raw.as_bytes()).status
        })
        .collect()
}

#[test]
fn rejected_token_flood_keeps_good_entries_cached() {
    // Small budgets so that the flood overflows them many times.
    let w = world("authorizer_cache_l1_bytes: 65536, authorizer_cache_l2_bytes: 131072");
    let (gw, f) = (&w.gw, &w.f);
    for _ in 0..3 {
        let r = gw.get("/prod/tok", &[("Authorization", "allow-good")]);
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_eq!(f.count_for("allow-good"), 1);
    // Errors (not cached at all) and Deny answers (cached, as AWS does).
    let errors = flood(gw, "/prod/tok", "Authorization", "bogus-", 400);
    assert!(errors.iter().all(|&s| s == 500), "{errors:?}");
    let denies = flood(gw, "/prod/tok", "Authorization", "deny-", 400);
    assert!(denies.iter().all(|&s| s == 403), "{denies:?}");
    let before = f.count();
    for _ in 0..4 {
        let r = gw.get("/prod/tok", &[("Authorization", "allow-good")]);
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_eq!(
        f.count_for("allow-good"),
        1,
        "the good token must still be served from the cache"
    );
    assert_eq!(f.count(), before);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Rejected tokens leave nothing behind: 4,000 distinct 8 KB tokens the function refuses
/// (a function error: 500, never cached) do not grow the gateway's memory by their size
/// (the old cache kept each one's key until 200,000 entries).
#[test]
fn rejected_tokens_are_not_retained() {
    let w = world("");
    let (gw, f) = (&w.gw, &w.f);
    let pid = gw.child.id();
    let pad = "r".repeat(8000);
    let send = |from: usize, n: usize| {
        let mut c = gw.connect();
        for i in from..from + n {
            let raw = format!(
                "GET /prod/tok HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: bogus-{i}-{pad}\r\n\r\n"
            );
            assert_eq!(c.request(raw.as_bytes()).status, 500);
        }
    };
    send(0, 300);
    thread::sleep(Duration::from_millis(300));
    let before = rss_kib(pid);
    send(300, 4000);
    thread::sleep(Duration::from_millis(300));
    let after = rss_kib(pid);
    assert_eq!(
        f.count(),
        4300,
        "every rejected token was a call (nothing cached)"
    );
    let grown = after.saturating_sub(before);
    eprintln!(
        "VmRSS before {before} KiB, after {after} KiB (+{grown} KiB for 4,000 rejected 8 KB tokens)"
    );
    // 4,000 retained 8 KB keys would be over 31 MiB.
    assert!(grown < 12 * 1024, "grew {grown} KiB");
}

// ------------------------------------------------------------------ item 7: admin API

fn admin_raw(addr: SocketAddr, raw: &[u8]) -> (u16, String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body, started.elapsed())
}

fn put_config(addr: SocketAddr, body: &str) -> (u16, String, Duration) {
    admin_raw(
        addr,
        format!(
            "PUT /config HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn healthz(addr: SocketAddr) -> (u16, String, Duration) {
    admin_raw(
        addr,
        format!(
            "GET /healthz HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
}

#[test]
fn slow_admin_client_does_not_block_others() {
    let f = Function::start();
    let echo = echo_backend();
    let jwks = TempFile::new("jwks.json", &jwks_doc());
    let cfg = config(&f, echo, jwks.0.to_str().unwrap(), "");
    let gw = Gateway::start(&cfg, &["--workers", "1"]);
    let admin = gw.admin;
    // Slowloris: one byte a second, forever (until the test ends).
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let slow = thread::spawn(move || {
        let mut s = TcpStream::connect(admin).unwrap();
        let line =
            b"PUT /config HTTP/1.1\r\nHost: a\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        for b in line.iter().cycle() {
            if stop2.load(Ordering::Relaxed) || s.write_all(&[*b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_secs(1));
        }
    });
    thread::sleep(Duration::from_millis(500));
    let (status, body, took) = healthz(admin);
    assert_eq!((status, body.as_str()), (200, "ok"), "healthz");
    assert!(took < Duration::from_secs(3), "healthz took {took:?}");
    let (status, body, took) = put_config(admin, &cfg);
    assert_eq!(status, 200, "PUT /config: {body}");
    assert!(took < Duration::from_secs(5), "PUT /config took {took:?}");

    // Unauthenticated PUT declaring 4 MiB: 401 from the head alone, the body never sent.
    let mut s = TcpStream::connect(admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"PUT /config HTTP/1.1\r\nHost: a\r\nContent-Length: 4194304\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 401"), "{text:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // A wrong token is refused the same way.
    let mut s = TcpStream::connect(admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"PUT /config HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer nope\r\nContent-Length: 4194304\r\n\r\n",
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 401"));

    stop.store(true, Ordering::Relaxed);
    let _ = slow.join();
}

/// Admin connections are bounded (16 at once, the next one 503) and each has one overall
/// deadline (30 s): a client trickling a byte a second is cut off, and its slot freed.
#[test]
fn admin_connections_are_bounded_and_deadlined() {
    let f = Function::start();
    let echo = echo_backend();
    let jwks = TempFile::new("jwks.json", &jwks_doc());
    let cfg = config(&f, echo, jwks.0.to_str().unwrap(), "");
    let gw = Gateway::start(&cfg, &["--workers", "1"]);
    let admin = gw.admin;
    let started = Instant::now();
    let closed_after: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::new()));
    let mut slow = Vec::new();
    for _ in 0..16 {
        let closed = closed_after.clone();
        slow.push(thread::spawn(move || {
            let mut s = TcpStream::connect(admin).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: ");
            let mut buf = [0u8; 64];
            while started.elapsed() < Duration::from_secs(60) {
                if s.write_all(b"a").is_err() {
                    break;
                }
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
            }
            closed.lock().unwrap().push(started.elapsed());
        }));
    }
    thread::sleep(Duration::from_secs(2));
    let (status, body, _) = healthz(admin);
    assert_eq!(status, 503, "the 17th connection: {body}");
    for t in slow {
        t.join().unwrap();
    }
    let closed = closed_after.lock().unwrap().clone();
    assert_eq!(closed.len(), 16);
    for c in &closed {
        assert!(
            *c >= Duration::from_secs(25) && *c < Duration::from_secs(45),
            "a trickling connection was closed after {c:?}"
        );
    }
    let (status, body, _) = healthz(admin);
    assert_eq!((status, body.as_str()), (200, "ok"), "slots are freed");
}

// ------------------------------------------------------- item 8: file contents in errors

const SECRET: &str = "s3cr3t-LINE-7f1e9a: hunter2";

#[test]
fn config_errors_never_echo_file_contents() {
    let f = Function::start();
    let echo = echo_backend();
    let jwks = TempFile::new("jwks.json", &jwks_doc());
    let cfg = config(&f, echo, jwks.0.to_str().unwrap(), "");
    let gw = Gateway::start(&cfg, &["--workers", "1"]);
    // A host file that is not a policy, not JSON, not a key set.
    let secret = TempFile::new(
        "shadow",
        &format!("root:$6$abc:19000:0:99999:7:::\n{SECRET}\n"),
    );
    let secret_json = TempFile::new("secret.json", &format!("{{\"{SECRET}\": [1, }}"));
    let p = secret.0.to_str().unwrap();
    let pj = secret_json.0.to_str().unwrap();
    for (what, file) in [("yaml-ish", p), ("json-ish", pj)] {
        let policy_cfg = cfg.replace(
            "    hosts: [\"*\"]\n",
            &format!("    hosts: [\"*\"]\n    resource_policy_file: \"{file}\"\n"),
        );
        assert_ne!(policy_cfg, cfg);
        let (status, body, _) = put_config(gw.admin, &policy_cfg);
        assert_eq!(status, 400, "{what}: {body}");
        assert!(
            !body.contains("hunter2"),
            "{what}: policy file echoed: {body}"
        );
        assert!(
            !body.contains("s3cr3t"),
            "{what}: policy file echoed: {body}"
        );
        assert!(
            !body.contains("root:"),
            "{what}: policy file echoed: {body}"
        );
        assert!(
            body.contains(file),
            "{what}: the error names the file: {body}"
        );

        let jwks_cfg = cfg.replace(jwks.0.to_str().unwrap(), file);
        let (status, body, _) = put_config(gw.admin, &jwks_cfg);
        assert_eq!(status, 400, "{what}: {body}");
        assert!(
            !body.contains("hunter2"),
            "{what}: JWKS file echoed: {body}"
        );
        assert!(!body.contains("root:"), "{what}: JWKS file echoed: {body}");
    }
}

#[test]
fn non_loopback_admin_without_token_is_refused() {
    let cfg = TempFile::new(
        "admin.yaml",
        "gateway:\n  region: us-east-1\n  account_id: \"123456789012\"\n  admin: { bind: \"0.0.0.0:0\" }\napis: []\n",
    );
    let out = common::run(&["validate", "--config", cfg.0.to_str().unwrap()]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("gateway.admin.token"), "{text}");
    // With a token it is fine; so is loopback without one.
    let ok = TempFile::new(
        "admin-ok.yaml",
        "gateway:\n  region: us-east-1\n  account_id: \"123456789012\"\n  admin: { bind: \"0.0.0.0:0\", token: t0ken }\napis: []\n",
    );
    let out = common::run(&["validate", "--config", ok.0.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let ok = TempFile::new(
        "admin-lo.yaml",
        "gateway:\n  region: us-east-1\n  account_id: \"123456789012\"\n  admin: { bind: \"[::1]:0\" }\napis: []\n",
    );
    let out = common::run(&["validate", "--config", ok.0.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
}

// --------------------------------------------------------------- item 12: nesting depth

#[test]
fn deep_nesting_is_refused_quickly() {
    let f = Function::start();
    let echo = echo_backend();
    let jwks = TempFile::new("jwks.json", &jwks_doc());
    let cfg = config(&f, echo, jwks.0.to_str().unwrap(), "");
    let gw = Gateway::start(&cfg, &["--workers", "1"]);
    let deep = format!("apis: {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, body, took) = put_config(gw.admin, &deep);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("nest"), "{body}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, body, took) = put_config(gw.admin, &deep);
    assert_eq!(status, 400, "{body}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // Invalid JSON is a JSON error with its position, not a YAML retry.
    let (status, body, _) = put_config(gw.admin, "{\"gateway\": {\"region\": }}");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("line 1 column"), "{body}");
    // The gateway still answers.
    let (status, _, _) = healthz(gw.admin);
    assert_eq!(status, 200);
}

// ---------------------------------------------------------- item 11: descriptor exhaustion

/// A gateway process that is killed and reaped on drop.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tollgate serve` under `ulimit -n {nofile}`; returns (process, listen addr, stderr log).
fn start_limited(config: &str, nofile: u32) -> (Reaped, SocketAddr, Arc<Mutex<String>>, TempFile) {
    let cfg = TempFile::new("limited.yaml", config);
    let mut child = Reaped(
        Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(common::bin())
            .arg("serve")
            .arg("--config")
            .arg(&cfg.0)
            .env_remove("TOLLGATE_IO_DRIVER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let log2 = log.clone();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            log2.lock().unwrap().push_str(&line);
            log2.lock().unwrap().push('\n');
            let _ = tx.send(line);
        }
    });
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("did not start: {}", log.lock().unwrap()));
        if let Some(rest) = line.split("tollgate: listening on http://").nth(1) {
            let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            return (child, addr, log, cfg);
        }
    }
}

#[test]
fn low_nofile_keeps_existing_connections_working() {
    let echo = common::serve_requests(|_| {
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nup".to_vec()
    });
    let cfg = format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 2
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "127.0.0.1:0" }}
  access_log: "off"
apis:
  - id: fd1
    hosts: ["*"]
    stages: {{ prod: {{}} }}
    routes:
      - {{ path: /p, methods: [GET], authorization: NONE, integration: {{ type: http_proxy, uri: "http://{echo}/p" }} }}
"#
    );
    let (child, addr, log, _cfg) = start_limited(&cfg, 256);
    let req = b"GET /prod/p HTTP/1.1\r\nHost: x\r\n\r\n";
    // The upstream closes after each answer: every request needs a new upstream descriptor.
    let mut first = common::Client::connect(addr);
    assert_eq!(first.request(req).status, 200);
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            idle.push(s);
        }
    }
    thread::sleep(Duration::from_secs(2));
    let r = first.request(req);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, b"up");
    thread::sleep(Duration::from_secs(1));
    let text = log.lock().unwrap().clone();
    let accept_lines = text.lines().filter(|l| l.contains("accept:")).count();
    assert!(accept_lines <= 6, "{accept_lines} accept lines:\n{text}");
    assert!(
        text.contains("connections per worker"),
        "the effective bound is logged:\n{text}"
    );
    drop(idle);
    drop(child);
}
