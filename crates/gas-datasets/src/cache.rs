//! Preparing the download cache ahead of a run (`gascli d datasets download|verify`): each
//! planned dataset's files are chosen by the same rules a run uses ([`crate::planned_ids`]) and
//! downloaded (or, offline, checked), several datasets at a time.

use crate::plan::PlannedDataset;
use crate::{DatasetError, OpenOptions, planned_ids};
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What preparing one dataset gave.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetStatus {
    pub name: String,
    /// A holdout's name in its catalog.
    pub original_name: Option<String>,
    pub modality: String,
    pub path: String,
    /// The plan's cap for the dataset.
    pub cap: usize,
    /// Samples a run would use (when ready).
    pub samples: Option<usize>,
    /// Why not, when not ready (`kind` is [`DatasetError::kind`]).
    pub error: Option<String>,
    pub error_kind: Option<&'static str>,
}

impl DatasetStatus {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Prepares every planned dataset, `concurrent` at a time (at least 1), calling `on_done` as
/// each finishes. With `opts.offline` nothing is downloaded: a dataset whose files are not all in
/// the cache reports [`DatasetError::NotCached`]. Results are in plan order.
pub fn prepare_all(
    planned: &[PlannedDataset],
    opts: &OpenOptions,
    concurrent: usize,
    on_done: &(dyn Fn(&DatasetStatus) + Sync),
) -> Vec<DatasetStatus> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<DatasetStatus>>> = Mutex::new(vec![None; planned.len()]);
    std::thread::scope(|s| {
        for _ in 0..concurrent.clamp(1, planned.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = planned.get(i) else { break };
                    let st = status(p, planned_ids(p, opts));
                    on_done(&st);
                    if let Ok(mut v) = out.lock() {
                        v[i] = Some(st);
                    }
                }
            });
        }
    });
    out.into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

fn status(p: &PlannedDataset, r: Result<Vec<String>, DatasetError>) -> DatasetStatus {
    let (samples, error, error_kind) = match r {
        Ok(ids) => (Some(ids.len()), None, None),
        Err(e) => (None, Some(e.to_string()), Some(e.kind())),
    };
    DatasetStatus {
        name: p.spec.name.clone(),
        original_name: p.spec.original_name.clone(),
        modality: p.spec.modality.to_string(),
        path: p.spec.path.clone(),
        cap: p.cap,
        samples,
        error,
        error_kind,
    }
}
