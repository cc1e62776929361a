//! A minimal HTTPS listener over `tollgate-tls`, for trying a configuration with outside tools
//! (`curl`, `openssl s_client`, `testssl.sh`):
//!
//! ```text
//! cargo run -p tollgate-tls --example tls_echo -- 127.0.0.1:8443 cert.pem key.pem [cert2.pem key2.pem ...]
//! ```
//!
//! Every request head is answered `200` with the SNI name, ALPN protocol and TLS version.

use std::path::PathBuf;
use std::time::Duration;

use tollgate_tls::{CertificateFiles, ServerTls, ServerTlsConfig, ServerTlsStream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bind = args
        .next()
        .ok_or("usage: tls_echo ADDR CERT KEY [CERT KEY ...]")?;
    let rest: Vec<String> = args.collect();
    let mut certificates = Vec::new();
    for pair in rest.chunks(2) {
        if let [cert, key] = pair {
            certificates.push(CertificateFiles {
                cert_file: PathBuf::from(cert),
                key_file: PathBuf::from(key),
            });
        } else {
            return Err("certificates come in CERT KEY pairs".into());
        }
    }
    let tls = ServerTls::from_config(&ServerTlsConfig::new(certificates))?;
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()?;
    rt.block_on(async move {
        let listener = monoio::net::TcpListener::bind(bind.as_str())?;
        eprintln!("listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            let tls = tls.clone();
            monoio::spawn(async move {
                match tls.accept(stream, Duration::from_secs(10)).await {
                    Ok(s) => serve(s).await,
                    Err(e) => eprintln!("handshake: {e}"),
                }
            });
        }
    })
}

async fn serve(mut s: ServerTlsStream<monoio::net::TcpStream>) {
    let mut buf = Vec::new();
    loop {
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if buf.len() > 16 * 1024 {
                return;
            }
            match s.read(&mut buf, 4096).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        buf.drain(..end);
        let body = format!(
            "sni={}\nalpn={}\nversion={:?}\n",
            s.server_name().unwrap_or("-"),
            s.alpn_protocol()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .unwrap_or_else(|| "-".into()),
            s.connection().protocol_version()
        );
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}
