//! The one error type of the crate: every rejection knows its status, AWS error type and text.

/// Why a request was not authenticated. Every variant is answered with HTTP 403.
///
/// [`SigV4Error::error_type`] is the `x-amzn-ErrorType` header value and
/// [`SigV4Error::message`] the body `message`, as API Gateway words them (see
/// `docs/iam.md` for the sources and for the texts that are not confirmed on AWS).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header and no presigned query parameters, or an `Authorization`
    /// header whose algorithm is not `AWS4-HMAC-SHA256`.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// The `Authorization` header or the presigned query parameters are malformed or lack a
    /// component (the text says which).
    #[error("{0}")]
    IncompleteSignature(String),
    /// The credential scope does not fit this verifier (date, region, service, terminator).
    #[error("{0}")]
    InvalidSignature(String),
    /// The recomputed signature differs from the one sent.
    #[error("signature mismatch")]
    SignatureMismatch {
        /// The canonical request the verifier computed (lossy UTF-8 for display).
        canonical_request: String,
        /// The string to sign the verifier computed.
        string_to_sign: String,
    },
    /// The request date lies outside the clock window, or a presigned URL has expired.
    #[error("{0}")]
    SignatureExpired(String),
    /// The access key id is not configured.
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey,
    /// The session token is missing, unexpected or different from the key's configured one.
    #[error("The security token included in the request is invalid.")]
    InvalidSecurityToken,
    /// The key's temporary credentials have expired.
    #[error("The security token included in the request is expired")]
    ExpiredToken,
    /// `x-amz-content-sha256` is not a SHA-256 hex digest / `UNSIGNED-PAYLOAD`, or does not
    /// match the body that was received.
    #[error("{0}")]
    PayloadHash(&'static str),
}

impl SigV4Error {
    /// The `x-amzn-ErrorType` header value.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::InvalidSignature(_)
            | Self::SignatureMismatch { .. }
            | Self::SignatureExpired(_)
            | Self::PayloadHash(_) => "InvalidSignatureException",
            Self::UnknownAccessKey | Self::InvalidSecurityToken => "UnrecognizedClientException",
            Self::ExpiredToken => "ExpiredTokenException",
        }
    }

    /// The API Gateway gateway-response type this error belongs to (`MISSING_AUTHENTICATION_TOKEN`,
    /// `INVALID_SIGNATURE`, `EXPIRED_TOKEN`; unknown keys and tokens are reported as
    /// `INVALID_SIGNATURE`, see `docs/iam.md`).
    pub fn response_type(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            Self::ExpiredToken => "EXPIRED_TOKEN",
            _ => "INVALID_SIGNATURE",
        }
    }

    /// The body `message` text.
    pub fn message(&self) -> String {
        match self {
            Self::SignatureMismatch {
                canonical_request,
                string_to_sign,
            } => format!(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details.\n\nThe Canonical String for this request should \
                 have been\n'{canonical_request}'\n\nThe String-to-Sign should have been\n\
                 '{string_to_sign}'\n"
            ),
            other => other.to_string(),
        }
    }

    /// The HTTP status: 403 for every SigV4 rejection.
    pub fn status(&self) -> u16 {
        403
    }
}
