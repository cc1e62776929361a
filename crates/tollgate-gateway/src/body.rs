//! Request bodies read off the client connection, piece by piece, without buffering the
//! whole body: Content-Length and chunked framing, bounded by `max_body_bytes`.

use std::io;
use std::time::Instant;

use monoio::io::AsyncReadRent;
use tollgate_http::{BodyFraming, ChunkedDecoder, HttpError, Step};

use crate::io::fill;

/// Why a body could not be read. (The payloads are for `Debug` output.)
#[derive(Debug)]
#[allow(dead_code)]
pub(crate) enum BodyError {
    /// The framing is broken (bad chunk size, missing CRLF...): 400.
    Framing(HttpError),
    /// More than `max_body_bytes`: 413.
    TooLarge,
    /// The client went away or timed out.
    Io(io::Error),
}

/// A piece of body: `buf[range]` is body data; after using it the caller drains `consumed`
/// bytes from the front of the buffer.
pub(crate) enum Piece {
    Data {
        range: std::ops::Range<usize>,
        consumed: usize,
    },
    /// Nothing usable yet; `consumed` framing bytes to drain, then read more.
    More {
        consumed: usize,
    },
    Done {
        consumed: usize,
    },
}

pub(crate) struct BodyReader {
    kind: Kind,
    total: u64,
    max: u64,
}

enum Kind {
    Empty,
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
}

impl BodyReader {
    pub(crate) fn new(framing: BodyFraming, max: u64) -> Result<Self, BodyError> {
        let kind = match framing {
            BodyFraming::None | BodyFraming::Length(0) => Kind::Empty,
            BodyFraming::Length(n) if n > max => return Err(BodyError::TooLarge),
            BodyFraming::Length(n) => Kind::Length { remaining: n },
            BodyFraming::Chunked => Kind::Chunked(ChunkedDecoder::new()),
        };
        Ok(Self {
            kind,
            total: 0,
            max,
        })
    }

    /// A body already read in full elsewhere: nothing more to read.
    pub(crate) fn finished() -> Self {
        Self {
            kind: Kind::Empty,
            total: 0,
            max: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self.kind, Kind::Empty)
    }

    pub(crate) fn is_chunked(&self) -> bool {
        matches!(self.kind, Kind::Chunked(_))
    }

    /// Look at what `buf` holds now.
    pub(crate) fn step(&mut self, buf: &[u8]) -> Result<Piece, BodyError> {
        match &mut self.kind {
            Kind::Empty => Ok(Piece::Done { consumed: 0 }),
            Kind::Length { remaining } => {
                if *remaining == 0 {
                    return Ok(Piece::Done { consumed: 0 });
                }
                if buf.is_empty() {
                    return Ok(Piece::More { consumed: 0 });
                }
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                *remaining -= n as u64;
                self.total += n as u64;
                Ok(Piece::Data {
                    range: 0..n,
                    consumed: n,
                })
            }
            Kind::Chunked(d) => match d.step(buf).map_err(BodyError::Framing)? {
                Step::NeedMore { consumed } => Ok(Piece::More { consumed }),
                Step::Data { consumed, data } => {
                    self.total += (data.end - data.start) as u64;
                    if self.total > self.max {
                        return Err(BodyError::TooLarge);
                    }
                    Ok(Piece::Data {
                        range: data,
                        consumed,
                    })
                }
                Step::Done { consumed } => Ok(Piece::Done { consumed }),
            },
        }
    }

    /// Read and throw away the rest of the body (for answers that do not need it).
    pub(crate) async fn discard<S: AsyncReadRent>(
        &mut self,
        stream: &mut S,
        buf: &mut Vec<u8>,
        deadline: Instant,
    ) -> Result<(), BodyError> {
        loop {
            match self.step(buf)? {
                Piece::Data { consumed, .. } => {
                    buf.drain(..consumed.min(buf.len()));
                }
                Piece::More { consumed } => {
                    buf.drain(..consumed.min(buf.len()));
                    if read_more(stream, buf, deadline).await? == 0 {
                        return Err(BodyError::Io(io::ErrorKind::UnexpectedEof.into()));
                    }
                }
                Piece::Done { consumed } => {
                    buf.drain(..consumed.min(buf.len()));
                    return Ok(());
                }
            }
        }
    }
}

pub(crate) async fn read_more<S: AsyncReadRent>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<usize, BodyError> {
    fill(stream, buf, Some(deadline))
        .await
        .map_err(BodyError::Io)
}
