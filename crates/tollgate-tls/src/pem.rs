//! Reading PEM files once, with errors that name the file.

use std::path::Path;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsConfigError;

fn read(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|source| TlsConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn bad_pem(path: &Path, e: &pem::Error) -> TlsConfigError {
    // pem::Error's Display names the problem (bad base64, missing END line, ...) and never
    // echoes the section's content.
    TlsConfigError::BadPem {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// All CERTIFICATE sections of a PEM file, in order (a chain: leaf first).
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(path, &e))?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The first private key of a PEM file. The file's bytes are overwritten before they are
/// released; the key itself lives on only inside rustls' signing key.
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let mut bytes = read(path)?;
    let parsed = PrivateKeyDer::from_pem_slice(&bytes);
    bytes.fill(0);
    std::hint::black_box(&bytes);
    match parsed {
        Ok(k) => Ok(k),
        Err(pem::Error::NoItemsFound) => Err(TlsConfigError::NoPrivateKey {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(bad_pem(path, &e)),
    }
}
