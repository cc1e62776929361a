//! Support for `e2e_hardening`: an origin that records the exact bytes it receives and can
//! misbehave on purpose, a switchable origin for down/up recovery, and process memory.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as it arrived at the origin: the exact bytes, head and body.
#[derive(Debug, Clone)]
pub struct RawSeen {
    pub bytes: Vec<u8>,
    pub target: String,
}

/// An origin that records every request byte for byte. Behaviour by the last path segment:
/// - `g-status`: a status line with a 4-digit code,
/// - `g-clte`: a response with both Content-Length and Transfer-Encoding,
/// - `g-short`: `Content-Length: 100` then 10 bytes and a close,
/// - `g-badchunk`: a chunked body with an invalid chunk size,
/// - `g-hugehead`: a 70 KiB response head,
/// - `g-nul`: a header value holding NUL,
/// - `g-http09`: a body without any status line, then close,
/// - `g-rst`: close with SO_LINGER 0 (a TCP reset) without answering,
/// - `g-hang`: never answer (until the test ends),
/// - `g-trickle`: the response head one byte every 200 ms,
/// - anything else: `200` with `Content-Length: 2` and body `ok` (keep-alive).
pub struct RawOrigin {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<RawSeen>>>,
    stop: Arc<AtomicBool>,
}

impl RawOrigin {
    pub fn start() -> RawOrigin {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::serve(l)
    }

    /// Serve on `port` (for an origin that comes back after being down).
    pub fn start_on(port: u16) -> RawOrigin {
        let mut last = None;
        for _ in 0..50 {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => return Self::serve(l),
                Err(e) => last = Some(e),
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("could not bind 127.0.0.1:{port}: {last:?}");
    }

    fn serve(l: TcpListener) -> RawOrigin {
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, stop2) = (seen.clone(), stop.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let (s3, stop3) = (s2.clone(), stop2.clone());
                        thread::spawn(move || raw_conn(c, &s3, &stop3));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
            // Down: the listener closes with this thread; each connection closes at its
            // next read slice.
        });
        RawOrigin { addr, seen, stop }
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn last(&self) -> RawSeen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request")
    }

    /// Stop accepting and close every connection (the upstream goes down).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // let the accept loop and the connections see the flag
        thread::sleep(Duration::from_millis(150));
    }
}

impl Drop for RawOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Read one whole request (head + Content-Length or chunked body); None on EOF.
fn read_request(
    c: &mut TcpStream,
    buf: &mut Vec<u8>,
    stop: &AtomicBool,
) -> Option<(Vec<u8>, String)> {
    let mut tmp = [0u8; 8192];
    loop {
        if let Some(h) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
            let target = head.split(' ').nth(1).unwrap_or("").to_owned();
            let body_start = h + 4;
            let cl = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let chunked = head
                .lines()
                .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
            let end = if chunked {
                find(&buf[body_start..], b"0\r\n\r\n").map(|p| body_start + p + 5)
            } else {
                Some(body_start + cl.unwrap_or(0)).filter(|e| *e <= buf.len())
            };
            if let Some(end) = end {
                let bytes: Vec<u8> = buf.drain(..end).collect();
                return Some((bytes, target));
            }
        }
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        match c.read(&mut tmp) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    }
}

fn raw_conn(mut c: TcpStream, seen: &Mutex<Vec<RawSeen>>, stop: &AtomicBool) {
    let _ = c.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = Vec::new();
    while let Some((bytes, target)) = read_request(&mut c, &mut buf, stop) {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        seen.lock().unwrap().push(RawSeen {
            bytes,
            target: target.clone(),
        });
        let last = target
            .split('?')
            .next()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_owned();
        let w = |c: &mut TcpStream, b: &[u8]| c.write_all(b).is_ok();
        match last.as_str() {
            "g-status" => {
                w(&mut c, b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n");
                return;
            }
            "g-clte" => {
                w(
                    &mut c,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                );
                return;
            }
            "g-short" => {
                w(
                    &mut c,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
                );
                let _ = c.shutdown(Shutdown::Both);
                return;
            }
            "g-badchunk" => {
                w(
                    &mut c,
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
                );
                return;
            }
            "g-hugehead" => {
                let mut out = b"HTTP/1.1 200 OK\r\n".to_vec();
                for i in 0..1000 {
                    out.extend_from_slice(
                        format!("X-Filler-{i}: {}\r\n", "a".repeat(60)).as_bytes(),
                    );
                }
                out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
                w(&mut c, &out);
                return;
            }
            "g-nul" => {
                w(
                    &mut c,
                    b"HTTP/1.1 200 OK\r\nX-Bad: a\0b\r\nContent-Length: 0\r\n\r\n",
                );
                return;
            }
            "g-http09" => {
                w(&mut c, b"hello, I am not HTTP/1.1\n");
                let _ = c.shutdown(Shutdown::Both);
                return;
            }
            "g-rst" => {
                let s = socket2::Socket::from(c);
                let _ = s.set_linger(Some(Duration::from_secs(0)));
                drop(s);
                return;
            }
            "g-hang" => {
                while !stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(50));
                }
                return;
            }
            "g-trickle" => {
                for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
                    if !w(&mut c, &[*b]) || stop.load(Ordering::SeqCst) {
                        return;
                    }
                    thread::sleep(Duration::from_millis(200));
                }
            }
            _ => {
                if !w(&mut c, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") {
                    return;
                }
            }
        }
    }
}

/// Resident memory of a process in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}
