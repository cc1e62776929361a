//! Unit tests: every strictness rule, the limits, chunked decoding at every split, responses.

use proptest::prelude::*;

use crate::*;

fn limits() -> RequestLimits {
    RequestLimits::default()
}

fn parse(buf: &[u8]) -> Result<Option<RequestHead>, HttpError> {
    parse_request(buf, &limits())
}

fn ok(buf: &[u8]) -> RequestHead {
    match parse(buf) {
        Ok(Some(h)) => h,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

fn err(buf: &[u8]) -> HttpError {
    match parse(buf) {
        Err(e) => e,
        other => panic!("{:?} accepted: {other:?}", String::from_utf8_lossy(buf)),
    }
}

/// A request with the given extra header lines (each without CRLF) and Host.
fn req(lines: &[&str]) -> Vec<u8> {
    let mut s = String::from("POST /a HTTP/1.1\r\nHost: h\r\n");
    for l in lines {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

#[test]
fn simple_get_spans() {
    let buf = b"GET /prod/pets/1?a=b&c HTTP/1.1\r\nHost: api.example:8080\r\nX-Pad:  v a l \t\r\nAccept: */*\r\n\r\nNEXT";
    let h = ok(buf);
    assert_eq!(h.method.slice(buf), b"GET");
    assert_eq!(h.method_kind, Method::Get);
    assert_eq!(h.target.slice(buf), b"/prod/pets/1?a=b&c");
    assert_eq!(h.target_form, TargetForm::Origin);
    assert_eq!(h.path.slice(buf), b"/prod/pets/1");
    assert_eq!(h.query.map(|q| q.slice(buf)), Some(&b"a=b&c"[..]));
    assert_eq!(h.minor_version, 1);
    assert_eq!(h.headers.len(), 3);
    assert_eq!(h.header(buf, b"x-pad"), Some(&b"v a l"[..]));
    assert_eq!(h.host.map(|s| s.slice(buf)), Some(&b"api.example:8080"[..]));
    assert_eq!(&buf[h.head_len..], b"NEXT");
    assert_eq!(h.framing, BodyFraming::None);
    assert!(h.keep_alive);
    assert!(!h.expect_continue);
}

#[test]
fn empty_query_and_no_query() {
    let buf = b"GET /x? HTTP/1.1\r\nHost: h\r\n\r\n";
    let h = ok(buf);
    assert_eq!(h.path.slice(buf), b"/x");
    assert_eq!(h.query.map(|q| q.slice(buf)), Some(&b""[..]));
    let buf = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_eq!(ok(buf).query, None);
}

#[test]
fn header_lookup_helpers() {
    let buf = b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nX-B: 3\r\n\r\n";
    let h = ok(buf);
    assert_eq!(h.header(buf, b"X-A"), Some(&b"1"[..]));
    let all: Vec<&[u8]> = h.headers_named(buf, b"x-A").collect();
    assert_eq!(all, vec![&b"1"[..], &b"2"[..]]);
    assert_eq!(h.header(buf, b"missing"), None);
    // A short-lived name does not shorten the values' lifetime.
    let first = {
        let name = b"X-B".to_vec();
        h.headers_named(buf, &name).next()
    };
    assert_eq!(first, Some(&b"3"[..]));
}

#[test]
fn span_slice_never_panics() {
    let s = Span { start: 5, end: 50 };
    assert_eq!(s.slice(b"short"), b"");
    let s = Span { start: 3, end: 1 };
    assert_eq!(s.slice(b"short"), b"");
    assert_eq!(s.len(), 0);
    assert_eq!(Span { start: 1, end: 3 }.slice(b"short"), b"ho");
}

#[test]
fn every_prefix_is_incomplete() {
    let buf = b"POST /a?b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
    for n in 0..buf.len() {
        assert_eq!(parse(&buf[..n]), Ok(None), "prefix {n}");
    }
    assert_eq!(ok(buf).framing, BodyFraming::Length(3));
}

#[test]
fn pipelined_requests() {
    let buf = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
    let a = ok(buf);
    let rest = &buf[a.head_len..];
    let b = ok(rest);
    assert_eq!(b.path.slice(rest), b"/2");
    assert_eq!(b.head_len, rest.len());
}

#[test]
fn keep_alive_rules() {
    assert!(ok(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
    assert!(ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
    assert!(!ok(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
}

#[test]
fn http10_without_host_is_fine() {
    let buf = b"GET / HTTP/1.0\r\n\r\n";
    let h = ok(buf);
    assert_eq!(h.minor_version, 0);
    assert_eq!(h.host, None);
}

#[test]
fn expect_rules() {
    assert!(ok(&req(&["Expect: 100-Continue", "Content-Length: 1"])).expect_continue);
    assert_eq!(
        err(&req(&["Expect: something"])),
        HttpError::ExpectationFailed
    );
    assert_eq!(err(&req(&["Expect: something"])).status(), 417);
    // HTTP/1.0: the expectation is ignored.
    assert!(!ok(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
}

#[test]
fn content_length_rules() {
    assert_eq!(
        ok(&req(&["Content-Length: 003"])).framing,
        BodyFraming::Length(3)
    );
    assert_eq!(
        ok(&req(&["Content-Length: 0"])).framing,
        BodyFraming::Length(0)
    );
    assert_eq!(
        ok(&req(&["Content-Length: 18446744073709551615"])).framing,
        BodyFraming::Length(u64::MAX)
    );
    for bad in [
        "Content-Length: 18446744073709551616",
        "Content-Length: 1000000000000000000000",
        "Content-Length: +1",
        "Content-Length: -1",
        "Content-Length: 0x10",
        "Content-Length: 1 2",
        "Content-Length: 1,1",
        "Content-Length: ",
        "Content-Length: 1.0",
    ] {
        assert_eq!(err(&req(&[bad])).status(), 400, "{bad}");
    }
    // Duplicates, even equal.
    assert_eq!(
        err(&req(&["Content-Length: 1", "Content-Length: 1"])).status(),
        400
    );
    assert_eq!(
        err(&req(&["Content-Length: 1", "content-length: 2"])).status(),
        400
    );
}

#[test]
fn transfer_encoding_rules() {
    assert_eq!(
        ok(&req(&["Transfer-Encoding: chunked"])).framing,
        BodyFraming::Chunked
    );
    assert_eq!(
        ok(&req(&["transfer-encoding:  CHUNKED "])).framing,
        BodyFraming::Chunked
    );
    // With Content-Length (either order).
    assert_eq!(
        err(&req(&["Content-Length: 1", "Transfer-Encoding: chunked"])).status(),
        400
    );
    assert_eq!(
        err(&req(&["Transfer-Encoding: chunked", "Content-Length: 1"])).status(),
        400
    );
    // Final coding not chunked, malformed, or chunked twice: 400.
    for bad in [
        &["Transfer-Encoding: gzip"][..],
        &["Transfer-Encoding: identity"],
        &["Transfer-Encoding: xchunked"],
        &["Transfer-Encoding: chunkedx"],
        &["Transfer-Encoding: \"chunked\""],
        &["Transfer-Encoding: chunked, cow"],
        &["Transfer-Encoding: chunked, chunked"],
        &["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
        &["Transfer-Encoding: chunked", "Transfer-Encoding: gzip"],
        &["Transfer-Encoding: chunked;q=1"],
        &["Transfer-Encoding: "],
        &["Transfer-Encoding: ,chunked"],
    ] {
        assert_eq!(err(&req(bad)).status(), 400, "{bad:?}");
    }
    // Well-formed, chunked last, but another coding before it: 501.
    for other in [
        &["Transfer-Encoding: gzip, chunked"][..],
        &["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"],
    ] {
        assert_eq!(
            err(&req(other)),
            HttpError::NotImplemented("transfer coding")
        );
    }
    // HTTP/1.0 with Transfer-Encoding.
    assert_eq!(
        err(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").status(),
        400
    );
}

#[test]
fn line_ending_rules() {
    for bad in [
        &b"GET / HTTP/1.1\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tfolded\r\n\r\n",
        b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
        b"GET / HTTP/1.1\rHost: h\r\n\r\n",
    ] {
        assert_eq!(err(bad).status(), 400, "{:?}", String::from_utf8_lossy(bad));
    }
    // Bare LF is caught even while the head is still incomplete.
    assert_eq!(err(b"GET / HTTP/1.1\nHost: h").status(), 400);
}

#[test]
fn invalid_bytes_in_fields() {
    for bad in [
        &b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX\0: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX Y: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX(: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n",
        // Whitespace between name and colon.
        b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX\t: a\r\n\r\n",
    ] {
        assert_eq!(err(bad).status(), 400, "{:?}", String::from_utf8_lossy(bad));
    }
    // obs-text in a value is allowed.
    let buf = b"GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n";
    assert_eq!(ok(buf).header(buf, b"x"), Some(&b"caf\xc3\xa9"[..]));
}

#[test]
fn host_rules() {
    assert_eq!(
        err(b"GET / HTTP/1.1\r\n\r\n"),
        HttpError::BadRequest("missing Host")
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").status(),
        400
    );
    assert_eq!(
        err(b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n").status(),
        400
    );
    for bad in ["a b", "a/b", "user@a", "a\\b", "a?b", "a#b"] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
        assert_eq!(err(buf.as_bytes()).status(), 400, "{bad}");
    }
    for good in ["a", "a.example:443", "[::1]:8080", "127.0.0.1", ""] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
        let h = ok(buf.as_bytes());
        assert_eq!(
            h.host.map(|s| s.slice(buf.as_bytes())),
            Some(good.as_bytes())
        );
    }
}

#[test]
fn version_rules() {
    for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0"] {
        let buf = format!("GET / {v}\r\nHost: h\r\n\r\n");
        assert_eq!(err(buf.as_bytes()), HttpError::VersionNotSupported, "{v}");
        assert_eq!(HttpError::VersionNotSupported.status(), 505);
    }
    for bad in [
        &b"GET /\r\n\r\n"[..],
        b"GET / HTTP/1.1x\r\nHost: h\r\n\r\n",
        b"GET / HTTPS/1.1\r\nHost: h\r\n\r\n",
        b"GET / RTSP/1.0\r\nHost: h\r\n\r\n",
        b"GET / http/1.1\r\nHost: h\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
    ] {
        assert_eq!(err(bad).status(), 400, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn method_rules() {
    for (m, kind) in [
        ("GET", Method::Get),
        ("HEAD", Method::Head),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("DELETE", Method::Delete),
        ("OPTIONS", Method::Options),
        ("PATCH", Method::Patch),
    ] {
        let buf = format!("{m} / HTTP/1.1\r\nHost: h\r\n\r\n");
        let h = ok(buf.as_bytes());
        assert_eq!(h.method_kind, kind);
        assert_eq!(kind.as_str(), m);
        assert_eq!(h.is_head(), m == "HEAD");
    }
    for m in ["CONNECT", "TRACE", "get", "PROPFIND", "M-SEARCH"] {
        let buf = format!("{m} / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(err(buf.as_bytes()).status(), 501, "{m}");
    }
    assert_eq!(err(b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n").status(), 400);
}

#[test]
fn target_forms() {
    let buf = b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    let h = ok(buf);
    assert_eq!(h.target_form, TargetForm::Asterisk);
    assert_eq!(h.path.slice(buf), b"*");
    assert_eq!(err(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n").status(), 400);

    let buf = b"GET HTTP://Api.Example:8080/p/q?x=1 HTTP/1.1\r\nHost: api.example:8080\r\n\r\n";
    let h = ok(buf);
    assert_eq!(h.target_form, TargetForm::Absolute);
    assert_eq!(h.path.slice(buf), b"/p/q");
    assert_eq!(h.query.map(|q| q.slice(buf)), Some(&b"x=1"[..]));
    // RFC 9112 §3.2.2: the target's authority replaces Host.
    assert_eq!(h.host.map(|s| s.slice(buf)), Some(&b"Api.Example:8080"[..]));
    assert_eq!(h.header(buf, b"host"), Some(&b"api.example:8080"[..]));

    for bad in [
        "http://a.example?x",
        "http://a.example",
        "http:///p",
        "http://u:p@a.example/p",
        "ftp://a.example/p",
        "a.example:443",
        "p/q",
        "/a#frag",
        "/caf\u{e9}",
        "/a\u{7f}b",
        "/a\u{1}b",
        "/a\tb",
    ] {
        let buf = format!("GET {bad} HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(err(buf.as_bytes()).status(), 400, "{bad:?}");
    }
    assert_eq!(
        err(b"GET /a\xffb HTTP/1.1\r\nHost: h\r\n\r\n").status(),
        400
    );
}

#[test]
fn limits_414_and_431() {
    let l = RequestLimits {
        max_header_bytes: 64,
        max_headers: 100,
    };
    // Request line not ended within the limit: 414.
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(100));
    assert_eq!(
        parse_request(long_target.as_bytes(), &l),
        Err(HttpError::UriTooLong)
    );
    assert_eq!(
        parse_request(&long_target.as_bytes()[..64], &l),
        Err(HttpError::UriTooLong)
    );
    // Still below the limit: need more.
    assert_eq!(parse_request(&long_target.as_bytes()[..63], &l), Ok(None));
    // Request line ended, headers too long: 431.
    let long_header = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
        "b".repeat(100)
    );
    assert_eq!(
        parse_request(long_header.as_bytes(), &l),
        Err(HttpError::HeaderTooLarge)
    );
    assert_eq!(HttpError::HeaderTooLarge.status(), 431);
    assert_eq!(HttpError::UriTooLong.status(), 414);
    // A head of exactly the limit is fine; one byte more is not.
    let base = "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n".len();
    let exact = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
        "c".repeat(64 - base)
    );
    assert_eq!(exact.len(), 64);
    assert!(parse_request(exact.as_bytes(), &l).unwrap().is_some());
    let over = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
        "c".repeat(65 - base)
    );
    assert_eq!(
        parse_request(over.as_bytes(), &l),
        Err(HttpError::HeaderTooLarge)
    );
    // Body bytes after a complete head do not count.
    let mut with_body = exact.clone().into_bytes();
    with_body.extend_from_slice(&[b'z'; 1000]);
    assert!(parse_request(&with_body, &l).unwrap().is_some());
}

#[test]
fn header_count_limit() {
    let mut s = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
    for i in 0..10 {
        s.push_str(&format!("X-{i}: v\r\n"));
    }
    s.push_str("\r\n");
    let l = |n| RequestLimits {
        max_header_bytes: 10240,
        max_headers: n,
    };
    assert!(parse_request(s.as_bytes(), &l(11)).unwrap().is_some());
    assert_eq!(
        parse_request(s.as_bytes(), &l(10)),
        Err(HttpError::HeaderTooLarge)
    );
    // Beyond the stack slots: the heap path behaves the same.
    let mut big = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
    for i in 0..199 {
        big.push_str(&format!("X-{i}: v\r\n"));
    }
    big.push_str("\r\n");
    let h = parse_request(big.as_bytes(), &l(200)).unwrap().unwrap();
    assert_eq!(h.headers.len(), 200);
    assert_eq!(h.header(big.as_bytes(), b"x-198"), Some(&b"v"[..]));
    assert_eq!(
        parse_request(big.as_bytes(), &l(199)),
        Err(HttpError::HeaderTooLarge)
    );
    assert_eq!(
        parse_request(big.as_bytes(), &l(100)),
        Err(HttpError::HeaderTooLarge)
    );
}

#[test]
fn statuses() {
    assert_eq!(HttpError::BadRequest("x").status(), 400);
    assert_eq!(HttpError::PayloadTooLarge.status(), 413);
    assert_eq!(HttpError::ExpectationFailed.status(), 417);
    assert_eq!(HttpError::NotImplemented("x").status(), 501);
    assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
    assert_eq!(reason_phrase(799), "Unknown");
}

// ---- chunked ----

/// Decode `input` fed in pieces of `piece` bytes; returns body and bytes after the body.
fn decode_in_pieces(input: &[u8], piece: usize) -> Result<(Vec<u8>, usize), HttpError> {
    let mut dec = ChunkedDecoder::new();
    let mut body = Vec::new();
    let mut pos = 0;
    let mut avail = piece.min(input.len());
    loop {
        match dec.step(&input[pos..avail])? {
            Step::Data { consumed, data } => {
                assert!(!data.is_empty());
                body.extend_from_slice(&input[pos..avail][data]);
                pos += consumed;
            }
            Step::NeedMore { consumed } => {
                pos += consumed;
                assert_eq!(pos, avail, "NeedMore must consume all");
                if avail == input.len() {
                    return Err(HttpError::BadRequest("truncated"));
                }
                avail = (avail + piece).min(input.len());
            }
            Step::Done { consumed } => {
                pos += consumed;
                assert!(dec.is_done());
                return Ok((body, input.len() - pos));
            }
        }
    }
}

const CHUNKED: &[u8] = b"5;name=value;flag;q=\"a \\\"b\\\" c\"\r\nhello\r\n\
    1A\r\nabcdefghijklmnopqrstuvwxyz\r\n000\r\nTrailer-A: x\r\nB:\r\n\r\nNEXT";

#[test]
fn chunked_every_piece_size() {
    let want: Vec<u8> = [&b"hello"[..], b"abcdefghijklmnopqrstuvwxyz"].concat();
    for piece in 1..=CHUNKED.len() {
        let (body, rest) = decode_in_pieces(CHUNKED, piece).unwrap();
        assert_eq!(body, want, "piece {piece}");
        assert_eq!(rest, 4, "piece {piece}");
    }
}

#[test]
fn chunked_every_two_way_split() {
    for split in 0..=CHUNKED.len() {
        let mut dec = ChunkedDecoder::new();
        let mut body = Vec::new();
        let (a, b) = CHUNKED.split_at(split);
        let mut after: Option<Vec<u8>> = None;
        'parts: for (idx, part) in [a, b].into_iter().enumerate() {
            let mut pos = 0;
            loop {
                match dec.step(&part[pos..]).unwrap() {
                    Step::Data { consumed, data } => {
                        body.extend_from_slice(&part[pos..][data]);
                        pos += consumed;
                    }
                    Step::NeedMore { consumed } => {
                        assert_eq!(pos + consumed, part.len());
                        break;
                    }
                    Step::Done { consumed } => {
                        let mut rest = part[pos + consumed..].to_vec();
                        if idx == 0 {
                            rest.extend_from_slice(b);
                        }
                        after = Some(rest);
                        break 'parts;
                    }
                }
            }
        }
        assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz", "split {split}");
        assert!(dec.is_done(), "split {split}");
        assert_eq!(after.as_deref(), Some(&b"NEXT"[..]), "split {split}");
    }
}

#[test]
fn chunked_rejections() {
    for bad in [
        &b"0x5\r\nhello\r\n0\r\n\r\n"[..],
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b" 5\r\nhello\r\n0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"5 ;a\r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",
        b";a\r\nhello\r\n0\r\n\r\n",
        b"00000000000000005\r\nhello\r\n0\r\n\r\n", // 17 digits
        b"g\r\n",
        b"5\nhello\r\n0\r\n\r\n",         // bare LF after size
        b"5\rhello\r\n0\r\n\r\n",         // CR without LF
        b"5\r\nhelloX\r\n0\r\n\r\n",      // missing CRLF after data
        b"5\r\nhello\n0\r\n\r\n",         // bare LF after data
        b"5\r\nhello\r\n0\r\n\n",         // bare LF at the end
        b"5;\r\nhello\r\n0\r\n\r\n",      // empty extension name
        b"5;a=\r\nhello\r\n0\r\n\r\n",    // empty extension value
        b"5;a=\"b\r\nhello\r\n0\r\n\r\n", // unterminated quote
        b"5;a b\r\nhello\r\n0\r\n\r\n",   // space in extension
        b"5;a=b c\r\nhello\r\n0\r\n\r\n",
        b"0\r\n folded: x\r\n\r\n", // obs-fold in trailers
        b"0\r\nno colon\r\n\r\n",
        b"0\r\nX: a\x00b\r\n\r\n",
        b"0\r\nX: a\nY: b\r\n\r\n",
    ] {
        let res = decode_in_pieces(bad, bad.len());
        assert_eq!(
            res.map(|_| ()).map_err(|e| e.status()),
            Err(400),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn chunked_sixteen_digits_and_bounds() {
    // 16 hex digits are accepted (then the data just has not arrived).
    let mut dec = ChunkedDecoder::new();
    assert_eq!(
        dec.step(b"ffffffffffffffff\r\n").unwrap(),
        Step::NeedMore { consumed: 18 }
    );
    assert_eq!(
        dec.step(b"abc").unwrap(),
        Step::Data {
            consumed: 3,
            data: 0..3
        }
    );
    // Extensions beyond the bound are rejected.
    let mut long_ext = b"1;".to_vec();
    long_ext.extend(std::iter::repeat_n(b'a', MAX_EXT_AND_TRAILER_BYTES + 1));
    assert!(ChunkedDecoder::new().step(&long_ext).is_err());
    // Trailers beyond the bound too (counted across chunks and trailers together).
    let mut long_trailer = b"0\r\n".to_vec();
    for _ in 0..1000 {
        long_trailer.extend_from_slice(b"X-Trailer: 0123456789\r\n");
    }
    assert!(ChunkedDecoder::new().step(&long_trailer).is_err());
    // Empty input.
    assert_eq!(
        ChunkedDecoder::new().step(b"").unwrap(),
        Step::NeedMore { consumed: 0 }
    );
}

#[test]
fn chunk_header_encoding() {
    let mut out = Vec::new();
    for (n, want) in [
        (0usize, &b"0\r\n"[..]),
        (1, b"1\r\n"),
        (255, b"ff\r\n"),
        (4096, b"1000\r\n"),
    ] {
        out.clear();
        encode_chunk_header(n, &mut out);
        assert_eq!(out, want);
    }
    out.clear();
    encode_chunk_header(usize::MAX, &mut out);
    assert_eq!(out.len(), usize::BITS as usize / 4 + 2);
}

proptest! {
    /// Whatever the chunk sizes and read sizes, encode -> decode is the identity.
    #[test]
    fn chunked_round_trip(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        sizes in proptest::collection::vec(1usize..64, 1..20),
        piece in 1usize..40,
    ) {
        let mut enc = Vec::new();
        let mut rest = &body[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            encode_chunk_header(n, &mut enc);
            enc.extend_from_slice(&rest[..n]);
            enc.extend_from_slice(CHUNK_END);
            rest = &rest[n..];
            i += 1;
        }
        enc.extend_from_slice(LAST_CHUNK);
        let (got, after) = decode_in_pieces(&enc, piece).unwrap();
        prop_assert_eq!(got, body);
        prop_assert_eq!(after, 0);
    }

    /// The class of item 2 (issue 12): whatever the framing (chunk sizes zero-padded up to 16
    /// digits, hex case, extensions, trailers) and however it is split across reads, the
    /// in-place decoder leaves the buffer holding the decoded bytes only: never more than
    /// `start + decoded` after a call, the decoded data equal to the body, and the next
    /// message's bytes kept intact after it.
    #[test]
    fn in_place_chunked_holds_only_decoded_bytes(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        sizes in proptest::collection::vec(1usize..50, 1..16),
        pads in proptest::collection::vec(0usize..16, 1..16),
        upper in any::<bool>(),
        exts in proptest::collection::vec(0u8..4, 1..8),
        trailers in 0usize..3,
        pieces in proptest::collection::vec(1usize..80, 1..32),
        start in 0usize..64,
    ) {
        let mut enc = Vec::new();
        let mut rest = &body[..];
        let mut i = 0;
        let ext = |k: u8| -> &'static [u8] {
            match k {
                0 => b"",
                1 => b";a",
                2 => b";name=token",
                _ => b";q=\"x y\"",
            }
        };
        let size_line = |n: usize, i: usize, enc: &mut Vec<u8>| {
            let hex = if upper { format!("{n:X}") } else { format!("{n:x}") };
            let pad = pads[i % pads.len()].min(16 - hex.len());
            enc.extend(std::iter::repeat_n(b'0', pad));
            enc.extend_from_slice(hex.as_bytes());
            enc.extend_from_slice(ext(exts[i % exts.len()]));
            enc.extend_from_slice(b"\r\n");
        };
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            size_line(n, i, &mut enc);
            enc.extend_from_slice(&rest[..n]);
            enc.extend_from_slice(CHUNK_END);
            rest = &rest[n..];
            i += 1;
        }
        size_line(0, i, &mut enc);
        for t in 0..trailers {
            enc.extend_from_slice(format!("x-t{t}: v\r\n").as_bytes());
        }
        enc.extend_from_slice(b"\r\n");
        let next = b"GET /next HTTP/1.1\r\n";
        enc.extend_from_slice(next);

        let mut buf = vec![b'H'; start];
        let mut dec = InPlaceChunked::new(start);
        let mut fed = 0;
        let mut k = 0;
        let rest_at = loop {
            let n = pieces[k % pieces.len()].min(enc.len() - fed);
            k += 1;
            buf.extend_from_slice(&enc[fed..fed + n]);
            fed += n;
            // Held before the call: the decoded bytes plus one read.
            prop_assert!(buf.len() <= start + dec.decoded_len() + n);
            match dec.advance(&mut buf).unwrap() {
                InPlace::NeedMore => {
                    prop_assert_eq!(buf.len(), start + dec.decoded_len());
                    prop_assert!(fed < enc.len(), "need more after the whole body");
                    prop_assert_eq!(&buf[dec.data()], &body[..dec.decoded_len()]);
                }
                InPlace::Done { rest } => break rest,
            }
        };
        prop_assert_eq!(&buf[..start], &vec![b'H'; start][..]);
        prop_assert_eq!(&buf[dec.data()], &body[..]);
        prop_assert_eq!(rest_at, start + body.len());
        // What follows the body is the next message's bytes, as received so far.
        buf.extend_from_slice(&enc[fed..]);
        prop_assert_eq!(&buf[rest_at..], &next[..]);
    }

    /// Broken framing is an error from the in-place decoder as from the streaming one.
    #[test]
    fn in_place_chunked_refuses_what_the_decoder_refuses(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        piece in 1usize..40,
    ) {
        let streaming = decode_in_pieces(&bytes, piece);
        let mut buf = Vec::new();
        let mut dec = InPlaceChunked::new(0);
        let mut outcome = None;
        for p in bytes.chunks(piece) {
            buf.extend_from_slice(p);
            match dec.advance(&mut buf) {
                Ok(InPlace::NeedMore) => {}
                Ok(InPlace::Done { .. }) => { outcome = Some(true); break; }
                Err(_) => { outcome = Some(false); break; }
            }
        }
        match streaming {
            Err(HttpError::BadRequest("truncated")) => prop_assert_eq!(outcome, None),
            Err(_) => prop_assert_eq!(outcome, Some(false)),
            Ok(_) => prop_assert_eq!(outcome, Some(true)),
        }
    }

    /// Arbitrary bytes never panic the parsers.
    #[test]
    fn no_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&bytes);
        let _ = parse_response(&bytes, 200, false);
        let _ = ChunkedDecoder::new().step(&bytes);
        let mut with_prefix = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        with_prefix.extend_from_slice(&bytes);
        let _ = parse(&with_prefix);
    }
}

#[test]
fn absolute_form_authority_must_be_the_host() {
    for (target, host) in [
        ("http://a.example/x", "a.example"),
        ("http://A.Example/x", "a.example"),
        ("http://a.example:80/x", "a.example"),
        ("http://a.example/x", "a.example:80"),
        ("http://a.example:/x", "a.example"),
        ("HTTPS://a.example/x", "a.example:443"),
        ("https://a.example:443/x", "A.EXAMPLE"),
        ("http://a.example:8080/x", "a.example:08080"),
        ("http://[::1]:80/x", "[::1]"),
        ("http://127.0.0.1/x", "127.0.0.1:80"),
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let h = ok(raw.as_bytes());
        assert_eq!(h.target_form, TargetForm::Absolute, "{target}");
    }
    for (target, host) in [
        ("http://b.example/x", "a.example"),
        ("http://a.example.b.example/x", "a.example"),
        ("http://a.example:8080/x", "a.example"),
        ("http://a.example/x", "a.example:8080"),
        ("http://a.example/x", "a.example:443"),
        ("https://a.example/x", "a.example:80"),
        ("http://[::1]/x", "[::2]"),
        ("http://a.example/x", ""),
        ("http://a.example/x", "a.example."),
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(
            err(raw.as_bytes()),
            HttpError::BadRequest("absolute-form authority differs from Host"),
            "{target} with Host {host}"
        );
    }
    // HTTP/1.0 without Host: the target's authority is the only one.
    let h = ok(b"GET http://a.example/x HTTP/1.0\r\n\r\n");
    assert_eq!(
        h.host
            .unwrap()
            .slice(b"GET http://a.example/x HTTP/1.0\r\n\r\n"),
        b"a.example"
    );
}

// ---- responses ----

fn resp(buf: &[u8], head: bool) -> ResponseHead {
    match parse_response(buf, 8192, head) {
        Ok(Some(h)) => h,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(buf)),
    }
}

#[test]
fn response_framing() {
    let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let h = resp(buf, false);
    assert_eq!(h.status, 200);
    assert_eq!(h.reason.slice(buf), b"OK");
    assert_eq!(h.framing, ResponseFraming::Length(5));
    assert!(h.keep_alive);
    assert_eq!(&buf[h.head_len..], b"hello");

    let buf = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(resp(buf, false).framing, ResponseFraming::Chunked);

    let buf = b"HTTP/1.1 200 OK\r\nX: y\r\n\r\n";
    let h = resp(buf, false);
    assert_eq!(h.framing, ResponseFraming::UntilClose);
    assert!(!h.keep_alive);
    assert_eq!(h.header(buf, b"x"), Some(&b"y"[..]));

    // HEAD: no body whatever the headers say.
    let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n";
    assert_eq!(resp(buf, true).framing, ResponseFraming::None);
    assert!(resp(buf, true).keep_alive);
    let buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(resp(buf, true).framing, ResponseFraming::None);

    for status in [100u16, 103, 204, 304] {
        let buf = format!("HTTP/1.1 {status} X\r\nContent-Length: 3\r\n\r\n");
        let h = resp(buf.as_bytes(), false);
        assert_eq!(h.framing, ResponseFraming::None, "{status}");
        assert_eq!(h.is_interim(), status < 200);
    }
}

#[test]
fn response_keep_alive() {
    assert!(
        !resp(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false
        )
        .keep_alive
    );
    assert!(!resp(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false).keep_alive);
    let h = resp(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    assert!(h.keep_alive);
    assert_eq!(h.minor_version, 0);
}

#[test]
fn response_strictness_and_limits() {
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 099 OK\r\n\r\n",
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"garbage\r\n\r\n",
    ] {
        assert!(
            parse_response(bad, 8192, false).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
    for n in 0..buf.len() {
        assert_eq!(
            parse_response(&buf[..n], 8192, false),
            Ok(None),
            "prefix {n}"
        );
    }
    assert_eq!(
        parse_response(&buf[..20], 20, false),
        Err(HttpError::HeaderTooLarge)
    );
    // Empty reason.
    let buf = b"HTTP/1.1 204\r\n\r\n";
    assert_eq!(resp(buf, false).reason.slice(buf), b"");
}

// ---- writer and helpers ----

#[test]
fn head_writer() {
    let mut out = Vec::new();
    let mut w = HeadWriter::response(&mut out, 403);
    w.header(b"x-amzn-ErrorType", b"AccessDeniedException")
        .unwrap();
    w.content_length(27);
    w.finish();
    assert_eq!(
        out,
        b"HTTP/1.1 403 Forbidden\r\nx-amzn-ErrorType: AccessDeniedException\r\nContent-Length: 27\r\n\r\n"
    );
    // Round trip through the response parser.
    let h = resp(&out, false);
    assert_eq!(h.status, 403);
    assert_eq!(h.framing, ResponseFraming::Length(27));

    let mut out = Vec::new();
    let mut w = HeadWriter::response(&mut out, 200);
    assert!(w.header(b"X", b"a\r\nInjected: 1").is_err());
    assert!(w.header(b"X", b"a\nb").is_err());
    assert!(w.header(b"X:", b"a").is_err());
    assert!(w.header(b"", b"a").is_err());
    w.content_length(0).content_length(u64::MAX);
    w.finish();
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 18446744073709551615\r\n\r\n"
    );

    let mut out = Vec::new();
    HeadWriter::response(&mut out, 42).finish();
    assert!(out.starts_with(b"HTTP/1.1 500 "));

    let mut out = Vec::new();
    assert!(HeadWriter::response_with_reason(&mut out, 299, b"Bad\r\n").is_err());
    HeadWriter::response_with_reason(&mut out, 299, b"Custom Thing")
        .unwrap()
        .finish();
    assert_eq!(out, b"HTTP/1.1 299 Custom Thing\r\n\r\n");

    let mut out = Vec::new();
    let mut w = HeadWriter::request(&mut out, b"GET", b"/a?b=c").unwrap();
    w.header(b"Host", b"up:9000").unwrap();
    w.finish();
    let h = ok(&out);
    assert_eq!(h.path.slice(&out), b"/a");
    assert!(HeadWriter::request(&mut Vec::new(), b"GET", b"/a b").is_err());
    assert!(HeadWriter::request(&mut Vec::new(), b"G T", b"/").is_err());
}

#[test]
fn hop_by_hop_and_connection_tokens() {
    for h in [
        "connection",
        "Keep-Alive",
        "PROXY-CONNECTION",
        "te",
        "Trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    ] {
        assert!(is_hop_by_hop(h.as_bytes()), "{h}");
    }
    for h in [
        "host",
        "content-length",
        "trailers",
        "x-connection",
        "authorization",
    ] {
        assert!(!is_hop_by_hop(h.as_bytes()), "{h}");
    }
    let t: Vec<&[u8]> = connection_tokens(b" close ,, X-Foo\t, keep-alive,").collect();
    assert_eq!(t, vec![&b"close"[..], b"X-Foo", b"keep-alive"]);
}

// ---- hardening: framing look-alikes and path normalisation ----

#[test]
fn underscore_variants_of_framing_headers_are_refused() {
    for name in [
        "Transfer_Encoding",
        "transfer_encoding",
        "Content_Length",
        "CONTENT_LENGTH",
    ] {
        let raw = format!("POST /p HTTP/1.1\r\nHost: h\r\n{name}: 5\r\n\r\nhello");
        assert_eq!(
            parse(raw.as_bytes()),
            Err(HttpError::BadRequest(
                "underscore variant of a framing header"
            )),
            "{name}"
        );
    }
    // other underscore names are ordinary headers
    let raw = b"GET /p HTTP/1.1\r\nHost: h\r\nX_Custom_Len: 5\r\n\r\n";
    assert!(parse(raw).unwrap().is_some());
}

#[test]
fn dot_segments_and_empty_segments_are_refused_in_every_form() {
    for target in [
        "/prod/a/../b",
        "/prod/%2e%2e/b",
        "/prod//b",
        "http://h/prod/./b",
        "http://h//prod",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(
            matches!(parse(raw.as_bytes()), Err(HttpError::BadRequest(_))),
            "{target}"
        );
    }
    let raw = b"GET /prod/a/b/?x=/../.. HTTP/1.1\r\nHost: h\r\n\r\n";
    assert!(parse(raw).unwrap().is_some(), "the query is not a path");
}

/// An HTTP/1.1 head rendered from parts (as the HTTP/2 caller lays it out), with the parts'
/// spans.
fn render_parts(
    method: &[u8],
    target: &[u8],
    fields: &[(Vec<u8>, Vec<u8>)],
) -> (Vec<u8>, Span, Span, Vec<Header>) {
    let mut buf = Vec::new();
    buf.extend_from_slice(method);
    let m = Span::new(0, buf.len());
    buf.push(b' ');
    let t0 = buf.len();
    buf.extend_from_slice(target);
    let t = Span::new(t0, buf.len());
    buf.extend_from_slice(b" HTTP/1.1\r\n");
    let mut spans = Vec::new();
    for (n, v) in fields {
        let n0 = buf.len();
        buf.extend_from_slice(n);
        let n1 = buf.len();
        buf.extend_from_slice(b": ");
        let v0 = buf.len();
        buf.extend_from_slice(v);
        spans.push(Header {
            name: Span::new(n0, n1),
            value: Span::new(v0, buf.len()),
        });
        buf.extend_from_slice(b"\r\n");
    }
    buf.extend_from_slice(b"\r\n");
    (buf, m, t, spans)
}

/// `check_parts` on a head rendered from parts.
fn check_rendered(
    method: &[u8],
    target: &[u8],
    fields: &[(Vec<u8>, Vec<u8>)],
    limits: &RequestLimits,
) -> Result<RequestHead, HttpError> {
    let (buf, m, t, spans) = render_parts(method, target, fields);
    let parts = HeadParts {
        method: m,
        target: t,
        fields: &spans,
        head_len: buf.len(),
    };
    check_parts(&buf, &parts, limits)
}

#[test]
fn check_parts_refuses_what_would_inject_or_break_a_line() {
    let limits = RequestLimits::default();
    for (name, value) in [
        (&b"x-a"[..], &b"1\r\nx-injected: 1"[..]),
        (b"x-a", b"a\nb"),
        (b"x-a", b"a\rb"),
        (b"x-a", b"a\0b"),
        (b"x-a", b"a\x7fb"),
        (b"x a", b"1"),
        (b"x:a", b"1"),
        (b"", b"1"),
    ] {
        let fields = vec![
            (b"host".to_vec(), b"h".to_vec()),
            (name.to_vec(), value.to_vec()),
        ];
        let err = check_rendered(b"GET", b"/p", &fields, &limits).unwrap_err();
        assert_eq!(err.status(), 400, "{name:?}: {value:?}: {err:?}");
    }
    for (method, target) in [
        (&b"G T"[..], &b"/p"[..]),
        (b"GET", b"/p q"),
        (b"GET", b"/\xc3\xa9"),
        (b"", b"/p"),
        (b"GET", b""),
    ] {
        let fields = vec![(b"host".to_vec(), b"h".to_vec())];
        let err = check_rendered(method, target, &fields, &limits).unwrap_err();
        assert_eq!(err.status(), 400, "{method:?} {target:?}");
    }
}

#[test]
fn check_parts_keeps_the_limits() {
    let limits = RequestLimits {
        max_header_bytes: 200,
        max_headers: 3,
    };
    let status = |target: &[u8], fields: &[(Vec<u8>, Vec<u8>)]| {
        check_rendered(b"GET", target, fields, &limits)
            .unwrap_err()
            .status()
    };
    let many: Vec<(Vec<u8>, Vec<u8>)> = (0..4)
        .map(|i| (format!("x-{i}").into_bytes(), b"v".to_vec()))
        .collect();
    assert_eq!(status(b"/p", &many), 431);
    let long_target = format!("/{}", "a".repeat(300));
    assert_eq!(status(long_target.as_bytes(), &many[..1]), 414);
    let big = vec![
        (b"host".to_vec(), b"h".to_vec()),
        (b"x-big".to_vec(), vec![b'v'; 300]),
    ];
    assert_eq!(status(b"/p", &big), 431);
}

fn field_strategy() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let name = prop_oneof![
        Just(b"host".to_vec()),
        Just(b"content-length".to_vec()),
        Just(b"transfer-encoding".to_vec()),
        Just(b"content_length".to_vec()),
        Just(b"connection".to_vec()),
        Just(b"expect".to_vec()),
        Just(b"authorization".to_vec()),
        proptest::collection::vec(
            prop_oneof![Just(b'x'), Just(b'-'), Just(b'_'), Just(b'!'), Just(b'A')],
            1..8
        ),
    ];
    let value = prop_oneof![
        Just(b"example.com".to_vec()),
        Just(b"10".to_vec()),
        Just(b"chunked".to_vec()),
        Just(b"close".to_vec()),
        Just(b"100-continue".to_vec()),
        Just(b" padded\t".to_vec()),
        Just(b"bad host/".to_vec()),
        proptest::collection::vec(
            prop_oneof![
                Just(b'a'),
                Just(b' '),
                Just(b'\t'),
                Just(0xe9u8),
                Just(b'1'),
                Just(b'"')
            ],
            0..12
        ),
    ];
    (name, value)
}

proptest! {
    /// The HTTP/2 entry and the HTTP/1 parser agree: for any head laid out from parts without
    /// CR, LF or other CTLs in them, `check_parts` gives what `parse_request` gives for the
    /// same bytes (the same head, or an error of the same status).
    #[test]
    fn check_parts_agrees_with_the_parser(
        method in prop_oneof![Just(b"GET".to_vec()), Just(b"POST".to_vec()), Just(b"CONNECT".to_vec()), Just(b"BREW".to_vec()), Just(b"OPTIONS".to_vec())],
        target in prop_oneof![
            Just(b"/prod/items?x=1".to_vec()),
            Just(b"*".to_vec()),
            Just(b"/a/../b".to_vec()),
            Just(b"/a#frag".to_vec()),
            Just(b"http://example.com/p".to_vec()),
            Just(b"/%2e%2e/x".to_vec()),
            Just(b"example.com:443".to_vec()),
        ],
        fields in proptest::collection::vec(field_strategy(), 0..6),
    ) {
        let limits = RequestLimits::default();
        let (buf, _, _, _) = render_parts(&method, &target, &fields);
        let got = check_rendered(&method, &target, &fields, &limits);
        let want = parse_request(&buf, &limits).map(|h| h.expect("a whole head"));
        match (got, want) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(a.status(), b.status(), "{:?} vs {:?}", a, b),
            (a, b) => prop_assert!(false, "check_parts {:?}, parse_request {:?}", a, b),
        }
    }
}
