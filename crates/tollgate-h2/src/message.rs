//! Protocol-neutral request and response heads: plain structs an HTTP/1 connection can fill
//! just as well as an HTTP/2 stream.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::body::Body;

/// The protocol a request arrived over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.1 (or 1.0).
    Http11,
    /// HTTP/2 (h2 by ALPN or h2c by prior knowledge).
    H2,
}

/// Header fields as ordered name/value pairs. Names are lowercase ASCII (HTTP/2 requires it;
/// an HTTP/1 caller lowercases them); values are the raw bytes. Repeated names stay repeated,
/// in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// No fields.
    pub fn new() -> Headers {
        Headers { fields: Vec::new() }
    }

    /// Room for `n` fields.
    pub fn with_capacity(n: usize) -> Headers {
        Headers {
            fields: Vec::with_capacity(n),
        }
    }

    /// Appends a field; the name is lowercased.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        let mut name = name.into();
        name.make_ascii_lowercase();
        self.fields.push((name, value.into()));
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Removes every field named `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.fields.len();
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.fields.len()
    }

    /// All fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Whether the client has reset the stream: set by the connection, for a handler that runs
/// on after a reset ([`crate::Handler::run_after_reset`]) to see that its answer goes
/// nowhere. Never set over HTTP/1.
#[derive(Debug, Clone, Default)]
pub struct ResetFlag(Rc<Cell<bool>>);

impl ResetFlag {
    /// True once the client has reset the stream.
    pub fn is_reset(&self) -> bool {
        self.0.get()
    }

    /// Marks the stream reset (the connection does, when the client resets it).
    pub fn set(&self) {
        self.0.set(true);
    }
}

/// A request head. The body comes separately, as a [`Body`].
#[derive(Debug, Clone)]
pub struct Request {
    /// The protocol it came over.
    pub version: Version,
    /// The method, as sent (`GET`, `POST`, ...).
    pub method: String,
    /// The request target in origin form: path and query (`/prod/items?x=1`); HTTP/2's
    /// `:path`. Empty for CONNECT.
    pub path: String,
    /// HTTP/2's `:authority`, or else the `host` header.
    pub authority: Option<String>,
    /// HTTP/2's `:scheme` (`https`, `http`); `None` over HTTP/1.
    pub scheme: Option<String>,
    /// The header fields (HTTP/2's `cookie` crumbs joined into one field with `; `).
    pub headers: Headers,
    /// The HTTP/2 stream id, for logs; `None` over HTTP/1.
    pub stream_id: Option<u32>,
    /// Set when the client resets the stream.
    pub reset: ResetFlag,
}

/// Work a handler goes on with after its answer's head (see [`Response::with_rest`]).
pub type Rest = Pin<Box<dyn Future<Output = ()>>>;

/// A response: status, headers and a body (bytes, or a stream fed with backpressure).
pub struct Response {
    /// The status code (200..=999 are sent as given; anything else becomes 500).
    pub status: u16,
    /// The header fields. Over HTTP/2 the connection-specific ones (`connection`,
    /// `keep-alive`, `proxy-connection`, `transfer-encoding`, `upgrade`, `te`) are dropped.
    pub headers: Headers,
    /// The body.
    pub body: Body,
    /// What the handler still has to do once the head is out (see [`Response::with_rest`]).
    rest: Option<Rest>,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .field("rest", &self.rest.is_some())
            .finish()
    }
}

impl Response {
    /// A response with no header and the given body.
    pub fn new(status: u16, body: Body) -> Response {
        Response {
            status,
            headers: Headers::new(),
            body,
            rest: None,
        }
    }

    /// Hands over the rest of the handler's work with the answer: typically the producer
    /// feeding a [`crate::channel`] body, and whatever it does after the body (logs, metrics).
    /// The stream's own task drives it alongside sending the body and then to its end, even
    /// when the client resets the stream (its writes to the body then fail), so a handler
    /// that streams its answer needs no task of its own.
    pub fn with_rest(mut self, rest: Rest) -> Response {
        self.rest = Some(rest);
        self
    }

    /// Takes the rest of the handler's work out (see [`Response::with_rest`]).
    pub(crate) fn take_rest(&mut self) -> Option<Rest> {
        self.rest.take()
    }

    /// Adds a header field (builder style).
    pub fn with_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Response {
        self.headers.push(name, value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_order_and_repeat_and_lowercase_names() {
        let mut h = Headers::new();
        h.push("X-A", "1");
        h.push("x-b", "2");
        h.push("x-a", "3");
        assert_eq!(h.get("x-a"), Some(&b"1"[..]));
        assert_eq!(
            h.get_all("X-A").collect::<Vec<_>>(),
            vec![&b"1"[..], &b"3"[..]]
        );
        assert_eq!(h.iter().next(), Some(("x-a", &b"1"[..])));
        assert_eq!(h.remove("x-a"), 2);
        assert_eq!(h.len(), 1);
        assert!(h.get("missing").is_none());
    }
}
