//! The floor of an HTTP/2 server built on the `h2` crate: what one request costs when the
//! server does nothing but answer, so that the gateway's own share can be told apart from
//! the protocol library's (docs/http2.md, "The floor of h2").
//!
//! ```text
//! cargo build --release -p tollgate-h2 --example h2_floor
//! taskset -c 1 target/release/examples/h2_floor tokio  127.0.0.1:18490
//! taskset -c 1 target/release/examples/h2_floor monoio 127.0.0.1:18490
//! taskset -c 0 h2load -c 64 -m 10 -t 1 -n 600000 http://127.0.0.1:18490/prod/bench
//! ```
//!
//! Both modes answer every stream with the mock route's answer (200, `content-type:
//! application/json`, `content-length: 11`, `{"ok":true}`), on one thread:
//! - `tokio`: h2 on its own runtime (tokio, current-thread, epoll), one task per stream as
//!   hyper runs it: no compatibility layer, no limits, no frame meter.
//! - `monoio`: `tollgate-h2`'s `serve_connection` (h2 over monoio's io_uring driver, set up as
//!   the gateway's workers do, through the compatibility layer; one task per stream, the frame
//!   meter and limits) with a handler that only answers.

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use tollgate_h2::{Body, H2Limits, Handler, Request, Response, serve_connection};

// The gateway's allocator, so that the comparison is of the protocol work alone.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BODY: &[u8] = b"{\"ok\":true}";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(addr)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: h2_floor tokio|monoio ADDR");
        std::process::exit(2);
    };
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        eprintln!("h2_floor: {addr} is not an address");
        std::process::exit(2);
    };
    let result = match mode.as_str() {
        "tokio" => tokio_floor(addr),
        "monoio" => monoio_floor(addr),
        _ => {
            eprintln!("usage: h2_floor tokio|monoio ADDR");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("h2_floor: {e}");
        std::process::exit(1);
    }
}

fn tokio_floor(addr: SocketAddr) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        loop {
            let (sock, _) = listener.accept().await?;
            sock.set_nodelay(true)?;
            tokio::task::spawn_local(tokio_connection(sock));
        }
    })
}

async fn tokio_connection(sock: tokio::net::TcpStream) {
    let Ok(mut conn) = h2::server::handshake(sock).await else {
        return;
    };
    while let Some(Ok((_req, respond))) = conn.accept().await {
        tokio::task::spawn_local(tokio_answer(respond));
    }
}

/// One task per stream, as hyper does: the streams a read brings are accepted together and
/// their answers leave in one write.
async fn tokio_answer(mut respond: h2::server::SendResponse<Bytes>) {
    let Ok(head) = http::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("content-length", BODY.len())
        .body(())
    else {
        return;
    };
    if let Ok(mut send) = respond.send_response(head, false) {
        let _ = send.send_data(Bytes::from_static(BODY), true);
    }
}

struct Answer;

impl Handler for Answer {
    async fn handle(&self, _req: Request, _body: Body) -> Response {
        Response::new(200, Body::from(Bytes::from_static(BODY)))
            .with_header("content-type", "application/json")
    }
}

fn monoio_floor(addr: SocketAddr) -> std::io::Result<()> {
    // The ring as the gateway's workers set it up (crates/tollgate-gateway/src/worker.rs).
    let mut urb = io_uring::IoUring::builder();
    urb.setup_coop_taskrun().setup_taskrun_flag();
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .with_entries(1024)
        .uring_builder(urb)
        .build()?;
    rt.block_on(async move {
        let listener = monoio::net::TcpListener::bind(addr)?;
        let handler = Rc::new(Answer);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            monoio::spawn(serve_connection(
                stream,
                H2Limits::default(),
                handler.clone(),
            ));
        }
    })
}
