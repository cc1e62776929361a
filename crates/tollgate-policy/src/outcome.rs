//! Decisions, AWS's combination tables and the ACCESS_DENIED message texts.

/// The result of evaluating one set of policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// A matching `Allow` and no matching `Deny`.
    Allow,
    /// A matching `Deny` (wins over everything).
    ExplicitDeny,
    /// Nothing matched ("neither allow nor deny").
    ImplicitDeny,
}

impl Decision {
    /// True for [`Decision::Allow`].
    pub fn is_allow(self) -> bool {
        self == Decision::Allow
    }
}

/// Table A (caller and API in the same account; also every Lambda/Cognito authorizer result):
/// any explicit deny wins, then either side's allow suffices. `resource` is `None` when the
/// API has no resource policy (treated as "neither").
pub fn combine_same_account(identity: Decision, resource: Option<Decision>) -> Decision {
    let resource = resource.unwrap_or(Decision::ImplicitDeny);
    if identity == Decision::ExplicitDeny || resource == Decision::ExplicitDeny {
        Decision::ExplicitDeny
    } else if identity == Decision::Allow || resource == Decision::Allow {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Table B (IAM caller from another account): any explicit deny wins, and both sides must
/// allow. No resource policy means the resource side is silent, so the call is denied.
pub fn combine_cross_account(identity: Decision, resource: Option<Decision>) -> Decision {
    let resource = resource.unwrap_or(Decision::ImplicitDeny);
    if identity == Decision::ExplicitDeny || resource == Decision::ExplicitDeny {
        Decision::ExplicitDeny
    } else if identity == Decision::Allow && resource == Decision::Allow {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// The `NONE` rule: with only a resource policy, an explicit Allow is required. A method
/// without a resource policy is open (`None` ⇒ Allow).
pub fn resource_policy_only(resource: Option<Decision>) -> Decision {
    resource.unwrap_or(Decision::Allow)
}

/// The Lambda-authorizer pre-check: before the authorizer is called, the resource policy
/// (evaluated for an anonymous caller) only matters if it explicitly denies. Returns true when
/// the request must be refused without calling the authorizer.
pub fn lambda_precheck_denies(resource: Option<Decision>) -> bool {
    resource == Some(Decision::ExplicitDeny)
}

/// Which ACCESS_DENIED text to produce (spec §1.7 / §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyCase<'a> {
    /// A Lambda (or Cognito) authorizer's policy explicitly denies.
    AuthorizerExplicitDeny,
    /// A Lambda (or Cognito) authorizer's policy does not allow.
    AuthorizerImplicitDeny,
    /// The resource policy explicitly denies a non-IAM caller.
    AnonymousExplicitDeny,
    /// The resource policy does not allow a non-IAM caller (`NONE` methods).
    AnonymousNoAllow,
    /// IAM caller: no identity policy allows.
    IamNoIdentityAllow {
        /// Caller ARN.
        caller: &'a str,
    },
    /// IAM caller from another account: the resource policy does not allow.
    IamNoResourceAllow {
        /// Caller ARN.
        caller: &'a str,
    },
    /// IAM caller: an identity policy explicitly denies.
    IamExplicitDenyIdentity {
        /// Caller ARN.
        caller: &'a str,
    },
    /// IAM caller: the resource policy explicitly denies.
    IamExplicitDenyResource {
        /// Caller ARN.
        caller: &'a str,
    },
}

/// Current (2024+) texts, or the legacy (≤ 2023) ones (`gateway.error_messages: legacy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageStyle {
    /// 2024+ texts with "identity-based/resource-based policy" suffixes.
    #[default]
    Current,
    /// The older texts.
    Legacy,
}

/// How a request was authenticated, for [`deny_case`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind<'a> {
    /// `authorizationType: NONE`.
    Anonymous,
    /// Lambda or Cognito authorizer.
    Authorizer,
    /// SigV4-authenticated IAM caller.
    Iam {
        /// Caller ARN.
        arn: &'a str,
    },
}

/// Picks the message case for a denied request from the two component decisions (`identity` is
/// the authorizer's or the IAM identity policies' decision, `None` for `NONE` methods;
/// `resource` is `None` without a resource policy). Returns `None` if `final_decision` is Allow.
/// A resource-policy explicit deny is reported first.
pub fn deny_case<'a>(
    caller: CallerKind<'a>,
    identity: Option<Decision>,
    resource: Option<Decision>,
    final_decision: Decision,
) -> Option<DenyCase<'a>> {
    if final_decision == Decision::Allow {
        return None;
    }
    let res_deny = resource == Some(Decision::ExplicitDeny);
    let id_deny = identity == Some(Decision::ExplicitDeny);
    Some(match caller {
        CallerKind::Anonymous => {
            if res_deny {
                DenyCase::AnonymousExplicitDeny
            } else {
                DenyCase::AnonymousNoAllow
            }
        }
        CallerKind::Authorizer => {
            if res_deny {
                DenyCase::AnonymousExplicitDeny
            } else if id_deny {
                DenyCase::AuthorizerExplicitDeny
            } else {
                DenyCase::AuthorizerImplicitDeny
            }
        }
        CallerKind::Iam { arn } => {
            if res_deny {
                DenyCase::IamExplicitDenyResource { caller: arn }
            } else if id_deny {
                DenyCase::IamExplicitDenyIdentity { caller: arn }
            } else if identity != Some(Decision::Allow) {
                DenyCase::IamNoIdentityAllow { caller: arn }
            } else {
                DenyCase::IamNoResourceAllow { caller: arn }
            }
        }
    })
}

/// Masks the account segment of an ARN to eight asterisks and its last four characters:
/// `arn:aws:execute-api:eu-west-2:123456782087:api/dev/GET/a` →
/// `arn:aws:execute-api:eu-west-2:********2087:api/dev/GET/a`.
pub fn mask_account(arn: &str) -> String {
    let mut parts = arn.splitn(6, ':');
    let head: Vec<&str> = parts.by_ref().take(4).collect();
    let (Some(account), Some(rest)) = (parts.next(), parts.next()) else {
        return arn.to_string();
    };
    if head.len() != 4 {
        return arn.to_string();
    }
    let tail_start = account.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
    let tail = account.get(tail_start..).unwrap_or(account);
    format!("{}:********{tail}:{rest}", head.join(":"))
}

const NOT_AUTHORIZED: &str = "User is not authorized to access this resource";
const INVOKE: &str = "is not authorized to perform: execute-api:Invoke on resource:";

/// The `Message` of an ACCESS_DENIED (403) response; the gateway wraps it as
/// `{"Message":"..."}`. `resource_arn` is the method ARN (its account is masked here).
pub fn access_denied_message(
    case: DenyCase<'_>,
    resource_arn: &str,
    style: MessageStyle,
) -> String {
    let legacy = style == MessageStyle::Legacy;
    let arn = mask_account(resource_arn);
    let user = |who: &str, tail: &str| format!("User: {who} {INVOKE} {arn}{tail}");
    match case {
        DenyCase::AuthorizerExplicitDeny if legacy => {
            format!("{NOT_AUTHORIZED} with an explicit deny")
        }
        DenyCase::AuthorizerExplicitDeny => {
            format!("{NOT_AUTHORIZED} with an explicit deny in an identity-based policy")
        }
        DenyCase::AuthorizerImplicitDeny if legacy => NOT_AUTHORIZED.to_string(),
        DenyCase::AuthorizerImplicitDeny => {
            format!(
                "{NOT_AUTHORIZED} because no identity-based policy allows the execute-api:Invoke action"
            )
        }
        DenyCase::AnonymousExplicitDeny if legacy => user("anonymous", " with an explicit deny"),
        DenyCase::AnonymousExplicitDeny => user(
            "anonymous",
            " with an explicit deny in a resource-based policy",
        ),
        DenyCase::AnonymousNoAllow if legacy => user("anonymous", ""),
        DenyCase::AnonymousNoAllow => user(
            "anonymous",
            " because no resource-based policy allows the execute-api:Invoke action",
        ),
        DenyCase::IamNoIdentityAllow { caller } | DenyCase::IamNoResourceAllow { caller }
            if legacy =>
        {
            user(caller, "")
        }
        DenyCase::IamNoIdentityAllow { caller } => user(
            caller,
            " because no identity-based policy allows the execute-api:Invoke action.",
        ),
        DenyCase::IamNoResourceAllow { caller } => user(
            caller,
            " because no resource-based policy allows the execute-api:Invoke action",
        ),
        DenyCase::IamExplicitDenyIdentity { caller }
        | DenyCase::IamExplicitDenyResource { caller }
            if legacy =>
        {
            user(caller, " with an explicit deny")
        }
        DenyCase::IamExplicitDenyIdentity { caller } => {
            user(caller, " with an explicit deny in an identity-based policy")
        }
        DenyCase::IamExplicitDenyResource { caller } => {
            user(caller, " with an explicit deny in a resource-based policy")
        }
    }
}
