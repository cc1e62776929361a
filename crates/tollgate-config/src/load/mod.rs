//! Parse -> walk (deserialize item by item, collecting errors) -> check -> compile.
//!
//! One file per section of the configuration: [`text`] (parsing, nesting limit), `gateway`,
//! `identities`, `authorizers`, `apis` (an API's stages, resource policy, gateway responses,
//! hosts), `routes` (a route's method, authorizer, integration, header mapping, URI template)
//! and `policies`. Every check pushes its error and goes on, so one pass reports them all.

mod apis;
mod authorizers;
mod gateway;
mod identities;
mod lines;
mod policies;
mod routes;
mod text;

pub use text::MAX_NESTING_DEPTH;
pub(crate) use text::check_depth;
use text::{is_json, json_position, parse_text, yaml_position};

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use regex::Regex;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tollgate_policy::{ExpandCtx, Policy, PolicyError, parse_policy};

use crate::access_log::AccessLogFormat;
use crate::check::{
    check_cognito_arn, check_http_url, check_identity_arn, is_12_digits, parse_rfc3339,
    parse_single_header_source, parse_source_list, valid_header_name, valid_header_value,
    valid_ident, valid_region,
};
use crate::compiled::{
    Compiled, CompiledAuthorizer, CompiledRoute, ContextExpr, Credential, Policies, UriPart,
    UriTemplate,
};
use crate::de::{deser, deser_partial, index, join, kind};
use crate::error::{ConfigError, ConfigErrors};
use crate::router::{ApiRouter, InsertError, Router, TemplateSegment, parse_template};
use crate::schema::{
    AccessKey, AccessLog, Api, Authorization, Authorizer, CognitoAuthorizer, Config,
    GatewayResponse, GatewaySection, HttpProxyIntegration, Identity, Integration, Limits, Listener,
    MockIntegration, RequestAuthorizer, ResponseType, Route, Stage, TokenAuthorizer,
};

/// Longest authorizer TTL AWS allows.
pub const MAX_TTL_SECONDS: u32 = 3600;

/// Read and load a configuration file; relative paths in it resolve against its directory.
pub fn load_file(path: &Path) -> Result<Compiled, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("", format!("cannot read {}: {e}", path.display())))?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    load_str(&text, base)
}

/// Load a configuration from text (YAML or JSON); relative paths resolve against `base_dir`.
pub fn load_str(text: &str, base_dir: &Path) -> Result<Compiled, ConfigErrors> {
    load_with_env(text, base_dir, &|k| std::env::var(k).ok())
}

/// [`load_str`] with an explicit environment (for `secret_env`).
pub fn load_with_env(
    text: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Compiled, ConfigErrors> {
    let mut root = parse_text(text)?;
    let openapi = expand_openapi_files(&mut root, base_dir);
    let mut l = Loader {
        base_dir,
        env,
        errors: openapi.errors,
        held: Vec::new(),
        listener_tls: Vec::new(),
        client_tls: None,
    };
    let built = l.walk(&root);
    crate::openapi::rename_errors(&mut l.errors, &openapi.labels, &openapi.authorizer_labels);
    match built {
        Some(parts) if l.errors.is_empty() => {
            // The digest covers the OpenAPI documents too: a changed document is a new config.
            let mut c = parts.finish(sha256_hex(&format!("{text}{}", openapi.digest_input)));
            c.warnings = openapi.warnings;
            c.listener_tls = l.listener_tls;
            c.client_tls = l
                .client_tls
                .unwrap_or_else(|| Err("no TLS client configuration".to_owned()));
            Ok(c)
        }
        _ => {
            if l.errors.is_empty() {
                l.errors.push(ConfigError::new("", "invalid configuration"));
            }
            lines::locate_all(text, is_json(text), &mut l.errors);
            Err(ConfigErrors(l.errors))
        }
    }
}

/// `apis[].openapi_file`: convert each named OpenAPI document into routes, authorizers, a
/// resource policy and gateway responses in the parsed tree, before the walk checks them like
/// any others (see `crate::openapi`).
fn expand_openapi_files(root: &mut Value, base_dir: &Path) -> crate::openapi::Expanded {
    crate::openapi::expand_config(root, base_dir)
}

/// Fields whose change needs a restart (the admin API rejects such a `PUT /config`).
pub fn restart_required(old: &Config, new: &Config) -> Vec<ConfigError> {
    let mut out = Vec::new();
    // A listener's `tls` contents (certificates, keys, truststore, min_version) and, on a TLS
    // listener, `http2` (what ALPN offers) reload live: only the rest of a listener (its
    // address, PROXY protocol, h2c on a plaintext listener) needs a restart.
    let shape = |c: &Config| -> Vec<Listener> {
        c.gateway
            .listeners
            .iter()
            .map(Listener::without_tls)
            .collect()
    };
    let tls_on = |c: &Config| -> Vec<bool> {
        c.gateway
            .listeners
            .iter()
            .map(|l| l.tls.is_some())
            .collect()
    };
    if shape(old) != shape(new) {
        out.push(ConfigError::new(
            "gateway.listeners",
            "changing listeners requires a restart",
        ));
    } else if tls_on(old) != tls_on(new) {
        out.push(ConfigError::new(
            "gateway.listeners",
            "turning TLS on or off for a listener requires a restart",
        ));
    }
    if old.gateway.workers != new.gateway.workers {
        out.push(ConfigError::new(
            "gateway.workers",
            "changing the worker count requires a restart",
        ));
    }
    if old.gateway.cpus != new.gateway.cpus {
        out.push(ConfigError::new(
            "gateway.cpus",
            "changing the workers' CPUs requires a restart",
        ));
    }
    let (ol, nl) = (&old.gateway.limits, &new.gateway.limits);
    if ol.authorizer_cache_l1_bytes != nl.authorizer_cache_l1_bytes
        || ol.authorizer_cache_l2_bytes != nl.authorizer_cache_l2_bytes
    {
        out.push(ConfigError::new(
            "gateway.limits",
            "changing authorizer_cache_l1_bytes / authorizer_cache_l2_bytes requires a restart",
        ));
    }
    if old.gateway.admin.bind != new.gateway.admin.bind {
        out.push(ConfigError::new(
            "gateway.admin.bind",
            "changing the admin address requires a restart",
        ));
    }
    out
}

fn sha256_hex(text: &str) -> String {
    use std::fmt::Write;
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d.as_ref() {
        let _ = write!(s, "{b:02x}");
    }
    s
}

const TOP_KEYS: [&str; 6] = [
    "gateway",
    "identities",
    "authorizers",
    "apis",
    "functions",
    "user_pools",
];

/// What an authorizer name refers to (known even when the authorizer itself is broken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthKind {
    Cognito,
    Lambda,
    Unknown,
}

/// What a walk produced: the parts of a [`Compiled`] (its hash comes from the text).
struct Parts {
    config: Config,
    router: Router,
    policies: Policies,
    credentials: HashMap<String, crate::compiled::Credential>,
    authorizers: Vec<CompiledAuthorizer>,
    routes: Vec<Vec<CompiledRoute>>,
}

impl Parts {
    fn finish(self, sha256: String) -> Compiled {
        Compiled::new(
            self.config,
            self.router,
            sha256,
            self.policies,
            self.credentials,
            self.authorizers,
            self.routes,
        )
    }
}

struct Loader<'a> {
    base_dir: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
    /// Paths of required keys whose wrong value was reported and replaced by a placeholder
    /// (see `deser_partial`): checks of the placeholder are not reported.
    held: Vec<String>,
    /// Built by the `gateway` walk: each listener's TLS configuration.
    listener_tls: Vec<Option<tollgate_tls::ServerTls>>,
    /// Built by the `gateway` walk: the client TLS configuration (or why there is none).
    client_tls: Option<Result<tollgate_tls::ClientTls, String>>,
}

/// Region / account for policy expansion, read from the raw text so policies are
/// checked even when the gateway section is broken.
struct Ctx {
    region: String,
    account_id: String,
}

impl Loader<'_> {
    fn err(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        let path = path.into();
        let on_placeholder = self.held.iter().any(|h| {
            path.strip_prefix(h.as_str())
                .is_some_and(|r| r.is_empty() || r.starts_with(['.', '[']))
        });
        if !on_placeholder {
            self.errors.push(ConfigError::new(path, msg));
        }
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The elements of an optional list (missing / null = empty).
    fn list<'v>(&mut self, obj: &'v Map<String, Value>, key: &str, path: &str) -> Vec<&'v Value> {
        match obj.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.iter().collect(),
            Some(other) => {
                self.err(
                    join(path, key),
                    format!("expected a list, found {}", kind(other)),
                );
                Vec::new()
            }
        }
    }

    /// The entries of an optional mapping (missing / null = empty).
    fn entries<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Vec<(&'v String, &'v Value)> {
        match obj.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => m.iter().collect(),
            Some(other) => {
                self.err(
                    join(path, key),
                    format!("expected a mapping, found {}", kind(other)),
                );
                Vec::new()
            }
        }
    }

    /// Deserialize `v` with the container keys `blank` replaced by empty values (they are
    /// walked separately, element by element). Partial: an item with removable faults comes
    /// back without them (reported), so its other checks still run.
    fn shell<T: DeserializeOwned>(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        blank: &[(&str, Value)],
    ) -> Option<T> {
        // Copy the item with its blanked keys replaced (their subtrees are never copied).
        let m: Map<String, Value> = obj
            .iter()
            .map(
                |(k, v)| match blank.iter().find(|(b, _)| *b == k.as_str()) {
                    Some((_, empty)) => (k.clone(), empty.clone()),
                    None => (k.clone(), v.clone()),
                },
            )
            .collect();
        deser_partial(&Value::Object(m), path, &mut self.errors, &mut self.held)
    }

    fn object<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.err(path, format!("expected a mapping, found {}", kind(other)));
                None
            }
        }
    }

    fn walk(&mut self, root: &Value) -> Option<Parts> {
        let obj = self.object(root, "")?;
        for k in obj.keys() {
            if !TOP_KEYS.contains(&k.as_str()) {
                self.err(
                    k.clone(),
                    format!("unknown key (expected one of: {})", TOP_KEYS.join(", ")),
                );
            }
        }
        let raw_gw = obj.get("gateway").and_then(Value::as_object);
        let raw_str = |k: &str| {
            raw_gw
                .and_then(|g| g.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let ctx = Ctx {
            region: raw_str("region"),
            account_id: raw_str("account_id"),
        };
        let gateway = match obj.get("gateway") {
            Some(g) => self.gateway(g),
            None => {
                self.err("gateway", "missing required key");
                None
            }
        };
        let (identities, policies_identity, credentials) = self.identities(obj, &ctx);
        let (authorizers, compiled_auth, auth_kinds) = self.authorizers(obj);
        let apis::Apis {
            apis,
            resource,
            routes,
            router,
        } = self.apis(obj, &ctx, &auth_kinds);
        let (functions, user_pools) = crate::openapi::tables(obj, &mut self.errors);
        Some(Parts {
            config: Config {
                gateway: gateway?,
                identities,
                authorizers,
                apis,
                functions,
                user_pools,
            },
            router,
            policies: Policies {
                resource,
                identity: policies_identity,
            },
            credentials,
            authorizers: compiled_auth,
            routes,
        })
    }
}
