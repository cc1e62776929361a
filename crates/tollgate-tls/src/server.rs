//! Server side: certificates chosen by SNI, ALPN, optional mutual TLS, session resumption.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::{
    ClientHello, ResolvesServerCert, ServerSessionMemoryCache, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;

use crate::{TlsConfigError, pem, provider};

/// Sessions kept for TLS 1.2 session-ID resumption and TLS 1.3 stateful tickets (when tickets
/// are off), per listener. About 200 bytes each.
pub const DEFAULT_SESSION_CACHE_SIZE: usize = 4096;

/// One certificate: a PEM chain (leaf first) and its PEM private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// The lowest protocol version a listener accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MinVersion {
    #[default]
    Tls12,
    Tls13,
}

impl std::str::FromStr for MinVersion {
    type Err = TlsConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.2" => Ok(Self::Tls12),
            "1.3" => Ok(Self::Tls13),
            other => Err(TlsConfigError::MinVersion(other.to_owned())),
        }
    }
}

/// Mutual TLS: client certificates are verified against `truststore_file` (PEM CA
/// certificates). `required`: a client without a valid certificate fails the handshake;
/// otherwise it is asked for one, and let through without.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAuthConfig {
    pub truststore_file: PathBuf,
    pub required: bool,
}

/// What a TLS listener is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTlsConfig {
    /// Chosen by SNI (exact name, then `*.` wildcard); the first is the default.
    pub certificates: Vec<CertificateFiles>,
    pub min_version: MinVersion,
    /// Offer `h2` by ALPN (before `http/1.1`).
    pub http2: bool,
    pub client_auth: Option<ClientAuthConfig>,
    /// Bound of the server-side session cache.
    pub session_cache_size: usize,
}

impl ServerTlsConfig {
    /// TLS 1.2 minimum, `http/1.1` only, no client auth, the default cache size.
    pub fn new(certificates: Vec<CertificateFiles>) -> Self {
        Self {
            certificates,
            min_version: MinVersion::Tls12,
            http2: false,
            client_auth: None,
            session_cache_size: DEFAULT_SESSION_CACHE_SIZE,
        }
    }
}

/// A built, immutable server TLS configuration. Cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
}

impl ServerTls {
    /// Read every file once and build the configuration. Errors name the file at fault.
    pub fn from_config(cfg: &ServerTlsConfig) -> Result<Self, TlsConfigError> {
        let provider = provider();
        let resolver = SniResolver::load(&cfg.certificates, &provider)?;
        let versions: &[&'static rustls::SupportedProtocolVersion] = match cfg.min_version {
            MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            MinVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)?;
        let builder = match &cfg.client_auth {
            None => builder.with_no_client_auth(),
            Some(ca) => builder.with_client_cert_verifier(client_verifier(ca, &provider)?),
        };
        let mut config = builder.with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = if cfg.http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        config.session_storage = ServerSessionMemoryCache::new(cfg.session_cache_size.max(1));
        // Stateless tickets, AEAD-sealed with keys that rotate every 6 hours (the previous key
        // still opens tickets for one more period).
        config.ticketer = rustls::crypto::ring::Ticketer::new()?;
        config.max_early_data_size = 0;
        // The server's cipher suite order (rustls': AEADs, strongest first) wins over the
        // client's, as nginx's `ssl_prefer_server_ciphers on` (testssl flags its absence).
        config.ignore_client_order = true;
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration, to build connections by hand.
    pub fn rustls_config(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }
}

fn client_verifier(
    ca: &ClientAuthConfig,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsConfigError> {
    let path = &ca.truststore_file;
    let certs = pem::certificates(path)?;
    let mut roots = RootCertStore::empty();
    for (i, c) in certs.into_iter().enumerate() {
        roots.add(c).map_err(|e| TlsConfigError::BadTruststore {
            path: path.clone(),
            reason: format!("certificate #{}: {e}", i + 1),
        })?;
    }
    let mut b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if !ca.required {
        b = b.allow_unauthenticated();
    }
    b.build().map_err(|e| TlsConfigError::BadTruststore {
        path: path.clone(),
        reason: e.to_string(),
    })
}

/// Certificates by name: exact names, then one-label wildcards, then the default. Each name may
/// have several keys (an ECDSA and an RSA one); the first the client can verify is chosen.
#[derive(Debug)]
pub(crate) struct SniResolver {
    exact: HashMap<String, Vec<Arc<CertifiedKey>>>,
    /// `*.example.com` is kept under `example.com`.
    wildcard: HashMap<String, Vec<Arc<CertifiedKey>>>,
    default: Vec<Arc<CertifiedKey>>,
}

impl SniResolver {
    fn load(
        files: &[CertificateFiles],
        provider: &Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, TlsConfigError> {
        let mut exact: HashMap<String, Vec<Arc<CertifiedKey>>> = HashMap::new();
        let mut wildcard: HashMap<String, Vec<Arc<CertifiedKey>>> = HashMap::new();
        let mut default: Option<(Vec<String>, Arc<CertifiedKey>)> = None;
        let mut all_names: Vec<(Vec<String>, Arc<CertifiedKey>)> = Vec::new();
        for f in files {
            let (names, ck) = load_pair(&f.cert_file, &f.key_file, provider)?;
            for n in &names {
                match n.strip_prefix("*.") {
                    Some(suffix) => wildcard
                        .entry(suffix.to_owned())
                        .or_default()
                        .push(ck.clone()),
                    None => exact.entry(n.clone()).or_default().push(ck.clone()),
                }
            }
            if default.is_none() {
                default = Some((names.clone(), ck.clone()));
            }
            all_names.push((names, ck));
        }
        let Some((default_names, first)) = default else {
            return Err(TlsConfigError::NoCertificates);
        };
        // The default is the first certificate, plus any other key issued for exactly the same
        // names (its RSA or ECDSA sibling).
        let default = all_names
            .into_iter()
            .filter(|(names, ck)| Arc::ptr_eq(ck, &first) || *names == default_names)
            .map(|(_, ck)| ck)
            .collect();
        Ok(Self {
            exact,
            wildcard,
            default,
        })
    }

    fn candidates(&self, sni: Option<&str>) -> &[Arc<CertifiedKey>] {
        if let Some(name) = sni {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(v) = self.exact.get(&name) {
                return v;
            }
            if let Some((_, suffix)) = name.split_once('.')
                && let Some(v) = self.wildcard.get(suffix)
            {
                return v;
            }
        }
        &self.default
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        crate::session::note_sni(hello.server_name());
        let candidates = self.candidates(hello.server_name());
        let schemes = hello.signature_schemes();
        candidates
            .iter()
            .find(|ck| ck.key.choose_scheme(schemes).is_some())
            .or_else(|| candidates.first())
            .cloned()
    }
}

/// Load one certificate chain and key, check they match, and list the leaf's DNS names
/// (subjectAltName, else the subject CN), lowercased.
fn load_pair(
    cert_file: &Path,
    key_file: &Path,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<(Vec<String>, Arc<CertifiedKey>), TlsConfigError> {
    let chain = pem::certificates(cert_file)?;
    let names = match chain.first() {
        Some(leaf) => dns_names(leaf).map_err(|reason| TlsConfigError::BadCertificate {
            path: cert_file.to_path_buf(),
            reason,
        })?,
        None => Vec::new(),
    };
    let key = pem::private_key(key_file)?;
    let signing_key =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsConfigError::UnusableKey {
                path: key_file.to_path_buf(),
                reason: e.to_string(),
            })?;
    let ck = CertifiedKey::new(chain, signing_key);
    match ck.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(TlsConfigError::KeyMismatch {
                cert: cert_file.to_path_buf(),
                key: key_file.to_path_buf(),
            });
        }
        // The public key could not be compared (an unusual algorithm): rustls will still
        // refuse to sign with a mismatched key at handshake time.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => {
            return Err(TlsConfigError::BadCertificate {
                path: cert_file.to_path_buf(),
                reason: e.to_string(),
            });
        }
    }
    Ok((names, Arc::new(ck)))
}

fn dns_names(leaf: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        for cn in cert.subject().iter_common_name() {
            if let Ok(s) = cn.as_str() {
                names.push(s.trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_version_parses_the_two_allowed_values_only() {
        assert_eq!("1.2".parse::<MinVersion>().ok(), Some(MinVersion::Tls12));
        assert_eq!("1.3".parse::<MinVersion>().ok(), Some(MinVersion::Tls13));
        assert!("1.1".parse::<MinVersion>().is_err());
        assert!("TLSv1.3".parse::<MinVersion>().is_err());
    }
}
