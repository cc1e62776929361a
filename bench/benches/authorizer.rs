//! Lambda-authorizer cache benchmarks (`tollgate_gateway::authorizer_cache`).
//!
//! What it measures: the cache-hit path of a `CUSTOM` route, i.e. what a request pays when the
//! authorizer's result is cached, on caches holding 10,000 entries with 40-byte tokens:
//! - `l1_hit`: build the key from the token, then the per-worker L1 lookup (no locks).
//! - `l2_get_hit`: the shared L2 (`DashMap`) lookup of a cached result.
//! - `l2_begin_hit`: `L2::begin` on a cached key (the single-flight entry point a request uses
//!   after an L1 miss; a hit returns without taking a flight).
//! - `l1_miss_l2_hit`: the full path of a worker that has not seen the key yet: L1 miss, L2
//!   hit, copy into L1 (the entry is removed again so every iteration misses L1).
//!
//! Run: `cargo bench -p tollgate-bench --bench authorizer` (add `-- --quick` for a short run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tollgate_gateway::authorizer_cache::{Begin, CacheKey, ENTRY_OVERHEAD, L1, L2, Weigh};

const ENTRIES: usize = 10_000;
const SCOPE: u64 = 0x5eed_cafe_f00d_beef;

/// A stand-in for a cached authorizer result (the real one is an `Arc` too).
struct Value {
    _principal: String,
}

impl Weigh for Value {
    fn weight(&self) -> usize {
        64
    }
}

/// Byte budget for `n` entries.
fn budget(n: usize) -> usize {
    n * (ENTRY_OVERHEAD + 64) * 2
}

fn token(i: usize) -> String {
    format!("Bearer tok-{i:08}-abcdefghijklmnopqrstuv")
}

fn benches(c: &mut Criterion) {
    let now = Instant::now();
    let expires = now + Duration::from_secs(3600);
    let value = Arc::new(Value {
        _principal: "user|123".into(),
    });
    let mut l1: L1<Arc<Value>> = L1::new(budget(ENTRIES + 1));
    let l2: L2<Arc<Value>, ()> = L2::new(budget(ENTRIES * 2));
    for i in 0..ENTRIES {
        let key = CacheKey::new(SCOPE, &token(i));
        l1.insert(key.clone(), value.clone(), expires, now);
        if let Begin::Lead(f) = l2.begin(&key, now, Duration::from_secs(10)) {
            l2.complete(&key, f, value.clone(), expires);
        }
    }
    let probe = token(ENTRIES / 2);
    let key = CacheKey::new(SCOPE, &probe);
    let mut g = c.benchmark_group("authorizer_cache");
    g.bench_function("l1_hit", |b| {
        b.iter(|| {
            let k = CacheKey::new(SCOPE, black_box(&probe));
            black_box(l1.get(&k, now)).unwrap()
        })
    });
    g.bench_function("l2_get_hit", |b| {
        b.iter(|| black_box(l2.get(black_box(&key), now)).unwrap())
    });
    g.bench_function("l2_begin_hit", |b| {
        b.iter(
            || match l2.begin(black_box(&key), now, Duration::from_secs(10)) {
                Begin::Hit(v, _) => black_box(v),
                _ => panic!("expected a hit"),
            },
        )
    });
    let mut cold: L1<Arc<Value>> = L1::new(budget(ENTRIES));
    g.bench_function("l1_miss_l2_hit", |b| {
        b.iter(|| {
            let k = CacheKey::new(SCOPE, black_box(&probe));
            if cold.get(&k, now).is_some() {
                panic!("must miss L1");
            }
            let (v, exp) = l2.get(&k, now).unwrap();
            cold.insert(k.clone(), v, exp, now);
            // Take it out again so the next iteration misses L1 too.
            black_box(cold.remove(&k));
        })
    });
    g.finish();
}

criterion_group!(authorizer, benches);
criterion_main!(authorizer);
