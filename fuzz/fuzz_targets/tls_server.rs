//! The HTTPS listener's TLS session (rustls' unbuffered server connection driven by
//! `tollgate_tls`'s session code, buffers owned by the session): arbitrary bytes as the
//! client's side of a connection, fed in pieces, with the plaintext read, answered, sent
//! and the buffers released between pieces, then EOF and close_notify. A panic (rustls
//! misused: a buffer it does not expect, a second fatal alert) or unbounded memory is a
//! finding. Seeds: real ClientHellos (TLS 1.3 and 1.2 clients) in fuzz/corpus/tls_server/.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tollgate_tls::rustls;

/// A throwaway self-signed ECDSA P-256 certificate for `localhost` (made for this target,
/// valid until 2126; it protects nothing).
const CERT: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBfzCCASWgAwIBAgIUcHSVPmU/DUj10uTZvW9hwU/uCmowCgYIKoZIzj0EAwIw\n\
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMTAwMTgxOFoYDzIxMjYxMTA3\n\
MDAxODE4WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n\
PQMBBwNCAAS5WjIRRHQzFeO/K9uikXN2PgEnxhl0Sf216a+wPXfTUyExIiqEpmfh\n\
UG/gcMQjhHyNGVKnCADCq+Zip3Uc9/5Jo1MwUTAdBgNVHQ4EFgQUkQym5O4z3j7I\n\
oPxTwlXkWlFVFLswHwYDVR0jBBgwFoAUkQym5O4z3j7IoPxTwlXkWlFVFLswDwYD\n\
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiA+u2p/r9BrnQzf/xYcHATP\n\
80zTOuvmrhoOugy0D06KugIhANC7wC7qj/Sa5DUO0Gvn/O6x9KvwGxCCz3k8fF3+\n\
eZNb\n\
-----END CERTIFICATE-----";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg5oGtuok/rSe0ADl+\n\
OI9n1HM3bt7CA83cHiJi7E0xUuChRANCAAS5WjIRRHQzFeO/K9uikXN2PgEnxhl0\n\
Sf216a+wPXfTUyExIiqEpmfhUG/gcMQjhHyNGVKnCADCq+Zip3Uc9/5J\n\
-----END PRIVATE KEY-----";

fn config() -> &'static Arc<rustls::ServerConfig> {
    static CONFIG: OnceLock<Arc<rustls::ServerConfig>> = OnceLock::new();
    CONFIG.get_or_init(|| {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<_> = CertificateDer::pem_slice_iter(CERT.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut c = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        c.ticketer = rustls::crypto::ring::Ticketer::new().unwrap();
        Arc::new(c)
    })
}

fuzz_target!(|data: &[u8]| {
    tollgate_tls::fuzz_server_session(config(), data);
});
