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
///
/// The connection's task holds this future for the connection's whole life, so it is kept
/// small: the handshake runs in its own boxed future (several KiB while it runs, freed when it
/// ends), which hands back the connection already boxed (moved out of a future, a value
/// would take room in this one twice: where the handshake returned it and where it is
/// served from).
pub(crate) async fn serve_tls(
    w: &Rc<Worker>,
    tcp: TcpStream,
    tls: ServerTls,
    peer: SocketAddr,
    local: SocketAddr,
    proxy_protocol: bool,
) {
    let Some(mut c) = Box::pin(handshake(w, tcp, tls, peer, local, proxy_protocol)).await else {
        return;
    };
    if c.stream.alpn_protocol() == Some(b"h2") {
        let Conn {
            stream,
            local,
            source_ip,
            vpce_id,
            client_cert,
            ..
        } = *c;
        let facts = crate::h2::ConnFacts {
            local,
            source_ip,
            vpce_id,
            client_cert,
            https: true,
        };
        // Boxed, as for h2c: inline, the HTTP/2 connection's state would make every TLS
        // connection's task (HTTP/1 ones too) that much larger.
        Box::pin(crate::h2::serve_h2(w.clone(), stream, facts)).await;
        return;
    }
    c.buf = w.bufs.read.take();
    c.out = w.bufs.out.take();
    // The PROXY header, if any, came before the handshake.
    let _ = serve_conn(w, &mut c, false.into()).await;
}

/// PROXY header (if required) and handshake, within the header timeout; the connection,
/// boxed, or `None` when it failed (counted and logged).
async fn handshake(
    w: &Rc<Worker>,
    mut tcp: TcpStream,
    tls: ServerTls,
    peer: SocketAddr,
    local: SocketAddr,
    proxy_protocol: bool,
) -> Option<Box<Conn<TlsConn>>> {
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
                    _ => {
                        failed(w, peer, TlsFailure::Io, "no PROXY header");
                        return None;
                    }
                },
                Err(_) => {
                    failed(w, peer, TlsFailure::Io, "bad PROXY header");
                    return None;
                }
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
            failed(w, peer, reason, &e.to_string());
            return None;
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
    // The buffers are taken from the worker's free lists if the connection speaks HTTP/1.
    Some(Box::new(Conn {
        stream,
        buf: Vec::new(),
        out: Vec::new(),
        local,
        source_ip,
        vpce_id,
        client_cert,
        protocol: None,
        https: true,
    }))
}

fn failed(w: &Worker, peer: SocketAddr, reason: TlsFailure, why: &str) {
    w.metrics.tls_handshake_failure(reason);
    log::debug!(
        "tollgate: worker {}: tls handshake from {peer}: {why}",
        w.id
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an idle HTTPS connection's task holds: this future (the connection itself is
    /// boxed by the handshake), not the handshake's state nor a second copy of the stream.
    /// (A size, not a time.)
    #[test]
    fn the_tls_connection_task_stays_small() {
        let d = std::env::temp_dir().join(format!("tollgate-tls-size-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let (key, cert) = (d.join("key.pem"), d.join("cert.pem"));
        let made = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:P-256", "-nodes", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .args(["-subj", "/CN=localhost", "-days", "2"])
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
        let tls = ServerTls::from_config(&tollgate_tls::ServerTlsConfig {
            certificates: vec![tollgate_tls::CertificateFiles {
                cert_file: cert,
                key_file: key,
            }],
            min_version: tollgate_tls::MinVersion::Tls13,
            client_auth: None,
            http2: false,
            session_cache_size: 16,
        })
        .unwrap();
        let _ = std::fs::remove_dir_all(&d);
        let text = "gateway:\n  region: us-east-1\n  account_id: \"123456789012\"\n  listeners: [{ bind: \"127.0.0.1:0\" }]\napis: []\n";
        let compiled = tollgate_config::load_str(text, std::path::Path::new(".")).unwrap();
        let w = Rc::new(Worker::for_tests(crate::shared::Shared::for_tests(
            compiled,
        )));
        let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let s = TcpStream::from_std(s).unwrap();
            let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
            let conn = std::mem::size_of::<Conn<TlsConn>>();
            let fut = serve_tls(&w, s, tls, peer, peer, false);
            let size = std::mem::size_of_val(&fut);
            eprintln!("TLS connection task future: {size} bytes (the boxed connection: {conn})");
            assert!(size <= 1024, "{size} bytes");
        });
    }
}
