//! The typed results of one benchmark run: what `results.json` holds, what the CLI table, the
//! HTML report and the registry read. `RESULTS.md` (next to this crate's `Cargo.toml`) documents
//! every field; a test (`tests/results_doc.rs`) fails when the two disagree.
//!
//! Versioning: [`SCHEMA_VERSION`]. Field names are stable within a version; additions do not
//! bump it, renames and removals do. Fields other work will fill are reserved as `Option`s that
//! are left out of the JSON while `None`:
//! - [`BenchResults::provenance`]: per-class provenance weights and weighted metrics (holdout,
//!   GAS-Station, public; issue 11);
//! - [`BenchResults::robustness`] and [`DatasetResult::robustness`]: the robustness pass (base,
//!   augmented and blended sn34, paired probability loss; issue 12);
//! - [`Timing::peak_rss_tree_mib`]: peak memory of the whole process tree (gascli + worker).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gas_score::{BinaryMetrics, Confusion, Label, MulticlassMetrics};
use serde::{Deserialize, Serialize};

use gas_datasets::Mode;

/// Version of the `results.json` schema. 2: typed results (timestamps in RFC 3339 with `Z`,
/// `errors.examples` always objects, reserved optional sections).
pub const SCHEMA_VERSION: u32 = 2;

/// Everything a finished run reports (written to `results.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResults {
    pub schema_version: u32,
    pub tool: Tool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Machine name.
    pub host: String,
    /// Torch device of the worker: `cpu` or `cuda`.
    pub device: String,
    pub model: ModelInfo,
    pub mode: Mode,
    pub seed: u64,
    pub batch_size: usize,
    pub sandbox: SandboxInfo,
    /// What the worker reported on load (torch version, threads, the `load_model` keyword
    /// arguments passed). Passed through as the worker sends it; nothing reads it back.
    pub worker: serde_json::Value,
    pub overall: Overall,
    /// One entry per dataset, sorted by name.
    pub per_dataset: Vec<DatasetResult>,
    pub timing: Timing,
    pub errors: ErrorSummary,
    /// Provenance weighting and per-class metrics, when the run was weighted or holds holdout /
    /// GAS-Station datasets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Reserved (issue 12): the robustness pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robustness: Option<Robustness>,
    /// gasbench's `--run-id`, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Datasets left out by `--skip-missing`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_datasets: Vec<SkippedDataset>,
}

/// The program that wrote the results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Default for Tool {
    /// This build of gascli.
    fn default() -> Self {
        Tool {
            name: "gascli".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The benchmarked package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    /// `image`, `video` or `audio`.
    pub modality: String,
    pub num_classes: u32,
    /// SHA-256 of the ZIP, or of the deterministic ZIP a directory packages to.
    pub sha256: Option<String>,
    /// The path given on the command line.
    pub path: String,
}

/// How the model was isolated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SandboxInfo {
    pub enabled: bool,
    /// The sandbox limits as `crate::sandbox::SandboxSpec` serializes them, without the
    /// run's temporary scratch directory.
    pub limits: serde_json::Value,
    pub batch_timeout_s: u64,
}

impl SandboxInfo {
    /// From the sandbox spec of a run: its limits, without host paths (the run's temporary
    /// scratch directory and the read-only view: results are published by the registry).
    pub fn new(enabled: bool, spec: &crate::sandbox::SandboxSpec, batch_timeout_s: u64) -> Self {
        let mut limits = serde_json::to_value(spec).unwrap_or(serde_json::Value::Null);
        if let Some(o) = limits.as_object_mut() {
            o.remove("scratch");
            o.remove("read_only");
        }
        SandboxInfo {
            enabled,
            limits,
            batch_timeout_s,
        }
    }
}

/// Binary-view metrics without the sample count (see [`Overall`] and [`DatasetResult`], which
/// carry `n` next to them). `mcc`, `mcc_norm`, `sn34_score` are `None` where MCC is undefined
/// (a dataset holding one class only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub weight_sum: f64,
    pub n_real: u64,
    pub n_synthetic: u64,
    pub accuracy: f64,
    pub mcc: Option<f64>,
    pub brier: f64,
    pub cross_entropy: f64,
    pub mcc_norm: Option<f64>,
    pub brier_norm: f64,
    pub sn34_score: Option<f64>,
    pub confusion: Confusion,
}

impl From<&BinaryMetrics> for Metrics {
    fn from(m: &BinaryMetrics) -> Self {
        Metrics {
            weight_sum: m.weight_sum,
            n_real: m.n_real,
            n_synthetic: m.n_synthetic,
            accuracy: m.accuracy,
            mcc: m.mcc,
            brier: m.brier,
            cross_entropy: m.cross_entropy,
            mcc_norm: m.mcc_norm,
            brier_norm: m.brier_norm,
            sn34_score: m.sn34_score,
            confusion: m.confusion,
        }
    }
}

/// The binary view over all scored samples, plus the multiclass view for ≥ 3 classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overall {
    /// Scored samples.
    pub n: u64,
    /// Samples that could not be scored (media or model errors).
    pub n_failed: u64,
    #[serde(flatten)]
    pub metrics: Metrics,
    /// The binary view's sn34 (equal to `sn34_score`).
    pub binary_sn34_score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiclass: Option<MulticlassMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiclass_sn34_score: Option<f64>,
}

impl Overall {
    /// From the scored metrics and the number of failed samples.
    pub fn new(m: &BinaryMetrics, multiclass: Option<MulticlassMetrics>, n_failed: u64) -> Self {
        Overall {
            n: m.n,
            n_failed,
            metrics: m.into(),
            binary_sn34_score: m.sn34_score,
            multiclass_sn34_score: multiclass.as_ref().map(|mc| mc.sn34_score),
            multiclass,
        }
    }
}

impl Default for Overall {
    /// Nothing scored.
    fn default() -> Self {
        Overall::new(&gas_score::binary_metrics(&[]), None, 0)
    }
}

/// One dataset's results. `metrics` is `None` (the fields are absent) when no sample of the
/// dataset was scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetResult {
    pub name: String,
    pub media_type: Label,
    pub n: u64,
    pub n_failed: u64,
    #[serde(flatten)]
    pub metrics: Option<Metrics>,
    /// Reserved (issue 12): this dataset's robustness figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robustness: Option<DatasetRobustness>,
}

/// Where the time went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Whole run, including validation and the worker's start.
    pub total_s: f64,
    pub preprocess_s: f64,
    pub inference_s: f64,
    pub preprocess_ms_per_sample: f64,
    pub inference_ms_per_sample: f64,
    /// Scored samples / total.
    pub samples_per_s: f64,
    pub worker_restarts: usize,
    /// Peak resident memory of the gascli process itself (Linux `VmHWM`), MiB; `None` where
    /// unknown. The worker is a separate process.
    pub peak_rss_mib: Option<f64>,
    /// Peak resident memory of the worker's process tree (sandbox launcher + worker, the sum
    /// of their `VmHWM`), MiB, sampled after every batch; `None` where unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_worker_mib: Option<f64>,
    /// Peak memory of the whole tree: `peak_rss_mib` + `peak_rss_worker_mib` (an upper bound:
    /// the two peaks need not coincide), MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_tree_mib: Option<f64>,
}

impl Timing {
    /// `(field name, value)` of every figure, in schema order (the report's timing table).
    pub fn rows(&self) -> Vec<(&'static str, Option<f64>)> {
        vec![
            ("total_s", Some(self.total_s)),
            ("preprocess_s", Some(self.preprocess_s)),
            ("inference_s", Some(self.inference_s)),
            (
                "preprocess_ms_per_sample",
                Some(self.preprocess_ms_per_sample),
            ),
            (
                "inference_ms_per_sample",
                Some(self.inference_ms_per_sample),
            ),
            ("samples_per_s", Some(self.samples_per_s)),
            ("worker_restarts", Some(self.worker_restarts as f64)),
            ("peak_rss_mib", self.peak_rss_mib),
            ("peak_rss_worker_mib", self.peak_rss_worker_mib),
            ("peak_rss_tree_mib", self.peak_rss_tree_mib),
        ]
    }
}

/// Failed samples by kind, with a few examples of each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorSummary {
    pub counts: BTreeMap<String, u64>,
    /// Up to [`ErrorSummary::EXAMPLES_PER_KIND`] per kind.
    pub examples: Vec<ErrorExample>,
}

impl ErrorSummary {
    /// Error examples kept per kind.
    pub const EXAMPLES_PER_KIND: usize = 5;

    /// Counts one failure and keeps it as an example while its kind has fewer than
    /// [`Self::EXAMPLES_PER_KIND`].
    pub fn add(&mut self, kind: &str, dataset: &str, id: &str, message: &str) {
        let c = self.counts.entry(kind.to_string()).or_default();
        *c += 1;
        if *c as usize <= Self::EXAMPLES_PER_KIND {
            self.examples.push(ErrorExample {
                kind: kind.into(),
                dataset: dataset.into(),
                id: id.into(),
                message: message.into(),
            });
        }
    }
}

/// One failed sample (or dataset, for kind `dataset`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorExample {
    pub kind: String,
    pub dataset: String,
    pub id: String,
    pub message: String,
}

/// Provenance classes (holdout, GAS-Station, public): how the run was weighted, the weight of
/// one sample of each class, and each class's own (unweighted) metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `--holdout-share` / `--gasstation-share` / `--holdout-weight`, as the score applied them.
    #[serde(default)]
    pub weighting: gas_score::Weighting,
    /// Scored samples per class, by class name.
    #[serde(default)]
    pub class_counts: BTreeMap<String, u64>,
    /// Weight of one sample of each class, by class name.
    pub weights: BTreeMap<String, f64>,
    /// Binary-view metrics of each provenance class, by class name.
    pub per_class: BTreeMap<String, Metrics>,
}

impl Provenance {
    /// The section for a scored run: present when the run was weighted or holds more than the
    /// public class (holdouts, GAS-Station data); `None` otherwise.
    pub fn of(w: &gas_score::WeightedScore) -> Option<Self> {
        let only_public = w
            .class_counts
            .keys()
            .all(|c| *c == gas_score::Provenance::Public);
        if w.weighting == gas_score::Weighting::None && only_public {
            return None;
        }
        let name = |c: &gas_score::Provenance| c.as_str().to_string();
        Some(Provenance {
            weighting: w.weighting,
            class_counts: w.class_counts.iter().map(|(c, n)| (name(c), *n)).collect(),
            weights: w
                .provenance_weights
                .iter()
                .map(|(c, v)| (name(c), *v))
                .collect(),
            per_class: w
                .per_class
                .iter()
                .map(|(c, m)| (name(c), m.into()))
                .collect(),
        })
    }
}

/// A dataset left out by `--skip-missing` (not in the cache).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SkippedDataset {
    pub name: String,
    pub reason: String,
}

/// The robustness pass over degraded copies of the samples (images and videos).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Robustness {
    /// sn34 of the samples as they are.
    pub base_sn34_score: Option<f64>,
    /// sn34 of the degraded copies.
    pub aug_sn34_score: Option<f64>,
    /// Weight of the augmented score in the blend (`(1 − w)·base + w·aug`).
    pub aug_weight: f64,
    /// `aug_sn34_score / base_sn34_score`.
    pub augmentation_robustness: Option<f64>,
    /// Augmented samples scored.
    pub n_aug: u64,
    /// Mean and 95th percentile of the loss of the correct-class probability, paired by sample.
    pub mean_prob_loss: Option<f64>,
    pub p95_prob_loss: Option<f64>,
}

/// One dataset's robustness figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetRobustness {
    pub n_aug: u64,
    pub aug_sn34_score: Option<f64>,
    pub mean_prob_loss: Option<f64>,
    pub p95_prob_loss: Option<f64>,
}

impl Default for BenchResults {
    /// An empty run (nothing scored), stamped with the current time and this gascli.
    fn default() -> Self {
        let now = Utc::now();
        BenchResults {
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            started_at: now,
            finished_at: now,
            host: String::new(),
            device: "cpu".into(),
            model: ModelInfo::default(),
            mode: Mode::Small,
            seed: 0,
            batch_size: 0,
            sandbox: SandboxInfo::default(),
            worker: serde_json::Value::Null,
            overall: Overall::default(),
            per_dataset: Vec::new(),
            timing: Timing::default(),
            errors: ErrorSummary::default(),
            provenance: None,
            robustness: None,
            run_id: None,
            skipped_datasets: Vec::new(),
        }
    }
}

/// Why a finished run counts as failed, if it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunFailure {
    /// Samples were read but none could be scored.
    EverySampleFailed { n_failed: u64 },
    /// The datasets held no sample at all.
    NothingEvaluated,
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunFailure::EverySampleFailed { n_failed } => write!(
                f,
                "every sample failed ({n_failed} failed, none scored): see the errors in results.json"
            ),
            RunFailure::NothingEvaluated => f.write_str(
                "the run evaluated nothing (n = 0): no sample was read (the datasets are empty for this \
                 modality or could not be opened; see the errors in results.json)",
            ),
        }
    }
}

impl BenchResults {
    /// `Some` when the run scored no sample (the CLI exits 1 then).
    pub fn failure(&self) -> Option<RunFailure> {
        if self.overall.n > 0 {
            None
        } else if self.overall.n_failed > 0 {
            Some(RunFailure::EverySampleFailed {
                n_failed: self.overall.n_failed,
            })
        } else {
            Some(RunFailure::NothingEvaluated)
        }
    }

    /// The run's score: the blended sn34 (`overall.sn34_score`).
    pub fn sn34(&self) -> Option<f64> {
        self.overall.metrics.sn34_score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_scored_nothing_is_a_failure() {
        let mut r = BenchResults::default();
        assert_eq!(r.failure(), Some(RunFailure::NothingEvaluated));
        assert!(r.failure().unwrap().to_string().contains("n = 0"));
        r.overall.n_failed = 3;
        let f = r.failure().unwrap();
        assert_eq!(f, RunFailure::EverySampleFailed { n_failed: 3 });
        assert!(f.to_string().contains("every sample failed"));
        r.overall.n = 1;
        assert_eq!(r.failure(), None);
    }
}
