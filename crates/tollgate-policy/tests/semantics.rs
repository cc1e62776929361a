//! Grammar, validation paths, condition operators, missing-key rules, policy variables,
//! principals and the 403 texts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{Value, json};
use tollgate_policy::*;

const CTX: ExpandCtx<'static> = ExpandCtx {
    region: "us-east-1",
    account_id: "123456789012",
    api_id: Some("abc123"),
};
const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets";

fn errors(doc: Value) -> Vec<String> {
    match parse_policy(&doc, &CTX) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn both(kind: PolicyKind, p: &[Policy], r: &Request<'_>) -> Decision {
    let t = CompiledPolicy::new(kind, p).decide(r);
    assert_eq!(
        t,
        reference::evaluate(kind, p, r),
        "tree vs reference on {r:?}"
    );
    t
}

/// One Allow statement on everything with the given condition block, evaluated as an identity
/// policy.
fn cond(c: Value, principal: Principal<'_>, facts: &Facts<'_>) -> bool {
    cond_v("2012-10-17", c, principal, facts)
}

fn cond_v(version: &str, c: Value, principal: Principal<'_>, facts: &Facts<'_>) -> bool {
    let doc = json!({"Version": version, "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": c}});
    let p = parse_policy(&doc, &CTX).unwrap_or_else(|e| panic!("{e:?}"));
    let r = Request {
        action: "execute-api:Invoke",
        resource: ARN,
        principal,
        facts,
    };
    both(PolicyKind::Identity, &[p], &r) == Decision::Allow
}

fn anon() -> Principal<'static> {
    Principal::Anonymous
}

#[test]
fn collects_every_error_with_paths() {
    let errs = errors(json!({
        "Version": "2013-01-01",
        "Extra": 1,
        "Statement": [
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
            {"Effect": "allow", "Action": ["execute-api:Invoke", 3], "Resource": "not-an-arn", "Bogus": true},
            {"Effect": "Deny", "Principal": "someone", "NotAction": "x", "Resource": [],
             "Condition": {"IpAddres": {"aws:SourceIp": "1.2.3.4"},
                           "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "nope"]},
                           "NumericLessThan": {"k": "ten"},
                           "DateGreaterThan": {"aws:CurrentTime": "tomorrow"},
                           "Bool": {"aws:SecureTransport": "yes"},
                           "NullIfExists": {"k": "true"}}},
            {"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "*", "Principal": "*", "NotPrincipal": "*"},
            "text"
        ]
    }));
    let want = [
        "Extra: unknown key (expected Version, Id, Statement)",
        "Version: expected \"2012-10-17\" or \"2008-10-17\"",
        "Statement[1].Bogus: unknown key",
        "Statement[1].Effect: expected \"Allow\" or \"Deny\"",
        "Statement[1].Action[1]: expected a string",
        "Statement[1].Resource: expected \"*\", an ARN (arn:partition:service:region:account:resource) or execute-api:/stage/METHOD/path",
        "Statement[2].Principal: expected \"*\" or an object such as {\"AWS\": ...}",
        "Statement[2].NotAction: expected \"*\" or \"service:action\"",
        "Statement[2].Condition.Bool.aws:SecureTransport: expected \"true\" or \"false\"",
        "Statement[2].Condition.DateGreaterThan.aws:CurrentTime: expected an ISO 8601 date or epoch seconds",
        "Statement[2].Condition.IpAddres: unknown condition operator \"IpAddres\"",
        "Statement[2].Condition.IpAddress.aws:SourceIp[1]: expected an IP address or CIDR block",
        "Statement[2].Condition.NullIfExists: unknown condition operator \"NullIfExists\"",
        "Statement[2].Condition.NumericLessThan.k: expected a number",
        "Statement[3]: Principal and NotPrincipal are mutually exclusive",
        "Statement[3]: Resource and NotResource are mutually exclusive",
        "Statement[4]: expected an object",
    ];
    for w in want {
        assert!(
            errs.iter().any(|e| e == w),
            "missing error {w:?} in {errs:#?}"
        );
    }
    assert_eq!(errs.len(), want.len(), "{errs:#?}");
}

#[test]
fn structural_errors() {
    assert_eq!(errors(json!([])), vec!["a policy must be a JSON object"]);
    assert_eq!(
        errors(json!({"Version": "2012-10-17"})),
        vec!["Statement: required"]
    );
    assert_eq!(
        errors(json!({"Statement": {"Effect": "Allow"}})),
        vec![
            "Statement.Action: required (Action or NotAction)",
            "Statement.Resource: required (Resource or NotResource)"
        ]
    );
    assert_eq!(
        errors(
            json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": {"AWS": "arn:aws:iam::123456789012:user/*"}}})
        ),
        vec!["Statement.Principal.AWS: wildcards are not allowed in principal ARNs"]
    );
    assert_eq!(
        errors(
            json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": {"Robot": "x"}}})
        ),
        vec![
            "Statement.Principal.Robot: unknown principal type (expected AWS, Service, Federated, CanonicalUser)"
        ]
    );
    // shorthand needs an API id
    let ctx = ExpandCtx {
        api_id: None,
        ..CTX
    };
    let e = parse_policy(&json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": ["*", "execute-api:/*"]}}), &ctx).unwrap_err();
    assert_eq!(e[0].path, "Statement.Resource[1]");
    // unknown condition keys are fine; empty lists are fine
    assert!(errors(json!({"Version": "2012-10-17", "Id": "x", "Statement": [{"Sid": "1", "Effect": "Deny", "Action": [], "Resource": [],
        "Condition": {"StringEquals": {"custom:Thing": "v"}, "ForAllValues:StringLikeIfExists": {"aws:TagKeys": ["a*"]}}}]}))
    .is_empty());
    // check_kind
    let rp = parse_policy(
        &json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
        &CTX,
    )
    .unwrap();
    assert_eq!(rp.check_kind(PolicyKind::Resource)[0].path, "Statement[0]");
    assert!(rp.check_kind(PolicyKind::Identity).is_empty());
    let ip = parse_policy(&json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}), &CTX).unwrap();
    assert_eq!(ip.check_kind(PolicyKind::Identity).len(), 1);
    assert_eq!(ip.sids().count(), 1);
}

#[test]
fn shorthand_expansion() {
    let p = parse_policy(
        &json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/prod/GET/pets"}}),
        &CTX,
    )
    .unwrap();
    let f = Facts::default();
    let mk = |res| Request {
        action: "execute-api:Invoke",
        resource: res,
        principal: anon(),
        facts: &f,
    };
    assert_eq!(
        both(PolicyKind::Resource, std::slice::from_ref(&p), &mk(ARN)),
        Decision::Allow
    );
    let other = "arn:aws:execute-api:us-east-1:123456789012:zzz/prod/GET/pets";
    assert_eq!(
        both(PolicyKind::Resource, &[p], &mk(other)),
        Decision::ImplicitDeny
    );
}

#[test]
fn string_operators() {
    let f = Facts {
        user_agent: Some("Mozilla/5.0 Test"),
        source_vpce: Some("vpce-abc"),
        ..Facts::default()
    };
    let a = anon();
    assert!(cond(
        json!({"StringEquals": {"aws:SourceVpce": ["x", "vpce-abc"]}}),
        a,
        &f
    ));
    assert!(!cond(
        json!({"StringEquals": {"aws:SourceVpce": "VPCE-ABC"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"StringEqualsIgnoreCase": {"aws:sourcevpce": "VPCE-ABC"}}),
        a,
        &f
    ));
    assert!(!cond(
        json!({"StringNotEqualsIgnoreCase": {"aws:SourceVpce": "VPCE-ABC"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"StringNotEquals": {"aws:SourceVpce": ["a", "b"]}}),
        a,
        &f
    ));
    // negated: must differ from every value
    assert!(!cond(
        json!({"StringNotEquals": {"aws:SourceVpce": ["a", "vpce-abc"]}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"StringLike": {"aws:UserAgent": "Mozilla/*"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"StringLike": {"aws:UserAgent": "Mozilla/?.0 *"}}),
        a,
        &f
    ));
    assert!(!cond(
        json!({"StringLike": {"aws:UserAgent": "mozilla/*"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"StringNotLike": {"aws:UserAgent": ["curl*", "wget*"]}}),
        a,
        &f
    ));
    assert!(!cond(
        json!({"StringNotLike": {"aws:UserAgent": ["curl*", "*Test"]}}),
        a,
        &f
    ));
    // `*` in StringEquals is literal
    assert!(!cond(
        json!({"StringEquals": {"aws:UserAgent": "*"}}),
        a,
        &f
    ));
    // AND across keys and operators
    assert!(!cond(
        json!({"StringLike": {"aws:UserAgent": "Mozilla*", "aws:SourceVpce": "nope"}}),
        a,
        &f
    ));
    assert!(!cond(
        json!({"StringLike": {"aws:UserAgent": "Mozilla*"}, "StringEquals": {"aws:SourceVpce": "nope"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"BinaryEquals": {"aws:SourceVpce": "vpce-abc"}}),
        a,
        &f
    ));
}

#[test]
fn missing_key_rules() {
    let f = Facts::default();
    let a = anon();
    // absent: positive false, negated true, IfExists true
    assert!(!cond(
        json!({"StringEquals": {"aws:SourceVpce": "v"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"StringNotEquals": {"aws:SourceVpce": "v"}}),
        a,
        &f
    ));
    assert!(cond(json!({"StringNotLike": {"aws:Referer": "v*"}}), a, &f));
    assert!(cond(
        json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/x"}}),
        a,
        &f
    ));
    assert!(cond(json!({"NumericNotEquals": {"custom:n": "1"}}), a, &f));
    assert!(!cond(
        json!({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"IpAddressIfExists": {"aws:SourceIp": "10.0.0.0/8"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"StringEqualsIfExists": {"aws:SourceVpce": "v"}}),
        a,
        &f
    ));
    assert!(!cond(
        json!({"Bool": {"aws:PrincipalOrgID": "true"}}),
        a,
        &f
    ));
    // principal keys are absent for anonymous callers
    assert!(!cond(
        json!({"StringEquals": {"aws:PrincipalAccount": "123456789012"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"StringNotEquals": {"aws:PrincipalAccount": "123456789012"}}),
        a,
        &f
    ));
    // Null
    assert!(cond(json!({"Null": {"aws:SourceVpce": "true"}}), a, &f));
    assert!(!cond(json!({"Null": {"aws:SourceVpce": "false"}}), a, &f));
    let g = Facts {
        source_vpce: Some("v"),
        ..Facts::default()
    };
    assert!(cond(json!({"Null": {"aws:SourceVpce": false}}), a, &g));
    assert!(!cond(json!({"Null": {"aws:SourceVpce": "true"}}), a, &g));
    // set operators: ForAllValues true when absent, ForAnyValue false
    assert!(cond(
        json!({"ForAllValues:StringEquals": {"aws:SourceVpce": "x"}}),
        a,
        &f
    ));
    assert!(!cond(
        json!({"ForAnyValue:StringEquals": {"aws:SourceVpce": "x"}}),
        a,
        &f
    ));
    assert!(!cond(
        json!({"ForAnyValue:StringNotEquals": {"aws:SourceVpce": "x"}}),
        a,
        &f
    ));
    assert!(!cond(
        json!({"ForAnyValue:StringEqualsIfExists": {"aws:SourceVpce": "x"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"ForAnyValue:StringEquals": {"aws:SourceVpce": ["x", "v"]}}),
        a,
        &g
    ));
    assert!(!cond(
        json!({"ForAllValues:StringEquals": {"aws:SourceVpce": "x"}}),
        a,
        &g
    ));
    // unknown keys are absent
    assert!(!cond(
        json!({"StringLike": {"aws:RequestTag/x": "*"}}),
        a,
        &g
    ));
}

/// Set qualifiers on an absent key (an empty set of values): `ForAnyValue:` is false and
/// `ForAllValues:` true for every base operator, positive or negated, with or without
/// `IfExists` (the qualifier decides; `IfExists` does not turn `ForAnyValue:` true). AWS: a
/// re:Post report shows `ForAnyValue:StringEqualsIfExists` on an absent `aws:TagKeys` denying;
/// iam-simulate agrees. With the key present (all supported keys are single-valued) both
/// qualifiers behave like the plain operator, `IfExists` or not.
#[test]
fn set_qualifiers_on_absent_keys() {
    let absent = Facts::default();
    let present = Facts {
        source_vpce: Some("vpce-1"),
        source_ip: Some("10.1.2.3".parse().unwrap()),
        user_agent: Some("curl/8"),
        ..Facts::default()
    };
    let a = anon();
    let ops: &[(&str, &str, Value, bool)] = &[
        // (base operator, key, value, result of the plain operator with the key present)
        ("StringEquals", "aws:SourceVpce", json!("vpce-1"), true),
        ("StringNotEquals", "aws:SourceVpce", json!("vpce-1"), false),
        ("StringNotEquals", "aws:SourceVpce", json!("vpce-9"), true),
        ("StringLike", "aws:UserAgent", json!("curl/*"), true),
        ("StringNotLike", "aws:UserAgent", json!("curl/*"), false),
        (
            "StringEqualsIgnoreCase",
            "aws:SourceVpce",
            json!("VPCE-1"),
            true,
        ),
        (
            "StringNotEqualsIgnoreCase",
            "aws:SourceVpce",
            json!("VPCE-2"),
            true,
        ),
        ("IpAddress", "aws:SourceIp", json!("10.0.0.0/8"), true),
        ("NotIpAddress", "aws:SourceIp", json!("10.0.0.0/8"), false),
        ("NotIpAddress", "aws:SourceIp", json!("192.0.2.0/24"), true),
        ("ArnLike", "aws:SourceVpce", json!("vpce-*"), true),
        ("ArnNotLike", "aws:SourceVpce", json!("vpce-*"), false),
    ];
    for (base, key, value, when_present) in ops {
        for if_exists in ["", "IfExists"] {
            let any = format!("ForAnyValue:{base}{if_exists}");
            let all = format!("ForAllValues:{base}{if_exists}");
            assert!(
                !cond(json!({ any.as_str(): { *key: value } }), a, &absent),
                "{any} on an absent {key} must be false"
            );
            assert!(
                cond(json!({ all.as_str(): { *key: value } }), a, &absent),
                "{all} on an absent {key} must be true"
            );
            assert_eq!(
                cond(json!({ any.as_str(): { *key: value } }), a, &present),
                *when_present,
                "{any} with {key} present"
            );
            assert_eq!(
                cond(json!({ all.as_str(): { *key: value } }), a, &present),
                *when_present,
                "{all} with {key} present"
            );
        }
    }
}

/// The re:Post case end to end: an Allow whose only condition is
/// `ForAnyValue:StringEqualsIfExists` on a key the request lacks does not allow, and a Deny
/// guarded that way does not deny.
#[test]
fn for_any_value_if_exists_absent_key_allow_and_deny() {
    let allow = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {"ForAnyValue:StringEqualsIfExists": {"aws:Referer": "https://example.com/page"}}}]});
    let deny = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"ForAnyValue:StringNotEqualsIfExists": {"aws:Referer": "https://example.com/page"}}}]});
    let no_referer = Facts::default();
    let referer = Facts {
        referer: Some("https://example.com/page"),
        ..Facts::default()
    };
    let other = Facts {
        referer: Some("https://evil.example/"),
        ..Facts::default()
    };
    let decide = |doc: &Value, facts: &Facts<'_>| {
        let p = parse_policy(doc, &CTX).unwrap_or_else(|e| panic!("{e:?}"));
        let r = Request {
            action: "execute-api:Invoke",
            resource: ARN,
            principal: anon(),
            facts,
        };
        both(PolicyKind::Identity, &[p], &r)
    };
    assert_eq!(decide(&allow, &no_referer), Decision::ImplicitDeny);
    assert_eq!(decide(&allow, &referer), Decision::Allow);
    assert_eq!(decide(&allow, &other), Decision::ImplicitDeny);
    assert_eq!(decide(&deny, &no_referer), Decision::Allow);
    assert_eq!(decide(&deny, &referer), Decision::Allow);
    assert_eq!(decide(&deny, &other), Decision::ExplicitDeny);
}

#[test]
fn numeric_date_bool() {
    let f = Facts {
        now_epoch_secs: 1_709_209_800, // 2024-02-29T12:30:00Z
        secure_transport: true,
        ..Facts::default()
    };
    let a = anon();
    assert!(cond(
        json!({"NumericGreaterThan": {"aws:EpochTime": 1_700_000_000}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"NumericLessThanEquals": {"aws:EpochTime": "1709209800"}}),
        a,
        &f
    ));
    assert!(!cond(
        json!({"NumericLessThan": {"aws:EpochTime": "1709209800"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"NumericEquals": {"aws:EpochTime": ["1", "1709209800.0"]}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"NumericNotEquals": {"aws:EpochTime": ["1", "2"]}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"NumericGreaterThanEquals": {"aws:EpochTime": 1709209800}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"DateLessThan": {"aws:CurrentTime": "2024-03-01"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"DateEquals": {"aws:CurrentTime": "2024-02-29T13:30:00+01:00"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"DateEquals": {"aws:EpochTime": 1_709_209_800}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"DateLessThanEquals": {"aws:CurrentTime": "1709209800"}}),
        a,
        &f
    ));
    assert!(!cond(
        json!({"DateGreaterThanEquals": {"aws:CurrentTime": "2024-02-29T12:30:01Z"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"DateNotEquals": {"aws:CurrentTime": "2020-01-01"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"StringLike": {"aws:CurrentTime": "2024-02-29T*"}}),
        a,
        &f
    ));
    assert!(cond(
        json!({"Bool": {"aws:SecureTransport": "true"}}),
        a,
        &f
    ));
    assert!(cond(json!({"Bool": {"aws:SecureTransport": true}}), a, &f));
    assert!(!cond(
        json!({"Bool": {"aws:SecureTransport": "false"}}),
        a,
        &f
    ));
    let plain = Facts::default();
    assert!(cond(
        json!({"Bool": {"aws:SecureTransport": "false"}}),
        a,
        &plain
    ));
}

#[test]
fn ip_operators() {
    let v4 = Facts {
        source_ip: Some("192.0.2.10".parse().unwrap()),
        ..Facts::default()
    };
    let v6 = Facts {
        source_ip: Some("2001:db8::7".parse().unwrap()),
        ..Facts::default()
    };
    let a = anon();
    assert!(cond(
        json!({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}),
        a,
        &v4
    ));
    assert!(cond(
        json!({"IpAddress": {"aws:SourceIp": "192.0.2.10"}}),
        a,
        &v4
    ));
    assert!(!cond(
        json!({"IpAddress": {"aws:SourceIp": "192.0.2.11"}}),
        a,
        &v4
    ));
    assert!(cond(
        json!({"IpAddress": {"aws:SourceIp": ["2001:db8::/32", "10.0.0.0/8"]}}),
        a,
        &v6
    ));
    assert!(cond(
        json!({"IpAddress": {"aws:SourceIp": "2001:db8::7"}}),
        a,
        &v6
    ));
    assert!(!cond(
        json!({"IpAddress": {"aws:SourceIp": "2001:db8::8"}}),
        a,
        &v6
    ));
    assert!(!cond(
        json!({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}),
        a,
        &v6
    ));
    assert!(cond(
        json!({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "172.16.0.0/12"]}}),
        a,
        &v4
    ));
    assert!(!cond(
        json!({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.0.0/8"]}}),
        a,
        &v4
    ));
    // long lists go through the prefix trie in the compiled tree
    let many: Vec<String> = (0..200).map(|i| format!("10.{i}.0.0/16")).collect();
    assert!(!cond(json!({"IpAddress": {"aws:SourceIp": many}}), a, &v4));
    let mut many2 = many.clone();
    many2.push("192.0.2.8/29".into());
    assert!(cond(
        json!({"IpAddress": {"aws:SourceIp": many2.clone()}}),
        a,
        &v4
    ));
    assert!(!cond(
        json!({"NotIpAddress": {"aws:SourceIp": many2}}),
        a,
        &v4
    ));
    assert!(cond(
        json!({"NotIpAddress": {"aws:SourceIp": many}}),
        a,
        &v4
    ));
}

#[test]
fn arn_operators_and_principal_keys() {
    let tags = [("Team", "blue"), ("env", "prod")];
    let p = Principal::Iam(IamCaller {
        arn: "arn:aws:sts::123456789012:assumed-role/dev/s1",
        account: "123456789012",
        principal_arn: Some("arn:aws:iam::123456789012:role/dev"),
        principal_type: Some("AssumedRole"),
        userid: Some("AROAEXAMPLE:s1"),
        username: None,
        tags: &tags,
        org_id: Some("o-abc"),
    });
    let f = Facts::default();
    assert!(cond(
        json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}),
        p,
        &f
    ));
    assert!(cond(
        json!({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/d?v"}}),
        p,
        &f
    ));
    assert!(!cond(
        json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"}}),
        p,
        &f
    ));
    assert!(cond(
        json!({"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/x"}}),
        p,
        &f
    ));
    // per-segment: `*` in the account segment does not span `:`
    assert!(cond(
        json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:*"}}),
        p,
        &f
    ));
    let odd = Facts {
        referer: Some("arn:aws:iam::x:y:role/dev"),
        ..Facts::default()
    };
    assert!(!cond(
        json!({"ArnLike": {"aws:Referer": "arn:aws:iam::*:role/dev"}}),
        p,
        &odd
    ));
    assert!(cond(
        json!({"ArnLike": {"aws:Referer": "arn:aws:iam::*:y:role/dev"}}),
        p,
        &odd
    ));
    assert!(cond(
        json!({"StringLike": {"aws:Referer": "arn:aws:iam::*:role/dev"}}),
        p,
        &odd
    ));
    assert!(cond(
        json!({"StringEquals": {"aws:PrincipalAccount": "123456789012", "aws:PrincipalType": "AssumedRole",
        "aws:userid": "AROAEXAMPLE:s1", "aws:PrincipalOrgID": "o-abc"}}),
        p,
        &f
    ));
    assert!(cond(
        json!({"StringEquals": {"aws:PrincipalTag/team": "blue", "AWS:PRINCIPALTAG/ENV": "prod"}}),
        p,
        &f
    ));
    assert!(!cond(
        json!({"StringEquals": {"aws:PrincipalTag/missing": "x"}}),
        p,
        &f
    ));
    assert!(!cond(json!({"StringEquals": {"aws:username": "x"}}), p, &f));
}

#[test]
fn policy_variables() {
    let tags = [("team", "blue")];
    let alice = Principal::Iam(IamCaller {
        arn: "arn:aws:iam::123456789012:user/alice",
        account: "123456789012",
        username: Some("alice"),
        tags: &tags,
        ..IamCaller::default()
    });
    let bob = Principal::iam("arn:aws:iam::123456789012:user/bob", "123456789012");
    let f = Facts::default();
    let doc = |version: &str, res: &str| {
        parse_policy(
            &json!({"Version": version, "Statement": {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": res}}),
            &CTX,
        )
        .unwrap()
    };
    fn run(p: &Policy, who: Principal<'_>, res: &str) -> Decision {
        let f = Facts::default();
        let r = Request {
            action: "execute-api:Invoke",
            resource: res,
            principal: who,
            facts: &f,
        };
        both(PolicyKind::Identity, std::slice::from_ref(p), &r)
    }
    let base = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/users/";
    let p = doc("2012-10-17", &format!("{base}${{aws:username}}/*"));
    assert_eq!(run(&p, alice, &format!("{base}alice/x")), Decision::Allow);
    assert_eq!(
        run(&p, alice, &format!("{base}bob/x")),
        Decision::ImplicitDeny
    );
    // bob has no aws:username: the variable has no value and the resource does not match
    assert_eq!(run(&p, bob, &format!("{base}/x")), Decision::ImplicitDeny);
    // the 2008 version treats ${...} literally
    let p = doc("2008-10-17", &format!("{base}${{aws:username}}"));
    assert_eq!(
        run(&p, alice, &format!("{base}alice")),
        Decision::ImplicitDeny
    );
    assert_eq!(
        run(&p, alice, &format!("{base}${{aws:username}}")),
        Decision::Allow
    );
    // defaults and tags
    let p = doc("2012-10-17", &format!("{base}${{aws:username, 'guest'}}"));
    assert_eq!(run(&p, bob, &format!("{base}guest")), Decision::Allow);
    assert_eq!(run(&p, alice, &format!("{base}alice")), Decision::Allow);
    let p = doc("2012-10-17", &format!("{base}${{aws:PrincipalTag/team}}"));
    assert_eq!(run(&p, alice, &format!("{base}blue")), Decision::Allow);
    // ${*} is a literal asterisk, not a wildcard
    let p = doc("2012-10-17", &format!("{base}${{*}}"));
    assert_eq!(run(&p, alice, &format!("{base}*")), Decision::Allow);
    assert_eq!(run(&p, alice, &format!("{base}x")), Decision::ImplicitDeny);
    let p = doc("2012-10-17", &format!("{base}${{$}}${{?}}"));
    assert_eq!(run(&p, alice, &format!("{base}$?")), Decision::Allow);
    assert_eq!(run(&p, alice, &format!("{base}$x")), Decision::ImplicitDeny);
    // variables in condition values
    let c = json!({"StringEquals": {"aws:PrincipalTag/team": "${aws:username}"}});
    assert!(!cond(c.clone(), alice, &f));
    let c = json!({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/${aws:username}"}});
    assert!(cond(c.clone(), alice, &f));
    assert!(!cond(c.clone(), bob, &f));
    assert!(!cond_v("2008-10-17", c, alice, &f));
}

#[test]
fn principals_and_not_elements() {
    let f = Facts::default();
    let alice = Principal::iam("arn:aws:iam::111111111111:user/alice", "111111111111");
    let eve = Principal::iam("arn:aws:iam::222222222222:user/eve", "222222222222");
    let run = |stmt: Value, who| {
        let p = parse_policy(&json!({"Statement": stmt}), &CTX).unwrap();
        let r = Request {
            action: "execute-api:Invoke",
            resource: ARN,
            principal: who,
            facts: &f,
        };
        both(PolicyKind::Resource, &[p], &r)
    };
    let allow = |pr: Value| json!({"Effect": "Allow", "Principal": pr, "Action": "execute-api:Invoke", "Resource": "*"});
    assert_eq!(run(allow(json!("*")), anon()), Decision::Allow);
    assert_eq!(run(allow(json!({"AWS": "*"})), anon()), Decision::Allow);
    assert_eq!(
        run(allow(json!({"AWS": "111111111111"})), alice),
        Decision::Allow
    );
    assert_eq!(
        run(
            allow(json!({"AWS": "arn:aws:iam::111111111111:root"})),
            alice
        ),
        Decision::Allow
    );
    assert_eq!(
        run(allow(json!({"AWS": "111111111111"})), eve),
        Decision::ImplicitDeny
    );
    assert_eq!(
        run(allow(json!({"AWS": "111111111111"})), anon()),
        Decision::ImplicitDeny
    );
    assert_eq!(
        run(
            allow(json!({"AWS": ["222222222222", "arn:aws:iam::111111111111:user/alice"]})),
            alice
        ),
        Decision::Allow
    );
    assert_eq!(
        run(allow(json!({"Service": "lambda.amazonaws.com"})), alice),
        Decision::ImplicitDeny
    );
    // NotPrincipal + Deny: deny everyone except alice
    let st = json!([
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:user/alice"}, "Action": "*", "Resource": "*"}
    ]);
    assert_eq!(run(st.clone(), alice), Decision::Allow);
    assert_eq!(run(st.clone(), eve), Decision::ExplicitDeny);
    assert_eq!(run(st, anon()), Decision::ExplicitDeny);
    // NotPrincipal + Allow grants everyone else, anonymous included
    let st = json!({"Effect": "Allow", "NotPrincipal": {"AWS": "222222222222"}, "Action": "*", "Resource": "*"});
    assert_eq!(run(st.clone(), anon()), Decision::Allow);
    assert_eq!(run(st, eve), Decision::ImplicitDeny);
    // NotAction / NotResource
    let st = json!({"Effect": "Deny", "Principal": "*", "NotAction": "execute-api:Inv*", "Resource": "*"});
    assert_eq!(run(st, alice), Decision::ImplicitDeny);
    let st = json!([{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "*", "NotResource": "arn:aws:execute-api:*:*:abc123/prod/*"}]);
    assert_eq!(run(st, alice), Decision::Allow);
    let st = json!([{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "*", "NotResource": "arn:aws:execute-api:*:*:abc123/dev/*"}]);
    assert_eq!(run(st, alice), Decision::ExplicitDeny);
    let st = json!({"Effect": "Allow", "Principal": "*", "Action": "*", "NotResource": []});
    assert_eq!(run(st, alice), Decision::Allow);
    let st = json!({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": []});
    assert_eq!(run(st, alice), Decision::ImplicitDeny);
    let st = json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:?nvoke", "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pet?"});
    assert_eq!(run(st, alice), Decision::Allow);
}

#[test]
fn several_policies_compile_together() {
    let f = Facts::default();
    let me = Principal::iam("arn:aws:iam::111111111111:user/alice", "111111111111");
    let a = parse_policy(
        &json!({"Statement": {"Effect": "Allow", "Action": "execute-api:*", "Resource": "*"}}),
        &CTX,
    )
    .unwrap();
    let d = parse_policy(&json!({"Statement": {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:abc123/prod/GET/*"}}), &CTX).unwrap();
    let r = Request {
        action: "execute-api:Invoke",
        resource: ARN,
        principal: me,
        facts: &f,
    };
    assert_eq!(
        both(PolicyKind::Identity, std::slice::from_ref(&a), &r),
        Decision::Allow
    );
    assert_eq!(
        both(PolicyKind::Identity, &[a, d], &r),
        Decision::ExplicitDeny
    );
    assert_eq!(both(PolicyKind::Identity, &[], &r), Decision::ImplicitDeny);
    fn assert_traits<T: Clone + std::fmt::Debug + Send + Sync>() {}
    assert_traits::<Policy>();
    assert_traits::<CompiledPolicy>();
}

#[test]
fn combination_rules() {
    use Decision::*;
    assert_eq!(resource_policy_only(Some(Allow)), Allow);
    assert_eq!(resource_policy_only(Some(ImplicitDeny)), ImplicitDeny);
    assert_eq!(resource_policy_only(Some(ExplicitDeny)), ExplicitDeny);
    assert_eq!(resource_policy_only(None), Allow);
    assert!(lambda_precheck_denies(Some(ExplicitDeny)));
    assert!(!lambda_precheck_denies(Some(ImplicitDeny)));
    assert!(!lambda_precheck_denies(Some(Allow)));
    assert!(!lambda_precheck_denies(None));
}

#[test]
fn access_denied_texts() {
    let arn = "arn:aws:execute-api:eu-west-2:123456782087:uiv82new6b/dev/GET/a";
    let masked = "arn:aws:execute-api:eu-west-2:********2087:uiv82new6b/dev/GET/a";
    assert_eq!(mask_account(arn), masked);
    assert_eq!(
        mask_account("arn:aws:execute-api:r:12:x/"),
        "arn:aws:execute-api:r:********12:x/"
    );
    let caller = "arn:aws:iam::123456789012:user/x";
    let cases: Vec<(DenyCase<'_>, &str, String)> = vec![
        (DenyCase::AuthorizerExplicitDeny, "User is not authorized to access this resource with an explicit deny",
         "User is not authorized to access this resource with an explicit deny in an identity-based policy".into()),
        (DenyCase::AuthorizerImplicitDeny, "User is not authorized to access this resource",
         "User is not authorized to access this resource because no identity-based policy allows the execute-api:Invoke action".into()),
        (DenyCase::AnonymousExplicitDeny, "",
         format!("User: anonymous is not authorized to perform: execute-api:Invoke on resource: {masked} with an explicit deny in a resource-based policy")),
        (DenyCase::AnonymousNoAllow, "",
         format!("User: anonymous is not authorized to perform: execute-api:Invoke on resource: {masked} because no resource-based policy allows the execute-api:Invoke action")),
        (DenyCase::IamNoIdentityAllow { caller }, "",
         format!("User: {caller} is not authorized to perform: execute-api:Invoke on resource: {masked} because no identity-based policy allows the execute-api:Invoke action.")),
        (DenyCase::IamNoResourceAllow { caller }, "",
         format!("User: {caller} is not authorized to perform: execute-api:Invoke on resource: {masked} because no resource-based policy allows the execute-api:Invoke action")),
        (DenyCase::IamExplicitDenyIdentity { caller }, "",
         format!("User: {caller} is not authorized to perform: execute-api:Invoke on resource: {masked} with an explicit deny in an identity-based policy")),
        (DenyCase::IamExplicitDenyResource { caller }, "",
         format!("User: {caller} is not authorized to perform: execute-api:Invoke on resource: {masked} with an explicit deny in a resource-based policy")),
    ];
    for (case, legacy, current) in &cases {
        assert_eq!(
            &access_denied_message(*case, arn, MessageStyle::Current),
            current
        );
        let want_legacy = if legacy.is_empty() {
            // legacy IAM/anonymous forms drop the suffix after the ARN or keep "with an explicit deny"
            let cut = current
                .find(" because")
                .or_else(|| current.find(" in a").or_else(|| current.find(" in an")))
                .unwrap();
            current[..cut].to_string()
        } else {
            legacy.to_string()
        };
        assert_eq!(
            access_denied_message(*case, arn, MessageStyle::Legacy),
            want_legacy
        );
    }
    assert_eq!(
        access_denied_message(DenyCase::AnonymousExplicitDeny, arn, MessageStyle::Legacy),
        format!(
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: {masked} with an explicit deny"
        )
    );
    // root resource renders with the trailing slash
    assert!(
        access_denied_message(
            DenyCase::AnonymousNoAllow,
            "arn:aws:execute-api:us-east-1:609609609489:609x52qn26/dev/GET/",
            MessageStyle::Current
        )
        .contains("arn:aws:execute-api:us-east-1:********9489:609x52qn26/dev/GET/ because")
    );

    use Decision::*;
    let iam = CallerKind::Iam { arn: caller };
    assert_eq!(
        deny_case(CallerKind::Anonymous, None, Some(Allow), Allow),
        None
    );
    assert_eq!(
        deny_case(
            CallerKind::Anonymous,
            None,
            Some(ImplicitDeny),
            ImplicitDeny
        ),
        Some(DenyCase::AnonymousNoAllow)
    );
    assert_eq!(
        deny_case(
            CallerKind::Anonymous,
            None,
            Some(ExplicitDeny),
            ExplicitDeny
        ),
        Some(DenyCase::AnonymousExplicitDeny)
    );
    assert_eq!(
        deny_case(
            CallerKind::Authorizer,
            Some(Allow),
            Some(ExplicitDeny),
            ExplicitDeny
        ),
        Some(DenyCase::AnonymousExplicitDeny)
    );
    assert_eq!(
        deny_case(
            CallerKind::Authorizer,
            Some(ExplicitDeny),
            None,
            ExplicitDeny
        ),
        Some(DenyCase::AuthorizerExplicitDeny)
    );
    assert_eq!(
        deny_case(
            CallerKind::Authorizer,
            Some(ImplicitDeny),
            Some(ImplicitDeny),
            ImplicitDeny
        ),
        Some(DenyCase::AuthorizerImplicitDeny)
    );
    assert_eq!(
        deny_case(iam, Some(ImplicitDeny), None, ImplicitDeny),
        Some(DenyCase::IamNoIdentityAllow { caller })
    );
    assert_eq!(
        deny_case(iam, Some(Allow), Some(ImplicitDeny), ImplicitDeny),
        Some(DenyCase::IamNoResourceAllow { caller })
    );
    assert_eq!(
        deny_case(iam, Some(ExplicitDeny), Some(Allow), ExplicitDeny),
        Some(DenyCase::IamExplicitDenyIdentity { caller })
    );
    assert_eq!(
        deny_case(iam, Some(Allow), Some(ExplicitDeny), ExplicitDeny),
        Some(DenyCase::IamExplicitDenyResource { caller })
    );
}
