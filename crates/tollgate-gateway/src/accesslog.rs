//! Access log: one JSON object per line (`gateway.access_log`: stdout, off, or a file).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use std::fmt::Write as _;

use crate::ids::RequestId;
use crate::metrics::RouteLabel;

/// Per-request facts gathered before the buffer is touched again.
pub(crate) struct RequestInfo {
    pub method: String,
    pub path: String,
    pub user_agent: Option<String>,
    pub started: std::time::Instant,
    /// How long the `http_proxy` exchange took, once there was one.
    pub integration: Option<std::time::Duration>,
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

pub(crate) fn log(sink: &Sink, info: &RequestInfo, rid: &RequestId, ip: IpAddr, rec: &Record<'_>) {
    if matches!(sink, Sink::Off) {
        return;
    }
    let line = render(info, rid, ip, rec);
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
