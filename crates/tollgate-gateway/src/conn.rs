//! The HTTP/1 connection loop: read heads into one owned buffer, parse them in place, hand
//! each request to the pipeline, loop for keep-alive and pipelined requests. Only HTTP/1
//! framing lives here (head parsing, idle waits, the PROXY header); routing, authorization,
//! integration and the answer are the pipeline's.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use tollgate_http::{HttpError, RequestHead, parse_request};

use crate::error::GatewayError;
use crate::io::{fill, fill_or_give_up};
use crate::pipeline::{self, Conn, Next, Stream, canonical_ip, reply_error_default};
use crate::state::Worker;

/// How long a kept-alive connection waits for its next request with a read in flight.
const FIRST_READ_WAIT: Duration = Duration::from_millis(1000);
/// How often an idle connection looks at the shutdown flag.
const IDLE_SLICE: Duration = Duration::from_millis(250);

/// A client transport the HTTP/1 loop can serve: a stream, plus how an idle keep-alive
/// connection waits for its next request.
pub(crate) trait Transport: Stream {
    /// Read the first bytes of the next request; at `deadline` give the read up without
    /// losing bytes (`Err(TimedOut)`, `buf` unchanged).
    async fn first_read(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<usize>;
    /// Wait until there is something to read, holding no buffer.
    async fn wait_readable(&self) -> io::Result<()>;
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

/// A connection that turned out to be HTTP/2 (h2c prior knowledge): the stream, the bytes
/// already read from it (the preface first) and the connection facts.
pub(crate) struct H2Handover<T> {
    pub stream: T,
    pub read: Vec<u8>,
    pub source_ip: std::net::IpAddr,
    pub vpce_id: Option<String>,
}

/// Serve one client connection until it closes, idles out or the worker shuts down; or hand
/// it back for HTTP/2 when `opts.http2` and it starts with the preface.
pub(crate) async fn serve<T: Transport>(
    w: &Worker,
    stream: T,
    peer: SocketAddr,
    local: SocketAddr,
    opts: ListenerOpts,
) -> Option<H2Handover<T>> {
    let mut c = Conn {
        stream,
        buf: Vec::with_capacity(crate::io::READ_CHUNK),
        out: Vec::with_capacity(1024),
        local,
        source_ip: canonical_ip(peer.ip()),
        vpce_id: None,
        protocol: None,
    };
    if opts.proxy_protocol && !read_proxy_header(w, &mut c).await {
        return None;
    }
    let mut first = opts.http2;
    loop {
        if c.buf.is_empty() && !wait_for_request(w, &mut c).await {
            break;
        }
        if std::mem::take(&mut first) {
            match h2_preface(w, &mut c).await {
                Some(true) => {
                    return Some(H2Handover {
                        stream: c.stream,
                        read: c.buf,
                        source_ip: c.source_ip,
                        vpce_id: c.vpce_id,
                    });
                }
                Some(false) => {}
                None => return None,
            }
        }
        let snap = w.snapshot();
        let head = read_head(w, &mut c, &snap).await?;
        let next = pipeline::run(w, &mut c, &snap, head).await;
        pipeline::shrink_buffer(&mut c.buf);
        if next == Next::Close || w.shutting_down() {
            break;
        }
    }
    None
}

/// Whether the connection starts with the HTTP/2 preface, reading until it can tell (within
/// the header timeout). `None`: the connection is to close.
async fn h2_preface<T: Transport>(w: &Worker, c: &mut Conn<T>) -> Option<bool> {
    let deadline = Instant::now() + w.snapshot().header_timeout;
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

/// Wait for the first bytes of the next request. False: the connection is to close.
async fn wait_for_request<T: Transport>(w: &Worker, c: &mut Conn<T>) -> bool {
    // Only the timeouts come from this snapshot: the request is served under the one
    // loaded after its first bytes arrive (a swap during the wait applies to it).
    let snap = w.snapshot();
    // A busy keep-alive connection sends its next request soon: read it directly (one
    // io operation). Past a short wait the read is given up, its buffer with it, and
    // the connection waits for readiness only, holding no buffer while idle.
    // (`fill_or_give_up`: a plain `fill` with a deadline lost a request that arrived
    // just as the read was dropped.)
    let first = snap.idle_timeout.min(FIRST_READ_WAIT);
    match c
        .stream
        .first_read(&mut c.buf, Instant::now() + first)
        .await
    {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            c.buf = Vec::new();
            idle_wait(w, &c.stream, snap.idle_timeout.saturating_sub(first)).await
        }
        Err(_) => false,
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
async fn idle_wait<T: Transport>(w: &Worker, stream: &T, idle: Duration) -> bool {
    let until = Instant::now() + idle;
    loop {
        if w.shutting_down() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        let slice = (until - now).min(IDLE_SLICE);
        match monoio::time::timeout(slice, stream.wait_readable()).await {
            Ok(Ok(())) => return true,
            Ok(Err(_)) => return false,
            Err(_) => {}
        }
    }
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
