//! gas-registry: the receiving side of `gascli d push`: object storage for model ZIPs, the
//! metadata database (SQLite or PostgreSQL), the evaluation job queue with leases, and (next
//! layers) the HTTP API and leaderboard.
//!
//! It owns its own tables, its `migrations/` and the object-store layout (`staging/`,
//! `models/`). It must not implement package validation, scoring, signatures or the benchmark
//! itself: those belong to `gas-package`, `gas-score`, `gas-chain` and `gas-bench`.

pub mod api;
pub mod auth;
pub mod db;
pub mod error;
pub mod eval;
pub mod html;
pub mod store;
pub mod worker;

pub use db::{Backend, Db, JobOutcome, Lease, Model, NewMetric, NewModel, PendingUpload};
pub use error::{RegistryError, Result};
pub use store::{Digested, Store};
