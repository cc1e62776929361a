//! tollgate-jwt (work in progress).
