//! The evaluation stages after `validate`, run with `gas_bench`'s benchmark engine:
//!
//! - `exam`: the network's entrance exam: a `small` benchmark (the network's 5 000 samples split over the datasets) on the
//!   operator's exam datasets for the model's modality; passes when the accuracy, averaged over
//!   the submitted modalities, reaches [`EvalConfig::exam_threshold`] (default 0.8, inclusive),
//!   then queues `benchmark`. Model status: `confirmed` or `exam_failed`.
//! - `benchmark`: the full benchmark on the benchmark datasets; records per-dataset metrics and
//!   the modality aggregate (dataset `*`: sn34 / MCC / Brier / accuracy, read by the leaderboard
//!   and `GET /api/v1/miner/models`).
//!
//! Both keep their `results.json`, `predictions.csv` and `report.html` in the object store under
//! `results/<model_id>/<stage>/`. The model always runs in the `gas_bench` sandbox unless the
//! operator configured no launcher (`--unsafe-no-sandbox`).
//!
//! A modality without configured datasets fails its stage with a clear reason
//! ("no exam datasets configured for video …"), so nothing waits forever.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use gas_bench::results::{BenchResults, DatasetResult, Metrics};
use gas_bench::runner::{BenchError, BenchOptions, DataSource, run_bench, selection_of};
use gas_bench::worker::{WorkerError, WorkerOptions};
use gas_datasets::Mode;
use gas_package::Modality;
use gas_score::Label;
use serde::Serialize;
use serde_json::{Value, json};

use crate::db::{Model, NewMetric, status};
use crate::error::{RegistryError, Result};
use crate::redact;
use crate::stage::{
    Evaluator, PackageEvaluator, StageFuture, StageResult, local_zip, validated_status,
};
use crate::store::Store;

/// The network's exam pass mark: accuracy averaged over the submitted modalities, ≥ 80 %.
pub const DEFAULT_EXAM_THRESHOLD: f64 = 0.8;
/// The network's exam size (`gasbench run --small`).
pub const DEFAULT_EXAM_MODE: Mode = Mode::Small;
/// The network's exam wall-clock limit (1 h 25 min).
pub const DEFAULT_EXAM_TIMEOUT: Duration = Duration::from_secs(5_100);
/// The network's full-benchmark wall-clock limit per modality (5 h).
pub const DEFAULT_BENCHMARK_TIMEOUT: Duration = Duration::from_secs(18_000);

/// The exam's score: accuracy averaged over the submitted modalities (one per model here, so
/// the model's overall accuracy); `None` when no modality was scored.
pub fn exam_accuracy(per_modality: &[f64]) -> Option<f64> {
    (!per_modality.is_empty()).then(|| per_modality.iter().sum::<f64>() / per_modality.len() as f64)
}

/// Whether an exam score passes the pass mark (inclusive, as the network's "≥ 80 %").
pub fn exam_passes(accuracy: Option<f64>, threshold: f64) -> bool {
    accuracy.is_some_and(|a| a >= threshold)
}
/// Bins of the calibration (reliability) data kept with a benchmark result.
pub const CALIBRATION_BINS: usize = 10;

/// Parses an operator's `MODALITY=PATH` dataset argument (`--exam-data`, `--benchmark-data`):
/// a YAML/JSON file is a dataset catalog, a directory holds `real/`, `synthetic/`,
/// `semisynthetic/` subfolders.
pub fn parse_data_arg(arg: &str) -> std::result::Result<(Modality, DataSource), String> {
    let Some((m, p)) = arg.split_once('=') else {
        return Err(format!(
            "{arg:?}: expected MODALITY=PATH, e.g. image=examples/data/image or image=catalog.yaml"
        ));
    };
    let modality: Modality = m.trim().parse().map_err(|_| {
        format!(
            "{arg:?}: unknown modality {:?} (expected image, video or audio)",
            m.trim()
        )
    })?;
    let path = PathBuf::from(p.trim());
    if p.trim().is_empty() {
        return Err(format!("{arg:?}: the path after `=` is empty"));
    }
    let meta = std::fs::metadata(&path)
        .map_err(|e| format!("{arg:?}: cannot read {}: {e}", path.display()))?;
    let path = std::path::absolute(&path).unwrap_or(path);
    Ok((
        modality,
        if meta.is_dir() {
            DataSource::Dir(path)
        } else {
            DataSource::Catalog(path)
        },
    ))
}

/// Groups parsed `MODALITY=PATH` arguments by modality.
pub fn data_map(
    args: impl IntoIterator<Item = (Modality, DataSource)>,
) -> HashMap<Modality, Vec<DataSource>> {
    let mut m: HashMap<Modality, Vec<DataSource>> = HashMap::new();
    for (k, v) in args {
        m.entry(k).or_default().push(v);
    }
    m
}

/// How the `exam` and `benchmark` stages run.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    pub exam_data: HashMap<Modality, Vec<DataSource>>,
    pub benchmark_data: HashMap<Modality, Vec<DataSource>>,
    /// Overall accuracy needed to pass the exam.
    pub exam_threshold: f64,
    pub exam_mode: Mode,
    pub benchmark_mode: Mode,
    pub seed: u64,
    /// Where remote (hub) datasets are cached.
    pub cache_dir: PathBuf,
    /// Never download datasets.
    pub offline: bool,
    /// The robustness pass of the exam and benchmark runs (`--n-aug-per-dataset`; 0 = off, the
    /// network's default) and its blend weight (`--aug-weight`, 0.2).
    pub n_aug_per_dataset: usize,
    pub aug_weight: f64,
    /// Samples per forward call; `None`: the network's default for the modality
    /// ([`gas_bench::runner::default_batch_size`]).
    pub batch_size: Option<usize>,
    /// Torch device of the worker (`cpu` or `cuda`).
    pub device: String,
    /// Worker set-up: python, script, the sandbox launcher (`None` = no sandbox), limits.
    pub worker: WorkerOptions,
    /// Where run directories are created before their files are copied to the store.
    pub work_dir: PathBuf,
    /// RLIMIT_CPU of the worker in each stage (the stage's time limit), so a benchmark whose
    /// stage was abandoned cannot burn CPU for longer than its budget.
    pub exam_cpu_limit: Option<Duration>,
    pub benchmark_cpu_limit: Option<Duration>,
}

impl EvalConfig {
    /// Defaults around a worker set-up: no datasets, the network's exam rules (threshold 0.8,
    /// `small` mode), benchmark `full`, seed 42, the network's batch sizes, CPU, the system temp
    /// dir.
    pub fn new(worker: WorkerOptions) -> Self {
        Self {
            exam_data: HashMap::new(),
            benchmark_data: HashMap::new(),
            exam_threshold: DEFAULT_EXAM_THRESHOLD,
            exam_mode: DEFAULT_EXAM_MODE,
            benchmark_mode: Mode::Full,
            seed: 42,
            cache_dir: gas_datasets::default_cache_dir(),
            offline: false,
            batch_size: None,
            n_aug_per_dataset: 0,
            aug_weight: 0.2,
            device: "cpu".into(),
            worker,
            work_dir: std::env::temp_dir(),
            exam_cpu_limit: None,
            benchmark_cpu_limit: None,
        }
    }
}

/// `validate` (package checks) → `exam` → `benchmark`, the last two through `gas_bench`.
pub struct BenchEvaluator {
    validate: PackageEvaluator,
    cfg: EvalConfig,
}

impl BenchEvaluator {
    pub fn new(cfg: EvalConfig) -> Self {
        Self {
            validate: PackageEvaluator {
                next_after_validate: Some("exam".into()),
            },
            cfg,
        }
    }

    pub fn config(&self) -> &EvalConfig {
        &self.cfg
    }
}

impl Evaluator for BenchEvaluator {
    fn run<'a>(&'a self, stage: &'a str, model: &'a Model, store: &'a Store) -> StageFuture<'a> {
        match stage {
            "exam" | "benchmark" => Box::pin(self.bench_stage(stage, model, store)),
            _ => self.validate.run(stage, model, store),
        }
    }
}

fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

fn metric(dataset: &str, n: u64, m: Option<&Metrics>) -> NewMetric {
    NewMetric {
        dataset: dataset.to_string(),
        sn34: finite(m.and_then(|m| m.sn34_score)),
        mcc: finite(m.and_then(|m| m.mcc)),
        brier: finite(m.map(|m| m.brier)),
        accuracy: finite(m.map(|m| m.accuracy)),
        samples: i64::try_from(n).unwrap_or(i64::MAX),
        base_sn34: None,
        aug_sn34: None,
    }
}

/// `*` (the modality aggregate) then one row per dataset; with the robustness pass, each row
/// also keeps the base and degraded scores (the aggregate's `sn34` is the blend).
fn metrics_of(r: &BenchResults) -> Vec<NewMetric> {
    let all = NewMetric {
        base_sn34: finite(r.robustness.as_ref().and_then(|x| x.base_sn34_score)),
        aug_sn34: finite(r.robustness.as_ref().and_then(|x| x.aug_sn34_score)),
        ..metric("*", r.overall.n, Some(&r.overall.metrics))
    };
    std::iter::once(all)
        .chain(r.per_dataset.iter().map(|d| {
            let m = metric(&d.name, d.n, d.metrics.as_ref());
            match &d.robustness {
                Some(x) => NewMetric {
                    base_sn34: m.sn34,
                    aug_sn34: finite(x.aug_sn34_score),
                    ..m
                },
                None => m,
            }
        }))
        .collect()
}

/// One reliability bin of the calibration data kept with a stage result.
#[derive(Debug, Serialize)]
struct CalibrationBin {
    p: f64,
    frac: f64,
    n: u64,
}

/// Reliability bins from the run's predictions (binary view).
fn calibration(preds: &[gas_score::Prediction]) -> Vec<CalibrationBin> {
    gas_score::calibration_bins(
        preds.iter().map(|p| (p.p_synthetic, p.label)),
        CALIBRATION_BINS,
    )
    .into_iter()
    .map(|b| CalibrationBin {
        p: b.mean_p,
        frac: b.frac_synthetic,
        n: b.n,
    })
    .collect()
}

/// The headline metrics kept per dataset and overall (`null` where nothing was scored).
#[derive(Debug, Serialize)]
struct Headline<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_type: Option<Label>,
    n: u64,
    n_failed: u64,
    accuracy: Option<f64>,
    mcc: Option<f64>,
    brier: Option<f64>,
    sn34_score: Option<f64>,
}

impl<'a> Headline<'a> {
    fn new(n: u64, n_failed: u64, m: Option<&Metrics>) -> Self {
        Headline {
            name: None,
            media_type: None,
            n,
            n_failed,
            accuracy: m.map(|m| m.accuracy),
            mcc: m.and_then(|m| m.mcc),
            brier: m.map(|m| m.brier),
            sn34_score: m.and_then(|m| m.sn34_score),
        }
    }

    fn dataset(d: &'a DatasetResult) -> Self {
        Headline {
            name: Some(&d.name),
            media_type: Some(d.media_type),
            ..Headline::new(d.n, d.n_failed, d.metrics.as_ref())
        }
    }
}

/// What a stage's job result keeps (the full results.json is in the store): the stage
/// result's `detail`.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    mode: Mode,
    seed: u64,
    sandbox: bool,
    overall: Headline<'a>,
    per_dataset: Vec<Headline<'a>>,
    errors: &'a std::collections::BTreeMap<String, u64>,
    timing: &'a gas_bench::results::Timing,
    results_key: String,
    report_key: String,
    predictions_key: String,
    calibration: Vec<CalibrationBin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl<'a> Summary<'a> {
    fn new(r: &'a BenchResults, preds: &[gas_score::Prediction], key_prefix: &str) -> Self {
        let o = &r.overall;
        Summary {
            mode: r.mode,
            seed: r.seed,
            sandbox: r.sandbox.enabled,
            overall: Headline::new(o.n, o.n_failed, Some(&o.metrics)),
            per_dataset: r.per_dataset.iter().map(Headline::dataset).collect(),
            errors: &r.errors.counts,
            timing: &r.timing,
            results_key: format!("{key_prefix}/results.json"),
            report_key: format!("{key_prefix}/report.html"),
            predictions_key: format!("{key_prefix}/predictions.csv"),
            calibration: calibration(preds),
            threshold: None,
            reason: None,
        }
    }

    /// The stage result's `detail` (stored as JSON with the job).
    fn detail(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

fn fmt3(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".into(), |v| format!("{v:.3}"))
}

fn not_passed(stage: &str, status: &str, reason: String, detail: Value) -> StageResult {
    tracing::info!(stage, "not passed: {reason}");
    StageResult {
        passed: false,
        model_status: status.into(),
        reasons: vec![reason],
        metrics: vec![],
        detail,
        next_stage: None,
    }
}

/// Which benchmark stage runs, and what differs between the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BenchStage {
    Exam,
    Benchmark,
}

impl BenchStage {
    fn of(stage: &str) -> Self {
        if stage == "exam" {
            Self::Exam
        } else {
            Self::Benchmark
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Exam => "exam",
            Self::Benchmark => "benchmark",
        }
    }

    /// The model status when the model itself is at fault.
    fn failed_status(self) -> &'static str {
        match self {
            Self::Exam => status::EXAM_FAILED,
            // A failed benchmark run leaves the examined model confirmed; the run says failed.
            Self::Benchmark => status::CONFIRMED,
        }
    }

    /// The operator's flag that configures this stage's datasets.
    fn data_flag(self) -> &'static str {
        match self {
            Self::Exam => "--exam-data",
            Self::Benchmark => "--benchmark-data",
        }
    }
}

/// How a benchmark run ended, for the stage.
enum Ran {
    Done(Box<gas_bench::runner::BenchOutcome>),
    /// The package or the model is at fault: the stage's answer.
    NotPassed(StageResult),
}

impl BenchEvaluator {
    /// `exam` or `benchmark`, top to bottom: the stage's datasets for the model's modality, the
    /// worker set-up, the model ZIP and a run directory, the sandboxed benchmark run, its files
    /// kept in the store, then the verdict from its results.
    async fn bench_stage(&self, stage: &str, model: &Model, store: &Store) -> Result<StageResult> {
        let kind = BenchStage::of(stage);
        let (modality, sources) = match self.datasets(kind, model) {
            Ok(found) => found,
            Err(not_configured) => return Ok(*not_configured),
        };
        self.check_worker_files()?;
        let (zip, _tmp) = local_zip(model, store).await?;
        let run_dir = self.run_dir(kind)?;
        let opts = self.bench_options(kind, zip, modality, sources, run_dir.path())?;
        let out = match self.run_sandboxed(kind, opts).await? {
            Ran::Done(out) => out,
            Ran::NotPassed(r) => return Ok(r),
        };
        let prefix = format!("results/{}/{stage}", model.model_id);
        // The run's files and predictions come from memory (nothing is read back from disk).
        for (name, bytes) in out.files.entries() {
            store
                .put_bytes(&format!("{prefix}/{name}"), Bytes::copy_from_slice(bytes))
                .await?;
        }
        let preds: Vec<gas_score::Prediction> = out
            .predictions
            .iter()
            .map(|r| gas_score::Prediction {
                weight: r.weight,
                dataset: Some(r.dataset.clone()),
                ..gas_score::Prediction::new(r.label, r.p_synthetic)
            })
            .collect();
        Ok(match kind {
            BenchStage::Exam => self.judge_exam(&out.results, &preds, &prefix),
            BenchStage::Benchmark => judge_benchmark(&out.results, &preds, &prefix),
        })
    }

    /// The model's modality and the stage's datasets for it; a stage result saying why not when
    /// the modality is unknown or the operator configured no datasets for it.
    fn datasets(
        &self,
        kind: BenchStage,
        model: &Model,
    ) -> std::result::Result<(Modality, Vec<DataSource>), Box<StageResult>> {
        let stage = kind.name();
        let Ok(modality) = model.modality.parse::<Modality>() else {
            return Err(Box::new(not_passed(
                stage,
                kind.failed_status(),
                format!("unknown modality {:?}", model.modality),
                Value::Null,
            )));
        };
        let data = match kind {
            BenchStage::Exam => &self.cfg.exam_data,
            BenchStage::Benchmark => &self.cfg.benchmark_data,
        };
        match data.get(&modality).filter(|s| !s.is_empty()) {
            Some(sources) => Ok((modality, sources.clone())),
            None => Err(Box::new(not_passed(
                stage,
                kind.failed_status(),
                format!(
                    "no {stage} datasets configured for {modality} (the operator starts the \
                     registry with {} {modality}=DIR_OR_CATALOG.yaml)",
                    kind.data_flag()
                ),
                json!({"configured": false}),
            ))),
        }
    }

    /// The worker's Python and script exist (an operator problem otherwise: the job fails).
    fn check_worker_files(&self) -> Result<()> {
        if !self.cfg.worker.python.exists() {
            return Err(RegistryError::Config(format!(
                "worker Python {} not found: run scripts/setup.sh or pass --python",
                self.cfg.worker.python.display()
            )));
        }
        if !self.cfg.worker.script.is_file() {
            return Err(RegistryError::Config(format!(
                "worker script {} not found: set GASCLI_WORKER to python/gas_worker/worker.py",
                self.cfg.worker.script.display()
            )));
        }
        Ok(())
    }

    /// A fresh run directory under the configured work dir (removed when dropped).
    fn run_dir(&self, kind: BenchStage) -> Result<tempfile::TempDir> {
        let io = |source| RegistryError::Io {
            path: self.cfg.work_dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.cfg.work_dir).map_err(io)?;
        tempfile::Builder::new()
            .prefix(&format!("gas-registry-{}-", kind.name()))
            .tempdir_in(&self.cfg.work_dir)
            .map_err(io)
    }

    /// The benchmark's options for this stage: its mode, its CPU limit on the worker.
    fn bench_options(
        &self,
        kind: BenchStage,
        model: PathBuf,
        modality: Modality,
        data: Vec<DataSource>,
        run_dir: &Path,
    ) -> Result<BenchOptions> {
        let (mode, cpu) = match kind {
            BenchStage::Exam => (self.cfg.exam_mode, self.cfg.exam_cpu_limit),
            BenchStage::Benchmark => (self.cfg.benchmark_mode, self.cfg.benchmark_cpu_limit),
        };
        let mut worker = self.cfg.worker.clone();
        if let Some(c) = cpu {
            worker.sandbox.cpu_seconds = c.as_secs().max(1);
        }
        let datasets = selection_of(&data, modality)
            .map_err(|e| RegistryError::Config(format!("{} datasets: {e}", kind.name())))?;
        Ok(BenchOptions {
            model,
            modality,
            datasets,
            mode,
            seed: self.cfg.seed,
            cache_dir: self.cfg.cache_dir.clone(),
            offline: self.cfg.offline,
            skip_missing: false,
            gasstation: Default::default(),
            weighting: Default::default(),
            run_id: None,
            n_aug_per_dataset: self.cfg.n_aug_per_dataset,
            aug_weight: self.cfg.aug_weight,
            // one cache of degraded tensors for every model evaluated: the same samples
            aug_cache: Some(gas_bench::aug_cache::AugCache {
                dir: self.cfg.cache_dir.join("aug"),
                readonly: false,
            }),
            results_dir: Some(run_dir.join("results")),
            scratch_parent: None,
            batch_size: self
                .cfg
                .batch_size
                .unwrap_or_else(|| gas_bench::runner::default_batch_size(modality))
                .max(1),
            device: self.cfg.device.clone(),
            fast_decode: false,
            apply_exif: false,
            reencode: true,
            worker,
            progress: false,
            cancel: None,
        })
    }

    /// Runs the benchmark on a blocking thread. An invalid package or a model that cannot be
    /// run is the stage's answer; datasets, disk or sandbox start-up problems fail the job.
    async fn run_sandboxed(&self, kind: BenchStage, mut opts: BenchOptions) -> Result<Ran> {
        let stage = kind.name();
        // When the worker loop's stage time limit drops this future, the guard cancels the
        // blocking run (it stops decoding and shuts the model's worker down).
        let cancel = CancelOnDrop::default();
        opts.cancel = Some(cancel.0.clone());
        let out = tokio::task::spawn_blocking(move || run_bench(&opts))
            .await
            .map_err(|e| RegistryError::Config(format!("{stage} task failed: {e}")))?;
        drop(cancel);
        match out {
            Ok(o) => Ok(Ran::Done(Box::new(o))),
            Err(BenchError::Invalid { report, .. }) => {
                let reasons = report.errors.iter().map(|e| e.to_string()).collect();
                Ok(Ran::NotPassed(StageResult {
                    passed: false,
                    model_status: validated_status(&report, false).into(),
                    reasons,
                    metrics: vec![],
                    detail: serde_json::to_value(&*report).unwrap_or(Value::Null),
                    next_stage: None,
                }))
            }
            // The model's fault: it crashed, hung or broke the protocol every time.
            // Published: our sentence and a bounded, redacted excerpt, never the raw output.
            Err(BenchError::Worker(e)) if !matches!(e, WorkerError::Spawn { .. }) => {
                let msg = e.to_string();
                tracing::warn!(stage, "the model could not be run: {msg}");
                let first = msg.lines().next().unwrap_or_default();
                Ok(Ran::NotPassed(not_passed(
                    stage,
                    kind.failed_status(),
                    redact::reason(
                        &format!("the model could not be run in the {stage} ({})", e.kind()),
                        first,
                    ),
                    json!({"error": e.kind(), "message": redact::redact(&msg, 2_000)}),
                )))
            }
            // Operator/infrastructure problems (datasets, disk, sandbox start): a failed job.
            Err(e) => Err(RegistryError::Config(format!("{stage} benchmark: {e}"))),
        }
    }

    /// The exam's verdict: passed when the accuracy reaches the threshold; queues `benchmark`.
    fn judge_exam(
        &self,
        r: &BenchResults,
        preds: &[gas_score::Prediction],
        prefix: &str,
    ) -> StageResult {
        let mut summary = Summary::new(r, preds, prefix);
        let o = &r.overall;
        let n = o.n;
        let sn34 = finite(o.metrics.sn34_score);
        let th = self.cfg.exam_threshold;
        summary.threshold = Some(th);
        let acc = exam_accuracy(finite(Some(o.metrics.accuracy)).as_slice());
        let passed = n > 0 && exam_passes(acc, th);
        let reason = if n == 0 {
            format!(
                "exam: no sample could be scored ({} failed); see {prefix}/results.json",
                o.n_failed
            )
        } else if passed {
            format!(
                "exam passed: accuracy {} ≥ {th:.2} on {n} samples (sn34 {})",
                fmt3(acc),
                fmt3(sn34)
            )
        } else {
            format!(
                "exam failed: accuracy {} < {th:.2} required on {n} samples (sn34 {})",
                fmt3(acc),
                fmt3(sn34)
            )
        };
        summary.reason = Some(reason.clone());
        StageResult {
            passed,
            model_status: if passed {
                status::CONFIRMED
            } else {
                status::EXAM_FAILED
            }
            .into(),
            reasons: if passed { vec![] } else { vec![reason] },
            metrics: metrics_of(r),
            detail: summary.detail(),
            next_stage: passed.then(|| "benchmark".to_string()),
        }
    }
}

/// The benchmark's verdict: recorded when at least one sample was scored.
fn judge_benchmark(r: &BenchResults, preds: &[gas_score::Prediction], prefix: &str) -> StageResult {
    let o = &r.overall;
    let passed = o.n > 0;
    let mut reasons = vec![];
    if !passed {
        reasons.push(format!(
            "benchmark: no sample could be scored ({} failed); see {prefix}/results.json",
            o.n_failed
        ));
    }
    StageResult {
        passed,
        model_status: status::CONFIRMED.into(),
        reasons,
        metrics: metrics_of(r),
        detail: Summary::new(r, preds, prefix).detail(),
        next_stage: None,
    }
}

/// Default dataset locations of a source checkout: `examples/data/<modality>` under `root`.
pub fn bundled_data(root: &Path, modality: Modality) -> Option<PathBuf> {
    let p = root.join("examples/data").join(modality.as_str());
    ["real", "synthetic", "semisynthetic"]
        .iter()
        .any(|s| p.join(s).is_dir())
        .then_some(p)
}

/// Sets the shared flag when dropped: a benchmark run whose future was abandoned (stage time
/// limit) is told to stop instead of running on in the background.
#[derive(Default)]
struct CancelOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
