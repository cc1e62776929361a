//! Parse -> walk (deserialize item by item, collecting errors) -> check -> compile.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use regex::Regex;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tollgate_policy::{ExpandCtx, Policy, PolicyError, parse_policy};

use crate::check::{
    check_cognito_arn, check_http_url, check_identity_arn, is_12_digits, parse_rfc3339,
    parse_single_header_source, parse_source_list, valid_header_name, valid_header_value,
    valid_ident, valid_region,
};
use crate::compiled::{
    Compiled, CompiledAuthorizer, CompiledRoute, ContextExpr, Credential, Policies, UriPart,
    UriTemplate,
};
use crate::de::{deser, index, join, kind};
use crate::error::{ConfigError, ConfigErrors};
use crate::router::{ApiRouter, InsertError, Router, TemplateSegment, parse_template};
use crate::schema::{
    AccessKey, AccessLog, Api, Authorization, Authorizer, CognitoAuthorizer, Config,
    GatewayResponse, GatewaySection, HttpProxyIntegration, Identity, Integration, Listener,
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
    };
    let built = l.walk(&root);
    crate::openapi::rename_errors(&mut l.errors, &openapi.labels);
    match built {
        Some(parts) if l.errors.is_empty() => {
            // The digest covers the OpenAPI documents too: a changed document is a new config.
            let mut c = parts.finish(sha256_hex(&format!("{text}{}", openapi.digest_input)));
            c.warnings = openapi.warnings;
            Ok(c)
        }
        _ => {
            if l.errors.is_empty() {
                l.errors.push(ConfigError::new("", "invalid configuration"));
            }
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
    if old.gateway.listeners != new.gateway.listeners {
        out.push(ConfigError::new(
            "gateway.listeners",
            "changing listeners requires a restart",
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

/// A policy element path with every segment that is not a policy grammar word replaced by
/// `<key>` (a file's own keys never appear in an error).
fn redact_policy_path(p: &str) -> String {
    const WORDS: [&str; 11] = [
        "Version",
        "Id",
        "Statement",
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
    ];
    let mut out = String::new();
    for seg in p.split('.').filter(|s| !s.is_empty()) {
        let (name, index) = match seg.find('[') {
            Some(i) => seg.split_at(i),
            None => (seg, ""),
        };
        let index_ok = index
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'[' || b == b']');
        if !out.is_empty() {
            out.push('.');
        }
        if WORDS.contains(&name) || name == "Condition" {
            out.push_str(name);
        } else {
            out.push_str("<key>");
        }
        if index_ok {
            out.push_str(index);
        }
    }
    out
}

/// A message with every double-quoted part that is not a fixed grammar word replaced by `"…"`.
fn redact_quoted(m: &str) -> String {
    const KEEP: [&str; 6] = [
        "Allow",
        "Deny",
        "*",
        "service:action",
        "2012-10-17",
        "2008-10-17",
    ];
    let mut out = String::with_capacity(m.len());
    let mut parts = m.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    let mut inside = true;
    for part in parts {
        if inside {
            out.push('"');
            out.push_str(if KEEP.contains(&part) { part } else { "…" });
            out.push('"');
        } else {
            out.push_str(part);
        }
        inside = !inside;
    }
    out
}

/// Deepest nesting a configuration (or a policy file) may have. libyaml's cost grows with the
/// square of the nesting depth (100 KB of `[[[…` took seconds of admin CPU), so deeper input
/// is refused before it reaches the parser. Real configs nest about a dozen levels.
pub const MAX_NESTING_DEPTH: usize = 64;

/// A cheap upper bound of the YAML nesting depth: flow collections (`[`, `{`) outside quotes
/// and comments, plus the block sequence / mapping-key indicators (`- `, `? `) that open a
/// level on the same line. Over-counts only for unbalanced brackets inside plain scalars.
fn nesting_depth(text: &str) -> usize {
    let mut max = 0usize;
    let mut flow = 0usize;
    for line in text.lines() {
        // Block indicators at the start of the line: `- - - x` nests three sequences.
        let mut block = 0usize;
        let mut rest = line.trim_start_matches([' ', '\t']);
        while let Some(r) = rest
            .strip_prefix('-')
            .or_else(|| rest.strip_prefix('?'))
            .filter(|r| r.is_empty() || r.starts_with([' ', '\t']))
        {
            block += 1;
            rest = r.trim_start_matches([' ', '\t']);
        }
        let mut quote: Option<char> = None;
        let mut escaped = false;
        let mut prev_space = true;
        for c in line.chars() {
            match quote {
                Some('"') => {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        quote = None;
                    }
                }
                Some(_) => {
                    if c == '\'' {
                        quote = None;
                    }
                }
                None => match c {
                    '"' | '\'' => quote = Some(c),
                    '#' if prev_space => break,
                    '[' | '{' => {
                        flow += 1;
                        max = max.max(flow + block);
                    }
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            prev_space = c == ' ' || c == '\t';
        }
        // A single-quoted or double-quoted scalar may span lines; keep it simple: a quote
        // left open at the end of a line is closed there (the count only errs upwards).
        max = max.max(flow + block);
    }
    max
}

/// Refuse input nested deeper than [`MAX_NESTING_DEPTH`] (see there).
pub(crate) fn check_depth(text: &str) -> Result<(), String> {
    let d = nesting_depth(text);
    if d > MAX_NESTING_DEPTH {
        return Err(format!(
            "nested deeper than {MAX_NESTING_DEPTH} levels (the nesting limit), found at least {d}"
        ));
    }
    Ok(())
}

/// Where a YAML error is, without the error's own text (which may quote the input).
fn yaml_position(e: &serde_yaml_ng::Error) -> String {
    match e.location() {
        Some(l) => format!("at line {} column {}", l.line(), l.column()),
        None => "(no position)".to_owned(),
    }
}

/// Where a JSON error is, and its category, without any of the input.
fn json_position(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Eof => "unexpected end of input",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

fn parse_text(text: &str) -> Result<Value, ConfigErrors> {
    // JSON is YAML, but a JSON document parses several times faster with a JSON parser:
    // machine-generated configs (large, swapped often) take this path. A document that starts
    // with `{` is JSON: its error is the JSON error with its line and column (no YAML retry,
    // which would cost a second parse of possibly hostile input). serde_json bounds nesting.
    if text.trim_start().starts_with('{') {
        let v = serde_json::from_str::<Value>(text)
            .map_err(|e| ConfigError::new("", format!("JSON syntax error: {e}")))?;
        return match v {
            Value::Object(_) => Ok(v),
            _ => Err(ConfigError::new("", "the configuration must be a mapping").into()),
        };
    }
    check_depth(text).map_err(|e| ConfigError::new("", e))?;
    let v: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| ConfigError::new("", format!("syntax error: {e}")))?;
    match v {
        Value::Object(_) => Ok(v),
        Value::Null => Err(ConfigError::new("", "the configuration is empty").into()),
        other => Err(ConfigError::new(
            "",
            format!("the configuration must be a mapping (gateway, identities, authorizers, apis), found {}", kind(&other)),
        )
        .into()),
    }
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
        let authorizer_index = self
            .config
            .authorizers
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name().to_owned(), i))
            .collect();
        Compiled {
            config: self.config,
            router: self.router,
            sha256,
            policies: self.policies,
            credentials: self.credentials,
            authorizers: self.authorizers,
            authorizer_index,
            routes: self.routes,
            warnings: Vec::new(),
        }
    }
}

struct Loader<'a> {
    base_dir: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
}

/// Region / account for policy expansion, read from the raw text so policies are
/// checked even when the gateway section is broken.
struct Ctx {
    region: String,
    account_id: String,
}

impl Loader<'_> {
    fn err(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.errors.push(ConfigError::new(path, msg));
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
    /// walked separately, element by element).
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
        deser(&Value::Object(m), path, &mut self.errors)
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

    fn policy(&mut self, v: &Value, path: &str, ctx: &Ctx, api_id: Option<&str>) -> Option<Policy> {
        if !v.is_object() {
            self.err(
                path,
                format!("a policy document must be a mapping, found {}", kind(v)),
            );
            return None;
        }
        let ectx = ExpandCtx {
            region: &ctx.region,
            account_id: &ctx.account_id,
            api_id,
        };
        match parse_policy(v, &ectx) {
            Ok(p) => Some(p),
            Err(errs) => {
                if errs.is_empty() {
                    self.err(path, "invalid policy");
                }
                for PolicyError { path: p, message } in errs {
                    let full = if p.is_empty() {
                        path.to_owned()
                    } else {
                        join(path, &p)
                    };
                    self.err(full, message);
                }
                None
            }
        }
    }

    /// [`Self::policy`] for a document read from a file: every error names the file and the
    /// element's place with the file's own keys and quoted values left out (a policy file may
    /// be any file the gateway can read, e.g. `/etc/shadow` parses as a YAML mapping).
    fn file_policy(
        &mut self,
        v: &Value,
        at: &str,
        file: &Path,
        ctx: &Ctx,
        api_id: Option<&str>,
    ) -> Option<Policy> {
        let before = self.errors.len();
        let p = self.policy(v, at, ctx, api_id);
        let file = file.display().to_string();
        for e in self.errors.iter_mut().skip(before) {
            let inner = e.path.strip_prefix(at).unwrap_or("");
            let place = redact_policy_path(inner);
            e.message = format!(
                "{file} is not a valid policy document{}{place}: {}",
                if place.is_empty() { "" } else { " at " },
                redact_quoted(&e.message)
            );
            e.path = at.to_owned();
        }
        p
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
        let apis_out = self.apis(obj, &ctx, &auth_kinds);
        let (apis, resource, routes, router) = apis_out;
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

    // ---------------------------------------------------------------- gateway

    fn gateway(&mut self, v: &Value) -> Option<GatewaySection> {
        let p = "gateway";
        let obj = self.object(v, p)?;
        let shell: Option<GatewaySection> = self.shell(
            obj,
            p,
            &[
                ("listeners", Value::Array(Vec::new())),
                ("trusted_proxies", Value::Array(Vec::new())),
            ],
        );
        let mut ok = true;
        let mut listeners = Vec::new();
        if obj.contains_key("listeners") {
            let lp = join(p, "listeners");
            for (i, l) in self.list(obj, "listeners", p).into_iter().enumerate() {
                match deser::<Listener>(l, &index(&lp, i), &mut self.errors) {
                    Some(l) => listeners.push(l),
                    None => ok = false,
                }
            }
            if listeners.is_empty() && ok {
                self.err(lp.clone(), "at least one listener is required");
            }
            for (i, l) in listeners.iter().enumerate() {
                if l.bind.port() != 0 && listeners.iter().take(i).any(|o| o.bind == l.bind) {
                    self.err(
                        join(&index(&lp, i), "bind"),
                        format!("duplicate listener address {}", l.bind),
                    );
                }
            }
        }
        let mut proxies = Vec::new();
        let tp = join(p, "trusted_proxies");
        for (i, t) in self.list(obj, "trusted_proxies", p).into_iter().enumerate() {
            let at = index(&tp, i);
            match t.as_str() {
                Some(s) => match s
                    .parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                {
                    Ok(n) => proxies.push(n.trunc()),
                    Err(_) => self.err(
                        at,
                        format!("invalid CIDR \"{s}\" (expected e.g. 10.0.0.0/8 or ::1/128)"),
                    ),
                },
                None => self.err(at, format!("expected a CIDR string, found {}", kind(t))),
            }
        }
        let mut g = shell?;
        if !ok {
            return None;
        }
        if obj.contains_key("listeners") {
            g.listeners = listeners;
        }
        g.trusted_proxies = proxies;

        if !valid_region(&g.region) {
            self.err(
                "gateway.region",
                format!("invalid region \"{}\" (e.g. us-east-1)", g.region),
            );
        }
        if !is_12_digits(&g.account_id) {
            self.err(
                "gateway.account_id",
                format!("expected 12 digits (quoted), found \"{}\"", g.account_id),
            );
        }
        if g.workers > 1024 {
            self.err("gateway.workers", "at most 1024 workers");
        }
        for (i, cpu) in g.cpus.iter().enumerate() {
            if *cpu >= 4096 {
                self.err(format!("gateway.cpus[{i}]"), "a CPU id below 4096");
            } else if g.cpus.iter().take(i).any(|c| c == cpu) {
                self.err(
                    format!("gateway.cpus[{i}]"),
                    format!("CPU {cpu} is listed twice"),
                );
            }
        }
        for (i, l) in g.listeners.iter().enumerate() {
            if l.bind.port() != 0
                && l.bind.port() == g.admin.bind.port()
                && (l.bind.ip() == g.admin.bind.ip()
                    || l.bind.ip().is_unspecified()
                    || g.admin.bind.ip().is_unspecified())
            {
                self.err(
                    "gateway.admin.bind",
                    format!(
                        "{} conflicts with gateway.listeners[{i}].bind {}",
                        g.admin.bind, l.bind
                    ),
                );
            }
        }
        if !g.admin.bind.ip().is_loopback() && g.admin.token.is_none() {
            // The admin API can replace the whole configuration (and with it read files
            // named by paths in it): off loopback it must not be open to anyone.
            self.err(
                "gateway.admin.token",
                format!(
                    "required when gateway.admin.bind ({}) is not a loopback address",
                    g.admin.bind
                ),
            );
        }
        if let Some(t) = &g.admin.token
            && (t.is_empty() || !valid_header_value(t) || t.contains(' '))
        {
            self.err(
                "gateway.admin.token",
                "the token must be non-empty, without spaces or control characters",
            );
        }
        let lim = &g.limits;
        for (name, v) in [
            ("authorizer_cache_l1_bytes", lim.authorizer_cache_l1_bytes),
            ("authorizer_cache_l2_bytes", lim.authorizer_cache_l2_bytes),
        ] {
            if !(65_536..=1 << 40).contains(&v) {
                self.err(
                    format!("gateway.limits.{name}"),
                    format!("must be between 65536 and 1099511627776, found {v}"),
                );
            }
        }
        if lim.max_header_bytes < 1024 || lim.max_header_bytes > 1 << 20 {
            self.err(
                "gateway.limits.max_header_bytes",
                "must be between 1024 and 1048576",
            );
        }
        if lim.max_connections == 0 {
            self.err("gateway.limits.max_connections", "must be greater than 0");
        }
        if lim
            .max_buffered_body_bytes_per_worker
            .is_some_and(|b| b < lim.max_body_bytes)
        {
            self.err(
                "gateway.limits.max_buffered_body_bytes_per_worker",
                "must be at least gateway.limits.max_body_bytes (one largest body must fit)",
            );
        }
        for (name, val) in [
            ("header_timeout_ms", lim.header_timeout_ms),
            ("idle_timeout_ms", lim.idle_timeout_ms),
            ("drain_timeout_ms", lim.drain_timeout_ms),
            ("body_timeout_ms", lim.body_timeout_ms),
        ] {
            if val == 0 {
                self.err(format!("gateway.limits.{name}"), "must be greater than 0");
            }
        }
        if g.upstream.connect_timeout_ms == 0 {
            self.err(
                "gateway.upstream.connect_timeout_ms",
                "must be greater than 0",
            );
        }
        if g.upstream.pool_idle_timeout_ms == 0 {
            self.err(
                "gateway.upstream.pool_idle_timeout_ms",
                "must be greater than 0",
            );
        }
        if let AccessLog::File(f) = &g.access_log {
            let resolved = self.resolve(f);
            if let Some(dir) = resolved.parent()
                && !dir.as_os_str().is_empty()
                && !dir.is_dir()
            {
                self.err(
                    "gateway.access_log",
                    format!("directory {} does not exist", dir.display()),
                );
            }
            g.access_log = AccessLog::File(resolved);
        }
        Some(g)
    }

    // ---------------------------------------------------------------- identities

    #[allow(clippy::type_complexity)]
    fn identities(
        &mut self,
        obj: &Map<String, Value>,
        ctx: &Ctx,
    ) -> (Vec<Identity>, Vec<Vec<Policy>>, HashMap<String, Credential>) {
        let mut out = Vec::new();
        let mut pols = Vec::new();
        let mut creds: HashMap<String, Credential> = HashMap::new();
        let mut key_seen: HashMap<String, String> = HashMap::new();
        let mut arn_seen: HashMap<String, String> = HashMap::new();
        for (i, v) in self.list(obj, "identities", "").into_iter().enumerate() {
            let p = index("identities", i);
            let Some(o) = self.object(v, &p) else {
                continue;
            };
            let shell: Option<Identity> = self.shell(
                o,
                &p,
                &[
                    ("access_keys", Value::Array(Vec::new())),
                    ("policies", Value::Array(Vec::new())),
                ],
            );
            let mut keys = Vec::new();
            let mut keys_ok = true;
            let kp = join(&p, "access_keys");
            for (j, k) in self.list(o, "access_keys", &p).into_iter().enumerate() {
                let at = index(&kp, j);
                match deser::<AccessKey>(k, &at, &mut self.errors) {
                    Some(key) => {
                        if let Some(prev) = key_seen.get(&key.id) {
                            self.err(
                                join(&at, "id"),
                                format!("access key id \"{}\" is already used at {prev}", key.id),
                            );
                        }
                        key_seen.insert(key.id.clone(), at.clone());
                        match self.access_key(&key, &at) {
                            Some((secret, expires, resolved_file)) => {
                                creds.insert(
                                    key.id.clone(),
                                    Credential {
                                        identity: i,
                                        access_key_id: key.id.clone(),
                                        secret,
                                        session_token: key.session_token.clone(),
                                        expires_unix: expires,
                                    },
                                );
                                let mut key = key;
                                key.secret_file = resolved_file;
                                keys.push(key);
                            }
                            None => keys_ok = false,
                        }
                    }
                    None => keys_ok = false,
                }
            }
            let mut ipols = Vec::new();
            let pp = join(&p, "policies");
            let raw_pols: Vec<Value> = self.list(o, "policies", &p).into_iter().cloned().collect();
            let mut pols_ok = true;
            for (j, pv) in raw_pols.iter().enumerate() {
                match self.policy(pv, &index(&pp, j), ctx, None) {
                    Some(pol) => ipols.push(pol),
                    None => pols_ok = false,
                }
            }
            let Some(mut ident) = shell else { continue };
            if let Err(m) = check_identity_arn(&ident.arn) {
                self.err(join(&p, "arn"), m);
            }
            if let Some(role) = &ident.role_arn
                && let Some(info) = tollgate_policy::PrincipalInfo::from_arn(&ident.arn)
                && let Err(m) = info.with_role_arn(role)
            {
                self.err(join(&p, "role_arn"), m);
            }
            if ident.user_id.as_deref().is_some_and(str::is_empty) {
                self.err(join(&p, "user_id"), "must not be empty");
            }
            if let Some(prev) = arn_seen.get(&ident.arn) {
                self.err(join(&p, "arn"), format!("duplicate identity (also {prev})"));
            }
            arn_seen.insert(ident.arn.clone(), p.clone());
            for k in ident.tags.keys() {
                if k.is_empty() || k.len() > 128 {
                    self.err(
                        join(&join(&p, "tags"), k),
                        "tag keys must have 1 to 128 characters",
                    );
                }
            }
            if keys_ok && pols_ok {
                ident.access_keys = keys;
                ident.policies = raw_pols;
                out.push(ident);
                pols.push(ipols);
            }
        }
        (out, pols, creds)
    }

    /// Check one access key; returns (secret, expiry, resolved secret_file).
    fn access_key(
        &mut self,
        k: &AccessKey,
        at: &str,
    ) -> Option<(String, Option<i64>, Option<PathBuf>)> {
        let mut ok = true;
        if k.id.len() < 3 || k.id.len() > 128 || !k.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            self.err(
                join(at, "id"),
                format!(
                    "invalid access key id \"{}\" (3-128 letters and digits)",
                    k.id
                ),
            );
            ok = false;
        }
        let sources = [
            k.secret.is_some(),
            k.secret_env.is_some(),
            k.secret_file.is_some(),
        ];
        let n = sources.iter().filter(|b| **b).count();
        let mut secret = None;
        let mut resolved_file = None;
        if n != 1 {
            self.err(
                at,
                format!("exactly one of secret, secret_env, secret_file is required (found {n})"),
            );
            ok = false;
        } else if let Some(s) = &k.secret {
            secret = Some(s.clone());
        } else if let Some(name) = &k.secret_env {
            match (self.env)(name) {
                Some(s) => secret = Some(s),
                None => {
                    self.err(
                        join(at, "secret_env"),
                        format!("environment variable {name} is not set"),
                    );
                    ok = false;
                }
            }
        } else if let Some(f) = &k.secret_file {
            let path = self.resolve(f);
            match std::fs::read_to_string(&path) {
                Ok(s) => secret = Some(s.trim_end_matches(['\r', '\n']).to_owned()),
                Err(e) => {
                    self.err(
                        join(at, "secret_file"),
                        format!("cannot read {}: {e}", path.display()),
                    );
                    ok = false;
                }
            }
            resolved_file = Some(path);
        }
        if let Some(s) = &secret
            && s.is_empty()
        {
            self.err(at, "the secret is empty");
            ok = false;
        }
        if let Some(t) = &k.session_token
            && t.is_empty()
        {
            self.err(
                join(at, "session_token"),
                "must not be empty (use null for long-term keys)",
            );
            ok = false;
        }
        let mut expires = None;
        if let Some(e) = &k.expires {
            match parse_rfc3339(e) {
                Some(t) => expires = Some(t),
                None => {
                    self.err(
                        join(at, "expires"),
                        format!("invalid RFC 3339 date-time \"{e}\" (e.g. 2030-01-01T00:00:00Z)"),
                    );
                    ok = false;
                }
            }
        }
        if ok {
            secret.map(|s| (s, expires, resolved_file))
        } else {
            None
        }
    }

    // ---------------------------------------------------------------- authorizers

    #[allow(clippy::type_complexity)]
    fn authorizers(
        &mut self,
        obj: &Map<String, Value>,
    ) -> (
        Vec<Authorizer>,
        Vec<CompiledAuthorizer>,
        BTreeMap<String, (AuthKind, usize)>,
    ) {
        let mut out = Vec::new();
        let mut compiled = Vec::new();
        let mut kinds: BTreeMap<String, (AuthKind, usize)> = BTreeMap::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        for (i, v) in self.list(obj, "authorizers", "").into_iter().enumerate() {
            let p = index("authorizers", i);
            let Some(o) = self.object(v, &p) else {
                continue;
            };
            // Learn the name and kind from the raw item so routes can refer to it even if it is broken.
            let raw_name = o.get("name").and_then(Value::as_str).map(str::to_owned);
            let ty = o.get("type").and_then(Value::as_str);
            let k = match ty {
                Some("COGNITO_USER_POOLS") => AuthKind::Cognito,
                Some("TOKEN" | "REQUEST") => AuthKind::Lambda,
                _ => AuthKind::Unknown,
            };
            if let Some(n) = &raw_name {
                if let Some(prev) = seen.get(n) {
                    self.err(
                        join(&p, "name"),
                        format!("duplicate authorizer name \"{n}\" (also {prev})"),
                    );
                } else {
                    seen.insert(n.clone(), p.clone());
                    kinds.insert(n.clone(), (k, i));
                }
            }
            let mut rest = o.clone();
            rest.remove("type");
            let rest = Value::Object(rest);
            let tp = join(&p, "type");
            let a = match o.get("type") {
                None => {
                    self.err(
                        tp,
                        "missing required key (COGNITO_USER_POOLS, TOKEN or REQUEST)",
                    );
                    None
                }
                Some(Value::String(t)) => match t.as_str() {
                    "COGNITO_USER_POOLS" => deser::<CognitoAuthorizer>(&rest, &p, &mut self.errors)
                        .map(Authorizer::CognitoUserPools),
                    "TOKEN" => {
                        deser::<TokenAuthorizer>(&rest, &p, &mut self.errors).map(Authorizer::Token)
                    }
                    "REQUEST" => deser::<RequestAuthorizer>(&rest, &p, &mut self.errors)
                        .map(Authorizer::Request),
                    other => {
                        self.err(tp, format!("unknown authorizer type \"{other}\" (expected one of: COGNITO_USER_POOLS, TOKEN, REQUEST)"));
                        None
                    }
                },
                Some(other) => {
                    self.err(tp, format!("expected a string, found {}", kind(other)));
                    None
                }
            };
            let Some(mut a) = a else { continue };
            if let Some(c) = self.authorizer(&mut a, &p) {
                out.push(a);
                compiled.push(c);
            }
        }
        (out, compiled, kinds)
    }

    fn regex(&mut self, expr: &Option<String>, at: &str) -> Result<Option<Regex>, ()> {
        let Some(e) = expr else { return Ok(None) };
        match Regex::new(&format!("^(?:{e})$")) {
            Ok(r) => Ok(Some(r)),
            Err(err) => {
                self.err(at, format!("invalid regular expression: {err}"));
                Err(())
            }
        }
    }

    fn authorizer(&mut self, a: &mut Authorizer, p: &str) -> Option<CompiledAuthorizer> {
        let before = self.errors.len();
        if !valid_ident(a.name(), 128) {
            self.err(
                join(p, "name"),
                format!(
                    "invalid authorizer name \"{}\" (1-128 of [A-Za-z0-9_-])",
                    a.name()
                ),
            );
        }
        if a.ttl_seconds() > MAX_TTL_SECONDS {
            self.err(
                join(p, "ttl_seconds"),
                format!(
                    "at most {MAX_TTL_SECONDS} (AWS's limit), found {}",
                    a.ttl_seconds()
                ),
            );
        }
        let mut c = CompiledAuthorizer {
            identity_sources: Vec::new(),
            validation: None,
            jwks: None,
            issuers: Vec::new(),
        };
        match a {
            Authorizer::CognitoUserPools(cg) => {
                if cg.provider_arns.is_empty() {
                    self.err(
                        join(p, "provider_arns"),
                        "at least one user pool ARN is required",
                    );
                }
                let mut issuers = Vec::new();
                for (i, arn) in cg.provider_arns.iter().enumerate() {
                    match check_cognito_arn(arn) {
                        // a pool issues the ORIGINAL or the UPDATED issuer (Cognito API
                        // reference, IssuerConfigurationType): accept both
                        Ok((region, pool)) => issuers.extend([
                            format!("https://cognito-idp.{region}.amazonaws.com/{pool}"),
                            format!("https://issuer-cognito-idp.{region}.amazonaws.com/{pool}"),
                        ]),
                        Err(m) => self.err(index(&join(p, "provider_arns"), i), m),
                    }
                }
                if let Some(list) = &cg.issuer {
                    let list = list.as_slice();
                    if list.is_empty() {
                        self.err(join(p, "issuer"), "at least one issuer URL is required");
                    }
                    for iss in list {
                        if !(iss.starts_with("https://") || iss.starts_with("http://")) {
                            self.err(
                                join(p, "issuer"),
                                format!("expected an http(s):// issuer URL, found \"{iss}\""),
                            );
                        }
                    }
                    issuers = list.to_vec();
                }
                c.issuers = issuers;
                self.header_source(&cg.identity_source, &join(p, "identity_source"), &mut c);
                if let Ok(r) = self.regex(
                    &cg.identity_validation_expression,
                    &join(p, "identity_validation_expression"),
                ) {
                    c.validation = r;
                }
                for (i, id) in cg.client_ids.iter().enumerate() {
                    if id.is_empty() {
                        self.err(index(&join(p, "client_ids"), i), "must not be empty");
                    }
                }
                let jp = join(p, "jwks");
                match (&cg.jwks.file, &cg.jwks.url) {
                    (Some(f), None) => {
                        let path = self.resolve(f);
                        c.jwks = self.jwks_file(&path, &join(&jp, "file"));
                        cg.jwks.file = Some(path);
                    }
                    (None, Some(u)) => {
                        if let Err(m) = check_http_url(u) {
                            self.err(join(&jp, "url"), m);
                        }
                        if cg.jwks.refresh_seconds == 0 {
                            self.err(join(&jp, "refresh_seconds"), "must be greater than 0");
                        }
                    }
                    _ => self.err(jp, "exactly one of file or url is required"),
                }
            }
            Authorizer::Token(t) => {
                self.function_url(&t.function_url, &join(p, "function_url"));
                self.header_source(&t.identity_source, &join(p, "identity_source"), &mut c);
                if let Ok(r) = self.regex(
                    &t.identity_validation_expression,
                    &join(p, "identity_validation_expression"),
                ) {
                    c.validation = r;
                }
                self.timeout(t.timeout_ms, &join(p, "timeout_ms"));
            }
            Authorizer::Request(r) => {
                self.function_url(&r.function_url, &join(p, "function_url"));
                match &r.identity_source {
                    Some(s) => match parse_source_list(s) {
                        Ok(list) => c.identity_sources = list,
                        Err(m) => self.err(join(p, "identity_source"), m),
                    },
                    None if r.ttl_seconds > 0 => self.err(
                        join(p, "identity_source"),
                        "required when caching is enabled (ttl_seconds > 0); set ttl_seconds: 0 to call the function on every request",
                    ),
                    None => {}
                }
                self.timeout(r.timeout_ms, &join(p, "timeout_ms"));
            }
        }
        if self.errors.len() == before {
            Some(c)
        } else {
            None
        }
    }

    fn header_source(&mut self, s: &str, at: &str, c: &mut CompiledAuthorizer) {
        match parse_single_header_source(s) {
            Ok(src) => c.identity_sources = vec![src],
            Err(m) => self.err(at, m),
        }
    }

    fn function_url(&mut self, u: &str, at: &str) {
        if let Err(m) = check_http_url(u) {
            self.err(at, m);
        }
    }

    fn timeout(&mut self, ms: u64, at: &str) {
        if ms == 0 || ms > 300_000 {
            self.err(at, format!("must be between 1 and 300000, found {ms}"));
        }
    }

    fn jwks_file(&mut self, path: &Path, at: &str) -> Option<Value> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.err(at, format!("cannot read {}: {e}", path.display()));
                return None;
            }
        };
        match serde_json::from_str::<Value>(&text) {
            Ok(v) if v.get("keys").is_some_and(Value::is_array) => Some(v),
            Ok(_) => {
                self.err(
                    at,
                    format!(
                        "{} is not a JWKS (a JSON object with a \"keys\" list)",
                        path.display()
                    ),
                );
                None
            }
            Err(e) => {
                // The position only: a JSON error may quote the file's content.
                self.err(
                    at,
                    format!(
                        "{} is not valid JSON: {}",
                        path.display(),
                        json_position(&e)
                    ),
                );
                None
            }
        }
    }

    // ---------------------------------------------------------------- apis

    #[allow(clippy::type_complexity)]
    fn apis(
        &mut self,
        obj: &Map<String, Value>,
        ctx: &Ctx,
        auth: &BTreeMap<String, (AuthKind, usize)>,
    ) -> (
        Vec<Api>,
        Vec<Option<Policy>>,
        Vec<Vec<CompiledRoute>>,
        Router,
    ) {
        let mut apis = Vec::new();
        let mut resource = Vec::new();
        let mut routes_c = Vec::new();
        let mut router = Router::new();
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut hosts: HashMap<String, String> = HashMap::new();
        for (i, v) in self.list(obj, "apis", "").into_iter().enumerate() {
            let p = index("apis", i);
            let Some(o) = self.object(v, &p) else {
                continue;
            };
            let before = self.errors.len();
            let shell: Option<Api> = self.shell(
                o,
                &p,
                &[
                    ("stages", Value::Object(Map::new())),
                    ("routes", Value::Array(Vec::new())),
                    ("gateway_responses", Value::Object(Map::new())),
                ],
            );
            // Raw id / hosts for cross-API checks even when the item is broken.
            let raw_id = o.get("id").and_then(Value::as_str).unwrap_or("");
            if !raw_id.is_empty() {
                if let Some(prev) = ids.get(raw_id) {
                    self.err(
                        join(&p, "id"),
                        format!("duplicate API id \"{raw_id}\" (also {prev})"),
                    );
                } else {
                    ids.insert(raw_id.to_owned(), p.clone());
                }
            }
            // stages
            let mut stages = BTreeMap::new();
            let sp = join(&p, "stages");
            match o.get("stages") {
                None => {}
                Some(Value::Object(m)) if m.is_empty() => {
                    self.err(sp.clone(), "at least one stage is required")
                }
                _ => {}
            }
            for (name, sv) in self.entries(o, "stages", &p) {
                let at = join(&sp, name);
                if !valid_ident(name, 128) {
                    self.err(
                        at.clone(),
                        format!("invalid stage name \"{name}\" (1-128 of [A-Za-z0-9_-])"),
                    );
                }
                let sv = if sv.is_null() {
                    Value::Object(Map::new())
                } else {
                    sv.clone()
                };
                if let Some(st) = deser::<Stage>(&sv, &at, &mut self.errors) {
                    for (k, val) in &st.variables {
                        let vp = join(&join(&at, "variables"), k);
                        if k.is_empty()
                            || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        {
                            self.err(vp.clone(), "stage variable names use [A-Za-z0-9_]");
                        }
                        if val.chars().any(char::is_control) {
                            self.err(vp, "stage variable values must not hold control characters");
                        }
                    }
                    stages.insert(name.clone(), st);
                }
            }
            // resource policy
            let mut rp = None;
            match (
                o.get("resource_policy").filter(|v| !v.is_null()),
                o.get("resource_policy_file").filter(|v| !v.is_null()),
            ) {
                (Some(_), Some(_)) => self.err(
                    p.clone(),
                    "resource_policy and resource_policy_file are mutually exclusive",
                ),
                (Some(doc), None) => {
                    rp = self.policy(doc, &join(&p, "resource_policy"), ctx, Some(raw_id))
                }
                (None, Some(Value::String(f))) => {
                    let path = self.resolve(Path::new(f));
                    let at = join(&p, "resource_policy_file");
                    // Errors name the file and a position, never its content: the path may
                    // come from an admin API caller and name any file the gateway can read.
                    match std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))
                        .and_then(|t| {
                            check_depth(&t).map_err(|e| format!("{}: {e}", path.display()))?;
                            serde_yaml_ng::from_str::<Value>(&t).map_err(|e| {
                                format!(
                                    "{} is not valid JSON/YAML: syntax error {}",
                                    path.display(),
                                    yaml_position(&e)
                                )
                            })
                        }) {
                        Ok(doc) => rp = self.file_policy(&doc, &at, &path, ctx, Some(raw_id)),
                        Err(e) => self.err(at, e),
                    }
                }
                _ => {}
            }
            // routes
            let mut routes = Vec::new();
            let rtp = join(&p, "routes");
            let raw_routes = self.list(o, "routes", &p);
            let mut parsed: Vec<(usize, Route)> = Vec::new();
            for (j, rv) in raw_routes.into_iter().enumerate() {
                let at = index(&rtp, j);
                if let Some(r) = self.route(rv, &at) {
                    parsed.push((j, r));
                }
            }
            let stage_names: Vec<String> = stages.keys().cloned().collect();
            let mut api_router = ApiRouter::new(stage_names);
            let mut compiled_routes = Vec::new();
            for (j, r) in &parsed {
                let at = index(&rtp, *j);
                if let Some(cr) =
                    self.check_route(r, &at, *j, &stages, auth, &mut api_router, &parsed)
                {
                    compiled_routes.push(cr);
                }
                routes.push(r.clone());
            }
            // gateway responses
            let mut responses = BTreeMap::new();
            let gp = join(&p, "gateway_responses");
            for (k, gv) in self.entries(o, "gateway_responses", &p) {
                let at = join(&gp, k);
                let ty = deser::<ResponseType>(&Value::String(k.clone()), &at, &mut self.errors);
                let gr = deser::<GatewayResponse>(gv, &at, &mut self.errors);
                if let Some(gr) = &gr {
                    if let Some(s) = gr.status
                        && !(100..=599).contains(&s)
                    {
                        self.err(
                            join(&at, "status"),
                            format!("must be between 100 and 599, found {s}"),
                        );
                    }
                    self.headers(&gr.headers, &join(&at, "headers"));
                }
                if let (Some(t), Some(g)) = (ty, gr) {
                    responses.insert(t, g);
                }
            }
            let Some(mut api) = shell else { continue };
            if !valid_ident(&api.id, 64) {
                self.err(
                    join(&p, "id"),
                    format!("invalid API id \"{}\" (1-64 of [A-Za-z0-9_-])", api.id),
                );
            }
            let hp = join(&p, "hosts");
            if api.hosts.is_empty() {
                self.err(hp.clone(), "at least one host (or \"*\") is required");
            }
            for (h, host) in api.hosts.iter().enumerate() {
                let at = index(&hp, h);
                let lower = host.to_ascii_lowercase();
                if host != "*" && !valid_host(host) {
                    self.err(
                        at.clone(),
                        format!("invalid host \"{host}\" (a host name without port, or \"*\")"),
                    );
                }
                if let Some(prev) = hosts.get(&lower) {
                    self.err(at, format!("host \"{host}\" is already listed by {prev}"));
                } else {
                    hosts.insert(lower, p.clone());
                }
            }
            if self.errors.len() != before {
                continue;
            }
            if let Some(f) = &api.resource_policy_file {
                api.resource_policy_file = Some(self.resolve(f));
            }
            api.stages = stages;
            api.routes = routes;
            api.gateway_responses = responses;
            router.add_api(&api.hosts, api_router);
            apis.push(api);
            resource.push(rp);
            routes_c.push(compiled_routes);
        }
        (apis, resource, routes_c, router)
    }

    fn route(&mut self, v: &Value, at: &str) -> Option<Route> {
        let o = self.object(v, at)?;
        let shell: Option<Route> = self.shell(
            o,
            at,
            &[("integration", serde_json::json!({"type": "mock"}))],
        );
        let integ = o
            .get("integration")
            .and_then(|iv| self.integration(iv, &join(at, "integration")));
        let mut r = shell?;
        r.integration = integ?;
        Some(r)
    }

    fn integration(&mut self, v: &Value, at: &str) -> Option<Integration> {
        let o = self.object(v, at)?;
        let rest: Map<String, Value> = o
            .iter()
            .filter(|(k, _)| k.as_str() != "type")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let rest = Value::Object(rest);
        let tp = join(at, "type");
        match o.get("type") {
            Some(Value::String(t)) if t == "mock" => {
                deser::<MockIntegration>(&rest, at, &mut self.errors).map(Integration::Mock)
            }
            Some(Value::String(t)) if t == "http_proxy" => {
                deser::<HttpProxyIntegration>(&rest, at, &mut self.errors)
                    .map(Integration::HttpProxy)
            }
            Some(Value::String(t)) => {
                self.err(
                    tp,
                    format!("unknown integration type \"{t}\" (expected one of: http_proxy, mock)"),
                );
                None
            }
            Some(other) => {
                self.err(tp, format!("expected a string, found {}", kind(other)));
                None
            }
            None => {
                self.err(tp, "missing required key (http_proxy or mock)");
                None
            }
        }
    }

    fn headers(&mut self, h: &BTreeMap<String, String>, at: &str) {
        for (k, v) in h {
            if !valid_header_name(k) {
                self.err(join(at, k), "invalid header name");
            } else if !valid_header_value(v) {
                self.err(join(at, k), "header values must not hold CR, LF or NUL");
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_route(
        &mut self,
        r: &Route,
        at: &str,
        j: usize,
        stages: &BTreeMap<String, Stage>,
        auth: &BTreeMap<String, (AuthKind, usize)>,
        api_router: &mut ApiRouter,
        all: &[(usize, Route)],
    ) -> Option<CompiledRoute> {
        let before = self.errors.len();
        // path template
        let segs = match parse_template(&r.path) {
            Ok(s) => Some(s),
            Err(m) => {
                self.err(join(at, "path"), m);
                None
            }
        };
        // methods
        if r.methods.is_empty() {
            self.err(join(at, "methods"), "at least one method is required");
        }
        for (k, m) in r.methods.iter().enumerate() {
            if r.methods.iter().take(k).any(|o| o == m) {
                self.err(
                    index(&join(at, "methods"), k),
                    format!("duplicate method {m}"),
                );
            }
        }
        // authorization / authorizer / scopes
        let ap = join(at, "authorizer");
        let mut authorizer_idx = None;
        match (r.authorization, &r.authorizer) {
            (Authorization::None | Authorization::AwsIam, Some(_)) => {
                self.err(
                    ap,
                    "only COGNITO_USER_POOLS and CUSTOM routes take an authorizer",
                );
            }
            (Authorization::CognitoUserPools | Authorization::Custom, None) => {
                self.err(
                    ap,
                    format!("required for authorization {}", auth_name(r.authorization)),
                );
            }
            (Authorization::CognitoUserPools | Authorization::Custom, Some(name)) => {
                match auth.get(name) {
                    None => {
                        // Config order, as in the documented example message.
                        let mut known: Vec<(usize, &str)> =
                            auth.iter().map(|(n, (_, i))| (*i, n.as_str())).collect();
                        known.sort_unstable();
                        let known: Vec<&str> = known.into_iter().map(|(_, n)| n).collect();
                        self.err(
                            ap,
                            format!(
                                "unknown authorizer \"{name}\" (known: {})",
                                if known.is_empty() {
                                    "none".to_owned()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        );
                    }
                    Some(&(k, raw_index)) => {
                        let fits = matches!(
                            (r.authorization, k),
                            (_, AuthKind::Unknown)
                                | (Authorization::CognitoUserPools, AuthKind::Cognito)
                                | (Authorization::Custom, AuthKind::Lambda)
                        );
                        if !fits {
                            let need = if r.authorization == Authorization::Custom {
                                "a TOKEN or REQUEST authorizer"
                            } else {
                                "a COGNITO_USER_POOLS authorizer"
                            };
                            self.err(
                                ap,
                                format!(
                                    "authorization {} needs {need}; \"{name}\" is not one",
                                    auth_name(r.authorization)
                                ),
                            );
                        }
                        authorizer_idx = Some(raw_index);
                    }
                }
            }
            (Authorization::None | Authorization::AwsIam, None) => {}
        }
        if !r.scopes.is_empty() && r.authorization != Authorization::CognitoUserPools {
            self.err(
                join(at, "scopes"),
                "scopes apply only to COGNITO_USER_POOLS routes",
            );
        }
        for (k, s) in r.scopes.iter().enumerate() {
            if s.is_empty() || s.contains(char::is_whitespace) {
                self.err(
                    index(&join(at, "scopes"), k),
                    "a scope is a non-empty string without spaces",
                );
            }
        }
        // integration
        let ip = join(at, "integration");
        let mut uri = None;
        let mut request_headers = Vec::new();
        match &r.integration {
            Integration::Mock(m) => {
                if !(100..=599).contains(&m.status) {
                    self.err(
                        join(&ip, "status"),
                        format!("must be between 100 and 599, found {}", m.status),
                    );
                }
                self.headers(&m.headers, &join(&ip, "headers"));
            }
            Integration::HttpProxy(h) => {
                let params: Vec<(&str, bool)> = segs
                    .iter()
                    .flatten()
                    .filter_map(|s| match s {
                        TemplateSegment::Param(n) => Some((n.as_str(), false)),
                        TemplateSegment::Greedy(n) => Some((n.as_str(), true)),
                        TemplateSegment::Literal(_) => None,
                    })
                    .collect();
                uri = self.uri(&h.uri, &join(&ip, "uri"), segs.is_some(), &params, stages);
                if h.timeout_ms < 50 || h.timeout_ms > 300_000 {
                    self.err(
                        join(&ip, "timeout_ms"),
                        format!("must be between 50 and 300000, found {}", h.timeout_ms),
                    );
                }
                let hp = join(&ip, "request_headers");
                let mut folded_seen: Vec<(String, &str)> = Vec::new();
                for (name, expr) in &h.request_headers {
                    let at = join(&hp, name);
                    if !valid_header_name(name) {
                        self.err(at, "invalid header name");
                        continue;
                    }
                    // Two names a CGI-style backend reads as one (`x-a`, `X_A`) would both be
                    // sent: refuse the second.
                    let folded = name.to_ascii_lowercase().replace('_', "-");
                    if let Some((_, first)) = folded_seen.iter().find(|(f, _)| *f == folded) {
                        self.err(
                            at,
                            format!("same header as \"{first}\" once case and '_'/'-' are folded"),
                        );
                        continue;
                    }
                    folded_seen.push((folded, name.as_str()));
                    let lower = name.to_ascii_lowercase();
                    if HOP_BY_HOP.contains(&lower.as_str()) {
                        self.err(at, "cannot set a hop-by-hop or framing header");
                        continue;
                    }
                    match ContextExpr::parse(expr) {
                        Ok(ContextExpr::StageVariable(v)) => {
                            for (sname, st) in stages {
                                if !st.variables.contains_key(&v) {
                                    self.err(at.clone(), format!("stage variable \"{v}\" is not defined in stage \"{sname}\""));
                                }
                            }
                            request_headers.push((lower, ContextExpr::StageVariable(v)));
                        }
                        Ok(ContextExpr::Static(s)) if !valid_header_value(&s) => {
                            self.err(at, "header values must not hold CR, LF or NUL");
                        }
                        Ok(e) => request_headers.push((lower, e)),
                        Err(m) => self.err(at, m),
                    }
                }
            }
        }
        // insert into the trie (duplicates, conflicting parameter names)
        if let Some(segs) = &segs
            && self.errors.len() == before
            && let Err(e) = api_router.insert(j, &r.path, segs, &r.methods)
        {
            let pp = at.rsplit_once('[').map_or(at, |(b, _)| b);
            match e {
                InsertError::Duplicate { method, other_route } => {
                    let other = all.iter().find(|(k, _)| *k == other_route).map_or("", |(_, o)| o.path.as_str());
                    self.err(
                        join(at, "path"),
                        format!("duplicate route {method} {} (same as {}[{other_route}] {other})", r.path, pp),
                    );
                }
                InsertError::ParamName { existing, new } => self.err(
                    join(at, "path"),
                    format!("path parameter {{{new}}} conflicts with sibling {{{existing}}} at the same position (one name per position)"),
                ),
            }
        }
        if self.errors.len() == before {
            Some(CompiledRoute {
                authorizer: authorizer_idx,
                uri,
                request_headers,
            })
        } else {
            None
        }
    }

    fn uri(
        &mut self,
        uri: &str,
        at: &str,
        check_params: bool,
        params: &[(&str, bool)],
        stages: &BTreeMap<String, Stage>,
    ) -> Option<UriTemplate> {
        let before = self.errors.len();
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = uri;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("${") {
                let Some(end) = r.find('}') else {
                    self.err(at, "unterminated ${...}");
                    return None;
                };
                let inner = r.get(..end).unwrap_or("");
                match inner.strip_prefix("stageVariables.") {
                    Some(v) if valid_ident(v, 128) => {
                        if !lit.is_empty() {
                            parts.push(UriPart::Literal(std::mem::take(&mut lit)));
                        }
                        for (sname, st) in stages {
                            if !st.variables.contains_key(v) {
                                self.err(
                                    at,
                                    format!(
                                        "stage variable \"{v}\" is not defined in stage \"{sname}\""
                                    ),
                                );
                            }
                        }
                        parts.push(UriPart::StageVariable(v.to_owned()));
                    }
                    _ => self.err(
                        at,
                        format!(
                            "unsupported variable ${{{inner}}} (only ${{stageVariables.NAME}})"
                        ),
                    ),
                }
                rest = r.get(end + 1..).unwrap_or("");
            } else if let Some(r) = rest.strip_prefix('{') {
                let Some(end) = r.find('}') else {
                    self.err(at, "unterminated {...}");
                    return None;
                };
                let inner = r.get(..end).unwrap_or("");
                let name = inner.strip_suffix('+').unwrap_or(inner);
                if check_params && !params.iter().any(|(n, _)| *n == name) {
                    let known: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
                    self.err(
                        at,
                        format!(
                            "{{{inner}}} is not a path parameter of this route (route parameters: {})",
                            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                        ),
                    );
                }
                if !lit.is_empty() {
                    parts.push(UriPart::Literal(std::mem::take(&mut lit)));
                }
                parts.push(UriPart::PathParam(name.to_owned()));
                rest = r.get(end + 1..).unwrap_or("");
            } else {
                let next = rest.find(['$', '{']).unwrap_or(rest.len());
                let cut = if next == 0 { 1 } else { next };
                lit.push_str(rest.get(..cut).unwrap_or(""));
                rest = rest.get(cut..).unwrap_or("");
            }
        }
        if !lit.is_empty() {
            parts.push(UriPart::Literal(lit));
        }
        let t = UriTemplate { parts };
        if self.errors.len() != before {
            return None;
        }
        // Scheme and authority, checked with each stage's values substituted.
        if uri.starts_with("https://") || !uri.starts_with("http://") {
            if let Err(m) = check_http_url(uri) {
                self.err(at, m);
            }
            return None;
        }
        for (sname, st) in stages {
            let rendered = t.render(|_| Some("x"), &st.variables);
            if let Err(m) = check_http_url(&rendered) {
                self.err(at, format!("in stage \"{sname}\": {m}"));
            }
        }
        if self.errors.len() == before {
            Some(t)
        } else {
            None
        }
    }
}

const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
    "expect",
];

fn auth_name(a: Authorization) -> &'static str {
    match a {
        Authorization::None => "NONE",
        Authorization::AwsIam => "AWS_IAM",
        Authorization::CognitoUserPools => "COGNITO_USER_POOLS",
        Authorization::Custom => "CUSTOM",
    }
}

fn valid_host(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}
