//! The one bounded-cache building block of tollgate: a fixed number of entries, each with its
//! own expiry, evicted by CLOCK (second chance) when full.
//!
//! - [`BoundedCache`]: single-threaded, no locks; keep one per worker (thread-per-core: the
//!   per-core sharding is one cache per worker). Its hit path is one table probe and one flag
//!   store.
//! - [`ShardedCache`]: shared across workers, `Sync`: the capacity is split over shards, each
//!   a [`BoundedCache`] behind its own mutex (held for one probe), picked by the key's hash.
//!
//! Guarantees (property-tested): the number of entries never exceeds the capacity, whatever
//! the sequence of operations; an entry whose expiry is at or before `now` is never returned;
//! a value returned is the last one inserted for its key. Expiry times are any `Ord + Copy`
//! type (Unix seconds as `i64`, `std::time::Instant`, ...); the clock is always an argument.
//!
//! Eviction is CLOCK: entries sit in insertion order; a hit sets the entry's `referenced`
//! flag; to make room the oldest entry is evicted unless it was referenced since it was
//! inserted or last passed over, in which case it is moved to the back with its flag cleared
//! (an approximation of LRU that needs no list surgery on hits). When the caller gives `now`,
//! expired entries met on the way are evicted whatever their flag.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};

struct Slot<V, T> {
    value: V,
    /// `None`: never expires.
    expires: Option<T>,
    referenced: bool,
    /// Which insertion this slot is, to tell its entry in `order` from stale ones.
    seq: u64,
}

impl<V, T: Ord + Copy> Slot<V, T> {
    fn expired(&self, now: T) -> bool {
        self.expires.is_some_and(|e| e <= now)
    }
}

/// A fixed-capacity, expiring, single-threaded cache (see the crate documentation).
pub struct BoundedCache<K, V, T = i64, S = RandomState> {
    map: HashMap<K, Slot<V, T>, S>,
    /// Keys in insertion order with their slot's `seq`; entries whose slot was removed or
    /// replaced are stale and skipped. Compacted to stay within twice the capacity.
    order: VecDeque<(K, u64)>,
    capacity: usize,
    next_seq: u64,
}

impl<K: Hash + Eq + Clone, V, T: Ord + Copy> BoundedCache<K, V, T, RandomState> {
    /// A cache of at most `capacity` entries (0: nothing is ever stored).
    pub fn new(capacity: usize) -> Self {
        Self::with_hasher(capacity, RandomState::new())
    }
}

impl<K: Hash + Eq + Clone, V, T: Ord + Copy, S: BuildHasher> BoundedCache<K, V, T, S> {
    /// [`BoundedCache::new`] with a given hasher (e.g. a pass-through one for keys that are
    /// already uniform hashes).
    pub fn with_hasher(capacity: usize, hasher: S) -> Self {
        BoundedCache {
            map: HashMap::with_capacity_and_hasher(capacity.min(4096), hasher),
            order: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            next_seq: 0,
        }
    }

    /// The live value for `key` at `now`, marked as used. An expired entry is removed and
    /// `None` returned.
    pub fn get(&mut self, key: &K, now: T) -> Option<&V> {
        self.get_with_expiry(key, now).map(|(v, _)| v)
    }

    /// Like [`BoundedCache::get`], with the entry's expiry (`None`: never expires).
    pub fn get_with_expiry(&mut self, key: &K, now: T) -> Option<(&V, Option<T>)> {
        // One probe through the entry API (keys are small: hashes, digests, short names).
        match self.map.entry(key.clone()) {
            Entry::Vacant(_) => None,
            Entry::Occupied(o) if o.get().expired(now) => {
                o.remove();
                None
            }
            Entry::Occupied(o) => {
                let slot = o.into_mut();
                slot.referenced = true;
                Some((&slot.value, slot.expires))
            }
        }
    }

    /// Stores `value` under `key` until `expires` (exclusive), evicting by CLOCK when full.
    /// Returns false when nothing was stored (capacity 0).
    pub fn insert(&mut self, key: K, value: V, expires: T) -> bool {
        self.store(key, value, Some(expires), None)
    }

    /// Like [`BoundedCache::insert`], preferring to evict entries already expired at `now`;
    /// a value already expired at `now` is not stored (returns false).
    pub fn insert_at(&mut self, key: K, value: V, expires: T, now: T) -> bool {
        if expires <= now {
            return false;
        }
        self.store(key, value, Some(expires), Some(now))
    }

    /// Stores `value` under `key` with no expiry (evicted only to make room).
    pub fn insert_unexpiring(&mut self, key: K, value: V) -> bool {
        self.store(key, value, None, None)
    }

    fn store(&mut self, key: K, value: V, expires: Option<T>, now: Option<T>) -> bool {
        if self.capacity == 0 {
            return false;
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let slot = Slot {
            value,
            expires,
            referenced: false,
            seq,
        };
        if let Some(existing) = self.map.get_mut(&key) {
            // Replaced in place: keeps its place in the order (and its `seq`).
            let keep = existing.seq;
            *existing = Slot { seq: keep, ..slot };
            return true;
        }
        while self.map.len() >= self.capacity {
            if !self.evict_one(now) {
                break;
            }
        }
        self.order.push_back((key.clone(), seq));
        self.map.insert(key, slot);
        if self.order.len() > self.capacity.saturating_mul(2).max(16) {
            let map = &self.map;
            self.order
                .retain(|(k, s)| map.get(k).is_some_and(|slot| slot.seq == *s));
        }
        true
    }

    /// Evicts one entry by CLOCK. False when there was nothing to evict.
    fn evict_one(&mut self, now: Option<T>) -> bool {
        // Each live entry is passed over at most once (its flag is cleared), so this ends
        // within 2 x len + stale steps.
        while let Some((key, seq)) = self.order.pop_front() {
            let Some(slot) = self.map.get_mut(&key) else {
                continue; // stale: removed since
            };
            if slot.seq != seq {
                continue; // stale: removed and inserted again since
            }
            let expired = now.is_some_and(|n| slot.expired(n));
            if slot.referenced && !expired {
                slot.referenced = false;
                self.order.push_back((key, seq));
                continue;
            }
            self.map.remove(&key);
            return true;
        }
        false
    }

    /// Removes `key`; returns its value if it was present (expired or not).
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key).map(|s| s.value)
    }

    /// Drops every entry expired at `now`.
    pub fn purge_expired(&mut self, now: T) {
        self.map.retain(|_, s| !s.expired(now));
    }

    /// Number of stored entries (expired ones included until looked up, purged or evicted).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The fixed capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

type Shard<K, V, T, S> = Mutex<BoundedCache<K, V, T, S>>;

/// A fixed-capacity, expiring cache shared across threads: [`BoundedCache`] shards behind
/// mutexes, chosen by the high bits of the key's hash (so a pass-through hasher still spreads
/// keys over the shards' own tables evenly). The total capacity is at most the one given.
pub struct ShardedCache<K, V, T = i64, S = RandomState> {
    shards: Box<[Shard<K, V, T, S>]>,
    hasher: S,
}

impl<K: Hash + Eq + Clone, V, T: Ord + Copy, S: BuildHasher + Clone> ShardedCache<K, V, T, S> {
    /// At most `capacity` entries over `shards` shards (fewer shards when the capacity is
    /// small, at least one).
    pub fn with_hasher(capacity: usize, shards: usize, hasher: S) -> Self {
        let n = shards.min(capacity).max(1);
        let per = capacity / n;
        ShardedCache {
            shards: (0..n)
                .map(|_| Mutex::new(BoundedCache::with_hasher(per, hasher.clone())))
                .collect(),
            hasher,
        }
    }

    /// The shard of `key`, locked (`None` is unreachable: there is always one shard).
    fn shard(&self, key: &K) -> Option<MutexGuard<'_, BoundedCache<K, V, T, S>>> {
        let h = self.hasher.hash_one(key);
        let n = u64::try_from(self.shards.len()).ok()?.max(1);
        let i = usize::try_from((h >> 40) % n).ok()?;
        let m = self.shards.get(i)?;
        Some(m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// `f` applied to the live value for `key` at `now` and its expiry, under the shard's
    /// lock (keep `f` short: clone an `Arc`, compare bytes).
    pub fn get_with<R>(&self, key: &K, now: T, f: impl FnOnce(&V, Option<T>) -> R) -> Option<R> {
        let mut shard = self.shard(key)?;
        shard.get_with_expiry(key, now).map(|(v, e)| f(v, e))
    }

    /// Stores `value` under `key` until `expires`, preferring to evict expired entries; see
    /// [`BoundedCache::insert_at`].
    pub fn insert_at(&self, key: K, value: V, expires: T, now: T) -> bool {
        self.shard(&key)
            .is_some_and(|mut shard| shard.insert_at(key, value, expires, now))
    }

    /// Removes `key`.
    pub fn remove(&self, key: &K) -> Option<V> {
        self.shard(key)?.remove(key)
    }

    /// Entries over all shards (each shard locked in turn: for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// Whether every shard is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The total capacity (the sum of the shards').
    pub fn capacity(&self) -> usize {
        self.shards
            .iter()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()).capacity())
            .sum()
    }
}

impl<K: Hash + Eq + Clone, V, T: Ord + Copy> ShardedCache<K, V, T, RandomState> {
    /// [`ShardedCache::with_hasher`] with the standard hasher.
    pub fn new(capacity: usize, shards: usize) -> Self {
        Self::with_hasher(capacity, shards, RandomState::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn expiry_is_exclusive_and_expired_entries_go() {
        let mut c: BoundedCache<&str, u32> = BoundedCache::new(2);
        assert!(c.insert("a", 1, 100));
        assert_eq!(c.get(&"a", 99), Some(&1));
        assert_eq!(c.get_with_expiry(&"a", 99), Some((&1, Some(100))));
        assert_eq!(c.get(&"a", 100), None);
        assert!(c.is_empty(), "removed when found expired");
        assert!(!c.insert_at("b", 2, 50, 50), "already expired: not stored");
        assert!(c.insert_unexpiring("c", 3));
        assert_eq!(c.get(&"c", i64::MAX), Some(&3));
        assert!(!BoundedCache::<u8, u8>::new(0).insert(1, 1, 10));
    }

    #[test]
    fn clock_keeps_what_is_used() {
        let mut c: BoundedCache<u32, u32> = BoundedCache::new(3);
        for k in 0..3 {
            c.insert(k, k, 100);
        }
        assert_eq!(c.get(&0, 0), Some(&0)); // 0 is used: it gets a second chance
        c.insert(3, 3, 100);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&1, 0), None, "oldest unused entry evicted");
        assert_eq!(c.get(&0, 0), Some(&0));
        // Replacing a value does not evict and keeps the entry's place.
        c.insert(2, 20, 100);
        assert_eq!((c.len(), c.get(&2, 0)), (3, Some(&20)));
    }

    #[test]
    fn insert_at_evicts_expired_entries_first() {
        let mut c: BoundedCache<u32, u32> = BoundedCache::new(3);
        c.insert(0, 0, 1000);
        c.insert(1, 1, 10);
        c.insert(2, 2, 1000);
        let _ = c.get(&0, 0);
        let _ = c.get(&1, 0);
        assert!(c.insert_at(3, 3, 1000, 20));
        assert_eq!(
            c.get(&1, 0),
            None,
            "the expired one went, though it was used"
        );
        assert_eq!(c.get(&0, 0), Some(&0));
        c.purge_expired(1000);
        assert!(c.is_empty());
    }

    #[test]
    fn order_stays_bounded_under_churn() {
        let mut c: BoundedCache<u64, u64> = BoundedCache::new(4);
        for i in 0..10_000u64 {
            c.insert(i, i, 10);
            assert_eq!(c.get(&i, 10), None);
            assert!(c.order.len() <= 16);
        }
    }

    #[test]
    fn sharded_is_bounded_and_shared() {
        let c: ShardedCache<u64, u64> = ShardedCache::new(64, 8);
        assert_eq!(c.capacity(), 64);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let c = &c;
                s.spawn(move || {
                    for i in 0..1000 {
                        c.insert_at(t * 1000 + i, i, 100, 0);
                        assert!(c.len() <= 64);
                    }
                });
            }
        });
        assert!(c.len() <= 64);
        c.insert_at(7, 70, 100, 0);
        assert_eq!(c.get_with(&7, 5, |v, e| (*v, e)), Some((70, Some(100))));
        assert_eq!(c.get_with(&7, 100, |v, _| *v), None);
        assert_eq!(ShardedCache::<u8, u8>::new(3, 8).capacity(), 3);
        assert!(ShardedCache::<u8, u8>::new(0, 8).is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u16, i64),
        InsertAt(u8, u16, i64),
        Forever(u8, u16),
        Get(u8),
        Remove(u8),
        Tick(i64),
        Purge,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..24, any::<u16>(), 0i64..40).prop_map(|(k, v, ttl)| Op::Insert(k, v, ttl)),
            (0u8..24, any::<u16>(), 0i64..40).prop_map(|(k, v, ttl)| Op::InsertAt(k, v, ttl)),
            (0u8..24, any::<u16>()).prop_map(|(k, v)| Op::Forever(k, v)),
            (0u8..24).prop_map(Op::Get),
            (0u8..24).prop_map(Op::Remove),
            (0i64..10).prop_map(Op::Tick),
            Just(Op::Purge),
        ]
    }

    proptest! {
        /// Against a model that remembers the last value and expiry written per key: the
        /// cache never holds more than its capacity, never returns an expired entry, and
        /// returns only the last value written (it may have forgotten it, never altered it).
        #[test]
        fn bounded_and_never_stale(capacity in 0usize..8, ops in proptest::collection::vec(op(), 0..300)) {
            let mut c: BoundedCache<u8, u16> = BoundedCache::new(capacity);
            let mut model: HashMap<u8, (u16, Option<i64>)> = HashMap::new();
            let mut now = 0i64;
            for op in ops {
                match op {
                    Op::Insert(k, v, ttl) => {
                        if c.insert(k, v, now + ttl) {
                            model.insert(k, (v, Some(now + ttl)));
                        }
                    }
                    Op::InsertAt(k, v, ttl) => {
                        if c.insert_at(k, v, now + ttl, now) {
                            model.insert(k, (v, Some(now + ttl)));
                        }
                    }
                    Op::Forever(k, v) => {
                        if c.insert_unexpiring(k, v) {
                            model.insert(k, (v, None));
                        }
                    }
                    Op::Get(k) => {
                        if let Some((v, e)) = c.get_with_expiry(&k, now) {
                            prop_assert!(e.is_none_or(|e| e > now), "expired entry returned");
                            prop_assert_eq!(model.get(&k), Some(&(*v, e)), "not the last write");
                        }
                    }
                    Op::Remove(k) => {
                        c.remove(&k);
                        model.remove(&k);
                    }
                    Op::Tick(d) => now += d,
                    Op::Purge => c.purge_expired(now),
                }
                prop_assert!(c.len() <= capacity);
                prop_assert!(c.order.len() <= capacity.saturating_mul(2).max(16) + 1);
            }
        }

        /// A just-inserted live entry is always found (eviction never removes the newcomer).
        #[test]
        fn newest_entry_is_kept(capacity in 1usize..8, keys in proptest::collection::vec(0u8..32, 1..100)) {
            let mut c: BoundedCache<u8, u8> = BoundedCache::new(capacity);
            for k in keys {
                c.insert_at(k, k, 10, 0);
                prop_assert_eq!(c.get(&k, 0), Some(&k));
                prop_assert!(c.len() <= capacity);
            }
        }

        #[test]
        fn sharded_never_exceeds_capacity(capacity in 0usize..40, shards in 1usize..9, keys in proptest::collection::vec((any::<u32>(), 0i64..20), 0..200)) {
            let c: ShardedCache<u32, u32> = ShardedCache::new(capacity, shards);
            let mut now = 0;
            for (k, ttl) in keys {
                now += 1;
                c.insert_at(k, k, now + ttl, now);
                prop_assert!(c.len() <= capacity);
                if let Some(e) = c.get_with(&k, now, |_, e| e) {
                    prop_assert!(e.is_some_and(|e| e > now));
                }
            }
        }
    }
}
