//! The evaluation stages after `validate`, run with `gas_bench`'s benchmark engine:
//!
//! - `exam`: a small benchmark (default `debug` size, ≤ 8 samples per dataset) on the operator's
//!   exam datasets for the model's modality; passes when the overall accuracy reaches
//!   [`EvalConfig::exam_threshold`] (default 0.6) and then queues `benchmark`.
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
use gas_bench::runner::{BenchError, BenchOptions, DataSource, run_bench};
use gas_bench::worker::{WorkerError, WorkerOptions};
use gas_datasets::Mode;
use gas_package::Modality;
use serde_json::{Value, json};

use crate::db::{Model, NewMetric};
use crate::error::{RegistryError, Result};
use crate::store::Store;
use crate::worker::{Evaluator, PackageEvaluator, StageFuture, StageResult};

/// Default exam pass mark (overall accuracy).
pub const DEFAULT_EXAM_THRESHOLD: f64 = 0.6;
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
    pub batch_size: usize,
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
    /// Defaults around a worker set-up: no datasets, threshold 0.6, exam `debug`, benchmark
    /// `full`, seed 42, batch 16, CPU, the system temp dir.
    pub fn new(worker: WorkerOptions) -> Self {
        Self {
            exam_data: HashMap::new(),
            benchmark_data: HashMap::new(),
            exam_threshold: DEFAULT_EXAM_THRESHOLD,
            exam_mode: Mode::Debug,
            benchmark_mode: Mode::Full,
            seed: 42,
            cache_dir: gas_datasets::default_cache_dir(),
            offline: false,
            batch_size: 16,
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

/// The model ZIP as a local file: the local store's file in place, else a temporary copy.
pub(crate) async fn local_zip(
    model: &Model,
    store: &Store,
) -> Result<(PathBuf, Option<tempfile::TempPath>)> {
    if let Some(p) = store.local_path(&model.r2_key) {
        return Ok((p, None));
    }
    let bytes = store.get_bytes(&model.r2_key).await?;
    let tmp = tempfile::Builder::new()
        .suffix(".zip")
        .tempfile()
        .map_err(|source| RegistryError::Io {
            path: "temporary file".into(),
            source,
        })?;
    std::fs::write(tmp.path(), &bytes).map_err(|source| RegistryError::Io {
        path: tmp.path().display().to_string(),
        source,
    })?;
    let tmp = tmp.into_temp_path();
    Ok((tmp.to_path_buf(), Some(tmp)))
}

fn f(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

fn metric(dataset: &str, v: &Value) -> NewMetric {
    NewMetric {
        dataset: dataset.to_string(),
        sn34: f(&v["sn34_score"]),
        mcc: f(&v["mcc"]),
        brier: f(&v["brier"]),
        accuracy: f(&v["accuracy"]),
        samples: v["n"].as_i64().unwrap_or(0),
    }
}

/// `*` (the modality aggregate) then one row per dataset.
fn metrics_of(results: &Value) -> Vec<NewMetric> {
    let mut out = vec![metric("*", &results["overall"])];
    for d in results["per_dataset"].as_array().into_iter().flatten() {
        if let Some(name) = d["name"].as_str() {
            out.push(metric(name, d));
        }
    }
    out
}

/// Reliability bins `[{"p", "frac", "n"}]` from the run's predictions (binary view).
fn calibration(preds: &[gas_score::Prediction]) -> Vec<Value> {
    gas_score::calibration_bins(
        preds.iter().map(|p| (p.p_synthetic, p.label)),
        CALIBRATION_BINS,
    )
    .into_iter()
    .map(|b| json!({"p": b.mean_p, "frac": b.frac_synthetic, "n": b.n}))
    .collect()
}

/// What the job result keeps (the full results.json is in the store).
fn summary(results: &Value, key_prefix: &str) -> Value {
    let per: Vec<Value> = results["per_dataset"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            json!({"name": d["name"], "media_type": d["media_type"], "n": d["n"],
                   "n_failed": d["n_failed"], "accuracy": d["accuracy"], "mcc": d["mcc"],
                   "brier": d["brier"], "sn34_score": d["sn34_score"]})
        })
        .collect();
    let o = &results["overall"];
    json!({
        "mode": results["mode"],
        "seed": results["seed"],
        "sandbox": results["sandbox"]["enabled"],
        "overall": {"n": o["n"], "n_failed": o["n_failed"], "accuracy": o["accuracy"],
                    "mcc": o["mcc"], "brier": o["brier"], "sn34_score": o["sn34_score"]},
        "per_dataset": per,
        "errors": results["errors"]["counts"],
        "timing": results["timing"],
        "results_key": format!("{key_prefix}/results.json"),
        "report_key": format!("{key_prefix}/report.html"),
        "predictions_key": format!("{key_prefix}/predictions.csv"),
    })
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

impl BenchEvaluator {
    async fn bench_stage(&self, stage: &str, model: &Model, store: &Store) -> Result<StageResult> {
        let exam = stage == "exam";
        let failed_status = if exam {
            "exam_failed"
        } else {
            "benchmark_failed"
        };
        let Ok(modality) = model.modality.parse::<Modality>() else {
            return Ok(not_passed(
                stage,
                failed_status,
                format!("unknown modality {:?}", model.modality),
                Value::Null,
            ));
        };
        let (data, flag) = if exam {
            (&self.cfg.exam_data, "--exam-data")
        } else {
            (&self.cfg.benchmark_data, "--benchmark-data")
        };
        let Some(sources) = data.get(&modality).filter(|s| !s.is_empty()) else {
            return Ok(not_passed(
                stage,
                failed_status,
                format!(
                    "no {stage} datasets configured for {modality} (the operator starts the \
                     registry with {flag} {modality}=DIR_OR_CATALOG.yaml)"
                ),
                json!({"configured": false}),
            ));
        };
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
        let (zip, _tmp) = local_zip(model, store).await?;
        std::fs::create_dir_all(&self.cfg.work_dir).map_err(|source| RegistryError::Io {
            path: self.cfg.work_dir.display().to_string(),
            source,
        })?;
        let run_dir = tempfile::Builder::new()
            .prefix(&format!("gas-registry-{stage}-"))
            .tempdir_in(&self.cfg.work_dir)
            .map_err(|source| RegistryError::Io {
                path: self.cfg.work_dir.display().to_string(),
                source,
            })?;
        let mut worker = self.cfg.worker.clone();
        let cpu = if exam {
            self.cfg.exam_cpu_limit
        } else {
            self.cfg.benchmark_cpu_limit
        };
        if let Some(c) = cpu {
            worker.sandbox.cpu_seconds = c.as_secs().max(1);
        }
        // When the worker loop's stage time limit drops this future, the guard cancels the
        // blocking run (it stops decoding and shuts the model's worker down).
        let cancel = CancelOnDrop::default();
        let opts = BenchOptions {
            model: zip,
            modality,
            data: sources.clone(),
            mode: if exam {
                self.cfg.exam_mode
            } else {
                self.cfg.benchmark_mode
            },
            seed: self.cfg.seed,
            cache_dir: self.cfg.cache_dir.clone(),
            offline: self.cfg.offline,
            results_dir: run_dir.path().join("results"),
            batch_size: self.cfg.batch_size.max(1),
            device: self.cfg.device.clone(),
            fast_decode: false,
            apply_exif: false,
            worker,
            progress: false,
            cancel: Some(cancel.0.clone()),
        };
        let out = tokio::task::spawn_blocking(move || run_bench(&opts))
            .await
            .map_err(|e| RegistryError::Config(format!("{stage} task failed: {e}")))?;
        drop(cancel);
        let out = match out {
            Ok(o) => o,
            Err(BenchError::Invalid { report, .. }) => {
                let reasons = report.errors.iter().map(|e| e.to_string()).collect();
                return Ok(StageResult {
                    passed: false,
                    model_status: "invalid".into(),
                    reasons,
                    metrics: vec![],
                    detail: serde_json::to_value(&*report).unwrap_or(Value::Null),
                    next_stage: None,
                });
            }
            // The model's fault: it crashed, hung or broke the protocol every time.
            Err(BenchError::Worker(e)) if !matches!(e, WorkerError::Spawn { .. }) => {
                let msg = e.to_string();
                let first = msg.lines().next().unwrap_or_default().to_string();
                return Ok(not_passed(
                    stage,
                    failed_status,
                    format!("the model could not be run: {first}"),
                    json!({"error": e.kind(), "message": msg}),
                ));
            }
            // Operator/infrastructure problems (datasets, disk, sandbox start): a failed job.
            Err(e) => return Err(RegistryError::Config(format!("{stage} benchmark: {e}"))),
        };

        let prefix = format!("results/{}/{stage}", model.model_id);
        for name in ["results.json", "predictions.csv", "report.html"] {
            let p = out.results_dir.join(name);
            match tokio::fs::read(&p).await {
                Ok(b) => {
                    store
                        .put_bytes(&format!("{prefix}/{name}"), Bytes::from(b))
                        .await?
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(RegistryError::Io {
                        path: p.display().to_string(),
                        source,
                    });
                }
            }
        }
        let preds = gas_score::read_predictions_csv(&out.results_dir.join("predictions.csv"))
            .unwrap_or_default();
        let r = &out.results;
        let mut detail = summary(r, &prefix);
        detail["calibration"] = Value::Array(calibration(&preds));
        let o = &r["overall"];
        let (n, acc, sn34) = (
            o["n"].as_i64().unwrap_or(0),
            f(&o["accuracy"]),
            f(&o["sn34_score"]),
        );
        let metrics = metrics_of(r);
        if exam {
            let th = self.cfg.exam_threshold;
            detail["threshold"] = json!(th);
            let passed = n > 0 && acc.is_some_and(|a| a >= th);
            let reason = if n == 0 {
                format!(
                    "exam: no sample could be scored ({} failed); see {prefix}/results.json",
                    o["n_failed"]
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
            detail["reason"] = json!(reason);
            Ok(StageResult {
                passed,
                model_status: if passed { "exam_passed" } else { "exam_failed" }.into(),
                reasons: if passed { vec![] } else { vec![reason] },
                metrics,
                detail,
                next_stage: passed.then(|| "benchmark".to_string()),
            })
        } else {
            let passed = n > 0;
            let mut reasons = vec![];
            if !passed {
                reasons.push(format!(
                    "benchmark: no sample could be scored ({} failed); see {prefix}/results.json",
                    o["n_failed"]
                ));
            }
            Ok(StageResult {
                passed,
                model_status: if passed {
                    "evaluated"
                } else {
                    "benchmark_failed"
                }
                .into(),
                reasons,
                metrics,
                detail,
                next_stage: None,
            })
        }
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
