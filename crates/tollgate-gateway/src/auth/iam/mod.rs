//! `AWS_IAM` routes: SigV4 verification against the configured identities' keys, then the
//! identity's policies combined with the API's resource policy (Table A within the account,
//! Table B for callers of another account).

use std::cell::RefCell;
use std::collections::HashMap;

use tollgate_policy::{
    CallerKind, CompiledPolicy, Decision, IamCaller, PolicyKind, Principal, PrincipalInfo, Request,
};
use tollgate_sigv4::{RequestParts, SigningKeyCache, StaticKey, Verifier};

use crate::auth::{
    AuthContext, AuthEnv, AuthRequest, RouteAuthorizer, access_denied, facts, resource_decision,
};
use crate::error::GatewayError;
use crate::metrics::{AuthKind, CacheName, Outcome};
use crate::responses::{ResponseType, ResponseTypeExt};

/// One configured identity, ready for evaluation.
pub(crate) struct IdentityRt {
    pub arn: String,
    pub account: String,
    pub principal_type: &'static str,
    /// `aws:PrincipalArn` when it differs from `arn`: the role ARN of an assumed-role session.
    pub principal_arn: Option<String>,
    /// The name after `user/` or `role/` (or the session name of an assumed role).
    pub name: String,
    /// `aws:username` (IAM users only).
    pub username: Option<String>,
    /// `aws:userid` when configured or implied by the ARN (root, federated user); `None`: the
    /// access key id of the request.
    pub userid: Option<String>,
    pub tags: Vec<(String, String)>,
    pub policy: CompiledPolicy,
}

impl IdentityRt {
    fn new(ident: &tollgate_config::Identity, policy: CompiledPolicy) -> IdentityRt {
        // the config loader accepted the ARN (and role_arn), so both parse; the fallback
        // keeps a hand-built config usable as a plain identity
        let info = PrincipalInfo::from_arn(&ident.arn).map(|i| match &ident.role_arn {
            Some(role) => i.clone().with_role_arn(role).unwrap_or(i),
            None => i,
        });
        let (account, principal_type, principal_arn, name, username, userid) = match info {
            Some(i) => (
                i.account,
                i.principal_type,
                (i.principal_arn != ident.arn).then_some(i.principal_arn),
                i.name,
                i.username,
                i.userid,
            ),
            None => (
                ident.arn.split(':').nth(4).unwrap_or_default().to_owned(),
                "Account",
                None,
                String::new(),
                None,
                None,
            ),
        };
        IdentityRt {
            arn: ident.arn.clone(),
            account,
            principal_type,
            principal_arn,
            name,
            username,
            userid: ident.user_id.clone().or(userid),
            tags: ident
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            policy,
        }
    }
}

/// Per-configuration state: the key store, the verifier and each identity's policy tree.
pub(crate) struct Compiled {
    keys: HashMap<String, StaticKey>,
    verifier: Verifier,
    identities: Vec<IdentityRt>,
}

impl Compiled {
    pub(crate) fn build(c: &tollgate_config::Compiled) -> Self {
        let cfg = &c.config;
        let mut keys = HashMap::with_capacity(c.credentials.len());
        for (id, cred) in &c.credentials {
            let mut k = StaticKey::new(cred.secret.as_bytes().to_vec(), cred.identity);
            if let Some(t) = &cred.session_token {
                k = k.with_session_token(t.clone());
            }
            if let Some(e) = cred.expires_unix {
                k = k.with_expiry(e);
            }
            keys.insert(id.clone(), k);
        }
        let identities = cfg
            .identities
            .iter()
            .enumerate()
            .map(|(i, ident)| {
                let policies = c.policies.identity.get(i).cloned().unwrap_or_default();
                IdentityRt::new(ident, CompiledPolicy::new(PolicyKind::Identity, &policies))
            })
            .collect();
        Compiled {
            keys,
            verifier: Verifier::new(&cfg.gateway.region),
            identities,
        }
    }
}

/// Per-worker state: the signing-key cache (derived keys per key, date, region, service).
#[derive(Default)]
pub(crate) struct WorkerState {
    cache: RefCell<SigningKeyCache>,
}

pub(crate) async fn authorize(
    env: &AuthEnv<'_>,
    req: &AuthRequest<'_>,
    mut ctx: AuthContext,
) -> Result<AuthContext, GatewayError> {
    let RouteAuthorizer::Iam(iam) = env.authorizer else {
        env.metrics.auth(AuthKind::AwsIam, Outcome::Error);
        return Err(GatewayError::authorizer_config_error()
            .with_reason("AWS_IAM: the route carries no IAM configuration"));
    };
    let verified = verify(env, iam, req)?;
    let Some(ident) = iam.identities.get(verified.principal) else {
        env.metrics.auth(AuthKind::AwsIam, Outcome::Error);
        return Err(GatewayError::authorizer_config_error()
            .with_reason("AWS_IAM: the signing key's identity is not configured"));
    };
    let tags: Vec<(&str, &str)> = ident
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let caller = IamCaller {
        arn: &ident.arn,
        account: &ident.account,
        principal_arn: ident.principal_arn.as_deref(),
        principal_type: Some(ident.principal_type),
        userid: Some(ident.userid.as_deref().unwrap_or(&verified.access_key_id)),
        username: ident.username.as_deref(),
        tags: &tags,
        org_id: None,
    };
    let principal = Principal::Iam(caller);
    let f = facts(env, req);
    let identity = ident.policy.decide(&Request {
        action: "execute-api:Invoke",
        resource: req.method_arn,
        principal,
        facts: &f,
    });
    let resource = resource_decision(env, req, principal);
    let same_account = ident.account == env.account_id;
    let decision = if same_account {
        tollgate_policy::combine_same_account(identity, resource)
    } else {
        tollgate_policy::combine_cross_account(identity, resource)
    };
    if decision != Decision::Allow {
        env.metrics.auth(AuthKind::AwsIam, Outcome::Deny);
        return Err(access_denied(
            env,
            req,
            CallerKind::Iam { arn: &ident.arn },
            Some(identity),
            resource,
            decision,
        ));
    }
    env.metrics.auth(AuthKind::AwsIam, Outcome::Allow);
    if !req.wants_caller {
        // nothing reads them (a mock answer, the access log off): no copies
        return Ok(ctx);
    }
    ctx.identity.reserve(5);
    ctx.identity.push(("userArn", ident.arn.clone()));
    ctx.identity.push(("accountId", ident.account.clone()));
    ctx.identity
        .push(("accessKey", verified.access_key_id.clone()));
    ctx.identity
        .push(("caller", verified.access_key_id.clone()));
    ctx.identity.push(("user", ident.name.clone()));
    Ok(ctx)
}

/// Check the request's SigV4 signature against the configured keys (401/403 when it fails).
fn verify(
    env: &AuthEnv<'_>,
    iam: &Compiled,
    req: &AuthRequest<'_>,
) -> Result<tollgate_sigv4::Verified, GatewayError> {
    let headers: Vec<(&[u8], &[u8])> = req
        .head
        .headers
        .iter()
        .map(|h| (h.name.slice(req.buf), h.value.slice(req.buf)))
        .collect();
    let parts = RequestParts {
        method: req.head.method.slice(req.buf),
        path: req.head.path.slice(req.buf),
        query: req.head.query.map(|q| q.slice(req.buf)),
        headers: &headers,
        body: req.body,
    };
    let verified = {
        let mut cache = env.caches.iam.cache.borrow_mut();
        let before = cache.len();
        let r = iam
            .verifier
            .verify(&parts, env.now_epoch(), &iam.keys, &mut cache);
        if r.is_ok() {
            env.metrics
                .cache(CacheName::SigningKey, cache.len() == before);
        }
        r
    };
    verified.map_err(|e| {
        env.metrics.auth(AuthKind::AwsIam, Outcome::Unauthorized);
        let rtype =
            ResponseType::from_name(e.response_type()).unwrap_or(ResponseType::InvalidSignature);
        GatewayError::signature(rtype, e.message(), e.error_type()).with_reason(sigv4_reason(&e))
    })
}

/// Why a signature was refused, for the logs: fixed texts only (the client's message may
/// quote the canonical request or parts of the `Authorization` header).
fn sigv4_reason(e: &tollgate_sigv4::SigV4Error) -> &'static str {
    use tollgate_sigv4::SigV4Error as E;
    match e {
        E::MissingAuthenticationToken => "AWS_IAM: no signature",
        E::IncompleteSignature(_) => "AWS_IAM: incomplete or malformed signature",
        E::InvalidSignature(_) => "AWS_IAM: credential scope does not fit (date, region, service)",
        E::SignatureMismatch { .. } => "AWS_IAM: signature mismatch",
        E::SignatureExpired(_) => "AWS_IAM: request date outside the clock window or URL expired",
        E::UnknownAccessKey => "AWS_IAM: unknown access key",
        E::InvalidSecurityToken => "AWS_IAM: invalid session token",
        E::ExpiredToken => "AWS_IAM: expired temporary credentials",
        E::PayloadHash(_) => "AWS_IAM: payload hash missing, malformed or wrong",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(json: &str) -> IdentityRt {
        let ident: tollgate_config::Identity = serde_json::from_str(json).unwrap();
        IdentityRt::new(&ident, CompiledPolicy::new(PolicyKind::Identity, &[]))
    }

    #[test]
    fn identities() {
        let u = rt(r#"{"arn": "arn:aws:iam::123456789012:user/ops/alice"}"#);
        assert_eq!(
            (u.account.as_str(), u.principal_type, u.name.as_str()),
            ("123456789012", "User", "alice")
        );
        assert_eq!(u.principal_arn, None);
        assert_eq!(u.username.as_deref(), Some("alice"));
        assert_eq!(u.userid, None);
        let s = rt(
            r#"{"arn": "arn:aws:sts::210987654321:assumed-role/r/s1", "user_id": "AROAEXAMPLE:s1"}"#,
        );
        assert_eq!(
            (s.account.as_str(), s.principal_type, s.name.as_str()),
            ("210987654321", "AssumedRole", "s1")
        );
        assert_eq!(
            s.principal_arn.as_deref(),
            Some("arn:aws:iam::210987654321:role/r")
        );
        assert_eq!(s.username, None);
        assert_eq!(s.userid.as_deref(), Some("AROAEXAMPLE:s1"));
        let p = rt(
            r#"{"arn": "arn:aws:sts::210987654321:assumed-role/r/s1", "role_arn": "arn:aws:iam::210987654321:role/team/r"}"#,
        );
        assert_eq!(
            p.principal_arn.as_deref(),
            Some("arn:aws:iam::210987654321:role/team/r")
        );
        let root = rt(r#"{"arn": "arn:aws:iam::123456789012:root"}"#);
        assert_eq!(root.principal_type, "Account");
        assert_eq!(root.userid.as_deref(), Some("123456789012"));
        let f = rt(r#"{"arn": "arn:aws:sts::123456789012:federated-user/bob"}"#);
        assert_eq!(f.principal_type, "FederatedUser");
        assert_eq!(f.userid.as_deref(), Some("123456789012:bob"));
        assert_eq!(f.principal_arn, None);
    }
}
