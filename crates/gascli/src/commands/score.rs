//! `gascli d score FILE.csv`: sn34 of a predictions file (see `gas_score` for the format).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use gas_score::{BinaryMetrics, read_predictions_csv, score_report};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Predictions CSV: header with `label` and `p_synthetic` (or `p_real`); optional `weight`,
    /// `dataset`. `gascli d bench` writes one (predictions.csv in its results directory).
    pub file: PathBuf,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |x| format!("{x:.4}"))
}

fn row(name: &str, m: &BinaryMetrics) -> String {
    format!(
        "{name:<32} {:>6} {:>8.4} {:>8} {:>8.4} {:>8.4} {:>8}",
        m.n,
        m.accuracy,
        opt(m.mcc),
        m.brier,
        m.cross_entropy,
        opt(m.sn34_score)
    )
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let preds = read_predictions_csv(&args.file)
        .with_context(|| format!("cannot score {}", args.file.display()))?;
    let report = score_report(&preds);
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["file"] = serde_json::Value::String(args.file.display().to_string());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let o = &report.overall;
    println!("{} — {} predictions", args.file.display(), o.n);
    println!(
        "{:<32} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "dataset", "n", "accuracy", "mcc", "brier", "x-ent", "sn34"
    );
    for (name, m) in &report.per_dataset {
        println!("{}", row(name, m));
    }
    println!("{}", row("OVERALL", o));
    println!();
    println!(
        "mcc_norm {}   brier_norm {:.4}   sn34_score {}",
        opt(o.mcc_norm),
        o.brier_norm,
        opt(o.sn34_score)
    );
    let c = &o.confusion;
    println!(
        "confusion (weighted): TN {} FP {} FN {} TP {}   (synthetic iff p_synthetic > 0.5)",
        c.tn, c.fp, c.fn_, c.tp
    );
    if report.per_dataset.values().any(|m| m.sn34_score.is_none()) {
        println!("— : MCC and sn34 are undefined for a dataset holding a single class");
    }
    Ok(ExitCode::SUCCESS)
}
