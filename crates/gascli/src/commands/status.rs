//! `gascli d perf` (alias `status`): the hotkey's models (exam status and reasons) and their
//! benchmark runs, read as the network's client reads them: Epistula-signed GETs of
//! `{api}/miner/models` and `{api}/miner/performance`, filtered by modality and vertical.

use std::process::ExitCode;

use anyhow::Context;
use gas_chain::upload::{DEFAULT_API_URL, RetryPolicy, UploadClient};
use serde_json::Value;

use super::wallet::WalletOpts;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub wallet: WalletOpts,
    /// Miner API base URL (`…/api/v1`): `{api}/miner/models` and `{api}/miner/performance`.
    #[arg(long, default_value = DEFAULT_API_URL)]
    pub api_url: String,
    /// Only this modality.
    #[arg(long, value_parser = ["image", "video", "audio"])]
    pub modality: Option<String>,
    /// Only this competition vertical.
    #[arg(long, value_parser = ["general", "human"])]
    pub vertical: Option<String>,
    /// Print `{"hotkey", "models", "runs"}` as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The array in an answer (`gas_push::answer_list`: a bare list or one under `data`, `models`,
/// `runs`, `data.models`, `data.runs`), the rule the push's duplicate lookup uses too.
fn list(v: &Value) -> Vec<Value> {
    gas_push::answer_list(v)
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(o) => o.to_string(),
    }
}

/// An upload time as UTC text: RFC 3339 strings pass through, Unix times in seconds or
/// milliseconds are converted.
fn when(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Number(n)) => {
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

fn num(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(|x| x.as_f64())
        .map(|x| format!("{x:.4}"))
        .unwrap_or_else(|| "-".into())
}

fn query(modality: Option<&str>, vertical: Option<&str>) -> String {
    let parts: Vec<String> = [("modality", modality), ("vertical", vertical)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Keeps the entries whose `key` equals `want` (all when no filter; entries without the key
/// are kept, the server filtered them).
fn filter(rows: Vec<Value>, key: &str, want: Option<&str>) -> Vec<Value> {
    rows.into_iter()
        .filter(|r| match (want, r.get(key).and_then(|x| x.as_str())) {
            (Some(w), Some(got)) => w == got,
            _ => true,
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let hotkey = args.wallet.load()?;
    let base = args.api_url.trim_end_matches('/').to_string();
    let client = UploadClient::new(&base, hotkey.clone(), RetryPolicy::default())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (modality, vertical) = (args.modality.as_deref(), args.vertical.as_deref());
    // The network's models endpoint filters by modality only; the vertical is applied here.
    let models_url = format!("{base}/miner/models{}", query(modality, None));
    let perf_url = format!("{base}/miner/performance{}", query(modality, vertical));
    let models = rt
        .block_on(client.get_signed_json(&models_url))
        .with_context(|| format!("GET {models_url}"))?;
    let runs = rt
        .block_on(client.get_signed_json(&perf_url))
        .with_context(|| format!("GET {perf_url}"))?;
    let models = filter(
        filter(list(&models), "modality", modality),
        "vertical",
        vertical,
    );
    let runs = filter(
        filter(list(&runs), "modality", modality),
        "vertical",
        vertical,
    );
    if args.json {
        let out = serde_json::json!({"hotkey": hotkey.ss58(), "models": models, "runs": runs});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_models(hotkey.ss58(), &models);
    print_runs(&runs);
    Ok(ExitCode::SUCCESS)
}

fn print_models(hotkey: &str, models: &[Value]) {
    println!("Hotkey {hotkey}: {} model(s)", models.len());
    if models.is_empty() {
        return;
    }
    println!(
        "{:<38} {:<8} {:<8} {:<12} {:<10} {:<10} {:<25}",
        "model_id", "modality", "vertical", "status", "exam", "benchmark", "uploaded"
    );
    for m in models {
        println!(
            "{:<38} {:<8} {:<8} {:<12} {:<10} {:<10} {:<25}",
            s(m, "model_id"),
            s(m, "modality"),
            s(m, "vertical"),
            s(m, "status"),
            s(m, "exam_status"),
            s(m, "benchmark_status"),
            when(m.get("upload_timestamp").or(m.get("uploaded_at"))),
        );
        for key in ["exam_reason", "benchmark_reason"] {
            if let Some(reason) = m.get(key).and_then(|x| x.as_str()) {
                for line in reason.split(" | ") {
                    println!("    {key}: {line}");
                }
            }
        }
    }
}

fn print_runs(runs: &[Value]) {
    println!("\n{} benchmark run(s)", runs.len());
    if runs.is_empty() {
        return;
    }
    println!(
        "{:<38} {:<8} {:<8} {:<8} {:>8} {:>8} {:>8}",
        "run_id", "status", "modality", "vertical", "sn34", "mcc", "brier"
    );
    for r in runs {
        println!(
            "{:<38} {:<8} {:<8} {:<8} {:>8} {:>8} {:>8}",
            s(r, "run_id"),
            s(r, "status"),
            s(r, "modality"),
            s(r, "vertical"),
            num(r, "sn34_score"),
            num(r, "mcc"),
            num(r, "brier"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{filter, list, query, when};
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

    #[test]
    fn lists_queries_and_filters() {
        let m = json!({"modality": "image", "vertical": "human"});
        assert_eq!(list(&json!([m])).len(), 1);
        assert_eq!(list(&json!({"data": {"models": [m]}})).len(), 1);
        assert_eq!(
            query(Some("image"), Some("human")),
            "?modality=image&vertical=human"
        );
        assert_eq!(query(None, None), "");
        let rows = vec![
            m.clone(),
            json!({"modality": "image", "vertical": "general"}),
        ];
        assert_eq!(filter(rows.clone(), "vertical", Some("human")), vec![m]);
        assert_eq!(filter(rows, "vertical", None).len(), 2);
    }
}
