//! Head writers: status/request line and header lines into a `Vec<u8>`, with the checks that
//! keep a forwarded or configured value from injecting lines.

use crate::common::{is_field_value_byte, is_token, reason_phrase};

/// A header name, value, method or target that would break the message framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid {0} for an HTTP head")]
pub struct InvalidHead(pub &'static str);

/// Writes one message head into `out`. Start with [`HeadWriter::response`] or
/// [`HeadWriter::request`], add headers, then [`HeadWriter::finish`] (the empty line).
#[derive(Debug)]
pub struct HeadWriter<'a> {
    out: &'a mut Vec<u8>,
}

fn push_status(out: &mut Vec<u8>, status: u16) {
    let s = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    out.extend_from_slice(&[
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]);
}

impl<'a> HeadWriter<'a> {
    /// `HTTP/1.1 {status} {standard reason}\r\n`. A status outside 100..=999 is written as 500.
    pub fn response(out: &'a mut Vec<u8>, status: u16) -> Self {
        out.extend_from_slice(b"HTTP/1.1 ");
        push_status(out, status);
        out.push(b' ');
        out.extend_from_slice(reason_phrase(status).as_bytes());
        out.extend_from_slice(b"\r\n");
        HeadWriter { out }
    }

    /// Like [`HeadWriter::response`] with a given reason phrase (e.g. the upstream's).
    pub fn response_with_reason(
        out: &'a mut Vec<u8>,
        status: u16,
        reason: &[u8],
    ) -> Result<Self, InvalidHead> {
        if !reason.iter().all(|b| is_field_value_byte(*b)) {
            return Err(InvalidHead("reason phrase"));
        }
        out.extend_from_slice(b"HTTP/1.1 ");
        push_status(out, status);
        out.push(b' ');
        out.extend_from_slice(reason);
        out.extend_from_slice(b"\r\n");
        Ok(HeadWriter { out })
    }

    /// `{method} {target} HTTP/1.1\r\n` (for requests sent upstream). The target must be
    /// visible ASCII (no space, no control byte).
    pub fn request(
        out: &'a mut Vec<u8>,
        method: &[u8],
        target: &[u8],
    ) -> Result<Self, InvalidHead> {
        if !is_token(method) {
            return Err(InvalidHead("method"));
        }
        if target.is_empty() || !target.iter().all(|b| (b'!'..=b'~').contains(b)) {
            return Err(InvalidHead("request target"));
        }
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(target);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        Ok(HeadWriter { out })
    }

    /// `{name}: {value}\r\n`. The name must be a token, the value free of CR, LF, NUL and
    /// other control bytes (HTAB allowed); nothing is written on error.
    pub fn header(&mut self, name: &[u8], value: &[u8]) -> Result<&mut Self, InvalidHead> {
        if !is_token(name) {
            return Err(InvalidHead("header name"));
        }
        if !value.iter().all(|b| is_field_value_byte(*b)) {
            return Err(InvalidHead("header value"));
        }
        self.out.extend_from_slice(name);
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value);
        self.out.extend_from_slice(b"\r\n");
        Ok(self)
    }

    /// `Content-Length: {n}\r\n`.
    pub fn content_length(&mut self, n: u64) -> &mut Self {
        self.out.extend_from_slice(b"Content-Length: ");
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = n;
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || i == 0 {
                break;
            }
        }
        self.out
            .extend_from_slice(digits.get(i..).unwrap_or_default());
        self.out.extend_from_slice(b"\r\n");
        self
    }

    /// The empty line that ends the head.
    pub fn finish(self) {
        self.out.extend_from_slice(b"\r\n");
    }
}
