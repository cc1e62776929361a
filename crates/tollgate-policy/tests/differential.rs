//! Differential test: the compiled decision tree must agree with the naive reference evaluator
//! on generated policies and requests (thousands of cases per run), plus large generated
//! policies shaped like the benchmark (IP lists, path rules).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tollgate_policy::*;

const CTX: ExpandCtx<'static> = ExpandCtx {
    region: "us-east-1",
    account_id: "111122223333",
    api_id: Some("api1"),
};
const P: &str = "arn:aws:execute-api:us-east-1:111122223333:";

const ACTIONS: &[&str] = &[
    "execute-api:Invoke",
    "execute-api:*",
    "*",
    "execute-api:Inv*",
    "execute-api:InvalidateCache",
    "s3:GetObject",
    "EXECUTE-API:INVOKE",
    "execute-api:?nvoke",
];
const REQ_ACTIONS: &[&str] = &[
    "execute-api:Invoke",
    "execute-api:invoke",
    "execute-api:InvalidateCache",
    "s3:GetObject",
    "execute-api:Other",
    "execute-api:Invo\u{212A}e",
];

fn resource_patterns() -> Vec<String> {
    let mut v: Vec<String> = [
        "api1/prod/GET/pets",
        "api1/prod/GET/pets/*",
        "api1/*",
        "api1/prod/*/pets",
        "api2/prod/POST/",
        "api1/prod/GET/pets/?",
        "api1/prod/GET/users/${aws:username}",
        "api1/prod/GET/users/${aws:username, 'guest'}/*",
        "api1/prod/GET/${aws:PrincipalTag/team}/x",
        "api1/prod/GET/pets/${*}",
        "api1",
        "*/prod/GET/pets",
        "api1/prod/GET/pets/1",
        "api1/prod/GET/pets:x",
        "api1/*/pets/1",
        "*/pets",
        "api1/prod/*/${aws:username}",
    ]
    .iter()
    .map(|s| format!("{P}{s}"))
    .collect();
    v.extend(
        [
            "*",
            "arn:aws:execute-api:*:*:api1/*/GET/*",
            "execute-api:/prod/GET/pets",
            "execute-api:/*",
            "arn:aws:execute-api:us-east-1:*:api1/prod/GET/pets/1",
            "arn:aws:execute-api:${aws:username}:*:api1/*",
            // variables that are absent for most callers (no tag, no userid): the statement
            // does not apply, also under NotResource
            "arn:aws:execute-api:us-east-1:111122223333:api1/prod/*/${aws:PrincipalTag/team}/*",
            "arn:aws:execute-api:us-east-1:111122223333:api1/${aws:userid}/*",
            "arn:aws:execute-api:*:*:api1/*/GET/${aws:PrincipalTag/team, 'pets'}",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v
}

fn request_resources() -> Vec<String> {
    let mut v: Vec<String> = [
        "api1/prod/GET/pets",
        "api1/prod/GET/blue/1",
        "api1/prod/GET/pets/1",
        "api1/prod/GET/pets/12",
        "api1/prod/GET/pets/*",
        "api1/prod/POST/pets",
        "api1/dev/GET/pets",
        "api2/prod/POST/",
        "api2/prod/POST",
        "api1/prod/GET/users/alice",
        "api1/prod/GET/users/guest/x",
        "api1/prod/GET/blue/x",
        "api1",
        "api1/",
        "api1/prod/GET/pets:x",
        "api1/a/b/pets/1",
        "pets",
        "api1/prod/DELETE/alice",
    ]
    .iter()
    .map(|s| format!("{P}{s}"))
    .collect();
    v.push("arn:aws:execute-api:eu-west-1:444455556666:api1/prod/GET/pets".into());
    v.push("not-an-arn".into());
    v.push("arn:aws:execute-api:alice:1:api1/x".into());
    v
}

const CIDRS: &[&str] = &[
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.2.3",
    "192.0.2.0/24",
    "198.51.100.0/25",
    "2001:db8::/32",
    "2001:db8::1",
    "0.0.0.0/0",
    "::/0",
];
const IPS: &[Option<&str>] = &[
    Some("10.1.2.3"),
    Some("10.1.3.4"),
    Some("10.2.0.1"),
    Some("192.0.2.200"),
    Some("198.51.100.200"),
    Some("198.51.100.1"),
    Some("2001:db8::1"),
    Some("2001:db9::1"),
    Some("8.8.8.8"),
    None,
];
const VPCES: &[Option<&str>] = &[Some("vpce-1"), Some("vpce-2"), None];
const UAS: &[Option<&str>] = &[Some("curl/8.0"), Some("Mozilla/5.0"), None];
const NOWS: &[i64] = &[1_600_000_000, 1_700_000_000, 1_800_000_000];

fn principal_json(i: usize) -> Option<(&'static str, Value)> {
    Some(match i {
        0 => ("Principal", json!("*")),
        1 => ("Principal", json!({"AWS": "*"})),
        2 => ("Principal", json!({"AWS": "111122223333"})),
        3 => (
            "Principal",
            json!({"AWS": "arn:aws:iam::111122223333:user/alice"}),
        ),
        4 => (
            "Principal",
            json!({"AWS": ["444455556666", "arn:aws:iam::111122223333:role/r"]}),
        ),
        5 => (
            "NotPrincipal",
            json!({"AWS": "arn:aws:iam::111122223333:user/alice"}),
        ),
        6 => ("NotPrincipal", json!({"AWS": "444455556666"})),
        7 => ("Principal", json!({"Service": "lambda.amazonaws.com"})),
        _ => return None,
    })
}

fn condition(kind: usize, a: usize, b: usize) -> (String, String, Value) {
    let cidrs = |n: usize| -> Value {
        let list: Vec<&str> = (0..=n % 6)
            .map(|k| CIDRS[(a + k * 3) % CIDRS.len()])
            .collect();
        json!(list)
    };
    let (op, key, v) = match kind {
        0 => ("IpAddress", "aws:SourceIp", cidrs(b)),
        1 => ("NotIpAddress", "aws:SourceIp", cidrs(b)),
        2 => ("IpAddress", "aws:VpcSourceIp", cidrs(b)),
        3 => ("ForAnyValue:IpAddress", "aws:SourceIp", cidrs(b)),
        4 => ("IpAddressIfExists", "aws:SourceIp", cidrs(b)),
        5 => (
            "StringEquals",
            "aws:SourceVpce",
            json!(["vpce-1", "vpce-3"][a % 2]),
        ),
        6 => (
            "StringNotEquals",
            "aws:SourceVpce",
            json!(["vpce-1", "vpce-2"]),
        ),
        7 => ("StringLike", "aws:UserAgent", json!("curl/*")),
        8 => ("Bool", "aws:SecureTransport", json!(a.is_multiple_of(2))),
        9 => ("NumericLessThan", "aws:EpochTime", json!(1_700_000_000)),
        10 => (
            "DateGreaterThan",
            "aws:CurrentTime",
            json!("2023-01-01T00:00:00Z"),
        ),
        11 => ("Null", "aws:SourceIp", json!(a.is_multiple_of(2))),
        12 => (
            "StringEquals",
            "aws:PrincipalAccount",
            json!("111122223333"),
        ),
        13 => (
            "ArnLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::*:user/*"),
        ),
        14 => (
            "StringEquals",
            "aws:PrincipalTag/team",
            json!("${aws:username, 'blue'}"),
        ),
        15 => (
            "ForAllValues:StringEquals",
            "aws:SourceVpce",
            json!("vpce-2"),
        ),
        16 => ("NotIpAddressIfExists", "aws:VpcSourceIp", cidrs(b)),
        // absent variables in negated and IfExists operators
        17 => (
            "StringNotEquals",
            "aws:username",
            json!(["${aws:PrincipalTag/team}", "x"][a % 2]),
        ),
        18 => (
            "ArnNotLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::*:user/${aws:PrincipalTag/team}"),
        ),
        19 => (
            "StringNotLike",
            "aws:UserAgent",
            json!(["${aws:username}*", "curl*"]),
        ),
        20 => (
            "StringEqualsIfExists",
            "aws:SourceVpce",
            json!("${aws:userid}"),
        ),
        21 => (
            "ForAllValues:StringNotEqualsIgnoreCase",
            "aws:SourceVpce",
            json!("${aws:PrincipalTag/team, 'VPCE-2'}"),
        ),
        // set qualifiers with IfExists and negated bases, on keys often absent
        22 => (
            [
                "ForAnyValue:StringEqualsIfExists",
                "ForAnyValue:StringNotEqualsIfExists",
            ][a % 2],
            "aws:SourceVpce",
            json!(["vpce-1", "vpce-2"][b % 2]),
        ),
        23 => (
            [
                "ForAllValues:StringLikeIfExists",
                "ForAllValues:StringNotLikeIfExists",
            ][a % 2],
            "aws:SourceVpce",
            json!(["vpce-*", "vpce-2"][b % 2]),
        ),
        24 => (
            ["ForAnyValue:IpAddressIfExists", "ForAnyValue:NotIpAddress"][a % 2],
            "aws:VpcSourceIp",
            cidrs(b),
        ),
        _ => (
            "StringEqualsIgnoreCase",
            "aws:UserAgent",
            json!("MOZILLA/5.0"),
        ),
    };
    (op.to_string(), key.to_string(), v)
}

type StmtSpec = (
    bool,
    usize,
    (bool, Vec<usize>),
    (bool, Vec<usize>),
    Vec<(usize, usize, usize)>,
);

fn stmt_strategy() -> impl Strategy<Value = StmtSpec> {
    (
        any::<bool>(),
        0usize..10,
        (
            prop::bool::weighted(0.15),
            prop::collection::vec(0..ACTIONS.len(), 0..3),
        ),
        (
            prop::bool::weighted(0.15),
            prop::collection::vec(0..26usize, 0..3),
        ),
        prop::collection::vec((0usize..26, 0usize..100, 0usize..100), 0..3),
    )
}

fn stmt_json(s: &StmtSpec, res: &[String]) -> Value {
    let (deny, pr, (not_a, acts), (not_r, rs), conds) = s;
    let mut m = Map::new();
    m.insert("Effect".into(), json!(if *deny { "Deny" } else { "Allow" }));
    if let Some((k, v)) = principal_json(*pr) {
        m.insert(k.into(), v);
    }
    let acts: Vec<&str> = acts.iter().map(|i| ACTIONS[*i]).collect();
    m.insert(
        if *not_a { "NotAction" } else { "Action" }.into(),
        json!(acts),
    );
    let rs: Vec<&str> = rs.iter().map(|i| res[*i % res.len()].as_str()).collect();
    m.insert(
        if *not_r { "NotResource" } else { "Resource" }.into(),
        json!(rs),
    );
    if !conds.is_empty() {
        let mut c = Map::new();
        for (k, a, b) in conds {
            let (op, key, v) = condition(*k, *a, *b);
            c.entry(op)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .unwrap()
                .insert(key, v);
        }
        m.insert("Condition".into(), Value::Object(c));
    }
    Value::Object(m)
}

type ReqSpec = (
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    bool,
    usize,
    usize,
);

fn req_strategy() -> impl Strategy<Value = ReqSpec> {
    (
        0..REQ_ACTIONS.len(),
        0..21usize,
        0..5usize,
        0..IPS.len(),
        0..IPS.len(),
        0..VPCES.len(),
        0..UAS.len(),
        any::<bool>(),
        0..NOWS.len(),
        0..3usize,
    )
}

const TAGS: &[(&str, &str)] = &[("team", "blue")];

fn caller(i: usize) -> Principal<'static> {
    match i {
        0 => Principal::Anonymous,
        1 => Principal::Iam(IamCaller {
            arn: "arn:aws:iam::111122223333:user/alice",
            account: "111122223333",
            username: Some("alice"),
            tags: TAGS,
            ..IamCaller::default()
        }),
        2 => Principal::iam("arn:aws:iam::444455556666:user/bob", "444455556666"),
        3 => Principal::Iam(IamCaller {
            arn: "arn:aws:sts::111122223333:assumed-role/r/s",
            account: "111122223333",
            principal_arn: Some("arn:aws:iam::111122223333:role/r"),
            userid: Some("AROAEXAMPLE:s"),
            ..IamCaller::default()
        }),
        _ => Principal::Iam(IamCaller {
            arn: "arn:aws:iam::111122223333:user/guest",
            account: "111122223333",
            username: Some("guest"),
            ..IamCaller::default()
        }),
    }
}

fn check(
    kind: PolicyKind,
    policies: &[Policy],
    reqs: &[ReqSpec],
    rres: &[String],
    counts: &mut [usize; 3],
) -> Result<(), TestCaseError> {
    let tree = CompiledPolicy::new(kind, policies);
    for r in reqs {
        let (a, res, who, ip, vip, vpce, ua, secure, now, vpc) = *r;
        let facts = Facts {
            source_ip: IPS[ip].map(|s| s.parse().unwrap()),
            vpc_source_ip: IPS[vip].map(|s| s.parse().unwrap()),
            source_vpc: [Some("vpc-a"), Some("vpc-b"), None][vpc],
            source_vpce: VPCES[vpce],
            now_epoch_secs: NOWS[now],
            secure_transport: secure,
            user_agent: UAS[ua],
            referer: None,
        };
        let req = Request {
            action: REQ_ACTIONS[a],
            resource: &rres[res % rres.len()],
            principal: caller(who),
            facts: &facts,
        };
        let want = reference::evaluate(kind, policies, &req);
        counts[want as usize] += 1;
        prop_assert_eq!(tree.decide(&req), want, "request {:?}", req);
    }
    Ok(())
}

const CASES: u32 = 4000;
const REQS_PER_CASE: usize = 12;

#[test]
fn tree_agrees_with_reference() {
    let strategy = (
        prop::collection::vec(
            (any::<bool>(), prop::collection::vec(stmt_strategy(), 1..10)),
            1..3,
        ),
        any::<bool>(),
        prop::collection::vec(req_strategy(), REQS_PER_CASE),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let res = resource_patterns();
    let rres = request_resources();
    let counts = std::cell::RefCell::new([0usize; 3]);
    runner
        .run(&strategy, |(docs, resource_kind, reqs)| {
            let policies: Vec<Policy> = docs
                .iter()
                .map(|(v2012, stmts)| {
                    let st: Vec<Value> = stmts.iter().map(|s| stmt_json(s, &res)).collect();
                    let version = if *v2012 { "2012-10-17" } else { "2008-10-17" };
                    parse_policy(&json!({"Version": version, "Statement": st}), &CTX).unwrap()
                })
                .collect();
            let kind = if resource_kind {
                PolicyKind::Resource
            } else {
                PolicyKind::Identity
            };
            check(kind, &policies, &reqs, &rres, &mut counts.borrow_mut())
        })
        .unwrap();
    let counts = counts.into_inner();
    // every case ran, and each outcome is well represented (the comparison is not vacuous)
    assert_eq!(counts.iter().sum::<usize>(), CASES as usize * REQS_PER_CASE);
    let total = counts.iter().sum::<usize>();
    assert!(
        counts.iter().all(|c| *c * 20 > total),
        "outcome counts {counts:?}"
    );
    eprintln!("decisions compared: {total} (allow, explicit deny, implicit deny) = {counts:?}");
}

/// Large policies shaped like the benchmark: many IP-list statements and path rules.
#[test]
fn large_policies_agree() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n) as usize
    };
    let mut stmts = Vec::new();
    for i in 0..600 {
        let cidr = format!("10.{}.{}.0/24", i / 256, i % 256);
        stmts.push(match rnd(5) {
            0 => json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": format!("{P}api1/prod/GET/items/{i}")}),
            1 => json!({"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": format!("{P}api1/prod/*/items/{i}/*"),
                        "Condition": {"IpAddress": {"aws:SourceIp": cidr}}}),
            2 => json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:*", "Resource": "execute-api:/*",
                        "Condition": {"IpAddress": {"aws:SourceIp": [cidr, format!("2001:db8:{i:x}::/48")]}}}),
            3 => json!({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": format!("{P}api1/dev/GET/items/{i}"),
                        "Condition": {"NotIpAddress": {"aws:SourceIp": cidr}}}),
            _ => json!({"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "execute-api:Invoke", "Resource": format!("{P}api1/*/GET/items/{i}")}),
        });
    }
    let p = parse_policy(&json!({"Version": "2012-10-17", "Statement": stmts}), &CTX).unwrap();
    let tree = CompiledPolicy::new(PolicyKind::Resource, std::slice::from_ref(&p));
    let mut counts = [0usize; 3];
    for _ in 0..800 {
        let i = rnd(700);
        let stage = ["prod", "dev"][rnd(2)];
        let verb = ["GET", "POST"][rnd(2)];
        let res = format!("{P}api1/{stage}/{verb}/items/{i}{}", ["", "/x"][rnd(2)]);
        let ip: std::net::IpAddr = match rnd(4) {
            0 => format!("10.{}.{}.7", rnd(3), rnd(256)).parse().unwrap(),
            3 => format!("10.{}.{}.7", i / 256, i % 256).parse().unwrap(),
            1 => format!("2001:db8:{:x}::9", rnd(700)).parse().unwrap(),
            _ => "192.0.2.1".parse().unwrap(),
        };
        let facts = Facts {
            source_ip: Some(ip),
            ..Facts::default()
        };
        let req = Request {
            action: "execute-api:Invoke",
            resource: &res,
            principal: caller(rnd(3)),
            facts: &facts,
        };
        let want = reference::evaluate(PolicyKind::Resource, std::slice::from_ref(&p), &req);
        assert_eq!(tree.decide(&req), want, "{req:?}");
        counts[want as usize] += 1;
    }
    // every outcome occurs, so the comparison is not vacuous
    assert!(counts.iter().all(|c| *c > 20), "{counts:?}");
}
