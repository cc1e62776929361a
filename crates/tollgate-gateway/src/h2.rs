//! HTTP/2 connections (h2c by prior knowledge now; h2 by ALPN once TLS hands over): every
//! stream is one request through the same pipeline as HTTP/1 (route -> prepare -> authorize
//! -> integrate -> finish), with its own request id, access-log line and metrics.
//!
//! `tollgate-h2` runs the connection and calls [`H2Conn::handle`] once per stream. The
//! pipeline's request side still works on an HTTP/1 head in the connection's buffer, so the
//! stream's head is rendered into a buffer in HTTP/1 form and parsed by the same strict
//! parser (the same limits and checks apply), and its body is read from the stream's flow-
//! controlled [`Body`] (announced by its `content-length`, or buffered within
//! `max_body_bytes` when the client sent none). The pipeline still writes its answer through
//! the HTTP/1 writer, so [`H2Io`]'s [`Wire`] side parses that head back (`tollgate-http`'s
//! response parser), drops the connection-specific fields, and feeds the body to the
//! stream's response body channel, whose `send` waits for the client's window
//! (backpressure up to the proxied upstream).

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use monoio::buf::{IoBufMut, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use tollgate_h2::{Body, BodySender, ConnSummary, H2Limits, Handler, Request, Response};
use tollgate_http::{ChunkedDecoder, HttpError, ResponseFraming, Step, parse_request};

use crate::error::GatewayError;
use crate::idle::IdleEnd;
use crate::io::Wire;
use crate::pipeline::{self, Conn, reply_error_default};
use crate::snapshot::Snapshot;
use crate::state::Worker;

/// Largest response head the pipeline may hand over (an upstream's head included).
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
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

impl Handler for H2Conn {
    async fn handle(&self, req: Request, body: Body) -> Response {
        let (tx, rx) = oneshot();
        // The pipeline runs in its own task: it keeps feeding the response body after the
        // head has gone back to `tollgate-h2`. A reset stream drops this future and `rx`;
        // the task then sees its writes fail and ends.
        monoio::spawn(run_stream(
            self.w.clone(),
            self.facts.clone(),
            req,
            body,
            tx,
        ));
        match rx.await {
            Some(resp) => resp,
            None => Response::new(500, Body::empty()),
        }
    }
}

/// One stream, one request: render its head in HTTP/1 form, parse it strictly, run the
/// pipeline, end the response body.
async fn run_stream(
    w: Rc<Worker>,
    facts: ConnFacts,
    req: Request,
    body: Body,
    tx: OneshotSender<Response>,
) {
    let snap = w.snapshot();
    let is_head = req.method.eq_ignore_ascii_case("HEAD");
    let (head_bytes, source) = match render_request(&req, body, snap.max_body_bytes).await {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Response::new(
                400,
                Body::from(format!("{e}\n").into_bytes()),
            ));
            return;
        }
    };
    let mut c = Conn {
        stream: H2Io {
            source,
            out: Out::Head {
                buf: Vec::new(),
                tx: Some(tx),
                is_head,
            },
        },
        buf: head_bytes,
        out: Vec::with_capacity(1024),
        local: facts.local,
        source_ip: facts.source_ip,
        vpce_id: facts.vpce_id,
        protocol: Some("HTTP/2.0"),
        client_cert: None,
    };
    match parse_request(&c.buf, &snap.limits) {
        Ok(Some(head)) => {
            let _ = pipeline::run(&w, &mut c, &snap, head).await;
        }
        Ok(None) => bad_request(&w, &mut c, GatewayError::bad_request()).await,
        Err(e) => bad_request(&w, &mut c, protocol_error(e)).await,
    }
    c.stream.out.finish();
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

/// The stream's head in HTTP/1 form, and where its body comes from. A body whose length the
/// client announced (`content-length`, checked by h2 against the DATA received) is streamed;
/// one without is buffered up to `max_body` (one byte more is announced past it, so the
/// pipeline answers 413 as it does for HTTP/1).
async fn render_request(
    req: &Request,
    mut body: Body,
    max_body: u64,
) -> Result<(Vec<u8>, Source), &'static str> {
    let mut h = Vec::with_capacity(512);
    h.extend_from_slice(req.method.as_bytes());
    h.push(b' ');
    h.extend_from_slice(req.path.as_bytes());
    h.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(a) = &req.authority {
        h.extend_from_slice(b"host: ");
        h.extend_from_slice(a.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    for (name, value) in req.headers.iter() {
        if skipped(name, req.authority.is_some()) {
            continue;
        }
        if value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err("invalid header value");
        }
        h.extend_from_slice(name.as_bytes());
        h.extend_from_slice(b": ");
        h.extend_from_slice(value);
        h.extend_from_slice(b"\r\n");
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
        match take_all(&mut body, limit).await? {
            Some(b) => (b.len() as u64, Source::Bytes(b)),
            None => (max_body.saturating_add(1), Source::Bytes(Bytes::new())),
        }
    };
    if len > 0 {
        h.extend_from_slice(format!("content-length: {len}\r\n").as_bytes());
    }
    h.extend_from_slice(b"\r\n");
    Ok((h, source))
}

/// The whole body within `limit` bytes (`None`: more than that).
async fn take_all(body: &mut Body, limit: usize) -> Result<Option<Bytes>, &'static str> {
    let mut all = Vec::new();
    while let Some(chunk) = body.chunk().await {
        let chunk = chunk.map_err(|_| "request body broken off")?;
        if all.len() + chunk.len() > limit {
            return Ok(None);
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
    async fn send_all(
        &mut self,
        data: Vec<u8>,
        _deadline: Option<Instant>,
    ) -> (io::Result<()>, Vec<u8>) {
        let res = self.out.feed(&data).await;
        (res, data)
    }

    async fn send_range(
        &mut self,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
        _deadline: Option<Instant>,
    ) -> (io::Result<()>, Vec<u8>) {
        let res = match buf.get(range) {
            Some(piece) => self.out.feed(piece).await,
            None => Ok(()),
        };
        (res, buf)
    }
}

/// The answer as it is turned from the HTTP/1 writer's bytes into an HTTP/2 response.
enum Out {
    /// Waiting for the whole head.
    Head {
        buf: Vec<u8>,
        tx: Option<OneshotSender<Response>>,
        is_head: bool,
    },
    /// The head went out; the body follows.
    Body {
        sender: BodySender,
        framing: BodyFraming,
        /// Chunked bytes not decoded yet.
        pend: Vec<u8>,
    },
    /// Complete: anything more is ignored.
    Done,
}

enum BodyFraming {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilEnd,
}

fn broken(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, why)
}

impl Out {
    async fn feed(&mut self, data: &[u8]) -> io::Result<()> {
        if matches!(self, Out::Head { .. }) {
            return match self.start(data)? {
                Some(rest) => self.feed_body(&rest).await,
                None => Ok(()),
            };
        }
        self.feed_body(data).await
    }

    /// More head bytes: once the head is whole, the response goes to the stream's handler.
    /// `Some(rest)`: the body started; `rest` are its first bytes.
    fn start(&mut self, data: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let Out::Head { buf, tx, is_head } = self else {
            return Ok(None);
        };
        buf.extend_from_slice(data);
        let Some((resp, framing, rest)) = take_head(buf, *is_head)? else {
            return Ok(None);
        };
        let Some(tx) = tx.take() else {
            return Err(broken("answer already sent"));
        };
        let Some(framing) = framing else {
            tx.send(resp).map_err(|_| broken("stream reset"))?;
            *self = Out::Done;
            return Ok(None);
        };
        let (sender, body) = tollgate_h2::channel(RESPONSE_QUEUE);
        tx.send(Response { body, ..resp })
            .map_err(|_| broken("stream reset"))?;
        *self = Out::Body {
            sender,
            framing,
            pend: Vec::new(),
        };
        Ok(Some(rest))
    }

    /// Body bytes, decoded by the head's framing and sent as the client's window allows.
    async fn feed_body(&mut self, data: &[u8]) -> io::Result<()> {
        let Out::Body {
            sender,
            framing,
            pend,
        } = self
        else {
            return Ok(());
        };
        let done = match framing {
            BodyFraming::Length(remaining) => {
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let piece = data.get(..n).unwrap_or_default();
                if !piece.is_empty() {
                    send(sender, piece).await?;
                }
                *remaining -= n as u64;
                *remaining == 0
            }
            BodyFraming::UntilEnd => {
                if !data.is_empty() {
                    send(sender, data).await?;
                }
                false
            }
            BodyFraming::Chunked(d) => {
                pend.extend_from_slice(data);
                let mut done = false;
                while !pend.is_empty() && !done {
                    match d.step(pend).map_err(|_| broken("bad chunked framing"))? {
                        Step::NeedMore { consumed } => {
                            pend.drain(..consumed.min(pend.len()));
                            break;
                        }
                        Step::Data { consumed, data } => {
                            if let Some(piece) = pend.get(data) {
                                send(sender, piece).await?;
                            }
                            pend.drain(..consumed.min(pend.len()));
                        }
                        Step::Done { .. } => done = true,
                    }
                }
                done
            }
        };
        if done && let Out::Body { sender, .. } = std::mem::replace(self, Out::Done) {
            sender.finish();
        }
        Ok(())
    }

    /// The pipeline is over: a body of unknown length ends here; one cut short is aborted
    /// (the stream is reset); no answer at all is a 502.
    fn finish(&mut self) {
        match std::mem::replace(self, Out::Done) {
            Out::Head { tx: Some(tx), .. } => {
                let _ = tx.send(Response::new(502, Body::empty()));
            }
            Out::Body {
                sender,
                framing: BodyFraming::UntilEnd,
                ..
            } => sender.finish(),
            // Dropping the sender without `finish` resets the stream.
            _ => {}
        }
    }
}

async fn send(sender: &mut BodySender, piece: &[u8]) -> io::Result<()> {
    sender
        .send(Bytes::copy_from_slice(piece))
        .await
        .map_err(|_| broken("stream reset"))
}

/// A response head taken from the writer's bytes: the response (empty body), its body
/// framing (`None`: no body) and the bytes after the head.
type Taken = (Response, Option<BodyFraming>, Vec<u8>);

/// A whole head in `buf`: the response (empty body), its body framing (`None`: no body) and
/// the bytes after it. Interim (1xx) answers are skipped.
fn take_head(buf: &mut Vec<u8>, is_head: bool) -> io::Result<Option<Taken>> {
    loop {
        let rh = match tollgate_http::parse_response(buf, MAX_RESPONSE_HEAD, is_head) {
            Ok(Some(rh)) => rh,
            Ok(None) => return Ok(None),
            Err(_) => return Err(broken("unreadable response head")),
        };
        if rh.is_interim() {
            buf.drain(..rh.head_len.min(buf.len()));
            continue;
        }
        let mut resp = Response::new(rh.status, Body::empty());
        for h in &rh.headers {
            let name = h.name.slice(buf);
            if tollgate_http::is_hop_by_hop(name)
                || name.eq_ignore_ascii_case(b"transfer-encoding")
                || name.eq_ignore_ascii_case(b"connection")
            {
                continue;
            }
            resp.headers
                .push(String::from_utf8_lossy(name), h.value.slice(buf).to_vec());
        }
        let framing = match rh.framing {
            ResponseFraming::None | ResponseFraming::Length(0) => None,
            ResponseFraming::Length(n) => Some(BodyFraming::Length(n)),
            ResponseFraming::Chunked => Some(BodyFraming::Chunked(ChunkedDecoder::new())),
            ResponseFraming::UntilClose => Some(BodyFraming::UntilEnd),
        };
        let rest = buf.get(rh.head_len..).unwrap_or_default().to_vec();
        return Ok(Some((resp, framing, rest)));
    }
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

    /// Feeds `wire` to a fresh `Out` in pieces of `step` bytes; returns the response and its body.
    async fn through(wire: &[u8], step: usize, is_head: bool) -> (Response, Result<Bytes, String>) {
        let (tx, rx) = oneshot();
        let mut out = Out::Head {
            buf: Vec::new(),
            tx: Some(tx),
            is_head,
        };
        for piece in wire.chunks(step) {
            out.feed(piece).await.unwrap();
        }
        out.finish();
        let mut resp = rx.await.unwrap();
        let body = std::mem::replace(&mut resp.body, Body::empty());
        (resp, body.collect(1 << 20).await.map_err(|e| e.to_string()))
    }

    #[test]
    fn a_chunked_answer_in_small_pieces_becomes_one_body_without_framing_headers() {
        rt().block_on(async {
            let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\nx-amzn-RequestId: r1\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
            for step in [1, 3, 7, wire.len()] {
                let (resp, body) = through(wire, step, false).await;
                assert_eq!(resp.status, 200);
                assert_eq!(resp.headers.get("content-type"), Some(&b"text/plain"[..]));
                assert_eq!(resp.headers.get("x-amzn-requestid"), Some(&b"r1"[..]));
                assert!(resp.headers.get("transfer-encoding").is_none());
                assert!(resp.headers.get("connection").is_none());
                assert_eq!(body.unwrap(), &b"hello, world"[..]);
            }
        });
    }

    #[test]
    fn a_length_answer_keeps_its_length_and_ignores_bytes_past_it() {
        rt().block_on(async {
            let wire = b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\n\r\nnopeEXTRA";
            let (resp, body) = through(wire, 2, false).await;
            assert_eq!(resp.status, 404);
            assert_eq!(resp.headers.get("content-length"), Some(&b"4"[..]));
            assert_eq!(body.unwrap(), &b"nope"[..]);
        });
    }

    #[test]
    fn a_body_cut_short_is_aborted_and_no_answer_is_a_502() {
        rt().block_on(async {
            let (_, body) = through(
                b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc",
                100,
                false,
            )
            .await;
            assert!(body.is_err(), "{body:?}");
            let (resp, body) = through(b"", 1, false).await;
            assert_eq!(resp.status, 502);
            assert!(body.unwrap().is_empty());
            // The answer to HEAD has no body whatever its content-length says.
            let (resp, body) =
                through(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", 5, true).await;
            assert_eq!(resp.status, 200);
            assert!(body.unwrap().is_empty());
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
            let req = Request {
                version: tollgate_h2::Version::H2,
                method: "POST".into(),
                path: "/prod/x?a=1".into(),
                authority: Some("api.example".into()),
                scheme: Some("http".into()),
                headers,
                stream_id: Some(1),
            };
            let (tx, body) = tollgate_h2::channel(16);
            drop(tx);
            let (head, _) = render_request(&req, body, 100).await.unwrap();
            assert_eq!(
                String::from_utf8(head).unwrap(),
                "POST /prod/x?a=1 HTTP/1.1\r\nhost: api.example\r\nuser-agent: t\r\ncontent-length: 3\r\n\r\n"
            );
            let mut bad = req.clone();
            bad.headers.push("x-evil", "a\r\nx-injected: 1");
            let (_tx, body) = tollgate_h2::channel(16);
            assert!(render_request(&bad, body, 100).await.is_err());
        });
    }
}
