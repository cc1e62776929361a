//! One HTTP/1.1 exchange on a connection: write a request, read the response head with the
//! strict parser of `tollgate-http`, read the body (Content-Length, chunked or until close)
//! within limits, and say whether the connection is clean enough to carry another request.

use std::cell::RefCell;
use std::io;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use tollgate_http::{
    ChunkedDecoder, HeadWriter, InvalidHead, ResponseFraming, ResponseHead, Step, parse_response,
};

use super::pool::Pool;
use super::stream::{PoolKey, open};
use crate::io::{fill, write_all};

/// Bounds on one response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most bytes of a response head (interim 1xx heads are counted one by one).
    pub max_head: usize,
    /// Most bytes of a (decoded) response body.
    pub max_body: usize,
}

/// A whole response.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    /// The final head; its spans point into `head_bytes`.
    pub head: ResponseHead,
    pub head_bytes: Vec<u8>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.head.header(&self.head_bytes, name)
    }
}

/// How an exchange failed, in the terms that decide a retry.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// Nothing came back and no time ran out: typically a pooled keep-alive connection the
    /// peer had closed. A request that can be replayed may be retried on a fresh connection.
    Unanswered(io::Error),
    /// The request could not be written.
    Send(io::Error),
    /// A reply started but was malformed, cut short, too large, or late.
    Broken(io::Error),
}

impl ExchangeError {
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            ExchangeError::Unanswered(e) | ExchangeError::Send(e) | ExchangeError::Broken(e) => e,
        }
    }
}

fn bad(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Why a response head could not be read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The peer closed; `answered`: some bytes of a reply had arrived first.
    Closed { answered: bool },
    /// A read failed or the deadline passed (`ErrorKind::TimedOut`).
    Io { err: io::Error, answered: bool },
    /// Not a valid HTTP/1 response head, or one over the size limit.
    Malformed,
    /// `101 Switching Protocols`: the client never asks to upgrade.
    Upgrade,
}

impl HeadError {
    /// Nothing at all came back and no time ran out (see [`ExchangeError::Unanswered`]).
    pub(crate) fn unanswered(&self) -> bool {
        match self {
            HeadError::Closed { answered } => !answered,
            HeadError::Io { err, answered } => !answered && err.kind() != io::ErrorKind::TimedOut,
            HeadError::Malformed | HeadError::Upgrade => false,
        }
    }

    fn into_exchange(self) -> ExchangeError {
        let unanswered = self.unanswered();
        let e = match self {
            HeadError::Closed { answered: false } => bad("closed before answering"),
            HeadError::Closed { answered: true } => bad("closed inside the reply head"),
            HeadError::Io { err, .. } => err,
            HeadError::Malformed => bad("malformed reply head"),
            HeadError::Upgrade => bad("unexpected 101 Switching Protocols"),
        };
        if unanswered {
            ExchangeError::Unanswered(e)
        } else {
            ExchangeError::Broken(e)
        }
    }
}

/// Reads the final response head into `buf` (which may already hold the first bytes), skipping
/// interim 1xx heads. On success `buf` starts with the head: `head.head_len` bytes, then any
/// body bytes already read.
pub(crate) async fn read_head<S: AsyncReadRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    max_head: usize,
    request_was_head: bool,
    deadline: Instant,
) -> Result<ResponseHead, HeadError> {
    let mut answered = !buf.is_empty();
    loop {
        match parse_response(buf, max_head, request_was_head) {
            Ok(Some(h)) if h.status == 101 => return Err(HeadError::Upgrade),
            Ok(Some(h)) if h.is_interim() => {
                buf.drain(..h.head_len.min(buf.len()));
            }
            Ok(Some(h)) => return Ok(h),
            Ok(None) => match fill(stream, buf, Some(deadline)).await {
                Ok(0) => return Err(HeadError::Closed { answered }),
                Ok(_) => answered = true,
                Err(err) => return Err(HeadError::Io { err, answered }),
            },
            Err(_) => return Err(HeadError::Malformed),
        }
    }
}

/// Reads the whole body that follows `head` (whose bytes start `buf`), decoded, at most
/// `max_body` bytes. `Ok((body, clean))`: `clean` when the body ended exactly where the bytes
/// read so far end (no stray byte after it) and the framing lets the connection continue.
pub(crate) async fn read_body<S: AsyncReadRent>(
    stream: &mut S,
    mut buf: Vec<u8>,
    head: &ResponseHead,
    max_body: usize,
    deadline: Instant,
) -> io::Result<(Vec<u8>, bool)> {
    let too_large = || bad("reply too large");
    let cut_short = || io::Error::new(io::ErrorKind::UnexpectedEof, "reply body cut short");
    buf.drain(..head.head_len.min(buf.len()));
    match head.framing {
        ResponseFraming::None => {
            let clean = buf.is_empty();
            Ok((Vec::new(), clean))
        }
        ResponseFraming::Length(n) => {
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| n <= max_body)
                .ok_or_else(too_large)?;
            while buf.len() < n {
                if fill(stream, &mut buf, Some(deadline)).await? == 0 {
                    return Err(cut_short());
                }
            }
            let clean = buf.len() == n;
            buf.truncate(n);
            Ok((buf, clean))
        }
        ResponseFraming::Chunked => {
            let mut body = Vec::new();
            let mut dec = ChunkedDecoder::new();
            loop {
                match dec.step(&buf).map_err(|_| bad("bad chunked reply"))? {
                    Step::Data { consumed, data } => {
                        if body.len().saturating_add(data.len()) > max_body {
                            return Err(too_large());
                        }
                        body.extend_from_slice(buf.get(data).unwrap_or_default());
                        buf.drain(..consumed.min(buf.len()));
                        continue;
                    }
                    Step::Done { consumed } => return Ok((body, consumed == buf.len())),
                    Step::NeedMore { consumed } => {
                        buf.drain(..consumed.min(buf.len()));
                    }
                }
                if fill(stream, &mut buf, Some(deadline)).await? == 0 {
                    return Err(cut_short());
                }
            }
        }
        ResponseFraming::UntilClose => loop {
            if buf.len() > max_body {
                return Err(too_large());
            }
            if fill(stream, &mut buf, Some(deadline)).await? == 0 {
                return Ok((buf, false));
            }
        },
    }
}

/// A request head, checked by `tollgate-http`'s head writer: `method target HTTP/1.1`,
/// `Host`, the given headers, and `Content-Length` when `body_len` is given.
pub(crate) fn request_head(
    method: &[u8],
    target: &str,
    host: &str,
    headers: &[(&[u8], &[u8])],
    body_len: Option<usize>,
) -> Result<Vec<u8>, InvalidHead> {
    let mut out = Vec::with_capacity(128 + target.len());
    let mut w = HeadWriter::request(&mut out, method, target.as_bytes())?;
    w.header(b"Host", host.as_bytes())?;
    for (name, value) in headers {
        w.header(name, value)?;
    }
    if let Some(n) = body_len {
        w.content_length(u64::try_from(n).unwrap_or(u64::MAX));
    }
    w.finish();
    Ok(out)
}

/// One exchange on `stream`: write `request` (head and body), read one whole response. The
/// stream comes back when it can carry another request.
pub(crate) async fn roundtrip<S: AsyncReadRent + AsyncWriteRent>(
    mut stream: S,
    request: Vec<u8>,
    request_was_head: bool,
    limits: Limits,
    deadline: Instant,
) -> Result<(Response, Option<S>), ExchangeError> {
    let (res, _) = write_all(&mut stream, request, Some(deadline)).await;
    res.map_err(ExchangeError::Send)?;
    let mut buf = Vec::with_capacity(crate::io::READ_CHUNK);
    let head = read_head(
        &mut stream,
        &mut buf,
        limits.max_head,
        request_was_head,
        deadline,
    )
    .await
    .map_err(HeadError::into_exchange)?;
    let head_bytes = buf.get(..head.head_len).unwrap_or_default().to_vec();
    let (body, clean) = read_body(&mut stream, buf, &head, limits.max_body, deadline)
        .await
        .map_err(ExchangeError::Broken)?;
    let reusable = clean && head.keep_alive;
    Ok((
        Response {
            status: head.status,
            head,
            head_bytes,
            body,
        },
        reusable.then_some(stream),
    ))
}

/// One request over `pool`: a pooled connection to `addr` first; if it never answers (the
/// peer had closed it), once more on a fresh connection. Only for requests that can be sent
/// twice (the whole request is in `request`). A clean connection goes back to the pool.
pub(crate) async fn call_pooled(
    pool: &RefCell<Pool>,
    key: &PoolKey,
    tls: &Result<tollgate_tls::ClientTls, String>,
    request: Vec<u8>,
    limits: Limits,
    deadline: Instant,
) -> io::Result<Response> {
    let pooled = pool.borrow_mut().take(key);
    if let Some(stream) = pooled {
        match roundtrip(stream, request.clone(), false, limits, deadline).await {
            Ok((reply, stream)) => {
                if let Some(s) = stream {
                    pool.borrow_mut().put(key, s);
                }
                return Ok(reply);
            }
            Err(ExchangeError::Unanswered(_)) => {} // stale keep-alive connection: retry fresh
            Err(e) => return Err(e.into_io()),
        }
    }
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let stream = open(key, tls, left).await?;
    let (reply, stream) = roundtrip(stream, request, false, limits, deadline)
        .await
        .map_err(ExchangeError::into_io)?;
    if let Some(s) = stream {
        pool.borrow_mut().put(key, s);
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::client::pool::connect;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener};

    const LIMITS: Limits = Limits {
        max_head: 4096,
        max_body: 64,
    };

    /// A one-connection-at-a-time server answering each request with the next canned reply
    /// (`None`: close without answering), then closing when `close` says so.
    fn server(replies: Vec<(Option<&'static [u8]>, bool)>) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut replies = replies.into_iter();
            while let Ok((mut s, _)) = l.accept() {
                loop {
                    let mut b = [0u8; 4096];
                    let Ok(n) = s.read(&mut b) else { break };
                    if n == 0 {
                        break;
                    }
                    let Some((reply, close)) = replies.next() else {
                        return;
                    };
                    match reply {
                        Some(r) => s.write_all(r).unwrap(),
                        None => break,
                    }
                    if close {
                        break;
                    }
                }
            }
        });
        addr
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn get() -> Vec<u8> {
        request_head(b"GET", "/x", "h", &[], None).unwrap()
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    async fn once(addr: SocketAddr) -> Result<(Response, bool), ExchangeError> {
        let s = connect(addr, Duration::from_secs(1)).await.unwrap();
        roundtrip(s, get(), false, LIMITS, deadline())
            .await
            .map(|(r, s)| (r, s.is_some()))
    }

    #[test]
    fn request_heads_are_checked() {
        let h = request_head(b"POST", "/f?a=1", "h:81", &[(b"X-A", b"1")], Some(2)).unwrap();
        assert_eq!(
            h,
            b"POST /f?a=1 HTTP/1.1\r\nHost: h:81\r\nX-A: 1\r\nContent-Length: 2\r\n\r\n"
        );
        assert!(request_head(b"GET", "/", "h\r\nX: y", &[], None).is_err());
        assert!(request_head(b"GET", "/ x", "h", &[], None).is_err());
    }

    #[test]
    fn framings_and_reuse() {
        let addr = server(vec![
            (Some(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), false),
            (Some(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\n{\"\r\n3\r\nk\":\r\n2\r\n1}\r\n0\r\n\r\n"), false),
            (Some(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"), true),
            (Some(b"HTTP/1.0 200 OK\r\n\r\nuntil close"), true),
            (Some(b"HTTP/1.1 503 Busy\r\nConnection: close\r\nX-Amz-Function-Error: Unhandled\r\nContent-Length: 0\r\n\r\n"), true),
        ]);
        run(async move {
            let (r, reusable) = once(addr).await.unwrap();
            assert_eq!(
                (r.status, r.body.as_slice(), reusable),
                (200, &b"ok"[..], true)
            );
            let (r, reusable) = once(addr).await.unwrap();
            assert_eq!((r.body.as_slice(), reusable), (&b"{\"k\":1}"[..], true));
            let (r, reusable) = once(addr).await.unwrap();
            assert_eq!(
                (r.body.as_slice(), reusable),
                (&b"ok"[..], false),
                "stray bytes"
            );
            let (r, reusable) = once(addr).await.unwrap();
            assert_eq!((r.body.as_slice(), reusable), (&b"until close"[..], false));
            let (r, reusable) = once(addr).await.unwrap();
            assert_eq!((r.status, reusable), (503, false));
            assert_eq!(r.header(b"x-amz-function-error"), Some(&b"Unhandled"[..]));
        });
    }

    #[test]
    fn broken_replies() {
        let addr = server(vec![
            (None, true),
            (Some(b"HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n"), true),
            (
                Some(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
                true,
            ),
            (
                Some(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"),
                true,
            ),
            (
                Some(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
                true,
            ),
            (Some(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"), true),
            (Some(b"HTTP/1.1 200"), true),
            (
                Some(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n"),
                true,
            ),
        ]);
        run(async move {
            assert!(matches!(
                once(addr).await,
                Err(ExchangeError::Unanswered(_))
            ));
            for what in [
                "too large",
                "bad chunk",
                "cut short",
                "bad TE",
                "101",
                "cut head",
                "cut chunk",
            ] {
                assert!(
                    matches!(once(addr).await, Err(ExchangeError::Broken(_))),
                    "{what}"
                );
            }
        });
    }

    #[test]
    fn times_out_on_a_silent_peer() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            std::thread::sleep(Duration::from_millis(500));
            drop(s);
        });
        run(async move {
            let s = connect(addr, Duration::from_secs(1)).await.unwrap();
            let started = Instant::now();
            let r = roundtrip(
                s,
                get(),
                false,
                LIMITS,
                Instant::now() + Duration::from_millis(100),
            )
            .await;
            match r {
                Err(ExchangeError::Broken(e)) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
                other => panic!("{other:?}"),
            }
            assert!(started.elapsed() < Duration::from_millis(450));
        });
        t.join().unwrap();
    }

    #[test]
    fn pooled_call_retries_a_stale_connection_once() {
        // The pooled connection reads the second request and closes without answering (as a
        // server whose keep-alive timer just fired does): the call is sent again on a fresh one.
        let addr = server(vec![
            (
                Some(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"),
                false,
            ),
            (None, true),
            (
                Some(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"),
                false,
            ),
            (
                Some(b"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\nab"),
                true,
            ),
        ]);
        run(async move {
            let pool = RefCell::new(Pool::new(4, Duration::from_secs(30)));
            let r = call_pooled(
                &pool,
                &PoolKey::plain(addr),
                &Err("no tls".to_owned()),
                get(),
                LIMITS,
                deadline(),
            )
            .await
            .unwrap();
            assert_eq!(r.body, b"a");
            let r = call_pooled(
                &pool,
                &PoolKey::plain(addr),
                &Err("no tls".to_owned()),
                get(),
                LIMITS,
                deadline(),
            )
            .await
            .unwrap();
            assert_eq!(r.body, b"b");
            // An answer that breaks off is not retried.
            assert!(
                call_pooled(
                    &pool,
                    &PoolKey::plain(addr),
                    &Err("no tls".to_owned()),
                    get(),
                    LIMITS,
                    deadline()
                )
                .await
                .is_err()
            );
        });
    }
}
