//! End-to-end: `gateway.access_log_format`. With API Gateway's documented CLF and JSON
//! example formats (plus authorizer and error variables), each access-log line is the format
//! rendered with the request's values, `-` where it has none; an authorized request carries
//! the Lambda authorizer's principalId and context, a gateway-made error its response type
//! and message. Requests are sent by curl (an independent client) and by a raw socket.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod lambda_support;

use std::process::Command;

use common::{ADMIN_BIND, SOON, TempFile, eventually};
use lambda_support::{Function, Gateway, request};
use serde_json::Value;

// API Gateway's documented CLF example, with the authorizer's principal and an error's type
// appended.
const CLF: &str = r#"$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime] "$context.httpMethod $context.resourcePath $context.protocol" $context.status $context.responseLength $context.requestId $context.authorizer.principalId $context.error.responseType"#;
// API Gateway's documented JSON example, plus a few more variables.
const JSON: &str = r#"{ "requestId":"$context.requestId", "extendedRequestId":"$context.extendedRequestId","ip": "$context.identity.sourceIp", "caller":"$context.identity.caller", "user":"$context.identity.user", "requestTime":"$context.requestTime", "httpMethod":"$context.httpMethod", "resourcePath":"$context.resourcePath", "status":"$context.status", "protocol":"$context.protocol", "responseLength":"$context.responseLength", "apiId":"$context.apiId", "stage":"$context.stage", "path":"$context.path", "epoch":"$context.requestTimeEpoch", "agent":"$context.identity.userAgent", "principal":"$context.authorizer.principalId", "stringKey":"$context.authorizer.stringKey", "numberKey":"$context.authorizer.numberKey", "claim":"$context.authorizer.claims.sub", "errorType":"$context.error.responseType", "errorMessage":"$context.error.message", "messageString":"$context.error.messageString", "latency":"$context.responseLatency", "integrationLatency":"$context.integrationLatency", "domain":"$context.domainName" }"#;

fn config(f: &Function, log: &TempFile, format: &str) -> String {
    let url = f.url();
    let log = log.0.display();
    // Single-quoted YAML: the format's double quotes stay as they are.
    let format = format.replace('\'', "''");
    format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  workers: 1
  listeners: [{{ bind: "127.0.0.1:0" }}]
  admin: {{ bind: "{ADMIN_BIND}" }}
  access_log: "{log}"
  access_log_format: '{format}'
authorizers:
  - {{ name: tok, type: TOKEN, function_url: "{url}", identity_source: method.request.header.Authorization, ttl_seconds: 0 }}
apis:
  - id: fmtapi0001
    name: fmt
    hosts: ["*"]
    stages:
      prod:
        variables: {{}}
    routes:
      - {{ path: "/items/{{id}}", methods: [GET, HEAD], authorization: CUSTOM, authorizer: tok, integration: {{ type: mock, status: 200, body: hello }} }}
"#
    )
}

struct Setup {
    gw: Gateway,
    log: TempFile,
    _f: Function,
}

fn start(format: &str) -> Setup {
    let f = Function::start();
    let log = TempFile::new("access.log", "");
    let gw = Gateway::start(&config(&f, &log, format), &[]);
    Setup { gw, log, _f: f }
}

/// The access-log line containing `rid` (waits for it to be written).
fn line_of(s: &Setup, rid: &str) -> String {
    let mut found = String::new();
    let ok = eventually(SOON, || {
        let text = std::fs::read_to_string(&s.log.0).unwrap_or_default();
        match text.lines().find(|l| l.contains(rid)) {
            Some(l) => {
                found = l.to_owned();
                true
            }
            None => false,
        }
    });
    assert!(ok, "no access-log line for {rid}");
    found
}

/// `dd/Mon/yyyy:HH:mm:ss +0000`.
fn assert_clf_time(t: &str) {
    let b = t.as_bytes();
    assert_eq!(t.len(), 26, "{t}");
    assert!(b[0..2].iter().all(u8::is_ascii_digit), "{t}");
    assert_eq!((b[2], b[6], b[11]), (b'/', b'/', b':'), "{t}");
    assert!(
        [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
        ]
        .contains(&&t[3..6]),
        "{t}"
    );
    assert!(t.ends_with(" +0000"), "{t}");
}

/// curl's answer: (status, x-amzn-RequestId).
fn curl(s: &Setup, path: &str, auth: Option<&str>) -> (u16, String) {
    let url = format!("http://{}{path}", s.gw.addr);
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-D",
        "-",
        "-A",
        "curl-fmt-test",
        &url,
    ]);
    if let Some(a) = auth {
        cmd.args(["-H", &format!("Authorization: {a}")]);
    }
    let out = cmd.output().expect("curl runs");
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status from curl: {head:?}"));
    let rid = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("x-amzn-requestid"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no request id: {head:?}"));
    (status, rid)
}

#[test]
fn clf_format_lines() {
    let s = start(CLF);
    // Authorized mock answer.
    let (status, rid) = curl(&s, "/prod/items/7", Some("allow"));
    assert_eq!(status, 200);
    let line = line_of(&s, &rid);
    let (before, rest) = line.split_once(" [").unwrap();
    assert_eq!(before, "127.0.0.1 - -", "{line}");
    let (time, rest) = rest.split_once("] ").unwrap();
    assert_clf_time(time);
    assert_eq!(
        rest,
        format!("\"GET /items/{{id}} HTTP/1.1\" 200 5 {rid} user|allow -"),
        "{line}"
    );

    // A gateway-made 401 (no token): no principal, the response type.
    let (status, rid) = curl(&s, "/prod/items/8", None);
    assert_eq!(status, 401);
    let line = line_of(&s, &rid);
    let rest = line.split_once("] ").unwrap().1;
    assert_eq!(
        rest,
        format!("\"GET /items/{{id}} HTTP/1.1\" 401 26 {rid} - UNAUTHORIZED"),
        "{line}"
    );

    // Unrouted (from a raw socket): no resource path, no principal.
    let r = request(s.gw.addr, "GET", "/prod/nowhere", &[], "");
    assert_eq!(r.status, 403);
    let rid = r.header("x-amzn-RequestId").unwrap();
    let line = line_of(&s, rid);
    assert!(
        line.ends_with(&format!(
            "\"GET - HTTP/1.1\" 403 42 {rid} - MISSING_AUTHENTICATION_TOKEN"
        )),
        "{line}"
    );
    // Never a JSON record when a format is set.
    let text = std::fs::read_to_string(&s.log.0).unwrap();
    assert!(text.lines().all(|l| !l.starts_with('{')), "{text}");
}

#[test]
fn json_format_lines() {
    let s = start(JSON);
    let (status, rid) = curl(&s, "/prod/items/7", Some("allow"));
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&line_of(&s, &rid)).unwrap();
    assert_eq!(v["requestId"], rid.as_str(), "{v}");
    assert_eq!(v["extendedRequestId"], rid.as_str(), "{v}");
    assert_eq!(v["ip"], "127.0.0.1", "{v}");
    assert_eq!(
        (&v["caller"], &v["user"]),
        (&"-".into(), &"-".into()),
        "{v}"
    );
    assert_clf_time(v["requestTime"].as_str().unwrap());
    assert_eq!(v["httpMethod"], "GET", "{v}");
    assert_eq!(v["resourcePath"], "/items/{id}", "{v}");
    assert_eq!(v["status"], "200", "{v}");
    assert_eq!(v["protocol"], "HTTP/1.1", "{v}");
    assert_eq!(v["responseLength"], "5", "{v}");
    assert_eq!(v["apiId"], "fmtapi0001", "{v}");
    assert_eq!(v["stage"], "prod", "{v}");
    assert_eq!(v["path"], "/prod/items/7", "{v}");
    let epoch: u128 = v["epoch"].as_str().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(epoch <= now && now - epoch < 60_000, "{v}");
    assert_eq!(v["agent"], "curl-fmt-test", "{v}");
    assert_eq!(v["principal"], "user|allow", "{v}");
    assert_eq!(v["stringKey"], "value", "{v}");
    assert_eq!(v["numberKey"], "123", "{v}");
    assert_eq!(v["claim"], "-", "{v}");
    assert_eq!(v["errorType"], "-", "{v}");
    assert_eq!(v["messageString"], "-", "{v}");
    let _: u64 = v["latency"].as_str().unwrap().parse().unwrap();
    assert_eq!(v["integrationLatency"], "-", "mock: {v}");
    assert_eq!(v["domain"], s.gw.addr.to_string(), "{v}");

    // A gateway-made 401: its type and message; messageString is the message in quotes.
    let (status, rid) = curl(&s, "/prod/items/8", None);
    assert_eq!(status, 401);
    let v: Value = serde_json::from_str(&line_of(&s, &rid)).unwrap();
    assert_eq!(v["status"], "401", "{v}");
    assert_eq!(v["errorType"], "UNAUTHORIZED", "{v}");
    assert_eq!(v["errorMessage"], "Unauthorized", "{v}");
    assert_eq!(v["messageString"], "\"Unauthorized\"", "{v}");
    assert_eq!(v["principal"], "-", "{v}");

    // A value with a quote and a backslash stays inside its JSON string.
    let r = request(
        s.gw.addr,
        "GET",
        "/prod/items/9",
        &[("Authorization", "allow"), ("User-Agent", "a \"q\" \\ b")],
        "",
    );
    assert_eq!(r.status, 200);
    let v: Value =
        serde_json::from_str(&line_of(&s, r.header("x-amzn-RequestId").unwrap())).unwrap();
    assert_eq!(v["agent"], "a \"q\" \\ b", "{v}");
}
