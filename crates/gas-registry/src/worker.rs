//! Evaluation workers: lease a job, run its stage with a time limit while heartbeating the
//! lease, record the outcome exactly once (a lost lease discards the result).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::db::{Db, JobOutcome, Lease, Model, NewMetric};
use crate::error::{RegistryError, Result};
use crate::store::Store;

/// What a stage produced.
#[derive(Debug, Clone)]
pub struct StageResult {
    pub passed: bool,
    pub model_status: String,
    pub reasons: Vec<String>,
    pub metrics: Vec<NewMetric>,
    pub detail: Value,
    /// Stage to queue next when passed.
    pub next_stage: Option<String>,
}

pub type StageFuture<'a> = Pin<Box<dyn Future<Output = Result<StageResult>> + Send + 'a>>;

/// Runs one stage (`validate`, `exam`, `benchmark`) of one model. The binary provides the
/// implementation backed by `gas_package` / `gas_bench`.
pub trait Evaluator: Send + Sync {
    fn run<'a>(&'a self, stage: &'a str, model: &'a Model, store: &'a Store) -> StageFuture<'a>;
}

/// The evaluator available in this crate alone: re-verifies the stored ZIP (size, SHA-256,
/// ZIP signature). Package validation and benchmarks need `gas_package` / `gas_bench`.
pub struct IntegrityOnly;

impl Evaluator for IntegrityOnly {
    fn run<'a>(&'a self, stage: &'a str, model: &'a Model, store: &'a Store) -> StageFuture<'a> {
        Box::pin(async move {
            if stage != "validate" {
                return Err(RegistryError::Config(format!(
                    "stage {stage} is not available in this build"
                )));
            }
            integrity(model, store).await
        })
    }
}

/// Check the stored object against the model row; `passed=false` with reasons otherwise.
pub async fn integrity(model: &Model, store: &Store) -> Result<StageResult> {
    let d = store.digest(&model.r2_key).await?;
    let mut reasons = Vec::new();
    if d.size != model.size as u64 || d.sha256 != model.sha256 {
        reasons.push(format!(
            "stored object {} has {} bytes / {}, expected {} / {}",
            model.r2_key, d.size, d.sha256, model.size, model.sha256
        ));
    }
    let head = store.get_bytes(&model.r2_key).await?;
    if !head.starts_with(b"PK\x03\x04") && !head.starts_with(b"PK\x05\x06") {
        reasons.push("not a ZIP archive (no PK signature)".into());
    }
    let passed = reasons.is_empty();
    Ok(StageResult {
        passed,
        model_status: if passed { "stored" } else { "invalid" }.into(),
        reasons,
        metrics: vec![],
        detail: json!({"integrity": passed,
                       "package_validation": "not available in this build (gas_package pending)"}),
        next_stage: None,
    })
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub name: String,
    pub lease_ttl: Duration,
    pub poll: Duration,
    pub validate_timeout: Duration,
    pub exam_timeout: Duration,
    pub benchmark_timeout: Duration,
    pub max_attempts: i64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            name: format!("worker-{}", uuid::Uuid::new_v4().simple()),
            lease_ttl: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            validate_timeout: Duration::from_secs(300),
            exam_timeout: Duration::from_secs(1800),
            benchmark_timeout: Duration::from_secs(4 * 3600),
            max_attempts: 3,
        }
    }
}

/// Lease and run one job; `Ok(false)` when the queue is empty.
pub async fn run_one(
    db: &Db,
    store: &Store,
    ev: &dyn Evaluator,
    cfg: &WorkerConfig,
) -> Result<bool> {
    let Some(lease) = db.lease_job(&cfg.name, cfg.lease_ttl).await? else {
        return Ok(false);
    };
    tracing::info!(job = %lease.job_id, model = %lease.model_id, stage = %lease.stage, attempt = lease.attempts, "leased");
    let model = db
        .model(&lease.model_id)
        .await?
        .ok_or_else(|| RegistryError::UnknownUpload(lease.model_id.clone()))?;
    let limit = match lease.stage.as_str() {
        "validate" => cfg.validate_timeout,
        "exam" => cfg.exam_timeout,
        _ => cfg.benchmark_timeout,
    };
    // Heartbeat at a third of the TTL while the stage runs.
    let _hb = AbortOnDrop({
        let db = db.clone();
        let lease = lease.clone();
        let ttl = cfg.lease_ttl;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                if db.heartbeat(&lease, ttl).await.is_err() {
                    break;
                }
            }
        })
    });
    let out = tokio::time::timeout(limit, ev.run(&lease.stage, &model, store)).await;
    record(db, &lease, out, limit, cfg.max_attempts).await?;
    Ok(true)
}

/// Stops the heartbeat however `run_one` ends (even when its future is dropped).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn record(
    db: &Db,
    lease: &Lease,
    out: std::result::Result<Result<StageResult>, tokio::time::error::Elapsed>,
    limit: Duration,
    max_attempts: i64,
) -> Result<()> {
    let res = match out {
        Ok(Ok(r)) => {
            let detail = json!({"passed": r.passed, "detail": r.detail});
            let next = if r.passed {
                r.next_stage.as_deref()
            } else {
                None
            };
            db.finish_job(
                lease,
                JobOutcome {
                    state: "done",
                    result: Some(&detail),
                    error: None,
                    model_status: &r.model_status,
                    reasons: &r.reasons,
                    metrics: &r.metrics,
                    next_stage: next,
                    max_attempts,
                },
            )
            .await
        }
        Ok(Err(e)) => {
            let msg = format!("{} stage failed: {e}", lease.stage);
            db.finish_job(
                lease,
                failed(&msg, max_attempts, std::slice::from_ref(&msg)),
            )
            .await
        }
        Err(_) => {
            let msg = format!(
                "{} stage exceeded its time limit of {:?}",
                lease.stage, limit
            );
            db.finish_job(
                lease,
                failed(&msg, max_attempts, std::slice::from_ref(&msg)),
            )
            .await
        }
    };
    match res {
        Err(RegistryError::LeaseLost(id)) => {
            tracing::warn!(job = %id, "lease lost; result discarded (another worker owns the job)");
            Ok(())
        }
        r => r,
    }
}

fn failed<'a>(msg: &'a str, max_attempts: i64, reasons: &'a [String]) -> JobOutcome<'a> {
    JobOutcome {
        state: "failed",
        result: None,
        error: Some(msg),
        model_status: "failed",
        reasons,
        metrics: &[],
        next_stage: None,
        max_attempts,
    }
}

/// Work until `stop` resolves: drain the queue, then poll.
pub async fn run_loop(
    db: Db,
    store: Store,
    ev: Arc<dyn Evaluator>,
    cfg: WorkerConfig,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        let busy = match run_one(&db, &store, ev.as_ref(), &cfg).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("worker error: {e}");
                false
            }
        };
        if !busy {
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(cfg.poll) => {}
            }
        }
    }
}

/// The `validate` stage with `gas_package::validate` (the code behind `gascli d validate`,
/// static analysis included), run on the stored ZIP after an integrity check. Stages after
/// validation (`exam`, `benchmark`) are refused here (see [`crate::eval::BenchEvaluator`],
/// which runs them with `gas_bench`), so by default nothing is queued after a valid package
/// (`next_after_validate`).
pub struct PackageEvaluator {
    pub next_after_validate: Option<String>,
}

impl Evaluator for PackageEvaluator {
    fn run<'a>(&'a self, stage: &'a str, model: &'a Model, store: &'a Store) -> StageFuture<'a> {
        Box::pin(async move {
            if stage != "validate" {
                return Err(RegistryError::Config(format!(
                    "stage {stage} is not run by the validate-only evaluator (use BenchEvaluator)"
                )));
            }
            let integ = integrity(model, store).await?;
            if !integ.passed {
                return Ok(integ);
            }
            // The local store's file is validated in place; other stores go through a temp file.
            let (path, _tmp) = crate::eval::local_zip(model, store).await?;
            let modality = gas_package::Modality::ALL
                .into_iter()
                .find(|m| m.as_str() == model.modality);
            let opts = gas_package::ValidateOptions {
                expected_modality: modality,
            };
            let report = tokio::task::spawn_blocking(move || gas_package::validate(&path, &opts))
                .await
                .map_err(|e| RegistryError::Config(format!("validation task failed: {e}")))?
                .map_err(|e| RegistryError::BadRequest(format!("package validation: {e}")))?;
            let reasons: Vec<String> = report.errors.iter().map(|f| f.to_string()).collect();
            let detail = serde_json::to_value(&report).unwrap_or(Value::Null);
            Ok(StageResult {
                passed: report.valid,
                model_status: if report.valid { "valid" } else { "invalid" }.into(),
                reasons,
                metrics: vec![],
                detail,
                next_stage: if report.valid {
                    self.next_after_validate.clone()
                } else {
                    None
                },
            })
        })
    }
}
