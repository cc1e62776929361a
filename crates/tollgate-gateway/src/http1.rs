//! The HTTP/1.1 response writer: turns a protocol-neutral [`ResponseHead`] and its body
//! length into HTTP/1 bytes (status line, headers, `Content-Length` or chunked framing,
//! `Connection: close`, no body for HEAD). The only place response heads become HTTP/1.

use std::io;
use std::time::{Duration, Instant};

use monoio::io::AsyncWriteRent;

use crate::io::{write_all, write_range};
use crate::response::{BodyLen, BodyStream, Response, ResponseHead};
use crate::wire;

/// How the body after a head is framed on an HTTP/1 connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Framing {
    pub body: BodyLen,
    /// An unknown-length body is sent chunked (an HTTP/1.1 client); otherwise it ends when
    /// the connection closes (an HTTP/1.0 client; `close` must then be set).
    pub chunked: bool,
    /// Send `Connection: close` (the connection closes after this response).
    pub close: bool,
}

/// Append the HTTP/1.1 head of `head` framed by `f` to `out`.
pub(crate) fn write_head(out: &mut Vec<u8>, head: &ResponseHead<'_>, f: Framing) {
    wire::status_line(out, head.status);
    let at = head.framing_at.unwrap_or(head.headers.len());
    for (i, (name, value)) in head.headers.iter().enumerate() {
        if i == at {
            write_framing(out, f);
        }
        wire::header(out, name, value);
    }
    if at >= head.headers.len() {
        write_framing(out, f);
    }
    if f.close {
        wire::header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// The framing header of a body framed by `f` (none for no body or close-delimited).
fn write_framing(out: &mut Vec<u8>, f: Framing) {
    match f.body {
        BodyLen::Known(n) => wire::header_usize(
            out,
            b"content-length",
            usize::try_from(n).unwrap_or(usize::MAX),
        ),
        BodyLen::Unknown if f.chunked => wire::header(out, b"transfer-encoding", b"chunked"),
        BodyLen::Unknown | BodyLen::None => {}
    }
}

/// Append a whole in-memory response to `out` (the body left out when answering HEAD);
/// returns the body bytes it carries.
pub(crate) fn write_response(
    out: &mut Vec<u8>,
    r: &Response<'_>,
    is_head: bool,
    close: bool,
) -> usize {
    let f = Framing {
        body: BodyLen::Known(r.body.len() as u64),
        chunked: false,
        close,
    };
    write_head(out, &r.head, f);
    if is_head {
        return 0;
    }
    out.extend_from_slice(&r.body);
    r.body.len()
}

/// Append one chunk of a chunked body (`data` must not be empty: that is the last chunk).
pub(crate) fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    tollgate_http::encode_chunk_header(data.len(), out);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk of a chunked body (no trailers).
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Tell a client that sent `Expect: 100-continue` to send its body (the interim answer).
pub(crate) async fn send_continue<S: Wire>(
    stream: &mut S,
    deadline: Instant,
) -> std::io::Result<()> {
    stream
        .send_all(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(), Some(deadline))
        .await
        .0
}

/// How streaming a body to the client ended.
#[derive(Debug)]
pub(crate) enum BodyEnd {
    /// Every piece went out (and the last chunk, when chunked).
    Complete,
    /// The source broke off, timed out or did not decode (not the client's doing).
    SourceFailed,
    /// A write to the client failed.
    ClientGone,
}

/// Pull `body` to its end and write it to `stream`: each piece as a chunk when `chunked`,
/// else as it is (straight from the source's buffer). Every write must finish within
/// `timeout`. `sent` counts the body bytes written (not the framing).
pub(crate) async fn send_body<S: Wire, B: BodyStream>(
    stream: &mut S,
    body: &mut B,
    chunked: bool,
    timeout: Duration,
    sent: &mut usize,
) -> BodyEnd {
    let mut frame: Vec<u8> = Vec::new();
    loop {
        let (buf, range) = match body.next().await {
            Ok(Some(piece)) => piece,
            Ok(None) => break,
            Err(_) => return BodyEnd::SourceFailed,
        };
        let len = range.len();
        let deadline = Some(Instant::now() + timeout);
        let res = if chunked {
            frame.clear();
            write_chunk(&mut frame, buf.get(range).unwrap_or_default());
            body.give_back(buf);
            let (res, f) = stream.send_all(std::mem::take(&mut frame), deadline).await;
            frame = f;
            res
        } else {
            let (res, buf) = stream.send_range(buf, range, deadline).await;
            body.give_back(buf);
            res
        };
        if res.is_err() {
            return BodyEnd::ClientGone;
        }
        *sent += len;
    }
    if chunked {
        let deadline = Some(Instant::now() + timeout);
        if stream
            .send_all(LAST_CHUNK.to_vec(), deadline)
            .await
            .0
            .is_err()
        {
            return BodyEnd::ClientGone;
        }
    }
    BodyEnd::Complete
}

/// Where the pipeline writes a client's answer: a socket (every `AsyncWriteRent`, through
/// [`write_all`] and [`write_range`]) or another protocol's sink (an HTTP/2 stream, `h2.rs`).
///
/// The pipeline hands its answers over protocol-neutral ([`Wire::send_response`],
/// [`Wire::send_head`], [`Wire::send_body`]); the provided methods are HTTP/1's (rendered by
/// this module and written with [`Wire::send_all`] / [`Wire::send_range`]), and another
/// protocol overrides them to take the status, headers and body as they are.
pub(crate) trait Wire {
    /// Write all of `data`, returning the buffer for reuse.
    async fn send_all(
        &mut self,
        data: Vec<u8>,
        deadline: Option<Instant>,
    ) -> (io::Result<()>, Vec<u8>);
    /// Write `buf[range]`, handing `buf` back.
    async fn send_range(
        &mut self,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
        deadline: Option<Instant>,
    ) -> (io::Result<()>, Vec<u8>);

    /// Whether answers are HTTP/1 bytes: the mock answer's fast path then writes them
    /// directly into the output buffer (`pipeline/integrate.rs`).
    fn is_http1(&self) -> bool {
        true
    }

    /// Send a whole in-memory answer (no body for HEAD; `close`: the connection closes after
    /// it). `out` is the connection's reusable output buffer. Returns the body bytes sent.
    async fn send_response(
        &mut self,
        out: &mut Vec<u8>,
        r: &Response<'_>,
        is_head: bool,
        close: bool,
        deadline: Option<Instant>,
    ) -> (io::Result<()>, usize)
    where
        Self: Sized,
    {
        out.clear();
        let body_len = write_response(out, r, is_head, close);
        let (res, o) = self.send_all(std::mem::take(out), deadline).await;
        *out = o;
        (res, body_len)
    }

    /// Send the head of an answer whose body follows through [`Wire::send_body`], with the
    /// body's first bytes (`inline`: a small body that is already whole goes out with the head).
    async fn send_head(
        &mut self,
        out: &mut Vec<u8>,
        head: &ResponseHead<'_>,
        framing: Framing,
        inline: &[u8],
        deadline: Option<Instant>,
    ) -> io::Result<()>
    where
        Self: Sized,
    {
        out.clear();
        write_head(out, head, framing);
        out.extend_from_slice(inline);
        let (res, o) = self.send_all(std::mem::take(out), deadline).await;
        *out = o;
        res
    }

    /// Pull `body` to its end and send it after [`Wire::send_head`] (HTTP/1: as chunks when
    /// `chunked`); every write within `timeout`; `sent` counts the body bytes.
    async fn send_body<B: BodyStream>(
        &mut self,
        body: &mut B,
        chunked: bool,
        timeout: Duration,
        sent: &mut usize,
    ) -> BodyEnd
    where
        Self: Sized,
    {
        send_body(self, body, chunked, timeout, sent).await
    }
}

impl<S: AsyncWriteRent> Wire for S {
    async fn send_all(
        &mut self,
        data: Vec<u8>,
        deadline: Option<Instant>,
    ) -> (io::Result<()>, Vec<u8>) {
        write_all(self, data, deadline).await
    }

    async fn send_range(
        &mut self,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
        deadline: Option<Instant>,
    ) -> (io::Result<()>, Vec<u8>) {
        write_range(self, buf, range, deadline).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::borrow::Cow;

    fn text(v: &[u8]) -> String {
        String::from_utf8(v.to_vec()).unwrap()
    }

    #[test]
    fn heads_are_framed_by_body_length_and_connection() {
        let mut h = ResponseHead::new(200);
        h.push(b"content-type", b"text/plain");
        let mut out = Vec::new();
        let f = Framing {
            body: BodyLen::Unknown,
            chunked: true,
            close: false,
        };
        write_head(&mut out, &h, f);
        assert_eq!(
            text(&out),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        out.clear();
        let f = Framing {
            body: BodyLen::Unknown,
            chunked: false,
            close: true,
        };
        write_head(&mut out, &h, f);
        assert_eq!(
            text(&out),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
        );
        out.clear();
        write_head(
            &mut out,
            &ResponseHead::new(204),
            Framing {
                body: BodyLen::None,
                chunked: false,
                close: false,
            },
        );
        assert_eq!(text(&out), "HTTP/1.1 204 No Content\r\n\r\n");
    }

    #[test]
    fn whole_responses_and_head() {
        let r = Response {
            head: ResponseHead::new(404),
            body: Cow::Borrowed(b"nope"),
        };
        let mut out = Vec::new();
        assert_eq!(write_response(&mut out, &r, false, true), 4);
        assert_eq!(
            text(&out),
            "HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope"
        );
        out.clear();
        assert_eq!(write_response(&mut out, &r, true, false), 0);
        assert_eq!(
            text(&out),
            "HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\n"
        );
    }

    #[test]
    fn the_framing_header_goes_where_the_head_marks_it() {
        let mut h = ResponseHead::new(403);
        h.push(b"content-type", b"application/json");
        h.mark_framing();
        h.push(b"x-amzn-RequestId", b"r");
        let r = Response {
            head: h,
            body: Cow::Borrowed(b"{}"),
        };
        let mut out = Vec::new();
        write_response(&mut out, &r, false, true);
        assert_eq!(
            text(&out),
            "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\
             x-amzn-RequestId: r\r\nconnection: close\r\n\r\n{}"
        );
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        write_chunk(&mut out, &[b'x'; 17]);
        out.extend_from_slice(LAST_CHUNK);
        assert_eq!(text(&out), format!("11\r\n{}\r\n0\r\n\r\n", "x".repeat(17)));
    }
}
