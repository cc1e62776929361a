//! Conformance with the API Gateway developer guide: the outcome tables of
//! `apigateway-authorization-flow` and every example policy under
//! `apigw-devguide-examples/json`, each with requests that must pass and requests that must not.
//! Policies are read from the repository's `testdata/apigw-devguide-examples`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use tollgate_policy::*;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/apigw-devguide-examples"
);

fn data_dir() -> Option<PathBuf> {
    let p = PathBuf::from(DIR);
    if p.is_dir() {
        Some(p)
    } else if std::env::var_os("CI").is_some() {
        panic!("test data missing at {DIR} (CI is set)");
    } else {
        eprintln!("skipping: test data missing at {DIR}");
        None
    }
}

fn load(name: &str) -> Value {
    let path = PathBuf::from(DIR).join("json").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// ExpandCtx with the placeholder values the guide's ARNs use, so shorthand expands to the same
/// strings as the full ARNs in the other examples.
const CTX: ExpandCtx<'static> = ExpandCtx {
    region: "region",
    account_id: "account-id",
    api_id: Some("api-id"),
};

fn policy(name: &str) -> Policy {
    let v = load(name);
    let doc = v.get("policyDocument").unwrap_or(&v);
    parse_policy(doc, &CTX).unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

/// Evaluates with both the compiled tree and the reference evaluator and checks they agree.
fn decide(kind: PolicyKind, p: &Policy, req: &Request<'_>) -> Decision {
    let tree = CompiledPolicy::new(kind, std::slice::from_ref(p)).decide(req);
    let naive = reference::evaluate(kind, std::slice::from_ref(p), req);
    assert_eq!(tree, naive, "tree and reference disagree on {req:?}");
    tree
}

fn req<'a>(resource: &'a str, principal: Principal<'a>, facts: &'a Facts<'a>) -> Request<'a> {
    Request {
        action: "execute-api:Invoke",
        resource,
        principal,
        facts,
    }
}

fn ip(s: &str) -> Facts<'static> {
    Facts {
        source_ip: Some(s.parse().unwrap()),
        ..Facts::default()
    }
}

const ROOT: &str = "arn:aws:execute-api:region:account-id:api-id/";
const PETS: &str = "arn:aws:execute-api:region:account-id:api-id/prod/GET/pets";

use Decision::{Allow, ExplicitDeny as Deny, ImplicitDeny as Neither};

fn parse_cell(s: &str) -> Decision {
    match s.trim() {
        "Allow" => Allow,
        "Deny" => Deny,
        "Neither Allow nor Deny" => Neither,
        "Explicit Deny" => Deny,
        "Implicit Deny" => Neither,
        other => panic!("unknown table cell {other:?}"),
    }
}

/// Reads the rows of Table A and Table B from the guide's markdown.
fn tables() -> Vec<(char, Decision, Decision, Decision)> {
    let md =
        std::fs::read_to_string(PathBuf::from(DIR).join("md/apigateway-authorization-flow.md"))
            .unwrap();
    let mut rows = Vec::new();
    let mut table = None;
    for line in md.lines() {
        if line.starts_with("**Table A") {
            table = Some('A');
        } else if line.starts_with("**Table B") {
            table = Some('B');
        }
        let Some(t) = table else { continue };
        let cells: Vec<&str> = line
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if cells.len() != 3 || cells[0].starts_with("IAM policy") || cells[0].starts_with("---") {
            continue;
        }
        rows.push((
            t,
            parse_cell(cells[0]),
            parse_cell(cells[1]),
            parse_cell(cells[2]),
        ));
    }
    rows
}

#[test]
fn outcome_tables_a_and_b() {
    if data_dir().is_none() {
        return;
    }
    let rows = tables();
    assert_eq!(
        rows.len(),
        18,
        "expected 9 rows in each of Table A and Table B"
    );
    assert_eq!(rows.iter().filter(|r| r.0 == 'A').count(), 9);
    for (t, identity, resource, want) in rows {
        let got = match t {
            'A' => combine_same_account(identity, Some(resource)),
            _ => combine_cross_account(identity, Some(resource)),
        };
        assert_eq!(got, want, "Table {t}: {identity:?} x {resource:?}");
    }
    // no resource policy = "neither"
    assert_eq!(combine_same_account(Allow, None), Allow);
    assert_eq!(combine_cross_account(Allow, None), Neither);
}

const FLOW1: &str = "apigateway-authorization-flow__01__api-gateway-resource-policy-only.json";
const FLOW2: &str = "apigateway-authorization-flow__02__lambda-authorizer-and-resource-policy.json";
const FLOW3: &str =
    "apigateway-authorization-flow__03__iam-authentication-and-resource-policy.json";
const FLOW4: &str =
    "apigateway-authorization-flow__04__amazon-cognito-authentication-and-resource-policy.json";
const OVERVIEW: &str = "apigateway-control-access-policy-language-overview__01__common-elements-in-an-access-policy.json";
const RP1: &str = "apigateway-resource-policies-examples__01__example-allow-roles-in-another-aws-account-to-use-an-api.json";
const RP2: &str = "apigateway-resource-policies-examples__02__example-deny-api-traffic-based-on-source-ip-address-or-range.json";
const RP3: &str = "apigateway-resource-policies-examples__03__example-deny-api-traffic-based-on-source-ip-address-or-range.json";
const RP4: &str = "apigateway-resource-policies-examples__04__example-allow-private-api-traffic-based-on-source-vpc-or-vpc.json";
const RP5: &str = "apigateway-resource-policies-examples__05__example-allow-private-api-traffic-based-on-source-vpc-or-vpc.json";
const IAM1: &str = "api-gateway-control-access-using-iam-policies-to-invoke-api__01__control-who-can-call-an-api-gateway-api-method-with-iam-poli.json";
const IAM2: &str = "api-gateway-control-access-using-iam-policies-to-invoke-api__02__control-who-can-call-an-api-gateway-api-method-with-iam-poli.json";
const IAM3: &str = "api-gateway-control-access-using-iam-policies-to-invoke-api__03__control-who-can-call-an-api-gateway-api-method-with-iam-poli.json";
const IAMX1: &str = "api-gateway-iam-policy-examples-for-api-execution__01__iam-policy-examples-for-api-execution-permissions.json";
const IAMX2: &str = "api-gateway-iam-policy-examples-for-api-execution__02__iam-policy-examples-for-api-execution-permissions.json";
const VPCE1: &str = "apigateway-vpc-endpoint-policies__01__example-1-vpc-endpoint-policy-granting-access-to-two-apis.json";
const VPCE2: &str = "apigateway-vpc-endpoint-policies__02__example-2-vpc-endpoint-policy-granting-access-to-get-methods.json";
const VPCE3: &str = "apigateway-vpc-endpoint-policies__03__example-3-vpc-endpoint-policy-granting-a-specific-user-acces.json";
const LAMBDA_OUT: &str = "api-gateway-lambda-authorizer-output__02__output-from-an-amazon-api-gateway-lambda-authorizer.json";

/// Every example that holds a policy is exercised below; a new example file fails this test
/// until it gets cases.
#[test]
fn every_policy_example_is_covered() {
    let Some(dir) = data_dir() else { return };
    let mut found = BTreeSet::new();
    for e in std::fs::read_dir(dir.join("json")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let text = std::fs::read_to_string(dir.join("json").join(&name)).unwrap();
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if v.get("Statement").is_some() || v.get("policyDocument").is_some() {
            found.insert(name);
        }
    }
    let covered: BTreeSet<String> = [
        FLOW1, FLOW2, FLOW3, FLOW4, OVERVIEW, RP1, RP2, RP3, RP4, RP5, IAM1, IAM2, IAM3, IAMX1,
        IAMX2, VPCE1, VPCE2, VPCE3, LAMBDA_OUT,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(found.len(), 19);
    assert_eq!(found, covered);
}

#[test]
fn resource_policy_only_ip_allow_list() {
    if data_dir().is_none() {
        return;
    }
    for name in [FLOW1, FLOW4] {
        let p = policy(name);
        let inside = ip("192.0.2.44");
        let inside2 = ip("198.51.100.255");
        let outside = ip("203.0.113.9");
        let via_vpce = Facts::default();
        let a = Principal::Anonymous;
        assert_eq!(
            decide(PolicyKind::Resource, &p, &req(ROOT, a, &inside)),
            Allow
        );
        assert_eq!(
            decide(PolicyKind::Resource, &p, &req(ROOT, a, &inside2)),
            Allow
        );
        assert_eq!(
            decide(PolicyKind::Resource, &p, &req(ROOT, a, &outside)),
            Neither
        );
        assert_eq!(
            decide(PolicyKind::Resource, &p, &req(ROOT, a, &via_vpce)),
            Neither
        );
        // The guide's Resource ".../api-id/" is matched literally: it names only the root path.
        assert_eq!(
            decide(PolicyKind::Resource, &p, &req(PETS, a, &inside)),
            Neither
        );
        // NONE: an explicit allow is required.
        let d = decide(PolicyKind::Resource, &p, &req(ROOT, a, &outside));
        assert_eq!(resource_policy_only(Some(d)), Neither);
        // Cognito/Lambda allow x resource silence = Allow (Table A pitfall).
        assert_eq!(combine_same_account(Allow, Some(d)), Allow);
    }
}

#[test]
fn lambda_authorizer_vpce_precheck() {
    if data_dir().is_none() {
        return;
    }
    let p = policy(FLOW2);
    let good = Facts {
        source_vpce: Some("vpce-1a2b3c4d"),
        ..Facts::default()
    };
    let bad = Facts {
        source_vpce: Some("vpce-99999999"),
        ..Facts::default()
    };
    let none = ip("192.0.2.1");
    let a = Principal::Anonymous;
    let d_good = decide(PolicyKind::Resource, &p, &req(ROOT, a, &good));
    assert_eq!(d_good, Neither);
    assert!(!lambda_precheck_denies(Some(d_good)));
    assert_eq!(combine_same_account(Allow, Some(d_good)), Allow);
    assert_eq!(combine_same_account(Neither, Some(d_good)), Neither);
    for f in [&bad, &none] {
        let d = decide(PolicyKind::Resource, &p, &req(ROOT, a, f));
        assert_eq!(d, Deny);
        assert!(lambda_precheck_denies(Some(d)));
    }
    // the Deny names only the root resource
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &bad)),
        Neither
    );
}

#[test]
fn iam_cross_account_source_vpc() {
    if data_dir().is_none() {
        return;
    }
    let p = policy(FLOW3);
    let caller = Principal::iam("arn:aws:iam::222222222222:user/bob", "222222222222");
    let in_vpc = Facts {
        source_vpc: Some("vpc-2f09a348"),
        ..Facts::default()
    };
    let other = Facts {
        source_vpc: Some("vpc-00000000"),
        ..Facts::default()
    };
    let d = decide(PolicyKind::Resource, &p, &req(ROOT, caller, &in_vpc));
    assert_eq!(d, Allow);
    assert_eq!(combine_cross_account(Allow, Some(d)), Allow);
    assert_eq!(combine_cross_account(Neither, Some(d)), Neither);
    let d = decide(PolicyKind::Resource, &p, &req(ROOT, caller, &other));
    assert_eq!(d, Neither);
    assert_eq!(combine_cross_account(Allow, Some(d)), Neither);
    assert_eq!(combine_same_account(Allow, Some(d)), Allow);
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(ROOT, caller, &Facts::default())
        ),
        Neither
    );
}

#[test]
fn overview_not_ip_address_deny() {
    if data_dir().is_none() {
        return;
    }
    let p = policy(OVERVIEW);
    let a = Principal::Anonymous;
    // 123.4.5.6/24 has host bits set; it still means 123.4.5.0/24
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &ip("123.4.5.200"))),
        Allow
    );
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(ROOT, a, &ip("123.4.5.6"))),
        Allow
    );
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &ip("123.4.6.1"))),
        Deny
    );
    // NotIpAddress with the key absent is true: denied
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &Facts::default())),
        Deny
    );
    // another account: neither statement's Resource matches
    let other = "arn:aws:execute-api:region:999999999999:api-id/prod/GET/pets";
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(other, a, &ip("123.4.6.1"))),
        Neither
    );
}

#[test]
fn cross_account_roles() {
    if data_dir().is_none() {
        return;
    }
    let p = policy(RP1);
    let res = "arn:aws:execute-api:region:account-id:api-id/stage/GET/pets";
    let f = Facts::default();
    let role = |name: &'static str, session: &'static str| {
        Principal::Iam(IamCaller {
            arn: session,
            account: "account-id-2",
            principal_arn: Some(name),
            ..IamCaller::default()
        })
    };
    let dev = role(
        "arn:aws:iam::account-id-2:role/developer",
        "arn:aws:sts::account-id-2:assumed-role/developer/s1",
    );
    let admin = role(
        "arn:aws:iam::account-id-2:role/Admin",
        "arn:aws:sts::account-id-2:assumed-role/Admin/s2",
    );
    let other = role(
        "arn:aws:iam::account-id-2:role/admin",
        "arn:aws:sts::account-id-2:assumed-role/admin/s3",
    );
    assert_eq!(decide(PolicyKind::Resource, &p, &req(res, dev, &f)), Allow);
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(res, admin, &f)),
        Allow
    );
    // principal ARNs are case-sensitive
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(res, other, &f)),
        Neither
    );
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(res, Principal::Anonymous, &f)
        ),
        Neither
    );
    let post = "arn:aws:execute-api:region:account-id:api-id/stage/POST/pets";
    let sub = "arn:aws:execute-api:region:account-id:api-id/stage/GET/pets/1";
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(post, dev, &f)),
        Neither
    );
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(sub, dev, &f)),
        Neither
    );
    // shorthand expanded with the API's own region/account/id
    let other_api = "arn:aws:execute-api:region:account-id:other-api/stage/GET/pets";
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(other_api, dev, &f)),
        Neither
    );
    // Identity-kind evaluation ignores Principal
    assert_eq!(
        decide(
            PolicyKind::Identity,
            &p,
            &req(res, Principal::Anonymous, &f)
        ),
        Allow
    );
}

#[test]
fn ip_deny_lists() {
    if data_dir().is_none() {
        return;
    }
    let a = Principal::Anonymous;
    let p = policy(RP2);
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &ip("192.0.2.1"))),
        Deny
    );
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &ip("198.51.100.7"))),
        Deny
    );
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &ip("198.51.101.7"))),
        Allow
    );
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &ip("2001:db8::1"))),
        Allow
    );
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &Facts::default())),
        Allow
    );

    let p = policy(RP3);
    let vpc_ip = |s: &str| Facts {
        vpc_source_ip: Some(s.parse().unwrap()),
        source_vpce: Some("vpce-1"),
        ..Facts::default()
    };
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(PETS, a, &vpc_ip("192.0.2.200"))
        ),
        Deny
    );
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &vpc_ip("10.0.0.1"))),
        Allow
    );
    // aws:SourceIp in the deny list does not matter for the VpcSourceIp policy
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &ip("192.0.2.200"))),
        Allow
    );
}

#[test]
fn private_api_vpc_and_vpce() {
    if data_dir().is_none() {
        return;
    }
    let a = Principal::Anonymous;
    let p = policy(RP4);
    let vpc = |s: &'static str| Facts {
        source_vpc: Some(s),
        ..Facts::default()
    };
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(PETS, a, &vpc("vpc-1a2b3c4d"))
        ),
        Allow
    );
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(PETS, a, &vpc("vpc-1A2B3C4D"))
        ),
        Deny
    );
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(PETS, a, &Facts::default())),
        Deny
    );

    let p = policy(RP5);
    let vpce = |s: &'static str| Facts {
        source_vpce: Some(s),
        ..Facts::default()
    };
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(ROOT, a, &vpce("vpce-1a2b3c4d"))
        ),
        Allow
    );
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(ROOT, a, &vpce("vpce-1a2b3c4e"))
        ),
        Deny
    );
    assert_eq!(
        decide(PolicyKind::Resource, &p, &req(ROOT, a, &ip("192.0.2.1"))),
        Deny
    );
}

#[test]
fn iam_identity_policies() {
    if data_dir().is_none() {
        return;
    }
    // the template example is rejected: "Permission" is not an Effect
    let errs = parse_policy(&load(IAM1), &CTX).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(
        errs[0].to_string(),
        "Statement[0].Effect: expected \"Allow\" or \"Deny\""
    );

    let f = Facts::default();
    let me = Principal::iam("arn:aws:iam::111111111111:user/alice", "111111111111");
    let arn = |s: &str| format!("arn:aws:execute-api:us-east-1:account-id:api-id/{s}");
    let p = policy(IAM2);
    assert_eq!(
        decide(
            PolicyKind::Identity,
            &p,
            &req(&arn("prod/GET/pets"), me, &f)
        ),
        Allow
    );
    assert_eq!(
        decide(
            PolicyKind::Identity,
            &p,
            &req(&arn("test/GET/pets"), me, &f)
        ),
        Allow
    );
    assert_eq!(
        decide(
            PolicyKind::Identity,
            &p,
            &req(&arn("prod/POST/pets"), me, &f)
        ),
        Deny
    );
    assert_eq!(
        decide(
            PolicyKind::Identity,
            &p,
            &req(&arn("prod/GET/pets/1"), me, &f)
        ),
        Neither
    );
    assert_eq!(
        decide(
            PolicyKind::Identity,
            &p,
            &req(&arn("prod/get/pets"), me, &f)
        ),
        Neither
    );
    let pets = arn("prod/GET/pets");
    let mut r = req(&pets, me, &f);
    r.action = "EXECUTE-API:invoke";
    assert_eq!(decide(PolicyKind::Identity, &p, &r), Allow);
    r.action = "execute-api:InvalidateCache";
    assert_eq!(decide(PolicyKind::Identity, &p, &r), Neither);

    let p = policy(IAM3);
    assert_eq!(
        decide(
            PolicyKind::Identity,
            &p,
            &req(&arn("prod/GET/pets/a1b2"), me, &f)
        ),
        Allow
    );
    assert_eq!(
        decide(
            PolicyKind::Identity,
            &p,
            &req(&arn("prod/GET/pets/a1b3"), me, &f)
        ),
        Neither
    );
    assert_eq!(
        decide(
            PolicyKind::Identity,
            &p,
            &req(&arn("prod/GET/pets"), me, &f)
        ),
        Neither
    );

    let p = policy(IAMX1);
    let ok = "arn:aws:execute-api:us-east-1:123456789012:a123456789/test/POST/mydemoresource/child";
    let deep = "arn:aws:execute-api:us-east-1:210987654321:a123456789/test/POST/mydemoresource/a/b";
    let bare = "arn:aws:execute-api:us-east-1:123456789012:a123456789/test/POST/mydemoresource";
    let get = "arn:aws:execute-api:us-east-1:123456789012:a123456789/test/GET/mydemoresource/child";
    let west =
        "arn:aws:execute-api:us-west-2:123456789012:a123456789/test/POST/mydemoresource/child";
    assert_eq!(decide(PolicyKind::Identity, &p, &req(ok, me, &f)), Allow);
    assert_eq!(decide(PolicyKind::Identity, &p, &req(deep, me, &f)), Allow);
    for r in [bare, get, west] {
        assert_eq!(
            decide(PolicyKind::Identity, &p, &req(r, me, &f)),
            Neither,
            "{r}"
        );
    }

    let p = policy(IAMX2);
    let ok = "arn:aws:execute-api:eu-west-1:123456789012:a123456789/prod/DELETE/petstorewalkthrough/pets";
    let spans =
        "arn:aws:execute-api:eu-west-1:123456789012:a123456789/a/b/c/petstorewalkthrough/pets";
    let child =
        "arn:aws:execute-api:eu-west-1:123456789012:a123456789/prod/GET/petstorewalkthrough/pets/1";
    let other =
        "arn:aws:execute-api:eu-west-1:123456789012:b123456789/prod/GET/petstorewalkthrough/pets";
    assert_eq!(decide(PolicyKind::Identity, &p, &req(ok, me, &f)), Allow);
    assert_eq!(decide(PolicyKind::Identity, &p, &req(spans, me, &f)), Allow);
    assert_eq!(
        decide(PolicyKind::Identity, &p, &req(child, me, &f)),
        Neither
    );
    assert_eq!(
        decide(PolicyKind::Identity, &p, &req(other, me, &f)),
        Neither
    );
}

#[test]
fn vpc_endpoint_policies() {
    if data_dir().is_none() {
        return;
    }
    let f = Facts::default();
    let a = Principal::Anonymous;
    let arn = |s: &str| format!("arn:aws:execute-api:us-east-1:123412341234:{s}");
    let p = policy(VPCE1);
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(&arn("a1b2c3d4e5/prod/GET/x"), a, &f)
        ),
        Allow
    );
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(&arn("aaaaa11111/dev/POST/"), a, &f)
        ),
        Allow
    );
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(&arn("bbbbb22222/dev/POST/"), a, &f)
        ),
        Neither
    );

    let p = policy(VPCE2);
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(&arn("a1b2c3d4e5/stageName/GET/pets"), a, &f)
        ),
        Allow
    );
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(&arn("a1b2c3d4e5/stageName/POST/pets"), a, &f)
        ),
        Neither
    );
    assert_eq!(
        decide(
            PolicyKind::Resource,
            &p,
            &req(&arn("a1b2c3d4e5/other/GET/pets"), a, &f)
        ),
        Neither
    );

    let p = policy(VPCE3);
    let me = Principal::iam("arn:aws:iam::123412341234:user/MyUser", "123412341234");
    let you = Principal::iam("arn:aws:iam::123412341234:user/You", "123412341234");
    let r = arn("a1b2c3d4e5/prod/GET/");
    assert_eq!(decide(PolicyKind::Resource, &p, &req(&r, me, &f)), Allow);
    assert_eq!(decide(PolicyKind::Resource, &p, &req(&r, you, &f)), Neither);
    assert_eq!(decide(PolicyKind::Resource, &p, &req(&r, a, &f)), Neither);
}

#[test]
fn lambda_authorizer_output_policy() {
    if data_dir().is_none() {
        return;
    }
    let p = policy(LAMBDA_OUT);
    assert!(p.check_kind(PolicyKind::Identity).is_empty());
    let f = Facts::default();
    let a = Principal::Anonymous;
    let root = "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/dev/GET/";
    let child = "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/dev/GET/pets";
    let d = decide(PolicyKind::Identity, &p, &req(root, a, &f));
    assert_eq!(d, Deny);
    assert_eq!(
        access_denied_message(
            deny_case(CallerKind::Authorizer, Some(d), None, d).unwrap(),
            root,
            MessageStyle::Current
        ),
        "User is not authorized to access this resource with an explicit deny in an identity-based policy"
    );
    let d = decide(PolicyKind::Identity, &p, &req(child, a, &f));
    assert_eq!(d, Neither);
    assert_eq!(
        access_denied_message(
            deny_case(CallerKind::Authorizer, Some(d), None, d).unwrap(),
            child,
            MessageStyle::Legacy
        ),
        "User is not authorized to access this resource"
    );
}
