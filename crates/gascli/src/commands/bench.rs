//! `gascli d bench`: benchmark models with the network's preprocessing in the sandboxed worker.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use gas_bench::runner::{
    BenchError, BenchOptions, BenchOutcome, RunFiles, default_batch_size, run_bench,
};
use gas_bench::worker::{find_python, find_worker_script};
use gas_datasets::default_cache_dir;
use gas_package::Modality;
use gas_score::Weighting;

use super::dataset_args::{DatasetArgs, ModeArgs};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("models").required(true).multiple(true))]
pub struct Args {
    /// Image model: package directory or ZIP.
    #[arg(long, group = "models", value_name = "PATH")]
    pub image_model: Option<PathBuf>,
    /// Video model: package directory or ZIP.
    #[arg(long, group = "models", value_name = "PATH")]
    pub video_model: Option<PathBuf>,
    /// Audio model: package directory or ZIP.
    #[arg(long, group = "models", value_name = "PATH")]
    pub audio_model: Option<PathBuf>,
    #[command(flatten)]
    pub mode: ModeArgs,
    #[command(flatten)]
    pub data: DatasetArgs,
    /// Where remote datasets are downloaded (default: $GASCLI_CACHE_DIR or ~/.cache/gascli).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Never download: use only cached datasets (a dataset missing from the cache is an error).
    #[arg(long)]
    pub offline: bool,
    /// Skip datasets that are not already cached (download nothing), as gasbench's flag.
    #[arg(long)]
    pub skip_missing: bool,
    /// Download GAS-Station (weekly) data for the run. Without it, as in gasbench, GAS-Station
    /// datasets come from the cache only and are skipped when not cached.
    #[arg(long)]
    pub download_latest_gasstation_data: bool,
    /// Where results go: the files are written into DIR itself (DIR/NAME with --run-name).
    /// Default: ./results/<NAME>/. With several models, one subfolder per modality inside.
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,
    /// Name of the run directory (default without --results-dir: <model>-<UTC time>), as
    /// gasbench's flag.
    #[arg(long, value_name = "NAME")]
    pub run_name: Option<String>,
    /// Run ID recorded in results.json (for matching with other systems), as gasbench's flag.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Sampling seed (same seed, same samples). gasbench samples at random when no seed is
    /// given; gascli always uses one so that runs repeat.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Target share (0-1) of the score's total weight carried by holdout samples; with
    /// --gasstation-share the public corpus gets the rest. Supersedes --holdout-weight.
    #[arg(long, value_name = "SHARE")]
    pub holdout_share: Option<f64>,
    /// Target share (0-1) of the score's total weight carried by GAS-Station samples.
    #[arg(long, value_name = "SHARE")]
    pub gasstation_share: Option<f64>,
    /// Legacy: weight of holdout samples in the accuracy only (the network's default 1.0).
    #[arg(long, default_value_t = 1.0, value_name = "WEIGHT")]
    pub holdout_weight: f64,
    /// The robustness pass: re-score the first N samples of each dataset on degraded copies
    /// (the network's chains — images: downscale ×0.5 and back, JPEG q55, WebP q75, JPEG q80;
    /// videos: downscale ×0.5, H.264 CRF 23 through the ffmpeg command) and blend:
    /// sn34 = (1 − w)·base + w·aug. 0 (the network's default) turns it off; audio has no pass.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub n_aug_per_dataset: usize,
    /// w of the blend above (the network's default 0.2).
    #[arg(long, default_value_t = 0.2, value_name = "W")]
    pub aug_weight: f64,
    /// Cache the robustness pass's degraded tensors here and reuse them in later runs (keyed by
    /// the sample's content, the chain's version and the model's preprocessing options).
    #[arg(long, value_name = "DIR")]
    pub aug_cache_dir: Option<PathBuf>,
    /// Use --aug-cache-dir's entries but never write to it (a shared, pre-filled cache).
    #[arg(long, requires = "aug_cache_dir")]
    pub aug_cache_readonly: bool,
    /// Decode JPEGs at a reduced DCT scale when the target is much smaller: faster, NOT network-exact.
    #[arg(long)]
    pub fast_decode: bool,
    /// Apply EXIF orientation (the network does not).
    #[arg(long)]
    pub exif: bool,
    /// Images: skip the network's cache step (JPEG/WebP re-encoded as Pillow's save() before
    /// decoding) and decode the original bytes. NOT network-exact.
    #[arg(long)]
    pub no_reencode: bool,
    #[command(flatten)]
    pub worker: super::ModelWorkerArgs,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print the results object(s) as JSON.
    #[arg(long)]
    pub json: bool,
}

fn fmt_opt(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite())
        .map_or_else(|| "—".to_string(), |x| format!("{x:.4}"))
}

fn print_table(out: &BenchOutcome) {
    let r = &out.results;
    let m = &r.model;
    println!(
        "\n{} {} ({}) — mode {}, seed {}",
        m.name, m.version, m.modality, r.mode, r.seed
    );
    println!(
        "{:<36} {:<13} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "dataset", "media_type", "n", "failed", "accuracy", "mcc", "brier", "sn34"
    );
    for d in &r.per_dataset {
        let dm = d.metrics.as_ref();
        println!(
            "{:<36} {:<13} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}",
            d.name,
            d.media_type.as_str(),
            d.n,
            d.n_failed,
            fmt_opt(dm.map(|m| m.accuracy)),
            fmt_opt(dm.and_then(|m| m.mcc)),
            fmt_opt(dm.map(|m| m.brier)),
            fmt_opt(dm.and_then(|m| m.sn34_score)),
        );
    }
    let o = &r.overall;
    let om = &o.metrics;
    println!(
        "{:<36} {:<13} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "OVERALL",
        "",
        o.n,
        o.n_failed,
        fmt_opt(Some(om.accuracy)),
        fmt_opt(om.mcc),
        fmt_opt(Some(om.brier)),
        fmt_opt(om.sn34_score),
    );
    println!(
        "sn34_score {}  (mcc_norm {}, brier_norm {}, cross-entropy {})",
        fmt_opt(om.sn34_score),
        fmt_opt(om.mcc_norm),
        fmt_opt(Some(om.brier_norm)),
        fmt_opt(Some(om.cross_entropy))
    );
    if let Some(mc) = o.multiclass_sn34_score {
        println!("multiclass_sn34_score {}", fmt_opt(Some(mc)));
    }
    let t = &r.timing;
    println!(
        "{:.1} samples/s  (preprocess {:.2} ms/sample, inference {:.2} ms/sample, total {:.1} s)",
        t.samples_per_s, t.preprocess_ms_per_sample, t.inference_ms_per_sample, t.total_s,
    );
    if !r.errors.counts.is_empty() {
        let list: Vec<String> = r
            .errors
            .counts
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        println!("errors: {}", list.join(", "));
        for ex in r.errors.examples.iter().take(3) {
            println!(
                "  e.g. {} {}: {}",
                ex.dataset,
                ex.id,
                ex.message.lines().next().unwrap_or("")
            );
        }
    }
    if let Some(dir) = &out.results_dir {
        println!(
            "results: {}  report: {}",
            dir.join(RunFiles::RESULTS_JSON).display(),
            dir.join(RunFiles::REPORT_HTML).display()
        );
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let models: Vec<(Modality, PathBuf)> =
        super::given_models(&args.image_model, &args.video_model, &args.audio_model);
    let modalities: Vec<Modality> = models.iter().map(|(m, _)| *m).collect();
    let selection = args.data.selection(&modalities)?;
    let weighting = Weighting::from_flags(
        args.holdout_share,
        args.gasstation_share,
        args.holdout_weight,
    )
    .map_err(anyhow::Error::msg)?;
    if !(0.0..=1.0).contains(&args.aug_weight) {
        bail!(
            "--aug-weight must be between 0 and 1, got {}",
            args.aug_weight
        );
    }
    let mode = args.mode.mode();
    let python = match args.worker.python.clone().or_else(find_python) {
        Some(p) => p,
        None => bail!(
            "no worker Python found: run scripts/setup.sh (creates .venv with PyTorch), or pass --python / set GASCLI_VENV"
        ),
    };
    let script = find_worker_script().context(
        "python/gas_worker/worker.py not found next to gascli; set GASCLI_WORKER to its path",
    )?;
    let worker = args.worker.options(
        python,
        script,
        "the model runs with your user's full access to files and network",
    )?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let several = models.len() > 1;

    let mut all = Vec::new();
    let mut failed = false;
    for (modality, path) in models {
        let name = path
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy().into_owned());
        let run_dir = match (&args.results_dir, &args.run_name) {
            (Some(d), None) => d.clone(),
            (Some(d), Some(run)) => d.join(run),
            (None, run) => PathBuf::from("results")
                .join(run.clone().unwrap_or_else(|| format!("{name}-{stamp}"))),
        };
        let results_dir = if several {
            run_dir.join(modality.to_string())
        } else {
            run_dir
        };
        let opts = BenchOptions {
            model: path.clone(),
            modality,
            datasets: selection.clone(),
            mode,
            seed: args.seed,
            cache_dir: args.cache_dir.clone().unwrap_or_else(default_cache_dir),
            offline: args.offline,
            skip_missing: args.skip_missing,
            gasstation: args.data.gasstation(!args.download_latest_gasstation_data),
            weighting,
            run_id: args.run_id.clone(),
            n_aug_per_dataset: args.n_aug_per_dataset,
            aug_weight: args.aug_weight,
            aug_cache: args
                .aug_cache_dir
                .clone()
                .map(|dir| gas_bench::aug_cache::AugCache {
                    dir,
                    readonly: args.aug_cache_readonly,
                }),
            results_dir: Some(results_dir),
            scratch_parent: None,
            batch_size: args
                .worker
                .batch_size
                .unwrap_or_else(|| default_batch_size(modality)),
            device: args.worker.device.clone(),
            fast_decode: args.fast_decode,
            apply_exif: args.exif,
            reencode: !args.no_reencode,
            worker: worker.clone(),
            progress: !args.quiet && !args.json,
            cancel: None,
        };
        match run_bench(&opts) {
            Ok(out) => {
                if !args.json {
                    print_table(&out);
                }
                if let Some(why) = out.results.failure() {
                    failed = true;
                    eprintln!("error: benchmark of {} failed: {why}", path.display());
                }
                all.push(out.results);
            }
            Err(BenchError::Invalid { path, report }) => {
                failed = true;
                eprintln!("{path}: invalid {modality} package, not benchmarked:");
                for e in &report.errors {
                    let at = match (e.line, e.column) {
                        (Some(l), Some(c)) => format!(":{l}:{c}"),
                        _ => String::new(),
                    };
                    eprintln!("  {}{at}: [{}] {}", e.file, e.rule, e.message);
                }
            }
            // The model failed to load, or crashed / hung every time: the run failed (1).
            Err(e) if e.is_model_fault() => {
                failed = true;
                eprintln!(
                    "error: benchmark of {} failed: the model could not be run: {e}",
                    path.display()
                );
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("benchmark of {} failed", path.display())));
            }
        }
    }
    if args.json {
        let text = match all.as_slice() {
            [] => "null".to_string(),
            [one] => serde_json::to_string_pretty(one)?,
            several => serde_json::to_string_pretty(several)?,
        };
        println!("{text}");
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
