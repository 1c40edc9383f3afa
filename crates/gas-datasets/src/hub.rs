//! Hugging Face hub datasets: list a repo's files, download the chosen archives / parquet files
//! into `cache_dir/hf/<org>/<name>/` with resume, and hand them to the local readers.
//!
//! - Listing: `GET {endpoint}/api/datasets/{repo}/tree/main?recursive=1` (follows `Link: rel="next"`
//!   pages); the listing is cached as `.gascli-tree.json` for offline use.
//! - Download: `GET {endpoint}/datasets/{repo}/resolve/main/{file}` into `{file}.part`, resumed with
//!   a `Range` header after a dropped connection (up to [`MAX_ATTEMPTS`] tries) or an earlier run,
//!   then renamed into place once complete (size checked against the listing). A complete cached
//!   file is reused without any request. `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`) is sent as a
//!   bearer token when set.
//! - The HTTP work runs on a private single-thread tokio runtime in its own thread, so [`open`]
//!   (super::open) can be called from sync code and from inside another runtime alike.

use super::local::PathFilter;
use super::sampling::{choose, rng_for};
use super::{DatasetError, DatasetSpec, FoundFile, OpenOptions, SourceFilter};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::header::{AUTHORIZATION, LINK, RANGE};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// Tries per file (the first request plus resumes after errors).
pub const MAX_ATTEMPTS: u32 = 6;
const TREE_FILE: &str = ".gascli-tree.json";
const MAX_TREE_PAGES: usize = 10_000;

/// `org/name` with the characters the hub allows, and no local file of that name.
pub fn looks_like_repo_id(s: &str) -> bool {
    let mut parts = s.split('/');
    let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && !p.contains("..")
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    ok(a) && ok(b)
}

/// The repo id in a catalog `path`: `org/name`, also written `hf://datasets/org/name`,
/// `datasets/org/name` or `https://huggingface.co/datasets/org/name`. `None` if it is not one.
pub fn repo_id(path: &str) -> Option<String> {
    let mut p = path.trim();
    for prefix in [
        "hf://datasets/",
        "https://huggingface.co/datasets/",
        "http://huggingface.co/datasets/",
        "datasets/",
    ] {
        if let Some(rest) = p.strip_prefix(prefix) {
            p = rest;
            break;
        }
    }
    let p = p.trim_end_matches('/');
    looks_like_repo_id(p).then(|| p.to_string())
}

/// One file of a hub repo (subset of the tree API's JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoFile {
    pub path: String,
    /// Size in bytes (for LFS files, the real object size).
    pub size: Option<u64>,
}

#[derive(Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    size: Option<u64>,
    lfs: Option<TreeLfs>,
}

#[derive(Deserialize)]
struct TreeLfs {
    size: Option<u64>,
}

pub(crate) fn safe_rel(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

fn token() -> Option<String> {
    ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|t| t.trim().to_string())
        .find(|t| !t.is_empty())
}

fn repo_url(endpoint: &str, segments: &[&str], rel: Option<&str>) -> Result<Url, String> {
    let mut url =
        Url::parse(endpoint).map_err(|e| format!("bad hub endpoint {endpoint:?}: {e}"))?;
    {
        let mut segs = url
            .path_segments_mut()
            .map_err(|_| format!("bad hub endpoint {endpoint:?}: cannot be a base URL"))?;
        segs.pop_if_empty();
        segs.extend(segments);
        if let Some(rel) = rel {
            segs.extend(rel.split('/'));
        }
    }
    Ok(url)
}

/// The `rel="next"` target of a `Link` header.
fn next_link(h: &str) -> Option<String> {
    h.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

fn client() -> Result<reqwest::Client, String> {
    // reqwest is built without a default crypto provider (the workspace's Cargo.toml): rustls'
    // ring provider, installed once per process (an `Err` means one is installed already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("gascli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

fn authed(rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match token() {
        Some(t) => rb.header(AUTHORIZATION, format!("Bearer {t}")),
        None => rb,
    }
}

fn status_hint(s: StatusCode) -> &'static str {
    match s.as_u16() {
        401 | 403 => " (private or gated dataset? accept its terms on the hub and set HF_TOKEN)",
        404 => " (no such dataset or file; check the repo id in the catalog)",
        429 => " (rate limited; wait and retry, or set HF_TOKEN)",
        _ => "",
    }
}

/// Lists every file of a dataset repo (all pages).
pub async fn list_repo_files(
    endpoint: &str,
    repo: &str,
) -> Result<Vec<RepoFile>, (String, String)> {
    let (org, name) = repo.split_once('/').unwrap_or((repo, ""));
    let mut url = repo_url(
        endpoint,
        &["api", "datasets", org, name, "tree", "main"],
        None,
    )
    .map_err(|e| (endpoint.to_string(), e))?;
    url.set_query(Some("recursive=1"));
    let client = client().map_err(|e| (url.to_string(), e))?;
    let mut out = Vec::new();
    let mut next = Some(url.to_string());
    let mut pages = 0;
    while let Some(u) = next.take() {
        pages += 1;
        if pages > MAX_TREE_PAGES {
            return Err((u, format!("more than {MAX_TREE_PAGES} listing pages")));
        }
        let resp = authed(client.get(&u))
            .send()
            .await
            .map_err(|e| (u.clone(), e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err((u, format!("HTTP {status}{}", status_hint(status))));
        }
        next = resp
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let entries: Vec<TreeEntry> = resp
            .json()
            .await
            .map_err(|e| (u.clone(), format!("unexpected listing JSON: {e}")))?;
        out.extend(
            entries
                .into_iter()
                .filter(|e| e.kind == "file")
                .map(|e| RepoFile {
                    size: e.lfs.and_then(|l| l.size).or(e.size),
                    path: e.path,
                }),
        );
    }
    Ok(out)
}

/// Downloads `url` to `dest`, resuming from `dest.part`. Returns the bytes fetched this time.
pub async fn download_file(
    client: &reqwest::Client,
    url: &Url,
    dest: &Path,
    expected: Option<u64>,
    pb: &ProgressBar,
) -> Result<u64, String> {
    let part = part_path(dest);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut fetched = 0u64;
    let mut last_err = String::new();
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
        }
        let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if let Some(exp) = expected {
            if have == exp && exp > 0 {
                return finish(&part, dest).map(|_| fetched);
            }
            if have > exp {
                let _ = std::fs::remove_file(&part);
                continue;
            }
        }
        let mut rb = authed(client.get(url.clone()));
        if have > 0 {
            rb = rb.header(RANGE, format!("bytes={have}-"));
        }
        let mut resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                last_err = e.to_string();
                continue;
            }
        };
        let status = resp.status();
        let append = match status {
            StatusCode::PARTIAL_CONTENT => true,
            StatusCode::OK => false,
            StatusCode::RANGE_NOT_SATISFIABLE => {
                // Our partial file is not a prefix the server knows: start over.
                let _ = std::fs::remove_file(&part);
                last_err = format!("HTTP {status}");
                continue;
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                last_err = format!("HTTP {s}{}", status_hint(s));
                continue;
            }
            s => return Err(format!("HTTP {s}{}", status_hint(s))),
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(&part)
            .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
        pb.set_position(pb.position().saturating_sub(if append { 0 } else { have }));
        let mut ok = true;
        loop {
            match resp.chunk().await {
                Ok(Some(bytes)) => {
                    file.write_all(&bytes)
                        .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
                    fetched += bytes.len() as u64;
                    pb.inc(bytes.len() as u64);
                }
                Ok(None) => break,
                Err(e) => {
                    last_err = format!("connection dropped: {e}");
                    ok = false;
                    break;
                }
            }
        }
        file.sync_all()
            .map_err(|e| format!("cannot write {}: {e}", part.display()))?;
        drop(file);
        if !ok {
            continue;
        }
        let len = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        match expected {
            Some(exp) if len < exp => {
                last_err = format!("got {len} of {exp} bytes");
                continue;
            }
            Some(exp) if len > exp => {
                let _ = std::fs::remove_file(&part);
                return Err(format!("got {len} bytes but the listing says {exp}"));
            }
            _ => return finish(&part, dest).map(|_| fetched),
        }
    }
    Err(format!(
        "gave up after {MAX_ATTEMPTS} attempts: {last_err} (the partial file {} is kept; run again to resume)",
        part.display()
    ))
}

fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

fn finish(part: &Path, dest: &Path) -> Result<(), String> {
    std::fs::rename(part, dest)
        .map_err(|e| format!("cannot move {} into place: {e}", part.display()))
}

/// Writes `bytes` to `path` atomically (temp file in the same folder + rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Runs a future to completion on a private runtime in a fresh thread.
fn block_on<T: Send + 'static>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(fut))
            .map_err(|e| format!("cannot start the download runtime: {e}"))
    })
    .join()
    .map_err(|_| "the download thread crashed".to_string())?
}

/// Where a repo is cached.
pub fn repo_cache_dir(cache_dir: &Path, repo: &str) -> PathBuf {
    let mut p = cache_dir.join("hf");
    for seg in repo.split('/') {
        p.push(seg);
    }
    p
}

/// Lists the repo (or reads the cached listing), chooses the files to use, downloads those not
/// yet cached, and returns them as local files.
pub(crate) fn fetch_dataset_files(
    spec: &DatasetSpec,
    repo: &str,
    opts: &OpenOptions,
    source: &SourceFilter,
) -> Result<Vec<FoundFile>, DatasetError> {
    let dir = repo_cache_dir(&opts.cache_dir, repo);
    let listing = repo_listing(spec, repo, opts, &dir)?;
    let chosen = choose_repo_files(spec, opts, source, listing)?;
    let (files, missing) = locate_in_cache(spec, repo, opts, &dir, &chosen)?;
    download_missing(spec, repo, opts, missing)?;
    Ok(files)
}

/// The repo's file list (step 1 of [`fetch_dataset_files`]) for callers that choose files by
/// their own rules.
pub(crate) fn listing(
    spec: &DatasetSpec,
    repo: &str,
    opts: &OpenOptions,
) -> Result<Vec<RepoFile>, DatasetError> {
    let dir = repo_cache_dir(&opts.cache_dir, repo);
    let files = repo_listing(spec, repo, opts, &dir)?;
    Ok(files.into_iter().filter(|f| safe_rel(&f.path)).collect())
}

/// Steps 3 and 4 of [`fetch_dataset_files`] for files chosen elsewhere: the chosen files in the
/// cache, downloaded first when missing.
pub(crate) fn fetch_chosen(
    spec: &DatasetSpec,
    repo: &str,
    opts: &OpenOptions,
    chosen: &[RepoFile],
) -> Result<Vec<FoundFile>, DatasetError> {
    let dir = repo_cache_dir(&opts.cache_dir, repo);
    let (files, missing) = locate_in_cache(spec, repo, opts, &dir, chosen)?;
    download_missing(spec, repo, opts, missing)?;
    Ok(files)
}

fn not_cached(spec: &DatasetSpec, repo: &str, dir: &Path) -> DatasetError {
    DatasetError::NotCached {
        dataset: spec.name.clone(),
        repo: repo.to_string(),
        cache: dir.to_path_buf(),
    }
}

/// Step 1: the repo's file list. Offline: the cached listing or [`DatasetError::NotCached`].
/// Online: a fresh listing (cached for later offline runs), falling back to the cached one when
/// the hub cannot be listed.
fn repo_listing(
    spec: &DatasetSpec,
    repo: &str,
    opts: &OpenOptions,
    dir: &Path,
) -> Result<Vec<RepoFile>, DatasetError> {
    let tree_path = dir.join(TREE_FILE);
    let read_cached = || -> Option<Vec<RepoFile>> {
        let text = std::fs::read_to_string(&tree_path).ok()?;
        serde_json::from_str(&text).ok()
    };
    if opts.offline {
        return read_cached().ok_or_else(|| not_cached(spec, repo, dir));
    }
    let endpoint = opts.hf_endpoint.clone();
    let r = repo.to_string();
    match block_on(async move { list_repo_files(&endpoint, &r).await }) {
        Ok(Ok(files)) => {
            if let Ok(json) = serde_json::to_vec(&files)
                && let Err(e) = write_atomic(&tree_path, &json)
            {
                tracing::warn!("cannot cache the listing at {}: {e}", tree_path.display());
            }
            Ok(files)
        }
        Ok(Err((url, reason))) => match read_cached() {
            Some(f) => {
                tracing::warn!("listing {url} failed ({reason}); using the cached listing");
                Ok(f)
            }
            None => Err(DatasetError::Download {
                dataset: spec.name.clone(),
                url,
                reason,
            }),
        },
        Err(reason) => Err(DatasetError::Download {
            dataset: spec.name.clone(),
            url: opts.hf_endpoint.clone(),
            reason,
        }),
    }
}

/// Step 2: the files this run uses. Containers (archives, parquet) when the repo has them and
/// `source_format` allows them, `archives_per_dataset` of them (or the mode's remote cap);
/// otherwise loose media files, `media_per_archive × archives_per_dataset` of them (as the
/// network counts) and never more than the mode needs. Seeded choices.
fn choose_repo_files(
    spec: &DatasetSpec,
    opts: &OpenOptions,
    source: &SourceFilter,
    listing: Vec<RepoFile>,
) -> Result<Vec<RepoFile>, DatasetError> {
    let filter = PathFilter::from_spec(spec)?;
    let usable: Vec<RepoFile> = listing
        .into_iter()
        .filter(|f| safe_rel(&f.path) && filter.accepts(&f.path))
        .collect();
    let containers: Vec<RepoFile> = usable
        .iter()
        .filter(|f| source.container(&f.path).is_some())
        .cloned()
        .collect();
    if !containers.is_empty() && !source.media_only() {
        let cap = usize::try_from(spec.archives_per_dataset)
            .ok()
            .or(opts.mode.remote_archive_cap());
        let mut rng = rng_for(opts.seed, &spec.name, "archives");
        return Ok(pick(containers, cap, &mut rng));
    }
    let media: Vec<RepoFile> = usable
        .into_iter()
        .filter(|f| source.media(&f.path, spec.modality))
        .collect();
    let by_spec = match (
        usize::try_from(spec.media_per_archive),
        usize::try_from(spec.archives_per_dataset),
    ) {
        (Ok(m), Ok(a)) => Some(m.saturating_mul(a)),
        _ => None,
    };
    let cap = match (by_spec, opts.mode.per_dataset_limit()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut rng = rng_for(opts.seed, &spec.name, "loose");
    Ok(pick(media, cap, &mut rng))
}

/// `cap` files chosen with `rng` (all of them when `cap` is `None`).
fn pick(files: Vec<RepoFile>, cap: Option<usize>, rng: &mut rand::rngs::StdRng) -> Vec<RepoFile> {
    match cap {
        Some(k) => choose(files.len(), k, rng)
            .into_iter()
            .map(|i| files[i].clone())
            .collect(),
        None => files,
    }
}

/// A chosen file that is not (completely) in the cache, and where it goes.
type Missing = (RepoFile, PathBuf);

/// Step 3: where each chosen file lives in the cache, and which of them are not there yet
/// (missing or of the wrong size). Offline, a missing file is [`DatasetError::NotCached`].
fn locate_in_cache(
    spec: &DatasetSpec,
    repo: &str,
    opts: &OpenOptions,
    dir: &Path,
    chosen: &[RepoFile],
) -> Result<(Vec<FoundFile>, Vec<Missing>), DatasetError> {
    let mut out = Vec::with_capacity(chosen.len());
    let mut missing = Vec::new();
    for f in chosen {
        let dest = f.path.split('/').fold(dir.to_path_buf(), |p, s| p.join(s));
        let complete = std::fs::metadata(&dest)
            .map(|m| m.is_file() && f.size.is_none_or(|s| s == m.len()))
            .unwrap_or(false);
        if !complete {
            if opts.offline {
                return Err(not_cached(spec, repo, dir));
            }
            missing.push((f.clone(), dest.clone()));
        }
        out.push(FoundFile {
            rel: f.path.clone(),
            abs: dest,
        });
    }
    Ok((out, missing))
}

/// Step 4: downloads the missing files one after the other (each resumable), with one progress
/// bar over their total size.
fn download_missing(
    spec: &DatasetSpec,
    repo: &str,
    opts: &OpenOptions,
    missing: Vec<Missing>,
) -> Result<(), DatasetError> {
    if missing.is_empty() {
        return Ok(());
    }
    let total: u64 = missing.iter().filter_map(|(f, _)| f.size).sum();
    let endpoint = opts.hf_endpoint.clone();
    let repo = repo.to_string();
    let name = spec.name.clone();
    let res = block_on(async move {
        let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            pb.set_style(style.progress_chars("=> "));
        }
        let client = client().map_err(|e| (endpoint.clone(), e))?;
        let (org, rname) = repo.split_once('/').unwrap_or((&repo, ""));
        for (f, dest) in missing {
            let url = repo_url(
                &endpoint,
                &["datasets", org, rname, "resolve", "main"],
                Some(&f.path),
            )
            .map_err(|e| (endpoint.clone(), e))?;
            pb.set_message(format!("{name}: {}", f.path));
            let have = std::fs::metadata(part_path(&dest))
                .map(|m| m.len())
                .unwrap_or(0);
            pb.inc(have);
            download_file(&client, &url, &dest, f.size, &pb)
                .await
                .map_err(|e| (url.to_string(), e))?;
        }
        pb.finish_and_clear();
        Ok::<(), (String, String)>(())
    });
    match res {
        Ok(Ok(())) => Ok(()),
        Ok(Err((url, reason))) => Err(DatasetError::Download {
            dataset: spec.name.clone(),
            url,
            reason,
        }),
        Err(reason) => Err(DatasetError::Download {
            dataset: spec.name.clone(),
            url: opts.hf_endpoint.clone(),
            reason,
        }),
    }
}
