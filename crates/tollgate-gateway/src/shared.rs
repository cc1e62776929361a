//! The state the workers, the admin listener and the control side share: the current
//! configuration snapshot (published through one `ArcSwap`), counters, the access-log sink,
//! the shared authorization caches; and the control side's operations on it (apply a new
//! configuration, reload the file, shut down).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::snapshot::Snapshot;
use crate::{accesslog, logging, metrics};

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
    pub(crate) reload_lock: Mutex<()>,
    /// Snapshots replaced by a newer one, kept until no worker holds them any more, so that
    /// freeing a large configuration happens here (control side), never on a worker.
    pub(crate) retired: Mutex<Vec<Arc<Snapshot>>>,
    /// The authorization caches all workers share (Lambda and Cognito L2).
    pub(crate) auth: crate::auth::SharedCaches,
    /// Client connections per worker that the descriptor limit leaves room for
    /// ([`fd_connection_bound`]); the accept loops use the smaller of this and
    /// `gateway.limits.max_connections`.
    pub(crate) fd_connection_bound: usize,
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
        let _guard = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let res = self.apply_locked(text, base_dir);
        match &res {
            Ok(_) => self.reloads_ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.reloads_rejected.fetch_add(1, Ordering::Relaxed),
        };
        res
    }

    fn apply_locked(&self, text: &str, base_dir: &Path) -> Result<u64, ApplyError> {
        let compiled = tollgate_config::load_str(text, base_dir)
            .map_err(|e| ApplyError::Invalid(e.0.iter().map(ToString::to_string).collect()))?;
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
        for w in &compiled.warnings {
            log::warn!("config: {w}");
        }
        let log = compiled.config.gateway.log;
        let snap = Snapshot::build(compiled, version);
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

    /// Re-read the `--config` file.
    pub fn reload_file(&self) -> Result<u64, ApplyError> {
        let Some(path) = self.config_path.clone() else {
            self.reloads_rejected.fetch_add(1, Ordering::Relaxed);
            return Err(ApplyError::Invalid(vec![
                "config: serving the built-in quickstart; there is no file to reload".into(),
            ]));
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let dir = path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("."));
                self.apply_config(&text, &dir)
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

    /// The live configuration version.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

#[cfg(test)]
impl Shared {
    /// Shared state for one worker serving `compiled`, with the access log off (unit tests).
    pub(crate) fn for_tests(compiled: tollgate_config::Compiled) -> Arc<Shared> {
        let l2_bytes = compiled.config.gateway.limits.authorizer_cache_l2_bytes;
        Arc::new(Shared {
            current: ArcSwap::from_pointee(Snapshot::build(compiled, 1)),
            version: AtomicU64::new(1),
            shutdown: AtomicBool::new(false),
            worker_metrics: vec![Arc::new(metrics::WorkerMetrics::for_slot(0))],
            reloads_ok: AtomicU64::new(0),
            reloads_rejected: AtomicU64::new(0),
            access_log: ArcSwap::from_pointee(accesslog::Sink::Off),
            config_path: None,
            reload_lock: Mutex::new(()),
            retired: Mutex::new(Vec::new()),
            auth: crate::auth::SharedCaches {
                lambda: crate::auth::lambda::SharedState::new(l2_bytes),
                cognito: crate::auth::cognito::SharedState::default(),
            },
            fd_connection_bound: usize::MAX,
        })
    }
}
