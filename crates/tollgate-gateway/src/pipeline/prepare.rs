//! Phase 2, prepare: what authorization looks at besides the head: the client address
//! (`aws:SourceIp`), the method ARN, and for `AWS_IAM` the whole body (its hash is signed),
//! buffered within the worker's body budget.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tollgate_http::{BodyFraming, RequestHead};

use crate::body::BodyReader;
use crate::error::GatewayError;
use crate::io::fill;
use crate::snapshot::Snapshot;
use crate::state::Worker;

use super::{Conn, RouteCtx, Stream};

/// What the prepare phase found.
pub(crate) struct Prepared {
    /// `aws:SourceIp`.
    pub source_ip: IpAddr,
    /// `arn:aws:execute-api:...` (empty on open routes of APIs without a resource policy).
    pub method_arn: String,
    /// The body, when it was read whole for `AWS_IAM`.
    pub buffered: Option<Buffered>,
}

/// Prepare a routed request for authorization.
pub(crate) async fn prepare<S: Stream>(
    c: &mut Conn<S>,
    snap: &Snapshot,
    head: &mut RequestHead,
    rc: &RouteCtx<'_>,
    body: &BodyReader,
    budget: &mut BodyBudget<'_>,
) -> Result<Prepared, GatewayError> {
    let gateway = &snap.compiled.config.gateway;
    let source_ip = client_ip(c.source_ip, head, &c.buf, &gateway.trusted_proxies);
    // Only policies look at the method ARN: skip building it for open routes.
    let needs_arn = rc.route.authorization != tollgate_config::Authorization::None
        || rc.api.resource_policy.is_some();
    let method_arn = if needs_arn {
        tollgate_config::method_arn(
            &gateway.region,
            &gateway.account_id,
            &rc.api_cfg.id,
            rc.m.stage,
            &String::from_utf8_lossy(head.method.slice(&c.buf)),
            &rc.m.resource_path,
        )
    } else {
        String::new()
    };
    // AWS_IAM signs the payload: buffer the body (bounded by max_body_bytes) unless the
    // client declared it unsigned.
    let buffered = if rc.route.authorization == tollgate_config::Authorization::AwsIam
        && !body.is_empty()
        && head.header(&c.buf, b"x-amz-content-sha256") != Some(b"UNSIGNED-PAYLOAD".as_slice())
    {
        // Boxed: its reads (each with a timer) would otherwise be part of every request's
        // future, not only of the signed ones with a body (an HTTP/2 stream's future is
        // copied into its task once per request).
        Some(Box::pin(buffer_body(c, head, snap, budget)).await?)
    } else {
        None
    };
    Ok(Prepared {
        source_ip,
        method_arn,
        buffered,
    })
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

/// A request body read whole before authorization (AWS_IAM payload hash): `data` is a range
/// of the connection buffer. A chunked body is decoded in place (`decoded`: the buffer holds
/// the data with no framing until [`reframe_decoded`] frames it again for forwarding).
pub(crate) struct Buffered {
    pub data: std::ops::Range<usize>,
    pub decoded: bool,
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
    pub(crate) fn hold(&mut self, n: u64, limit: u64) -> bool {
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
pub(crate) fn shrink_buffer(buf: &mut Vec<u8>) {
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
fn make_room<S>(
    c: &mut Conn<S>,
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
async fn buffer_body<S: Stream>(
    c: &mut Conn<S>,
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
        let deadline = Instant::now() + snap.header_timeout;
        crate::http1::send_continue(&mut c.stream, deadline)
            .await
            .map_err(|_| bad_request())?;
        head.expect_continue = false;
    }
    let deadline = Instant::now() + snap.header_timeout.max(Duration::from_secs(30));
    let room = Room { limit, cap };
    match head.framing {
        BodyFraming::Length(n) => read_length_body(c, budget, room, start, n, deadline).await,
        BodyFraming::Chunked => read_chunked_body(c, snap, budget, room, start, deadline).await,
        BodyFraming::None => Ok(Buffered {
            data: start..start,
            decoded: false,
        }),
    }
}

/// How far a buffered body may grow: the worker's budget and the buffer's cap.
#[derive(Clone, Copy)]
struct Room {
    limit: u64,
    cap: usize,
}

/// Read a Content-Length body of `n` bytes after the head (`start`) into the buffer.
async fn read_length_body<S: Stream>(
    c: &mut Conn<S>,
    budget: &mut BodyBudget<'_>,
    room: Room,
    start: usize,
    n: u64,
    deadline: Instant,
) -> Result<Buffered, GatewayError> {
    let n = usize::try_from(n).map_err(|_| too_large())?;
    let end = start.checked_add(n).ok_or_else(too_large)?;
    while c.buf.len() < end {
        make_room(
            c,
            budget,
            room.limit,
            room.cap.max(end + crate::io::READ_CHUNK),
        )?;
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

/// Read a chunked body after the head (`start`), decoding it in place as it arrives.
async fn read_chunked_body<S: Stream>(
    c: &mut Conn<S>,
    snap: &Snapshot,
    budget: &mut BodyBudget<'_>,
    room: Room,
    start: usize,
    deadline: Instant,
) -> Result<Buffered, GatewayError> {
    let mut dec = tollgate_http::InPlaceChunked::new(start);
    loop {
        let step = dec.advance(&mut c.buf).map_err(|_| bad_request())?;
        if dec.decoded_len() as u64 > snap.max_body_bytes {
            return Err(too_large());
        }
        match step {
            tollgate_http::InPlace::NeedMore => {
                make_room(c, budget, room.limit, room.cap)?;
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

/// Largest chunk of a re-framed body: the upstream writer copies one chunk at a time.
const REFRAME_CHUNK: usize = 64 * 1024;

/// Frame a body decoded in place (`buf[data]`, followed by the next message's bytes) as
/// chunks of [`REFRAME_CHUNK`] bytes and the last chunk, so that it is forwarded from the
/// buffer like any chunked body. One pass from the back: each byte moves once.
pub(crate) fn reframe_decoded(buf: &mut Vec<u8>, data: std::ops::Range<usize>) {
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
}
