//! What the HTTP handlers share: the service settings ([`ApiConfig`]) and handles
//! ([`AppState`]), and the names the API accepts ([`MODALITIES`], [`VERTICALS`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Authenticator;
use crate::db::Db;
use crate::store::Store;

pub const MODALITIES: [&str; 3] = ["image", "video", "audio"];

/// The network's competition verticals; `human` is for image and video models only.
pub const VERTICALS: [&str; 2] = ["general", "human"];

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
