//! The HTTP/1 connection loop: read heads into one owned buffer, parse them in place, hand
//! each request to the pipeline, loop for keep-alive and pipelined requests. Only HTTP/1
//! framing lives here (head parsing, idle waits, the PROXY header); routing, authorization,
//! integration and the answer are the pipeline's.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use tollgate_http::{HttpError, RequestHead, parse_request};

use crate::error::GatewayError;
use crate::idle::IdleEnd;
use crate::io::{fill, fill_or_give_up};
use crate::pipeline::{self, Conn, Next, Stream, canonical_ip, reply_error_default};
use crate::state::Worker;

/// How long a kept-alive connection waits for its next request with a read in flight (one
/// io operation per request while requests keep coming). Past it the connection gives up its
/// buffers and busy state and waits for readiness only. Short: a burst of new connections
/// that each send one request holds its buffers for this long only, and a client that pauses
/// longer than this between requests pays one readiness wait more per request. 25 ms (was
/// 100): with 7,500 connections opened back to back, what the connections still in their
/// first 100 ms had used (buffers, busy state: freed when they went idle, but not all given
/// back to the system by the allocator yet) stayed in the RSS, ~0.4 KiB per idle connection
/// (docs/benchmarks/tuning.md).
const FIRST_READ_WAIT: Duration = Duration::from_millis(25);

/// A client transport the HTTP/1 loop can serve: a stream, plus how an idle keep-alive
/// connection waits for its next request.
pub(crate) trait Transport: Stream {
    /// Read the first bytes of the next request; at `deadline` give the read up without
    /// losing bytes (`Err(TimedOut)`, `buf` unchanged).
    async fn first_read(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<usize>;
    /// Wait until there is something to read, holding no buffer.
    async fn wait_readable(&self) -> io::Result<()>;
    /// The connection goes idle: give back what the transport holds for reading and
    /// writing (a TLS stream's record buffers).
    fn release_idle_buffers(&mut self) {}
}

impl Transport for TcpStream {
    async fn first_read(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<usize> {
        fill_or_give_up(self, buf, deadline).await
    }

    async fn wait_readable(&self) -> io::Result<()> {
        self.readable(false).await
    }
}

/// A listener's options for the connections it accepts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ListenerOpts {
    /// Every connection starts with a PROXY v1/v2 header.
    pub proxy_protocol: bool,
    /// h2c with prior knowledge: a connection that starts with the HTTP/2 preface is handed
    /// over to the HTTP/2 server.
    pub http2: bool,
}

impl From<bool> for ListenerOpts {
    /// A listener with `proxy_protocol` as given and no HTTP/2.
    fn from(proxy_protocol: bool) -> Self {
        ListenerOpts {
            proxy_protocol,
            http2: false,
        }
    }
}

/// How a connection's HTTP/1 service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnEnd {
    /// Closed, idled out or shut down; its buffers are back in the free lists.
    Done,
    /// It starts with the HTTP/2 preface (h2c prior knowledge): the stream and the bytes
    /// read so far (in `buf`, the preface first) go to the HTTP/2 server.
    H2,
}

/// Serve one client connection until it closes, idles out or the worker shuts down (the
/// worker's accept loop does the same in two steps: [`connection`], then [`serve_conn`] in
/// the connection's task).
#[cfg(test)]
pub(crate) fn serve<T: Transport>(
    w: &Worker,
    stream: T,
    peer: SocketAddr,
    local: SocketAddr,
    opts: impl Into<ListenerOpts>,
) -> impl std::future::Future<Output = ()> {
    let mut c = connection(w, stream, peer, local);
    let opts = opts.into();
    async move {
        let _ = serve_conn(w, &mut c, opts).await;
    }
}

/// A new client connection with buffers from the worker's free lists.
///
/// Built outside the connection's future and lent to [`serve_conn`]: a future that is given
/// the stream and addresses keeps room for them besides the connection made of them, for the
/// connection's whole life.
pub(crate) fn connection<T: Transport>(
    w: &Worker,
    stream: T,
    peer: SocketAddr,
    local: SocketAddr,
) -> Conn<T> {
    Conn {
        stream,
        buf: w.bufs.read.take(),
        out: w.bufs.out.take(),
        local,
        source_ip: canonical_ip(peer.ip()),
        vpce_id: None,
        client_cert: None,
        protocol: None,
        https: false,
    }
}

/// Serve connection `c` (see [`serve`]); its buffers go back to the free lists at the end,
/// unless it turns out to be HTTP/2 ([`ConnEnd::H2`]: `c.buf` holds what was read).
pub(crate) async fn serve_conn<T: Transport>(
    w: &Worker,
    c: &mut Conn<T>,
    opts: ListenerOpts,
) -> ConnEnd {
    // The PROXY header's reader is boxed: it is needed once, and inline it would make every
    // connection's task larger for its whole life.
    let mut end = ConnEnd::Done;
    if !opts.proxy_protocol || Box::pin(read_proxy_header(w, c)).await {
        match opts.http2 {
            true => match Box::pin(h2_preface(w, c)).await {
                Some(true) => end = ConnEnd::H2,
                Some(false) => serve_requests(w, c).await,
                None => {}
            },
            false => serve_requests(w, c).await,
        }
    }
    if end == ConnEnd::Done {
        w.bufs.read.put(std::mem::take(&mut c.buf));
    }
    w.bufs.out.put(std::mem::take(&mut c.out));
    end
}

/// Whether the connection starts with the HTTP/2 preface, waiting for its first bytes (up to
/// the idle timeout) and then reading until it can tell (within the header timeout).
/// `None`: the connection is to close.
async fn h2_preface<T: Transport>(w: &Worker, c: &mut Conn<T>) -> Option<bool> {
    let snap = w.snapshot();
    if c.buf.is_empty() {
        let deadline = Instant::now() + snap.idle_timeout;
        match fill(&mut c.stream, &mut c.buf, Some(deadline)).await {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
    }
    let deadline = Instant::now() + snap.header_timeout;
    loop {
        match tollgate_h2::match_h2_preface(&c.buf) {
            tollgate_h2::PrefaceMatch::Full => return Some(true),
            tollgate_h2::PrefaceMatch::No => return Some(false),
            tollgate_h2::PrefaceMatch::Partial => {
                match fill(&mut c.stream, &mut c.buf, Some(deadline)).await {
                    Ok(n) if n > 0 => {}
                    _ => return None,
                }
            }
        }
    }
}

/// The keep-alive loop. The connection alternates between busy periods (requests, each
/// next one read directly) and idle waits. A busy period's state (head parsing, the whole
/// request pipeline: several KiB) lives in a box allocated when the period starts and freed
/// when it ends, so an idle connection's task holds only the connection and a readiness wait,
/// and a busy connection allocates nothing per request for it.
async fn serve_requests<T: Transport>(w: &Worker, c: &mut Conn<T>) {
    loop {
        if Box::pin(busy(w, c)).await == Busy::Close {
            return;
        }
        // Idle: both buffers go back to the worker's free lists until bytes arrive (and the
        // transport's own, if it has any, to the allocator).
        w.bufs.read.put(std::mem::take(&mut c.buf));
        w.bufs.out.put(std::mem::take(&mut c.out));
        c.stream.release_idle_buffers();
        let idle = {
            let snap = w.snapshot();
            snap.idle_timeout
                .saturating_sub(snap.idle_timeout.min(FIRST_READ_WAIT))
        };
        if !idle_wait(w, &c.stream, idle).await {
            return;
        }
        c.buf = w.bufs.read.take();
        c.out = w.bufs.out.take();
    }
}

/// How a busy period ended.
#[derive(PartialEq, Eq)]
enum Busy {
    /// No request within the direct read's wait: the connection is idle (nothing lost).
    Idle,
    /// The connection is to close.
    Close,
}

/// Serve requests while they keep coming within the direct read's wait.
async fn busy<T: Transport>(w: &Worker, c: &mut Conn<T>) -> Busy {
    loop {
        if c.buf.is_empty() {
            // The output buffer is only needed to answer: it waits in the free list meanwhile.
            w.bufs.out.put(std::mem::take(&mut c.out));
            let first = first_read(w, c).await;
            c.out = w.bufs.out.take();
            match first {
                First::Data => {}
                First::Idle => return Busy::Idle,
                First::Closed => return Busy::Close,
            }
        }
        let snap = w.snapshot();
        let Some(head) = read_head(w, c, &snap).await else {
            return Busy::Close;
        };
        let next = pipeline::run(w, c, &snap, head).await;
        pipeline::shrink_buffer(&mut c.buf);
        if next == Next::Close || w.shutting_down() {
            return Busy::Close;
        }
    }
}

/// What the direct read of a next request found.
enum First {
    Data,
    Idle,
    Closed,
}

/// Read the first bytes of the next request directly, for a short while.
async fn first_read<T: Transport>(w: &Worker, c: &mut Conn<T>) -> First {
    // Only the timeout comes from this snapshot: the request is served under the one
    // loaded after its first bytes arrive (a swap during the wait applies to it).
    let first = w.snapshot().idle_timeout.min(FIRST_READ_WAIT);
    // A busy keep-alive connection sends its next request soon: read it directly (one
    // io operation). Past a short wait (25 ms) the read is given up, its buffer with it, and
    // the connection waits for readiness only, holding no buffer while idle.
    // (`fill_or_give_up`: a plain `fill` with a deadline lost a request that arrived
    // just as the read was dropped.)
    match c
        .stream
        .first_read(&mut c.buf, Instant::now() + first)
        .await
    {
        Ok(0) => First::Closed,
        Ok(_) => First::Data,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => First::Idle,
        Err(_) => First::Closed,
    }
}

/// Read until a whole head parses. `None`: the connection is to close (answered 408 or 400
/// where there was something to answer).
async fn read_head<T: Transport>(
    w: &Worker,
    c: &mut Conn<T>,
    snap: &crate::snapshot::Snapshot,
) -> Option<RequestHead> {
    let deadline = Instant::now() + snap.header_timeout;
    let err = loop {
        match parse_request(&c.buf, &snap.limits) {
            Ok(Some(h)) => return Some(h),
            Ok(None) => match fill(&mut c.stream, &mut c.buf, Some(deadline)).await {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    break GatewayError::request_timeout();
                }
                Err(_) => return None,
            },
            Err(e) => break protocol_error(e),
        }
    };
    w.metrics
        .bad_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _ = reply_error_default(w, c, &err).await;
    None
}

/// Read the PROXY protocol header a `proxy_protocol: true` listener requires; the source
/// address and the AWS VPC endpoint id come from it. False: refused (the connection closes).
async fn read_proxy_header<T: Transport>(w: &Worker, c: &mut Conn<T>) -> bool {
    let deadline = Instant::now() + w.snapshot().header_timeout;
    loop {
        match crate::proxy_protocol::parse(&c.buf) {
            Ok(Some(h)) => {
                if let Some(src) = h.source {
                    c.source_ip = canonical_ip(src.ip());
                }
                c.vpce_id = h.vpce_id;
                let n = h.consumed.min(c.buf.len());
                c.buf.drain(..n);
                return true;
            }
            Ok(None) => match fill(&mut c.stream, &mut c.buf, Some(deadline)).await {
                Ok(n) if n > 0 => {}
                _ => return false,
            },
            Err(_) => {
                w.metrics
                    .bad_requests
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _ = reply_error_default(w, c, &GatewayError::bad_request()).await;
                return false;
            }
        }
    }
}

/// Wait until the connection has bytes to read. False: idle timeout, peer gone, or shutdown.
/// One readiness wait and no timer of its own: the worker's sweeper wakes it at its deadline
/// or at shutdown (`idle.rs`), so an idle connection is small and costs no CPU.
async fn idle_wait<T: Transport>(w: &Worker, stream: &T, idle: Duration) -> bool {
    if w.shutting_down() || idle.is_zero() {
        return false;
    }
    let mut readable = std::pin::pin!(stream.wait_readable());
    let mut end = IdleEnd::new(&w.idle, &w.shared.shutdown, Instant::now() + idle);
    std::future::poll_fn(|cx| {
        if Pin::new(&mut end).poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        readable.as_mut().poll(cx).map(|r| r.is_ok())
    })
    .await
}

fn protocol_error(e: HttpError) -> GatewayError {
    let status = e.status();
    match e {
        // An unknown method is an unknown route (docs/decisions.md R3).
        HttpError::NotImplemented(what) if what.contains("method") => GatewayError::missing_token(),
        HttpError::PayloadTooLarge => GatewayError::too_large(),
        _ => GatewayError::protocol(status, tollgate_http::reason_phrase(status)),
    }
}
