//! Caches stay within their configured size under a flood of a million distinct tokens
//! (hostile clients choose the keys): the Lambda authorizer's per-worker (L1) and shared (L2)
//! caches, and the per-worker verified-JWT cache.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use tollgate_gateway::authorizer_cache::{Begin, CacheKey, L1, L2};

const DISTINCT: usize = 1_000_000;

#[test]
fn lambda_l1_stays_bounded() {
    let cap = 10_000;
    let mut l1: L1<u32> = L1::new(cap);
    let now = Instant::now();
    let later = now + Duration::from_secs(300);
    let mut max = 0;
    for i in 0..DISTINCT {
        l1.insert(CacheKey::new(7, &format!("token-{i}")), 1, later, now);
        max = max.max(l1.len());
    }
    assert!(max <= cap, "grew to {max}");
    // Recent entries are still served.
    assert_eq!(
        l1.get(&CacheKey::new(7, &format!("token-{}", DISTINCT - 1)), now),
        Some(1)
    );
}

#[test]
fn lambda_l2_stays_bounded() {
    let cap = 10_000;
    let l2: L2<u32, ()> = L2::new(cap);
    let now = Instant::now();
    let later = now + Duration::from_secs(300);
    let mut max = 0;
    for i in 0..DISTINCT {
        let key = CacheKey::new(7, &format!("token-{i}"));
        match l2.begin(&key, now, Duration::from_secs(1)) {
            Begin::Lead(flight) => l2.complete(&key, flight, 1, later),
            _ => panic!("a new key must lead"),
        }
        max = max.max(l2.len());
    }
    assert!(max <= cap, "grew to {max}");
}

#[test]
fn jwt_token_cache_stays_bounded() {
    let cap = 10_000;
    let mut c: tollgate_jwt::TokenCache<u32> = tollgate_jwt::TokenCache::new(cap);
    let mut max = 0;
    for i in 0..DISTINCT {
        let token = format!("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ{i}.c2ln");
        c.insert(token.as_bytes(), 1, 1, 2_000_000_000);
        max = max.max(c.len());
    }
    assert!(max <= cap, "grew to {max}");
    let last = format!("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ{}.c2ln", DISTINCT - 1);
    assert_eq!(c.get(last.as_bytes(), 1, 1_000_000_000), Some(&1));
}
