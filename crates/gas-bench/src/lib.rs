//! The benchmark engine behind `gascli d bench` and the registry's evaluator: the sandboxed
//! PyTorch worker and its protocol, the pipelined run, results JSON / predictions CSV / HTML
//! report.
//!
//! Owns: orchestration and I/O of a run. Must not touch: validation rules (gas-package),
//! finding, downloading and sampling datasets (gas-datasets), preprocessing maths (gas-media) or
//! scoring formulas (gas-score): it calls them, so the numbers are the same everywhere.
//! Results schema: `RESULTS.md`.

pub mod report;
pub mod runner;
pub mod runtime;
pub mod sandbox;
pub mod worker;
