//! HTTPS listeners: the TLS handshake of an accepted connection, on the worker's core, then
//! the same HTTP/1 loop (`crate::conn`) over the TLS stream, or, when ALPN chose `h2` (offered
//! on listeners with `http2: true`), the HTTP/2 server (`crate::h2`).
//!
//! The listener's `ServerTls` comes from the configuration snapshot current when the
//! connection is accepted (built from the files when that configuration was loaded): a
//! reload makes new handshakes use the new certificates, and a connection keeps the ones it
//! was accepted with. A PROXY protocol header, when the listener requires one, comes before
//! the handshake. The whole of it (PROXY header and handshake) is bounded by
//! `header_timeout_ms`.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use tollgate_tls::{HandshakeError, ServerTls, ServerTlsStream};

use crate::conn::{Transport, serve_conn};
use crate::metrics::TlsFailure;
use crate::pipeline::{Conn, canonical_ip};
use crate::state::Worker;

/// A TLS connection from a client.
pub(crate) type TlsConn = ServerTlsStream<TcpStream>;

/// Once a kept-alive connection's next record starts arriving, the rest of it must follow
/// within this time (a client that stalls mid-record is dropped).
const RECORD_WAIT: Duration = Duration::from_secs(10);

impl Transport for TlsConn {
    /// A read in flight cannot be given up without losing ciphertext, so the wait for the
    /// next request is a wait for the socket to be readable (no bytes taken), then a read.
    async fn first_read(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<usize> {
        if !self.has_buffered_input() {
            match monoio::time::timeout_at(deadline.into(), self.get_ref().readable(false)).await {
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "idle")),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(())) => {}
            }
        }
        match monoio::time::timeout(RECORD_WAIT, crate::io::fill(self, buf, None)).await {
            Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {
                Err(io::Error::new(io::ErrorKind::ConnectionAborted, e))
            }
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "tls record stalled",
            )),
        }
    }

    async fn wait_readable(&self) -> io::Result<()> {
        self.get_ref().readable(false).await
    }

    fn release_idle_buffers(&mut self) {
        ServerTlsStream::release_idle_buffers(self);
    }
}

/// Serve a connection accepted on an HTTPS listener: PROXY header (if required), handshake
/// (a failure is counted and logged at debug level, and the connection closed), then HTTP/2
/// if ALPN chose `h2`, else HTTP/1.
pub(crate) async fn serve_tls(
    w: &Rc<Worker>,
    mut tcp: TcpStream,
    tls: ServerTls,
    peer: SocketAddr,
    local: SocketAddr,
    proxy_protocol: bool,
) {
    let timeout = w.snapshot().header_timeout;
    let deadline = Instant::now() + timeout;
    let mut prefix = Vec::new();
    let mut source_ip = canonical_ip(peer.ip());
    let mut vpce_id = None;
    if proxy_protocol {
        loop {
            match crate::proxy_protocol::parse(&prefix) {
                Ok(Some(h)) => {
                    if let Some(src) = h.source {
                        source_ip = canonical_ip(src.ip());
                    }
                    vpce_id = h.vpce_id;
                    let n = h.consumed.min(prefix.len());
                    prefix.drain(..n);
                    break;
                }
                Ok(None) => match crate::io::fill(&mut tcp, &mut prefix, Some(deadline)).await {
                    Ok(n) if n > 0 => {}
                    _ => return failed(w, peer, TlsFailure::Io, "no PROXY header"),
                },
                Err(_) => return failed(w, peer, TlsFailure::Io, "bad PROXY header"),
            }
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let stream = match tls.accept_with_prefix(tcp, prefix, left).await {
        Ok(s) => s,
        Err(e) => {
            let reason = match &e {
                HandshakeError::Timeout => TlsFailure::Timeout,
                HandshakeError::Eof => TlsFailure::Eof,
                HandshakeError::PlainHttp => TlsFailure::PlainHttp,
                HandshakeError::Tls(_) | HandshakeError::BadServerName(_) => TlsFailure::Protocol,
                HandshakeError::Io(_) => TlsFailure::Io,
            };
            return failed(w, peer, reason, &e.to_string());
        }
    };
    // The verified client certificate (mutual TLS), as authorizers and mappings see it.
    let client_cert = match stream.client_cert_info() {
        Some(Ok(info)) => Some(Rc::new(info)),
        Some(Err(e)) => {
            log::debug!(
                "tollgate: worker {}: client certificate from {peer}: {e}",
                w.id
            );
            None
        }
        None => None,
    };
    if stream.alpn_protocol() == Some(b"h2") {
        let facts = crate::h2::ConnFacts {
            local,
            source_ip,
            vpce_id,
            client_cert,
        };
        // Boxed, as for h2c: inline, the HTTP/2 connection's state would make every TLS
        // connection's task (HTTP/1 ones too) that much larger.
        Box::pin(crate::h2::serve_h2(w.clone(), stream, facts)).await;
        return;
    }
    let mut c = Conn {
        stream,
        buf: w.bufs.read.take(),
        out: w.bufs.out.take(),
        local,
        source_ip,
        vpce_id,
        client_cert,
        protocol: None,
    };
    // The PROXY header, if any, came before the handshake.
    let _ = serve_conn(w, &mut c, false.into()).await;
}

fn failed(w: &Worker, peer: SocketAddr, reason: TlsFailure, why: &str) {
    w.metrics.tls_handshake_failure(reason);
    log::debug!(
        "tollgate: worker {}: tls handshake from {peer}: {why}",
        w.id
    );
}
