//! `tollgate-load`: a load generator for tollgate (or any HTTP/1.1 server on loopback, in
//! clear or over TLS: [`tls`]), plus the stub servers a benchmark needs.
//!
//! The generator drives keep-alive connections from one monoio runtime per thread, either
//! open loop at a fixed rate ([`Mode::Rate`], each connection paced by a
//! [`pacing::Schedule`], latency counted from the intended send time when the server made
//! the request late: coordinated-omission corrected) or closed loop at a concurrency
//! ([`Mode::Closed`]). Each request may carry a fresh SigV4 signature
//! ([`sigv4::SigV4Signer`], keys round-robin), one of N minted JWTs ([`jwt::JwtSigner`]),
//! or one of N TOKEN-authorizer tokens ([`request::Auth`]). Results are HdrHistogram
//! percentiles, throughput and errors by status and kind ([`Report`]).
//! [`server::serve`] runs the origin and the Lambda-style authorizer stubs.
//!
//! ```no_run
//! use std::time::Duration;
//! use tollgate_loadtest::{Auth, Mode, RequestFactory, RunOptions, parse_target, run};
//!
//! let target = parse_target("http://127.0.0.1:8080/prod/hello")?;
//! let factory = RequestFactory::new("GET", target, vec![], vec![], Auth::None);
//! let opts = RunOptions {
//!     mode: Mode::Rate(5_000.0),
//!     connections: 32,
//!     threads: 1,
//!     duration: Duration::from_secs(10),
//!     warmup: Duration::from_secs(2),
//!     timeout: Duration::from_secs(5),
//!     expect: vec![],
//!     progress: true,
//!     cpus: vec![],
//!     reuse: tollgate_loadtest::tls::Reuse::KeepAlive,
//!     tls: None,
//! };
//! let report = run(factory, &opts)?;
//! println!("{}", report.to_table());
//! # Ok::<(), tollgate_loadtest::LoadError>(())
//! ```

pub mod client;
pub mod error;
pub mod h1;
pub mod jwt;
pub mod pacing;
pub mod request;
pub mod server;
pub mod sigv4;
pub mod stats;
pub mod swap;
pub mod tls;

pub use client::{Mode, RunOptions, run};
pub use error::{H1Error, LoadError};
pub use request::{Auth, RequestFactory, Target, parse_target};
pub use stats::{LatencySummary, Report, SwapCounts};
