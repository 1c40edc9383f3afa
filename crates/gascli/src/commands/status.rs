//! `gascli d status` (alias `perf`): the hotkey's models and their exam / benchmark status from
//! the network's API, requested with Epistula-signed GETs.

use std::process::ExitCode;

use anyhow::Context;
use gas_chain::upload::{DEFAULT_API_URL, RetryPolicy, UploadClient};

use super::wallet::WalletOpts;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub wallet: WalletOpts,
    /// Status API base URL (`…/api/v1`); models are read from `{api}/miner/models`.
    #[arg(long, default_value = DEFAULT_API_URL)]
    pub api_url: String,
    /// Only this modality (default: all three).
    #[arg(long, value_parser = ["image", "video", "audio"])]
    pub modality: Option<String>,
    /// Print the API's JSON answers.
    #[arg(long)]
    pub json: bool,
}

/// The list of models in an answer: `{"models": […]}`, `{"data": […]}`, `{"data": {"models": […]}}` or `[…]`.
fn model_list(v: &serde_json::Value) -> Vec<serde_json::Value> {
    let cands = [
        v.get("models"),
        v.get("data").and_then(|d| d.get("models")),
        v.get("data"),
        Some(v),
    ];
    cands
        .into_iter()
        .flatten()
        .find_map(|c| c.as_array().cloned())
        .unwrap_or_default()
}

fn s(v: &serde_json::Value, k: &str) -> String {
    match v.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => "-".into(),
        Some(o) => o.to_string(),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let hotkey = args.wallet.load()?;
    let modalities: Vec<&str> = match &args.modality {
        Some(m) => vec![m.as_str()],
        None => vec!["image", "video", "audio"],
    };
    let base = args.api_url.trim_end_matches('/').to_string();
    let client = UploadClient::new(&base, hotkey.clone(), RetryPolicy::default())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut all = serde_json::Map::new();
    let mut rows = Vec::new();
    for m in &modalities {
        let url = format!("{base}/miner/models?modality={m}");
        let v = rt
            .block_on(client.get_signed_json(&url))
            .with_context(|| format!("GET {url}"))?;
        for model in model_list(&v) {
            rows.push(model);
        }
        all.insert((*m).to_string(), v);
    }
    if args.json {
        let out = serde_json::json!({"hotkey": hotkey.ss58(), "responses": all});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Hotkey {}: {} model(s)", hotkey.ss58(), rows.len());
    if rows.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<38} {:<8} {:<12} {:<12} {:<25} {:>9} {:>7} {:>7}",
        "model_id", "modality", "exam", "benchmark", "uploaded", "sn34", "mcc", "brier"
    );
    for r in &rows {
        let run = r
            .get("benchmark_runs")
            .and_then(|b| b.as_array())
            .and_then(|a| a.last())
            .cloned()
            .unwrap_or_default();
        let num = |k: &str| {
            run.get(k)
                .and_then(|x| x.as_f64())
                .map(|x| format!("{x:.4}"))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{:<38} {:<8} {:<12} {:<12} {:<25} {:>9} {:>7} {:>7}",
            s(r, "model_id"),
            s(r, "modality"),
            s(r, "exam_status"),
            s(r, "benchmark_status"),
            r.get("uploaded_at")
                .or(r.get("created_at"))
                .map(|_| s(
                    r,
                    if r.get("uploaded_at").is_some() {
                        "uploaded_at"
                    } else {
                        "created_at"
                    }
                ))
                .unwrap_or_else(|| "-".into()),
            num("sn34_score"),
            num("mcc"),
            num("brier"),
        );
        for key in ["exam_reason", "reason", "failure_reason"] {
            if let Some(reason) = r.get(key).and_then(|x| x.as_str()) {
                println!("    {key}: {reason}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
