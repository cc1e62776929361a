//! Route lookup benchmarks (`tollgate_config::Router`).
//!
//! What it measures: `Router::lookup(host, method, path)` (host -> API, stage, path-template
//! trie walk with exact > `{param}` > `{greedy+}` precedence, method table) on APIs of 10,
//! 1,000 and 10,000 routes, for three requests:
//! - `static`: `GET /prod/svcN/status` (exact segments only),
//! - `param`:  `GET /prod/svcN/items/42/detail` (one `{id}` captured),
//! - `greedy`: `GET /prod/unknown/a/b/c` (falls through to `/{proxy+}`, after a failed exact try).
//!
//! The primitive to compare with (`hashmap_static_key`) is one `HashMap<Box<[u8]>, usize>`
//! lookup of a static path key in a 10,000-entry map: the floor for "find the route by a
//! key". The trie should stay flat from 10 to 10,000 routes (cost grows with path depth,
//! not route count) and sit within a small multiple of that primitive.
//!
//! Run: `cargo bench -p tollgate-bench --bench route` (add `-- --quick` for a short run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tollgate_config::{ApiRouter, Method, Router, parse_template};

/// `n` routes: a quarter static, a quarter with a param, a quarter two-level static,
/// a quarter with a trailing param segment; plus `/{proxy+}` ANY as the catch-all.
fn build(n: usize) -> Router {
    let mut api = ApiRouter::new(vec!["prod".to_owned(), "beta".to_owned()]);
    let mut idx = 0;
    let mut add = |t: String, m: &[Method]| {
        api.insert(idx, &t, &parse_template(&t).unwrap(), m)
            .unwrap();
        idx += 1;
    };
    let groups = (n / 4).max(1);
    for g in 0..groups {
        add(format!("/svc{g}/status"), &[Method::Get]);
        add(
            format!("/svc{g}/items/{{id}}/detail"),
            &[Method::Get, Method::Put],
        );
        add(format!("/svc{g}/items"), &[Method::Get, Method::Post]);
        add(format!("/svc{g}/users/{{uid}}"), &[Method::Any]);
    }
    add("/{proxy+}".to_owned(), &[Method::Any]);
    let mut r = Router::new();
    r.add_api(&["api.example.com".to_owned()], api);
    r.add_api(&["*".to_owned()], ApiRouter::new(vec!["prod".to_owned()]));
    r
}

fn bench_route(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_lookup");
    for n in [10usize, 1_000, 10_000] {
        let router = build(n);
        let g = (n / 4).max(1) / 2;
        let static_path = format!("/prod/svc{g}/status");
        let param_path = format!("/prod/svc{g}/items/42/detail");
        let greedy_path = "/prod/unknown/a/b/c".to_owned();
        // Sanity: each request hits the intended kind of route.
        assert!(
            router
                .lookup(b"api.example.com", b"GET", static_path.as_bytes())
                .unwrap()
                .params
                .is_empty()
        );
        assert_eq!(
            router
                .lookup(b"api.example.com", b"GET", param_path.as_bytes())
                .unwrap()
                .params
                .len(),
            1
        );
        assert_eq!(
            router
                .lookup(b"api.example.com", b"GET", greedy_path.as_bytes())
                .unwrap()
                .template,
            "/{proxy+}"
        );
        for (name, path) in [
            ("static", &static_path),
            ("param", &param_path),
            ("greedy", &greedy_path),
        ] {
            group.bench_with_input(BenchmarkId::new(name, n), path.as_bytes(), |b, p| {
                b.iter(|| {
                    router
                        .lookup(
                            black_box(b"api.example.com"),
                            black_box(b"GET"),
                            black_box(p),
                        )
                        .map(|m| m.route)
                })
            });
        }
    }
    // The primitive: a HashMap lookup of a static key among 10,000.
    let map: HashMap<Box<[u8]>, usize> = (0..10_000)
        .map(|i| {
            (
                format!("/prod/svc{i}/status")
                    .into_bytes()
                    .into_boxed_slice(),
                i,
            )
        })
        .collect();
    let key = b"/prod/svc1250/status".as_slice();
    assert_eq!(map.get(key), Some(&1250));
    group.bench_function("hashmap_static_key", |b| {
        b.iter(|| map.get(black_box(key)).copied())
    });
    group.finish();
}

criterion_group!(benches, bench_route);
criterion_main!(benches);
