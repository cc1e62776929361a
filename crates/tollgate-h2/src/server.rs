//! [`serve_connection`]: one HTTP/2 server connection, one monoio task per stream.

use std::cell::Cell;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio_compat::StreamWrapper;

use crate::body::{Body, BodyError, BodyStream};
use crate::limits::H2Limits;
use crate::message::{Headers, Request, Response, Rest, Version};
use crate::meter::{Flood, FrameMeter, MeterState, MeteredIo};

/// Handles one request (one HTTP/2 stream). Runs in the stream's monoio task, so the future
/// need not be `Send`. When the client resets the stream before the answer, the future is
/// dropped, unless [`Handler::run_after_reset`] says otherwise.
pub trait Handler {
    /// Answers `req`, whose body is `body`.
    fn handle(&self, req: Request, body: Body) -> impl Future<Output = Response>;

    /// True when a stream's handler future, and then its answer's [`Response::with_rest`]
    /// work, run on to their end after the client reset the stream (the answer is dropped):
    /// for a handler that must account for every request it started. False (the default):
    /// the future is dropped at the reset.
    fn run_after_reset(&self) -> bool {
        false
    }
}

impl<T: Handler> Handler for Rc<T> {
    fn handle(&self, req: Request, body: Body) -> impl Future<Output = Response> {
        T::handle(self, req, body)
    }

    fn run_after_reset(&self) -> bool {
        T::run_after_reset(self)
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// The client closed it, or a graceful shutdown completed.
    Done,
    /// No preface and first frame (SETTINGS) within the handshake timeout.
    HandshakeTimeout,
    /// No open stream for the idle timeout: graceful GOAWAY.
    Idle,
    /// The caller's shutdown signal (the server drains): graceful GOAWAY, the streams already
    /// open were given [`H2Limits::drain_timeout`] to finish.
    Shutdown,
    /// The frame meter tripped: GOAWAY with ENHANCE_YOUR_CALM.
    Flood(Flood),
    /// h2 ended the connection: a protocol error or one of its own limits (GOAWAY with
    /// `reason`, e.g. ENHANCE_YOUR_CALM = 11 for a CONTINUATION flood or too many resets
    /// pending accept), or an I/O error (`reason` None).
    Error {
        /// The HTTP/2 error code, if any.
        reason: Option<u32>,
        /// True when the client sent the GOAWAY/RST.
        remote: bool,
        /// h2's description.
        message: String,
    },
}

/// What happened on one connection (for logs, metrics and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSummary {
    /// Streams handed to the handler.
    pub streams: u64,
    /// RST_STREAM frames received.
    pub resets_received: u64,
    /// PING/SETTINGS/PRIORITY frames received (not acknowledgements).
    pub control_frames: u64,
    /// Streams reset by the server because the client's window stayed closed past the send
    /// timeout.
    pub send_timeouts: u64,
    /// Streams refused (RST_STREAM REFUSED_STREAM, the handler never called) because the
    /// connection's handlers still running, those of reset streams included, were at their
    /// cap: twice [`H2Limits::max_concurrent_streams`].
    pub refused: u64,
    /// Why it ended.
    pub close: Close,
}

struct ConnState {
    /// Stream tasks still running: open streams, and those that go on after a reset or after
    /// their answer (a handler's rest).
    active: Cell<usize>,
    last_change: Cell<Instant>,
    send_timeouts: Cell<u64>,
    /// Woken when `active` falls to 0 (the connection waits for its tasks before it ends).
    all_done: Cell<Option<Waker>>,
}

struct ActiveGuard(Rc<ConnState>);

impl Drop for ActiveGuard {
    // The idle clock starts when the last open stream ends (one clock read then, none while
    // streams overlap).
    fn drop(&mut self) {
        let active = self.0.active.get().saturating_sub(1);
        self.0.active.set(active);
        if active == 0 {
            self.0.last_change.set(Instant::now());
            if let Some(w) = self.0.all_done.take() {
                w.wake();
            }
        }
    }
}

struct StreamCfg {
    /// The most stream tasks a connection runs at once (see [`ConnSummary::refused`]).
    max_tasks: usize,
    send_timeout: Duration,
    body_timeout: Duration,
    send_chunk: usize,
}

// Short-lived on the stack, one per poll: boxing the stream would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Event {
    Stream(http::Request<RecvStream>, SendResponse<Bytes>),
    Closed,
    Error(h2::Error),
    Flood(Flood),
    IdleCheck,
    Shutdown,
}

fn close_from(e: &h2::Error) -> Close {
    Close::Error {
        reason: e.reason().map(u32::from),
        remote: e.is_remote(),
        message: e.to_string(),
    }
}

/// Serves one HTTP/2 connection on `io` (after TLS with ALPN `h2`, or a plaintext stream that
/// starts with the preface; see [`crate::prefixed`]) until it closes, calling `handler` once
/// per stream in a task of its own. Must run inside a monoio runtime with timers enabled.
pub async fn serve_connection<IO, H>(io: IO, limits: H2Limits, handler: H) -> ConnSummary
where
    IO: AsyncReadRent + AsyncWriteRent + Unpin + 'static,
    H: Handler + 'static,
{
    serve_connection_until(io, limits, handler, std::future::pending::<()>()).await
}

/// [`serve_connection`] with a shutdown signal: when `shutdown` completes (the server drains),
/// the connection sends a graceful GOAWAY (h2's two-step one: first with the largest stream
/// id, then, after a PING round trip, with the last stream it accepted), serves the streams
/// already open for up to [`H2Limits::drain_timeout`], and closes ([`Close::Shutdown`]).
/// Before the handshake is done, the signal just ends the connection.
pub async fn serve_connection_until<IO, H, S>(
    io: IO,
    limits: H2Limits,
    handler: H,
    shutdown: S,
) -> ConnSummary
where
    IO: AsyncReadRent + AsyncWriteRent + Unpin + 'static,
    H: Handler + 'static,
    S: Future<Output = ()>,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let limits = limits.normalized();
    let meter_state = Rc::new(MeterState::default());
    let io = MeteredIo::new(
        StreamWrapper::new(io),
        FrameMeter::new(
            limits.max_resets_per_second,
            limits.max_control_frames_per_second,
        ),
        meter_state.clone(),
        limits.shutdown_timeout,
    );
    let conn_state = Rc::new(ConnState {
        active: Cell::new(0),
        last_change: Cell::new(Instant::now()),
        send_timeouts: Cell::new(0),
        all_done: Cell::new(None),
    });
    let mut summary = ConnSummary {
        streams: 0,
        resets_received: 0,
        control_frames: 0,
        send_timeouts: 0,
        refused: 0,
        close: Close::Done,
    };
    let finish = |mut s: ConnSummary, close: Close| {
        s.resets_received = meter_state.resets_total.get();
        s.control_frames = meter_state.control_total.get();
        s.send_timeouts = conn_state.send_timeouts.get();
        s.close = close;
        s
    };

    let send_buffer = limits.send_buffer_per_stream();
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(limits.max_header_list_size)
        .max_frame_size(limits.max_frame_size)
        .initial_window_size(limits.initial_stream_window)
        .initial_connection_window_size(limits.initial_connection_window)
        .max_send_buffer_size(send_buffer)
        .max_pending_accept_reset_streams(limits.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(Some(limits.max_local_error_resets))
        .max_concurrent_reset_streams(limits.max_concurrent_streams as usize);
    let handshake = builder.handshake::<_, Bytes>(io);
    let handshake = async {
        let mut handshake = std::pin::pin!(handshake);
        poll_fn(|cx| {
            if let Poll::Ready(r) = handshake.as_mut().poll(cx) {
                return Poll::Ready(Some(r));
            }
            shutdown.as_mut().poll(cx).map(|()| None)
        })
        .await
    };
    let mut conn = match monoio::time::timeout(limits.handshake_timeout, handshake).await {
        Err(_) => return finish(summary, Close::HandshakeTimeout),
        Ok(None) => return finish(summary, Close::Shutdown),
        Ok(Some(Err(e))) => return finish(summary, close_from(&e)),
        Ok(Some(Ok(c))) => c,
    };

    let cfg = Rc::new(StreamCfg {
        max_tasks: (limits.max_concurrent_streams as usize).saturating_mul(2),
        send_timeout: limits.send_timeout,
        body_timeout: limits.body_timeout,
        send_chunk: send_buffer,
    });
    let handler = Rc::new(handler);
    // Until the client's first frame (its SETTINGS) is in, the handshake deadline applies.
    let handshake_deadline = Instant::now() + limits.handshake_timeout;
    let mut idle = Box::pin(monoio::time::sleep_until(handshake_deadline.into()));
    let mut in_handshake = true;

    let close = loop {
        let event = poll_fn(|cx| {
            let accepted = conn.poll_accept(cx);
            if let Some(flood) = meter_state.tripped.get() {
                return Poll::Ready(Event::Flood(flood));
            }
            match accepted {
                Poll::Ready(Some(Ok((req, respond)))) => {
                    return Poll::Ready(Event::Stream(req, respond));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Event::Error(e)),
                Poll::Ready(None) => return Poll::Ready(Event::Closed),
                Poll::Pending => {}
            }
            if in_handshake && meter_state.saw_frame.get() {
                in_handshake = false;
                let next = conn_state.last_change.get().max(Instant::now()) + limits.idle_timeout;
                idle.as_mut().reset(next.into());
            }
            if idle.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::IdleCheck);
            }
            if shutdown.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Shutdown);
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Stream(req, respond) => {
                start_stream(&handler, &cfg, &conn_state, &mut summary, req, respond);
            }
            Event::Closed => break Close::Done,
            Event::Error(e) => break close_from(&e),
            Event::Flood(flood) => {
                log::debug!("h2: {flood:?} flood, GOAWAY ENHANCE_YOUR_CALM");
                conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                break Close::Flood(flood);
            }
            Event::Shutdown => {
                log::debug!("h2: shutting down, graceful GOAWAY");
                conn.graceful_shutdown();
                break Close::Shutdown;
            }
            Event::IdleCheck => {
                let now = Instant::now();
                if !meter_state.saw_frame.get() {
                    if now >= handshake_deadline {
                        conn.abrupt_shutdown(Reason::SETTINGS_TIMEOUT);
                        break Close::HandshakeTimeout;
                    }
                    idle.as_mut().reset(handshake_deadline.into());
                    continue;
                }
                let idle_since = conn_state.last_change.get();
                if conn_state.active.get() == 0
                    && now.duration_since(idle_since) >= limits.idle_timeout
                {
                    conn.graceful_shutdown();
                    break Close::Idle;
                }
                let next = if conn_state.active.get() == 0 {
                    idle_since + limits.idle_timeout
                } else {
                    now + limits.idle_timeout
                };
                idle.as_mut().reset(next.into());
            }
        }
    };
    match close {
        // h2 has already sent its GOAWAY, flushed and lingered.
        Close::Error { .. } => {}
        // Graceful: streams the client opened before it saw the GOAWAY are still served, and
        // the streams open go on; h2 ends the connection once they are all done.
        Close::Idle | Close::Shutdown => {
            let within = match close {
                Close::Idle => limits.shutdown_timeout,
                _ => limits.drain_timeout.max(limits.shutdown_timeout),
            };
            let drain = async {
                while let Some(Ok((req, respond))) = poll_fn(|cx| conn.poll_accept(cx)).await {
                    start_stream(&handler, &cfg, &conn_state, &mut summary, req, respond);
                }
            };
            let _ = monoio::time::timeout(within, drain).await;
        }
        // Flush the GOAWAY, then linger, within bounds.
        _ => {
            let _ =
                monoio::time::timeout(limits.shutdown_timeout, poll_fn(|cx| conn.poll_closed(cx)))
                    .await;
        }
    }
    // The connection is gone; its stream tasks still running (a handler that runs on after a
    // reset, a rest after the answer) end on their own, each within its own bounds. The
    // connection ends after them, so that whatever bounds connections (the caller's limit on
    // them) bounds this work too.
    drop(conn);
    poll_fn(|cx| {
        if conn_state.active.get() == 0 {
            return Poll::Ready(());
        }
        conn_state.all_done.set(Some(cx.waker().clone()));
        Poll::Pending
    })
    .await;
    finish(summary, close)
}

/// Starts a task for the stream, or refuses it when the connection's tasks are at their cap:
/// handlers of streams the client reset may still run ([`Handler::run_after_reset`]), and a
/// client that opens and resets streams would otherwise start work without bound. A refused
/// stream was never started; the client may retry it.
fn start_stream<H: Handler + 'static>(
    handler: &Rc<H>,
    cfg: &Rc<StreamCfg>,
    conn_state: &Rc<ConnState>,
    summary: &mut ConnSummary,
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    if conn_state.active.get() >= cfg.max_tasks {
        respond.send_reset(Reason::REFUSED_STREAM);
        summary.refused += 1;
        return;
    }
    summary.streams += 1;
    spawn_stream(handler, cfg, conn_state, req, respond);
}

fn spawn_stream<H: Handler + 'static>(
    handler: &Rc<H>,
    cfg: &Rc<StreamCfg>,
    conn_state: &Rc<ConnState>,
    req: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
) {
    conn_state.active.set(conn_state.active.get() + 1);
    let guard = ActiveGuard(conn_state.clone());
    let handler = handler.clone();
    let cfg = cfg.clone();
    // Boxed: the task then holds a pointer, not the ~2 KiB stream future, which monoio's task
    // machinery would otherwise move on spawning and again on completing.
    monoio::spawn(Box::pin(async move {
        serve_stream(&*handler, req, respond, &cfg, &guard.0).await;
        drop(guard);
    }));
}

/// The request head, converted from h2's.
fn request_from(parts: &http::request::Parts, stream_id: u32) -> Request {
    let (names, values) = parts.headers.iter().fold((0, 0), |(n, v), (name, value)| {
        (n + name.as_str().len(), v + value.len() + 2)
    });
    let mut headers = Headers::with_room(parts.headers.len(), names, values);
    let mut cookie: Option<Vec<u8>> = None;
    for (name, value) in parts.headers.iter() {
        if name == http::header::COOKIE {
            // RFC 9113 section 8.2.3: crumbs are joined with "; " for an HTTP/1-shaped world.
            match &mut cookie {
                Some(c) => {
                    c.extend_from_slice(b"; ");
                    c.extend_from_slice(value.as_bytes());
                }
                None => cookie = Some(value.as_bytes().to_vec()),
            }
            continue;
        }
        headers.push(name.as_str(), value.as_bytes());
    }
    if let Some(c) = cookie {
        headers.push("cookie", c);
    }
    let host;
    let authority = match parts.uri.authority() {
        Some(a) => Some(a.as_str()),
        // Without `:authority`, the one Host field stands for it. Several are not picked
        // from: the request keeps them all as fields, for the caller to refuse (as HTTP/1.1
        // refuses a request with two Hosts).
        None if parts.headers.get_all(http::header::HOST).iter().count() == 1 => {
            host = parts.headers.get(http::header::HOST);
            host.and_then(|h| h.to_str().ok())
        }
        None => None,
    };
    let mut r = Request::new(
        Version::H2,
        parts.method.as_str(),
        parts.uri.path_and_query().map_or("", |p| p.as_str()),
        authority,
        parts.uri.scheme_str(),
        headers,
    );
    r.stream_id = Some(stream_id);
    r
}

/// Header fields HTTP/2 forbids in a response (RFC 9113 section 8.2.2).
fn is_connection_specific(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade" | "te"
    )
}

/// Response fields whose value is new in every response (request and trace ids). HPACK
/// sends them as literals never indexed: entered in the connection's dynamic table they would
/// never be referenced again, only evict useful entries, and make every later lookup of the
/// same name compare against each of them.
fn is_unique_per_response(name: &str) -> bool {
    matches!(
        name,
        "x-amzn-requestid" | "x-amz-apigw-id" | "x-amzn-trace-id" | "x-request-id"
    )
}

/// Response field names the gateway sends on every answer that are not among `http`'s
/// standard names: taken from here, they cost no allocation per response.
const KNOWN_NAMES: [http::HeaderName; 3] = [
    http::HeaderName::from_static("x-amzn-requestid"),
    http::HeaderName::from_static("x-amz-apigw-id"),
    http::HeaderName::from_static("x-amzn-errortype"),
];

fn header_name(name: &str) -> Option<http::HeaderName> {
    if let Some(known) = KNOWN_NAMES.iter().find(|k| k.as_str() == name) {
        return Some(known.clone());
    }
    http::HeaderName::from_bytes(name.as_bytes()).ok()
}

/// The answer's head as h2's; its header fields are taken out of `resp` (their values go
/// over as slices of one buffer, without a copy each).
fn response_head(resp: &mut Response) -> http::Response<()> {
    let mut head = http::Response::new(());
    // Room for every field and a content-length: the map is built once, never regrown.
    *head.headers_mut() = http::HeaderMap::with_capacity(resp.headers.len() + 1);
    // A final response is never 1xx (informational responses are not offered).
    *head.status_mut() = match resp.status {
        200..=999 => http::StatusCode::from_u16(resp.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        _ => http::StatusCode::INTERNAL_SERVER_ERROR,
    };
    // A 204 carries no content-length (RFC 9110, 8.6); a 304's is the selected
    // representation's, so it is only passed on, never computed from the empty body.
    let no_content = resp.status == 204;
    let map = head.headers_mut();
    let mut has_length = false;
    let fields = std::mem::take(&mut resp.headers).into_shared();
    for (name, value) in fields.iter() {
        if is_connection_specific(name)
            || (no_content && name.eq_ignore_ascii_case("content-length"))
        {
            continue;
        }
        let (Some(n), Ok(mut v)) = (
            header_name(name),
            http::HeaderValue::from_maybe_shared(value),
        ) else {
            log::debug!("h2: dropping an invalid response header field");
            continue;
        };
        if is_unique_per_response(n.as_str()) {
            v.set_sensitive(true);
        }
        has_length |= n == http::header::CONTENT_LENGTH;
        map.append(n, v);
    }
    if !has_length
        && !no_content
        && resp.status != 304
        && let Some(len) = resp.body.exact_len()
    {
        map.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    }
    head
}

/// Runs `fut` unless the client resets the stream first (then `None`, and `fut` is dropped).
async fn unless_reset<F: Future>(fut: F, respond: &mut SendResponse<Bytes>) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if respond.poll_reset(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

async fn serve_stream<H: Handler>(
    handler: &H,
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    cfg: &StreamCfg,
    state: &ConnState,
) {
    let (parts, recv) = req.into_parts();
    let no_body_reply = parts.method == http::Method::HEAD;
    let request = request_from(&parts, respond.stream_id().as_u32());
    let body = if recv.is_end_stream() {
        Body::empty()
    } else {
        let exact = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Body::stream(H2RecvBody::new(recv, cfg.body_timeout, exact))
    };
    drop(parts);
    let reset = request.reset.clone();
    let mut answer = std::pin::pin!(handler.handle(request, body));
    let Some(mut response) = unless_reset(answer.as_mut(), &mut respond).await else {
        reset.set();
        if handler.run_after_reset() {
            // The answer (and a body channel it holds) goes first, so the rest's writes fail.
            let rest = answer.await.take_rest();
            if let Some(rest) = rest {
                rest.await;
            }
        }
        return;
    };
    let rest = response.take_rest();
    let head = response_head(&mut response);
    let status = head.status().as_u16();
    let skip_body = no_body_reply || status == 204 || status == 304;
    let end = skip_body || response.body.is_end_stream();
    let body = std::mem::take(&mut response.body);
    drop(response);
    match (respond.send_response(head, end), end) {
        (Ok(send), false) => send_then_rest(send, body, rest, cfg, state).await,
        _ => {
            // No body to send (or the stream is gone): the rest only has to end. A body it
            // would feed is dropped first, so its writes fail.
            drop(body);
            if let Some(rest) = rest {
                rest.await;
            }
        }
    }
}

/// A boxed future that may borrow.
type Local<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Sends the answer's body, and drives the handler's rest alongside and to its end.
///
/// A whole body of at most the per-stream send buffer (the common small answer) is handed to
/// h2 at once with END_STREAM: h2 holds it until the client's window allows, within the same
/// bound as a streamed body's reserved capacity (a stalled client then holds the stream until
/// the connection's idle and shutdown timeouts, not the send timeout). Anything else is sent
/// as the window allows ([`send_body`]), in a future boxed apart so that the stream's task
/// (moved into place at each spawn) stays small.
async fn send_then_rest(
    mut send: SendStream<Bytes>,
    mut body: Body,
    rest: Option<Rest>,
    cfg: &StreamCfg,
    state: &ConnState,
) {
    if let Some(whole) = body.whole(cfg.send_chunk) {
        let _ = send.send_data(whole, true);
        drop(send);
        if let Some(rest) = rest {
            rest.await;
        }
        return;
    }
    let sending: Local<'_> = Box::pin(async move {
        // The body goes with the sending: dropped as soon as that is over (a reset), so a
        // producer in the rest sees its writes fail instead of waiting for the client.
        send_body(&mut send, &mut body, cfg, state).await
    });
    match rest {
        Some(rest) => alongside(sending, rest).await,
        None => sending.await,
    }
}

/// Runs `send` and `rest` together until both are done; `send` is dropped as soon as it is.
async fn alongside(send: Local<'_>, mut rest: Rest) {
    let mut send = Some(send);
    let mut rest_done = false;
    poll_fn(|cx| {
        if let Some(f) = send.as_mut()
            && f.as_mut().poll(cx).is_ready()
        {
            send = None;
        }
        let send_done = send.is_none();
        if !rest_done {
            rest_done = rest.as_mut().poll(cx).is_ready();
        }
        if send_done && rest_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Sends `body` within the client's flow-control window: only as many bytes as h2 grants
/// capacity for are handed over, so a stalled client holds at most the per-stream send buffer;
/// no capacity for the send timeout resets the stream.
async fn send_body(
    send: &mut SendStream<Bytes>,
    body: &mut Body,
    cfg: &StreamCfg,
    state: &ConnState,
) {
    loop {
        let next = poll_fn(|cx| {
            if send.poll_reset(cx).is_ready() {
                return Poll::Ready(Err(()));
            }
            body.poll_chunk(cx).map(Ok)
        })
        .await;
        let mut chunk = match next {
            Err(()) => return,
            Ok(None) => {
                let _ = send.send_data(Bytes::new(), true);
                return;
            }
            Ok(Some(Err(e))) => {
                log::debug!("h2: response body failed: {e}");
                send.send_reset(Reason::INTERNAL_ERROR);
                return;
            }
            Ok(Some(Ok(c))) => c,
        };
        while !chunk.is_empty() {
            send.reserve_capacity(chunk.len().min(cfg.send_chunk));
            let granted =
                monoio::time::timeout(cfg.send_timeout, poll_fn(|cx| send.poll_capacity(cx))).await;
            let n = match granted {
                Err(_) => {
                    state.send_timeouts.set(state.send_timeouts.get() + 1);
                    log::debug!("h2: no window for {:?}, stream reset", cfg.send_timeout);
                    send.send_reset(Reason::CANCEL);
                    return;
                }
                Ok(None) | Ok(Some(Err(_))) => return,
                Ok(Some(Ok(n))) => n,
            };
            if n == 0 {
                continue;
            }
            let part = chunk.split_to(n.min(chunk.len()));
            let last = chunk.is_empty() && body.is_end_stream();
            if send.send_data(part, last).is_err() {
                return;
            }
            if last {
                return;
            }
        }
    }
}

/// A request body read from an HTTP/2 stream; each chunk's bytes are given back to the
/// client's window as the handler takes them.
struct H2RecvBody {
    recv: RecvStream,
    timeout: Duration,
    sleep: Option<Pin<Box<monoio::time::Sleep>>>,
    exact: Option<u64>,
}

impl H2RecvBody {
    fn new(recv: RecvStream, timeout: Duration, exact: Option<u64>) -> H2RecvBody {
        H2RecvBody {
            recv,
            timeout,
            sleep: None,
            exact,
        }
    }
}

impl BodyStream for H2RecvBody {
    fn poll_chunk(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BodyError>>> {
        let this = self.get_mut();
        match this.recv.poll_data(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let _ = this.recv.flow_control().release_capacity(chunk.len());
                this.sleep = None;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(BodyError::Reset(e.to_string())))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(monoio::time::sleep(timeout)));
                if sleep.as_mut().poll(cx).is_ready() {
                    this.sleep = None;
                    return Poll::Ready(Some(Err(BodyError::Timeout)));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    fn exact_len(&self) -> Option<u64> {
        self.exact
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, hosts: &[&str]) -> http::request::Parts {
        let mut b = http::Request::builder().uri(uri);
        for h in hosts {
            b = b.header("host", *h);
        }
        b.body(()).unwrap().into_parts().0
    }

    /// Without `:authority` the one Host stands for it; several are never picked from: the
    /// request has no authority and keeps them all, for the caller to refuse.
    #[test]
    fn one_host_stands_for_the_authority_several_do_not() {
        let r = request_from(&parts("/x", &["a.test"]), 1);
        assert_eq!(r.authority(), Some("a.test"));
        let r = request_from(&parts("/x", &["a.test", "b.test"]), 1);
        assert_eq!(r.authority(), None);
        let hosts: Vec<&[u8]> = r.headers.get_all("host").collect();
        assert_eq!(hosts, [&b"a.test"[..], &b"b.test"[..]]);
        // `:authority` wins over any Host.
        let r = request_from(&parts("http://c.test/x", &["a.test", "b.test"]), 1);
        assert_eq!(r.authority(), Some("c.test"));
    }

    #[test]
    fn response_head_drops_connection_fields_and_adds_length() {
        let mut resp = Response::new(201, Body::from("abc"))
            .with_header("Connection", "close")
            .with_header("transfer-encoding", "chunked")
            .with_header("x-ok", "1")
            .with_header("bad name", "x")
            .with_header("x-bad-value", b"a\r\nb");
        let head = response_head(&mut resp);
        assert_eq!(head.status(), 201);
        let names: Vec<&str> = head.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["x-ok", "content-length"]);
        assert_eq!(head.headers()["content-length"], "3");
        assert!(!head.headers()["x-ok"].is_sensitive());
    }

    #[test]
    fn request_ids_are_never_indexed() {
        let mut resp = Response::new(200, Body::empty())
            .with_header("x-amzn-RequestId", "9591d96e")
            .with_header("content-type", "application/json");
        let head = response_head(&mut resp);
        assert!(head.headers()["x-amzn-requestid"].is_sensitive());
        assert!(!head.headers()["content-type"].is_sensitive());
    }

    #[test]
    fn response_head_never_sends_a_1xx_or_invalid_status() {
        for bad in [0, 99, 100, 101, 1000] {
            assert_eq!(
                response_head(&mut Response::new(bad, Body::empty())).status(),
                500
            );
        }
        let mut keeps = Response::new(200, Body::empty()).with_header("content-length", "0");
        assert_eq!(
            response_head(&mut keeps)
                .headers()
                .get_all("content-length")
                .iter()
                .count(),
            1
        );
    }

    #[test]
    fn a_204_has_no_content_length_and_a_304_only_the_one_given() {
        for given in [None, Some("0")] {
            let mut r = Response::new(204, Body::empty());
            if let Some(v) = given {
                r = r.with_header("content-length", v);
            }
            assert!(
                response_head(&mut r)
                    .headers()
                    .get("content-length")
                    .is_none()
            );
        }
        let mut r = Response::new(304, Body::empty());
        assert!(
            response_head(&mut r)
                .headers()
                .get("content-length")
                .is_none()
        );
        let mut r = Response::new(304, Body::empty()).with_header("content-length", "42");
        assert_eq!(response_head(&mut r).headers()["content-length"], "42");
    }

    #[test]
    fn request_head_joins_cookie_crumbs_and_takes_authority() {
        let req = http::Request::builder()
            .method("POST")
            .uri("https://api.example/prod/items?x=1")
            .header("cookie", "a=1")
            .header("x-h", "v")
            .header("cookie", "b=2")
            .body(())
            .unwrap_or_default();
        let (parts, ()) = req.into_parts();
        let r = request_from(&parts, 7);
        assert_eq!(r.method(), "POST");
        assert_eq!(r.path(), "/prod/items?x=1");
        assert_eq!(r.authority(), Some("api.example"));
        assert_eq!(r.scheme(), Some("https"));
        assert_eq!(r.headers.get("cookie"), Some(&b"a=1; b=2"[..]));
        assert_eq!(r.headers.get("x-h"), Some(&b"v"[..]));
        assert_eq!(r.stream_id, Some(7));
        assert_eq!(r.version, Version::H2);
    }
}
