//! Request heads: httparse underneath, RFC 9112 strictness on top, offsets out.

use std::mem::MaybeUninit;

use crate::HttpError;
use crate::common::{
    Header, Span, TeVerdict, check_line_endings, connection_tokens, parse_content_length, span_of,
    transfer_encoding, trim_ows, values_named,
};

/// The request methods the gateway implements (the ones API Gateway routes). Any other
/// syntactically valid method, `CONNECT` and `TRACE` included, is rejected with 501.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `PATCH`
    Patch,
}

impl Method {
    /// Recognise a method (case-sensitive, RFC 9110 §9.1).
    pub fn from_bytes(m: &[u8]) -> Option<Method> {
        Some(match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"PATCH" => Method::Patch,
            _ => return None,
        })
    }

    /// The method's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
        }
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (neither Content-Length nor Transfer-Encoding).
    None,
    /// Exactly this many bytes follow the head (`Content-Length: 0` gives `Length(0)`).
    Length(u64),
    /// A chunked body follows: decode it with [`crate::ChunkedDecoder`].
    Chunked,
}

/// The target's form (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetForm {
    /// `/path?query`.
    Origin,
    /// `http://authority/path?query` (`http` or `https`); its authority is [`RequestHead::host`].
    Absolute,
    /// `*` (only with `OPTIONS`).
    Asterisk,
}

/// A parsed request head. Every [`Span`] points into the buffer given to [`parse_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method token.
    pub method: Span,
    /// The method, recognised.
    pub method_kind: Method,
    /// The whole request target as sent.
    pub target: Span,
    /// The target's form.
    pub target_form: TargetForm,
    /// The path: starts with `/` (or is `*` for the asterisk form); no query, no decoding.
    pub path: Span,
    /// The query after `?` (present but possibly empty when the target holds a `?`).
    pub query: Option<Span>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// All header lines in order, values OWS-trimmed.
    pub headers: Vec<Header>,
    /// Bytes of request line + headers + the final CRLF: the body starts at this offset.
    pub head_len: usize,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// HTTP/1.1: true unless `Connection: close`; HTTP/1.0: only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request (ignored on 1.0, RFC 9110 §10.1.1).
    pub expect_continue: bool,
    /// The authority: the Host value, or for an absolute-form target the target's authority
    /// (RFC 9112 §3.2.2). `None` only for an HTTP/1.0 request without Host.
    pub host: Option<Span>,
}

impl RequestHead {
    /// The first value of header `name` (case-insensitive).
    pub fn header<'a>(&self, buf: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.slice(buf).eq_ignore_ascii_case(name))
            .map(|h| h.value.slice(buf))
    }

    /// All values of header `name` (case-insensitive), in order.
    pub fn headers_named<'a, 'n>(
        &'a self,
        buf: &'a [u8],
        name: &'n [u8],
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        values_named(&self.headers, buf, name)
    }

    /// True for a `HEAD` request (its response has no body).
    pub fn is_head(&self) -> bool {
        self.method_kind == Method::Head
    }
}

/// Bounds on a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Request line + headers + final CRLF, in bytes (default 10240).
    pub max_header_bytes: usize,
    /// Header lines (default 100); more is answered 431.
    pub max_headers: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_header_bytes: 10240,
            max_headers: 100,
        }
    }
}

/// Header slots kept on the stack; a larger `max_headers` uses a heap buffer.
const STACK_HEADERS: usize = 128;

/// Parse a request head at the start of `buf`.
///
/// `Ok(None)`: the head is incomplete, read more bytes and call again with the whole buffer.
/// When the head is still incomplete and `buf.len() >= max_header_bytes`:
/// `Err(UriTooLong)` if the request line itself has not ended, else `Err(HeaderTooLarge)`.
/// A complete head longer than `max_header_bytes` is rejected by the same rule (only the first
/// `max_header_bytes` bytes are ever looked at).
pub fn parse_request(buf: &[u8], limits: &RequestLimits) -> Result<Option<RequestHead>, HttpError> {
    let max = limits.max_header_bytes.min(u32::MAX as usize);
    let window = buf.get(..buf.len().min(max)).unwrap_or(buf);
    if limits.max_headers <= STACK_HEADERS {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
        let slots = slots.get_mut(..limits.max_headers).unwrap_or_default();
        parse_in(window, max, slots)
    } else {
        let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
        let mut req = httparse::Request::new(&mut slots);
        let status = req.parse(window);
        finish(window, max, status, &req)
    }
}

fn parse_in<'b>(
    window: &'b [u8],
    max: usize,
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Option<RequestHead>, HttpError> {
    let mut req = httparse::Request::new(&mut []);
    let status = req.parse_with_uninit_headers(window, slots);
    finish(window, max, status, &req)
}

fn finish(
    window: &[u8],
    max: usize,
    status: httparse::Result<usize>,
    req: &httparse::Request<'_, '_>,
) -> Result<Option<RequestHead>, HttpError> {
    match status {
        Ok(httparse::Status::Complete(n)) => {
            let head = window.get(..n).unwrap_or_default();
            check_line_endings(head)?;
            build(window, n, req).map(Some)
        }
        Ok(httparse::Status::Partial) => {
            check_line_endings(window)?;
            if window.len() >= max {
                Err(too_large(window))
            } else {
                Ok(None)
            }
        }
        Err(e) => {
            // A bare LF or an obs-fold is the more precise diagnosis when present.
            check_line_endings(window)?;
            Err(map_error(e, window))
        }
    }
}

/// 414 when the request line has not ended within the limit, else 431.
fn too_large(window: &[u8]) -> HttpError {
    let mut rest = window;
    while let Some(r) = rest.strip_prefix(b"\r\n") {
        rest = r;
    }
    if memchr::memchr(b'\n', rest).is_some() {
        HttpError::HeaderTooLarge
    } else {
        HttpError::UriTooLong
    }
}

fn map_error(e: httparse::Error, window: &[u8]) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::HeaderTooLarge,
        httparse::Error::Version => version_error(window),
        httparse::Error::HeaderName => HttpError::BadRequest("invalid header name"),
        httparse::Error::HeaderValue => HttpError::BadRequest("invalid header value"),
        httparse::Error::NewLine => HttpError::BadRequest("invalid line ending"),
        httparse::Error::Token => HttpError::BadRequest("invalid method or request target"),
        httparse::Error::Status => HttpError::BadRequest("invalid request line"),
    }
}

/// A well-formed `HTTP/d.d` other than 1.0/1.1 is 505; anything else (no version: an
/// HTTP/0.9-style line, or garbage) is 400.
fn version_error(window: &[u8]) -> HttpError {
    let mut rest = window;
    while let Some(r) = rest.strip_prefix(b"\r\n") {
        rest = r;
    }
    let line_end = rest
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n')
        .unwrap_or(rest.len());
    let line = rest.get(..line_end).unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (_method, _target, version, extra) =
        (parts.next(), parts.next(), parts.next(), parts.next());
    match (version, extra) {
        (Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor]), None)
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HttpError::VersionNotSupported
        }
        _ => HttpError::BadRequest("malformed request line or version"),
    }
}

/// `content_length` / `Transfer_Encoding` (any case, any mix of `_` and `-`, at least one `_`).
fn is_framing_lookalike(name: &[u8]) -> bool {
    if memchr::memchr(b'_', name).is_none() {
        return false;
    }
    let same = |target: &[u8]| {
        name.len() == target.len()
            && name.iter().zip(target).all(|(a, b)| {
                let a = if *a == b'_' {
                    b'-'
                } else {
                    a.to_ascii_lowercase()
                };
                a == *b
            })
    };
    same(b"content-length") || same(b"transfer-encoding")
}

/// `host[:port]` -> (host, port); an IP literal keeps its brackets. `None` port: absent.
fn split_authority(a: &[u8]) -> (&[u8], Option<&[u8]>) {
    let colon = if a.starts_with(b"[") {
        a.iter()
            .position(|&b| b == b']')
            .and_then(|end| (a.get(end + 1) == Some(&b':')).then_some(end + 1))
    } else {
        a.iter().rposition(|&b| b == b':')
    };
    match colon {
        Some(i) => (
            a.get(..i).unwrap_or_default(),
            Some(a.get(i + 1..).unwrap_or_default()),
        ),
        None => (a, None),
    }
}

/// Two authorities name the same origin: host case-insensitively, and the same port, where
/// an absent or empty port is the scheme's default (RFC 9110 §4.2.3) and leading zeros do not
/// count.
fn same_authority(a: &[u8], b: &[u8], default_port: &[u8]) -> bool {
    let (ah, ap) = split_authority(a);
    let (bh, bp) = split_authority(b);
    let port = |p: Option<&[u8]>| -> Vec<u8> {
        let p = p.unwrap_or_default();
        let p = if p.is_empty() { default_port } else { p };
        let trimmed = match p.iter().position(|&b| b != b'0') {
            Some(i) => p.get(i..).unwrap_or_default(),
            None if p.is_empty() => p,
            None => b"0",
        };
        trimmed.to_vec()
    };
    ah.eq_ignore_ascii_case(bh) && port(ap) == port(bp)
}

/// Host value: reg-name / IPv4 / IP-literal with an optional port; no userinfo, no path.
fn valid_host(h: &[u8]) -> bool {
    h.iter().all(|b| {
        matches!(b,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
            | b'-' | b'.' | b'_' | b'~' | b'%'
            | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
            | b':' | b'[' | b']')
    })
}

fn build(
    buf: &[u8],
    head_len: usize,
    req: &httparse::Request<'_, '_>,
) -> Result<RequestHead, HttpError> {
    let tokens = Tokens {
        method: req.method.unwrap_or_default().as_bytes(),
        target: req.path.unwrap_or_default().as_bytes(),
        minor_version: req.version.unwrap_or(1),
    };
    let fields = req.headers.iter().map(|h| (h.name.as_bytes(), h.value));
    build_from(buf, head_len, tokens, fields)
}

/// A request line's tokens (sub-slices of the head's buffer).
struct Tokens<'b> {
    method: &'b [u8],
    target: &'b [u8],
    minor_version: u8,
}

/// A request head split into its parts by another framing than HTTP/1's (an HTTP/2
/// stream's HEADERS), laid out by the caller in `buf` as an HTTP/1.1 head: the spans of the
/// method, the target and each field's name and value, and the head's length.
#[derive(Debug, Clone, Copy)]
pub struct HeadParts<'a> {
    /// The method token.
    pub method: Span,
    /// The request target.
    pub target: Span,
    /// Each field's name and (untrimmed) value, in order.
    pub fields: &'a [Header],
    /// Bytes of the whole head in `buf` (the body, if any, starts there).
    pub head_len: usize,
}

/// A head another framing has already split (see [`HeadParts`]), checked as
/// [`parse_request`] checks what httparse splits: the same limits (431 past
/// `max_header_bytes` or `max_headers`, 414 for a request line alone past the first), the same
/// token rules (a method and names made of token characters, a target of visible ASCII,
/// values of HTAB, SP, VCHAR and obs-text), then every check of the head itself (method,
/// target and path, Host, framing, Expect). Read as HTTP/1.1.
pub fn check_parts(
    buf: &[u8],
    parts: &HeadParts<'_>,
    limits: &RequestLimits,
) -> Result<RequestHead, HttpError> {
    let method = parts.method.slice(buf);
    let target = parts.target.slice(buf);
    if parts.head_len > limits.max_header_bytes {
        // The request line alone (method, target, " HTTP/1.1\r\n") past the limit is 414.
        return Err(
            if method.len() + target.len() + 11 > limits.max_header_bytes {
                HttpError::UriTooLong
            } else {
                HttpError::HeaderTooLarge
            },
        );
    }
    if parts.fields.len() > limits.max_headers {
        return Err(HttpError::HeaderTooLarge);
    }
    if method.is_empty() || !method.iter().all(|&b| is_token(b)) {
        return Err(HttpError::BadRequest("invalid method or request target"));
    }
    if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(HttpError::BadRequest("invalid method or request target"));
    }
    for f in parts.fields {
        let name = f.name.slice(buf);
        if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
            return Err(HttpError::BadRequest("invalid header name"));
        }
        if !valid_field_value(f.value.slice(buf)) {
            return Err(HttpError::BadRequest("invalid header value"));
        }
    }
    let tokens = Tokens {
        method,
        target,
        minor_version: 1,
    };
    let fields = parts
        .fields
        .iter()
        .map(|f| (f.name.slice(buf), f.value.slice(buf)));
    build_from(buf, parts.head_len, tokens, fields)
}

/// tchar (RFC 9110, 5.6.2), one lookup a byte. (Built at compile time: an index out of
/// range there fails the build, never a request.)
#[allow(clippy::indexing_slicing)]
static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

#[inline]
fn is_token(b: u8) -> bool {
    TCHAR.get(usize::from(b)).copied().unwrap_or(false)
}

/// HTAB, SP, VCHAR and obs-text only (RFC 9110, 5.5), as httparse accepts. Branch-free over
/// the whole value, so that a long one (a bearer token) is checked at vector speed.
fn valid_field_value(v: &[u8]) -> bool {
    v.iter().fold(true, |ok, &b| {
        ok & ((b >= 0x20 && b != 0x7f) | (b == b'\t'))
    })
}

fn build_from<'b>(
    buf: &'b [u8],
    head_len: usize,
    tokens: Tokens<'b>,
    fields: impl ExactSizeIterator<Item = (&'b [u8], &'b [u8])>,
) -> Result<RequestHead, HttpError> {
    let Tokens {
        method: method_s,
        target: target_s,
        minor_version,
    } = tokens;

    let method_kind = match Method::from_bytes(method_s) {
        Some(m) => m,
        None if method_s == b"CONNECT" => return Err(HttpError::NotImplemented("CONNECT")),
        None => return Err(HttpError::NotImplemented("method")),
    };

    // httparse allows only 0x21..=0x7E and obs-text in a target; refuse the latter.
    if !target_s.is_ascii() {
        return Err(HttpError::BadRequest("invalid byte in request target"));
    }
    if memchr::memchr(b'#', target_s).is_some() {
        return Err(HttpError::BadRequest("fragment in request target"));
    }
    let target = span_of(buf, target_s);
    let (target_form, path, query, authority) = split_target(target_s, target, method_kind)?;
    // One reading of the path for the router, the method ARN and the upstream.
    crate::path::check_path(path.slice(buf))?;

    let mut headers = Vec::with_capacity(fields.len());
    let mut cl: Option<Span> = None;
    let mut te_count = 0usize;
    let mut host: Option<Span> = None;
    let mut host_count = 0usize;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    for (n, v) in fields {
        let name = span_of(buf, n);
        let raw = span_of(buf, v);
        // Value bytes need no second scan: httparse already refuses everything outside
        // HTAB / SP / VCHAR / obs-text (the unit tests pin that down), and `check_parts`
        // checks the same.
        let value = trim_ows(buf, raw);
        // Dispatch on the length first: at most one case-insensitive compare per header.
        match n.len() {
            14 if n.eq_ignore_ascii_case(b"content-length") => {
                if cl.is_some() {
                    return Err(HttpError::BadRequest("duplicate Content-Length"));
                }
                cl = Some(value);
            }
            17 if n.eq_ignore_ascii_case(b"transfer-encoding") => te_count += 1,
            // `Transfer_Encoding` / `Content_Length`: servers that map `_` to `-` (CGI-style
            // header tables) would frame the forwarded request differently from us.
            14 | 17 if is_framing_lookalike(n) => {
                return Err(HttpError::BadRequest(
                    "underscore variant of a framing header",
                ));
            }
            4 if n.eq_ignore_ascii_case(b"host") => {
                host_count += 1;
                host = Some(value);
            }
            10 if n.eq_ignore_ascii_case(b"connection") => {
                for t in connection_tokens(value.slice(buf)) {
                    conn_close |= t.eq_ignore_ascii_case(b"close");
                    conn_keep_alive |= t.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            6 if n.eq_ignore_ascii_case(b"expect") => {
                if value.slice(buf).eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = minor_version == 1;
                } else {
                    return Err(HttpError::ExpectationFailed);
                }
            }
            _ => {}
        }
        headers.push(Header { name, value });
    }

    if host_count > 1 {
        return Err(HttpError::BadRequest("more than one Host"));
    }
    if minor_version == 1 && host_count == 0 {
        return Err(HttpError::BadRequest("missing Host"));
    }
    if let Some(h) = host
        && !valid_host(h.slice(buf))
    {
        return Err(HttpError::BadRequest("invalid Host"));
    }
    // One authority decides the API and is what a SigV4 signature covers (it signs the Host
    // header): an absolute-form target must name the same authority as Host.
    if let (Some(a), Some(h)) = (authority, host) {
        let https = target_s
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"https://"));
        let default_port: &[u8] = if https { b"443" } else { b"80" };
        if !same_authority(a.slice(buf), h.slice(buf), default_port) {
            return Err(HttpError::BadRequest(
                "absolute-form authority differs from Host",
            ));
        }
    }
    let host = authority.or(host);

    let framing = if te_count > 0 {
        if minor_version == 0 {
            return Err(HttpError::BadRequest("Transfer-Encoding in HTTP/1.0"));
        }
        if cl.is_some() {
            return Err(HttpError::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        match transfer_encoding(values_named(&headers, buf, b"transfer-encoding"))? {
            TeVerdict::Chunked => BodyFraming::Chunked,
            TeVerdict::NotChunkedFinal => {
                return Err(HttpError::BadRequest("chunked is not the final coding"));
            }
            TeVerdict::OtherCodings => {
                return Err(HttpError::NotImplemented("transfer coding"));
            }
        }
    } else if let Some(cl) = cl {
        BodyFraming::Length(parse_content_length(cl.slice(buf))?)
    } else {
        BodyFraming::None
    };

    let keep_alive = !conn_close && (minor_version == 1 || conn_keep_alive);

    Ok(RequestHead {
        method: span_of(buf, method_s),
        method_kind,
        target,
        target_form,
        path,
        query,
        minor_version,
        headers,
        head_len,
        framing,
        keep_alive,
        expect_continue,
        host,
    })
}

type SplitTarget = (TargetForm, Span, Option<Span>, Option<Span>);

/// Split a target into form, path, query and (absolute form) authority.
fn split_target(t: &[u8], span: Span, method: Method) -> Result<SplitTarget, HttpError> {
    let base = span.start as usize;
    let path_query = |from: usize| -> (Span, Option<Span>) {
        let rest = t.get(from..).unwrap_or_default();
        match memchr::memchr(b'?', rest) {
            Some(q) => (
                Span::new(base + from, base + from + q),
                Some(Span::new(base + from + q + 1, base + t.len())),
            ),
            None => (Span::new(base + from, base + t.len()), None),
        }
    };
    if t.first() == Some(&b'/') {
        let (path, query) = path_query(0);
        return Ok((TargetForm::Origin, path, query, None));
    }
    if t == b"*" {
        if method != Method::Options {
            return Err(HttpError::BadRequest(
                "asterisk-form target without OPTIONS",
            ));
        }
        return Ok((TargetForm::Asterisk, span, None, None));
    }
    let scheme_len = if t.len() >= 7
        && t.get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"http://"))
    {
        7
    } else if t.len() >= 8
        && t.get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"https://"))
    {
        8
    } else {
        return Err(HttpError::BadRequest("request target is not origin-form"));
    };
    let after = t.get(scheme_len..).unwrap_or_default();
    let auth_len = after
        .iter()
        .position(|b| *b == b'/' || *b == b'?')
        .ok_or(HttpError::BadRequest("absolute-form target without path"))?;
    if after.get(auth_len) != Some(&b'/') {
        return Err(HttpError::BadRequest("absolute-form target without path"));
    }
    let authority = after.get(..auth_len).unwrap_or_default();
    if authority.is_empty() || !valid_host(authority) {
        return Err(HttpError::BadRequest("invalid authority in target"));
    }
    let (path, query) = path_query(scheme_len + auth_len);
    let auth = Span::new(base + scheme_len, base + scheme_len + auth_len);
    Ok((TargetForm::Absolute, path, query, Some(auth)))
}
