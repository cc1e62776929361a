//! Lambda-authorizer result caches: a per-worker [`L1`] (plain `HashMap`, no locks) in front of
//! a process-wide [`L2`] (`DashMap`) that also does single-flight: the first request for a key
//! takes a *flight* and calls the function; concurrent requests for the same key, on any
//! worker, wait for that flight's result instead of calling again.
//!
//! Bounded by **bytes**, not entries: every entry costs [`ENTRY_OVERHEAD`] plus its value's
//! [`Weigh::weight`], and a cache over its budget evicts down to three quarters of it in this
//! order: expired entries, then non-[`Weigh::precious`] entries (Deny results) not read since
//! they were stored, then the other non-precious ones, then precious entries (Allow results)
//! not read since stored, then the rest. A flood of distinct keys (each stored once, never
//! read) thus evicts itself, not the entries real clients keep using.
//!
//! Keys hold a SHA-256 of the identity-source values, not the values: a key costs 40 bytes
//! whatever the token's length. Failures (401, errors) are never cached: the leader's answer
//! stays in the slot only until the flight's waiters have read it (or for a short grace).
//!
//! An L1 entry carries the expiry of the L2 entry it was copied from, so a key is never served
//! past its TTL. Pure (no I/O, the clock comes in as arguments), so it can be benchmarked and
//! tested on its own.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tollgate_gateway::authorizer_cache::{Begin, CacheKey, L1, L2};
//! let l2: L2<u32, ()> = L2::new(1 << 20);
//! let key = CacheKey::new(7, "token");
//! let now = Instant::now();
//! let Begin::Lead(flight) = l2.begin(&key, now, Duration::from_secs(1)) else { unreachable!() };
//! assert!(matches!(l2.begin(&key, now, Duration::from_secs(1)), Begin::Wait(f) if f == flight));
//! l2.complete(&key, flight, 42, now + Duration::from_secs(300));
//! assert_eq!(l2.get(&key, now).map(|(v, _)| v), Some(42));
//! let mut l1 = L1::new(1 << 20);
//! l1.insert(key.clone(), 42, now + Duration::from_secs(300), now);
//! assert_eq!(l1.get(&key, now), Some(42));
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

/// What an entry costs besides its value: the key (40 bytes), the slot, the map's own
/// bookkeeping (a conservative round figure).
pub const ENTRY_OVERHEAD: usize = 160;

/// A cached value's size and worth.
pub trait Weigh {
    /// Heap and inline bytes the value holds (an upper estimate).
    fn weight(&self) -> usize;
    /// Evicted last (an authorizer result that allows something).
    fn precious(&self) -> bool {
        false
    }
}

impl<T: Weigh> Weigh for Arc<T> {
    fn weight(&self) -> usize {
        (**self).weight()
    }
    fn precious(&self) -> bool {
        (**self).precious()
    }
}

impl Weigh for u32 {
    fn weight(&self) -> usize {
        4
    }
}

/// An upper estimate of the bytes a compiled authorizer policy holds: compiling costs a few
/// KiB per action and resource pattern (measured: ~10 KiB for one Deny statement, ~260 KiB for
/// 50 resources), so the estimate counts patterns as well as the document's length.
/// `tests/cache_bounds.rs` measures real allocations against it.
pub fn policy_weight(doc: &serde_json::Value) -> usize {
    use serde_json::Value;
    let count = |v: Option<&Value>| match v {
        Some(Value::Array(a)) => a.len(),
        Some(_) => 1,
        None => 0,
    };
    let statement = |s: &Value| {
        ["Action", "NotAction", "Resource", "NotResource"]
            .iter()
            .map(|k| count(s.get(*k)))
            .sum::<usize>()
    };
    let patterns: usize = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().map(statement).sum(),
        Some(s) => statement(s),
        None => 0,
    };
    let json_len = serde_json::to_string(doc).map_or(0, |t| t.len());
    4 * 1024 + 5 * 1024 * patterns + 16 * json_len
}

/// A cache key: the authorizer's scope (a fingerprint of its configuration and API) and the
/// SHA-256 of the request's identity-source values (compared in full: collision-safe).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub scope: u64,
    pub digest: [u8; 32],
}

impl CacheKey {
    pub fn new(scope: u64, identity: &str) -> Self {
        let d = ring::digest::digest(&ring::digest::SHA256, identity.as_bytes());
        let mut digest = [0u8; 32];
        digest.copy_from_slice(d.as_ref());
        Self { scope, digest }
    }

    /// The key of `identity` on one stage. API Gateway keeps an authorizer cache per stage
    /// (`FlushStageAuthorizersCache`), and the function may decide on the stage (its method
    /// ARN, `requestContext.stage`, `stageVariables`): one stage's result is never another's.
    /// The stage is length-prefixed, so no stage and identity pair collides with another.
    pub fn in_stage(scope: u64, stage: &str, identity: &str) -> Self {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&(stage.len() as u64).to_le_bytes());
        ctx.update(stage.as_bytes());
        ctx.update(identity.as_bytes());
        let mut digest = [0u8; 32];
        digest.copy_from_slice(ctx.finish().as_ref());
        Self { scope, digest }
    }
}

/// Eviction passes after the expired entries: (precious, read since stored).
const PASSES: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

struct E1<V> {
    value: V,
    expires: Instant,
    cost: usize,
    used: bool,
    precious: bool,
}

/// A per-worker cache: no locks, bounded by bytes, expiring.
pub struct L1<V> {
    map: HashMap<CacheKey, E1<V>>,
    bytes: usize,
    budget: usize,
}

impl<V: Clone + Weigh> L1<V> {
    /// At most `budget` bytes of entries (at least one entry is always kept).
    pub fn new(budget: usize) -> Self {
        Self {
            map: HashMap::new(),
            bytes: 0,
            budget: budget.max(ENTRY_OVERHEAD),
        }
    }

    /// A fresh value; an expired one is removed.
    pub fn get(&mut self, key: &CacheKey, now: Instant) -> Option<V> {
        match self.map.get_mut(key) {
            Some(e) if e.expires > now => {
                e.used = true;
                Some(e.value.clone())
            }
            Some(_) => {
                self.remove(key);
                None
            }
            None => None,
        }
    }

    /// Store until `expires`, evicting (see the module docs) when over the byte budget.
    pub fn insert(&mut self, key: CacheKey, value: V, expires: Instant, now: Instant) {
        let cost = ENTRY_OVERHEAD + value.weight();
        self.remove(&key);
        if self.bytes + cost > self.budget {
            self.evict(now, (self.budget / 4 * 3).saturating_sub(cost));
        }
        self.bytes += cost;
        let precious = value.precious();
        self.map.insert(
            key,
            E1 {
                value,
                expires,
                cost,
                used: false,
                precious,
            },
        );
    }

    fn evict(&mut self, now: Instant, target: usize) {
        let bytes = &mut self.bytes;
        self.map.retain(|_, e| {
            if e.expires <= now {
                *bytes = bytes.saturating_sub(e.cost);
                return false;
            }
            true
        });
        for (precious, used) in PASSES {
            if *bytes <= target {
                return;
            }
            self.map.retain(|_, e| {
                if *bytes > target && e.precious == precious && e.used == used {
                    *bytes = bytes.saturating_sub(e.cost);
                    return false;
                }
                true
            });
        }
    }

    /// Drop `key`; its value if it was there.
    pub fn remove(&mut self, key: &CacheKey) -> Option<V> {
        self.map.remove(key).map(|e| {
            self.bytes = self.bytes.saturating_sub(e.cost);
            e.value
        })
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes the entries cost (what the budget bounds).
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// One L2 slot.
#[derive(Debug)]
enum Slot<V, E> {
    /// A cached result.
    Ready {
        value: V,
        expires: Instant,
        cost: usize,
        precious: bool,
        used: AtomicBool,
    },
    /// A flight is calling the function; it counts as abandoned after `until`.
    Pending {
        flight: u64,
        until: Instant,
        waiters: u32,
    },
    /// The flight ended with a result that is not cached; only its waiters read it, and the
    /// slot goes when the last one has (or after [`FAILED_GRACE`]).
    Failed {
        flight: u64,
        err: E,
        at: Instant,
        waiters: u32,
    },
}

impl<V, E> Slot<V, E> {
    fn cost(&self) -> usize {
        match self {
            Slot::Ready { cost, .. } => *cost,
            _ => ENTRY_OVERHEAD,
        }
    }
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

/// How long a failed flight's answer waits for waiters that have not read it yet.
pub const FAILED_GRACE: Duration = Duration::from_secs(2);

/// The shared cache with single-flight. `V` is cheap to clone (an `Arc`), `E` a small error.
pub struct L2<V, E> {
    map: DashMap<CacheKey, Slot<V, E>>,
    bytes: AtomicUsize,
    budget: usize,
    flights: AtomicU64,
    /// Failed slots still waiting for readers, oldest first.
    failed: Mutex<VecDeque<(CacheKey, u64, Instant)>>,
    /// One evicting thread at a time; the others go on (briefly over budget).
    evicting: Mutex<()>,
}

impl<V: Clone + Weigh, E: Clone> L2<V, E> {
    /// At most about `budget` bytes of entries (pending flights are never evicted).
    pub fn new(budget: usize) -> Self {
        Self {
            map: DashMap::new(),
            bytes: AtomicUsize::new(0),
            budget: budget.max(ENTRY_OVERHEAD),
            flights: AtomicU64::new(1),
            failed: Mutex::new(VecDeque::new()),
            evicting: Mutex::new(()),
        }
    }

    fn add(&self, n: usize) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(n))
            });
    }

    /// A fresh cached value (no single-flight bookkeeping).
    pub fn get(&self, key: &CacheKey, now: Instant) -> Option<(V, Instant)> {
        match self.map.get(key).as_deref() {
            Some(Slot::Ready {
                value,
                expires,
                used,
                ..
            }) if *expires > now => {
                used.store(true, Ordering::Relaxed);
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
        self.purge_failed(now);
        if self.bytes.load(Ordering::Relaxed) + ENTRY_OVERHEAD > self.budget {
            self.evict(now);
        }
        let until = now + lead_for;
        let flight = match self.map.entry(key.clone()) {
            Entry::Occupied(mut o) => {
                match o.get_mut() {
                    Slot::Ready { value, expires, .. } if *expires > now => {
                        return Begin::Hit(value.clone(), *expires);
                    }
                    Slot::Pending {
                        flight,
                        until,
                        waiters,
                    } if *until > now => {
                        *waiters = waiters.saturating_add(1);
                        return Begin::Wait(*flight);
                    }
                    _ => {}
                }
                let flight = self.flights.fetch_add(1, Ordering::Relaxed);
                let old = o.insert(Slot::Pending {
                    flight,
                    until,
                    waiters: 0,
                });
                self.sub(old.cost());
                flight
            }
            Entry::Vacant(v) => {
                let flight = self.flights.fetch_add(1, Ordering::Relaxed);
                v.insert(Slot::Pending {
                    flight,
                    until,
                    waiters: 0,
                });
                flight
            }
        };
        self.add(ENTRY_OVERHEAD);
        Begin::Lead(flight)
    }

    /// A waiter's look at flight `flight`.
    pub fn poll(&self, key: &CacheKey, flight: u64, now: Instant) -> Polled<V, E> {
        let failed = match self.map.get(key).as_deref() {
            Some(Slot::Ready {
                value,
                expires,
                used,
                ..
            }) if *expires > now => {
                used.store(true, Ordering::Relaxed);
                return Polled::Hit(value.clone(), *expires);
            }
            Some(Slot::Pending {
                flight: f, until, ..
            }) if *f == flight && *until > now => return Polled::Pending,
            Some(Slot::Failed { flight: f, err, .. }) if *f == flight => err.clone(),
            _ => return Polled::Retry,
        };
        // The last waiter to read a failure removes it.
        let removed = self.map.remove_if_mut(key, |_, s| match s {
            Slot::Failed {
                flight: f, waiters, ..
            } if *f == flight => {
                *waiters = waiters.saturating_sub(1);
                *waiters == 0
            }
            _ => false,
        });
        if removed.is_some() {
            self.sub(ENTRY_OVERHEAD);
        }
        Polled::Failed(failed)
    }

    /// The leader stores a cacheable result.
    pub fn complete(&self, key: &CacheKey, _flight: u64, value: V, expires: Instant) {
        let cost = ENTRY_OVERHEAD + value.weight();
        let precious = value.precious();
        // The budget was made room for by `begin` (which took this flight).
        self.add(cost);
        let old = self.map.insert(
            key.clone(),
            Slot::Ready {
                value,
                expires,
                cost,
                precious,
                used: AtomicBool::new(false),
            },
        );
        if let Some(old) = old {
            self.sub(old.cost());
        }
    }

    /// The leader ends its flight with a result that is not cached: kept only for the
    /// flight's waiters, if it has any.
    pub fn fail(&self, key: &CacheKey, flight: u64, err: E, now: Instant) {
        let mut queued = false;
        let removed = self.map.remove_if_mut(key, |_, s| match s {
            Slot::Pending {
                flight: f, waiters, ..
            } if *f == flight => {
                let w = *waiters;
                if w == 0 {
                    return true;
                }
                *s = Slot::Failed {
                    flight,
                    err,
                    at: now,
                    waiters: w,
                };
                queued = true;
                false
            }
            _ => false,
        });
        if removed.is_some() {
            self.sub(ENTRY_OVERHEAD);
        }
        if queued && let Ok(mut q) = self.failed.lock() {
            q.push_back((key.clone(), flight, now));
        }
        self.purge_failed(now);
    }

    /// Drop failed slots whose grace has passed (waiters that never came back for them).
    fn purge_failed(&self, now: Instant) {
        let Ok(mut q) = self.failed.try_lock() else {
            return;
        };
        while let Some((_, _, at)) = q.front() {
            if now.saturating_duration_since(*at) < FAILED_GRACE {
                break;
            }
            if let Some((key, flight, _)) = q.pop_front() {
                let removed = self.map.remove_if(
                    &key,
                    |_, s| matches!(s, Slot::Failed { flight: f, .. } if *f == flight),
                );
                if removed.is_some() {
                    self.sub(ENTRY_OVERHEAD);
                }
            }
        }
    }

    /// The leader went away without an answer: let the next request lead.
    pub fn abandon(&self, key: &CacheKey, flight: u64) {
        let removed = self.map.remove_if(
            key,
            |_, s| matches!(s, Slot::Pending { flight: f, .. } if *f == flight),
        );
        if removed.is_some() {
            self.sub(ENTRY_OVERHEAD);
        }
    }

    /// Evict down to three quarters of the budget (order: see the module docs). Pending
    /// flights stay.
    fn evict(&self, now: Instant) {
        let Ok(_one) = self.evicting.try_lock() else {
            return;
        };
        let target = self.budget / 4 * 3;
        let freed = AtomicUsize::new(0);
        self.map.retain(|_, s| {
            let gone = match s {
                Slot::Ready { expires, .. } => *expires <= now,
                Slot::Pending { until, .. } => *until <= now,
                Slot::Failed { at, .. } => now.saturating_duration_since(*at) >= FAILED_GRACE,
            };
            if gone {
                freed.fetch_add(s.cost(), Ordering::Relaxed);
            }
            !gone
        });
        self.sub(freed.swap(0, Ordering::Relaxed));
        for (precious, was_used) in PASSES {
            if self.bytes.load(Ordering::Relaxed) <= target {
                return;
            }
            self.map.retain(|_, s| match s {
                Slot::Ready {
                    cost,
                    precious: p,
                    used,
                    ..
                } if *p == precious && used.load(Ordering::Relaxed) == was_used => {
                    if self.bytes.load(Ordering::Relaxed) <= target {
                        return true;
                    }
                    self.sub(*cost);
                    false
                }
                _ => true,
            });
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes the entries cost (what the budget bounds; approximate while others write).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const C: usize = ENTRY_OVERHEAD + 4;

    /// A value that may be precious.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct W(u32, bool);

    impl Weigh for W {
        fn weight(&self) -> usize {
            100
        }
        fn precious(&self) -> bool {
            self.1
        }
    }

    #[test]
    fn l1_expires_and_bounds() {
        let now = Instant::now();
        let mut l1 = L1::new(4 * C);
        for (i, t) in ["a", "b", "c", "d"].iter().enumerate() {
            l1.insert(CacheKey::new(1, t), i as u32, now + S, now);
        }
        assert_eq!(l1.bytes(), 4 * C);
        assert_eq!(l1.get(&CacheKey::new(1, "a"), now), Some(0));
        assert_eq!(
            l1.get(&CacheKey::new(1, "a").clone_with_scope(2), now),
            None,
            "scope is part of the key"
        );
        l1.insert(CacheKey::new(1, "e"), 4, now + S, now);
        assert_eq!(l1.bytes(), 3 * C, "evicted down to 3/4 of the budget");
        assert_eq!(l1.len(), 3);
        // "a" was read, the others were not: they went first.
        assert_eq!(l1.get(&CacheKey::new(1, "a"), now), Some(0));
        assert_eq!(l1.get(&CacheKey::new(1, "e"), now), Some(4));
        assert_eq!(l1.get(&CacheKey::new(1, "e"), now + S), None);
        assert_eq!(l1.len(), 2);
        assert_eq!(l1.bytes(), 2 * C);
    }

    impl CacheKey {
        fn clone_with_scope(&self, scope: u64) -> CacheKey {
            CacheKey {
                scope,
                digest: self.digest,
            }
        }
    }

    #[test]
    fn keys_are_fixed_size_digests() {
        let long = "x".repeat(1 << 20);
        let k = CacheKey::new(1, &long);
        assert_eq!(std::mem::size_of_val(&k), 40);
        assert_ne!(k, CacheKey::new(1, &long[1..]));
        assert_eq!(k, CacheKey::new(1, &long));
    }

    #[test]
    fn single_flight() {
        let now = Instant::now();
        let l2: L2<u32, &'static str> = L2::new(1 << 20);
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
        assert_eq!(l2.begin(&k, now + S, S), Begin::Wait(g));
        assert_eq!(l2.begin(&k, now + S, S), Begin::Wait(g));
        l2.fail(&k, g, "401", now + S);
        assert_eq!(l2.poll(&k, g, now + S), Polled::Failed("401"));
        assert_eq!(l2.len(), 1, "one waiter has not read it yet");
        assert_eq!(l2.poll(&k, g, now + S), Polled::Failed("401"));
        assert_eq!(l2.len(), 0, "the last waiter removed it");
        assert_eq!(l2.bytes(), 0);
        assert!(matches!(l2.begin(&k, now + S, S), Begin::Lead(_)));
    }

    #[test]
    fn failures_without_waiters_leave_nothing() {
        let now = Instant::now();
        let l2: L2<u32, ()> = L2::new(1 << 20);
        for i in 0..1000 {
            let k = CacheKey::new(1, &format!("bad-{i}"));
            let Begin::Lead(f) = l2.begin(&k, now, S) else {
                panic!()
            };
            l2.fail(&k, f, (), now);
        }
        assert_eq!((l2.len(), l2.bytes()), (0, 0));
        // A waiter that never comes back: the failure goes after the grace.
        let k = CacheKey::new(1, "gone");
        let Begin::Lead(f) = l2.begin(&k, now, S) else {
            panic!()
        };
        assert_eq!(l2.begin(&k, now, S), Begin::Wait(f));
        l2.fail(&k, f, (), now);
        assert_eq!(l2.len(), 1);
        let later = now + FAILED_GRACE;
        let k2 = CacheKey::new(1, "other");
        assert!(matches!(l2.begin(&k2, later, S), Begin::Lead(_)));
        assert_eq!(l2.poll(&k, f, later), Polled::Retry);
        assert_eq!(l2.len(), 1, "only the new flight");
    }

    #[test]
    fn abandoned_and_stale_flights_are_taken_over() {
        let now = Instant::now();
        let l2: L2<u32, ()> = L2::new(1 << 20);
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
    fn l2_is_bounded_by_bytes() {
        let now = Instant::now();
        let budget = 20 * C;
        let l2: L2<u32, ()> = L2::new(budget);
        for i in 0..2000 {
            let k = CacheKey::new(1, &i.to_string());
            if let Begin::Lead(f) = l2.begin(&k, now, S) {
                l2.complete(&k, f, i, now + S);
            }
            assert!(l2.bytes() <= budget + C, "bytes {}", l2.bytes());
        }
        assert!(l2.len() <= 21, "len {}", l2.len());
    }

    /// A flood of distinct, never re-read entries evicts itself, not the entries in use nor
    /// the precious ones.
    #[test]
    fn floods_do_not_wipe_good_entries() {
        let now = Instant::now();
        let cost = ENTRY_OVERHEAD + 100;
        let l2: L2<W, ()> = L2::new(50 * cost);
        let mut l1: L1<W> = L1::new(50 * cost);
        let good = CacheKey::new(1, "good");
        let used = CacheKey::new(1, "used-deny");
        for (k, v) in [(&good, W(1, true)), (&used, W(2, false))] {
            let Begin::Lead(f) = l2.begin(k, now, S) else {
                panic!()
            };
            l2.complete(k, f, v, now + S * 100);
            l1.insert(k.clone(), v, now + S * 100, now);
        }
        for i in 0..10_000 {
            let k = CacheKey::new(1, &format!("deny-{i}"));
            if let Begin::Lead(f) = l2.begin(&k, now, S) {
                l2.complete(&k, f, W(3, false), now + S * 100);
            }
            l1.insert(k, W(3, false), now + S * 100, now);
            // The "used" entry keeps being read.
            assert!(l2.get(&used, now).is_some(), "used entry evicted at {i}");
            assert!(
                l1.get(&used, now).is_some(),
                "used entry evicted from L1 at {i}"
            );
            assert!(l2.bytes() <= 51 * cost);
            assert!(l1.bytes() <= 50 * cost);
        }
        assert_eq!(l2.get(&good, now), Some((W(1, true), now + S * 100)));
        assert_eq!(l1.get(&good, now), Some(W(1, true)));
    }
}
