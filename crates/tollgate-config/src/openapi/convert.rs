//! OpenAPI 2/3 + `x-amazon-apigateway-*` -> the config's schema types.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};

use super::doc::{Diag, deref, obj, ptr, str_or_num, want_str};
use crate::compiled::ContextExpr;
use crate::schema::{
    Authorization, Authorizer, CognitoAuthorizer, Function, GatewayResponse, HttpProxyIntegration,
    Integration, Jwks, Method, MockIntegration, RequestAuthorizer, ResponseType, Route,
    TokenAuthorizer, UserPool, default_authorizer_timeout_ms, default_jwks_refresh,
};

/// Text every placeholder starts with (`tollgate import` without mappings).
pub const PLACEHOLDER: &str = "FILL-IN";

/// What the converter needs beyond the document.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// Lambda functions by name or ARN (`functions` of the config).
    pub functions: &'a [Function],
    /// Cognito pools by ARN (`user_pools` of the config).
    pub user_pools: &'a [UserPool],
    /// `tollgate import`: an unmapped ARN becomes a placeholder to fill, not an error.
    pub placeholders: bool,
    /// Prepended to authorizer names (several documents share the config's authorizer list).
    pub authorizer_prefix: String,
    /// Warnings are errors.
    pub strict: bool,
}

/// The configuration an OpenAPI document stands for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    /// `info.title`.
    pub title: Option<String>,
    pub routes: Vec<Route>,
    /// `"GET /pets/{petId}"` per route, same order as `routes`.
    pub labels: Vec<String>,
    pub authorizers: Vec<Authorizer>,
    pub resource_policy: Option<Value>,
    pub gateway_responses: BTreeMap<ResponseType, GatewayResponse>,
    /// Stage variables the integration URIs use (each stage must define them).
    pub stage_variables: BTreeSet<String>,
    /// Placeholders left to fill (`tollgate import`), each with what it stands for.
    pub placeholders: Vec<String>,
    /// What the document states that tollgate does not honour, by JSON pointer.
    pub warnings: Vec<Diag>,
}

/// Convert a parsed document. Errors: every refusal, each naming its pointer (and the method
/// and path for an operation).
pub fn convert(doc: &Value, opts: &Options<'_>) -> Result<Imported, Vec<Diag>> {
    let mut c = Conv {
        root: doc,
        opts,
        errors: Vec::new(),
        out: Imported::default(),
        handled: HashSet::new(),
        schemes: HashMap::new(),
        v3: false,
    };
    c.run();
    let Conv {
        mut errors,
        mut out,
        ..
    } = c;
    if opts.strict {
        errors.extend(out.warnings.drain(..).map(|w| Diag {
            pointer: w.pointer,
            message: format!("{} (an error under --strict)", w.message),
        }));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[derive(Debug, Clone)]
enum Scheme {
    Iam,
    ApiKey,
    /// Index into `out.authorizers`; whether it is Cognito.
    Authorizer(usize, bool),
}

struct Conv<'a> {
    root: &'a Value,
    opts: &'a Options<'a>,
    errors: Vec<Diag>,
    out: Imported,
    /// Pointers of `x-amazon-apigateway-*` keys the converter read.
    handled: HashSet<String>,
    /// Security scheme name -> what it became (None = refused, already reported).
    schemes: HashMap<String, Option<Scheme>>,
    v3: bool,
}

const METHODS: [(&str, Method); 7] = [
    ("get", Method::Get),
    ("put", Method::Put),
    ("post", Method::Post),
    ("delete", Method::Delete),
    ("options", Method::Options),
    ("head", Method::Head),
    ("patch", Method::Patch),
];

const ANY_METHOD: &str = "x-amazon-apigateway-any-method";

impl<'a> Conv<'a> {
    fn err(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Diag {
            pointer: pointer.into(),
            message: message.into(),
        });
    }

    fn warn(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.out.warnings.push(Diag {
            pointer: pointer.into(),
            message: message.into(),
        });
    }

    fn diag(&mut self, d: Diag) {
        self.errors.push(d);
    }

    fn run(&mut self) {
        let root = self.root;
        let Some(r) = root.as_object() else {
            self.err("", "an OpenAPI document must be a mapping");
            return;
        };
        match (r.get("swagger"), r.get("openapi")) {
            (Some(Value::String(v)), None) if v == "2.0" => {}
            (None, Some(Value::String(v))) if v.starts_with("3.0") || v.starts_with("3.1") => {
                self.v3 = true
            }
            _ => {
                self.err(
                    "",
                    "not an OpenAPI document (expected `swagger: \"2.0\"` or `openapi: 3.0.x / 3.1.x`)",
                );
                return;
            }
        }
        self.out.title = obj(r.get("info"))
            .and_then(|i| i.get("title"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.document_extensions(r);
        match r.get("paths") {
            Some(Value::Object(paths)) => {
                for (path, item) in paths {
                    self.path_item(path, item);
                }
            }
            None => self.err("/paths", "missing: an API needs at least one path"),
            Some(_) => self.err("/paths", "expected a mapping"),
        }
        if self.out.routes.is_empty() && self.errors.is_empty() {
            self.err("/paths", "no operations: an API needs at least one method");
        }
        self.unused_schemes(r);
        // Every extension tollgate did not read is named.
        for p in super::doc::extension_pointers(root) {
            if !self.handled.contains(&p) {
                let name = p.rsplit('/').next().unwrap_or("").to_owned();
                self.warn(p, format!("{name} is not supported by tollgate: ignored"));
            }
        }
    }

    /// A security scheme no operation uses is not imported: one warning naming it, instead
    /// of one "not supported" per extension it holds (which it may well be).
    fn unused_schemes(&mut self, r: &Map<String, Value>) {
        let (base, schemes) = if self.v3 {
            (
                "/components/securitySchemes",
                obj(r.get("components")).and_then(|c| obj(c.get("securitySchemes"))),
            )
        } else {
            ("/securityDefinitions", obj(r.get("securityDefinitions")))
        };
        let names: Vec<String> = schemes
            .into_iter()
            .flatten()
            .map(|(n, _)| n.clone())
            .filter(|n| !self.schemes.contains_key(n))
            .collect();
        for name in names {
            let at = ptr(base, &name);
            let prefix = format!("{at}/");
            let inside: Vec<String> = super::doc::extension_pointers(self.root)
                .into_iter()
                .filter(|p| p.starts_with(&prefix))
                .collect();
            if inside.is_empty() {
                continue;
            }
            inside.iter().for_each(|p| self.seen(p));
            self.warn(
                at,
                format!("security scheme {name} is used by no operation: not imported"),
            );
        }
    }

    fn seen(&mut self, pointer: &str) {
        self.handled.insert(pointer.to_owned());
    }

    // ------------------------------------------------------------ document level

    fn document_extensions(&mut self, r: &Map<String, Value>) {
        if let Some(v) = r.get("x-amazon-apigateway-policy") {
            let at = "/x-amazon-apigateway-policy";
            self.seen(at);
            match v {
                Value::Object(_) => self.out.resource_policy = Some(v.clone()),
                Value::String(s) => match serde_json::from_str::<Value>(s) {
                    Ok(p @ Value::Object(_)) => self.out.resource_policy = Some(p),
                    _ => self.err(at, "the policy string is not a JSON policy document"),
                },
                other => {
                    if let Err(d) = want_str(other, at) {
                        self.diag(d)
                    }
                }
            }
        }
        if let Some(v) = r.get("x-amazon-apigateway-gateway-responses") {
            self.gateway_responses(v);
        }
        for (key, why) in [
            (
                "x-amazon-apigateway-api-key-source",
                "API keys and usage plans are not built in tollgate: api-key-source is read and not enforced",
            ),
            (
                "x-amazon-apigateway-request-validators",
                "request validation (required parameters, body models) is not done by tollgate: requests are not validated",
            ),
            (
                "x-amazon-apigateway-request-validator",
                "request validation (required parameters, body models) is not done by tollgate: requests are not validated",
            ),
            (
                "x-amazon-apigateway-binary-media-types",
                "binary media types only steer payload conversion of non-proxy integrations: tollgate passes bodies through unchanged",
            ),
            (
                "x-amazon-apigateway-minimum-compression-size",
                "response compression is not done by tollgate: ignored",
            ),
            (
                "x-amazon-apigateway-endpoint-configuration",
                "endpoint configuration (EDGE/REGIONAL/PRIVATE, VPC endpoints) belongs to AWS's deployment: ignored",
            ),
            (
                "x-amazon-apigateway-documentation",
                "documentation parts are not served: ignored",
            ),
        ] {
            if r.contains_key(key) {
                let at = ptr("", key);
                self.seen(&at);
                self.warn(at, why);
            }
        }
        // Base path: AWS's import ignores it unless asked (basepath=ignore is the default), so
        // routes are the document's paths as written.
        for key in ["x-amazon-apigateway-base-path"] {
            if r.contains_key(key) {
                self.seen(&ptr("", key));
            }
        }
    }

    fn gateway_responses(&mut self, v: &Value) {
        let at = "/x-amazon-apigateway-gateway-responses".to_owned();
        self.seen(&at);
        let Some(m) = v.as_object() else {
            self.err(at, "expected a mapping of response type -> response");
            return;
        };
        for (ty, gv) in m {
            let gat = ptr(&at, ty);
            let Ok(t) = serde_json::from_value::<ResponseType>(Value::String(ty.clone())) else {
                self.warn(
                    gat,
                    format!("gateway response type {ty} is not one tollgate produces: ignored"),
                );
                continue;
            };
            let Some(g) = gv.as_object() else {
                self.err(gat, "expected a mapping");
                continue;
            };
            let mut out = GatewayResponse::default();
            for (k, fv) in g {
                let fat = ptr(&gat, k);
                match k.as_str() {
                    "statusCode" => match str_or_num(fv).and_then(|s| s.parse::<u16>().ok()) {
                        Some(s) => out.status = Some(s),
                        None => self.err(fat, "expected a status code (a number or a string)"),
                    },
                    "responseParameters" => {
                        for (name, val) in obj(Some(fv)).into_iter().flatten() {
                            let pat = ptr(&fat, name);
                            let Some(h) = name.strip_prefix("gatewayresponse.header.") else {
                                self.warn(
                                    pat,
                                    "only gatewayresponse.header.* parameters are mapped: ignored",
                                );
                                continue;
                            };
                            match const_value(val) {
                                Some(c) => {
                                    out.headers.insert(h.to_owned(), c);
                                }
                                None => self.warn(
                                    pat,
                                    "only constant ('quoted') header values are mapped: ignored",
                                ),
                            }
                        }
                    }
                    "responseTemplates" => {
                        for (ct, tv) in obj(Some(fv)).into_iter().flatten() {
                            let tat = ptr(&fat, ct);
                            match (ct.as_str(), tv.as_str()) {
                                ("application/json", Some(t)) => out.body = Some(t.to_owned()),
                                _ => self.warn(
                                    tat,
                                    "only the application/json template is used: ignored",
                                ),
                            }
                        }
                    }
                    _ => self.warn(fat, format!("gateway response field {k}: ignored")),
                }
            }
            self.out.gateway_responses.insert(t, out);
        }
    }

    // ------------------------------------------------------------ paths and operations

    fn path_item(&mut self, path: &str, item: &Value) {
        let at = ptr("/paths", path);
        let root = self.root;
        let (item, at) = match deref(root, item, &at) {
            Ok(x) => x,
            Err(d) => return self.diag(d),
        };
        let Some(m) = item.as_object() else {
            self.err(at, "expected a path item mapping");
            return;
        };
        if !path.starts_with('/') {
            self.err(at.clone(), format!("path \"{path}\" must start with /"));
            return;
        }
        for (k, op) in m {
            let method = if k == ANY_METHOD {
                self.seen(&ptr(&at, k));
                Method::Any
            } else if let Some((_, mm)) = METHODS.iter().find(|(n, _)| n == k) {
                *mm
            } else {
                match k.as_str() {
                    "parameters" | "summary" | "description" | "servers" => {}
                    "trace" => {
                        self.warn(ptr(&at, k), "TRACE is not an API Gateway method: ignored")
                    }
                    _ if k.starts_with("x-") => {}
                    _ => self.warn(ptr(&at, k), format!("unknown path item key {k}: ignored")),
                }
                continue;
            };
            self.operation(path, method, op, &ptr(&at, k));
        }
    }

    fn operation(&mut self, path: &str, method: Method, op: &Value, at: &str) {
        let label = format!("{method} {path}");
        let root = self.root;
        let (op, at) = match deref(root, op, at) {
            Ok(x) => x,
            Err(d) => return self.diag(d),
        };
        let Some(o) = op.as_object() else {
            self.err(at, format!("{label}: expected an operation mapping"));
            return;
        };
        let before = self.errors.len();
        let auth = self.operation_auth(o, &at, &label);
        let params: Vec<String> = path_params(path);
        let integ = self.integration(o, &at, &label, method, &params);
        if let Some(v) = o.get("x-amazon-apigateway-request-validator") {
            let p = ptr(&at, "x-amazon-apigateway-request-validator");
            self.seen(&p);
            let _ = v;
            self.warn(
                p,
                format!("{label}: request validation is not done by tollgate: requests are not validated"),
            );
        }
        if self.errors.len() != before {
            return;
        }
        let (Some((authorization, authorizer, scopes)), Some(integration)) = (auth, integ) else {
            return;
        };
        self.out.routes.push(Route {
            path: path.to_owned(),
            methods: vec![method],
            authorization,
            authorizer,
            scopes,
            integration,
        });
        self.out.labels.push(label);
    }

    // ------------------------------------------------------------ authorization

    fn operation_auth(
        &mut self,
        o: &Map<String, Value>,
        at: &str,
        label: &str,
    ) -> Option<(Authorization, Option<String>, Vec<String>)> {
        if let Some(v) = o.get("x-amazon-apigateway-auth") {
            let p = ptr(at, "x-amazon-apigateway-auth");
            self.seen(&p);
            let ty = match v {
                Value::String(s) => Some(s.as_str()),
                Value::Object(m) => m.get("type").and_then(Value::as_str),
                _ => None,
            };
            return match ty.map(str::to_ascii_lowercase).as_deref() {
                Some("aws_iam") => Some((Authorization::AwsIam, None, Vec::new())),
                Some("none") => Some((Authorization::None, None, Vec::new())),
                _ => {
                    self.err(
                        p,
                        format!("{label}: x-amazon-apigateway-auth type must be aws_iam or none"),
                    );
                    None
                }
            };
        }
        let root = self.root;
        let (sec, sat) = match o.get("security") {
            Some(s) => (s, ptr(at, "security")),
            None => match root.get("security") {
                Some(s) => (s, "/security".to_owned()),
                None => return Some((Authorization::None, None, Vec::new())),
            },
        };
        let Some(reqs) = sec.as_array() else {
            self.err(
                sat,
                format!("{label}: security must be a list of requirements"),
            );
            return None;
        };
        // Alternatives (OR); within one, schemes (AND). API keys are dropped (not built).
        let mut chosen: Option<(Scheme, Vec<String>, String)> = None;
        let mut alternatives = 0;
        for (i, req) in reqs.iter().enumerate() {
            let rat = ptr(&sat, &i.to_string());
            let Some(rm) = req.as_object() else {
                self.err(
                    rat,
                    format!("{label}: a security requirement must be a mapping"),
                );
                return None;
            };
            let mut auths = Vec::new();
            for (name, scopes) in rm {
                let s = self.scheme(name, label, &ptr(&rat, name))?;
                // Scopes narrow who may call: one that cannot be read is an error, never
                // dropped (a Cognito route without scopes takes any ID token of the pool).
                let scopes = self.scopes(scopes, &ptr(&rat, name), label, name)?;
                match s {
                    Scheme::ApiKey => self.warn(
                        ptr(&rat, name),
                        format!("{label}: API key requirement ({name}) not enforced: API keys are not built in tollgate"),
                    ),
                    s => auths.push((s, scopes, ptr(&rat, name))),
                }
            }
            if auths.len() > 1 {
                self.err(
                    rat,
                    format!("{label}: one requirement names several authorizers; API Gateway methods have one"),
                );
                return None;
            }
            if let Some(a) = auths.pop() {
                alternatives += 1;
                if chosen.is_none() {
                    chosen = Some(a);
                }
            }
        }
        if alternatives > 1 {
            self.warn(
                sat,
                format!("{label}: several alternative security requirements; the first is used"),
            );
        }
        let Some((s, scopes, sp)) = chosen else {
            return Some((Authorization::None, None, Vec::new()));
        };
        match s {
            Scheme::Iam | Scheme::ApiKey => {
                if !scopes.is_empty() {
                    self.warn(
                        sp,
                        format!("{label}: scopes apply to Cognito authorizers only: ignored"),
                    );
                }
                Some((Authorization::AwsIam, None, Vec::new()))
            }
            Scheme::Authorizer(i, cognito) => {
                let name = self.out.authorizers.get(i).map(|a| a.name().to_owned());
                if cognito {
                    Some((Authorization::CognitoUserPools, name, scopes))
                } else {
                    if !scopes.is_empty() {
                        self.warn(
                            sp,
                            format!("{label}: scopes apply to Cognito authorizers only: ignored"),
                        );
                    }
                    Some((Authorization::Custom, name, Vec::new()))
                }
            }
        }
    }

    /// A security requirement's scopes: a list of strings (OpenAPI's form), or an error.
    fn scopes(&mut self, v: &Value, at: &str, label: &str, name: &str) -> Option<Vec<String>> {
        let Some(list) = v.as_array() else {
            self.err(
                at,
                format!(
                    "{label}: the scopes of requirement {name} must be a list of strings, found {}",
                    crate::de::kind(v)
                ),
            );
            return None;
        };
        let mut out = Vec::with_capacity(list.len());
        for (i, s) in list.iter().enumerate() {
            match want_str(s, &ptr(at, &i.to_string())) {
                Ok(s) => out.push(s.to_owned()),
                Err(mut d) => {
                    d.message = format!("{label}: scope of requirement {name}: {}", d.message);
                    self.diag(d);
                    return None;
                }
            }
        }
        Some(out)
    }

    fn scheme(&mut self, name: &str, label: &str, used_at: &str) -> Option<Scheme> {
        if let Some(s) = self.schemes.get(name) {
            return s.clone();
        }
        let s = self.build_scheme(name, label, used_at);
        self.schemes.insert(name.to_owned(), s.clone());
        s
    }

    fn build_scheme(&mut self, name: &str, label: &str, used_at: &str) -> Option<Scheme> {
        let root = self.root;
        let base = if self.v3 {
            "/components/securitySchemes"
        } else {
            "/securityDefinitions"
        };
        let at = ptr(base, name);
        let Some(raw) = root.pointer(&at) else {
            self.err(
                used_at,
                format!("{label}: security scheme \"{name}\" is not defined in {base}"),
            );
            return None;
        };
        let (def, at) = match deref(root, raw, &at) {
            Ok(x) => x,
            Err(d) => {
                self.diag(d);
                return None;
            }
        };
        let Some(d) = def.as_object() else {
            self.err(at, "expected a security scheme mapping");
            return None;
        };
        let authtype = d
            .get("x-amazon-apigateway-authtype")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        if d.contains_key("x-amazon-apigateway-authtype") {
            self.seen(&ptr(&at, "x-amazon-apigateway-authtype"));
        }
        let header = match (
            d.get("in").and_then(Value::as_str),
            d.get("name").and_then(Value::as_str),
        ) {
            (Some("header"), Some(h)) => Some(h.to_owned()),
            _ => None,
        };
        let Some(a) = d.get("x-amazon-apigateway-authorizer") else {
            return match authtype.as_deref() {
                Some("awssigv4") => Some(Scheme::Iam),
                None if d.get("type").and_then(Value::as_str) == Some("apiKey") => {
                    Some(Scheme::ApiKey)
                }
                other => {
                    self.err(
                        at,
                        format!(
                            "security scheme \"{name}\" (authtype {}) has no x-amazon-apigateway-authorizer and is not awsSigv4 or an API key",
                            other.unwrap_or("none")
                        ),
                    );
                    None
                }
            };
        };
        let aat = ptr(&at, "x-amazon-apigateway-authorizer");
        self.seen(&aat);
        let Some(a) = a.as_object() else {
            self.err(aat, "expected a mapping");
            return None;
        };
        let ty = a
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let auth_name = format!("{}{}", self.opts.authorizer_prefix, sanitize(name));
        let ttl = match a.get("authorizerResultTtlInSeconds") {
            None => 300,
            Some(v) => match v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            {
                // AWS's range; a larger number is named as written, not as a saturated u32.
                Some(t) if t <= 3600 => u32::try_from(t).unwrap_or(3600),
                Some(t) => {
                    self.err(
                        ptr(&aat, "authorizerResultTtlInSeconds"),
                        format!("at most 3600 (AWS's limit), found {t}"),
                    );
                    return None;
                }
                None => {
                    self.err(
                        ptr(&aat, "authorizerResultTtlInSeconds"),
                        "expected a number of seconds",
                    );
                    return None;
                }
            },
        };
        let validation = match a.get("identityValidationExpression") {
            None => None,
            Some(v) => match want_str(v, &ptr(&aat, "identityValidationExpression")) {
                Ok("") => None,
                Ok(s) => Some(s.to_owned()),
                Err(d) => {
                    self.diag(d);
                    return None;
                }
            },
        };
        let identity_source = match a.get("identitySource") {
            None => None,
            Some(v) => match want_str(v, &ptr(&aat, "identitySource")) {
                Ok(s) if s.trim().is_empty() => None,
                Ok(s) => Some(s.to_owned()),
                Err(d) => {
                    self.diag(d);
                    return None;
                }
            },
        };
        for k in a.keys() {
            match k.as_str() {
                "type" | "authorizerResultTtlInSeconds" | "identityValidationExpression"
                | "identitySource" | "authorizerUri" | "providerARNs" => {}
                "authorizerCredentials" => self.warn(
                    ptr(&aat, k),
                    "authorizerCredentials (the IAM role AWS invokes the function with) has no meaning here: ignored",
                ),
                _ => self.warn(ptr(&aat, k), format!("authorizer field {k}: ignored")),
            }
        }
        let header_source = |h: Option<&String>| {
            format!(
                "method.request.header.{}",
                h.map_or("Authorization", String::as_str)
            )
        };
        let authorizer = match ty.as_str() {
            "token" => {
                let url = self.function_url(a, &aat, name)?;
                Authorizer::Token(TokenAuthorizer {
                    name: auth_name,
                    function_url: url,
                    // AWS reads the scheme's header; identitySource is for REQUEST authorizers.
                    identity_source: match &header {
                        Some(_) => header_source(header.as_ref()),
                        None => identity_source.unwrap_or_else(|| header_source(None)),
                    },
                    identity_validation_expression: validation,
                    ttl_seconds: ttl,
                    timeout_ms: default_authorizer_timeout_ms(),
                })
            }
            "request" => {
                let url = self.function_url(a, &aat, name)?;
                let ttl = if identity_source.is_none() && ttl > 0 {
                    self.warn(
                        aat.clone(),
                        "a REQUEST authorizer without identitySource cannot be cached: ttl 0",
                    );
                    0
                } else {
                    ttl
                };
                if validation.is_some() {
                    self.warn(
                        ptr(&aat, "identityValidationExpression"),
                        "identityValidationExpression applies to TOKEN authorizers only: ignored",
                    );
                }
                Authorizer::Request(RequestAuthorizer {
                    name: auth_name,
                    function_url: url,
                    identity_source,
                    ttl_seconds: ttl,
                    timeout_ms: default_authorizer_timeout_ms(),
                })
            }
            "cognito_user_pools" => {
                let arns: Vec<String> = match a.get("providerARNs") {
                    Some(Value::Array(v)) => {
                        let mut out = Vec::new();
                        for (i, x) in v.iter().enumerate() {
                            match want_str(x, &ptr(&ptr(&aat, "providerARNs"), &i.to_string())) {
                                Ok(s) => out.push(s.to_owned()),
                                Err(d) => {
                                    self.diag(d);
                                    return None;
                                }
                            }
                        }
                        out
                    }
                    _ => {
                        self.err(
                            ptr(&aat, "providerARNs"),
                            "expected a list of user pool ARNs",
                        );
                        return None;
                    }
                };
                let Some(first) = arns.first() else {
                    self.err(
                        ptr(&aat, "providerARNs"),
                        "at least one user pool ARN is required",
                    );
                    return None;
                };
                let jwks = self.pool_jwks(first, &ptr(&aat, "providerARNs"), name)?;
                for other in arns.iter().skip(1) {
                    let j = self.pool_jwks(other, &ptr(&aat, "providerARNs"), name)?;
                    if j != jwks && !self.opts.placeholders {
                        self.err(
                            ptr(&aat, "providerARNs"),
                            "user pools with different key sets in one authorizer: tollgate reads one JWKS per authorizer",
                        );
                        return None;
                    }
                }
                Authorizer::CognitoUserPools(CognitoAuthorizer {
                    name: auth_name,
                    provider_arns: arns,
                    issuer: None,
                    jwks,
                    identity_source: header_source(header.as_ref()),
                    identity_validation_expression: validation,
                    client_ids: Vec::new(),
                    ttl_seconds: ttl,
                    leeway_seconds: 0,
                })
            }
            other => {
                self.err(
                    ptr(&aat, "type"),
                    format!(
                        "unknown authorizer type \"{other}\" (token, request or cognito_user_pools)"
                    ),
                );
                return None;
            }
        };
        let cognito = matches!(authorizer, Authorizer::CognitoUserPools(_));
        self.out.authorizers.push(authorizer);
        Some(Scheme::Authorizer(self.out.authorizers.len() - 1, cognito))
    }

    fn function_url(&mut self, a: &Map<String, Value>, aat: &str, scheme: &str) -> Option<String> {
        let uat = ptr(aat, "authorizerUri");
        let Some(v) = a.get("authorizerUri") else {
            self.err(uat, "missing: a Lambda authorizer needs authorizerUri");
            return None;
        };
        let uri = match want_str(v, &uat) {
            Ok(s) => s,
            Err(d) => {
                self.diag(d);
                return None;
            }
        };
        let Some(arn) = lambda_arn(uri) else {
            self.err(
                uat,
                format!("authorizerUri \"{uri}\" does not name a Lambda function (arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations)"),
            );
            return None;
        };
        let fname = function_name(arn);
        if let Some(f) = self
            .opts
            .functions
            .iter()
            .find(|f| f.name == arn)
            .or_else(|| {
                self.opts
                    .functions
                    .iter()
                    .find(|f| Some(f.name.as_str()) == fname)
            })
        {
            return Some(f.url.clone());
        }
        if self.opts.placeholders {
            let p = format!("{PLACEHOLDER}: URL of Lambda function {arn}");
            self.out
                .placeholders
                .push(format!("authorizer {scheme}: function {arn}"));
            return Some(p);
        }
        self.err(
            uat,
            format!(
                "Lambda function {arn} (authorizer of security scheme \"{scheme}\") has no entry in `functions` (name: {} or the ARN, url: where to call it)",
                fname.unwrap_or(arn)
            ),
        );
        None
    }

    fn pool_jwks(&mut self, arn: &str, at: &str, scheme: &str) -> Option<Jwks> {
        if let Some(p) = self.opts.user_pools.iter().find(|p| p.arn == arn) {
            return Some(p.jwks.clone());
        }
        if self.opts.placeholders {
            self.out
                .placeholders
                .push(format!("authorizer {scheme}: user pool {arn}"));
            return Some(Jwks {
                file: None,
                url: Some(format!("{PLACEHOLDER}: JWKS URL of user pool {arn}")),
                refresh_seconds: default_jwks_refresh(),
            });
        }
        self.err(
            at,
            format!("Cognito user pool {arn} (security scheme \"{scheme}\") has no entry in `user_pools` (arn, jwks)"),
        );
        None
    }

    // ------------------------------------------------------------ integrations

    fn integration(
        &mut self,
        o: &Map<String, Value>,
        at: &str,
        label: &str,
        method: Method,
        params: &[String],
    ) -> Option<Integration> {
        let iat = ptr(at, "x-amazon-apigateway-integration");
        let Some(iv) = o.get("x-amazon-apigateway-integration") else {
            self.err(
                at,
                format!("{label}: no x-amazon-apigateway-integration (AWS imports such a method but refuses to deploy it)"),
            );
            return None;
        };
        self.seen(&iat);
        // OAS3 documents may share integrations: {"$ref": "#/components/x-amazon-apigateway-integrations/x"}.
        let root = self.root;
        let (iv, iat) = match deref(root, iv, &iat) {
            Ok(x) => x,
            Err(d) => {
                self.diag(d);
                return None;
            }
        };
        if iat.starts_with("/components/x-amazon-apigateway-integrations/") {
            self.seen("/components/x-amazon-apigateway-integrations");
        }
        let Some(i) = iv.as_object() else {
            self.err(iat, format!("{label}: expected a mapping"));
            return None;
        };
        let ty = match i.get("type") {
            Some(t) => match want_str(t, &ptr(&iat, "type")) {
                Ok(s) => s.to_ascii_lowercase(),
                Err(d) => {
                    self.diag(d);
                    return None;
                }
            },
            None => {
                self.err(
                    ptr(&iat, "type"),
                    format!("{label}: missing integration type"),
                );
                return None;
            }
        };
        match ty.as_str() {
            "mock" => self.mock(i, &iat, label),
            "http_proxy" | "http" => self.http(i, &iat, label, method, params, ty == "http"),
            "aws_proxy" | "aws" => {
                let what = i.get("uri").and_then(Value::as_str).unwrap_or("");
                self.err(
                    ptr(&iat, "type"),
                    format!(
                        "{label}: integration type {} ({}) is refused: tollgate cannot call AWS services or Lambda functions with API Gateway's proxy event; serve the backend over HTTP and use http_proxy",
                        i.get("type").and_then(Value::as_str).unwrap_or(&ty),
                        if what.contains(":lambda:") { "Lambda" } else { "AWS service" }
                    ),
                );
                None
            }
            other => {
                self.err(
                    ptr(&iat, "type"),
                    format!("{label}: unknown integration type \"{other}\" (http_proxy, http, mock, aws_proxy, aws)"),
                );
                None
            }
        }
    }

    fn mock(&mut self, i: &Map<String, Value>, iat: &str, label: &str) -> Option<Integration> {
        // The status the mock "integration" returns: requestTemplates {"statusCode": N}.
        let mut status: u16 = 200;
        if let Some(t) = obj(i.get("requestTemplates")) {
            let tpl = t
                .get("application/json")
                .or_else(|| t.values().next())
                .and_then(Value::as_str)
                .unwrap_or("");
            if let Some(s) = template_status(tpl) {
                status = s;
            }
        }
        let mut out = MockIntegration {
            status,
            headers: BTreeMap::new(),
            body: String::new(),
        };
        // The integration response whose selection pattern matches that status (else default).
        let rat = ptr(iat, "responses");
        if let Some(rs) = obj(i.get("responses")) {
            let code = status.to_string();
            let pick = rs
                .iter()
                .filter(|(k, _)| k.as_str() != "default")
                .find(|(k, _)| {
                    regex::RegexBuilder::new(&format!("^(?:{k})$"))
                        .size_limit(1 << 20)
                        .build()
                        .is_ok_and(|r| r.is_match(&code))
                })
                .or_else(|| rs.iter().find(|(k, _)| k.as_str() == "default"));
            if let Some((k, r)) = pick {
                let at = ptr(&rat, k);
                let r = r.as_object();
                if let Some(sc) = r.and_then(|r| r.get("statusCode")) {
                    match str_or_num(sc).and_then(|s| s.parse::<u16>().ok()) {
                        Some(s) if (100..=599).contains(&s) => out.status = s,
                        _ => {
                            self.err(
                                ptr(&at, "statusCode"),
                                format!("{label}: invalid status code"),
                            );
                            return None;
                        }
                    }
                }
                for (name, val) in r
                    .and_then(|r| obj(r.get("responseParameters")))
                    .into_iter()
                    .flatten()
                {
                    let pat = ptr(&ptr(&at, "responseParameters"), name);
                    match (name.strip_prefix("method.response.header."), const_value(val)) {
                        (Some(h), Some(v)) => {
                            out.headers.insert(h.to_owned(), v);
                        }
                        _ => self.warn(
                            pat,
                            format!("{label}: only constant ('quoted') method.response.header.* values are mapped: ignored"),
                        ),
                    }
                }
                for (ct, tv) in r
                    .and_then(|r| obj(r.get("responseTemplates")))
                    .into_iter()
                    .flatten()
                {
                    let tat = ptr(&ptr(&at, "responseTemplates"), ct);
                    match tv.as_str() {
                        Some(t) if !t.contains('$') && !t.contains('#') => {
                            out.body = t.to_owned();
                            out.headers
                                .entry("content-type".to_owned())
                                .or_insert_with(|| ct.clone());
                        }
                        _ => self.warn(
                            tat,
                            format!("{label}: mapping templates (VTL) are not evaluated: the mock answers with an empty body"),
                        ),
                    }
                }
            }
        }
        if !out
            .headers
            .keys()
            .any(|h| h.eq_ignore_ascii_case("content-type"))
        {
            out.headers
                .insert("content-type".to_owned(), "application/json".to_owned());
        }
        for k in i.keys() {
            match k.as_str() {
                "type" | "requestTemplates" | "responses" | "passthroughBehavior" => {}
                "requestParameters" => self.warn(
                    ptr(iat, k),
                    format!(
                        "{label}: requestParameters of a mock integration have no effect: ignored"
                    ),
                ),
                _ => self.warn(
                    ptr(iat, k),
                    format!("{label}: integration field {k}: ignored"),
                ),
            }
        }
        Some(Integration::Mock(out))
    }

    #[allow(clippy::too_many_arguments)]
    fn http(
        &mut self,
        i: &Map<String, Value>,
        iat: &str,
        label: &str,
        method: Method,
        params: &[String],
        non_proxy: bool,
    ) -> Option<Integration> {
        let uat = ptr(iat, "uri");
        let Some(u) = i.get("uri") else {
            self.err(uat, format!("{label}: an HTTP integration needs a uri"));
            return None;
        };
        let uri = match want_str(u, &uat) {
            Ok(s) => s.to_owned(),
            Err(mut d) => {
                d.message = format!("{label}: {}", d.message);
                self.diag(d);
                return None;
            }
        };
        // requestParameters: integration.request.{path|querystring|header}.NAME <- source.
        let mut path_map: BTreeMap<String, String> = BTreeMap::new();
        // Path parameters mapped from a source tollgate cannot supply, with that source.
        let mut unmapped: BTreeMap<String, String> = BTreeMap::new();
        let mut request_headers = BTreeMap::new();
        // Headers mapped from a source tollgate cannot supply: the client's are removed.
        let mut drop_request_headers = Vec::new();
        let pat = ptr(iat, "requestParameters");
        for (k, v) in obj(i.get("requestParameters")).into_iter().flatten() {
            let at = ptr(&pat, k);
            let src = match want_str(v, &at) {
                Ok(s) => s.trim().to_owned(),
                Err(d) => {
                    self.diag(d);
                    continue;
                }
            };
            if let Some(p) = k.strip_prefix("integration.request.path.") {
                if let Some(mp) = src.strip_prefix("method.request.path.") {
                    path_map.insert(p.to_owned(), format!("{{{mp}}}"));
                } else if let Some(c) = const_value(v) {
                    path_map.insert(p.to_owned(), c);
                } else if src.starts_with("stageVariables.") {
                    path_map.insert(p.to_owned(), format!("${{{src}}}"));
                } else {
                    // An error if the uri uses it (below): never filled from the client's
                    // own path parameter of that name.
                    self.warn(
                        at,
                        format!("{label}: path parameter source {src} is not supported: ignored"),
                    );
                    unmapped.insert(p.to_owned(), src.clone());
                }
            } else if let Some(h) = k.strip_prefix("integration.request.header.") {
                let same = src
                    .strip_prefix("method.request.header.")
                    .is_some_and(|m| m.eq_ignore_ascii_case(h));
                if same && !non_proxy {
                    continue; // http_proxy forwards every header as it is.
                }
                if src.starts_with("context.")
                    || src.starts_with("stageVariables.")
                    || src.starts_with('\'')
                {
                    match ContextExpr::parse(&src) {
                        Ok(_) => {
                            request_headers.insert(h.to_owned(), src.clone());
                        }
                        Err(e) => {
                            self.warn(at, format!("{label}: {e}: the upstream gets no {h} header (a client's {h} is removed: drop_request_headers)"));
                            drop_request_headers.push(h.to_owned());
                        }
                    }
                } else if same {
                    // Non-proxy http forwarded as a proxy: the header is passed anyway.
                } else {
                    // The upstream may trust the header to come from the gateway: a client's
                    // own value must not take the mapping's place.
                    self.warn(
                        at,
                        format!("{label}: header remapping from {src} is not supported by tollgate's http_proxy: the upstream gets no {h} header (a client's {h} is removed: drop_request_headers)"),
                    );
                    drop_request_headers.push(h.to_owned());
                }
            } else if let Some(q) = k.strip_prefix("integration.request.querystring.") {
                let same = src
                    .strip_prefix("method.request.querystring.")
                    .is_some_and(|m| m == q);
                if !same {
                    // The request's own query is forwarded: the caller would choose the value
                    // the upstream expects from the gateway.
                    self.err(
                        at,
                        format!("{label}: query string parameter {q} mapped from {src}: tollgate's http_proxy forwards the request's own query and cannot set it (the caller would choose it); remove the mapping or map from method.request.querystring.{q}"),
                    );
                }
            } else {
                self.warn(
                    at,
                    format!("{label}: request parameter {k} is not supported: ignored"),
                );
            }
        }
        // Rewrite the URI's {x} (integration path parameters) into the route's parameters.
        let mut rendered = String::with_capacity(uri.len());
        let mut rest = uri.as_str();
        while let Some(start) = rest.find('{') {
            let (before, after) = rest.split_at(start);
            rendered.push_str(before);
            if before.ends_with('$') {
                // ${stageVariables.x}: kept as is.
                let end = after.find('}').map_or(after.len(), |e| e + 1);
                rendered.push_str(after.get(..end).unwrap_or(after));
                if let Some(v) = after
                    .get(1..end.saturating_sub(1))
                    .and_then(|x| x.strip_prefix("stageVariables."))
                {
                    self.out.stage_variables.insert(v.to_owned());
                }
                rest = after.get(end..).unwrap_or("");
                continue;
            }
            let Some(end) = after.find('}') else {
                self.err(uat.clone(), format!("{label}: unterminated {{ in uri"));
                return None;
            };
            let inner = after.get(1..end).unwrap_or("");
            let name = inner.strip_suffix('+').unwrap_or(inner);
            if let Some(src) = unmapped.get(name) {
                self.err(
                    uat.clone(),
                    format!("{label}: uri parameter {{{inner}}} is mapped from {src}, which tollgate cannot supply; it is not filled from the route's own path parameter either (the caller would choose it)"),
                );
                return None;
            }
            match path_map.get(name) {
                Some(m) => {
                    if let Some(v) = m
                        .strip_prefix("${stageVariables.")
                        .and_then(|x| x.strip_suffix('}'))
                    {
                        self.out.stage_variables.insert(v.to_owned());
                    }
                    rendered.push_str(m);
                }
                None if params
                    .iter()
                    .any(|p| p.strip_suffix('+').unwrap_or(p) == name) =>
                {
                    rendered.push_str(after.get(..=end).unwrap_or(""));
                }
                None => {
                    self.err(
                        uat.clone(),
                        format!("{label}: uri parameter {{{inner}}} has no integration.request.path.{name} mapping and is not a path parameter of the route"),
                    );
                    return None;
                }
            }
            rest = after.get(end + 1..).unwrap_or("");
        }
        rendered.push_str(rest);
        let timeout_ms = match i.get("timeoutInMillis") {
            None => crate::schema::default_integration_timeout_ms(),
            Some(v) => match v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            {
                Some(t) if (50..=300_000).contains(&t) => t,
                _ => {
                    self.err(
                        ptr(iat, "timeoutInMillis"),
                        format!("{label}: expected milliseconds (50..300000)"),
                    );
                    return None;
                }
            },
        };
        if let Some(hm) = i.get("httpMethod").and_then(Value::as_str)
            && method != Method::Any
            && !hm.eq_ignore_ascii_case(method.as_str())
            && !hm.eq_ignore_ascii_case("ANY")
        {
            self.warn(
                ptr(iat, "httpMethod"),
                format!("{label}: the integration's httpMethod {hm} differs: tollgate forwards the request's own method"),
            );
        }
        if non_proxy {
            self.warn(
                ptr(iat, "type"),
                format!("{label}: a non-proxy http integration is served as http_proxy: the request is forwarded whole and the upstream's response returned as is (mapping templates and integration responses are not applied)"),
            );
        }
        for k in i.keys() {
            match k.as_str() {
                "type"
                | "uri"
                | "requestParameters"
                | "timeoutInMillis"
                | "httpMethod"
                | "passthroughBehavior" => {}
                "payloadFormatVersion" if i.get(k).and_then(Value::as_str) == Some("1.0") => {}
                "responses" | "requestTemplates" if non_proxy => {}
                "responses" => {} // a proxy integration returns the upstream response as is (AWS too)
                _ => self.warn(
                    ptr(iat, k),
                    format!("{label}: integration field {k}: ignored"),
                ),
            }
        }
        Some(Integration::HttpProxy(HttpProxyIntegration {
            uri: rendered,
            timeout_ms,
            request_headers,
            drop_request_headers,
        }))
    }
}

/// The route's path parameters as written (`petId`, `proxy+`).
fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

/// `'text'` -> `text`.
fn const_value(v: &Value) -> Option<String> {
    let s = v.as_str()?.trim();
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') {
        s.get(1..s.len() - 1).map(str::to_owned)
    } else {
        None
    }
}

/// `{"statusCode": 200}` (JSON, or VTL around it) -> 200.
fn template_status(tpl: &str) -> Option<u16> {
    if let Ok(v) = serde_json::from_str::<Value>(tpl)
        && let Some(s) = v.get("statusCode").and_then(str_or_num)
    {
        return s.parse().ok();
    }
    let i = tpl.find("\"statusCode\"")?;
    let rest = tpl
        .get(i + 12..)?
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The Lambda function ARN in an `authorizerUri` (or the ARN itself).
fn lambda_arn(uri: &str) -> Option<&str> {
    if uri.starts_with("arn:") && uri.contains(":lambda:") && uri.contains(":function:") {
        if let Some(i) = uri.find("/functions/") {
            let rest = uri.get(i + "/functions/".len()..)?;
            return Some(rest.strip_suffix("/invocations").unwrap_or(rest));
        }
        return Some(uri);
    }
    None
}

/// `arn:aws:lambda:R:A:function:NAME[:ALIAS]` -> `NAME`.
fn function_name(arn: &str) -> Option<&str> {
    let i = arn.find(":function:")?;
    arn.get(i + ":function:".len()..)?.split(':').next()
}

/// A scheme name as an authorizer name (`[A-Za-z0-9_-]`).
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect()
}
