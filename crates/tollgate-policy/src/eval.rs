//! Statement matching shared by the reference evaluator and the compiled tree.

use crate::PolicyKind;
use crate::parse::{Effect, PrincipalId, PrincipalSpec, Statement};
use crate::request::{Principal, Request, lookup};

fn id_matches(id: &PrincipalId, p: &Principal<'_>) -> bool {
    match (id, p) {
        (PrincipalId::Any, _) => true,
        (PrincipalId::Never, _) | (_, Principal::Anonymous) => false,
        (PrincipalId::Account(a), Principal::Iam(c)) => c.account == a,
        (PrincipalId::Arn(x), Principal::Iam(c)) => {
            c.arn == x || c.principal_arn == Some(x.as_str())
        }
    }
}

/// The account of the resource (the fifth field of the method ARN).
fn resource_account(resource: &str) -> Option<&str> {
    resource
        .strip_prefix("arn:")
        .and_then(|r| r.split(':').nth(3))
}

/// Does `id` in the `Principal` of an **Allow** statement grant to the caller by itself?
///
/// An account principal (`"AWS": "ACCT"` / `arn:aws:iam::ACCT:root`) delegates to the
/// account's own IAM policies (IAM User Guide, Principal element, "AWS account principals").
/// Across accounts that delegation is what Table B needs on the resource side. Within the
/// resource's own account it grants nothing by itself: the caller's identity policy must
/// allow, so the statement is skipped for every caller of that account but its root user.
fn id_grants(id: &PrincipalId, req: &Request<'_>) -> bool {
    match (id, &req.principal) {
        (PrincipalId::Account(a), Principal::Iam(c)) => {
            c.account == a
                && (resource_account(req.resource) != Some(a.as_str()) || is_account_root(c.arn, a))
        }
        _ => id_matches(id, &req.principal),
    }
}

fn is_account_root(arn: &str, account: &str) -> bool {
    arn.strip_prefix("arn:")
        .and_then(|r| r.split_once(':'))
        .and_then(|(_partition, r)| r.strip_prefix("iam::"))
        .and_then(|r| r.strip_prefix(account))
        == Some(":root")
}

pub(crate) fn principal_ok(st: &Statement, kind: PolicyKind, req: &Request<'_>) -> bool {
    if kind == PolicyKind::Identity {
        return true;
    }
    let p = &req.principal;
    match &st.principal {
        PrincipalSpec::Absent => true,
        PrincipalSpec::Only(ids) if st.effect == Effect::Allow => {
            ids.iter().any(|i| id_grants(i, req))
        }
        PrincipalSpec::Only(ids) => ids.iter().any(|i| id_matches(i, p)),
        PrincipalSpec::Except(ids) => !ids.iter().any(|i| id_matches(i, p)),
    }
}

pub(crate) fn action_ok(st: &Statement, action: &str) -> bool {
    st.actions.iter().any(|a| a.seg.matches(action, true)) != st.not_action
}

pub(crate) fn resource_ok(st: &Statement, req: &Request<'_>) -> bool {
    st.resources
        .iter()
        .any(|r| r.arn_matches(req, req.resource))
        != st.not_resource
}

/// Every policy variable of the statement (without a default) has a value in the request.
/// IAM: a variable that cannot be resolved makes the whole statement invalid, so it neither
/// allows nor denies, even inside `NotResource` or a negated operator.
pub(crate) fn vars_resolved(st: &Statement, req: &Request<'_>) -> bool {
    st.required_vars.iter().all(|k| lookup(k, req).is_some())
}

/// Does the statement apply to the request (principal, action, resource, every condition)?
pub(crate) fn statement_matches(
    st: &Statement,
    kind: PolicyKind,
    req: &Request<'_>,
    accel: bool,
) -> bool {
    vars_resolved(st, req)
        && action_ok(st, req.action)
        && resource_ok(st, req)
        && principal_ok(st, kind, req)
        && st.conditions.iter().all(|c| c.eval(req, accel))
}

/// The naive evaluator: every statement of every policy, in order. It is the oracle the
/// compiled tree is tested against.
pub mod reference {
    use super::statement_matches;
    use crate::parse::Effect;
    use crate::{Decision, Policy, PolicyKind, Request};

    /// Explicit deny if any matching statement denies, else allow if any matching statement
    /// allows, else implicit deny.
    pub fn evaluate(kind: PolicyKind, policies: &[Policy], req: &Request<'_>) -> Decision {
        let mut allowed = false;
        for p in policies {
            for st in &p.statements {
                if statement_matches(st, kind, req, false) {
                    match st.effect {
                        Effect::Deny => return Decision::ExplicitDeny,
                        Effect::Allow => allowed = true,
                    }
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}
