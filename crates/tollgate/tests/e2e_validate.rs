//! `tollgate validate` with the real binary: a file with many different errors gets every one
//! of them in one run, each as `path: message (line N)`, for YAML and for JSON; the shipped
//! configurations validate as their comments say.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{TempFile, run};

const BROKEN: &str = r#"gateway:
  region: us-east-1
  account_id: 12345
  access_log_format: "$context.requestId $context.nope"
authorizers:
  - name: tokens
    type: TOKEN
    function_url: "http://127.0.0.1:9000/f"
    ttl_seconds: 7200
apis:
  - id: a1
    hosts: ["*"]
    stages:
      prod: {variables: {up: "127.0.0.1:8081"}}
    routes:
      - path: /x
        methods: [FETCH]
        authorization: CUSTOM
        authorizer: nobody
        integration: {type: http_proxy, uri: "http://${stageVariables.down}/x"}
      - path: /y
        methods: [GET]
        authorization: NONE
        colour: red
        integration:
          type: http_proxy
          uri: "http://${stageVariables.up}/y"
          request_headers: {x-env: stageVariables.env}
"#;

/// (path: message start, line) for every error in BROKEN.
const EXPECTED: [(&str, u32); 8] = [
    ("gateway.account_id: wrong type", 3),
    (
        "gateway.access_log_format: unknown variable $context.nope",
        4,
    ),
    ("authorizers[0].ttl_seconds: at most 3600", 9),
    ("apis[0].routes[0].methods[0]: unknown value \"FETCH\"", 17),
    (
        "apis[0].routes[0].authorizer: unknown authorizer \"nobody\" (known: tokens)",
        19,
    ),
    (
        "apis[0].routes[0].integration.uri: stage variable \"down\" is not defined in stage \"prod\"",
        20,
    ),
    ("apis[0].routes[1].colour: unknown key", 24),
    (
        "apis[0].routes[1].integration.request_headers.x-env: stage variable \"env\" is not defined in stage \"prod\"",
        28,
    ),
];

fn validate(name: &str, text: &str) -> (Option<i32>, String, String) {
    let f = TempFile::new(name, text);
    let out = run(&["validate", "--config", f.0.to_str().unwrap()]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_error_in_one_run_with_its_line() {
    let (code, stdout, stderr) = validate("broken.yaml", BROKEN);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    for (start, line) in EXPECTED {
        let suffix = format!(" (line {line})");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(start) && l.ends_with(&suffix)),
            "no line starting {start:?} ending {suffix:?} in:\n{stdout}"
        );
    }
    assert_eq!(lines.len(), EXPECTED.len(), "{stdout}");
    assert!(stderr.contains("8 error(s)"), "{stderr}");
    // no programming-language type names
    for t in ["u64", "u32", "usize", "i64", "String", "Option<"] {
        assert!(!stdout.contains(t), "{t} in {stdout}");
    }
}

#[test]
fn json_configs_get_lines_too() {
    // The same kind of errors in a JSON file (the JSON parser's positions).
    let text = r#"{
  "gateway": {"region": "us-east-1", "account_id": "123456789012"},
  "apis": [
    {"id": "a1", "hosts": ["*"], "stages": {"prod": {}},
     "routes": [
       {"path": "/x", "methods": ["GET"], "authorization": "CUSTOM",
        "authorizer": "nobody", "integration": {"type": "mock"}}
     ]}
  ]
}
"#;
    let (code, stdout, stderr) = validate("broken.json", text);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.lines().any(|l| l
            .starts_with("apis[0].routes[0].authorizer: unknown authorizer \"nobody\"")
            && l.ends_with("(line 7)")),
        "{stdout}"
    );
}

#[test]
fn shipped_configs_validate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    for f in [
        "quickstart.yaml",
        "examples/full.yaml",
        "examples/proxy.yaml",
        "examples/resource-policy.yaml",
    ] {
        let p = root.join(f);
        let out = run(&["validate", "--config", p.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{f}: {text}");
        assert!(text.contains(": valid ("), "{f}: {text}");
    }
}
