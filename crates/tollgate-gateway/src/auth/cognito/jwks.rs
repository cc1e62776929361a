//! JWKS sources and their background refresher (control side; never on a request path).
//!
//! Every `jwks.url` in use has one [`JwksSlot`], shared by all authorizers and all
//! snapshots naming that URL: the current key set sits in an `ArcSwapOption`, so a worker
//! reads it with one atomic load and a refresh publishes a new one atomically. Slots live in
//! a process-wide registry of weak references: a snapshot holds its slots strongly, so a
//! config swap that keeps a URL keeps its keys warm, and a URL no snapshot names any more is
//! dropped with the last snapshot that named it.
//!
//! One `tollgate-jwks` thread fetches every slot with a small blocking HTTP/1.1 client
//! (`http://` only, connect/read timeouts, 1 MiB body limit):
//! * every `refresh_seconds` after a success;
//! * after a failure, with exponential backoff (1 s, 2 s, 4 s ... capped at 30 s and at
//!   `refresh_seconds`); the last good key set keeps serving meanwhile;
//! * soon after a worker meets a `kid` the key set does not hold (or finds no key set):
//!   the worker only raises a flag; the refresher fetches at most once per
//!   [`KID_REFETCH_INTERVAL`] per URL, one fetch at a time (single flight).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tollgate_jwt::{KeySet, KeySetOptions};

/// A parsed key set and its version (a hash of the JWKS bytes: an unchanged document keeps
/// the token caches warm; any change makes every cached verification unreachable).
pub(crate) struct LoadedKeys {
    pub keys: KeySet,
    pub version: u64,
}

impl LoadedKeys {
    pub(crate) fn parse(bytes: &[u8]) -> Result<LoadedKeys, tollgate_jwt::JwtError> {
        let keys = KeySet::from_jwks_json(bytes, &KeySetOptions::default())?;
        Ok(LoadedKeys {
            keys,
            version: tollgate_jwt::token_hash(bytes, 0x6a77_6b73),
        })
    }
}

/// Unknown-`kid` refetches of one URL happen at most this often.
pub(crate) const KID_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Longest pause between retries of a failing URL.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Whole exchange (connect excluded) must finish in this time.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Larger JWKS responses are refused (AWS HTTP API: 150000 bytes; Cognito's are ~1 KiB).
pub(crate) const MAX_JWKS_BYTES: usize = 1024 * 1024;
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long building a snapshot waits for the first fetch of a URL it names first.
const FIRST_FETCH_WAIT: Duration = Duration::from_secs(3);

#[derive(Default)]
struct Sched {
    /// When the next periodic (or backoff) fetch is due; `None` = now.
    next_due: Option<Instant>,
    last_attempt: Option<Instant>,
    failures: u32,
}

/// One JWKS URL: its current keys and its fetch schedule.
pub(crate) struct JwksSlot {
    pub url: String,
    keys: ArcSwapOption<LoadedKeys>,
    refresh: Mutex<Duration>,
    /// A worker asked for a refetch (unknown `kid`, or no keys yet).
    wanted: AtomicBool,
    sched: Mutex<Sched>,
    /// Fetch attempts finished (success or failure).
    attempts: AtomicU64,
    /// The last failure, for logs.
    last_error: Mutex<Option<String>>,
}

impl JwksSlot {
    /// The current key set (`None` until a fetch has succeeded).
    pub(crate) fn keys(&self) -> Option<Arc<LoadedKeys>> {
        self.keys.load_full()
    }

    /// The last fetch failure, if the last fetch failed (for logs).
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Ask the refresher for a refetch (cheap; a flag already raised costs one atomic swap).
    pub(crate) fn request_refresh(&self) {
        if !self.wanted.swap(true, Ordering::AcqRel) {
            registry().wake();
        }
    }

    fn due(&self, now: Instant) -> (bool, Instant) {
        let s = self.sched.lock().unwrap_or_else(|p| p.into_inner());
        let periodic = s.next_due.unwrap_or(now);
        let mut next = periodic;
        let mut due = periodic <= now;
        if self.wanted.load(Ordering::Acquire) {
            let allowed = s.last_attempt.map_or(now, |t| t + KID_REFETCH_INTERVAL);
            due |= allowed <= now;
            next = next.min(allowed);
        }
        (due, next)
    }

    fn fetch_and_publish(&self) {
        self.wanted.store(false, Ordering::Release);
        let started = Instant::now();
        let result = http_get(&self.url)
            .and_then(|body| LoadedKeys::parse(&body).map_err(|e| e.to_string()));
        let refresh = *self.refresh.lock().unwrap_or_else(|p| p.into_inner());
        let mut s = self.sched.lock().unwrap_or_else(|p| p.into_inner());
        s.last_attempt = Some(started);
        let ok_at = result.as_ref().ok().map(|_| std::time::SystemTime::now());
        crate::metrics::jwks_fetch(&self.url, ok_at);
        match result {
            Ok(loaded) => {
                s.failures = 0;
                s.next_due = Some(started + refresh);
                let unchanged = self
                    .keys
                    .load()
                    .as_ref()
                    .is_some_and(|k| k.version == loaded.version);
                if !unchanged {
                    self.keys.store(Some(Arc::new(loaded)));
                }
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            Err(e) => {
                s.failures = s.failures.saturating_add(1);
                let backoff = Duration::from_secs(1u64 << s.failures.saturating_sub(1).min(10))
                    .min(MAX_BACKOFF)
                    .min(refresh);
                s.next_due = Some(started + backoff);
                let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
                if last.as_deref() != Some(e.as_str()) {
                    let kept = if self.keys.load().is_some() {
                        "keeping the last good key set"
                    } else {
                        "no key set yet"
                    };
                    log::warn!(
                        "tollgate: jwks {}: {e} ({kept}; retry in {}s)",
                        self.url,
                        backoff.as_secs()
                    );
                }
                *last = Some(e);
            }
        }
        drop(s);
        self.attempts.fetch_add(1, Ordering::AcqRel);
    }
}

/// Every JWKS URL in use, by URL, and the refresher's wake-up signal.
pub(crate) struct Registry {
    slots: Mutex<HashMap<String, Weak<JwksSlot>>>,
    signal: Mutex<bool>,
    cv: Condvar,
}

/// The process-wide registry; the first call starts the refresher thread.
pub(crate) fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    static STARTED: OnceLock<()> = OnceLock::new();
    let reg = REG.get_or_init(|| Registry {
        slots: Mutex::new(HashMap::new()),
        signal: Mutex::new(false),
        cv: Condvar::new(),
    });
    STARTED.get_or_init(|| {
        if let Err(e) = std::thread::Builder::new()
            .name("tollgate-jwks".into())
            .spawn(move || refresher(reg))
        {
            log::error!("tollgate: cannot start the JWKS refresher: {e}");
        }
    });
    reg
}

impl Registry {
    /// The slot for `url` (created when new), with its refresh period set to `refresh`.
    /// A new slot is fetched at once; this waits (bounded) for that first attempt so a
    /// freshly started or reloaded gateway usually serves with its keys from the first request.
    pub(crate) fn slot(&self, url: &str, refresh: Duration) -> Arc<JwksSlot> {
        let refresh = refresh.max(Duration::from_secs(1));
        let (slot, fresh) = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            match slots.get(url).and_then(Weak::upgrade) {
                Some(s) => (s, false),
                None => {
                    let s = Arc::new(JwksSlot {
                        url: url.to_owned(),
                        keys: ArcSwapOption::empty(),
                        refresh: Mutex::new(refresh),
                        wanted: AtomicBool::new(false),
                        sched: Mutex::new(Sched::default()),
                        attempts: AtomicU64::new(0),
                        last_error: Mutex::new(None),
                    });
                    slots.retain(|_, w| w.strong_count() > 0);
                    slots.insert(url.to_owned(), Arc::downgrade(&s));
                    (s, true)
                }
            }
        };
        {
            let mut r = slot.refresh.lock().unwrap_or_else(|p| p.into_inner());
            if *r != refresh {
                *r = refresh;
                // A shorter period applies now, not after the old one ends.
                let mut s = slot.sched.lock().unwrap_or_else(|p| p.into_inner());
                if let (Some(last), Some(due)) = (s.last_attempt, s.next_due)
                    && s.failures == 0
                {
                    s.next_due = Some(due.min(last + refresh));
                }
            }
        }
        if fresh {
            self.wake();
            let until = Instant::now() + FIRST_FETCH_WAIT;
            while slot.attempts.load(Ordering::Acquire) == 0 && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        slot
    }

    fn wake(&self) {
        let mut s = self.signal.lock().unwrap_or_else(|p| p.into_inner());
        *s = true;
        self.cv.notify_one();
    }

    fn live(&self) -> Vec<Arc<JwksSlot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|_, w| w.strong_count() > 0);
        slots.values().filter_map(Weak::upgrade).collect()
    }
}

fn refresher(reg: &'static Registry) {
    loop {
        let now = Instant::now();
        let mut wake_at = now + Duration::from_secs(5);
        for slot in reg.live() {
            let (due, next) = slot.due(now);
            if due {
                slot.fetch_and_publish();
                let (_, after) = slot.due(Instant::now());
                wake_at = wake_at.min(after);
            } else {
                wake_at = wake_at.min(next);
            }
        }
        let mut signalled = reg.signal.lock().unwrap_or_else(|p| p.into_inner());
        while !*signalled {
            let left = wake_at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let (g, _) = reg
                .cv
                .wait_timeout(signalled, left)
                .unwrap_or_else(|p| p.into_inner());
            signalled = g;
        }
        *signalled = false;
    }
}

/// `http://host[:port]/path` -> (host for the Host header, host, port, path).
fn split_url(url: &str) -> Result<(String, String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| "only http:// URLs are fetched".to_owned())?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (
            rest.get(..i).unwrap_or_default(),
            rest.get(i..).unwrap_or("/"),
        ),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| "bad IPv6 host".to_owned())?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("bad port in {url}"))?,
            None => 80,
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_owned(),
                p.parse().map_err(|_| format!("bad port in {url}"))?,
            ),
            None => (authority.to_owned(), 80),
        }
    };
    if host.is_empty() {
        return Err(format!("no host in {url}"));
    }
    Ok((authority.to_owned(), host, port, path))
}

/// A small blocking HTTP/1.1 GET: 200 only, `Content-Length`, chunked or close-delimited
/// bodies up to [`MAX_JWKS_BYTES`], bounded by connect and whole-exchange timeouts.
pub(crate) fn http_get(url: &str) -> Result<Vec<u8>, String> {
    let (authority, host, port, path) = split_url(url)?;
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("no address for {host}");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connect {a}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let deadline = Instant::now() + FETCH_TIMEOUT;
    stream
        .set_write_timeout(Some(FETCH_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nUser-Agent: tollgate-jwks\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timed out".into());
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("timed out".into());
            }
            Err(e) => return Err(format!("read: {e}")),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.len() > MAX_HEAD_BYTES + MAX_JWKS_BYTES + 64 * 1024 {
            return Err(format!("response larger than {MAX_JWKS_BYTES} bytes"));
        }
        if let Some(done) = complete_body(&buf)? {
            return Ok(done);
        }
    }
    match parse_response(&buf, true)? {
        Parsed::Done(body) => Ok(body),
        Parsed::Partial => Err("connection closed before the whole response arrived".into()),
    }
}

enum Parsed {
    Done(Vec<u8>),
    Partial,
}

/// `Some(body)` once the whole response is in `buf` (before EOF), `None` to read on.
fn complete_body(buf: &[u8]) -> Result<Option<Vec<u8>>, String> {
    match parse_response(buf, false)? {
        Parsed::Done(b) => Ok(Some(b)),
        Parsed::Partial => Ok(None),
    }
}

fn parse_response(buf: &[u8], eof: bool) -> Result<Parsed, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err("response head too large".into());
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(e) => return Err(format!("bad response: {e}")),
    };
    let code = resp.code.unwrap_or(0);
    if code != 200 {
        return Err(format!("HTTP status {code}"));
    }
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            length = Some(v.ok_or_else(|| "bad content-length".to_owned())?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .windows(7)
                .any(|w| w.eq_ignore_ascii_case(b"chunked"));
        }
    }
    let body = buf.get(head_len..).unwrap_or_default();
    if chunked {
        return dechunk(body);
    }
    if let Some(len) = length {
        if len > MAX_JWKS_BYTES {
            return Err(format!("response larger than {MAX_JWKS_BYTES} bytes"));
        }
        return Ok(match body.get(..len) {
            Some(b) => Parsed::Done(b.to_vec()),
            None => Parsed::Partial,
        });
    }
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!("response larger than {MAX_JWKS_BYTES} bytes"));
    }
    Ok(if eof {
        Parsed::Done(body.to_vec())
    } else {
        Parsed::Partial
    })
}

/// Decodes a chunked body (extensions ignored, trailers skipped).
fn dechunk(mut rest: &[u8]) -> Result<Parsed, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Ok(Parsed::Partial);
        };
        let line = std::str::from_utf8(rest.get(..eol).unwrap_or_default())
            .map_err(|_| "bad chunk size")?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = rest.get(eol + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(Parsed::Done(out));
        }
        if out.len().saturating_add(size) > MAX_JWKS_BYTES {
            return Err(format!("response larger than {MAX_JWKS_BYTES} bytes"));
        }
        let (Some(data), Some(crlf)) = (rest.get(..size), rest.get(size..size + 2)) else {
            return Ok(Parsed::Partial);
        };
        if crlf != b"\r\n" {
            return Err("bad chunk framing".into());
        }
        out.extend_from_slice(data);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:7000/jwks.json").unwrap(),
            (
                "127.0.0.1:7000".into(),
                "127.0.0.1".into(),
                7000,
                "/jwks.json".into()
            )
        );
        assert_eq!(
            split_url("http://example.com").unwrap(),
            ("example.com".into(), "example.com".into(), 80, "/".into())
        );
        assert_eq!(split_url("http://[::1]:81/a?b=c").unwrap().1, "::1");
        assert_eq!(split_url("http://[::1]:81/a?b=c").unwrap().2, 81);
        assert_eq!(split_url("http://h?x").unwrap().3, "/?x");
        assert!(split_url("https://example.com/").is_err());
        assert!(split_url("http://:80/").is_err());
        assert!(split_url("http://h:99999/").is_err());
    }

    #[test]
    fn response_framing() {
        let ok = |b: &[u8], eof| match parse_response(b, eof) {
            Ok(Parsed::Done(v)) => Some(v),
            _ => None,
        };
        assert_eq!(
            ok(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", false).unwrap(),
            b"{}"
        );
        assert!(ok(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}", false).is_none());
        assert_eq!(ok(b"HTTP/1.1 200 OK\r\n\r\n{}", true).unwrap(), b"{}");
        assert!(ok(b"HTTP/1.1 200 OK\r\n\r\n{}", false).is_none());
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\n{\"\r\n3\r\nk\":\r\n2\r\n1}\r\n0\r\n\r\n";
        assert_eq!(ok(chunked, false).unwrap(), b"{\"k\":1}");
        assert!(ok(&chunked[..chunked.len() - 10], false).is_none());
        assert!(
            matches!(parse_response(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", true), Err(e) if e.contains("503"))
        );
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_JWKS_BYTES + 1
        );
        assert!(parse_response(big.as_bytes(), false).is_err());
        assert!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                false
            )
            .is_err()
        );
    }

    #[test]
    fn fetches_over_loopback_and_times_out() {
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            for (i, s) in l.incoming().take(2).enumerate() {
                let mut s = s.unwrap();
                let mut b = [0u8; 1024];
                let n = s.read(&mut b).unwrap();
                assert!(b[..n].starts_with(b"GET /keys HTTP/1.1\r\n"));
                if i == 0 {
                    s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"keys\":[]}")
                        .unwrap();
                    // keep the connection open: the client must stop at Content-Length
                    std::thread::sleep(Duration::from_millis(300));
                } else {
                    s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                        .unwrap();
                }
            }
        });
        let started = Instant::now();
        assert_eq!(
            http_get(&format!("http://{addr}/keys")).unwrap(),
            b"{\"keys\":[]}"
        );
        assert!(started.elapsed() < Duration::from_millis(250));
        assert!(
            http_get(&format!("http://{addr}/keys"))
                .unwrap_err()
                .contains("404")
        );
        t.join().unwrap();
        // nothing listening
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = l.local_addr().unwrap();
        drop(l);
        assert!(http_get(&format!("http://{dead}/keys")).is_err());
    }

    #[test]
    fn slots_are_shared_by_url_and_dropped_with_their_last_user() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = l.local_addr().unwrap();
        drop(l);
        let url = format!("http://{dead}/jwks.json");
        let a = registry().slot(&url, Duration::from_secs(300));
        // The first attempt ran (and failed: nothing listens) before `slot` returned.
        assert!(a.attempts.load(Ordering::Acquire) >= 1);
        assert!(a.keys().is_none());
        assert!(a.last_error.lock().unwrap().is_some());
        let b = registry().slot(&url, Duration::from_secs(60));
        assert!(
            Arc::ptr_eq(&a, &b),
            "same URL, same slot (keys stay warm across snapshots)"
        );
        assert_eq!(*a.refresh.lock().unwrap(), Duration::from_secs(60));
        let weak = Arc::downgrade(&a);
        drop((a, b));
        assert!(
            weak.upgrade().is_none(),
            "no snapshot names the URL: the slot is gone"
        );
        let c = registry().slot(&url, Duration::from_secs(300));
        assert!(
            c.attempts.load(Ordering::Acquire) >= 1,
            "a new slot, fetched afresh"
        );
        // A raised flag is rate-limited by the last attempt.
        c.request_refresh();
        let (due, next) = c.due(Instant::now());
        assert!(
            !due || c
                .sched
                .lock()
                .unwrap()
                .next_due
                .is_some_and(|d| d <= Instant::now())
        );
        assert!(next <= Instant::now() + KID_REFETCH_INTERVAL);
    }
}
