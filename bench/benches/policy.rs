//! Policy decision benchmarks (`tollgate_policy::CompiledPolicy::decide` vs
//! `tollgate_policy::reference::evaluate`).
//!
//! What it measures: the latency of one authorization decision for `execute-api:Invoke` on a
//! method ARN, with the compiled decision tree (`tree`) and with the naive reference evaluator
//! (`reference`), on resource policies of 10 / 100 / 1,000 / 10,000 statements:
//! - `ip_allow`: N `Allow` statements, each `IpAddress aws:SourceIp` on its own /24; the caller's
//!   IP is in the last one (worst case for a linear scan) -> Allow.
//! - `ip_block`: one `Allow *` plus N `Deny` statements, each `IpAddress aws:SourceIp` on its own
//!   /24 (a block list); the caller is in none -> Allow after every Deny was ruled out.
//! - `not_ip_list`: one `Allow *` plus one `Deny NotIpAddress aws:SourceIp [N CIDRs]` (an allow
//!   list written as AWS recommends); the caller is in the last CIDR -> Allow.
//! - `paths`: N `Allow` statements on distinct paths `execute-api:/prod/GET/items/{i}`, plus N/10
//!   `Deny` statements for any stage (`execute-api:/*/DELETE/items/{i}`) and N/10 `Deny` on
//!   subtrees (`execute-api:/prod/POST/items/{i}/*`); the request names the last path -> Allow.
//! - `vpce_rules`: N `Allow` statements on `execute-api:/*`, each `StringEquals aws:SourceVpce`
//!   on its own endpoint id; the caller comes through the last one -> Allow.
//!
//! The tree should stay flat from 10 to 10,000 statements (within 2x), while the reference
//! grows linearly.
//!
//! Run: `cargo bench -p tollgate-bench --bench policy` (add `-- --quick` for a short run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tollgate_policy::{
    CompiledPolicy, Decision, ExpandCtx, Facts, Policy, PolicyKind, Principal, Request,
    parse_policy, reference,
};

const CTX: ExpandCtx<'static> = ExpandCtx {
    region: "us-east-1",
    account_id: "123456789012",
    api_id: Some("a1b2c3d4e5"),
};
const SIZES: &[usize] = &[10, 100, 1_000, 10_000];

fn cidr(i: usize) -> String {
    format!("10.{}.{}.0/24", (i / 256) % 256, i % 256)
}

fn host_in(i: usize) -> IpAddr {
    format!("10.{}.{}.9", (i / 256) % 256, i % 256)
        .parse()
        .unwrap()
}

fn policy(statements: Vec<Value>) -> Policy {
    parse_policy(
        &json!({"Version": "2012-10-17", "Statement": statements}),
        &CTX,
    )
    .unwrap()
}

fn ip_allow(n: usize) -> (Policy, IpAddr, String) {
    let st = (0..n)
        .map(|i| {
            json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
                   "Condition": {"IpAddress": {"aws:SourceIp": cidr(i)}}})
        })
        .collect();
    (policy(st), host_in(n - 1), "prod/GET/pets".into())
}

fn ip_block(n: usize) -> (Policy, IpAddr, String) {
    let mut st = vec![
        json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}),
    ];
    st.extend((0..n).map(|i| {
        json!({"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
               "Condition": {"IpAddress": {"aws:SourceIp": cidr(i)}}})
    }));
    (
        policy(st),
        "192.0.2.1".parse().unwrap(),
        "prod/GET/pets".into(),
    )
}

fn not_ip_list(n: usize) -> (Policy, IpAddr, String) {
    let cidrs: Vec<String> = (0..n).map(cidr).collect();
    let st = vec![
        json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}),
        json!({"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
               "Condition": {"NotIpAddress": {"aws:SourceIp": cidrs}}}),
    ];
    (policy(st), host_in(n - 1), "prod/GET/pets".into())
}

fn paths(n: usize) -> (Policy, IpAddr, String) {
    let mut st: Vec<Value> = (0..n)
        .map(|i| {
            json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
                   "Resource": format!("execute-api:/prod/GET/items/{i}")})
        })
        .collect();
    st.extend((0..n / 10).map(|i| {
        json!({"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
               "Resource": format!("execute-api:/*/DELETE/items/{i}")})
    }));
    st.extend((0..n / 10).map(|i| {
        json!({"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
               "Resource": format!("execute-api:/prod/POST/items/{i}/*")})
    }));
    (
        policy(st),
        "192.0.2.1".parse().unwrap(),
        format!("prod/GET/items/{}", n - 1),
    )
}

fn vpce_rules(n: usize) -> (Policy, IpAddr, String) {
    let st = (0..n)
        .map(|i| {
            json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
                   "Condition": {"StringEquals": {"aws:SourceVpce": format!("vpce-{i:08x}")}}})
        })
        .collect();
    (
        policy(st),
        "192.0.2.1".parse().unwrap(),
        "prod/GET/pets".into(),
    )
}

fn bench(c: &mut Criterion) {
    type Build = fn(usize) -> (Policy, IpAddr, String);
    let cases: [(&str, Build); 5] = [
        ("ip_allow", ip_allow),
        ("ip_block", ip_block),
        ("not_ip_list", not_ip_list),
        ("paths", paths),
        ("vpce_rules", vpce_rules),
    ];
    for (name, build) in cases {
        let mut g = c.benchmark_group(format!("policy/{name}"));
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        for &n in SIZES {
            let (p, ip, path) = build(n);
            let policies = [p];
            let tree = CompiledPolicy::new(PolicyKind::Resource, &policies);
            let vpce = format!("vpce-{:08x}", n - 1);
            let facts = Facts {
                source_ip: Some(ip),
                source_vpce: Some(&vpce),
                now_epoch_secs: 1_700_000_000,
                secure_transport: true,
                ..Facts::default()
            };
            let resource = format!("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/{path}");
            let req = Request {
                action: "execute-api:Invoke",
                resource: &resource,
                principal: Principal::Anonymous,
                facts: &facts,
            };
            assert_eq!(tree.decide(&req), Decision::Allow, "{name}/{n}");
            assert_eq!(
                reference::evaluate(PolicyKind::Resource, &policies, &req),
                Decision::Allow
            );
            g.bench_with_input(BenchmarkId::new("tree", n), &req, |b, r| {
                b.iter(|| tree.decide(black_box(r)))
            });
            g.bench_with_input(BenchmarkId::new("reference", n), &req, |b, r| {
                b.iter(|| reference::evaluate(PolicyKind::Resource, &policies, black_box(r)))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
