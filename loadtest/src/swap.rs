//! Hot-swap driver: `PUT` a config to the gateway's admin API at a fixed rate while a run
//! goes, counting answers (scenario 6 of the benchmarking guide).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::request::Target;
use crate::stats::SwapCounts;

/// One `PUT` of `body` to `admin` (e.g. `http://127.0.0.1:9901/config`); true on 200.
pub fn put_config(admin: &Target, body: &[u8], token: Option<&str>) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&admin.addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let head = format!(
        "PUT {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/yaml\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n",
        admin.path,
        admin.host,
        body.len()
    );
    if s.write_all(head.as_bytes()).is_err() || s.write_all(body).is_err() {
        return false;
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    matches!(crate::h1::parse_response(&out, false), Ok(Some(h)) if h.status == 200)
}

/// PUTs `body` `per_sec` times a second until `stop` is set.
pub fn swap_loop(
    admin: &Target,
    body: &[u8],
    per_sec: f64,
    token: Option<&str>,
    stop: &Arc<AtomicBool>,
) -> SwapCounts {
    let mut c = SwapCounts::default();
    let mut acks: Vec<f64> = Vec::new();
    let period = Duration::from_secs_f64(1.0 / per_sec.max(0.01));
    let start = Instant::now();
    let mut k: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = start + period * k;
        let now = Instant::now();
        if due > now {
            std::thread::sleep((due - now).min(Duration::from_millis(50)));
            continue;
        }
        let t0 = Instant::now();
        if put_config(admin, body, token) {
            c.ok += 1;
            acks.push(t0.elapsed().as_secs_f64() * 1000.0);
        } else {
            c.failed += 1;
        }
        k += 1;
    }
    acks.sort_by(f64::total_cmp);
    c.ack_ms_p50 = acks.get(acks.len() / 2).copied().unwrap_or(0.0);
    c.ack_ms_max = acks.last().copied().unwrap_or(0.0);
    c
}
