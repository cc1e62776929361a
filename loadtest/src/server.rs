//! Stub servers for the runs: a fast keep-alive origin (200 with a small body) and a
//! Lambda-style TOKEN/REQUEST authorizer that answers after a delay and counts invocations.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use serde_json::{Value, json};

use crate::LoadError;
use crate::h1;

/// The Lambda invoke path the gateway posts authorizer events to.
pub const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";

/// What a stub server does.
#[derive(Debug, Clone)]
pub enum Role {
    /// Answer every request 200 with `body`.
    Origin {
        /// Response body.
        body: Arc<Vec<u8>>,
    },
    /// Answer `POST INVOKE_PATH` with an Allow policy for tokens starting with
    /// `allow_prefix` (after an optional `Bearer `), Deny otherwise, after `delay`;
    /// `GET /count` answers the number of invocations.
    Authorizer {
        /// Time to wait before answering an invocation.
        delay: Duration,
        /// Tokens starting with this are allowed.
        allow_prefix: String,
    },
}

/// The policy an authorizer answers with.
pub fn policy_response(allow: bool) -> Value {
    json!({
        "principalId": "user",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": if allow { "Allow" } else { "Deny" },
                "Resource": "*"
            }]
        }
    })
}

/// Decides an authorizer event: the token is `authorizationToken` (TOKEN events) or the
/// `Authorization` header (REQUEST events); `Bearer ` is stripped before the prefix test.
pub fn decide(event: &Value, allow_prefix: &str) -> bool {
    let token = event
        .get("authorizationToken")
        .and_then(Value::as_str)
        .or_else(|| {
            let h = event.get("headers")?;
            h.get("Authorization")
                .or_else(|| h.get("authorization"))
                .and_then(Value::as_str)
        })
        .unwrap_or("");
    let token = token.strip_prefix("Bearer ").unwrap_or(token);
    token.starts_with(allow_prefix)
}

fn response(status: u16, reason: &str, ctype: &str, body: &[u8], close: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n{}\r\n",
            body.len(),
            if close { "connection: close\r\n" } else { "" }
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
}

struct Shared {
    role: Role,
    count: Arc<AtomicU64>,
}

async fn handle(stream: TcpStream, sh: Rc<Shared>) {
    let _ = stream.set_nodelay(true);
    let mut stream = stream;
    let mut acc: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut rb: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let mut out = Vec::new();
        let mut close = false;
        loop {
            let head = match h1::parse_request(&acc) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(_) => {
                    response(
                        400,
                        "Bad Request",
                        "text/plain",
                        b"bad request",
                        true,
                        &mut out,
                    );
                    close = true;
                    break;
                }
            };
            let mut body = Vec::new();
            let rest = acc.get(head.head_len..).unwrap_or_default();
            let used = match h1::body_len(head.framing, rest, Some(&mut body)) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(_) => {
                    response(
                        400,
                        "Bad Request",
                        "text/plain",
                        b"bad body",
                        true,
                        &mut out,
                    );
                    close = true;
                    break;
                }
            };
            acc.drain(..head.head_len + used);
            close = head.close;
            answer(&sh, &head, &body, close, &mut out).await;
            if close {
                break;
            }
        }
        if !out.is_empty() {
            let (res, _) = stream.write_all(out).await;
            if res.is_err() {
                return;
            }
        }
        if close {
            return;
        }
        rb.clear();
        let (res, b) = stream.read(rb).await;
        rb = b;
        match res {
            Ok(0) | Err(_) => return,
            Ok(n) => acc.extend_from_slice(rb.get(..n).unwrap_or_default()),
        }
    }
}

async fn answer(sh: &Shared, head: &h1::RequestHead, body: &[u8], close: bool, out: &mut Vec<u8>) {
    match &sh.role {
        Role::Origin { body: b } => {
            sh.count.fetch_add(1, Ordering::Relaxed);
            response(200, "OK", "application/json", b, close, out);
        }
        Role::Authorizer {
            delay,
            allow_prefix,
        } => {
            let path = head.path.split('?').next().unwrap_or("");
            if head.method == "GET" && path == "/count" {
                let n = sh.count.load(Ordering::Relaxed);
                response(
                    200,
                    "OK",
                    "text/plain",
                    format!("{n}\n").as_bytes(),
                    close,
                    out,
                );
            } else if head.method == "POST" && path == INVOKE_PATH {
                sh.count.fetch_add(1, Ordering::Relaxed);
                let reply = match serde_json::from_slice::<Value>(body) {
                    Ok(ev) => policy_response(decide(&ev, allow_prefix)),
                    Err(_) => json!({"errorMessage": "bad event JSON", "errorType": "Error"}),
                };
                if !delay.is_zero() {
                    monoio::time::sleep(*delay).await;
                }
                let bytes = serde_json::to_vec(&reply).unwrap_or_default();
                response(200, "OK", "application/json", &bytes, close, out);
            } else {
                response(404, "Not Found", "text/plain", b"not found", close, out);
            }
        }
    }
}

/// A running stub server.
#[derive(Debug)]
pub struct ServerHandle {
    /// The bound address.
    pub addr: std::net::SocketAddr,
    /// Requests served (origin) or invocations (authorizer).
    pub count: Arc<AtomicU64>,
}

/// Starts `threads` runtimes accepting on `listener`; returns at once (the threads run
/// until the process exits).
pub fn serve(
    listener: std::net::TcpListener,
    role: Role,
    threads: usize,
) -> Result<ServerHandle, LoadError> {
    let addr = listener.local_addr()?;
    let count = Arc::new(AtomicU64::new(0));
    for t in 0..threads.max(1) {
        let l = listener.try_clone()?;
        let (role, count) = (role.clone(), count.clone());
        std::thread::Builder::new()
            .name(format!("stub-{t}"))
            .spawn(move || {
                let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                    .enable_timer()
                    .build();
                let mut rt = match rt {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("tollgate-load: stub thread {t}: runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    let sh = Rc::new(Shared { role, count });
                    let listener = match monoio::net::TcpListener::from_std(l) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("tollgate-load: stub thread {t}: listener: {e}");
                            return;
                        }
                    };
                    loop {
                        match listener.accept().await {
                            Ok((s, _)) => {
                                monoio::spawn(handle(s, sh.clone()));
                            }
                            Err(_) => monoio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                });
            })?;
    }
    Ok(ServerHandle { addr, count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let ev = json!({"type":"TOKEN","authorizationToken":"Bearer allow-1","methodArn":"arn"});
        assert!(decide(&ev, "allow"));
        let ev = json!({"type":"TOKEN","authorizationToken":"deny-1"});
        assert!(!decide(&ev, "allow"));
        let ev = json!({"type":"REQUEST","headers":{"authorization":"allowme"}});
        assert!(decide(&ev, "allow"));
        assert!(!decide(&json!({}), "allow"));
        let p = policy_response(true);
        assert_eq!(p["policyDocument"]["Statement"][0]["Effect"], "Allow");
        assert_eq!(
            policy_response(false)["policyDocument"]["Statement"][0]["Effect"],
            "Deny"
        );
        assert_eq!(p["principalId"], "user");
    }

    fn roundtrip(addr: std::net::SocketAddr, req: &[u8]) -> String {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(req).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn authorizer_server_counts_and_answers() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let h = serve(
            l,
            Role::Authorizer {
                delay: Duration::from_millis(1),
                allow_prefix: "allow".into(),
            },
            1,
        )
        .unwrap();
        let ev = r#"{"type":"TOKEN","authorizationToken":"Bearer allow-7","methodArn":"x"}"#;
        let deny = r#"{"type":"TOKEN","authorizationToken":"nope","methodArn":"x"}"#;
        // Two pipelined invocations (one chunked), then a count, on one connection.
        let req = format!(
            "POST {INVOKE_PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{ev}\
             POST {INVOKE_PATH} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{deny}\r\n0\r\n\r\n\
             GET /count HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            ev.len(),
            deny.len()
        );
        let out = roundtrip(h.addr, req.as_bytes());
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 3, "{out}");
        assert!(out.contains(r#""Effect":"Allow""#), "{out}");
        assert!(out.contains(r#""Effect":"Deny""#), "{out}");
        assert!(out.ends_with("\r\n\r\n2\n"), "{out}");
        assert_eq!(h.count.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn origin_keeps_alive() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let h = serve(
            l,
            Role::Origin {
                body: Arc::new(b"{\"ok\":true}".to_vec()),
            },
            2,
        )
        .unwrap();
        let out = roundtrip(
            h.addr,
            b"GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /b HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        );
        assert_eq!(out.matches("{\"ok\":true}").count(), 2, "{out}");
        assert_eq!(h.count.load(Ordering::Relaxed), 2);
    }
}
