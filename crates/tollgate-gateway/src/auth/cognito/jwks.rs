//! JWKS sources and their background refresher (control side; never on a request path).
//!
//! Every `jwks.url` in use has one [`JwksSlot`], shared by all authorizers and all
//! snapshots naming that URL: the current key set sits in an `ArcSwapOption`, so a worker
//! reads it with one atomic load and a refresh publishes a new one atomically. Slots live in
//! a process-wide registry of weak references: a snapshot holds its slots strongly, so a
//! config swap that keeps a URL keeps its keys warm, and a URL no snapshot names any more is
//! dropped with the last snapshot that named it.
//!
//! One `tollgate-jwks` thread fetches every slot with the gateway's HTTP/1.1 client
//! (`http://` only, connect/read timeouts, 1 MiB body limit):
//! * every `refresh_seconds` after a success;
//! * after a failure, with exponential backoff (1 s, 2 s, 4 s ... capped at 30 s and at
//!   `refresh_seconds`); the last good key set keeps serving meanwhile;
//! * soon after a worker meets a `kid` the key set does not hold (or finds no key set):
//!   the worker only raises a flag; the refresher fetches at most once per
//!   [`KID_REFETCH_INTERVAL`] per URL, one fetch at a time (single flight).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tollgate_jwt::{KeySet, KeySetOptions};

use crate::client::{self, Url};

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
        let result = http_get(&self.url, &registry().client_tls())
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
    /// The TLS client of the configuration last compiled (`gateway.upstream.ca_file`), for
    /// `https://` URLs.
    client_tls: Mutex<Result<tollgate_tls::ClientTls, String>>,
    signal: Mutex<bool>,
    cv: Condvar,
}

/// The process-wide registry; the first call starts the refresher thread.
pub(crate) fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    static STARTED: OnceLock<()> = OnceLock::new();
    let reg = REG.get_or_init(|| Registry {
        slots: Mutex::new(HashMap::new()),
        client_tls: Mutex::new(Err("no configuration yet".to_owned())),
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
    /// Use `tls` for the fetches of `https://` URLs from now on.
    pub(crate) fn set_client_tls(&self, tls: &Result<tollgate_tls::ClientTls, String>) {
        *self.client_tls.lock().unwrap_or_else(|p| p.into_inner()) = tls.clone();
    }

    fn client_tls(&self) -> Result<tollgate_tls::ClientTls, String> {
        self.client_tls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

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

/// A small HTTP/1.1 GET with the gateway's client (`crate::client`) on a throwaway
/// single-threaded runtime (this runs on the refresher thread, never on a worker): 200 only,
/// `Content-Length`, chunked or close-delimited bodies up to [`MAX_JWKS_BYTES`], bounded by
/// connect and whole-exchange timeouts. Each address of the host is tried in turn.
pub(crate) fn http_get(
    url: &str,
    tls: &Result<tollgate_tls::ClientTls, String>,
) -> Result<Vec<u8>, String> {
    let target = Url::parse(url).map_err(|e| format!("{e}: {url}"))?;
    let req = client::request_head(
        b"GET",
        &target.path_and_query,
        target.authority,
        &[
            (b"Accept", b"application/json"),
            (b"User-Agent", b"tollgate-jwks"),
            (b"Connection", b"close"),
        ],
        None,
    )
    .map_err(|e| e.to_string())?;
    let addrs = client::resolve_all(target.host, target.port)
        .map_err(|e| format!("cannot resolve {}: {e}", target.host))?;
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let host = target.host;
    rt.block_on(async move {
        let mut last = format!("no address for {host}");
        let mut stream = None;
        for a in addrs {
            match client::open(&client::PoolKey::for_url(a, &target), tls, CONNECT_TIMEOUT).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = format!("connect {a}: {e}"),
            }
        }
        let stream = stream.ok_or(last)?;
        let limits = client::Limits {
            max_head: MAX_HEAD_BYTES,
            max_body: MAX_JWKS_BYTES,
        };
        let deadline = Instant::now() + FETCH_TIMEOUT;
        let (reply, _) = client::roundtrip(stream, req, false, limits, deadline)
            .await
            .map_err(|e| match e.into_io() {
                e if e.kind() == std::io::ErrorKind::TimedOut => "timed out".to_owned(),
                e => e.to_string(),
            })?;
        if reply.status != 200 {
            return Err(format!("HTTP status {}", reply.status));
        }
        Ok(reply.body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    /// Serves each canned reply on its own connection, then stops.
    fn serve(replies: Vec<Vec<u8>>) -> (SocketAddr, std::thread::JoinHandle<()>) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            for reply in replies {
                let (mut s, _) = l.accept().unwrap();
                let mut b = [0u8; 1024];
                let n = s.read(&mut b).unwrap();
                assert!(b[..n].starts_with(b"GET /keys?x=1 HTTP/1.1\r\nHost: "));
                let _ = s.write_all(&reply);
            }
        });
        (addr, t)
    }

    #[test]
    fn response_framing() {
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_JWKS_BYTES + 1
        );
        let (addr, t) = serve(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\n{\"\r\n3\r\nk\":\r\n2\r\n1}\r\n0\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\n\r\n{}".to_vec(),
            b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n".to_vec(),
            big.into_bytes(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            // `chunked` must be the whole value: a substring match would have accepted this.
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: notchunked\r\n\r\n{}".to_vec(),
        ]);
        let url = format!("http://{addr}/keys?x=1#fragment");
        assert_eq!(
            http_get(&url, &Err("no tls".to_owned())).unwrap(),
            b"{\"k\":1}"
        );
        assert_eq!(http_get(&url, &Err("no tls".to_owned())).unwrap(), b"{}");
        assert!(
            http_get(&url, &Err("no tls".to_owned()))
                .unwrap_err()
                .contains("503")
        );
        assert!(
            http_get(&url, &Err("no tls".to_owned()))
                .unwrap_err()
                .contains("too large")
        );
        assert!(http_get(&url, &Err("no tls".to_owned())).is_err());
        assert!(http_get(&url, &Err("no tls".to_owned())).is_err());
        t.join().unwrap();
        // https:// without a TLS client: refused with the reason, nothing sent.
        let listening = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tls_addr = listening.local_addr().unwrap();
        assert!(
            http_get(
                &format!("https://{tls_addr}/keys"),
                &Err("no roots".to_owned())
            )
            .unwrap_err()
            .contains("no roots")
        );
        assert!(http_get("ftp://example.com/", &Err("no tls".to_owned())).is_err());
        assert!(http_get("http://h:99999/", &Err("no tls".to_owned())).is_err());
    }

    #[test]
    fn fetches_over_loopback_and_times_out() {
        use std::io::{Read, Write};
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        // The first answer's connection stays open until the client has returned (or 5 s):
        // a client that read to the close instead of stopping at Content-Length takes 5 s.
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
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
                    let _ = done_rx.recv_timeout(Duration::from_secs(5));
                } else {
                    s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                        .unwrap();
                }
            }
        });
        let started = Instant::now();
        assert_eq!(
            http_get(&format!("http://{addr}/keys"), &Err("no tls".to_owned())).unwrap(),
            b"{\"keys\":[]}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        done_tx.send(()).unwrap();
        assert!(
            http_get(&format!("http://{addr}/keys"), &Err("no tls".to_owned()))
                .unwrap_err()
                .contains("404")
        );
        t.join().unwrap();
        // nothing listening
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = l.local_addr().unwrap();
        drop(l);
        assert!(http_get(&format!("http://{dead}/keys"), &Err("no tls".to_owned())).is_err());
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
