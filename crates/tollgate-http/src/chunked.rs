//! Incremental, zero-copy decoding of the chunked transfer coding (RFC 9112 §7.1).

use std::ops::Range;

use crate::HttpError;
use crate::common::is_tchar;

/// Most hex digits in a chunk size (16 digits fill a `u64`).
pub const MAX_CHUNK_SIZE_DIGITS: u8 = 16;
/// Most bytes of chunk extensions and trailer section, together, per body.
pub const MAX_EXT_AND_TRAILER_BYTES: usize = 8 * 1024;

/// What one [`ChunkedDecoder::step`] call produced. `consumed` always counts bytes from the
/// start of the input given to that call; the caller advances by it before the next call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// All of the input was framing (sizes, extensions, CRLFs, trailers): read more.
    NeedMore {
        /// Bytes of input used up (all of it).
        consumed: usize,
    },
    /// Body bytes: `input[data]`, to forward as they are. `consumed` ends at `data.end`.
    Data {
        /// Bytes of input used up.
        consumed: usize,
        /// The body bytes, as a range of the input.
        data: Range<usize>,
    },
    /// The body is over (last chunk, trailers and final CRLF read). Bytes after `consumed`
    /// belong to the next message.
    Done {
        /// Bytes of input used up.
        consumed: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the chunk-size hex digits.
    Size,
    /// `;` seen: reading an extension name.
    ExtName { started: bool },
    /// `=` seen: first byte of an extension value.
    ExtValueStart,
    /// Inside a token extension value.
    ExtValueToken,
    /// Inside a quoted-string extension value.
    ExtQuoted,
    /// After `\` inside a quoted string.
    ExtQuotedEscape,
    /// After the closing quote.
    ExtAfterQuote,
    /// CR seen at the end of the chunk-size line.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// Expect CR after data.
    DataCr,
    /// Expect LF after data.
    DataLf,
    /// At the start of a trailer line, or of the final empty line.
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// CR seen in a trailer line.
    TrailerLf,
    /// CR of the final empty line seen.
    EndLf,
    /// Finished.
    Done,
}

/// Incremental chunked decoder. Holds no buffer: framing bytes are consumed into its state,
/// data is returned as ranges of the caller's input. Strict: hex digits only (no `0x`, sign or
/// spaces, at most 16), CRLF everywhere (no bare LF, no missing CRLF after data), well-formed
/// extensions, no obs-fold in trailers; extensions + trailers bounded by
/// [`MAX_EXT_AND_TRAILER_BYTES`]. Extensions and trailers are validated and dropped.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    digits: u8,
    size: u64,
    remaining: u64,
    meta_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

const BAD_SIZE: HttpError = HttpError::BadRequest("invalid chunk size");
const BAD_EXT: HttpError = HttpError::BadRequest("invalid chunk extension");
const BAD_CRLF: HttpError = HttpError::BadRequest("missing CRLF in chunked body");
const BAD_TRAILER: HttpError = HttpError::BadRequest("invalid trailer field");

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size,
            digits: 0,
            size: 0,
            remaining: 0,
            meta_bytes: 0,
        }
    }

    /// True once the final CRLF has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Advance over `input` (the bytes after those already consumed). Returns at the first
    /// data run, at the end of the body, or when the input is used up.
    pub fn step(&mut self, input: &[u8]) -> Result<Step, HttpError> {
        let mut i = 0usize;
        while i < input.len() {
            if self.state == State::Data {
                let avail = input.len() - i;
                let take = usize::try_from(self.remaining).map_or(avail, |r| r.min(avail));
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                return Ok(Step::Data {
                    consumed: i + take,
                    data: i..i + take,
                });
            }
            if self.state == State::Done {
                return Ok(Step::Done { consumed: i });
            }
            let b = input.get(i).copied().unwrap_or_default();
            i += 1;
            self.byte(b)?;
            if self.state == State::Done {
                return Ok(Step::Done { consumed: i });
            }
        }
        if self.state == State::Done {
            return Ok(Step::Done { consumed: i });
        }
        Ok(Step::NeedMore { consumed: i })
    }

    fn meta(&mut self) -> Result<(), HttpError> {
        self.meta_bytes += 1;
        if self.meta_bytes > MAX_EXT_AND_TRAILER_BYTES {
            return Err(HttpError::BadRequest(
                "chunk extensions or trailers too large",
            ));
        }
        Ok(())
    }

    /// End of the chunk-size line (CR seen).
    fn size_line_cr(&mut self) -> Result<(), HttpError> {
        if self.digits == 0 {
            return Err(BAD_SIZE);
        }
        self.state = State::SizeLf;
        Ok(())
    }

    fn byte(&mut self, b: u8) -> Result<(), HttpError> {
        match self.state {
            State::Size => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    if self.digits >= MAX_CHUNK_SIZE_DIGITS {
                        return Err(BAD_SIZE);
                    }
                    let v = match b {
                        b'0'..=b'9' => b - b'0',
                        b'a'..=b'f' => b - b'a' + 10,
                        _ => b - b'A' + 10,
                    };
                    self.size = (self.size << 4) | u64::from(v);
                    self.digits += 1;
                }
                b'\r' => self.size_line_cr()?,
                b';' if self.digits > 0 => {
                    self.meta()?;
                    self.state = State::ExtName { started: false };
                }
                _ => return Err(BAD_SIZE),
            },
            State::ExtName { started } => {
                self.meta()?;
                match b {
                    _ if is_tchar(b) => self.state = State::ExtName { started: true },
                    b'=' if started => self.state = State::ExtValueStart,
                    b';' if started => self.state = State::ExtName { started: false },
                    b'\r' if started => self.size_line_cr()?,
                    _ => return Err(BAD_EXT),
                }
            }
            State::ExtValueStart => {
                self.meta()?;
                match b {
                    b'"' => self.state = State::ExtQuoted,
                    _ if is_tchar(b) => self.state = State::ExtValueToken,
                    _ => return Err(BAD_EXT),
                }
            }
            State::ExtValueToken => {
                self.meta()?;
                match b {
                    _ if is_tchar(b) => {}
                    b';' => self.state = State::ExtName { started: false },
                    b'\r' => self.size_line_cr()?,
                    _ => return Err(BAD_EXT),
                }
            }
            State::ExtQuoted => {
                self.meta()?;
                match b {
                    b'"' => self.state = State::ExtAfterQuote,
                    b'\\' => self.state = State::ExtQuotedEscape,
                    b'\t' | b' ' | b'!' | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => {}
                    _ => return Err(BAD_EXT),
                }
            }
            State::ExtQuotedEscape => {
                self.meta()?;
                match b {
                    b'\t' | b' '..=b'~' | 0x80..=0xff => self.state = State::ExtQuoted,
                    _ => return Err(BAD_EXT),
                }
            }
            State::ExtAfterQuote => {
                self.meta()?;
                match b {
                    b';' => self.state = State::ExtName { started: false },
                    b'\r' => self.size_line_cr()?,
                    _ => return Err(BAD_EXT),
                }
            }
            State::SizeLf => {
                if b != b'\n' {
                    return Err(BAD_CRLF);
                }
                if self.size == 0 {
                    self.state = State::TrailerStart;
                } else {
                    self.remaining = self.size;
                    self.state = State::Data;
                }
                self.size = 0;
                self.digits = 0;
            }
            State::DataCr => {
                if b != b'\r' {
                    return Err(BAD_CRLF);
                }
                self.state = State::DataLf;
            }
            State::DataLf => {
                if b != b'\n' {
                    return Err(BAD_CRLF);
                }
                self.state = State::Size;
            }
            State::TrailerStart => match b {
                b'\r' => self.state = State::EndLf,
                _ if is_tchar(b) => {
                    self.meta()?;
                    self.state = State::TrailerName;
                }
                _ => return Err(BAD_TRAILER),
            },
            State::TrailerName => {
                self.meta()?;
                match b {
                    _ if is_tchar(b) => {}
                    b':' => self.state = State::TrailerValue,
                    _ => return Err(BAD_TRAILER),
                }
            }
            State::TrailerValue => {
                self.meta()?;
                match b {
                    b'\r' => self.state = State::TrailerLf,
                    b'\t' | b' '..=b'~' | 0x80..=0xff => {}
                    _ => return Err(BAD_TRAILER),
                }
            }
            State::TrailerLf => {
                if b != b'\n' {
                    return Err(BAD_CRLF);
                }
                self.state = State::TrailerStart;
            }
            State::EndLf => {
                if b != b'\n' {
                    return Err(BAD_CRLF);
                }
                self.state = State::Done;
            }
            // Handled by `step` before a byte is read.
            State::Data | State::Done => {}
        }
        Ok(())
    }
}

/// What [`InPlaceChunked::advance`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InPlace {
    /// Every byte after the decoded data was framing or data and is used up: read more,
    /// append it to the buffer, call again.
    NeedMore,
    /// The body is over. Bytes from `rest` on (right after the decoded data) belong to the
    /// next message.
    Done {
        /// Where the next message starts in the buffer.
        rest: usize,
    },
}

/// Decodes a chunked body inside the buffer it is read into, for a caller that must hold the
/// whole body (to hash it) before forwarding it. The buffer is kept as
/// `[.. start][decoded data][bytes not looked at yet]`: each [`advance`](Self::advance)
/// moves the data of newly read chunks down over the framing before it and cuts the framing
/// out, so after a call the buffer holds `start + decoded` bytes (plus, at the end, the next
/// message's bytes). Framing never accumulates: zero-padded sizes, extensions and CRLFs cost
/// no memory, however many the client sends. Each byte is moved at most once per call, so the
/// work stays linear in what was read.
#[derive(Debug, Clone)]
pub struct InPlaceChunked {
    dec: ChunkedDecoder,
    start: usize,
    end: usize,
}

impl InPlaceChunked {
    /// A decoder for a body that starts at `start` in the buffer.
    pub fn new(start: usize) -> Self {
        InPlaceChunked {
            dec: ChunkedDecoder::new(),
            start,
            end: start,
        }
    }

    /// The decoded data so far, as a range of the buffer.
    pub fn data(&self) -> Range<usize> {
        self.start..self.end
    }

    /// Decoded bytes so far.
    pub fn decoded_len(&self) -> usize {
        self.end - self.start
    }

    /// Decode what follows the data in `buf` (bytes appended since the last call) in place.
    /// On error the buffer's content after the data is unspecified (the connection is to be
    /// closed).
    pub fn advance(&mut self, buf: &mut Vec<u8>) -> Result<InPlace, HttpError> {
        let mut read = self.end;
        let mut write = self.end;
        let mut result = InPlace::NeedMore;
        let mut failed = None;
        while read < buf.len() {
            let input = buf.get(read..).unwrap_or_default();
            match self.dec.step(input) {
                Ok(Step::NeedMore { consumed }) => {
                    read += consumed;
                    break;
                }
                Ok(Step::Data { consumed, data }) => {
                    let len = data.end - data.start;
                    buf.copy_within(read + data.start..read + data.end, write);
                    write += len;
                    read += consumed;
                }
                Ok(Step::Done { consumed }) => {
                    read += consumed;
                    result = InPlace::Done { rest: write };
                    break;
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if self.dec.is_done() && result == InPlace::NeedMore {
            result = InPlace::Done { rest: write };
        }
        buf.drain(write..read.min(buf.len()));
        self.end = write;
        match failed {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }
}

/// Append a chunk-size line (`{len:x}\r\n`) for a chunk of `len` bytes. The caller then writes
/// the data and [`CHUNK_END`]; a body ends with [`LAST_CHUNK`].
pub fn encode_chunk_header(len: usize, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut n = len;
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = HEX.get(n & 0xf).copied().unwrap_or(b'0');
        }
        n >>= 4;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or_default());
    out.extend_from_slice(b"\r\n");
}

/// The CRLF that ends each chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";
/// The last chunk and the empty trailer section that end a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
