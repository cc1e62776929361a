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
    let _ = writeln!(
        out,
        "# HELP tollgate_requests_total Requests answered, by API, route and status."
    );
    let _ = writeln!(out, "# TYPE tollgate_requests_total counter");
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
    let _ = writeln!(
        out,
        "# HELP tollgate_auth_decisions_total Authorization decisions, by type and outcome."
    );
    let _ = writeln!(out, "# TYPE tollgate_auth_decisions_total counter");
    for (i, k) in AUTH_KINDS.iter().enumerate() {
        for (j, o) in OUTCOMES.iter().enumerate() {
            let n = auth.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "tollgate_auth_decisions_total{{type=\"{k}\",outcome=\"{o}\"}} {n}"
            );
        }
    }
    let _ = writeln!(out, "# TYPE tollgate_cache_hits_total counter");
    for (i, c) in CACHES.iter().enumerate() {
        let _ = writeln!(
            out,
            "tollgate_cache_hits_total{{cache=\"{c}\"}} {}",
            hits.get(i).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(out, "# TYPE tollgate_cache_misses_total counter");
    for (i, c) in CACHES.iter().enumerate() {
        let _ = writeln!(
            out,
            "tollgate_cache_misses_total{{cache=\"{c}\"}} {}",
            misses.get(i).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(out, "# TYPE tollgate_authorizer_invocations_total counter");
    let _ = writeln!(out, "tollgate_authorizer_invocations_total {inv}");
    let _ = writeln!(out, "# TYPE tollgate_upstream_errors_total counter");
    for (i, k) in UPSTREAM_ERRORS.iter().enumerate() {
        let _ = writeln!(
            out,
            "tollgate_upstream_errors_total{{kind=\"{k}\"}} {}",
            up.get(i).copied().unwrap_or(0)
        );
    }
    let _ = writeln!(out, "# TYPE tollgate_bad_requests_total counter");
    let _ = writeln!(out, "tollgate_bad_requests_total {bad}");
    let _ = writeln!(out, "# TYPE tollgate_connections_open gauge");
    let _ = writeln!(out, "tollgate_connections_open {open}");
    let _ = writeln!(out, "# TYPE tollgate_connections_total counter");
    let _ = writeln!(out, "tollgate_connections_total {total}");
    let _ = writeln!(out, "# TYPE tollgate_connections_refused_total counter");
    let _ = writeln!(out, "tollgate_connections_refused_total {refused}");
    let _ = writeln!(out, "# TYPE tollgate_config_version gauge");
    let _ = writeln!(out, "tollgate_config_version {}", g.config_version);
    let _ = writeln!(out, "# TYPE tollgate_config_reloads_total counter");
    let _ = writeln!(
        out,
        "tollgate_config_reloads_total{{result=\"ok\"}} {}",
        g.reloads_ok
    );
    let _ = writeln!(
        out,
        "tollgate_config_reloads_total{{result=\"rejected\"}} {}",
        g.reloads_rejected
    );
    let _ = writeln!(out, "# TYPE tollgate_workers gauge");
    let _ = writeln!(out, "tollgate_workers {}", g.workers);
    out
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
}
