//! Access log: one JSON object per line (`gateway.access_log`: stdout, off, or a file).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use crate::conn::RequestInfo;
use crate::ids::RequestId;
use crate::worker::Worker;

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

pub(crate) fn log(
    w: &Worker,
    info: &RequestInfo,
    rid: &RequestId,
    status: u16,
    bytes: usize,
    ip: IpAddr,
    route: Option<(&str, &str, &str)>,
) {
    let sink = w.shared.access_log.load();
    if matches!(**sink, Sink::Off) {
        return;
    }
    let now = crate::logging::rfc3339_millis(std::time::SystemTime::now());
    let mut line = String::with_capacity(256);
    line.push_str("{\"time\":");
    push_json_str(&mut line, &now);
    line.push_str(",\"requestId\":\"");
    line.push_str(rid.as_str());
    line.push_str("\",\"ip\":\"");
    line.push_str(&ip.to_string());
    line.push_str("\",\"method\":");
    push_json_str(&mut line, &info.method);
    line.push_str(",\"path\":");
    push_json_str(&mut line, &info.path);
    line.push_str(",\"status\":");
    line.push_str(&status.to_string());
    line.push_str(",\"responseLength\":");
    line.push_str(&bytes.to_string());
    line.push_str(",\"latencyMs\":");
    line.push_str(&format!(
        "{:.3}",
        info.started.elapsed().as_secs_f64() * 1000.0
    ));
    if let Some((api, stage, r)) = route {
        line.push_str(",\"apiId\":");
        push_json_str(&mut line, api);
        line.push_str(",\"stage\":");
        push_json_str(&mut line, stage);
        line.push_str(",\"route\":");
        push_json_str(&mut line, r);
    }
    if let Some(ua) = &info.user_agent {
        line.push_str(",\"userAgent\":");
        push_json_str(&mut line, ua);
    }
    line.push_str("}\n");
    match &**sink {
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
