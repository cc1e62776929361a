//! The admin listener: `/healthz`, `/metrics`, `GET|PUT /config`, `POST /config/reload`.
//! Off the workers' path: an accept thread hands each connection to its own short-lived
//! thread, at most [`MAX_ADMIN_CONNECTIONS`] at once (more get 503), so one slow client
//! cannot hold the API. Each connection has one overall deadline ([`CONNECTION_DEADLINE`]),
//! not a per-read timeout a client can renew byte by byte, and the admin token is checked
//! from the request head, before any body is read.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tollgate_http::{BodyFraming, RequestHead, RequestLimits, parse_request};

use crate::metrics::{GlobalMetrics, render};
use crate::shared::{ApplyError, Shared};
use crate::snapshot::Origin;

/// Largest config body `PUT /config` accepts.
pub const MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;
/// Admin connections served at once; one more is answered 503 and closed.
pub const MAX_ADMIN_CONNECTIONS: usize = 16;
/// The whole exchange (head, body, answer) of one admin connection must fit in this.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

/// Releases a connection slot when its thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) fn serve(shared: Arc<Shared>, listener: TcpListener, workers: usize) {
    crate::threads::lower_priority_of_current_thread();
    if listener.set_nonblocking(true).is_err() {
        log::error!("tollgate: admin listener cannot be made non-blocking");
    }
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        if shared.shutdown.load(Ordering::Relaxed) {
            return;
        }
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                if open.fetch_add(1, Ordering::AcqRel) >= MAX_ADMIN_CONNECTIONS {
                    open.fetch_sub(1, Ordering::AcqRel);
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
                    write_reply(
                        &mut stream,
                        &json(
                            503,
                            serde_json::json!({"message": "too many admin connections"}),
                        ),
                    );
                    continue;
                }
                let slot = Slot(open.clone());
                let sh = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("tollgate-admin-conn".into())
                    .spawn(move || {
                        let _slot = slot;
                        crate::threads::lower_priority_of_current_thread();
                        handle(&sh, stream, workers);
                    });
                if spawned.is_err() {
                    log::error!("tollgate: admin: cannot start a connection thread");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                shared.collect_retired();
                wait_readable(&listener, 25);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}

/// Wait until a connection is waiting on `listener` or `ms` have passed (the loop also checks
/// for shutdown and frees retired snapshots between waits). A connection is accepted at once,
/// not at the next tick: back-to-back config changes are not delayed by the poll interval.
fn wait_readable(listener: &TcpListener, ms: i32) {
    use nix::poll::{PollFd, PollFlags, poll};
    use std::os::fd::AsRawFd;
    let mut fds = [PollFd::new(listener.as_raw_fd(), PollFlags::POLLIN)];
    if poll(&mut fds, ms).is_err() {
        std::thread::sleep(Duration::from_millis(u64::try_from(ms).unwrap_or(25)));
    }
}

/// Read more bytes before `deadline`; `None`: EOF, error or the deadline passed.
fn read_some(stream: &mut TcpStream, out: &mut Vec<u8>, deadline: Instant) -> Option<usize> {
    let left = deadline.checked_duration_since(Instant::now())?;
    if left.is_zero() {
        return None;
    }
    stream.set_read_timeout(Some(left)).ok()?;
    let mut tmp = [0u8; 16384];
    match stream.read(&mut tmp) {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            out.extend_from_slice(tmp.get(..n).unwrap_or_default());
            Some(n)
        }
    }
}

/// The admin token, when one is configured, is presented (constant-time comparison).
fn token_ok(shared: &Shared, head: &RequestHead, buf: &[u8]) -> bool {
    let snap = shared.current.load();
    let Some(token) = &snap.compiled.config.gateway.admin.token else {
        return true;
    };
    let mut values = head.headers_named(buf, b"authorization");
    let presented = values.next().and_then(|v| v.strip_prefix(b"Bearer "));
    if values.next().is_some() {
        return false;
    }
    presented.is_some_and(|p| {
        let a = ring::digest::digest(&ring::digest::SHA256, p);
        let b = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        #[allow(deprecated)]
        ring::constant_time::verify_slices_are_equal(a.as_ref(), b.as_ref()).is_ok()
    })
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
    let who = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let deadline = Instant::now() + CONNECTION_DEADLINE;
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
                if read_some(&mut stream, &mut buf, deadline).is_none() {
                    return;
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
    // The token first: an unauthenticated caller never gets to send a body.
    if !token_ok(shared, &head, &buf) {
        write_reply(
            &mut stream,
            &json(401, serde_json::json!({"message": "Unauthorized"})),
        );
        return;
    }
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
        if read_some(&mut stream, &mut body, deadline).is_none() {
            return;
        }
    }
    body.truncate(body_len);
    let snap = shared.current.load_full();
    let path = head.path.slice(&buf);
    // HEAD of a read-only resource answers like GET, without the body.
    let is_head = head.method.slice(&buf) == b"HEAD" && matches!(path, b"/healthz" | b"/metrics");
    let method = if is_head {
        b"GET".as_slice()
    } else {
        head.method.slice(&buf)
    };
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
                config_revision: match snap.origin {
                    Origin::Etcd { revision } => revision,
                    _ => 0,
                },
                watch_state: shared.watch.state(),
                watch_connection_failures: shared.watch.connection_failures(),
                watch_invalid_revisions: shared.watch.invalid_revisions(),
            };
            Reply {
                status: 200,
                content_type: "text/plain; version=0.0.4",
                body: render(&shared.worker_metrics, &g).into_bytes(),
            }
        }
        (b"GET", b"/config") => {
            let mut v = serde_json::json!({
                "version": snap.version,
                "sha256": snap.compiled.sha256,
                "loaded_at": rfc3339(snap.loaded_at),
                "source": snap.origin.name(),
            });
            if let (Origin::Etcd { revision }, Some(m)) = (snap.origin, v.as_object_mut()) {
                m.insert("revision".into(), revision.into());
            }
            json(200, v)
        }
        (b"PUT", b"/config") => match std::str::from_utf8(&body) {
            Ok(text) => {
                let base = shared
                    .config_path
                    .as_ref()
                    .and_then(|p| p.parent().map(PathBuf::from))
                    .unwrap_or_else(|| PathBuf::from("."));
                applied(&who, "PUT /config", shared.apply_config(text, &base))
            }
            Err(_) => {
                log::warn!("tollgate: admin {who}: PUT /config rejected: body is not UTF-8");
                shared.reloads_rejected.fetch_add(1, Ordering::Relaxed);
                json(
                    400,
                    serde_json::json!({"errors": ["config: body is not UTF-8"]}),
                )
            }
        },
        (b"POST", b"/config/reload") => applied(&who, "POST /config/reload", shared.reload_file()),
        (_, b"/healthz" | b"/metrics" | b"/config" | b"/config/reload") => {
            json(405, serde_json::json!({"message": "Method Not Allowed"}))
        }
        _ => json(404, serde_json::json!({"message": "Not Found"})),
    };
    if is_head {
        write_head_reply(&mut stream, &reply);
    } else {
        write_reply(&mut stream, &reply);
    }
}

/// The answer to a config change, logged with who asked (the admin client's address), what,
/// and the version that went live or every error.
fn applied(who: &str, what: &str, r: Result<u64, ApplyError>) -> Reply {
    match r {
        Ok(v) => {
            log::info!("tollgate: admin {who}: {what}: config version {v} is live");
            json(200, serde_json::json!({ "version": v }))
        }
        Err(ApplyError::Invalid(errors)) => {
            log::warn!(
                "tollgate: admin {who}: {what}: config rejected, the running one keeps serving:\n  {}",
                errors.join("\n  ")
            );
            json(400, serde_json::json!({ "errors": errors }))
        }
    }
}

fn reply_head(r: &Reply) -> Vec<u8> {
    let mut out = Vec::with_capacity(r.body.len() + 128);
    crate::wire::status_line(&mut out, r.status);
    crate::wire::header(&mut out, b"content-type", r.content_type.as_bytes());
    crate::wire::header_usize(&mut out, b"content-length", r.body.len());
    crate::wire::header(&mut out, b"connection", b"close");
    out.extend_from_slice(b"\r\n");
    out
}

fn write_reply(stream: &mut TcpStream, r: &Reply) {
    let mut out = reply_head(r);
    out.extend_from_slice(&r.body);
    let _ = stream.write_all(&out);
    let _ = stream.flush();
}

/// The answer to a HEAD request: the GET answer's head (its Content-Length too), no body.
fn write_head_reply(stream: &mut TcpStream, r: &Reply) {
    let _ = stream.write_all(&reply_head(r));
    let _ = stream.flush();
}

/// RFC 3339 UTC with seconds, e.g. `2026-11-26T09:00:00Z`.
pub(crate) fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    tollgate_time::format_rfc3339(secs)
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
