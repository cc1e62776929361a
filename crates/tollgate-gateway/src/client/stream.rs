//! An upstream connection: plain TCP, or TLS over TCP for `https://` URLs (verified against
//! `gateway.upstream.ca_file` or the system's roots, SNI sent). Pooled either way, keyed by
//! address and, for TLS, the server name the certificate was verified for.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::TcpStream;
use tollgate_tls::{ClientTls, ClientTlsStream};

use super::url::{Scheme, Url};

/// One connection to an upstream, a Lambda function or a JWKS server.
pub(crate) enum Upstream {
    Plain(TcpStream),
    Tls(Box<ClientTlsStream<TcpStream>>),
}

impl Upstream {
    /// Nothing to read, nothing buffered, not closed (see `pool::quiet`).
    pub(crate) fn quiet(&mut self) -> bool {
        match self {
            Upstream::Plain(s) => super::pool::quiet(s),
            Upstream::Tls(s) => !s.has_buffered_input() && super::pool::quiet(s.get_ref()),
        }
    }
}

/// Where a pooled connection goes: its address, and for TLS the server name it was verified
/// for (a connection verified for one name is never reused for another).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    pub addr: SocketAddr,
    pub tls_name: Option<String>,
}

impl PoolKey {
    #[cfg(test)]
    pub(crate) fn plain(addr: SocketAddr) -> Self {
        Self {
            addr,
            tls_name: None,
        }
    }

    /// The key of `url`'s connections at `addr`.
    pub(crate) fn for_url(addr: SocketAddr, url: &Url<'_>) -> Self {
        let tls_name = (url.scheme == Scheme::Https).then(|| {
            url.host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned()
        });
        Self { addr, tls_name }
    }
}

/// Connect within `timeout` (TCP connect and, for TLS, the handshake). A certificate that
/// does not verify is an error saying so (the caller's upstream failure); a timeout is
/// `TimedOut`.
pub(crate) async fn open(
    key: &PoolKey,
    tls: &Result<ClientTls, String>,
    timeout: Duration,
) -> io::Result<Upstream> {
    let until = Instant::now() + timeout;
    let tcp = super::pool::connect(key.addr, timeout).await?;
    let Some(name) = &key.tls_name else {
        return Ok(Upstream::Plain(tcp));
    };
    let tls = tls
        .as_ref()
        .map_err(|why| io::Error::other(format!("https: no TLS client ({why})")))?;
    let left = until
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    match tls.connect(name, tcp, left).await {
        Ok(s) => Ok(Upstream::Tls(Box::new(s))),
        Err(tollgate_tls::HandshakeError::Timeout) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "tls handshake timed out",
        )),
        Err(e) => Err(io::Error::other(format!("tls with {name}: {e}"))),
    }
}

impl AsyncReadRent for Upstream {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Upstream::Plain(s) => s.read(buf).await,
            Upstream::Tls(s) => AsyncReadRent::read(&mut **s, buf).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Upstream::Plain(s) => s.readv(buf).await,
            Upstream::Tls(s) => AsyncReadRent::readv(&mut **s, buf).await,
        }
    }
}

impl AsyncWriteRent for Upstream {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Upstream::Plain(s) => s.write(buf).await,
            Upstream::Tls(s) => AsyncWriteRent::write(&mut **s, buf).await,
        }
    }

    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Upstream::Plain(s) => s.writev(buf).await,
            Upstream::Tls(s) => AsyncWriteRent::writev(&mut **s, buf).await,
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Upstream::Plain(s) => s.flush().await,
            Upstream::Tls(s) => AsyncWriteRent::flush(&mut **s).await,
        }
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            Upstream::Plain(s) => s.shutdown().await,
            Upstream::Tls(s) => AsyncWriteRent::shutdown(&mut **s).await,
        }
    }
}
