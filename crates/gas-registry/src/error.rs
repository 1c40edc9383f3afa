//! The registry's errors: [`RegistryError`] of the storage, queue and evaluation layers, and
//! [`ApiError`], how the HTTP API answers one.

use thiserror::Error;

/// Errors of the registry's storage, queue and API layers.
#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("object store error: {0}")]
    Store(#[from] object_store::Error),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("model with hash {sha256} was already uploaded (model_id {model_id})")]
    Duplicate { sha256: String, model_id: String },
    #[error("submission limit reached: {used} of {max} counted {modality} models for this hotkey")]
    QuotaExceeded {
        modality: String,
        used: i64,
        max: i64,
    },
    #[error("unknown upload {0}: request a presigned URL first (or it expired)")]
    UnknownUpload(String),
    #[error("upload {model_id} does not match: {detail}")]
    Mismatch { model_id: String, detail: String },
    #[error("upload {0} belongs to another hotkey")]
    NotOwner(String),
    #[error("the lease on job {0} was lost (expired and taken by another worker)")]
    LeaseLost(String),
    #[error("bad request: {0}")]
    BadRequest(String),
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// An HTTP error answer: `{"detail": …}` with a status code (the field the network's client
/// reads first).
#[derive(Debug)]
pub struct ApiError(pub axum::http::StatusCode, pub String);

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        ApiError(axum::http::StatusCode::BAD_REQUEST, msg.into())
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        (self.0, axum::Json(serde_json::json!({ "detail": self.1 }))).into_response()
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        use axum::http::StatusCode;
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
