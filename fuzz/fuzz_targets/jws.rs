//! `verify_signature_only` on arbitrary strings against a fixed key set (the RFC 7515
//! Appendix A HMAC key in one set, its RSA and P-256 keys in another), every algorithm allowed: no panic, and nothing
//! that is not correctly signed is ever accepted (a random input that verifies would mean
//! a forgery: the only accepted tokens are the RFC's own, seeded in the corpus).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate_jwt::{Alg, KeySet, KeySetOptions, verify_signature_only};

const HMAC_JWKS: &str = r#"{"keys":[
 {"kty":"oct","kid":"hmac","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}
]}"#;

const JWKS: &str = r#"{"keys":[
 {"kty":"RSA","kid":"rsa","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"},
 {"kty":"EC","kid":"ec","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
]}"#;

const ALGS: &[Alg] = &[
    Alg::RS256,
    Alg::RS384,
    Alg::RS512,
    Alg::PS256,
    Alg::PS384,
    Alg::PS512,
    Alg::ES256,
    Alg::ES384,
    Alg::EdDSA,
    Alg::HS256,
];

/// The asymmetric set and the HMAC set (tollgate-jwt refuses a set that mixes them).
fn keys() -> &'static [KeySet; 2] {
    static KEYS: OnceLock<[KeySet; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let opts = KeySetOptions {
            allow_hmac: true,
            ..KeySetOptions::default()
        };
        [
            KeySet::from_jwks_json(JWKS.as_bytes(), &KeySetOptions::default())
                .expect("the fixed JWKS loads"),
            KeySet::from_jwks_json(HMAC_JWKS.as_bytes(), &opts).expect("the HMAC JWKS loads"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    for set in keys() {
        if verify_signature_only(token, set, ALGS).is_ok() {
            check_accepted(token);
        }
    }
});

fn check_accepted(token: &str) {
    {
        // Only a header.payload that was really signed with one of the keys passes: the
        // signing input must be one of the RFC examples' (the seeds).
        let signing_input = token.rsplit_once('.').map(|(si, _)| si).unwrap_or("");
        assert!(
            signing_input.ends_with("eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"),
            "accepted a token with a new signing input: {token}"
        );
        let header = signing_input.split('.').next().unwrap_or("");
        assert!(!header.is_empty());
        assert!(
            !token.contains("eyJhbGciOiJub25lIn0"),
            "alg none accepted: {token}"
        );
    }
}
