//! Media inside zip and tar / tar.gz archives: listing entry names (no data read) and reading
//! the chosen entries lazily into [`Media::Bytes`](super::Media::Bytes).
//!
//! Safety: entries with `..`, absolute names or symlinks are never read (they come out as
//! per-sample errors); every read goes through `take(MAX_MEDIA_BYTES + 1)` because declared sizes
//! can lie; listing stops at [`MAX_ENTRIES`] entries.

use super::{Modality, is_media_name, read_media};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path};
use std::sync::mpsc;

/// Most entries listed per archive (zip bombs with millions of empty entries are cut off).
pub const MAX_ENTRIES: usize = 1_000_000;

/// A media entry of an archive, found by listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveEntry {
    /// Zip: central-directory index. Tar: position among all tar entries.
    pub index: usize,
    /// Name as stored in the archive.
    pub name: String,
    /// Declared size (may lie).
    pub size: u64,
    /// Why the entry must not be read (unsafe path or symlink), if so.
    pub refused: Option<String>,
    /// A regular file (tar: not a link, device or other special entry; zip: always).
    pub regular: bool,
}

fn unsafe_name(name: &str) -> Option<String> {
    let p = Path::new(name);
    if p.is_absolute() || name.starts_with('/') || name.starts_with('\\') {
        return Some(format!("refused: absolute entry name {name:?}"));
    }
    if p.components().any(|c| matches!(c, Component::ParentDir))
        || name.split(['/', '\\']).any(|c| c == "..")
    {
        return Some(format!(
            "refused: entry name {name:?} escapes the archive (`..`)"
        ));
    }
    None
}

/// Lists the media entries (by extension for `modality`) of a zip file.
pub fn list_zip(path: &Path, modality: Modality) -> Result<Vec<ArchiveEntry>, String> {
    let f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(f))
        .map_err(|e| format!("not a readable zip archive: {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!(
            "zip has {} entries, over the limit of {MAX_ENTRIES}",
            zip.len()
        ));
    }
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| format!("corrupt zip central directory at entry {i}: {e}"))?;
        if entry.is_dir() {
            continue;
        }
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(e) => format!("<entry {i}: undecodable name: {e}>"),
        };
        if !is_media_name(&name, modality) {
            continue;
        }
        let refused = if entry.is_symlink() {
            Some(format!("refused: {name:?} is a symlink"))
        } else if entry.enclosed_name().is_none() {
            unsafe_name(&name).or_else(|| Some(format!("refused: unsafe entry name {name:?}")))
        } else {
            unsafe_name(&name)
        };
        out.push(ArchiveEntry {
            index: i,
            name,
            size: entry.size(),
            refused,
            regular: true,
        });
    }
    Ok(out)
}

/// Reads chosen entries of one zip archive, one at a time.
pub struct ZipReader {
    zip: zip::ZipArchive<BufReader<File>>,
}

impl ZipReader {
    pub fn open(path: &Path) -> Result<Self, String> {
        let f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let zip = zip::ZipArchive::new(BufReader::new(f))
            .map_err(|e| format!("not a readable zip archive: {e}"))?;
        Ok(ZipReader { zip })
    }

    /// The entry's bytes; CRC mismatches, truncation, bad compression, empty or oversized
    /// entries are errors.
    pub fn read(&mut self, entry: &ArchiveEntry) -> Result<Vec<u8>, String> {
        if let Some(r) = &entry.refused {
            return Err(r.clone());
        }
        let file = self
            .zip
            .by_index(entry.index)
            .map_err(|e| format!("corrupt zip entry: {e}"))?;
        let declared = file.size();
        read_media(file, Some(declared))
    }
}

/// Opens a tar file, transparently un-gzipping it when it starts with the gzip magic bytes.
fn open_tar(path: &Path) -> Result<tar::Archive<Box<dyn Read + Send>>, String> {
    let mut f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut magic = [0u8; 2];
    let n = f
        .read(&mut magic)
        .map_err(|e| format!("cannot read: {e}"))?;
    let f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let reader: Box<dyn Read + Send> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(BufReader::new(f)))
    } else {
        Box::new(BufReader::new(f))
    };
    Ok(tar::Archive::new(reader))
}

/// Result of listing a tar: the media entries found, and the error that stopped the listing early
/// (truncated or corrupt archive), if any. Entries before the damage stay usable.
#[derive(Debug, Default)]
pub struct TarListing {
    pub entries: Vec<ArchiveEntry>,
    pub error: Option<String>,
}

/// The media entry for tar entry `i`, or `None` when it is not a media file of `modality`.
fn classify_tar_entry<R: Read>(
    ent: &tar::Entry<'_, R>,
    i: usize,
    modality: Modality,
) -> Option<ArchiveEntry> {
    let kind = ent.header().entry_type();
    let name = match ent.path() {
        Ok(p) => p.to_string_lossy().into_owned(),
        Err(e) => format!("<entry {i}: bad name: {e}>"),
    };
    if kind.is_dir() || !is_media_name(&name, modality) {
        return None;
    }
    let refused = if kind.is_symlink() || kind.is_hard_link() {
        Some(format!("refused: {name:?} is a link"))
    } else if !kind.is_file() {
        Some(format!("refused: {name:?} is not a regular file"))
    } else {
        unsafe_name(&name)
    };
    Some(ArchiveEntry {
        index: i,
        name,
        size: ent.header().size().unwrap_or(0),
        refused,
        regular: kind.is_file(),
    })
}

/// Streams *every* media entry of a tar in a single pass (no listing pass first): used when no
/// sampling applies (full mode, `media_per_archive: -1`), which halves the work on big tar.gz
/// files. A damaged archive ends the stream with one error item whose entry name is empty.
pub fn stream_tar_all(
    path: &Path,
    modality: Modality,
) -> impl Iterator<Item = (ArchiveEntry, Result<Vec<u8>, String>)> + Send + use<> {
    let (tx, rx) = mpsc::sync_channel::<(ArchiveEntry, Result<Vec<u8>, String>)>(1);
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let whole = |i: usize, why: String| {
            (
                ArchiveEntry {
                    index: i,
                    name: String::new(),
                    size: 0,
                    refused: None,
                    regular: false,
                },
                Err(why),
            )
        };
        let mut ar = match open_tar(&path) {
            Ok(a) => a,
            Err(e) => {
                let _ = tx.send(whole(0, e));
                return;
            }
        };
        let entries = match ar.entries() {
            Ok(e) => e,
            Err(e) => {
                let _ = tx.send(whole(0, format!("not a readable tar archive: {e}")));
                return;
            }
        };
        for (i, ent) in entries.enumerate() {
            if i >= MAX_ENTRIES {
                let _ = tx.send(whole(
                    i,
                    format!("more than {MAX_ENTRIES} entries; the rest were ignored"),
                ));
                return;
            }
            let ent = match ent {
                Ok(e) => e,
                Err(e) => {
                    let _ = tx.send(whole(
                        i,
                        format!("corrupt or truncated tar after entry {i}: {e}"),
                    ));
                    return;
                }
            };
            let Some(entry) = classify_tar_entry(&ent, i, modality) else {
                continue;
            };
            let res = match &entry.refused {
                Some(r) => Err(r.clone()),
                None => {
                    let declared = ent.header().size().ok();
                    read_media(ent, declared)
                }
            };
            if tx.send((entry, res)).is_err() {
                return;
            }
        }
    });
    rx.into_iter()
}

/// Lists the media entries of a tar / tar.gz in one streaming pass (names only).
pub fn list_tar(path: &Path, modality: Modality) -> Result<TarListing, String> {
    let mut ar = open_tar(path)?;
    let mut listing = TarListing::default();
    let entries = ar
        .entries()
        .map_err(|e| format!("not a readable tar archive: {e}"))?;
    for (i, ent) in entries.enumerate() {
        if i >= MAX_ENTRIES {
            listing.error = Some(format!(
                "more than {MAX_ENTRIES} entries; the rest were ignored"
            ));
            break;
        }
        let ent = match ent {
            Ok(e) => e,
            Err(e) => {
                listing.error = Some(format!("corrupt or truncated tar after entry {i}: {e}"));
                break;
            }
        };
        if let Some(e) = classify_tar_entry(&ent, i, modality) {
            listing.entries.push(e);
        }
    }
    Ok(listing)
}

/// Streams the chosen entries (sorted by `index`) of a tar from a reader thread through a
/// bounded channel, so at most a couple of media items are in memory. Yields `(entry, bytes)`.
pub fn stream_tar(
    path: &Path,
    picks: Vec<ArchiveEntry>,
) -> impl Iterator<Item = (ArchiveEntry, Result<Vec<u8>, String>)> + Send + use<> {
    let (tx, rx) = mpsc::sync_channel::<(ArchiveEntry, Result<Vec<u8>, String>)>(1);
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let mut picks = std::collections::VecDeque::from(picks);
        let fail_rest = |picks: &mut std::collections::VecDeque<ArchiveEntry>, why: &str| {
            while let Some(p) = picks.pop_front() {
                if tx.send((p, Err(why.to_string()))).is_err() {
                    return;
                }
            }
        };
        let mut ar = match open_tar(&path) {
            Ok(a) => a,
            Err(e) => return fail_rest(&mut picks, &e),
        };
        let entries = match ar.entries() {
            Ok(e) => e,
            Err(e) => return fail_rest(&mut picks, &format!("not a readable tar archive: {e}")),
        };
        for (i, ent) in entries.enumerate() {
            let Some(next_index) = picks.front().map(|p| p.index) else {
                return;
            };
            if i < next_index {
                // Still need to surface errors that stop the walk.
                if let Err(e) = ent {
                    return fail_rest(&mut picks, &format!("corrupt or truncated tar: {e}"));
                }
                continue;
            }
            let Some(pick) = picks.pop_front() else {
                return;
            };
            let res = match ent {
                Err(e) => {
                    let why = format!("corrupt or truncated tar: {e}");
                    if tx.send((pick, Err(why.clone()))).is_err() {
                        return;
                    }
                    return fail_rest(&mut picks, &why);
                }
                Ok(_) if pick.refused.is_some() => Err(pick.refused.clone().unwrap_or_default()),
                Ok(e) => {
                    let declared = e.header().size().ok();
                    read_media(e, declared)
                }
            };
            if tx.send((pick, res)).is_err() {
                return;
            }
        }
        fail_rest(&mut picks, "entry missing: the tar ended before it");
    });
    rx.into_iter()
}
