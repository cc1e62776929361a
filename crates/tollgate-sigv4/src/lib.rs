//! tollgate-sigv4: verification of AWS Signature Version 4 for API Gateway's `execute-api`.
//!
//! Pure (no I/O, the clock is passed in). [`Verifier::verify`] takes the raw request parts the
//! gateway parsed ([`RequestParts`]: method, wire path still percent-encoded, raw query,
//! headers in wire order, body when buffered), a [`KeyStore`] to look up secrets and a
//! per-worker [`SigningKeyCache`], and returns [`Verified`] or a [`SigV4Error`] that knows its
//! AWS error type, message and status. Both the `Authorization` header form and presigned URLs
//! are verified; canonicalisation is execute-api's (dot segments and repeated slashes removed,
//! then the path encoded once more; not S3's). The pieces ([`canonical_request`],
//! [`string_to_sign`], [`derive_signing_key`], [`parse_authorization_header`]) are public for
//! tests and benches. See `docs/iam.md` for every check and error text.
//!
//! ```
//! use std::collections::HashMap;
//! use tollgate_sigv4::{RequestParts, SigningKeyCache, StaticKey, Verifier};
//!
//! let mut keys = HashMap::new();
//! keys.insert("AKIDEXAMPLE".to_owned(), StaticKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 7));
//! let headers: [(&[u8], &[u8]); 3] = [
//!     (b"Host", b"example.amazonaws.com"),
//!     (b"X-Amz-Date", b"20150830T123600Z"),
//!     (b"Authorization", b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
//! ];
//! let req = RequestParts { method: b"GET", path: b"/", query: None, headers: &headers, body: None };
//! let verifier = Verifier::new("us-east-1").with_service("service");
//! let mut cache = SigningKeyCache::default();
//! let now = 1_440_938_160; // 2015-08-30T12:36:00Z
//! let ok = verifier.verify(&req, now, &keys, &mut cache).unwrap();
//! assert_eq!((ok.access_key_id.as_str(), ok.principal, ok.presigned), ("AKIDEXAMPLE", 7, false));
//!
//! let err = verifier.verify(&req, now + 301, &keys, &mut cache).unwrap_err();
//! assert_eq!(err.error_type(), "InvalidSignatureException");
//! assert_eq!(err.message(), "Signature expired: 20150830T123600Z is now earlier than \
//!     20150830T123601Z (20150830T124101Z - 5 min.)");
//! ```

mod auth;
mod cache;
mod canonical;
mod error;
mod time;
mod verify;

use std::collections::HashMap;

pub use auth::{
    AuthorizationHeader, CredentialScope, parse_authorization_header, parse_credential,
};
pub use cache::SigningKeyCache;
pub use canonical::{
    ALGORITHM, CanonicalSpec, EMPTY_SHA256, QueryParam, canonical_query_into, canonical_request,
    canonical_uri_into, decode_query_component, derive_signing_key, hex_lower, parse_query,
    sha256_hex, sign_hex, string_to_sign, uri_encode_into,
};
pub use error::SigV4Error;
pub use time::{format_amz_date, parse_amz_date, parse_http_date};
pub use verify::{Candidate, Canonical, MAX_PRESIGN_EXPIRES, Verified, Verifier};

/// The raw parts of a request, as the HTTP parser saw them.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// Method bytes (`GET`).
    pub method: &'a [u8],
    /// Request-target path as on the wire, still percent-encoded, without the query.
    pub path: &'a [u8],
    /// Raw query string without the `?`, if any.
    pub query: Option<&'a [u8]>,
    /// Header (name, value) pairs in wire order.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The body when it was buffered. `None` means "not buffered": the payload hash then comes
    /// from `x-amz-content-sha256`, or is the hash of the empty body when that header is absent,
    /// so pass `Some` whenever a body exists and is not covered by that header.
    pub body: Option<&'a [u8]>,
}

/// What a [`KeyStore`] knows about an access key.
#[derive(Debug, Clone, Copy)]
pub struct KeyInfo<'a> {
    /// The secret access key.
    pub secret: &'a [u8],
    /// Set for temporary credentials: the request must then present exactly this token.
    pub session_token: Option<&'a str>,
    /// Unix seconds after which the credentials are expired (`ExpiredTokenException`).
    pub expires_epoch: Option<i64>,
    /// Opaque id handed back in [`Verified::principal`].
    pub principal: usize,
}

/// Looks up the secret of an access key id.
pub trait KeyStore {
    /// The key's information, or `None` when the id is unknown.
    fn lookup(&self, access_key_id: &str) -> Option<KeyInfo<'_>>;
}

/// An owned key, for a [`KeyStore`] built from a map (`HashMap<String, StaticKey>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticKey {
    /// The secret access key.
    pub secret: Vec<u8>,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// Expiry, Unix seconds.
    pub expires_epoch: Option<i64>,
    /// Opaque principal id.
    pub principal: usize,
}

impl StaticKey {
    /// A long-term key (no token, no expiry).
    pub fn new(secret: impl Into<Vec<u8>>, principal: usize) -> Self {
        Self {
            secret: secret.into(),
            session_token: None,
            expires_epoch: None,
            principal,
        }
    }

    /// Temporary credentials: the request must carry `token`.
    #[must_use]
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// Credentials expiring at `epoch` (Unix seconds).
    #[must_use]
    pub fn with_expiry(mut self, epoch: i64) -> Self {
        self.expires_epoch = Some(epoch);
        self
    }

    /// Borrow as [`KeyInfo`].
    pub fn info(&self) -> KeyInfo<'_> {
        KeyInfo {
            secret: &self.secret,
            session_token: self.session_token.as_deref(),
            expires_epoch: self.expires_epoch,
            principal: self.principal,
        }
    }
}

impl<S: std::hash::BuildHasher> KeyStore for HashMap<String, StaticKey, S> {
    fn lookup(&self, access_key_id: &str) -> Option<KeyInfo<'_>> {
        self.get(access_key_id).map(StaticKey::info)
    }
}

impl<K: KeyStore + ?Sized> KeyStore for &K {
    fn lookup(&self, access_key_id: &str) -> Option<KeyInfo<'_>> {
        (**self).lookup(access_key_id)
    }
}
