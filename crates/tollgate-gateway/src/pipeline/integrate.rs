//! Phase 4, integrate: run the route's integration with a [`Permit`]: a mock answer (left in
//! `Conn::out` for `finish` to write) or an `http_proxy` exchange (streamed by `proxy`).

use std::time::Instant;

use tollgate_http::RequestHead;

use crate::auth::Permit;
use crate::body::BodyReader;
use crate::snapshot::{IntegrationRt, MockRt, Snapshot};
use crate::state::Worker;
use crate::wire;

use super::finish::drain_for_reuse;
use super::proxy::{self, BodyState, Failed, Forward};
use super::{Answer, Conn, Exchange, RouteCtx, Sent, Stop, Stream};

/// The reason logged when an upstream broke off a response whose head was already sent
/// (the client got a truncated answer; the gateway cannot change the status any more).
const CUT_SHORT: &str =
    "upstream broke off, timed out or garbled the response body after its head was sent";

#[allow(clippy::too_many_arguments)]
pub(crate) async fn integrate<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    snap: &Snapshot,
    head: &RequestHead,
    rc: &RouteCtx<'_>,
    permit: Permit,
    mut body: BodyReader,
    keep: bool,
    ex: &mut Exchange,
) -> Result<Answer, Stop> {
    match &rc.route.integration {
        IntegrationRt::Mock(mock) => {
            let keep = keep && drain_for_reuse(c, head, &mut body, snap).await;
            let body_len = render_mock(&mut c.out, mock, head.is_head(), keep, ex);
            Ok(Answer {
                status: mock.status,
                sent: Sent::Buffered { body_len },
                keep,
                ctx: Some(permit.ctx),
                cut_short: None,
            })
        }
        IntegrationRt::Proxy(p) => {
            let t0 = Instant::now();
            let fwd = Forward {
                snap,
                head,
                m: &rc.m,
                p,
                stage_vars: rc.stage_vars(),
                ctx: &permit.ctx,
                keep_client: keep,
                rid: &ex.rid,
            };
            // Boxed: the exchange's future (KiB of upstream state) would otherwise be part of
            // every request's state, mock routes included.
            let r = Box::pin(proxy::forward(w, c, &fwd, body)).await;
            ex.info.integration = Some(t0.elapsed());
            w.metrics.upstream(&rc.route.label, t0.elapsed());
            match r {
                Ok(done) => Ok(Answer {
                    status: done.status,
                    sent: Sent::Streamed {
                        body_len: done.bytes,
                    },
                    keep: done.keep,
                    ctx: Some(permit.ctx),
                    cut_short: done.cut_short.then_some(CUT_SHORT),
                }),
                Err(Failed { err, body_state }) => Err(match body_state {
                    BodyState::Untouched(b) => Stop {
                        err,
                        body: Some(b),
                        keep,
                    },
                    BodyState::Consumed | BodyState::Broken => Stop::closing(err),
                }),
            }
        }
    }
}

/// The mock answer into `out`; returns its body length as sent.
fn render_mock(
    out: &mut Vec<u8>,
    mock: &MockRt,
    is_head: bool,
    keep: bool,
    ex: &Exchange,
) -> usize {
    out.clear();
    wire::status_line(out, mock.status);
    let mut has_ct = false;
    for (k, v) in &mock.headers {
        has_ct |= k.eq_ignore_ascii_case("content-type");
        wire::header(out, k.as_bytes(), v.as_bytes());
    }
    if !has_ct && !mock.body.is_empty() {
        wire::header(out, b"content-type", b"application/json");
    }
    wire::header_usize(out, b"content-length", mock.body.len());
    wire::header(out, b"x-amzn-RequestId", ex.rid.as_str().as_bytes());
    if !keep {
        wire::header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    if is_head {
        return 0;
    }
    out.extend_from_slice(&mock.body);
    mock.body.len()
}
