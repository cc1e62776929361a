//! Principal facts derived from identity ARNs (`aws:PrincipalArn` of an assumed-role session is
//! its role ARN), `Principal` matching of roles and sessions, and account principals in
//! resource policies (delegation to the account's IAM policies).
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
/// A method of the API owned by 123456789012.
const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets";

/// (identity ARN, aws:PrincipalArn, aws:PrincipalType, name, aws:username, aws:userid from the ARN)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const TABLE: &[Row] = &[
    (
        "arn:aws:iam::123456789012:user/alice",
        "arn:aws:iam::123456789012:user/alice",
        "User",
        "alice",
        Some("alice"),
        None,
    ),
    (
        "arn:aws:iam::123456789012:user/division/team/alice",
        "arn:aws:iam::123456789012:user/division/team/alice",
        "User",
        "alice",
        Some("alice"),
        None,
    ),
    (
        "arn:aws:iam::123456789012:role/deploy",
        "arn:aws:iam::123456789012:role/deploy",
        "AssumedRole",
        "deploy",
        None,
        None,
    ),
    (
        "arn:aws:iam::123456789012:role/service/deploy",
        "arn:aws:iam::123456789012:role/service/deploy",
        "AssumedRole",
        "deploy",
        None,
        None,
    ),
    (
        "arn:aws:sts::123456789012:assumed-role/deploy/ci-42",
        "arn:aws:iam::123456789012:role/deploy",
        "AssumedRole",
        "ci-42",
        None,
        None,
    ),
    (
        "arn:aws-cn:sts::123456789012:assumed-role/deploy/s",
        "arn:aws-cn:iam::123456789012:role/deploy",
        "AssumedRole",
        "s",
        None,
        None,
    ),
    (
        "arn:aws:sts::123456789012:federated-user/bob",
        "arn:aws:sts::123456789012:federated-user/bob",
        "FederatedUser",
        "bob",
        None,
        Some("123456789012:bob"),
    ),
    (
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::123456789012:root",
        "Account",
        "root",
        None,
        Some("123456789012"),
    ),
];

#[test]
fn principal_arn_table() {
    for (arn, principal_arn, ty, name, username, userid) in TABLE {
        let info = PrincipalInfo::from_arn(arn).unwrap_or_else(|| panic!("{arn}"));
        assert_eq!(info.account, "123456789012", "{arn}");
        assert_eq!(info.principal_arn, *principal_arn, "{arn}");
        assert_eq!(info.principal_type, *ty, "{arn}");
        assert_eq!(info.name, *name, "{arn}");
        assert_eq!(info.username.as_deref(), *username, "{arn}");
        assert_eq!(info.userid.as_deref(), *userid, "{arn}");
    }
    for bad in [
        "arn:aws:iam::123456789012:group/g",
        "arn:aws:sts::123456789012:assumed-role/r",
        "arn:aws:sts::123456789012:assumed-role/r/s/x",
        "arn:aws:iam::123456789012:user/",
        "arn:aws:s3:::bucket",
        "not-an-arn",
    ] {
        assert_eq!(PrincipalInfo::from_arn(bad), None, "{bad}");
    }
}

#[test]
fn role_arn_with_path_for_a_session() {
    let s = PrincipalInfo::from_arn("arn:aws:sts::123456789012:assumed-role/deploy/ci").unwrap();
    let with = s
        .clone()
        .with_role_arn("arn:aws:iam::123456789012:role/service/deploy")
        .unwrap();
    assert_eq!(
        with.principal_arn,
        "arn:aws:iam::123456789012:role/service/deploy"
    );
    assert_eq!(with.name, "ci");
    assert!(
        s.clone()
            .with_role_arn("arn:aws:iam::123456789012:role/deploy")
            .is_ok()
    );
    for bad in [
        "arn:aws:iam::123456789012:role/other",
        "arn:aws:iam::123456789012:role/service/deployer",
        "arn:aws:iam::210987654321:role/deploy",
        "arn:aws:iam::123456789012:user/deploy",
    ] {
        assert!(s.clone().with_role_arn(bad).is_err(), "{bad}");
    }
    let user = PrincipalInfo::from_arn("arn:aws:iam::123456789012:user/alice").unwrap();
    assert!(
        user.with_role_arn("arn:aws:iam::123456789012:role/alice")
            .is_err()
    );
    let role = PrincipalInfo::from_arn("arn:aws:iam::123456789012:role/deploy").unwrap();
    assert!(
        role.with_role_arn("arn:aws:iam::123456789012:role/x/deploy")
            .is_err()
    );
}

fn caller<'a>(info: &'a PrincipalInfo, arn: &'a str) -> Principal<'a> {
    Principal::Iam(IamCaller {
        arn,
        account: &info.account,
        principal_arn: (info.principal_arn != arn).then_some(info.principal_arn.as_str()),
        principal_type: Some(info.principal_type),
        username: info.username.as_deref(),
        userid: info.userid.as_deref(),
        ..IamCaller::default()
    })
}

fn decide(kind: PolicyKind, statements: Value, who: Principal<'_>, resource: &str) -> Decision {
    let p = parse_policy(
        &json!({"Version": "2012-10-17", "Statement": statements}),
        &CTX,
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let f = Facts::default();
    let r = Request {
        action: "execute-api:Invoke",
        resource,
        principal: who,
        facts: &f,
    };
    let tree = CompiledPolicy::new(kind, std::slice::from_ref(&p)).decide(&r);
    assert_eq!(
        tree,
        reference::evaluate(kind, std::slice::from_ref(&p), &r),
        "{r:?}"
    );
    tree
}

#[test]
fn sessions_match_their_role() {
    const ROLE: &str = "arn:aws:iam::123456789012:role/deploy";
    const SESSION: &str = "arn:aws:sts::123456789012:assumed-role/deploy/ci-42";
    for (arn, role_hit, session_hit, role_like) in [
        (SESSION, true, true, true),
        (
            "arn:aws:sts::123456789012:assumed-role/other/ci-42",
            false,
            false,
            true,
        ),
        ("arn:aws:iam::123456789012:role/deploy", true, false, true),
        ("arn:aws:iam::123456789012:user/deploy", false, false, false),
        (
            "arn:aws:sts::123456789012:federated-user/deploy",
            false,
            false,
            false,
        ),
        ("arn:aws:iam::123456789012:root", false, false, false),
    ] {
        let info = PrincipalInfo::from_arn(arn).unwrap();
        let who = caller(&info, arn);
        let deny = |pr: &str| {
            json!([
                {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*"},
                {"Effect": "Deny", "Principal": {"AWS": pr}, "Action": "execute-api:Invoke", "Resource": "*"}
            ])
        };
        let want = |hit: bool| {
            if hit {
                Decision::ExplicitDeny
            } else {
                Decision::Allow
            }
        };
        assert_eq!(
            decide(PolicyKind::Resource, deny(ROLE), who, ARN),
            want(role_hit),
            "{arn} vs Principal {ROLE}"
        );
        assert_eq!(
            decide(PolicyKind::Resource, deny(SESSION), who, ARN),
            want(session_hit),
            "{arn} vs Principal {SESSION}"
        );
        let like = json!({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/*"}}});
        let got = decide(PolicyKind::Identity, like, who, ARN);
        assert_eq!(got == Decision::Allow, role_like, "{arn}: ArnLike role/*");
        let eq = json!({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalArn": info.principal_arn}}});
        assert_eq!(
            decide(PolicyKind::Identity, eq, who, ARN),
            Decision::Allow,
            "{arn}"
        );
    }
}

#[test]
fn account_principal_delegates_to_iam_policies() {
    let allow = |pr: Value| json!({"Effect": "Allow", "Principal": {"AWS": pr}, "Action": "execute-api:Invoke", "Resource": "*"});
    let deny = |pr: Value| {
        json!([
            {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": pr}, "Action": "execute-api:Invoke", "Resource": "*"}
        ])
    };
    let users = [
        "arn:aws:iam::123456789012:user/alice",
        "arn:aws:sts::123456789012:assumed-role/deploy/s",
        "arn:aws:sts::123456789012:federated-user/bob",
    ];
    for arn in users {
        let info = PrincipalInfo::from_arn(arn).unwrap();
        let who = caller(&info, arn);
        for pr in [
            json!("123456789012"),
            json!("arn:aws:iam::123456789012:root"),
        ] {
            // same account as the API: the account principal grants nothing by itself
            assert_eq!(
                decide(PolicyKind::Resource, allow(pr.clone()), who, ARN),
                Decision::ImplicitDeny,
                "{arn} {pr}"
            );
            // a Deny naming the account applies to all of its principals
            assert_eq!(
                decide(PolicyKind::Resource, deny(pr.clone()), who, ARN),
                Decision::ExplicitDeny,
                "{arn} {pr}"
            );
            // on another account's API the delegation is the resource side of Table B
            let other = "arn:aws:execute-api:us-east-1:999999999999:xyz/prod/GET/pets";
            assert_eq!(
                decide(PolicyKind::Resource, allow(pr.clone()), who, other),
                Decision::Allow,
                "{arn} {pr} cross-account"
            );
        }
        // naming the principal itself still grants
        assert_eq!(
            decide(PolicyKind::Resource, allow(json!(arn)), who, ARN),
            Decision::Allow,
            "{arn}"
        );
        // "*" grants to everyone
        assert_eq!(
            decide(
                PolicyKind::Resource,
                json!({"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*"}),
                who,
                ARN
            ),
            Decision::Allow
        );
        // NotPrincipal naming the account still excludes its principals
        assert_eq!(
            decide(
                PolicyKind::Resource,
                json!({"Effect": "Allow", "NotPrincipal": {"AWS": "123456789012"}, "Action": "execute-api:Invoke", "Resource": "*"}),
                who,
                ARN
            ),
            Decision::ImplicitDeny
        );
    }
    // the account's root user is the account principal itself
    let root = "arn:aws:iam::123456789012:root";
    let info = PrincipalInfo::from_arn(root).unwrap();
    for pr in [json!("123456789012"), json!(root)] {
        assert_eq!(
            decide(PolicyKind::Resource, allow(pr), caller(&info, root), ARN),
            Decision::Allow
        );
    }
    // combined with Table A: the identity policy decides
    let alice = "arn:aws:iam::123456789012:user/alice";
    let info = PrincipalInfo::from_arn(alice).unwrap();
    let res = decide(
        PolicyKind::Resource,
        allow(json!("123456789012")),
        caller(&info, alice),
        ARN,
    );
    assert_eq!(
        combine_same_account(Decision::ImplicitDeny, Some(res)),
        Decision::ImplicitDeny
    );
    assert_eq!(
        combine_same_account(Decision::Allow, Some(res)),
        Decision::Allow
    );
}
