//! Response heads from upstreams (the gateway's client side).

use crate::HttpError;
use crate::common::{
    Header, Span, TeVerdict, check_line_endings, connection_has, is_field_value_byte,
    parse_content_length, span_of, transfer_encoding, trim_ows, values_named,
};

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    /// No body: 1xx, 204, 304, or the response to a HEAD request.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked: decode with [`crate::ChunkedDecoder`].
    Chunked,
    /// Neither length nor chunked: the body runs until the upstream closes.
    UntilClose,
}

/// A parsed response head; spans point into the buffer given to [`parse_response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code (100..=999).
    pub status: u16,
    /// Reason phrase as sent (may be empty).
    pub reason: Span,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// All header lines, values OWS-trimmed.
    pub headers: Vec<Header>,
    /// Bytes of status line + headers + final CRLF.
    pub head_len: usize,
    /// How the body is delimited.
    pub framing: ResponseFraming,
    /// Whether the connection can carry another request after this response.
    pub keep_alive: bool,
}

impl ResponseHead {
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

    /// True for an interim (1xx) response: the final response follows on the same connection.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// Most header lines accepted in an upstream response.
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// Parse a response head at the start of `buf`. `Ok(None)` = need more bytes; an incomplete
/// head of `max_header_bytes` bytes or more is `Err(HeaderTooLarge)`. Every error means the
/// upstream sent something unusable (the gateway answers 502).
///
/// Framing is strict, like requests: Content-Length and Transfer-Encoding together, duplicate
/// Content-Length, and any Transfer-Encoding other than exactly `chunked` are errors.
pub fn parse_response(
    buf: &[u8],
    max_header_bytes: usize,
    request_was_head: bool,
) -> Result<Option<ResponseHead>, HttpError> {
    let max = max_header_bytes.min(u32::MAX as usize);
    let window = buf.get(..buf.len().min(max)).unwrap_or(buf);
    let mut slots = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut res = httparse::Response::new(&mut slots);
    let n = match res.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_line_endings(window)?;
            return if window.len() >= max {
                Err(HttpError::HeaderTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeaderTooLarge),
        Err(httparse::Error::Version) => return Err(HttpError::VersionNotSupported),
        Err(_) => return Err(HttpError::BadRequest("malformed response head")),
    };
    check_line_endings(window.get(..n).unwrap_or_default())?;

    let status = res.code.unwrap_or(0);
    if !(100..=999).contains(&status) {
        return Err(HttpError::BadRequest("invalid status code"));
    }
    let minor_version = res.version.unwrap_or(1);
    let reason = span_of(window, res.reason.unwrap_or_default().as_bytes());

    let mut headers = Vec::with_capacity(res.headers.len());
    let mut cl: Option<Span> = None;
    let mut te = false;
    for h in res.headers.iter() {
        if !h.value.iter().all(|b| is_field_value_byte(*b)) {
            return Err(HttpError::BadRequest("invalid byte in header value"));
        }
        let name = span_of(window, h.name.as_bytes());
        let value = trim_ows(window, span_of(window, h.value));
        let n = h.name.as_bytes();
        if n.eq_ignore_ascii_case(b"content-length") {
            if cl.is_some() {
                return Err(HttpError::BadRequest("duplicate Content-Length"));
            }
            cl = Some(value);
        } else if n.eq_ignore_ascii_case(b"transfer-encoding") {
            te = true;
        }
        headers.push(Header { name, value });
    }

    let bodiless =
        request_was_head || (100..200).contains(&status) || status == 204 || status == 304;
    let framing = if bodiless {
        ResponseFraming::None
    } else if te {
        if cl.is_some() {
            return Err(HttpError::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if minor_version == 0 {
            return Err(HttpError::BadRequest("Transfer-Encoding in HTTP/1.0"));
        }
        match transfer_encoding(values_named(&headers, window, b"transfer-encoding"))? {
            TeVerdict::Chunked => ResponseFraming::Chunked,
            TeVerdict::NotChunkedFinal | TeVerdict::OtherCodings => {
                return Err(HttpError::NotImplemented("transfer coding"));
            }
        }
    } else if let Some(cl) = cl {
        ResponseFraming::Length(parse_content_length(cl.slice(window))?)
    } else {
        ResponseFraming::UntilClose
    };

    let conn = || values_named(&headers, window, b"connection");
    let keep_alive = framing != ResponseFraming::UntilClose
        && !connection_has(conn(), b"close")
        && (minor_version == 1 || connection_has(conn(), b"keep-alive"));

    Ok(Some(ResponseHead {
        status,
        reason,
        minor_version,
        headers,
        head_len: n,
        framing,
        keep_alive,
    }))
}
