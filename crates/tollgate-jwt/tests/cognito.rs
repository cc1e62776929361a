//! Cognito acceptance: tokens minted by an independent library (`jsonwebtoken` with its
//! RustCrypto backend) and, for headers that library cannot express, hand-built tokens
//! signed with ring. Each rule is accepted or rejected as API Gateway would (401 for all
//! failures).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};
use tollgate_jwt::{
    Alg, JwtError, KeySet, KeySetOptions, MAX_TOKEN_BYTES, TokenCache, TokenUse, Validation,
    anchored_regex, base64url_encode as b64, expiry, strip_bearer, token_hash, verify,
};

const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example";
const CLIENT: &str = "3n4b5urk1ft4fl3mg5e62d9ado";
const NOW: i64 = 1_680_629_979;

/// Test-only RSA key (generated with openssl for these tests; never used elsewhere).
const RSA_PKCS1: &[u8] = include_bytes!("keys/rsa2048_test_only.pkcs1.der");
const RSA_PKCS8: &[u8] = include_bytes!("keys/rsa2048_test_only.pk8.der");

struct Keys {
    rsa: RsaKeyPair,
    ec_pk8: Vec<u8>,
    ed_pk8: Vec<u8>,
    jwks: Value,
}

fn keys() -> Keys {
    let rng = SystemRandom::new();
    let rsa = RsaKeyPair::from_pkcs8(RSA_PKCS8).unwrap();
    let comps = signature::RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public());
    let ec_pk8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .unwrap()
        .as_ref()
        .to_vec();
    let ec = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &ec_pk8, &rng)
        .unwrap();
    let point = ec.public_key().as_ref();
    let ed_pk8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .unwrap()
        .as_ref()
        .to_vec();
    let ed = Ed25519KeyPair::from_pkcs8(&ed_pk8).unwrap();
    let jwks = json!({"keys": [
        {"kty":"RSA","kid":"rsa1","use":"sig","alg":"RS256","n":b64(&comps.n),"e":b64(&comps.e)},
        // same RSA key, no alg, for the PS256 / RS384 checks
        {"kty":"RSA","kid":"rsa-any","n":b64(&comps.n),"e":b64(&comps.e)},
        {"kty":"EC","kid":"ec1","crv":"P-256","x":b64(&point[1..33]),"y":b64(&point[33..])},
        {"kty":"OKP","kid":"ed1","crv":"Ed25519","x":b64(ed.public_key().as_ref())},
        {"kty":"RSA","kid":"rsa-enc","use":"enc","n":b64(&comps.n),"e":b64(&comps.e)},
        {"kty":"RSA","kid":"rsa-384","alg":"RS384","n":b64(&comps.n),"e":b64(&comps.e)}
    ]});
    Keys {
        rsa,
        ec_pk8,
        ed_pk8,
        jwks,
    }
}

fn keyset(k: &Keys) -> KeySet {
    KeySet::from_jwks_json(
        &serde_json::to_vec(&k.jwks).unwrap(),
        &KeySetOptions::default(),
    )
    .unwrap()
}

fn id_claims() -> Value {
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "cognito:groups": ["admins", "users"],
        "email_verified": true,
        "iss": ISS,
        "cognito:username": "alice",
        "origin_jti": "11111111-2222-3333-4444-555555555555",
        "aud": CLIENT,
        "event_id": "66666666-7777-8888-9999-000000000000",
        "token_use": "id",
        "auth_time": NOW,
        "exp": NOW + 3600,
        "iat": NOW,
        "jti": "abcdef01-2345-6789-abcd-ef0123456789",
        "email": "alice@example.com"
    })
}

fn access_claims() -> Value {
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "iss": ISS,
        "client_id": CLIENT,
        "origin_jti": "11111111-2222-3333-4444-555555555555",
        "event_id": "66666666-7777-8888-9999-000000000000",
        "token_use": "access",
        "scope": "openid pets/read email",
        "auth_time": NOW,
        "exp": NOW + 3600,
        "iat": NOW,
        "jti": "abcdef01-2345-6789-abcd-ef0123456789",
        "username": "alice"
    })
}

fn mint(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

fn rs256(claims: &Value) -> String {
    mint(
        Algorithm::RS256,
        Some("rsa1"),
        &EncodingKey::from_rsa_der(RSA_PKCS1),
        claims,
    )
}

/// A token with an arbitrary header/payload text, RS256-signed with ring.
fn raw_rs256(k: &Keys, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let mut sig = vec![0u8; k.rsa.public().modulus_len()];
    k.rsa
        .sign(
            &signature::RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
    format!("{input}.{}", b64(&sig))
}

fn id_route() -> Validation {
    Validation::cognito(ISS, vec![], None, vec![])
}

fn scoped_route(scopes: &[&str]) -> Validation {
    Validation::cognito(
        ISS,
        vec![],
        None,
        scopes.iter().map(|s| (*s).to_owned()).collect(),
    )
}

fn with(mut base: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

#[test]
fn valid_id_token_and_aws_claim_rendering() {
    let k = keys();
    let ks = keyset(&k);
    let token = rs256(&id_claims());
    let ok = verify(&token, &ks, &id_route(), NOW).unwrap();
    assert_eq!(ok.exp, NOW + 3600);
    assert_eq!(ok.token_use, Some(TokenUse::Id));
    assert_eq!(ok.alg, Alg::RS256);
    assert_eq!(ok.kid.as_deref(), Some("rsa1"));
    assert_eq!(ok.claims.len(), 14);
    // Spec §2.4: all strings; exp/iat as Java Date.toString() in UTC.
    assert_eq!(
        ok.claim_as_aws_string("exp").as_deref(),
        Some("Tue Apr 04 18:39:39 UTC 2023")
    );
    assert_eq!(
        ok.claim_as_aws_string("iat").as_deref(),
        Some("Tue Apr 04 17:39:39 UTC 2023")
    );
    assert_eq!(
        ok.claim_as_aws_string("auth_time").as_deref(),
        Some("1680629979")
    );
    assert_eq!(
        ok.claim_as_aws_string("cognito:groups").as_deref(),
        Some("[admins users]")
    );
    assert_eq!(
        ok.claim_as_aws_string("email_verified").as_deref(),
        Some("true")
    );
    assert_eq!(
        ok.claim_as_aws_string("sub").as_deref(),
        Some(id_claims()["sub"].as_str().unwrap())
    );
    assert_eq!(ok.claim_as_aws_string("nope"), None);
    assert_eq!(ok.aws_claims().len(), 14);
    // A single group is rendered bare.
    let one = rs256(&with(
        id_claims(),
        json!({"cognito:groups": ["team_manager"]}),
    ));
    let ok = verify(&one, &ks, &id_route(), NOW).unwrap();
    assert_eq!(
        ok.claim_as_aws_string("cognito:groups").as_deref(),
        Some("team_manager")
    );
    // Raw or "Bearer " (docs/decisions.md D8).
    let bearer = format!("Bearer {token}");
    assert!(verify(strip_bearer(&bearer), &ks, &id_route(), NOW).is_ok());
    // Extra spaces are not forgiven (AWS: "make sure the tokens don't have additional spaces").
    assert!(verify(&format!("{token} "), &ks, &id_route(), NOW).is_err());
}

#[test]
fn valid_access_token_with_scope() {
    let k = keys();
    let ks = keyset(&k);
    let token = rs256(&access_claims());
    let ok = verify(&token, &ks, &scoped_route(&["pets/read"]), NOW).unwrap();
    assert_eq!(ok.token_use, Some(TokenUse::Access));
    assert_eq!(
        ok.scopes().collect::<Vec<_>>(),
        vec!["openid", "pets/read", "email"]
    );
    // any-of
    assert!(verify(&token, &ks, &scoped_route(&["pets/write", "email"]), NOW).is_ok());
}

#[test]
fn time_claims() {
    let k = keys();
    let ks = keyset(&k);
    let v = id_route();
    let expired = rs256(&with(id_claims(), json!({"exp": NOW - 1})));
    assert_eq!(
        verify(&expired, &ks, &v, NOW).err(),
        Some(JwtError::Expired)
    );
    let at_exp = rs256(&with(id_claims(), json!({"exp": NOW})));
    assert_eq!(verify(&at_exp, &ks, &v, NOW).err(), Some(JwtError::Expired));
    let lenient = Validation {
        leeway_secs: 5,
        ..v.clone()
    };
    assert!(verify(&expired, &ks, &lenient, NOW).is_ok());
    assert_eq!(
        verify(&expired, &ks, &lenient, NOW + 4).err(),
        Some(JwtError::Expired)
    );

    let no_exp = rs256(&with(id_claims(), json!({"exp": null})));
    assert_eq!(
        verify(&no_exp, &ks, &v, NOW).err(),
        Some(JwtError::MissingClaim("exp"))
    );
    let str_exp = rs256(&with(id_claims(), json!({"exp": "9999999999"})));
    assert_eq!(
        verify(&str_exp, &ks, &v, NOW).err(),
        Some(JwtError::MissingClaim("exp"))
    );

    let nbf = rs256(&with(id_claims(), json!({"nbf": NOW + 60})));
    assert_eq!(
        verify(&nbf, &ks, &v, NOW).err(),
        Some(JwtError::NotYetValid)
    );
    assert!(verify(&nbf, &ks, &v, NOW + 60).is_ok());

    let iat = rs256(&with(id_claims(), json!({"iat": NOW + 60})));
    assert_eq!(
        verify(&iat, &ks, &v, NOW).err(),
        Some(JwtError::IssuedInFuture)
    );
}

#[test]
fn issuer() {
    let k = keys();
    let ks = keyset(&k);
    for iss in [
        json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"),
        json!(format!("{ISS}/")),
        json!(null),
        json!([ISS]),
    ] {
        let t = rs256(&with(id_claims(), json!({ "iss": iss })));
        assert_eq!(
            verify(&t, &ks, &id_route(), NOW).err(),
            Some(JwtError::WrongIssuer),
            "{iss}"
        );
    }
}

#[test]
fn token_use_follows_scopes() {
    let k = keys();
    let ks = keyset(&k);
    // Access token on a route without scopes: an ID token is required.
    let access = rs256(&access_claims());
    assert_eq!(
        verify(&access, &ks, &id_route(), NOW).err(),
        Some(JwtError::WrongTokenUse)
    );
    // ID token on a route with scopes: an access token is required.
    let id = rs256(&id_claims());
    assert_eq!(
        verify(&id, &ks, &scoped_route(&["pets/read"]), NOW).err(),
        Some(JwtError::WrongTokenUse)
    );
    let none = rs256(&with(id_claims(), json!({"token_use": null})));
    assert_eq!(
        verify(&none, &ks, &id_route(), NOW).err(),
        Some(JwtError::WrongTokenUse)
    );
}

#[test]
fn audience_and_client_id() {
    let k = keys();
    let ks = keyset(&k);
    let id = rs256(&id_claims());
    let access = rs256(&access_claims());
    let mine = vec![CLIENT.to_owned()];
    let other = vec!["someotherclient".to_owned()];
    let v = |ids: &Vec<String>, scopes: &[&str]| Validation {
        client_ids: ids.clone(),
        ..scoped_route(scopes)
    };
    assert!(verify(&id, &ks, &v(&mine, &[]), NOW).is_ok());
    assert_eq!(
        verify(&id, &ks, &v(&other, &[]), NOW).err(),
        Some(JwtError::WrongAudience)
    );
    assert!(verify(&access, &ks, &v(&mine, &["pets/read"]), NOW).is_ok());
    assert_eq!(
        verify(&access, &ks, &v(&other, &["pets/read"]), NOW).err(),
        Some(JwtError::WrongAudience)
    );
    // An access token's aud (if someone adds one) does not replace client_id.
    let access_aud = rs256(&with(
        access_claims(),
        json!({"client_id": "someotherclient", "aud": CLIENT}),
    ));
    assert_eq!(
        verify(&access_aud, &ks, &v(&mine, &["pets/read"]), NOW).err(),
        Some(JwtError::WrongAudience)
    );
}

/// Cognito issues `aud`, `client_id`, `scope` and `token_use` as strings; any other JSON type
/// is a malformed Cognito token (401), on every route shape and also at the authorizer level
/// (verify once, check routes later), so tollgate is never more permissive than aws-jwt-verify
/// (which refuses these tokens too). An `aud` array holding the allowed client id is refused
/// although RFC 7519 §4.1.3 allows arrays.
#[test]
fn non_string_cognito_claims_are_refused() {
    let k = keys();
    let ks = keyset(&k);
    let mine = vec![CLIENT.to_owned()];
    let id_any = id_route();
    let id_mine = Validation {
        client_ids: mine.clone(),
        ..id_route()
    };
    let id_regex = Validation {
        aud_regex: Some(anchored_regex("3n4b5urk[0-9a-z]+").unwrap()),
        ..id_route()
    };
    let scoped_any = scoped_route(&["pets/read"]);
    let scoped_mine = Validation {
        client_ids: mine.clone(),
        ..scoped_route(&["pets/read"])
    };
    let auth = Validation::cognito_authorizer(vec![ISS.to_owned()], vec![], None, 0);
    let auth_mine = Validation::cognito_authorizer(vec![ISS.to_owned()], mine, None, 0);

    // The well-formed tokens pass everywhere they should (the baseline of this test).
    let id = rs256(&id_claims());
    let access = rs256(&access_claims());
    for v in [&id_any, &id_mine, &id_regex, &auth, &auth_mine] {
        assert!(verify(&id, &ks, v, NOW).is_ok());
    }
    for v in [&scoped_any, &scoped_mine, &auth, &auth_mine] {
        assert!(verify(&access, &ks, v, NOW).is_ok());
    }

    let id_cases: &[(&str, Value)] = &[
        ("aud", json!([CLIENT])),
        ("aud", json!(["someotherclient", CLIENT])),
        ("aud", json!(12345)),
        ("aud", json!(null)),
        ("aud", json!({"client": CLIENT})),
        ("scope", json!(["pets/read"])),
        ("client_id", json!([CLIENT])),
        ("token_use", json!(["id"])),
    ];
    for (claim, value) in id_cases {
        let mut claims = id_claims();
        claims[*claim] = value.clone();
        let t = rs256(&claims);
        for v in [&id_any, &id_mine, &id_regex, &auth, &auth_mine] {
            assert_eq!(
                verify(&t, &ks, v, NOW).err(),
                Some(JwtError::MissingClaim(claim)),
                "ID token with {claim} = {value}"
            );
        }
    }
    let access_cases: &[(&str, Value)] = &[
        ("scope", json!(["pets/read"])),
        ("scope", json!(["openid", "pets/read"])),
        ("scope", json!(7)),
        ("client_id", json!([CLIENT])),
        ("client_id", json!(42)),
        ("aud", json!([CLIENT])),
        ("token_use", json!(true)),
    ];
    for (claim, value) in access_cases {
        let mut claims = access_claims();
        claims[*claim] = value.clone();
        let t = rs256(&claims);
        for v in [&scoped_any, &scoped_mine, &auth, &auth_mine] {
            assert_eq!(
                verify(&t, &ks, v, NOW).err(),
                Some(JwtError::MissingClaim(claim)),
                "access token with {claim} = {value}"
            );
        }
    }
    // Other claims keep any JSON type (cognito:groups is an array in every ID token).
    let groups = rs256(&with(
        id_claims(),
        json!({"cognito:groups": 5, "custom:n": [1]}),
    ));
    assert!(verify(&groups, &ks, &id_mine, NOW).is_ok());
}

#[test]
fn identity_validation_expression() {
    let k = keys();
    let ks = keyset(&k);
    let id = rs256(&id_claims());
    let v = |pattern: &str, scopes: &[&str]| Validation {
        aud_regex: Some(anchored_regex(pattern).unwrap()),
        ..scoped_route(scopes)
    };
    assert!(verify(&id, &ks, &v("3n4b5urk[0-9a-z]+", &[]), NOW).is_ok());
    assert_eq!(
        verify(&id, &ks, &v("other[0-9a-z]+", &[]), NOW).err(),
        Some(JwtError::WrongAudience)
    );
    // Anchored: a partial match is not enough (docs/decisions.md D3).
    assert_eq!(
        verify(&id, &ks, &v("3n4b5urk", &[]), NOW).err(),
        Some(JwtError::WrongAudience)
    );
    // Access tokens have no aud: any expression makes them fail (spec §2.1).
    let access = rs256(&access_claims());
    assert_eq!(
        verify(&access, &ks, &v(".*", &["pets/read"]), NOW).err(),
        Some(JwtError::WrongAudience)
    );
}

#[test]
fn scopes() {
    let k = keys();
    let ks = keyset(&k);
    let access = rs256(&access_claims());
    for route in [&["pets/write"][..], &["pets/rea"], &["pets/read openid"]] {
        assert_eq!(
            verify(&access, &ks, &scoped_route(route), NOW).err(),
            Some(JwtError::MissingScope),
            "{route:?}"
        );
    }
    let no_scope = rs256(&with(access_claims(), json!({"scope": null})));
    assert_eq!(
        verify(&no_scope, &ks, &scoped_route(&["pets/read"]), NOW).err(),
        Some(JwtError::MissingScope)
    );
}

#[test]
fn key_selection() {
    let k = keys();
    let ks = keyset(&k);
    assert_eq!(ks.len(), 5, "the use=enc key is skipped");
    assert!(!ks.contains_kid("rsa-enc"));
    let key = EncodingKey::from_rsa_der(RSA_PKCS1);
    let unknown = mint(Algorithm::RS256, Some("rotated-away"), &key, &id_claims());
    assert_eq!(
        verify(&unknown, &ks, &id_route(), NOW).err(),
        Some(JwtError::UnknownKid)
    );
    let enc = mint(Algorithm::RS256, Some("rsa-enc"), &key, &id_claims());
    assert_eq!(
        verify(&enc, &ks, &id_route(), NOW).err(),
        Some(JwtError::UnknownKid)
    );
    // No kid with several keys: ambiguous.
    let no_kid = mint(Algorithm::RS256, None, &key, &id_claims());
    assert_eq!(
        verify(&no_kid, &ks, &id_route(), NOW).err(),
        Some(JwtError::UnknownKid)
    );
    // No kid with exactly one key: that key.
    let single = json!({"keys": [k.jwks["keys"][0].clone()]});
    let one = KeySet::from_jwks_json(
        &serde_json::to_vec(&single).unwrap(),
        &KeySetOptions::default(),
    )
    .unwrap();
    assert!(verify(&no_kid, &one, &id_route(), NOW).is_ok());
    // The key's own alg must equal the token's.
    let mut v = id_route();
    v.algs = vec![Alg::RS256, Alg::RS384];
    let rs256_on_384_key = mint(Algorithm::RS256, Some("rsa-384"), &key, &id_claims());
    assert_eq!(
        verify(&rs256_on_384_key, &ks, &v, NOW).err(),
        Some(JwtError::KeyMismatch)
    );
    let rs384 = mint(Algorithm::RS384, Some("rsa-384"), &key, &id_claims());
    assert!(verify(&rs384, &ks, &v, NOW).is_ok());
    // ...and RS384 is refused when the allow-list is Cognito's [RS256].
    assert_eq!(
        verify(&rs384, &ks, &id_route(), NOW).err(),
        Some(JwtError::UnsupportedAlg)
    );
}

#[test]
fn other_algorithms_from_the_independent_library() {
    let k = keys();
    let ks = keyset(&k);
    let mut v = id_route();
    v.algs = vec![Alg::RS256, Alg::PS256, Alg::ES256, Alg::EdDSA];
    let ps = mint(
        Algorithm::PS256,
        Some("rsa-any"),
        &EncodingKey::from_rsa_der(RSA_PKCS1),
        &id_claims(),
    );
    let es = mint(
        Algorithm::ES256,
        Some("ec1"),
        &EncodingKey::from_ec_der(&k.ec_pk8),
        &id_claims(),
    );
    let ed = mint(
        Algorithm::EdDSA,
        Some("ed1"),
        &EncodingKey::from_ed_der(&k.ed_pk8),
        &id_claims(),
    );
    for t in [&ps, &es, &ed] {
        assert!(verify(t, &ks, &v, NOW).is_ok(), "{t}");
        // Cognito's allow-list is RS256 only.
        assert_eq!(
            verify(t, &ks, &id_route(), NOW).err(),
            Some(JwtError::UnsupportedAlg)
        );
    }
    // ES256 with a DER-encoded signature instead of raw r||s: rejected.
    let parts: Vec<&str> = es.split('.').collect();
    let raw = base64_decode(parts[2]);
    assert_eq!(raw.len(), 64);
    let der = ecdsa_der(&raw[..32], &raw[32..]);
    let der_token = format!("{}.{}.{}", parts[0], parts[1], b64(&der));
    assert_eq!(
        verify(&der_token, &ks, &v, NOW).err(),
        Some(JwtError::BadSignature)
    );
    // A key used with the wrong family: ES256 header pointing at the Ed25519 key.
    let wrong = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"ES256","kid":"ed1"}"#),
        parts[1],
        parts[2]
    );
    assert_eq!(
        verify(&wrong, &ks, &v, NOW).err(),
        Some(JwtError::KeyMismatch)
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn der_int(v: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
    if v.first().is_none_or(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    let mut out = vec![0x02, v.len() as u8];
    out.extend(v);
    out
}

fn ecdsa_der(r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut body = der_int(r);
    body.extend(der_int(s));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[test]
fn algorithm_confusion_hs256_with_rsa_public_key() {
    let k = keys();
    let ks = keyset(&k);
    // The classic attack: HMAC keyed with the RSA public key the verifier holds.
    let comps = signature::RsaPublicKeyComponents::<Vec<u8>>::from(k.rsa.public());
    for secret in [
        comps.n.clone(),
        k.jwks["keys"][0]["n"].as_str().unwrap().as_bytes().to_vec(),
        serde_json::to_vec(&k.jwks["keys"][0]).unwrap(),
    ] {
        let forged = mint(
            Algorithm::HS256,
            Some("rsa1"),
            &EncodingKey::from_secret(&secret),
            &id_claims(),
        );
        assert_eq!(
            verify(&forged, &ks, &id_route(), NOW).err(),
            Some(JwtError::UnsupportedAlg)
        );
        // Even if HS256 were allowed, an RSA key never verifies an HMAC.
        let mut v = id_route();
        v.algs = vec![Alg::RS256, Alg::HS256];
        assert_eq!(
            verify(&forged, &ks, &v, NOW).err(),
            Some(JwtError::KeyMismatch)
        );
    }
}

#[test]
fn alg_none_and_header_rules() {
    let k = keys();
    let ks = keyset(&k);
    let claims = id_claims().to_string();
    for alg in ["none", "None", "NONE", "nOnE", ""] {
        let h = format!(r#"{{"alg":"{alg}","kid":"rsa1"}}"#);
        let unsigned = format!("{}.{}.", b64(h.as_bytes()), b64(claims.as_bytes()));
        assert_eq!(
            verify(&unsigned, &ks, &id_route(), NOW).err(),
            Some(JwtError::UnsupportedAlg),
            "{alg}"
        );
        // with a (valid RS256) signature attached it is still refused
        let signed = raw_rs256(&k, &h, &claims);
        assert_eq!(
            verify(&signed, &ks, &id_route(), NOW).err(),
            Some(JwtError::UnsupportedAlg)
        );
    }
    // Sanity: the hand-built path yields a good token with a plain header.
    let good = raw_rs256(&k, r#"{"alg":"RS256","kid":"rsa1","typ":"JWT"}"#, &claims);
    assert!(verify(&good, &ks, &id_route(), NOW).is_ok());

    let cases: &[(&str, JwtError)] = &[
        (
            r#"{"alg":"RS256","kid":"rsa1","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}}"#,
            JwtError::EmbeddedKey,
        ),
        (
            r#"{"alg":"RS256","kid":"rsa1","jku":"https://evil.example/jwks.json"}"#,
            JwtError::EmbeddedKey,
        ),
        (
            r#"{"alg":"RS256","kid":"rsa1","x5u":"https://evil.example/cert.pem"}"#,
            JwtError::EmbeddedKey,
        ),
        (
            r#"{"alg":"RS256","kid":"rsa1","x5c":["MIIB"]}"#,
            JwtError::EmbeddedKey,
        ),
        (
            r#"{"alg":"RS256","kid":"rsa1","jku":null}"#,
            JwtError::EmbeddedKey,
        ),
        (
            r#"{"alg":"RS256","kid":"rsa1","crit":["exp"],"exp":1}"#,
            JwtError::UnsupportedCrit,
        ),
        (
            r#"{"alg":"RS256","kid":"rsa1","crit":["b64"],"b64":false}"#,
            JwtError::UnsupportedCrit,
        ),
        (
            r#"{"alg":"RS256","kid":"rsa1","alg":"RS256"}"#,
            JwtError::DuplicateMember,
        ),
        (
            r#"{"alg":"RS256","kid":"rsa1","kid":"ec1"}"#,
            JwtError::DuplicateMember,
        ),
        (
            r#"{"alg":"RS256","kid":7}"#,
            JwtError::Malformed("header is not valid JSON with a string alg"),
        ),
        (
            r#"{"kid":"rsa1"}"#,
            JwtError::Malformed("header is not valid JSON with a string alg"),
        ),
        (
            r#"["RS256"]"#,
            JwtError::Malformed("header is not a JSON object"),
        ),
    ];
    for (header, want) in cases {
        let t = raw_rs256(&k, header, &claims);
        assert_eq!(
            verify(&t, &ks, &id_route(), NOW).err(),
            Some(*want),
            "{header}"
        );
    }
}

#[test]
fn payload_rules() {
    let k = keys();
    let ks = keyset(&k);
    let h = r#"{"alg":"RS256","kid":"rsa1"}"#;
    let dup = format!(
        r#"{{"iss":"https://evil.example","exp":{},"token_use":"id","iss":"{ISS}"}}"#,
        NOW + 60
    );
    assert_eq!(
        verify(&raw_rs256(&k, h, &dup), &ks, &id_route(), NOW).err(),
        Some(JwtError::DuplicateMember)
    );
    for payload in ["[]", "\"x\"", "", "{", "null"] {
        assert!(
            matches!(
                verify(&raw_rs256(&k, h, payload), &ks, &id_route(), NOW),
                Err(JwtError::Malformed(_))
            ),
            "{payload:?}"
        );
    }
}

#[test]
fn encoding_and_size_rules() {
    let k = keys();
    let ks = keyset(&k);
    let token = rs256(&id_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let bad = [
        format!("{}==.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
        token.replace('-', "+").replace('_', "/"),
        format!("{}.{}.{}.", parts[0], parts[1], parts[2]),
        format!("{}.{}", parts[0], parts[1]),
        format!(" {token}"),
    ];
    for t in &bad {
        if *t == token {
            continue; // no '-' or '_' to swap in this token
        }
        assert!(verify(t, &ks, &id_route(), NOW).is_err(), "{t}");
    }
    // A dirty trailing bit in the signature's last character.
    let sig = parts[2];
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    // 256-byte signature -> 342 chars, last char carries 4 unused bits... flip the lowest.
    let flipped = alphabet.chars().nth(idx ^ 1).unwrap();
    let dirty = format!(
        "{}.{}.{}{}",
        parts[0],
        parts[1],
        &sig[..sig.len() - 1],
        flipped
    );
    assert_eq!(
        verify(&dirty, &ks, &id_route(), NOW).err(),
        Some(JwtError::Malformed("signature is not base64url"))
    );
    // Oversized: rejected before decoding (even garbage).
    let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(
        verify(&huge, &ks, &id_route(), NOW).err(),
        Some(JwtError::TooLarge)
    );
    let big_claims = with(id_claims(), json!({"pad": "x".repeat(MAX_TOKEN_BYTES)}));
    assert_eq!(
        verify(&rs256(&big_claims), &ks, &id_route(), NOW).err(),
        Some(JwtError::TooLarge)
    );
}

#[test]
fn cache_flow() {
    let k = keys();
    let ks = keyset(&k);
    let token = rs256(&with(id_claims(), json!({"exp": NOW + 100})));
    let t = token.as_bytes();
    let mut cache: TokenCache<std::sync::Arc<tollgate_jwt::VerifiedToken>> = TokenCache::new(16);
    assert!(cache.get(t, 7, NOW).is_none());
    let ok = verify(&token, &ks, &id_route(), NOW).unwrap();
    assert!(cache.insert(
        t,
        7,
        std::sync::Arc::new(ok.clone()),
        expiry(ok.exp, NOW, 300)
    ));
    assert_eq!(cache.get(t, 7, NOW + 99).map(|v| v.exp), Some(NOW + 100));
    assert_eq!(
        cache
            .get_hashed(token_hash(t, 7), t, 7, NOW + 99)
            .map(|v| v.exp),
        Some(NOW + 100)
    );
    // never outlives the token
    assert!(cache.get(t, 7, NOW + 100).is_none());
    // a new generation misses
    cache.insert(t, 7, std::sync::Arc::new(ok), expiry(NOW + 100, NOW, 10));
    assert!(cache.get(t, 8, NOW).is_none());
    // a token differing in one signature byte misses
    let mut other = token.clone().into_bytes();
    let last = other.len() - 1;
    other[last] = if other[last] == b'A' { b'B' } else { b'A' };
    assert!(cache.get(&other, 7, NOW).is_none());
    assert!(cache.get(t, 7, NOW + 9).is_some());
    assert!(cache.get(t, 7, NOW + 10).is_none(), "ttl bound");
}

/// Verify once with the authorizer-level rules, then check each route: the same answers as
/// verifying with the full per-route validation.
#[test]
fn authorizer_level_verification_then_route_checks() {
    let k = keys();
    let ks = keyset(&k);
    let auth = Validation::cognito_authorizer(vec![ISS.to_owned()], vec![], None, 0);
    let id = verify(&rs256(&id_claims()), &ks, &auth, NOW).unwrap();
    let access = verify(&rs256(&access_claims()), &ks, &auth, NOW).unwrap();
    let routes: [&[&str]; 4] = [&[], &["pets/read"], &["pets/write", "email"], &["nope"]];
    let mut checked = 0;
    for route in routes {
        let scopes: Vec<String> = route.iter().map(|s| (*s).to_owned()).collect();
        for (token, claims) in [(&id, id_claims()), (&access, access_claims())] {
            let full = verify(&rs256(&claims), &ks, &scoped_route(route), NOW).map(|_| ());
            assert_eq!(token.check_route(&scopes), full, "{route:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
    assert_eq!(id.check_route(&[]), Ok(()));
    assert_eq!(
        access.check_route(&[]),
        Err(JwtError::WrongTokenUse),
        "access token on a scope-less route"
    );
    assert_eq!(
        id.check_route(&["pets/read".to_owned()]),
        Err(JwtError::WrongTokenUse),
        "ID token on a scoped route"
    );
    assert_eq!(
        access.check_route(&["pets/write".to_owned()]),
        Err(JwtError::MissingScope)
    );
}

/// Several provider ARNs: a token from any of the pools, each with its own issuer.
#[test]
fn several_pools() {
    let k = keys();
    let ks = keyset(&k);
    let other = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other";
    let auth =
        Validation::cognito_authorizer(vec![ISS.to_owned(), other.to_owned()], vec![], None, 0);
    for iss in [ISS, other] {
        let t = rs256(&with(id_claims(), json!({ "iss": iss })));
        assert!(verify(&t, &ks, &auth, NOW).is_ok(), "{iss}");
    }
    for iss in [
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Third",
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example",
    ] {
        let t = rs256(&with(id_claims(), json!({ "iss": iss })));
        assert_eq!(
            verify(&t, &ks, &auth, NOW).err(),
            Some(JwtError::WrongIssuer),
            "{iss}"
        );
    }
    // leeway applies to exp
    let expired = rs256(&with(id_claims(), json!({ "exp": NOW - 5 })));
    assert_eq!(
        verify(&expired, &ks, &auth, NOW).err(),
        Some(JwtError::Expired)
    );
    let lenient = Validation::cognito_authorizer(vec![ISS.to_owned()], vec![], None, 10);
    assert!(verify(&expired, &ks, &lenient, NOW).is_ok());
}

#[test]
fn hmac_keys_only_when_allowed() {
    let secret = b"0123456789abcdef0123456789abcdef";
    let jwks = json!({"keys":[{"kty":"oct","kid":"h1","k":b64(secret)}]});
    let bytes = serde_json::to_vec(&jwks).unwrap();
    assert!(KeySet::from_jwks_json(&bytes, &KeySetOptions::default()).is_err());
    let ks = KeySet::from_jwks_json(
        &bytes,
        &KeySetOptions {
            allow_hmac: true,
            ..KeySetOptions::default()
        },
    )
    .unwrap();
    let t = mint(
        Algorithm::HS256,
        Some("h1"),
        &EncodingKey::from_secret(secret),
        &id_claims(),
    );
    let mut v = id_route();
    v.algs = vec![Alg::HS256];
    assert!(verify(&t, &ks, &v, NOW).is_ok());
    assert_eq!(
        verify(&t, &ks, &id_route(), NOW).err(),
        Some(JwtError::UnsupportedAlg)
    );
    let short = json!({"keys":[{"kty":"oct","kid":"h1","k":b64(b"short")}]});
    assert!(
        KeySet::from_jwks_json(
            &serde_json::to_vec(&short).unwrap(),
            &KeySetOptions {
                allow_hmac: true,
                ..KeySetOptions::default()
            }
        )
        .is_err()
    );
}

/// `exp`/`nbf`/`iat` written as JSON floats are numbers like any other (RFC 7519 NumericDate
/// may be fractional; aws-jwt-verify compares them as JS numbers): a float and the equal
/// integer give the same answer, and a fraction counts.
#[test]
fn float_time_claims_are_compared_numerically() {
    let k = keys();
    let ks = keyset(&k);
    let v = id_route();
    // the claims with `name` written exactly as `raw`
    let token = |name: &str, raw: &str| {
        let text = serde_json::to_string(&with(id_claims(), json!({ name: "@@" }))).unwrap();
        let payload = text.replace("\"@@\"", raw);
        raw_rs256(&k, r#"{"alg":"RS256","kid":"rsa1","typ":"JWT"}"#, &payload)
    };
    let check = |name: &str, raw: &str, now: i64| verify(&token(name, raw), &ks, &v, now);

    // the same instant as integer, float and exponent: same result, same cache lifetime
    for raw in ["10000000000000000", "1e16", "1.0e16", "10000000000000000.0"] {
        let t = check("exp", raw, NOW).unwrap_or_else(|e| panic!("exp {raw}: {e:?}"));
        assert_eq!(t.exp, 10_000_000_000_000_000, "exp {raw}");
    }
    for raw in ["1680629980", "1680629980.0", "1.68062998e9"] {
        assert_eq!(check("exp", raw, NOW).unwrap().exp, NOW + 1, "exp {raw}");
        assert_eq!(
            check("exp", raw, NOW + 1).err(),
            Some(JwtError::Expired),
            "exp {raw}"
        );
    }
    // a fraction counts: valid during the second before, expired at the next whole second
    let t = check("exp", "1680629979.5", NOW).unwrap();
    assert_eq!(t.exp, NOW + 1, "cache lifetime rounds up");
    assert_eq!(
        check("exp", "1680629979.5", NOW + 1).err(),
        Some(JwtError::Expired)
    );
    assert_eq!(check("exp", "-1.5", NOW).err(), Some(JwtError::Expired));
    assert!(check("exp", "1e300", NOW).is_ok());

    // nbf: not before NOW + 0.5 is not yet valid at NOW, valid at NOW + 1
    assert_eq!(
        check("nbf", "1680629979.5", NOW).err(),
        Some(JwtError::NotYetValid)
    );
    assert!(check("nbf", "1680629979.5", NOW + 1).is_ok());
    assert!(check("nbf", "1.680629979e9", NOW).is_ok());
    assert!(check("nbf", "1680629979.0", NOW).is_ok());

    // iat: issued half a second in the future is in the future
    assert!(check("iat", "1680629979.0", NOW).is_ok());
    assert!(check("iat", "1.680629979e9", NOW).is_ok());
    assert_eq!(
        check("iat", "1680629979.5", NOW).err(),
        Some(JwtError::IssuedInFuture)
    );
    assert_eq!(
        check("iat", "1e16", NOW).err(),
        Some(JwtError::IssuedInFuture)
    );
    assert_eq!(
        check("iat", "10000000000000000", NOW).err(),
        Some(JwtError::IssuedInFuture)
    );

    // not numbers: refused as before
    for raw in ["\"1680629999\"", "null", "[1680629999]", "true"] {
        assert_eq!(
            check("exp", raw, NOW).err(),
            Some(JwtError::MissingClaim("exp")),
            "exp {raw}"
        );
    }
}
