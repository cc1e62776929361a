//! The crate's one error type: every rejection knows its HTTP status.

/// Why a message was rejected. Each variant maps to one status code ([`HttpError::status`]).
///
/// For requests the gateway answers with that status and closes the connection. For upstream
/// responses ([`crate::parse_response`]) and upstream chunked bodies every error means "the
/// upstream is broken": the gateway answers 502 whatever the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Malformed or ambiguous message (400). The text names the rule, for logs only.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The head (or the header count) exceeds the configured limit (431).
    #[error("request header fields too large")]
    HeaderTooLarge,
    /// The request line alone exceeds the head limit (414).
    #[error("URI too long")]
    UriTooLong,
    /// The body exceeds the configured limit (413). Not produced by the parser itself (it does
    /// not know the body limit); provided so that callers map it like the others.
    #[error("payload too large")]
    PayloadTooLarge,
    /// An `Expect` value other than `100-continue` (417).
    #[error("expectation failed")]
    ExpectationFailed,
    /// A method or transfer coding this gateway does not implement (501).
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    /// An HTTP version other than 1.0 and 1.1 (505).
    #[error("HTTP version not supported")]
    VersionNotSupported,
}

impl HttpError {
    /// The HTTP status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::BadRequest(_) => 400,
            HttpError::HeaderTooLarge => 431,
            HttpError::UriTooLong => 414,
            HttpError::PayloadTooLarge => 413,
            HttpError::ExpectationFailed => 417,
            HttpError::NotImplemented(_) => 501,
            HttpError::VersionNotSupported => 505,
        }
    }
}
