//! tollgate-http: the pure (no I/O) HTTP/1.1 layer of the gateway.
//!
//! [`parse_request`] parses a request head with `httparse` into a [`RequestHead`] whose fields
//! are [`Span`]s (offsets) into the connection's own buffer: no header is copied. On top of
//! httparse it enforces RFC 9112 strictly, as an edge that must not be smuggled through: one
//! Content-Length at most and never with Transfer-Encoding, Transfer-Encoding exactly `chunked`,
//! no bare LF, no obs-fold, exactly one Host on HTTP/1.1, only the methods API Gateway routes.
//! [`BodyFraming`] says how the body is delimited; [`ChunkedDecoder`] decodes chunked bodies
//! incrementally, returning data as ranges of its input (zero copy). [`parse_response`] parses
//! upstream response heads ([`ResponseFraming`]); [`HeadWriter`] writes heads. [`check_path`] is
//! the one path rule (no `//`, dot-segments, backslashes, encoded unreserved bytes or encoded
//! separators), applied by `parse_request` so that routing, policies and upstreams see one
//! path. Every rejection is an [`HttpError`] that knows its status ([`HttpError::status`]). See
//! `docs/http.md` for the full accept/reject table and `docs/security.md` for the path rule.
//!
//! ```
//! use tollgate_http::{parse_request, BodyFraming, ChunkedDecoder, RequestLimits, Step};
//!
//! let buf = b"POST /prod/items?x=1 HTTP/1.1\r\nHost: api.example\r\n\
//!             Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
//! let head = parse_request(buf, &RequestLimits::default()).unwrap().unwrap();
//! assert_eq!(head.path.slice(buf), b"/prod/items");
//! assert_eq!(head.query.unwrap().slice(buf), b"x=1");
//! assert_eq!(head.header(buf, b"host"), Some(&b"api.example"[..]));
//! assert_eq!(head.framing, BodyFraming::Chunked);
//!
//! let mut body = &buf[head.head_len..];
//! let mut dec = ChunkedDecoder::new();
//! let mut out = Vec::new();
//! loop {
//!     match dec.step(body).unwrap() {
//!         Step::Data { consumed, data } => { out.extend_from_slice(&body[data]); body = &body[consumed..]; }
//!         Step::NeedMore { .. } => unreachable!("whole body is in the buffer"),
//!         Step::Done { consumed } => { body = &body[consumed..]; break; }
//!     }
//! }
//! assert_eq!(out, b"hello");
//! assert!(body.is_empty());
//! ```

mod chunked;
mod common;
mod error;
mod path;
mod request;
mod response;
mod writer;

pub use chunked::{
    CHUNK_END, ChunkedDecoder, InPlace, InPlaceChunked, LAST_CHUNK, MAX_CHUNK_SIZE_DIGITS,
    MAX_EXT_AND_TRAILER_BYTES, Step, encode_chunk_header,
};
pub use common::{Header, Span, connection_tokens, is_hop_by_hop, reason_phrase};
pub use error::HttpError;
pub use path::check_path;
pub use request::{
    BodyFraming, HeadParts, Method, RequestHead, RequestLimits, TargetForm, check_parts,
    parse_request,
};
pub use response::{MAX_RESPONSE_HEADERS, ResponseFraming, ResponseHead, parse_response};
pub use writer::{HeadWriter, InvalidHead};

/// The `httparse` crate this layer is built on, re-exported so that benches can compare with
/// the raw primitive without a second dependency declaration.
pub use httparse;

#[cfg(test)]
mod tests;
