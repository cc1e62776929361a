//! `gateway.listeners[].tls` and `gateway.upstream.ca_file`: the files are read when the
//! configuration loads, errors name the file, and only a listener's shape needs a restart.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::Command;

use tollgate_config::{load_str, restart_required};

fn config(tls: &str, extra: &str) -> String {
    format!(
        r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners:
    - bind: "127.0.0.1:8443"
      {tls}
  admin: {{ bind: "127.0.0.1:9901" }}
  access_log: off
  {extra}
apis: []
"#
    )
}

/// An EC key and a self-signed certificate for `name` from the `openssl` CLI.
fn make_cert(dir: &Path, stem: &str, name: &str) {
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(dir.join(format!("{stem}.key")))
        .arg("-out")
        .arg(dir.join(format!("{stem}.pem")))
        .args(["-days", "2", "-subj", &format!("/CN={name}")])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tollgate-config-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_tls_listener_loads_relative_paths_and_builds_its_configuration() {
    let dir = tempdir("ok");
    make_cert(&dir, "a", "a.example.com");
    let text = config(
        "tls: { certificates: [{ cert_file: a.pem, key_file: a.key }], min_version: \"1.3\" }\n      http2: true",
        "",
    );
    let c = load_str(&text, &dir).unwrap();
    assert_eq!(c.listener_tls.len(), 1);
    assert!(c.listener_tls[0].is_some());
    let tls = c.config.gateway.listeners[0].tls.as_ref().unwrap();
    assert_eq!(tls.certificates[0].cert_file, dir.join("a.pem"));
    assert!(c.config.gateway.listeners[0].http2);
    let _ = std::fs::remove_dir_all(&dir);
}

fn alpn(c: &tollgate_config::Compiled) -> Vec<Vec<u8>> {
    c.listener_tls[0]
        .as_ref()
        .unwrap()
        .rustls_config()
        .alpn_protocols
        .clone()
}

#[test]
fn http2_on_a_tls_listener_offers_h2_by_alpn_and_flips_without_restart() {
    let dir = tempdir("alpn");
    make_cert(&dir, "a", "a.example.com");
    let tls = "tls: { certificates: [{ cert_file: a.pem, key_file: a.key }] }";
    let h1 = load_str(&config(tls, ""), &dir).unwrap();
    let h2 = load_str(&config(&format!("{tls}\n      http2: true"), ""), &dir).unwrap();
    assert_eq!(alpn(&h1), vec![b"http/1.1".to_vec()]);
    assert_eq!(alpn(&h2), vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    // On a TLS listener `http2` only changes what new handshakes offer: no restart.
    assert!(restart_required(&h1.config, &h2.config).is_empty());
    assert!(restart_required(&h2.config, &h1.config).is_empty());
    // h2c on a plaintext listener is decided when the listener starts: a restart.
    let plain = load_str(&config("", ""), &dir).unwrap();
    let plain_h2 = load_str(&config("http2: true", ""), &dir).unwrap();
    assert_eq!(restart_required(&plain.config, &plain_h2.config).len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_or_bad_file_is_an_error_naming_it() {
    let dir = tempdir("bad");
    make_cert(&dir, "a", "a.example.com");
    std::fs::write(
        dir.join("bad.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n",
    )
    .unwrap();
    for (tls, file, what) in [
        (
            "{ certificates: [{ cert_file: nope.pem, key_file: a.key }] }",
            "nope.pem",
            "cannot read",
        ),
        (
            "{ certificates: [{ cert_file: bad.pem, key_file: a.key }] }",
            "bad.pem",
            "",
        ),
        (
            "{ certificates: [{ cert_file: a.pem, key_file: a.key }], client_auth: { truststore_file: gone.pem, required: true } }",
            "gone.pem",
            "cannot read",
        ),
    ] {
        let e = load_str(&config(&format!("tls: {tls}"), ""), &dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("gateway.listeners[0].tls"), "{e}");
        assert!(e.contains(file) && e.contains(what), "{e}");
    }
    let e = load_str(
        &config(
            "tls: { certificates: [{ cert_file: a.pem, key_file: a.key }], min_version: \"1.1\" }",
            "",
        ),
        &dir,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("min_version"), "{e}");
    let e = load_str(&config("", "upstream: { ca_file: missing-ca.pem }"), &dir)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gateway.upstream.ca_file") && e.contains("missing-ca.pem"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn new_certificates_need_no_restart_but_turning_tls_on_does() {
    let dir = tempdir("restart");
    make_cert(&dir, "a", "a.example.com");
    make_cert(&dir, "b", "b.example.com");
    let a = load_str(
        &config(
            "tls: { certificates: [{ cert_file: a.pem, key_file: a.key }] }",
            "",
        ),
        &dir,
    )
    .unwrap();
    let b = load_str(
        &config(
            "tls: { certificates: [{ cert_file: b.pem, key_file: b.key }], min_version: \"1.3\" }",
            "",
        ),
        &dir,
    )
    .unwrap();
    let plain = load_str(&config("", ""), &dir).unwrap();
    assert!(restart_required(&a.config, &b.config).is_empty());
    assert_eq!(restart_required(&a.config, &plain.config).len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
