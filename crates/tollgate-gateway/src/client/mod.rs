//! The gateway's one HTTP/1.1 client, used for upstreams (`http_proxy`), Lambda authorizer
//! functions and JWKS documents.
//!
//! - [`url`]: the one URL parser (`http://` and `https://`, told apart by [`Scheme`]).
//! - [`stream`]: a connection, plain or TLS ([`Upstream`]), and [`open`] to make one.
//! - [`pool`]: address resolution, connecting with a deadline, and the per-worker keep-alive
//!   pool with its safety checks (a connection with unread bytes or EOF is never reused).
//! - [`exchange`]: writing a request, reading the response head with `tollgate-http`'s strict
//!   parser and the body (Content-Length, chunked via `tollgate-http`'s decoder, or until
//!   close) within limits.
//!
//! The proxy streams bodies itself and uses the pieces (URL, pool, [`read_head`]); the
//! authorizer client and the JWKS fetcher read whole bounded replies with [`call_pooled`] /
//! [`roundtrip`].

mod exchange;
mod pool;
mod stream;
mod url;

pub(crate) use exchange::{HeadError, Limits, call_pooled, read_head, request_head, roundtrip};
pub(crate) use pool::{Pool, resolve_all};
pub(crate) use stream::{PoolKey, Upstream, open};
pub(crate) use url::Url;
