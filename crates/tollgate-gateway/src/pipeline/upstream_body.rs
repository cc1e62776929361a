//! An upstream's response body as a [`BodyStream`]: read from the upstream connection as
//! the client's writer pulls it, decoded from its framing (Content-Length, chunked, until
//! close), and the connection handed back to the worker's pool once the body ended cleanly.

use std::io;
use std::ops::Range;
use std::time::{Duration, Instant};

use tollgate_http::{ChunkedDecoder, ResponseFraming, Step};

use crate::client::{PoolKey, Upstream};
use crate::io::fill;
use crate::response::BodyStream;
use crate::state::Worker;

/// Where the body is in its framing.
enum State {
    /// `n` bytes still to come.
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
    /// Over; `clean`: nothing stray was read past it.
    Done {
        clean: bool,
    },
}

/// The body of one upstream response.
pub(crate) struct UpstreamBody<'w> {
    w: &'w Worker,
    up: Option<Upstream>,
    addr: PoolKey,
    /// The upstream allows keeping its connection.
    keep_alive: bool,
    /// Bytes read from the upstream and not yet handed out (`None` while lent).
    buf: Option<Vec<u8>>,
    /// How much of `buf` the piece last lent covered (consumed when it comes back).
    lent: usize,
    state: State,
    /// Each read waits at most this long.
    timeout: Duration,
}

impl<'w> UpstreamBody<'w> {
    /// The body after a head whose framing is `framing`; `buf` holds what was read past the
    /// head.
    pub(crate) fn new(
        w: &'w Worker,
        up: Upstream,
        addr: &PoolKey,
        keep_alive: bool,
        buf: Vec<u8>,
        framing: ResponseFraming,
        timeout: Duration,
    ) -> Self {
        let state = match framing {
            // No body (HEAD, 204, 304): a byte already read past the head is one the
            // upstream must not have sent; never reuse the connection then.
            ResponseFraming::None => State::Done {
                clean: buf.is_empty(),
            },
            ResponseFraming::Length(n) => State::Length(n),
            ResponseFraming::Chunked => State::Chunked(ChunkedDecoder::new()),
            ResponseFraming::UntilClose => State::UntilClose,
        };
        let mut body = Self {
            w,
            up: Some(up),
            addr: addr.clone(),
            keep_alive,
            buf: Some(buf),
            lent: 0,
            state,
            timeout,
        };
        body.finish_if_done();
        body
    }

    /// Read more from the upstream into the buffer; end of stream is an error unless the
    /// body is delimited by it.
    async fn read_more(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let Some(up) = self.up.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        fill(up, buf, Some(Instant::now() + self.timeout)).await
    }

    /// Once the body is over: pool the connection when it is clean and may be kept.
    fn finish_if_done(&mut self) {
        if let State::Done { clean } = self.state
            && let Some(up) = self.up.take()
            && clean
            && self.keep_alive
        {
            self.w.pool.borrow_mut().put(&self.addr, up);
        }
    }

    /// The next piece as a range of `buf`, with how many bytes of `buf` it consumes.
    async fn step(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<(Range<usize>, usize)>> {
        loop {
            match &mut self.state {
                State::Done { .. } => return Ok(None),
                State::Length(n) => {
                    let n = *n;
                    if n == 0 {
                        self.state = State::Done {
                            clean: buf.is_empty(),
                        };
                        continue;
                    }
                    if buf.is_empty() && self.read_more(buf).await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(buf.len());
                    self.state = State::Length(n - take as u64);
                    return Ok(Some((0..take, take)));
                }
                State::Chunked(dec) => {
                    let step = dec
                        .step(buf)
                        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk"))?;
                    match step {
                        Step::Data { consumed, data } => return Ok(Some((data, consumed))),
                        Step::NeedMore { consumed } => {
                            buf.drain(..consumed.min(buf.len()));
                            if self.read_more(buf).await? == 0 {
                                return Err(io::ErrorKind::UnexpectedEof.into());
                            }
                        }
                        Step::Done { consumed } => {
                            buf.drain(..consumed.min(buf.len()));
                            self.state = State::Done {
                                clean: buf.is_empty(),
                            };
                        }
                    }
                }
                State::UntilClose => {
                    if !buf.is_empty() {
                        let n = buf.len();
                        return Ok(Some((0..n, n)));
                    }
                    if self.read_more(buf).await? == 0 {
                        self.state = State::Done { clean: false };
                    }
                }
            }
        }
    }
}

impl BodyStream for UpstreamBody<'_> {
    type Error = io::Error;

    async fn next(&mut self) -> io::Result<Option<(Vec<u8>, Range<usize>)>> {
        let mut buf = self.buf.take().unwrap_or_default();
        buf.drain(..self.lent.min(buf.len()));
        self.lent = 0;
        let r = self.step(&mut buf).await;
        match r {
            Ok(Some((range, consumed))) => {
                self.lent = consumed;
                Ok(Some((buf, range)))
            }
            Ok(None) => {
                self.buf = Some(buf);
                self.finish_if_done();
                Ok(None)
            }
            Err(e) => {
                // A broken body: the connection is never pooled.
                self.up = None;
                self.state = State::Done { clean: false };
                Err(e)
            }
        }
    }

    fn give_back(&mut self, buf: Vec<u8>) {
        self.buf = Some(buf);
    }
}
