//! Metadata database: SQLite by default, PostgreSQL by configuration (sqlx `Any` driver,
//! runtime queries; `$N` placeholders work on both backends). The migrations in `migrations/`
//! are one source for both backends (SQL that SQLite and PostgreSQL both accept), embedded at
//! build time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
// Dynamic SQL below only splices compile-time column lists and a fixed lock clause, never input.
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::error::{RegistryError, Result};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// First lines of `0001_init.sql` when each backend had its own copy (the rest of the file is
/// unchanged). A database created then records that file's checksum; [`Db::connect`] rewrites it
/// to the single source's so that `migrate` accepts the database.
const LEGACY_INIT_FIRST_LINES: [&str; 2] = [
    "-- gas-registry schema (SQLite). Keep in step with ../postgres/0001_init.sql.",
    "-- gas-registry schema (PostgreSQL). Keep in step with ../sqlite/0001_init.sql.",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// A presigned upload waiting for its bytes and its confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    pub model_id: String,
    pub hotkey: String,
    pub modality: String,
    pub vertical: String,
    pub filename: String,
    pub expected_hash: String,
    pub file_size: i64,
    pub staging_key: String,
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    pub model_id: String,
    pub hotkey: String,
    pub modality: String,
    pub vertical: String,
    pub filename: String,
    pub sha256: String,
    pub size: i64,
    pub r2_key: String,
    pub status: String,
    pub counted: bool,
    pub reasons: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A job handed to one worker until `lease_expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub job_id: String,
    pub model_id: String,
    pub stage: String,
    pub token: String,
    pub attempts: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub job_id: String,
    pub model_id: String,
    pub stage: String,
    pub state: String,
    pub attempts: i64,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    /// Unix ms: queued, latest attempt started, finished.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// One metrics row (dataset `*` = the modality aggregate).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub model_id: String,
    pub stage: String,
    pub dataset: String,
    pub sn34: Option<f64>,
    pub mcc: Option<f64>,
    pub brier: Option<f64>,
    pub accuracy: Option<f64>,
    pub samples: i64,
    pub created_at: i64,
    /// With the robustness pass: the score on the samples as they are and on degraded copies
    /// (`sn34` is then the blend).
    pub base_sn34: Option<f64>,
    pub aug_sn34: Option<f64>,
}

/// What confirm records: the verified model and the first job.
#[derive(Debug, Clone)]
pub struct NewModel<'a> {
    pub upload: &'a PendingUpload,
    pub r2_key: &'a str,
    pub first_stage: &'a str,
    pub max_attempts: i64,
    pub max_per_modality: i64,
}

const MODEL_COLS: &str = "model_id, hotkey, modality, vertical, filename, sha256, size, r2_key, status, counted, reasons, created_at, updated_at";
const UPLOAD_COLS: &str = "model_id, hotkey, modality, vertical, filename, expected_hash, file_size, staging_key, state, created_at, expires_at";

fn model_from(row: &AnyRow) -> Result<Model> {
    let reasons: String = row.try_get("reasons")?;
    Ok(Model {
        model_id: row.try_get("model_id")?,
        hotkey: row.try_get("hotkey")?,
        modality: row.try_get("modality")?,
        vertical: row.try_get("vertical")?,
        filename: row.try_get("filename")?,
        sha256: row.try_get("sha256")?,
        size: row.try_get("size")?,
        r2_key: row.try_get("r2_key")?,
        status: row.try_get("status")?,
        counted: row.try_get::<i64, _>("counted")? != 0,
        reasons: serde_json::from_str(&reasons).unwrap_or_else(|_| vec![reasons]),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn upload_from(row: &AnyRow) -> Result<PendingUpload> {
    Ok(PendingUpload {
        model_id: row.try_get("model_id")?,
        hotkey: row.try_get("hotkey")?,
        modality: row.try_get("modality")?,
        vertical: row.try_get("vertical")?,
        filename: row.try_get("filename")?,
        expected_hash: row.try_get("expected_hash")?,
        file_size: row.try_get("file_size")?,
        staging_key: row.try_get("staging_key")?,
        state: row.try_get("state")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation() || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// SHA-384 of `0001_init.sql` as each backend's own copy was (see [`LEGACY_INIT_FIRST_LINES`]).
fn legacy_init_checksums(current_sql: &str) -> Vec<Vec<u8>> {
    use sha2::{Digest, Sha384};
    let rest = current_sql.split_once('\n').map_or("", |(_, r)| r);
    LEGACY_INIT_FIRST_LINES
        .iter()
        .map(|first| Sha384::digest(format!("{first}\n{rest}").as_bytes()).to_vec())
        .collect()
}

/// A database migrated when each backend had its own `0001_init.sql` records that copy's
/// checksum: replace it with the single source's (same schema, only the comment line differs).
async fn adopt_legacy_init_checksum(pool: &AnyPool) -> Result<()> {
    let Some(init) = MIGRATIONS.iter().find(|m| m.version == 1) else {
        return Ok(());
    };
    // No migrations table yet (a new database): nothing to adopt.
    let Ok(rows) = sqlx::query("SELECT checksum FROM _sqlx_migrations WHERE version = 1")
        .fetch_all(pool)
        .await
    else {
        return Ok(());
    };
    let Some(row) = rows.first() else {
        return Ok(());
    };
    let recorded: Vec<u8> = row.try_get("checksum")?;
    if recorded.as_slice() != &*init.checksum
        && legacy_init_checksums(init.sql.as_str()).contains(&recorded)
    {
        sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 1")
            .bind(init.checksum.to_vec())
            .execute(pool)
            .await?;
    }
    Ok(())
}

impl Db {
    /// Connect and migrate. `sqlite://path?mode=rwc` or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(RegistryError::Config(format!(
                "--database-url {url:?}: expected sqlite://… or postgres://…"
            )));
        };
        let mut opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            opts = opts.max_connections(4).after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL + FULL sync: a committed confirm survives a crash; busy_timeout lets
                    // writers from several processes (server + workers) queue instead of failing.
                    sqlx::raw_sql(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                         PRAGMA busy_timeout=15000; PRAGMA foreign_keys=ON;",
                    )
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            });
        } else {
            opts = opts.max_connections(16);
        }
        let pool = opts.connect(url).await?;
        adopt_legacy_init_checksum(&pool).await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Self { pool, backend })
    }

    /// An SQLite database file (created if missing).
    pub async fn sqlite_file(path: &std::path::Path) -> Result<Self> {
        Self::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    // ---------------------------------------------------------------- uploads

    /// Counted models of `hotkey` in `modality`.
    pub async fn submissions_used(&self, hotkey: &str, modality: &str) -> Result<i64> {
        let row = sqlx::query("SELECT used FROM quotas WHERE hotkey = $1 AND modality = $2")
            .bind(hotkey)
            .bind(modality)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("used")?,
            None => 0,
        })
    }

    pub async fn model_by_hash(&self, sha256: &str) -> Result<Option<Model>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MODEL_COLS} FROM models WHERE sha256 = $1"
        )))
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(model_from).transpose()
    }

    pub async fn model(&self, model_id: &str) -> Result<Option<Model>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MODEL_COLS} FROM models WHERE model_id = $1"
        )))
        .bind(model_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(model_from).transpose()
    }

    /// A live (unexpired) pending upload of this hash, if any.
    pub async fn pending_by_hash(&self, sha256: &str, now: i64) -> Result<Option<PendingUpload>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE expected_hash = $1 AND expires_at > $2 \
             ORDER BY created_at LIMIT 1"
        )))
        .bind(sha256)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(upload_from).transpose()
    }

    pub async fn upload(&self, model_id: &str) -> Result<Option<PendingUpload>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE model_id = $1"
        )))
        .bind(model_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(upload_from).transpose()
    }

    pub async fn insert_upload(&self, u: &PendingUpload) -> Result<()> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO uploads ({UPLOAD_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
        )))
        .bind(&u.model_id)
        .bind(&u.hotkey)
        .bind(&u.modality)
        .bind(&u.vertical)
        .bind(&u.filename)
        .bind(&u.expected_hash)
        .bind(u.file_size)
        .bind(&u.staging_key)
        .bind(&u.state)
        .bind(u.created_at)
        .bind(u.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Mark the bytes as received (after a verified PUT).
    pub async fn mark_received(&self, model_id: &str) -> Result<()> {
        sqlx::query("UPDATE uploads SET state = 'received' WHERE model_id = $1")
            .bind(model_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Expired pending uploads (their staged bytes are to be deleted by the caller).
    pub async fn expired_uploads(&self, now: i64) -> Result<Vec<PendingUpload>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE expires_at <= $1"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(upload_from).collect()
    }

    pub async fn delete_upload(&self, model_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM uploads WHERE model_id = $1")
            .bind(model_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// All model ids with a pending upload row.
    pub async fn pending_ids(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT model_id FROM uploads")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("model_id").map_err(Into::into))
            .collect()
    }

    /// Atomically: take one quota slot (refused when `max_per_modality` are counted), insert
    /// the model, queue its first job and drop the pending upload. The transaction starts with
    /// a write so concurrent SQLite writers queue on the lock instead of failing.
    pub async fn confirm_model(&self, m: NewModel<'_>) -> Result<(Model, i64)> {
        let u = m.upload;
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO quotas (hotkey, modality, used) VALUES ($1, $2, 0) \
             ON CONFLICT (hotkey, modality) DO NOTHING",
        )
        .bind(&u.hotkey)
        .bind(&u.modality)
        .execute(&mut *tx)
        .await?;
        let taken = sqlx::query(
            "UPDATE quotas SET used = used + 1 WHERE hotkey = $1 AND modality = $2 AND used < $3",
        )
        .bind(&u.hotkey)
        .bind(&u.modality)
        .bind(m.max_per_modality)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() == 0 {
            tx.rollback().await?;
            let used = self.submissions_used(&u.hotkey, &u.modality).await?;
            return Err(RegistryError::QuotaExceeded {
                modality: u.modality.clone(),
                used,
                max: m.max_per_modality,
            });
        }
        let ins = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO models ({MODEL_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
        )))
        .bind(&u.model_id)
        .bind(&u.hotkey)
        .bind(&u.modality)
        .bind(&u.vertical)
        .bind(&u.filename)
        .bind(&u.expected_hash)
        .bind(u.file_size)
        .bind(m.r2_key)
        .bind(status::UPLOADED)
        .bind(1i64)
        .bind("[]")
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = ins {
            let dup = is_unique_violation(&e);
            tx.rollback().await?;
            if dup {
                let other = self.model_by_hash(&u.expected_hash).await?;
                return Err(RegistryError::Duplicate {
                    sha256: u.expected_hash.clone(),
                    model_id: other.map(|o| o.model_id).unwrap_or_default(),
                });
            }
            return Err(e.into());
        }
        sqlx::query(
            "INSERT INTO jobs (job_id, model_id, stage, state, attempts, max_attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&u.model_id)
        .bind(m.first_stage)
        .bind(m.max_attempts)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM uploads WHERE model_id = $1")
            .bind(&u.model_id)
            .execute(&mut *tx)
            .await?;
        let used: i64 = sqlx::query("SELECT used FROM quotas WHERE hotkey = $1 AND modality = $2")
            .bind(&u.hotkey)
            .bind(&u.modality)
            .fetch_one(&mut *tx)
            .await?
            .try_get("used")?;
        tx.commit().await?;
        let model = self
            .model(&u.model_id)
            .await?
            .ok_or_else(|| RegistryError::UnknownUpload(u.model_id.clone()))?;
        Ok((model, used))
    }

    pub async fn models_of(&self, hotkey: &str, modality: Option<&str>) -> Result<Vec<Model>> {
        let rows = match modality {
            Some(m) => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {MODEL_COLS} FROM models WHERE hotkey = $1 AND modality = $2 ORDER BY created_at"
                )))
                .bind(hotkey)
                .bind(m)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {MODEL_COLS} FROM models WHERE hotkey = $1 ORDER BY created_at"
                )))
                .bind(hotkey)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(model_from).collect()
    }

    /// Models of one modality (and vertical, when given), oldest first.
    pub async fn models_in(&self, modality: &str, vertical: Option<&str>) -> Result<Vec<Model>> {
        let rows = match vertical {
            Some(v) => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {MODEL_COLS} FROM models WHERE modality = $1 AND vertical = $2 \
                     ORDER BY created_at"
                )))
                .bind(modality)
                .bind(v)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {MODEL_COLS} FROM models WHERE modality = $1 ORDER BY created_at"
                )))
                .bind(modality)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(model_from).collect()
    }

    pub async fn count_models(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM models")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    pub async fn set_model_status(
        &self,
        model_id: &str,
        status: &str,
        reasons: &[String],
    ) -> Result<()> {
        let reasons = serde_json::to_string(reasons).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "UPDATE models SET status = $1, reasons = $2, updated_at = $3 WHERE model_id = $4",
        )
        .bind(status)
        .bind(reasons)
        .bind(now_ms())
        .bind(model_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ------------------------------------------------------------------- jobs

    /// Lease the oldest runnable job (queued, or running with an expired lease) for `ttl`.
    /// One statement, so two workers never get the same job: SQLite serialises writers;
    /// PostgreSQL skips rows another transaction has locked (`FOR UPDATE SKIP LOCKED`).
    pub async fn lease_job(&self, owner: &str, ttl: Duration) -> Result<Option<Lease>> {
        let now = now_ms();
        let expires = now + ttl.as_millis() as i64;
        let token = uuid::Uuid::new_v4().to_string();
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_token = $2, \
               lease_expires_at = $3, attempts = attempts + 1, updated_at = $4, started_at = $4 \
             WHERE job_id = (SELECT job_id FROM jobs \
               WHERE (state = 'queued' OR (state = 'running' AND lease_expires_at < $5)) \
                 AND attempts < max_attempts \
               ORDER BY created_at LIMIT 1 {lock}) \
             RETURNING job_id, model_id, stage, attempts, lease_expires_at"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(owner)
            .bind(&token)
            .bind(expires)
            .bind(now)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(Lease {
            job_id: row.try_get("job_id")?,
            model_id: row.try_get("model_id")?,
            stage: row.try_get("stage")?,
            attempts: row.try_get("attempts")?,
            expires_at: row.try_get("lease_expires_at")?,
            token,
        }))
    }

    /// Extend a lease still held.
    pub async fn heartbeat(&self, lease: &Lease, ttl: Duration) -> Result<()> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1, updated_at = $2 \
             WHERE job_id = $3 AND lease_token = $4 AND state = 'running'",
        )
        .bind(now_ms() + ttl.as_millis() as i64)
        .bind(now_ms())
        .bind(&lease.job_id)
        .bind(&lease.token)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(RegistryError::LeaseLost(lease.job_id.clone()));
        }
        Ok(())
    }

    /// Finish a job (state `done` or `failed`), optionally queueing the next stage, and record
    /// metrics, all in one transaction. Refused with [`RegistryError::LeaseLost`] when the
    /// lease was taken over, so a result is recorded exactly once.
    pub async fn finish_job(&self, lease: &Lease, outcome: JobOutcome<'_>) -> Result<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "UPDATE jobs SET state = $1, result = $2, error = $3, lease_expires_at = NULL, updated_at = $4, \
               finished_at = $4 WHERE job_id = $5 AND lease_token = $6 AND state = 'running'",
        )
        .bind(outcome.state)
        .bind(outcome.result.map(|v| v.to_string()))
        .bind(outcome.error)
        .bind(now)
        .bind(&lease.job_id)
        .bind(&lease.token)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(RegistryError::LeaseLost(lease.job_id.clone()));
        }
        for m in outcome.metrics {
            sqlx::query(
                "INSERT INTO results (model_id, stage, dataset, sn34, mcc, brier, accuracy, samples, created_at, base_sn34, aug_sn34) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
            )
            .bind(&lease.model_id)
            .bind(&lease.stage)
            .bind(&m.dataset)
            .bind(m.sn34)
            .bind(m.mcc)
            .bind(m.brier)
            .bind(m.accuracy)
            .bind(m.samples)
            .bind(now)
            .bind(m.base_sn34)
            .bind(m.aug_sn34)
            .execute(&mut *tx)
            .await?;
        }
        let reasons = serde_json::to_string(outcome.reasons).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "UPDATE models SET status = $1, reasons = $2, updated_at = $3 WHERE model_id = $4",
        )
        .bind(outcome.model_status)
        .bind(reasons)
        .bind(now)
        .bind(&lease.model_id)
        .execute(&mut *tx)
        .await?;
        if let Some(next) = outcome.next_stage {
            sqlx::query(
                "INSERT INTO jobs (job_id, model_id, stage, state, attempts, max_attempts, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'queued', 0, $4, $5, $6)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&lease.model_id)
            .bind(next)
            .bind(outcome.max_attempts)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Jobs whose lease expired after their last allowed attempt: mark failed, and the model
    /// with [`failed_model_status`] of the stage.
    pub async fn fail_exhausted(&self) -> Result<u64> {
        let now = now_ms();
        let rows = sqlx::query(
            "UPDATE jobs SET state = 'failed', error = 'lease expired after the last attempt', \
               updated_at = $1, finished_at = $1 \
             WHERE state = 'running' AND lease_expires_at < $2 AND attempts >= max_attempts \
             RETURNING model_id, stage",
        )
        .bind(now)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let id: String = r.try_get("model_id")?;
            let stage: String = r.try_get("stage")?;
            let current = self.model(&id).await?.map(|m| m.status).unwrap_or_default();
            self.set_model_status(
                &id,
                failed_model_status(&stage, &current),
                &[format!("the {stage} did not finish in time")],
            )
            .await?;
        }
        Ok(rows.len() as u64)
    }

    /// Takes back the running jobs leased by workers whose name starts with `owner_prefix`
    /// (the in-process workers of a server that stopped without finishing them): queued again at
    /// once instead of after their lease. A job already at its last attempt gets an expired
    /// lease, so [`Self::fail_exhausted`] records it as failed. Returns the jobs requeued.
    pub async fn reclaim_jobs_of(&self, owner_prefix: &str) -> Result<u64> {
        let now = now_ms();
        let pattern = format!("{}%", owner_prefix.replace('%', "\\%").replace('_', "\\_"));
        let r = sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_token = NULL, \
               lease_expires_at = NULL, updated_at = $1 \
             WHERE state = 'running' AND lease_owner LIKE $2 ESCAPE '\\' AND attempts < max_attempts",
        )
        .bind(now)
        .bind(&pattern)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "UPDATE jobs SET lease_expires_at = 0, updated_at = $1 \
             WHERE state = 'running' AND lease_owner LIKE $2 ESCAPE '\\'",
        )
        .bind(now)
        .bind(&pattern)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn jobs_of(&self, model_id: &str) -> Result<Vec<Job>> {
        let rows = sqlx::query(
            "SELECT job_id, model_id, stage, state, attempts, result, error, created_at, \
               started_at, finished_at FROM jobs WHERE model_id = $1 ORDER BY created_at",
        )
        .bind(model_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let result: Option<String> = r.try_get("result")?;
                Ok(Job {
                    job_id: r.try_get("job_id")?,
                    model_id: r.try_get("model_id")?,
                    stage: r.try_get("stage")?,
                    state: r.try_get("state")?,
                    attempts: r.try_get("attempts")?,
                    result: result.and_then(|s| serde_json::from_str(&s).ok()),
                    error: r.try_get("error")?,
                    created_at: r.try_get("created_at")?,
                    started_at: r.try_get("started_at")?,
                    finished_at: r.try_get("finished_at")?,
                })
            })
            .collect()
    }

    pub async fn metrics_of(&self, model_id: &str) -> Result<Vec<MetricRow>> {
        let rows = sqlx::query(
            "SELECT model_id, stage, dataset, sn34, mcc, brier, accuracy, samples, created_at, \
             base_sn34, aug_sn34 FROM results WHERE model_id = $1 ORDER BY stage, dataset",
        )
        .bind(model_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MetricRow {
                    model_id: r.try_get("model_id")?,
                    stage: r.try_get("stage")?,
                    dataset: r.try_get("dataset")?,
                    sn34: r.try_get("sn34")?,
                    mcc: r.try_get("mcc")?,
                    brier: r.try_get("brier")?,
                    accuracy: r.try_get("accuracy")?,
                    samples: r.try_get("samples")?,
                    created_at: r.try_get("created_at")?,
                    base_sn34: r.try_get("base_sn34")?,
                    aug_sn34: r.try_get("aug_sn34")?,
                })
            })
            .collect()
    }
}

/// The model statuses of the network (docs: Discriminative Mining, evaluation pipeline), plus
/// `uploaded` before the evaluation starts.
pub mod status {
    /// Confirmed upload, waiting for validation.
    pub const UPLOADED: &str = "uploaded";
    /// Validation passed; the entrance exam is queued or running.
    pub const EXAMINING: &str = "examining";
    /// Exam passed: eligible for the full benchmark (the model keeps this status; its benchmark
    /// runs carry their own state).
    pub const CONFIRMED: &str = "confirmed";
    /// The exam (or the package validation before it) failed.
    pub const EXAM_FAILED: &str = "exam_failed";
    /// A package the static analysis refuses (forbidden imports or calls): never evaluated.
    pub const BLOCKED: &str = "blocked";
}

/// The model status after a stage failed on the registry's side (error, time limit, lease
/// exhausted): a failed benchmark leaves an examined model `confirmed`, anything earlier is an
/// exam failure.
pub fn failed_model_status<'a>(stage: &str, current: &'a str) -> &'a str {
    if stage == "benchmark" && current == status::CONFIRMED {
        current
    } else {
        status::EXAM_FAILED
    }
}

/// A metric to record with [`Db::finish_job`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewMetric {
    pub dataset: String,
    pub sn34: Option<f64>,
    pub mcc: Option<f64>,
    pub brier: Option<f64>,
    pub accuracy: Option<f64>,
    pub samples: i64,
    /// Robustness pass: base and degraded scores (`None` when it did not run).
    pub base_sn34: Option<f64>,
    pub aug_sn34: Option<f64>,
}

/// How a leased job ended.
#[derive(Debug, Clone)]
pub struct JobOutcome<'a> {
    /// `done` or `failed`.
    pub state: &'a str,
    pub result: Option<&'a serde_json::Value>,
    pub error: Option<&'a str>,
    /// The model's new status (e.g. `valid`, `invalid`, `exam_passed`, `evaluated`).
    pub model_status: &'a str,
    pub reasons: &'a [String],
    pub metrics: &'a [NewMetric],
    pub next_stage: Option<&'a str>,
    pub max_attempts: i64,
}
