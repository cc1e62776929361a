//! Counters. Each worker owns one `WorkerMetrics` and is its only writer (relaxed atomics,
//! no shared cache lines on the hot path); `/metrics` sums the workers on read.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
    requests: Mutex<RequestCounts>,
    auth: [[AtomicU64; 4]; 4],
    cache_hits: [AtomicU64; 3],
    cache_misses: [AtomicU64; 3],
    pub authorizer_invocations: AtomicU64,
    upstream_errors: [AtomicU64; 3],
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub connections_refused: AtomicU64,
    pub bad_requests: AtomicU64,
}

#[derive(Default)]
struct RequestCounts {
    counts: HashMap<(u64, u16), u64>,
    labels: HashMap<u64, (String, String)>,
}

/// A route's metric labels, made once per config.
#[derive(Debug, Clone)]
pub struct RouteLabel {
    pub id: u64,
    pub api: String,
    pub route: String,
}

impl RouteLabel {
    pub fn new(api: &str, route: &str) -> Self {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        api.hash(&mut h);
        route.hash(&mut h);
        Self {
            id: h.finish(),
            api: api.to_owned(),
            route: route.to_owned(),
        }
    }
}

fn bump(a: Option<&AtomicU64>) {
    if let Some(a) = a {
        a.fetch_add(1, Relaxed);
    }
}

impl WorkerMetrics {
    pub fn request(&self, label: &RouteLabel, status: u16) {
        if let Ok(mut g) = self.requests.lock() {
            *g.counts.entry((label.id, status)).or_insert(0) += 1;
            g.labels
                .entry(label.id)
                .or_insert_with(|| (label.api.clone(), label.route.clone()));
        }
    }

    pub fn auth(&self, kind: AuthKind, outcome: Outcome) {
        bump(
            self.auth
                .get(kind as usize)
                .and_then(|r| r.get(outcome as usize)),
        );
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

/// Global values that are not per worker.
pub struct GlobalMetrics {
    pub config_version: u64,
    pub reloads_ok: u64,
    pub reloads_rejected: u64,
    pub workers: usize,
}

/// Render the Prometheus text exposition of all workers.
pub fn render(workers: &[std::sync::Arc<WorkerMetrics>], g: &GlobalMetrics) -> String {
    let mut out = String::with_capacity(4096);
    let mut req: HashMap<(String, String, u16), u64> = HashMap::new();
    let mut auth = [[0u64; 4]; 4];
    let mut hits = [0u64; 3];
    let mut misses = [0u64; 3];
    let mut up = [0u64; 3];
    let (mut inv, mut open, mut total, mut bad, mut refused) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for w in workers {
        if let Ok(r) = w.requests.lock() {
            for ((id, status), n) in &r.counts {
                if let Some((api, route)) = r.labels.get(id) {
                    *req.entry((api.clone(), route.clone(), *status))
                        .or_insert(0) += n;
                }
            }
        }
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
        inv += w.authorizer_invocations.load(Relaxed);
        open += w.connections_open.load(Relaxed);
        total += w.connections_total.load(Relaxed);
        bad += w.bad_requests.load(Relaxed);
        refused += w.connections_refused.load(Relaxed);
    }
    family(
        &mut out,
        "tollgate_requests_total",
        "counter",
        "Requests answered, by API, route and status.",
    );
    let mut rows: Vec<_> = req.into_iter().collect();
    rows.sort();
    for ((api, route, status), n) in rows {
        let _ = writeln!(
            out,
            "tollgate_requests_total{{api=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
            escape(&api),
            escape(&route)
        );
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
            "tollgate_authorizer_invocations_total",
            "counter",
            "Lambda authorizer functions called (cache misses that reached the function).",
            vec![format!("tollgate_authorizer_invocations_total {inv}")],
        ),
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
            "Configuration changes (PUT /config, reload, SIGHUP, --watch), by result.",
            vec![
                reload("ok", g.reloads_ok),
                reload("rejected", g.reloads_rejected),
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
        a.request(&l, 200);
        b.request(&l, 200);
        b.request(&l, 403);
        a.auth(AuthKind::Custom, Outcome::Deny);
        let g = GlobalMetrics {
            config_version: 3,
            reloads_ok: 2,
            reloads_rejected: 1,
            workers: 2,
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
        };
        let w = Arc::new(WorkerMetrics::default());
        w.request(&RouteLabel::new("a", "GET /x"), 200);
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
                assert!(typed.contains(name), "sample without TYPE: {l}");
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
}
