//! Statement matching shared by the reference evaluator and the compiled tree.

use crate::PolicyKind;
use crate::parse::{PrincipalId, PrincipalSpec, Statement};
use crate::request::{Principal, Request};

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

pub(crate) fn principal_ok(st: &Statement, kind: PolicyKind, p: &Principal<'_>) -> bool {
    if kind == PolicyKind::Identity {
        return true;
    }
    match &st.principal {
        PrincipalSpec::Absent => true,
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

/// Does the statement apply to the request (principal, action, resource, every condition)?
pub(crate) fn statement_matches(
    st: &Statement,
    kind: PolicyKind,
    req: &Request<'_>,
    accel: bool,
) -> bool {
    action_ok(st, req.action)
        && resource_ok(st, req)
        && principal_ok(st, kind, &req.principal)
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
