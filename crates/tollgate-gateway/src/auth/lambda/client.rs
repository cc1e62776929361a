//! Calls to authorizer functions: `POST` the event JSON to the function URL with the
//! gateway's HTTP/1.1 client (`crate::client`) over a per-worker keep-alive pool, on the
//! worker's own monoio runtime. The caller bounds the whole call with `timeout_ms`; nothing
//! here blocks the thread.

use std::cell::RefCell;
use std::io;
use std::time::Instant;

use crate::client::{Limits, Pool, PoolKey, call_pooled, request_head};

/// Largest reply accepted (the Lambda synchronous payload limit).
const MAX_REPLY: usize = 6 * 1024 * 1024;
const MAX_HEAD: usize = 16 * 1024;

/// What came back.
#[derive(Debug)]
pub(crate) struct RawReply {
    pub status: u16,
    /// `X-Amz-Function-Error` was present.
    pub function_error: bool,
    pub body: Vec<u8>,
}

/// One call. A pooled connection that fails before answering is retried once on a fresh one.
pub(crate) async fn post(
    pool: &RefCell<Pool>,
    key: &PoolKey,
    tls: &Result<tollgate_tls::ClientTls, String>,
    host: &str,
    path: &str,
    body: &[u8],
    deadline: Instant,
) -> io::Result<RawReply> {
    let mut req = request_head(
        b"POST",
        path,
        host,
        &[(b"Content-Type", b"application/json")],
        Some(body.len()),
    )
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    req.extend_from_slice(body);
    let limits = Limits {
        max_head: MAX_HEAD,
        max_body: MAX_REPLY,
    };
    let reply = call_pooled(pool, key, tls, req, limits, deadline).await?;
    Ok(RawReply {
        status: reply.status,
        function_error: reply.header(b"x-amz-function-error").is_some(),
        body: reply.body,
    })
}
