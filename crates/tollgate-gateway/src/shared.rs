//! The state the workers, the admin listener and the control side share: the current
//! configuration snapshot (published through one `ArcSwap`), counters, the access-log sink,
//! the shared authorization caches; and the control side's operations on it (apply a new
//! configuration, reload the file, shut down).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::snapshot::{Origin, Snapshot};
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
    /// `serve --bind` / `--admin-bind`, applied to every configuration (at start and on each
    /// change), so a config shared by several nodes on one host still binds per node.
    pub(crate) overrides: BindOverrides,
    /// The state of a config watch (etcd), for `/metrics`.
    pub(crate) watch: WatchStatus,
    /// Re-reads a configuration that has no file (one held in etcd): SIGHUP and
    /// `POST /config/reload` call it instead of reading `config_path`.
    pub(crate) reloader: std::sync::OnceLock<Reloader>,
    /// Held while a configuration is applied; holds the highest etcd revision applied so far
    /// (0: none), which no older revision may replace.
    pub(crate) reload_lock: Mutex<i64>,
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
        self.apply_config_from(text, base_dir, Origin::Admin)
    }

    /// [`Shared::apply_config`] for a configuration from `origin` (the file, etcd).
    pub fn apply_config_from(
        &self,
        text: &str,
        base_dir: &Path,
        origin: Origin,
    ) -> Result<u64, ApplyError> {
        let mut newest_etcd = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        let res = match origin {
            // A slow read (SIGHUP, `POST /config/reload`) may return after the watch applied a
            // newer revision: never go back.
            Origin::Etcd { revision } if revision < *newest_etcd => {
                Err(ApplyError::Invalid(vec![format!(
                    "config: etcd revision {revision} is older than revision {} already applied: not applied (the newer one keeps serving)",
                    *newest_etcd
                )]))
            }
            _ => self.apply_locked(text, base_dir, origin),
        };
        if let (Ok(_), Origin::Etcd { revision }) = (&res, origin) {
            *newest_etcd = revision;
        }
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
        for w in &compiled.warnings {
            log::warn!("config: {w}");
        }
        let log = compiled.config.gateway.log;
        let mut snap = Snapshot::build(compiled, version);
        snap.origin = origin;
        snap.lambda.inherit(&cur.lambda);
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

    /// The highest etcd revision applied so far (0: none).
    pub fn etcd_revision_applied(&self) -> i64 {
        *self.reload_lock.lock().unwrap_or_else(|p| p.into_inner())
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
            overrides: BindOverrides::default(),
            watch: WatchStatus::default(),
            reloader: std::sync::OnceLock::new(),
            reload_lock: Mutex::new(0),
            retired: Mutex::new(Vec::new()),
            auth: crate::auth::SharedCaches {
                lambda: crate::auth::lambda::SharedState::new(l2_bytes),
                cognito: crate::auth::cognito::SharedState::default(),
            },
            fd_connection_bound: usize::MAX,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
gateway:
  region: us-east-1
  account_id: "123456789012"
  listeners: [{bind: "127.0.0.1:0"}]
apis:
  - id: a1
    stages: {prod: {}}
    routes:
      - {path: /x, methods: [GET], authorization: NONE, integration: {type: mock, body: BODY}}
"#;

    fn text(body: &str) -> String {
        CONFIG.replace("BODY", body)
    }

    fn served(s: &Shared) -> (Origin, u64) {
        let cur = s.current.load();
        (cur.origin, cur.version)
    }

    /// A read that returns after the watch applied a newer revision (a slow SIGHUP or
    /// `POST /config/reload`) never puts the older one back; the same revision again (files
    /// re-read) and any newer one still apply, and so does a non-etcd change.
    #[test]
    fn an_older_etcd_revision_never_replaces_a_newer_one() {
        let dir = Path::new(".");
        let s = Shared::for_tests(tollgate_config::load_str(&text("a"), dir).unwrap());
        let etcd = |revision| Origin::Etcd { revision };
        assert_eq!(s.apply_config_from(&text("r17"), dir, etcd(17)).unwrap(), 2);
        let Err(ApplyError::Invalid(e)) = s.apply_config_from(&text("r16"), dir, etcd(16)) else {
            panic!("revision 16 applied over 17");
        };
        assert!(
            e.iter()
                .any(|m| m.contains("etcd revision 16 is older than revision 17")),
            "{e:?}"
        );
        assert_eq!(served(&s), (etcd(17), 2));
        assert_eq!(s.apply_config_from(&text("r17"), dir, etcd(17)).unwrap(), 3);
        assert_eq!(
            s.apply_config_from(&text("adm"), dir, Origin::Admin)
                .unwrap(),
            4
        );
        // An admin change in between does not lower the mark.
        assert!(s.apply_config_from(&text("r16"), dir, etcd(16)).is_err());
        assert_eq!(s.apply_config_from(&text("r18"), dir, etcd(18)).unwrap(), 5);
        assert_eq!(served(&s), (etcd(18), 5));
        // What the watch checks before applying an event (a reload may have read ahead).
        assert_eq!(s.etcd_revision_applied(), 18);
    }
}
