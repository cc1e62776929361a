//! `AWS_IAM` routes: SigV4 verification against the configured identities' keys, then the
//! identity's policies combined with the API's resource policy (Table A within the account,
//! Table B for callers of another account).

use std::cell::RefCell;
use std::collections::HashMap;

use tollgate_policy::{
    CallerKind, CompiledPolicy, Decision, IamCaller, PolicyKind, Principal, Request,
};
use tollgate_sigv4::{RequestParts, SigningKeyCache, StaticKey, Verifier};

use crate::auth::{AuthContext, AuthRequest, access_denied, facts, resource_decision};
use crate::metrics::{AuthKind, CacheName, Outcome};
use crate::responses::{GatewayError, ResponseType, ResponseTypeExt};
use crate::snapshot::Snapshot;
use crate::worker::Worker;

/// One configured identity, ready for evaluation.
pub(crate) struct IdentityRt {
    pub arn: String,
    pub account: String,
    pub principal_type: &'static str,
    /// The name after `user/` or `role/` (or the session name of an assumed role).
    pub name: String,
    pub tags: Vec<(String, String)>,
    pub policy: CompiledPolicy,
}

/// Per-configuration state: the key store, the verifier and each identity's policy tree.
pub(crate) struct Compiled {
    keys: HashMap<String, StaticKey>,
    verifier: Verifier,
    identities: Vec<IdentityRt>,
}

fn split_arn(arn: &str) -> (String, &'static str, String) {
    // arn:aws:iam::123456789012:user/alice | role/r | root ; arn:aws:sts::ID:assumed-role/r/s
    let mut parts = arn.splitn(6, ':');
    let account = parts.nth(4).unwrap_or_default().to_owned();
    let resource = parts.next().unwrap_or_default();
    let (kind, name) = match resource.split_once('/') {
        Some(("user", n)) => ("User", n.rsplit('/').next().unwrap_or(n)),
        Some(("role", n)) => ("AssumedRole", n.rsplit('/').next().unwrap_or(n)),
        Some(("assumed-role", n)) => ("AssumedRole", n.rsplit('/').next().unwrap_or(n)),
        Some(("federated-user", n)) => ("FederatedUser", n),
        _ => ("Account", resource),
    };
    (account, kind, name.to_owned())
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
                let (account, principal_type, name) = split_arn(&ident.arn);
                let policies = c.policies.identity.get(i).cloned().unwrap_or_default();
                IdentityRt {
                    arn: ident.arn.clone(),
                    account,
                    principal_type,
                    name,
                    tags: ident
                        .tags
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    policy: CompiledPolicy::new(PolicyKind::Identity, &policies),
                }
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

fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) async fn authorize(
    w: &Worker,
    snap: &Snapshot,
    req: &AuthRequest<'_>,
    mut ctx: AuthContext,
) -> Result<AuthContext, GatewayError> {
    let iam = &snap.iam;
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
        let mut cache = w.iam.cache.borrow_mut();
        let before = cache.len();
        let r = iam
            .verifier
            .verify(&parts, now_epoch(), &iam.keys, &mut cache);
        if r.is_ok() {
            w.metrics
                .cache(CacheName::SigningKey, cache.len() == before);
        }
        r
    };
    let verified = match verified {
        Ok(v) => v,
        Err(e) => {
            w.metrics.auth(AuthKind::AwsIam, Outcome::Unauthorized);
            let rtype = ResponseType::from_name(e.response_type())
                .unwrap_or(ResponseType::InvalidSignature);
            return Err(GatewayError::new(rtype, e.message()).with_error_type(e.error_type()));
        }
    };
    let Some(ident) = iam.identities.get(verified.principal) else {
        w.metrics.auth(AuthKind::AwsIam, Outcome::Error);
        return Err(GatewayError::null_message(
            ResponseType::AuthorizerConfigurationError,
        ));
    };
    let tags: Vec<(&str, &str)> = ident
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let caller = IamCaller {
        arn: &ident.arn,
        account: &ident.account,
        principal_arn: None,
        principal_type: Some(ident.principal_type),
        userid: Some(&verified.access_key_id),
        username: (ident.principal_type == "User").then_some(ident.name.as_str()),
        tags: &tags,
        org_id: None,
    };
    let principal = Principal::Iam(caller);
    let f = facts(req);
    let identity = ident.policy.decide(&Request {
        action: "execute-api:Invoke",
        resource: req.method_arn,
        principal,
        facts: &f,
    });
    let resource = resource_decision(snap, req, principal);
    let same_account = ident.account == snap.compiled.config.gateway.account_id;
    let decision = if same_account {
        tollgate_policy::combine_same_account(identity, resource)
    } else {
        tollgate_policy::combine_cross_account(identity, resource)
    };
    if decision != Decision::Allow {
        w.metrics.auth(AuthKind::AwsIam, Outcome::Deny);
        return Err(access_denied(
            snap,
            req,
            CallerKind::Iam { arn: &ident.arn },
            Some(identity),
            resource,
            decision,
        ));
    }
    w.metrics.auth(AuthKind::AwsIam, Outcome::Allow);
    ctx.identity.push(("userArn", ident.arn.clone()));
    ctx.identity.push(("accountId", ident.account.clone()));
    ctx.identity
        .push(("accessKey", verified.access_key_id.clone()));
    ctx.identity
        .push(("caller", verified.access_key_id.clone()));
    ctx.identity.push(("user", ident.name.clone()));
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    #[test]
    fn arns() {
        assert_eq!(
            super::split_arn("arn:aws:iam::123456789012:user/alice"),
            ("123456789012".into(), "User", "alice".into())
        );
        assert_eq!(
            super::split_arn("arn:aws:sts::210987654321:assumed-role/r/s1"),
            ("210987654321".into(), "AssumedRole", "s1".into())
        );
        assert_eq!(
            super::split_arn("arn:aws:iam::123456789012:root").1,
            "Account"
        );
    }
}
