#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Tokens minted by `tollgate-load` verify with the gateway's own verifier
//! (`tollgate-jwt`), using the JWKS `tollgate-load` prints for the key.

use tollgate_jwt::{Alg, KeySet, KeySetOptions, Validation, verify, verify_signature_only};
use tollgate_loadtest::jwt::{
    ClaimsTemplate, DEFAULT_ISSUER, JwtAlg, JwtSigner, generate_pkcs8, mint_many, unix_now,
};

fn keyset(signer: &JwtSigner) -> KeySet {
    let jwks = serde_json::json!({ "keys": [signer.jwk()] });
    KeySet::from_jwks_json(jwks.to_string().as_bytes(), &KeySetOptions::default()).unwrap()
}

#[test]
fn es256_and_eddsa_signatures_verify_with_tollgate_jwt() {
    for (alg, talg) in [(JwtAlg::ES256, Alg::ES256), (JwtAlg::EdDSA, Alg::EdDSA)] {
        let signer = JwtSigner::from_pkcs8(&generate_pkcs8(alg).unwrap(), None, "kid-x").unwrap();
        let keys = keyset(&signer);
        let tokens = mint_many(&signer, &ClaimsTemplate::default(), 20, unix_now()).unwrap();
        for t in &tokens {
            let v = verify_signature_only(t, &keys, &[talg]).unwrap();
            assert_eq!(v.alg, talg);
        }
        // A key from another run does not verify them.
        let other = JwtSigner::from_pkcs8(&generate_pkcs8(alg).unwrap(), None, "kid-x").unwrap();
        assert!(verify_signature_only(&tokens[0], &keyset(&other), &[talg]).is_err());
    }
}

#[test]
fn rs256_id_tokens_pass_the_cognito_rules() {
    let dir = std::env::temp_dir().join(format!("tollgate-load-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let der = dir.join("rs.der");
    let st = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-outform",
            "DER",
            "-out",
        ])
        .arg(&der)
        .stderr(std::process::Stdio::null())
        .status();
    match st {
        Ok(s) if s.success() => {}
        _ if std::env::var_os("CI").is_some() => panic!("openssl is required on CI"),
        _ => {
            eprintln!("openssl not available; skipped");
            return;
        }
    }
    let key = tollgate_loadtest::jwt::read_key_file(&der).unwrap();
    let signer = JwtSigner::from_pkcs8(&key, Some(JwtAlg::RS256), "rs256").unwrap();
    let keys = keyset(&signer);
    let now = unix_now();
    let v = Validation::cognito(DEFAULT_ISSUER, vec![], None, vec![]);
    let tokens = mint_many(&signer, &ClaimsTemplate::default(), 50, now).unwrap();
    let mut subs = std::collections::HashSet::new();
    for t in &tokens {
        let ok = verify(t, &keys, &v, now as i64).unwrap();
        subs.insert(ok.claim_as_aws_string("sub").unwrap());
    }
    assert_eq!(subs.len(), 50);
    // Expired one hour later; wrong issuer rejected.
    assert!(verify(&tokens[0], &keys, &v, now as i64 + 3601).is_err());
    let other = Validation::cognito("https://issuer.example", vec![], None, vec![]);
    assert!(verify(&tokens[0], &keys, &other, now as i64).is_err());
    // An access token with a scope passes a route that needs it.
    let access = ClaimsTemplate {
        extra: Some(
            serde_json::json!({"token_use":"access","scope":"pets/read","client_id":"loadtestclient"}),
        ),
        ..Default::default()
    };
    let t = signer.mint(&access.claims(1, now)).unwrap();
    let scoped = Validation::cognito(DEFAULT_ISSUER, vec![], None, vec!["pets/read".into()]);
    verify(&t, &keys, &scoped, now as i64).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
