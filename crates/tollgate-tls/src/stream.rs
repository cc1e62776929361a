//! rustls driven over monoio's owned-buffer I/O (`AsyncReadRent` / `AsyncWriteRent`), with
//! bounded buffers and no `unsafe`: the TLS state machine runs on the connection's core.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use rustls::ClientConnection;
use rustls::pki_types::CertificateDer;

use crate::session::{ServerSession, Session};

use crate::{ClientCertInfo, ServerTls};

/// Ciphertext read from the socket at once: one full TLS record (16 KiB of plaintext plus
/// the largest expansion and header).
const READ_BUF: usize = 16 * 1024 + 2048 + 5;

/// Plaintext rustls may hold unsent (and received, unread) per connection.
pub(crate) const BUFFER_LIMIT: usize = 64 * 1024;

/// What nginx and HAProxy do with plain HTTP sent to a TLS port: a plaintext 400, then close.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 49\r\nConnection: close\r\n\r\nThe plain HTTP request was sent to an HTTPS port\n";

/// A handshake that did not complete. The connection is to be dropped.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("tls handshake timed out")]
    Timeout,
    #[error("tls handshake: the peer closed the connection")]
    Eof,
    #[error("plain HTTP on a TLS port (answered 400)")]
    PlainHttp,
    #[error("tls handshake: {0}")]
    Tls(#[from] rustls::Error),
    #[error("tls handshake: {0}")]
    Io(#[from] io::Error),
    #[error("not a valid server name: {0:?}")]
    BadServerName(String),
}

/// A TLS connection over `IO`. Reads append plaintext to a caller's `Vec<u8>`; writes take a
/// slice. Buffers: one ciphertext read buffer of one record, one ciphertext write buffer, and
/// rustls' own plaintext buffers capped at 64 KiB each way.
#[derive(Debug)]
pub struct TlsStream<IO, C> {
    io: IO,
    conn: C,
    /// Ciphertext read from the socket; `rbuf[rpos..]` is not yet given to rustls.
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    eof: bool,
    /// Plaintext taken from rustls for a monoio `read` and not yet handed out
    /// (`plain[ppos..]`); used by the `AsyncReadRent` impl only.
    plain: Vec<u8>,
    ppos: usize,
    /// Whether a flush has ciphertext in flight on the socket. HTTP/2 (through
    /// `monoio-compat`) polls a read and a write of one stream at once, and two socket
    /// writes of one connection must never overlap: a read leaves what rustls queued (a key
    /// update, an alert) to a flush in flight, whose loop sends it after its own bytes; a
    /// write waits for a flush in flight (the read's) to end before it starts its own.
    flushing: Rc<FlushLock>,
}

/// One flush at a time on a connection's socket (see `TlsStream::flushing`). Held through a
/// guard, so a flush whose future is dropped mid-write still releases it.
#[derive(Default)]
struct FlushLock {
    busy: Cell<bool>,
    /// The one flush waiting (a connection has at most one reader and one writer).
    waiter: Cell<Option<Waker>>,
}

impl std::fmt::Debug for FlushLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlushLock")
            .field("busy", &self.busy.get())
            .finish_non_exhaustive()
    }
}

/// Releases the `FlushLock` (and wakes the flush waiting) when the flush ends or is dropped.
struct FlushGuard(Rc<FlushLock>);

impl FlushGuard {
    /// Wait until no other flush is in flight, then hold the lock.
    async fn acquire(lock: &Rc<FlushLock>) -> Self {
        std::future::poll_fn(|cx| {
            if lock.busy.get() {
                lock.waiter.set(Some(cx.waker().clone()));
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        lock.busy.set(true);
        Self(lock.clone())
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.0.busy.set(false);
        if let Some(w) = self.0.waiter.take() {
            w.wake();
        }
    }
}

/// The server side of a connection.
pub type ServerTlsStream<IO> = TlsStream<IO, ServerSession>;
/// The client side of a connection.
pub type ClientTlsStream<IO> = TlsStream<IO, ClientConnection>;

impl<IO, C> TlsStream<IO, C>
where
    IO: AsyncReadRent + AsyncWriteRent,
    C: Session,
{
    pub(crate) fn new(io: IO, mut conn: C) -> Self {
        conn.set_limit(BUFFER_LIMIT);
        Self {
            io,
            conn,
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
            eof: false,
            plain: Vec::new(),
            ppos: 0,
            flushing: Rc::default(),
        }
    }

    /// The rustls connection (negotiated version, ALPN, peer certificates, ...).
    pub fn connection(&self) -> &C {
        &self.conn
    }

    /// The transport.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The negotiated ALPN protocol.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.common().alpn_protocol()
    }

    /// The peer's certificate chain, leaf first (servers: the client's certificate under mutual
    /// TLS, verified against the truststore).
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.conn.common().peer_certificates()
    }

    /// Write everything rustls has queued to the socket, after any flush already in flight
    /// (see `flushing`).
    async fn flush_tls(&mut self) -> io::Result<()> {
        // Taken even when nothing is queued: a flush in flight may hold bytes this one
        // must not claim are sent (a `flush` or `shutdown` waits for them).
        let lock = self.flushing.clone();
        let _guard = FlushGuard::acquire(&lock).await;
        self.write_queued().await
    }

    /// The read side's flush: none while another flush is in flight, whose loop sends what
    /// rustls queued after its own bytes (see `flushing`).
    async fn flush_for_read(&mut self) -> io::Result<()> {
        if self.flushing.busy.get() || !Session::wants_write(&self.conn) {
            return Ok(());
        }
        let lock = self.flushing.clone();
        let _guard = FlushGuard::acquire(&lock).await;
        self.write_queued().await
    }

    /// The flush itself; the caller holds the `FlushLock`.
    async fn write_queued(&mut self) -> io::Result<()> {
        while Session::wants_write(&self.conn) {
            let mut buf = std::mem::take(&mut self.wbuf);
            buf.clear();
            Session::write_tls(&mut self.conn, &mut buf)?;
            let (res, buf) = self.io.write_all(buf).await;
            self.wbuf = buf;
            res?;
        }
        Ok(())
    }

    /// Make sure ciphertext is waiting in `rbuf`; `Ok(false)` = the peer closed.
    async fn fill_rbuf(&mut self) -> io::Result<bool> {
        if self.rpos < self.rbuf.len() {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        let mut buf = std::mem::take(&mut self.rbuf);
        buf.clear();
        if buf.capacity() < READ_BUF {
            buf = Vec::with_capacity(READ_BUF);
        }
        let (res, buf) = self.io.read(buf).await;
        self.rbuf = buf;
        self.rpos = 0;
        match res {
            Ok(0) => {
                self.rbuf.clear();
                self.eof = true;
                Ok(false)
            }
            Ok(_) => Ok(true),
            Err(e) => {
                self.rbuf.clear();
                Err(e)
            }
        }
    }

    /// Read ciphertext (from `rbuf`, else the socket) into rustls and process it. `Ok(false)`
    /// = the peer closed (rustls is told).
    async fn read_tls(&mut self) -> Result<bool, HandshakeError> {
        let more = self.fill_rbuf().await?;
        let n = if more {
            let mut pending = self.rbuf.get(self.rpos..).unwrap_or(&[]);
            let n = Session::read_tls(&mut self.conn, &mut pending)?;
            if n == 0 {
                return Err(io::Error::other("tls: receive buffer full").into());
            }
            self.rpos += n;
            n
        } else {
            Session::read_eof(&mut self.conn)?;
            0
        };
        if let Err(e) = Session::process_new_packets(&mut self.conn) {
            // Send the alert rustls queued, then give up on the connection.
            let _ = self.flush_for_read().await;
            return Err(e.into());
        }
        Ok(n > 0)
    }

    pub(crate) async fn handshake(&mut self) -> Result<(), HandshakeError> {
        while self.conn.common().is_handshaking() {
            self.flush_tls().await?;
            if !self.conn.common().is_handshaking() {
                break;
            }
            if !Session::wants_read(&self.conn) {
                // Nothing to send and nothing wanted: rustls is stuck; never spin.
                return Err(io::Error::other("tls handshake stalled").into());
            }
            if !self.read_tls().await? {
                return Err(HandshakeError::Eof);
            }
        }
        self.flush_tls().await?;
        Ok(())
    }

    /// Read plaintext, appending at most `max` bytes (at most 64 KiB) to `buf`. `Ok(0)`: the
    /// peer closed (close_notify, or the TCP connection ended).
    pub async fn read(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let max = max.min(BUFFER_LIMIT);
        if max == 0 {
            return Ok(0);
        }
        loop {
            let start = buf.len();
            buf.resize(start + max, 0);
            let got = match buf.get_mut(start..) {
                Some(dst) => self.conn.read_plain(dst),
                None => Ok(0),
            };
            match got {
                Ok(n) => {
                    buf.truncate(start + n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => buf.truncate(start),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    buf.truncate(start);
                    return Ok(0);
                }
                Err(e) => {
                    buf.truncate(start);
                    return Err(e);
                }
            }
            // Whatever rustls wants to say (key updates, alerts) goes out first.
            self.flush_for_read().await?;
            match self.read_tls().await {
                Ok(_) => {}
                Err(HandshakeError::Io(e)) => return Err(e),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        }
    }

    /// Write all of `data` as application data.
    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.conn.write_plain(data)?;
            data = data.get(n..).unwrap_or(&[]);
            self.flush_tls().await?;
            if n == 0 && !Session::wants_write(&self.conn) {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "tls: cannot buffer",
                ));
            }
        }
        self.flush_tls().await
    }

    /// Send close_notify and shut the transport's write side.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.conn.queue_close_notify();
        self.flush_tls().await?;
        self.io.shutdown().await
    }

    /// Is there input already received that a read would return without waiting on the
    /// socket (plaintext or ciphertext held here or in rustls)?
    pub fn has_buffered_input(&mut self) -> bool {
        self.ppos < self.plain.len()
            || self.rpos < self.rbuf.len()
            || Session::process_new_packets(&mut self.conn)
                .is_ok_and(|s| s.plaintext || s.peer_closed)
    }

    /// Give back the buffers an idle connection does not need: the ciphertext read buffer
    /// (one record, ~18 KiB) once rustls has taken all of it, the write buffer (no flush is
    /// in flight while the connection waits for a request), and a plaintext buffer already
    /// handed out. The next read or write allocates them again. Only what rustls holds (its
    /// 4 KiB record buffer and the keys) stays.
    pub fn release_idle_buffers(&mut self) {
        if self.rpos >= self.rbuf.len() {
            self.rbuf = Vec::new();
            self.rpos = 0;
        }
        if !self.flushing.busy.get() {
            self.wbuf = Vec::new();
        }
        if self.ppos >= self.plain.len() {
            self.plain = Vec::new();
            self.ppos = 0;
        }
        self.conn.release_idle();
    }

    /// The negotiated protocol version, as `TLSv1.3` / `TLSv1.2`.
    pub fn protocol_version_name(&self) -> Option<&'static str> {
        match self.conn.common().protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
            rustls::ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
            _ => None,
        }
    }

    /// Plaintext for a monoio read of at most `want` bytes: `plain[ppos..]`, refilled from
    /// rustls when empty. Empty = the peer closed.
    async fn plain_for_read(&mut self, want: usize) -> io::Result<&[u8]> {
        if self.ppos >= self.plain.len() {
            self.plain.clear();
            self.ppos = 0;
            if self.plain.capacity() > READ_BUF {
                self.plain = Vec::new();
            }
            let mut buf = std::mem::take(&mut self.plain);
            let res = self.read(&mut buf, want.max(1)).await;
            self.plain = buf;
            res?;
        }
        Ok(self.plain.get(self.ppos..).unwrap_or(&[]))
    }

    /// The transport and the rustls connection.
    pub fn into_parts(self) -> (IO, C) {
        (self.io, self.conn)
    }
}

impl<IO> ServerTlsStream<IO>
where
    IO: AsyncReadRent + AsyncWriteRent,
{
    /// The SNI name the client sent.
    pub fn server_name(&self) -> Option<&str> {
        self.conn.server_name()
    }

    /// The client certificate (mutual TLS) as API Gateway shows it to authorizers; `None`
    /// without one.
    pub fn client_cert_info(&self) -> Option<Result<ClientCertInfo, crate::CertInfoError>> {
        self.conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|leaf| ClientCertInfo::from_der(leaf.as_ref()))
    }
}

/// The bytes of the buffer types the gateway writes (`Vec<u8>`, slices of it, static
/// bytes), found without `unsafe` (an `IoBuf` is `'static`, so `Any` can tell them apart).
/// `None`: a buffer type not known here (its bytes are copied by [`write_copied`]).
fn io_buf_bytes(buf: &dyn std::any::Any) -> Option<&[u8]> {
    use monoio::buf::Slice;
    fn sliced(inner: Option<&[u8]>, begin: usize, end: usize) -> Option<&[u8]> {
        inner.and_then(|b| b.get(begin..end))
    }
    if let Some(v) = buf.downcast_ref::<Vec<u8>>() {
        return Some(v);
    }
    if let Some(v) = buf.downcast_ref::<Box<[u8]>>() {
        return Some(v);
    }
    if let Some(v) = buf.downcast_ref::<&'static [u8]>() {
        return Some(v);
    }
    if let Some(v) = buf.downcast_ref::<&'static str>() {
        return Some(v.as_bytes());
    }
    if let Some(s) = buf.downcast_ref::<Slice<Vec<u8>>>() {
        return sliced(Some(s.get_ref()), s.begin(), s.end());
    }
    if let Some(s) = buf.downcast_ref::<Slice<&'static [u8]>>() {
        return sliced(Some(s.get_ref()), s.begin(), s.end());
    }
    if let Some(s) = buf.downcast_ref::<Slice<Box<[u8]>>>() {
        return sliced(Some(s.get_ref()), s.begin(), s.end());
    }
    if let Some(s) = buf.downcast_ref::<Slice<Slice<Vec<u8>>>>() {
        let inner = s.get_ref();
        return sliced(
            sliced(Some(inner.get_ref()), inner.begin(), inner.end()),
            s.begin(),
            s.end(),
        );
    }
    if let Some(s) = buf.downcast_ref::<Slice<Slice<Box<[u8]>>>>() {
        let inner = s.get_ref();
        return sliced(
            sliced(Some(inner.get_ref()), inner.begin(), inner.end()),
            s.begin(),
            s.end(),
        );
    }
    None
}

/// Bytes of another buffer type copied per write (see [`write_copied`]).
const COPY_CHUNK: usize = 16 * 1024;

/// A write of a buffer type [`io_buf_bytes`] does not know (`monoio-compat`'s, which the
/// HTTP/2 server writes through): at most [`COPY_CHUNK`] bytes of it are copied by monoio's
/// own `BufWriter` (its copy is monoio's, so still no `unsafe` here) into a buffer of a known
/// type, which is then encrypted and sent. A short write, as `AsyncWriteRent` allows; the
/// caller's `write_all` loops.
async fn write_copied<IO, C, T>(tls: &mut TlsStream<IO, C>, buf: T) -> monoio::BufResult<usize, T>
where
    IO: AsyncReadRent + AsyncWriteRent,
    C: Session,
    T: monoio::buf::IoBuf,
{
    let n = buf.bytes_init().min(COPY_CHUNK);
    if n == 0 {
        return (Ok(0), buf);
    }
    let mut copier = monoio::io::BufWriter::with_capacity(n, Relay(tls));
    // `n` fits the writer's buffer, so it copies rather than passing the buffer on.
    let (res, slice) = AsyncWriteRent::write(&mut copier, buf.slice(..n)).await;
    let buf = slice.into_inner();
    let res = match res {
        Ok(_) => AsyncWriteRent::flush(&mut copier).await.map(|()| n),
        Err(e) => Err(e),
    };
    (res, buf)
}

/// The sink of [`write_copied`]'s `BufWriter`: its buffer (a known type) goes to the TLS stream.
struct Relay<'a, IO, C>(&'a mut TlsStream<IO, C>);

impl<IO, C> AsyncWriteRent for Relay<'_, IO, C>
where
    IO: AsyncReadRent + AsyncWriteRent,
    C: Session,
{
    async fn write<T: monoio::buf::IoBuf>(&mut self, buf: T) -> monoio::BufResult<usize, T> {
        let res = match io_buf_bytes(&buf) {
            Some(bytes) => {
                let n = bytes.len();
                TlsStream::write_all(self.0, bytes).await.map(|()| n)
            }
            None => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "tls: buffer type not supported",
            )),
        };
        (res, buf)
    }

    async fn writev<T: monoio::buf::IoVecBuf>(&mut self, buf: T) -> monoio::BufResult<usize, T> {
        (
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "tls: vectored writes not supported",
            )),
            buf,
        )
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// monoio's owned-buffer reads: plaintext, copied into the caller's buffer (through monoio's
/// own `&[u8]` reader, so no `unsafe` here). `Ok(0)`: the peer closed.
impl<IO, C> monoio::io::AsyncReadRent for TlsStream<IO, C>
where
    IO: AsyncReadRent + AsyncWriteRent,
    C: Session,
{
    async fn read<T: monoio::buf::IoBufMut>(&mut self, mut buf: T) -> monoio::BufResult<usize, T> {
        let want = buf.bytes_total();
        let mut src = match self.plain_for_read(want).await {
            Ok(s) => s,
            Err(e) => return (Err(e), buf),
        };
        let before = src.len();
        let (res, buf) = AsyncReadRent::read(&mut src, buf).await;
        let used = before - src.len();
        self.ppos += used;
        (res, buf)
    }

    async fn readv<T: monoio::buf::IoVecBufMut>(&mut self, buf: T) -> monoio::BufResult<usize, T> {
        let mut src = match self.plain_for_read(READ_BUF).await {
            Ok(s) => s,
            Err(e) => return (Err(e), buf),
        };
        let before = src.len();
        let (res, buf) = AsyncReadRent::readv(&mut src, buf).await;
        let used = before - src.len();
        self.ppos += used;
        (res, buf)
    }
}

/// monoio's owned-buffer writes: the whole buffer is encrypted and sent before the call
/// returns.
impl<IO, C> monoio::io::AsyncWriteRent for TlsStream<IO, C>
where
    IO: AsyncReadRent + AsyncWriteRent,
    C: Session,
{
    async fn write<T: monoio::buf::IoBuf>(&mut self, buf: T) -> monoio::BufResult<usize, T> {
        let res = match io_buf_bytes(&buf) {
            Some(bytes) => {
                let n = bytes.len();
                TlsStream::write_all(self, bytes).await.map(|()| n)
            }
            None => return write_copied(self, buf).await,
        };
        (res, buf)
    }

    async fn writev<T: monoio::buf::IoVecBuf>(&mut self, buf: T) -> monoio::BufResult<usize, T> {
        (
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "tls: vectored writes not supported",
            )),
            buf,
        )
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.flush_tls().await?;
        self.io.flush().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        TlsStream::shutdown(self).await
    }
}

/// Does this look like the start of an HTTP/1 request line (an upper-case method and a space)?
fn looks_like_http(bytes: &[u8]) -> bool {
    let method_len = bytes
        .iter()
        .take(8)
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    method_len >= 3 && bytes.get(method_len) == Some(&b' ')
}

impl ServerTls {
    /// Run a server handshake over `io` within `timeout` (the listener's header timeout:
    /// a slow or silent client is dropped). Plain HTTP is answered with a plaintext 400.
    pub async fn accept<IO>(
        &self,
        io: IO,
        timeout: Duration,
    ) -> Result<ServerTlsStream<IO>, HandshakeError>
    where
        IO: AsyncReadRent + AsyncWriteRent,
    {
        self.accept_with_prefix(io, Vec::new(), timeout).await
    }

    /// [`ServerTls::accept`] where the first bytes of the connection were already read from
    /// `io` (after a PROXY protocol header, say): `prefix` is handled before `io` is read.
    pub async fn accept_with_prefix<IO>(
        &self,
        io: IO,
        prefix: Vec<u8>,
        timeout: Duration,
    ) -> Result<ServerTlsStream<IO>, HandshakeError>
    where
        IO: AsyncReadRent + AsyncWriteRent,
    {
        let conn = ServerSession::new(self.rustls_config().clone())?;
        let mut stream = TlsStream::new(io, conn);
        stream.rbuf = prefix;
        let run = async {
            if !stream.fill_rbuf().await? {
                return Err(HandshakeError::Eof);
            }
            if looks_like_http(stream.rbuf.get(stream.rpos..).unwrap_or(&[])) {
                let (_, _) = stream.io.write_all(PLAIN_HTTP_ANSWER).await;
                let _ = stream.io.shutdown().await;
                return Err(HandshakeError::PlainHttp);
            }
            stream.handshake().await
        };
        match monoio::time::timeout(timeout, run).await {
            Ok(Ok(())) => Ok(stream),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(HandshakeError::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FlushGuard, FlushLock, looks_like_http};
    use std::cell::Cell;
    use std::rc::Rc;

    /// A second flush waits for the one in flight, and starts when that one ends, even when
    /// it ends by being dropped mid-write.
    #[test]
    fn a_flush_waits_for_the_one_in_flight() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async {
            let lock = Rc::new(FlushLock::default());
            let first = FlushGuard::acquire(&lock).await;
            let started = Rc::new(Cell::new(false));
            let (l2, s2) = (lock.clone(), started.clone());
            let second = monoio::spawn(async move {
                let _g = FlushGuard::acquire(&l2).await;
                s2.set(true);
            });
            monoio::time::sleep(std::time::Duration::from_millis(20)).await;
            assert!(
                !started.get(),
                "the second flush started while the first was in flight"
            );
            drop(first);
            second.await;
            assert!(started.get());
            assert!(!lock.busy.get());
        });
    }

    #[test]
    fn http_request_lines_are_recognised_and_client_hellos_are_not() {
        assert!(looks_like_http(b"GET / HTTP/1.1\r\n"));
        assert!(looks_like_http(b"OPTIONS * HTTP/1.1\r\n"));
        assert!(!looks_like_http(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(!looks_like_http(b"get / HTTP/1.1"));
        assert!(!looks_like_http(b"GE"));
    }
}
