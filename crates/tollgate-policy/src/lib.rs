//! tollgate-policy: IAM policy grammar, evaluation and compiled decision trees (in progress).
//!
//! The signature of [`parse_policy`] is fixed: `tollgate-config` validates policies with it.

/// What shorthand resources (`execute-api:/stage/GET/path`) expand with.
#[derive(Debug, Clone, Copy)]
pub struct ExpandCtx<'a> {
    pub region: &'a str,
    pub account_id: &'a str,
    /// The API's id; `None` for identity policies (shorthand is then an error).
    pub api_id: Option<&'a str>,
}

/// A validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub raw: serde_json::Value,
}

/// One problem found in a policy document; `path` is relative to the document,
/// e.g. `Statement[1].Condition.IpAddress.aws:SourceIp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub path: String,
    pub message: String,
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

/// Parse and validate a policy document, collecting every error.
pub fn parse_policy(value: &serde_json::Value, _ctx: &ExpandCtx<'_>) -> Result<Policy, Vec<PolicyError>> {
    Ok(Policy { raw: value.clone() })
}
