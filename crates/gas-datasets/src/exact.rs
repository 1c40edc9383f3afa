//! The network's way of choosing a catalog dataset's samples (GASBench `dataset/download/` and
//! `dataset/iterator.py`), so the same catalog and seed give the same samples:
//!
//! 1. **List** the dataset's files (hub listing order, or sorted paths for a local folder),
//!    keeping names that end with the `source_format` extension (`.tar` also takes `.tar.gz` and
//!    `.tgz`; an empty format matches nothing), pass `include_paths` / `exclude_paths`, and stop
//!    at as many as will be downloaded (or 5 000). When nothing matches, `.parquet`, `.zip`,
//!    `.tar`, `.tar.gz` are tried in that order.
//! 2. **Choose files**: `archives_per_dataset` of them (`media_per_archive ×
//!    archives_per_dataset` for loose media formats), drawn with `random.Random(seed).sample`;
//!    GAS-Station datasets follow their weekly layout instead ([`crate::gasstation`]).
//! 3. **Extract** from each chosen file in turn: an archive's media entries (by the network's
//!    extension list, no `MACOSX` paths), `media_per_archive` of them drawn with
//!    `random.Random(seed).sample`; a parquet file's rows (after `filter_column` /
//!    `filter_value`) drawn as pandas' `DataFrame.sample(n, random_state=seed)` does, one sample
//!    per media column ([`crate::parquet::network_columns`]); a loose media file is one sample.
//!    With a filter, parquet files are instead shuffled and read one after the other until
//!    `media_per_archive × archives_per_dataset` samples are found.
//! 4. **Cache and read back**: the first 500 extracted samples are kept (regular datasets),
//!    shuffled with `random.Random(seed).shuffle` in extraction order, and the first
//!    [`PlannedDataset::max_samples`] are used. GAS-Station datasets are read week by week,
//!    oldest week first, newest sample first within a week.
//!
//! Where the network itself is not reproducible this follows one fixed choice: it processes
//! downloads as they complete and reads its cache folder in the file system's order; here files
//! are processed in the order they were drawn and the cache is read in extraction order (the
//! network's order whenever one file is downloaded, as in debug and small modes, on a file
//! system that lists names in order). Items the network would drop silently while extracting
//! (an image Pillow cannot open, a null parquet cell) are kept and fail when read, so they are
//! counted instead of replaced.

use crate::archive::{self, ArchiveEntry};
use crate::gasstation as gs;
use crate::hub::{self, RepoFile};
use crate::local::{self, PathFilter};
use crate::parquet as pq;
use crate::plan::{CACHE_MAX_SAMPLES, PlannedDataset, is_gasstation};
use crate::pyrand::{NumpyRandomState, PyRandom};
use crate::sampling::{Plan, SampleIter, Unit};
use crate::{DatasetError, DatasetSpec, FoundFile, Modality, OpenOptions, Sample, entry_error};
use std::path::Path;

/// Files listed at most when the count to download is not known (the network's default).
pub const MAX_FILES_DEFAULT: usize = 5000;

/// The network's media extensions per modality (note: no `.tif`, no `.opus`).
pub fn network_extensions(modality: Modality) -> &'static [&'static str] {
    match modality {
        Modality::Image => &[".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tiff", ".webp"],
        Modality::Video => &[
            ".mp4", ".avi", ".mov", ".mkv", ".wmv", ".webm", ".m4v", ".mpeg", ".mpg",
        ],
        Modality::Audio => &[".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac"],
    }
}

fn is_network_media(name: &str, modality: Modality) -> bool {
    let low = name.to_lowercase();
    network_extensions(modality)
        .iter()
        .any(|e| low.ends_with(e))
}

/// One listed file of a dataset.
#[derive(Debug, Clone)]
struct Listed {
    rel: String,
    size: Option<u64>,
}

/// Where a dataset's files are, and how to get one onto the disk.
enum Origin {
    Local(Vec<FoundFile>),
    Hub(String),
}

struct Files<'a> {
    spec: &'a DatasetSpec,
    opts: &'a OpenOptions,
    origin: Origin,
    listed: Vec<Listed>,
}

impl<'a> Files<'a> {
    fn open(spec: &'a DatasetSpec, opts: &'a OpenOptions) -> Result<Self, DatasetError> {
        if let Some(src) = spec.source.as_deref()
            && src != "huggingface"
        {
            return Err(DatasetError::InvalidSpec {
                dataset: spec.name.clone(),
                field: "source".into(),
                message: format!(
                    "{src:?} datasets are not supported by gascli (only the Hugging Face hub and local paths); drop the entry or download it to a local folder"
                ),
            });
        }
        let filter = PathFilter::from_spec(spec)?;
        let local = Path::new(&spec.path);
        if local.exists() {
            let found = local::list_files(spec, local)?;
            let listed = found
                .iter()
                .map(|f| Listed {
                    rel: f.rel.clone(),
                    size: None,
                })
                .collect();
            return Ok(Files {
                spec,
                opts,
                origin: Origin::Local(found),
                listed,
            });
        }
        let Some(repo) = hub::repo_id(&spec.path) else {
            return Err(DatasetError::NotFound {
                dataset: spec.name.clone(),
                path: spec.path.clone(),
            });
        };
        let listed = hub::listing(spec, &repo, opts)?
            .into_iter()
            .filter(|f| filter.accepts(&f.path))
            .map(|f| Listed {
                rel: f.path,
                size: f.size,
            })
            .collect();
        Ok(Files {
            spec,
            opts,
            origin: Origin::Hub(repo),
            listed,
        })
    }

    /// The chosen files on disk (downloaded first when remote and not cached).
    fn fetch(&self, picks: &[usize]) -> Result<Vec<FoundFile>, DatasetError> {
        match &self.origin {
            Origin::Local(found) => Ok(picks.iter().map(|&i| found[i].clone()).collect()),
            Origin::Hub(repo) => {
                let chosen: Vec<RepoFile> = picks
                    .iter()
                    .map(|&i| RepoFile {
                        path: self.listed[i].rel.clone(),
                        size: self.listed[i].size,
                    })
                    .collect();
                hub::fetch_chosen(self.spec, repo, self.opts, &chosen)
            }
        }
    }

    /// One file by its path in the dataset, listed or not (a GAS-Station archive); `None` when
    /// a local dataset has no such file. Hub files are downloaded when not cached.
    fn fetch_path(&self, rel: &str) -> Result<Option<FoundFile>, DatasetError> {
        // the name comes from a downloaded file: never a path out of the dataset
        if !hub::safe_rel(rel) {
            return Err(entry_error(
                &self.spec.name,
                rel,
                "not a plain relative path inside the dataset",
            ));
        }
        match &self.origin {
            Origin::Local(found) => {
                if let Some(f) = found.iter().find(|f| f.rel == rel) {
                    return Ok(Some(f.clone()));
                }
                let abs = Path::new(&self.spec.path).join(rel);
                Ok(abs.is_file().then(|| FoundFile {
                    rel: rel.to_string(),
                    abs,
                }))
            }
            Origin::Hub(repo) => {
                let size = self
                    .listed
                    .iter()
                    .find(|f| f.rel == rel)
                    .and_then(|f| f.size);
                let chosen = [RepoFile {
                    path: rel.to_string(),
                    size,
                }];
                Ok(hub::fetch_chosen(self.spec, repo, self.opts, &chosen)?.pop())
            }
        }
    }

    /// Step 1: indices of the files ending with `format`, within the path filters, at most
    /// `max` (default [`MAX_FILES_DEFAULT`]).
    fn list_format(&self, format: &str, max: Option<usize>) -> Vec<usize> {
        let max = max.unwrap_or(MAX_FILES_DEFAULT);
        let mut suffixes: Vec<String> = Vec::new();
        for f in format.split(',') {
            let f = f.trim();
            let f = if f != "frames" && !f.starts_with('.') {
                format!(".{f}")
            } else {
                f.to_string()
            };
            if [".tar", ".tar.gz", ".tgz"].contains(&f.as_str()) {
                suffixes.extend([".tar", ".tar.gz", ".tgz"].map(String::from));
            } else {
                suffixes.push(f);
            }
        }
        let mut out = Vec::new();
        for (i, f) in self.listed.iter().enumerate() {
            if !suffixes.iter().any(|s| f.rel.ends_with(s.as_str())) {
                continue;
            }
            out.push(i);
            if out.len() >= max {
                break;
            }
        }
        out
    }
}

/// Files to download for `format` (−1 = all): loose media count one per sample.
fn files_to_download(spec: &DatasetSpec, format: &str) -> i64 {
    let f = format.to_lowercase();
    let f = f.trim_start_matches('.');
    let direct = network_extensions(spec.modality)
        .iter()
        .any(|e| e.trim_start_matches('.') == f);
    if direct {
        if spec.media_per_archive == -1 || spec.archives_per_dataset == -1 {
            -1
        } else {
            spec.media_per_archive * spec.archives_per_dataset
        }
    } else {
        spec.archives_per_dataset
    }
}

/// One chosen sample, before it is read.
#[derive(Debug, Clone)]
enum Pick {
    Entry {
        file: usize,
        entry: ArchiveEntry,
        zip: bool,
    },
    Row {
        file: usize,
        row: usize,
        column: String,
        multi: bool,
    },
    Loose {
        file: usize,
    },
}

/// The chosen samples of one dataset, in the network's order, and the files they come from.
struct Selection {
    files: Vec<FoundFile>,
    picks: Vec<Pick>,
    /// Files that could not be read at all (the network skips them silently).
    errors: Vec<DatasetError>,
}

impl Selection {
    fn id(&self, p: &Pick) -> String {
        match p {
            Pick::Entry { file, entry, .. } => format!("{}/{}", self.files[*file].rel, entry.name),
            Pick::Row {
                file,
                row,
                column,
                multi,
            } => {
                if *multi {
                    format!("{}#{row}:{column}", self.files[*file].rel)
                } else {
                    format!("{}#{row}", self.files[*file].rel)
                }
            }
            Pick::Loose { file } => self.files[*file].rel.clone(),
        }
    }

    /// Step 3 for one file: its samples in extraction order.
    fn extract(
        &mut self,
        spec: &DatasetSpec,
        file: FoundFile,
        num_items: i64,
        seed: u64,
    ) -> Result<Vec<Pick>, DatasetError> {
        let low = file.rel.to_lowercase();
        let idx = self.files.len();
        let rel = file.rel.clone();
        let abs = file.abs.clone();
        self.files.push(file);
        let take = |n: usize| usize::try_from(num_items).ok().map(|k| k.min(n));
        if low.ends_with(".parquet") {
            let listing = match pq::list_network(&abs, spec) {
                Ok(l) => l,
                Err(pq::ListError::File(reason)) => {
                    self.errors.push(entry_error(&spec.name, rel, reason));
                    return Ok(Vec::new());
                }
                Err(pq::ListError::Spec { field, message }) => {
                    return Err(DatasetError::InvalidSpec {
                        dataset: spec.name.clone(),
                        field: field.into(),
                        message: format!("{rel}: {message}"),
                    });
                }
            };
            let mut rows = listing.rows;
            if let Some(k) = take(rows.len()) {
                let seed = u32::try_from(seed).map_err(|_| DatasetError::InvalidSpec {
                    dataset: spec.name.clone(),
                    field: "seed".into(),
                    message: format!(
                        "seed {seed} is over 2^32 - 1, which numpy (the network's parquet sampler) refuses"
                    ),
                })?;
                let order = NumpyRandomState::new(seed).pandas_sample(rows.len(), k);
                rows = order.into_iter().map(|i| rows[i]).collect();
            }
            let multi = listing.columns.len() > 1;
            let mut out = Vec::with_capacity(rows.len() * listing.columns.len());
            for row in rows {
                for column in &listing.columns {
                    out.push(Pick::Row {
                        file: idx,
                        row,
                        column: column.clone(),
                        multi,
                    });
                }
            }
            return Ok(out);
        }
        let is_zip = low.ends_with(".zip");
        if is_zip || [".tar", ".tar.gz", ".tgz"].iter().any(|e| low.ends_with(e)) {
            let listed = if is_zip {
                archive::list_zip(&abs, spec.modality)
            } else {
                archive::list_tar(&abs, spec.modality).and_then(|t| match t.error {
                    // the network's tarfile listing fails as a whole
                    Some(e) => Err(e),
                    None => Ok(t.entries),
                })
            };
            let entries = match listed {
                Ok(v) => v,
                Err(reason) => {
                    self.errors.push(entry_error(&spec.name, rel, reason));
                    return Ok(Vec::new());
                }
            };
            let cands: Vec<ArchiveEntry> = entries
                .into_iter()
                .filter(|e| {
                    e.regular
                        && is_network_media(&e.name, spec.modality)
                        && !e.name.contains("MACOSX")
                })
                .collect();
            let chosen = match take(cands.len()) {
                Some(k) => PyRandom::new(seed).sample(&cands, k),
                None => cands,
            };
            return Ok(chosen
                .into_iter()
                .map(|entry| Pick::Entry {
                    file: idx,
                    entry,
                    zip: is_zip,
                })
                .collect());
        }
        if is_network_media(&low, spec.modality) {
            return Ok(vec![Pick::Loose { file: idx }]);
        }
        Ok(Vec::new())
    }
}

fn select(p: &PlannedDataset, opts: &OpenOptions) -> Result<Selection, DatasetError> {
    let spec = &p.spec;
    let gasstation = is_gasstation(&spec.name);
    let cache_only;
    let opts = if gasstation && opts.gasstation.cache_only && !opts.offline {
        cache_only = OpenOptions {
            offline: true,
            ..opts.clone()
        };
        &cache_only
    } else {
        opts
    };
    let files = Files::open(spec, opts)?;
    let mut sel = Selection {
        files: Vec::new(),
        picks: Vec::new(),
        errors: Vec::new(),
    };
    let format = spec.source_format.clone().unwrap_or_default();
    let mut items: Vec<Pick> = Vec::new();
    if spec.filter_column.is_some() && spec.filter_value.is_some() {
        // Filtered: shuffled files, read one by one until the target is met.
        let fmt = if format.is_empty() {
            "parquet"
        } else {
            &format
        };
        let mut listed = files.list_format(fmt, None);
        PyRandom::new(opts.seed).shuffle(&mut listed);
        let target = spec.media_per_archive * spec.archives_per_dataset;
        for i in listed {
            let have = items.len() as i64;
            if have >= target {
                break;
            }
            let Some(found) = files.fetch(&[i])?.pop() else {
                continue;
            };
            let got = sel.extract(spec, found, target - have, opts.seed)?;
            let room = usize::try_from(target - have).unwrap_or(0);
            items.extend(got.into_iter().take(room));
        }
    } else if gasstation {
        items = select_weeks(spec, &files, &mut sel, opts, &format)?;
    } else {
        let mut n = files_to_download(spec, &format);
        let max = usize::try_from(n).ok().filter(|&k| k > 0);
        let mut listed = files.list_format(&format, max);
        if listed.is_empty() && !gasstation {
            for fallback in [".parquet", ".zip", ".tar", ".tar.gz"] {
                if fallback != format {
                    listed = files.list_format(fallback, max);
                    if !listed.is_empty() {
                        n = files_to_download(spec, fallback);
                        break;
                    }
                }
            }
        }
        let chosen: Vec<usize> = if n == -1 {
            listed
        } else if n <= 0 {
            Vec::new()
        } else {
            PyRandom::new(opts.seed).sample(&listed, n as usize)
        };
        let found = files.fetch(&chosen)?;
        for f in found {
            items.extend(sel.extract(spec, f, spec.media_per_archive, opts.seed)?);
        }
    }
    // Step 4: the cache, read back (GAS-Station: already in its weekly order).
    if !gasstation {
        items.truncate(CACHE_MAX_SAMPLES);
        PyRandom::new(opts.seed).shuffle(&mut items);
    }
    items.truncate(p.max_samples());
    sel.picks = items;
    Ok(sel)
}

/// A GAS-Station dataset's samples in the order they are read ([`crate::gasstation`]): per
/// target week, the week's newest files; a metadata parquet stands for the tar archives its
/// `archive_filename` column names (fetched from `archives/<week>/`), other files are extracted
/// as usual; within a week the newest extracted sample comes first.
fn select_weeks(
    spec: &DatasetSpec,
    files: &Files,
    sel: &mut Selection,
    opts: &OpenOptions,
    format: &str,
) -> Result<Vec<Pick>, DatasetError> {
    // Weeks are looked for in all files of the format, however many (the network lists them
    // all before filtering by week).
    let listed = files.list_format(format, Some(usize::MAX));
    let has = |week: &str| listed.iter().any(|&i| files.listed[i].rel.contains(week));
    let weeks = gs::target_weeks(opts.gasstation.today(), opts.gasstation.num_weeks, has);
    let n = files_to_download(spec, format);
    let mut items = Vec::new();
    for week in &weeks {
        let mut in_week: Vec<usize> = listed
            .iter()
            .copied()
            .filter(|&i| files.listed[i].rel.contains(week.as_str()))
            .collect();
        // all (−1) in listing order, else the newest names
        match n {
            -1 => {}
            n if n <= 0 => in_week.clear(),
            n => {
                in_week.sort_by(|a, b| files.listed[*b].rel.cmp(&files.listed[*a].rel));
                in_week.truncate(usize::try_from(n).unwrap_or(usize::MAX));
            }
        }
        let with_parquet = in_week
            .iter()
            .any(|&i| files.listed[i].rel.contains(".parquet"));
        let mut week_items = Vec::new();
        for i in in_week {
            let Some(found) = files.fetch(&[i])?.pop() else {
                continue;
            };
            if !with_parquet {
                week_items.extend(sel.extract(spec, found, spec.media_per_archive, opts.seed)?);
                continue;
            }
            if !found.rel.contains(".parquet") {
                continue;
            }
            let names = match pq::text_column(&found.abs, "archive_filename") {
                Ok(Some(v)) => v.into_iter().collect::<std::collections::BTreeSet<_>>(),
                Ok(None) => continue,
                Err(
                    pq::ListError::File(reason)
                    | pq::ListError::Spec {
                        message: reason, ..
                    },
                ) => {
                    sel.errors.push(entry_error(&spec.name, found.rel, reason));
                    continue;
                }
            };
            // the archives' week is the parquet's (none named: nothing to fetch)
            let Some(pweek) = gs::week_in_path(&found.rel) else {
                continue;
            };
            for name in names {
                let rel = gs::archive_path(pweek, &name);
                match files.fetch_path(&rel) {
                    Ok(Some(archive)) => week_items.extend(sel.extract(
                        spec,
                        archive,
                        spec.media_per_archive,
                        opts.seed,
                    )?),
                    Ok(None) => sel.errors.push(entry_error(
                        &spec.name,
                        rel,
                        "named in the week's parquet but not in the dataset",
                    )),
                    Err(e @ DatasetError::NotCached { .. }) => return Err(e),
                    Err(e) => sel.errors.push(e),
                }
            }
        }
        week_items.reverse();
        items.extend(week_items);
    }
    Ok(items)
}

/// The sample ids a planned catalog dataset yields, in the network's order (see the module doc);
/// downloads the chosen files when remote. For `--data-dir` datasets: the ids of
/// [`open_planned`] in its order.
pub fn planned_ids(p: &PlannedDataset, opts: &OpenOptions) -> Result<Vec<String>, DatasetError> {
    if !p.spec.from_catalog {
        return Ok(crate::open_limited(&p.spec, opts, Some(p.max_samples()))?
            .filter_map(|s| s.ok().map(|s| s.id))
            .collect());
    }
    let sel = select(p, opts)?;
    Ok(sel.picks.iter().map(|k| sel.id(k)).collect())
}

type SampleStream = Box<dyn Iterator<Item = Result<Sample, DatasetError>> + Send>;

/// Streams a planned dataset's samples: catalog datasets by the network's rules (module doc),
/// `--data-dir` folders by [`crate::open`]'s rules with the plan's cap. The set of samples is
/// exactly [`planned_ids`]; they are read grouped by file (archives in their own order, parquet
/// rows ascending) so each file is opened once.
pub fn open_planned(p: &PlannedDataset, opts: &OpenOptions) -> Result<SampleStream, DatasetError> {
    let spec = &p.spec;
    if !spec.from_catalog {
        return crate::open_limited(spec, opts, Some(p.max_samples()));
    }
    let sel = select(p, opts)?;
    if sel.picks.is_empty() && sel.errors.is_empty() {
        return Err(DatasetError::Empty {
            dataset: spec.name.clone(),
            path: spec.path.clone(),
            detail: format!(
                "the network's rules find no {} media (source_format {:?}, media_per_archive {}, archives_per_dataset {}); check the path, `source_format`, `include_paths`/`exclude_paths`, `data_columns`, `filter_column`/`filter_value`",
                spec.modality,
                spec.source_format.as_deref().unwrap_or(""),
                spec.media_per_archive,
                spec.archives_per_dataset
            ),
        });
    }
    Ok(Box::new(SampleIter::new(
        spec,
        Plan::from_units(units(sel)),
    )))
}

/// Groups the picks into one reading unit per file (and per parquet column), in order of first
/// use.
fn units(sel: Selection) -> Vec<Unit> {
    let Selection {
        files,
        picks,
        errors,
    } = sel;
    let mut order: Vec<(usize, Option<String>)> = Vec::new();
    let mut groups: std::collections::HashMap<(usize, Option<String>), Vec<Pick>> =
        std::collections::HashMap::new();
    for p in picks {
        let key = match &p {
            Pick::Entry { file, .. } | Pick::Loose { file } => (*file, None),
            Pick::Row { file, column, .. } => (*file, Some(column.clone())),
        };
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key.clone());
                Vec::new()
            })
            .push(p);
    }
    let mut out: Vec<Unit> = errors.into_iter().map(Unit::Error).collect();
    let mut loose = Vec::new();
    for key in order {
        let Some(group) = groups.remove(&key) else {
            continue;
        };
        let f = files[key.0].clone();
        match &group[0] {
            Pick::Loose { .. } => loose.push(f),
            Pick::Entry { zip, .. } => {
                let zip = *zip;
                let mut entries: Vec<ArchiveEntry> = group
                    .into_iter()
                    .filter_map(|p| match p {
                        Pick::Entry { entry, .. } => Some(entry),
                        _ => None,
                    })
                    .collect();
                if zip {
                    out.push(Unit::Zip(f, entries));
                } else {
                    entries.sort_by_key(|e| e.index);
                    out.push(Unit::Tar(f, entries));
                }
            }
            Pick::Row { column, multi, .. } => {
                let (column, multi) = (column.clone(), *multi);
                let mut rows: Vec<usize> = group
                    .into_iter()
                    .filter_map(|p| match p {
                        Pick::Row { row, .. } => Some(row),
                        _ => None,
                    })
                    .collect();
                rows.sort_unstable();
                out.push(if multi {
                    Unit::ParquetColumn(f, column, rows)
                } else {
                    Unit::Parquet(f, column, rows)
                });
            }
        }
    }
    if !loose.is_empty() {
        out.push(Unit::Loose(loose));
    }
    out
}
