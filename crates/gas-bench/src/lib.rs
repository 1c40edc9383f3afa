//! The benchmark engine behind `gascli d bench`, `gascli d preprocess` and the registry's
//! evaluator: the mapping from a model's config to preprocessing options ([`media_options`]),
//! the sandboxed PyTorch worker and its protocol, the pipelined run ([`runner`]), the typed
//! results ([`results`]) and the HTML report ([`report`]).
//!
//! Owns: orchestration and I/O of a run, and the results schema (`RESULTS.md` is checked
//! against [`results::BenchResults`] by a test). Must not touch: validation rules
//! (gas-package), finding, downloading and sampling datasets (gas-datasets), preprocessing
//! maths (gas-media) or scoring formulas (gas-score): it calls them, so the numbers are the
//! same everywhere.

pub mod aug_cache;
pub mod media_options;
pub mod preprocess;
pub mod report;
pub mod results;
pub mod runner;
pub mod runtime;
pub mod sandbox;
pub mod worker;
