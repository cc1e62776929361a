//! Differential target: the compiled decision tree must decide exactly like the naive
//! reference evaluator, on policies and requests built from the fuzzer's bytes (statements
//! with Allow/Deny, Principal/NotPrincipal, Action/NotAction, Resource/NotResource with
//! wildcards, shorthand and policy variables, and IP/VPC/string/date/bool/null conditions).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use tollgate_policy::{
    CompiledPolicy, ExpandCtx, Facts, IamCaller, PolicyKind, Principal, Request, parse_policy,
    reference,
};

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
    "execute-api:?nvoke",
    "s3:GetObject",
    "EXECUTE-API:INVOKE",
];
const REQ_ACTIONS: &[&str] = &[
    "execute-api:Invoke",
    "execute-api:invoke",
    "s3:GetObject",
    "execute-api:Other",
];
const RES_TAILS: &[&str] = &[
    "api1/prod/GET/pets",
    "api1/prod/GET/pets/*",
    "api1/*",
    "api1/prod/*/pets",
    "api1/prod/GET/pets/?",
    "api1/prod/GET/users/${aws:username}",
    "api1/prod/GET/users/${aws:username, 'guest'}/*",
    "api1/prod/GET/${aws:PrincipalTag/team}/x",
    "api1/prod/GET/pets/${*}",
    "*/prod/GET/pets",
    "api1/prod/GET/admin",
    "api1/prod/GET/admin/*",
];
const RES_FULL: &[&str] = &[
    "*",
    "arn:aws:execute-api:*:*:api1/*/GET/*",
    "execute-api:/prod/GET/pets",
    "execute-api:/*",
    "execute-api:/*/GET/admin/*",
    "arn:aws:execute-api:${aws:username}:*:api1/*",
];
const REQ_TAILS: &[&str] = &[
    "api1/prod/GET/pets",
    "api1/prod/GET/pets/1",
    "api1/prod/GET/pets/12",
    "api1/prod/POST/pets",
    "api1/dev/GET/pets",
    "api1/prod/GET/users/alice",
    "api1/prod/GET/users/guest/x",
    "api1/prod/GET/blue/x",
    "api1/prod/GET/admin",
    "api1/prod/GET/admin/",
    "api1/prod/GET/admin/x",
    "api1/prod/GET/admin%2fx",
    "api1",
];
const CIDRS: &[&str] = &[
    "10.0.0.0/8",
    "10.1.2.0/24",
    "10.1.2.3",
    "192.0.2.0/24",
    "2001:db8::/32",
    "0.0.0.0/0",
    "::/0",
];
const IPS: &[Option<&str>] = &[
    Some("10.1.2.3"),
    Some("10.2.0.1"),
    Some("192.0.2.200"),
    Some("2001:db8::1"),
    Some("8.8.8.8"),
    None,
];
const VPCES: &[Option<&str>] = &[Some("vpce-1"), Some("vpce-2"), None];
const UAS: &[Option<&str>] = &[Some("curl/8.0"), Some("Mozilla/5.0"), None];
const NOWS: &[i64] = &[1_600_000_000, 1_700_000_000, 1_800_000_000];
const TAGS: &[(&str, &str)] = &[("team", "blue")];

fn pick<T: Copy>(list: &[T], i: u8) -> T {
    list[usize::from(i) % list.len()]
}

#[derive(Debug, Arbitrary)]
struct Stmt {
    deny: bool,
    principal: u8,
    not_action: bool,
    actions: Vec<u8>,
    not_resource: bool,
    resources: Vec<u8>,
    conditions: Vec<(u8, u8, u8)>,
}

#[derive(Debug, Arbitrary)]
struct Req {
    action: u8,
    resource: u8,
    who: u8,
    ip: u8,
    vpc_ip: u8,
    vpce: u8,
    ua: u8,
    secure: bool,
    now: u8,
}

#[derive(Debug, Arbitrary)]
struct Input {
    resource_kind: bool,
    docs: Vec<(bool, Vec<Stmt>)>,
    reqs: Vec<Req>,
}

fn resource(i: u8) -> String {
    let i = usize::from(i) % (RES_TAILS.len() + RES_FULL.len());
    match RES_TAILS.get(i) {
        Some(t) => format!("{P}{t}"),
        None => RES_FULL[i - RES_TAILS.len()].to_owned(),
    }
}

fn principal(i: u8) -> Option<(&'static str, Value)> {
    Some(match i % 9 {
        0 => ("Principal", json!("*")),
        1 => ("Principal", json!({"AWS": "*"})),
        2 => ("Principal", json!({"AWS": "111122223333"})),
        3 => (
            "Principal",
            json!({"AWS": "arn:aws:iam::111122223333:user/alice"}),
        ),
        4 => (
            "NotPrincipal",
            json!({"AWS": "arn:aws:iam::111122223333:user/alice"}),
        ),
        5 => ("NotPrincipal", json!({"AWS": "444455556666"})),
        6 => ("Principal", json!({"Service": "lambda.amazonaws.com"})),
        _ => return None,
    })
}

fn condition(kind: u8, a: u8, b: u8) -> (&'static str, &'static str, Value) {
    let cidrs = || -> Value {
        let list: Vec<&str> = (0..=usize::from(b) % 4)
            .map(|k| CIDRS[(usize::from(a) + k * 3) % CIDRS.len()])
            .collect();
        json!(list)
    };
    match kind % 14 {
        0 => ("IpAddress", "aws:SourceIp", cidrs()),
        1 => ("NotIpAddress", "aws:SourceIp", cidrs()),
        2 => ("IpAddress", "aws:VpcSourceIp", cidrs()),
        3 => ("IpAddressIfExists", "aws:SourceIp", cidrs()),
        4 => (
            "StringEquals",
            "aws:SourceVpce",
            json!(["vpce-1", "vpce-3"][usize::from(a) % 2]),
        ),
        5 => (
            "StringNotEquals",
            "aws:SourceVpce",
            json!(["vpce-1", "vpce-2"]),
        ),
        6 => ("StringLike", "aws:UserAgent", json!("curl/*")),
        7 => ("Bool", "aws:SecureTransport", json!(a % 2 == 0)),
        8 => ("NumericLessThan", "aws:EpochTime", json!(1_700_000_000)),
        9 => (
            "DateGreaterThan",
            "aws:CurrentTime",
            json!("2023-01-01T00:00:00Z"),
        ),
        10 => ("Null", "aws:SourceIp", json!(a % 2 == 0)),
        11 => (
            "ArnLike",
            "aws:PrincipalArn",
            json!("arn:aws:iam::*:user/*"),
        ),
        12 => (
            "StringEquals",
            "aws:PrincipalTag/team",
            json!("${aws:username, 'blue'}"),
        ),
        _ => (
            "StringEqualsIgnoreCase",
            "aws:UserAgent",
            json!("MOZILLA/5.0"),
        ),
    }
}

fn stmt_json(s: &Stmt) -> Value {
    let mut m = Map::new();
    m.insert(
        "Effect".into(),
        json!(if s.deny { "Deny" } else { "Allow" }),
    );
    if let Some((k, v)) = principal(s.principal) {
        m.insert(k.into(), v);
    }
    let acts: Vec<&str> = s
        .actions
        .iter()
        .take(3)
        .map(|i| pick(ACTIONS, *i))
        .collect();
    m.insert(
        if s.not_action { "NotAction" } else { "Action" }.into(),
        json!(acts),
    );
    let rs: Vec<String> = s.resources.iter().take(3).map(|i| resource(*i)).collect();
    m.insert(
        if s.not_resource {
            "NotResource"
        } else {
            "Resource"
        }
        .into(),
        json!(rs),
    );
    if !s.conditions.is_empty() {
        let mut c = Map::new();
        for (k, a, b) in s.conditions.iter().take(3) {
            let (op, key, v) = condition(*k, *a, *b);
            if let Some(obj) = c.entry(op).or_insert_with(|| json!({})).as_object_mut() {
                obj.insert(key.into(), v);
            }
        }
        m.insert("Condition".into(), Value::Object(c));
    }
    Value::Object(m)
}

fn caller(i: u8) -> Principal<'static> {
    match i % 4 {
        0 => Principal::Anonymous,
        1 => Principal::Iam(IamCaller {
            arn: "arn:aws:iam::111122223333:user/alice",
            account: "111122223333",
            username: Some("alice"),
            tags: TAGS,
            ..IamCaller::default()
        }),
        2 => Principal::iam("arn:aws:iam::444455556666:user/bob", "444455556666"),
        _ => Principal::Iam(IamCaller {
            arn: "arn:aws:sts::111122223333:assumed-role/r/s",
            account: "111122223333",
            principal_arn: Some("arn:aws:iam::111122223333:role/r"),
            ..IamCaller::default()
        }),
    }
}

fuzz_target!(|input: Input| {
    let kind = if input.resource_kind {
        PolicyKind::Resource
    } else {
        PolicyKind::Identity
    };
    let mut policies = Vec::new();
    for (v2012, stmts) in input.docs.iter().take(3) {
        if stmts.is_empty() {
            continue;
        }
        let st: Vec<Value> = stmts.iter().take(12).map(stmt_json).collect();
        let version = if *v2012 { "2012-10-17" } else { "2008-10-17" };
        // Documents the parser refuses are not evaluated (their errors are another target's).
        if let Ok(p) = parse_policy(&json!({"Version": version, "Statement": st}), &CTX) {
            policies.push(p);
        }
    }
    if policies.is_empty() {
        return;
    }
    let tree = CompiledPolicy::new(kind, &policies);
    for r in input.reqs.iter().take(16) {
        let facts = Facts {
            source_ip: pick(IPS, r.ip).and_then(|s| s.parse().ok()),
            vpc_source_ip: pick(IPS, r.vpc_ip).and_then(|s| s.parse().ok()),
            source_vpc: None,
            source_vpce: pick(VPCES, r.vpce),
            now_epoch_secs: pick(NOWS, r.now),
            secure_transport: r.secure,
            user_agent: pick(UAS, r.ua),
            referer: None,
        };
        let arn = format!("{P}{}", pick(REQ_TAILS, r.resource));
        let req = Request {
            action: pick(REQ_ACTIONS, r.action),
            resource: &arn,
            principal: caller(r.who),
            facts: &facts,
        };
        let want = reference::evaluate(kind, &policies, &req);
        assert_eq!(tree.decide(&req), want, "{req:?} under {policies:?}");
    }
});
