//! A real monoio HTTP/2 listener on 127.0.0.1 running a tiny test handler, plus helpers to
//! run independent clients (curl, nghttp, Python h2) against it.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use bytes::Bytes;
use tollgate_h2::{Body, ConnSummary, H2Limits, Handler, Request, Response, channel};

/// Tests in one binary share the process (RSS) and the two cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counters the handler keeps, readable from the test thread.
#[derive(Default)]
pub struct Counters {
    /// Handler calls.
    pub calls: AtomicU64,
    /// Bytes the download handler produced (taken by the connection).
    pub produced: AtomicU64,
    /// What the handler answers to `run_after_reset` (set before the traffic).
    pub run_after_reset: AtomicBool,
    /// `/slow` handlers that finished and saw their stream reset.
    pub finished_after_reset: AtomicU64,
}

pub struct Server {
    pub addr: SocketAddr,
    pub counters: Arc<Counters>,
    summaries: mpsc::Receiver<ConnSummary>,
}

impl Server {
    /// The summary of the next connection to close, waiting up to `wait`.
    pub fn next_summary(&self, wait: Duration) -> Option<ConnSummary> {
        self.summaries.recv_timeout(wait).ok()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// 0..N of the download pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

struct TestHandler {
    counters: Arc<Counters>,
}

fn query_usize(path: &str, key: &str) -> Option<usize> {
    let q = path.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

impl Handler for TestHandler {
    fn run_after_reset(&self) -> bool {
        self.counters.run_after_reset.load(Ordering::Relaxed)
    }

    async fn handle(&self, req: Request, mut body: Body) -> Response {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let route = req.path().split('?').next().unwrap_or("").to_owned();
        match route.as_str() {
            "/echo" => {
                let mut text = format!(
                    "method={}\npath={}\nauthority={}\nscheme={}\n",
                    req.method(),
                    req.path(),
                    req.authority().unwrap_or("-"),
                    req.scheme().unwrap_or("-"),
                );
                for (n, v) in req.headers.iter() {
                    text.push_str(&format!("h:{n}={}\n", String::from_utf8_lossy(v)));
                }
                Response::new(200, Body::from(text.into_bytes()))
                    .with_header("content-type", "text/plain")
            }
            "/upload" => {
                // consume the body as it streams, keep only a length and a checksum
                let mut len = 0u64;
                let mut sum = 0u64;
                while let Some(chunk) = body.chunk().await {
                    match chunk {
                        Ok(c) => {
                            len += c.len() as u64;
                            for b in c.iter() {
                                sum = sum.wrapping_mul(31).wrapping_add(u64::from(*b));
                            }
                        }
                        Err(e) => {
                            return Response::new(400, Body::from(e.to_string().into_bytes()));
                        }
                    }
                }
                Response::new(200, Body::from(format!("len={len} sum={sum}").into_bytes()))
            }
            "/mirror" => {
                // the request body streamed back as the response body
                Response::new(200, body)
            }
            "/download" => {
                let size = query_usize(req.path(), "size").unwrap_or(1 << 20);
                let (mut tx, rx) = channel(64 * 1024);
                let counters = self.counters.clone();
                let producer = async move {
                    let all = Bytes::from(pattern(251 * 80));
                    let mut off = 0usize;
                    while off < size {
                        let start = off % 251;
                        let n = (size - off).min(16 * 1024);
                        let chunk = all.slice(start..start + n);
                        if tx.send(chunk).await.is_err() {
                            return;
                        }
                        counters.produced.fetch_add(n as u64, Ordering::Relaxed);
                        off += n;
                    }
                    tx.finish();
                };
                let resp = Response::new(200, rx).with_header("content-length", size.to_string());
                // `rest=1`: the producer runs in the stream's own task, handed over with the
                // answer; otherwise in a task of its own.
                if query_usize(req.path(), "rest") == Some(1) {
                    resp.with_rest(Box::pin(producer))
                } else {
                    monoio::spawn(producer);
                    resp
                }
            }
            "/slow" => {
                let ms = query_usize(req.path(), "ms").unwrap_or(200) as u64;
                monoio::time::sleep(Duration::from_millis(ms)).await;
                if req.reset.is_reset() {
                    self.counters
                        .finished_after_reset
                        .fetch_add(1, Ordering::Relaxed);
                }
                Response::new(200, Body::from("slow\n"))
            }
            _ => Response::new(404, Body::from("no route\n")),
        }
    }
}

/// Reads until the bytes are the whole HTTP/2 preface (returns them with the stream) or
/// cannot be (answers 505 as an HTTP/1 listener without HTTP/2 would, and closes).
async fn sniff(mut stream: monoio::net::TcpStream) -> Option<(monoio::net::TcpStream, Vec<u8>)> {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    use tollgate_h2::{PrefaceMatch, match_h2_preface};
    let mut first = Vec::with_capacity(64);
    loop {
        let (res, buf) = stream.read(Vec::with_capacity(64)).await;
        let n = res.ok()?;
        if n == 0 {
            return None;
        }
        first.extend_from_slice(&buf[..n]);
        match match_h2_preface(&first) {
            PrefaceMatch::Full => return Some((stream, first)),
            PrefaceMatch::Partial => continue,
            PrefaceMatch::No => {
                let reply = b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                let _ = stream.write_all(reply.to_vec()).await;
                return None;
            }
        }
    }
}

/// Starts a listener on 127.0.0.1:0 serving HTTP/2 (prior knowledge) with `limits`, on
/// monoio's io_uring driver where the kernel has it (epoll otherwise).
pub fn start(limits: H2Limits) -> Server {
    start_on(limits, false)
}

/// [`start`], with every connection served by `serve_connection_until` whose shutdown signal
/// fires `after` the connection is accepted (a server that starts draining).
pub fn start_until(limits: H2Limits, after: Duration) -> Server {
    start_inner(limits, false, Some(after))
}

/// [`start`], on the epoll (legacy) driver when `legacy`.
pub fn start_on(limits: H2Limits, legacy: bool) -> Server {
    start_inner(limits, legacy, None)
}

fn start_inner(limits: H2Limits, legacy: bool, shutdown: Option<Duration>) -> Server {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let counters = Arc::new(Counters::default());
    let (tx, rx) = mpsc::channel();
    let c2 = counters.clone();
    std::thread::spawn(move || {
        if legacy {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .unwrap();
            rt.block_on(serve(std_listener, limits, c2, tx, shutdown));
        } else {
            let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                .enable_timer()
                .build()
                .unwrap();
            rt.block_on(serve(std_listener, limits, c2, tx, shutdown));
        }
    });
    Server {
        addr,
        counters,
        summaries: rx,
    }
}

async fn serve(
    std_listener: std::net::TcpListener,
    limits: H2Limits,
    c2: Arc<Counters>,
    tx: mpsc::Sender<ConnSummary>,
    shutdown: Option<Duration>,
) {
    {
        {
            std_listener.set_nonblocking(true).unwrap();
            let listener = monoio::net::TcpListener::from_std(std_listener).unwrap();
            let handler = std::rc::Rc::new(TestHandler { counters: c2 });
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let limits = limits.clone();
                let tx = tx.clone();
                monoio::spawn(async move {
                    // what an HTTP/1 listener does: read the first bytes, and hand the
                    // connection over with them when they are the HTTP/2 preface
                    let Some((stream, first)) = sniff(stream).await else {
                        return;
                    };
                    let io = tollgate_h2::prefixed(stream, first);
                    let summary = match shutdown {
                        None => tollgate_h2::serve_connection(io, limits, handler).await,
                        Some(after) => {
                            let signal = monoio::time::sleep(after);
                            tollgate_h2::serve_connection_until(io, limits, handler, signal).await
                        }
                    };
                    let _ = tx.send(summary);
                });
            }
        }
    }
}

/// Runs a command, failing the test with its output if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install it: see docs/http2.md)"))
}

/// A Python interpreter that has the `h2` package (pip's or Debian's python3-h2).
pub fn python_with_h2() -> String {
    for py in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(py)
            .args(["-c", "import h2, hpack, hyperframe"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return py.to_owned();
        }
    }
    panic!("no python3 with the h2 package: apt-get install -y python3-h2 (or pip install h2)");
}

/// Runs the Python attack client with `args`; returns its JSON output line as a string.
pub fn attack(server: &Server, args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/h2_client.py");
    let out = run(Command::new(python_with_h2())
        .arg(script)
        .arg(server.port().to_string())
        .args(args));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "h2_client.py {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The process's resident set size, in bytes.
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}
