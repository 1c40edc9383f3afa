//! Evaluation stages: the [`Evaluator`] trait a worker runs, what a stage produces
//! ([`StageResult`]), and the `validate` stage (stored-bytes integrity, then
//! `gas_package::validate`). The benchmark stages (`exam`, `benchmark`) are in [`crate::eval`].

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use serde_json::{Value, json};

use crate::db::{Model, NewMetric, status};
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

/// Runs one stage (`validate`, `exam`, `benchmark`) of one model. Implementations:
/// [`PackageEvaluator`] (validate), [`crate::eval::BenchEvaluator`] (validate → exam →
/// benchmark) and [`IntegrityOnly`] (stored-bytes check, for tests of the queue).
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

/// The model ZIP as a local file: the local store's file in place, else a temporary copy.
pub async fn local_zip(
    model: &Model,
    store: &Store,
) -> Result<(PathBuf, Option<tempfile::TempPath>)> {
    if let Some(p) = store.local_path(&model.r2_key) {
        return Ok((p, None));
    }
    let bytes = store.get_bytes(&model.r2_key).await?;
    let tmp = tempfile::Builder::new()
        .suffix(".zip")
        .tempfile()
        .map_err(|source| RegistryError::Io {
            path: "temporary file".into(),
            source,
        })?;
    std::fs::write(tmp.path(), &bytes).map_err(|source| RegistryError::Io {
        path: tmp.path().display().to_string(),
        source,
    })?;
    let tmp = tmp.into_temp_path();
    Ok((tmp.to_path_buf(), Some(tmp)))
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
            let (path, _tmp) = local_zip(model, store).await?;
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
            let next = if report.valid {
                self.next_after_validate.clone()
            } else {
                None
            };
            Ok(StageResult {
                passed: report.valid,
                model_status: validated_status(&report, next.is_some()).into(),
                reasons,
                metrics: vec![],
                detail,
                next_stage: next,
            })
        })
    }
}

/// Static-analysis and archive rules whose violation is an attempt to escape the sandbox or
/// run hidden code (the network's `blocked`), rather than a broken package.
pub const BLOCKING_RULES: [&str; 12] = [
    "import-blocked",
    "dynamic-code",
    "file-access",
    "dunder-access",
    "dynamic-attribute",
    "torch-load",
    "torch-hub",
    "numpy-load",
    "pickle-weights",
    "zip-traversal",
    "zip-symlink",
    "zip-bomb",
];

/// The model status after validation: `examining` when the exam follows, `valid` on a
/// validate-only registry; `blocked` for a [`BLOCKING_RULES`] finding, else `exam_failed`.
pub fn validated_status(
    report: &gas_package::ValidationReport,
    exam_follows: bool,
) -> &'static str {
    if report.valid {
        if exam_follows {
            status::EXAMINING
        } else {
            "valid"
        }
    } else if report
        .errors
        .iter()
        .any(|f| BLOCKING_RULES.contains(&f.rule.as_str()))
    {
        status::BLOCKED
    } else {
        status::EXAM_FAILED
    }
}
