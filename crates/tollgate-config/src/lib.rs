//! tollgate-config (work in progress).
