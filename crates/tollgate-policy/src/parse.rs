//! Policy documents: grammar, validation and the parsed form.

use serde_json::{Map, Value};

use crate::cond::{self, Condition};
use crate::glob::{PChar, Seg, compile_glob};
use crate::request::Key;
use crate::template::Template;
use crate::{ExpandCtx, PolicyError};

/// `Effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// One entry of a `Principal` / `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrincipalId {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous callers included.
    Any,
    /// An account id, or `arn:aws:iam::ID:root`: every IAM identity of that account.
    Account(String),
    /// One IAM ARN (user, role, assumed-role session).
    Arn(String),
    /// A `Service`/`Federated`/`CanonicalUser` principal: never an API Gateway caller.
    Never,
}

#[derive(Debug, Clone)]
pub(crate) enum PrincipalSpec {
    Absent,
    Only(Vec<PrincipalId>),
    Except(Vec<PrincipalId>),
}

#[derive(Debug, Clone)]
pub(crate) struct ActionPat {
    /// Lower-cased text.
    pub(crate) lower: String,
    pub(crate) seg: Seg,
    pub(crate) literal: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) effect: Effect,
    pub(crate) principal: PrincipalSpec,
    pub(crate) not_action: bool,
    pub(crate) actions: Vec<ActionPat>,
    pub(crate) not_resource: bool,
    pub(crate) resources: Vec<Template>,
    pub(crate) conditions: Vec<Condition>,
    /// Keys of the policy variables without a default in `resources` and condition values.
    /// When any of them has no value in the request the statement does not apply at all
    /// (IAM: an unresolvable variable makes the statement invalid), whatever the operator.
    pub(crate) required_vars: Vec<Key>,
}

/// A validated policy document (shorthand resources expanded, variables parsed).
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
    pub(crate) sids: Vec<Option<String>>,
    pub(crate) raw: Value,
    /// Region, account and API id the shorthand was expanded with.
    pub(crate) expanded_for: (String, String, Option<String>),
}

/// Two policies are equal when their documents are equal and shorthand resources were expanded
/// for the same API.
impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw && self.expanded_for == other.expanded_for
    }
}

impl Policy {
    /// The document as it was given.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The `Id` element.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Number of statements.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// True when the policy has no statement.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The `Sid` of each statement, in order.
    pub fn sids(&self) -> impl Iterator<Item = Option<&str>> {
        self.sids.iter().map(|s| s.as_deref())
    }

    /// Checks the rules that depend on where the policy is attached: a resource policy needs a
    /// `Principal` or `NotPrincipal` in every statement; identity and authorizer policies must
    /// have none.
    pub fn check_kind(&self, kind: crate::PolicyKind) -> Vec<PolicyError> {
        let many = self.raw.get("Statement").is_some_and(Value::is_array);
        let mut errs = Vec::new();
        for (i, st) in self.statements.iter().enumerate() {
            let path = if many {
                format!("Statement[{i}]")
            } else {
                "Statement".to_string()
            };
            match (kind, &st.principal) {
                (crate::PolicyKind::Resource, PrincipalSpec::Absent) => {
                    errs.push(PolicyError::new(
                        &path,
                        "a resource policy statement needs Principal or NotPrincipal",
                    ))
                }
                (
                    crate::PolicyKind::Identity,
                    PrincipalSpec::Only(_) | PrincipalSpec::Except(_),
                ) => {
                    errs.push(PolicyError::new(
                        &path,
                        "Principal and NotPrincipal are not allowed in identity or authorizer policies",
                    ));
                }
                _ => {}
            }
        }
        errs
    }
}

fn err(errs: &mut Vec<PolicyError>, path: &str, msg: impl Into<String>) {
    errs.push(PolicyError::new(path, msg));
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A string or a list of strings; returns `(path, value)` pairs.
fn string_list<'v>(
    v: &'v Value,
    path: &str,
    errs: &mut Vec<PolicyError>,
) -> Vec<(String, &'v str)> {
    match v {
        Value::String(s) => vec![(path.to_string(), s.as_str())],
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for (i, x) in a.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match x.as_str() {
                    Some(s) => out.push((p, s)),
                    None => err(errs, &p, "expected a string"),
                }
            }
            out
        }
        _ => {
            err(errs, path, "expected a string or a list of strings");
            Vec::new()
        }
    }
}

pub(crate) fn parse(v: &Value, ctx: &ExpandCtx<'_>) -> Result<Policy, Vec<PolicyError>> {
    let mut errs = Vec::new();
    let Some(obj) = v.as_object() else {
        return Err(vec![PolicyError::new("", "a policy must be a JSON object")]);
    };
    for k in obj.keys() {
        if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
            err(
                &mut errs,
                k,
                "unknown key (expected Version, Id, Statement)",
            );
        }
    }
    let vars = match obj.get("Version") {
        None => false,
        Some(Value::String(s)) if s == "2012-10-17" => true,
        Some(Value::String(s)) if s == "2008-10-17" => false,
        Some(_) => {
            err(
                &mut errs,
                "Version",
                "expected \"2012-10-17\" or \"2008-10-17\"",
            );
            false
        }
    };
    let id = match obj.get("Id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            err(&mut errs, "Id", "expected a string");
            None
        }
    };
    let mut statements = Vec::new();
    let mut sids = Vec::new();
    match obj.get("Statement") {
        None => err(&mut errs, "Statement", "required"),
        Some(Value::Object(st)) => {
            if let Some((s, sid)) = parse_statement(st, "Statement", vars, ctx, &mut errs) {
                statements.push(s);
                sids.push(sid);
            }
        }
        Some(Value::Array(list)) => {
            for (i, st) in list.iter().enumerate() {
                let path = format!("Statement[{i}]");
                match st.as_object() {
                    Some(st) => {
                        if let Some((s, sid)) = parse_statement(st, &path, vars, ctx, &mut errs) {
                            statements.push(s);
                            sids.push(sid);
                        }
                    }
                    None => err(&mut errs, &path, "expected an object"),
                }
            }
        }
        Some(_) => err(
            &mut errs,
            "Statement",
            "expected an object or a list of objects",
        ),
    }
    if errs.is_empty() {
        Ok(Policy {
            id,
            statements,
            sids,
            raw: v.clone(),
            expanded_for: (
                ctx.region.to_string(),
                ctx.account_id.to_string(),
                ctx.api_id.map(str::to_string),
            ),
        })
    } else {
        Err(errs)
    }
}

fn parse_statement(
    st: &Map<String, Value>,
    path: &str,
    vars: bool,
    ctx: &ExpandCtx<'_>,
    errs: &mut Vec<PolicyError>,
) -> Option<(Statement, Option<String>)> {
    let before = errs.len();
    for k in st.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            err(errs, &join(path, k), "unknown key");
        }
    }
    let sid = match st.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            err(errs, &join(path, "Sid"), "expected a string");
            None
        }
    };
    let effect = match st.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Some(Effect::Allow),
        Some("Deny") => Some(Effect::Deny),
        _ => {
            err(
                errs,
                &join(path, "Effect"),
                "expected \"Allow\" or \"Deny\"",
            );
            None
        }
    };
    let principal = match (st.get("Principal"), st.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            err(
                errs,
                path,
                "Principal and NotPrincipal are mutually exclusive",
            );
            PrincipalSpec::Absent
        }
        (Some(p), None) => PrincipalSpec::Only(parse_principal(p, &join(path, "Principal"), errs)),
        (None, Some(p)) => {
            PrincipalSpec::Except(parse_principal(p, &join(path, "NotPrincipal"), errs))
        }
        (None, None) => PrincipalSpec::Absent,
    };
    let (not_action, action_v, action_name) = match (st.get("Action"), st.get("NotAction")) {
        (Some(_), Some(_)) => {
            err(errs, path, "Action and NotAction are mutually exclusive");
            (false, None, "Action")
        }
        (Some(a), None) => (false, Some(a), "Action"),
        (None, Some(a)) => (true, Some(a), "NotAction"),
        (None, None) => {
            err(
                errs,
                &join(path, "Action"),
                "required (Action or NotAction)",
            );
            (false, None, "Action")
        }
    };
    let mut actions = Vec::new();
    if let Some(a) = action_v {
        for (p, s) in string_list(a, &join(path, action_name), errs) {
            if s != "*"
                && !s
                    .split_once(':')
                    .is_some_and(|(svc, name)| !svc.is_empty() && !name.is_empty())
            {
                err(errs, &p, "expected \"*\" or \"service:action\"");
                continue;
            }
            let lower = s.to_lowercase();
            let glob = compile_glob(&lower);
            let literal = glob.iter().all(|c| matches!(c, PChar::Ch(_)));
            let seg = Seg::new(&glob, true);
            actions.push(ActionPat {
                lower,
                seg,
                literal,
            });
        }
    }
    let (not_resource, res_v, res_name) = match (st.get("Resource"), st.get("NotResource")) {
        (Some(_), Some(_)) => {
            err(
                errs,
                path,
                "Resource and NotResource are mutually exclusive",
            );
            (false, None, "Resource")
        }
        (Some(a), None) => (false, Some(a), "Resource"),
        (None, Some(a)) => (true, Some(a), "NotResource"),
        (None, None) => {
            err(
                errs,
                &join(path, "Resource"),
                "required (Resource or NotResource)",
            );
            (false, None, "Resource")
        }
    };
    let mut resources = Vec::new();
    if let Some(r) = res_v {
        for (p, s) in string_list(r, &join(path, res_name), errs) {
            if let Some(rest) = s.strip_prefix("execute-api:/") {
                match ctx.api_id {
                    Some(api) => {
                        let full = format!(
                            "arn:aws:execute-api:{}:{}:{api}/{rest}",
                            ctx.region, ctx.account_id
                        );
                        resources.push(Template::parse(&full, vars));
                    }
                    None => err(
                        errs,
                        &p,
                        "the execute-api:/ shorthand needs an API; use a full ARN",
                    ),
                }
            } else if s == "*" || (s.starts_with("arn:") && s.matches(':').count() >= 5) {
                resources.push(Template::parse(s, vars));
            } else {
                err(
                    errs,
                    &p,
                    "expected \"*\", an ARN (arn:partition:service:region:account:resource) or execute-api:/stage/METHOD/path",
                );
            }
        }
    }
    let conditions = match st.get("Condition") {
        Some(c) => cond::parse_block(c, &join(path, "Condition"), vars, errs),
        None => Vec::new(),
    };
    if errs.len() > before {
        return None;
    }
    let mut required_vars: Vec<Key> = Vec::new();
    let cond_templates = conditions.iter().flat_map(|c| match &c.values {
        cond::Values::Str(ts) => ts.as_slice(),
        _ => &[],
    });
    for t in resources.iter().chain(cond_templates) {
        for k in t.required_keys() {
            if !required_vars.contains(k) {
                required_vars.push(k.clone());
            }
        }
    }
    Some((
        Statement {
            effect: effect?,
            principal,
            not_action,
            actions,
            not_resource,
            resources,
            conditions,
            required_vars,
        },
        sid,
    ))
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_principal(v: &Value, path: &str, errs: &mut Vec<PolicyError>) -> Vec<PrincipalId> {
    match v {
        Value::String(s) if s == "*" => vec![PrincipalId::Any],
        Value::Object(m) => {
            let mut out = Vec::new();
            for (k, vals) in m {
                let p = join(path, k);
                let list = string_list(vals, &p, errs);
                match k.as_str() {
                    "AWS" => {
                        for (vp, s) in list {
                            if s == "*" {
                                out.push(PrincipalId::Any);
                            } else if is_account_id(s) {
                                out.push(PrincipalId::Account(s.to_string()));
                            } else if s.starts_with("arn:") && s.matches(':').count() >= 5 {
                                if s.contains('*') || s.contains('?') {
                                    err(errs, &vp, "wildcards are not allowed in principal ARNs");
                                    continue;
                                }
                                let mut parts = s.splitn(6, ':');
                                let (svc, acct, res) = (parts.nth(2), parts.nth(1), parts.next());
                                match (svc, acct, res) {
                                    (Some("iam"), Some(a), Some("root")) => {
                                        out.push(PrincipalId::Account(a.to_string()))
                                    }
                                    _ => out.push(PrincipalId::Arn(s.to_string())),
                                }
                            } else {
                                err(
                                    errs,
                                    &vp,
                                    "expected \"*\", a 12-digit account id or an IAM ARN",
                                );
                            }
                        }
                    }
                    "Service" | "Federated" | "CanonicalUser" => {
                        out.extend(list.iter().map(|_| PrincipalId::Never))
                    }
                    _ => err(
                        errs,
                        &p,
                        "unknown principal type (expected AWS, Service, Federated, CanonicalUser)",
                    ),
                }
            }
            out
        }
        _ => {
            err(
                errs,
                path,
                "expected \"*\" or an object such as {\"AWS\": ...}",
            );
            Vec::new()
        }
    }
}
