//! The authorizer's answer, read as the Lambda Invoke API / Runtime Interface Emulator write
//! it: HTTP 200 with the function's JSON result, or 200 with `errorMessage` (optionally flagged
//! by `X-Amz-Function-Error`) for a function error. Anything else is an error.

use serde_json::Value;
use tollgate_policy::{CompiledPolicy, ExpandCtx, PolicyKind};

/// A usable authorizer result (what the cache holds).
#[derive(Debug)]
pub(crate) struct AuthzResult {
    pub principal_id: Option<String>,
    pub policy: CompiledPolicy,
    /// `context` entries stringified as AWS does; `None` for JSON `null`.
    pub context: Vec<(String, Option<String>)>,
    /// Cached with the result; read once API keys (`apiKeySource: AUTHORIZER`) exist.
    #[allow(dead_code)]
    pub usage_identifier_key: Option<String>,
    /// What holding this result costs in memory (an upper estimate, see [`estimate_weight`]).
    pub weight: usize,
    /// The policy has an `Allow` statement (evicted after results that only deny).
    pub allows: bool,
}

impl super::cache::Weigh for AuthzResult {
    fn weight(&self) -> usize {
        self.weight
    }
    fn precious(&self) -> bool {
        self.allows
    }
}

/// An upper estimate of the memory a result holds.
fn estimate_weight(policy_weight: usize, r: &AuthzResult) -> usize {
    std::mem::size_of::<AuthzResult>()
        + policy_weight
        + r.principal_id.as_ref().map_or(0, |p| p.len())
        + r.usage_identifier_key.as_ref().map_or(0, |p| p.len())
        + r.context
            .iter()
            .map(|(k, v)| 64 + k.len() + v.as_ref().map_or(0, |v| v.len()))
            .sum::<usize>()
}

/// Whether a policy document has a statement with `"Effect": "Allow"`.
fn has_allow(doc: &Value) -> bool {
    let allow = |s: &Value| s.get("Effect").and_then(Value::as_str) == Some("Allow");
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().any(allow),
        Some(s) => allow(s),
        None => false,
    }
}

/// Why the function's answer is not a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `errorMessage` exactly `Unauthorized`: 401.
    Unauthorized,
    /// Anything else (function error, timeout, transport, malformed answer): 500.
    Error(&'static str),
}

/// Read one reply.
pub(crate) fn parse_reply(
    status: u16,
    function_error: bool,
    mut body: Vec<u8>,
    ctx: &ExpandCtx<'_>,
) -> Result<AuthzResult, Failure> {
    if !(200..300).contains(&status) {
        return Err(Failure::Error("non-2xx reply"));
    }
    let v: Value =
        simd_json::serde::from_slice(&mut body).map_err(|_| Failure::Error("reply is not JSON"))?;
    let Some(obj) = v.as_object() else {
        return Err(Failure::Error("reply is not a JSON object"));
    };
    if let Some(msg) = obj.get("errorMessage")
        && (function_error || !obj.contains_key("policyDocument"))
    {
        return Err(if msg.as_str() == Some("Unauthorized") {
            Failure::Unauthorized
        } else {
            Failure::Error("function error")
        });
    }
    if function_error {
        return Err(Failure::Error("function error"));
    }
    let principal_id = match obj.get("principalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(_) => return Err(Failure::Error("principalId is not a string")),
    };
    let doc = obj
        .get("policyDocument")
        .ok_or(Failure::Error("no policyDocument"))?;
    let policy = tollgate_policy::parse_policy(doc, ctx)
        .map_err(|_| Failure::Error("invalid policyDocument"))?;
    let policy = CompiledPolicy::new(PolicyKind::Identity, std::slice::from_ref(&policy));
    let mut context = Vec::new();
    match obj.get("context") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let s = match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    Value::Null => None,
                    Value::Array(_) | Value::Object(_) => {
                        return Err(Failure::Error("non-scalar context value"));
                    }
                };
                context.push((k.clone(), s));
            }
        }
        Some(_) => return Err(Failure::Error("context is not an object")),
    }
    let usage_identifier_key = obj
        .get("usageIdentifierKey")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let policy_weight = super::cache::policy_weight(doc);
    let allows = has_allow(doc);
    let mut r = AuthzResult {
        principal_id,
        policy,
        context,
        usage_identifier_key,
        weight: 0,
        allows,
    };
    r.weight = estimate_weight(policy_weight, &r);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_policy::{Decision, Facts, Principal, Request};

    const CTX: ExpandCtx<'static> = ExpandCtx {
        region: "us-east-1",
        account_id: "123456789012",
        api_id: Some("api1"),
    };
    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:api1/prod/GET/pets";

    fn parse(body: &str) -> Result<AuthzResult, Failure> {
        parse_reply(200, false, body.as_bytes().to_vec(), &CTX)
    }

    fn decide(r: &AuthzResult, arn: &str) -> Decision {
        let facts = Facts {
            source_ip: Some("10.0.0.1".parse().unwrap()),
            ..Facts::default()
        };
        r.policy.decide(&Request {
            action: "execute-api:Invoke",
            resource: arn,
            principal: Principal::Anonymous,
            facts: &facts,
        })
    }

    fn fixture(name: &str) -> Option<String> {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/apigw-authorizer-events/aws-lambda-rust-runtime/"
        );
        match std::fs::read_to_string(format!("{p}{name}")) {
            Ok(s) => Some(s),
            Err(_) if std::env::var_os("CI").is_some() => panic!("missing fixture {name}"),
            Err(_) => None,
        }
    }

    #[test]
    fn shapes() {
        let allow = r#"{"principalId":"u1","policyDocument":{"Version":"2012-10-17","Statement":[
            {"Action":"execute-api:Invoke","Effect":"Allow","Resource":"execute-api:/*"}]},
            "context":{"s":"x","n":1.5,"i":7,"b":true,"z":null},"usageIdentifierKey":"k"}"#;
        let r = parse(allow).unwrap();
        assert_eq!(r.principal_id.as_deref(), Some("u1"));
        assert_eq!(decide(&r, ARN), Decision::Allow);
        let ctx: Vec<_> = r
            .context
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert!(ctx.contains(&("n", Some("1.5"))) && ctx.contains(&("i", Some("7"))));
        assert!(
            ctx.contains(&("b", Some("true")))
                && ctx.contains(&("z", None))
                && ctx.contains(&("s", Some("x")))
        );
        assert_eq!(r.usage_identifier_key.as_deref(), Some("k"));

        let lists = r#"{"principalId":"u","policyDocument":{"Version":"2012-10-17","Statement":[
            {"Action":[],"Effect":"Allow","Resource":[]},
            {"NotAction":"s3:*","Effect":"Deny","NotResource":["arn:aws:execute-api:us-east-1:123456789012:api1/prod/GET/*"]}]}}"#;
        let r = parse(lists).unwrap();
        assert_eq!(decide(&r, ARN), Decision::ImplicitDeny);
        assert_eq!(
            decide(
                &r,
                "arn:aws:execute-api:us-east-1:123456789012:api1/prod/POST/pets"
            ),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn failures() {
        assert_eq!(
            parse(r#"{"errorMessage":"Unauthorized","errorType":"Error"}"#).err(),
            Some(Failure::Unauthorized)
        );
        assert!(matches!(
            parse(r#"{"errorMessage":"unauthorized"}"#),
            Err(Failure::Error(_))
        ));
        assert!(matches!(
            parse(r#"{"errorMessage":"Invalid token"}"#),
            Err(Failure::Error(_))
        ));
        assert!(matches!(parse("not json"), Err(Failure::Error(_))));
        assert!(matches!(
            parse(r#"{"principalId":"u"}"#),
            Err(Failure::Error(_))
        ));
        let ctx_obj = r#"{"principalId":"u","policyDocument":{"Version":"2012-10-17","Statement":[]},"context":{"a":{"b":1}}}"#;
        assert!(matches!(parse(ctx_obj), Err(Failure::Error(_))));
        let ctx_arr = r#"{"principalId":"u","policyDocument":{"Version":"2012-10-17","Statement":[]},"context":{"a":[1]}}"#;
        assert!(matches!(parse(ctx_arr), Err(Failure::Error(_))));
        let ok = r#"{"principalId":"u","policyDocument":{"Version":"2012-10-17","Statement":[]}}"#;
        assert!(parse(ok).is_ok());
        assert!(matches!(
            parse_reply(502, false, ok.as_bytes().to_vec(), &CTX),
            Err(Failure::Error(_))
        ));
        assert!(matches!(
            parse_reply(200, true, ok.as_bytes().to_vec(), &CTX),
            Err(Failure::Error(_))
        ));
        assert_eq!(
            parse_reply(
                200,
                true,
                br#"{"errorMessage":"Unauthorized"}"#.to_vec(),
                &CTX
            )
            .err(),
            Some(Failure::Unauthorized)
        );
    }

    #[test]
    fn aws_response_fixtures() {
        let mut n = 0;
        for name in [
            "example-apigw-custom-auth-response.json",
            "example-apigw-custom-auth-response-with-condition.json",
            "example-apigw-custom-auth-response-with-single-value-action.json",
            "example-apigw-custom-auth-response-with-single-value-resource.json",
        ] {
            let Some(text) = fixture(name) else { continue };
            // The fixtures' placeholder ARNs are not valid ARNs; give them a real one.
            let text = text.replace(
                "arn:aws:execute-api:{regionId}:{accountId}:{appId}/{stage}/{httpVerb}/[{resource}/[child-resources]]",
                ARN,
            );
            let r = parse(&text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert!(r.principal_id.is_some(), "{name}");
            n += 1;
        }
        if fixture("example-apigw-custom-auth-response.json").is_some() {
            assert_eq!(n, 4);
        }
    }
}
