//! The shared (L2) cache of verified tokens: one verification serves every core.
//!
//! Same key as the per-worker L1 ([`tollgate_jwt::TokenCache`]): the fast 64-bit
//! [`tollgate_jwt::token_hash`] of the token and the authorizer generation picks the slot,
//! and the entry's stored token bytes and generation are compared exactly. Bounded by entry
//! count (a [`tollgate_cache::ShardedCache`]: per-shard mutexes, CLOCK eviction preferring
//! expired entries), and tokens over [`tollgate_jwt::MAX_CACHED_TOKEN_BYTES`] are never stored.

use std::sync::Arc;

use tollgate_cache::ShardedCache;
use tollgate_jwt::PassThroughBuild;

/// Shards of the shared cache: enough that workers rarely meet on one lock (the L2 is only
/// consulted on an L1 miss).
const SHARDS: usize = 16;

struct Entry<V> {
    token: Box<[u8]>,
    generation: u64,
    value: Arc<V>,
}

pub(crate) struct SharedTokenCache<V> {
    cache: ShardedCache<u64, Entry<V>, i64, PassThroughBuild>,
}

impl<V> SharedTokenCache<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        SharedTokenCache {
            cache: ShardedCache::with_hasher(capacity, SHARDS, PassThroughBuild::default()),
        }
    }

    /// The live value for `token` and when it expires.
    pub(crate) fn get(
        &self,
        hash: u64,
        token: &[u8],
        generation: u64,
        now: i64,
    ) -> Option<(Arc<V>, i64)> {
        self.cache
            .get_with(&hash, now, |e, expires| {
                (e.generation == generation && *e.token == *token)
                    .then(|| (e.value.clone(), expires.unwrap_or(i64::MAX)))
            })
            .flatten()
    }

    pub(crate) fn insert(
        &self,
        hash: u64,
        token: &[u8],
        generation: u64,
        value: Arc<V>,
        expires_at: i64,
        now: i64,
    ) {
        if token.len() > tollgate_jwt::MAX_CACHED_TOKEN_BYTES {
            return;
        }
        let entry = Entry {
            token: token.into(),
            generation,
            value,
        };
        self.cache.insert_at(hash, entry, expires_at, now);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.cache.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_jwt::token_hash;

    #[test]
    fn exact_tokens_generations_and_bounds() {
        let c: SharedTokenCache<u32> = SharedTokenCache::new(8);
        let h = token_hash(b"a.b.c", 1);
        c.insert(h, b"a.b.c", 1, Arc::new(5), 100, 0);
        assert_eq!(
            c.get(h, b"a.b.c", 1, 99).map(|(v, e)| (*v, e)),
            Some((5, 100))
        );
        assert!(c.get(h, b"a.b.c", 1, 100).is_none(), "expired");
        assert!(c.get(h, b"a.b.d", 1, 0).is_none(), "same slot, other token");
        assert!(c.get(h, b"a.b.c", 2, 0).is_none(), "other generation");
        for i in 0..100u32 {
            let t = format!("t{i}");
            c.insert(
                token_hash(t.as_bytes(), 1),
                t.as_bytes(),
                1,
                Arc::new(i),
                if i % 2 == 0 { 10 } else { 1000 },
                50,
            );
            assert!(c.len() <= 8, "{}", c.len());
        }
        let t = "t99";
        assert_eq!(
            c.get(token_hash(t.as_bytes(), 1), t.as_bytes(), 1, 60)
                .map(|(v, _)| *v),
            Some(99)
        );
        let big = vec![b'x'; tollgate_jwt::MAX_CACHED_TOKEN_BYTES + 1];
        let before = c.len();
        c.insert(token_hash(&big, 1), &big, 1, Arc::new(0), 1000, 0);
        assert_eq!(c.len(), before);
    }
}
