//! Request ids: `x-amzn-RequestId` values in UUID form, cheap to make on a worker.

use std::cell::Cell;

/// A per-worker generator of UUID-v4-shaped request ids (splitmix64 over a random seed).
pub(crate) struct RequestIds {
    state: Cell<u64>,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        let mut seed = [0u8; 8];
        let rng = ring::rand::SystemRandom::new();
        // A failure of the system RNG leaves a fixed seed: ids stay unique per worker
        // through the counter, they are just predictable. They are not secrets.
        let _ = ring::rand::SecureRandom::fill(&rng, &mut seed);
        Self {
            state: Cell::new(u64::from_le_bytes(seed)),
        }
    }

    fn next_u64(&self) -> u64 {
        let s = self.state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A new id, 36 characters `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
    pub(crate) fn next(&self) -> RequestId {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let mut bytes = [0u8; 16];
        for (i, b) in hi
            .to_be_bytes()
            .iter()
            .chain(lo.to_be_bytes().iter())
            .enumerate()
        {
            if let Some(slot) = bytes.get_mut(i) {
                *slot = *b;
            }
        }
        if let Some(b) = bytes.get_mut(6) {
            *b = (*b & 0x0f) | 0x40;
        }
        if let Some(b) = bytes.get_mut(8) {
            *b = (*b & 0x3f) | 0x80;
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 36];
        let mut o = 0usize;
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                if let Some(slot) = out.get_mut(o) {
                    *slot = b'-';
                }
                o += 1;
            }
            for nib in [b >> 4, b & 0x0f] {
                if let (Some(slot), Some(h)) = (out.get_mut(o), HEX.get(usize::from(nib))) {
                    *slot = *h;
                }
                o += 1;
            }
        }
        RequestId(out)
    }
}

/// A request id as ASCII bytes.
#[derive(Clone, Copy)]
pub(crate) struct RequestId(pub(crate) [u8; 36]);

impl RequestId {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("00000000-0000-4000-8000-000000000000")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_and_distinct() {
        let g = RequestIds::new();
        let a = g.next();
        let b = g.next();
        assert_ne!(a.0, b.0);
        let s = a.as_str();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert_eq!(s.matches('-').count(), 4);
    }
}
