//! monoio-http's HTTP/2 (0.3.12, a fork of h2 0.3 driven natively over monoio) answering every
//! stream with the mock answer and nothing else: `monoio-http-h2-floor ADDR`. One thread, the
//! ring set up as tollgate's workers set theirs, tollgate's allocator, one task per stream.

use bytes::Bytes;
use monoio::net::{TcpListener, TcpStream};
use monoio_http::h2::server;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BODY: &[u8] = b"{\"ok\":true}";

fn main() -> std::io::Result<()> {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: monoio-http-h2-floor ADDR");
        std::process::exit(2);
    };
    let mut urb = io_uring::IoUring::builder();
    urb.setup_coop_taskrun().setup_taskrun_flag();
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .with_entries(1024)
        .uring_builder(urb)
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr.as_str())?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            monoio::spawn(connection(stream));
        }
    })
}

async fn connection(stream: TcpStream) {
    let Ok(mut conn) = server::handshake(stream).await else {
        return;
    };
    while let Some(Ok((_req, respond))) = conn.accept().await {
        monoio::spawn(answer(respond));
    }
}

async fn answer(mut respond: server::SendResponse<Bytes>) {
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
