//! JWT verification benchmarks (tollgate-jwt).
//!
//! What it measures, all on a Cognito-shaped ID token (~1 KiB of claims):
//! * `jwt_verify_cold/{RS256,ES256,EdDSA}/tollgate`: `verify_signature_only` on a token
//!   never seen before (split, strict base64url, header checks, key lookup, ring verify)
//!   next to `.../ring`: ring's own verification of the same signature over the same
//!   signing input with the signature already decoded, i.e. the floor we build on.
//!   `jwt_verify_cold/RS256/tollgate_with_claims` adds claims decoding and the Cognito
//!   claim checks (`verify`).
//! * `jwt_token_cache/l1_hit`: the whole per-request L1 hit, `TokenCache::get` on the raw
//!   token (fast 64-bit `token_hash` + table probe + exact comparison with the stored token)
//!   in a cache holding 5 000 other tokens; must be well under 1 µs.
//!   `.../token_hash_only` is the hash alone, `.../sha256_of_token` what the previous key
//!   design (SHA-256 of the whole token) cost before any lookup.
//! * `jwt_claims_decode/{serde_json,simd_json}`: `decode_claims` of the same ~1 KiB claims
//!   JSON with each backend (both include one buffer copy, simd-json parses in place). The
//!   faster one is `tollgate_jwt::CLAIMS_BACKEND`.
//!
//! Run: `cargo bench -p tollgate-bench --bench jwt` (add `-- --quick` for a short run, or
//! a filter such as `-- jwt_token_cache`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use tollgate_jwt::{
    Alg, JsonBackend, KeySet, KeySetOptions, TokenCache, Validation, base64url_encode as b64,
    decode_claims, token_hash, verify, verify_signature_only,
};

const RSA_PKCS8: &[u8] =
    include_bytes!("../../crates/tollgate-jwt/tests/keys/rsa2048_test_only.pk8.der");
const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example";
const NOW: i64 = 1_700_000_000;

/// A Cognito ID token's claims, padded with realistic custom attributes to ~1 KiB.
fn claims_json() -> String {
    let exp = NOW + 3600;
    format!(
        concat!(
            r#"{{"sub":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","cognito:groups":["admins","users","billing"],"#,
            r#""email_verified":true,"iss":"{iss}","cognito:username":"alice.example","#,
            r#""origin_jti":"11111111-2222-3333-4444-555555555555","aud":"3n4b5urk1ft4fl3mg5e62d9ado","#,
            r#""event_id":"66666666-7777-8888-9999-000000000000","token_use":"id","auth_time":{now},"#,
            r#""exp":{exp},"iat":{now},"jti":"abcdef01-2345-6789-abcd-ef0123456789","#,
            r#""email":"alice@example.com","phone_number_verified":false,"phone_number":"+15555550100","#,
            r#""given_name":"Alice","family_name":"Example","locale":"en-US","zoneinfo":"Europe/Paris","#,
            r#""custom:tenant":"tenant-0001","custom:role":"administrator","custom:plan":"enterprise","#,
            r#""custom:region":"eu-west-1","custom:department":"platform-engineering","#,
            r#""custom:cost_center":"CC-000123","custom:employee_id":"E-0042","#,
            r#""identities":[{{"userId":"1234567890","providerName":"Google","providerType":"Google","#,
            r#""issuer":null,"primary":"true","dateCreated":"1680000000000"}}],"#,
            r#""custom:features":"beta,reports,exports,audit-log,sso,scim","#,
            r#""address":{{"formatted":"1 Example Street, Springfield"}}}}"#
        ),
        iss = ISS,
        now = NOW,
        exp = exp
    )
}

struct Signed {
    token: String,
    signing_input: Vec<u8>,
    sig: Vec<u8>,
}

fn sign(header: &str, claims: &str, f: impl FnOnce(&[u8]) -> Vec<u8>) -> Signed {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = f(input.as_bytes());
    Signed {
        token: format!("{input}.{}", b64(&sig)),
        signing_input: input.into_bytes(),
        sig,
    }
}

fn bench_verify(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let claims = claims_json();

    let rsa = RsaKeyPair::from_pkcs8(RSA_PKCS8).unwrap();
    let rsa_pub = signature::RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public());
    let ec_pk8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        ec_pk8.as_ref(),
        &rng,
    )
    .unwrap();
    let ed_pk8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(ed_pk8.as_ref()).unwrap();
    let point = ec.public_key().as_ref().to_vec();

    let jwks = format!(
        r#"{{"keys":[
          {{"kty":"RSA","kid":"rsa1","use":"sig","alg":"RS256","n":"{n}","e":"{e}"}},
          {{"kty":"RSA","kid":"rsa2","use":"sig","alg":"RS256","n":"{n}","e":"{e}"}},
          {{"kty":"EC","kid":"ec1","crv":"P-256","x":"{x}","y":"{y}"}},
          {{"kty":"OKP","kid":"ed1","crv":"Ed25519","x":"{ed}"}}]}}"#,
        n = b64(&rsa_pub.n),
        e = b64(&rsa_pub.e),
        x = b64(&point[1..33]),
        y = b64(&point[33..]),
        ed = b64(ed.public_key().as_ref()),
    );
    let keys = KeySet::from_jwks_json(jwks.as_bytes(), &KeySetOptions::default()).unwrap();

    let rs = sign(r#"{"kid":"rsa2","alg":"RS256"}"#, &claims, |m| {
        let mut s = vec![0; rsa.public().modulus_len()];
        rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, m, &mut s)
            .unwrap();
        s
    });
    let es = sign(r#"{"kid":"ec1","alg":"ES256"}"#, &claims, |m| {
        ec.sign(&rng, m).unwrap().as_ref().to_vec()
    });
    let eds = sign(r#"{"kid":"ed1","alg":"EdDSA"}"#, &claims, |m| {
        ed.sign(m).as_ref().to_vec()
    });
    let ec_verifier =
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point.clone());
    let ed_verifier =
        signature::UnparsedPublicKey::new(&signature::ED25519, ed.public_key().as_ref().to_vec());

    let mut g = c.benchmark_group("jwt_verify_cold");
    g.bench_function("RS256/tollgate", |b| {
        b.iter(|| verify_signature_only(black_box(&rs.token), &keys, &[Alg::RS256]).unwrap())
    });
    g.bench_function("RS256/ring", |b| {
        b.iter(|| {
            rsa_pub
                .verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    black_box(&rs.signing_input),
                    black_box(&rs.sig),
                )
                .unwrap()
        })
    });
    let v = Validation::cognito(ISS, vec![], None, vec![]);
    g.bench_function("RS256/tollgate_with_claims", |b| {
        b.iter(|| verify(black_box(&rs.token), &keys, &v, NOW).unwrap())
    });
    g.bench_function("ES256/tollgate", |b| {
        b.iter(|| verify_signature_only(black_box(&es.token), &keys, &[Alg::ES256]).unwrap())
    });
    g.bench_function("ES256/ring", |b| {
        b.iter(|| {
            ec_verifier
                .verify(black_box(&es.signing_input), black_box(&es.sig))
                .unwrap()
        })
    });
    g.bench_function("EdDSA/tollgate", |b| {
        b.iter(|| verify_signature_only(black_box(&eds.token), &keys, &[Alg::EdDSA]).unwrap())
    });
    g.bench_function("EdDSA/ring", |b| {
        b.iter(|| {
            ed_verifier
                .verify(black_box(&eds.signing_input), black_box(&eds.sig))
                .unwrap()
        })
    });
    g.finish();

    // Cache hit path: a realistic, partly filled per-worker (L1) cache, keyed by the whole
    // token: fast 64-bit hash to the slot, exact byte comparison with the stored token.
    let verified = std::sync::Arc::new(verify(&rs.token, &keys, &v, NOW).unwrap());
    let mut cache = TokenCache::new(10_000);
    for i in 0..5_000u32 {
        let filler = format!("{}{i}", &rs.token[..rs.token.len() - 8]);
        cache.insert(filler.as_bytes(), 1, verified.clone(), NOW + 300);
    }
    cache.insert(rs.token.as_bytes(), 1, verified, NOW + 300);
    assert!(cache.get(rs.token.as_bytes(), 1, NOW).is_some());
    let mut g = c.benchmark_group("jwt_token_cache");
    g.bench_function("l1_hit", |b| {
        b.iter(|| {
            cache
                .get(black_box(rs.token.as_bytes()), black_box(1), NOW)
                .map(|v| v.exp)
        })
    });
    g.bench_function("token_hash_only", |b| {
        b.iter(|| token_hash(black_box(rs.token.as_bytes()), 1))
    });
    // The previous key design (SHA-256 of the whole token), for comparison.
    g.bench_function("sha256_of_token", |b| {
        b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(rs.token.as_bytes())))
    });
    g.finish();

    let payload = claims.into_bytes();
    assert!(payload.len() >= 1000, "claims are {} bytes", payload.len());
    let mut g = c.benchmark_group("jwt_claims_decode");
    for (name, backend) in [
        ("serde_json", JsonBackend::SerdeJson),
        ("simd_json", JsonBackend::SimdJson),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || payload.clone(),
                |buf| decode_claims(buf, backend).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
