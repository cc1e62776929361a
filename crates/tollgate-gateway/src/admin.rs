//! The admin listener: `/healthz`, `/metrics`, `GET|PUT /config`, `POST /config/reload`.
//! A plain blocking thread, off the workers' path; one connection at a time, each bounded
//! by timeouts and a body limit.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tollgate_http::{BodyFraming, RequestLimits, parse_request};

use crate::metrics::{GlobalMetrics, render};
use crate::{ApplyError, Shared};

/// Largest config body `PUT /config` accepts.
pub const MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;

pub(crate) fn serve(shared: Arc<Shared>, listener: TcpListener, workers: usize) {
    crate::lower_priority_of_current_thread();
    if listener.set_nonblocking(true).is_err() {
        eprintln!("tollgate: admin listener cannot be made non-blocking");
    }
    loop {
        if shared.shutdown.load(Ordering::Relaxed) {
            return;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                handle(&shared, stream, workers);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                shared.collect_retired();
                std::thread::sleep(Duration::from_millis(25));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}

struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

fn json(status: u16, v: serde_json::Value) -> Reply {
    Reply {
        status,
        content_type: "application/json",
        body: v.to_string().into_bytes(),
    }
}

fn handle(shared: &Shared, mut stream: TcpStream, workers: usize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::with_capacity(4096);
    let limits = RequestLimits {
        max_header_bytes: 16 * 1024,
        max_headers: 100,
    };
    let head = loop {
        match parse_request(&buf, &limits) {
            Ok(Some(h)) => break h,
            Ok(None) => {
                let mut tmp = [0u8; 4096];
                match stream.read(&mut tmp) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(tmp.get(..n).unwrap_or_default()),
                }
            }
            Err(e) => {
                let status = e.status();
                write_reply(
                    &mut stream,
                    &json(status, serde_json::json!({"message": e.to_string()})),
                );
                return;
            }
        }
    };
    let body_len = match head.framing {
        BodyFraming::None => 0,
        BodyFraming::Length(n) if n as usize <= MAX_CONFIG_BYTES => n as usize,
        BodyFraming::Length(_) => {
            write_reply(
                &mut stream,
                &json(413, serde_json::json!({"message": "config body too large"})),
            );
            return;
        }
        BodyFraming::Chunked => {
            write_reply(
                &mut stream,
                &json(411, serde_json::json!({"message": "send a Content-Length"})),
            );
            return;
        }
    };
    let mut body = buf.get(head.head_len..).unwrap_or_default().to_vec();
    while body.len() < body_len {
        let mut tmp = [0u8; 16384];
        match stream.read(&mut tmp) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(tmp.get(..n).unwrap_or_default()),
        }
    }
    body.truncate(body_len);

    // Admin token (constant-time comparison).
    let snap = shared.current.load_full();
    if let Some(token) = &snap.compiled.config.gateway.admin.token {
        let presented = head
            .header(&buf, b"authorization")
            .and_then(|v| v.strip_prefix(b"Bearer "));
        let ok = presented.is_some_and(|p| {
            let a = ring::digest::digest(&ring::digest::SHA256, p);
            let b = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
            #[allow(deprecated)]
            ring::constant_time::verify_slices_are_equal(a.as_ref(), b.as_ref()).is_ok()
        });
        if !ok {
            write_reply(
                &mut stream,
                &json(401, serde_json::json!({"message": "Unauthorized"})),
            );
            return;
        }
    }
    let method = head.method.slice(&buf);
    let path = head.path.slice(&buf);
    let reply = match (method, path) {
        (b"GET", b"/healthz") => {
            if shared.shutdown.load(Ordering::Relaxed) {
                Reply {
                    status: 503,
                    content_type: "text/plain",
                    body: b"draining".to_vec(),
                }
            } else {
                Reply {
                    status: 200,
                    content_type: "text/plain",
                    body: b"ok".to_vec(),
                }
            }
        }
        (b"GET", b"/metrics") => {
            let g = GlobalMetrics {
                config_version: shared.version(),
                reloads_ok: shared.reloads_ok.load(Ordering::Relaxed),
                reloads_rejected: shared.reloads_rejected.load(Ordering::Relaxed),
                workers,
            };
            Reply {
                status: 200,
                content_type: "text/plain; version=0.0.4",
                body: render(&shared.worker_metrics, &g).into_bytes(),
            }
        }
        (b"GET", b"/config") => json(
            200,
            serde_json::json!({
                "version": snap.version,
                "sha256": snap.compiled.sha256,
                "loaded_at": rfc3339(snap.loaded_at),
            }),
        ),
        (b"PUT", b"/config") => match std::str::from_utf8(&body) {
            Ok(text) => {
                let base = shared
                    .config_path
                    .as_ref()
                    .and_then(|p| p.parent().map(PathBuf::from))
                    .unwrap_or_else(|| PathBuf::from("."));
                applied(shared.apply_config(text, &base))
            }
            Err(_) => {
                shared.reloads_rejected.fetch_add(1, Ordering::Relaxed);
                json(
                    400,
                    serde_json::json!({"errors": ["config: body is not UTF-8"]}),
                )
            }
        },
        (b"POST", b"/config/reload") => applied(shared.reload_file()),
        (_, b"/healthz" | b"/metrics" | b"/config" | b"/config/reload") => {
            json(405, serde_json::json!({"message": "Method Not Allowed"}))
        }
        _ => json(404, serde_json::json!({"message": "Not Found"})),
    };
    write_reply(&mut stream, &reply);
}

fn applied(r: Result<u64, ApplyError>) -> Reply {
    match r {
        Ok(v) => json(200, serde_json::json!({ "version": v })),
        Err(ApplyError::Invalid(errors)) => json(400, serde_json::json!({ "errors": errors })),
    }
}

fn write_reply(stream: &mut TcpStream, r: &Reply) {
    let mut out = Vec::with_capacity(r.body.len() + 128);
    crate::wire::status_line(&mut out, r.status);
    crate::wire::header(&mut out, b"content-type", r.content_type.as_bytes());
    crate::wire::header_usize(&mut out, b"content-length", r.body.len());
    crate::wire::header(&mut out, b"connection", b"close");
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&r.body);
    let _ = stream.write_all(&out);
    let _ = stream.flush();
}

/// RFC 3339 UTC with seconds, e.g. `2026-11-26T09:00:00Z`.
pub(crate) fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_epoch() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(super::rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(
            super::rfc3339(std::time::UNIX_EPOCH),
            "1970-01-01T00:00:00Z"
        );
    }
}
