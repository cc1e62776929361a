//! tollgate-policy: the IAM policy language as API Gateway uses it, answering "does this policy
//! allow `execute-api:Invoke` on this method ARN, for this caller, with these request facts?".
//! Pure: no I/O, the clock comes in through [`Facts`].
//!
//! Main types: [`parse_policy`] validates a document into a [`Policy`] (collecting every
//! [`PolicyError`] with its path); [`CompiledPolicy`] turns one or more policies into a decision
//! tree whose [`CompiledPolicy::decide`] returns a [`Decision`]; [`reference::evaluate`] is the
//! naive oracle with the same semantics; [`combine_same_account`] / [`combine_cross_account`]
//! are AWS's Tables A and B; [`access_denied_message`] renders the 403 texts.
//!
//! ```
//! use tollgate_policy::*;
//! let ctx = ExpandCtx { region: "us-east-1", account_id: "123456789012", api_id: Some("a1b2c3") };
//! let doc = serde_json::json!({
//!     "Version": "2012-10-17",
//!     "Statement": [
//!         {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
//!         {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
//!          "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}
//!     ]
//! });
//! let policy = parse_policy(&doc, &ctx).unwrap();
//! let tree = CompiledPolicy::new(PolicyKind::Resource, &[policy]);
//! let facts = Facts { source_ip: Some("198.51.100.7".parse().unwrap()), ..Facts::default() };
//! let req = Request {
//!     action: "execute-api:Invoke",
//!     resource: "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/prod/GET/pets",
//!     principal: Principal::Anonymous,
//!     facts: &facts,
//! };
//! assert_eq!(tree.decide(&req), Decision::Allow);
//! ```

mod compile;
mod cond;
mod eval;
mod glob;
mod identity;
mod ipset;
mod outcome;
mod parse;
mod request;
mod template;
mod time;

pub use compile::CompiledPolicy;
pub use eval::reference;
pub use identity::PrincipalInfo;
pub use outcome::{
    CallerKind, Decision, DenyCase, MessageStyle, access_denied_message, combine_cross_account,
    combine_same_account, deny_case, lambda_precheck_denies, mask_account, resource_policy_only,
};
pub use parse::Policy;
pub use request::{Facts, IamCaller, Principal, Request};

/// What shorthand resources (`execute-api:/stage/GET/path`) expand with.
#[derive(Debug, Clone, Copy)]
pub struct ExpandCtx<'a> {
    pub region: &'a str,
    pub account_id: &'a str,
    /// The API's id; `None` for identity policies (shorthand is then an error).
    pub api_id: Option<&'a str>,
}

/// One problem found in a policy document; `path` is relative to the document,
/// e.g. `Statement[1].Condition.IpAddress.aws:SourceIp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub path: String,
    pub message: String,
}

impl PolicyError {
    pub(crate) fn new(path: &str, message: impl Into<String>) -> PolicyError {
        PolicyError {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for PolicyError {}

/// How statements are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// An API's resource policy: `Principal` / `NotPrincipal` are checked against the caller.
    Resource,
    /// IAM identity policies and Lambda-authorizer policies: there is no principal element.
    Identity,
}

/// Parse and validate a policy document, collecting every error.
///
/// Shorthand resources are expanded with `ctx`; policy variables are recognised only when
/// `Version` is `2012-10-17`. Use [`Policy::check_kind`] for the rules that depend on where the
/// policy is attached (Principal required / forbidden).
pub fn parse_policy(
    value: &serde_json::Value,
    ctx: &ExpandCtx<'_>,
) -> Result<Policy, Vec<PolicyError>> {
    parse::parse(value, ctx)
}
