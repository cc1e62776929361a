//! Hostile configuration input: deep nesting is refused before the YAML parser sees it,
//! invalid JSON is a JSON error, and errors about files name the file and a position, never
//! the file's content. A non-loopback admin bind needs a token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tollgate_config::{ConfigErrors, MAX_NESTING_DEPTH, load_str, restart_required};

const GW: &str = r#"gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{bind: "127.0.0.1:8080"}]
"#;

fn errors(text: &str) -> Vec<String> {
    match load_str(text, Path::new(".")) {
        Ok(_) => Vec::new(),
        Err(ConfigErrors(e)) => e.iter().map(ToString::to_string).collect(),
    }
}

struct Tmp(PathBuf);
impl Tmp {
    fn new(name: &str, body: &str) -> Tmp {
        let p =
            std::env::temp_dir().join(format!("tollgate-hostile-{}-{name}", std::process::id()));
        std::fs::write(&p, body).unwrap();
        Tmp(p)
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn deep_flow_nesting_is_refused_quickly() {
    for doc in [
        format!("{GW}apis: {}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("{GW}apis: {}", "{a: ".repeat(50_000)),
        format!("{GW}apis:\n{}x\n", "- ".repeat(50_000)),
    ] {
        let started = Instant::now();
        let e = errors(&doc);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains(&format!("nested deeper than {MAX_NESTING_DEPTH} levels")),
            "{e:?}"
        );
    }
    // Deep JSON: serde_json's own recursion limit, also quick.
    let doc = format!(
        "{{\"apis\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let started = Instant::now();
    let e = errors(&doc);
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(e[0].contains("recursion limit"), "{e:?}");
}

#[test]
fn moderate_nesting_and_brackets_in_strings_are_fine() {
    let doc = format!(
        "{GW}apis:\n  - id: a1\n    name: \"[[[[ {} not nesting\"\n    stages: {{ prod: {{ variables: {{ k: '{}' }} }} }}\n    routes: [] # [[[[ {}\n",
        "[".repeat(200),
        "{".repeat(200),
        "[".repeat(200)
    );
    assert_eq!(errors(&doc), Vec::<String>::new());
}

#[test]
fn invalid_json_is_a_json_error_with_its_position() {
    let e = errors("{\"gateway\": {\"region\": }}");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("JSON"), "{e:?}");
    assert!(e[0].contains("line 1 column 24"), "{e:?}");
}

const SECRET: &str = "hunter2-7f1e9a";

#[test]
fn policy_and_jwks_file_errors_do_not_echo_content() {
    let files = [
        Tmp::new(
            "shadow",
            &format!("root:$6$abc:19000:0:99999:7:::\n{SECRET}:x:1:::\n"),
        ),
        Tmp::new("env", &format!("DB_PASSWORD: {SECRET}\n\"{SECRET}\": 1\n")),
        Tmp::new(
            "pol",
            &format!(
                "Statement:\n  - Effect: {SECRET}\n    Action: {SECRET}\n    Resource: {SECRET}\n    Condition: {{ \"{SECRET}\": {{ \"{SECRET}\": x }} }}\n"
            ),
        ),
        Tmp::new("dup", &format!("{SECRET}: 1\n{SECRET}: 2\n")),
        Tmp::new("esc", &format!("a: \"\\q {SECRET}\"\n")),
        Tmp::new("json", &format!("{{\"{SECRET}\": [1, }}")),
        Tmp::new("deep", &format!("{}{SECRET}", "[".repeat(1000))),
    ];
    for f in &files {
        let path = f.0.display().to_string();
        let doc = format!(
            "{GW}apis:\n  - id: a1\n    stages: {{ prod: {{}} }}\n    resource_policy_file: \"{path}\"\n    routes: []\n"
        );
        let e = errors(&doc);
        assert!(!e.is_empty(), "{path}");
        for line in &e {
            assert!(!line.contains(SECRET), "{path}: {line}");
            assert!(!line.contains("root:"), "{path}: {line}");
            assert!(!line.contains("DB_PASSWORD"), "{path}: {line}");
        }
        assert!(e.iter().any(|l| l.contains(&path)), "names the file: {e:?}");

        let doc = format!(
            "{GW}authorizers:\n  - {{ name: u, type: COGNITO_USER_POOLS, provider_arns: [\"arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_X\"], jwks: {{ file: \"{path}\" }} }}\napis: []\n"
        );
        let e = errors(&doc);
        assert!(!e.is_empty(), "{path}");
        for line in &e {
            assert!(!line.contains(SECRET), "{path}: {line}");
            assert!(!line.contains("root:"), "{path}: {line}");
        }
    }
}

#[test]
fn non_loopback_admin_needs_a_token() {
    let e = errors(&format!(
        "{GW}  admin: {{ bind: \"0.0.0.0:9901\" }}\napis: []\n"
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("gateway.admin.token: required"), "{e:?}");
    let e = errors(&format!(
        "{GW}  admin: {{ bind: \"10.0.0.1:9901\", token: abc }}\napis: []\n"
    ));
    assert_eq!(e, Vec::<String>::new());
    let e = errors(&format!(
        "{GW}  admin: {{ bind: \"[::1]:9901\" }}\napis: []\n"
    ));
    assert_eq!(e, Vec::<String>::new());
}

#[test]
fn cache_budgets_need_a_restart() {
    let a = load_str(&format!("{GW}apis: []\n"), Path::new(".")).unwrap();
    let b = load_str(
        &format!("{GW}  limits: {{ authorizer_cache_l2_bytes: 1048576 }}\napis: []\n"),
        Path::new("."),
    )
    .unwrap();
    assert_eq!(b.config.gateway.limits.authorizer_cache_l2_bytes, 1 << 20);
    assert_eq!(a.config.gateway.limits.authorizer_cache_l1_bytes, 8 << 20);
    let e = restart_required(&a.config, &b.config);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].path, "gateway.limits");
    let e = errors(&format!(
        "{GW}  limits: {{ authorizer_cache_l1_bytes: 1024 }}\napis: []\n"
    ));
    assert_eq!(
        e,
        vec![
            "gateway.limits.authorizer_cache_l1_bytes: must be between 65536 and 1099511627776, found 1024 (line 5)"
        ]
    );
}
