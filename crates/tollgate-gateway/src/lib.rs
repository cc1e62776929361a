//! tollgate-gateway: the monoio data plane of tollgate.
//!
//! [`start`] binds the listeners (one SO_REUSEPORT socket per worker and listener), starts one
//! pinned worker thread per core, each running its own monoio runtime (io_uring, or epoll where
//! io_uring is unavailable), and the admin listener. Workers read the current [`Snapshot`] of
//! the configuration through one `ArcSwap`; [`Gateway::apply_config`] (admin `PUT /config`,
//! SIGHUP, `--watch`) validates, compiles and publishes a new one atomically.
//!
//! ```no_run
//! let compiled = tollgate_config::load_str(tollgate_config::QUICKSTART, std::path::Path::new(".")).unwrap();
//! let gw = tollgate_gateway::start(tollgate_gateway::ServeOptions::new(compiled)).unwrap();
//! println!("listening on {:?}", gw.listen_addrs());
//! gw.shutdown();
//! gw.wait();
//! ```

mod accesslog;
mod admin;
pub mod auth;
mod body;
mod cognito;
mod conn;
mod iam;
mod ids;
mod io;
mod lambda;
pub mod logging;
pub mod metrics;
mod proxy;
pub mod proxy_protocol;
pub mod responses;
mod router;
pub mod snapshot;
mod upstream;
mod wire;
mod worker;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use tollgate_config::Compiled;

/// Lambda-authorizer cache types (L1/L2 with single-flight), public for bench/benches/authorizer.rs.
pub use lambda::cache as authorizer_cache;
pub use snapshot::{Origin, Snapshot};
pub use worker::IoDriver;

/// State shared by the workers, the admin listener and the control side.
pub struct Shared {
    pub(crate) current: ArcSwap<Snapshot>,
    pub(crate) version: AtomicU64,
    pub(crate) shutdown: AtomicBool,
    pub(crate) worker_metrics: Vec<Arc<metrics::WorkerMetrics>>,
    pub(crate) reloads_ok: AtomicU64,
    pub(crate) reloads_rejected: AtomicU64,
    pub(crate) access_log: ArcSwap<accesslog::Sink>,
    pub(crate) config_path: Option<PathBuf>,
    /// `serve --bind` / `--admin-bind`, applied to every configuration (at start and on each
    /// change), so a config shared by several nodes on one host still binds per node.
    overrides: BindOverrides,
    /// The state of a config watch (etcd), for `/metrics`.
    pub(crate) watch: WatchStatus,
    /// Re-reads a configuration that has no file (one held in etcd): SIGHUP and
    /// `POST /config/reload` call it instead of reading `config_path`.
    reloader: std::sync::OnceLock<Reloader>,
    reload_lock: Mutex<()>,
    /// Snapshots replaced by a newer one, kept until no worker holds them any more, so that
    /// freeing a large configuration happens here (control side), never on a worker.
    retired: Mutex<Vec<Arc<Snapshot>>>,
    pub(crate) lambda: lambda::SharedState,
    pub(crate) cognito: cognito::SharedState,
    /// Client connections per worker that the descriptor limit leaves room for
    /// ([`fd_connection_bound`]); the accept loops use the smaller of this and
    /// `gateway.limits.max_connections`.
    pub(crate) fd_connection_bound: usize,
}

/// Descriptors kept for the process as a whole: stdio, the admin listener and its
/// connections, log files, JWKS fetches, the control side.
pub const FD_RESERVE: u64 = 64;
/// Descriptors kept per worker besides its connections: listeners, io_uring, eventfd, timers.
pub const FD_RESERVE_PER_WORKER: u64 = 8;

/// The soft `RLIMIT_NOFILE` (from `/proc/self/limits`; `None` when unknown or unlimited).
pub fn nofile_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Client connections per worker that `nofile` descriptors leave room for: what remains after
/// [`FD_RESERVE`] and [`FD_RESERVE_PER_WORKER`] each, shared by the workers, half of it for
/// client connections and half for the upstream and authorizer connections they cause (at
/// least 1).
pub fn fd_connection_bound(nofile: Option<u64>, workers: usize) -> usize {
    let Some(n) = nofile else {
        return usize::MAX;
    };
    let w = workers.max(1) as u64;
    let usable = n.saturating_sub(FD_RESERVE + FD_RESERVE_PER_WORKER * w);
    usize::try_from((usable / w / 2).max(1)).unwrap_or(usize::MAX)
}

/// Addresses given on the command line that replace the configuration's (`serve --bind`,
/// `--admin-bind`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BindOverrides {
    /// Replaces `gateway.listeners[0].bind`.
    pub bind: Option<SocketAddr>,
    /// Replaces `gateway.admin.bind`.
    pub admin_bind: Option<SocketAddr>,
}

impl BindOverrides {
    /// Put the overriding addresses into `cfg`. An error when `--bind` is given and the
    /// configuration has no listener to replace.
    pub fn apply(&self, cfg: &mut tollgate_config::Config) -> Result<(), String> {
        if let Some(b) = self.bind {
            match cfg.gateway.listeners.first_mut() {
                Some(l) => l.bind = b,
                None => {
                    return Err(
                        "gateway.listeners: --bind replaces the first listener's address, but the config has no listener"
                            .into(),
                    );
                }
            }
        }
        if let Some(a) = self.admin_bind {
            cfg.gateway.admin.bind = a;
        }
        Ok(())
    }
}

/// What a config watch (etcd) is doing, for `/metrics` (`tollgate_config_watch_state`,
/// `tollgate_config_watch_failures_total`).
#[derive(Debug, Default)]
pub struct WatchStatus {
    state: AtomicU8,
    connection_failures: AtomicU64,
    invalid_revisions: AtomicU64,
}

/// `tollgate_config_watch_state` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum WatchState {
    /// No watch: the configuration comes from a file (or the built-in one).
    None = 0,
    /// The store cannot be reached (or not yet): serving the last good configuration,
    /// reconnecting.
    Reconnecting = 1,
    /// Connected and watching.
    Watching = 2,
}

impl WatchStatus {
    pub fn set_state(&self, s: WatchState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }
    pub fn state(&self) -> u8 {
        self.state.load(Ordering::Relaxed)
    }
    /// A connection, read or watch failure.
    pub fn connection_failed(&self) {
        self.connection_failures.fetch_add(1, Ordering::Relaxed);
    }
    /// A stored revision refused as invalid.
    pub fn invalid_revision(&self) {
        self.invalid_revisions.fetch_add(1, Ordering::Relaxed);
    }
    pub fn connection_failures(&self) -> u64 {
        self.connection_failures.load(Ordering::Relaxed)
    }
    pub fn invalid_revisions(&self) -> u64 {
        self.invalid_revisions.load(Ordering::Relaxed)
    }
}

/// Re-reads and applies the configuration from where it is held (see [`Shared::set_reloader`]).
pub type Reloader = Box<dyn Fn() -> Result<u64, ApplyError> + Send + Sync>;

/// How to serve.
pub struct ServeOptions {
    pub compiled: Compiled,
    /// Overrides `gateway.workers` (0 = one per core).
    pub workers: Option<usize>,
    pub io_driver: IoDriver,
    /// The file `POST /config/reload` and SIGHUP re-read.
    pub config_path: Option<PathBuf>,
    /// Where the workers run (`--cpus`, `--no-pin`; default: `gateway.cpus`).
    pub pinning: Pinning,
    /// Where `compiled` came from (`GET /config`'s `source`).
    pub origin: Origin,
    /// `--bind` / `--admin-bind`.
    pub overrides: BindOverrides,
}

/// Where the workers run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Pinning {
    /// `gateway.cpus`, or when it is empty the CPUs of the process's affinity mask in order.
    #[default]
    Config,
    /// These CPUs in order (`--cpus`); each must be in the affinity mask.
    Cpus(Vec<usize>),
    /// No pinning (`--no-pin`): the workers inherit the process's mask.
    Off,
}

/// The CPUs this process may run on (its affinity mask), in ascending order. `None` when the
/// mask cannot be read.
pub fn affinity_cpus() -> Option<Vec<usize>> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok()?;
    Some(
        (0..nix::sched::CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
    )
}

/// The CPU of each worker (`None`: not pinned). Never a CPU outside `allowed`, the process's
/// affinity mask: an explicit list naming one is an error.
fn placement(
    pinning: &Pinning,
    configured: &[usize],
    workers: usize,
    allowed: Option<&[usize]>,
) -> Result<Vec<Option<usize>>, StartError> {
    let wanted: Vec<usize> = match pinning {
        Pinning::Off => return Ok(vec![None; workers]),
        Pinning::Cpus(c) => c.clone(),
        Pinning::Config => configured.to_vec(),
    };
    let Some(allowed) = allowed else {
        // The mask is unknown: pin only where told to, and only to what was asked.
        return Ok((0..workers)
            .map(|i| wanted.get(i % wanted.len().max(1)).copied())
            .collect());
    };
    if let Some(&cpu) = wanted.iter().find(|c| !allowed.contains(c)) {
        return Err(StartError::CpuOutsideMask {
            cpu,
            allowed: allowed
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
        });
    }
    let list = if wanted.is_empty() {
        allowed
    } else {
        &wanted[..]
    };
    Ok((0..workers)
        .map(|i| list.get(i % list.len().max(1)).copied())
        .collect())
}

impl ServeOptions {
    pub fn new(compiled: Compiled) -> Self {
        Self {
            compiled,
            workers: None,
            io_driver: IoDriver::Auto,
            config_path: None,
            pinning: Pinning::Config,
            origin: Origin::File,
            overrides: BindOverrides::default(),
        }
    }
}

/// Errors that stop the gateway from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("access log: {0}")]
    AccessLog(std::io::Error),
    #[error(
        "cpu {cpu} is outside the CPUs this process may run on ({allowed}); \
         check gateway.cpus / --cpus against taskset or the container's cpuset"
    )]
    CpuOutsideMask { cpu: usize, allowed: String },
    #[error("cannot start thread: {0}")]
    Thread(std::io::Error),
    #[error(
        "io_uring was requested but this kernel does not offer it (use --io-driver epoll or auto)"
    )]
    NoIoUring,
    #[error("{0}")]
    Override(String),
}

/// A running gateway.
pub struct Gateway {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    listen_addrs: Vec<SocketAddr>,
    admin_addr: SocketAddr,
    driver: IoDriver,
    workers: usize,
    cpus: Vec<Option<usize>>,
}

fn bind_reuseport(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if addr.is_ipv6() {
        let _ = s.set_only_v6(true);
    }
    s.bind(&addr.into())?;
    s.listen(4096)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Bind everything, then start the workers and the admin listener.
pub fn start(mut opts: ServeOptions) -> Result<Gateway, StartError> {
    opts.overrides
        .apply(&mut opts.compiled.config)
        .map_err(StartError::Override)?;
    let cfg = &opts.compiled.config;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let explicit: &[usize] = match &opts.pinning {
        Pinning::Cpus(c) => c,
        Pinning::Config => &cfg.gateway.cpus,
        Pinning::Off => &[],
    };
    let workers = match opts.workers.unwrap_or(cfg.gateway.workers) {
        0 if !explicit.is_empty() => explicit.len(),
        0 => cores,
        n => n,
    };
    let allowed = affinity_cpus();
    let cpus = placement(
        &opts.pinning,
        &cfg.gateway.cpus,
        workers,
        allowed.as_deref(),
    )?;
    let driver = opts.io_driver.resolve();
    if driver == IoDriver::IoUring && !monoio::utils::detect_uring() {
        return Err(StartError::NoIoUring);
    }
    // One socket per worker and listener; port 0 resolves on the first bind.
    let mut per_worker: Vec<Vec<(std::net::TcpListener, bool)>> =
        (0..workers).map(|_| Vec::new()).collect();
    let mut listen_addrs = Vec::new();
    for l in &cfg.gateway.listeners {
        let mut addr = l.bind;
        for (i, slot) in per_worker.iter_mut().enumerate() {
            let sock = bind_reuseport(addr).map_err(|source| StartError::Bind { addr, source })?;
            if i == 0 {
                addr = sock
                    .local_addr()
                    .map_err(|source| StartError::Bind { addr, source })?;
                listen_addrs.push(addr);
            }
            slot.push((sock, l.proxy_protocol));
        }
    }
    let admin_bind = cfg.gateway.admin.bind;
    let admin_listener =
        std::net::TcpListener::bind(admin_bind).map_err(|source| StartError::Bind {
            addr: admin_bind,
            source,
        })?;
    let admin_addr = admin_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: admin_bind,
            source,
        })?;
    let sink =
        accesslog::Sink::from_config(&cfg.gateway.access_log).map_err(StartError::AccessLog)?;

    let _ = metrics::STARTED.set(std::time::SystemTime::now());
    let l2_bytes = cfg.gateway.limits.authorizer_cache_l2_bytes;
    let nofile = nofile_limit();
    let fd_bound = fd_connection_bound(nofile, workers);
    let configured = cfg.gateway.limits.max_connections;
    let effective = configured.min(fd_bound);
    log::info!(
        "tollgate: connections per worker: {effective} (gateway.limits.max_connections {configured}, RLIMIT_NOFILE {}, {workers} workers)",
        nofile.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
    );
    if effective < configured {
        log::warn!(
            "tollgate: the descriptor limit bounds connections below gateway.limits.max_connections; raise it (ulimit -n / LimitNOFILE) to serve more"
        );
    }
    metrics::set_workers(workers);
    let mut snapshot = Snapshot::build(opts.compiled, 1);
    snapshot.origin = opts.origin;
    let shared = Arc::new(Shared {
        current: ArcSwap::from_pointee(snapshot),
        version: AtomicU64::new(1),
        shutdown: AtomicBool::new(false),
        worker_metrics: (0..workers)
            .map(|i| Arc::new(metrics::WorkerMetrics::for_slot(i)))
            .collect(),
        reloads_ok: AtomicU64::new(0),
        reloads_rejected: AtomicU64::new(0),
        access_log: ArcSwap::from_pointee(sink),
        config_path: opts.config_path,
        overrides: opts.overrides,
        watch: WatchStatus::default(),
        reloader: std::sync::OnceLock::new(),
        reload_lock: Mutex::new(()),
        retired: Mutex::new(Vec::new()),
        lambda: lambda::SharedState::new(l2_bytes),
        cognito: cognito::SharedState::default(),
        fd_connection_bound: fd_bound,
    });
    let mut threads = Vec::new();
    for (id, listeners) in per_worker.into_iter().enumerate() {
        let sh = shared.clone();
        let cpu = cpus.get(id).copied().flatten();
        let t = std::thread::Builder::new()
            .name(format!("tollgate-w{id}"))
            .spawn(move || worker::run_worker(id, sh, listeners, driver, cpu))
            .map_err(StartError::Thread)?;
        threads.push(t);
    }
    let sh = shared.clone();
    let admin = std::thread::Builder::new()
        .name("tollgate-admin".into())
        .spawn(move || admin::serve(sh, admin_listener, workers))
        .map_err(StartError::Thread)?;
    threads.push(admin);
    Ok(Gateway {
        shared,
        threads,
        listen_addrs,
        admin_addr,
        driver,
        workers,
        cpus,
    })
}

/// Lower the calling thread's scheduling priority (SCHED_BATCH at the lowest niceness): the
/// control side (admin API, reloads, compiles) then yields to the workers on a shared core
/// instead of delaying requests, yet is never starved. Best effort.
pub fn lower_priority_of_current_thread() {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let _ = set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
    );
}

/// The answer to a config change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// Every error, `path: message`.
    Invalid(Vec<String>),
}

impl Shared {
    /// Validate, compile and publish a new configuration; the old one keeps serving on error.
    pub fn apply_config(&self, text: &str, base_dir: &Path) -> Result<u64, ApplyError> {
        self.apply_config_from(text, base_dir, Origin::Admin)
    }

    /// [`Shared::apply_config`] for a configuration from `origin` (the file, etcd).
    pub fn apply_config_from(
        &self,
        text: &str,
        base_dir: &Path,
        origin: Origin,
    ) -> Result<u64, ApplyError> {
        let _guard = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let res = self.apply_locked(text, base_dir, origin);
        match &res {
            Ok(_) => self.reloads_ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.reloads_rejected.fetch_add(1, Ordering::Relaxed),
        };
        res
    }

    fn apply_locked(&self, text: &str, base_dir: &Path, origin: Origin) -> Result<u64, ApplyError> {
        let mut compiled = tollgate_config::load_str(text, base_dir)
            .map_err(|e| ApplyError::Invalid(e.0.iter().map(ToString::to_string).collect()))?;
        self.overrides
            .apply(&mut compiled.config)
            .map_err(|e| ApplyError::Invalid(vec![e]))?;
        let cur = self.current.load();
        let restart = tollgate_config::restart_required(&cur.compiled.config, &compiled.config);
        if !restart.is_empty() {
            return Err(ApplyError::Invalid(
                restart.iter().map(ToString::to_string).collect(),
            ));
        }
        let sink = if compiled.config.gateway.access_log != cur.compiled.config.gateway.access_log {
            Some(
                accesslog::Sink::from_config(&compiled.config.gateway.access_log)
                    .map_err(|e| ApplyError::Invalid(vec![format!("gateway.access_log: {e}")]))?,
            )
        } else {
            None
        };
        let version = cur.version + 1;
        let log = compiled.config.gateway.log;
        let mut snap = Snapshot::build(compiled, version);
        snap.origin = origin;
        logging::configure(log.level, log.format);
        if let Some(s) = sink {
            self.access_log.store(Arc::new(s));
        }
        let old = self.current.swap(Arc::new(snap));
        self.version.store(version, Ordering::Release);
        if let Ok(mut r) = self.retired.lock() {
            r.push(old);
        }
        self.collect_retired();
        Ok(version)
    }

    /// Free the retired snapshots no worker holds any more (called by the control side).
    pub fn collect_retired(&self) {
        let done: Vec<Arc<Snapshot>> = match self.retired.lock() {
            Ok(mut r) => {
                let (done, keep): (Vec<_>, Vec<_>) =
                    r.drain(..).partition(|s| Arc::strong_count(s) == 1);
                *r = keep;
                done
            }
            Err(_) => Vec::new(),
        };
        drop(done);
    }

    /// Count a configuration change that failed before it could be applied (its source could
    /// not be read): `tollgate_config_reloads_total{result="rejected"}`.
    pub fn count_rejected_reload(&self) {
        self.reloads_rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Make SIGHUP and `POST /config/reload` call `f` (a config held in etcd: re-read the key
    /// and the files it names). Set once; a second call is ignored.
    pub fn set_reloader(&self, f: Reloader) {
        let _ = self.reloader.set(f);
    }

    /// Re-read the `--config` file (or, for a config held elsewhere, its [`Reloader`]).
    pub fn reload_file(&self) -> Result<u64, ApplyError> {
        if self.config_path.is_none()
            && let Some(f) = self.reloader.get()
        {
            return f();
        }
        let Some(path) = self.config_path.clone() else {
            self.reloads_rejected.fetch_add(1, Ordering::Relaxed);
            return Err(ApplyError::Invalid(vec![
                "config: there is no --config file to reload (serving the built-in quickstart, or a config held in etcd, which is watched)".into(),
            ]));
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let dir = path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("."));
                self.apply_config_from(&text, &dir, Origin::File)
            }
            Err(e) => {
                self.reloads_rejected.fetch_add(1, Ordering::Relaxed);
                Err(ApplyError::Invalid(vec![format!(
                    "config: cannot read {}: {e}",
                    path.display()
                )]))
            }
        }
    }

    /// Stop accepting; workers finish in-flight requests and exit.
    pub fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// The state of the config watch, for `/metrics`.
    pub fn watch_status(&self) -> &WatchStatus {
        &self.watch
    }

    /// Where the live configuration came from.
    pub fn origin(&self) -> Origin {
        self.current.load().origin
    }

    /// The live configuration version.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

impl Gateway {
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen_addrs
    }
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }
    pub fn driver(&self) -> IoDriver {
        self.driver
    }
    pub fn workers(&self) -> usize {
        self.workers
    }
    /// The CPU each worker was placed on, by worker id (`None`: not pinned).
    pub fn cpus(&self) -> &[Option<usize>] {
        &self.cpus
    }
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }
    pub fn shutdown(&self) {
        self.shared.begin_shutdown();
    }
    /// Block until every worker has drained and exited.
    pub fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod placement_tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::{Pinning, placement};

    #[test]
    fn default_follows_the_affinity_mask() {
        let p = placement(&Pinning::Config, &[], 3, Some(&[1, 3])).unwrap();
        assert_eq!(p, [Some(1), Some(3), Some(1)]);
    }

    #[test]
    fn configured_and_cli_lists_stay_inside_the_mask() {
        let p = placement(&Pinning::Config, &[3], 2, Some(&[1, 3])).unwrap();
        assert_eq!(p, [Some(3), Some(3)]);
        let p = placement(&Pinning::Cpus(vec![1]), &[3], 1, Some(&[1, 3])).unwrap();
        assert_eq!(p, [Some(1)]);
        let e = placement(&Pinning::Cpus(vec![0]), &[], 1, Some(&[1])).unwrap_err();
        assert!(e.to_string().contains("cpu 0 is outside"), "{e}");
        let e = placement(&Pinning::Config, &[2], 1, Some(&[0, 1])).unwrap_err();
        assert!(e.to_string().contains("(0,1)"), "{e}");
    }

    #[test]
    fn no_pin_pins_nothing() {
        let p = placement(&Pinning::Off, &[0], 2, Some(&[0, 1])).unwrap();
        assert_eq!(p, [None, None]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_bound_from_the_descriptor_limit() {
        // 256 descriptors, 2 workers: 256 - 64 - 16 = 176 usable, 88 per worker, half clients.
        assert_eq!(fd_connection_bound(Some(256), 2), 44);
        assert_eq!(fd_connection_bound(Some(1_048_576), 1), 524_252);
        assert_eq!(fd_connection_bound(Some(10), 4), 1, "never zero");
        assert_eq!(fd_connection_bound(None, 4), usize::MAX);
        assert!(nofile_limit().is_some_and(|n| n > 0));
    }
}
