//! Counters and histograms, lock-free on the request path. Each worker owns one
//! `WorkerMetrics` and is its only writer (relaxed atomics). Per-route and per-authorizer
//! series live in [`RouteStats`] / [`AuthorizerStats`]: one cache-line-aligned cell per
//! worker, found through the `RouteLabel` / `Arc` the snapshot holds (no lookup, no lock per
//! request). A process-wide registry, locked only when a configuration is built, by the JWKS
//! fetcher and by `/metrics`, keeps them by label so counting survives configuration changes;
//! `/metrics` sums the workers' cells on read.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Authorization types, as metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    None = 0,
    AwsIam = 1,
    Cognito = 2,
    Custom = 3,
}
const AUTH_KINDS: [&str; 4] = ["NONE", "AWS_IAM", "COGNITO_USER_POOLS", "CUSTOM"];

/// Outcomes of an authorization decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allow = 0,
    Deny = 1,
    Unauthorized = 2,
    Error = 3,
}
const OUTCOMES: [&str; 4] = ["allow", "deny", "unauthorized", "error"];

/// Named caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheName {
    Jwt = 0,
    Authorizer = 1,
    SigningKey = 2,
}
const CACHES: [&str; 3] = ["jwt", "authorizer", "signing_key"];

/// Upstream failure kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamError {
    Connect = 0,
    Timeout = 1,
    Broken = 2,
}
const UPSTREAM_ERRORS: [&str; 3] = ["connect", "timeout", "broken"];

#[derive(Default)]
pub struct WorkerMetrics {
    /// This worker's cell in every [`RouteStats`] / [`AuthorizerStats`] (its worker id).
    slot: usize,
    auth: [[AtomicU64; 4]; 4],
    cache_hits: [AtomicU64; 3],
    cache_misses: [AtomicU64; 3],
    upstream_errors: [AtomicU64; 3],
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub bad_requests: AtomicU64,
}

/// A route's metric labels and counters, made once per config. The counters live in a
/// process-wide registry keyed by the labels, so they carry over a configuration change.
#[derive(Debug, Clone)]
pub struct RouteLabel {
    pub api: String,
    pub route: String,
    stats: Arc<RouteStats>,
}

impl RouteLabel {
    pub fn new(api: &str, route: &str) -> Self {
        Self {
            api: api.to_owned(),
            route: route.to_owned(),
            stats: registered_route(api, route),
        }
    }
}

fn bump(a: Option<&AtomicU64>) {
    if let Some(a) = a {
        a.fetch_add(1, Relaxed);
    }
}

impl WorkerMetrics {
    /// The counters of worker `slot`.
    pub fn for_slot(slot: usize) -> Self {
        Self {
            slot,
            ..Self::default()
        }
    }

    /// One answered request: its status and its total duration.
    pub fn request(&self, label: &RouteLabel, status: u16, took: Duration) {
        let cell = label.stats.cell(self.slot);
        cell.count_status(status);
        cell.duration.observe(took);
    }

    /// One `http_proxy` exchange (answered or failed) and how long it took.
    pub fn upstream(&self, label: &RouteLabel, took: Duration) {
        label.stats.cell(self.slot).upstream.observe(took);
    }

    pub fn auth(&self, kind: AuthKind, outcome: Outcome) {
        bump(
            self.auth
                .get(kind as usize)
                .and_then(|r| r.get(outcome as usize)),
        );
    }

    /// A named authorizer's decision (`tollgate_authorizer_decisions_total`).
    pub fn authorizer_outcome(&self, a: &AuthorizerStats, outcome: Outcome) {
        bump(a.cell(self.slot).outcomes.get(outcome as usize));
    }

    /// A Lambda authorizer function called, and how long the call took.
    pub fn authorizer_call(&self, a: &AuthorizerStats, took: Duration) {
        let cell = a.cell(self.slot);
        cell.invocations.fetch_add(1, Relaxed);
        cell.latency.observe(took);
    }

    pub fn cache(&self, name: CacheName, hit: bool) {
        let arr = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        bump(arr.get(name as usize));
    }

    pub fn upstream_error(&self, e: UpstreamError) {
        bump(self.upstream_errors.get(e as usize));
    }
}

/// Upper bounds of the duration histograms' buckets, in seconds (`+Inf` follows).
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A duration histogram: per-bucket (not cumulative) counts, the last one past 10 s, and
/// the sum in microseconds. Cumulated when rendered.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        bump(self.counts.get(i));
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn add_to(&self, acc: &mut HistSum) {
        for (a, c) in acc.counts.iter_mut().zip(&self.counts) {
            *a += c.load(Relaxed);
        }
        acc.sum_us += self.sum_us.load(Relaxed);
    }
}

/// Histograms of several workers added up.
#[derive(Default, Clone, Copy)]
struct HistSum {
    counts: [u64; BUCKETS.len() + 1],
    sum_us: u64,
}

impl HistSum {
    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `_bucket` (cumulative), `_sum` and `_count` lines; `labels` is `a="b",` or empty.
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0u64;
        for (le, n) in BUCKETS.iter().zip(&self.counts) {
            cum += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{le}\"}} {cum}");
        }
        let total = self.total();
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {total}");
        let bare = labels.trim_end_matches(',');
        let sum = self.sum_us as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{bare}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{bare}}} {total}");
    }
}

/// Distinct statuses one route counts per worker; more land under `status="other"`.
const STATUS_SLOTS: usize = 24;

/// One worker's counters for one route (cache-line aligned: workers never share a line).
#[repr(align(64))]
#[derive(Default)]
struct RouteCell {
    /// (status, count); status 0 is a free slot. Claimed with a compare-exchange, so a
    /// shared cell (more workers than cells) still counts right.
    statuses: [(AtomicU64, AtomicU64); STATUS_SLOTS],
    other: AtomicU64,
    duration: Histogram,
    upstream: Histogram,
}

impl RouteCell {
    fn count_status(&self, status: u16) {
        let s = u64::from(status);
        for (k, n) in &self.statuses {
            match k.compare_exchange(0, s, Relaxed, Relaxed) {
                Ok(_) => return bump(Some(n)),
                Err(cur) if cur == s => return bump(Some(n)),
                Err(_) => {}
            }
        }
        bump(Some(&self.other));
    }
}

/// Every worker's counters for one route label.
pub struct RouteStats {
    cells: Box<[RouteCell]>,
}

impl std::fmt::Debug for RouteStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteStats")
    }
}

impl RouteStats {
    fn cell(&self, slot: usize) -> &RouteCell {
        let n = self.cells.len().max(1);
        self.cells.get(slot % n).unwrap_or(&EMPTY_ROUTE_CELL)
    }
}

static EMPTY_ROUTE_CELL: std::sync::LazyLock<RouteCell> =
    std::sync::LazyLock::new(RouteCell::default);

/// One worker's counters for one named authorizer.
#[repr(align(64))]
#[derive(Default)]
struct AuthorizerCell {
    invocations: AtomicU64,
    outcomes: [AtomicU64; 4],
    latency: Histogram,
}

/// Every worker's counters for one authorizer (by name).
pub struct AuthorizerStats {
    cells: Box<[AuthorizerCell]>,
}

impl AuthorizerStats {
    fn cell(&self, slot: usize) -> &AuthorizerCell {
        let n = self.cells.len().max(1);
        self.cells.get(slot % n).unwrap_or(&EMPTY_AUTHORIZER_CELL)
    }
}

static EMPTY_AUTHORIZER_CELL: std::sync::LazyLock<AuthorizerCell> =
    std::sync::LazyLock::new(AuthorizerCell::default);

/// JWKS fetches of one URL (written by the fetcher thread, never on the request path).
#[derive(Default, Clone, Copy)]
struct JwksStats {
    ok: u64,
    error: u64,
    /// When the key set in use was fetched.
    fetched_at: Option<std::time::SystemTime>,
}

/// Counters that outlive a configuration: per route, per authorizer, per JWKS URL. Locked
/// only when a configuration is built, by the JWKS fetcher, and by `/metrics`.
#[derive(Default)]
struct Registry {
    routes: BTreeMap<(String, String), Arc<RouteStats>>,
    authorizers: BTreeMap<String, Arc<AuthorizerStats>>,
    jwks: BTreeMap<String, JwksStats>,
}

static REGISTRY: std::sync::LazyLock<Mutex<Registry>> =
    std::sync::LazyLock::new(|| Mutex::new(Registry::default()));
/// Cells per route / authorizer: the number of workers (set at start).
static CELLS: AtomicUsize = AtomicUsize::new(1);

/// How many workers write counters (one cell each); call before the first config is built.
pub fn set_workers(n: usize) {
    CELLS.store(n.max(1), Relaxed);
}

fn cells<T: Default>() -> Box<[T]> {
    (0..CELLS.load(Relaxed)).map(|_| T::default()).collect()
}

fn registered_route(api: &str, route: &str) -> Arc<RouteStats> {
    let mut r = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    r.routes
        .entry((api.to_owned(), route.to_owned()))
        .or_insert_with(|| Arc::new(RouteStats { cells: cells() }))
        .clone()
}

/// The counters of authorizer `name` (made once per config, not per request).
pub fn authorizer(name: &str) -> Arc<AuthorizerStats> {
    let mut r = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    r.authorizers
        .entry(name.to_owned())
        .or_insert_with(|| Arc::new(AuthorizerStats { cells: cells() }))
        .clone()
}

/// One JWKS fetch of `url`: `Some(at)` when it brought a usable key set.
pub fn jwks_fetch(url: &str, ok_at: Option<std::time::SystemTime>) {
    let mut r = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let s = r.jwks.entry(url.to_owned()).or_default();
    match ok_at {
        Some(t) => {
            s.ok += 1;
            s.fetched_at = Some(t);
        }
        None => s.error += 1,
    }
}

/// Global values that are not per worker.
#[derive(Default)]
pub struct GlobalMetrics {
    pub config_version: u64,
    /// The etcd modification revision of the served config (0: not from etcd).
    pub config_revision: i64,
    /// [`crate::WatchState`] as a number.
    pub watch_state: u8,
    /// Watch failures: connection (connect, read, watch stream), invalid (revision refused).
    pub watch_connection_failures: u64,
    pub watch_invalid_revisions: u64,
    pub reloads_ok: u64,
    pub reloads_rejected: u64,
    pub workers: usize,
}

/// Render the Prometheus text exposition of all workers.
pub fn render(workers: &[std::sync::Arc<WorkerMetrics>], g: &GlobalMetrics) -> String {
    let mut out = String::with_capacity(4096);
    let mut auth = [[0u64; 4]; 4];
    let mut hits = [0u64; 3];
    let mut misses = [0u64; 3];
    let mut up = [0u64; 3];
    let (mut open, mut total, mut bad, mut refused) = (0u64, 0u64, 0u64, 0u64);
    for w in workers {
        for (i, row) in w.auth.iter().enumerate() {
            for (j, c) in row.iter().enumerate() {
                if let Some(slot) = auth.get_mut(i).and_then(|r| r.get_mut(j)) {
                    *slot += c.load(Relaxed);
                }
            }
        }
        for i in 0..3 {
            if let (Some(h), Some(m), Some(u)) = (hits.get_mut(i), misses.get_mut(i), up.get_mut(i))
            {
                *h += w.cache_hits.get(i).map_or(0, |a| a.load(Relaxed));
                *m += w.cache_misses.get(i).map_or(0, |a| a.load(Relaxed));
                *u += w.upstream_errors.get(i).map_or(0, |a| a.load(Relaxed));
            }
        }
        open += w.connections_open.load(Relaxed);
        total += w.connections_total.load(Relaxed);
        bad += w.bad_requests.load(Relaxed);
        refused += w.connections_refused.load(Relaxed);
    }
    {
        let r = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        render_routes(&mut out, &r.routes);
        render_authorizers(&mut out, &r.authorizers);
        render_jwks(&mut out, &r.jwks);
    }
    family(
        &mut out,
        "tollgate_auth_decisions_total",
        "counter",
        "Authorization decisions, by type and outcome.",
    );
    for (i, k) in AUTH_KINDS.iter().enumerate() {
        for (j, o) in OUTCOMES.iter().enumerate() {
            let n = auth.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "tollgate_auth_decisions_total{{type=\"{k}\",outcome=\"{o}\"}} {n}"
            );
        }
    }
    for (name, help, vals) in [
        (
            "tollgate_cache_hits_total",
            "Lookups answered by a cache (jwt: verified tokens, authorizer: Lambda results, signing_key: SigV4 keys).",
            &hits,
        ),
        (
            "tollgate_cache_misses_total",
            "Lookups a cache could not answer.",
            &misses,
        ),
    ] {
        family(&mut out, name, "counter", help);
        for (i, c) in CACHES.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}{{cache=\"{c}\"}} {}",
                vals.get(i).copied().unwrap_or(0)
            );
        }
    }
    family(
        &mut out,
        "tollgate_upstream_errors_total",
        "counter",
        "http_proxy exchanges that failed: connect (502), timeout (504), broken (502).",
    );
    for (i, k) in UPSTREAM_ERRORS.iter().enumerate() {
        let _ = writeln!(
            out,
            "tollgate_upstream_errors_total{{kind=\"{k}\"}} {}",
            up.get(i).copied().unwrap_or(0)
        );
    }
    let reload = |r: &str, n: u64| format!("tollgate_config_reloads_total{{result=\"{r}\"}} {n}");
    for (name, kind, help, lines) in [
        (
            "tollgate_bad_requests_total",
            "counter",
            "Requests refused before routing as malformed (400, 408, 413, 414, 431, 501, 505).",
            vec![format!("tollgate_bad_requests_total {bad}")],
        ),
        (
            "tollgate_connections_open",
            "gauge",
            "Client connections open now.",
            vec![format!("tollgate_connections_open {open}")],
        ),
        (
            "tollgate_connections_total",
            "counter",
            "Client connections accepted.",
            vec![format!("tollgate_connections_total {total}")],
        ),
        (
            "tollgate_connections_refused_total",
            "counter",
            "Client connections closed at once because a worker was at its connection bound.",
            vec![format!("tollgate_connections_refused_total {refused}")],
        ),
        (
            "tollgate_config_version",
            "gauge",
            "Version of the configuration being served (1 at start, +1 per accepted change).",
            vec![format!("tollgate_config_version {}", g.config_version)],
        ),
        (
            "tollgate_config_reloads_total",
            "counter",
            "Configuration changes (PUT /config, reload, SIGHUP, --watch, etcd revisions), by result.",
            vec![
                reload("ok", g.reloads_ok),
                reload("rejected", g.reloads_rejected),
            ],
        ),
        (
            "tollgate_config_revision",
            "gauge",
            "etcd modification revision of the configuration being served (0 when it does not come from etcd).",
            vec![format!("tollgate_config_revision {}", g.config_revision)],
        ),
        (
            "tollgate_config_watch_state",
            "gauge",
            "Config watch: 0 none (file config), 1 reconnecting (etcd unreachable, the last good config serves), 2 watching.",
            vec![format!("tollgate_config_watch_state {}", g.watch_state)],
        ),
        (
            "tollgate_config_watch_failures_total",
            "counter",
            "Config watch failures, by kind: connection (connect, read or watch stream lost), invalid (a stored revision refused).",
            vec![
                format!(
                    "tollgate_config_watch_failures_total{{kind=\"connection\"}} {}",
                    g.watch_connection_failures
                ),
                format!(
                    "tollgate_config_watch_failures_total{{kind=\"invalid\"}} {}",
                    g.watch_invalid_revisions
                ),
            ],
        ),
        (
            "tollgate_workers",
            "gauge",
            "Data-plane worker threads.",
            vec![format!("tollgate_workers {}", g.workers)],
        ),
        (
            "tollgate_build_info",
            "gauge",
            "Always 1; the version of the running binary is in the labels.",
            vec![format!(
                "tollgate_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )],
        ),
    ] {
        family(&mut out, name, kind, help);
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    process_metrics(&mut out);
    out
}

/// `api="..",route=".."`.
fn route_labels(api: &str, route: &str) -> String {
    format!("api=\"{}\",route=\"{}\"", escape(api), escape(route))
}

/// Requests by status and the two duration histograms, per route.
fn render_routes(out: &mut String, routes: &BTreeMap<(String, String), Arc<RouteStats>>) {
    family(
        out,
        "tollgate_requests_total",
        "counter",
        "Requests answered, by API, route and status.",
    );
    let mut hists = Vec::with_capacity(routes.len());
    for ((api, route), stats) in routes {
        let labels = route_labels(api, route);
        let mut statuses: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut other, mut dur, mut upstream) = (0u64, HistSum::default(), HistSum::default());
        for cell in stats.cells.iter() {
            for (k, n) in &cell.statuses {
                let k = k.load(Relaxed);
                if k != 0 {
                    *statuses.entry(k).or_insert(0) += n.load(Relaxed);
                }
            }
            other += cell.other.load(Relaxed);
            cell.duration.add_to(&mut dur);
            cell.upstream.add_to(&mut upstream);
        }
        for (status, n) in statuses {
            let _ = writeln!(
                out,
                "tollgate_requests_total{{{labels},status=\"{status}\"}} {n}"
            );
        }
        if other > 0 {
            let _ = writeln!(
                out,
                "tollgate_requests_total{{{labels},status=\"other\"}} {other}"
            );
        }
        hists.push((labels, dur, upstream));
    }
    family(
        out,
        "tollgate_request_duration_seconds",
        "histogram",
        "Time from the first byte of a request to the end of its response, by API and route.",
    );
    for (labels, dur, _) in hists.iter().filter(|h| h.1.total() > 0) {
        dur.write(
            out,
            "tollgate_request_duration_seconds",
            &format!("{labels},"),
        );
    }
    family(
        out,
        "tollgate_upstream_duration_seconds",
        "histogram",
        "http_proxy exchanges (connect to end of the response body, or failure), by API and route.",
    );
    for (labels, _, up) in hists.iter().filter(|h| h.2.total() > 0) {
        up.write(
            out,
            "tollgate_upstream_duration_seconds",
            &format!("{labels},"),
        );
    }
}

/// Per named authorizer: function calls, their latency, decisions.
fn render_authorizers(out: &mut String, auths: &BTreeMap<String, Arc<AuthorizerStats>>) {
    let mut rows = Vec::with_capacity(auths.len());
    for (name, stats) in auths {
        let (mut inv, mut outcomes, mut lat) = (0u64, [0u64; 4], HistSum::default());
        for cell in stats.cells.iter() {
            inv += cell.invocations.load(Relaxed);
            for (o, c) in outcomes.iter_mut().zip(&cell.outcomes) {
                *o += c.load(Relaxed);
            }
            cell.latency.add_to(&mut lat);
        }
        rows.push((
            format!("authorizer=\"{}\"", escape(name)),
            inv,
            outcomes,
            lat,
        ));
    }
    family(
        out,
        "tollgate_authorizer_invocations_total",
        "counter",
        "Lambda authorizer functions called (cache misses that reached the function), by authorizer.",
    );
    for (l, inv, _, _) in &rows {
        let _ = writeln!(out, "tollgate_authorizer_invocations_total{{{l}}} {inv}");
    }
    family(
        out,
        "tollgate_authorizer_decisions_total",
        "counter",
        "Decisions of Lambda and Cognito authorizers, by authorizer and outcome.",
    );
    for (l, _, outcomes, _) in &rows {
        for (o, n) in OUTCOMES.iter().zip(outcomes) {
            let _ = writeln!(
                out,
                "tollgate_authorizer_decisions_total{{{l},outcome=\"{o}\"}} {n}"
            );
        }
    }
    family(
        out,
        "tollgate_authorizer_duration_seconds",
        "histogram",
        "Lambda authorizer function calls (answered, failed or timed out), by authorizer.",
    );
    for (l, _, _, lat) in rows.iter().filter(|r| r.3.total() > 0) {
        lat.write(
            out,
            "tollgate_authorizer_duration_seconds",
            &format!("{l},"),
        );
    }
}

/// JWKS fetches by URL and result, and the age of the key set in use.
fn render_jwks(out: &mut String, jwks: &BTreeMap<String, JwksStats>) {
    family(
        out,
        "tollgate_jwks_fetch_total",
        "counter",
        "JWKS fetches of Cognito user pools, by URL and result (ok: a usable key set).",
    );
    for (url, s) in jwks {
        let u = escape(url);
        let _ = writeln!(
            out,
            "tollgate_jwks_fetch_total{{url=\"{u}\",result=\"ok\"}} {}",
            s.ok
        );
        let _ = writeln!(
            out,
            "tollgate_jwks_fetch_total{{url=\"{u}\",result=\"error\"}} {}",
            s.error
        );
    }
    family(
        out,
        "tollgate_jwks_age_seconds",
        "gauge",
        "Seconds since the key set in use for a JWKS URL was fetched (absent before the first).",
    );
    let now = std::time::SystemTime::now();
    for (url, s) in jwks {
        if let Some(t) = s.fetched_at {
            let age = now.duration_since(t).unwrap_or_default().as_secs_f64();
            let _ = writeln!(
                out,
                "tollgate_jwks_age_seconds{{url=\"{}\"}} {age:.3}",
                escape(url)
            );
        }
    }
}

/// `# HELP` and `# TYPE` of one family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// When the process started (set by `start`), for `process_start_time_seconds`.
pub(crate) static STARTED: std::sync::OnceLock<std::time::SystemTime> = std::sync::OnceLock::new();

/// The standard `process_*` families (Prometheus client conventions), read from `/proc`.
/// A value that cannot be read is left out rather than reported as 0.
fn process_metrics(out: &mut String) {
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|t| *t > 0)
        .map_or(100.0, |t| t as f64);
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the `(comm)`, which may hold spaces: utime and stime are 14 and 15.
        let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
        if let (Some(u), Some(s)) = (ticks(11), ticks(12)) {
            family(
                out,
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time spent, in seconds.",
            );
            let _ = writeln!(out, "process_cpu_seconds_total {}", (u + s) as f64 / tick);
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let Some(rss) = kib("VmRSS:") {
            family(
                out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            let _ = writeln!(out, "process_resident_memory_bytes {}", rss * 1024);
        }
        if let Some(vm) = kib("VmSize:") {
            family(
                out,
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
            );
            let _ = writeln!(out, "process_virtual_memory_bytes {}", vm * 1024);
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        family(out, "process_open_fds", "gauge", "Open file descriptors.");
        let _ = writeln!(out, "process_open_fds {}", dir.count());
    }
    if let Ok((soft, _)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        family(
            out,
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors (soft limit).",
        );
        let _ = writeln!(out, "process_max_fds {soft}");
    }
    if let Some(t) = STARTED.get()
        && let Ok(d) = t.duration_since(std::time::UNIX_EPOCH)
    {
        family(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
        );
        let _ = writeln!(out, "process_start_time_seconds {:.3}", d.as_secs_f64());
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sums_workers() {
        let a = Arc::new(WorkerMetrics::default());
        let b = Arc::new(WorkerMetrics::default());
        let l = RouteLabel::new("petstore", "GET /pets");
        a.request(&l, 200, Duration::from_millis(3));
        b.request(&l, 200, Duration::from_millis(30));
        b.request(&l, 403, Duration::from_secs(20));
        a.auth(AuthKind::Custom, Outcome::Deny);
        let g = GlobalMetrics {
            config_version: 3,
            reloads_ok: 2,
            reloads_rejected: 1,
            workers: 2,
            ..Default::default()
        };
        let t = render(&[a, b], &g);
        assert!(t.contains(
            "tollgate_requests_total{api=\"petstore\",route=\"GET /pets\",status=\"200\"} 2"
        ));
        assert!(t.contains("status=\"403\"} 1"));
        assert!(t.contains("tollgate_auth_decisions_total{type=\"CUSTOM\",outcome=\"deny\"} 1"));
        assert!(t.contains("tollgate_config_version 3"));
    }

    #[test]
    fn every_family_has_help_and_type() {
        let g = GlobalMetrics {
            config_version: 1,
            reloads_ok: 0,
            reloads_rejected: 0,
            workers: 1,
            ..Default::default()
        };
        let w = Arc::new(WorkerMetrics::default());
        w.request(&RouteLabel::new("a", "GET /x"), 200, Duration::ZERO);
        let t = render(&[w], &g);
        let mut help = std::collections::HashSet::new();
        let mut typed = std::collections::HashSet::new();
        for l in t.lines() {
            if let Some(r) = l.strip_prefix("# HELP ") {
                help.insert(r.split(' ').next().unwrap_or("").to_owned());
            } else if let Some(r) = l.strip_prefix("# TYPE ") {
                let name = r.split(' ').next().unwrap_or("").to_owned();
                assert!(help.contains(&name), "TYPE before HELP: {l}");
                typed.insert(name);
            } else {
                let name = l.split(['{', ' ']).next().unwrap_or("");
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|b| typed.contains(*b)))
                    .unwrap_or(name);
                assert!(typed.contains(base), "sample without TYPE: {l}");
            }
        }
        for f in [
            "tollgate_build_info",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(typed.contains(f), "{f} missing:\n{t}");
        }
    }

    #[test]
    fn histograms_are_cumulative_and_statuses_counted_without_locks() {
        let a = Arc::new(WorkerMetrics::for_slot(0));
        let l = RouteLabel::new("histo", "GET /h");
        a.request(&l, 200, Duration::from_micros(100));
        a.request(&l, 200, Duration::from_millis(7));
        a.request(&l, 502, Duration::from_secs(60));
        a.upstream(&l, Duration::from_millis(2));
        let az = authorizer("histo-auth");
        a.authorizer_call(&az, Duration::from_millis(1));
        a.authorizer_outcome(&az, Outcome::Deny);
        jwks_fetch("http://histo/jwks", None);
        jwks_fetch("http://histo/jwks", Some(std::time::SystemTime::now()));
        let g = GlobalMetrics {
            config_version: 1,
            reloads_ok: 0,
            reloads_rejected: 0,
            workers: 1,
            ..Default::default()
        };
        let t = render(&[a], &g);
        let lab = "api=\"histo\",route=\"GET /h\"";
        for want in [
            format!("tollgate_requests_total{{{lab},status=\"200\"}} 2"),
            format!("tollgate_requests_total{{{lab},status=\"502\"}} 1"),
            format!("tollgate_request_duration_seconds_bucket{{{lab},le=\"0.0005\"}} 1"),
            format!("tollgate_request_duration_seconds_bucket{{{lab},le=\"0.005\"}} 1"),
            format!("tollgate_request_duration_seconds_bucket{{{lab},le=\"0.01\"}} 2"),
            format!("tollgate_request_duration_seconds_bucket{{{lab},le=\"10\"}} 2"),
            format!("tollgate_request_duration_seconds_bucket{{{lab},le=\"+Inf\"}} 3"),
            format!("tollgate_request_duration_seconds_count{{{lab}}} 3"),
            format!("tollgate_upstream_duration_seconds_count{{{lab}}} 1"),
            "tollgate_authorizer_invocations_total{authorizer=\"histo-auth\"} 1".to_owned(),
            "tollgate_authorizer_decisions_total{authorizer=\"histo-auth\",outcome=\"deny\"} 1"
                .to_owned(),
            "tollgate_authorizer_duration_seconds_count{authorizer=\"histo-auth\"} 1".to_owned(),
            "tollgate_jwks_fetch_total{url=\"http://histo/jwks\",result=\"ok\"} 1".to_owned(),
            "tollgate_jwks_fetch_total{url=\"http://histo/jwks\",result=\"error\"} 1".to_owned(),
        ] {
            assert!(t.contains(&want), "{want} missing:\n{t}");
        }
        assert!(t.contains("tollgate_jwks_age_seconds{url=\"http://histo/jwks\"} 0."));
        // A route counts more distinct statuses than it has slots: the rest are "other".
        let m = WorkerMetrics::for_slot(0);
        let many = RouteLabel::new("histo", "GET /many");
        for s in 200..(200 + STATUS_SLOTS as u16 + 2) {
            m.request(&many, s, Duration::ZERO);
        }
        let t = render(&[Arc::new(m)], &g);
        assert!(t.contains("route=\"GET /many\",status=\"other\"} 2"), "{t}");
    }
}
