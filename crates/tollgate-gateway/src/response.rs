//! Protocol-neutral responses: what the pipeline answers with, before any wire format.
//!
//! A [`Response`] is a status, end-to-end headers as name/value pairs, and a body. Framing
//! (`Content-Length`, `Transfer-Encoding`), `Connection` and the status line are the
//! protocol writer's business (`http1.rs` for HTTP/1; for HTTP/2, `h2.rs` hands the same
//! value to `tollgate-h2`, which makes HEADERS and DATA frames of it; see `http1::Wire`). Names
//! and values borrow from wherever they live (the snapshot, an upstream's response buffer)
//! and are owned only when built per request.

use std::borrow::Cow;

/// One header: name and value as bytes.
pub(crate) type Header<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// A response head: status and end-to-end headers, no framing or connection headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseHead<'a> {
    pub status: u16,
    pub headers: Vec<Header<'a>>,
    /// Where a writer that orders headers puts its framing header (HTTP/1's `Content-Length`
    /// or `Transfer-Encoding`): before `headers[i]`; `None`: after them all. AWS's answers
    /// have it just before `x-amzn-RequestId`, and the gateway keeps their byte order.
    pub framing_at: Option<usize>,
}

impl<'a> ResponseHead<'a> {
    pub(crate) fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            framing_at: None,
        }
    }

    /// The framing header goes here, before the next header pushed.
    pub(crate) fn mark_framing(&mut self) {
        self.framing_at = Some(self.headers.len());
    }

    /// Append a header whose name and value live at least as long as the head.
    pub(crate) fn push(&mut self, name: &'a [u8], value: &'a [u8]) {
        self.headers
            .push((Cow::Borrowed(name), Cow::Borrowed(value)));
    }

    /// The first value of header `name` (case-insensitive).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// How much body follows a head (what the protocol writer frames it by).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLen {
    /// No body at all (204, 304, the answer to HEAD).
    None,
    /// Exactly this many bytes.
    Known(u64),
    /// A stream whose length is not known in advance (HTTP/1.1: chunked; HTTP/1.0: until close).
    Unknown,
}

/// A whole response whose body is in memory (gateway errors, mock answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response<'a> {
    pub head: ResponseHead<'a>,
    pub body: Cow<'a, [u8]>,
}

/// A body pulled piece by piece: a response body the protocol writer pulls from (an
/// upstream's body being read as it is sent), or a request body the pipeline pulls from (the
/// HTTP/1 body reader; an HTTP/2 caller would implement it over its DATA frames). Any
/// protocol's writer can drive a response body: HTTP/1 frames each piece as a chunk or writes
/// it as is; the HTTP/2 side (`h2.rs`) sends each as DATA.
///
/// Pieces are lent rent-style, so a writer can hand the source's own buffer to the kernel
/// without copying: [`BodyStream::next`] lends the buffer holding the next piece and the
/// piece's range in it, and the writer hands the buffer back with [`BodyStream::give_back`]
/// before asking for the next one.
pub(crate) trait BodyStream {
    /// Why a body could not be read to its end (the source's fault: it broke off, timed out
    /// or did not decode).
    type Error;
    /// The next piece (`Ok(None)`: the body is complete).
    #[allow(clippy::type_complexity)]
    async fn next(&mut self) -> Result<Option<(Vec<u8>, std::ops::Range<usize>)>, Self::Error>;
    /// Return the buffer [`BodyStream::next`] lent.
    fn give_back(&mut self, buf: Vec<u8>);
}
