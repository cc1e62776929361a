//! OpenAPI 2.0 / 3.0 / 3.1 documents with `x-amazon-apigateway-*` extensions, converted into
//! the configuration's own types (docs/openapi.md lists every extension and field and what
//! becomes of it).
//!
//! Two users: `apis[].openapi_file` ([`expand_config`], called while loading a configuration,
//! so a reload re-reads the document) and `tollgate import` ([`import`], which prints the
//! equivalent configuration). Whatever the document states that tollgate cannot honour is a
//! warning naming its JSON pointer (an error with `strict`); an integration tollgate cannot
//! serve (`aws`, `aws_proxy`) or a CloudFormation intrinsic where a string belongs is an error
//! naming the method, path and pointer.

mod convert;
mod doc;
mod emit;
#[cfg(test)]
mod tests;

use std::path::Path;

use serde_json::{Map, Value};

pub use convert::{Imported, Options, PLACEHOLDER, convert};
pub use doc::{Diag, MAX_DOCUMENT_BYTES, MAX_REF_HOPS, parse_document};
pub use emit::{ImportOutput, import_config};

use crate::check::{check_cognito_arn, check_http_url};
use crate::de::{deser, index, join, kind};
use crate::error::ConfigError;
use crate::schema::{Function, UserPool};

/// Parse and convert document text.
pub fn import(text: &str, opts: &Options<'_>) -> Result<Imported, Vec<Diag>> {
    let doc = parse_document(text).map_err(|d| vec![d])?;
    convert(&doc, opts)
}

/// What [`expand_config`] found.
#[derive(Debug, Default)]
pub struct Expanded {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
    /// `(api index, route labels)` of every API served from a document, for error messages.
    pub labels: Vec<(usize, Vec<String>)>,
    /// `(index in authorizers, what to call it)` of every authorizer a document added: the
    /// configuration has no such entry to point at.
    pub authorizer_labels: Vec<(usize, String)>,
    /// The documents read, in order (empty without `openapi_file`): appended to the config
    /// text for its SHA-256, so `GET /config` tells configurations with different documents apart.
    pub digest_input: String,
}

/// The load-time hook: in a parsed configuration, replace every `apis[i].openapi_file` by the
/// routes, authorizers (appended to `authorizers`, named `{api id}-{scheme}`), resource policy
/// and gateway responses its document states. `openapi_file` stays (resolved against
/// `base_dir`); the configuration's own `gateway_responses` override the document's.
pub fn expand_config(root: &mut Value, base_dir: &Path) -> Expanded {
    let mut ex = Expanded::default();
    let Some(top) = root.as_object_mut() else {
        return ex;
    };
    let functions: Vec<Function> = table(top, "functions");
    let user_pools: Vec<UserPool> = table(top, "user_pools");
    let mut new_authorizers = Vec::new();
    let mut new_labels = Vec::new();
    if let Some(Value::Array(apis)) = top.get_mut("apis") {
        for (i, api) in apis.iter_mut().enumerate() {
            let p = index("apis", i);
            let Some(a) = api.as_object_mut() else {
                continue;
            };
            let Some(f) = a.get("openapi_file").filter(|v| !v.is_null()) else {
                continue;
            };
            let at = join(&p, "openapi_file");
            let Some(f) = f.as_str() else {
                ex.errors.push(ConfigError::new(at, "expected a file path"));
                continue;
            };
            if a.get("routes").is_some_and(|r| !r.is_null()) {
                ex.errors.push(ConfigError::new(
                    p.clone(),
                    "openapi_file and routes are mutually exclusive (the document gives the routes)",
                ));
                continue;
            }
            let path = if Path::new(f).is_absolute() {
                Path::new(f).to_owned()
            } else {
                base_dir.join(f)
            };
            let shown = path.display().to_string();
            let text = match read_bounded(&path) {
                Ok(t) => t,
                Err(e) => {
                    ex.errors.push(ConfigError::new(at, e));
                    continue;
                }
            };
            ex.digest_input.push('\0');
            ex.digest_input.push_str(&text);
            let api_id = a.get("id").and_then(Value::as_str).unwrap_or("api");
            let opts = Options {
                functions: &functions,
                user_pools: &user_pools,
                placeholders: false,
                authorizer_prefix: format!("{api_id}-"),
                strict: false,
            };
            let imported = match import(&text, &opts) {
                Ok(x) => x,
                Err(diags) => {
                    for d in diags {
                        ex.errors
                            .push(ConfigError::new(at.clone(), format!("{shown}: {d}")));
                    }
                    continue;
                }
            };
            for w in &imported.warnings {
                ex.warnings
                    .push(ConfigError::new(at.clone(), format!("{shown}: {w}")));
            }
            a.insert(
                "openapi_file".to_owned(),
                Value::String(path.display().to_string()),
            );
            a.insert(
                "routes".to_owned(),
                serde_json::to_value(&imported.routes).unwrap_or(Value::Null),
            );
            if let Some(pol) = imported.resource_policy {
                if a.get("resource_policy").is_some_and(|v| !v.is_null())
                    || a.get("resource_policy_file").is_some_and(|v| !v.is_null())
                {
                    ex.errors.push(ConfigError::new(
                        p.clone(),
                        "the document has an x-amazon-apigateway-policy: remove resource_policy / resource_policy_file",
                    ));
                } else {
                    a.insert("resource_policy".to_owned(), pol);
                }
            }
            if !imported.gateway_responses.is_empty() {
                let mut merged = match serde_json::to_value(&imported.gateway_responses) {
                    Ok(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                if let Some(Value::Object(own)) = a.get("gateway_responses") {
                    for (k, v) in own {
                        merged.insert(k.clone(), v.clone());
                    }
                }
                a.insert("gateway_responses".to_owned(), Value::Object(merged));
            }
            for az in &imported.authorizers {
                new_authorizers.push(serde_json::to_value(az).unwrap_or(Value::Null));
                new_labels.push(format!("{at} ({shown}: authorizer {})", az.name()));
            }
            ex.labels.push((i, imported.labels));
        }
    }
    if !new_authorizers.is_empty() {
        let base = match top
            .entry("authorizers")
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(list) => {
                let base = list.len();
                list.extend(new_authorizers);
                Some(base)
            }
            v @ Value::Null => {
                *v = Value::Array(new_authorizers);
                Some(0)
            }
            _ => None, // the loader reports the wrong type
        };
        if let Some(base) = base {
            ex.authorizer_labels = new_labels
                .into_iter()
                .enumerate()
                .map(|(k, l)| (base + k, l))
                .collect();
        }
    }
    ex
}

/// Rewrite `apis[i].routes[j]...` in load errors into `apis[i].openapi_file (GET /x)...` for
/// APIs served from a document (the file has no `routes` of its own to point at).
pub fn rename_errors(
    errors: &mut [ConfigError],
    labels: &[(usize, Vec<String>)],
    authorizer_labels: &[(usize, String)],
) {
    for e in errors.iter_mut() {
        for (k, l) in authorizer_labels {
            let prefix = format!("authorizers[{k}]");
            if let Some(tail) = e.path.strip_prefix(&prefix) {
                e.path = format!("{l}{tail}");
                break;
            }
        }
    }
    for e in errors {
        for (i, ls) in labels {
            let prefix = format!("apis[{i}].routes[");
            let Some(rest) = e.path.strip_prefix(&prefix) else {
                continue;
            };
            let Some((n, tail)) = rest.split_once(']') else {
                continue;
            };
            if let Some(l) = n.parse::<usize>().ok().and_then(|j| ls.get(j)) {
                e.path = format!("apis[{i}].openapi_file ({l}){tail}");
            }
        }
    }
}

/// A table the loader checks element by element (with its paths); a malformed one counts
/// as empty here.
fn table<T: serde::de::DeserializeOwned>(top: &Map<String, Value>, key: &str) -> Vec<T> {
    top.get(key)
        .and_then(|v| serde_json::from_value::<Vec<T>>(v.clone()).ok())
        .unwrap_or_default()
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_DOCUMENT_BYTES as u64 {
        return Err(format!(
            "{} is larger than {MAX_DOCUMENT_BYTES} bytes",
            path.display()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The loader's walk of `functions` and `user_pools`, element by element with their paths.
pub(crate) fn tables(
    obj: &Map<String, Value>,
    errors: &mut Vec<ConfigError>,
) -> (Vec<Function>, Vec<UserPool>) {
    fn items<'v>(
        obj: &'v Map<String, Value>,
        key: &str,
        errors: &mut Vec<ConfigError>,
    ) -> &'v [Value] {
        match obj.get(key) {
            None | Some(Value::Null) => &[],
            Some(Value::Array(a)) => a,
            Some(other) => {
                errors.push(ConfigError::new(
                    key,
                    format!("expected a list, found {}", kind(other)),
                ));
                &[]
            }
        }
    }
    let mut functions = Vec::new();
    for (i, v) in items(obj, "functions", errors).iter().enumerate() {
        let p = index("functions", i);
        if let Some(f) = deser::<Function>(v, &p, errors) {
            if let Err(m) = check_http_url(&f.url) {
                errors.push(ConfigError::new(join(&p, "url"), m));
            }
            functions.push(f);
        }
    }
    let mut pools = Vec::new();
    for (i, v) in items(obj, "user_pools", errors).iter().enumerate() {
        let p = index("user_pools", i);
        if let Some(u) = deser::<UserPool>(v, &p, errors) {
            if let Err(m) = check_cognito_arn(&u.arn) {
                errors.push(ConfigError::new(join(&p, "arn"), m));
            }
            pools.push(u);
        }
    }
    (functions, pools)
}
