//! HTTPS for the generator: rustls (ring provider) driven over a monoio `TcpStream` with
//! owned buffers, as the gateway does it.
//!
//! Three ways to use it, chosen on the command line:
//! - keep-alive HTTPS (`--tls`): one handshake per connection, then requests back to back;
//! - `--new-connection`: connect, full handshake, one request, close; a run's rate is then
//!   handshakes per second (session resumption is disabled in the client);
//! - `--resume`: the same, but the client keeps the server's session tickets (TLS 1.3) or
//!   session ids (TLS 1.2) and offers one on every connection. Whether the server actually
//!   resumed is read back from rustls (`handshake_kind()`) on each connection and counted
//!   ([`TlsCounts`]), so a report never claims resumptions that did not happen.
//!
//! `--insecure-skip-verify` accepts any server certificate and signature: for benchmarking
//! only (it also keeps the generator's CPU for the load instead of certificate checks).

use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::sync::Arc;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, HandshakeKind, NamedGroup,
    SignatureScheme,
};
use serde::Serialize;

use crate::LoadError;

/// Ciphertext read at once: one full record plus header and expansion.
const READ_BUF: usize = 16 * 1024 + 2048 + 5;

/// How connections are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reuse {
    /// Keep-alive: a connection carries requests until the server closes it.
    #[default]
    KeepAlive,
    /// One request per connection (connect, handshake if TLS, request, close).
    NewConnection,
}

/// Server certificate checking.
#[derive(Debug, Clone)]
pub enum Verify {
    /// Trust the CA certificates of this PEM file.
    CaFile(std::path::PathBuf),
    /// Accept any certificate (benchmarking only).
    InsecureSkipVerify,
}

/// The TLS side of a run.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    resume: bool,
}

/// TLS handshakes counted in the measured window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TlsCounts {
    /// Handshakes completed.
    pub handshakes: u64,
    /// Of which full handshakes.
    pub full: u64,
    /// Of which resumed (the server accepted the offered ticket or session id).
    pub resumed: u64,
    /// Handshakes that failed (alert, bad certificate, closed, timed out).
    pub failed: u64,
    /// Whether the client offered resumption (`--resume`).
    pub resumption_offered: bool,
    /// Negotiated version of the last handshake (`TLSv1.3`, `TLSv1.2`).
    pub version: Option<String>,
    /// Negotiated ALPN protocol of the last handshake.
    pub alpn: Option<String>,
}

impl TlsCounts {
    /// Adds `o` into `self`.
    pub fn merge(&mut self, o: &TlsCounts) {
        self.handshakes += o.handshakes;
        self.full += o.full;
        self.resumed += o.resumed;
        self.failed += o.failed;
        self.resumption_offered |= o.resumption_offered;
        if o.version.is_some() {
            self.version.clone_from(&o.version);
        }
        if o.alpn.is_some() {
            self.alpn.clone_from(&o.alpn);
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsClient {
    /// `sni`: the name sent and verified (a DNS name or an IP address); `resume`: keep
    /// sessions and offer them; `tls13_only`: offer TLS 1.3 only; `alpn`: protocols offered.
    pub fn new(
        verify: &Verify,
        sni: &str,
        resume: bool,
        tls13_only: bool,
        alpn: &[&str],
    ) -> Result<Self, LoadError> {
        let bad = |why: String| LoadError::Option(format!("tls: {why}"));
        let provider = provider();
        let versions: &[&rustls::SupportedProtocolVersion] = if tls13_only {
            &[&rustls::version::TLS13]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| bad(e.to_string()))?;
        let mut config = match verify {
            Verify::CaFile(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in read_pem_certs(path)? {
                    roots
                        .add(c)
                        .map_err(|e| bad(format!("{}: {e}", path.display())))?;
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Verify::InsecureSkipVerify => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
                .with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        config.resumption = if resume {
            Resumption::store(Arc::new(TicketStore::default()))
        } else {
            Resumption::disabled()
        };
        let server_name =
            ServerName::try_from(sni.to_owned()).map_err(|_| bad(format!("bad SNI {sni:?}")))?;
        Ok(Self {
            config: Arc::new(config),
            server_name,
            resume,
        })
    }

    /// Does the client offer resumption?
    pub fn resumes(&self) -> bool {
        self.resume
    }

    /// Starts a client connection over `io` (the handshake runs on the first exchange).
    pub(crate) fn start(&self, io: TcpStream) -> Result<TlsConn, rustls::Error> {
        let conn = ClientConnection::new(self.config.clone(), self.server_name.clone())?;
        Ok(TlsConn {
            io,
            conn,
            rbuf: Vec::with_capacity(READ_BUF),
            wbuf: Vec::with_capacity(4096),
        })
    }
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, LoadError> {
    let bad = |why: String| LoadError::Option(format!("tls: {}: {why}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no certificate".into()));
    }
    Ok(certs)
}

/// Most TLS 1.3 tickets kept (per run; each is used at most once).
const MAX_TICKETS: usize = 4096;

/// The client's session store under `--resume`. rustls' own in-memory cache keeps at most 8
/// TLS 1.3 tickets per server, so 64 concurrent handshakes would find none for most of them
/// and do full handshakes; this one keeps up to [`MAX_TICKETS`] (one target per run, so one
/// server name: the name is not part of the key) and hands out the newest first.
#[derive(Debug, Default)]
struct TicketStore {
    tls13: std::sync::Mutex<std::collections::VecDeque<Tls13ClientSessionValue>>,
    tls12: std::sync::Mutex<Option<Tls12ClientSessionValue>>,
    kx_hint: std::sync::Mutex<Option<NamedGroup>>,
}

impl ClientSessionStore for TicketStore {
    fn set_kx_hint(&self, _server_name: ServerName<'static>, group: NamedGroup) {
        if let Ok(mut h) = self.kx_hint.lock() {
            *h = Some(group);
        }
    }

    fn kx_hint(&self, _server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.kx_hint.lock().ok().and_then(|h| *h)
    }

    fn set_tls12_session(&self, _server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        if let Ok(mut s) = self.tls12.lock() {
            *s = Some(value);
        }
    }

    fn tls12_session(&self, _server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.tls12.lock().ok().and_then(|s| s.clone())
    }

    fn remove_tls12_session(&self, _server_name: &ServerName<'static>) {
        if let Ok(mut s) = self.tls12.lock() {
            *s = None;
        }
    }

    fn insert_tls13_ticket(
        &self,
        _server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        if let Ok(mut q) = self.tls13.lock() {
            if q.len() >= MAX_TICKETS {
                q.pop_front();
            }
            q.push_back(value);
        }
    }

    fn take_tls13_ticket(
        &self,
        _server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.tls13.lock().ok().and_then(|mut q| q.pop_back())
    }
}

/// `--insecure-skip-verify`: every certificate and handshake signature is accepted (the
/// generator then spends no CPU on ECDSA verification; never use it outside a benchmark).
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One client TLS connection.
pub(crate) struct TlsConn {
    io: TcpStream,
    conn: ClientConnection,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
}

/// What a finished handshake was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Handshake {
    pub resumed: bool,
}

impl TlsConn {
    /// Writes everything rustls has queued.
    async fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            let mut buf = std::mem::take(&mut self.wbuf);
            buf.clear();
            self.conn.write_tls(&mut buf)?;
            let (res, buf) = self.io.write_all(buf).await;
            self.wbuf = buf;
            res?;
        }
        Ok(())
    }

    /// Reads ciphertext once and feeds it to rustls. `Ok(false)`: the peer closed.
    async fn read_tls(&mut self) -> io::Result<bool> {
        let mut buf = std::mem::take(&mut self.rbuf);
        buf.clear();
        let (res, buf) = self.io.read(buf).await;
        self.rbuf = buf;
        let n = res?;
        if n == 0 {
            return Ok(false);
        }
        let mut slice = self.rbuf.get(..n).unwrap_or_default();
        while !slice.is_empty() {
            self.conn.read_tls(&mut slice)?;
            self.conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        Ok(true)
    }

    /// Runs the handshake to the end (the client's last flight stays queued: it leaves with
    /// the first request).
    pub(crate) async fn handshake(&mut self) -> io::Result<Handshake> {
        while self.conn.is_handshaking() {
            if self.conn.wants_write() {
                self.flush().await?;
                continue;
            }
            if !self.read_tls().await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "tls: closed during the handshake",
                ));
            }
        }
        Ok(Handshake {
            resumed: self.conn.handshake_kind() == Some(HandshakeKind::Resumed),
        })
    }

    /// Writes `data` as application data.
    pub(crate) async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(data)?;
        self.flush().await
    }

    /// Appends plaintext to `acc`; `Ok(0)`: the peer closed.
    pub(crate) async fn read(&mut self, acc: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            let start = acc.len();
            acc.resize(start + READ_BUF, 0);
            let got = match acc.get_mut(start..) {
                Some(dst) => self.conn.reader().read(dst),
                None => Ok(0),
            };
            match got {
                Ok(n) => {
                    acc.truncate(start + n);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => acc.truncate(start),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    acc.truncate(start);
                    return Ok(0);
                }
                Err(e) => {
                    acc.truncate(start);
                    return Err(e);
                }
            }
            self.flush().await?;
            if !self.read_tls().await? {
                return Ok(0);
            }
        }
    }

    /// The negotiated version and ALPN protocol.
    pub(crate) fn negotiated(&self) -> (Option<String>, Option<String>) {
        let version = self.conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        });
        let alpn = self
            .conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        (version, alpn)
    }
}
