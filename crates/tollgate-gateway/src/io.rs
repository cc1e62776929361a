//! Owned-buffer I/O helpers over monoio's rent-style API: reads append to a `Vec<u8>`,
//! writes hand a buffer to the kernel and get it back. Generic over monoio's
//! `AsyncReadRent`/`AsyncWriteRent`: TCP streams in the gateway, in-memory streams in tests.

use std::io;
use std::time::{Duration, Instant};

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller,
};

use crate::http1::{self, BodyEnd};
use crate::response::{BodyStream, Response, ResponseHead};

/// Smallest free space offered to one read.
pub(crate) const READ_CHUNK: usize = 4096;

/// Read more bytes, appended to `buf`. `Ok(0)` = the peer closed. A deadline that passes
/// answers `ErrorKind::TimedOut`; the buffer is then empty (the connection is to be dropped).
pub(crate) async fn fill<S: AsyncReadRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    deadline: Option<Instant>,
) -> io::Result<usize> {
    let len = buf.len();
    if buf.capacity() - len < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    let owned = std::mem::take(buf);
    let fut = stream.read(owned.slice_mut(len..));
    let (res, slice) = match deadline {
        None => fut.await,
        Some(d) => match monoio::time::timeout_at(d.into(), fut).await {
            Ok(r) => r,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out")),
        },
    };
    *buf = slice.into_inner();
    res
}

/// Like [`fill`], but a deadline that passes gives the read up without losing bytes, so the
/// connection stays usable. Under io_uring a read future dropped in flight discards what the
/// kernel may already have delivered into its buffer (the op completes, nobody reads the
/// result): here the read is cancelled and then awaited to its end, which yields either the
/// bytes or `ECANCELED`. `Err(TimedOut)`: nothing was read and `buf` is as it was.
pub(crate) async fn fill_or_give_up<S: CancelableAsyncReadRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> io::Result<usize> {
    let len = buf.len();
    if buf.capacity() - len < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    let owned = std::mem::take(buf);
    let canceller = Canceller::new();
    let mut fut =
        std::pin::pin!(stream.cancelable_read(owned.slice_mut(len..), canceller.handle()));
    let (res, slice) = match monoio::time::timeout_at(deadline.into(), fut.as_mut()).await {
        Ok(r) => r,
        Err(_) => {
            let _ = canceller.cancel();
            fut.await
        }
    };
    *buf = slice.into_inner();
    match res {
        Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => {
            Err(io::Error::new(io::ErrorKind::TimedOut, "read given up"))
        }
        r => r,
    }
}

/// Write all of `data`, returning the buffer for reuse.
pub(crate) async fn write_all<S: AsyncWriteRent>(
    stream: &mut S,
    data: Vec<u8>,
    deadline: Option<Instant>,
) -> (io::Result<()>, Vec<u8>) {
    let fut = stream.write_all(data);
    let (res, data) = match deadline {
        None => fut.await,
        Some(d) => match monoio::time::timeout_at(d.into(), fut).await {
            Ok(r) => r,
            Err(_) => {
                return (
                    Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
                    Vec::new(),
                );
            }
        },
    };
    (res.map(|_| ()), data)
}

/// Write `buf[range]` without copying, handing `buf` back.
pub(crate) async fn write_range<S: AsyncWriteRent>(
    stream: &mut S,
    buf: Vec<u8>,
    range: std::ops::Range<usize>,
    deadline: Option<Instant>,
) -> (io::Result<()>, Vec<u8>) {
    if range.start >= range.end || range.end > buf.len() {
        return (Ok(()), buf);
    }
    let fut = stream.write_all(buf.slice(range));
    let (res, slice) = match deadline {
        None => fut.await,
        Some(d) => match monoio::time::timeout_at(d.into(), fut).await {
            Ok(r) => r,
            Err(_) => {
                return (
                    Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
                    Vec::new(),
                );
            }
        },
    };
    (res.map(|_| ()), slice.into_inner())
}

/// Where the pipeline writes a client's answer: a socket (every `AsyncWriteRent`, through
/// [`write_all`] and [`write_range`]) or another protocol's sink (an HTTP/2 stream, `h2.rs`).
///
/// The pipeline hands its answers over protocol-neutral ([`Wire::send_response`],
/// [`Wire::send_head`], [`Wire::send_body`]); the provided methods are HTTP/1's (rendered by
/// `http1.rs` and written with [`Wire::send_all`] / [`Wire::send_range`]), and another
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
        let body_len = http1::write_response(out, r, is_head, close);
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
        framing: http1::Framing,
        inline: &[u8],
        deadline: Option<Instant>,
    ) -> io::Result<()>
    where
        Self: Sized,
    {
        out.clear();
        http1::write_head(out, head, framing);
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
        http1::send_body(self, body, chunked, timeout, sent).await
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
