//! Criterion benches live in `benches/`; run `cargo bench -p tollgate-bench`.
