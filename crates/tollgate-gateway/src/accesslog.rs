//! Access log: one record per line (`gateway.access_log`: stdout, off, or a file): the JSON
//! object by default, or `gateway.access_log_format` rendered with API Gateway's `$context.*`
//! variables.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use std::fmt::Write as _;

use tollgate_config::{AccessLogFormat, ContextVar, Var};

use crate::ids::RequestId;
use crate::metrics::RouteLabel;
use crate::responses::{GatewayError, ResponseTypeExt};

/// Per-request facts gathered before the buffer is touched again.
pub(crate) struct RequestInfo {
    pub method: String,
    pub path: String,
    pub user_agent: Option<String>,
    pub started: std::time::Instant,
    /// How long the `http_proxy` exchange took, once there was one.
    pub integration: Option<std::time::Duration>,
    /// `$context.protocol`: `HTTP/1.1`, `HTTP/1.0`, `HTTP/2.0`
    pub protocol: &'static str,
    /// The `Host` the client named (`$context.domainName`); only gathered when the access-log
    /// format is set (the JSON record does not carry it).
    pub host: Option<String>,
}

/// The route a request matched, as logs, metrics and the access log name it.
pub(crate) struct Routed<'a> {
    pub api_id: &'a str,
    pub stage: &'a str,
    pub label: &'a RouteLabel,
    /// The route's path template (`$context.resourcePath`).
    pub resource_path: &'a str,
}

pub enum Sink {
    Off,
    Stdout,
    File(Mutex<File>),
}

impl Sink {
    pub fn from_config(a: &tollgate_config::AccessLog) -> std::io::Result<Sink> {
        Ok(match a {
            tollgate_config::AccessLog::Off => Sink::Off,
            tollgate_config::AccessLog::Stdout => Sink::Stdout,
            tollgate_config::AccessLog::File(p) => Sink::File(Mutex::new(open(p)?)),
        })
    }
}

fn open(p: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

fn push_json_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(j) => out.push_str(&j),
        Err(_) => out.push_str("null"),
    }
}

/// What the access log records about one answered request besides [`RequestInfo`].
pub(crate) struct Record<'a> {
    pub status: u16,
    /// Response body bytes sent (AWS's `responseLength`: the head is not counted).
    pub body_len: usize,
    /// The route, once the request was routed.
    pub route: Option<&'a Routed<'a>>,
    /// Who was authorized (`principalId`, IAM caller ARN, Cognito `sub`).
    pub principal: Option<&'a str>,
    /// The reason of a gateway-made error (the stderr reason's text).
    pub error: Option<&'a str>,
    /// What the authorizer established about the caller (`$context.authorizer.*`,
    /// `$context.identity.*`).
    pub caller: Option<Caller<'a>>,
    /// The gateway-made error answered (`$context.error.*`).
    pub gateway_error: Option<&'a GatewayError>,
}

/// An authorized caller as plain data (the authorizers' own type lives above this layer).
#[derive(Clone, Copy)]
pub(crate) struct Caller<'a> {
    pub principal_id: Option<&'a str>,
    /// A Lambda authorizer's `context`, stringified.
    pub authorizer: &'a [(String, String)],
    /// A Cognito token's claims.
    pub claims: &'a [(String, String)],
    /// IAM identity fields (`userArn`, `accountId`, `caller`, `user`, ...).
    pub identity: &'a [(&'static str, String)],
}

fn find<'a, K: AsRef<str>>(pairs: &'a [(K, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.as_ref() == name)
        .map(|(_, v)| v.as_str())
}

fn push_field(line: &mut String, name: &str, value: &str) {
    line.push_str(",\"");
    line.push_str(name);
    line.push_str("\":");
    push_json_str(line, value);
}

fn push_millis(line: &mut String, name: &str, d: std::time::Duration) {
    let _ = write!(line, ",\"{name}\":{:.3}", d.as_secs_f64() * 1000.0);
}

/// The JSON line of one request (with its newline).
fn render(info: &RequestInfo, rid: &RequestId, ip: IpAddr, rec: &Record<'_>) -> String {
    let now = crate::logging::rfc3339_millis(std::time::SystemTime::now());
    let mut line = String::with_capacity(320);
    line.push_str("{\"time\":");
    push_json_str(&mut line, &now);
    push_field(&mut line, "requestId", rid.as_str());
    push_field(&mut line, "ip", &ip.to_string());
    push_field(&mut line, "method", &info.method);
    push_field(&mut line, "path", &info.path);
    push_field(&mut line, "protocol", info.protocol);
    let _ = write!(
        line,
        ",\"status\":{},\"responseLength\":{}",
        rec.status, rec.body_len
    );
    push_millis(&mut line, "latencyMs", info.started.elapsed());
    if let Some(d) = info.integration {
        push_millis(&mut line, "integrationLatencyMs", d);
    }
    if let Some(r) = rec.route {
        push_field(&mut line, "apiId", r.api_id);
        push_field(&mut line, "stage", r.stage);
        push_field(&mut line, "route", &r.label.route);
        push_field(&mut line, "resourcePath", r.resource_path);
    }
    if let Some(p) = rec.principal {
        push_field(&mut line, "principal", p);
    }
    if let Some(e) = rec.error {
        push_field(&mut line, "error", e);
    }
    if let Some(ua) = &info.user_agent {
        push_field(&mut line, "userAgent", ua);
    }
    line.push_str("}\n");
    line
}

/// The values a format's fixed variables take that are not borrowed from the request.
struct Computed {
    ip: String,
    status: String,
    length: String,
    time_clf: String,
    epoch_ms: String,
    latency_ms: String,
    integration_ms: Option<String>,
    /// `$context.error.messageString`: the message in quotes, as AWS writes it.
    message_string: Option<String>,
}

impl Computed {
    fn new(info: &RequestInfo, ip: IpAddr, rec: &Record<'_>) -> Self {
        let now = std::time::SystemTime::now();
        let total = info.started.elapsed();
        // AWS's requestTime is when the request arrived, not when the line is written.
        let started = now.checked_sub(total).unwrap_or(now);
        let since = started
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = i64::try_from(since.as_secs()).unwrap_or(0);
        Self {
            ip: ip.to_string(),
            status: rec.status.to_string(),
            length: rec.body_len.to_string(),
            time_clf: tollgate_time::format_clf(secs),
            epoch_ms: since.as_millis().to_string(),
            latency_ms: total.as_millis().to_string(),
            integration_ms: info.integration.map(|d| d.as_millis().to_string()),
            message_string: rec
                .gateway_error
                .and_then(|e| e.message.as_deref())
                .map(|m| format!("\"{m}\"")),
        }
    }
}

/// One record rendered with `format` (with its newline): each `$context` variable's value,
/// `-` where the request has none.
fn render_format(
    format: &AccessLogFormat,
    info: &RequestInfo,
    rid: &RequestId,
    ip: IpAddr,
    rec: &Record<'_>,
) -> String {
    let c = Computed::new(info, ip, rec);
    let mut line = String::with_capacity(256);
    format.render(&mut line, |v| match v {
        Var::Context(cv) => context_value(*cv, info, rid, rec, &c),
        Var::Claim(name) => rec.caller.and_then(|k| find(k.claims, name)),
        Var::AuthorizerProperty(key) => rec.caller.and_then(|k| find(k.authorizer, key)),
    });
    line.push('\n');
    line
}

/// The value of one fixed `$context` variable (`None`: written `-`).
fn context_value<'v>(
    v: ContextVar,
    info: &'v RequestInfo,
    rid: &'v RequestId,
    rec: &'v Record<'v>,
    c: &'v Computed,
) -> Option<&'v str> {
    use ContextVar as V;
    let route = rec.route;
    let ident = |name| rec.caller.and_then(|k| find(k.identity, name));
    match v {
        V::RequestId | V::ExtendedRequestId => Some(rid.as_str()),
        V::ApiId => route.map(|r| r.api_id),
        V::Stage => route.map(|r| r.stage),
        V::ResourcePath => route.map(|r| r.resource_path),
        V::HttpMethod => Some(&info.method),
        V::Path => Some(&info.path),
        V::Protocol => Some(info.protocol),
        V::DomainName => info.host.as_deref(),
        V::DomainPrefix => info.host.as_deref().and_then(|h| h.split('.').next()),
        V::Status => Some(&c.status),
        V::ResponseLength => Some(&c.length),
        V::RequestTime => Some(&c.time_clf),
        V::RequestTimeEpoch => Some(&c.epoch_ms),
        V::ResponseLatency => Some(&c.latency_ms),
        V::IntegrationLatency | V::IntegrationLatencyMs => c.integration_ms.as_deref(),
        V::IdentitySourceIp => Some(&c.ip),
        V::IdentityUserAgent => info.user_agent.as_deref(),
        V::IdentityCaller => ident("caller"),
        V::IdentityUser => ident("user"),
        V::IdentityUserArn => ident("userArn"),
        V::IdentityAccountId => ident("accountId"),
        V::AuthorizerPrincipalId => rec.caller.and_then(|k| k.principal_id),
        V::ErrorMessage => rec.gateway_error.and_then(|e| e.message.as_deref()),
        V::ErrorMessageString => c.message_string.as_deref(),
        V::ErrorResponseType => rec.gateway_error.map(|e| e.rtype.name()),
        _ => None,
    }
}

pub(crate) fn log(
    sink: &Sink,
    format: Option<&AccessLogFormat>,
    info: &RequestInfo,
    rid: &RequestId,
    ip: IpAddr,
    rec: &Record<'_>,
) {
    if matches!(sink, Sink::Off) {
        return;
    }
    let line = match format {
        Some(f) => render_format(f, info, rid, ip, rec),
        None => render(info, rid, ip, rec),
    };
    match sink {
        Sink::Off => {}
        Sink::Stdout => {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
        Sink::File(f) => {
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}
