//! Phase 4, integrate: run the route's integration with a [`Permit`]: a mock answer (for an
//! HTTP/1 client left in `Conn::out` for `finish` to write; for another protocol handed over
//! protocol-neutral) or an `http_proxy` exchange (streamed by `proxy`).

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
            let (sent, client_gone) = if c.stream.is_http1() {
                let body_len = render_mock(&mut c.out, mock, head.is_head(), keep, ex.rid.as_str());
                (Sent::Buffered { body_len }, false)
            } else {
                let r = mock.response(ex.rid.as_str());
                let (res, body_len) = c
                    .stream
                    .send_response(&mut c.out, &r, head.is_head(), !keep, None)
                    .await;
                (Sent::Streamed { body_len }, res.is_err())
            };
            Ok(Answer {
                status: mock.status,
                sent,
                keep: keep && !client_gone,
                ctx: Some(permit.ctx),
                cut_short: None,
                client_gone,
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
                    client_gone: done.client_gone,
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

/// The mock answer into `out` as HTTP/1; returns its body length as sent.
///
/// The fast path of the HTTP/1 caller: the same bytes `http1::write_response` makes of the
/// protocol-neutral [`MockRt::response`] (a unit test holds them equal), written straight
/// from the snapshot without building the neutral value.
fn render_mock(out: &mut Vec<u8>, mock: &MockRt, is_head: bool, keep: bool, rid: &str) -> usize {
    out.clear();
    wire::status_line(out, mock.status);
    for (k, v) in &mock.headers {
        wire::header(out, k.as_bytes(), v.as_bytes());
    }
    if mock.needs_content_type() {
        wire::header(out, b"content-type", b"application/json");
    }
    wire::header_usize(out, b"content-length", mock.body.len());
    wire::header(out, b"x-amzn-RequestId", rid.as_bytes());
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_mock_fast_path_writes_what_http1_makes_of_the_neutral_response() {
        let mocks = [
            MockRt {
                status: 200,
                headers: vec![],
                body: b"{\"ok\":true}".to_vec(),
            },
            MockRt {
                status: 201,
                headers: vec![
                    ("Content-Type".into(), "text/plain".into()),
                    ("x-a".into(), "b".into()),
                ],
                body: b"made".to_vec(),
            },
            MockRt {
                status: 204,
                headers: vec![],
                body: vec![],
            },
        ];
        for m in &mocks {
            for (is_head, keep) in [(false, true), (true, true), (false, false)] {
                let mut fast = Vec::new();
                let n = render_mock(&mut fast, m, is_head, keep, "rid-1");
                let mut neutral = Vec::new();
                let r = m.response("rid-1");
                let n2 = crate::http1::write_response(&mut neutral, &r, is_head, !keep);
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    String::from_utf8(neutral).unwrap()
                );
                assert_eq!(n, n2);
            }
        }
    }
}
