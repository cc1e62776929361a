//! Lambda-authorizer result caches: a per-worker [`L1`] (plain `HashMap`, no locks) in front of
//! a process-wide [`L2`] (`DashMap`) that also does single-flight: the first request for a key
//! takes a *flight* and calls the function; concurrent requests for the same key, on any
//! worker, wait for that flight's result instead of calling again.
//!
//! Both levels are bounded and expiring; an L1 entry carries the expiry of the L2 entry it was
//! copied from, so a key is never served past its TTL. Pure (no I/O, the clock comes in as
//! arguments), so it can be benchmarked and tested on its own.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tollgate_gateway::authorizer_cache::{Begin, CacheKey, L1, L2};
//! let l2: L2<u32, ()> = L2::new(100);
//! let key = CacheKey::new(7, "token");
//! let now = Instant::now();
//! let Begin::Lead(flight) = l2.begin(&key, now, Duration::from_secs(1)) else { unreachable!() };
//! assert!(matches!(l2.begin(&key, now, Duration::from_secs(1)), Begin::Wait(f) if f == flight));
//! l2.complete(&key, flight, 42, now + Duration::from_secs(300));
//! assert_eq!(l2.get(&key, now).map(|(v, _)| v), Some(42));
//! let mut l1 = L1::new(10);
//! l1.insert(key.clone(), 42, now + Duration::from_secs(300), now);
//! assert_eq!(l1.get(&key, now), Some(42));
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

/// A cache key: the authorizer's scope (a fingerprint of its configuration and API) and the
/// identity-source values of the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub scope: u64,
    pub identity: Box<str>,
}

impl CacheKey {
    pub fn new(scope: u64, identity: &str) -> Self {
        Self {
            scope,
            identity: identity.into(),
        }
    }
}

/// A per-worker cache: no locks, bounded, expiring.
pub struct L1<V> {
    map: HashMap<CacheKey, (V, Instant)>,
    cap: usize,
}

impl<V: Clone> L1<V> {
    /// At most `cap` entries (at least 1).
    pub fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            cap: cap.max(1),
        }
    }

    /// A fresh value; an expired one is removed.
    pub fn get(&mut self, key: &CacheKey, now: Instant) -> Option<V> {
        match self.map.get(key) {
            Some((v, exp)) if *exp > now => Some(v.clone()),
            Some(_) => {
                self.map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Store until `expires`. When full, expired entries go first, then an arbitrary eighth
    /// of the rest, so a flood of distinct keys costs O(1) amortised per insert.
    pub fn insert(&mut self, key: CacheKey, value: V, expires: Instant, now: Instant) {
        if self.map.len() >= self.cap && !self.map.contains_key(&key) {
            self.map.retain(|_, (_, exp)| *exp > now);
            if self.map.len() >= self.cap {
                let excess = self.map.len() + 1 - self.cap + self.cap / 8;
                let victims: Vec<CacheKey> = self.map.keys().take(excess).cloned().collect();
                for k in victims {
                    self.map.remove(&k);
                }
            }
        }
        self.map.insert(key, (value, expires));
    }

    /// Drop `key`; its value if it was there.
    pub fn remove(&mut self, key: &CacheKey) -> Option<V> {
        self.map.remove(key).map(|(v, _)| v)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// One L2 slot.
#[derive(Debug, Clone)]
enum Slot<V, E> {
    /// A cached result.
    Ready { value: V, expires: Instant },
    /// A flight is calling the function; it counts as abandoned after `until`.
    Pending { flight: u64, until: Instant },
    /// The flight ended with a result that is not cached; only its waiters read it.
    Failed { flight: u64, err: E, at: Instant },
}

/// What [`L2::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin<V> {
    /// A fresh cached value and its expiry.
    Hit(V, Instant),
    /// Another request is calling the function: poll flight `0`.
    Wait(u64),
    /// This request owns the flight: call the function, then [`L2::complete`] or [`L2::fail`].
    Lead(u64),
}

/// What [`L2::poll`] found for a waiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled<V, E> {
    Hit(V, Instant),
    /// The flight failed with a result that is not cached (401, error): the waiter gets it too.
    Failed(E),
    /// Still calling.
    Pending,
    /// The flight is gone (abandoned, expired, replaced): start over with [`L2::begin`].
    Retry,
}

/// How long a failed flight's result stays for its waiters.
const FAILED_GRACE: Duration = Duration::from_secs(5);

/// The shared cache with single-flight. `V` is cheap to clone (an `Arc`), `E` a small error.
pub struct L2<V, E> {
    map: DashMap<CacheKey, Slot<V, E>>,
    cap: usize,
    flights: AtomicU64,
}

impl<V: Clone, E: Clone> L2<V, E> {
    /// At most `cap` entries (at least 1; pending flights are never evicted).
    pub fn new(cap: usize) -> Self {
        Self {
            map: DashMap::new(),
            cap: cap.max(1),
            flights: AtomicU64::new(1),
        }
    }

    /// A fresh cached value (no single-flight bookkeeping).
    pub fn get(&self, key: &CacheKey, now: Instant) -> Option<(V, Instant)> {
        match self.map.get(key).as_deref() {
            Some(Slot::Ready { value, expires }) if *expires > now => {
                Some((value.clone(), *expires))
            }
            _ => None,
        }
    }

    /// Look up `key`; on a miss (or an abandoned flight) take the flight, which counts as
    /// abandoned after `lead_for`.
    pub fn begin(&self, key: &CacheKey, now: Instant, lead_for: Duration) -> Begin<V> {
        if let Some((v, exp)) = self.get(key, now) {
            return Begin::Hit(v, exp);
        }
        if self.map.len() >= self.cap {
            self.sweep(now);
        }
        let until = now + lead_for;
        match self.map.entry(key.clone()) {
            Entry::Occupied(mut o) => {
                match o.get() {
                    Slot::Ready { value, expires } if *expires > now => {
                        return Begin::Hit(value.clone(), *expires);
                    }
                    Slot::Pending { flight, until } if *until > now => return Begin::Wait(*flight),
                    _ => {}
                }
                let flight = self.flights.fetch_add(1, Ordering::Relaxed);
                o.insert(Slot::Pending { flight, until });
                Begin::Lead(flight)
            }
            Entry::Vacant(v) => {
                let flight = self.flights.fetch_add(1, Ordering::Relaxed);
                v.insert(Slot::Pending { flight, until });
                Begin::Lead(flight)
            }
        }
    }

    /// A waiter's look at flight `flight`.
    pub fn poll(&self, key: &CacheKey, flight: u64, now: Instant) -> Polled<V, E> {
        match self.map.get(key).as_deref() {
            Some(Slot::Ready { value, expires }) if *expires > now => {
                Polled::Hit(value.clone(), *expires)
            }
            Some(Slot::Pending { flight: f, until }) if *f == flight && *until > now => {
                Polled::Pending
            }
            Some(Slot::Failed { flight: f, err, .. }) if *f == flight => {
                Polled::Failed(err.clone())
            }
            _ => Polled::Retry,
        }
    }

    /// The leader stores a cacheable result.
    pub fn complete(&self, key: &CacheKey, _flight: u64, value: V, expires: Instant) {
        self.map.insert(key.clone(), Slot::Ready { value, expires });
    }

    /// The leader ends its flight with a result that is not cached.
    pub fn fail(&self, key: &CacheKey, flight: u64, err: E, now: Instant) {
        if let Some(mut s) = self.map.get_mut(key)
            && matches!(&*s, Slot::Pending { flight: f, .. } if *f == flight)
        {
            *s = Slot::Failed {
                flight,
                err,
                at: now,
            };
        }
    }

    /// The leader went away without an answer: let the next request lead.
    pub fn abandon(&self, key: &CacheKey, flight: u64) {
        self.map.remove_if(
            key,
            |_, s| matches!(s, Slot::Pending { flight: f, .. } if *f == flight),
        );
    }

    /// Drop expired results and old failures; if still full, drop cached results (pending
    /// flights stay).
    fn sweep(&self, now: Instant) {
        self.map.retain(|_, s| match s {
            Slot::Ready { expires, .. } => *expires > now,
            Slot::Pending { until, .. } => *until > now,
            Slot::Failed { at, .. } => now.saturating_duration_since(*at) < FAILED_GRACE,
        });
        if self.map.len() >= self.cap {
            self.map.retain(|_, s| matches!(s, Slot::Pending { .. }));
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn l1_expires_and_bounds() {
        let now = Instant::now();
        let mut l1 = L1::new(2);
        l1.insert(CacheKey::new(1, "a"), 1, now + S, now);
        l1.insert(CacheKey::new(1, "b"), 2, now + S, now);
        assert_eq!(l1.get(&CacheKey::new(1, "a"), now), Some(1));
        assert_eq!(
            l1.get(&CacheKey::new(2, "a"), now),
            None,
            "scope is part of the key"
        );
        l1.insert(CacheKey::new(1, "c"), 3, now + S, now);
        assert_eq!(l1.len(), 2);
        assert_eq!(l1.get(&CacheKey::new(1, "c"), now), Some(3));
        assert_eq!(l1.get(&CacheKey::new(1, "c"), now + S), None);
        assert_eq!(l1.len(), 1);
    }

    #[test]
    fn single_flight() {
        let now = Instant::now();
        let l2: L2<u32, &'static str> = L2::new(10);
        let k = CacheKey::new(1, "t");
        let Begin::Lead(f) = l2.begin(&k, now, S) else {
            panic!("first must lead")
        };
        assert_eq!(l2.begin(&k, now, S), Begin::Wait(f));
        assert_eq!(l2.poll(&k, f, now), Polled::Pending);
        l2.complete(&k, f, 5, now + S);
        assert_eq!(l2.poll(&k, f, now), Polled::Hit(5, now + S));
        assert_eq!(l2.begin(&k, now, S), Begin::Hit(5, now + S));
        // Expired: the next request leads a new flight.
        let Begin::Lead(g) = l2.begin(&k, now + S, S) else {
            panic!("expired must lead")
        };
        assert_ne!(f, g);
        // A failure reaches the flight's waiters but is not a cache entry.
        l2.fail(&k, g, "401", now + S);
        assert_eq!(l2.poll(&k, g, now + S), Polled::Failed("401"));
        assert!(matches!(l2.begin(&k, now + S, S), Begin::Lead(_)));
    }

    #[test]
    fn abandoned_and_stale_flights_are_taken_over() {
        let now = Instant::now();
        let l2: L2<u32, ()> = L2::new(10);
        let k = CacheKey::new(1, "t");
        let Begin::Lead(f) = l2.begin(&k, now, S) else {
            panic!()
        };
        l2.abandon(&k, f);
        assert_eq!(l2.poll(&k, f, now), Polled::Retry);
        let Begin::Lead(g) = l2.begin(&k, now, S) else {
            panic!()
        };
        // Past its `until`, a pending flight no longer blocks others.
        assert_eq!(l2.poll(&k, g, now + S), Polled::Retry);
        assert!(matches!(l2.begin(&k, now + S, S), Begin::Lead(h) if h != g));
    }

    #[test]
    fn l2_is_bounded() {
        let now = Instant::now();
        let l2: L2<u32, ()> = L2::new(4);
        for i in 0..20 {
            let k = CacheKey::new(1, &i.to_string());
            if let Begin::Lead(f) = l2.begin(&k, now, S) {
                l2.complete(&k, f, i, now + S);
            }
        }
        assert!(l2.len() <= 5, "len {}", l2.len());
    }
}
