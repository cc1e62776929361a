//! tollgate-h2: HTTP/2 server connections over monoio.
//!
//! [`serve_connection`] runs one HTTP/2 connection (h2 negotiated by ALPN, or h2c by prior
//! knowledge) on a monoio stream: the [`h2`] crate does frames, HPACK, streams and flow
//! control, driven through `monoio-compat`; every stream becomes one call of a [`Handler`]
//! in its own monoio task, with a protocol-neutral [`Request`] head and a [`Body`] whose
//! flow-control window is released as the handler reads it. The [`Response`] body (bytes, or a
//! stream fed through [`channel`] with backpressure) is sent as the client's window allows.
//!
//! Every bound is in [`H2Limits`]; the attacks of the HTTP/2 era (rapid reset, CONTINUATION
//! and HPACK floods, PING/SETTINGS floods, zero-window stalls) are handled as
//! `docs/http2.md` describes.
//!
//! For h2c on a plaintext listener, the HTTP/1 side reads the first bytes, asks
//! [`is_h2_preface`] (or [`match_h2_preface`] while fewer than 24 bytes are in), and hands the
//! connection over with the bytes already read through [`prefixed`].
//!
//! ```no_run
//! use std::rc::Rc;
//! use tollgate_h2::{Body, H2Limits, Handler, Request, Response, serve_connection};
//!
//! struct Hello;
//! impl Handler for Hello {
//!     async fn handle(&self, req: Request, body: Body) -> Response {
//!         let n = body.collect(1 << 20).await.map(|b| b.len()).unwrap_or(0);
//!         Response::new(200, Body::from(format!("{} {} ({n} bytes)\n", req.method(), req.path()).into_bytes()))
//!             .with_header("content-type", "text/plain")
//!     }
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new().enable_timer().build()?;
//! rt.block_on(async {
//!     let listener = monoio::net::TcpListener::bind("127.0.0.1:8080")?;
//!     let handler = Rc::new(Hello);
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         stream.set_nodelay(true)?;
//!         let handler = handler.clone();
//!         monoio::spawn(async move {
//!             // h2c with prior knowledge; an HTTP/1 listener would sniff with
//!             // `match_h2_preface` and pass `prefixed(stream, bytes_read)` instead
//!             let summary = serve_connection(stream, H2Limits::default(), handler).await;
//!             eprintln!("{summary:?}");
//!         });
//!     }
//! })
//! # }
//! ```

mod body;
mod limits;
mod message;
mod meter;
mod server;

pub use body::{Body, BodyError, BodySender, BodyStream, channel};
pub use limits::{H2Limits, MAX_FRAME_SIZE, MAX_WINDOW, MIN_FRAME_SIZE};
pub use message::{Headers, Request, ResetFlag, Response, Rest, Version};
pub use meter::Flood;
pub use server::{Close, ConnSummary, Handler, serve_connection, serve_connection_until};

/// The HTTP/2 client connection preface (RFC 9113 section 3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// True when `buf` starts with the whole HTTP/2 connection preface.
pub fn is_h2_preface(buf: &[u8]) -> bool {
    buf.starts_with(PREFACE)
}

/// How the first bytes of a plaintext connection compare with the HTTP/2 preface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefaceMatch {
    /// The whole preface is there: HTTP/2 with prior knowledge.
    Full,
    /// What is there so far is a prefix of the preface: read more before deciding.
    Partial,
    /// Not the preface (HTTP/1).
    No,
}

/// Compares the bytes read so far with the HTTP/2 preface.
pub fn match_h2_preface(buf: &[u8]) -> PrefaceMatch {
    if buf.starts_with(PREFACE) {
        PrefaceMatch::Full
    } else if PREFACE.starts_with(buf) {
        PrefaceMatch::Partial
    } else {
        PrefaceMatch::No
    }
}

/// A monoio stream that first yields bytes already read from it (the rewind the HTTP/1 side
/// needs to hand over a connection it has peeked at).
pub type PrefixedIo<IO> = monoio::io::PrefixedReadIo<IO, std::io::Cursor<Vec<u8>>>;

/// Wraps `io` so that reads return `already_read` first, then the stream.
pub fn prefixed<IO>(io: IO, already_read: Vec<u8>) -> PrefixedIo<IO> {
    monoio::io::PrefixedReadIo::new(io, std::io::Cursor::new(already_read))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preface_detection() {
        assert!(is_h2_preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00"));
        assert!(!is_h2_preface(b"PRI * HTTP/2.0\r\n"));
        assert!(!is_h2_preface(b"GET / HTTP/1.1\r\n\r\n"));
        assert_eq!(match_h2_preface(PREFACE), PrefaceMatch::Full);
        assert_eq!(match_h2_preface(b"PRI * HT"), PrefaceMatch::Partial);
        assert_eq!(match_h2_preface(b""), PrefaceMatch::Partial);
        assert_eq!(match_h2_preface(b"PRX"), PrefaceMatch::No);
        assert_eq!(match_h2_preface(b"GET / HTTP/1.1"), PrefaceMatch::No);
    }
}
