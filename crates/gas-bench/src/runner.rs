//! The benchmark run: validate → materialize → stream datasets → preprocess (rayon) → sandboxed
//! worker → score → results JSON, predictions CSV and HTML report, written atomically.
//!
//! Pipelining: a producer thread reads and preprocesses the next batches (in parallel across
//! cores) into a bounded channel of [`PIPELINE_DEPTH`] batches while the worker runs the current
//! one, so memory stays bounded by `(PIPELINE_DEPTH + 2) × batch size` whatever the dataset size.
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
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use gas_package::{Modality, ModelConfig, ValidateOptions, ValidationReport};
use gas_score::{Label, Prediction, PredictionRow, network_output, score_report};
use rayon::prelude::*;
use serde_json::{Value, json};

use crate::sandbox::SandboxSpec;
use crate::worker::{Batch, BatchData, LoadRequest, Worker, WorkerError, WorkerOptions};
use gas_datasets::{self as datasets, DatasetSpec, Media, Mode, OpenOptions, Sample};

/// Ready batches buffered ahead of the worker.
pub const PIPELINE_DEPTH: usize = 2;
/// Fresh workers started after a crash or timeout before the run gives up.
pub const MAX_WORKER_RESTARTS: usize = 2;
/// Error examples kept per kind in the results.
const EXAMPLES_PER_KIND: usize = 5;
/// Results schema version (see RESULTS.md).
pub const SCHEMA_VERSION: u32 = 1;

/// Where the samples come from.
#[derive(Debug, Clone)]
pub enum DataSource {
    /// A dataset catalog YAML (bench.md); entries of other modalities are skipped.
    Catalog(PathBuf),
    /// A folder with `real/`, `synthetic/`, `semisynthetic/` subfolders.
    Dir(PathBuf),
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub model: PathBuf,
    pub modality: Modality,
    pub data: Vec<DataSource>,
    pub mode: Mode,
    pub seed: u64,
    pub cache_dir: PathBuf,
    pub offline: bool,
    /// Directory for results.json, predictions.csv and report.html (created).
    pub results_dir: PathBuf,
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
    #[error("the run was cancelled")]
    Cancelled,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |source| BenchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The outcome of a finished run.
#[derive(Debug)]
pub struct BenchOutcome {
    /// The results object written to `results.json`.
    pub results: Value,
    pub results_dir: PathBuf,
}

struct Item {
    dataset: String,
    id: String,
    label: Label,
}

struct ReadyBatch {
    items: Vec<Item>,
    batch: Batch,
}

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
}

#[derive(Default)]
struct Errors {
    counts: BTreeMap<String, u64>,
    examples: Vec<Value>,
}

impl Errors {
    fn add(&mut self, kind: &str, dataset: &str, id: &str, message: &str) {
        let c = self.counts.entry(kind.to_string()).or_default();
        *c += 1;
        if *c as usize <= EXAMPLES_PER_KIND {
            self.examples
                .push(json!({"kind": kind, "dataset": dataset, "id": id, "message": message}));
        }
    }
}

/// Preprocessing parameters of a model, as the network applies them.
#[derive(Debug, Clone)]
struct Prep {
    modality: Modality,
    image: gas_media::ImageOptions,
    video: gas_media::VideoOptions,
    audio: gas_media::AudioOptions,
}

impl Prep {
    fn new(cfg: &ModelConfig, fast_decode: bool, apply_exif: bool) -> Self {
        let size = cfg.image_size();
        Prep {
            modality: cfg.modality,
            image: gas_media::ImageOptions {
                size,
                apply_exif,
                fast_decode,
                ..Default::default()
            },
            // as the network reads the config: frames capped at 64, `frame_rate` sampling,
            // audio always 16 kHz × 6 s (gas_package::ModelConfig)
            video: gas_media::VideoOptions {
                size,
                num_frames: cfg.video_frames(),
                frame_rate: cfg.frame_rate(),
            },
            audio: gas_media::AudioOptions {
                sample_rate: gas_package::AUDIO_SAMPLE_RATE,
                duration_seconds: gas_package::AUDIO_SECONDS,
            },
        }
    }

    /// Shape of one sample's tensor.
    fn sample_shape(&self) -> Vec<usize> {
        let [h, w] = self.image.size.map(|v| v as usize);
        match self.modality {
            Modality::Image => vec![3, h, w],
            Modality::Video => vec![self.video.num_frames as usize, 3, h, w],
            Modality::Audio => {
                vec![(self.audio.sample_rate as f64 * self.audio.duration_seconds) as usize]
            }
        }
    }

    fn run(&self, media: &Media) -> Result<Tensor, String> {
        let r = match (self.modality, media) {
            (Modality::Image, Media::Bytes(b)) => {
                gas_media::preprocess_image(b, &self.image).map(Tensor::U8)
            }
            (Modality::Image, Media::File(p)) => {
                let b = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
                gas_media::preprocess_image(&b, &self.image).map(Tensor::U8)
            }
            (Modality::Video, Media::Bytes(b)) => {
                gas_media::preprocess_video_bytes(b, &self.video).map(Tensor::U8)
            }
            (Modality::Video, Media::File(p)) => {
                gas_media::preprocess_video(p, &self.video).map(Tensor::U8)
            }
            (Modality::Audio, Media::Bytes(b)) => {
                gas_media::preprocess_audio_bytes(b, &self.audio).map(Tensor::F32)
            }
            (Modality::Audio, Media::File(p)) => {
                gas_media::preprocess_audio(p, &self.audio).map(Tensor::F32)
            }
        };
        r.map_err(|e| e.to_string())
    }
}

enum Tensor {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

fn stack(prep: &Prep, tensors: Vec<Tensor>) -> Batch {
    let mut shape = prep.sample_shape();
    shape.insert(0, tensors.len());
    let data = match prep.modality {
        Modality::Audio => BatchData::F32(
            tensors
                .into_iter()
                .flat_map(|t| match t {
                    Tensor::F32(v) => v,
                    Tensor::U8(_) => unreachable!("audio is f32"),
                })
                .collect(),
        ),
        _ => BatchData::U8(
            tensors
                .into_iter()
                .flat_map(|t| match t {
                    Tensor::U8(v) => v,
                    Tensor::F32(_) => unreachable!("image/video are u8"),
                })
                .collect(),
        ),
    };
    Batch { shape, data }
}

fn collect_specs(opts: &BenchOptions) -> Result<Vec<DatasetSpec>, BenchError> {
    let want = opts.modality.to_string();
    let mut specs = Vec::new();
    for src in &opts.data {
        match src {
            DataSource::Catalog(p) => specs.extend(
                datasets::load_catalog(p)?
                    .into_iter()
                    .filter(|s| s.modality == opts.modality),
            ),
            DataSource::Dir(d) => specs.extend(datasets::local_dir_specs(d, opts.modality)?),
        }
    }
    if specs.is_empty() {
        return Err(BenchError::NoData {
            modality: want,
            hint: "give --data-dir DIR (with real/, synthetic/, semisynthetic/) or --datasets CATALOG.yaml with entries of this modality".into(),
        });
    }
    Ok(specs)
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

fn is_cancelled(c: &Option<Arc<AtomicBool>>) -> bool {
    c.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
}

/// Runs a whole benchmark. See the module docs for the pipeline and the failure policy.
pub fn run_bench(opts: &BenchOptions) -> Result<BenchOutcome, BenchError> {
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    let report = gas_package::validate(
        &opts.model,
        &ValidateOptions {
            expected_modality: Some(opts.modality),
        },
    )?;
    if !report.valid {
        return Err(BenchError::Invalid {
            path: opts.model.display().to_string(),
            report: Box::new(report),
        });
    }
    let cfg = report.config.clone().expect("a valid package has a config");
    let specs = collect_specs(opts)?;

    let scratch = tempfile::Builder::new()
        .prefix("gascli-bench-")
        .tempdir()
        .map_err(io_err(Path::new("temporary directory")))?;
    let pkg_root = scratch.path().join("package");
    std::fs::create_dir_all(&pkg_root).map_err(io_err(&pkg_root))?;
    let pkg_dir = gas_package::materialize(&opts.model, &pkg_root)?;
    make_readable(&pkg_root)?;
    let work = scratch.path().join("work");
    std::fs::create_dir_all(&work).map_err(io_err(&work))?;

    let mut wopts = opts.worker.clone();
    let mut read_only = wopts.sandbox.read_only.clone();
    read_only.push(pkg_root.clone());
    wopts.sandbox = SandboxSpec {
        scratch: work.clone(),
        read_only,
        ..wopts.sandbox
    };
    let weights_bytes =
        std::fs::metadata(pkg_dir.join(&cfg.model.weights_file)).map_or(0, |m| m.len());
    let element_bytes = if cfg.modality == Modality::Audio {
        4
    } else {
        1
    };
    crate::worker::check_memory(
        wopts.sandbox.memory_bytes,
        opts.batch_size.max(1),
        &Prep::new(&cfg, opts.fast_decode, opts.apply_exif).sample_shape(),
        element_bytes,
        weights_bytes,
    )?;
    let load = LoadRequest {
        weights_path: pkg_dir.join(&cfg.model.weights_file),
        package_dir: pkg_dir.clone(),
        num_classes: cfg.model.num_classes,
        model_kwargs: Value::Object(cfg.load_model_kwargs()),
        dtype: cfg.dtype.as_str().to_string(),
        modality: cfg.modality.to_string(),
        device: opts.device.clone(),
        name: cfg.name.clone(),
    };
    let start_worker = |wopts: &WorkerOptions| -> Result<(Worker, Value), WorkerError> {
        let mut w = Worker::spawn(wopts)?;
        let info = w.load(&load)?;
        Ok((w, info))
    };
    let (mut worker, worker_info) = start_worker(&wopts)?;

    let mut prep = Prep::new(&cfg, opts.fast_decode, opts.apply_exif);
    prep.image.reencode = opts.reencode;
    if opts.reencode && prep.modality == Modality::Image {
        prep.image.reencode_cache = gas_media::ReencodeCache::open(
            opts.cache_dir.join("reencoded"),
            gas_media::reencode::DEFAULT_CACHE_BYTES,
        )
        .ok();
    }
    let open_opts = OpenOptions {
        mode: opts.mode,
        seed: opts.seed,
        cache_dir: opts.cache_dir.clone(),
        offline: opts.offline,
        ..OpenOptions::default()
    };
    let media_types: BTreeMap<String, String> = specs
        .iter()
        .map(|s| (s.name.clone(), s.media_type.as_str().to_string()))
        .collect();

    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {pos}/{len} samples {per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_message(format!("{} {}", cfg.modality, cfg.name));
        b
    } else {
        indicatif::ProgressBar::hidden()
    };

    let (tx, rx) = sync_channel::<Msg>(PIPELINE_DEPTH);
    let batch_size = opts.batch_size.max(1);
    let prep_p = prep.clone();
    let bar_p = bar.clone();
    let cancel_p = opts.cancel.clone();
    let producer = std::thread::spawn(move || -> Duration {
        let mut prep_time = Duration::ZERO;
        for spec in &specs {
            let iter = match datasets::open(spec, &open_opts) {
                Ok(it) => it,
                Err(e) => {
                    let _ = tx.send(Msg::DatasetFailed {
                        dataset: spec.name.clone(),
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let (lo, hi) = iter.size_hint();
            bar_p.inc_length(hi.unwrap_or(lo) as u64);
            let mut pending: Vec<Sample> = Vec::with_capacity(batch_size);
            let mut iter = iter.peekable();
            loop {
                if is_cancelled(&cancel_p) {
                    return prep_time;
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
                        bar_p.inc(1);
                        if tx
                            .send(Msg::Failed {
                                item: Item {
                                    dataset,
                                    id,
                                    label: spec.media_type,
                                },
                                kind: format!("read-{}", e.kind()),
                                message: e.to_string(),
                            })
                            .is_err()
                        {
                            return prep_time;
                        }
                    }
                    None => {}
                }
                if pending.len() == batch_size || (done && !pending.is_empty()) {
                    let t = Instant::now();
                    let results: Vec<Result<Tensor, String>> =
                        pending.par_iter().map(|s| prep_p.run(&s.media)).collect();
                    prep_time += t.elapsed();
                    let mut items = Vec::new();
                    let mut tensors = Vec::new();
                    for (s, r) in pending.drain(..).zip(results) {
                        let item = Item {
                            dataset: s.dataset,
                            id: s.id,
                            label: s.label,
                        };
                        match r {
                            Ok(t) => {
                                items.push(item);
                                tensors.push(t);
                            }
                            Err(message) => {
                                bar_p.inc(1);
                                if tx
                                    .send(Msg::Failed {
                                        item,
                                        kind: "decode".into(),
                                        message,
                                    })
                                    .is_err()
                                {
                                    return prep_time;
                                }
                            }
                        }
                    }
                    if !items.is_empty() {
                        let batch = stack(&prep_p, tensors);
                        if tx.send(Msg::Batch(ReadyBatch { items, batch })).is_err() {
                            return prep_time;
                        }
                    }
                }
                if done {
                    break;
                }
            }
        }
        prep_time
    });

    let mut errors = Errors::default();
    let mut failed_per_dataset: BTreeMap<String, u64> = BTreeMap::new();
    let mut preds: Vec<Prediction> = Vec::new();
    let mut rows: Vec<PredictionRow> = Vec::new();
    let mut infer_time = Duration::ZERO;
    let mut restarts = 0usize;
    let mut batch_index = 0usize;
    let mut fatal: Option<WorkerError> = None;
    let num_classes = cfg.model.num_classes as usize;
    for msg in rx {
        if is_cancelled(&opts.cancel) {
            break;
        }
        match msg {
            Msg::DatasetFailed { dataset, message } => {
                errors.add("dataset", &dataset, "", &message);
            }
            Msg::Failed {
                item,
                kind,
                message,
            } => {
                *failed_per_dataset.entry(item.dataset.clone()).or_default() += 1;
                errors.add(&kind, &item.dataset, &item.id, &message);
            }
            Msg::Batch(rb) => {
                let t = Instant::now();
                let n = rb.items.len();
                let res = worker.infer(batch_index, &rb.batch);
                infer_time += t.elapsed();
                batch_index += 1;
                bar.inc(n as u64);
                match res {
                    Ok(logits) => {
                        // one entry per item (the worker module checks the count)
                        for (item, row) in rb.items.into_iter().zip(logits) {
                            // the network's probabilities and call for this sample
                            // (a non-finite sample is refused by the worker module)
                            let out = match row
                                .and_then(|row| network_output(&row).map_err(|e| e.to_string()))
                            {
                                Ok(o) => o,
                                Err(msg) => {
                                    *failed_per_dataset.entry(item.dataset.clone()).or_default() +=
                                        1;
                                    let msg = format!("{}: {msg}", cfg.name);
                                    errors.add("output", &item.dataset, &item.id, &msg);
                                    continue;
                                }
                            };
                            let ps = out.p_synthetic();
                            rows.push(PredictionRow {
                                dataset: item.dataset.clone(),
                                sample_id: item.id,
                                label: item.label,
                                p_synthetic: ps,
                                weight: 1.0,
                                predicted: Some(out.predicted),
                                probs: out.probs.clone(),
                            });
                            preds.push(Prediction {
                                label: item.label,
                                p_synthetic: ps,
                                weight: 1.0,
                                dataset: Some(item.dataset),
                                probs: (num_classes >= 3 && out.probs.len() == num_classes)
                                    .then_some(out.probs),
                                predicted: Some(out.predicted),
                            });
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        for item in &rb.items {
                            *failed_per_dataset.entry(item.dataset.clone()).or_default() += 1;
                            errors.add(e.kind(), &item.dataset, &item.id, &msg);
                        }
                        if e.is_fatal() {
                            bar.suspend(|| eprintln!("warning: {msg}"));
                            if restarts >= MAX_WORKER_RESTARTS {
                                fatal = Some(e);
                                break;
                            }
                            restarts += 1;
                            match start_worker(&wopts) {
                                Ok((w, _)) => worker = w,
                                Err(e2) => {
                                    fatal = Some(e2);
                                    break;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    // After a cancel or a fatal error `rx` is dropped here first, so a producer blocked on
    // a full channel sees the send fail and returns.
    let prep_time = producer.join().unwrap_or_default();
    bar.finish_and_clear();
    worker.shutdown();
    if is_cancelled(&opts.cancel) {
        return Err(BenchError::Cancelled);
    }
    if let Some(e) = fatal {
        return Err(BenchError::Worker(e));
    }

    let scored = score_report(&preds);
    let n_ok = preds.len() as f64;
    let total = t0.elapsed().as_secs_f64();
    let per_dataset: Vec<Value> = media_types
        .iter()
        .map(|(name, mt)| {
            let mut v = scored
                .per_dataset
                .get(name)
                .map(|m| serde_json::to_value(m).unwrap_or(Value::Null))
                .unwrap_or_else(|| json!({"n": 0}));
            v["name"] = json!(name);
            v["media_type"] = json!(mt);
            v["n_failed"] = json!(failed_per_dataset.get(name).copied().unwrap_or(0));
            v
        })
        .collect();
    let mut overall = serde_json::to_value(&scored.overall).unwrap_or(Value::Null);
    overall["binary_sn34_score"] = overall["sn34_score"].clone();
    if let Some(mc) = &scored.multiclass {
        overall["multiclass"] = serde_json::to_value(mc).unwrap_or(Value::Null);
        overall["multiclass_sn34_score"] = json!(mc.sn34_score);
    }
    overall["n_failed"] = json!(failed_per_dataset.values().sum::<u64>());
    let per_sample = |d: Duration| {
        if n_ok > 0.0 {
            d.as_secs_f64() * 1000.0 / n_ok
        } else {
            0.0
        }
    };
    let results = json!({
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "gascli", "version": env!("CARGO_PKG_VERSION")},
        "started_at": started.to_rfc3339(),
        "finished_at": chrono::Utc::now().to_rfc3339(),
        "host": std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default(),
        "device": opts.device,
        "model": {
            "name": cfg.name, "version": cfg.version, "modality": cfg.modality.to_string(),
            "num_classes": cfg.model.num_classes, "sha256": report.summary.sha256,
            "path": opts.model.display().to_string(),
        },
        "mode": format!("{:?}", opts.mode).to_lowercase(),
        "seed": opts.seed,
        "batch_size": batch_size,
        "sandbox": sandbox_json(&wopts),
        "worker": worker_info,
        "overall": overall,
        "per_dataset": per_dataset,
        "timing": {
            "total_s": total,
            "preprocess_s": prep_time.as_secs_f64(),
            "inference_s": infer_time.as_secs_f64(),
            "preprocess_ms_per_sample": per_sample(prep_time),
            "inference_ms_per_sample": per_sample(infer_time),
            "samples_per_s": if total > 0.0 { n_ok / total } else { 0.0 },
            "worker_restarts": restarts,
            "peak_rss_mib": peak_rss_mib(),
        },
        "errors": {"counts": errors.counts, "examples": errors.examples},
    });

    let dir = &opts.results_dir;
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    gas_score::write_predictions_csv(&dir.join("predictions.csv"), &rows)?;
    let report_rows: Vec<crate::report::ReportRow> = rows
        .iter()
        .map(|r| crate::report::ReportRow {
            dataset: r.dataset.clone(),
            id: r.sample_id.clone(),
            label: r
                .label
                .as_str()
                .parse()
                .unwrap_or(datasets::Label::Synthetic),
            p_synthetic: r.p_synthetic,
        })
        .collect();
    write_atomic(
        &dir.join("report.html"),
        crate::report::render_html(&results, &report_rows).as_bytes(),
    )?;
    let pretty = serde_json::to_vec_pretty(&results).unwrap_or_default();
    write_atomic(&dir.join("results.json"), &pretty)?;
    Ok(BenchOutcome {
        results,
        results_dir: dir.clone(),
    })
}

fn sandbox_json(w: &WorkerOptions) -> Value {
    let mut limits = serde_json::to_value(&w.sandbox).unwrap_or(Value::Null);
    if let Some(o) = limits.as_object_mut() {
        o.remove("scratch"); // a temporary directory, gone after the run
        o.remove("read_only"); // host paths: not for published results
    }
    json!({
        "enabled": w.launcher.is_some(),
        "limits": limits,
        "batch_timeout_s": w.batch_timeout.as_secs(),
    })
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
