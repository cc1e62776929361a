//! Open-loop pacing: when each request of each connection is *intended* to be sent, and the
//! coordinated-omission rule that decides where a request's latency starts.

use std::time::Duration;

/// The send schedule of one connection in an open-loop run.
///
/// A total rate `R` is spread evenly over `N` connections: connection `i` sends its `k`-th
/// request at `(i + k * N) / R` seconds after the start, so the merged stream of all
/// connections is a request every `1/R` seconds and each connection sends every `N/R`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    index: u64,
    connections: u64,
}

impl Schedule {
    /// The schedule of connection `index` (0-based) among `connections` sharing `rate`
    /// requests per second. `None` if the rate is not positive or `index >= connections`.
    pub fn new(rate: f64, index: usize, connections: usize) -> Option<Self> {
        if !(rate.is_finite() && rate > 0.0) || index >= connections {
            return None;
        }
        Some(Self {
            rate,
            index: index as u64,
            connections: connections as u64,
        })
    }

    /// Offset from the run start at which request `k` (0-based) of this connection is due.
    pub fn offset(&self, k: u64) -> Duration {
        let slot = self
            .index
            .saturating_add(k.saturating_mul(self.connections));
        Duration::from_secs_f64(slot as f64 / self.rate)
    }

    /// The interval between two requests of this connection (`N / R`).
    pub fn period(&self) -> Duration {
        Duration::from_secs_f64(self.connections as f64 / self.rate)
    }

    /// How many requests this connection sends in `[0, window)`.
    pub fn count_before(&self, window: Duration) -> u64 {
        // Smallest k with offset(k) >= window, computed then corrected for float rounding.
        let slots = window.as_secs_f64() * self.rate;
        let first_slot_not_before = slots.ceil() as u64;
        let mut k = first_slot_not_before
            .saturating_sub(self.index)
            .div_ceil(self.connections);
        while k > 0 && self.offset(k - 1) >= window {
            k -= 1;
        }
        while self.offset(k) < window {
            k += 1;
        }
        k
    }
}

/// How early a request may go before its intended time: the runtime's timer has 1 ms
/// granularity, so a connection whose next slot is less than this away sends at once
/// instead of sleeping (a sleep would round up to the next tick and make every connection
/// fall behind at more than ~1,000 requests per second each).
pub const EARLY_SEND: Duration = Duration::from_millis(1);

/// How long to sleep before request `intended` when it is `now`: `None` = send now.
pub fn wait_before(intended: Duration, now: Duration) -> Option<Duration> {
    let left = intended.checked_sub(now)?;
    if left <= EARLY_SEND {
        return None;
    }
    Some(left - EARLY_SEND)
}

/// Where the latency of a request starts (coordinated-omission correction).
///
/// `intended`: when the schedule wanted it sent; `sent`: when it was actually written;
/// `previous_done`: when this connection's previous response finished (None for the
/// first request). All are offsets from the run start.
///
/// - If the connection was still busy with the previous response at the intended time, the
///   server made this request late: latency counts from `intended` (the wait is the
///   server's fault and would be omitted by a naive tool).
/// - Otherwise the connection was idle: latency counts from `sent`, which is at most
///   [`EARLY_SEND`] before `intended` (the timer's granularity), or a little after it when
///   our own thread was busy; neither is the server's doing.
pub fn latency_start(
    intended: Duration,
    sent: Duration,
    previous_done: Option<Duration>,
) -> Duration {
    match previous_done {
        Some(done) if done > intended => intended,
        _ => sent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_parameters() {
        assert!(Schedule::new(0.0, 0, 1).is_none());
        assert!(Schedule::new(-5.0, 0, 1).is_none());
        assert!(Schedule::new(f64::NAN, 0, 1).is_none());
        assert!(Schedule::new(100.0, 4, 4).is_none());
    }

    #[test]
    fn merged_stream_is_evenly_spaced() {
        let (rate, n) = (1000.0, 7usize);
        let mut all: Vec<Duration> = (0..n)
            .flat_map(|i| {
                let s = Schedule::new(rate, i, n).unwrap();
                (0..100).map(move |k| s.offset(k))
            })
            .collect();
        all.sort();
        for (j, t) in all.iter().enumerate() {
            let want = j as f64 / rate;
            assert!(
                (t.as_secs_f64() - want).abs() < 1e-9,
                "slot {j}: {t:?} vs {want}"
            );
        }
        let s = Schedule::new(rate, 3, n).unwrap();
        assert_eq!(s.period(), Duration::from_secs_f64(0.007));
        assert_eq!(s.offset(0), Duration::from_secs_f64(0.003));
    }

    #[test]
    fn counts_requests_in_a_window() {
        // 10 rps over 3 connections for 1 s: slots 0..10 -> conn0 gets 0,3,6,9 (4),
        // conn1 1,4,7 (3), conn2 2,5,8 (3).
        let w = Duration::from_secs(1);
        let counts: Vec<u64> = (0..3)
            .map(|i| Schedule::new(10.0, i, 3).unwrap().count_before(w))
            .collect();
        assert_eq!(counts, vec![4, 3, 3]);
        let total: u64 = (0..16)
            .map(|i| {
                Schedule::new(12_345.0, i, 16)
                    .unwrap()
                    .count_before(Duration::from_secs(2))
            })
            .sum();
        assert_eq!(total, 24_690);
        assert_eq!(
            Schedule::new(10.0, 0, 1)
                .unwrap()
                .count_before(Duration::ZERO),
            0
        );
    }

    #[test]
    fn coordinated_omission_rule() {
        let ms = Duration::from_millis;
        // Idle connection, our timer fired 0.8 ms late: count from the actual send.
        assert_eq!(latency_start(ms(10), ms(11), Some(ms(5))), ms(11));
        // Previous response finished 40 ms after this one was due: count from intended.
        assert_eq!(latency_start(ms(10), ms(50), Some(ms(50))), ms(10));
        // First request.
        assert_eq!(latency_start(ms(10), ms(10), None), ms(10));
        // Sent early (timer granularity) on an idle connection: from the actual send.
        assert_eq!(latency_start(ms(10), ms(9), Some(ms(2))), ms(9));
    }

    #[test]
    fn early_send_window() {
        let us = Duration::from_micros;
        assert_eq!(wait_before(us(10_000), us(9_500)), None);
        assert_eq!(wait_before(us(10_000), us(9_000)), None);
        assert_eq!(wait_before(us(10_000), us(12_000)), None);
        assert_eq!(wait_before(us(10_000), us(5_000)), Some(us(4_000)));
    }
}
