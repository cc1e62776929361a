//! tollgate-gateway (work in progress).
