//! The serde types of the configuration file (docs/configuration.md), one type per section.
//!
//! Every struct denies unknown keys. Defaults are those docs/configuration.md lists; keys tollgate adds
//! beyond the AWS-shaped core are marked "(tollgate extension)" and documented in
//! `docs/configuration.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub gateway: GatewaySection,
    #[serde(default)]
    pub identities: Vec<Identity>,
    #[serde(default)]
    pub authorizers: Vec<Authorizer>,
    #[serde(default)]
    pub apis: Vec<Api>,
    /// Lambda functions named by OpenAPI documents (`authorizerUri`): function name or ARN ->
    /// the URL to call it at here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<Function>,
    /// Cognito user pools named by OpenAPI documents (`providerARNs`) -> where their keys are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_pools: Vec<UserPool>,
}

/// One entry of `functions`: a Lambda function an OpenAPI document names, and how to call it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Function {
    /// The function's name (`my-authorizer`) or its full ARN
    /// (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:ALIAS]`).
    pub name: String,
    /// `http://` URL answering like the Lambda Invoke API.
    pub url: String,
}

/// One entry of `user_pools`: a Cognito user pool an OpenAPI document names, and its keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPool {
    /// `arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID`.
    pub arn: String,
    pub jwks: Jwks,
}

/// `gateway:` — process-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Region used in method ARNs, the SigV4 credential scope and the Cognito issuer.
    pub region: String,
    /// 12-digit account id owning the APIs (a string: quote it in YAML).
    pub account_id: String,
    /// 0 = one worker per available core. Restart required.
    #[serde(default)]
    pub workers: usize,
    /// CPU ids for the workers, in order (worker i on the i-th, wrapping). Empty = the CPUs of
    /// the process's affinity mask. A CPU outside that mask is refused at start. Restart
    /// required.
    #[serde(default)]
    pub cpus: Vec<usize>,
    /// Restart required. Default: one listener on `0.0.0.0:8080`.
    #[serde(default = "default_listeners")]
    pub listeners: Vec<Listener>,
    /// CIDRs whose `X-Forwarded-For` is believed for `aws:SourceIp`.
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub access_log: AccessLog,
    /// The access-log record as a template with API Gateway's `$context.*` variables (an API
    /// Gateway access-log format carries over). Absent: the JSON record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_format: Option<String>,
    #[serde(default)]
    pub error_messages: ErrorMessages,
    /// Upstream (http_proxy) connection settings. (tollgate extension)
    #[serde(default)]
    pub upstream: Upstream,
    /// The stderr log: level and format. Changes apply live.
    #[serde(default)]
    pub log: LogSection,
}

/// `gateway.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    #[serde(default)]
    pub level: LogLevel,
    #[serde(default)]
    pub format: LogFormat,
}

/// `gateway.log.level` (and `--log-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
}

/// `gateway.log.format`: `text` (one line per event) or `json` (one object per line, with
/// `timestamp`, `level` and `message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

pub fn default_listeners() -> Vec<Listener> {
    vec![Listener {
        bind: SocketAddr::from(([0, 0, 0, 0], 8080)),
        proxy_protocol: false,
        http2: false,
        tls: None,
    }]
}

/// One entry of `gateway.listeners`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    #[serde(deserialize_with = "de_socket_addr")]
    pub bind: SocketAddr,
    /// Every connection must start with a PROXY v1/v2 header.
    #[serde(default)]
    pub proxy_protocol: bool,
    /// Also serve HTTP/2: with prior knowledge (h2c) on a plaintext listener; over TLS, ALPN
    /// offers `h2` before `http/1.1` (reloaded with the TLS configuration).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub http2: bool,
    /// HTTPS: absent = plaintext. Reloaded with the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ListenerTls>,
}

/// `gateway.listeners[].tls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// Chosen by SNI (exact name, then `*.` wildcard); the first is the default. Relative
    /// paths resolve against the config file's directory.
    pub certificates: Vec<TlsCertificate>,
    /// `"1.2"` or `"1.3"`.
    #[serde(default = "default_min_version")]
    pub min_version: String,
    /// Mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuth>,
}

pub fn default_min_version() -> String {
    "1.2".to_owned()
}

/// One `gateway.listeners[].tls.certificates` entry: a PEM chain (leaf first) and its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsCertificate {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// `gateway.listeners[].tls.client_auth`: mutual TLS as API Gateway custom domains do it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuth {
    /// PEM CA certificates client certificates must chain to.
    pub truststore_file: PathBuf,
    /// true: no valid client certificate, no handshake; false: ask, and let clients without
    /// one through.
    #[serde(default)]
    pub required: bool,
}

impl Listener {
    /// The listener with its TLS contents left out: what a change of needs a restart. On a
    /// TLS listener `http2` is left out too: it only chooses what ALPN offers, which new
    /// handshakes take from the configuration current when they are accepted.
    pub fn without_tls(&self) -> Listener {
        Listener {
            tls: None,
            http2: self.http2 && self.tls.is_none(),
            ..self.clone()
        }
    }
}

/// `gateway.admin`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Restart required. Default `127.0.0.1:9901`.
    #[serde(default = "default_admin_bind", deserialize_with = "de_socket_addr")]
    pub bind: SocketAddr,
    /// If set, admin calls need `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

pub fn default_admin_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9901))
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            bind: default_admin_bind(),
            token: None,
        }
    }
}

/// `gateway.limits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Request line + headers; over -> 431 (414 for a long target).
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Over -> 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// The whole head must arrive in this time.
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// Keep-alive idle timeout.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish. (tollgate extension)
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
    /// Open client connections per worker; a connection over it is closed at once. (tollgate extension)
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A request body streamed to an upstream must arrive whole within this time (or the
    /// route's `timeout_ms`, if sooner); over it -> 408, close. (tollgate extension)
    #[serde(default = "default_body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// Request bodies held in memory before authentication (AWS_IAM payload hashing), all
    /// connections of a worker together; a body that would pass it -> 503. Unset: the larger
    /// of 64 MiB and `max_body_bytes` ([`Limits::buffered_body_budget`]). (tollgate extension)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_buffered_body_bytes_per_worker: Option<u64>,
    /// Byte budget of each worker's Lambda-authorizer result cache (L1). Read at start-up.
    /// (tollgate extension)
    #[serde(default = "default_authorizer_cache_l1_bytes")]
    pub authorizer_cache_l1_bytes: usize,
    /// Byte budget of the shared Lambda-authorizer result cache (L2). Read at start-up.
    /// (tollgate extension)
    #[serde(default = "default_authorizer_cache_l2_bytes")]
    pub authorizer_cache_l2_bytes: usize,
}

impl Limits {
    /// The per-worker budget for request bodies held before authentication.
    pub fn buffered_body_budget(&self) -> u64 {
        self.max_buffered_body_bytes_per_worker.unwrap_or_else(|| {
            default_max_buffered_body_bytes_per_worker().max(self.max_body_bytes)
        })
    }
}

pub fn default_authorizer_cache_l1_bytes() -> usize {
    8 << 20
}
pub fn default_authorizer_cache_l2_bytes() -> usize {
    64 << 20
}

pub fn default_max_header_bytes() -> usize {
    10240
}
pub fn default_max_body_bytes() -> u64 {
    10_485_760
}
pub fn default_header_timeout_ms() -> u64 {
    10_000
}
pub fn default_idle_timeout_ms() -> u64 {
    60_000
}
pub fn default_max_connections() -> usize {
    16_384
}
pub fn default_max_buffered_body_bytes_per_worker() -> u64 {
    67_108_864
}
pub fn default_drain_timeout_ms() -> u64 {
    10_000
}
pub fn default_body_timeout_ms() -> u64 {
    30_000
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: default_max_header_bytes(),
            max_body_bytes: default_max_body_bytes(),
            header_timeout_ms: default_header_timeout_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            drain_timeout_ms: default_drain_timeout_ms(),
            max_connections: default_max_connections(),
            body_timeout_ms: default_body_timeout_ms(),
            max_buffered_body_bytes_per_worker: None,
            authorizer_cache_l1_bytes: default_authorizer_cache_l1_bytes(),
            authorizer_cache_l2_bytes: default_authorizer_cache_l2_bytes(),
        }
    }
}

/// `gateway.upstream` (tollgate extension): the per-core keep-alive pools of `http_proxy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// TCP connect timeout; a connect over it answers 504.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Idle pooled connections are closed after this long.
    #[serde(default = "default_pool_idle_timeout_ms")]
    pub pool_idle_timeout_ms: u64,
    /// Idle connections kept per upstream address per worker.
    #[serde(default = "default_pool_max_idle")]
    pub pool_max_idle_per_host: usize,
    /// PEM roots trusted for `https://` upstreams, `jwks.url` and `function_url`; absent =
    /// the operating system's roots. Relative to the config file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

pub fn default_connect_timeout_ms() -> u64 {
    2_000
}
pub fn default_pool_idle_timeout_ms() -> u64 {
    30_000
}
pub fn default_pool_max_idle() -> usize {
    1024
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream {
            connect_timeout_ms: default_connect_timeout_ms(),
            pool_idle_timeout_ms: default_pool_idle_timeout_ms(),
            pool_max_idle_per_host: default_pool_max_idle(),
            ca_file: None,
        }
    }
}

/// `gateway.access_log`: `stdout`, `off`, or a file path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AccessLog {
    #[default]
    Stdout,
    Off,
    /// Relative paths are resolved against the config file's directory when loaded.
    File(PathBuf),
}

impl Serialize for AccessLog {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AccessLog::Stdout => s.serialize_str("stdout"),
            AccessLog::Off => s.serialize_str("off"),
            AccessLog::File(p) => p.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for AccessLog {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "stdout" => AccessLog::Stdout,
            "off" => AccessLog::Off,
            "" => {
                return Err(serde::de::Error::custom(
                    "empty access_log (use stdout, off or a file path)",
                ));
            }
            _ => AccessLog::File(PathBuf::from(s)),
        })
    }
}

/// `gateway.error_messages`: which AWS 403 texts to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMessages {
    #[default]
    Current,
    Legacy,
}

/// One IAM principal that may sign requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// `arn:aws:iam::<12 digits>:(user|role|root)...` (an assumed-role session is
    /// `arn:aws:sts::...:assumed-role/ROLE/SESSION`, a federated user
    /// `arn:aws:sts::...:federated-user/NAME`).
    pub arn: String,
    #[serde(default)]
    pub access_keys: Vec<AccessKey>,
    /// `aws:PrincipalTag/<key>`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Identity-based policies (IAM JSON grammar).
    #[serde(default)]
    pub policies: Vec<serde_json::Value>,
    /// `aws:userid`: the principal's unique id (`AIDA...` for a user, `AROA...:session` for a
    /// role session). Default: the account id for `:root`, `ACCOUNT:NAME` for a federated
    /// user, else the access key id the request was signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// For an assumed-role session: its role's ARN with the role path
    /// (`arn:aws:iam::ACCOUNT:role/PATH/ROLE`), the session's `aws:PrincipalArn`. Default
    /// `arn:aws:iam::ACCOUNT:role/ROLE` (a session ARN carries no path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// One access key of an identity. Exactly one of `secret`, `secret_env`, `secret_file`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKey {
    pub id: String,
    #[serde(default)]
    pub secret: Option<String>,
    /// Name of an environment variable holding the secret (read at load time).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A file holding the secret (trailing newline stripped; read at load time).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Set: temporary credentials; the token must be sent with each request.
    #[serde(default)]
    pub session_token: Option<String>,
    /// RFC 3339; after it -> 403 ExpiredTokenException.
    #[serde(default)]
    pub expires: Option<String>,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_env", &self.secret_env)
            .field("secret_file", &self.secret_file)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires", &self.expires)
            .finish()
    }
}

/// An authorizer, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Authorizer {
    #[serde(rename = "COGNITO_USER_POOLS")]
    CognitoUserPools(CognitoAuthorizer),
    #[serde(rename = "TOKEN")]
    Token(TokenAuthorizer),
    #[serde(rename = "REQUEST")]
    Request(RequestAuthorizer),
}

impl Authorizer {
    pub fn name(&self) -> &str {
        match self {
            Authorizer::CognitoUserPools(a) => &a.name,
            Authorizer::Token(a) => &a.name,
            Authorizer::Request(a) => &a.name,
        }
    }
    pub fn ttl_seconds(&self) -> u32 {
        match self {
            Authorizer::CognitoUserPools(a) => a.ttl_seconds,
            Authorizer::Token(a) => a.ttl_seconds,
            Authorizer::Request(a) => a.ttl_seconds,
        }
    }
    /// The `type` string as written in the file.
    pub fn type_name(&self) -> &'static str {
        match self {
            Authorizer::CognitoUserPools(_) => "COGNITO_USER_POOLS",
            Authorizer::Token(_) => "TOKEN",
            Authorizer::Request(_) => "REQUEST",
        }
    }
}

pub const DEFAULT_IDENTITY_SOURCE: &str = "method.request.header.Authorization";

pub fn default_identity_source() -> String {
    DEFAULT_IDENTITY_SOURCE.to_owned()
}
pub fn default_ttl_seconds() -> u32 {
    300
}
pub fn default_authorizer_timeout_ms() -> u64 {
    10_000
}

/// One issuer URL or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Issuers {
    One(String),
    Many(Vec<String>),
}

impl Issuers {
    /// The URLs, in the order given.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Issuers::One(s) => std::slice::from_ref(s),
            Issuers::Many(v) => v,
        }
    }
}

/// `type: COGNITO_USER_POOLS`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CognitoAuthorizer {
    pub name: String,
    /// `arn:aws:cognito-idp:<region>:<account>:userpool/<poolId>`; at least one.
    pub provider_arns: Vec<String>,
    /// Accepted `iss` values, one URL or a list; replaces the default. Default, per provider
    /// ARN, both forms a user pool may issue: `https://cognito-idp.{region}.amazonaws.com/{poolId}`
    /// (original) and `https://issuer-cognito-idp.{region}.amazonaws.com/{poolId}` (updated).
    #[serde(default)]
    pub issuer: Option<Issuers>,
    pub jwks: Jwks,
    #[serde(default = "default_identity_source")]
    pub identity_source: String,
    /// Regex matched (anchored, whole value) against the ID token's `aud`.
    #[serde(default)]
    pub identity_validation_expression: Option<String>,
    /// If set: an ID token's `aud` / an access token's `client_id` must be one.
    #[serde(default)]
    pub client_ids: Vec<String>,
    #[serde(default = "default_ttl_seconds")]
    pub ttl_seconds: u32,
    /// Allowed clock skew for `exp`/`nbf`/`iat`. (tollgate extension; AWS: 0)
    #[serde(default)]
    pub leeway_seconds: u64,
}

/// Where the JWKS comes from: exactly one of `file` or `url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jwks {
    /// A JSON file with a `keys` array, read at load time (relative to the config file).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// `http://` URL fetched by the gateway (no TLS client: `https://` is refused).
    #[serde(default)]
    pub url: Option<String>,
    /// How often a `url` JWKS is refetched.
    #[serde(default = "default_jwks_refresh")]
    pub refresh_seconds: u64,
}

pub fn default_jwks_refresh() -> u64 {
    300
}

/// `type: TOKEN` (a Lambda-style function reached over HTTP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenAuthorizer {
    pub name: String,
    /// `http://` URL answering like the Lambda Invoke API.
    pub function_url: String,
    #[serde(default = "default_identity_source")]
    pub identity_source: String,
    /// Regex the token must match whole (anchored); no match -> 401 without a call.
    #[serde(default)]
    pub identity_validation_expression: Option<String>,
    /// 0 disables caching, max 3600.
    #[serde(default = "default_ttl_seconds")]
    pub ttl_seconds: u32,
    #[serde(default = "default_authorizer_timeout_ms")]
    pub timeout_ms: u64,
}

/// `type: REQUEST`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestAuthorizer {
    pub name: String,
    pub function_url: String,
    /// Comma list of `method.request.header.X`, `method.request.querystring.X`,
    /// `stageVariables.X`, `context.X`. Required when `ttl_seconds > 0`.
    #[serde(default)]
    pub identity_source: Option<String>,
    #[serde(default = "default_ttl_seconds")]
    pub ttl_seconds: u32,
    #[serde(default = "default_authorizer_timeout_ms")]
    pub timeout_ms: u64,
}

/// One REST API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// The API id in method ARNs: 1-64 chars of `[a-zA-Z0-9_-]`.
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Host values (without port, case-insensitive) selecting this API; `"*"` = any.
    #[serde(default = "default_hosts")]
    pub hosts: Vec<String>,
    pub stages: BTreeMap<String, Stage>,
    #[serde(default)]
    pub resource_policy: Option<serde_json::Value>,
    /// A file holding the resource policy JSON (relative to the config file).
    #[serde(default)]
    pub resource_policy_file: Option<PathBuf>,
    #[serde(default)]
    pub routes: Vec<Route>,
    /// An OpenAPI 2/3 document with `x-amazon-apigateway-*` extensions (relative to the config
    /// file) giving the routes, authorizers, resource policy and gateway responses, instead of
    /// `routes`. Converted at load time (see `docs/openapi.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi_file: Option<PathBuf>,
    #[serde(default)]
    pub gateway_responses: BTreeMap<ResponseType, GatewayResponse>,
}

pub fn default_hosts() -> Vec<String> {
    vec!["*".to_owned()]
}

/// One stage of an API.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// One route: path template x methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// `{name}` = one segment, `{name+}` = greedy rest (last segment only).
    pub path: String,
    pub methods: Vec<Method>,
    pub authorization: Authorization,
    #[serde(default)]
    pub authorizer: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub integration: Integration,
}

/// HTTP methods a route may list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Any,
}

impl Method {
    pub const CONCRETE: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Any => "ANY",
        }
    }

    /// A request method's bytes -> a concrete method (case-sensitive, as HTTP is).
    /// `ANY` is not a request method and yields `None`.
    pub fn from_request(m: &[u8]) -> Option<Method> {
        Some(match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"PATCH" => Method::Patch,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            _ => return None,
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A route's authorization type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Authorization {
    None,
    AwsIam,
    CognitoUserPools,
    Custom,
}

/// A route's integration, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Integration {
    Mock(MockIntegration),
    HttpProxy(HttpProxyIntegration),
}

/// `type: mock`: the gateway answers itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockIntegration {
    #[serde(default = "default_mock_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
}

pub fn default_mock_status() -> u16 {
    200
}

/// `type: http_proxy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProxyIntegration {
    /// `http://host:port/path`, with `{param}` path parameters and `${stageVariables.x}`.
    pub uri: String,
    #[serde(default = "default_integration_timeout_ms")]
    pub timeout_ms: u64,
    /// Upstream header name <- context expression.
    #[serde(default)]
    pub request_headers: BTreeMap<String, String>,
    /// Client headers never forwarded to the upstream (case-insensitive; also in any
    /// spelling a backend folds to the name, `X_A` for `x-a`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_request_headers: Vec<String>,
}

pub fn default_integration_timeout_ms() -> u64 {
    29_000
}

/// Gateway response types (AWS names; semantics doc §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResponseType {
    AccessDenied,
    ApiConfigurationError,
    AuthorizerConfigurationError,
    AuthorizerFailure,
    BadRequestParameters,
    BadRequestBody,
    #[serde(rename = "DEFAULT_4XX")]
    Default4xx,
    #[serde(rename = "DEFAULT_5XX")]
    Default5xx,
    ExpiredToken,
    IntegrationFailure,
    IntegrationTimeout,
    InvalidApiKey,
    InvalidSignature,
    MissingAuthenticationToken,
    QuotaExceeded,
    RequestTooLarge,
    ResourceNotFound,
    Throttled,
    Unauthorized,
    UnsupportedMediaType,
    WafFiltered,
}

/// An override of one gateway response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayResponse {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
}

fn de_socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "invalid socket address \"{s}\" (expected IP:PORT, e.g. 0.0.0.0:8080 or [::1]:8080)"
        ))
    })
}
