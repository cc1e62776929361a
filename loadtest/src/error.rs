//! Error types.

use thiserror::Error;

/// A malformed HTTP/1.1 message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum H1Error {
    /// `httparse` rejected the head, or the chunked framing is broken.
    #[error("malformed HTTP message: {0}")]
    Parse(String),
    /// Content-Length is not a number or appears twice with different values.
    #[error("bad Content-Length")]
    BadLength,
}

/// Errors setting up a run, minting tokens or signing.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The target URL is unusable (not `http://`, no host, ...).
    #[error("bad URL {url:?}: {why}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The target resolves to a non-loopback address: refused.
    #[error("refusing non-loopback target {0} (only 127.0.0.0/8, ::1 and localhost are allowed)")]
    NotLoopback(String),
    /// A command-line value is out of range or inconsistent.
    #[error("invalid option: {0}")]
    Option(String),
    /// A key could not be read or parsed.
    #[error("key: {0}")]
    Key(String),
    /// Signing (JWT or SigV4) failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// JSON (claims, output) error.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// I/O (files, sockets, runtime start).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
