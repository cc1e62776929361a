//! The stderr log of the real binary: every line carries an RFC 3339 timestamp and a level,
//! `gateway.log.format: json` gives one JSON object per line, and `gateway.log.level` changes
//! live with the config (a rejected reload is a warn line, hidden at `error`, shown at `warn`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::{Client, Gateway, SOON, eventually};

fn config(log: &str) -> String {
    format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 1
  listeners:
    - bind: "127.0.0.1:0"
  admin:
    bind: "127.0.0.1:0"
  access_log: "off"
  log: {log}
apis:
  - id: log1
    hosts: ["*"]
    stages:
      prod: {{}}
    routes:
      - path: /hello
        methods: [GET]
        authorization: NONE
        integration: {{ type: mock, status: 200, body: "hi" }}
"#
    )
}

fn put_config(admin: SocketAddr, body: &str) -> u16 {
    let mut c = Client::connect(admin);
    let req = format!(
        "PUT /config HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.request(req.as_bytes()).status
}

fn sighup(g: &Gateway) {
    let st = Command::new("kill")
        .arg("-HUP")
        .arg(g.child.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`
fn is_rfc3339_millis(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn json_lines_have_timestamp_level_and_message() {
    let g = Gateway::start(&config("{ format: json }"), &[]);
    let text = g.stderr_text();
    let mut seen_listening = false;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            is_rfc3339_millis(v["timestamp"].as_str().unwrap()),
            "{line}"
        );
        assert!(
            ["error", "warn", "info", "debug"].contains(&v["level"].as_str().unwrap()),
            "{line}"
        );
        let m = v["message"].as_str().unwrap();
        seen_listening |= m.starts_with("tollgate: listening on http://");
    }
    assert!(seen_listening, "{text}");
}

#[test]
fn text_lines_are_timestamped_and_the_level_follows_the_config_live() {
    let g = Gateway::start(&config("{ level: info }"), &[]);
    for line in g.stderr_text().lines() {
        let (ts, rest) = line.split_once(' ').unwrap();
        assert!(is_rfc3339_millis(ts), "{line}");
        assert!(
            ["INFO ", "WARN ", "ERROR", "DEBUG"]
                .iter()
                .any(|l| rest.starts_with(l)),
            "{line}"
        );
    }
    // The file becomes invalid: every SIGHUP from now on is a rejected reload (a warn line).
    std::fs::write(
        &g._config.as_ref().unwrap().0,
        "gateway: [not, a, mapping]\n",
    )
    .unwrap();

    assert_eq!(put_config(g.admin, &config("{ level: error }")), 200);
    sighup(&g);
    // The rejection happens, but at level error it is not logged; a later warn-level
    // config shows the next one.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !g.stderr_text().contains("config rejected"),
        "{}",
        g.stderr_text()
    );
    assert_eq!(put_config(g.admin, &config("{ level: warn }")), 200);
    sighup(&g);
    assert!(
        eventually(SOON, || g.stderr_text().contains("config rejected")),
        "{}",
        g.stderr_text()
    );
    let line = g
        .stderr_text()
        .lines()
        .find(|l| l.contains("config rejected"))
        .unwrap()
        .to_owned();
    assert!(line.split(' ').nth(1) == Some("WARN"), "{line}");
    // Still serving the last good config.
    let mut c = Client::connect(g.addr);
    assert_eq!(c.request(&common::get("/prod/hello", "")).status, 200);
}

#[test]
fn log_level_flag_wins_over_the_config() {
    // --log-level error hides the start-up info lines the harness waits for, so start at
    // debug (which shows them) with a config saying error.
    let g = Gateway::start(&config("{ level: error }"), &["--log-level", "debug"]);
    assert!(g.stderr_text().contains("INFO  tollgate: admin on"));
}
