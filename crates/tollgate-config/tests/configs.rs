//! Every shipped configuration (configs/*.yaml, configs/examples/*.yaml) must load.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_config_validates() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs"));
    let mut files = yaml_files(root);
    files.extend(yaml_files(&root.join("examples")));
    // quickstart + proxy, resource-policy, full
    assert!(
        files.len() >= 4,
        "expected at least 4 configs, found {files:?}"
    );
    for f in &files {
        if let Err(e) = tollgate_config::load_file(f) {
            panic!("{} does not validate:\n{e}", f.display());
        }
    }
}

#[test]
fn quickstart_const_is_the_file_and_serves_hello() {
    let root = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/quickstart.yaml"
    ));
    assert_eq!(
        std::fs::read_to_string(root).unwrap(),
        tollgate_config::QUICKSTART
    );
    let c = tollgate_config::load_str(tollgate_config::QUICKSTART, Path::new(".")).unwrap();
    let l = &c.config.gateway.listeners;
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.config.gateway.admin.bind.to_string(), "127.0.0.1:9901");
    let m = c
        .router
        .lookup(b"example.com", b"GET", b"/prod/hello")
        .unwrap();
    assert_eq!(m.template, "/hello");
    let m = c
        .router
        .lookup(b"example.com", b"POST", b"/prod/a/b")
        .unwrap();
    assert_eq!(m.template, "/{proxy+}");
    assert!(
        c.router
            .lookup(b"example.com", b"GET", b"/nostage/hello")
            .is_none()
    );
    assert_eq!(c.sha256.len(), 64);
}

#[test]
fn full_example_compiles_every_part() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/examples/full.yaml"
    ));
    let c = tollgate_config::load_file(path).unwrap();
    assert_eq!(c.config.identities.len(), 2);
    assert_eq!(c.credentials.len(), 2);
    let temp = &c.credentials["ASIAEXAMPLETEMPKEY01"];
    assert_eq!(temp.identity, 1);
    assert_eq!(temp.expires_unix, Some(1_893_456_000));
    assert_eq!(c.authorizers.len(), 3);
    assert!(c.authorizers[0].jwks.as_ref().unwrap()["keys"].is_array());
    assert_eq!(
        c.authorizers[0].issuers,
        vec![
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example".to_owned(),
            "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_Example".to_owned()
        ]
    );
    let re = c.authorizers[1].validation.as_ref().unwrap();
    assert!(re.is_match("Bearer abc.def"));
    assert!(!re.is_match("Basic x"));
    assert_eq!(c.authorizers[2].identity_sources.len(), 2);
    assert_eq!(c.authorizer("tenants").unwrap().name, "tenants");
    assert_eq!(c.route_authorizer(0, 2).unwrap().0, 2);
    // routes: authorizer indices, uri templates
    let r0 = c.route(0, 0).unwrap();
    assert_eq!(r0.authorizer, Some(0));
    let vars = &c.config.apis[0].stages["prod"].variables;
    assert_eq!(
        r0.uri
            .as_ref()
            .unwrap()
            .render(|n| (n == "petId").then_some("7"), vars),
        "http://127.0.0.1:8081/pets/7"
    );
    assert_eq!(r0.request_headers.len(), 4);
    assert_eq!(c.route(0, 2).unwrap().authorizer, Some(2));
    let m = c
        .router
        .lookup(b"h", b"DELETE", b"/prod/admin/users/9")
        .unwrap();
    assert_eq!(m.route, 3);
    assert_eq!(
        m.param(b"/prod/admin/users/9", "proxy"),
        Some(&b"users/9"[..])
    );
    assert_eq!(c.policies.identity.len(), 2);
    assert_eq!(c.policies.resource.len(), 1);
    assert!(c.policies.resource[0].is_none());
}

#[test]
fn compiled_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<tollgate_config::Compiled>();
}

#[test]
fn access_log_and_error_messages_values() {
    let base = "gateway: {region: us-east-1, account_id: \"123456789012\", ";
    let c = tollgate_config::load_str(
        &format!("{base}access_log: off, error_messages: legacy}}\n"),
        Path::new("."),
    )
    .unwrap();
    assert_eq!(c.config.gateway.access_log, tollgate_config::AccessLog::Off);
    assert_eq!(
        c.config.gateway.error_messages,
        tollgate_config::ErrorMessages::Legacy
    );
    let dir = std::env::temp_dir();
    let c = tollgate_config::load_str(&format!("{base}access_log: access.log}}\n"), &dir).unwrap();
    assert_eq!(
        c.config.gateway.access_log,
        tollgate_config::AccessLog::File(dir.join("access.log"))
    );
    let e = tollgate_config::load_str(
        &format!("{base}access_log: /nonexistent-dir/x.log}}\n"),
        &dir,
    )
    .unwrap_err();
    assert_eq!(e.0[0].path, "gateway.access_log");
}

#[test]
fn config_round_trips_through_serde() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/examples/full.yaml"
    ));
    let c = tollgate_config::load_file(path).unwrap();
    let json = serde_json::to_string(&c.config).unwrap();
    let back: tollgate_config::Config = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c.config);
}
