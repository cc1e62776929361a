//! Client side: `https://` upstreams, JWKS and authorizer URLs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use rustls::RootCertStore;
use rustls::pki_types::ServerName;

use crate::stream::{ClientTlsStream, HandshakeError, TlsStream};
use crate::{TlsConfigError, pem, provider};

/// A built client TLS configuration: server certificates verified against the PEM roots of
/// `upstream.ca_file`, or the operating system's trust store; SNI sent; `http/1.1` offered by
/// ALPN; sessions resumed from an in-memory cache. Cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
}

impl ClientTls {
    /// `ca_file`: PEM CA certificates to trust (only those); `None`: the system's roots
    /// (`SSL_CERT_FILE` / `SSL_CERT_DIR` honoured, as OpenSSL does).
    pub fn new(ca_file: Option<&Path>) -> Result<Self, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        match ca_file {
            Some(path) => {
                for (i, c) in pem::certificates(path)?.into_iter().enumerate() {
                    roots.add(c).map_err(|e| TlsConfigError::BadTruststore {
                        path: path.to_path_buf(),
                        reason: format!("certificate #{}: {e}", i + 1),
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = found
                        .errors
                        .first()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "no certificates found".to_owned());
                    return Err(TlsConfigError::SystemRoots(why));
                }
            }
        }
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> &Arc<rustls::ClientConfig> {
        &self.config
    }

    /// Run a client handshake over `io` for `host` (a DNS name, sent as SNI and verified
    /// against the certificate, or an IP address, verified against its IP SANs), within
    /// `timeout`.
    pub async fn connect<IO>(
        &self,
        host: &str,
        io: IO,
        timeout: Duration,
    ) -> Result<ClientTlsStream<IO>, HandshakeError>
    where
        IO: AsyncReadRent + AsyncWriteRent,
    {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| HandshakeError::BadServerName(host.to_owned()))?;
        let conn = rustls::ClientConnection::new(self.config.clone(), name)?;
        let mut stream = TlsStream::new(io, conn);
        match monoio::time::timeout(timeout, stream.handshake()).await {
            Ok(Ok(())) => Ok(stream),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(HandshakeError::Timeout),
        }
    }
}
