//! `gascli d bench`: benchmark models with the network's preprocessing in the sandboxed worker.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use gas_bench::runner::{BenchError, BenchOptions, DataSource, run_bench};
use gas_bench::worker::{find_python, find_worker_script};
use gas_datasets::{Mode, default_cache_dir};
use gas_package::Modality;
use serde_json::Value;

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("models").required(true).multiple(true))]
#[command(group = clap::ArgGroup::new("mode").multiple(false))]
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
    /// A few samples per dataset (8): a smoke test.
    #[arg(long, group = "mode")]
    pub debug: bool,
    /// About 100 samples per dataset, like the network's entrance exam (the default).
    #[arg(long, group = "mode")]
    pub small: bool,
    /// Every sample of every dataset.
    #[arg(long, group = "mode")]
    pub full: bool,
    /// Dataset catalog YAML (the network's format); repeatable. Entries of other modalities are skipped.
    #[arg(long, value_name = "FILE.yaml")]
    pub datasets: Vec<PathBuf>,
    /// Local folder with real/, synthetic/, semisynthetic/ subfolders; repeatable.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Vec<PathBuf>,
    /// Where remote datasets are downloaded (default: $GASCLI_CACHE_DIR or ~/.cache/gascli).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Never download: use only cached datasets.
    #[arg(long)]
    pub offline: bool,
    /// Where results go (default ./results/<model>-<UTC time>/; one subfolder per modality when several).
    #[arg(long, value_name = "DIR")]
    pub results_dir: Option<PathBuf>,
    /// Sampling seed (same seed, same samples).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Decode JPEGs at a reduced DCT scale when the target is much smaller: faster, NOT network-exact.
    #[arg(long)]
    pub fast_decode: bool,
    /// Apply EXIF orientation (the network does not).
    #[arg(long)]
    pub exif: bool,
    #[command(flatten)]
    pub worker: super::ModelWorkerArgs,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print the results object(s) as JSON.
    #[arg(long)]
    pub json: bool,
}

fn fmt_opt(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "—".to_string(), |x| format!("{x:.4}"))
}

fn print_table(r: &Value, dir: &std::path::Path) {
    let m = &r["model"];
    println!(
        "\n{} {} ({}) — mode {}, seed {}",
        m["name"].as_str().unwrap_or("?"),
        m["version"].as_str().unwrap_or(""),
        m["modality"].as_str().unwrap_or("?"),
        r["mode"].as_str().unwrap_or("?"),
        r["seed"]
    );
    println!(
        "{:<36} {:<13} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "dataset", "media_type", "n", "failed", "accuracy", "mcc", "brier", "sn34"
    );
    for d in r["per_dataset"].as_array().into_iter().flatten() {
        println!(
            "{:<36} {:<13} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}",
            d["name"].as_str().unwrap_or("?"),
            d["media_type"].as_str().unwrap_or("?"),
            d["n"],
            d["n_failed"],
            fmt_opt(&d["accuracy"]),
            fmt_opt(&d["mcc"]),
            fmt_opt(&d["brier"]),
            fmt_opt(&d["sn34_score"]),
        );
    }
    let o = &r["overall"];
    println!(
        "{:<36} {:<13} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "OVERALL",
        "",
        o["n"],
        o["n_failed"],
        fmt_opt(&o["accuracy"]),
        fmt_opt(&o["mcc"]),
        fmt_opt(&o["brier"]),
        fmt_opt(&o["sn34_score"]),
    );
    println!(
        "sn34_score {}  (mcc_norm {}, brier_norm {}, cross-entropy {})",
        fmt_opt(&o["sn34_score"]),
        fmt_opt(&o["mcc_norm"]),
        fmt_opt(&o["brier_norm"]),
        fmt_opt(&o["cross_entropy"])
    );
    if let Some(mc) = o.get("multiclass_sn34_score") {
        println!("multiclass_sn34_score {}", fmt_opt(mc));
    }
    let t = &r["timing"];
    println!(
        "{:.1} samples/s  (preprocess {:.2} ms/sample, inference {:.2} ms/sample, total {:.1} s)",
        t["samples_per_s"].as_f64().unwrap_or(0.0),
        t["preprocess_ms_per_sample"].as_f64().unwrap_or(0.0),
        t["inference_ms_per_sample"].as_f64().unwrap_or(0.0),
        t["total_s"].as_f64().unwrap_or(0.0),
    );
    if let Some(counts) = r["errors"]["counts"].as_object().filter(|c| !c.is_empty()) {
        let list: Vec<String> = counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!("errors: {}", list.join(", "));
        for ex in r["errors"]["examples"]
            .as_array()
            .into_iter()
            .flatten()
            .take(3)
        {
            println!(
                "  e.g. {} {}: {}",
                ex["dataset"].as_str().unwrap_or(""),
                ex["id"].as_str().unwrap_or(""),
                ex["message"]
                    .as_str()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
    }
    println!(
        "results: {}  report: {}",
        dir.join("results.json").display(),
        dir.join("report.html").display()
    );
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let models: Vec<(Modality, PathBuf)> =
        super::given_models(&args.image_model, &args.video_model, &args.audio_model);
    let mut data: Vec<DataSource> = args
        .datasets
        .iter()
        .cloned()
        .map(DataSource::Catalog)
        .collect();
    data.extend(args.data_dir.iter().cloned().map(DataSource::Dir));
    if data.is_empty() {
        bail!(
            "no datasets: give --data-dir DIR (with real/, synthetic/, semisynthetic/) or --datasets CATALOG.yaml"
        );
    }
    let mode = if args.debug {
        Mode::Debug
    } else if args.full {
        Mode::Full
    } else {
        Mode::Small
    };
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
    let mut invalid = false;
    for (modality, path) in models {
        let name = path
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy().into_owned());
        let results_dir = match &args.results_dir {
            Some(d) if several => d.join(modality.to_string()),
            Some(d) => d.clone(),
            None => PathBuf::from("results")
                .join(format!("{name}-{stamp}"))
                .join(if several {
                    modality.to_string()
                } else {
                    String::new()
                }),
        };
        let opts = BenchOptions {
            model: path.clone(),
            modality,
            data: data.clone(),
            mode,
            seed: args.seed,
            cache_dir: args.cache_dir.clone().unwrap_or_else(default_cache_dir),
            offline: args.offline,
            results_dir,
            batch_size: args.worker.batch_size,
            device: args.worker.device.clone(),
            fast_decode: args.fast_decode,
            apply_exif: args.exif,
            worker: worker.clone(),
            progress: !args.quiet && !args.json,
            cancel: None,
        };
        match run_bench(&opts) {
            Ok(out) => {
                if !args.json {
                    print_table(&out.results, &out.results_dir);
                }
                all.push(out.results);
            }
            Err(BenchError::Invalid { path, report }) => {
                invalid = true;
                eprintln!("{path}: invalid {modality} package, not benchmarked:");
                for e in &report.errors {
                    let at = match (e.line, e.column) {
                        (Some(l), Some(c)) => format!(":{l}:{c}"),
                        _ => String::new(),
                    };
                    eprintln!("  {}{at}: [{}] {}", e.file, e.rule, e.message);
                }
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("benchmark of {} failed", path.display())));
            }
        }
    }
    if args.json {
        let v = if all.len() == 1 {
            all.pop().unwrap_or_default()
        } else {
            Value::Array(all)
        };
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(if invalid {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
