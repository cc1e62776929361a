//! HTTP/2 connections (h2c by prior knowledge, and h2 by ALPN on HTTPS listeners): every
//! stream is one request through the same pipeline as HTTP/1 (route -> prepare -> authorize
//! -> integrate -> finish), with its own request id, access-log line and metrics.
//!
//! `tollgate-h2` runs the connection and calls [`H2Conn::handle`] once per stream. The
//! pipeline's request side still works on an HTTP/1 head in the connection's buffer, so the
//! stream's head is rendered into a buffer in HTTP/1 form and parsed by the same strict
//! parser (the same limits and checks apply), and its body is read from the stream's flow-
//! controlled [`Body`] (announced by its `content-length`, or buffered within
//! `max_body_bytes` when the client sent none). The answer is handed over protocol-neutral:
//! [`H2Io`]'s [`Wire`] side takes the pipeline's status, headers and body as they are (no
//! HTTP/1 rendering, no re-parsing): an in-memory answer becomes a response with its body, a
//! streamed one a response whose body is fed through the stream's body channel, whose `send`
//! waits for the client's window (backpressure up to the proxied upstream).

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use monoio::buf::{IoBufMut, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use tollgate_h2::{Body, BodySender, ConnSummary, H2Limits, Handler, Request, Response, Rest};
use tollgate_http::{HeadParts, Header, HttpError, RequestHead, Span, check_parts};

use crate::error::GatewayError;
use crate::http1::Wire;
use crate::http1::{self, BodyEnd};
use crate::idle::IdleEnd;
use crate::pipeline::{self, Conn, reply_error_default};
use crate::response::{BodyLen, BodyStream, Response as NeutralResponse, ResponseHead};
use crate::snapshot::Snapshot;
use crate::state::Worker;

/// Response body bytes queued for a stream before the producer waits for the client.
const RESPONSE_QUEUE: usize = 64 * 1024;

/// The connection facts every stream of one HTTP/2 connection shares.
#[derive(Clone)]
pub(crate) struct ConnFacts {
    /// The local address the client connected to.
    pub local: SocketAddr,
    /// The socket peer, or the PROXY header's source.
    pub source_ip: IpAddr,
    /// `aws:SourceVpce` from a PROXY v2 header.
    pub vpce_id: Option<String>,
    /// The verified client certificate (mutual TLS), for every stream's authorizers.
    pub client_cert: Option<Rc<tollgate_tls::ClientCertInfo>>,
    /// h2 over TLS (not h2c).
    pub https: bool,
}

/// Serve one HTTP/2 connection on `io` until it closes (generic over the transport, so a TLS
/// stream that negotiated `h2` by ALPN can be served the same way as h2c).
pub(crate) async fn serve_h2<IO>(w: Rc<Worker>, io: IO, facts: ConnFacts) -> ConnSummary
where
    IO: AsyncReadRent + AsyncWriteRent + Unpin + 'static,
{
    let limits = limits_from(&w.snapshot());
    // When the worker drains (the shutdown flag, then the idle connections' wake-up), the
    // connection sends a graceful GOAWAY and its open streams get the drain timeout. No timer
    // of its own: the deadline is never reached, only the shutdown wakes it.
    let never = Instant::now()
        .checked_add(Duration::from_secs(100 * 365 * 24 * 3600))
        .unwrap_or_else(Instant::now);
    let w2 = w.clone();
    let shutdown = IdleEnd::new(&w2.idle, &w2.shared.shutdown, never);
    let handler = Rc::new(H2Conn { w, facts });
    tollgate_h2::serve_connection_until(io, limits, handler, shutdown).await
}

/// `gateway.limits` as HTTP/2 limits (the mapping `docs/http2.md` documents).
pub(crate) fn limits_from(snap: &Snapshot) -> H2Limits {
    let d = H2Limits::default();
    H2Limits {
        max_header_list_size: u32::try_from(snap.limits.max_header_bytes).unwrap_or(u32::MAX),
        handshake_timeout: snap.header_timeout,
        idle_timeout: snap.idle_timeout,
        body_timeout: snap.body_timeout,
        drain_timeout: Duration::from_millis(snap.compiled.config.gateway.limits.drain_timeout_ms),
        ..d
    }
}

/// One HTTP/2 connection as the pipeline's caller: the worker and the connection facts.
struct H2Conn {
    w: Rc<Worker>,
    facts: ConnFacts,
}

impl H2Conn {
    /// The stream's pipeline, boxed. A plain function on purpose: built inside the `async fn`,
    /// the large unboxed future could take room in the handler's own future.
    fn start(&self, req: Request, body: Body, tx: OneshotSender<Response>) -> Rest {
        Box::pin(run_stream(
            self.w.clone(),
            self.facts.clone(),
            req,
            body,
            tx,
        ))
    }
}

impl Handler for H2Conn {
    async fn handle(&self, req: Request, body: Body) -> Response {
        let (tx, mut rx) = oneshot();
        // The pipeline runs in the stream's own task, boxed once here (its future is large:
        // moved by value through the layers above, it would be copied at each). It answers
        // through `tx`; when it is not over by then (a streamed body still to feed, or work
        // after the answer), the rest of it goes with the response and `tollgate-h2` drives
        // it alongside the body.
        let mut run = self.start(req, body, tx);
        let mut done = false;
        let answer = poll_fn(|cx| {
            if !done {
                done = run.as_mut().poll(cx).is_ready();
            }
            Pin::new(&mut rx).poll(cx)
        })
        .await;
        let resp = answer.unwrap_or_else(|| Response::new(500, Body::empty()));
        if done { resp } else { resp.with_rest(run) }
    }

    /// A stream reset before its answer still has its pipeline run to the end (its access-log
    /// line and metrics), as a reset after the answer does.
    fn run_after_reset(&self) -> bool {
        true
    }
}

/// One stream, one request: lay its head out in HTTP/1 form, check it as the strict parser
/// checks a parsed one, run the pipeline, end the response body.
async fn run_stream(
    w: Rc<Worker>,
    facts: ConnFacts,
    req: Request,
    body: Body,
    tx: OneshotSender<Response>,
) {
    let snap = w.snapshot();
    // A body without a length is held in memory before the pipeline runs: counted in the
    // worker's budget for bodies held before authentication until the stream is done.
    let mut held = pipeline::BodyBudget::new(&w);
    let budget = (&mut held, snap.body_budget);
    let rendered = match render_request(&req, body, snap.max_body_bytes, budget).await {
        Ok(r) => r,
        Err(RenderError::Bad(e)) => {
            let _ = tx.send(Response::new(
                400,
                Body::from(format!("{e}\n").into_bytes()),
            ));
            return;
        }
        Err(RenderError::Busy) => {
            let mut c = Conn {
                stream: H2Io {
                    source: Source::Bytes(Bytes::new()),
                    out: Out::Head {
                        tx: Some(tx),
                        reset: req.reset.clone(),
                    },
                },
                buf: Vec::new(),
                out: Vec::new(),
                local: facts.local,
                source_ip: facts.source_ip,
                vpce_id: facts.vpce_id,
                protocol: Some("HTTP/2.0"),
                client_cert: facts.client_cert,
                https: facts.https,
            };
            let err = GatewayError::unavailable().with_reason(
                "body budget spent (gateway.limits.max_buffered_body_bytes_per_worker) buffering an HTTP/2 body without content-length",
            );
            let _ = reply_error_default(&w, &mut c, &err).await;
            c.stream.out.finish();
            return;
        }
    };
    let head = rendered.check(&snap.limits);
    let mut c = Conn {
        stream: H2Io {
            source: rendered.source,
            out: Out::Head {
                tx: Some(tx),
                reset: req.reset.clone(),
            },
        },
        buf: rendered.buf,
        out: Vec::new(),
        local: facts.local,
        source_ip: facts.source_ip,
        vpce_id: facts.vpce_id,
        protocol: Some("HTTP/2.0"),
        client_cert: facts.client_cert,
        https: facts.https,
    };
    match head {
        Ok(head) => {
            let _ = pipeline::run(&w, &mut c, &snap, head).await;
        }
        Err(e) => bad_request(&w, &mut c, protocol_error(e)).await,
    }
    c.stream.out.finish();
    drop(held);
}

/// Why a stream's request could not be laid out.
enum RenderError {
    /// The body broke off: 400.
    Bad(&'static str),
    /// Holding the body would take the worker past its budget for bodies held before
    /// authentication: 503, as for a signed HTTP/1 body.
    Busy,
}

/// A head the strict parser refused: answered as on HTTP/1 (no route, no access-log line).
async fn bad_request(w: &Worker, c: &mut Conn<H2Io>, err: GatewayError) {
    w.metrics
        .bad_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _ = reply_error_default(w, c, &err).await;
}

/// The parser's refusal as the gateway's error (as the HTTP/1 loop maps it).
fn protocol_error(e: HttpError) -> GatewayError {
    let status = e.status();
    match e {
        HttpError::NotImplemented(what) if what.contains("method") => GatewayError::missing_token(),
        HttpError::PayloadTooLarge => GatewayError::too_large(),
        _ => GatewayError::protocol(status, tollgate_http::reason_phrase(status)),
    }
}

/// Fields an HTTP/1 head gets from elsewhere or must not carry for this request.
fn skipped(name: &str, has_authority: bool) -> bool {
    matches!(
        name,
        "content-length" | "transfer-encoding" | "connection" | "expect" | "te" | "upgrade"
    ) || (has_authority && name == "host")
}

/// A stream's head laid out in HTTP/1 form, with the spans `check_parts` reads.
struct Rendered {
    buf: Vec<u8>,
    method: Span,
    target: Span,
    fields: Vec<Header>,
    source: Source,
}

impl Rendered {
    /// The head as the pipeline reads it, checked as the strict parser checks a parsed one.
    fn check(&self, limits: &tollgate_http::RequestLimits) -> Result<RequestHead, HttpError> {
        let parts = HeadParts {
            method: self.method,
            target: self.target,
            fields: &self.fields,
            head_len: self.buf.len(),
        };
        check_parts(&self.buf, &parts, limits)
    }
}

/// Appends `bytes` to `buf`; their span.
fn put(buf: &mut Vec<u8>, bytes: &[u8]) -> Span {
    let start = buf.len();
    buf.extend_from_slice(bytes);
    Span::new(start, buf.len())
}

/// Appends the field `name: value` to `buf` and its spans to `fields`.
fn put_field(buf: &mut Vec<u8>, fields: &mut Vec<Header>, name: &[u8], value: &[u8]) {
    let name = put(buf, name);
    buf.extend_from_slice(b": ");
    let value = put(buf, value);
    buf.extend_from_slice(b"\r\n");
    fields.push(Header { name, value });
}

/// The stream's head in HTTP/1 form, and where its body comes from. A body whose length the
/// client announced (`content-length`, checked by h2 against the DATA received) is streamed;
/// one without is buffered up to `max_body` (one byte more is announced past it, so the
/// pipeline answers 413 as it does for HTTP/1). The bytes are not checked here:
/// `check_parts` refuses what would break a line (CR, LF, any other CTL).
async fn render_request(
    req: &Request,
    mut body: Body,
    max_body: u64,
    budget: (&mut pipeline::BodyBudget<'_>, u64),
) -> Result<Rendered, RenderError> {
    // Every byte the head can take, so that it is written without regrowing: the request
    // line, a host line, each field with ": " and CRLF, a content-length line, the last CRLF.
    let room = req.method().len()
        + req.path().len()
        + 11
        + req.authority().map_or(0, |a| a.len() + 8)
        + req.headers.byte_len()
        + 4 * req.headers.len()
        + 40
        + 2;
    let mut h = Vec::with_capacity(room);
    let mut fields = Vec::with_capacity(req.headers.len() + 2);
    let method = put(&mut h, req.method().as_bytes());
    h.push(b' ');
    let target = put(&mut h, req.path().as_bytes());
    h.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(a) = req.authority() {
        put_field(&mut h, &mut fields, b"host", a.as_bytes());
    }
    for (name, value) in req.headers.iter() {
        if skipped(name, req.authority().is_some()) {
            continue;
        }
        put_field(&mut h, &mut fields, name.as_bytes(), value);
    }
    let announced = req
        .headers
        .get("content-length")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (len, source) = if body.is_end_stream() {
        (0, Source::Bytes(Bytes::new()))
    } else if let Some(n) = announced.or(body.exact_len()) {
        (n, Source::Stream(body, Bytes::new()))
    } else {
        let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
        match take_all(&mut body, limit, budget).await? {
            Some(b) => (b.len() as u64, Source::Bytes(b)),
            None => (max_body.saturating_add(1), Source::Bytes(Bytes::new())),
        }
    };
    if len > 0 {
        put_field(
            &mut h,
            &mut fields,
            b"content-length",
            len.to_string().as_bytes(),
        );
    }
    h.extend_from_slice(b"\r\n");
    Ok(Rendered {
        buf: h,
        method,
        target,
        fields,
        source,
    })
}

/// The whole body within `limit` bytes (`None`: more than that), each byte counted in
/// `budget` (held, within the worker's limit) as it arrives.
async fn take_all(
    body: &mut Body,
    limit: usize,
    (held, budget): (&mut pipeline::BodyBudget<'_>, u64),
) -> Result<Option<Bytes>, RenderError> {
    let mut all = Vec::new();
    while let Some(chunk) = body.chunk().await {
        let chunk = chunk.map_err(|_| RenderError::Bad("request body broken off"))?;
        if all.len() + chunk.len() > limit {
            return Ok(None);
        }
        if !held.hold((all.len() + chunk.len()) as u64, budget) {
            return Err(RenderError::Busy);
        }
        all.extend_from_slice(&chunk);
    }
    Ok(Some(Bytes::from(all)))
}

/// Where the request body comes from.
enum Source {
    /// Already in memory (or none).
    Bytes(Bytes),
    /// The stream's body, and what is left of its last chunk.
    Stream(Body, Bytes),
}

/// A stream as the pipeline's client: reads give the request body, writes the answer.
struct H2Io {
    source: Source,
    out: Out,
}

impl H2Io {
    /// The bytes to hand out next (empty: the body is over).
    async fn pending(&mut self) -> io::Result<Bytes> {
        match &mut self.source {
            Source::Bytes(b) => Ok(b.clone()),
            Source::Stream(body, rest) => {
                if rest.is_empty() {
                    match body.chunk().await {
                        None => {}
                        Some(Ok(b)) => *rest = b,
                        Some(Err(e)) => return Err(io::Error::other(e)),
                    }
                }
                Ok(rest.clone())
            }
        }
    }

    fn advance(&mut self, n: usize) {
        match &mut self.source {
            Source::Bytes(b) | Source::Stream(_, b) => b.advance(n.min(b.len())),
        }
    }
}

impl AsyncReadRent for H2Io {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> monoio::BufResult<usize, T> {
        let pending = match self.pending().await {
            Ok(p) => p,
            Err(e) => return (Err(e), buf),
        };
        let mut s: &[u8] = &pending;
        let (res, buf) = s.read(buf).await;
        if let Ok(n) = res {
            self.advance(n);
        }
        (res, buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> monoio::BufResult<usize, T> {
        let pending = match self.pending().await {
            Ok(p) => p,
            Err(e) => return (Err(e), buf),
        };
        let mut s: &[u8] = &pending;
        let (res, buf) = s.readv(buf).await;
        if let Ok(n) = res {
            self.advance(n);
        }
        (res, buf)
    }
}

impl Wire for H2Io {
    // The pipeline answers an HTTP/2 stream through the protocol-neutral methods below; raw
    // HTTP/1 bytes have no place here (an interim `100 Continue` never arises: `expect` is
    // not passed on), so a write of them fails as a broken stream would.
    async fn send_all(
        &mut self,
        data: Vec<u8>,
        _deadline: Option<Instant>,
    ) -> (io::Result<()>, Vec<u8>) {
        (Err(broken("HTTP/1 bytes on an HTTP/2 stream")), data)
    }

    async fn send_range(
        &mut self,
        buf: Vec<u8>,
        _range: std::ops::Range<usize>,
        _deadline: Option<Instant>,
    ) -> (io::Result<()>, Vec<u8>) {
        (Err(broken("HTTP/1 bytes on an HTTP/2 stream")), buf)
    }

    fn is_http1(&self) -> bool {
        false
    }

    async fn send_response(
        &mut self,
        _out: &mut Vec<u8>,
        r: &NeutralResponse<'_>,
        is_head: bool,
        _close: bool,
        _deadline: Option<Instant>,
    ) -> (io::Result<()>, usize) {
        // `tollgate-h2` gives it its content-length and leaves the body out for HEAD.
        let resp = h2_response(&r.head, Body::from(r.body.to_vec()));
        let res = self.out.answer(resp);
        self.out = Out::Done;
        let sent = if res.is_ok() && !is_head {
            r.body.len()
        } else {
            0
        };
        (res, sent)
    }

    async fn send_head(
        &mut self,
        _out: &mut Vec<u8>,
        head: &ResponseHead<'_>,
        framing: http1::Framing,
        inline: &[u8],
        _deadline: Option<Instant>,
    ) -> io::Result<()> {
        let inline_len = inline.len() as u64;
        match framing.body {
            BodyLen::None => {
                let res = self.out.answer(h2_response(head, Body::empty()));
                self.out = Out::Done;
                res
            }
            BodyLen::Known(n) if n == inline_len => {
                let res = self
                    .out
                    .answer(h2_response(head, Body::from(inline.to_vec())));
                self.out = Out::Done;
                res
            }
            len => {
                let mut resp = h2_response(head, Body::empty());
                if let BodyLen::Known(n) = len {
                    resp.headers.push("content-length", n.to_string());
                }
                let (mut sender, body) = tollgate_h2::channel(RESPONSE_QUEUE);
                resp.body = body;
                self.out.answer(resp)?;
                if !inline.is_empty() {
                    send(&mut sender, Bytes::copy_from_slice(inline)).await?;
                }
                self.out = Out::Body { sender };
                Ok(())
            }
        }
    }

    async fn send_body<B: BodyStream>(
        &mut self,
        body: &mut B,
        _chunked: bool,
        timeout: Duration,
        sent: &mut usize,
    ) -> BodyEnd {
        loop {
            let (buf, range) = match body.next().await {
                Ok(Some(piece)) => piece,
                Ok(None) => break,
                Err(_) => {
                    // Dropping the sender without `finish` resets the stream: a body cut
                    // short never looks complete.
                    self.out = Out::Done;
                    return BodyEnd::SourceFailed;
                }
            };
            let piece = Bytes::copy_from_slice(buf.get(range).unwrap_or_default());
            body.give_back(buf);
            let Out::Body { sender } = &mut self.out else {
                // The whole body went with the head: nothing more is expected.
                continue;
            };
            let n = piece.len();
            match monoio::time::timeout(timeout, send(sender, piece)).await {
                Ok(Ok(())) => *sent += n,
                _ => {
                    self.out = Out::Done;
                    return BodyEnd::ClientGone;
                }
            }
        }
        if let Out::Body { sender } = std::mem::replace(&mut self.out, Out::Done) {
            sender.finish();
        }
        BodyEnd::Complete
    }
}

/// The pipeline's answer to one stream, as it goes to `tollgate-h2`.
enum Out {
    /// No answer yet: the head goes to the stream's handler through `tx` (unless the client
    /// has reset the stream: `reset`).
    Head {
        tx: Option<OneshotSender<Response>>,
        reset: tollgate_h2::ResetFlag,
    },
    /// The head went out; the body follows through the stream's body channel.
    Body { sender: BodySender },
    /// Complete (or abandoned: a sender dropped without `finish` resets the stream).
    Done,
}

fn broken(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, why)
}

impl Out {
    /// Hand the response (head, and its body or the receiving end of its channel) to the
    /// stream's handler.
    fn answer(&mut self, resp: Response) -> io::Result<()> {
        let Out::Head { tx, reset } = self else {
            return Err(broken("answer already sent"));
        };
        let Some(tx) = tx.take() else {
            return Err(broken("answer already sent"));
        };
        if reset.is_reset() {
            // The pipeline ran on after the reset (for its access-log line): nothing was sent.
            return Err(broken("stream reset"));
        }
        tx.send(resp).map_err(|_| broken("stream reset"))
    }

    /// The pipeline is over: no answer at all is a 502; a body not finished is aborted (the
    /// stream is reset).
    fn finish(&mut self) {
        if let Out::Head { tx: Some(tx), .. } = std::mem::replace(self, Out::Done) {
            let _ = tx.send(Response::new(502, Body::empty()));
        }
    }
}

async fn send(sender: &mut BodySender, piece: Bytes) -> io::Result<()> {
    sender.send(piece).await.map_err(|_| broken("stream reset"))
}

/// The neutral head as an HTTP/2 response (`tollgate-h2` drops connection-specific fields and
/// adds the content-length of a body of known length).
fn h2_response(head: &ResponseHead<'_>, body: Body) -> Response {
    let mut resp = Response::new(head.status, body);
    let (names, values) = head.headers.iter().fold((0, 0), |(n, v), (name, value)| {
        (n + name.len(), v + value.as_ref().len())
    });
    // Room for a content-length too (added for a streamed body of known length).
    resp.headers = tollgate_h2::Headers::with_room(head.headers.len() + 1, names + 16, values + 20);
    for (name, value) in &head.headers {
        resp.headers
            .push(String::from_utf8_lossy(name), value.as_ref());
    }
    resp
}

/// A one-value channel between tasks of one thread.
struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

struct OneshotSender<T>(Rc<RefCell<Slot<T>>>);
struct OneshotReceiver<T>(Rc<RefCell<Slot<T>>>);

fn oneshot<T>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let slot = Rc::new(RefCell::new(Slot {
        value: None,
        waker: None,
        sender_gone: false,
    }));
    (OneshotSender(slot.clone()), OneshotReceiver(slot))
}

impl<T> OneshotSender<T> {
    /// Hands `value` over; `Err` when the receiver is gone.
    fn send(self, value: T) -> Result<(), T> {
        if Rc::strong_count(&self.0) < 2 {
            return Err(value);
        }
        self.0.borrow_mut().value = Some(value);
        Ok(())
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        let mut s = self.0.borrow_mut();
        s.sender_gone = true;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

impl<T> std::future::Future for OneshotReceiver<T> {
    type Output = Option<T>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<T>> {
        let mut s = self.0.borrow_mut();
        if let Some(v) = s.value.take() {
            return Poll::Ready(Some(v));
        }
        if s.sender_gone {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn rt() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    /// A worker over a one-route configuration.
    fn worker() -> Worker {
        let text = r#"
gateway: {region: us-east-1, account_id: "123456789012", listeners: [{bind: "127.0.0.1:0"}]}
apis:
  - id: a1
    stages: {prod: {}}
    routes: [{path: /x, methods: [POST], authorization: NONE, integration: {type: mock}}]
"#;
        let compiled = tollgate_config::load_str(text, std::path::Path::new(".")).unwrap();
        Worker::for_tests(crate::shared::Shared::for_tests(compiled))
    }

    /// A fresh stream as the pipeline's client, and the receiving end of its answer.
    fn stream() -> (H2Io, OneshotReceiver<Response>) {
        stream_with(tollgate_h2::ResetFlag::default())
    }

    fn stream_with(reset: tollgate_h2::ResetFlag) -> (H2Io, OneshotReceiver<Response>) {
        let (tx, rx) = oneshot();
        let io = H2Io {
            source: Source::Bytes(Bytes::new()),
            out: Out::Head {
                tx: Some(tx),
                reset,
            },
        };
        (io, rx)
    }

    async fn answer_of(
        mut io: H2Io,
        rx: OneshotReceiver<Response>,
    ) -> (Response, Result<Bytes, String>) {
        io.out.finish();
        drop(io);
        let mut resp = rx.await.unwrap();
        let body = std::mem::replace(&mut resp.body, Body::empty());
        (resp, body.collect(1 << 20).await.map_err(|e| e.to_string()))
    }

    /// A body source lending the given pieces, then ending (or failing when `fail`).
    struct Pieces(Vec<&'static [u8]>, bool);

    impl BodyStream for Pieces {
        type Error = ();
        async fn next(&mut self) -> Result<Option<(Vec<u8>, std::ops::Range<usize>)>, ()> {
            if self.0.is_empty() {
                return if self.1 { Err(()) } else { Ok(None) };
            }
            let p = self.0.remove(0).to_vec();
            let n = p.len();
            Ok(Some((p, 0..n)))
        }
        fn give_back(&mut self, _buf: Vec<u8>) {}
    }

    fn head() -> ResponseHead<'static> {
        let mut h = ResponseHead::new(200);
        h.push(b"content-type", b"text/plain");
        h.mark_framing();
        h.push(b"x-amzn-RequestId", b"r1");
        h
    }

    fn framing(body: BodyLen) -> http1::Framing {
        http1::Framing {
            body,
            chunked: true,
            close: true,
        }
    }

    #[test]
    fn a_streamed_answer_goes_over_as_status_headers_and_unframed_body() {
        rt().block_on(async {
            let (mut io, rx) = stream();
            let mut out = Vec::new();
            io.send_head(&mut out, &head(), framing(BodyLen::Unknown), b"he", None)
                .await
                .unwrap();
            let mut body = Pieces(vec![b"llo", b", world"], false);
            let mut sent = 2;
            let end = io
                .send_body(&mut body, true, Duration::from_secs(5), &mut sent)
                .await;
            assert!(matches!(end, BodyEnd::Complete), "{end:?}");
            assert_eq!(sent, 12);
            // Nothing was rendered as HTTP/1.
            assert!(out.is_empty());
            let (resp, body) = answer_of(io, rx).await;
            assert_eq!(resp.status, 200);
            assert_eq!(resp.headers.get("content-type"), Some(&b"text/plain"[..]));
            assert_eq!(resp.headers.get("x-amzn-requestid"), Some(&b"r1"[..]));
            assert!(resp.headers.get("transfer-encoding").is_none());
            assert!(resp.headers.get("connection").is_none());
            assert_eq!(body.unwrap(), &b"hello, world"[..]);
        });
    }

    #[test]
    fn a_known_length_answer_keeps_its_length_and_a_whole_inline_body_needs_no_channel() {
        rt().block_on(async {
            let (mut io, rx) = stream();
            io.send_head(
                &mut Vec::new(),
                &head(),
                framing(BodyLen::Known(4)),
                b"",
                None,
            )
            .await
            .unwrap();
            let mut sent = 0;
            let end = io
                .send_body(
                    &mut Pieces(vec![b"no", b"pe"], false),
                    false,
                    Duration::from_secs(5),
                    &mut sent,
                )
                .await;
            assert!(matches!(end, BodyEnd::Complete));
            let (resp, body) = answer_of(io, rx).await;
            assert_eq!(resp.headers.get("content-length"), Some(&b"4"[..]));
            assert_eq!(body.unwrap(), &b"nope"[..]);

            let (mut io, rx) = stream();
            io.send_head(
                &mut Vec::new(),
                &head(),
                framing(BodyLen::Known(3)),
                b"abc",
                None,
            )
            .await
            .unwrap();
            assert!(matches!(io.out, Out::Done));
            let (resp, body) = answer_of(io, rx).await;
            // `tollgate-h2` adds the length of a whole body itself.
            assert!(resp.headers.get("content-length").is_none());
            assert_eq!(body.unwrap(), &b"abc"[..]);
        });
    }

    #[test]
    fn a_body_cut_short_is_aborted_and_no_answer_is_a_502() {
        rt().block_on(async {
            let (mut io, rx) = stream();
            io.send_head(
                &mut Vec::new(),
                &head(),
                framing(BodyLen::Known(10)),
                b"abc",
                None,
            )
            .await
            .unwrap();
            let mut sent = 3;
            let end = io
                .send_body(
                    &mut Pieces(vec![b"de"], true),
                    false,
                    Duration::from_secs(5),
                    &mut sent,
                )
                .await;
            assert!(matches!(end, BodyEnd::SourceFailed), "{end:?}");
            let (_, body) = answer_of(io, rx).await;
            assert!(body.is_err(), "{body:?}");
            let (io, rx) = stream();
            let (resp, body) = answer_of(io, rx).await;
            assert_eq!(resp.status, 502);
            assert!(body.unwrap().is_empty());
        });
    }

    #[test]
    fn an_answer_after_a_reset_fails_as_a_broken_stream() {
        rt().block_on(async {
            let reset = tollgate_h2::ResetFlag::default();
            let (mut io, rx) = stream_with(reset.clone());
            reset.set();
            let r = NeutralResponse {
                head: head(),
                body: std::borrow::Cow::Borrowed(b"{}"),
            };
            let (res, n) = io
                .send_response(&mut Vec::new(), &r, false, true, None)
                .await;
            assert_eq!(res.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
            assert_eq!(n, 0);
            drop(io);
            // Nothing reached the stream (the sender went unused).
            assert!(rx.await.is_none());
        });
    }

    #[test]
    fn in_memory_answers_and_http1_bytes() {
        rt().block_on(async {
            let (mut io, rx) = stream();
            let r = NeutralResponse {
                head: head(),
                body: std::borrow::Cow::Borrowed(b"{}"),
            };
            let (res, n) = io
                .send_response(&mut Vec::new(), &r, false, true, None)
                .await;
            res.unwrap();
            assert_eq!(n, 2);
            // A second answer, or HTTP/1 bytes, fail as a broken stream.
            let (res, _) = io
                .send_response(&mut Vec::new(), &r, false, true, None)
                .await;
            assert!(res.is_err());
            assert!(
                io.send_all(b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), None)
                    .await
                    .0
                    .is_err()
            );
            let (resp, body) = answer_of(io, rx).await;
            assert_eq!(resp.status, 200);
            assert_eq!(resp.headers.get("x-amzn-requestid"), Some(&b"r1"[..]));
            assert_eq!(body.unwrap(), &b"{}"[..]);
        });
    }

    #[test]
    fn the_request_head_is_rendered_for_the_strict_parser() {
        rt().block_on(async {
            let mut headers = tollgate_h2::Headers::new();
            headers.push("user-agent", "t");
            headers.push("host", "other.example");
            headers.push("expect", "100-continue");
            headers.push("content-length", "3");
            let req = Request::new(
                tollgate_h2::Version::H2,
                "POST",
                "/prod/x?a=1",
                Some("api.example"),
                Some("http"),
                headers,
            );
            let (tx, body) = tollgate_h2::channel(16);
            drop(tx);
            let w = worker();
            let mut held = pipeline::BodyBudget::new(&w);
            let r = render_request(&req, body, 100, (&mut held, 1 << 20))
                .await
                .ok()
                .unwrap();
            assert_eq!(
                String::from_utf8(r.buf.clone()).unwrap(),
                "POST /prod/x?a=1 HTTP/1.1\r\nhost: api.example\r\nuser-agent: t\r\ncontent-length: 3\r\n\r\n"
            );
            let head = r.check(&Default::default()).unwrap();
            assert_eq!(head.host.unwrap().slice(&r.buf), b"api.example");
            assert_eq!(head.framing, tollgate_http::BodyFraming::Length(3));
            // A value that would break the line is laid out as it is, and refused by the check.
            let mut bad = req.clone();
            bad.headers.push("x-evil", "a\r\nx-injected: 1");
            let (_tx, body) = tollgate_h2::channel(16);
            let r = render_request(&bad, body, 100, (&mut held, 1 << 20))
                .await
                .ok()
                .unwrap();
            let err = r.check(&Default::default()).unwrap_err();
            assert_eq!(err.status(), 400);
        });
    }

    /// A body without content-length is held before the pipeline runs: every byte counts in
    /// the worker's budget for bodies held before authentication, past it the stream is
    /// refused (503), and the bytes are given back when the stream is done.
    #[test]
    fn a_body_without_length_is_held_within_the_workers_budget() {
        rt().block_on(async {
            let w = worker();
            let req = Request::new(
                tollgate_h2::Version::H2,
                "POST",
                "/prod/x",
                Some("api.example"),
                Some("http"),
                tollgate_h2::Headers::default(),
            );
            let send = |n: usize| {
                let (mut tx, body) = tollgate_h2::channel(16);
                let chunk = Bytes::from(vec![b'a'; n]);
                (
                    async move {
                        for _ in 0..4 {
                            if tx.send(chunk.clone()).await.is_err() {
                                return;
                            }
                        }
                        tx.finish();
                    },
                    body,
                )
            };
            // 4 x 100 bytes within a 1000-byte budget: held, and counted.
            let (feed, body) = send(100);
            monoio::spawn(feed);
            let mut held = pipeline::BodyBudget::new(&w);
            let r = render_request(&req, body, 10_000, (&mut held, 1000)).await;
            assert!(r.is_ok());
            assert_eq!(w.body_held.get(), 400);
            // A second stream of 4 x 200 would take the worker to 1200: refused.
            let (feed, body) = send(200);
            monoio::spawn(feed);
            let mut other = pipeline::BodyBudget::new(&w);
            let r = render_request(&req, body, 10_000, (&mut other, 1000)).await;
            assert!(matches!(r, Err(RenderError::Busy)));
            drop(other);
            assert_eq!(w.body_held.get(), 400);
            drop(held);
            assert_eq!(w.body_held.get(), 0);
        });
    }

    /// A stream without `:authority` and with two Host fields (tollgate-h2 leaves both) is
    /// refused by the strict check, as HTTP/1.1 refuses two Hosts: the router never picks one.
    #[test]
    fn two_hosts_without_an_authority_are_refused() {
        rt().block_on(async {
            let w = worker();
            let mut headers = tollgate_h2::Headers::default();
            headers.push("host", "a.test");
            headers.push("host", "b.test");
            let req = Request::new(
                tollgate_h2::Version::H2,
                "GET",
                "/prod/x",
                None,
                Some("http"),
                headers,
            );
            let (tx, body) = tollgate_h2::channel(16);
            tx.finish();
            let mut held = pipeline::BodyBudget::new(&w);
            let r = render_request(&req, body, 100, (&mut held, 1 << 20))
                .await
                .ok()
                .unwrap();
            let err = r.check(&Default::default()).unwrap_err();
            assert_eq!(err.status(), 400);
        });
    }
}
