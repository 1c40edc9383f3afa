//! The JSON shapes the API and the page read from the database, in the network's shapes (its
//! client: `fetch_models`, `fetch_performance` and `d perf`):
//!
//! - a miner's model: `model_id`, `modality`, `vertical`, `status`, `exam_status`
//!   (`pending`/`examining`/`passed`/`failed`/`blocked`), `benchmark_status`, `upload_timestamp`
//!   (RFC 3339), `exam_reason` and `benchmark_reason` (lines joined by ` | `),
//!   `benchmark_runs`; plus our `filename`, `sha256`, `r2_key`, `reasons`, `uploaded_at` (ms);
//! - a benchmark run: `run_id`, `model_id`, `status` (`queued`/`running`/`success`/`failed`),
//!   `modality`, `vertical`, `sn34_score`, `mcc`, `brier`, `accuracy`, `started_at`,
//!   `finished_at` (RFC 3339), and our per-dataset `datasets`;
//! - leaderboard rows of one modality and vertical.

use serde_json::{Value, json};

use crate::db::{Db, Job, MetricRow, Model, status};
use crate::error::RegistryError;

/// Unix ms as RFC 3339 UTC (`2026-01-02T03:04:05Z`), the timestamps the network's client parses.
pub fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn latest<'a>(jobs: &'a [Job], stage: &str) -> Option<&'a Job> {
    jobs.iter().rev().find(|j| j.stage == stage)
}

fn passed(j: &Job) -> bool {
    j.state == "done"
        && !matches!(
            j.result.as_ref().and_then(|r| r.get("passed")),
            Some(Value::Bool(false))
        )
}

/// The exam's status as the network's `d perf` shows it: validation and exam together.
pub fn exam_status(m: &Model, jobs: &[Job]) -> &'static str {
    if m.status == status::BLOCKED {
        return "blocked";
    }
    let validate = latest(jobs, "validate");
    match latest(jobs, "exam") {
        Some(e) => match e.state.as_str() {
            "queued" | "running" => "examining",
            _ if passed(e) => "passed",
            _ => "failed",
        },
        // A benchmark without an exam job (a registry configured to skip it): passed.
        None if latest(jobs, "benchmark").is_some() => "passed",
        None => match validate {
            None => "pending",
            Some(v) if v.state == "queued" => "pending",
            Some(v) if v.state == "running" => "examining",
            // Validation passed, nothing queued after it (validate-only registry).
            Some(v) if passed(v) => "pending",
            Some(_) => "failed",
        },
    }
}

/// A benchmark job's run state: `queued`, `running`, `success` or `failed`.
pub fn run_status(j: &Job) -> &'static str {
    match j.state.as_str() {
        "queued" => "queued",
        "running" => "running",
        _ if passed(j) => "success",
        _ => "failed",
    }
}

/// One benchmark run (a `benchmark` job) with its metrics: the modality aggregate (dataset `*`)
/// as the run's scores, the other rows under `datasets`.
pub fn run_json(m: &Model, j: &Job, metrics: &[MetricRow]) -> Value {
    let scored = run_status(j) == "success";
    let bench = metrics.iter().filter(|r| scored && r.stage == "benchmark");
    let agg = bench.clone().find(|r| r.dataset == "*");
    let get = |f: fn(&MetricRow) -> Option<f64>| agg.and_then(f);
    let datasets: Vec<Value> = bench
        .filter(|r| r.dataset != "*")
        .map(|r| {
            json!({"dataset": r.dataset, "sn34_score": r.sn34, "mcc": r.mcc, "brier": r.brier,
                   "accuracy": r.accuracy, "samples": r.samples})
        })
        .collect();
    json!({
        "run_id": j.job_id,
        "model_id": m.model_id,
        "status": run_status(j),
        "modality": m.modality,
        "vertical": m.vertical,
        "sn34_score": get(|a| a.sn34),
        "base_sn34_score": get(|a| a.base_sn34),
        "aug_sn34_score": get(|a| a.aug_sn34),
        "mcc": get(|a| a.mcc),
        "brier": get(|a| a.brier),
        "accuracy": get(|a| a.accuracy),
        "samples": agg.map(|a| a.samples),
        "started_at": j.started_at.and_then(rfc3339),
        "finished_at": j.finished_at.and_then(rfc3339),
        "datasets": datasets,
    })
}

/// The model's benchmark runs, oldest first.
async fn runs(db: &Db, m: &Model, jobs: &[Job]) -> Result<Vec<Value>, RegistryError> {
    let metrics = db.metrics_of(&m.model_id).await?;
    Ok(jobs
        .iter()
        .filter(|j| j.stage == "benchmark")
        .map(|j| run_json(m, j, &metrics))
        .collect())
}

/// The reason lines of a stage, joined as the network's client splits them (` | `).
fn stage_reason(m: &Model, j: Option<&Job>, failed: bool) -> Option<String> {
    let j = j?;
    if failed && !m.reasons.is_empty() {
        return Some(m.reasons.join(" | "));
    }
    j.result
        .as_ref()
        .and_then(|r| r.pointer("/detail/reason"))
        .and_then(|r| r.as_str())
        .map(str::to_string)
}

/// A miner's model in the network's shape (see the module doc).
pub async fn model_json(db: &Db, m: &Model) -> Result<Value, RegistryError> {
    let jobs = db.jobs_of(&m.model_id).await?;
    let runs = runs(db, m, &jobs).await?;
    let exam = exam_status(m, &jobs);
    let bench = latest(&jobs, "benchmark");
    let exam_job = latest(&jobs, "exam").or(latest(&jobs, "validate"));
    Ok(json!({
        "model_id": m.model_id,
        "modality": m.modality,
        "vertical": m.vertical,
        "status": m.status,
        "exam_status": exam,
        "benchmark_status": bench.map(run_status),
        "upload_timestamp": rfc3339(m.created_at),
        "exam_reason": stage_reason(m, exam_job, matches!(exam, "failed" | "blocked")),
        "benchmark_reason": stage_reason(m, bench, bench.is_some_and(|b| run_status(b) == "failed")),
        "benchmark_runs": runs,
        "filename": m.filename,
        "sha256": m.sha256,
        "r2_key": m.r2_key,
        "reasons": m.reasons,
        "uploaded_at": m.created_at,
    }))
}

/// The benchmark runs of a hotkey's models, filtered by modality and vertical.
pub async fn performance(
    db: &Db,
    hotkey: &str,
    modality: Option<&str>,
    vertical: Option<&str>,
) -> Result<Vec<Value>, RegistryError> {
    let mut out = Vec::new();
    for m in db.models_of(hotkey, modality).await? {
        if vertical.is_some_and(|v| v != m.vertical) {
            continue;
        }
        let jobs = db.jobs_of(&m.model_id).await?;
        out.extend(runs(db, &m, &jobs).await?);
    }
    Ok(out)
}

/// Leaderboard rows of one modality and vertical, best sn34 first (models without a score last).
pub async fn leaderboard_rows(
    db: &Db,
    modality: &str,
    vertical: &str,
) -> Result<Vec<Value>, RegistryError> {
    let models = db.models_in(modality, Some(vertical)).await?;
    let mut rows = Vec::with_capacity(models.len());
    for m in &models {
        let metrics = db.metrics_of(&m.model_id).await?;
        let agg = metrics
            .iter()
            .find(|r| r.stage == "benchmark" && r.dataset == "*");
        rows.push(json!({
            "hotkey": m.hotkey,
            "model_id": m.model_id,
            "filename": m.filename,
            "modality": m.modality,
            "vertical": m.vertical,
            "status": m.status,
            "sn34_score": agg.and_then(|a| a.sn34),
            "base_sn34_score": agg.and_then(|a| a.base_sn34),
            "aug_sn34_score": agg.and_then(|a| a.aug_sn34),
            "mcc": agg.and_then(|a| a.mcc),
            "brier": agg.and_then(|a| a.brier),
            "accuracy": agg.and_then(|a| a.accuracy),
            "uploaded_at": m.created_at,
            "scored_at": agg.map(|a| a.created_at),
        }));
    }
    rows.sort_by(|a, b| {
        let s = |v: &Value| v["sn34_score"].as_f64().unwrap_or(f64::NEG_INFINITY);
        s(b).total_cmp(&s(a))
    });
    for (i, r) in rows.iter_mut().enumerate() {
        r["rank"] = json!(i + 1);
    }
    Ok(rows)
}
