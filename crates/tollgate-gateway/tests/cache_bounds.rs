//! Caches stay within their configured size under a flood of a million distinct tokens
//! (hostile clients choose the keys): the Lambda authorizer's per-worker (L1) and shared (L2)
//! caches (bounded in bytes, measured by a counting allocator), and the per-worker
//! verified-JWT cache.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    unsafe_code
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use tollgate_gateway::authorizer_cache::{
    Begin, CacheKey, ENTRY_OVERHEAD, L1, L2, Weigh, policy_weight,
};

const DISTINCT: usize = 1_000_000;

/// Live heap bytes of this test process (all threads: run the measuring tests alone, see
/// `measure`).
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Serialises the tests that read `LIVE` (the others allocate too).
static MEASURE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A value holding `n` heap bytes, reporting them.
#[derive(Clone)]
struct Blob(Arc<Vec<u8>>);

impl Weigh for Blob {
    fn weight(&self) -> usize {
        self.0.capacity() + 2 * std::mem::size_of::<usize>()
    }
}

#[test]
fn lambda_l1_stays_bounded() {
    let _m = MEASURE.lock().unwrap_or_else(|p| p.into_inner());
    let cap = 10_000;
    let budget = cap * (ENTRY_OVERHEAD + 4);
    let mut l1: L1<u32> = L1::new(budget);
    let now = Instant::now();
    let later = now + Duration::from_secs(300);
    let mut max = 0;
    for i in 0..DISTINCT {
        l1.insert(CacheKey::new(7, &format!("token-{i}")), 1, later, now);
        max = max.max(l1.len());
        assert!(l1.bytes() <= budget);
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
    let _m = MEASURE.lock().unwrap_or_else(|p| p.into_inner());
    let cap = 10_000;
    let budget = cap * (ENTRY_OVERHEAD + 4);
    let l2: L2<u32, ()> = L2::new(budget);
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
        assert!(l2.bytes() <= budget + ENTRY_OVERHEAD + 4);
    }
    assert!(max <= cap + 1, "grew to {max}");
}

/// The byte budget bounds the real heap: a million distinct keys with 1 KiB values (the
/// review's flood) stay within the budget plus the maps' own slack, measured by the
/// allocator, and failures (never cached) leave nothing behind.
#[test]
fn lambda_caches_bounded_in_real_bytes() {
    let _m = MEASURE.lock().unwrap_or_else(|p| p.into_inner());
    let budget: usize = 8 << 20;
    let start = LIVE.load(Ordering::Relaxed);
    let l2: L2<Blob, ()> = L2::new(budget);
    let mut l1: L1<Blob> = L1::new(budget);
    let now = Instant::now();
    let later = now + Duration::from_secs(300);
    let mut peak = 0isize;
    for i in 0..DISTINCT {
        let key = CacheKey::new(7, &format!("token-{i}-{}", "x".repeat(i % 4096)));
        let Begin::Lead(flight) = l2.begin(&key, now, Duration::from_secs(1)) else {
            panic!("a new key must lead")
        };
        if i % 2 == 0 {
            // A rejected token: not cached.
            l2.fail(&key, flight, (), now);
            continue;
        }
        let v = Blob(Arc::new(vec![0u8; 1024]));
        l2.complete(&key, flight, v.clone(), later);
        l1.insert(key, v, later, now);
        if i % 1000 == 1 {
            peak = peak.max(LIVE.load(Ordering::Relaxed) - start);
        }
    }
    assert!(l2.bytes() <= budget + ENTRY_OVERHEAD + 1040);
    assert!(l1.bytes() <= budget);
    // L1 and L2 share the values (Arc): together they hold at most both budgets; allow the
    // hash maps' growth slack (power-of-two tables) on top.
    let limit = (2 * budget) as isize * 2;
    assert!(peak <= limit, "peak heap {peak} > {limit}");
}

/// The weight estimated for a compiled authorizer policy is at least what it really holds.
#[test]
fn policy_weight_bounds_the_heap() {
    let _m = MEASURE.lock().unwrap_or_else(|p| p.into_inner());
    let ctx = tollgate_policy::ExpandCtx {
        region: "us-east-1",
        account_id: "123456789012",
        api_id: Some("api1"),
    };
    let arn =
        |i: usize| format!("arn:aws:execute-api:us-east-1:123456789012:api1/prod/GET/pets/{i}/*");
    let docs = [
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": arn(0)}]}),
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": (0..50).map(arn).collect::<Vec<_>>()},
            {"Action": ["execute-api:Invoke"], "Effect": "Deny", "Resource": ["arn:aws:execute-api:*:*:*/*/POST/*"],
             "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}}]}),
    ];
    for doc in docs {
        let estimate = policy_weight(&doc);
        let before = LIVE.load(Ordering::Relaxed);
        let p = tollgate_policy::parse_policy(&doc, &ctx).unwrap();
        let c = tollgate_policy::CompiledPolicy::new(
            tollgate_policy::PolicyKind::Identity,
            std::slice::from_ref(&p),
        );
        drop(p);
        let held = LIVE.load(Ordering::Relaxed) - before + std::mem::size_of_val(&c) as isize;
        assert!(
            held <= estimate as isize,
            "compiled policy holds {held} bytes, estimate {estimate}"
        );
        eprintln!("compiled policy holds {held} bytes, estimate {estimate}");
        drop(c);
    }
}

#[test]
fn jwt_token_cache_stays_bounded() {
    let _m = MEASURE.lock().unwrap_or_else(|p| p.into_inner());
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
