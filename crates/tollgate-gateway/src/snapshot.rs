//! The gateway's view of one configuration: the compiled config plus everything the data
//! path needs precomputed (integration templates, gateway-response tables, metric labels).
//! A `Snapshot` is immutable; the control side publishes a new one through `ArcSwap`.

use std::time::{Duration, SystemTime};

use tollgate_config::{Authorization, Compiled, Integration};

use crate::metrics::RouteLabel;
use crate::responses::{GatewayResponses, Override, ResponseType, Template};

/// One published configuration.
pub struct Snapshot {
    pub version: u64,
    pub loaded_at: SystemTime,
    pub compiled: Compiled,
    pub apis: Vec<ApiRt>,
    pub limits: tollgate_http::RequestLimits,
    pub max_body_bytes: u64,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    pub(crate) lambda: crate::lambda::Compiled,
    pub(crate) cognito: crate::cognito::Compiled,
    pub(crate) iam: crate::iam::Compiled,
}

pub struct ApiRt {
    pub responses: GatewayResponses,
    /// The API's resource policy compiled into a decision tree.
    pub resource_policy: Option<tollgate_policy::CompiledPolicy>,
    pub routes: Vec<RouteRt>,
}

pub struct RouteRt {
    pub label: RouteLabel,
    pub authorization: Authorization,
    pub integration: IntegrationRt,
}

pub enum IntegrationRt {
    Mock(MockRt),
    Proxy(ProxyRt),
}

pub struct MockRt {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub struct ProxyRt {
    pub uri: Vec<UriPart>,
    pub timeout: Duration,
    pub request_headers: Vec<(String, CtxExpr)>,
}

/// A piece of an integration URI template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriPart {
    Lit(String),
    PathParam(String),
    StageVar(String),
}

/// A context expression usable in `request_headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtxExpr {
    PrincipalId,
    AuthorizerKey(String),
    Claim(String),
    Identity(String),
    StageVar(String),
    Static(String),
}

impl CtxExpr {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
            return s.get(1..s.len() - 1).map(|v| CtxExpr::Static(v.to_owned()));
        }
        if s == "context.authorizer.principalId" {
            return Some(CtxExpr::PrincipalId);
        }
        if let Some(c) = s.strip_prefix("context.authorizer.claims.") {
            return Some(CtxExpr::Claim(c.to_owned()));
        }
        if let Some(k) = s.strip_prefix("context.authorizer.") {
            return Some(CtxExpr::AuthorizerKey(k.to_owned()));
        }
        if let Some(k) = s.strip_prefix("context.identity.") {
            return Some(CtxExpr::Identity(k.to_owned()));
        }
        if let Some(k) = s.strip_prefix("stageVariables.") {
            return Some(CtxExpr::StageVar(k.to_owned()));
        }
        None
    }
}

/// Split `http://${stageVariables.backend}/pets/{petId}` into parts.
pub fn parse_uri_template(uri: &str) -> Vec<UriPart> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = uri;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("${stageVariables.") {
            if let Some(end) = after.find('}') {
                if !lit.is_empty() {
                    parts.push(UriPart::Lit(std::mem::take(&mut lit)));
                }
                parts.push(UriPart::StageVar(after.get(..end).unwrap_or_default().to_owned()));
                rest = after.get(end + 1..).unwrap_or_default();
                continue;
            }
        }
        if c == '{' {
            if let Some(end) = rest.find('}') {
                let name = rest.get(1..end).unwrap_or_default();
                let name = name.strip_suffix('+').unwrap_or(name);
                if !lit.is_empty() {
                    parts.push(UriPart::Lit(std::mem::take(&mut lit)));
                }
                parts.push(UriPart::PathParam(name.to_owned()));
                rest = rest.get(end + 1..).unwrap_or_default();
                continue;
            }
        }
        lit.push(c);
        rest = rest.get(c.len_utf8()..).unwrap_or_default();
    }
    if !lit.is_empty() {
        parts.push(UriPart::Lit(lit));
    }
    parts
}

fn rtype_of(t: &tollgate_config::ResponseType) -> Option<ResponseType> {
    let name = serde_json::to_value(t).ok()?;
    ResponseType::from_name(name.as_str()?)
}

impl Snapshot {
    pub fn build(compiled: Compiled, version: u64) -> Self {
        let cfg = &compiled.config;
        let apis = cfg
            .apis
            .iter()
            .enumerate()
            .map(|(api_index, api)| {
                let resource_policy = compiled
                    .policies
                    .resource
                    .get(api_index)
                    .and_then(Option::as_ref)
                    .map(|p| tollgate_policy::CompiledPolicy::new(tollgate_policy::PolicyKind::Resource, std::slice::from_ref(p)));
                let mut responses = GatewayResponses::default();
                for (t, o) in &api.gateway_responses {
                    if let Some(rt) = rtype_of(t) {
                        responses.insert(
                            rt,
                            Override {
                                status: o.status,
                                headers: o.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                                body: o.body.as_deref().map(Template::compile),
                            },
                        );
                    }
                }
                let api_label = if api.name.is_empty() { api.id.clone() } else { api.name.clone() };
                let routes = api
                    .routes
                    .iter()
                    .map(|r| {
                        let methods: Vec<&str> = r.methods.iter().map(|m| m.as_str()).collect();
                        let label = RouteLabel::new(&api_label, &format!("{} {}", methods.join(","), r.path));
                        let integration = match &r.integration {
                            Integration::Mock(m) => IntegrationRt::Mock(MockRt {
                                status: m.status,
                                headers: m.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                                body: m.body.as_bytes().to_vec(),
                            }),
                            Integration::HttpProxy(p) => IntegrationRt::Proxy(ProxyRt {
                                uri: parse_uri_template(&p.uri),
                                timeout: Duration::from_millis(p.timeout_ms),
                                request_headers: p
                                    .request_headers
                                    .iter()
                                    .filter_map(|(k, v)| CtxExpr::parse(v).map(|e| (k.to_ascii_lowercase(), e)))
                                    .collect(),
                            }),
                        };
                        RouteRt { label, authorization: r.authorization, integration }
                    })
                    .collect();
                ApiRt { responses, resource_policy, routes }
            })
            .collect();
        let l = &cfg.gateway.limits;
        Snapshot {
            version,
            loaded_at: SystemTime::now(),
            limits: tollgate_http::RequestLimits { max_header_bytes: l.max_header_bytes, max_headers: 100 },
            max_body_bytes: l.max_body_bytes,
            header_timeout: Duration::from_millis(l.header_timeout_ms),
            idle_timeout: Duration::from_millis(l.idle_timeout_ms),
            connect_timeout: Duration::from_millis(cfg.gateway.upstream.connect_timeout_ms),
            apis,
            lambda: crate::lambda::Compiled::build(&compiled),
            cognito: crate::cognito::Compiled::build(&compiled),
            iam: crate::iam::Compiled::build(&compiled),
            compiled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_templates() {
        assert_eq!(
            parse_uri_template("http://${stageVariables.backend}/pets/{petId}/x/{proxy+}"),
            vec![
                UriPart::Lit("http://".into()),
                UriPart::StageVar("backend".into()),
                UriPart::Lit("/pets/".into()),
                UriPart::PathParam("petId".into()),
                UriPart::Lit("/x/".into()),
                UriPart::PathParam("proxy".into()),
            ]
        );
    }

    #[test]
    fn ctx_exprs() {
        assert_eq!(CtxExpr::parse("context.authorizer.claims.sub"), Some(CtxExpr::Claim("sub".into())));
        assert_eq!(CtxExpr::parse("context.authorizer.principalId"), Some(CtxExpr::PrincipalId));
        assert_eq!(CtxExpr::parse("'x'"), Some(CtxExpr::Static("x".into())));
        assert_eq!(CtxExpr::parse("nope"), None);
    }
}
