//! The worker's HTTP/1.1 client for authorizer functions: `POST` the event JSON to the
//! function URL over a per-worker keep-alive pool, on the worker's own monoio runtime. The
//! caller bounds the whole call with `timeout_ms`; nothing here blocks the thread.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use tollgate_http::{ChunkedDecoder, ResponseFraming, Step, parse_response};

use crate::io::{fill, write_all};
use crate::upstream::{Pool, connect};

/// Largest reply accepted (the Lambda synchronous payload limit).
const MAX_REPLY: usize = 6 * 1024 * 1024;
const MAX_HEAD: usize = 16 * 1024;

/// What came back.
#[derive(Debug)]
pub(crate) struct RawReply {
    pub status: u16,
    /// `X-Amz-Function-Error` was present.
    pub function_error: bool,
    pub body: Vec<u8>,
}

/// One call. A pooled connection that fails before answering is retried once on a fresh one.
pub(crate) async fn post(
    pool: &RefCell<Pool>,
    addr: SocketAddr,
    host: &str,
    path: &str,
    body: &[u8],
    deadline: Instant,
) -> io::Result<RawReply> {
    let mut req = Vec::with_capacity(body.len() + 160);
    req.extend_from_slice(b"POST ");
    req.extend_from_slice(path.as_bytes());
    req.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(b"\r\ncontent-type: application/json\r\ncontent-length: ");
    req.extend_from_slice(body.len().to_string().as_bytes());
    req.extend_from_slice(b"\r\n\r\n");
    req.extend_from_slice(body);

    let pooled = pool.borrow_mut().take(addr);
    if let Some(stream) = pooled {
        match exchange(stream, req.clone(), deadline).await {
            Ok((reply, Some(s))) => {
                pool.borrow_mut().put(addr, s);
                return Ok(reply);
            }
            Ok((reply, None)) => return Ok(reply),
            Err(Exchange::Unanswered(_)) => {} // stale keep-alive connection: retry fresh
            Err(Exchange::Failed(e) | Exchange::Answered(e)) => return Err(e),
        }
    }
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let stream = connect(addr, left).await?;
    match exchange(stream, req, deadline).await {
        Ok((reply, Some(s))) => {
            pool.borrow_mut().put(addr, s);
            Ok(reply)
        }
        Ok((reply, None)) => Ok(reply),
        Err(Exchange::Unanswered(e) | Exchange::Failed(e) | Exchange::Answered(e)) => Err(e),
    }
}

enum Exchange {
    /// Nothing came back (a pooled connection the peer had closed).
    Unanswered(io::Error),
    /// The request could not be written.
    Failed(io::Error),
    /// A reply started but was broken.
    Answered(io::Error),
}

fn bad(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Write the request and read one reply; the stream comes back when it can be reused.
async fn exchange(
    mut stream: TcpStream,
    req: Vec<u8>,
    deadline: Instant,
) -> Result<(RawReply, Option<TcpStream>), Exchange> {
    let (res, _) = write_all(&mut stream, req, Some(deadline)).await;
    res.map_err(Exchange::Failed)?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let head = loop {
        match parse_response(&buf, MAX_HEAD, false) {
            Ok(Some(h)) if h.is_interim() => {
                buf.drain(..h.head_len.min(buf.len()));
            }
            Ok(Some(h)) => break h,
            Ok(None) => match fill(&mut stream, &mut buf, Some(deadline)).await {
                Ok(0) if buf.is_empty() => {
                    return Err(Exchange::Unanswered(bad("closed before answering")));
                }
                Ok(0) => return Err(Exchange::Answered(bad("closed inside the reply head"))),
                Ok(_) => {}
                Err(e) if buf.is_empty() && e.kind() != io::ErrorKind::TimedOut => {
                    return Err(Exchange::Unanswered(e));
                }
                Err(e) => return Err(Exchange::Answered(e)),
            },
            Err(_) => return Err(Exchange::Answered(bad("malformed reply head"))),
        }
    };
    let function_error = head.header(&buf, b"x-amz-function-error").is_some();
    let status = head.status;
    let mut keep = head.keep_alive;
    let start = head.head_len.min(buf.len());
    let mut body = Vec::new();
    match head.framing {
        ResponseFraming::None => {}
        ResponseFraming::Length(n) => {
            let n = usize::try_from(n).map_err(|_| Exchange::Answered(bad("reply too large")))?;
            if n > MAX_REPLY {
                return Err(Exchange::Answered(bad("reply too large")));
            }
            while buf.len() < start + n {
                match fill(&mut stream, &mut buf, Some(deadline)).await {
                    Ok(0) => return Err(Exchange::Answered(bad("reply body cut short"))),
                    Ok(_) => {}
                    Err(e) => return Err(Exchange::Answered(e)),
                }
            }
            body.extend_from_slice(buf.get(start..start + n).unwrap_or_default());
            keep = keep && buf.len() == start + n;
        }
        ResponseFraming::Chunked => {
            buf.drain(..start);
            let mut dec = ChunkedDecoder::new();
            loop {
                let step = dec
                    .step(&buf)
                    .map_err(|_| Exchange::Answered(bad("bad chunked reply")))?;
                match step {
                    Step::Data { consumed, data } => {
                        body.extend_from_slice(buf.get(data).unwrap_or_default());
                        buf.drain(..consumed.min(buf.len()));
                        if body.len() > MAX_REPLY {
                            return Err(Exchange::Answered(bad("reply too large")));
                        }
                        continue;
                    }
                    Step::Done { consumed } => {
                        keep = keep && consumed == buf.len();
                        break;
                    }
                    Step::NeedMore { consumed } => {
                        buf.drain(..consumed.min(buf.len()));
                    }
                }
                match fill(&mut stream, &mut buf, Some(deadline)).await {
                    Ok(0) => return Err(Exchange::Answered(bad("reply body cut short"))),
                    Ok(_) => {}
                    Err(e) => return Err(Exchange::Answered(e)),
                }
            }
        }
        ResponseFraming::UntilClose => {
            keep = false;
            buf.drain(..start);
            loop {
                if buf.len() > MAX_REPLY {
                    return Err(Exchange::Answered(bad("reply too large")));
                }
                match fill(&mut stream, &mut buf, Some(deadline)).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(Exchange::Answered(e)),
                }
            }
            body = buf;
        }
    }
    Ok((
        RawReply {
            status,
            function_error,
            body,
        },
        keep.then_some(stream),
    ))
}
