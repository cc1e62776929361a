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
#[cfg(test)]
mod alloc_count;
pub mod auth;
mod body;
mod bufpool;
mod client;
mod conn;
mod error;
mod h2;
mod http1;
mod idle;
mod ids;
mod io;
pub mod logging;
pub mod metrics;
mod pipeline;
pub mod proxy_protocol;
mod response;
pub mod responses;
mod router;
mod shared;
pub mod snapshot;
mod state;
mod threads;
mod tls;
mod wire;
mod worker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use tollgate_config::Compiled;

/// Lambda-authorizer cache types (L1/L2 with single-flight), public for bench/benches/authorizer.rs.
pub use auth::lambda::cache as authorizer_cache;
pub use shared::{ApplyError, BindOverrides, Reloader, Shared, WatchState, WatchStatus};
pub use snapshot::Origin;
pub use snapshot::Snapshot;
pub use threads::lower_priority_of_current_thread;
pub use worker::IoDriver;

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
    // Not for port 0: with SO_REUSEADDR the kernel's choice of a free port may hand out one
    // another process has bound but not yet put to listen, and with SO_REUSEPORT on both the
    // two processes then share it (connections split between them). Without it, port 0
    // never lands on a bound port; the workers after the first bind the port it got.
    if addr.port() != 0 {
        s.set_reuse_address(true)?;
    }
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
    let mut per_worker: Vec<Vec<(std::net::TcpListener, conn::ListenerOpts)>> =
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
            slot.push((
                sock,
                conn::ListenerOpts {
                    proxy_protocol: l.proxy_protocol,
                    http2: l.http2,
                },
            ));
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
    let start_revision = match opts.origin {
        Origin::Etcd { revision } => revision,
        _ => 0,
    };
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
        reload_lock: Mutex::new(start_revision),
        retired: Mutex::new(Vec::new()),
        auth: auth::SharedCaches {
            lambda: auth::lambda::SharedState::new(l2_bytes),
            cognito: auth::cognito::SharedState::default(),
        },
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
