//! A worker's own state (one per worker thread): its snapshot handle, request ids, metrics,
//! upstream pool, authorization caches and body budget. The request pipeline runs against it;
//! `worker.rs` creates it and runs the accept loops.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::client::Pool;
use crate::ids::RequestIds;
use crate::metrics::{RouteLabel, WorkerMetrics};
use crate::shared::Shared;
use crate::snapshot::Snapshot;

/// A worker's own state. Lives on its thread only (`!Send` parts inside).
pub(crate) struct Worker {
    pub id: usize,
    pub shared: Arc<Shared>,
    pub ids: RequestIds,
    /// Free read and output buffers, shared by the worker's connections.
    pub bufs: crate::bufpool::BufPool,
    /// Idle connections to wake at shutdown.
    pub idle: crate::idle::IdleWakers,
    pub metrics: Arc<WorkerMetrics>,
    pub pool: RefCell<Pool>,
    pub active: Cell<usize>,
    /// Bytes of request body held before authentication, all connections together (bounded
    /// by `gateway.limits.max_buffered_body_bytes_per_worker`; see `pipeline::prepare::BodyBudget`).
    pub body_held: Cell<u64>,
    pub unrouted_label: RouteLabel,
    /// The worker's own authorization caches.
    pub auth: crate::auth::WorkerCaches,
    /// An `Rc` around the shared `Arc`: taking the snapshot per request bumps a worker-local
    /// count instead of the shared atomic one (no cache-line traffic between cores).
    #[allow(clippy::redundant_allocation)]
    pub(crate) snap: RefCell<Rc<Arc<Snapshot>>>,
    pub(crate) snap_version: Cell<u64>,
}

impl Worker {
    /// The current snapshot. A config swap reaches the next request (keep-alive included);
    /// a request keeps the snapshot it started with.
    #[allow(clippy::redundant_allocation)]
    pub(crate) fn snapshot(&self) -> Rc<Arc<Snapshot>> {
        let v = self.shared.version.load(Ordering::Acquire);
        if v != self.snap_version.get() {
            let fresh = self.shared.current.load_full();
            *self.snap.borrow_mut() = Rc::new(fresh);
            self.snap_version.set(v);
        }
        self.snap.borrow().clone()
    }

    pub(crate) fn shutting_down(&self) -> bool {
        self.shared.shutdown.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
impl Worker {
    /// A worker's state over `shared`, outside any worker thread (unit tests).
    pub(crate) fn for_tests(shared: Arc<Shared>) -> Worker {
        let snap = shared.current.load_full();
        let gateway = &snap.compiled.config.gateway;
        Worker {
            id: 0,
            ids: RequestIds::new(),
            bufs: crate::bufpool::BufPool::new(),
            idle: crate::idle::IdleWakers::default(),
            metrics: shared.worker_metrics.first().cloned().unwrap_or_default(),
            pool: RefCell::new(Pool::new(4, std::time::Duration::from_secs(30))),
            active: Cell::new(0),
            body_held: Cell::new(0),
            unrouted_label: RouteLabel::new("-", "-"),
            auth: crate::auth::WorkerCaches::new(gateway.limits.authorizer_cache_l1_bytes),
            // The version of the snapshot held, not the counter read later: a swap between the
            // two reads would otherwise leave this worker on the old config until the next swap.
            snap_version: Cell::new(snap.version),
            snap: RefCell::new(Rc::new(snap)),
            shared,
        }
    }
}
