//! Minimal HTTP/1.1 message framing for the client and the stub servers: parse a head with
//! `httparse`, then find where the body ends (Content-Length, chunked, or read-to-close).

use crate::error::H1Error;

/// How many headers a head may carry.
const MAX_HEADERS: usize = 64;

/// How the body of a message is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all (HEAD answers, 1xx/204/304, requests without a length).
    Empty,
    /// Exactly this many bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the peer closes (a response without a length).
    UntilClose,
}

/// The parts of a response head the client needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Bytes taken by the status line and headers (including the blank line).
    pub head_len: usize,
    /// How the body is delimited.
    pub framing: Framing,
    /// The server asked to close the connection after this response.
    pub close: bool,
}

/// The parts of a request head the stub servers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Request target as sent.
    pub path: String,
    /// Bytes taken by the request line and headers.
    pub head_len: usize,
    /// How the body is delimited.
    pub framing: Framing,
    /// The client asked to close (or spoke HTTP/1.0 without keep-alive).
    pub close: bool,
}

struct Common {
    length: Option<usize>,
    chunked: bool,
    close: bool,
    keep_alive: bool,
}

fn scan_headers(headers: &[httparse::Header<'_>]) -> Result<Common, H1Error> {
    let mut c = Common {
        length: None,
        chunked: false,
        close: false,
        keep_alive: false,
    };
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let s = std::str::from_utf8(h.value).map_err(|_| H1Error::BadLength)?;
            let n: usize = s.trim().parse().map_err(|_| H1Error::BadLength)?;
            if c.length.is_some_and(|old| old != n) {
                return Err(H1Error::BadLength);
            }
            c.length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.split(',').any(|p| p.trim() == "chunked") {
                c.chunked = true;
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            for p in v.split(',') {
                match p.trim() {
                    "close" => c.close = true,
                    "keep-alive" => c.keep_alive = true,
                    _ => {}
                }
            }
        }
    }
    Ok(c)
}

/// Parses a response head from the start of `buf`. `Ok(None)`: more bytes are needed.
/// `head_request`: the request was a HEAD, so the response carries no body.
pub fn parse_response(buf: &[u8], head_request: bool) -> Result<Option<ResponseHead>, H1Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(H1Error::Parse(e.to_string())),
    };
    let status = resp.code.ok_or(H1Error::Parse("no status".into()))?;
    let c = scan_headers(resp.headers)?;
    let http10 = resp.version == Some(0);
    let framing = if head_request || (100..200).contains(&status) || status == 204 || status == 304
    {
        Framing::Empty
    } else if c.chunked {
        Framing::Chunked
    } else if let Some(n) = c.length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok(Some(ResponseHead {
        status,
        head_len,
        framing,
        close: c.close || (http10 && !c.keep_alive) || framing == Framing::UntilClose,
    }))
}

/// Parses a request head from the start of `buf`. `Ok(None)`: more bytes are needed.
pub fn parse_request(buf: &[u8]) -> Result<Option<RequestHead>, H1Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(H1Error::Parse(e.to_string())),
    };
    let c = scan_headers(req.headers)?;
    let framing = if c.chunked {
        Framing::Chunked
    } else {
        match c.length {
            Some(0) | None => Framing::Empty,
            Some(n) => Framing::Length(n),
        }
    };
    let http10 = req.version == Some(0);
    Ok(Some(RequestHead {
        method: req.method.unwrap_or("").to_owned(),
        path: req.path.unwrap_or("").to_owned(),
        head_len,
        framing,
        close: c.close || (http10 && !c.keep_alive),
    }))
}

/// Where a body that starts at `body[0]` ends. Returns the number of bytes the body takes
/// on the wire (for chunked: including sizes and trailers), or `None` if more bytes are
/// needed. `UntilClose` always needs more (the caller ends it at EOF).
/// `collect`: if given, the decoded body bytes are appended to it.
pub fn body_len(
    framing: Framing,
    body: &[u8],
    mut collect: Option<&mut Vec<u8>>,
) -> Result<Option<usize>, H1Error> {
    match framing {
        Framing::Empty => Ok(Some(0)),
        Framing::Length(n) => {
            if body.len() < n {
                return Ok(None);
            }
            if let (Some(out), Some(bytes)) = (collect, body.get(..n)) {
                out.extend_from_slice(bytes);
            }
            Ok(Some(n))
        }
        Framing::UntilClose => Ok(None),
        Framing::Chunked => {
            let mut pos = 0usize;
            loop {
                let rest = body.get(pos..).unwrap_or_default();
                let (used, size) = match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((u, s))) => (u, s),
                    Ok(httparse::Status::Partial) => return Ok(None),
                    Err(_) => return Err(H1Error::Parse("bad chunk size".into())),
                };
                pos += used;
                if size == 0 {
                    // Trailers: lines until an empty one.
                    loop {
                        let rest = body.get(pos..).unwrap_or_default();
                        let Some(eol) = find_crlf(rest) else {
                            return Ok(None);
                        };
                        pos += eol + 2;
                        if eol == 0 {
                            return Ok(Some(pos));
                        }
                    }
                }
                let size = usize::try_from(size).map_err(|_| H1Error::BadLength)?;
                let end = pos.checked_add(size).ok_or(H1Error::BadLength)?;
                if body.len() < end + 2 {
                    return Ok(None);
                }
                if let Some(out) = collect.as_deref_mut() {
                    out.extend_from_slice(body.get(pos..end).unwrap_or_default());
                }
                if body.get(end..end + 2) != Some(b"\r\n".as_slice()) {
                    return Err(H1Error::Parse("chunk without CRLF".into()));
                }
                pos = end + 2;
            }
        }
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_with_length() {
        let b = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let h = parse_response(b, false).unwrap().unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.framing, Framing::Length(5));
        assert!(!h.close);
        assert_eq!(
            body_len(h.framing, &b[h.head_len..], None).unwrap(),
            Some(5)
        );
        assert_eq!(
            body_len(h.framing, &b[h.head_len..b.len() - 1], None).unwrap(),
            None
        );
    }

    #[test]
    fn partial_head_and_head_request() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nCont", false).unwrap(),
            None
        );
        let b = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(
            parse_response(b, true).unwrap().unwrap().framing,
            Framing::Empty
        );
        let b = b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(
            parse_response(b, false).unwrap().unwrap().framing,
            Framing::Empty
        );
    }

    #[test]
    fn chunked_body_and_trailers() {
        let body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let mut out = Vec::new();
        let n = body_len(Framing::Chunked, body, Some(&mut out)).unwrap();
        assert_eq!(n, Some(body.len() - 4));
        assert_eq!(out, b"hello world");
        for cut in 0..body.len() - 4 {
            assert_eq!(
                body_len(Framing::Chunked, &body[..cut], None).unwrap(),
                None,
                "{cut}"
            );
        }
        assert!(body_len(Framing::Chunked, b"zz\r\n", None).is_err());
    }

    #[test]
    fn close_rules() {
        let b = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(parse_response(b, false).unwrap().unwrap().close);
        let b = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(parse_response(b, false).unwrap().unwrap().close);
        let b = b"HTTP/1.1 200 OK\r\n\r\n";
        let h = parse_response(b, false).unwrap().unwrap();
        assert_eq!(h.framing, Framing::UntilClose);
        assert!(h.close);
        let b = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert!(parse_response(b, false).is_err());
    }

    #[test]
    fn request_heads() {
        let b = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
        let h = parse_request(b).unwrap().unwrap();
        assert_eq!(h.method, "POST");
        assert_eq!(h.path, "/x");
        assert_eq!(h.framing, Framing::Length(3));
        let b = b"GET / HTTP/1.0\r\n\r\n";
        let h = parse_request(b).unwrap().unwrap();
        assert!(h.close);
        assert_eq!(h.framing, Framing::Empty);
    }
}
