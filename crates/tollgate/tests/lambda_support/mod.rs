//! Support for e2e_lambda.rs: the real `tollgate` binary on a temp config, a real authorizer
//! function (an HTTP server answering like the Lambda Invoke API and AWS's reference
//! authorizer), an echo backend, and a one-shot HTTP/1.1 client.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The gateway harness shared by every e2e file, with this file's request helpers.
pub use crate::common::Gateway;

impl Gateway {
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        request(self.addr, "GET", path, headers, "")
    }

    /// `PUT /config` on the admin listener.
    pub fn put_config(&self, config: &str) -> Resp {
        request(
            self.admin,
            "PUT",
            "/config",
            &[("content-type", "application/yaml")],
            config,
        )
    }
}

/// One response, read to the end of a `Connection: close` exchange.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub elapsed: Duration,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str("Host: api.example.com\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_owned(),
        elapsed: started.elapsed(),
    }
}

/// Read one HTTP/1.1 request (head + Content-Length body) from a server-side connection.
/// Request line, headers, body.
type RawRequest = (String, Vec<(String, String)>, Vec<u8>);

fn read_request(r: &mut BufReader<TcpStream>) -> Option<RawRequest> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let request_line = line.trim_end().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((request_line, headers, body))
}

/// A fake authorizer function: answers like the Lambda Invoke API running AWS's reference
/// authorizer, records every event and counts invocations.
pub struct Function {
    pub addr: SocketAddr,
    pub events: Arc<Mutex<Vec<Value>>>,
    pub invocations: Arc<AtomicUsize>,
    /// Request lines seen (method + path).
    pub lines: Arc<Mutex<Vec<String>>>,
}

/// The token an event carries: TOKEN's `authorizationToken` (minus `Bearer `), else REQUEST's
/// `X-Token` header, else its `q` query parameter.
pub fn event_token(ev: &Value) -> String {
    if let Some(t) = ev["authorizationToken"].as_str() {
        return t.strip_prefix("Bearer ").unwrap_or(t).to_owned();
    }
    if let Some(h) = ev["headers"].as_object()
        && let Some((_, v)) = h.iter().find(|(k, _)| k.eq_ignore_ascii_case("x-token"))
    {
        return v.as_str().unwrap_or_default().to_owned();
    }
    ev["queryStringParameters"]["q"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn policy(effect: &str, resource: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]})
}

/// (status, extra headers, body) for one event.
fn answer(ev: &Value) -> (u16, Vec<(&'static str, &'static str)>, String) {
    let token = event_token(ev);
    let arn = ev["methodArn"].as_str().unwrap_or_default().to_owned();
    let principal = format!("user|{token}");
    let context =
        json!({"stringKey": "value", "numberKey": 123, "booleanKey": true, "nullKey": null});
    let ok = |v: Value| (200, vec![], v.to_string());
    let t = token.as_str();
    if let Some(ms) = t
        .strip_prefix("sleep")
        .and_then(|r| r.split('-').next())
        .and_then(|n| n.parse::<u64>().ok())
    {
        // `sleepN-allow...`: answer `allow` after N ms.
        thread::sleep(Duration::from_millis(ms));
        return ok(
            json!({"principalId": principal, "policyDocument": policy("Allow", "arn:aws:execute-api:*:*:*")}),
        );
    }
    match t {
        t if t == "deny" || t.starts_with("deny-") => ok(
            json!({"principalId": principal, "policyDocument": policy("Deny", &arn), "context": context}),
        ),
        "unauthorized" => ok(json!({"errorMessage": "Unauthorized", "errorType": "Error"})),
        "implicit" => ok(json!({"principalId": principal,
            "policyDocument": policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:other/prod/GET/nothing")})),
        "nopolicy" => ok(json!({"principalId": principal, "context": context})),
        "badctx" => ok(
            json!({"principalId": principal, "policyDocument": policy("Allow", &arn),
            "context": {"nested": {"a": 1}}}),
        ),
        "arrayctx" => ok(
            json!({"principalId": principal, "policyDocument": policy("Allow", &arn),
            "context": {"list": [1, 2]}}),
        ),
        "noprincipal" => ok(json!({"policyDocument": policy("Allow", &arn)})),
        "denynoprincipal" => ok(json!({"policyDocument": policy("Deny", &arn)})),
        "fnerror" => (
            200,
            vec![("X-Amz-Function-Error", "Unhandled")],
            json!({"errorMessage": "boom", "errorType": "Error"}).to_string(),
        ),
        "garbage" => (200, vec![], "this is {not json".to_owned()),
        "status502" => (502, vec![], json!({"message": "bad gateway"}).to_string()),
        t if t.starts_with("slow") => {
            thread::sleep(Duration::from_millis(2500));
            ok(json!({"principalId": principal, "policyDocument": policy("Allow", &arn)}))
        }
        // `onlyprod...`: Allow everything from the prod stage, Deny everything from any other.
        t if t.starts_with("onlyprod") => {
            let effect = if arn.contains("/prod/") {
                "Allow"
            } else {
                "Deny"
            };
            ok(json!({"principalId": principal,
                "policyDocument": policy(effect, "arn:aws:execute-api:*:*:*")}))
        }
        t if t.starts_with("allowall") => ok(json!({"principalId": principal,
            "policyDocument": policy("Allow", "arn:aws:execute-api:*:*:*"), "context": context})),
        t if t.starts_with("allow") => ok(
            json!({"principalId": principal, "policyDocument": policy("Allow", &arn), "context": context}),
        ),
        _ => ok(json!({"errorMessage": "Error: Invalid token", "errorType": "Error"})),
    }
}

impl Function {
    pub fn start() -> Function {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let invocations = Arc::new(AtomicUsize::new(0));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ev2, inv2, lines2) = (events.clone(), invocations.clone(), lines.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (ev3, inv3, lines3) = (ev2.clone(), inv2.clone(), lines2.clone());
                thread::spawn(move || {
                    let mut w = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    // Keep-alive: the gateway pools these connections.
                    while let Some((line, _headers, body)) = read_request(&mut r) {
                        inv3.fetch_add(1, Ordering::SeqCst);
                        lines3.lock().unwrap().push(line);
                        let ev: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        ev3.lock().unwrap().push(ev.clone());
                        let (status, extra, body) = answer(&ev);
                        let mut out = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                            body.len()
                        );
                        for (k, v) in extra {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str("\r\n");
                        out.push_str(&body);
                        if w.write_all(out.as_bytes()).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Function {
            addr,
            events,
            invocations,
            lines,
        }
    }

    pub fn url(&self) -> String {
        format!(
            "http://{}/2015-03-31/functions/function/invocations",
            self.addr
        )
    }

    pub fn count(&self) -> usize {
        self.invocations.load(Ordering::SeqCst)
    }

    /// Events received for `token`.
    pub fn events_for(&self, token: &str) -> Vec<Value> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| event_token(e) == token)
            .cloned()
            .collect()
    }

    pub fn count_for(&self, token: &str) -> usize {
        self.events_for(token).len()
    }
}

/// An upstream that answers every request with its request headers as a JSON object
/// (names lowercased), then closes.
pub fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                if let Some((_line, headers, _)) = read_request(&mut r) {
                    let map: serde_json::Map<String, Value> = headers
                        .into_iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v)))
                        .collect();
                    let body = Value::Object(map).to_string();
                    let out = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = w.write_all(out.as_bytes());
                }
            });
        }
    });
    addr
}

/// A port nothing listens on.
pub fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}
