//! HTTP/1.1 layer benchmarks (`tollgate-http`).
//!
//! What it measures:
//! - `parse_request/*`: `tollgate_http::parse_request` (httparse + RFC 9112 strictness checks +
//!   spans + body framing) on a small GET and on a 9-header POST, each beside plain
//!   `httparse::Request::parse` on the same bytes: the difference is the cost of the checks
//!   this crate adds on top of the primitive.
//! - `chunked/*`: `ChunkedDecoder` throughput on a 64 KiB body in 1 KiB and 16 KiB chunks,
//!   fed in 4 KiB reads (as from a socket), bytes counted as body bytes. The data itself is
//!   never copied or read (it comes back as ranges), so this is the framing cost per body
//!   byte, not a memory-bandwidth figure.
//!
//! Run: `cargo bench -p tollgate-bench --bench http` (add `-- --quick` for a short run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tollgate_http::{
    CHUNK_END, ChunkedDecoder, LAST_CHUNK, RequestLimits, Step, encode_chunk_header, httparse,
    parse_request,
};

const SMALL_GET: &[u8] = b"GET /prod/pets HTTP/1.1\r\nHost: api.example.com\r\n\r\n";

const NINE_HEADERS: &[u8] = b"POST /prod/orders/1234/items?expand=true&limit=10 HTTP/1.1\r\n\
Host: abcdef1234.execute-api.us-east-1.amazonaws.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n\
Accept: application/json, text/plain, */*\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Content-Type: application/json\r\n\
Content-Length: 27\r\n\
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl\r\n\
X-Request-Id: 4f3c2a1b-9d8e-4c7b-a6f5-e4d3c2b1a098\r\n\
Connection: keep-alive\r\n\r\n";

fn bench_parse(c: &mut Criterion) {
    let limits = RequestLimits::default();
    let mut g = c.benchmark_group("parse_request");
    for (name, buf) in [("small_get", SMALL_GET), ("nine_headers", NINE_HEADERS)] {
        assert!(parse_request(buf, &limits).unwrap().is_some());
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(format!("{name}/tollgate"), |b| {
            b.iter(|| parse_request(black_box(buf), &limits).unwrap())
        });
        g.bench_function(format!("{name}/httparse"), |b| {
            b.iter(|| {
                let mut headers = [httparse::EMPTY_HEADER; 100];
                let mut req = httparse::Request::new(&mut headers);
                let n = req.parse(black_box(buf)).unwrap();
                black_box((n, req.path, req.headers.len()));
            })
        });
    }
    g.finish();
}

fn chunked_body(total: usize, chunk: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::with_capacity(total + total / chunk * 8 + 8);
    for piece in data.chunks(chunk) {
        encode_chunk_header(piece.len(), &mut out);
        out.extend_from_slice(piece);
        out.extend_from_slice(CHUNK_END);
    }
    out.extend_from_slice(LAST_CHUNK);
    out
}

/// Decode `enc` in `read`-byte windows; returns the body byte count.
fn decode(enc: &[u8], read: usize) -> usize {
    let mut dec = ChunkedDecoder::new();
    let mut pos = 0;
    let mut end = read.min(enc.len());
    let mut total = 0;
    loop {
        match dec.step(&enc[pos..end]).unwrap() {
            Step::Data { consumed, data } => {
                total += black_box(&enc[pos..end][data]).len();
                pos += consumed;
            }
            Step::NeedMore { consumed } => {
                pos += consumed;
                end = (end + read).min(enc.len());
            }
            Step::Done { .. } => return total,
        }
    }
}

fn bench_chunked(c: &mut Criterion) {
    let mut g = c.benchmark_group("chunked");
    const TOTAL: usize = 64 * 1024;
    for chunk in [1024usize, 16 * 1024] {
        let enc = chunked_body(TOTAL, chunk);
        assert_eq!(decode(&enc, 4096), TOTAL);
        g.throughput(Throughput::Bytes(TOTAL as u64));
        g.bench_function(format!("decode_64KiB_in_{}KiB_chunks", chunk / 1024), |b| {
            b.iter(|| decode(black_box(&enc), 4096))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_parse, bench_chunked);
criterion_main!(benches);
