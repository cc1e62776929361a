//! Gateway responses overridden per API (status, headers, body templates, DEFAULT_4XX
//! fallback) and the JSON access log, with the real binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use common::Gateway;

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-resp-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn get(addr: SocketAddr, host: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t/1\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

const CONFIG: &str = r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{ bind: "127.0.0.1:0" }]
  admin: { bind: "127.0.0.1:0" }
  access_log: LOGFILE
apis:
  - id: custom1
    hosts: ["custom.test"]
    stages: { prod: {} }
    resource_policy:
      Version: "2012-10-17"
      Statement:
        - { Effect: Deny, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/prod/GET/secret" }
        - { Effect: Allow, Principal: "*", Action: "execute-api:Invoke", Resource: "execute-api:/*" }
    routes:
      - { path: /ok, methods: [GET], authorization: NONE, integration: { type: mock, body: 'fine' } }
      - { path: /secret, methods: [GET], authorization: NONE, integration: { type: mock, body: 'hidden' } }
    gateway_responses:
      MISSING_AUTHENTICATION_TOKEN:
        status: 404
        headers: { x-custom: yes }
        body: '{"error":$context.error.messageString,"type":"$context.error.responseType"}'
      DEFAULT_4XX:
        headers: { x-default-4xx: applied }
  - id: plain1
    hosts: ["*"]
    stages: { prod: {} }
    routes:
      - { path: /ok, methods: [GET], authorization: NONE, integration: { type: mock, body: 'fine' } }
"#;

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.split_once("\r\n\r\n")?.0.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn overrides_apply_per_api_and_the_access_log_records_each_request() {
    let dir = temp_dir();
    let log = dir.join("access.log");
    let gw = Gateway::start(
        &CONFIG.replace("LOGFILE", &format!("\"{}\"", log.display())),
        &["--workers", "1"],
    );
    // Overridden type: status, extra header, templated body; the error type header stays.
    let r = get(gw.addr, "custom.test", "/prod/nope");
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
    assert_eq!(header(&r, "x-custom"), Some("yes"));
    assert_eq!(
        header(&r, "x-amzn-ErrorType"),
        Some("MissingAuthenticationTokenException")
    );
    assert!(header(&r, "x-amzn-RequestId").is_some());
    assert!(
        r.ends_with(
            r#"{"error":"Missing Authentication Token","type":"MISSING_AUTHENTICATION_TOKEN"}"#
        ),
        "{r}"
    );
    // Another 4xx type falls back to DEFAULT_4XX (its headers), keeping AWS's default body.
    let r = get(gw.addr, "custom.test", "/prod/secret");
    assert!(r.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{r}");
    assert_eq!(header(&r, "x-default-4xx"), Some("applied"));
    assert_eq!(
        header(&r, "x-amzn-ErrorType"),
        Some("AccessDeniedException")
    );
    assert!(
        r.contains("{\"Message\":\"User: anonymous is not authorized"),
        "{r}"
    );
    // Other APIs keep AWS's defaults.
    let r = get(gw.addr, "other.test", "/prod/nope");
    assert!(r.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{r}");
    assert!(
        r.ends_with(r#"{"message":"Missing Authentication Token"}"#),
        "{r}"
    );
    assert_eq!(header(&r, "x-custom"), None);
    let ok = get(gw.addr, "custom.test", "/prod/ok");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"));
    // The access log: one JSON object per request.
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= 4 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(lines.len(), 4, "{lines:?}");
    let entries: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries[0]["status"], 404);
    assert_eq!(entries[0]["path"], "/prod/nope");
    assert_eq!(entries[0]["userAgent"], "t/1");
    assert_eq!(entries[3]["status"], 200);
    assert_eq!(entries[3]["apiId"], "custom1");
    assert_eq!(entries[3]["stage"], "prod");
    let rid = header(&ok, "x-amzn-RequestId").unwrap();
    assert_eq!(entries[3]["requestId"], rid);
}
