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

/// An upload time as UTC text: RFC 3339 strings pass through, Unix times in seconds or
/// milliseconds are converted.
fn when(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(serde_json::Value::Number(n)) => {
            let Some(x) = n.as_i64() else {
                return n.to_string();
            };
            // After 2001-09-09 a seconds value has 10 digits and a milliseconds one 13.
            let ms = if x > 100_000_000_000 { x } else { x * 1000 };
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|d| d.format("%Y-%m-%d %H:%M:%SZ").to_string())
                .unwrap_or_else(|| n.to_string())
        }
        _ => "-".into(),
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
            .and_then(|a| {
                // The modality-level row (`dataset == "*"`) holds the overall scores; the
                // per-dataset rows follow it. Fall back to the first run for other APIs.
                a.iter()
                    .find(|x| x.get("dataset").and_then(|d| d.as_str()) == Some("*"))
                    .or_else(|| a.first())
            })
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
            when(r.get("uploaded_at").or(r.get("created_at"))),
            num("sn34_score"),
            num("mcc"),
            num("brier"),
        );
        for key in ["exam_reason", "reason", "failure_reason"] {
            if let Some(reason) = r.get(key).and_then(|x| x.as_str()) {
                println!("    {key}: {reason}");
            }
        }
        // Our registry (and the network's API) return a `reasons` array.
        for reason in r
            .get("reasons")
            .and_then(|x| x.as_array())
            .into_iter()
            .flatten()
        {
            match reason.as_str() {
                Some(t) => println!("    reason: {t}"),
                None => println!("    reason: {reason}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::when;
    use serde_json::json;

    #[test]
    fn upload_times_are_readable() {
        assert_eq!(
            when(Some(&json!(1_764_000_000_000i64))),
            "2025-11-24 16:00:00Z"
        );
        assert_eq!(when(Some(&json!(1_764_000_000i64))), "2025-11-24 16:00:00Z");
        assert_eq!(
            when(Some(&json!("2026-01-02T03:04:05Z"))),
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(when(None), "-");
    }
}
