//! Owned-buffer I/O helpers over monoio's rent-style API: reads append to a `Vec<u8>`,
//! writes hand a buffer to the kernel and get it back. Generic over monoio's
//! `AsyncReadRent`/`AsyncWriteRent`: TCP streams in the gateway, in-memory streams in tests.

use std::io;
use std::time::Instant;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller,
};

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
