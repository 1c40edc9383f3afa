//! gas-registry: the receiving side of `gascli d push`, an operator's stand-in for the network's
//! upload service and miner API.
//!
//! Owns: the HTTP routes ([`api`]) with their shared state ([`state`]) and error answers
//! ([`error`]); the JSON views of models, runs and leaderboards ([`views`]) and the leaderboard
//! page ([`html`]); request authentication through `gas_chain`'s Epistula verifier ([`auth`]);
//! the metadata database, SQLite or PostgreSQL, with its tables and the one `migrations/` source
//! ([`db`]); object storage for model ZIPs and results, layout `staging/`, `models/`, `results/`
//! ([`store`]); the job queue's workers with leases ([`worker`]); the evaluation stages
//! ([`stage`]: the `Evaluator` trait and `validate`; [`eval`]: `exam` and `benchmark` through
//! `gas_bench`); what is published about a failure ([`redact`]); and housekeeping ([`sweep`]).
//!
//! Must not implement package validation, scoring, signatures or the benchmark itself: those
//! belong to `gas-package`, `gas-score`, `gas-chain` and `gas-bench`, which it calls.

pub mod api;
pub mod auth;
pub mod db;
pub mod error;
pub mod eval;
pub mod html;
pub mod redact;
pub mod stage;
pub mod state;
pub mod store;
pub mod sweep;
pub mod views;
pub mod worker;

pub use db::{Backend, Db, JobOutcome, Lease, Model, NewMetric, NewModel, PendingUpload};
pub use error::{ApiError, RegistryError, Result};
pub use store::{Digested, Store};
