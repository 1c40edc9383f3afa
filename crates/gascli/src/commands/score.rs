//! `gascli d score FILE.csv`: sn34 of a predictions file (see `gas_score` for the format).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use gas_score::{BinaryMetrics, Weighting, read_predictions_csv, score_report, weighted_score};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Predictions CSV: header with `label` and `p_synthetic` (or `p_real`); optional `weight`,
    /// `dataset`. `gascli d bench` writes one (predictions.csv in its results directory).
    pub file: PathBuf,
    /// Re-weight by provenance as the network does: target share (0-1) of the total weight
    /// carried by holdout samples (datasets named `*-holdout-*`). Replaces the file's weights.
    #[arg(long, value_name = "SHARE")]
    pub holdout_share: Option<f64>,
    /// Target share (0-1) carried by GAS-Station samples (datasets named `*gasstation*`).
    #[arg(long, value_name = "SHARE")]
    pub gasstation_share: Option<f64>,
    /// Legacy: weight of holdout samples in the accuracy only.
    #[arg(long, default_value_t = 1.0, value_name = "WEIGHT")]
    pub holdout_weight: f64,
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
    let mut report = score_report(&preds);
    let weighting = Weighting::from_flags(
        args.holdout_share,
        args.gasstation_share,
        args.holdout_weight,
    )
    .map_err(anyhow::Error::msg)?;
    // With a weighting, the overall view is the network's weighted one (per-dataset views
    // are unchanged: one class per dataset).
    let weighted = (weighting != Weighting::None).then(|| weighted_score(&preds, &weighting));
    if let Some(w) = &weighted {
        report.overall = w.overall.clone();
    }
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["file"] = serde_json::Value::String(args.file.display().to_string());
        if let Some(w) = &weighted {
            v["provenance"] = serde_json::to_value(w)?;
        }
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
    if let Some(w) = &weighted {
        let classes: Vec<String> = w
            .provenance_weights
            .iter()
            .map(|(c, x)| {
                format!(
                    "{} n={} weight {x:.4}",
                    c.as_str(),
                    w.class_counts.get(c).copied().unwrap_or(0)
                )
            })
            .collect();
        println!("weighted by provenance: {}", classes.join(", "));
    }
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
