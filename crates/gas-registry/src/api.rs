//! HTTP API (axum): the upload protocol of push.md, the miner's model list, the public
//! leaderboard JSON and `/healthz`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Authenticator;
use crate::db::{Db, NewModel, PendingUpload, now_ms};
use crate::error::RegistryError;
use crate::store::{Store, model_key, staging_key};

pub const MODALITIES: [&str; 3] = ["image", "video", "audio"];

/// Service settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub max_per_modality: i64,
    pub disabled: HashSet<String>,
    /// How long a presigned URL stays valid.
    pub upload_ttl: Duration,
    pub max_upload_bytes: u64,
    /// Attempts per job before it is marked failed.
    pub max_attempts: i64,
    /// Base for presigned URLs (e.g. `https://registry.example/upload`); default: from `Host`.
    pub public_upload_url: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_per_modality: 3,
            disabled: HashSet::new(),
            upload_ttl: Duration::from_secs(3600),
            max_upload_bytes: 2 << 30,
            max_attempts: 3,
            public_upload_url: None,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub store: Store,
    pub cfg: Arc<ApiConfig>,
    pub auth: Arc<dyn Authenticator>,
}

/// An error answer: `{"detail": …}` with a status code.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "detail": self.1 }))).into_response()
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let code = match &e {
            RegistryError::Duplicate { .. } => StatusCode::CONFLICT,
            RegistryError::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            RegistryError::UnknownUpload(_) => StatusCode::NOT_FOUND,
            RegistryError::Mismatch { .. } | RegistryError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            RegistryError::NotOwner(_) => StatusCode::FORBIDDEN,
            _ => {
                tracing::error!("internal error: {e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError(code, e.to_string())
    }
}

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

type ApiResult<T> = Result<T, ApiError>;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/upload/presigned", post(presigned))
        .route("/upload/confirm", post(confirm))
        .route(
            "/upload/blob/{model_id}",
            put(put_blob).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/miner/models", get(miner_models))
        .route("/api/v1/leaderboard", get(leaderboard))
        .route("/healthz", get(healthz))
        .route("/", get(crate::html::page))
        .route("/leaderboard", get(crate::html::page))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

fn authenticate(st: &AppState, h: &HeaderMap, body: &[u8]) -> ApiResult<String> {
    st.auth
        .authenticate(h, body)
        .map_err(|e| ApiError(StatusCode::UNAUTHORIZED, e.0))
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| bad(format!("request body: {e}")))
}

fn check_modality(m: &str) -> ApiResult<()> {
    if MODALITIES.contains(&m) {
        Ok(())
    } else {
        Err(bad(format!(
            "modality {m:?} is unknown (expected image, video or audio)"
        )))
    }
}

fn check_hash(field: &str, h: &str) -> ApiResult<()> {
    if h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(bad(format!(
            "{field} must be 64 lowercase hex digits (SHA-256)"
        )))
    }
}

#[derive(Deserialize)]
struct PresignedReq {
    filename: String,
    file_size: u64,
    expected_hash: String,
    #[serde(default)]
    content_type: Option<String>,
    modality: String,
    #[serde(default = "general")]
    vertical: String,
}

fn general() -> String {
    "general".into()
}

fn upload_base(st: &AppState, h: &HeaderMap) -> String {
    if let Some(u) = &st.cfg.public_upload_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = h
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}/upload")
}

async fn presigned(
    State(st): State<AppState>,
    h: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let hotkey = authenticate(&st, &h, &body)?;
    let req: PresignedReq = parse(&body)?;
    check_modality(&req.modality)?;
    check_hash("expected_hash", &req.expected_hash)?;
    if st.cfg.disabled.contains(&req.modality) {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Uploads for {} are disabled", req.modality),
        ));
    }
    if req.file_size == 0 || req.file_size > st.cfg.max_upload_bytes {
        return Err(bad(format!(
            "file_size {} is outside 1..={} bytes",
            req.file_size, st.cfg.max_upload_bytes
        )));
    }
    if req.filename.is_empty() || req.filename.len() > 255 {
        return Err(bad("filename must be 1..=255 bytes"));
    }
    if let Some(ct) = &req.content_type
        && ct != "application/octet-stream"
    {
        return Err(bad(format!(
            "content_type {ct:?}: expected application/octet-stream"
        )));
    }
    if let Some(m) = st.db.model_by_hash(&req.expected_hash).await? {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "a model with hash {} was already uploaded (model_id {})",
                req.expected_hash, m.model_id
            ),
        ));
    }
    let used = st.db.submissions_used(&hotkey, &req.modality).await?;
    let max = st.cfg.max_per_modality;
    if used >= max {
        return Err(RegistryError::QuotaExceeded {
            modality: req.modality,
            used,
            max,
        }
        .into());
    }
    let now = now_ms();
    let base = upload_base(&st, &h);
    // A retry of the same presigned request gets the same upload back.
    if let Some(p) = st.db.pending_by_hash(&req.expected_hash, now).await? {
        if p.hotkey != hotkey || p.modality != req.modality || p.file_size != req.file_size as i64 {
            return Err(ApiError(
                StatusCode::CONFLICT,
                format!(
                    "an upload of hash {} is already in progress",
                    req.expected_hash
                ),
            ));
        }
        return Ok(Json(presigned_answer(&p, &base, used, max)));
    }
    let model_id = uuid::Uuid::new_v4().to_string();
    let u = PendingUpload {
        staging_key: staging_key(&model_id),
        model_id,
        hotkey,
        modality: req.modality,
        vertical: req.vertical,
        filename: req.filename,
        expected_hash: req.expected_hash,
        file_size: req.file_size as i64,
        state: "pending".into(),
        created_at: now,
        expires_at: now + st.cfg.upload_ttl.as_millis() as i64,
    };
    st.db.insert_upload(&u).await?;
    Ok(Json(presigned_answer(&u, &base, used, max)))
}

fn presigned_answer(u: &PendingUpload, base: &str, used: i64, max: i64) -> Value {
    json!({"data": {
        "model_id": u.model_id,
        "presigned_url": format!("{base}/blob/{}", u.model_id),
        "r2_key": model_key(&u.expected_hash),
        "expires_at": u.expires_at,
        "submissions_used": used,
        "submissions_max": max,
    }})
}

/// The unsigned PUT of the presigned URL: the unguessable model_id (UUIDv4) is the capability.
/// Streams to `staging/<model_id>`, refusing more bytes than announced, then checks size+hash.
async fn put_blob(
    State(st): State<AppState>,
    Path(model_id): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let u = st
        .db
        .upload(&model_id)
        .await?
        .filter(|u| u.expires_at > now_ms())
        .ok_or_else(|| RegistryError::UnknownUpload(model_id.clone()))?;
    let got = st
        .store
        .put_stream(&u.staging_key, body.into_data_stream(), u.file_size as u64)
        .await
        .map_err(|e| match e {
            RegistryError::Mismatch { .. } => RegistryError::Mismatch {
                model_id: model_id.clone(),
                detail: format!(
                    "body is larger than the announced file_size {}",
                    u.file_size
                ),
            },
            e => e,
        })?;
    if got.size != u.file_size as u64 || got.sha256 != u.expected_hash {
        st.store.delete(&u.staging_key).await?;
        return Err(RegistryError::Mismatch {
            model_id,
            detail: format!(
                "received {} bytes with SHA-256 {}, announced {} bytes with {}",
                got.size, got.sha256, u.file_size, u.expected_hash
            ),
        }
        .into());
    }
    st.db.mark_received(&model_id).await?;
    Ok(Json(
        json!({"data": {"model_id": model_id, "size": got.size}}),
    ))
}

#[derive(Deserialize)]
struct ConfirmReq {
    model_id: String,
    file_hash: String,
}

async fn confirm(State(st): State<AppState>, h: HeaderMap, body: Bytes) -> ApiResult<Json<Value>> {
    let hotkey = authenticate(&st, &h, &body)?;
    let req: ConfirmReq = parse(&body)?;
    check_hash("file_hash", &req.file_hash)?;
    let max = st.cfg.max_per_modality;
    let Some(u) = st.db.upload(&req.model_id).await? else {
        // A retried confirm whose first answer was lost: same answer again.
        if let Some(m) = st.db.model(&req.model_id).await?
            && m.hotkey == hotkey
            && m.sha256 == req.file_hash
        {
            let used = st.db.submissions_used(&hotkey, &m.modality).await?;
            return Ok(Json(confirm_answer(&m, used, max)));
        }
        return Err(RegistryError::UnknownUpload(req.model_id).into());
    };
    if u.hotkey != hotkey {
        return Err(RegistryError::NotOwner(req.model_id).into());
    }
    if u.expected_hash != req.file_hash {
        return Err(bad(format!(
            "file_hash {} differs from the expected_hash {} given at /presigned",
            req.file_hash, u.expected_hash
        )));
    }
    if st.cfg.disabled.contains(&u.modality) {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Uploads for {} are disabled", u.modality),
        ));
    }
    // Verify what is actually stored, not what the PUT claimed.
    let got = match st.store.digest(&u.staging_key).await {
        Ok(d) => d,
        Err(RegistryError::Store(object_store::Error::NotFound { .. })) => {
            return Err(bad(format!(
                "no bytes were received for upload {}: PUT the file to its presigned_url first",
                u.model_id
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if got.size != u.file_size as u64 || got.sha256 != u.expected_hash {
        st.store.delete(&u.staging_key).await?;
        return Err(RegistryError::Mismatch {
            model_id: u.model_id,
            detail: "stored bytes do not match the announced size/hash; upload again".into(),
        }
        .into());
    }
    let key = model_key(&u.expected_hash);
    st.store.promote(&u.staging_key, &key).await?;
    let res = st
        .db
        .confirm_model(NewModel {
            upload: &u,
            r2_key: &key,
            first_stage: "validate",
            max_attempts: st.cfg.max_attempts,
            max_per_modality: max,
        })
        .await;
    match res {
        Ok((m, used)) => Ok(Json(confirm_answer(&m, used, max))),
        Err(e @ RegistryError::QuotaExceeded { .. }) => {
            // Not counted: the upload is void; the object stays only if another model owns it.
            st.db.delete_upload(&u.model_id).await?;
            if st.db.model_by_hash(&u.expected_hash).await?.is_none() {
                st.store.delete(&key).await?;
            }
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

fn confirm_answer(m: &crate::db::Model, used: i64, max: i64) -> Value {
    json!({"data": {
        "model_id": m.model_id,
        "r2_key": m.r2_key,
        "status": m.status,
        "submissions_used": used,
        "submissions_max": max,
    }})
}

#[derive(Deserialize)]
struct ModalityQuery {
    modality: Option<String>,
}

/// `exam_status` / `benchmark_status` from the model's jobs.
fn stage_status(jobs: &[crate::db::Job], stage: &str) -> &'static str {
    match jobs.iter().rev().find(|j| j.stage == stage) {
        None => "not_started",
        Some(j) => match j.state.as_str() {
            "queued" => "queued",
            "running" => "running",
            "done" => match j.result.as_ref().and_then(|r| r.get("passed")) {
                Some(Value::Bool(false)) => "failed",
                _ => "passed",
            },
            _ => "failed",
        },
    }
}

async fn model_json(db: &Db, m: &crate::db::Model) -> Result<Value, RegistryError> {
    let jobs = db.jobs_of(&m.model_id).await?;
    let metrics = db.metrics_of(&m.model_id).await?;
    let runs: Vec<Value> = metrics
        .iter()
        .filter(|r| r.stage == "benchmark")
        .map(|r| {
            json!({"dataset": r.dataset, "sn34_score": r.sn34, "mcc": r.mcc, "brier": r.brier,
                   "accuracy": r.accuracy, "samples": r.samples})
        })
        .collect();
    Ok(json!({
        "model_id": m.model_id,
        "modality": m.modality,
        "filename": m.filename,
        "sha256": m.sha256,
        "r2_key": m.r2_key,
        "status": m.status,
        "validation_status": stage_status(&jobs, "validate"),
        "exam_status": stage_status(&jobs, "exam"),
        "benchmark_status": stage_status(&jobs, "benchmark"),
        "uploaded_at": m.created_at,
        "reasons": m.reasons,
        "benchmark_runs": runs,
    }))
}

async fn miner_models(
    State(st): State<AppState>,
    h: HeaderMap,
    Query(q): Query<ModalityQuery>,
) -> ApiResult<Json<Value>> {
    let hotkey = authenticate(&st, &h, b"")?;
    if let Some(m) = &q.modality {
        check_modality(m)?;
    }
    let models = st.db.models_of(&hotkey, q.modality.as_deref()).await?;
    let mut out = Vec::with_capacity(models.len());
    for m in &models {
        out.push(model_json(&st.db, m).await?);
    }
    let mut used = serde_json::Map::new();
    for m in MODALITIES {
        used.insert(m.into(), json!(st.db.submissions_used(&hotkey, m).await?));
    }
    Ok(Json(json!({"data": {
        "hotkey": hotkey,
        "models": out,
        "submissions_used": used,
        "submissions_max": st.cfg.max_per_modality,
    }})))
}

/// Leaderboard rows of one modality, best sn34 first (models without a score last).
pub async fn leaderboard_rows(db: &Db, modality: &str) -> Result<Vec<Value>, RegistryError> {
    let models = db.models_in(modality).await?;
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
            "status": m.status,
            "sn34_score": agg.and_then(|a| a.sn34),
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

async fn leaderboard(
    State(st): State<AppState>,
    Query(q): Query<ModalityQuery>,
) -> ApiResult<Json<Value>> {
    let modality = q.modality.unwrap_or_else(|| "image".into());
    check_modality(&modality)?;
    let rows = leaderboard_rows(&st.db, &modality).await?;
    Ok(Json(
        json!({"data": {"modality": modality, "models": rows}}),
    ))
}

async fn healthz(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    st.db
        .ping()
        .await
        .map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Json(json!({"status": "ok"})))
}

/// Remove expired presigned uploads (row + staged bytes), staged objects nobody owns (a crash
/// between PUT and confirm) and fail jobs whose last lease expired. Returns uploads removed.
pub async fn sweep(db: &Db, store: &Store) -> Result<usize, RegistryError> {
    let expired = db.expired_uploads(now_ms()).await?;
    for u in &expired {
        store.delete(&u.staging_key).await?;
        db.delete_upload(&u.model_id).await?;
    }
    let live: HashSet<String> = db.pending_ids().await?.into_iter().collect();
    for key in store.list("staging").await? {
        let id = key.trim_start_matches("staging/");
        if !live.contains(id) {
            store.delete(&key).await?;
        }
    }
    // Local backend: a PUT killed mid-stream leaves `staging/<id>#<n>` part files that the
    // object_store listing does not show; remove those of uploads that are no longer live.
    if let Some(dir) = store.local_path("staging")
        && let Ok(entries) = std::fs::read_dir(&dir)
    {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.split('#').next().unwrap_or_default();
            if name.contains('#') && !live.contains(id) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    db.fail_exhausted().await?;
    Ok(expired.len())
}
