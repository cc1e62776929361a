//! The request pipeline: one routed or unrouted request from its parsed head to its answer,
//! in named phases with one exit.
//!
//! ```text
//! route ──> prepare ──> authorize ──> integrate ──> finish
//! (RouteCtx)  (client ip,   (Permit or    (mock |       (write the answer, metrics
//!              method ARN,   a typed       http_proxy)   under the route's labels,
//!              IAM body)     error)                      access-log record, reason line)
//! ```
//!
//! Every outcome, success or [`Stop`] (a [`GatewayError`] plus what became of the request
//! body), leaves through [`finish::finish`]. The pipeline reads the request body from and
//! writes the answer to a [`Conn`], generic over monoio's `AsyncReadRent`/`AsyncWriteRent`;
//! the HTTP/1 connection loop (`conn.rs`) is one caller.

mod authorize;
mod finish;
mod integrate;
mod prepare;
mod proxy;
mod request_body;
mod route;
#[cfg(test)]
mod tests;
mod upstream_body;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use monoio::io::AsyncReadRent;
use tollgate_http::RequestHead;

use crate::accesslog::RequestInfo;
use crate::body::BodyReader;
use crate::error::GatewayError;
use crate::ids::RequestId;
use crate::snapshot::Snapshot;
use crate::state::Worker;

pub(crate) use finish::reply_error_default;
pub(crate) use prepare::{BodyBudget, canonical_ip, shrink_buffer};
pub(crate) use route::RouteCtx;

/// A client stream the pipeline can serve.
pub(crate) trait Stream: AsyncReadRent + crate::http1::Wire {}
impl<S: AsyncReadRent + crate::http1::Wire> Stream for S {}

/// One client connection as the pipeline sees it: the stream, the read buffer holding the
/// request head (and whatever followed it), a reusable output buffer, and the addresses.
pub(crate) struct Conn<S> {
    pub stream: S,
    pub buf: Vec<u8>,
    pub out: Vec<u8>,
    /// The local address the client connected to (`X-Forwarded-Port`).
    pub local: SocketAddr,
    /// The connection's source (the socket peer or the PROXY header's source).
    pub source_ip: IpAddr,
    /// `aws:SourceVpce` from a PROXY v2 header's AWS TLV.
    pub vpce_id: Option<String>,
    /// The verified client certificate of a mutual-TLS connection (see `crate::tls`).
    pub client_cert: Option<std::rc::Rc<tollgate_tls::ClientCertInfo>>,
    /// The protocol for the access log when it is not the HTTP/1 head's (`HTTP/2.0`).
    pub protocol: Option<&'static str>,
    /// The client came in over TLS (`X-Forwarded-Proto: https` upstream).
    pub https: bool,
}

/// What happens to the connection after a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Next {
    KeepAlive,
    Close,
}

/// Why the pipeline stopped short of a successful answer: the error to answer with and what
/// became of the request body (a body still unread may be drained to keep the connection).
pub(crate) struct Stop {
    pub err: GatewayError,
    /// The unread body (`None`: consumed or broken).
    pub body: Option<BodyReader>,
    /// Whether the connection may still be kept (the body permitting).
    pub keep: bool,
}

impl Stop {
    /// An error after which the connection closes (the body is in an unknown state).
    pub(crate) fn closing(err: GatewayError) -> Self {
        Self {
            err,
            body: None,
            keep: false,
        }
    }
}

/// A successful answer.
pub(crate) struct Answer {
    pub status: u16,
    /// How it is written: already streamed, or waiting in `Conn::out` for `finish`.
    pub sent: Sent,
    /// Keep the connection after it.
    pub keep: bool,
    /// What the authorizer said about the caller (the access log's principal).
    pub ctx: Option<crate::auth::AuthContext>,
    /// Set when an upstream broke off its body after the head was sent.
    pub cut_short: Option<&'static str>,
    /// A streamed answer could not be written whole: the client closed the connection or
    /// reset the stream.
    pub client_gone: bool,
}

/// How an answer reaches the client.
pub(crate) enum Sent {
    /// `Conn::out` holds the whole answer with `body_len` body bytes; `finish` writes it.
    Buffered { body_len: usize },
    /// The integration streamed it; `body_len` body bytes went out.
    Streamed { body_len: usize },
}

/// One request's identity and the facts its access-log record is made of.
pub(crate) struct Exchange {
    pub rid: RequestId,
    pub info: RequestInfo,
    /// The access log was on when the request started (it then records the caller).
    pub logged: bool,
}

impl Exchange {
    /// The method, path and user agent are copied out of the buffer only for the access log:
    /// with the log off, a request's identity costs no allocation. (A log switched on while
    /// the request runs records it without them.)
    fn new<S>(w: &Worker, snap: &Snapshot, c: &Conn<S>, head: &RequestHead) -> Self {
        let buf = &c.buf;
        let formatted = snap.compiled.access_log_format.is_some();
        let logged = !matches!(**w.shared.access_log.load(), crate::accesslog::Sink::Off);
        let text = |b: &[u8]| {
            if logged {
                String::from_utf8_lossy(b).into_owned()
            } else {
                String::new()
            }
        };
        Self {
            logged,
            rid: w.ids.next(),
            info: RequestInfo {
                method: text(head.method.slice(buf)),
                path: text(head.path.slice(buf)),
                user_agent: head
                    .header(buf, b"user-agent")
                    .filter(|_| logged)
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
                started: Instant::now(),
                integration: None,
                protocol: if let Some(p) = c.protocol {
                    p
                } else if head.minor_version == 0 {
                    "HTTP/1.0"
                } else {
                    "HTTP/1.1"
                },
                host: head
                    .header(buf, b"host")
                    .filter(|_| formatted)
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
            },
        }
    }
}

/// Serve the request whose head `c.buf` starts with, under snapshot `snap`.
pub(crate) async fn run<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    snap: &Snapshot,
    mut head: RequestHead,
) -> Next {
    let mut ex = Exchange::new(w, snap, c, &head);
    let keep = head.keep_alive && !w.shutting_down();
    match route::route(snap, &c.buf, &head) {
        route::Routing::Unrouted(api, stop) => {
            let stop = Stop {
                keep: keep && stop.body.is_some(),
                ..stop
            };
            finish::finish(
                w,
                c,
                snap,
                &head,
                &ex,
                finish::Where::Unrouted(api),
                Err(stop),
            )
            .await
        }
        route::Routing::Routed(rc, body) => {
            // Body bytes held before authentication count against the worker's budget until
            // the request is over (answer written); `conn.rs` then shrinks the buffer.
            let mut budget = prepare::BodyBudget::new(w);
            let res = routed(w, c, &mut head, &rc, body, keep, &mut ex, &mut budget).await;
            finish::finish(w, c, snap, &head, &ex, finish::Where::Routed(&rc), res).await
        }
    }
}

/// The phases after routing: prepare, authorize, integrate.
#[allow(clippy::too_many_arguments)]
async fn routed<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    head: &mut RequestHead,
    rc: &RouteCtx<'_>,
    body: Result<BodyReader, GatewayError>,
    keep: bool,
    ex: &mut Exchange,
    budget: &mut prepare::BodyBudget<'_>,
) -> Result<Answer, Stop> {
    let snap = rc.snapshot;
    let body = body.map_err(Stop::closing)?;
    let prepared = prepare::prepare(c, snap, head, rc, &body, budget)
        .await
        .map_err(Stop::closing)?;
    let permit = match authorize::authorize(w, c, head, rc, &prepared, ex).await {
        Ok(p) => p,
        Err(err) => {
            return Err(Stop {
                err,
                body: Some(body),
                keep,
            });
        }
    };
    integrate::integrate(w, c, snap, head, rc, permit, body, keep, ex).await
}
