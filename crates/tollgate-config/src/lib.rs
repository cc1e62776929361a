//! tollgate-config turns a YAML (or JSON) configuration file into one immutable, validated,
//! compiled value, [`Compiled`]: the serde [`Config`] (schema in [`schema`], documented in docs/configuration.md),
//! a [`Router`] (host -> API, stage, path-template trie, method), parsed policies, resolved
//! credentials and per-route/per-authorizer compiled parts. Loading collects *every* error
//! in one pass as a [`ConfigError`] naming its field path and line (`apis[0].routes[2].authorizer:
//! unknown authorizer "userz" (known: users, tokens) (line 31)`). The crate is pure: it reads only files the
//! configuration names (`resource_policy_file`, `secret_file`, `jwks.file`, `openapi_file`), no network.
//!
//! ```
//! use std::path::Path;
//! let compiled = tollgate_config::load_str(tollgate_config::QUICKSTART, Path::new(".")).unwrap();
//! let m = compiled.router.lookup(b"localhost", b"GET", b"/prod/hello").unwrap();
//! assert_eq!((m.stage, m.template), ("prod", "/hello"));
//! let api = &compiled.config.apis[m.api];
//! let arn = tollgate_config::method_arn("us-east-1", "123456789012", &api.id, m.stage, "GET", "/hello");
//! assert_eq!(arn, "arn:aws:execute-api:us-east-1:123456789012:quickstart1/prod/GET/hello");
//!
//! let err = tollgate_config::load_str("gateway: {region: us-east-1}\n", Path::new(".")).unwrap_err();
//! assert_eq!(err.to_string(), "gateway.account_id: missing required key (line 1)");
//! ```
//!
//! Every key is documented in `docs/configuration.md`.

pub mod access_log;
mod check;
pub mod compiled;
mod de;
pub mod error;
mod load;
pub mod openapi;
pub mod router;
pub mod schema;

pub use access_log::{AccessLogFormat, ContextVar, Var};
pub use compiled::*;
pub use error::{ConfigError, ConfigErrors};
pub use load::{
    MAX_NESTING_DEPTH, MAX_TTL_SECONDS, load_file, load_str, load_with_env, restart_required,
};
pub use router::{
    ApiRouter, InsertError, RouteMatch, Router, TemplateSegment, method_arn, parse_template,
};
pub use schema::*;

/// The built-in quickstart configuration (`configs/quickstart.yaml`), served by
/// `tollgate serve` without `--config`.
pub const QUICKSTART: &str = include_str!("../../../configs/quickstart.yaml");
