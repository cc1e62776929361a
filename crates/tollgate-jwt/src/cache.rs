//! A bounded, per-worker cache of verified tokens.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Cache key: the first 128 bits of SHA-256(token) plus the authorizer generation.
///
/// The token is hashed whole, so two tokens that differ anywhere (header, claims,
/// signature) never share an entry; a new authorizer generation (config or JWKS reload)
/// makes every old entry unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey {
    digest: u128,
    generation: u64,
}

/// Builds the cache key of `token` (the raw token bytes, `Bearer ` already stripped).
pub fn cache_key(token: &[u8], generation: u64) -> CacheKey {
    let d = ring::digest::digest(&ring::digest::SHA256, token);
    let mut first = [0u8; 16];
    for (dst, src) in first.iter_mut().zip(d.as_ref()) {
        *dst = *src;
    }
    CacheKey {
        digest: u128::from_le_bytes(first),
        generation,
    }
}

/// The key is already a uniform hash: feed its bits to the table without SipHash.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 ^= v as u64;
    }
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

struct Entry<V> {
    value: V,
    expires_at: i64,
}

/// Bounded per-worker cache of verified tokens (no locks: one per worker thread).
///
/// * capacity is fixed; inserting a new key into a full cache evicts the oldest inserted
///   key (FIFO). FIFO keeps the hit path a single table lookup with no bookkeeping;
/// * each entry carries its own expiry (`expires_at`, epoch seconds: use
///   [`expiry`] = min(token `exp`, now + ttl)); an expired entry is never returned and
///   is dropped when looked up.
pub struct TokenCache<V> {
    map: HashMap<CacheKey, Entry<V>, BuildHasherDefault<PassThrough>>,
    order: VecDeque<CacheKey>,
    capacity: usize,
}

/// When a cached verification must end: `min(token_exp, now + ttl_secs)`.
pub fn expiry(token_exp: i64, now: i64, ttl_secs: u64) -> i64 {
    let ttl = i64::try_from(ttl_secs).unwrap_or(i64::MAX);
    token_exp.min(now.saturating_add(ttl))
}

impl<V: Clone> TokenCache<V> {
    /// A cache holding at most `capacity` entries (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            map: HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default()),
            order: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// The live entry for `key` at time `now`, if any.
    pub fn get(&mut self, key: &CacheKey, now: i64) -> Option<&V> {
        let expired = self.map.get(key)?.expires_at <= now;
        if expired {
            self.map.remove(key);
            return None;
        }
        self.map.get(key).map(|e| &e.value)
    }

    /// Stores `value` until `expires_at` (epoch seconds), evicting the oldest entry when full.
    pub fn insert(&mut self, key: CacheKey, value: V, expires_at: i64) {
        if self.capacity == 0 {
            return;
        }
        if let Some(e) = self.map.get_mut(&key) {
            *e = Entry { value, expires_at };
            return;
        }
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        self.map.insert(key, Entry { value, expires_at });
        self.order.push_back(key);
        // Keys dropped on expiry stay in `order` until popped; compact so it stays bounded.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
    }

    /// Number of stored entries (expired ones included until looked up or evicted).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache is empty.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_token_and_generation() {
        assert_eq!(cache_key(b"a.b.c", 1), cache_key(b"a.b.c", 1));
        assert_ne!(cache_key(b"a.b.c", 1), cache_key(b"a.b.d", 1));
        assert_ne!(cache_key(b"a.b.c", 1), cache_key(b"a.b.c", 2));
    }

    #[test]
    fn expiry_and_capacity() {
        let mut c: TokenCache<u32> = TokenCache::new(2);
        let (a, b, d) = (cache_key(b"a", 0), cache_key(b"b", 0), cache_key(b"d", 0));
        c.insert(a, 1, 100);
        assert_eq!(c.get(&a, 99), Some(&1));
        assert_eq!(c.get(&a, 100), None, "expires_at is exclusive");
        assert_eq!(c.len(), 0);
        c.insert(a, 1, 100);
        c.insert(b, 2, 100);
        c.insert(d, 3, 100);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&a, 0), None, "oldest evicted");
        assert_eq!(c.get(&b, 0), Some(&2));
        assert_eq!(c.get(&d, 0), Some(&3));
        // Updating an existing key does not evict.
        c.insert(b, 20, 100);
        assert_eq!(c.get(&b, 0), Some(&20));
        assert_eq!(c.get(&d, 0), Some(&3));
        assert_eq!(expiry(500, 100, 300), 400);
        assert_eq!(expiry(300, 100, 300), 300);
    }

    #[test]
    fn order_stays_bounded_under_churn() {
        let mut c: TokenCache<u64> = TokenCache::new(4);
        for i in 0..10_000u64 {
            let k = cache_key(&i.to_le_bytes(), 0);
            c.insert(k, i, 10);
            // expire it immediately so the map shrinks but `order` keeps the key
            assert_eq!(c.get(&k, 10), None);
            assert!(c.order.len() <= 8);
            assert!(c.len() <= 4);
        }
        let mut z: TokenCache<u8> = TokenCache::new(0);
        z.insert(cache_key(b"x", 0), 1, 10);
        assert!(z.is_empty());
    }
}
