//! One client connection: read heads into one owned buffer, parse them in place, route,
//! authorize, run the integration, loop for keep-alive and pipelined requests.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use tollgate_http::{BodyFraming, HttpError, RequestHead, parse_request};

use crate::auth::{self, AuthRequest};
use crate::body::{BodyError, BodyReader};
use crate::error::GatewayError;
use crate::io::{fill, fill_or_give_up, write_all};
use crate::responses::render_default;
use crate::snapshot::{IntegrationRt, Snapshot};
use crate::worker::Worker;
use crate::{accesslog, proxy, wire};

/// Most body bytes read and dropped to keep a connection alive after an early answer.
const MAX_DISCARD: u64 = 64 * 1024;
/// How long a kept-alive connection waits for its next request with a read in flight.
const FIRST_READ_WAIT: Duration = Duration::from_millis(1000);
/// The reason logged when an upstream broke off a response whose head was already sent
/// (the client got a truncated answer; the gateway cannot change the status any more).
const CUT_SHORT: &str =
    "upstream broke off, timed out or garbled the response body after its head was sent";
/// How often an idle connection looks at the shutdown flag.
const IDLE_SLICE: Duration = Duration::from_millis(250);

pub(crate) struct Conn {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
    pub out: Vec<u8>,
    /// The TCP peer (`source_ip` may instead come from a PROXY header).
    #[allow(dead_code)]
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub source_ip: IpAddr,
    /// `aws:SourceVpce` from a PROXY v2 header's AWS TLV.
    pub vpce_id: Option<String>,
}

/// What happens to the connection after a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Next {
    KeepAlive,
    Close,
}

pub(crate) async fn serve(
    w: Rc<Worker>,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    proxy_protocol: bool,
) {
    let _ = stream.set_nodelay(true);
    let mut c = Conn {
        stream,
        buf: Vec::with_capacity(crate::io::READ_CHUNK),
        out: Vec::with_capacity(1024),
        peer,
        local,
        source_ip: canonical_ip(peer.ip()),
        vpce_id: None,
    };
    if proxy_protocol && !read_proxy_header(&w, &mut c).await {
        return;
    }
    loop {
        if c.buf.is_empty() {
            // Only the timeouts come from this snapshot: the request is served under the one
            // loaded after its first bytes arrive (a swap during the wait applies to it).
            let snap = w.snapshot();
            // A busy keep-alive connection sends its next request soon: read it directly (one
            // io operation). Past a short wait the read is given up, its buffer with it, and
            // the connection waits for readiness only, holding no buffer while idle.
            // (`fill_or_give_up`: a plain `fill` with a deadline lost a request that arrived
            // just as the read was dropped.)
            let first = snap.idle_timeout.min(FIRST_READ_WAIT);
            match fill_or_give_up(&mut c.stream, &mut c.buf, Instant::now() + first).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    c.buf = Vec::new();
                    if !idle_wait(&w, &c.stream, snap.idle_timeout.saturating_sub(first)).await {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let snap = w.snapshot();
        let deadline = Instant::now() + snap.header_timeout;
        let head = loop {
            match parse_request(&c.buf, &snap.limits) {
                Ok(Some(h)) => break Ok(h),
                Ok(None) => match fill(&mut c.stream, &mut c.buf, Some(deadline)).await {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                        w.metrics
                            .bad_requests
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let err = GatewayError::request_timeout();
                        let _ = reply_error_default(&w, &mut c, &err).await;
                        return;
                    }
                    Err(_) => return,
                },
                Err(e) => break Err(e),
            }
        };
        let head = match head {
            Ok(h) => h,
            Err(e) => {
                w.metrics
                    .bad_requests
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _ = reply_error_default(&w, &mut c, &protocol_error(e)).await;
                return;
            }
        };
        let next = handle(&w, &mut c, &snap, head).await;
        shrink_buffer(&mut c.buf);
        if next == Next::Close || w.shutting_down() {
            break;
        }
    }
}

/// Read the PROXY protocol header a `proxy_protocol: true` listener requires; the source
/// address and the AWS VPC endpoint id come from it. False: refused (the connection closes).
async fn read_proxy_header(w: &Worker, c: &mut Conn) -> bool {
    let deadline = Instant::now() + w.snapshot().header_timeout;
    loop {
        match crate::proxy_protocol::parse(&c.buf) {
            Ok(Some(h)) => {
                if let Some(src) = h.source {
                    c.source_ip = canonical_ip(src.ip());
                }
                c.vpce_id = h.vpce_id;
                let n = h.consumed.min(c.buf.len());
                c.buf.drain(..n);
                return true;
            }
            Ok(None) => match fill(&mut c.stream, &mut c.buf, Some(deadline)).await {
                Ok(n) if n > 0 => {}
                _ => return false,
            },
            Err(_) => {
                w.metrics
                    .bad_requests
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let err = GatewayError::bad_request();
                let _ = reply_error_default(w, c, &err).await;
                return false;
            }
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2: an IPv4 peer of a
/// dual-stack socket, or an IPv4 client written by an IPv6 proxy) is that IPv4 address, so
/// IPv4 CIDRs in `aws:SourceIp` and `trusted_proxies` match it. Not translated: NAT64
/// (`64:ff9b::/96`, a route to an IPv4 host through a translator, RFC 6052: the peer is
/// the translator's IPv6 client) and the deprecated IPv4-compatible form (`::a.b.c.d`).
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// `aws:SourceIp`: the connection's source, or, when that is a trusted proxy, the nearest
/// untrusted address in `X-Forwarded-For` (read right to left through trusted hops only).
/// Anyone else's X-Forwarded-For is ignored.
pub(crate) fn client_ip(
    conn_ip: IpAddr,
    head: &RequestHead,
    buf: &[u8],
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let conn_ip = canonical_ip(conn_ip);
    if trusted.is_empty() {
        return conn_ip;
    }
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut current = conn_ip;
    let values: Vec<&[u8]> = head.headers_named(buf, b"x-forwarded-for").collect();
    for v in values.iter().rev() {
        for entry in v.rsplit(|&b| b == b',') {
            if !is_trusted(&current) {
                return current;
            }
            let text = std::str::from_utf8(entry).unwrap_or("").trim();
            match text.parse::<IpAddr>() {
                Ok(ip) => current = canonical_ip(ip),
                Err(_) => return current,
            }
        }
    }
    current
}

/// Wait until the connection has bytes to read. False: idle timeout, peer gone, or shutdown.
async fn idle_wait(w: &Worker, stream: &TcpStream, idle: Duration) -> bool {
    let until = Instant::now() + idle;
    loop {
        if w.shutting_down() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        let slice = (until - now).min(IDLE_SLICE);
        match monoio::time::timeout(slice, stream.readable(false)).await {
            Ok(Ok(())) => return true,
            Ok(Err(_)) => return false,
            Err(_) => {}
        }
    }
}

fn protocol_error(e: HttpError) -> GatewayError {
    let status = e.status();
    match e {
        // An unknown method is an unknown route (docs/decisions.md R3).
        HttpError::NotImplemented(what) if what.contains("method") => GatewayError::missing_token(),
        HttpError::PayloadTooLarge => GatewayError::too_large(),
        _ => GatewayError::protocol(status, tollgate_http::reason_phrase(status)),
    }
}

async fn reply_error_default(w: &Worker, c: &mut Conn, err: &GatewayError) -> io::Result<()> {
    let rid = w.ids.next();
    c.out.clear();
    render_default(err, rid.as_str(), true, &mut c.out);
    let out = std::mem::take(&mut c.out);
    let (res, out) = write_all(
        &mut c.stream,
        out,
        Some(Instant::now() + Duration::from_secs(5)),
    )
    .await;
    c.out = out;
    res
}

/// Per-request facts gathered before the buffer is touched again.
pub(crate) struct RequestInfo {
    pub method: String,
    pub path: String,
    pub user_agent: Option<String>,
    pub started: Instant,
    /// How long the `http_proxy` exchange took, once there was one.
    pub integration: Option<Duration>,
}

/// The route a request matched, as logs, metrics and the access log name it.
pub(crate) struct Routed<'a> {
    pub api: usize,
    pub api_id: &'a str,
    pub stage: &'a str,
    pub label: &'a crate::metrics::RouteLabel,
    /// The route's path template (`$context.resourcePath`).
    pub resource_path: &'a str,
}

/// Where a gateway error happened: before routing (with the API its host names, if any, for
/// its gateway responses) or on a route.
#[derive(Clone, Copy)]
pub(crate) enum At<'a> {
    Unrouted(Option<usize>),
    Routed(&'a Routed<'a>),
}

impl<'a> At<'a> {
    fn api(self) -> Option<usize> {
        match self {
            At::Unrouted(api) => api,
            At::Routed(r) => Some(r.api),
        }
    }

    fn route(self) -> Option<&'a Routed<'a>> {
        match self {
            At::Unrouted(_) => None,
            At::Routed(r) => Some(r),
        }
    }
}

/// Count an answered request under its route (or unrouted) and write its access-log record.
fn account(
    w: &Worker,
    info: &RequestInfo,
    rid: &crate::ids::RequestId,
    ip: IpAddr,
    rec: &accesslog::Record<'_>,
) {
    let label = rec.route.map_or(&w.unrouted_label, |r| r.label);
    w.metrics.request(label, rec.status, info.started.elapsed());
    accesslog::log(w, info, rid, ip, rec);
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
fn log_reason(level: log::Level, status: u16, rid: &str, at: At<'_>, reason: &str) {
    if !log::log_enabled!(level) {
        return;
    }
    let (api, stage, route) = at.route().map_or(("-", "-", "-"), |r| {
        (r.api_id, r.stage, r.label.route.as_str())
    });
    log::log!(
        level,
        "tollgate: {status} api={api} stage={stage} route=\"{route}\" requestId={rid}: {reason}"
    );
}

async fn handle(w: &Worker, c: &mut Conn, snap: &Snapshot, mut head: RequestHead) -> Next {
    let rid = w.ids.next();
    let started = Instant::now();
    let buf = &c.buf;
    let method = head.method.slice(buf);
    let path = head.path.slice(buf);
    let host = head
        .host
        .map(|h| strip_port(h.slice(buf)))
        .unwrap_or_default();
    let mut info = RequestInfo {
        method: String::from_utf8_lossy(method).into_owned(),
        path: String::from_utf8_lossy(path).into_owned(),
        user_agent: head
            .header(buf, b"user-agent")
            .map(|v| String::from_utf8_lossy(v).into_owned()),
        started,
        integration: None,
    };
    let found = snap
        .compiled
        .router
        .lookup(host, method, path)
        .map(|m| crate::router::own(&m, path));
    let mut keep = head.keep_alive && !w.shutting_down();
    let body = BodyReader::new(head.framing, snap.max_body_bytes).map_err(|_| {
        GatewayError::too_large()
            .with_reason("declared body larger than gateway.limits.max_body_bytes")
    });
    let Some(m) = found else {
        let (at, err, body) = match body {
            Ok(b) => {
                let at = At::Unrouted(snap.compiled.router.api_for_host(host));
                let err = GatewayError::missing_token().with_reason("no route matches");
                (at, err, Some(b))
            }
            Err(err) => (At::Unrouted(None), err, None),
        };
        let keep = keep && body.is_some();
        return finish_error(w, c, snap, at, &err, &head, body, keep, &info, rid).await;
    };
    let (Some(api_rt), Some(api_cfg)) =
        (snap.apis.get(m.api), snap.compiled.config.apis.get(m.api))
    else {
        return Next::Close;
    };
    let (Some(route_rt), Some(_route_cfg)) =
        (api_rt.routes.get(m.route), api_cfg.routes.get(m.route))
    else {
        return Next::Close;
    };
    let routed = Routed {
        api: m.api,
        api_id: &api_cfg.id,
        stage: &m.stage,
        label: &route_rt.label,
        resource_path: &m.template,
    };
    let at = At::Routed(&routed);
    let body = match body {
        Ok(b) => b,
        Err(err) => {
            return finish_error(w, c, snap, at, &err, &head, None, false, &info, rid).await;
        }
    };
    let stage_vars = api_cfg.stages.get(&m.stage).map(|s| &s.variables);
    let source_ip = client_ip(
        c.source_ip,
        &head,
        &c.buf,
        &snap.compiled.config.gateway.trusted_proxies,
    );
    // Only policies look at the method ARN: skip building it for open routes.
    let needs_arn = route_rt.authorization != tollgate_config::Authorization::None
        || api_rt.resource_policy.is_some();
    let method_arn = if needs_arn {
        tollgate_config::method_arn(
            &snap.compiled.config.gateway.region,
            &snap.compiled.config.gateway.account_id,
            &api_cfg.id,
            &m.stage,
            &info.method,
            &m.resource_path,
        )
    } else {
        String::new()
    };
    // AWS_IAM signs the payload: buffer the body (bounded by max_body_bytes) unless the
    // client declared it unsigned.
    let mut buffered: Option<Buffered> = None;
    // Held until the request is over; `serve` then shrinks the buffer.
    let mut budget = BodyBudget::new(w);
    if route_rt.authorization == tollgate_config::Authorization::AwsIam
        && !body.is_empty()
        && head.header(&c.buf, b"x-amz-content-sha256") != Some(b"UNSIGNED-PAYLOAD".as_slice())
    {
        match buffer_body(c, &mut head, snap, &mut budget).await {
            Ok(b) => buffered = Some(b),
            Err(err) => {
                return finish_error(w, c, snap, at, &err, &head, None, false, &info, rid).await;
            }
        }
    }
    let body_bytes: Option<&[u8]> = buffered.as_ref().and_then(|b| c.buf.get(b.data.clone()));
    let authz = AuthRequest {
        buf: &c.buf,
        head: &head,
        route: &m,
        api_id: &api_cfg.id,
        method_arn: &method_arn,
        source_ip,
        vpce_id: c.vpce_id.as_deref(),
        body: body_bytes,
        stage_vars,
        user_agent: info.user_agent.as_deref(),
        request_id: rid.as_str(), // lambda: requestContext.requestId
    };
    let decided = auth::authorize(w, snap, route_rt.authorization, &authz).await;
    // The buffer holds a decoded chunked body: frame it again, as the body reader expects.
    if let Some(b) = buffered.as_ref().filter(|b| b.decoded) {
        reframe_decoded(&mut c.buf, b.data.clone());
    }
    let permit = match decided {
        Ok(p) => p,
        Err(err) => {
            return finish_error(w, c, snap, at, &err, &head, Some(body), keep, &info, rid).await;
        }
    };
    // An upstream that broke off its response body after the head was sent.
    let mut cut_short = None;
    let (status, sent, next) = match &route_rt.integration {
        IntegrationRt::Mock(mock) => {
            let mut body = body;
            keep = keep && drain_for_reuse(c, &head, &mut body, snap).await;
            c.out.clear();
            wire::status_line(&mut c.out, mock.status);
            let mut has_ct = false;
            for (k, v) in &mock.headers {
                has_ct |= k.eq_ignore_ascii_case("content-type");
                wire::header(&mut c.out, k.as_bytes(), v.as_bytes());
            }
            if !has_ct && !mock.body.is_empty() {
                wire::header(&mut c.out, b"content-type", b"application/json");
            }
            wire::header_usize(&mut c.out, b"content-length", mock.body.len());
            wire::header(&mut c.out, b"x-amzn-RequestId", rid.as_str().as_bytes());
            if !keep {
                wire::header(&mut c.out, b"connection", b"close");
            }
            c.out.extend_from_slice(b"\r\n");
            if !head.is_head() {
                c.out.extend_from_slice(&mock.body);
            }
            let n = if head.is_head() { 0 } else { mock.body.len() };
            let out = std::mem::take(&mut c.out);
            let (res, out) = write_all(&mut c.stream, out, None).await;
            c.out = out;
            let next = if res.is_ok() && keep {
                Next::KeepAlive
            } else {
                Next::Close
            };
            (mock.status, n, next)
        }
        IntegrationRt::Proxy(p) => {
            let t0 = Instant::now();
            let r = proxy::forward(
                w,
                c,
                snap,
                &head,
                &m,
                p,
                stage_vars,
                &permit.ctx,
                body,
                keep,
                rid,
            )
            .await;
            info.integration = Some(t0.elapsed());
            w.metrics.upstream(&route_rt.label, t0.elapsed());
            match r {
                Ok(done) => {
                    if done.cut_short {
                        cut_short = Some(CUT_SHORT);
                        let rid = rid.as_str();
                        log_reason(log::Level::Warn, done.status, rid, at, CUT_SHORT);
                    }
                    let next = if done.keep {
                        Next::KeepAlive
                    } else {
                        Next::Close
                    };
                    (done.status, done.bytes, next)
                }
                Err(proxy::Failed { err, body_state }) => {
                    let (body, keep) = match body_state {
                        proxy::BodyState::Untouched(b) => (Some(b), keep),
                        proxy::BodyState::Consumed => (None, keep),
                        proxy::BodyState::Broken => (None, false),
                    };
                    return finish_error(w, c, snap, at, &err, &head, body, keep, &info, rid).await;
                }
            }
        }
    };
    let rec = accesslog::Record {
        status,
        body_len: sent,
        route: Some(&routed),
        principal: permit.ctx.principal(),
        error: cut_short,
    };
    account(w, &info, &rid, c.source_ip, &rec);
    next
}

/// A request body read whole before authorization (AWS_IAM payload hash): `data` is a range
/// of the connection buffer. A chunked body is decoded in place (`decoded`: the buffer holds
/// the data with no framing until [`reframe_decoded`] frames it again for forwarding).
struct Buffered {
    data: std::ops::Range<usize>,
    decoded: bool,
}

/// Bytes of request body one connection holds before authentication, counted in the worker's
/// total (`Worker::body_held`, bounded by `gateway.limits.max_buffered_body_bytes_per_worker`).
/// Dropping it gives them back.
pub(crate) struct BodyBudget<'a> {
    w: &'a Worker,
    held: u64,
}

impl<'a> BodyBudget<'a> {
    pub(crate) fn new(w: &'a Worker) -> Self {
        Self { w, held: 0 }
    }

    /// Hold `n` bytes in all (instead of what is held now). False, and nothing changes, when
    /// that would take the worker past `limit`.
    fn hold(&mut self, n: u64, limit: u64) -> bool {
        let others = self.w.body_held.get().saturating_sub(self.held);
        if n > self.held && others.saturating_add(n) > limit {
            return false;
        }
        self.w.body_held.set(others.saturating_add(n));
        self.held = n;
        true
    }
}

impl Drop for BodyBudget<'_> {
    fn drop(&mut self) {
        let total = self.w.body_held.get();
        self.w.body_held.set(total.saturating_sub(self.held));
    }
}

/// Read buffers above this capacity are replaced by a small one after a request.
const SHRINK_ABOVE: usize = 64 * 1024;

/// Give back a read buffer grown by a large body: keep only what it holds (a pipelined
/// request) in a fresh allocation. (`shrink_to` may shrink in place and keep the memory.)
fn shrink_buffer(buf: &mut Vec<u8>) {
    if buf.capacity() > SHRINK_ABOVE {
        let mut fresh = Vec::with_capacity(buf.len().max(crate::io::READ_CHUNK));
        fresh.extend_from_slice(buf);
        *buf = fresh;
    }
}

fn too_large() -> GatewayError {
    GatewayError::too_large().with_reason("body larger than gateway.limits.max_body_bytes")
}

fn bad_request() -> GatewayError {
    GatewayError::bad_request().with_reason("request body cut short, late or badly framed")
}

/// The worker's budget for bodies held before authentication is spent.
fn busy() -> GatewayError {
    GatewayError::unavailable()
        .with_reason(
            "body budget spent (gateway.limits.max_buffered_body_bytes_per_worker) buffering a signed body",
        )
}

/// Make room for the next read within the budget: `fill` then needs no allocation of its
/// own. The buffer grows by half, never past `cap` bytes (the head, the largest body and a
/// read); all of its capacity is counted.
fn make_room(
    c: &mut Conn,
    budget: &mut BodyBudget<'_>,
    limit: u64,
    cap: usize,
) -> Result<(), GatewayError> {
    let len = c.buf.len();
    if c.buf.capacity() - len < crate::io::READ_CHUNK / 4 {
        let want = len
            .saturating_add((len / 2).max(crate::io::READ_CHUNK))
            .min(cap)
            .max(len + crate::io::READ_CHUNK);
        if !budget.hold(want as u64, limit) {
            return Err(busy());
        }
        c.buf.reserve_exact(want - len);
    }
    if !budget.hold(c.buf.capacity() as u64, limit) {
        return Err(busy());
    }
    Ok(())
}

/// Read the whole body into the connection buffer without consuming it. Memory held is about
/// the decoded body: a chunked body is decoded as it arrives and its framing dropped.
async fn buffer_body(
    c: &mut Conn,
    head: &mut RequestHead,
    snap: &Snapshot,
    budget: &mut BodyBudget<'_>,
) -> Result<Buffered, GatewayError> {
    let limit = snap.body_budget;
    let start = head.head_len;
    let max_body = usize::try_from(snap.max_body_bytes).unwrap_or(usize::MAX);
    let cap = start
        .saturating_add(max_body)
        .saturating_add(crate::io::READ_CHUNK);
    // A declared length is held at once, before anything is read or 100-continue is sent.
    if let BodyFraming::Length(n) = head.framing {
        let n = usize::try_from(n).map_err(|_| too_large())?;
        let want = start
            .saturating_add(n)
            .saturating_add(crate::io::READ_CHUNK);
        let want = want.max(c.buf.len() + crate::io::READ_CHUNK);
        if !budget.hold(want as u64, limit) {
            return Err(busy());
        }
        c.buf.reserve_exact(want.saturating_sub(c.buf.len()));
    }
    if !budget.hold(c.buf.capacity() as u64, limit) {
        return Err(busy());
    }
    if head.expect_continue {
        let (res, _) = write_all(
            &mut c.stream,
            b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
            Some(Instant::now() + snap.header_timeout),
        )
        .await;
        res.map_err(|_| bad_request())?;
        head.expect_continue = false;
    }
    let deadline = Instant::now() + snap.header_timeout.max(Duration::from_secs(30));
    match head.framing {
        BodyFraming::Length(n) => {
            let n = usize::try_from(n).map_err(|_| too_large())?;
            let end = start.checked_add(n).ok_or_else(too_large)?;
            while c.buf.len() < end {
                make_room(c, budget, limit, cap.max(end + crate::io::READ_CHUNK))?;
                match fill(&mut c.stream, &mut c.buf, Some(deadline)).await {
                    Ok(k) if k > 0 => {}
                    _ => return Err(bad_request()),
                }
            }
            Ok(Buffered {
                data: start..end,
                decoded: false,
            })
        }
        BodyFraming::Chunked => {
            let mut dec = tollgate_http::InPlaceChunked::new(start);
            loop {
                let step = dec.advance(&mut c.buf).map_err(|_| bad_request())?;
                if dec.decoded_len() as u64 > snap.max_body_bytes {
                    return Err(too_large());
                }
                match step {
                    tollgate_http::InPlace::NeedMore => {
                        make_room(c, budget, limit, cap)?;
                        match fill(&mut c.stream, &mut c.buf, Some(deadline)).await {
                            Ok(k) if k > 0 => {}
                            _ => return Err(bad_request()),
                        }
                    }
                    tollgate_http::InPlace::Done { .. } => {
                        return Ok(Buffered {
                            data: dec.data(),
                            decoded: true,
                        });
                    }
                }
            }
        }
        BodyFraming::None => Ok(Buffered {
            data: start..start,
            decoded: false,
        }),
    }
}

/// Largest chunk of a re-framed body: the upstream writer copies one chunk at a time.
const REFRAME_CHUNK: usize = 64 * 1024;

/// Frame a body decoded in place (`buf[data]`, followed by the next message's bytes) as
/// chunks of [`REFRAME_CHUNK`] bytes and the last chunk, so that it is forwarded from the
/// buffer like any chunked body. One pass from the back: each byte moves once.
fn reframe_decoded(buf: &mut Vec<u8>, data: std::ops::Range<usize>) {
    let len = data.end.saturating_sub(data.start);
    let old_len = buf.len();
    let rest_len = old_len.saturating_sub(data.end);
    let mut headers: Vec<Vec<u8>> = Vec::with_capacity(len / REFRAME_CHUNK + 1);
    let mut left = len;
    while left > 0 {
        let n = left.min(REFRAME_CHUNK);
        let mut h = Vec::with_capacity(18);
        tollgate_http::encode_chunk_header(n, &mut h);
        headers.push(h);
        left -= n;
    }
    let extra: usize = headers
        .iter()
        .map(|h| h.len() + tollgate_http::CHUNK_END.len())
        .sum::<usize>()
        + tollgate_http::LAST_CHUNK.len();
    // Exactly the room needed: a growing resize would double the allocation.
    buf.reserve_exact(extra);
    buf.resize(old_len + extra, 0);
    let new_len = buf.len();
    buf.copy_within(data.end..old_len, new_len - rest_len);
    let last_at = new_len - rest_len - tollgate_http::LAST_CHUNK.len();
    if let Some(dst) = buf.get_mut(last_at..last_at + tollgate_http::LAST_CHUNK.len()) {
        dst.copy_from_slice(tollgate_http::LAST_CHUNK);
    }
    // Where each chunk's frame starts in the new layout.
    let mut at = Vec::with_capacity(headers.len());
    let mut pos = data.start;
    for (i, h) in headers.iter().enumerate() {
        at.push(pos);
        let n = (len - i * REFRAME_CHUNK).min(REFRAME_CHUNK);
        pos += h.len() + n + tollgate_http::CHUNK_END.len();
    }
    // Back to front: a chunk's new place only covers its own old bytes and later ones.
    for (i, (h, frame)) in headers.iter().zip(at).enumerate().rev() {
        let old = data.start + i * REFRAME_CHUNK;
        let n = (len - i * REFRAME_CHUNK).min(REFRAME_CHUNK);
        let new = frame + h.len();
        buf.copy_within(old..old + n, new);
        if let Some(dst) = buf.get_mut(frame..new) {
            dst.copy_from_slice(h);
        }
        if let Some(dst) = buf.get_mut(new + n..new + n + tollgate_http::CHUNK_END.len()) {
            dst.copy_from_slice(tollgate_http::CHUNK_END);
        }
    }
}

/// Answer a gateway error, keeping the connection only if the request body is out of the way.
#[allow(clippy::too_many_arguments)]
async fn finish_error(
    w: &Worker,
    c: &mut Conn,
    snap: &Snapshot,
    at: At<'_>,
    err: &GatewayError,
    head: &RequestHead,
    body: Option<BodyReader>,
    keep: bool,
    info: &RequestInfo,
    rid: crate::ids::RequestId,
) -> Next {
    let mut keep = keep;
    match body {
        Some(mut b) => keep = keep && drain_for_reuse(c, head, &mut b, snap).await,
        None => keep = false,
    }
    c.out.clear();
    let status = match at.api().and_then(|i| snap.apis.get(i)) {
        Some(a) => a.responses.render(err, rid.as_str(), !keep, &mut c.out),
        None => render_default(err, rid.as_str(), !keep, &mut c.out),
    };
    let head_end = find_head_end(&c.out).unwrap_or(c.out.len());
    if head.is_head() {
        // A HEAD answer carries the headers only.
        c.out.truncate(head_end);
    }
    let body_len = c.out.len().saturating_sub(head_end);
    let out = std::mem::take(&mut c.out);
    let (res, out) = write_all(
        &mut c.stream,
        out,
        Some(Instant::now() + Duration::from_secs(10)),
    )
    .await;
    c.out = out;
    log_reason(
        reason_level(status),
        status,
        rid.as_str(),
        at,
        err.reason_text(),
    );
    let rec = accesslog::Record {
        status,
        body_len,
        route: at.route(),
        principal: None,
        error: Some(err.reason_text()),
    };
    account(w, info, &rid, c.source_ip, &rec);
    if res.is_ok() && keep {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

fn find_head_end(out: &[u8]) -> Option<usize> {
    out.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Consume the request head and, when the body is small enough, the body too, so that the
/// connection can carry the next request. False: the connection must close.
async fn drain_for_reuse(
    c: &mut Conn,
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
    match body.discard(&mut c.stream, &mut c.buf, deadline).await {
        Ok(()) => true,
        Err(BodyError::Framing(_) | BodyError::TooLarge | BodyError::Io(_)) => false,
    }
}

/// `host:port` -> `host` (IPv6 literals keep their brackets).
pub(crate) fn strip_port(host: &[u8]) -> &[u8] {
    if host.starts_with(b"[") {
        return match host.iter().position(|&b| b == b']') {
            Some(i) => host.get(..=i).unwrap_or(host),
            None => host,
        };
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(i) => host.get(..i).unwrap_or(host),
        None => host,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn xff_is_believed_only_through_trusted_hops() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let parse = |raw: &[u8]| {
            let h = tollgate_http::parse_request(raw, &tollgate_http::RequestLimits::default())
                .unwrap()
                .unwrap();
            (h, raw.to_vec())
        };
        let (h, b) = parse(
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4, 203.0.113.9, 10.1.1.1\r\n\r\n",
        );
        let peer_trusted: std::net::IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: std::net::IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            super::client_ip(peer_trusted, &h, &b, &trusted).to_string(),
            "203.0.113.9"
        );
        assert_eq!(super::client_ip(stranger, &h, &b, &trusted), stranger);
        assert_eq!(super::client_ip(peer_trusted, &h, &b, &[]), peer_trusted);
        let (h, b) = parse(b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: garbage\r\n\r\n");
        assert_eq!(
            super::client_ip(peer_trusted, &h, &b, &trusted),
            peer_trusted
        );
    }

    #[test]
    fn a_decoded_body_is_framed_again_with_the_next_message_kept() {
        for len in [0usize, 1, 5, 65535, 65536, 65537, 200_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut buf = b"HEAD".to_vec();
            buf.extend_from_slice(&data);
            buf.extend_from_slice(b"NEXT");
            super::reframe_decoded(&mut buf, 4..4 + len);
            assert_eq!(&buf[..4], b"HEAD");
            let mut dec = tollgate_http::ChunkedDecoder::new();
            let mut pos = 4;
            let mut got = Vec::new();
            loop {
                match dec.step(&buf[pos..]).unwrap() {
                    tollgate_http::Step::Data { consumed, data } => {
                        assert!(data.len() <= super::REFRAME_CHUNK);
                        got.extend_from_slice(&buf[pos..][data]);
                        pos += consumed;
                    }
                    tollgate_http::Step::NeedMore { .. } => panic!("truncated ({len})"),
                    tollgate_http::Step::Done { consumed } => {
                        pos += consumed;
                        break;
                    }
                }
            }
            assert_eq!(got, data, "{len}");
            assert_eq!(&buf[pos..], b"NEXT", "{len}");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        use std::net::IpAddr;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for (from, to) in [
            ("::ffff:203.0.113.7", "203.0.113.7"),
            ("::ffff:cb00:7107", "203.0.113.7"),
            ("203.0.113.7", "203.0.113.7"),
            // Not translated: NAT64, IPv4-compatible, other IPv6.
            ("64:ff9b::203.0.113.7", "64:ff9b::cb00:7107"),
            ("::203.0.113.7", "::cb00:7107"),
            ("::1", "::1"),
            ("2001:db8::ffff:cb00:7107", "2001:db8::ffff:cb00:7107"),
        ] {
            assert_eq!(super::canonical_ip(ip(from)), ip(to), "{from}");
        }
        // Through trusted X-Forwarded-For hops, a mapped proxy address is trusted as IPv4 and
        // a mapped client address comes out IPv4.
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: ::ffff:203.0.113.9, ::ffff:10.1.1.1\r\n\r\n";
        let h = tollgate_http::parse_request(raw, &tollgate_http::RequestLimits::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            super::client_ip(ip("::ffff:10.0.0.5"), &h, raw, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            super::client_ip(ip("::ffff:1.2.3.4"), &h, raw, &[]),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn a_grown_read_buffer_is_replaced_by_a_small_one() {
        let mut buf = Vec::with_capacity(4 << 20);
        buf.extend_from_slice(b"GET /next");
        super::shrink_buffer(&mut buf);
        assert_eq!(buf, b"GET /next");
        assert!(
            buf.capacity() <= crate::io::READ_CHUNK * 2,
            "{}",
            buf.capacity()
        );
        let mut small = Vec::with_capacity(crate::io::READ_CHUNK);
        small.push(1u8);
        let ptr = small.as_ptr();
        super::shrink_buffer(&mut small);
        assert_eq!(small.as_ptr(), ptr, "a small buffer is kept");
    }

    #[test]
    fn ports_are_stripped() {
        assert_eq!(super::strip_port(b"example.com:8080"), b"example.com");
        assert_eq!(super::strip_port(b"example.com"), b"example.com");
        assert_eq!(super::strip_port(b"[::1]:80"), b"[::1]");
    }
}
