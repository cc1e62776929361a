//! The compiled, immutable form of a validated configuration.

use std::collections::{BTreeMap, HashMap};

use regex::Regex;
use tollgate_policy::Policy;

use crate::access_log::AccessLogFormat;
use crate::router::Router;
use crate::schema::{Authorizer, Config, ResponseType, Route};

/// One validated configuration, ready to publish (e.g. through `ArcSwap`).
///
/// Each authorizer and each route is one value holding its configuration and its compiled
/// parts ([`CompiledAuthorizer`], [`CompiledRoute`]); a route names its authorizer by index
/// into [`Compiled::authorizers`], and [`Compiled::authorizer`] finds one by name.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The validated file, with relative file paths resolved against the config's directory.
    pub config: Config,
    pub router: Router,
    /// Lowercase hex SHA-256 of the source text.
    pub sha256: String,
    pub policies: Policies,
    /// Access key id -> credential (secrets resolved from `secret_env` / `secret_file`).
    pub credentials: HashMap<String, Credential>,
    /// The authorizers, in file order.
    pub authorizers: Vec<CompiledAuthorizer>,
    /// `routes[api][route]`: the indices a [`crate::RouteMatch`] carries.
    pub routes: Vec<Vec<CompiledRoute>>,
    /// What the configuration states that tollgate does not honour (from `openapi_file`
    /// documents), each naming its place; the gateway logs them.
    pub warnings: Vec<crate::error::ConfigError>,
    /// `gateway.access_log_format`, parsed (absent: the JSON record).
    pub access_log_format: Option<AccessLogFormat>,
    /// Per listener (same order as `gateway.listeners`): its built TLS configuration, `None`
    /// for a plaintext listener. Built from the files when the configuration is loaded.
    pub listener_tls: Vec<Option<tollgate_tls::ServerTls>>,
    /// The client TLS configuration for `https://` URLs (`gateway.upstream.ca_file`, or the
    /// system's roots); `Err`: why there is none (the system has no roots), the reason an
    /// `https://` call then fails with.
    pub client_tls: Result<tollgate_tls::ClientTls, String>,
    /// Authorizer name -> index into `authorizers`.
    by_name: HashMap<String, usize>,
}

impl Compiled {
    /// Assemble the compiled parts (the loader's last step).
    pub(crate) fn new(
        config: Config,
        router: Router,
        sha256: String,
        policies: Policies,
        credentials: HashMap<String, Credential>,
        authorizers: Vec<CompiledAuthorizer>,
        routes: Vec<Vec<CompiledRoute>>,
    ) -> Self {
        let by_name = authorizers
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.clone(), i))
            .collect();
        // Validated by the loader: a format that does not parse cannot reach here.
        let access_log_format = config
            .gateway
            .access_log_format
            .as_deref()
            .and_then(|f| AccessLogFormat::parse(f).ok());
        Compiled {
            access_log_format,
            config,
            router,
            sha256,
            policies,
            credentials,
            authorizers,
            routes,
            warnings: Vec::new(),
            listener_tls: Vec::new(),
            client_tls: Err("not built".to_owned()),
            by_name,
        }
    }

    /// Route `route` of API `api` (as the router's match gives them).
    pub fn route(&self, api: usize, route: usize) -> Option<&CompiledRoute> {
        self.routes.get(api).and_then(|r| r.get(route))
    }

    /// The authorizer called `name`.
    pub fn authorizer(&self, name: &str) -> Option<&CompiledAuthorizer> {
        self.by_name
            .get(name)
            .and_then(|&i| self.authorizers.get(i))
    }

    /// The authorizer of route `route` of API `api`, with its index in `authorizers`.
    pub fn route_authorizer(
        &self,
        api: usize,
        route: usize,
    ) -> Option<(usize, &CompiledAuthorizer)> {
        let i = self.route(api, route)?.authorizer?;
        Some((i, self.authorizers.get(i)?))
    }

    /// The gateway response override of API `api` for `ty`, if any.
    pub fn gateway_response(
        &self,
        api: usize,
        ty: ResponseType,
    ) -> Option<&crate::schema::GatewayResponse> {
        self.config
            .apis
            .get(api)
            .and_then(|a| a.gateway_responses.get(&ty))
    }
}

/// Parsed policies.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// Per API (same order as `config.apis`): its resource policy, if any.
    pub resource: Vec<Option<Policy>>,
    /// Per identity (same order as `config.identities`): its identity-based policies.
    pub identity: Vec<Vec<Policy>>,
}

/// One access key with its secret resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Index into `config.identities`.
    pub identity: usize,
    pub access_key_id: String,
    pub secret: String,
    pub session_token: Option<String>,
    /// Expiry as Unix seconds.
    pub expires_unix: Option<i64>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("identity", &self.identity)
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_unix", &self.expires_unix)
            .finish()
    }
}

/// Where an identity-source value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentitySource {
    /// `method.request.header.X`; the name is stored lowercase.
    Header(String),
    /// `method.request.querystring.X` (case-sensitive).
    QueryString(String),
    /// `stageVariables.X`.
    StageVariable(String),
    /// `context.X` (e.g. `context.identity.sourceIp`).
    Context(String),
}

/// One authorizer: its configuration and compiled parts.
#[derive(Debug, Clone)]
pub struct CompiledAuthorizer {
    /// Its `name`.
    pub name: String,
    /// The authorizer as configured (file paths resolved).
    pub config: Authorizer,
    /// TOKEN / COGNITO: exactly one header; REQUEST: zero or more sources.
    pub identity_sources: Vec<IdentitySource>,
    /// `identity_validation_expression`, anchored (`^(?:...)$`).
    pub validation: Option<Regex>,
    /// COGNITO with `jwks.file`: the file's JSON (a mapping with `keys`).
    pub jwks: Option<serde_json::Value>,
    /// COGNITO: accepted `iss` values (the configured issuer, else one per provider ARN).
    pub issuers: Vec<String>,
}

/// One route: its configuration and what the data path needs compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledRoute {
    /// The route as configured (path template, methods, authorization, scopes, integration).
    pub config: Route,
    /// Index into [`Compiled::authorizers`] for COGNITO_USER_POOLS / CUSTOM routes.
    pub authorizer: Option<usize>,
    /// `http_proxy` only.
    pub uri: Option<UriTemplate>,
    /// `http_proxy` only: upstream header name (lowercase) <- value.
    pub request_headers: Vec<(String, ContextExpr)>,
}

/// An integration URI split into literal text and variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate {
    pub parts: Vec<UriPart>,
}

/// One piece of a [`UriTemplate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriPart {
    Literal(String),
    /// `{name}` (or `{name+}` / `{name}` for a greedy parameter): the route's path parameter.
    PathParam(String),
    /// `${stageVariables.name}`.
    StageVariable(String),
}

impl UriTemplate {
    /// Substitute variables. `param` gives a path parameter's value (already encoded as the
    /// gateway wants it); stage variables come from `stage_vars`. Unknown names render empty
    /// (validation guarantees they exist).
    pub fn render<'a>(
        &self,
        param: impl Fn(&str) -> Option<&'a str>,
        stage_vars: &BTreeMap<String, String>,
    ) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                UriPart::Literal(s) => out.push_str(s),
                UriPart::PathParam(n) => out.push_str(param(n).unwrap_or("")),
                UriPart::StageVariable(n) => {
                    out.push_str(stage_vars.get(n).map_or("", String::as_str))
                }
            }
        }
        out
    }
}

/// `$context.identity.*` fields a header mapping may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityField {
    UserArn,
    AccountId,
    AccessKey,
    Caller,
    User,
    SourceIp,
    UserAgent,
    /// `clientCert.*`: the client certificate of a mutual-TLS connection.
    ClientCertPem,
    ClientCertSubjectDn,
    ClientCertIssuerDn,
    ClientCertSerialNumber,
    ClientCertNotBefore,
    ClientCertNotAfter,
}

impl IdentityField {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "userArn" => IdentityField::UserArn,
            "accountId" => IdentityField::AccountId,
            "accessKey" => IdentityField::AccessKey,
            "caller" => IdentityField::Caller,
            "user" => IdentityField::User,
            "sourceIp" => IdentityField::SourceIp,
            "userAgent" => IdentityField::UserAgent,
            "clientCert.clientCertPem" => IdentityField::ClientCertPem,
            "clientCert.subjectDN" => IdentityField::ClientCertSubjectDn,
            "clientCert.issuerDN" => IdentityField::ClientCertIssuerDn,
            "clientCert.serialNumber" => IdentityField::ClientCertSerialNumber,
            "clientCert.validity.notBefore" => IdentityField::ClientCertNotBefore,
            "clientCert.validity.notAfter" => IdentityField::ClientCertNotAfter,
            _ => return None,
        })
    }

    /// The field's name after `context.identity.` (also its key in an `AuthContext`).
    pub fn name(self) -> &'static str {
        match self {
            IdentityField::UserArn => "userArn",
            IdentityField::AccountId => "accountId",
            IdentityField::AccessKey => "accessKey",
            IdentityField::Caller => "caller",
            IdentityField::User => "user",
            IdentityField::SourceIp => "sourceIp",
            IdentityField::UserAgent => "userAgent",
            IdentityField::ClientCertPem => "clientCert.clientCertPem",
            IdentityField::ClientCertSubjectDn => "clientCert.subjectDN",
            IdentityField::ClientCertIssuerDn => "clientCert.issuerDN",
            IdentityField::ClientCertSerialNumber => "clientCert.serialNumber",
            IdentityField::ClientCertNotBefore => "clientCert.validity.notBefore",
            IdentityField::ClientCertNotAfter => "clientCert.validity.notAfter",
        }
    }
}

/// The value of an `http_proxy` `request_headers` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextExpr {
    /// `context.authorizer.principalId`
    PrincipalId,
    /// `context.authorizer.<key>` (a Lambda authorizer's `context` entry, stringified)
    AuthorizerContext(String),
    /// `context.authorizer.claims.<name>` (Cognito)
    Claim(String),
    /// `context.identity.<field>`
    Identity(IdentityField),
    /// `stageVariables.<name>`
    StageVariable(String),
    /// `'text'`: a constant
    Static(String),
    /// `context.requestId`: the gateway's id of the request (`x-amzn-RequestId`)
    RequestId,
}

impl ContextExpr {
    /// Parse a mapping expression, or say why not.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Some(inner) = t.strip_prefix('\'').and_then(|r| r.strip_suffix('\''))
            && t.len() >= 2
        {
            return Ok(ContextExpr::Static(inner.to_owned()));
        }
        let t = t.strip_prefix('$').unwrap_or(t);
        if t == "context.requestId" {
            return Ok(ContextExpr::RequestId);
        }
        if let Some(rest) = t.strip_prefix("context.authorizer.") {
            if rest == "principalId" {
                return Ok(ContextExpr::PrincipalId);
            }
            if let Some(c) = rest.strip_prefix("claims.") {
                if valid_name(c) {
                    return Ok(ContextExpr::Claim(c.to_owned()));
                }
                return Err(format!("invalid claim name in \"{s}\""));
            }
            if valid_name(rest) {
                return Ok(ContextExpr::AuthorizerContext(rest.to_owned()));
            }
        } else if let Some(rest) = t.strip_prefix("context.identity.") {
            if let Some(f) = IdentityField::parse(rest) {
                return Ok(ContextExpr::Identity(f));
            }
            return Err(format!(
                "unsupported identity field \"{rest}\" (supported: userArn, accountId, accessKey, caller, user, sourceIp, userAgent, clientCert.clientCertPem, clientCert.subjectDN, clientCert.issuerDN, clientCert.serialNumber, clientCert.validity.notBefore, clientCert.validity.notAfter)"
            ));
        } else if let Some(rest) = t.strip_prefix("stageVariables.")
            && valid_name(rest)
        {
            return Ok(ContextExpr::StageVariable(rest.to_owned()));
        }
        Err(format!(
            "unsupported value \"{s}\" (expected context.requestId, context.authorizer.principalId, context.authorizer.<key>, \
             context.authorizer.claims.<name>, context.identity.<field>, stageVariables.<name> or a 'static' string)"
        ))
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.'))
}
