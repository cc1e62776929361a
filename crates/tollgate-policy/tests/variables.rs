//! Policy variables without a value: the statement does not apply at all, whatever the element
//! or operator (IAM: an unresolvable variable makes the statement invalid).
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
const BASE: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/";

const TAGS: &[(&str, &str)] = &[("team", "blue")];

fn tagged() -> Principal<'static> {
    Principal::Iam(IamCaller {
        arn: "arn:aws:iam::123456789012:user/alice",
        account: "123456789012",
        username: Some("alice"),
        tags: TAGS,
        ..IamCaller::default()
    })
}

fn untagged() -> Principal<'static> {
    Principal::Iam(IamCaller {
        arn: "arn:aws:iam::123456789012:user/bob",
        account: "123456789012",
        username: Some("bob"),
        ..IamCaller::default()
    })
}

fn decide(statements: Value, who: Principal<'_>, path: &str) -> Decision {
    let p = parse_policy(
        &json!({"Version": "2012-10-17", "Statement": statements}),
        &CTX,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let f = Facts::default();
    let res = format!("{BASE}{path}");
    let r = Request {
        action: "execute-api:Invoke",
        resource: &res,
        principal: who,
        facts: &f,
    };
    let kind = PolicyKind::Identity;
    let tree = CompiledPolicy::new(kind, std::slice::from_ref(&p)).decide(&r);
    assert_eq!(
        tree,
        reference::evaluate(kind, std::slice::from_ref(&p), &r),
        "{r:?}"
    );
    tree
}

fn allow_all() -> Value {
    json!({"Effect": "Allow", "Action": "*", "Resource": "*"})
}

#[test]
fn not_resource_with_an_absent_variable_does_not_apply() {
    let deny = json!({"Effect": "Deny", "Action": "*", "NotResource": format!("{BASE}${{aws:PrincipalTag/team}}/*")});
    let st = json!([allow_all(), deny]);
    // tag present: the Deny covers everything but the team's subtree
    assert_eq!(decide(st.clone(), tagged(), "blue/x"), Decision::Allow);
    assert_eq!(
        decide(st.clone(), tagged(), "red/x"),
        Decision::ExplicitDeny
    );
    // tag absent: the Deny is invalid and does not apply (it used to deny everything)
    assert_eq!(decide(st, untagged(), "red/x"), Decision::Allow);
    // an Allow with NotResource and an absent variable grants nothing (it used to grant all)
    let allow = json!({"Effect": "Allow", "Action": "*", "NotResource": format!("{BASE}${{aws:PrincipalTag/team}}/*")});
    assert_eq!(decide(allow.clone(), tagged(), "red/x"), Decision::Allow);
    assert_eq!(decide(allow, untagged(), "red/x"), Decision::ImplicitDeny);
}

#[test]
fn negated_operators_with_an_absent_variable_do_not_apply() {
    let cases = [
        (
            "StringNotEquals",
            "aws:username",
            "${aws:PrincipalTag/team}",
        ),
        (
            "StringNotEqualsIgnoreCase",
            "aws:username",
            "${aws:PrincipalTag/team}",
        ),
        ("StringNotLike", "aws:username", "${aws:PrincipalTag/team}*"),
        (
            "ArnNotLike",
            "aws:PrincipalArn",
            "arn:aws:iam::*:user/${aws:PrincipalTag/team}",
        ),
        (
            "ArnNotEquals",
            "aws:PrincipalArn",
            "arn:aws:iam::123456789012:user/${aws:PrincipalTag/team}",
        ),
        (
            "StringNotEqualsIfExists",
            "aws:username",
            "${aws:PrincipalTag/team}",
        ),
        (
            "ForAllValues:StringNotEquals",
            "aws:username",
            "${aws:PrincipalTag/team}",
        ),
        // positive operators were already false; they stay so
        ("StringEquals", "aws:username", "${aws:PrincipalTag/team}"),
        ("StringLike", "aws:username", "*${aws:PrincipalTag/team}*"),
        // the condition's own key is absent too (IfExists would make it true)
        (
            "StringEqualsIfExists",
            "aws:PrincipalOrgID",
            "${aws:PrincipalTag/team}",
        ),
    ];
    for (op, key, value) in cases {
        let allow = json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {op: {key: value}}});
        assert_eq!(
            decide(allow, untagged(), "pets"),
            Decision::ImplicitDeny,
            "Allow {op} {key} {value}"
        );
        let deny = json!([allow_all(), {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {op: {key: value}}}]);
        assert_eq!(
            decide(deny, untagged(), "pets"),
            Decision::Allow,
            "Deny {op} {key} {value}"
        );
    }
    // with the tag present the negated operators work as usual
    let deny = json!([allow_all(), {"Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:username": "${aws:PrincipalTag/team}"}}}]);
    assert_eq!(decide(deny, tagged(), "pets"), Decision::ExplicitDeny);
}

#[test]
fn defaults_and_escapes_are_values() {
    // a default makes the variable present
    let deny = json!([allow_all(), {"Effect": "Deny", "Action": "*",
        "NotResource": format!("{BASE}${{aws:PrincipalTag/team, 'public'}}/*")}]);
    assert_eq!(
        decide(deny.clone(), untagged(), "public/x"),
        Decision::Allow
    );
    assert_eq!(decide(deny, untagged(), "red/x"), Decision::ExplicitDeny);
    let deny = json!([allow_all(), {"Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:username": "${aws:PrincipalTag/team, 'bob'}"}}}]);
    assert_eq!(decide(deny.clone(), untagged(), "x"), Decision::Allow);
    assert_eq!(decide(deny, tagged(), "x"), Decision::ExplicitDeny);
    // ${*}, ${?}, ${$} are literal characters, never absent
    for esc in ["${*}", "${?}", "${$}"] {
        let deny = json!([allow_all(), {"Effect": "Deny", "Action": "*",
            "NotResource": format!("{BASE}pets/{esc}")}]);
        assert_eq!(
            decide(deny.clone(), untagged(), "pets/x"),
            Decision::ExplicitDeny,
            "{esc}"
        );
        let lit = &esc[2..3];
        assert_eq!(
            decide(deny, untagged(), &format!("pets/{lit}")),
            Decision::Allow,
            "{esc}"
        );
    }
    // an unknown key is always absent: the statement never applies
    let deny = json!([allow_all(), {"Effect": "Deny", "Action": "*",
        "NotResource": format!("{BASE}${{aws:NoSuchKey}}")}]);
    assert_eq!(decide(deny, tagged(), "x"), Decision::Allow);
    // one absent variable in one value of a list invalidates the whole statement
    let allow = json!({"Effect": "Allow", "Action": "*",
        "Resource": [format!("{BASE}pets"), format!("{BASE}${{aws:PrincipalTag/team}}")]});
    assert_eq!(decide(allow.clone(), tagged(), "pets"), Decision::Allow);
    assert_eq!(decide(allow, untagged(), "pets"), Decision::ImplicitDeny);
    // anonymous callers have no principal keys at all
    let deny = json!([allow_all(), {"Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:SourceVpce": "${aws:username}"}}}]);
    assert_eq!(decide(deny, Principal::Anonymous, "x"), Decision::Allow);
}
