use std::path::PathBuf;

/// A TLS configuration that cannot be built. Every variant that concerns a file names it and
/// says what is wrong; none carries key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not valid PEM: {reason}")]
    BadPem { path: PathBuf, reason: String },
    #[error("{path}: no CERTIFICATE in the PEM file")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no private key in the PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC expected)")]
    NoPrivateKey { path: PathBuf },
    #[error("{path}: private key not usable: {reason}")]
    UnusableKey { path: PathBuf, reason: String },
    #[error("{key}: private key does not match the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("{path}: certificate not parseable: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{path}: truststore not usable: {reason}")]
    BadTruststore { path: PathBuf, reason: String },
    #[error("min_version {0:?}: \"1.2\" or \"1.3\" expected")]
    MinVersion(String),
    #[error("tls: at least one certificate is needed")]
    NoCertificates,
    #[error("system trust store: {0}")]
    SystemRoots(String),
    #[error("tls: {0}")]
    Rustls(#[from] rustls::Error),
}
