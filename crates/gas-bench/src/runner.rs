//! The benchmark run, in the stages [`run_bench`] calls top to bottom:
//!
//! 1. `validate_model`: the package is validated once; the handle carries the parsed config;
//! 2. `plan_datasets`: the datasets of the model's modality and each one's share of the mode's
//!    total, as the network plans a run (`gas_datasets::plan_run`);
//! 3. `Scratch::prepare`: the package is materialized into a private scratch directory;
//! 4. `WorkerSession::start`: the sandboxed worker starts and loads the model;
//! 5. `run_pipeline`: datasets are read and preprocessed (rayon) on a producer thread while
//!    the worker infers the previous batch; predictions stay in memory;
//! 6. with `n_aug_per_dataset` > 0 (image and video models), `run_pipeline` again on the first N samples of
//!    each dataset with the degraded tensors (the robustness pass), same worker;
//! 7. `score`: the typed [`BenchResults`] (provenance weighting included); `robustness`: the
//!    degraded figures and the blended sn34;
//! 8. [`RunFiles::render`] / [`RunFiles::write`]: `results.json`, `predictions.csv`,
//!    `report.html` (and `predictions_aug.csv`), rendered once from the in-memory results and
//!    written atomically.
//!
//! Data flows one way: nothing written by a stage is read back by a later one, and the caller
//! gets the results, the predictions and the rendered files in the [`BenchOutcome`].
//!
//! Pipelining: a producer thread reads and preprocesses the next batches (in parallel across
//! cores, a window of whole batches at a time) into a bounded channel while the worker runs the
//! current one. The main pass's producer starts before the worker (whose start is mostly one
//! core importing torch) and its channel holds about [`STARTUP_PREFETCH_BYTES`] of batches
//! (at least [`PIPELINE_DEPTH`]); the robustness pass's holds [`PIPELINE_DEPTH`]. Memory stays
//! bounded by that plus a window and the batch in the worker, whatever the dataset size.
//!
//! Failure policy (documented in RESULTS.md): unreadable or corrupt media are counted per dataset
//! and skipped; a model error on a batch (exception, wrong output shape, NaN) counts the batch's
//! samples as failed and the run goes on; a worker that dies or exceeds the batch timeout is
//! killed, its batch counted as failed, and a fresh worker is started, at most
//! [`MAX_WORKER_RESTARTS`] times, after which the run stops with that error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gas_package::{Modality, ValidateOptions, ValidatedPackage, ValidationReport};
use gas_score::{
    Label, Prediction, PredictionRow, Weighting, network_output, score_report, weighted_score,
};
use rayon::prelude::*;
use serde_json::Value;

use crate::media_options::{DecodeFlags, MediaOptions, Tensor};
pub use crate::results::SCHEMA_VERSION;
use crate::results::{
    BenchResults, DatasetResult, ErrorSummary, ModelInfo, Overall, SandboxInfo, SkippedDataset,
    Timing, Tool,
};
use crate::sandbox::SandboxSpec;
use crate::worker::{Batch, LoadRequest, SampleLogits, Worker, WorkerError, WorkerOptions};
use gas_datasets::plan::is_gasstation;
use gas_datasets::{
    self as datasets, DatasetError, Media, Mode, OpenOptions, PlannedDataset, RunPlan, Sample,
    Selection, plan_run,
};

/// Ready batches buffered ahead of the worker.
pub const PIPELINE_DEPTH: usize = 2;
/// Tensor bytes the main pass may preprocess ahead while the worker starts
/// ([`startup_depth`]).
pub const STARTUP_PREFETCH_BYTES: usize = 96 << 20;
/// Samples per pool thread that the producer preprocesses in one parallel step
/// (`Producer::window`).
pub const PAR_WINDOW_PER_THREAD: usize = 8;
/// Fresh workers started after a crash or timeout before the run gives up.
pub const MAX_WORKER_RESTARTS: usize = 2;

/// The network's inference batch size for a modality when none is given (gasbench: 32 for
/// images, 4 for videos, 16 for audio).
pub fn default_batch_size(modality: Modality) -> usize {
    match modality {
        Modality::Image => 32,
        Modality::Video => 4,
        Modality::Audio => 16,
    }
}

/// Where the samples come from (the registry's `--exam-data` / `--benchmark-data`).
#[derive(Debug, Clone)]
pub enum DataSource {
    /// A dataset catalog YAML (bench.md); entries of other modalities are skipped.
    Catalog(PathBuf),
    /// A folder with `real/`, `synthetic/`, `semisynthetic/` subfolders.
    Dir(PathBuf),
}

/// The [`Selection`] of `sources` for `modality`: catalogs' entries and folders' datasets, no
/// name filter.
pub fn selection_of(sources: &[DataSource], modality: Modality) -> Result<Selection, BenchError> {
    let mut sel = Selection::default();
    for src in sources {
        match src {
            DataSource::Catalog(p) => sel.catalog.extend(datasets::load_catalog(p)?),
            DataSource::Dir(d) => sel.local.extend(datasets::local_dir_specs(d, modality)?),
        }
    }
    Ok(sel)
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub model: PathBuf,
    pub modality: Modality,
    /// The datasets (catalogs, holdouts, folders) and the gasbench filters; the run takes the
    /// model's modality and the mode's share of each ([`gas_datasets::plan_run`]).
    pub datasets: Selection,
    pub mode: Mode,
    pub seed: u64,
    pub cache_dir: PathBuf,
    pub offline: bool,
    /// gasbench's `--skip-missing`: datasets not already in the cache are skipped (listed in
    /// `results.skipped_datasets`), nothing is downloaded.
    pub skip_missing: bool,
    /// GAS-Station weeks (`--num-weeks`) and whether they are downloaded
    /// (`--download-latest-gasstation-data`); when not, a GAS-Station dataset missing from the
    /// cache is skipped, as gasbench's `run` leaves it out.
    pub gasstation: gas_datasets::gasstation::GasStationOptions,
    /// Provenance weighting of the score (`--holdout-share`, `--gasstation-share`,
    /// `--holdout-weight`).
    pub weighting: Weighting,
    /// gasbench's `--run-id`: recorded in the results for matching with other systems.
    pub run_id: Option<String>,
    /// The robustness pass (`--n-aug-per-dataset`, the network's default 0 = off): the first N
    /// samples of each dataset, in the network's order, re-scored on degraded copies.
    pub n_aug_per_dataset: usize,
    /// Weight of the degraded score in the blended sn34 (`--aug-weight`, the network's 0.2).
    pub aug_weight: f64,
    /// Cache of degraded tensors (`--aug-cache-dir`, `--aug-cache-readonly`).
    pub aug_cache: Option<crate::aug_cache::AugCache>,
    /// Directory for results.json, predictions.csv and report.html (created); `None` writes
    /// nothing (the caller stores [`BenchOutcome::files`] itself).
    pub results_dir: Option<PathBuf>,
    /// Where the run's temporary directory (extracted package, worker scratch) is created;
    /// `None`: the system's temporary directory.
    pub scratch_parent: Option<PathBuf>,
    pub batch_size: usize,
    pub device: String,
    pub fast_decode: bool,
    pub apply_exif: bool,
    /// The network's cache step on image samples (gas_media::reencode; default of `d bench`):
    /// re-encoded samples are kept under `cache_dir/reencoded`. `false`: direct path, NOT
    /// network-exact.
    pub reencode: bool,
    /// Worker set-up (python, script, launcher = sandbox or `None` for no sandbox, limits).
    pub worker: WorkerOptions,
    pub progress: bool,
    /// Set to `true` from another thread to stop the run: decoding stops, the worker is shut
    /// down after its current batch, and the run returns [`BenchError::Cancelled`]. Used by the
    /// registry to enforce its stage time limits.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Why a run could not be done at all.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{path}: the package is invalid ({} error(s)); run `gascli d validate {path}` for details", .report.errors.len())]
    Invalid {
        path: String,
        report: Box<ValidationReport>,
    },
    #[error(transparent)]
    Package(#[from] gas_package::PackageError),
    #[error(transparent)]
    Dataset(#[from] datasets::DatasetError),
    #[error("no {modality} datasets to run: {hint}")]
    NoData { modality: String, hint: String },
    #[error(transparent)]
    Worker(#[from] WorkerError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Score(#[from] gas_score::ScoreError),
    #[error("preprocessing options of the model: {0}")]
    Media(#[from] gas_media::MediaError),
    #[error("the run was cancelled")]
    Cancelled,
}

impl BenchError {
    /// Whether the model is at fault (invalid package, fails to load, crashes or hangs every
    /// time), as opposed to the operator's set-up (datasets, disk, the worker's Python).
    pub fn is_model_fault(&self) -> bool {
        match self {
            BenchError::Invalid { .. } => true,
            BenchError::Worker(e) => !matches!(e, WorkerError::Spawn { .. }),
            _ => false,
        }
    }
}

impl BenchOptions {
    /// The local decode switches of this run.
    pub fn decode_flags(&self) -> DecodeFlags {
        DecodeFlags {
            fast_decode: self.fast_decode,
            apply_exif: self.apply_exif,
            reencode: self.reencode,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |source| BenchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The outcome of a finished run: the typed results, the per-sample predictions, and the three
/// files rendered from them once (and written to `results_dir` when one was given).
#[derive(Debug)]
pub struct BenchOutcome {
    pub results: BenchResults,
    /// One row per scored sample, in the order the worker scored them (predictions.csv).
    pub predictions: Vec<PredictionRow>,
    /// The robustness pass's rows (degraded copies; predictions_aug.csv); empty without it.
    pub aug_predictions: Vec<PredictionRow>,
    pub files: RunFiles,
    /// Where the files were written, if anywhere.
    pub results_dir: Option<PathBuf>,
}

/// The files of a run, rendered from the in-memory results.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub results_json: Vec<u8>,
    pub predictions_csv: Vec<u8>,
    pub report_html: Vec<u8>,
    /// The robustness pass's predictions, when it ran.
    pub predictions_aug_csv: Option<Vec<u8>>,
}

impl RunFiles {
    pub const RESULTS_JSON: &'static str = "results.json";
    pub const PREDICTIONS_CSV: &'static str = "predictions.csv";
    pub const REPORT_HTML: &'static str = "report.html";
    pub const PREDICTIONS_AUG_CSV: &'static str = "predictions_aug.csv";

    /// Renders `results.json`, `predictions.csv`, `report.html` and, when the robustness pass
    /// ran (`aug` not empty), `predictions_aug.csv`.
    pub fn render(
        results: &BenchResults,
        predictions: &[PredictionRow],
        aug: &[PredictionRow],
    ) -> Self {
        Self::render_with(
            results,
            predictions,
            aug,
            &crate::report::Thumbnails::default(),
        )
    }

    /// [`Self::render`] with the samples' thumbnails for the report.
    pub fn render_with(
        results: &BenchResults,
        predictions: &[PredictionRow],
        aug: &[PredictionRow],
        thumbs: &crate::report::Thumbnails,
    ) -> Self {
        RunFiles {
            // A plain struct of numbers, strings and maps with string keys: cannot fail.
            results_json: serde_json::to_vec_pretty(results).unwrap_or_default(),
            predictions_csv: gas_score::predictions_csv(predictions),
            report_html: crate::report::render_html_with(results, predictions, aug, thumbs)
                .into_bytes(),
            predictions_aug_csv: (!aug.is_empty()).then(|| gas_score::predictions_csv(aug)),
        }
    }

    /// `(file name, contents)`, `results.json` last (its presence marks a complete run).
    pub fn entries(&self) -> Vec<(&'static str, &[u8])> {
        let mut out = vec![
            (Self::PREDICTIONS_CSV, self.predictions_csv.as_slice()),
            (Self::REPORT_HTML, self.report_html.as_slice()),
        ];
        if let Some(aug) = &self.predictions_aug_csv {
            out.push((Self::PREDICTIONS_AUG_CSV, aug.as_slice()));
        }
        out.push((Self::RESULTS_JSON, self.results_json.as_slice()));
        out
    }

    /// Writes the files into `dir` (created), each atomically.
    pub fn write(&self, dir: &Path) -> Result<(), BenchError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        for (name, bytes) in self.entries() {
            write_atomic(&dir.join(name), bytes)?;
        }
        Ok(())
    }
}

/// Runs a whole benchmark: the stages of the module docs, top to bottom.
pub fn run_bench(opts: &BenchOptions) -> Result<BenchOutcome, BenchError> {
    let clock = RunClock::start();
    let pkg = validate_model(opts)?;
    let plan = plan_datasets(opts)?;
    // The network runs the pass for image and video models; its audio bench has none.
    let n_aug = match opts.modality {
        Modality::Audio => 0,
        Modality::Image | Modality::Video => opts.n_aug_per_dataset,
    };
    let scratch = Scratch::prepare(&pkg, opts.scratch_parent.as_deref())?;
    let media = MediaOptions::from_config(pkg.config(), opts.decode_flags())
        .with_reencode_cache(&opts.cache_dir.join("reencoded"));
    let media_types: BTreeMap<String, Label> = plan
        .datasets
        .iter()
        .map(|d| (d.spec.name.clone(), d.spec.media_type))
        .collect();
    let bar = progress_bar(opts, &pkg);
    // The robustness pass takes the first N of each dataset in the same order (the network's
    // iterator with max_samples = N).
    let aug_datasets: Vec<PlannedDataset> = plan
        .datasets
        .iter()
        .map(|d| PlannedDataset {
            cap: n_aug,
            ..d.clone()
        })
        .collect();
    // The main pass starts reading and preprocessing before the worker is up (the worker's
    // start is mostly one core importing torch); a worker that fails to start drops the
    // producer, which stops at its next batch.
    let depth = startup_depth(&media, opts.batch_size);
    let main_pass = start_producer(opts, plan.datasets, &media, &bar, None, depth)?;
    let mut session = WorkerSession::start(opts, &pkg, &scratch, &media)?;
    let run = finish_pipeline(opts, main_pass, &mut session, &bar);
    // the pass also makes thumbnails of each sample as is and degraded, for the report
    let aug = match &run {
        Ok(_) if n_aug > 0 => Some(run_pipeline(
            opts,
            aug_datasets,
            &media.augmented().with_aug_cache(opts.aug_cache.clone()),
            &mut session,
            &bar,
            Some(&media),
        )),
        _ => None,
    };
    bar.finish_and_clear();
    let worker = session.shutdown();
    let mut run = run?;
    let aug = aug.transpose()?;
    let mut results = score(opts, &pkg, &media_types, worker, &run, clock);
    if let Some(aug) = &aug {
        robustness(opts, &mut results, &run, aug);
    }
    weigh_rows(&mut run.predictions, &opts.weighting, &results);
    let (mut aug_predictions, thumbs) = aug
        .map(|a| (a.predictions, a.thumbnails))
        .unwrap_or_default();
    weigh_rows(&mut aug_predictions, &opts.weighting, &results);
    let files = RunFiles::render_with(&results, &run.predictions, &aug_predictions, &thumbs);
    if let Some(dir) = &opts.results_dir {
        files.write(dir)?;
    }
    drop(scratch);
    Ok(BenchOutcome {
        results,
        predictions: run.predictions,
        aug_predictions,
        files,
        results_dir: opts.results_dir.clone(),
    })
}

/// The per-sample weights of `--holdout-share` / `--gasstation-share` in the predictions, so
/// `gascli d score predictions.csv` gives the weighted score. The legacy holdout weight
/// (accuracy only) cannot be a per-row weight: rows keep 1 there.
fn weigh_rows(rows: &mut [PredictionRow], weighting: &Weighting, results: &BenchResults) {
    let (Weighting::Shares(_), Some(p)) = (weighting, &results.provenance) else {
        return;
    };
    for r in rows {
        let class = gas_score::Provenance::of(&r.dataset);
        if let Some(w) = p.weights.get(class.as_str()) {
            r.weight = *w;
        }
    }
}

/// The robustness pass's figures into `results` (the network's `_compute_aug_metrics` and its
/// blend): the degraded rows' sn34 (with the base run's provenance weights when shares were
/// given), `augmentation_robustness` = aug / base (0 when base ≤ 0), the loss of the
/// correct-class probability paired by sample (mean, numpy's 95th percentile), per dataset too;
/// then `sn34 = (1 − w)·base + w·aug` when w > 0 and degraded rows exist. Degraded rows never
/// enter the base metrics; their failures are counted as `aug-<kind>` errors.
fn robustness(
    opts: &BenchOptions,
    results: &mut BenchResults,
    base: &PipelineRun,
    aug: &PipelineRun,
) {
    for e in &aug.errors.examples {
        results.errors.examples.push(crate::results::ErrorExample {
            kind: format!("aug-{}", e.kind),
            ..e.clone()
        });
    }
    for (k, n) in &aug.errors.counts {
        *results.errors.counts.entry(format!("aug-{k}")).or_default() += n;
    }
    let class_weight = |dataset: &str| -> f64 {
        match (&opts.weighting, &results.provenance) {
            (Weighting::Shares(_), Some(p)) => p
                .weights
                .get(gas_score::Provenance::of(dataset).as_str())
                .copied()
                .unwrap_or(1.0),
            _ => 1.0,
        }
    };
    let weighted: Vec<Prediction> = aug
        .scored
        .iter()
        .map(|p| Prediction {
            weight: class_weight(p.dataset.as_deref().unwrap_or("")),
            ..p.clone()
        })
        .collect();
    let aug_sn34 = gas_score::binary_metrics(&weighted).sn34_score;
    let base_sn34 = results.overall.metrics.sn34_score;
    // the correct-class probability of each sample, base and degraded, paired by sample
    // (the network's label is binary: semisynthetic counts as 1, so its probs[1])
    let prob_correct = |r: &PredictionRow| r.probs.get(usize::from(r.label.binary())).copied();
    let base_pc: BTreeMap<(&str, &str), f64> = base
        .predictions
        .iter()
        .filter_map(|r| Some(((r.dataset.as_str(), r.sample_id.as_str()), prob_correct(r)?)))
        .collect();
    let mut loss: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut all_loss = Vec::new();
    for r in &aug.predictions {
        if let (Some(b), Some(a)) = (
            base_pc.get(&(r.dataset.as_str(), r.sample_id.as_str())),
            prob_correct(r),
        ) {
            loss.entry(r.dataset.as_str()).or_default().push(b - a);
            all_loss.push(b - a);
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let report = score_report(&aug.scored);
    for d in &mut results.per_dataset {
        let n_aug = aug
            .scored
            .iter()
            .filter(|p| p.dataset.as_deref() == Some(d.name.as_str()))
            .count() as u64;
        if n_aug == 0 {
            continue;
        }
        let l = loss.get(d.name.as_str()).map_or(&[][..], Vec::as_slice);
        d.robustness = Some(crate::results::DatasetRobustness {
            n_aug,
            aug_sn34_score: report.per_dataset.get(&d.name).and_then(|m| m.sn34_score),
            mean_prob_loss: mean(l),
            p95_prob_loss: gas_score::percentile(l, 95.0),
        });
    }
    let n_aug = aug.scored.len() as u64;
    results.robustness = Some(crate::results::Robustness {
        base_sn34_score: base_sn34,
        aug_sn34_score: aug_sn34,
        aug_weight: opts.aug_weight,
        augmentation_robustness: match (aug_sn34, base_sn34) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        },
        n_aug,
        mean_prob_loss: mean(&all_loss),
        p95_prob_loss: gas_score::percentile(&all_loss, 95.0),
    });
    if let (Some(b), Some(a)) = (base_sn34, aug_sn34)
        && opts.aug_weight > 0.0
        && n_aug > 0
    {
        results.overall.metrics.sn34_score =
            Some(gas_score::blend_robustness(b, a, opts.aug_weight));
    }
}

/// Wall-clock start of a run.
struct RunClock {
    started: chrono::DateTime<chrono::Utc>,
    t0: Instant,
}

impl RunClock {
    fn start() -> Self {
        RunClock {
            started: chrono::Utc::now(),
            t0: Instant::now(),
        }
    }
}

/// Stage 1: validates the package, once, for the run's modality.
fn validate_model(opts: &BenchOptions) -> Result<ValidatedPackage, BenchError> {
    let vopts = ValidateOptions {
        expected_modality: Some(opts.modality),
    };
    match gas_package::validate_package(&opts.model, &vopts) {
        Ok(pkg) => Ok(pkg),
        Err(gas_package::PackageError::Invalid { report, .. }) => Err(BenchError::Invalid {
            path: opts.model.display().to_string(),
            report,
        }),
        Err(e) => Err(e.into()),
    }
}

/// Stage 2: the datasets of the run's modality and the samples each contributes, as the
/// network plans a run (mode totals split over datasets, filters, holdouts).
fn plan_datasets(opts: &BenchOptions) -> Result<RunPlan, BenchError> {
    let plan = plan_run(&opts.datasets, opts.modality, opts.mode);
    if plan.datasets.is_empty() {
        let sel = &opts.datasets;
        let filtered = !sel.name_filters.is_empty()
            || sel.content_category.is_some()
            || sel.gasstation_only
            || sel.holdouts_only;
        return Err(BenchError::NoData {
            modality: opts.modality.to_string(),
            hint: if filtered {
                "no dataset of this modality is left after --datasets / --content-category / --gasstation-only / --holdouts-only; check the names with `gascli d datasets list`".into()
            } else {
                "give --data-dir DIR (with real/, synthetic/, semisynthetic/) or --dataset-config CATALOG.yaml with entries of this modality".into()
            },
        });
    }
    Ok(plan)
}

/// Stage 3: the run's private directory: the materialized package (readable by the sandboxed
/// worker) and the worker's writable work directory. Removed when dropped.
struct Scratch {
    _dir: tempfile::TempDir,
    /// The directory the package was extracted into (shown read-only to the worker).
    package_root: PathBuf,
    package_dir: PathBuf,
    work: PathBuf,
}

impl Scratch {
    fn prepare(pkg: &ValidatedPackage, parent: Option<&Path>) -> Result<Self, BenchError> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        let dir = tempfile::Builder::new()
            .prefix("gascli-bench-")
            .tempdir_in(&parent)
            .map_err(io_err(&parent))?;
        let pkg_root = dir.path().join("package");
        std::fs::create_dir_all(&pkg_root).map_err(io_err(&pkg_root))?;
        let package_dir = gas_package::materialize(pkg, &pkg_root)?;
        make_readable(&pkg_root)?;
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).map_err(io_err(&work))?;
        Ok(Scratch {
            _dir: dir,
            package_root: pkg_root,
            package_dir,
            work,
        })
    }
}

fn make_readable(dir: &Path) -> Result<(), BenchError> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let p = entry.path();
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).map_err(io_err(&p))?;
        if p.is_dir() {
            make_readable(&p)?;
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io_err(dir))
}

/// Stage 4: the worker with the model loaded, and how to replace it after a crash.
struct WorkerSession {
    worker: Worker,
    options: WorkerOptions,
    load: LoadRequest,
    /// What the worker reported on (the first) load.
    info: Value,
    restarts: usize,
    /// Largest peak resident memory of a worker's process tree seen so far, bytes.
    peak_rss_bytes: Option<u64>,
}

/// What is left of a worker session after it ended.
struct WorkerRecord {
    info: Value,
    restarts: usize,
    sandbox: SandboxInfo,
    peak_rss_bytes: Option<u64>,
}

impl WorkerSession {
    fn start(
        opts: &BenchOptions,
        pkg: &ValidatedPackage,
        scratch: &Scratch,
        media: &MediaOptions,
    ) -> Result<Self, BenchError> {
        let cfg = pkg.config();
        let mut options = opts.worker.clone();
        let mut read_only = options.sandbox.read_only.clone();
        read_only.push(scratch.package_root.clone());
        options.sandbox = SandboxSpec {
            scratch: scratch.work.clone(),
            read_only,
            ..options.sandbox
        };
        let load = LoadRequest {
            weights_path: scratch.package_dir.join(&cfg.model.weights_file),
            package_dir: scratch.package_dir.clone(),
            num_classes: cfg.model.num_classes,
            model_kwargs: Value::Object(cfg.load_model_kwargs()),
            dtype: cfg.dtype.as_str().to_string(),
            modality: cfg.modality.to_string(),
            device: opts.device.clone(),
            name: cfg.name.clone(),
        };
        // Refuse before starting when batch + weights cannot fit the worker's memory limit.
        let weights_bytes = std::fs::metadata(&load.weights_path).map_or(0, |m| m.len());
        let element_bytes = media.dtype().bytes();
        crate::worker::check_memory(
            options.sandbox.memory_bytes,
            opts.batch_size.max(1),
            &media.sample_shape()?,
            element_bytes,
            weights_bytes,
        )?;
        let (worker, info) = Self::spawn(&options, &load)?;
        Ok(WorkerSession {
            worker,
            options,
            load,
            info,
            restarts: 0,
            peak_rss_bytes: None,
        })
    }

    fn spawn(options: &WorkerOptions, load: &LoadRequest) -> Result<(Worker, Value), WorkerError> {
        let mut w = Worker::spawn(options)?;
        let info = w.load(load)?;
        Ok((w, info))
    }

    /// Replaces a dead worker with a fresh one (the old one is killed).
    /// Records the live worker's peak memory (called after each batch and at the end; a
    /// replaced worker keeps the figure of its last batch).
    fn sample_peak(&mut self) {
        if let Some(b) = self.worker.peak_rss_bytes() {
            self.peak_rss_bytes = Some(self.peak_rss_bytes.map_or(b, |p| p.max(b)));
        }
    }

    fn restart(&mut self) -> Result<(), WorkerError> {
        self.restarts += 1;
        let (w, _) = Self::spawn(&self.options, &self.load)?;
        self.worker = w;
        Ok(())
    }

    fn shutdown(mut self) -> WorkerRecord {
        let sandbox = sandbox_info(&self.options);
        self.sample_peak();
        self.worker.shutdown();
        WorkerRecord {
            info: self.info,
            restarts: self.restarts,
            sandbox,
            peak_rss_bytes: self.peak_rss_bytes,
        }
    }
}

fn sandbox_info(w: &WorkerOptions) -> SandboxInfo {
    SandboxInfo::new(w.launcher.is_some(), &w.sandbox, w.batch_timeout.as_secs())
}

fn progress_bar(opts: &BenchOptions, pkg: &ValidatedPackage) -> indicatif::ProgressBar {
    if !opts.progress {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(0);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} samples {per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let cfg = pkg.config();
    b.set_message(format!("{} {}", cfg.modality, cfg.name));
    b
}

fn is_cancelled(c: &Option<Arc<AtomicBool>>) -> bool {
    c.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
}

/// A sample on its way through the pipeline.
struct Item {
    dataset: String,
    id: String,
    label: Label,
}

/// A sample's thumbnails (as is, degraded) in the robustness pass ([`crate::report::thumbnail`]).
type SampleThumbs = [Option<String>; 2];

struct ReadyBatch {
    items: Vec<Item>,
    batch: Batch,
    /// Thumbnails per item in the robustness pass.
    thumbs: Vec<SampleThumbs>,
}

/// What the producer thread sends to the inference loop.
enum Msg {
    Batch(ReadyBatch),
    Failed {
        item: Item,
        kind: String,
        message: String,
    },
    DatasetFailed {
        dataset: String,
        message: String,
    },
    /// `--skip-missing`: a dataset not in the cache.
    DatasetSkipped {
        dataset: String,
        message: String,
    },
}

/// What the pipeline produced: predictions in memory, failures counted, time spent.
struct PipelineRun {
    predictions: Vec<PredictionRow>,
    scored: Vec<Prediction>,
    errors: ErrorSummary,
    failed_per_dataset: BTreeMap<String, u64>,
    skipped: Vec<SkippedDataset>,
    /// The robustness pass's thumbnails.
    thumbnails: crate::report::Thumbnails,
    prep_time: Duration,
    infer_time: Duration,
}

/// Stage 5: a producer thread reads and preprocesses batches while this thread runs the
/// worker on them. Returns after the last batch, on cancel (as [`BenchError::Cancelled`]) or
/// when the worker died more than [`MAX_WORKER_RESTARTS`] times.
fn run_pipeline(
    opts: &BenchOptions,
    datasets: Vec<PlannedDataset>,
    media: &MediaOptions,
    session: &mut WorkerSession,
    bar: &indicatif::ProgressBar,
    thumbs_as_is: Option<&MediaOptions>,
) -> Result<PipelineRun, BenchError> {
    let started = start_producer(opts, datasets, media, bar, thumbs_as_is, PIPELINE_DEPTH)?;
    finish_pipeline(opts, started, session, bar)
}

/// A producer already reading and preprocessing: its batches arrive on `rx`. Dropping it
/// stops the producer at its next send.
struct StartedProducer {
    rx: Receiver<Msg>,
    handle: JoinHandle<Duration>,
}

/// How many ready batches the main pass may buffer while the worker is still starting
/// (Python, torch and the model load take 1–3 s of one core, which the producer uses to get
/// ahead): about [`STARTUP_PREFETCH_BYTES`] of tensors, at least [`PIPELINE_DEPTH`] batches.
/// Once the worker runs, the producer can only stay that far ahead, so memory stays bounded.
fn startup_depth(media: &MediaOptions, batch_size: usize) -> usize {
    let sample: usize = media.sample_shape().map_or(0, |s| s.iter().product());
    let element = media.dtype().bytes();
    let batch_bytes = (sample * element * batch_size.max(1)).max(1);
    (STARTUP_PREFETCH_BYTES / batch_bytes).clamp(PIPELINE_DEPTH, 64)
}

/// Starts the producer thread with a channel of `depth` batches.
fn start_producer(
    opts: &BenchOptions,
    datasets: Vec<PlannedDataset>,
    media: &MediaOptions,
    bar: &indicatif::ProgressBar,
    thumbs_as_is: Option<&MediaOptions>,
    depth: usize,
) -> Result<StartedProducer, BenchError> {
    // Checked here so a config without a valid sample shape fails before any sample is read.
    media.sample_shape()?;
    let (tx, rx) = sync_channel::<Msg>(depth);
    let handle = Producer {
        datasets,
        open: OpenOptions {
            mode: opts.mode,
            seed: opts.seed,
            cache_dir: opts.cache_dir.clone(),
            offline: opts.offline || opts.skip_missing,
            gasstation: opts.gasstation.clone(),
            ..OpenOptions::default()
        },
        skip_missing: opts.skip_missing,
        media: media.clone(),
        batch_size: opts.batch_size.max(1),
        thumbs_as_is: thumbs_as_is.cloned(),
        bar: bar.clone(),
        cancel: opts.cancel.clone(),
        tx,
    }
    .spawn();
    Ok(StartedProducer { rx, handle })
}

/// The consumer side of stage 5: the worker runs every batch the producer sends.
fn finish_pipeline(
    opts: &BenchOptions,
    started: StartedProducer,
    session: &mut WorkerSession,
    bar: &indicatif::ProgressBar,
) -> Result<PipelineRun, BenchError> {
    let StartedProducer {
        rx,
        handle: producer,
    } = started;
    let mut inference =
        Inference::new(session.load.num_classes as usize, session.load.name.clone());
    // `rx` is dropped when `consume` returns, so after a cancel or a fatal error a producer
    // blocked on a full channel sees its send fail and returns.
    let fatal = inference.consume(rx, session, bar, &opts.cancel);
    let prep_time = producer.join().unwrap_or_default();
    if is_cancelled(&opts.cancel) {
        return Err(BenchError::Cancelled);
    }
    if let Some(e) = fatal {
        return Err(BenchError::Worker(e));
    }
    Ok(PipelineRun {
        predictions: inference.predictions,
        scored: inference.scored,
        errors: inference.errors,
        failed_per_dataset: inference.failed_per_dataset,
        skipped: inference.skipped,
        thumbnails: inference.thumbnails,
        prep_time,
        infer_time: inference.infer_time,
    })
}

/// One sample's tensor (or why it failed) and its report thumbnails.
type Preprocessed = (Result<Tensor, String>, SampleThumbs);

/// The producer side of the pipeline: datasets → samples → preprocessed batches.
struct Producer {
    datasets: Vec<PlannedDataset>,
    open: OpenOptions,
    skip_missing: bool,
    media: MediaOptions,
    batch_size: usize,
    /// The robustness pass: thumbnails of each sample degraded and, preprocessed with these
    /// options, as is.
    thumbs_as_is: Option<MediaOptions>,
    bar: indicatif::ProgressBar,
    cancel: Option<Arc<AtomicBool>>,
    tx: SyncSender<Msg>,
}

/// The producer stops as soon as the inference loop is gone (a send failed) or on cancel.
struct Stop;

impl Producer {
    fn spawn(self) -> JoinHandle<Duration> {
        std::thread::spawn(move || {
            let mut prep_time = Duration::ZERO;
            for planned in &self.datasets {
                if self.dataset(planned, &mut prep_time).is_err() {
                    break;
                }
            }
            prep_time
        })
    }

    fn send(&self, msg: Msg) -> Result<(), Stop> {
        self.tx.send(msg).map_err(|_| Stop)
    }

    /// Streams one dataset's planned samples in batches of `batch_size`.
    fn dataset(&self, planned: &PlannedDataset, prep_time: &mut Duration) -> Result<(), Stop> {
        let spec = &planned.spec;
        let iter = match datasets::open_planned(planned, &self.open) {
            Ok(it) => it,
            Err(e @ DatasetError::NotCached { .. }) if self.skip_missing => {
                return self.send(Msg::DatasetSkipped {
                    dataset: spec.name.clone(),
                    message: format!("{e} (--skip-missing)"),
                });
            }
            Err(e @ DatasetError::NotCached { .. })
                if self.open.gasstation.cache_only && is_gasstation(&spec.name) =>
            {
                return self.send(Msg::DatasetSkipped {
                    dataset: spec.name.clone(),
                    message: format!(
                        "{e} (GAS-Station data is read from the cache only: pass --download-latest-gasstation-data, or run `gascli d datasets download --gasstation-only`)"
                    ),
                });
            }
            Err(e) => {
                return self.send(Msg::DatasetFailed {
                    dataset: spec.name.clone(),
                    message: e.to_string(),
                });
            }
        };
        let (lo, hi) = iter.size_hint();
        self.bar.inc_length(hi.unwrap_or(lo) as u64);
        let window = self.window();
        let mut pending: Vec<Sample> = Vec::with_capacity(window);
        let mut iter = iter.peekable();
        loop {
            if is_cancelled(&self.cancel) {
                return Err(Stop);
            }
            let next = iter.next();
            let done = next.is_none();
            match next {
                Some(Ok(s)) => pending.push(s),
                Some(Err(e)) => {
                    let (dataset, id) = e.sample().map_or_else(
                        || (spec.name.clone(), String::new()),
                        |(d, i)| (d.to_string(), i.to_string()),
                    );
                    self.bar.inc(1);
                    self.send(Msg::Failed {
                        item: Item {
                            dataset,
                            id,
                            label: spec.media_type,
                        },
                        kind: format!("read-{}", e.kind()),
                        message: e.to_string(),
                    })?;
                }
                None => {}
            }
            if pending.len() == window || (done && !pending.is_empty()) {
                self.batch(&mut pending, prep_time)?;
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Samples preprocessed in one parallel step: whole batches, at least
    /// [`PAR_WINDOW_PER_THREAD`] per pool thread. One batch of 4 clips on 2 threads would
    /// leave a thread idle while the slower clip of its pair finishes, once per batch.
    fn window(&self) -> usize {
        let want = PAR_WINDOW_PER_THREAD * rayon::current_num_threads();
        self.batch_size * want.div_ceil(self.batch_size).max(1)
    }

    /// Preprocesses `pending` (whole batches, the last one possibly short) in parallel, then
    /// sends its batches in order, each after its failures.
    fn batch(&self, pending: &mut Vec<Sample>, prep_time: &mut Duration) -> Result<(), Stop> {
        let t = Instant::now();
        let shape = self.media.sample_shape().unwrap_or_default();
        let results: Vec<Preprocessed> = pending
            .par_iter()
            .map(|s| {
                let r = preprocess_sample(&self.media, &s.media);
                let thumbs = match (&self.thumbs_as_is, &r) {
                    (Some(plain), Ok(Tensor::U8(v))) => [
                        match preprocess_sample(plain, &s.media) {
                            Ok(Tensor::U8(p)) => crate::report::thumbnail(&p, &shape),
                            _ => None,
                        },
                        crate::report::thumbnail(v, &shape),
                    ],
                    _ => [None, None],
                };
                (r, thumbs)
            })
            .collect();
        *prep_time += t.elapsed();
        let mut done = pending.drain(..).zip(results).peekable();
        while done.peek().is_some() {
            let chunk: Vec<_> = done.by_ref().take(self.batch_size).collect();
            self.send_batch(chunk)?;
        }
        Ok(())
    }

    /// One batch: its failures, then the stacked tensors of the rest.
    fn send_batch(&self, chunk: Vec<(Sample, Preprocessed)>) -> Result<(), Stop> {
        let mut items = Vec::new();
        let mut tensors = Vec::new();
        let mut all_thumbs = Vec::new();
        for (s, (r, thumbs)) in chunk {
            let item = Item {
                dataset: s.dataset,
                id: s.id,
                label: s.label,
            };
            match r {
                Ok(t) => {
                    items.push(item);
                    tensors.push(t);
                    all_thumbs.push(thumbs);
                }
                Err(message) => {
                    self.bar.inc(1);
                    self.send(Msg::Failed {
                        item,
                        kind: "decode".into(),
                        message,
                    })?;
                }
            }
        }
        if items.is_empty() {
            return Ok(());
        }
        match self.media.stack(tensors) {
            Ok(batch) => self.send(Msg::Batch(ReadyBatch {
                items,
                batch,
                thumbs: all_thumbs,
            })),
            // Unreachable: the shape was checked before the producer started.
            Err(e) => {
                for item in items {
                    self.send(Msg::Failed {
                        item,
                        kind: "decode".into(),
                        message: e.to_string(),
                    })?;
                }
                Ok(())
            }
        }
    }
}

fn preprocess_sample(media: &MediaOptions, m: &Media) -> Result<Tensor, String> {
    match m {
        Media::Bytes(b) => media.preprocess_bytes(b),
        Media::File(p) => media.preprocess_file(p),
    }
    .map_err(|e| e.to_string())
}

/// The consumer side of the pipeline: batches → worker → predictions; failures counted.
struct Inference {
    num_classes: usize,
    /// The model's name, for output errors.
    model_name: String,
    predictions: Vec<PredictionRow>,
    scored: Vec<Prediction>,
    errors: ErrorSummary,
    failed_per_dataset: BTreeMap<String, u64>,
    skipped: Vec<SkippedDataset>,
    thumbnails: crate::report::Thumbnails,
    infer_time: Duration,
    batch_index: usize,
}

impl Inference {
    fn new(num_classes: usize, model_name: String) -> Self {
        Inference {
            num_classes,
            model_name,
            predictions: Vec::new(),
            scored: Vec::new(),
            errors: ErrorSummary::default(),
            failed_per_dataset: BTreeMap::new(),
            skipped: Vec::new(),
            thumbnails: Default::default(),
            infer_time: Duration::ZERO,
            batch_index: 0,
        }
    }

    /// Runs every message through; returns the error that ended the run early, if any.
    fn consume(
        &mut self,
        rx: Receiver<Msg>,
        session: &mut WorkerSession,
        bar: &indicatif::ProgressBar,
        cancel: &Option<Arc<AtomicBool>>,
    ) -> Option<WorkerError> {
        for msg in rx {
            if is_cancelled(cancel) {
                return None;
            }
            match msg {
                Msg::DatasetFailed { dataset, message } => {
                    self.errors.add("dataset", &dataset, "", &message);
                }
                Msg::DatasetSkipped { dataset, message } => {
                    bar.suspend(|| eprintln!("note: skipped: {message}"));
                    self.skipped.push(SkippedDataset {
                        name: dataset,
                        reason: message,
                    });
                }
                Msg::Failed {
                    item,
                    kind,
                    message,
                } => self.fail(&item, &kind, &message),
                Msg::Batch(rb) => {
                    if let Err(e) = self.infer(rb, session, bar) {
                        return Some(e);
                    }
                }
            }
        }
        None
    }

    fn fail(&mut self, item: &Item, kind: &str, message: &str) {
        *self
            .failed_per_dataset
            .entry(item.dataset.clone())
            .or_default() += 1;
        self.errors.add(kind, &item.dataset, &item.id, message);
    }

    /// One batch through the worker. A model error fails the batch's samples; a dead worker
    /// is replaced; `Err` when it cannot be (restarts used up, or the new one fails).
    fn infer(
        &mut self,
        rb: ReadyBatch,
        session: &mut WorkerSession,
        bar: &indicatif::ProgressBar,
    ) -> Result<(), WorkerError> {
        let t = Instant::now();
        let n = rb.items.len();
        for (item, [as_is, degraded]) in rb.items.iter().zip(rb.thumbs) {
            let key = (item.dataset.clone(), item.id.clone());
            if let Some(th) = as_is {
                self.thumbnails.base.insert(key.clone(), th);
            }
            if let Some(th) = degraded {
                self.thumbnails.degraded.insert(key, th);
            }
        }
        let res = session.worker.infer(self.batch_index, &rb.batch);
        self.infer_time += t.elapsed();
        session.sample_peak();
        self.batch_index += 1;
        bar.inc(n as u64);
        let e = match res {
            Ok(logits) => {
                self.record(rb.items, logits);
                return Ok(());
            }
            Err(e) => e,
        };
        let msg = e.to_string();
        for item in &rb.items {
            self.fail(item, e.kind(), &msg);
        }
        if !e.is_fatal() {
            return Ok(());
        }
        bar.suspend(|| eprintln!("warning: {msg}"));
        if session.restarts >= MAX_WORKER_RESTARTS {
            return Err(e);
        }
        session.restart()
    }

    /// One entry of `logits` per item (the worker module checks the count); a sample whose
    /// logits were refused (non-finite) is counted as failed.
    fn record(&mut self, items: Vec<Item>, logits: Vec<SampleLogits>) {
        let k = self.num_classes;
        for (item, row) in items.into_iter().zip(logits) {
            // the network's probabilities and call for this sample (a non-finite sample is
            // refused by the worker module)
            let out = match row.and_then(|row| network_output(&row).map_err(|e| e.to_string())) {
                Ok(o) => o,
                Err(msg) => {
                    let msg = format!("{}: {msg}", self.model_name);
                    self.fail(&item, "output", &msg);
                    continue;
                }
            };
            let ps = out.p_synthetic();
            self.scored.push(Prediction {
                label: item.label,
                p_synthetic: ps,
                weight: 1.0,
                dataset: Some(item.dataset.clone()),
                probs: (k >= 3 && out.probs.len() == k).then(|| out.probs.clone()),
                predicted: Some(out.predicted),
            });
            self.predictions.push(PredictionRow {
                dataset: item.dataset,
                sample_id: item.id,
                label: item.label,
                p_synthetic: ps,
                weight: 1.0,
                predicted: Some(out.predicted),
                probs: out.probs,
            });
        }
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), MiB; the worker is a separate
/// process and not included. `None` where /proc is not available.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Stage 6: the typed results of the run.
fn score(
    opts: &BenchOptions,
    pkg: &ValidatedPackage,
    media_types: &BTreeMap<String, Label>,
    worker: WorkerRecord,
    run: &PipelineRun,
    clock: RunClock,
) -> BenchResults {
    let scored = score_report(&run.scored);
    let cfg = pkg.config();
    let skipped: std::collections::BTreeSet<&str> =
        run.skipped.iter().map(|s| s.name.as_str()).collect();
    let per_dataset = media_types
        .iter()
        .filter(|(name, _)| !skipped.contains(name.as_str()))
        .map(|(name, &media_type)| {
            let m = scored.per_dataset.get(name);
            DatasetResult {
                name: name.clone(),
                media_type,
                n: m.map_or(0, |m| m.n),
                n_failed: run.failed_per_dataset.get(name).copied().unwrap_or(0),
                metrics: m.map(Into::into),
                robustness: None,
            }
        })
        .collect();
    let n_failed = run.failed_per_dataset.values().sum::<u64>();
    // The network's provenance weighting: the weighted overall view replaces the plain one.
    let weighted = weighted_score(&run.scored, &opts.weighting);
    let overall_binary = if opts.weighting == Weighting::None {
        &scored.overall
    } else {
        &weighted.overall
    };
    let n_ok = run.scored.len() as f64;
    let total = clock.t0.elapsed().as_secs_f64();
    let gascli_peak = peak_rss_mib();
    let worker_peak = worker.peak_rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0));
    let per_sample = |d: Duration| {
        if n_ok > 0.0 {
            d.as_secs_f64() * 1000.0 / n_ok
        } else {
            0.0
        }
    };
    BenchResults {
        schema_version: SCHEMA_VERSION,
        tool: Tool::default(),
        started_at: clock.started,
        finished_at: chrono::Utc::now(),
        host: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default(),
        device: opts.device.clone(),
        model: ModelInfo {
            name: cfg.name.clone(),
            version: cfg.version.clone(),
            modality: cfg.modality.to_string(),
            num_classes: cfg.model.num_classes,
            sha256: pkg.report().summary.sha256.clone(),
            path: opts.model.display().to_string(),
        },
        mode: opts.mode,
        seed: opts.seed,
        batch_size: opts.batch_size.max(1),
        sandbox: worker.sandbox,
        worker: worker.info,
        overall: Overall::new(overall_binary, scored.multiclass.clone(), n_failed),
        per_dataset,
        timing: Timing {
            total_s: total,
            preprocess_s: run.prep_time.as_secs_f64(),
            inference_s: run.infer_time.as_secs_f64(),
            preprocess_ms_per_sample: per_sample(run.prep_time),
            inference_ms_per_sample: per_sample(run.infer_time),
            samples_per_s: if total > 0.0 { n_ok / total } else { 0.0 },
            worker_restarts: worker.restarts,
            peak_rss_mib: gascli_peak,
            peak_rss_worker_mib: worker_peak,
            peak_rss_tree_mib: match (gascli_peak, worker_peak) {
                (Some(g), Some(w)) => Some(g + w),
                _ => None,
            },
        },
        errors: run.errors.clone(),
        provenance: crate::results::Provenance::of(&weighted),
        robustness: None,
        run_id: opts.run_id.clone(),
        skipped_datasets: run.skipped.clone(),
    }
}

/// Writes a file through a temp file in the same directory + rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BenchError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(path))?;
    tmp.write_all(bytes).map_err(io_err(path))?;
    tmp.as_file().sync_all().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    Ok(())
}
