//! Evaluation workers: lease a job, run its stage (a [`crate::stage::Evaluator`]) with a time
//! limit while heartbeating the lease, record the outcome exactly once (a lost lease discards
//! the result).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::db::{Db, JobOutcome, Lease, failed_model_status};
use crate::error::{RegistryError, Result};
use crate::redact;
use crate::stage::{Evaluator, StageResult};
use crate::store::Store;

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
            exam_timeout: crate::eval::DEFAULT_EXAM_TIMEOUT,
            benchmark_timeout: crate::eval::DEFAULT_BENCHMARK_TIMEOUT,
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
    record(db, &lease, &model.status, out, limit, cfg.max_attempts).await?;
    Ok(true)
}

/// Stops the heartbeat however `run_one` ends (even when its future is dropped).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Records a stage's outcome. A stage error (operator side) or a time limit fails the job; the
/// model's reasons then hold our sentence and a redacted excerpt, the job's `error` the full
/// text for the operator.
async fn record(
    db: &Db,
    lease: &Lease,
    current_status: &str,
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
            tracing::error!(job = %lease.job_id, "{msg}");
            let reason = redact::reason(
                &format!(
                    "the {} could not be run on the registry's side",
                    lease.stage
                ),
                &e.to_string(),
            );
            let status = failed_model_status(&lease.stage, current_status);
            db.finish_job(
                lease,
                failed(&msg, status, max_attempts, std::slice::from_ref(&reason)),
            )
            .await
        }
        Err(_) => {
            let msg = format!(
                "the {} exceeded its time limit of {} s",
                lease.stage,
                limit.as_secs()
            );
            let status = failed_model_status(&lease.stage, current_status);
            db.finish_job(
                lease,
                failed(&msg, status, max_attempts, std::slice::from_ref(&msg)),
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

fn failed<'a>(
    msg: &'a str,
    model_status: &'a str,
    max_attempts: i64,
    reasons: &'a [String],
) -> JobOutcome<'a> {
    JobOutcome {
        state: "failed",
        result: None,
        error: Some(msg),
        model_status,
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

/// Lease owner name of a server's `i`-th in-process worker: `serve:<instance>:<i>`. The instance
/// is stable across restarts of the same server (e.g. kept in its data directory).
pub fn in_process_name(instance: &str, i: usize) -> String {
    format!("serve:{instance}:{i}")
}

/// Starts `n` in-process workers of server `instance` (named [`in_process_name`]) on the
/// current runtime. First the jobs its workers held when the server last stopped are queued
/// again, so they run at once instead of after their lease; external workers keep lease
/// semantics. Returns the number of jobs taken back.
pub async fn start_in_process(
    db: &Db,
    store: &Store,
    ev: Arc<dyn Evaluator>,
    template: &WorkerConfig,
    instance: &str,
    n: usize,
) -> Result<u64> {
    let reclaimed = db.reclaim_jobs_of(&format!("serve:{instance}:")).await?;
    if reclaimed > 0 {
        tracing::info!(
            reclaimed,
            "took back the jobs of this server's previous workers"
        );
    }
    for i in 0..n {
        let cfg = WorkerConfig {
            name: in_process_name(instance, i),
            ..template.clone()
        };
        tokio::spawn(run_loop(
            db.clone(),
            store.clone(),
            ev.clone(),
            cfg,
            std::future::pending(),
        ));
    }
    Ok(reclaimed)
}
