//! Per-worker cache of derived signing keys.

use ring::{digest, hmac};
use tollgate_cache::BoundedCache;

use crate::canonical::derive_signing_key;

/// Derived signing keys by (access key id, secret, date, region, service).
///
/// The map key is a SHA-256 over all five inputs (length-prefixed), so a changed secret can
/// never reuse a key derived from the old one, and no secret is stored. Bounded: a
/// [`tollgate_cache::BoundedCache`] of `capacity` entries evicted by CLOCK (an approximate
/// LRU: a key used since it was stored gets a second chance). Not `Sync` by design: keep one
/// per worker.
pub struct SigningKeyCache {
    keys: BoundedCache<[u8; 32], Entry>,
    hits: u64,
    misses: u64,
}

/// A derived key, and the same key set up for HMAC (its inner and outer pads already
/// hashed: what a verification would otherwise redo per request).
#[derive(Clone)]
struct Entry {
    raw: [u8; 32],
    hmac: hmac::Key,
}

impl std::fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("len", &self.keys.len())
            .field("hits", &self.hits)
            .field("misses", &self.misses)
            .finish_non_exhaustive()
    }
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl SigningKeyCache {
    /// A cache holding at most `capacity` keys (at least 2).
    pub fn new(capacity: usize) -> Self {
        Self {
            keys: BoundedCache::new(capacity.max(2)),
            hits: 0,
            misses: 0,
        }
    }

    /// The signing key for these inputs, derived at most once while it stays cached.
    pub fn signing_key(
        &mut self,
        access_key_id: &str,
        secret: &[u8],
        date: &str,
        region: &str,
        service: &str,
    ) -> [u8; 32] {
        self.entry(access_key_id, secret, date, region, service).raw
    }

    /// The signing key for these inputs as an HMAC-SHA256 key (a copy of the cached one),
    /// set up at most once while it stays cached.
    pub fn hmac_key(
        &mut self,
        access_key_id: &str,
        secret: &[u8],
        date: &str,
        region: &str,
        service: &str,
    ) -> hmac::Key {
        self.entry(access_key_id, secret, date, region, service)
            .hmac
    }

    fn entry(
        &mut self,
        access_key_id: &str,
        secret: &[u8],
        date: &str,
        region: &str,
        service: &str,
    ) -> Entry {
        let id = fingerprint(&[
            access_key_id.as_bytes(),
            secret,
            date.as_bytes(),
            region.as_bytes(),
            service.as_bytes(),
        ]);
        // Entries never expire (a key is a pure function of its inputs): the clock is unused.
        if let Some(e) = self.keys.get(&id, 0) {
            self.hits += 1;
            return e.clone();
        }
        self.misses += 1;
        let raw = derive_signing_key(secret, date, region, service);
        let e = Entry {
            raw,
            hmac: hmac::Key::new(hmac::HMAC_SHA256, &raw),
        };
        self.keys.insert_unexpiring(id, e.clone());
        e
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (hits, misses) since creation.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// Drops every cached key (e.g. after a configuration change).
    pub fn clear(&mut self) {
        self.keys.clear();
    }
}

fn fingerprint(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    // Length-prefixed (u32: the five inputs of one derivation fit in two SHA-256 blocks);
    // a part of 4 GiB or more cannot come from a header or a configuration.
    for p in parts {
        ctx.update(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_le_bytes());
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; 32];
    for (o, i) in out.iter_mut().zip(d.as_ref()) {
        *o = *i;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_and_distinguishes_secrets() {
        let mut c = SigningKeyCache::new(8);
        let a = c.signing_key("AK", b"s1", "20150830", "us-east-1", "execute-api");
        let b = c.signing_key("AK", b"s1", "20150830", "us-east-1", "execute-api");
        assert_eq!(a, b);
        assert_eq!(c.stats(), (1, 1));
        let changed = c.signing_key("AK", b"s2", "20150830", "us-east-1", "execute-api");
        assert_ne!(a, changed);
        assert_eq!(
            changed,
            derive_signing_key(b"s2", "20150830", "us-east-1", "execute-api")
        );
        assert_eq!(c.stats(), (1, 2));
    }

    #[test]
    fn bounded() {
        let mut c = SigningKeyCache::new(8);
        for i in 0..100 {
            c.signing_key(&format!("AK{i}"), b"s", "20150830", "r", "s");
            assert!(c.len() <= 8);
        }
        // A recent key is still there, an early one is gone.
        let (h, _) = c.stats();
        c.signing_key("AK99", b"s", "20150830", "r", "s");
        assert_eq!(c.stats().0, h + 1);
        c.signing_key("AK0", b"s", "20150830", "r", "s");
        assert_eq!(c.stats().0, h + 1);
    }
}
