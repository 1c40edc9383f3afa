//! `gascli d validate PATH [--modality image|video|audio] [--json]`: every check of
//! `gas_package::validate` (files, config, safetensors header, ZIP safety, model.py analysis).
//! Exit 0 valid (warnings allowed), 1 invalid, 2 usage or I/O error.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use gas_package::{Finding, Modality, ValidateOptions, ValidationReport};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model directory or ZIP (model_config.yaml, model.py, model.safetensors at its root).
    pub path: PathBuf,
    /// Modality the package will be used under; a config saying otherwise is an error.
    #[arg(long, value_parser = parse_modality)]
    pub modality: Option<Modality>,
    /// Print exactly one JSON object on stdout instead of the human report.
    #[arg(long)]
    pub json: bool,
}

fn parse_modality(s: &str) -> Result<Modality, String> {
    s.parse::<Modality>().map_err(|e| e.to_string())
}

/// The `--json` object: `{valid, modality, errors, warnings, summary}`.
pub fn report_json(report: &ValidationReport) -> serde_json::Value {
    serde_json::json!({
        "valid": report.valid,
        "modality": report.modality,
        "errors": report.errors,
        "warnings": report.warnings,
        "summary": report.summary,
    })
}

fn finding_line(kind: &str, f: &Finding) -> String {
    format!("{kind}: {f}")
}

/// Human report: errors, warnings, summary, then "valid" / "INVALID (N errors)".
pub fn render_human(path: &std::path::Path, report: &ValidationReport) -> String {
    let mut out = String::new();
    out.push_str(&format!("{}\n", path.display()));
    for f in &report.errors {
        out.push_str(&finding_line("error", f));
        out.push('\n');
    }
    for f in &report.warnings {
        out.push_str(&finding_line("warning", f));
        out.push('\n');
    }
    let s = &report.summary;
    out.push_str(&format!(
        "modality: {}\ntensors: {}  parameters: {}  dtypes: {}\nsize: {} bytes  sha256: {}\n",
        report
            .modality
            .map_or("unknown".to_string(), |m| m.to_string()),
        s.tensors,
        s.parameters,
        if s.dtypes.is_empty() {
            "-".to_string()
        } else {
            s.dtypes.join(",")
        },
        s.size_bytes,
        s.sha256.as_deref().unwrap_or("-"),
    ));
    if report.valid {
        if report.warnings.is_empty() {
            out.push_str("valid\n");
        } else {
            out.push_str(&format!("valid ({} warning(s))\n", report.warnings.len()));
        }
    } else {
        out.push_str(&format!("INVALID ({} errors)\n", report.errors.len()));
    }
    out
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = ValidateOptions {
        expected_modality: args.modality,
    };
    let report = gas_package::validate(&args.path, &opts)
        .with_context(|| format!("cannot validate {}", args.path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string(&report_json(&report))?);
    } else {
        print!("{}", render_human(&args.path, &report));
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
