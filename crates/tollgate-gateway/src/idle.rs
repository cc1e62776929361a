//! Idle keep-alive connections: their idle timeout and shutdown, without a timer each. An idle
//! connection waits for readiness and registers its waker and deadline here; the worker's
//! sweeper (`worker.rs`, every [`SWEEP`]) wakes those past their deadline, and wakes them all
//! at shutdown.
//! A monoio timer entry is 768 bytes of the connection's task (cache-padded, 128-byte
//! aligned), and waking every idle connection a few times a second to look at the shutdown
//! flag cost a core at 100,000 connections; a slot here is 40 bytes and costs nothing while
//! the connection sleeps.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How often the sweeper looks for idle connections past their deadline: an idle timeout
/// fires up to this late.
pub(crate) const SWEEP: Duration = Duration::from_millis(500);

/// The wakers of a worker's idle connections, with their deadlines: a slot per waiting
/// connection, slots reused.
#[derive(Default)]
pub(crate) struct IdleWakers {
    slots: RefCell<Vec<Option<(Waker, Instant)>>>,
    free: RefCell<Vec<usize>>,
}

impl IdleWakers {
    /// Keep `waker` and `until` in the caller's slot (taking a slot on the first call).
    fn register(&self, slot: &mut Option<usize>, waker: &Waker, until: Instant) {
        let mut slots = self.slots.borrow_mut();
        if let Some(s) = slot.and_then(|i| slots.get_mut(i)) {
            if !s.as_ref().is_some_and(|(w, _)| w.will_wake(waker)) {
                *s = Some((waker.clone(), until));
            }
            return;
        }
        let i = match self.free.borrow_mut().pop() {
            Some(i) if i < slots.len() => i,
            _ => {
                slots.push(None);
                slots.len() - 1
            }
        };
        if let Some(s) = slots.get_mut(i) {
            *s = Some((waker.clone(), until));
        }
        *slot = Some(i);
    }

    fn unregister(&self, i: usize) {
        if let Some(s) = self.slots.borrow_mut().get_mut(i) {
            *s = None;
            self.free.borrow_mut().push(i);
        }
    }

    /// Wake the connections whose deadline is past `now`.
    pub(crate) fn wake_expired(&self, now: Instant) {
        // A monoio wake only queues the task: nothing runs (or registers) while this borrows.
        for s in self.slots.borrow_mut().iter_mut() {
            if s.as_ref().is_some_and(|(_, until)| *until <= now)
                && let Some((w, _)) = s.take()
            {
                w.wake();
            }
        }
    }

    /// Wake every registered connection (the worker is shutting down).
    pub(crate) fn wake_all(&self) {
        for (w, _) in self.slots.borrow_mut().iter_mut().filter_map(Option::take) {
            w.wake();
        }
    }

    #[cfg(test)]
    fn registered(&self) -> usize {
        self.slots.borrow().iter().filter(|s| s.is_some()).count()
    }
}

/// Ready once the deadline has passed (woken by the sweeper) or the worker is shutting down.
pub(crate) struct IdleEnd<'a> {
    idle: &'a IdleWakers,
    shutdown: &'a AtomicBool,
    until: Instant,
    slot: Option<usize>,
}

impl<'a> IdleEnd<'a> {
    /// Registered with `idle`; `shutdown` is the process's shutdown flag.
    pub(crate) fn new(idle: &'a IdleWakers, shutdown: &'a AtomicBool, until: Instant) -> Self {
        Self {
            idle,
            shutdown,
            until,
            slot: None,
        }
    }
}

impl Future for IdleEnd<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.shutdown.load(Ordering::Relaxed) || Instant::now() >= this.until {
            return Poll::Ready(());
        }
        this.idle.register(&mut this.slot, cx.waker(), this.until);
        Poll::Pending
    }
}

impl Drop for IdleEnd<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            self.idle.unregister(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn slots_are_reused_and_all_are_woken() {
        let idle = IdleWakers::default();
        let n = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(n.clone());
        let (mut a, mut b, mut c) = (None, None, None);
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(60);
        idle.register(&mut a, &waker, t0);
        idle.register(&mut b, &waker, later);
        idle.register(&mut a, &waker, t0); // again: same slot
        assert_eq!((a, b), (Some(0), Some(1)));
        idle.unregister(0);
        idle.register(&mut c, &waker, t0);
        assert_eq!(c, Some(0), "the freed slot is reused");
        assert_eq!(idle.registered(), 2);
        // Only the one past its deadline is woken by a sweep.
        idle.wake_expired(t0 + Duration::from_secs(1));
        assert_eq!(n.0.load(Ordering::Relaxed), 1);
        assert_eq!(idle.registered(), 1);
        idle.wake_all();
        assert_eq!(n.0.load(Ordering::Relaxed), 2);
        assert_eq!(idle.registered(), 0);
    }
}
