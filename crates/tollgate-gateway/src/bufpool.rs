//! A worker's free lists of connection buffers. A keep-alive connection that goes idle gives
//! its read and output buffers back here and takes them again when its next request arrives,
//! so an idle connection holds no buffer, and buffers are reused instead of being allocated
//! per connection (and freed into holes between the long-lived connection tasks, where the
//! allocator keeps them resident).

use std::cell::RefCell;

/// Buffers kept per list: enough for the connections that are active at once on a worker;
/// beyond that a buffer given back is freed.
const KEEP: usize = 256;

/// One free list of buffers of (at least) one size.
pub(crate) struct BufList {
    free: RefCell<Vec<Vec<u8>>>,
    /// Capacity of a new buffer; a buffer given back with more than four times this is freed
    /// (a large body grew it).
    size: usize,
}

impl BufList {
    pub(crate) fn new(size: usize) -> Self {
        Self {
            free: RefCell::new(Vec::with_capacity(KEEP)),
            size,
        }
    }

    /// An empty buffer with at least this list's size of capacity.
    pub(crate) fn take(&self) -> Vec<u8> {
        match self.free.borrow_mut().pop() {
            Some(b) => b,
            None => Vec::with_capacity(self.size),
        }
    }

    /// Give a buffer back (its contents are dropped).
    pub(crate) fn put(&self, mut buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap < self.size || cap > self.size.saturating_mul(4) {
            return;
        }
        let mut free = self.free.borrow_mut();
        if free.len() < KEEP {
            buf.clear();
            free.push(buf);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.free.borrow().len()
    }
}

/// A worker's buffer lists: request reads and response output.
pub(crate) struct BufPool {
    pub read: BufList,
    pub out: BufList,
}

/// Capacity of a new output buffer (a gateway-made answer fits).
pub(crate) const OUT_SIZE: usize = 1024;

impl BufPool {
    pub(crate) fn new() -> Self {
        Self {
            read: BufList::new(crate::io::READ_CHUNK),
            out: BufList::new(OUT_SIZE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_the_list_is_bounded() {
        let l = BufList::new(4096);
        let mut a = l.take();
        assert!(a.capacity() >= 4096);
        a.extend_from_slice(b"leftover");
        let ptr = a.as_ptr();
        l.put(a);
        let b = l.take();
        assert_eq!(b.as_ptr(), ptr, "the same buffer again");
        assert!(b.is_empty(), "given back empty");
        // Too small or grown large: freed, not kept.
        l.put(Vec::new());
        l.put(Vec::with_capacity(1 << 20));
        assert_eq!(l.len(), 0);
        for _ in 0..KEEP + 10 {
            l.put(Vec::with_capacity(4096));
        }
        assert_eq!(l.len(), KEEP);
    }
}
