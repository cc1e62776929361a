//! TLS for tollgate: server configuration (SNI, ALPN, mutual TLS, resumption), client
//! configuration for `https://` upstreams, API Gateway's view of a client certificate, and the
//! glue that drives rustls over monoio's owned-buffer I/O on the worker's own core.
//!
//! Everything is built from files named in the configuration and is immutable once built: a
//! reload builds a new [`ServerTls`] / [`ClientTls`] and publishes it; handshakes started after
//! that use the new one, established connections keep the configuration they were accepted with.
//! Only the ring crypto provider is used.

mod certinfo;
mod client;
mod error;
mod pem;
mod server;
mod session;
mod stream;

pub use certinfo::{CertInfoError, ClientCertInfo};
pub use client::ClientTls;
pub use error::TlsConfigError;
pub use server::{
    CertificateFiles, ClientAuthConfig, DEFAULT_SESSION_CACHE_SIZE, MinVersion, ServerTls,
    ServerTlsConfig,
};
pub use session::{ServerSession, fuzz_server_session};
pub use stream::{ClientTlsStream, HandshakeError, ServerTlsStream, TlsStream};

/// rustls itself, so callers name the same version of its types (`ServerConfig`,
/// `ClientConfig`, connections).
pub use rustls;

/// The crypto provider every configuration here is built with (ring).
pub(crate) fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
