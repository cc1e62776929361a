//! `parse_request` on arbitrary bytes, then the chunked body (if any) after the head.
//! Invariants: no panic; a parsed head lies inside the input; its path passes `check_path`;
//! the body decoded in one call equals the body decoded one byte at a time; an HTTP/1.1 head
//! handed to `check_parts` as spans (the HTTP/2 entry) is read the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_http::{
    BodyFraming, ChunkedDecoder, HeadParts, RequestLimits, Step, check_parts, check_path,
    parse_request,
};

fn decode(input: &[u8], piece: usize) -> Option<(Vec<u8>, usize)> {
    let mut dec = ChunkedDecoder::new();
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut avail = piece.min(input.len());
    loop {
        match dec.step(&input[pos..avail]).ok()? {
            Step::Data { consumed, data } => {
                out.extend_from_slice(&input[pos + data.start..pos + data.end]);
                pos += consumed;
            }
            Step::NeedMore { consumed } => {
                pos += consumed;
                if avail == input.len() {
                    return None;
                }
                avail = (avail + piece).min(input.len());
            }
            Step::Done { consumed } => return Some((out, pos + consumed)),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = RequestLimits {
        max_header_bytes: 4096,
        max_headers: 64,
    };
    let Ok(Some(head)) = parse_request(data, &limits) else {
        return;
    };
    assert!(head.head_len <= data.len());
    assert!(head.head_len <= limits.max_header_bytes);
    for h in &head.headers {
        assert!(h.name.end as usize <= head.head_len && h.value.end as usize <= head.head_len);
    }
    assert!(check_path(head.path.slice(data)).is_ok());
    // The HTTP/2 entry, given the same head as spans, reads it the same way.
    if head.minor_version == 1 {
        let parts = HeadParts {
            method: head.method,
            target: head.target,
            fields: &head.headers,
            head_len: head.head_len,
        };
        assert_eq!(check_parts(data, &parts, &limits).ok().as_ref(), Some(&head));
    }
    // The same bytes parse the same way when more bytes follow the head.
    let mut longer = data[..head.head_len].to_vec();
    longer.extend_from_slice(b"GET / HTTP/1.1\r\n");
    assert_eq!(
        parse_request(&longer, &limits)
            .ok()
            .flatten()
            .map(|h| h.framing),
        Some(head.framing)
    );
    if head.framing == BodyFraming::Chunked {
        let body = &data[head.head_len..];
        let whole = decode(body, body.len().max(1));
        let bytewise = decode(body, 1);
        assert_eq!(whole, bytewise);
    }
});
