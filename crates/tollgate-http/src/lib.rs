//! tollgate-http (work in progress).
