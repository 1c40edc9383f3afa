//! HTTP routes (axum): the upload protocol of push.md, the miner's model list, the public
//! leaderboard JSON, the leaderboard page ([`crate::html`]) and `/healthz`. Handlers check the
//! request and call the database, the store and [`crate::views`]; shared state and settings
//! live in [`crate::state`], error answers in [`crate::error`].

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::db::{NewModel, PendingUpload, now_ms};
use crate::error::{ApiError, RegistryError};
use crate::state::{AppState, MODALITIES, VERTICALS};
use crate::store::{model_key, staging_key};
use crate::views::{leaderboard_rows, model_json, performance};

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
        .route("/api/v1/miner/performance", get(miner_performance))
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

/// A vertical the network knows, allowed for the modality (`human`: image and video only, with
/// the network's reason).
fn check_vertical(v: &str, modality: Option<&str>) -> ApiResult<()> {
    if !VERTICALS.contains(&v) {
        return Err(bad(format!(
            "vertical {v:?} is unknown (expected general or human)"
        )));
    }
    if v == "human" && modality == Some("audio") {
        return Err(bad(
            "The 'human' vertical is only available for image and video models. Remove \
             --audio-model, or use --vertical general.",
        ));
    }
    Ok(())
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

async fn presigned(State(st): State<AppState>, h: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let hotkey = authenticate(&st, &h, &body)?;
    let req: PresignedReq = parse(&body)?;
    check_modality(&req.modality)?;
    check_vertical(&req.vertical, Some(&req.modality))?;
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
        // One sentence, and the id as a field for clients (gascli looks the model up).
        let detail = format!(
            "a model with this hash was already uploaded (model_id {})",
            m.model_id
        );
        return Ok((
            StatusCode::CONFLICT,
            Json(json!({"detail": detail, "model_id": m.model_id})),
        )
            .into_response());
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
        return Ok(Json(presigned_answer(&p, &base, used, max)).into_response());
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
    Ok(Json(presigned_answer(&u, &base, used, max)).into_response())
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
struct Filters {
    modality: Option<String>,
    vertical: Option<String>,
}

impl Filters {
    fn check(&self) -> ApiResult<()> {
        if let Some(m) = &self.modality {
            check_modality(m)?;
        }
        if let Some(v) = &self.vertical {
            check_vertical(v, None)?;
        }
        Ok(())
    }
}

/// The hotkey's models, a JSON list in the network's shape ([`crate::views::model_json`]).
async fn miner_models(
    State(st): State<AppState>,
    h: HeaderMap,
    Query(q): Query<Filters>,
) -> ApiResult<Json<Value>> {
    let hotkey = authenticate(&st, &h, b"")?;
    q.check()?;
    let models = st.db.models_of(&hotkey, q.modality.as_deref()).await?;
    let mut out = Vec::with_capacity(models.len());
    for m in models
        .iter()
        .filter(|m| q.vertical.as_ref().is_none_or(|v| *v == m.vertical))
    {
        out.push(model_json(&st.db, m).await?);
    }
    Ok(Json(Value::Array(out)))
}

/// The hotkey's benchmark runs, a JSON list in the network's shape ([`crate::views::run_json`]).
async fn miner_performance(
    State(st): State<AppState>,
    h: HeaderMap,
    Query(q): Query<Filters>,
) -> ApiResult<Json<Value>> {
    let hotkey = authenticate(&st, &h, b"")?;
    q.check()?;
    let runs = performance(
        &st.db,
        &hotkey,
        q.modality.as_deref(),
        q.vertical.as_deref(),
    )
    .await?;
    Ok(Json(Value::Array(runs)))
}

/// Leaderboard of one modality (default image) and vertical (default general).
async fn leaderboard(
    State(st): State<AppState>,
    Query(q): Query<Filters>,
) -> ApiResult<Json<Value>> {
    q.check()?;
    let modality = q.modality.unwrap_or_else(|| "image".into());
    let vertical = q.vertical.unwrap_or_else(|| "general".into());
    let rows = leaderboard_rows(&st.db, &modality, &vertical).await?;
    Ok(Json(
        json!({"data": {"modality": modality, "vertical": vertical, "models": rows}}),
    ))
}

async fn healthz(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    st.db
        .ping()
        .await
        .map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Json(json!({"status": "ok"})))
}
