//! SigV4 verification benchmarks (`tollgate-sigv4`).
//!
//! What it measures, on one realistic execute-api request (POST with a 64-byte JSON body,
//! content-type, a query string, an encoded path; signed once at setup by the independent
//! `aws-sigv4` crate, header form unless noted):
//! - `sigv4/verify_warm_cache`: `Verifier::verify` with a warm per-worker `SigningKeyCache`:
//!   parse the `Authorization` header, scope and clock checks, key lookup, canonical request,
//!   string to sign, one HMAC compared in constant time. This is the gateway's hot path.
//! - `sigv4/verify_cold_key`: the same with a fresh cache per call (adds the four-HMAC
//!   signing-key derivation): what the cache saves.
//! - `sigv4/verify_presigned_warm_cache`: a presigned URL of the same request.
//! - `sigv4/aws_sigv4_sign`: the `aws-sigv4` crate computing the same signature for the same
//!   request (its `sign`, which canonicalises and derives the key every time): the reference.
//! - `sigv4/derive_signing_key`: the key derivation alone.
//!
//! Run: `cargo bench -p tollgate-bench --bench sigv4` (add `-- --quick` for a short run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningParams, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use criterion::{Criterion, criterion_group, criterion_main};
use tollgate_sigv4::{RequestParts, SigningKeyCache, StaticKey, Verifier, derive_signing_key};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const REGION: &str = "us-east-1";
const HOST: &str = "abcdef1234.execute-api.us-east-1.amazonaws.com";
const PATH: &str = "/prod/orders/1234/items%20x";
const QUERY: &str = "expand=true&limit=10";
const BODY: &[u8] = br#"{"sku":"ABC-123","quantity":2,"note":"leave at the door, thanks"}"#;
const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn params<'a>(identity: &'a Identity, presign: bool) -> SigningParams<'a> {
    let mut settings = SigningSettings::default();
    if presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(900));
    }
    v4::SigningParams::builder()
        .identity(identity)
        .region(REGION)
        .name("execute-api")
        .time(UNIX_EPOCH + Duration::from_secs(NOW as u64))
        .settings(settings)
        .build()
        .unwrap()
        .into()
}

const BASE_HEADERS: [(&str, &str); 3] = [
    ("host", HOST),
    ("content-type", "application/json"),
    ("user-agent", "bench/1.0"),
];

/// Signs with aws-sigv4; returns the headers and query as they would be sent.
fn signed(identity: &Identity, presign: bool) -> (Vec<(String, String)>, String) {
    let p = params(identity, presign);
    let req = SignableRequest::new(
        "POST",
        format!("https://{HOST}{PATH}?{QUERY}"),
        BASE_HEADERS.iter().copied(),
        SignableBody::Bytes(BODY),
    )
    .unwrap();
    let (instructions, _) = sign(req, &p).unwrap().into_parts();
    let (extra_headers, extra_params) = instructions.into_parts();
    let mut headers: Vec<(String, String)> = BASE_HEADERS
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    headers.extend(
        extra_headers
            .iter()
            .map(|h| (h.name().to_owned(), h.value().to_owned())),
    );
    let mut query = QUERY.to_owned();
    for (n, v) in extra_params {
        query.push('&');
        query.push_str(n);
        query.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                query.push(char::from(b));
            } else {
                query.push_str(&format!("%{b:02X}"));
            }
        }
    }
    (headers, query)
}

fn bench(c: &mut Criterion) {
    let identity: Identity = Credentials::new(AKID, SECRET, None, None, "bench").into();
    let keys = HashMap::from([(AKID.to_owned(), StaticKey::new(SECRET, 1))]);
    let verifier = Verifier::new(REGION);
    let mut g = c.benchmark_group("sigv4");

    let (headers, query) = signed(&identity, false);
    let hdrs: Vec<(&[u8], &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let req = RequestParts {
        method: b"POST",
        path: PATH.as_bytes(),
        query: Some(query.as_bytes()),
        headers: &hdrs,
        body: Some(BODY),
    };
    let mut cache = SigningKeyCache::default();
    verifier.verify(&req, NOW, &keys, &mut cache).unwrap();
    g.bench_function("verify_warm_cache", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&req), NOW, &keys, &mut cache)
                .unwrap()
        })
    });
    g.bench_function("verify_cold_key", |b| {
        b.iter(|| {
            let mut fresh = SigningKeyCache::new(2);
            verifier
                .verify(black_box(&req), NOW, &keys, &mut fresh)
                .unwrap()
        })
    });

    let (p_headers, p_query) = signed(&identity, true);
    let p_hdrs: Vec<(&[u8], &[u8])> = p_headers
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    let p_req = RequestParts {
        query: Some(p_query.as_bytes()),
        headers: &p_hdrs,
        ..req
    };
    verifier.verify(&p_req, NOW, &keys, &mut cache).unwrap();
    g.bench_function("verify_presigned_warm_cache", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&p_req), NOW, &keys, &mut cache)
                .unwrap()
        })
    });

    let p = params(&identity, false);
    let uri = format!("https://{HOST}{PATH}?{QUERY}");
    g.bench_function("aws_sigv4_sign", |b| {
        b.iter(|| {
            let r = SignableRequest::new(
                "POST",
                uri.as_str(),
                BASE_HEADERS.iter().copied(),
                SignableBody::Bytes(black_box(BODY)),
            )
            .unwrap();
            sign(r, &p).unwrap()
        })
    });

    g.bench_function("derive_signing_key", |b| {
        b.iter(|| {
            derive_signing_key(
                black_box(SECRET.as_bytes()),
                "20260101",
                REGION,
                "execute-api",
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
