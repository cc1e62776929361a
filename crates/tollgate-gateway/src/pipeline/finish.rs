//! Phase 5, finish: the one exit. Every request, answered or refused, leaves through
//! [`finish`]: a [`GatewayError`] is mapped to its response here (the API's
//! `gateway_responses` or the defaults), an answer still in `Conn::out` is written, and the
//! request is counted under its route's labels and written to the access log; a
//! gateway-made error also gets its stderr reason line.

use std::time::{Duration, Instant};

use tollgate_http::{BodyFraming, RequestHead};

use crate::accesslog::{self, Caller, Record, Routed};
use crate::body::{BodyError, BodyReader};
use crate::error::GatewayError;
use crate::responses::default_response;
use crate::snapshot::Snapshot;
use crate::state::Worker;

use super::{Answer, Conn, Exchange, Next, RouteCtx, Sent, Stop, Stream};

/// Most body bytes read and dropped to keep a connection alive after an early answer.
const MAX_DISCARD: u64 = 64 * 1024;
/// How long an error answer may take to write.
const ERROR_WRITE: Duration = Duration::from_secs(10);
/// The access log's `error` when the answer could not be written whole: the status is the one
/// the gateway (or its upstream) answered, which the client did not get.
const CLIENT_GONE: &str =
    "the client closed the connection or reset the stream before the whole answer was written";

/// Where a request ended: before routing (with the API its host names, if any, for its
/// gateway responses) or on a route.
#[derive(Clone, Copy)]
pub(crate) enum Where<'a> {
    Unrouted(Option<usize>),
    Routed(&'a RouteCtx<'a>),
}

impl<'a> Where<'a> {
    fn api(self) -> Option<usize> {
        match self {
            Where::Unrouted(api) => api,
            Where::Routed(r) => Some(r.m.api),
        }
    }

    fn routed(self) -> Option<Routed<'a>> {
        match self {
            Where::Unrouted(_) => None,
            Where::Routed(r) => Some(r.routed()),
        }
    }
}

/// The one exit of the pipeline.
pub(crate) async fn finish<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    snap: &Snapshot,
    head: &RequestHead,
    ex: &Exchange,
    at: Where<'_>,
    outcome: Result<Answer, Stop>,
) -> Next {
    match outcome {
        Ok(answer) => finish_answer(w, c, snap, ex, at, answer).await,
        // Boxed: an error answer's state (a write with its timer) would otherwise be part of
        // every request's future.
        Err(stop) => Box::pin(finish_error(w, c, snap, head, ex, at, stop)).await,
    }
}

async fn finish_answer<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    snap: &Snapshot,
    ex: &Exchange,
    at: Where<'_>,
    a: Answer,
) -> Next {
    let (ok, body_len) = match a.sent {
        Sent::Streamed { body_len } => (!a.client_gone, body_len),
        Sent::Buffered { body_len } => {
            let out = std::mem::take(&mut c.out);
            let (res, out) = c.stream.send_all(out, None).await;
            c.out = out;
            (res.is_ok(), body_len)
        }
    };
    if let Some(why) = a.cut_short {
        log_reason(log::Level::Warn, a.status, ex.rid.as_str(), at, why);
    }
    // The upstream's fault is named first; a client that left is its own doing (debug).
    let error = a.cut_short.or((!ok).then_some(CLIENT_GONE));
    if a.cut_short.is_none() && !ok {
        log_reason(
            log::Level::Debug,
            a.status,
            ex.rid.as_str(),
            at,
            CLIENT_GONE,
        );
    }
    let routed = at.routed();
    let rec = Record {
        status: a.status,
        body_len,
        route: routed.as_ref(),
        principal: a.ctx.as_ref().and_then(|c| c.principal()),
        error,
        caller: a.ctx.as_ref().map(|k| Caller {
            principal_id: k.principal_id.as_deref(),
            authorizer: &k.authorizer,
            claims: &k.claims,
            identity: &k.identity,
        }),
        gateway_error: None,
    };
    account(w, snap, ex, c.source_ip, &rec);
    if ok && a.keep {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// Answer a gateway error, keeping the connection only if the request body is out of the way.
async fn finish_error<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    snap: &Snapshot,
    head: &RequestHead,
    ex: &Exchange,
    at: Where<'_>,
    stop: Stop,
) -> Next {
    let Stop { err, body, keep } = stop;
    let keep = match body {
        Some(mut b) => keep && drain_for_reuse(c, head, &mut b, snap).await,
        None => false,
    };
    let rid = ex.rid.as_str();
    c.out.clear();
    let resp = match at.api().and_then(|i| snap.apis.get(i)) {
        Some(a) => a.responses.response(&err, rid),
        None => default_response(&err, rid),
    };
    let status = resp.head.status;
    let (res, body_len) = c
        .stream
        .send_response(
            &mut c.out,
            &resp,
            head.is_head(),
            !keep,
            Some(Instant::now() + ERROR_WRITE),
        )
        .await;
    drop(resp);
    log_reason(reason_level(status), status, rid, at, err.reason_text());
    let routed = at.routed();
    let rec = Record {
        status,
        body_len,
        route: routed.as_ref(),
        principal: None,
        error: Some(err.reason_text()),
        caller: None,
        gateway_error: Some(&err),
    };
    account(w, snap, ex, c.source_ip, &rec);
    if res.is_ok() && keep {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// Count an answered request under its route (or unrouted) and write its access-log record.
fn account(w: &Worker, snap: &Snapshot, ex: &Exchange, ip: std::net::IpAddr, rec: &Record<'_>) {
    let label = rec.route.map_or(&w.unrouted_label, |r| r.label);
    w.metrics
        .request(label, rec.status, ex.info.started.elapsed());
    let sink = w.shared.access_log.load();
    let format = snap.compiled.access_log_format.as_ref();
    accesslog::log(&sink, format, &ex.info, &ex.rid, ip, rec);
}

/// The stderr level of a gateway-made error: `warn` for a 5xx, `debug` otherwise.
fn reason_level(status: u16) -> log::Level {
    if status >= 500 {
        log::Level::Warn
    } else {
        log::Level::Debug
    }
}

/// The stderr line naming why request `rid` was answered `status`, and where.
fn log_reason(level: log::Level, status: u16, rid: &str, at: Where<'_>, reason: &str) {
    if !log::log_enabled!(level) {
        return;
    }
    let routed = at.routed();
    let (api, stage, route) = routed.as_ref().map_or(("-", "-", "-"), |r| {
        (r.api_id, r.stage, r.label.route.as_str())
    });
    log::log!(
        level,
        "tollgate: {status} api={api} stage={stage} route=\"{route}\" requestId={rid}: {reason}"
    );
}

/// Consume the request head and, when the body is small enough, the body too, so that the
/// connection can carry the next request. False: the connection must close.
pub(crate) async fn drain_for_reuse<S: Stream>(
    c: &mut Conn<S>,
    head: &RequestHead,
    body: &mut BodyReader,
    snap: &Snapshot,
) -> bool {
    let head_len = head.head_len.min(c.buf.len());
    c.buf.drain(..head_len);
    if body.is_empty() {
        return true;
    }
    let small = matches!(head.framing, BodyFraming::Length(n) if n <= MAX_DISCARD);
    if head.expect_continue || !small {
        return false;
    }
    let deadline = Instant::now() + snap.header_timeout;
    // Boxed: the discard's reads (each with a timer) would otherwise be part of every
    // request's future, not only of the few with a small body left to drop.
    match Box::pin(body.discard(&mut c.stream, &mut c.buf, deadline)).await {
        Ok(()) => true,
        Err(BodyError::Framing(_) | BodyError::TooLarge | BodyError::Io(_)) => false,
    }
}

/// Answer an error found before a request could enter the pipeline (a head that does not
/// parse or arrive in time, a bad PROXY header) with the default gateway response, and close.
pub(crate) async fn reply_error_default<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    err: &GatewayError,
) -> std::io::Result<()> {
    let rid = w.ids.next();
    let resp = default_response(err, rid.as_str());
    let deadline = Some(Instant::now() + Duration::from_secs(5));
    c.stream
        .send_response(&mut c.out, &resp, false, true, deadline)
        .await
        .0
}
