//! Spans, headers and the small helpers shared by requests and responses.

use crate::HttpError;

/// A byte range `start..end` inside the caller's buffer (the buffer the head was parsed from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The bytes of this span in `buf`; empty (never a panic) when the range does not fit.
    #[inline]
    pub fn slice<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }

    /// Number of bytes (0 for an inverted span).
    #[inline]
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start) as usize
    }

    /// True when the span holds no byte.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The span as a `usize` range.
    #[inline]
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// `start..end`, saturated into `u32` (heads are bounded far below 4 GiB).
    #[inline]
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }
}

/// One header line: name and value (surrounding optional whitespace trimmed), as spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// The field name, as sent (compare it case-insensitively).
    pub name: Span,
    /// The field value without leading and trailing SP/HTAB.
    pub value: Span,
}

/// Offset of `part` inside `buf` (both from the same allocation); httparse hands back
/// sub-slices of the buffer it parsed, so this turns them into offsets without copying.
#[inline]
pub(crate) fn offset_in(buf: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize)
}

/// Span of `part` (a sub-slice of `buf`).
#[inline]
pub(crate) fn span_of(buf: &[u8], part: &[u8]) -> Span {
    let start = offset_in(buf, part);
    Span::new(start, start + part.len())
}

/// Trim SP/HTAB on both sides of `span` within `buf`.
pub(crate) fn trim_ows(buf: &[u8], span: Span) -> Span {
    let bytes = span.slice(buf);
    let lead = bytes
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    let rest = bytes.get(lead..).unwrap_or_default();
    let trail = rest
        .iter()
        .rev()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    Span::new(
        span.start as usize + lead,
        span.start as usize + bytes.len() - trail,
    )
}

/// RFC 9110 `tchar`.
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
        | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

/// A non-empty RFC 9110 token.
#[inline]
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|b| is_tchar(*b))
}

/// A byte allowed in a field value: HTAB, SP, VCHAR, obs-text (no NUL, CR, LF, other CTLs, DEL).
#[inline]
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// Check the raw head bytes for what httparse tolerates but RFC 9112 forbids at an edge:
/// a bare LF (an LF not preceded by CR) and obs-fold (a line that starts with SP or HTAB).
pub(crate) fn check_line_endings(head: &[u8]) -> Result<(), HttpError> {
    for pos in memchr::memchr_iter(b'\n', head) {
        if pos == 0 || head.get(pos - 1) != Some(&b'\r') {
            return Err(HttpError::BadRequest("bare LF in head"));
        }
        if matches!(head.get(pos + 1), Some(b' ' | b'\t')) {
            return Err(HttpError::BadRequest(
                "obs-fold or whitespace at line start",
            ));
        }
    }
    Ok(())
}

/// Parse a Content-Length value: 1+ DIGITs, no sign, no list, no overflow.
pub(crate) fn parse_content_length(v: &[u8]) -> Result<u64, HttpError> {
    if v.is_empty() {
        return Err(HttpError::BadRequest("empty Content-Length"));
    }
    let mut n: u64 = 0;
    for b in v {
        if !b.is_ascii_digit() {
            return Err(HttpError::BadRequest("Content-Length is not digits"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(HttpError::BadRequest("Content-Length overflow"))?;
    }
    Ok(n)
}

/// What a `Transfer-Encoding` list (all its header lines together) asks for.
pub(crate) enum TeVerdict {
    /// Exactly `chunked`.
    Chunked,
    /// Well-formed, but `chunked` is not the final coding (or is absent).
    NotChunkedFinal,
    /// Well-formed, final `chunked`, preceded by other codings we do not implement.
    OtherCodings,
}

/// Read the Transfer-Encoding values (each a comma list). Malformed elements (quoted strings,
/// parameters, empty values, non-tokens) and a repeated `chunked` are errors.
pub(crate) fn transfer_encoding<'a>(
    values: impl Iterator<Item = &'a [u8]>,
) -> Result<TeVerdict, HttpError> {
    let mut chunked_seen = 0u32;
    let mut count = 0u32;
    let mut last_chunked = false;
    for v in values {
        if v.is_empty() {
            return Err(HttpError::BadRequest("empty Transfer-Encoding"));
        }
        for element in v.split(|b| *b == b',') {
            let e = trim_slice(element);
            if !is_token(e) {
                return Err(HttpError::BadRequest("malformed Transfer-Encoding"));
            }
            count += 1;
            last_chunked = e.eq_ignore_ascii_case(b"chunked");
            if last_chunked {
                chunked_seen += 1;
            }
        }
    }
    if chunked_seen > 1 {
        return Err(HttpError::BadRequest("chunked applied twice"));
    }
    Ok(if !last_chunked {
        TeVerdict::NotChunkedFinal
    } else if count > 1 {
        TeVerdict::OtherCodings
    } else {
        TeVerdict::Chunked
    })
}

/// Trim SP/HTAB on both sides of a slice.
pub(crate) fn trim_slice(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |p| p + 1);
    s.get(start..end).unwrap_or_default()
}

/// The tokens of a `Connection` value (comma list, OWS trimmed, empty elements skipped).
/// Callers drop the headers these name before forwarding (RFC 9110 §7.6.1).
pub fn connection_tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|b| *b == b',')
        .map(trim_slice)
        .filter(|t| !t.is_empty())
}

/// True for the hop-by-hop headers a proxy must not forward: `connection`, `keep-alive`,
/// `proxy-connection`, `te`, `trailer`, `transfer-encoding`, `upgrade`, `proxy-authenticate`,
/// `proxy-authorization` (case-insensitive). Names listed in `Connection` are hop-by-hop too:
/// see [`connection_tokens`].
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP: [&[u8]; 9] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    ];
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The standard reason phrase of a status code ("Unknown" for codes without one).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        511 => "Network Authentication Required",
        _ => "Unknown",
    }
}

/// Values of all headers named `name` (case-insensitive), in order.
pub(crate) fn values_named<'a, 'n>(
    headers: &'a [Header],
    buf: &'a [u8],
    name: &'n [u8],
) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
    headers
        .iter()
        .filter(move |h| h.name.slice(buf).eq_ignore_ascii_case(name))
        .map(move |h| h.value.slice(buf))
}

/// Whether a `Connection` header list holds `token` (case-insensitive).
pub(crate) fn connection_has<'a>(mut values: impl Iterator<Item = &'a [u8]>, token: &[u8]) -> bool {
    values.any(|v| connection_tokens(v).any(|t| t.eq_ignore_ascii_case(token)))
}
