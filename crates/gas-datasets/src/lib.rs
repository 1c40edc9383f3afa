//! Benchmark datasets for gascli: the catalog YAML, local folders, local archives (zip, tar,
//! tar.gz), parquet files with a media-bytes column, and Hugging Face hub datasets downloaded
//! into a cache directory on first use.
//!
//! [`open`] turns one [`DatasetSpec`] into a stream of [`Sample`]s (raw media bytes or a file
//! path plus the label). Sampling (mode + seed) is reproducible and memory stays bounded: only
//! entry *names* are listed up front, media bytes are read one sample at a time.
//!
//! Owns: catalog parsing, finding and listing dataset files, downloads and the download cache,
//! choosing which samples a run uses, and reading their undecoded bytes. It is the only crate
//! that speaks HTTP to the hub and reads parquet.
//!
//! Must not touch: decoding or preprocessing media (gas-media), running models or the worker
//! (gas-bench), scoring (gas-score), results files or reports (gas-bench). It knows nothing of a
//! benchmark run beyond the [`Mode`] and seed it is given.

mod compat;

pub mod archive;
pub mod cache;
pub mod catalog;
pub mod exact;
pub mod gasstation;
pub mod hub;
pub mod local;
pub mod parquet;
pub mod plan;
pub mod pyrand;
mod sampling;

pub use catalog::{holdout_name, load_catalog, load_holdout_catalog};
pub use compat::{Label, Modality};
pub use exact::{open_planned, planned_ids};
pub use local::local_dir_specs;
pub use plan::{PlannedDataset, RunPlan, Selection, plan_run};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// How many samples per dataset a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// At most [`Mode::DEBUG_PER_DATASET`] (8) samples per dataset.
    Debug,
    /// At most [`Mode::SMALL_PER_DATASET`] (100) samples per dataset (the entrance exam size).
    Small,
    /// Every sample (after `media_per_archive` / `archives_per_dataset` limits).
    Full,
}

impl Mode {
    pub const DEBUG_PER_DATASET: usize = 8;
    pub const SMALL_PER_DATASET: usize = 100;

    /// Maximum samples per dataset, `None` = all.
    pub fn per_dataset_limit(self) -> Option<usize> {
        match self {
            Mode::Debug => Some(Self::DEBUG_PER_DATASET),
            Mode::Small => Some(Self::SMALL_PER_DATASET),
            Mode::Full => None,
        }
    }

    /// Remote (hub) datasets only: how many archive/parquet files are downloaded at most when the
    /// catalog says `archives_per_dataset: -1`, so a debug run never fetches a whole dataset.
    /// Debug: 1, Small: 4, Full: all.
    pub fn remote_archive_cap(self) -> Option<usize> {
        match self {
            Mode::Debug => Some(1),
            Mode::Small => Some(4),
            Mode::Full => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Debug => "debug",
            Mode::Small => "small",
            Mode::Full => "full",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "debug" => Ok(Mode::Debug),
            "small" => Ok(Mode::Small),
            "full" => Ok(Mode::Full),
            other => Err(format!(
                "unknown mode {other:?} (expected debug, small or full)"
            )),
        }
    }
}

/// One catalog entry (bench.md, "Datasets").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSpec {
    pub name: String,
    /// Local path (file or folder) or a Hugging Face dataset repo id `org/name`.
    pub path: String,
    pub modality: Modality,
    pub media_type: Label,
    /// `parquet`, `zip`, `tar`, … ; auto-detected when `None`.
    pub source_format: Option<String>,
    /// Max media taken from each archive / parquet file; −1 = all.
    pub media_per_archive: i64,
    /// Max archive / parquet files used; −1 = all.
    pub archives_per_dataset: i64,
    pub include_paths: Vec<String>,
    pub exclude_paths: Vec<String>,
    pub data_columns: Vec<String>,
    pub filter_column: Option<String>,
    pub filter_value: Option<String>,
    pub generator_family: Option<String>,
    pub content_category: Option<String>,
    pub notes: Option<String>,
    /// `huggingface` (default), `modelscope` or `s3`, as the catalog says.
    pub source: Option<String>,
    /// A holdout's name as written in its catalog (the run uses the obfuscated [`Self::name`]).
    pub original_name: Option<String>,
    /// Read from a catalog (the network's rules for choosing files and samples apply, see
    /// [`open_planned`]); `false` for `--data-dir` folders and hand-made specs.
    pub from_catalog: bool,
}

impl DatasetSpec {
    /// A spec with every optional field at its default (−1 limits, no filters).
    pub fn new(
        name: impl Into<String>,
        path: impl Into<String>,
        modality: Modality,
        media_type: Label,
    ) -> Self {
        DatasetSpec {
            name: name.into(),
            path: path.into(),
            modality,
            media_type,
            source_format: None,
            media_per_archive: -1,
            archives_per_dataset: -1,
            include_paths: Vec::new(),
            exclude_paths: Vec::new(),
            data_columns: Vec::new(),
            filter_column: None,
            filter_value: None,
            generator_family: None,
            content_category: None,
            notes: None,
            source: None,
            original_name: None,
            from_catalog: false,
        }
    }
}

/// How [`open`] samples and where it caches downloads.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOptions {
    pub mode: Mode,
    pub seed: u64,
    /// Downloads go to `cache_dir/hf/<org>/<name>/…`.
    pub cache_dir: PathBuf,
    /// Never touch the network; remote datasets must already be in the cache.
    pub offline: bool,
    /// Hugging Face endpoint, default `https://huggingface.co` (or `$HF_ENDPOINT`).
    pub hf_endpoint: String,
    /// Which weeks of GAS-Station datasets are read, and whether they may be downloaded.
    pub gasstation: gasstation::GasStationOptions,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            mode: Mode::Small,
            seed: 0,
            cache_dir: default_cache_dir(),
            offline: false,
            hf_endpoint: std::env::var("HF_ENDPOINT")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| hub::DEFAULT_ENDPOINT.to_string()),
            gasstation: gasstation::GasStationOptions::default(),
        }
    }
}

/// `$GASCLI_CACHE_DIR/datasets`, else `$XDG_CACHE_HOME/gascli/datasets`, else
/// `$HOME/.cache/gascli/datasets`, else `./.gascli-cache/datasets`.
pub fn default_cache_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = env("GASCLI_CACHE_DIR") {
        return p.join("datasets");
    }
    if let Some(p) = env("XDG_CACHE_HOME") {
        return p.join("gascli").join("datasets");
    }
    if let Some(p) = env("HOME") {
        return p.join(".cache").join("gascli").join("datasets");
    }
    PathBuf::from(".gascli-cache").join("datasets")
}

/// One benchmark item.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// [`DatasetSpec::name`].
    pub dataset: String,
    /// Stable id inside the dataset: a relative path, `archive/entry`, or `file.parquet#row`.
    pub id: String,
    pub label: Label,
    pub media: Media,
}

/// The raw, undecoded media of a sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    /// Bytes read from an archive entry or a parquet cell.
    Bytes(Vec<u8>),
    /// A file on disk (local folders, loose files in a downloaded repo).
    File(PathBuf),
}

/// Everything that can go wrong finding or reading a dataset. Per-sample problems
/// ([`DatasetError::Entry`]) are yielded as `Err` items by the iterator so a run can count them
/// and go on; the others come from [`open`] / [`load_catalog`] and concern the whole dataset.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("catalog {path}: {message}")]
    Catalog { path: PathBuf, message: String },
    #[error("dataset {dataset:?}: field `{field}`: {message}")]
    InvalidSpec {
        dataset: String,
        field: String,
        message: String,
    },
    #[error(
        "dataset {dataset:?}: {path} does not exist (expected a local folder/file, or a Hugging Face repo id like `org/name`)"
    )]
    NotFound { dataset: String, path: String },
    #[error("dataset {dataset:?}: {path} is empty: {detail}")]
    Empty {
        dataset: String,
        path: String,
        detail: String,
    },
    /// One unreadable, corrupt or unsafe sample (or a whole archive that could not be read).
    #[error("dataset {dataset:?}, sample {id:?}: {reason}")]
    Entry {
        dataset: String,
        id: String,
        reason: String,
    },
    #[error("dataset {dataset:?}: {path}: {reason}")]
    Source {
        dataset: String,
        path: String,
        reason: String,
    },
    #[error("dataset {dataset:?}: download from {url} failed: {reason}")]
    Download {
        dataset: String,
        url: String,
        reason: String,
    },
    #[error(
        "dataset {dataset:?}: offline mode and {repo} is not in the cache ({cache}); run once without --offline to download it"
    )]
    NotCached {
        dataset: String,
        repo: String,
        cache: PathBuf,
    },
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.into(),
            source,
        }
    }

    /// `Some((dataset, id))` for per-sample errors, so a runner can record which item failed.
    pub fn sample(&self) -> Option<(&str, &str)> {
        match self {
            DatasetError::Entry { dataset, id, .. } => Some((dataset, id)),
            _ => None,
        }
    }

    /// A short machine-friendly kind for error counters in results files.
    pub fn kind(&self) -> &'static str {
        match self {
            DatasetError::Io { .. } => "io",
            DatasetError::Catalog { .. } => "catalog",
            DatasetError::InvalidSpec { .. } => "invalid_spec",
            DatasetError::NotFound { .. } => "not_found",
            DatasetError::Empty { .. } => "empty",
            DatasetError::Entry { .. } => "unreadable_media",
            DatasetError::Source { .. } => "source",
            DatasetError::Download { .. } => "download",
            DatasetError::NotCached { .. } => "not_cached",
        }
    }
}

/// Largest single media item read into memory (512 MiB); bigger entries are reported, not read.
pub const MAX_MEDIA_BYTES: u64 = 512 * 1024 * 1024;

/// File extensions (lower case, no dot) accepted for a modality.
pub fn media_extensions(modality: Modality) -> &'static [&'static str] {
    match modality {
        Modality::Image => &["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"],
        Modality::Video => &[
            "mp4", "avi", "mov", "mkv", "wmv", "webm", "m4v", "mpeg", "mpg",
        ],
        Modality::Audio => &["wav", "mp3", "flac", "ogg", "m4a", "aac", "opus"],
    }
}

/// True when `name`'s extension is a media extension of `modality` (case-insensitive).
pub fn is_media_name(name: &str, modality: Modality) -> bool {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            let ext = ext.to_ascii_lowercase();
            media_extensions(modality).contains(&ext.as_str())
        }
        _ => false,
    }
}

/// Container files a dataset can be published as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    Zip,
    /// Plain or gzip-compressed tar (detected from the magic bytes when read).
    Tar,
    Parquet,
}

impl ContainerKind {
    /// Kind from a file name (`.zip`, `.tar`, `.tar.gz`, `.tgz`, `.parquet`).
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".zip") {
            Some(ContainerKind::Zip)
        } else if lower.ends_with(".tar") || lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
            Some(ContainerKind::Tar)
        } else if lower.ends_with(".parquet") {
            Some(ContainerKind::Parquet)
        } else {
            None
        }
    }
}

/// What a spec's `source_format` lets through. The network's catalogs write it as a container
/// format (`parquet`, `zip`, `tar`, `.tar.gz`), as a media extension (`mp4`, `.jpg`: loose media
/// files of that type), as a list of those, or leave it empty (auto-detect: every container and
/// every media file of the modality). Unknown words are ignored (auto-detect) with a warning, so a
/// catalog with a format we do not know still loads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceFilter {
    /// Accepted container kinds (empty with empty `media_exts` = auto).
    pub containers: Vec<ContainerKind>,
    /// Accepted loose-media extensions, lower case, no dot.
    pub media_exts: Vec<String>,
}

impl SourceFilter {
    /// Parses `source_format` (comma-separated when the catalog gave a list).
    pub fn parse(source_format: Option<&str>, modality: Modality) -> Self {
        let mut f = SourceFilter::default();
        for word in source_format.unwrap_or("").split(',') {
            let w = word.trim().trim_start_matches('.').to_ascii_lowercase();
            match w.as_str() {
                "" | "auto" => {}
                "parquet" => f.containers.push(ContainerKind::Parquet),
                "zip" => f.containers.push(ContainerKind::Zip),
                "tar" | "tar.gz" | "tgz" | "targz" => f.containers.push(ContainerKind::Tar),
                ext if media_extensions(modality).contains(&ext) => f.media_exts.push(w.clone()),
                other => tracing::warn!(
                    "source_format {other:?} is not parquet, zip, tar or a {modality} extension; auto-detecting"
                ),
            }
        }
        f
    }

    /// Auto-detect: nothing was named.
    pub fn is_auto(&self) -> bool {
        self.containers.is_empty() && self.media_exts.is_empty()
    }

    /// True when only loose media were named (`source_format: mp4`).
    pub fn media_only(&self) -> bool {
        self.containers.is_empty() && !self.media_exts.is_empty()
    }

    /// Container kind of `name` if it is an accepted container.
    pub fn container(&self, name: &str) -> Option<ContainerKind> {
        let k = ContainerKind::from_name(name)?;
        (self.is_auto() || self.containers.contains(&k)).then_some(k)
    }

    /// True when `name` is an accepted loose media file.
    pub fn media(&self, name: &str, modality: Modality) -> bool {
        if !is_media_name(name, modality) {
            return false;
        }
        if self.is_auto() {
            return true;
        }
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        self.media_exts.contains(&ext)
    }
}

/// A file found in a dataset folder or repo, relative name + location on disk.
#[derive(Debug, Clone)]
pub(crate) struct FoundFile {
    pub rel: String,
    pub abs: PathBuf,
}

/// Streams the sampled items of one dataset (downloads first if remote). Bounded memory: never
/// holds the whole dataset; sampling (mode + seed) is reproducible: the same spec, files, mode and
/// seed give the same ids in the same order.
///
/// Corrupt, empty, oversized or unsafe entries come out as `Err(DatasetError::Entry)` items; the
/// iterator keeps going after them. A dataset with no media at all is an `Err` from `open` (or,
/// when that is only found out while streaming tar files, a final `Err(DatasetError::Empty)`).
/// `size_hint()` is exact (for progress bars) unless tar files are streamed without a listing
/// pass (full mode, `media_per_archive: -1`).
pub fn open(
    spec: &DatasetSpec,
    opts: &OpenOptions,
) -> Result<Box<dyn Iterator<Item = Result<Sample, DatasetError>> + Send>, DatasetError> {
    open_limited(spec, opts, opts.mode.per_dataset_limit())
}

/// [`open`] with an explicit per-dataset limit instead of the mode's (`None` = all).
pub(crate) fn open_limited(
    spec: &DatasetSpec,
    opts: &OpenOptions,
    per_dataset: Option<usize>,
) -> Result<Box<dyn Iterator<Item = Result<Sample, DatasetError>> + Send>, DatasetError> {
    let filter = SourceFilter::parse(spec.source_format.as_deref(), spec.modality);
    for (field, v) in [
        ("media_per_archive", spec.media_per_archive),
        ("archives_per_dataset", spec.archives_per_dataset),
    ] {
        if v < -1 {
            return Err(DatasetError::InvalidSpec {
                dataset: spec.name.clone(),
                field: field.into(),
                message: format!("{v} is not allowed; use -1 for all or a count ≥ 0"),
            });
        }
    }

    let local = Path::new(&spec.path);
    let (files, root_display) = if local.exists() {
        (local::list_files(spec, local)?, local.display().to_string())
    } else if let Some(repo) = hub::repo_id(&spec.path) {
        let files = hub::fetch_dataset_files(spec, &repo, opts, &filter)?;
        (files, format!("{repo} (Hugging Face)"))
    } else {
        return Err(DatasetError::NotFound {
            dataset: spec.name.clone(),
            path: spec.path.clone(),
        });
    };

    let plan = sampling::plan(spec, opts, &filter, files, per_dataset)?;
    if plan.is_empty() {
        let exts = media_extensions(spec.modality).join(", ");
        return Err(DatasetError::Empty {
            dataset: spec.name.clone(),
            path: root_display,
            detail: format!(
                "no {} media ({exts}) and no readable zip/tar/parquet files found{}; check the path, `modality`, `include_paths`/`exclude_paths`, `filter_column`/`filter_value`",
                spec.modality,
                if spec.media_per_archive == 0 || spec.archives_per_dataset == 0 {
                    " (media_per_archive or archives_per_dataset is 0)"
                } else {
                    ""
                }
            ),
        });
    }
    Ok(Box::new(sampling::SampleIter::new(spec, plan)))
}

pub(crate) fn entry_error(
    spec_name: &str,
    id: impl Into<String>,
    reason: impl fmt::Display,
) -> DatasetError {
    DatasetError::Entry {
        dataset: spec_name.to_string(),
        id: id.into(),
        reason: reason.to_string(),
    }
}

/// Reads at most [`MAX_MEDIA_BYTES`] from `r`; empty or oversized content is an error message.
pub(crate) fn read_media<R: std::io::Read>(r: R, declared: Option<u64>) -> Result<Vec<u8>, String> {
    use std::io::Read;
    if let Some(d) = declared
        && d > MAX_MEDIA_BYTES
    {
        return Err(format!(
            "entry is {d} bytes, over the {MAX_MEDIA_BYTES}-byte limit per media item"
        ));
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(64 << 20) as usize);
    r.take(MAX_MEDIA_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("corrupt or unreadable entry: {e}"))?;
    if buf.len() as u64 > MAX_MEDIA_BYTES {
        return Err(format!(
            "entry is larger than the {MAX_MEDIA_BYTES}-byte limit per media item"
        ));
    }
    if let Some(d) = declared
        && (buf.len() as u64) < d
    {
        return Err(format!("truncated entry: got {} of {d} bytes", buf.len()));
    }
    if buf.is_empty() {
        return Err("empty media (0 bytes)".into());
    }
    Ok(buf)
}
