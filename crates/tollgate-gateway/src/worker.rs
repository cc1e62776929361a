//! Workers: one thread per core, pinned, each with its own monoio runtime, its own
//! SO_REUSEPORT listeners and its own state (snapshot handle, pools, caches, counters).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::client::Pool;
use crate::conn::{ConnEnd, ListenerOpts};
use crate::ids::RequestIds;
use crate::metrics::RouteLabel;
use crate::shared::Shared;
use crate::state::Worker;

/// Which io driver runs the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoDriver {
    /// io_uring when the kernel offers it, else epoll.
    Auto,
    IoUring,
    Legacy,
}

impl IoDriver {
    /// Resolve `Auto` on this machine.
    pub fn resolve(self) -> IoDriver {
        match self {
            IoDriver::Auto => {
                if monoio::utils::detect_uring() {
                    IoDriver::IoUring
                } else {
                    IoDriver::Legacy
                }
            }
            d => d,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            IoDriver::Auto => "auto",
            IoDriver::IoUring => "io_uring",
            IoDriver::Legacy => "epoll",
        }
    }
}

/// Start worker `id` on the current thread; returns when it has drained.
pub(crate) fn run_worker(
    id: usize,
    shared: Arc<Shared>,
    listeners: Vec<(std::net::TcpListener, ListenerOpts)>,
    driver: IoDriver,
    cpu: Option<usize>,
) {
    if let Some(cpu) = cpu
        && monoio::utils::bind_to_cpu_set([cpu]).is_err()
    {
        log::warn!("tollgate: worker {id}: could not pin to cpu {cpu}");
    }
    let res = match driver {
        IoDriver::Legacy => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .map(|mut rt| rt.block_on(worker_main(id, shared.clone(), listeners))),
        _ => {
            uring_runtime(id).map(|mut rt| rt.block_on(worker_main(id, shared.clone(), listeners)))
        }
    };
    if let Err(e) = res {
        log::error!("tollgate: worker {id}: runtime failed to start: {e}");
        shared.shutdown.store(true, Ordering::Relaxed);
    }
}

/// The worker's io_uring runtime. By default the ring is set up with COOP_TASKRUN and
/// TASKRUN_FLAG (Linux 5.19+): completions are posted when the worker next enters the kernel
/// instead of by interrupting it with task work, which under load cost more than the request
/// handling itself. A kernel without them gets a plain ring. `TOLLGATE_URING_SETUP=plain` forces
/// the plain ring (for comparisons and troubleshooting).
fn uring_runtime(
    id: usize,
) -> std::io::Result<monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>> {
    let plain = || {
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .enable_timer()
            .with_entries(1024)
            .build()
    };
    if std::env::var("TOLLGATE_URING_SETUP").is_ok_and(|v| v == "plain") {
        return plain();
    }
    let mut urb = io_uring::IoUring::builder();
    urb.setup_coop_taskrun().setup_taskrun_flag();
    match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .with_entries(1024)
        .uring_builder(urb)
        .build()
    {
        Ok(rt) => Ok(rt),
        Err(e) => {
            log::info!("tollgate: worker {id}: io_uring without COOP_TASKRUN ({e})");
            plain()
        }
    }
}

async fn worker_main(
    id: usize,
    shared: Arc<Shared>,
    listeners: Vec<(std::net::TcpListener, ListenerOpts)>,
) {
    let metrics = shared.worker_metrics.get(id).cloned().unwrap_or_default();
    let snap = shared.current.load_full();
    let upstream = &snap.compiled.config.gateway.upstream;
    let pool = Pool::new(
        upstream.pool_max_idle_per_host,
        Duration::from_millis(upstream.pool_idle_timeout_ms),
    );
    let w = Rc::new(Worker {
        id,
        ids: RequestIds::new(),
        bufs: crate::bufpool::BufPool::new(),
        idle: crate::idle::IdleWakers::default(),
        metrics,
        pool: RefCell::new(pool),
        active: Cell::new(0),
        body_held: Cell::new(0),
        unrouted_label: RouteLabel::new("-", "-"),
        auth: crate::auth::WorkerCaches::new(
            snap.compiled
                .config
                .gateway
                .limits
                .authorizer_cache_l1_bytes,
        ),
        // The version of the snapshot held, not the counter read later: a swap between the
        // two reads would otherwise leave this worker on the old config until the next swap.
        snap_version: Cell::new(snap.version),
        snap: RefCell::new(Rc::new(snap)),
        shared,
    });
    // Idle keep-alive connections' timeouts and shutdown wake-ups (ends on its own after
    // the shutdown flag).
    let _sweeper = monoio::spawn(sweeper(w.clone()));
    let mut accepting = Vec::new();
    for (index, (l, opts)) in listeners.into_iter().enumerate() {
        match monoio::net::TcpListener::from_std(l) {
            Ok(l) => accepting.push(monoio::spawn(accept_loop(w.clone(), l, opts, index))),
            Err(e) => log::error!("tollgate: worker {}: listener: {e}", w.id),
        }
    }
    for a in accepting {
        a.await;
    }
    // The accept loops end on the shutdown flag: idle keep-alive connections close now.
    w.idle.wake_all();
    // Drain: in-flight requests finish (bounded by the drain timeout).
    let drain = w
        .shared
        .current
        .load()
        .compiled
        .config
        .gateway
        .limits
        .drain_timeout_ms;
    let until = Instant::now() + Duration::from_millis(drain);
    while w.active.get() > 0 && Instant::now() < until {
        monoio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The worker's sweeper: wakes idle connections past their deadline every
/// [`crate::idle::SWEEP`], and all of them once the worker shuts down.
async fn sweeper(w: Rc<Worker>) {
    while !w.shutting_down() {
        monoio::time::sleep(crate::idle::SWEEP).await;
        w.idle.wake_expired(Instant::now());
    }
    w.idle.wake_all();
}

/// At most one accept-error line per worker in this time (the rest are counted).
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(1);

/// One log line per period; the events in between are counted.
pub(crate) struct RateLimitedLog {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    pub(crate) fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// An event at `now`: `Some(n)` to log it now (`n` events were suppressed since the last
    /// line), `None` to stay quiet.
    pub(crate) fn note(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < self.every)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// `index`: the listener's place in `gateway.listeners` (its TLS configuration's, too).
async fn accept_loop(
    w: Rc<Worker>,
    listener: monoio::net::TcpListener,
    opts: ListenerOpts,
    index: usize,
) {
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    // One accept stays in flight across the 200 ms shutdown checks: the timeout only lets go
    // of a reference to it. Dropping an in-flight accept (as `timeout(d, listener.accept())`
    // did each time the timer won) cancels the io_uring op, and a connection the kernel had
    // accepted in that instant was lost: its client waited forever.
    let mut pending = Box::pin(listener.accept());
    // Accept errors (out of descriptors and the like) are logged at most once a second.
    let mut error_log = RateLimitedLog::new(ACCEPT_ERROR_LOG_EVERY);
    loop {
        if w.shutting_down() {
            break;
        }
        let accepted =
            match monoio::time::timeout(Duration::from_millis(200), pending.as_mut()).await {
                Ok(res) => {
                    pending.set(listener.accept());
                    Ok(res)
                }
                Err(e) => Err(e),
            };
        match accepted {
            Ok(Ok((stream, peer))) => {
                let max = w
                    .snapshot()
                    .compiled
                    .config
                    .gateway
                    .limits
                    .max_connections
                    .min(w.shared.fd_connection_bound);
                if w.active.get() >= max {
                    // Over the per-worker bound: close at once rather than queue.
                    w.metrics
                        .connections_refused
                        .fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                    continue;
                }
                w.active.set(w.active.get() + 1);
                w.metrics.connections_open.fetch_add(1, Ordering::Relaxed);
                w.metrics.connections_total.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                // An HTTPS listener: its TLS configuration as of now (see crate::tls).
                let tls = w
                    .snapshot()
                    .compiled
                    .listener_tls
                    .get(index)
                    .cloned()
                    .flatten();
                let w2 = w.clone();
                match tls {
                    Some(tls) => {
                        monoio::spawn(async move {
                            crate::tls::serve_tls(
                                &w2,
                                stream,
                                tls,
                                peer,
                                local,
                                opts.proxy_protocol,
                            )
                            .await;
                            w2.active.set(w2.active.get().saturating_sub(1));
                            w2.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
                        });
                    }
                    None => {
                        // The connection is built here and lent to its task: the task then
                        // holds it once (not also the stream and addresses it was made from).
                        let mut c = crate::conn::connection(&w, stream, peer, local);
                        monoio::spawn(async move {
                            if crate::conn::serve_conn(&w2, &mut c, opts).await == ConnEnd::H2 {
                                let facts = crate::h2::ConnFacts {
                                    local,
                                    source_ip: c.source_ip,
                                    vpce_id: c.vpce_id.take(),
                                    client_cert: None,
                                    https: false,
                                };
                                let read = std::mem::take(&mut c.buf);
                                let io = tollgate_h2::prefixed(c.stream, read);
                                // Boxed: inline, the HTTP/2 connection's state would make
                                // every connection's task (HTTP/1 ones too) that much larger.
                                Box::pin(crate::h2::serve_h2(w2.clone(), io, facts)).await;
                            }
                            w2.active.set(w2.active.get().saturating_sub(1));
                            w2.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
                        });
                    }
                }
            }
            Ok(Err(e)) => {
                // Out of file descriptors and the like: back off a little, log rarely.
                match error_log.note(Instant::now()) {
                    Some(0) => log::error!("tollgate: worker {}: accept: {e}", w.id),
                    Some(n) => log::error!(
                        "tollgate: worker {}: accept: {e} ({n} more since the last report)",
                        w.id
                    ),
                    None => {}
                }
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_are_logged_once_a_second() {
        let t0 = Instant::now();
        let mut log = RateLimitedLog::new(Duration::from_secs(1));
        // An error every 10 ms for 3 s: three lines, not 300.
        let lines: Vec<u64> = (0..300)
            .filter_map(|i| log.note(t0 + Duration::from_millis(10 * i)))
            .collect();
        assert_eq!(lines, vec![0, 99, 99]);
    }
}
