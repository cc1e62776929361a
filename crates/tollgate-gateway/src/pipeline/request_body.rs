//! The HTTP/1 request body as a [`BodyStream`]: pieces read from the client connection (its
//! one buffer, then more reads) within the body deadline, decoded from their framing. A
//! Content-Length body is lent straight from the connection's buffer (so it is forwarded
//! zero-copy); a chunked body's data is gathered into pieces of up to [`COALESCE_MAX`] bytes,
//! handed out when the gathered data fills one or the client's bytes run out, so a client
//! sending one-byte chunks does not cost one upstream write per chunk. Another protocol's
//! caller would give the pipeline its own source of request body pieces.

use std::io;
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::body::{BodyError, BodyReader, Piece, read_more};
use crate::error::GatewayError;
use crate::response::BodyStream;
use crate::state::Worker;

use super::Stream;

/// Decoded chunked data is gathered up to this many bytes before it is handed out.
pub(crate) const COALESCE_MAX: usize = 16 * 1024;

/// The request body of one HTTP/1 request, its head already consumed from `buf`.
pub(crate) struct Http1Body<'a, S> {
    w: &'a Worker,
    stream: &'a mut S,
    /// The connection's buffer: the body's bytes first, then whatever follows it.
    buf: &'a mut Vec<u8>,
    body: &'a mut BodyReader,
    /// The whole body arrives by then (else 408).
    body_deadline: Instant,
    /// No single read waits longer.
    read_timeout: Duration,
    /// How many bytes of `buf` the piece last lent covers (dropped when it is given back).
    lent: usize,
    /// Gathered data of a chunked body.
    gathered: Vec<u8>,
    /// The piece last lent was `gathered` (not `buf`).
    lent_gathered: bool,
    /// The body's end was seen.
    ended: bool,
}

impl<'a, S: Stream> Http1Body<'a, S> {
    pub(crate) fn new(
        w: &'a Worker,
        stream: &'a mut S,
        buf: &'a mut Vec<u8>,
        body: &'a mut BodyReader,
        body_deadline: Instant,
        read_timeout: Duration,
    ) -> Self {
        Self {
            w,
            stream,
            buf,
            body,
            body_deadline,
            read_timeout,
            lent: 0,
            gathered: Vec::new(),
            lent_gathered: false,
            ended: false,
        }
    }

    fn lend_gathered(&mut self) -> (Vec<u8>, Range<usize>) {
        self.lent_gathered = true;
        let g = std::mem::take(&mut self.gathered);
        let n = g.len();
        (g, 0..n)
    }

    /// Read more of the body from the client.
    async fn read(&mut self) -> Result<(), GatewayError> {
        let deadline = (Instant::now() + self.read_timeout).min(self.body_deadline);
        match read_more(self.stream, self.buf, deadline).await {
            Ok(0) => Err(GatewayError::bad_request()),
            Ok(_) => Ok(()),
            Err(e) => Err(read_failure(self.w, e)),
        }
    }
}

impl<S: Stream> BodyStream for Http1Body<'_, S> {
    type Error = GatewayError;

    async fn next(&mut self) -> Result<Option<(Vec<u8>, Range<usize>)>, GatewayError> {
        if self.lent_gathered {
            self.lent_gathered = false;
            self.gathered.clear();
        } else {
            self.buf.drain(..self.lent.min(self.buf.len()));
            self.lent = 0;
        }
        let chunked = self.body.is_chunked();
        loop {
            if self.ended {
                return Ok(None);
            }
            let piece = self.body.step(self.buf).map_err(step_failure)?;
            // Data still arriving after the body deadline: the client is late (408).
            if matches!(piece, Piece::Data { .. }) && Instant::now() >= self.body_deadline {
                let late = BodyError::Io(io::ErrorKind::TimedOut.into());
                return Err(read_failure(self.w, late));
            }
            match piece {
                Piece::Data { range, consumed } if chunked => {
                    if self.gathered.capacity() == 0 {
                        self.gathered
                            .reserve(COALESCE_MAX.min(range.len().max(crate::io::READ_CHUNK)));
                    }
                    self.gathered
                        .extend_from_slice(self.buf.get(range).unwrap_or_default());
                    self.buf.drain(..consumed.min(self.buf.len()));
                    if self.gathered.len() >= COALESCE_MAX {
                        return Ok(Some(self.lend_gathered()));
                    }
                }
                Piece::Data { range, consumed } => {
                    self.lent = consumed;
                    return Ok(Some((std::mem::take(self.buf), range)));
                }
                Piece::More { consumed } => {
                    self.buf.drain(..consumed.min(self.buf.len()));
                    // Nothing more without reading: hand out what was gathered first.
                    if !self.gathered.is_empty() {
                        return Ok(Some(self.lend_gathered()));
                    }
                    self.read().await?;
                }
                Piece::Done { consumed } => {
                    self.buf.drain(..consumed.min(self.buf.len()));
                    self.ended = true;
                    if !self.gathered.is_empty() {
                        return Ok(Some(self.lend_gathered()));
                    }
                }
            }
        }
    }

    fn give_back(&mut self, buf: Vec<u8>) {
        if self.lent_gathered {
            self.gathered = buf;
        } else {
            *self.buf = buf;
        }
    }
}

/// A request body read that failed: 408 when its deadline passed, else 400.
pub(crate) fn read_failure(w: &Worker, e: BodyError) -> GatewayError {
    match e {
        BodyError::Io(e) if e.kind() == io::ErrorKind::TimedOut => {
            w.metrics
                .bad_requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            GatewayError::request_timeout()
        }
        _ => GatewayError::bad_request(),
    }
}

/// A request body that does not decode: 413 past `max_body_bytes`, else 400.
fn step_failure(e: BodyError) -> GatewayError {
    match e {
        BodyError::TooLarge => GatewayError::too_large(),
        _ => GatewayError::bad_request(),
    }
}
