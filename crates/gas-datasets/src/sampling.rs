//! Reproducible sampling: which containers, which entries, in which order; and the iterator that
//! reads them lazily.
//!
//! Order of limits: `archives_per_dataset` picks containers, `media_per_archive` picks entries
//! inside each, then the mode's per-dataset limit picks from everything that is left (loose files
//! and container entries together). Each pick is a seeded uniform subset kept in listing order,
//! with a seed derived from (run seed, dataset name, purpose), so datasets get independent draws.

use super::archive::{self, ArchiveEntry, ZipReader};
use super::parquet::{self as pq, ParquetStream};
use super::{
    ContainerKind, DatasetError, DatasetSpec, FoundFile, Label, Media, OpenOptions, Sample,
    SourceFilter, entry_error,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// FNV-1a, 64 bit: a stable hash for deriving seeds (std's hasher may change between releases).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub(crate) fn rng_for(seed: u64, dataset: &str, purpose: &str) -> StdRng {
    StdRng::seed_from_u64(fnv1a(&[
        &seed.to_le_bytes(),
        dataset.as_bytes(),
        purpose.as_bytes(),
    ]))
}

/// `k` of `0..n` (all if `k >= n`), ascending.
pub(crate) fn choose(n: usize, k: usize, rng: &mut StdRng) -> Vec<usize> {
    if k >= n {
        return (0..n).collect();
    }
    let mut v = rand::seq::index::sample(rng, n, k).into_vec();
    v.sort_unstable();
    v
}

fn limit(v: i64) -> Option<usize> {
    usize::try_from(v).ok()
}

pub(crate) enum Unit {
    Loose(Vec<FoundFile>),
    Zip(FoundFile, Vec<ArchiveEntry>),
    Tar(FoundFile, Vec<ArchiveEntry>),
    /// Every media entry of a tar, streamed without a listing pass (no sampling applies).
    TarAll(FoundFile),
    Parquet(FoundFile, String, Vec<usize>),
    /// Rows of one of several media columns (ids `file#row:column`).
    ParquetColumn(FoundFile, String, Vec<usize>),
    Error(DatasetError),
}

pub(crate) struct Plan {
    units: Vec<Unit>,
}

impl Plan {
    pub(crate) fn from_units(units: Vec<Unit>) -> Self {
        Plan { units }
    }

    /// Items the plan will yield, or `None` when some tar is streamed without a listing.
    fn planned(&self) -> Option<usize> {
        self.units.iter().try_fold(0usize, |acc, u| {
            Some(
                acc + match u {
                    Unit::Loose(v) => v.len(),
                    Unit::Zip(_, v) | Unit::Tar(_, v) => v.len(),
                    Unit::Parquet(_, _, v) | Unit::ParquetColumn(_, _, v) => v.len(),
                    Unit::Error(_) => 1,
                    Unit::TarAll(_) => return None,
                },
            )
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.units.iter().all(|u| match u {
            Unit::Loose(v) => v.is_empty(),
            Unit::Zip(_, v) | Unit::Tar(_, v) => v.is_empty(),
            Unit::Parquet(_, _, v) | Unit::ParquetColumn(_, _, v) => v.is_empty(),
            Unit::TarAll(_) | Unit::Error(_) => false,
        })
    }
}

/// Entries of one listed container, before sampling.
enum Listed {
    Zip(Vec<ArchiveEntry>),
    Tar(Vec<ArchiveEntry>),
    Parquet(String, Vec<usize>),
}

impl Listed {
    fn len(&self) -> usize {
        match self {
            Listed::Zip(v) | Listed::Tar(v) => v.len(),
            Listed::Parquet(_, v) => v.len(),
        }
    }
}

/// `per_dataset`: the most samples taken from the dataset (`None` = all).
pub(crate) fn plan(
    spec: &DatasetSpec,
    opts: &OpenOptions,
    filter: &SourceFilter,
    files: Vec<FoundFile>,
    per_dataset: Option<usize>,
) -> Result<Plan, DatasetError> {
    let name = spec.name.as_str();
    let mut loose = Vec::new();
    let mut containers = Vec::new();
    let single_file = std::path::Path::new(&spec.path).is_file();
    for f in files {
        if let Some(k) = filter.container(&f.rel) {
            containers.push((f, k));
        } else if filter.media(&f.rel, spec.modality) {
            loose.push(f);
        } else if single_file
            && ContainerKind::from_name(&f.rel).is_none()
            && let [k] = filter.containers.as_slice()
        {
            // The one file named by `path`, with an explicit format but an odd extension.
            containers.push((f, *k));
        }
    }

    // Loose media: the network counts media_per_archive × archives_per_dataset files.
    if let (Some(m), Some(a)) = (
        limit(spec.media_per_archive),
        limit(spec.archives_per_dataset),
    ) {
        let k = m.saturating_mul(a);
        if k < loose.len() {
            let mut rng = rng_for(opts.seed, name, "loose");
            loose = choose(loose.len(), k, &mut rng)
                .into_iter()
                .map(|i| loose[i].clone())
                .collect();
        }
    }

    // archives_per_dataset
    if let Some(k) = limit(spec.archives_per_dataset) {
        let mut rng = rng_for(opts.seed, name, "archives");
        let keep = choose(containers.len(), k, &mut rng);
        containers = keep.into_iter().map(|i| containers[i].clone()).collect();
    }

    // list + media_per_archive
    let mut errors = Vec::new();
    let mut listed: Vec<(FoundFile, Listed)> = Vec::new();
    // With nothing to sample, tar files are streamed in one pass instead of listed first.
    let no_sampling = per_dataset.is_none() && spec.media_per_archive < 0;
    let mut tar_all = Vec::new();
    for (f, kind) in containers {
        if no_sampling && kind == ContainerKind::Tar {
            tar_all.push(f);
            continue;
        }
        let id = f.rel.clone();
        let src_err = |reason: String| entry_error(name, id.clone(), reason);
        let l = match kind {
            ContainerKind::Zip => archive::list_zip(&f.abs, spec.modality).map(Listed::Zip),
            ContainerKind::Tar => archive::list_tar(&f.abs, spec.modality).map(|t| {
                if let Some(e) = t.error {
                    errors.push(src_err(e));
                }
                Listed::Tar(t.entries)
            }),
            ContainerKind::Parquet => match pq::list(&f.abs, spec) {
                Ok(p) => Ok(Listed::Parquet(p.column, p.rows)),
                Err(pq::ListError::File(reason)) => Err(reason),
                // A catalog mistake (wrong column names), not a damaged file: stop here.
                Err(pq::ListError::Spec { field, message }) => {
                    return Err(DatasetError::InvalidSpec {
                        dataset: name.to_string(),
                        field: field.into(),
                        message: format!("{}: {message}", f.rel),
                    });
                }
            },
        };
        let l = match l {
            Ok(l) => l,
            Err(reason) => {
                errors.push(src_err(reason));
                continue;
            }
        };
        let l = match limit(spec.media_per_archive) {
            Some(k) if k < l.len() => {
                let mut rng = rng_for(opts.seed, name, &format!("archive:{}", f.rel));
                let keep = choose(l.len(), k, &mut rng);
                match l {
                    Listed::Zip(v) => Listed::Zip(keep.into_iter().map(|i| v[i].clone()).collect()),
                    Listed::Tar(v) => Listed::Tar(keep.into_iter().map(|i| v[i].clone()).collect()),
                    Listed::Parquet(c, v) => {
                        Listed::Parquet(c, keep.into_iter().map(|i| v[i]).collect())
                    }
                }
            }
            _ => l,
        };
        listed.push((f, l));
    }

    // mode limit over everything
    let total = loose.len() + listed.iter().map(|(_, l)| l.len()).sum::<usize>();
    let chosen: Option<Vec<usize>> = per_dataset.and_then(|k| {
        (k < total).then(|| {
            let mut rng = rng_for(opts.seed, name, "mode");
            choose(total, k, &mut rng)
        })
    });
    let mut chosen = chosen.map(|v| v.into_iter().peekable());
    let mut offset = 0usize;
    // keeps the items of a unit whose global positions are chosen
    let mut take = |n: usize| -> Vec<usize> {
        let start = offset;
        offset += n;
        match chosen.as_mut() {
            None => (0..n).collect(),
            Some(it) => {
                let mut keep = Vec::new();
                while let Some(&g) = it.peek() {
                    if g >= start + n {
                        break;
                    }
                    keep.push(g - start);
                    it.next();
                }
                keep
            }
        }
    };

    let mut units: Vec<Unit> = errors.into_iter().map(Unit::Error).collect();
    let keep = take(loose.len());
    if !keep.is_empty() {
        units.push(Unit::Loose(
            keep.into_iter().map(|i| loose[i].clone()).collect(),
        ));
    }
    units.extend(tar_all.into_iter().map(Unit::TarAll));
    for (f, l) in listed {
        let keep = take(l.len());
        if keep.is_empty() {
            continue;
        }
        units.push(match l {
            Listed::Zip(v) => Unit::Zip(f, keep.into_iter().map(|i| v[i].clone()).collect()),
            Listed::Tar(v) => Unit::Tar(f, keep.into_iter().map(|i| v[i].clone()).collect()),
            Listed::Parquet(c, v) => Unit::Parquet(f, c, keep.into_iter().map(|i| v[i]).collect()),
        });
    }
    Ok(Plan { units })
}

type ItemIter = Box<dyn Iterator<Item = Result<Sample, DatasetError>> + Send>;

/// Lazily opens each planned unit in turn.
pub(crate) struct SampleIter {
    dataset: String,
    label: Label,
    modality: super::Modality,
    units: std::vec::IntoIter<Unit>,
    current: Option<ItemIter>,
    /// Items handed out so far; a dataset that turns out to hold nothing (e.g. only an empty
    /// tar streamed without listing) ends with one `Empty` error instead of silently.
    yielded: usize,
    path: String,
    finished: bool,
    /// Exact number of items still to come, when known (see [`Plan::planned`]).
    remaining: Option<usize>,
}

impl SampleIter {
    pub(crate) fn new(spec: &DatasetSpec, plan: Plan) -> Self {
        let remaining = plan.planned();
        SampleIter {
            remaining,
            dataset: spec.name.clone(),
            label: spec.media_type,
            modality: spec.modality,
            units: plan.units.into_iter(),
            current: None,
            yielded: 0,
            path: spec.path.clone(),
            finished: false,
        }
    }

    fn open_unit(&self, unit: Unit) -> ItemIter {
        let dataset = self.dataset.clone();
        let label = self.label;
        let sample = move |id: String, media: Media| Sample {
            dataset: dataset.clone(),
            id,
            label,
            media,
        };
        let ds = self.dataset.clone();
        let multi = matches!(unit, Unit::ParquetColumn(..));
        match unit {
            Unit::Error(e) => Box::new(std::iter::once(Err(e))),
            Unit::Loose(files) => Box::new(files.into_iter().map(
                move |f| match std::fs::metadata(&f.abs) {
                    Err(e) => Err(entry_error(&ds, f.rel, format!("unreadable file: {e}"))),
                    Ok(m) if m.len() == 0 => Err(entry_error(&ds, f.rel, "empty media (0 bytes)")),
                    Ok(_) => Ok(sample(f.rel, Media::File(f.abs))),
                },
            )),
            Unit::Zip(f, entries) => {
                let mut reader = ZipReader::open(&f.abs);
                Box::new(entries.into_iter().map(move |e| {
                    let id = format!("{}/{}", f.rel, e.name);
                    let res = match reader.as_mut() {
                        Ok(r) => r.read(&e),
                        Err(why) => Err(why.clone()),
                    };
                    match res {
                        Ok(b) => Ok(sample(id, Media::Bytes(b))),
                        Err(why) => Err(entry_error(&ds, id, why)),
                    }
                }))
            }
            Unit::Tar(f, entries) => {
                let rel = f.rel.clone();
                Box::new(archive::stream_tar(&f.abs, entries).map(move |(e, res)| {
                    let id = format!("{rel}/{}", e.name);
                    match res {
                        Ok(b) => Ok(sample(id, Media::Bytes(b))),
                        Err(why) => Err(entry_error(&ds, id, why)),
                    }
                }))
            }
            Unit::TarAll(f) => {
                let rel = f.rel.clone();
                let modality = self.modality;
                Box::new(
                    archive::stream_tar_all(&f.abs, modality).map(move |(e, res)| {
                        let id = if e.name.is_empty() {
                            rel.clone()
                        } else {
                            format!("{rel}/{}", e.name)
                        };
                        match res {
                            Ok(b) => Ok(sample(id, Media::Bytes(b))),
                            Err(why) => Err(entry_error(&ds, id, why)),
                        }
                    }),
                )
            }
            Unit::Parquet(f, column, rows) | Unit::ParquetColumn(f, column, rows) => {
                let rel = f.rel.clone();
                let suffix = if multi {
                    format!(":{column}")
                } else {
                    String::new()
                };
                Box::new(
                    ParquetStream::open(&f.abs, &column, rows).map(move |(row, res)| {
                        let id = format!("{rel}#{row}{suffix}");
                        match res {
                            Ok(b) => Ok(sample(id, Media::Bytes(b))),
                            Err(why) => Err(entry_error(&ds, id, why)),
                        }
                    }),
                )
            }
        }
    }
}

impl Iterator for SampleIter {
    type Item = Result<Sample, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(cur) = self.current.as_mut() {
                if let Some(item) = cur.next() {
                    self.yielded += 1;
                    if let Some(r) = self.remaining.as_mut() {
                        *r = r.saturating_sub(1);
                    }
                    return Some(item);
                }
                self.current = None;
            }
            let Some(unit) = self.units.next() else {
                if self.yielded == 0 && !self.finished {
                    self.finished = true;
                    return Some(Err(DatasetError::Empty {
                        dataset: self.dataset.clone(),
                        path: self.path.clone(),
                        detail: format!("its archives hold no {} media", self.modality),
                    }));
                }
                return None;
            };
            self.current = Some(self.open_unit(unit));
        }
    }

    /// Exact (`(n, Some(n))`) when every archive was listed, i.e. unless tar files are streamed
    /// without a listing pass (full mode with `media_per_archive: -1`).
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.remaining {
            Some(n) => (n, Some(n)),
            None => (0, None),
        }
    }
}
