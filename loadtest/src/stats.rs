//! Results: latency histograms (HdrHistogram, nanoseconds), their summary, error counts,
//! and the final report as a table or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency a histogram records (longer values are clamped): 120 s.
pub const MAX_LATENCY_NS: u64 = 120_000_000_000;

/// A new latency histogram in nanoseconds, 3 significant digits, 1 ns .. 120 s.
pub fn new_histogram() -> Result<Histogram<u64>, crate::LoadError> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
        .map_err(|e| crate::LoadError::Option(format!("histogram: {e}")))
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct LatencySummary {
    /// Recorded samples.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Minimum.
    pub min_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Maximum.
    pub max_us: f64,
}

fn us(ns: u64) -> f64 {
    // Round to 0.1 us.
    (ns as f64 / 100.0).round() / 10.0
}

/// Summarises a nanosecond histogram.
pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        count: h.len(),
        mean_us: (h.mean() / 100.0).round() / 10.0,
        min_us: us(h.min()),
        p50_us: us(h.value_at_quantile(0.5)),
        p90_us: us(h.value_at_quantile(0.9)),
        p99_us: us(h.value_at_quantile(0.99)),
        p999_us: us(h.value_at_quantile(0.999)),
        max_us: us(h.max()),
    }
}

/// Failures that produced no (acceptable) response, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct ErrorCounts {
    /// Could not connect.
    pub connect: u64,
    /// No complete response within `--timeout`.
    pub timeout: u64,
    /// Writing the request failed.
    pub write: u64,
    /// Reading failed, or the peer closed mid-response.
    pub read: u64,
    /// The response was not valid HTTP/1.1.
    pub parse: u64,
    /// A complete response whose status is not the expected one.
    pub status: u64,
    /// The TLS handshake failed (alert, bad certificate, closed mid-handshake).
    pub tls: u64,
}

impl ErrorCounts {
    /// All errors.
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.write + self.read + self.parse + self.status + self.tls
    }

    /// Adds `o` into `self`.
    pub fn merge(&mut self, o: &ErrorCounts) {
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.write += o.write;
        self.read += o.read;
        self.parse += o.parse;
        self.status += o.status;
        self.tls += o.tls;
    }
}

/// The result of a run, as printed and as written by `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `open` (fixed rate) or `closed` (fixed concurrency).
    pub mode: String,
    /// The URL driven.
    pub url: String,
    /// Target rate (open loop only).
    pub target_rps: Option<f64>,
    /// Connections used.
    pub connections: usize,
    /// Generator threads.
    pub threads: usize,
    /// Measured window (after warm-up), seconds.
    pub duration_s: f64,
    /// Responses completed in the window (any status).
    pub requests: u64,
    /// Responses with an expected status in the window.
    pub ok: u64,
    /// `requests / duration_s`.
    pub throughput_rps: f64,
    /// Latency of responses completed in the window (open loop: from the intended send
    /// time when the connection was late, see `pacing::latency_start`).
    pub latency: LatencySummary,
    /// Closed loop only: the same corrected with `record_correct` at the warm-up's mean
    /// latency as the expected interval.
    pub latency_corrected: Option<LatencySummary>,
    /// Responses by status code.
    pub status: BTreeMap<u16, u64>,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// Connections (re)opened during the whole run, warm-up included.
    pub connects: u64,
    /// Open loop: requests whose send was more than 1 ms behind schedule because the
    /// connection was still busy (the server was slower than the schedule).
    pub late_sends: u64,
    /// Open loop: requests due in the window that were never sent (run ended first).
    pub missed: u64,
    /// Config swaps made during the run (`--swap-config`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swaps: Option<SwapCounts>,
    /// HTTPS runs: handshakes in the window, full and resumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls::TlsCounts>,
}

/// Hot-swap results: `PUT /config` calls made during the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct SwapCounts {
    /// Answered 200.
    pub ok: u64,
    /// Answered anything else, or failed.
    pub failed: u64,
    /// Time from sending a `PUT` to its acknowledgement (validate + compile + publish), ms.
    pub ack_ms_p50: f64,
    pub ack_ms_max: f64,
}

impl Report {
    /// All errors.
    pub fn error_total(&self) -> u64 {
        self.errors.total()
    }

    /// The human-readable table.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "target       {}", self.url);
        let mode = match self.target_rps {
            Some(r) => format!("open loop, {r} rps target"),
            None => "closed loop".to_owned(),
        };
        let _ = writeln!(
            s,
            "mode         {mode}, {} connections, {} threads",
            self.connections, self.threads
        );
        let _ = writeln!(s, "duration     {:.2} s", self.duration_s);
        let _ = writeln!(
            s,
            "requests     {} ({} ok, {} errors)",
            self.requests,
            self.ok,
            self.error_total()
        );
        let _ = writeln!(s, "throughput   {:.1} rps", self.throughput_rps);
        let _ = writeln!(
            s,
            "latency (us)  p50      p90      p99      p99.9    max      mean"
        );
        let row = |name: &str, l: &LatencySummary| {
            format!(
                "  {name:<10} {:<8} {:<8} {:<8} {:<8} {:<8} {}\n",
                l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
            )
        };
        s.push_str(&row("measured", &self.latency));
        if let Some(c) = &self.latency_corrected {
            s.push_str(&row("corrected", c));
        }
        let statuses: Vec<String> = self
            .status
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(s, "status       {}", statuses.join(" "));
        let e = &self.errors;
        let _ = writeln!(
            s,
            "errors       connect={} timeout={} write={} read={} parse={} status={} tls={}",
            e.connect, e.timeout, e.write, e.read, e.parse, e.status, e.tls
        );
        let _ = writeln!(s, "connects     {}", self.connects);
        if self.target_rps.is_some() {
            let _ = writeln!(
                s,
                "late sends   {}  missed {}",
                self.late_sends, self.missed
            );
        }
        if let Some(w) = &self.swaps {
            let _ = writeln!(s, "swaps        {} ok, {} failed", w.ok, w.failed);
        }
        if let Some(t) = &self.tls {
            let _ = writeln!(
                s,
                "tls          {} handshakes ({} full, {} resumed, {} failed; resumption {}), {} alpn {}",
                t.handshakes,
                t.full,
                t.resumed,
                t.failed,
                if t.resumption_offered {
                    "offered"
                } else {
                    "off"
                },
                t.version.as_deref().unwrap_or("-"),
                t.alpn.as_deref().unwrap_or("-"),
            );
        }
        s
    }

    /// The JSON form.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_distribution() {
        let mut h = new_histogram().unwrap();
        // 1..=1000 microseconds, one sample each.
        for i in 1..=1000u64 {
            h.record(i * 1000).unwrap();
        }
        let s = summarize(&h);
        assert_eq!(s.count, 1000);
        // 3 significant digits: within 0.1 %.
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.1;
        assert!(close(s.p50_us, 500.0), "{s:?}");
        assert!(close(s.p90_us, 900.0), "{s:?}");
        assert!(close(s.p99_us, 990.0), "{s:?}");
        assert!(close(s.p999_us, 999.0), "{s:?}");
        assert!(close(s.max_us, 1000.0), "{s:?}");
        assert!(close(s.min_us, 1.0), "{s:?}");
        assert!(close(s.mean_us, 500.5), "{s:?}");
        assert_eq!(
            summarize(&new_histogram().unwrap()),
            LatencySummary::default()
        );
    }

    #[test]
    fn record_correct_fills_in_omitted_samples() {
        // One 100 ms stall with an expected interval of 10 ms adds the 9 samples a
        // constant-rate client would have seen (90, 80, ... 10 ms).
        let mut h = new_histogram().unwrap();
        h.record_correct(100_000_000, 10_000_000).unwrap();
        assert_eq!(h.len(), 10);
        assert!(summarize(&h).p50_us >= 50_000.0);
    }

    #[test]
    fn errors_and_table() {
        let mut e = ErrorCounts {
            connect: 1,
            timeout: 2,
            ..Default::default()
        };
        e.merge(&ErrorCounts {
            status: 3,
            ..Default::default()
        });
        assert_eq!(e.total(), 6);
        let r = Report {
            mode: "open".into(),
            url: "http://127.0.0.1:1/x".into(),
            target_rps: Some(100.0),
            connections: 2,
            threads: 1,
            duration_s: 1.0,
            requests: 99,
            ok: 96,
            throughput_rps: 99.0,
            latency: LatencySummary::default(),
            latency_corrected: None,
            status: BTreeMap::from([(200, 96), (403, 3)]),
            errors: e,
            connects: 2,
            late_sends: 0,
            missed: 1,
            swaps: None,
            tls: None,
        };
        let t = r.to_table();
        assert!(t.contains("status       200=96 403=3"), "{t}");
        assert!(t.contains("connect=1 timeout=2"), "{t}");
        let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(v["status"]["403"], 3);
        assert_eq!(v["errors"]["status"], 3);
        assert_eq!(v["throughput_rps"], 99.0);
    }
}
