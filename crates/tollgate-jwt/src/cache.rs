//! A bounded, per-worker cache of verified tokens, keyed by the whole token.
//!
//! Lookup cost matters more than anything else here (every authorized request makes one), so
//! the key is not a cryptographic digest: a fast 64-bit hash ([`token_hash`]) picks the slot
//! and the entry keeps the token's bytes, which are compared exactly. A hash collision can
//! therefore only cause a miss (the two tokens share one slot), never hand one token's
//! verification to another. Hash flooding is not a concern either: only tokens whose
//! signature verified are ever inserted.

use std::hash::{BuildHasherDefault, Hasher};

use tollgate_cache::BoundedCache;

/// Tokens longer than this are verified every time and never cached (bounds memory: an entry
/// holds the token). Cognito tokens are 1-2 KiB; large custom claims rarely exceed 4 KiB.
pub const MAX_CACHED_TOKEN_BYTES: usize = 8 * 1024;

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

/// 64x64 -> 128-bit multiply, folded (the mixing step of wyhash-style hashes).
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a).wrapping_mul(u128::from(b));
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
fn le64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    for (d, s) in w.iter_mut().zip(b) {
        *d = *s;
    }
    u64::from_le_bytes(w)
}

#[inline(always)]
fn word(b: &[u8]) -> u64 {
    b.first_chunk::<8>().map_or(0, |a| u64::from_le_bytes(*a))
}

/// The slot hash of `token` under authorizer `generation`: a fast non-cryptographic 64-bit
/// hash (folded 64x64->128-bit multiplies; four independent lanes over 64-byte blocks so
/// the multiplies overlap, ~40-80 ns for a Cognito-sized token). Not a MAC: entries are
/// confirmed by an exact comparison of the token bytes.
pub fn token_hash(token: &[u8], generation: u64) -> u64 {
    let seed = fold(generation ^ P0, (token.len() as u64) ^ P1);
    let mut lanes = [seed, seed ^ P0, seed ^ P1, seed ^ P2];
    let mut blocks = token.chunks_exact(64);
    for block in &mut blocks {
        for (lane, c) in lanes.iter_mut().zip(block.chunks_exact(16)) {
            let (a, b) = c.split_at(8);
            *lane = fold(word(a) ^ *lane ^ P1, word(b) ^ P2);
        }
    }
    let [l0, l1, l2, l3] = lanes;
    let mut h = fold(l0 ^ P0, l1 ^ P1) ^ fold(l2 ^ P2, l3 ^ P0);
    let mut chunks = blocks.remainder().chunks_exact(16);
    for c in &mut chunks {
        let (a, b) = c.split_at(8);
        h = fold(word(a) ^ h ^ P1, word(b) ^ P2);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let (a, b) = rest.split_at(rest.len().min(8));
        h = fold(le64(a) ^ h ^ P2, le64(b) ^ P0);
    }
    fold(h ^ P0, h ^ P1)
}

/// The key is already a uniform hash: the table uses it as is.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A `BuildHasher` for maps keyed by [`token_hash`] values (e.g. a shared `DashMap`).
pub type PassThroughBuild = BuildHasherDefault<PassThrough>;

struct Entry<V> {
    token: Box<[u8]>,
    generation: u64,
    value: V,
}

/// Bounded per-worker cache of verified tokens (no locks: one per worker thread).
///
/// * the key is the whole token plus the authorizer `generation` (a fingerprint of
///   everything that decides the answer: issuers, client ids, regex, key set version...),
///   found by [`token_hash`] and confirmed by an exact byte comparison;
/// * capacity is fixed (a [`tollgate_cache::BoundedCache`]); inserting a new token into a
///   full cache evicts by CLOCK: the oldest entry not looked up since it was stored (the hit
///   path stays one table probe, one flag store and one `memcmp`); tokens over
///   `max_token_bytes` are not cached, so memory is bounded by `capacity x max_token_bytes`
///   plus the values;
/// * each entry carries its own expiry (`expires_at`, epoch seconds: use [`expiry`] =
///   min(token `exp`, now + ttl)); an expired entry is never returned and is dropped when
///   looked up.
pub struct TokenCache<V> {
    cache: BoundedCache<u64, Entry<V>, i64, PassThroughBuild>,
    max_token_bytes: usize,
}

/// When a cached verification must end: `min(token_exp, now + ttl_secs)`.
pub fn expiry(token_exp: i64, now: i64, ttl_secs: u64) -> i64 {
    let ttl = i64::try_from(ttl_secs).unwrap_or(i64::MAX);
    token_exp.min(now.saturating_add(ttl))
}

impl<V> TokenCache<V> {
    /// A cache holding at most `capacity` entries (0 disables caching) of tokens up to
    /// [`MAX_CACHED_TOKEN_BYTES`].
    pub fn new(capacity: usize) -> Self {
        Self::with_limits(capacity, MAX_CACHED_TOKEN_BYTES)
    }

    /// A cache holding at most `capacity` entries of tokens up to `max_token_bytes`.
    pub fn with_limits(capacity: usize, max_token_bytes: usize) -> Self {
        TokenCache {
            cache: BoundedCache::with_hasher(capacity, PassThroughBuild::default()),
            max_token_bytes,
        }
    }

    /// The live entry for `token` under `generation` at time `now`, if any.
    pub fn get(&mut self, token: &[u8], generation: u64, now: i64) -> Option<&V> {
        self.get_hashed(token_hash(token, generation), token, generation, now)
    }

    /// [`TokenCache::get`] with `hash` = [`token_hash`]`(token, generation)` already computed
    /// (an L1 miss followed by an L2 lookup hashes once).
    pub fn get_hashed(&mut self, hash: u64, token: &[u8], generation: u64, now: i64) -> Option<&V> {
        let e = self.cache.get(&hash, now)?;
        // Another token (or an old generation) in this slot: a miss.
        (e.generation == generation && *e.token == *token).then_some(&e.value)
    }

    /// Stores `value` for `token` until `expires_at` (epoch seconds), evicting when full.
    /// Returns false when not stored (caching disabled, token too large).
    pub fn insert(&mut self, token: &[u8], generation: u64, value: V, expires_at: i64) -> bool {
        self.insert_hashed(
            token_hash(token, generation),
            token,
            generation,
            value,
            expires_at,
        )
    }

    /// [`TokenCache::insert`] with the hash already computed. A colliding token takes the
    /// slot over.
    pub fn insert_hashed(
        &mut self,
        hash: u64,
        token: &[u8],
        generation: u64,
        value: V,
        expires_at: i64,
    ) -> bool {
        if token.len() > self.max_token_bytes {
            return false;
        }
        let entry = Entry {
            token: token.into(),
            generation,
            value,
        };
        self.cache.insert(hash, entry, expires_at)
    }

    /// Number of stored entries (expired ones included until looked up or evicted).
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The fixed capacity.
    pub fn capacity(&self) -> usize {
        self.cache.capacity()
    }

    /// The largest token stored.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_differ_by_token_and_generation() {
        assert_eq!(token_hash(b"a.b.c", 1), token_hash(b"a.b.c", 1));
        assert_ne!(token_hash(b"a.b.c", 1), token_hash(b"a.b.d", 1));
        assert_ne!(token_hash(b"a.b.c", 1), token_hash(b"a.b.c", 2));
        // length is mixed in: a trailing zero byte changes the hash
        assert_ne!(token_hash(b"abc", 0), token_hash(b"abc\0", 0));
        assert_ne!(token_hash(b"", 0), token_hash(b"\0", 0));
        // every byte position matters, across the 16-byte blocks and the tail
        let base = vec![b'a'; 200];
        let h0 = token_hash(&base, 0);
        let mut seen = std::collections::HashSet::new();
        for i in 0..base.len() {
            let mut t = base.clone();
            t[i] = b'b';
            let h = token_hash(&t, 0);
            assert_ne!(h, h0, "byte {i}");
            assert!(seen.insert(h), "byte {i} collides");
        }
        // no collisions over many similar tokens (all 64 bits used)
        let mut all = std::collections::HashSet::new();
        for i in 0..100_000u32 {
            assert!(all.insert(token_hash(format!("eyJ.{i}.sig").as_bytes(), 3)));
        }
    }

    #[test]
    fn expiry_and_capacity() {
        let mut c: TokenCache<u32> = TokenCache::new(2);
        c.insert(b"a", 0, 1, 100);
        assert_eq!(c.get(b"a", 0, 99), Some(&1));
        assert_eq!(c.get(b"a", 1, 99), None, "other generation");
        assert_eq!(c.get(b"a", 0, 100), None, "expires_at is exclusive");
        assert_eq!(c.len(), 0);
        c.insert(b"a", 0, 1, 100);
        c.insert(b"b", 0, 2, 100);
        c.insert(b"d", 0, 3, 100);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(b"a", 0, 0), None, "oldest evicted");
        assert_eq!(c.get(b"b", 0, 0), Some(&2));
        assert_eq!(c.get(b"d", 0, 0), Some(&3));
        // Updating an existing key does not evict.
        c.insert(b"b", 0, 20, 100);
        assert_eq!(c.get(b"b", 0, 0), Some(&20));
        assert_eq!(c.get(b"d", 0, 0), Some(&3));
        assert_eq!(expiry(500, 100, 300), 400);
        assert_eq!(expiry(300, 100, 300), 300);
    }

    #[test]
    fn collisions_only_miss() {
        let mut c: TokenCache<&str> = TokenCache::new(4);
        // Force two tokens into one slot.
        assert!(c.insert_hashed(7, b"token-one", 0, "one", 100));
        assert_eq!(c.get_hashed(7, b"token-two", 0, 0), None);
        assert_eq!(c.get_hashed(7, b"token-one", 0, 0), Some(&"one"));
        // A prefix or extension of the stored token is another token.
        assert_eq!(c.get_hashed(7, b"token-on", 0, 0), None);
        assert_eq!(c.get_hashed(7, b"token-one!", 0, 0), None);
        assert!(c.insert_hashed(7, b"token-two", 0, "two", 100));
        assert_eq!(c.get_hashed(7, b"token-one", 0, 0), None);
        assert_eq!(c.get_hashed(7, b"token-two", 0, 0), Some(&"two"));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn token_size_bound() {
        let mut c: TokenCache<u8> = TokenCache::with_limits(4, 10);
        assert!(c.insert(&[b'x'; 10], 0, 1, 100));
        assert!(!c.insert(&[b'x'; 11], 0, 1, 100));
        assert_eq!(c.get(&[b'x'; 11], 0, 0), None);
        assert_eq!(c.len(), 1);
        assert_eq!(
            TokenCache::<u8>::new(1).max_token_bytes(),
            MAX_CACHED_TOKEN_BYTES
        );
    }

    #[test]
    fn order_stays_bounded_under_churn() {
        let mut c: TokenCache<u64> = TokenCache::new(4);
        for i in 0..10_000u64 {
            let t = i.to_le_bytes();
            c.insert(&t, 0, i, 10);
            // expire it immediately so the map shrinks but `order` keeps the key
            assert_eq!(c.get(&t, 0, 10), None);
            assert!(c.len() <= 4);
        }
        let mut z: TokenCache<u8> = TokenCache::new(0);
        assert!(!z.insert(b"x", 0, 1, 10));
        assert!(z.is_empty());
    }
}
