//! The HTTP/2 server's entry: the client preface and then arbitrary bytes (frames, HPACK
//! blocks, garbage) fed to `tollgate_h2::serve_connection` through an in-memory stream (no
//! socket), with a trivial handler. The input ends with EOF, and every timeout is a few
//! milliseconds, so each run ends; a panic, a hang (libFuzzer's -timeout) or unbounded
//! memory (-rss_limit_mb) is a finding. An input that already starts with the preface is fed
//! as it is (the committed seeds are whole client connections).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use tollgate_h2::{Body, H2Limits, Handler, PREFACE, Request, Response};

/// The client side of the connection: reads give the input, then EOF; writes are counted
/// and dropped.
struct Duplex {
    input: Vec<u8>,
    pos: usize,
    written: usize,
}

impl AsyncReadRent for Duplex {
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        let mut rest: &[u8] = self.input.get(self.pos..).unwrap_or_default();
        let (res, buf) = rest.read(buf).await;
        if let Ok(n) = res {
            self.pos += n;
        }
        (res, buf)
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        let mut rest: &[u8] = self.input.get(self.pos..).unwrap_or_default();
        let (res, buf) = rest.readv(buf).await;
        if let Ok(n) = res {
            self.pos += n;
        }
        (res, buf)
    }
}

impl AsyncWriteRent for Duplex {
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        let n = buf.bytes_init();
        self.written += n;
        (Ok(n), buf)
    }

    // The compatibility layer h2 runs on writes with `write` only.
    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        (Err(std::io::ErrorKind::Unsupported.into()), buf)
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Answers every stream; a POST's body is read first (up to 4 KiB).
struct Trivial;

impl Handler for Trivial {
    async fn handle(&self, req: Request, body: Body) -> Response {
        if req.method() == "POST" {
            let _ = body.collect(4096).await;
        }
        Response::new(200, Body::from(req.path().as_bytes().to_vec())).with_header("x-fuzz", "1")
    }
}

fn limits() -> H2Limits {
    let ms = Duration::from_millis;
    H2Limits {
        handshake_timeout: ms(20),
        idle_timeout: ms(20),
        send_timeout: ms(10),
        body_timeout: ms(10),
        shutdown_timeout: ms(5),
        drain_timeout: ms(5),
        ..H2Limits::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Vec::with_capacity(PREFACE.len() + data.len());
    if !data.starts_with(PREFACE) {
        input.extend_from_slice(PREFACE);
    }
    input.extend_from_slice(data);
    let io = Duplex {
        input,
        pos: 0,
        written: 0,
    };
    // A runtime per input (an epoll and an event fd): nothing carries over between inputs.
    let Ok(mut rt) = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
    else {
        return;
    };
    rt.block_on(async move {
        let _summary = tollgate_h2::serve_connection(io, limits(), Trivial).await;
    });
});
