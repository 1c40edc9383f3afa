//! Housekeeping the server runs at start and periodically: expired or orphaned uploads, jobs
//! whose last lease expired.

use std::collections::HashSet;

use crate::db::{Db, now_ms};
use crate::error::RegistryError;
use crate::store::Store;

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
