//! Authorization of a routed request. Each authorization type ends in a [`Permit`] (which only
//! this module can make) or a gateway error; the integration runs only with a `Permit`.
//!
//! Every type shares one request view ([`AuthRequest`]) and one context type for what the
//! backend may learn ([`AuthContext`]). The per-type modules ([`iam`], [`cognito`], [`lambda`])
//! decide; this module dispatches. Authorizers see only an [`AuthEnv`]: the worker's caches
//! and metrics, the clock, and the route's compiled authorizer and resource policy (never the
//! worker or the whole configuration snapshot).

pub(crate) mod cognito;
pub(crate) mod iam;
pub mod lambda;

use std::collections::BTreeMap;
use std::net::IpAddr;

use tollgate_config::Authorization;
use tollgate_http::RequestHead;

use tollgate_policy::{CallerKind, Decision, Facts, MessageStyle, Principal, Request};

use crate::error::GatewayError;
use crate::metrics::WorkerMetrics;
use crate::responses::ResponseType;
use crate::router::OwnedMatch;

/// A worker's own authorization caches (one per worker thread, no locks).
pub(crate) struct WorkerCaches {
    pub lambda: lambda::WorkerState,
    pub cognito: cognito::WorkerState,
    pub iam: iam::WorkerState,
}

impl WorkerCaches {
    pub(crate) fn new(lambda_l1_bytes: usize) -> Self {
        Self {
            lambda: lambda::WorkerState::new(lambda_l1_bytes),
            cognito: cognito::WorkerState::default(),
            iam: iam::WorkerState::default(),
        }
    }
}

/// The caches all workers share (second-level, with single-flight).
pub(crate) struct SharedCaches {
    pub lambda: lambda::SharedState,
    pub cognito: cognito::SharedState,
}

/// The route's compiled authorizer, as the configuration snapshot holds it.
#[derive(Clone, Copy)]
pub(crate) enum RouteAuthorizer<'a> {
    /// `NONE`: only the resource policy decides.
    None,
    /// `AWS_IAM`: the configured identities and their policies.
    Iam(&'a iam::Compiled),
    /// `COGNITO_USER_POOLS`: the authorizer (`None`: the route names no Cognito authorizer)
    /// and the route's required scopes.
    Cognito(Option<&'a cognito::AuthorizerRt>, &'a [String]),
    /// `CUSTOM`: the Lambda authorizer and its configuration (`None`: not a Lambda authorizer).
    Lambda(Option<(&'a lambda::Rt, &'a tollgate_config::CompiledAuthorizer)>),
}

/// Everything an authorizer may use besides the request.
pub(crate) struct AuthEnv<'a> {
    pub metrics: &'a WorkerMetrics,
    pub caches: &'a WorkerCaches,
    pub shared: &'a SharedCaches,
    /// The wall clock (policy conditions, signature dates, token expiry); read only by the
    /// steps that need it.
    pub clock: fn() -> std::time::SystemTime,
    pub authorizer: RouteAuthorizer<'a>,
    /// The API's resource policy compiled into a decision tree.
    pub resource_policy: Option<&'a tollgate_policy::CompiledPolicy>,
    /// `gateway.account_id` (same-account policy evaluation, Lambda events).
    pub account_id: &'a str,
    /// `gateway.region` (policy variables in a Lambda authorizer's answer).
    pub region: &'a str,
    /// Which 403 texts this configuration emits.
    pub message_style: MessageStyle,
    /// The TLS client for `https://` function URLs (`gateway.upstream.ca_file`).
    pub client_tls: &'a Result<tollgate_tls::ClientTls, String>,
}

impl AuthEnv<'_> {
    /// Seconds since the Unix epoch, now.
    pub(crate) fn now_epoch(&self) -> i64 {
        (self.clock)()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// What the backend may learn about the caller (`request_headers` mappings).
#[derive(Debug, Default, Clone)]
pub struct AuthContext {
    /// `context.authorizer.principalId`.
    pub principal_id: Option<String>,
    /// `context.authorizer.<key>` (values stringified as AWS does).
    pub authorizer: Vec<(String, String)>,
    /// `context.authorizer.claims.<name>` (shared with the token cache's entry: a cache hit
    /// copies no claim).
    pub claims: std::sync::Arc<[(String, String)]>,
    /// `context.identity.<field>`.
    pub identity: Vec<(&'static str, String)>,
}

impl AuthContext {
    /// Who was let in, for the access log: the Lambda `principalId`, the IAM caller's ARN or
    /// the Cognito `sub` (never a token or a secret).
    pub fn principal(&self) -> Option<&str> {
        self.principal_id
            .as_deref()
            .or_else(|| {
                self.identity
                    .iter()
                    .find(|(n, _)| *n == "userArn")
                    .map(|(_, v)| v.as_str())
            })
            .or_else(|| {
                self.claims
                    .iter()
                    .find(|(n, _)| n == "sub")
                    .map(|(_, v)| v.as_str())
            })
    }
}

/// Proof that a request was authorized. Not constructible outside this module (the private
/// field is the point: `#[non_exhaustive]` would only guard against other crates).
#[allow(clippy::manual_non_exhaustive)]
pub struct Permit {
    pub ctx: AuthContext,
    _private: (),
}

/// Everything an authorization step may look at.
pub(crate) struct AuthRequest<'a> {
    /// The connection buffer the head's spans point into.
    pub buf: &'a [u8],
    pub head: &'a RequestHead,
    pub route: &'a OwnedMatch<'a>,
    pub api_id: &'a str,
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`.
    pub method_arn: &'a str,
    /// `aws:SourceIp` (the socket peer, the PROXY header's source, or a trusted proxy's XFF).
    pub source_ip: IpAddr,
    /// `aws:SourceVpce` from a PROXY v2 AWS TLV.
    pub vpce_id: Option<&'a str>,
    /// The whole request body, when it was buffered (AWS_IAM payload hash).
    pub body: Option<&'a [u8]>,
    pub stage_vars: Option<&'a BTreeMap<String, String>>,
    pub user_agent: Option<&'a str>,
    /// Whether the integration reads `context.identity` (an `http_proxy` parameter mapping
    /// may): a mock answer does not, and then the base identity is not built (no allocation).
    pub wants_identity: bool,
    /// Whether anything reads the caller's identity an authorizer adds (`userArn`,
    /// `accessKey`...): the integration ([`AuthRequest::wants_identity`]) or the access log.
    /// An `AWS_IAM` mock route with the log off then copies no identity strings.
    pub wants_caller: bool,
    /// The request's `x-amzn-RequestId` (lambda: `requestContext.requestId` of REQUEST events).
    pub request_id: &'a str,
    /// The client certificate of a mutual-TLS connection (`requestContext.identity.clientCert`).
    pub client_cert: Option<&'a tollgate_tls::ClientCertInfo>,
}

impl AuthRequest<'_> {
    /// The first value of a request header (case-insensitive name).
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.head.header(self.buf, name)
    }

    /// The value of a header that must appear at most once (an identity source, a Cognito or
    /// TOKEN `Authorization`): `Err` when it is repeated, so that the value a cache key is made
    /// of and the value the function or the upstream sees can never differ.
    pub fn single_header(&self, name: &[u8]) -> Result<Option<&[u8]>, GatewayError> {
        let mut values = self.head.headers_named(self.buf, name);
        let first = values.next();
        if values.next().is_some() {
            return Err(repeated_identity_source());
        }
        Ok(first)
    }
}

/// 400 for a repeated identity source, like a repeated `Host` (no call, nothing cached).
pub(crate) fn repeated_identity_source() -> GatewayError {
    GatewayError::bad_request()
}

/// The context every authorized request carries (`context.identity.sourceIp`, `.userAgent`).
fn base_context(req: &AuthRequest<'_>) -> AuthContext {
    let mut ctx = AuthContext::default();
    if !req.wants_identity {
        return ctx;
    }
    ctx.identity.push(("sourceIp", req.source_ip.to_string()));
    if let Some(ua) = req.user_agent {
        ctx.identity.push(("userAgent", ua.to_owned()));
    }
    if let Some(c) = req.client_cert {
        for (name, v) in [
            ("clientCert.clientCertPem", &c.client_cert_pem),
            ("clientCert.subjectDN", &c.subject_dn),
            ("clientCert.issuerDN", &c.issuer_dn),
            ("clientCert.serialNumber", &c.serial_number),
            ("clientCert.validity.notBefore", &c.not_before),
            ("clientCert.validity.notAfter", &c.not_after),
        ] {
            ctx.identity.push((name, v.clone()));
        }
    }
    ctx
}

/// Decide. Types whose enforcement is not built yet refuse every request.
pub(crate) async fn authorize(
    env: &AuthEnv<'_>,
    authorization: Authorization,
    req: &AuthRequest<'_>,
) -> Result<Permit, GatewayError> {
    let ctx = base_context(req);
    if authorization != Authorization::None && req.method_arn.len() > MAX_METHOD_ARN {
        return Err(GatewayError::uri_too_long());
    }
    let ctx = match authorization {
        Authorization::None => {
            let resource = resource_decision(env, req, Principal::Anonymous);
            let decision = tollgate_policy::resource_policy_only(resource);
            if decision != Decision::Allow {
                return Err(access_denied(
                    env,
                    req,
                    CallerKind::Anonymous,
                    None,
                    resource,
                    decision,
                ));
            }
            ctx
        }
        // Boxed: their futures (several KiB: JWKS fetches, Lambda calls) would otherwise be
        // part of every request's state, `NONE` routes included, and of every busy connection.
        Authorization::AwsIam => Box::pin(iam::authorize(env, req, ctx)).await?,
        Authorization::CognitoUserPools => Box::pin(cognito::authorize(env, req, ctx)).await?,
        Authorization::Custom => Box::pin(lambda::authorize(env, req, ctx)).await?,
    };
    Ok(Permit { ctx, _private: () })
}

/// The metrics outcome of an authorization result.
pub(crate) fn outcome_of<T>(res: &Result<T, GatewayError>) -> crate::metrics::Outcome {
    use crate::metrics::Outcome;
    match res {
        Ok(_) => Outcome::Allow,
        Err(e) => match e.rtype {
            ResponseType::AccessDenied => Outcome::Deny,
            ResponseType::Unauthorized => Outcome::Unauthorized,
            _ => Outcome::Error,
        },
    }
}

/// AWS answers 414 when an authorized method's ARN is longer than this.
pub(crate) const MAX_METHOD_ARN: usize = 1600;

/// The facts policies see for this request (`aws:SourceIp`, `aws:SourceVpce`, time, headers).
/// A request that came through a VPC endpoint has no `aws:SourceIp`, only `aws:VpcSourceIp`.
pub(crate) fn facts<'a>(env: &AuthEnv<'_>, req: &'a AuthRequest<'a>) -> Facts<'a> {
    let now = env.now_epoch();
    let via_vpce = req.vpce_id.is_some();
    Facts {
        source_ip: if via_vpce { None } else { Some(req.source_ip) },
        vpc_source_ip: if via_vpce { Some(req.source_ip) } else { None },
        source_vpc: None,
        source_vpce: req.vpce_id,
        now_epoch_secs: now,
        secure_transport: false,
        user_agent: req.user_agent,
        referer: req
            .header(b"referer")
            .and_then(|v| std::str::from_utf8(v).ok()),
    }
}

/// The API's resource policy decision for `principal`, `None` when the API has none.
pub(crate) fn resource_decision(
    env: &AuthEnv<'_>,
    req: &AuthRequest<'_>,
    principal: Principal<'_>,
) -> Option<Decision> {
    let tree = env.resource_policy?;
    let facts = facts(env, req);
    Some(tree.decide(&Request {
        action: "execute-api:Invoke",
        resource: req.method_arn,
        principal,
        facts: &facts,
    }))
}

/// Which 403 texts a configuration emits.
pub(crate) fn message_style(gateway: &tollgate_config::GatewaySection) -> MessageStyle {
    match gateway.error_messages {
        tollgate_config::ErrorMessages::Current => MessageStyle::Current,
        tollgate_config::ErrorMessages::Legacy => MessageStyle::Legacy,
    }
}

/// The ACCESS_DENIED answer for a denied request.
pub(crate) fn access_denied(
    env: &AuthEnv<'_>,
    req: &AuthRequest<'_>,
    caller: CallerKind<'_>,
    identity: Option<Decision>,
    resource: Option<Decision>,
    decision: Decision,
) -> GatewayError {
    let case = tollgate_policy::deny_case(caller, identity, resource, decision)
        .unwrap_or(tollgate_policy::DenyCase::AnonymousNoAllow);
    GatewayError::access_denied(tollgate_policy::access_denied_message(
        case,
        req.method_arn,
        env.message_style,
    ))
    .with_reason(format!(
        "access denied: {} (identity policy: {}, resource policy: {})",
        decision_text(Some(decision)),
        decision_text(identity),
        decision_text(resource)
    ))
}

/// A policy decision as the logs name it.
fn decision_text(d: Option<Decision>) -> &'static str {
    match d {
        None => "none",
        Some(Decision::Allow) => "allow",
        Some(Decision::ExplicitDeny) => "explicit deny",
        Some(Decision::ImplicitDeny) => "no allow",
    }
}
