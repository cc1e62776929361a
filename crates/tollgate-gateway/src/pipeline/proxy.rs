//! `http_proxy`: forward a request to its upstream over a per-worker keep-alive pool, with
//! both bodies streamed (never buffered whole), and the response streamed back.

use std::collections::BTreeMap;
use std::io;
use std::time::{Duration, Instant};

use tollgate_http::{
    BodyFraming, RequestHead, ResponseFraming, ResponseHead, connection_tokens, is_hop_by_hop,
};

use tollgate_config::{ContextExpr, IdentityField};

use crate::auth::AuthContext;
use crate::body::{BodyReader, read_more};
use crate::client::{self, HeadError, PoolKey, Upstream, Url};
use crate::error::GatewayError;
use crate::http1::{self, BodyEnd};
use crate::ids::RequestId;
use crate::io::{fill, write_all, write_range};
use crate::metrics::UpstreamError;
use crate::response::{self, BodyLen, BodyStream};
use crate::router::OwnedMatch;
use crate::snapshot::{ProxyRt, Snapshot};
use crate::state::Worker;
use crate::wire;

use super::request_body::{Http1Body, read_failure};
use super::upstream_body::UpstreamBody;
use super::{Conn, Stream};

/// Largest response body written together with its head.
const INLINE_BODY_MAX: u64 = 16 * 1024;
/// Most bytes of an upstream response head.
const MAX_UPSTREAM_HEAD: usize = 64 * 1024;
/// Largest Content-Length body kept for a retry on a fresh upstream connection.
const MAX_REPLAY_BODY: u64 = 64 * 1024;
/// Largest Content-Length body read whole before an upstream connection is taken.
const PREREAD_BODY_MAX: u64 = 8 * 1024;

pub(crate) struct Done {
    pub status: u16,
    /// Response body bytes sent to the client.
    pub bytes: usize,
    pub keep: bool,
    /// The upstream broke off (or sent a malformed) body after the head was sent.
    pub cut_short: bool,
    /// The client closed its connection (or reset its stream) before the answer was written.
    pub client_gone: bool,
}

/// What became of the request body when forwarding failed before a response was sent.
pub(crate) enum BodyState {
    Untouched(BodyReader),
    Consumed,
    Broken,
}

pub(crate) struct Failed {
    pub err: GatewayError,
    pub body_state: BodyState,
}

/// 502 for the reason `why` (logged, never sent).
fn bad_gateway(why: impl Into<std::borrow::Cow<'static, str>>) -> GatewayError {
    GatewayError::integration_failure(why)
}

fn timed_out(doing: &'static str) -> GatewayError {
    GatewayError::integration_timeout(format!("upstream timed out {doing}"))
}

/// 504 for a timeout, else 502; `doing` names the step that failed (for the logs).
fn io_failure(w: &Worker, e: &io::Error, doing: &'static str) -> GatewayError {
    if e.kind() == io::ErrorKind::TimedOut {
        w.metrics.upstream_error(UpstreamError::Timeout);
        timed_out(doing)
    } else {
        w.metrics.upstream_error(UpstreamError::Connect);
        bad_gateway(format!("upstream failed {doing}: {e}"))
    }
}

/// Build the upstream URL from the template.
fn render_uri(
    p: &ProxyRt,
    m: &OwnedMatch<'_>,
    stage_vars: Option<&BTreeMap<String, String>>,
) -> String {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    p.uri.render(
        |name| {
            m.params
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        },
        stage_vars.unwrap_or(&EMPTY),
    )
}

fn identity_name(f: IdentityField) -> &'static str {
    f.name()
}

fn ctx_value<'a>(
    e: &'a ContextExpr,
    ctx: &'a AuthContext,
    stage_vars: Option<&'a BTreeMap<String, String>>,
    rid: &'a RequestId,
) -> Option<&'a str> {
    match e {
        ContextExpr::RequestId => Some(rid.as_str()),
        ContextExpr::PrincipalId => ctx.principal_id.as_deref(),
        ContextExpr::AuthorizerContext(k) => ctx
            .authorizer
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str()),
        ContextExpr::Claim(k) => ctx
            .claims
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str()),
        ContextExpr::Identity(f) => {
            let name = identity_name(*f);
            ctx.identity
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        }
        ContextExpr::StageVariable(k) => stage_vars.and_then(|s| s.get(k)).map(String::as_str),
        ContextExpr::Static(v) => Some(v.as_str()),
    }
}

/// Whether a mapped value may be sent as a header value: no control character at all
/// (C0 but HTAB, DEL, C1 such as NEL) and no Unicode line or paragraph separator. CR/LF
/// would split the header; the others are read as line ends or dropped differently by
/// different backends. A value that fails is not sent (the header is omitted).
fn header_value_ok(v: &str) -> bool {
    !v.chars()
        .any(|ch| (ch.is_control() && ch != '\t') || ch == '\u{2028}' || ch == '\u{2029}')
}

/// Header names equal once case is ignored and `_` is read as `-`: the way CGI, WSGI and
/// Rack backends name headers (`X_Principal_Id` and `x-principal-id` are both
/// `HTTP_X_PRINCIPAL_ID`).
fn same_folded(a: &[u8], b: &[u8]) -> bool {
    let fold = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| fold(*x) == fold(*y))
}

/// Headers tollgate sets on every upstream request itself: a client header that folds to
/// one of these names is dropped (`X-Forwarded-For` is merged only in its exact spelling).
const GATEWAY_SET: [&[u8]; 5] = [
    b"host",
    b"content-length",
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-port",
];

/// The request head sent upstream.
fn build_head<S>(c: &Conn<S>, f: &Forward<'_>, authority: &str, path_q: &str) -> Vec<u8> {
    let (head, p, ctx, stage_vars) = (f.head, f.p, f.ctx, f.stage_vars);
    let buf = &c.buf;
    let mut out = Vec::with_capacity(head.head_len + 256);
    out.extend_from_slice(head.method.slice(buf));
    out.push(b' ');
    out.extend_from_slice(path_q.as_bytes());
    if let Some(q) = head.query {
        let q = q.slice(buf);
        if !q.is_empty() {
            out.push(if path_q.contains('?') { b'&' } else { b'?' });
            out.extend_from_slice(q);
        }
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    wire::header(&mut out, b"host", authority.as_bytes());
    let listed: Vec<&[u8]> = head
        .headers_named(buf, b"connection")
        .flat_map(connection_tokens)
        .collect();
    let mut xff: Vec<u8> = Vec::new();
    for h in &head.headers {
        let name = h.name.slice(buf);
        let value = h.value.slice(buf);
        let exact_xff = name.eq_ignore_ascii_case(b"x-forwarded-for");
        // A mapped name or one tollgate sets is never taken from the client, in any spelling
        // a backend folds to it, whether or not the mapping has a value for this request.
        if is_hop_by_hop(name)
            || listed.iter().any(|t| t.eq_ignore_ascii_case(name))
            || name.eq_ignore_ascii_case(b"expect")
            || (!exact_xff && GATEWAY_SET.iter().any(|n| same_folded(n, name)))
            || p.request_headers
                .iter()
                .any(|(n, _)| same_folded(n.as_bytes(), name))
            || p.drop_headers
                .iter()
                .any(|n| same_folded(n.as_bytes(), name))
        {
            continue;
        }
        if exact_xff {
            if !xff.is_empty() {
                xff.extend_from_slice(b", ");
            }
            xff.extend_from_slice(value);
            continue;
        }
        wire::header(&mut out, name, value);
    }
    if !xff.is_empty() {
        xff.extend_from_slice(b", ");
    }
    xff.extend_from_slice(c.source_ip.to_string().as_bytes());
    wire::header(&mut out, b"x-forwarded-for", &xff);
    // API Gateway's own edge is HTTPS-only and says `https`; a plain listener says `http`.
    let proto: &[u8] = if c.https { b"https" } else { b"http" };
    wire::header(&mut out, b"x-forwarded-proto", proto);
    wire::header_usize(&mut out, b"x-forwarded-port", usize::from(c.local.port()));
    for (name, e) in &p.request_headers {
        if let Some(v) = ctx_value(e, ctx, stage_vars, f.rid)
            && header_value_ok(v)
        {
            wire::header(&mut out, name.as_bytes(), v.as_bytes());
        }
    }
    match head.framing {
        BodyFraming::Length(n) => wire::header_usize(&mut out, b"content-length", n as usize),
        BodyFraming::Chunked => wire::header(&mut out, b"transfer-encoding", b"chunked"),
        BodyFraming::None => {}
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The inputs of one `http_proxy` exchange.
pub(crate) struct Forward<'a> {
    pub snap: &'a Snapshot,
    pub head: &'a RequestHead,
    pub m: &'a OwnedMatch<'a>,
    pub p: &'a ProxyRt,
    pub stage_vars: Option<&'a BTreeMap<String, String>>,
    pub ctx: &'a AuthContext,
    /// Whether the client connection may be kept after the answer.
    pub keep_client: bool,
    pub rid: &'a RequestId,
}

/// Forward the request (head in `c.buf`, body still to read) and stream the answer back.
pub(crate) async fn forward<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    f: &Forward<'_>,
    mut body: BodyReader,
) -> Result<Done, Failed> {
    let untouched = |body, err| Failed {
        err,
        body_state: BodyState::Untouched(body),
    };
    let url = render_uri(f.p, f.m, f.stage_vars);
    let target = match Url::parse(&url) {
        Ok(t) => t,
        Err(e) => {
            let why = format!("upstream URL refused: {e}");
            return Err(untouched(body, bad_gateway(why)));
        }
    };
    let (authority, path_q) = (target.authority, &*target.path_and_query);
    let addr = match resolve(w, target.host, target.port) {
        Ok(a) => PoolKey::for_url(a, &target),
        Err(err) => return Err(untouched(body, err)),
    };
    let req_head = build_head(c, f, authority, path_q);
    let head = f.head;
    let deadline = Instant::now() + f.p.timeout;
    preread_small_body(w, c, f, &body, deadline).await?;
    let replay = replayable(c, head, &body);
    let sent = connect_and_send(w, c, f, &addr, req_head, &body, replay.clone(), deadline).await;
    let (mut up, ubuf) = match sent {
        Ok(x) => x,
        Err(err) => return Err(untouched(body, err)),
    };
    // The client's head is no longer needed: drop it from the buffer. (Not earlier: a
    // failure above hands the body back `Untouched`, and the caller then drains the head
    // itself before discarding the body; draining twice ate pipelined requests.)
    let head_len = head.head_len.min(c.buf.len());
    c.buf.drain(..head_len);
    if let Some(r) = &replay {
        c.buf.drain(..r.len().min(c.buf.len()));
        body = BodyReader::finished();
    }
    send_body(w, c, f, &mut up, &mut body, deadline).await?;
    let (rhead, ubuf) = read_response_head(w, &mut up, ubuf, head.is_head(), deadline)
        .await
        .map_err(|err| Failed {
            err,
            body_state: BodyState::Consumed,
        })?;
    answer(w, c, f, &addr, up, rhead, ubuf, deadline).await
}

/// The upstream's address.
fn resolve(w: &Worker, host: &str, port: u16) -> Result<std::net::SocketAddr, GatewayError> {
    w.pool.borrow_mut().resolve(host, port).map_err(|_| {
        w.metrics.upstream_error(UpstreamError::Connect);
        bad_gateway("upstream host does not resolve")
    })
}

/// A small Content-Length body is read whole before an upstream connection is taken: a
/// slow client then holds no upstream connection at all (and the body can be replayed).
/// Not with `Expect: 100-continue`, where the client waits for the 100 first.
async fn preread_small_body<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    f: &Forward<'_>,
    body: &BodyReader,
    deadline: Instant,
) -> Result<(), Failed> {
    let head = f.head;
    let BodyFraming::Length(n) = head.framing else {
        return Ok(());
    };
    if body.is_empty() || head.expect_continue || n > PREREAD_BODY_MAX {
        return Ok(());
    }
    let end = head
        .head_len
        .saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
    let body_deadline = (Instant::now() + f.snap.body_timeout).min(deadline);
    while c.buf.len() < end {
        let read_deadline = (Instant::now() + f.snap.header_timeout).min(body_deadline);
        let err = match read_more(&mut c.stream, &mut c.buf, read_deadline).await {
            Ok(0) => GatewayError::bad_request(),
            Ok(_) => continue,
            Err(e) => read_failure(w, e),
        };
        return Err(Failed {
            err,
            body_state: BodyState::Broken,
        });
    }
    Ok(())
}

/// A small Content-Length body that has fully arrived can be sent again: it stays in the
/// client buffer until the upstream answers, so a stale pooled connection can be retried.
fn replayable<S>(
    c: &Conn<S>,
    head: &RequestHead,
    body: &BodyReader,
) -> Option<std::ops::Range<usize>> {
    match head.framing {
        BodyFraming::Length(n) if !body.is_empty() && n <= MAX_REPLAY_BODY => {
            let start = head.head_len;
            usize::try_from(n)
                .ok()
                .and_then(|n| start.checked_add(n))
                .filter(|&end| end <= c.buf.len())
                .map(|end| start..end)
        }
        _ => None,
    }
}

/// One attempt's result: done, or retry on a fresh connection (a stale pooled one).
enum Attempt {
    Sent(Upstream, Vec<u8>),
    Retry,
}

/// Connect (a pooled connection first) and send the head (and a replayable body); up to
/// three attempts when a pooled connection turns out stale.
#[allow(clippy::too_many_arguments)]
async fn connect_and_send<S>(
    w: &Worker,
    c: &Conn<S>,
    f: &Forward<'_>,
    addr: &PoolKey,
    mut req_head: Vec<u8>,
    body: &BodyReader,
    replay: Option<std::ops::Range<usize>>,
    deadline: Instant,
) -> Result<(Upstream, Vec<u8>), GatewayError> {
    let replay = replay.and_then(|r| c.buf.get(r));
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt >= 3;
        match send_once(w, f, addr, &mut req_head, body, replay, last, deadline).await? {
            Attempt::Sent(up, ubuf) => return Ok((up, ubuf)),
            Attempt::Retry => continue,
        }
    }
}

/// One connect-and-send attempt (see [`connect_and_send`]).
#[allow(clippy::too_many_arguments)]
async fn send_once(
    w: &Worker,
    f: &Forward<'_>,
    addr: &PoolKey,
    req_head: &mut Vec<u8>,
    body: &BodyReader,
    replay: Option<&[u8]>,
    last: bool,
    deadline: Instant,
) -> Result<Attempt, GatewayError> {
    let pooled = w.pool.borrow_mut().take(addr);
    let reused = pooled.is_some();
    let mut up = match pooled {
        Some(s) => s,
        None => {
            let budget = f
                .snap
                .connect_timeout
                .min(deadline.saturating_duration_since(Instant::now()));
            client::open(addr, &f.snap.compiled.client_tls, budget)
                .await
                .map_err(|e| io_failure(w, &e, "connecting"))?
        }
    };
    let retry = reused && !last;
    let (res, rh) = write_all(&mut up, std::mem::take(req_head), Some(deadline)).await;
    *req_head = rh;
    match res {
        Ok(()) => {}
        Err(_) if retry => return Ok(Attempt::Retry),
        Err(e) => return Err(io_failure(w, &e, "sending the request head")),
    }
    if let Some(data) = replay {
        match write_all(&mut up, data.to_vec(), Some(deadline)).await.0 {
            Ok(()) => {}
            Err(e) if retry && e.kind() != io::ErrorKind::TimedOut => return Ok(Attempt::Retry),
            Err(e) => return Err(io_failure(w, &e, "sending the request body")),
        }
    }
    // With no body (or a replayable one), a pooled connection that the upstream closed
    // shows up as EOF before any response byte: retry on a fresh connection.
    let mut ubuf: Vec<u8> = Vec::with_capacity(crate::io::READ_CHUNK);
    if (body.is_empty() || replay.is_some()) && reused {
        match fill(&mut up, &mut ubuf, Some(deadline)).await {
            Ok(0) if !last => return Ok(Attempt::Retry),
            Err(e) if !last && e.kind() != io::ErrorKind::TimedOut => return Ok(Attempt::Retry),
            Ok(0) => {
                w.metrics.upstream_error(UpstreamError::Broken);
                return Err(bad_gateway(
                    "upstream closed the connection before answering",
                ));
            }
            Err(e) => return Err(io_failure(w, &e, "waiting for the response")),
            Ok(_) => {}
        }
    }
    Ok(Attempt::Sent(up, ubuf))
}

/// Stream the request body (after a `100 Continue` when the client asked for one).
async fn send_body<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    f: &Forward<'_>,
    up: &mut Upstream,
    body: &mut BodyReader,
    deadline: Instant,
) -> Result<(), Failed> {
    if body.is_empty() {
        return Ok(());
    }
    if f.head.expect_continue && http1::send_continue(&mut c.stream, deadline).await.is_err() {
        return Err(Failed {
            err: bad_gateway("client connection failed during 100 Continue"),
            body_state: BodyState::Broken,
        });
    }
    stream_request_body(w, c, up, body, f.snap, deadline).await
}

/// Read the response head (skipping interim 1xx answers).
async fn read_response_head(
    w: &Worker,
    up: &mut Upstream,
    mut ubuf: Vec<u8>,
    is_head: bool,
    deadline: Instant,
) -> Result<(ResponseHead, Vec<u8>), GatewayError> {
    match client::read_head(up, &mut ubuf, MAX_UPSTREAM_HEAD, is_head, deadline).await {
        Ok(h) => Ok((h, ubuf)),
        Err(HeadError::Io { err, .. }) => Err(io_failure(w, &err, "reading the response head")),
        Err(e) => {
            w.metrics.upstream_error(UpstreamError::Broken);
            let why = match e {
                HeadError::Upgrade => "upstream answered 101 Switching Protocols",
                HeadError::Closed { .. } => {
                    "upstream closed the connection before a whole response head"
                }
                _ => "upstream sent a malformed response head",
            };
            Err(bad_gateway(why))
        }
    }
}

/// How the response goes to the client.
struct ClientFraming {
    /// Re-chunk the body (an HTTP/1.1 client of a chunked or close-delimited body).
    chunked: bool,
    /// Keep the client connection after the answer.
    keep: bool,
}

/// The upstream's response head as the client gets it, protocol-neutral: its end-to-end
/// headers (hop-by-hop ones, those its `Connection` names, its framing and its own
/// `x-amzn-RequestId` dropped; a HEAD answer keeps the upstream's `Content-Length`) plus ours.
fn client_head<'a>(
    f: &'a Forward<'_>,
    rhead: &ResponseHead,
    ubuf: &'a [u8],
) -> response::ResponseHead<'a> {
    let is_head = f.head.is_head();
    let listed: Vec<&[u8]> = rhead
        .headers_named(ubuf, b"connection")
        .flat_map(connection_tokens)
        .collect();
    let mut out = response::ResponseHead::new(rhead.status);
    out.headers.reserve(rhead.headers.len() + 1);
    for h in &rhead.headers {
        let name = h.name.slice(ubuf);
        if is_hop_by_hop(name)
            || listed.iter().any(|t| t.eq_ignore_ascii_case(name))
            || (name.eq_ignore_ascii_case(b"content-length") && !is_head)
            || name.eq_ignore_ascii_case(b"x-amzn-requestid")
        {
            continue;
        }
        out.push(name, h.value.slice(ubuf));
    }
    out.mark_framing();
    out.push(b"x-amzn-RequestId", f.rid.as_str().as_bytes());
    out
}

/// How the response goes to the client: its framing as the HTTP/1 writer takes it (the
/// head itself is [`client_head`]).
fn client_framing(
    w: &Worker,
    f: &Forward<'_>,
    rhead: &ResponseHead,
) -> (ClientFraming, http1::Framing) {
    let is_head = f.head.is_head();
    let client_http11 = f.head.minor_version >= 1;
    // HTTP/1.0 clients do not know chunked: they get the decoded body, delimited by close.
    let (client_chunked, close_delimited) = match rhead.framing {
        ResponseFraming::Chunked | ResponseFraming::UntilClose if client_http11 => (true, false),
        ResponseFraming::Chunked | ResponseFraming::UntilClose => (false, true),
        _ => (false, false),
    };
    let keep = f.keep_client && !close_delimited && !w.shutting_down();
    let body = match rhead.framing {
        ResponseFraming::Length(n) => BodyLen::Known(n),
        ResponseFraming::Chunked | ResponseFraming::UntilClose => BodyLen::Unknown,
        ResponseFraming::None if !is_head && rhead.status != 204 && rhead.status != 304 => {
            BodyLen::Known(0)
        }
        ResponseFraming::None => BodyLen::None,
    };
    let framing = http1::Framing {
        body,
        chunked: client_chunked,
        close: !keep,
    };
    let cf = ClientFraming {
        chunked: client_chunked,
        keep,
    };
    (cf, framing)
}

/// Send the response head (with a small body that has arrived whole), then stream the body.
#[allow(clippy::too_many_arguments)]
async fn answer<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    f: &Forward<'_>,
    addr: &PoolKey,
    up: Upstream,
    rhead: ResponseHead,
    mut ubuf: Vec<u8>,
    deadline: Instant,
) -> Result<Done, Failed> {
    let (cf, client) = client_framing(w, f, &rhead);
    let head_len = rhead.head_len.min(ubuf.len());
    // A small Content-Length body that has already arrived whole goes out in the same write
    // as the head: one send instead of two for the common small response.
    let inlined = matches!(rhead.framing, ResponseFraming::Length(n)
        if n <= INLINE_BODY_MAX && n as usize == ubuf.len() - head_len);
    let (framing, inline) = if inlined {
        let whole = ubuf.get(head_len..).unwrap_or_default();
        (ResponseFraming::Length(0), whole)
    } else {
        (rhead.framing, &[][..])
    };
    // Body bytes only (AWS's responseLength): the head written here is not counted.
    let mut sent = inline.len();
    let write_deadline = deadline.max(Instant::now() + Duration::from_secs(5));
    let res = c
        .stream
        .send_head(
            &mut c.out,
            &client_head(f, &rhead, &ubuf),
            client,
            inline,
            Some(write_deadline),
        )
        .await;
    if inlined {
        ubuf.clear();
    } else {
        ubuf.drain(..head_len);
    }
    let mut done = Done {
        status: rhead.status,
        bytes: sent,
        keep: false,
        cut_short: false,
        client_gone: res.is_err(),
    };
    if done.client_gone {
        return Ok(done);
    }
    // Stream the response body: the upstream's body is pulled by the HTTP/1 writer, which
    // frames it for the client; the source pools the connection when the body ended clean.
    let keep_alive = rhead.keep_alive;
    let mut body = UpstreamBody::new(w, up, addr, keep_alive, ubuf, framing, f.p.timeout);
    let end = c
        .stream
        .send_body(&mut body, cf.chunked, f.p.timeout, &mut sent)
        .await;
    done.bytes = sent;
    match end {
        BodyEnd::Complete => done.keep = cf.keep,
        BodyEnd::ClientGone => done.client_gone = true,
        BodyEnd::SourceFailed => {
            w.metrics.upstream_error(UpstreamError::Broken);
            done.cut_short = true;
        }
    }
    Ok(done)
}

/// A failure after which the request body's state is unknown.
fn broken(err: GatewayError) -> Failed {
    Failed {
        err,
        body_state: BodyState::Broken,
    }
}

/// Stream the client's request body to the upstream.
///
/// The whole body must arrive before the body deadline: `gateway.limits.body_timeout_ms`
/// from now, or the route's deadline if sooner (a body still arriving then could only end
/// in a 504), and no read may wait longer than the header timeout. A client that misses
/// either is answered 408 and closed; the upstream connection, which holds a partial
/// request, is dropped (closed), never pooled.
///
/// The body is pulled from an [`Http1Body`] (Content-Length pieces straight from the
/// connection's buffer, chunked data decoded and gathered) and re-framed as chunks when the
/// upstream request is chunked.
async fn stream_request_body<S: Stream>(
    w: &Worker,
    c: &mut Conn<S>,
    up: &mut Upstream,
    body: &mut BodyReader,
    snap: &Snapshot,
    deadline: Instant,
) -> Result<(), Failed> {
    let chunked = body.is_chunked();
    let body_deadline = (Instant::now() + snap.body_timeout).min(deadline);
    let mut src = Http1Body::new(
        w,
        &mut c.stream,
        &mut c.buf,
        body,
        body_deadline,
        snap.header_timeout,
    );
    let upstream_failed = |e: io::Error| broken(io_failure(w, &e, "sending the request body"));
    let mut frame: Vec<u8> = Vec::new();
    loop {
        let (buf, range) = match src.next().await {
            Ok(Some(piece)) => piece,
            Ok(None) => break,
            Err(err) => return Err(broken(err)),
        };
        let res = if chunked {
            frame.clear();
            http1::write_chunk(&mut frame, buf.get(range).unwrap_or_default());
            src.give_back(buf);
            let (res, f) = write_all(up, std::mem::take(&mut frame), Some(deadline)).await;
            frame = f;
            res
        } else {
            let (res, buf) = write_range(up, buf, range, Some(deadline)).await;
            src.give_back(buf);
            res
        };
        res.map_err(upstream_failed)?;
    }
    if chunked {
        let last = http1::LAST_CHUNK.to_vec();
        write_all(up, last, Some(deadline))
            .await
            .0
            .map_err(upstream_failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_values_with_control_characters_are_refused() {
        assert!(header_value_ok("user-1|abc def\tx"));
        assert!(header_value_ok("ünïcode"));
        for bad in [
            "a\r\nb",
            "a\nb",
            "a\rb",
            "a\0b",
            "a\u{b}b",
            "a\u{c}b",
            "a\u{1b}b",
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{9f}b",
            "a\u{2028}b",
            "a\u{2029}b",
        ] {
            assert!(!header_value_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn names_fold_like_cgi() {
        for (a, b) in [
            ("x-principal-id", "X_Principal_Id"),
            ("x-principal-id", "X-PRINCIPAL-ID"),
            ("x_under", "X-UNDER"),
            ("host", "HOST"),
        ] {
            assert!(same_folded(a.as_bytes(), b.as_bytes()), "{a} {b}");
        }
        for (a, b) in [
            ("x-principal-id", "x-principal-i"),
            ("x-principal-id", "x.principal.id"),
            ("x-principal-id", "xprincipal-id-"),
        ] {
            assert!(!same_folded(a.as_bytes(), b.as_bytes()), "{a} {b}");
        }
    }
}
