#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! End to end: the `origin` and `authorizer` stubs under `run`, through the binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tollgate-load");

struct Stub {
    child: Child,
    addr: String,
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Stub {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--bind", "127.0.0.1:0", "--lifetime", "60s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Stub { child, addr }
}

fn run(args: &[&str]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("tollgate-load-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join(format!("{}.json", args.join("_").len()));
    let out = Command::new(BIN)
        .arg("run")
        .args(args)
        .args(["--quiet", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("throughput"), "{table}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    v
}

#[test]
fn open_and_closed_loop_against_origin() {
    let origin = start(&["origin"]);
    let url = format!("http://{}/prod/hello", origin.addr);
    // Open loop: 2,000 rps for 1 s over 8 connections.
    let v = run(&[
        "--url",
        &url,
        "--rate",
        "2000",
        "--connections",
        "8",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
    ]);
    assert_eq!(v["mode"], "open");
    let requests = v["requests"].as_u64().unwrap();
    // 2,000 are scheduled in the window; allow a little slack at the edges on a busy machine.
    assert!((1900..=2000).contains(&requests), "{v}");
    assert_eq!(v["errors"]["connect"], 0, "{v}");
    assert_eq!(v["errors"]["status"], 0, "{v}");
    assert_eq!(v["status"]["200"].as_u64(), Some(requests), "{v}");
    assert!(v["throughput_rps"].as_f64().unwrap() > 1800.0, "{v}");
    let p50 = v["latency"]["p50_us"].as_f64().unwrap();
    let max = v["latency"]["max_us"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= max, "{v}");
    assert!(v["connects"].as_u64().unwrap() >= 8, "{v}");

    // Closed loop, and an expectation that fails on purpose: 200 is not 404.
    let v = run(&[
        "--url",
        &url,
        "--concurrency",
        "4",
        "--duration",
        "500ms",
        "--warmup",
        "100ms",
        "--expect-status",
        "404",
    ]);
    assert_eq!(v["mode"], "closed");
    let requests = v["requests"].as_u64().unwrap();
    assert!(requests > 100, "{v}");
    assert_eq!(v["ok"], 0, "{v}");
    assert_eq!(v["errors"]["status"].as_u64(), Some(requests), "{v}");
    assert!(
        v["latency_corrected"]["count"].as_u64().unwrap() >= requests,
        "{v}"
    );
}

#[test]
fn authorizer_counts_invocations_under_load() {
    let auth = start(&["authorizer", "--delay-ms", "1"]);
    let url = format!(
        "http://{}/2015-03-31/functions/function/invocations",
        auth.addr
    );
    let v = run(&[
        "--url",
        &url,
        "--method",
        "POST",
        "--body",
        r#"{"type":"TOKEN","authorizationToken":"Bearer allow-1","methodArn":"arn"}"#,
        "--rate",
        "500",
        "--connections",
        "4",
        "--duration",
        "500ms",
        "--warmup",
        "0s",
    ]);
    let requests = v["requests"].as_u64().unwrap();
    assert!(requests >= 240, "{v}");
    assert_eq!(v["status"]["200"].as_u64(), Some(requests), "{v}");
    // Every request was one invocation, and the delay shows in the latency.
    assert!(v["latency"]["p50_us"].as_f64().unwrap() >= 1000.0, "{v}");
    let mut s = std::net::TcpStream::connect(&auth.addr).unwrap();
    s.write_all(b"GET /count HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let count: u64 = out
        .rsplit("\r\n\r\n")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(count, requests, "{out}");
}

#[test]
fn refuses_non_loopback_and_prints_jwks() {
    let out = Command::new(BIN)
        .args([
            "run",
            "--url",
            "http://192.0.2.1/x",
            "--rate",
            "1",
            "--duration",
            "1s",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("non-loopback"));

    let dir = std::env::temp_dir().join(format!("tollgate-load-keys-{}", std::process::id()));
    let st = Command::new(BIN)
        .args(["keygen", "--out-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(st.status.success());
    let jwks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("jwks.json")).unwrap()).unwrap();
    assert!(jwks["keys"].as_array().unwrap().len() >= 2, "{jwks}");
    let out = Command::new(BIN)
        .args(["jwks", "--kid", "kx", "--key"])
        .arg(dir.join("es256.der"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["keys"][0]["kty"], "EC");
    assert_eq!(v["keys"][0]["kid"], "kx");
    // `mint`: one token as `run --jwt-key` sends it (for generators that take a header).
    let out = Command::new(BIN)
        .args(["mint", "--jwt-bearer", "--jwt-kid", "kx", "--jwt-key"])
        .arg(dir.join("es256.der"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tok = String::from_utf8(out.stdout).unwrap();
    let jwt = tok.trim().strip_prefix("Bearer ").unwrap();
    assert_eq!(jwt.split('.').count(), 3, "{tok}");
    let _ = std::fs::remove_dir_all(&dir);
}
