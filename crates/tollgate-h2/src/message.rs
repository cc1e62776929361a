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
///
/// All names live in one string and all values in one byte buffer, so a head of any number of
/// fields costs three allocations, not two per field.
#[derive(Clone, Default)]
pub struct Headers {
    names: String,
    values: Vec<u8>,
    fields: Vec<Field>,
}

/// Where one field's name and value lie in [`Headers`]' buffers.
#[derive(Clone, Copy)]
struct Field {
    name: (usize, usize),
    value: (usize, usize),
}

impl Field {
    /// The field's name in `names` (empty, never a panic, if it does not fit).
    fn name_in<'a>(&self, names: &'a str) -> &'a str {
        names.get(self.name.0..self.name.1).unwrap_or_default()
    }
}

impl Headers {
    /// No fields.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Room for `n` fields.
    pub fn with_capacity(n: usize) -> Headers {
        Headers {
            names: String::with_capacity(n * 16),
            values: Vec::with_capacity(n * 32),
            fields: Vec::with_capacity(n),
        }
    }

    /// Room for `n` fields whose names and values take `name_bytes` and `value_bytes` in all
    /// (no buffer regrows while they are pushed).
    pub fn with_room(n: usize, name_bytes: usize, value_bytes: usize) -> Headers {
        Headers {
            names: String::with_capacity(name_bytes),
            values: Vec::with_capacity(value_bytes),
            fields: Vec::with_capacity(n),
        }
    }

    /// Bytes of all names and values held (at least those of the fields there are).
    pub fn byte_len(&self) -> usize {
        self.names.len() + self.values.len()
    }

    /// Appends a field; the name is lowercased.
    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<[u8]>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        let n0 = self.names.len();
        self.names.push_str(name);
        if let Some(added) = self.names.get_mut(n0..) {
            added.make_ascii_lowercase();
        }
        let v0 = self.values.len();
        self.values.extend_from_slice(value);
        self.fields.push(Field {
            name: (n0, self.names.len()),
            value: (v0, self.values.len()),
        });
    }

    fn value_of(&self, f: &Field) -> &[u8] {
        self.values.get(f.value.0..f.value.1).unwrap_or_default()
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Removes every field named `name`; returns how many were removed (their bytes stay in
    /// the buffers until the head is dropped).
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.fields.len();
        let names = &self.names;
        self.fields
            .retain(|f| !f.name_in(names).eq_ignore_ascii_case(name));
        before - self.fields.len()
    }

    /// All fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields
            .iter()
            .map(|f| (f.name_in(&self.names), self.value_of(f)))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields with their values as shared slices of one buffer (no copy per value).
    pub(crate) fn into_shared(self) -> SharedHeaders {
        SharedHeaders {
            names: self.names,
            values: bytes::Bytes::from(self.values),
            fields: self.fields,
        }
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, v)| (n, String::from_utf8_lossy(v))))
            .finish()
    }
}

/// [`Headers`] taken apart: each value a slice of one shared buffer.
pub(crate) struct SharedHeaders {
    names: String,
    values: bytes::Bytes,
    fields: Vec<Field>,
}

impl SharedHeaders {
    /// All fields, in order; the values share one buffer.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, bytes::Bytes)> {
        self.fields.iter().map(|f| {
            let name = f.name_in(&self.names);
            let value = if f.value.0 <= f.value.1 && f.value.1 <= self.values.len() {
                self.values.slice(f.value.0..f.value.1)
            } else {
                bytes::Bytes::new()
            };
            (name, value)
        })
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
///
/// The request line's parts (method, target, authority, scheme) share one string: one
/// allocation a request, not one a part.
#[derive(Clone)]
pub struct Request {
    /// The protocol it came over.
    pub version: Version,
    line: String,
    method: usize,
    path: usize,
    authority: Option<usize>,
    scheme: Option<usize>,
    /// The header fields (HTTP/2's `cookie` crumbs joined into one field with `; `).
    pub headers: Headers,
    /// The HTTP/2 stream id, for logs; `None` over HTTP/1.
    pub stream_id: Option<u32>,
    /// Set when the client resets the stream.
    pub reset: ResetFlag,
}

impl Request {
    /// A request head from its parts (no stream id, not reset).
    pub fn new(
        version: Version,
        method: &str,
        path: &str,
        authority: Option<&str>,
        scheme: Option<&str>,
        headers: Headers,
    ) -> Request {
        let room =
            method.len() + path.len() + authority.map_or(0, str::len) + scheme.map_or(0, str::len);
        let mut line = String::with_capacity(room);
        line.push_str(method);
        let m = line.len();
        line.push_str(path);
        let p = line.len();
        let a = authority.map(|a| {
            line.push_str(a);
            line.len()
        });
        let s = scheme.map(|s| {
            line.push_str(s);
            line.len()
        });
        Request {
            version,
            line,
            method: m,
            path: p,
            authority: a,
            scheme: s,
            headers,
            stream_id: None,
            reset: ResetFlag::default(),
        }
    }

    /// The method, as sent (`GET`, `POST`, ...).
    pub fn method(&self) -> &str {
        self.line.get(..self.method).unwrap_or_default()
    }

    /// The request target in origin form: path and query (`/prod/items?x=1`); HTTP/2's
    /// `:path`. Empty for CONNECT.
    pub fn path(&self) -> &str {
        self.line.get(self.method..self.path).unwrap_or_default()
    }

    /// HTTP/2's `:authority`, or else the `host` header.
    pub fn authority(&self) -> Option<&str> {
        self.authority
            .map(|end| self.line.get(self.path..end).unwrap_or_default())
    }

    /// HTTP/2's `:scheme` (`https`, `http`); `None` over HTTP/1.
    pub fn scheme(&self) -> Option<&str> {
        let from = self.authority.unwrap_or(self.path);
        self.scheme
            .map(|end| self.line.get(from..end).unwrap_or_default())
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("version", &self.version)
            .field("method", &self.method())
            .field("path", &self.path())
            .field("authority", &self.authority())
            .field("scheme", &self.scheme())
            .field("headers", &self.headers)
            .field("stream_id", &self.stream_id)
            .field("reset", &self.reset)
            .finish()
    }
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
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Response {
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

    #[test]
    fn headers_compare_by_fields_not_by_leftover_bytes() {
        let mut a = Headers::new();
        a.push("x-gone", "long value that stays in the buffer");
        a.push("X-Kept", b"v");
        a.remove("x-gone");
        a.push("x-after", String::from("w"));
        let mut b = Headers::with_capacity(2);
        b.push("x-kept", "v");
        b.push("x-after", "w");
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), r#"[("x-kept", "v"), ("x-after", "w")]"#);
        let shared = a.into_shared();
        let fields: Vec<(&str, bytes::Bytes)> = shared.iter().collect();
        assert_eq!(
            fields,
            vec![
                ("x-kept", bytes::Bytes::from_static(b"v")),
                ("x-after", bytes::Bytes::from_static(b"w"))
            ]
        );
    }
}
