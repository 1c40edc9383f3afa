//! The network's cache step (bench.md "The cache step"): before a model sees an image sample,
//! the network stores it with Pillow's `image.save(path)`, the format chosen from the file
//! name it derives from `image.format` (`.jpg` for JPEG, `.<format>` otherwise), and reads it
//! back. With no save options that is:
//!
//! * **JPEG** (and MPO, whose `.mpo` saver writes a JPEG of frame 0): re-encoded at quality 75
//!   with libjpeg-turbo's defaults — 4:2:0 for colour, gray stays gray, CMYK stays CMYK
//!   (Adobe polarity both ways); the last COM marker is written back, nothing else
//!   (no EXIF, ICC or DPI) — see [`crate::jpeg_enc`];
//! * **WebP**: re-encoded *lossy* at quality 80, method 4, alpha quality 100, `exact` off —
//!   lossless sources included (Pillow's default is lossy) — frame 0 only, RGBA when the file
//!   declares alpha (see [`crate::webp`]);
//! * **PNG, GIF, BMP, TIFF** and the rest: saved losslessly in the same mode, so the decoded
//!   RGB pixels are unchanged and the bytes are used as they are.
//!
//! [`cache_step`] does this in memory; [`ReencodeCache`] keeps re-encoded samples on disk,
//! keyed by the SHA-256 of the original bytes, so a second run skips it (the network, too,
//! pays it once, when a sample enters its cache).

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::MediaError;
use crate::jpeg::{self, Want};
use crate::jpeg_enc::Compressor;
use crate::webp;

/// Bumped whenever the re-encoding could produce other bytes (encoder, version, settings):
/// entries of another version are never read.
pub const CACHE_VERSION: &str = "pillow12-ljt31-webp160-v1";

/// Default bound of a [`ReencodeCache`]: 20 GiB (a full-mode image run is ~55 000 samples).
pub const DEFAULT_CACHE_BYTES: u64 = 20 << 30;

/// What the cache step stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredFormat {
    /// Re-encoded as Pillow's default JPEG.
    Jpeg,
    /// Re-encoded as Pillow's default (lossy) WebP.
    Webp,
    /// A lossless format: Pillow's re-save decodes to the same pixels; bytes kept.
    Unchanged,
}

/// The bytes the network's model-side decoder reads for a sample.
#[derive(Clone, Debug)]
pub struct CacheStepped<'a> {
    pub format: StoredFormat,
    pub bytes: Cow<'a, [u8]>,
}

fn is_jpeg(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
}

fn is_webp(b: &[u8]) -> bool {
    b.len() >= 16 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP"
}

/// What [`cache_step`] will do with these bytes, from their signature alone.
pub fn stored_format(bytes: &[u8]) -> StoredFormat {
    if is_jpeg(bytes) {
        StoredFormat::Jpeg
    } else if is_webp(bytes) {
        StoredFormat::Webp
    } else {
        StoredFormat::Unchanged
    }
}

/// The network's cache step on one sample, in memory (see the module docs).
pub fn cache_step(bytes: &[u8]) -> Result<CacheStepped<'_>, MediaError> {
    let out = match stored_format(bytes) {
        StoredFormat::Jpeg => reencode_jpeg(bytes)?.map(|b| (StoredFormat::Jpeg, b)),
        StoredFormat::Webp => Some((StoredFormat::Webp, reencode_webp(bytes)?)),
        StoredFormat::Unchanged => None,
    };
    Ok(match out {
        Some((format, b)) => CacheStepped {
            format,
            bytes: Cow::Owned(b),
        },
        None => CacheStepped {
            format: StoredFormat::Unchanged,
            bytes: Cow::Borrowed(bytes),
        },
    })
}

/// Decode + Pillow-default re-encode, streaming rows from libjpeg's decoder into its encoder
/// (no decoded image is held). `None`: a colour space Pillow does not open.
fn reencode_jpeg(bytes: &[u8]) -> Result<Option<Vec<u8>>, MediaError> {
    let enc: RefCell<Option<Compressor>> = RefCell::new(None);
    let ok = jpeg::decode_rows(
        bytes,
        Want::Native,
        |w, h, mode, comment| {
            // SAFETY: runs inside decode_rows' guard (libjpeg errors unwind to it).
            *enc.borrow_mut() = Some(unsafe { Compressor::start(w, h, mode, None, comment) });
            Ok(())
        },
        |_, row| {
            if let Some(e) = enc.borrow_mut().as_mut() {
                // SAFETY: as above.
                unsafe { e.write_rows(&[row]) }
            }
        },
    )?;
    if !ok {
        return Ok(None);
    }
    let Some(e) = enc.into_inner() else {
        return Ok(None);
    };
    // SAFETY: every row was written; errors unwind into the guard.
    jpeg::guarded(|| Ok(unsafe { e.finish() })).map(Some)
}

fn reencode_webp(bytes: &[u8]) -> Result<Vec<u8>, MediaError> {
    let img = webp::decode(bytes)?;
    if img.has_alpha {
        webp::encode(&img.rgba, img.width, img.height, 4, 80.0, 4)
    } else {
        let rgb: Vec<u8> = img
            .rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        webp::encode(&rgb, img.width, img.height, 3, 80.0, 4)
    }
}

/// Re-encoded samples kept on disk: `DIR/<CACHE_VERSION>/<2 hex>/<sha256>.jpg|.webp`, keyed by
/// the SHA-256 of the original bytes. Safe to share between threads and processes: entries
/// are written to a temporary file in the same directory and renamed into place, so a reader
/// sees a whole entry or none; an unreadable or undecodable entry counts as a miss and is
/// rewritten. Bounded: once the entries written by this handle push the total above
/// `max_bytes`, the oldest entries (by modification time) are deleted down to 80 % of it.
/// Lossless formats need no entry (their bytes are used as they are).
#[derive(Clone)]
pub struct ReencodeCache {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    max_bytes: u64,
    used: AtomicU64,
    evicting: Mutex<()>,
}

impl std::fmt::Debug for ReencodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReencodeCache")
            .field("dir", &self.inner.dir)
            .field("max_bytes", &self.inner.max_bytes)
            .finish()
    }
}

impl PartialEq for ReencodeCache {
    fn eq(&self, other: &Self) -> bool {
        self.inner.dir == other.inner.dir && self.inner.max_bytes == other.inner.max_bytes
    }
}

impl Eq for ReencodeCache {}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MediaError {
    let what = what.into();
    move |source| MediaError::Io { what, source }
}

/// Every entry file under `dir` (two levels) with its size and modification time.
fn entries(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let Ok(subs) = std::fs::read_dir(dir) else {
        return out;
    };
    for sub in subs.flatten() {
        let Ok(files) = std::fs::read_dir(sub.path()) else {
            continue;
        };
        for f in files.flatten() {
            if let Ok(m) = f.metadata()
                && m.is_file()
            {
                let t = m.modified().unwrap_or(std::time::UNIX_EPOCH);
                out.push((f.path(), m.len(), t));
            }
        }
    }
    out
}

impl ReencodeCache {
    /// Open (creating) the cache under `root` (entries go to `root/<CACHE_VERSION>`).
    pub fn open(root: impl AsRef<Path>, max_bytes: u64) -> Result<Self, MediaError> {
        let dir = root.as_ref().join(CACHE_VERSION);
        std::fs::create_dir_all(&dir).map_err(io_err(format!(
            "creating the re-encode cache {}",
            dir.display()
        )))?;
        let used = entries(&dir).iter().map(|e| e.1).sum();
        let cache = ReencodeCache {
            inner: Arc::new(Inner {
                dir,
                max_bytes,
                used: AtomicU64::new(used),
                evicting: Mutex::new(()),
            }),
        };
        if used > max_bytes {
            cache.evict();
        }
        Ok(cache)
    }

    /// The versioned directory holding the entries.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Total size of the entries as this handle last counted them.
    pub fn used_bytes(&self) -> u64 {
        self.inner.used.load(Ordering::Relaxed)
    }

    fn entry_path(&self, bytes: &[u8], format: StoredFormat) -> PathBuf {
        let hex = hex::encode(Sha256::digest(bytes));
        let ext = if format == StoredFormat::Webp {
            "webp"
        } else {
            "jpg"
        };
        self.inner.dir.join(&hex[..2]).join(format!("{hex}.{ext}"))
    }

    /// [`cache_step`] through the cache: a stored entry when there is one, else the step
    /// (then stored). Errors writing the cache are not errors of the sample: the re-encoded
    /// bytes are returned anyway.
    pub fn cache_step<'a>(&self, bytes: &'a [u8]) -> Result<CacheStepped<'a>, MediaError> {
        let format = stored_format(bytes);
        if format == StoredFormat::Unchanged {
            return cache_step(bytes);
        }
        let path = self.entry_path(bytes, format);
        if let Ok(b) = std::fs::read(&path)
            && stored_format(&b) == format
        {
            return Ok(CacheStepped {
                format,
                bytes: Cow::Owned(b),
            });
        }
        let stepped = cache_step(bytes)?;
        if stepped.format == format {
            let _ = self.store(&path, &stepped.bytes);
        }
        Ok(stepped)
    }

    /// Drop the entry for these original bytes (e.g. when its contents would not decode).
    pub fn forget(&self, bytes: &[u8]) {
        let format = stored_format(bytes);
        if format != StoredFormat::Unchanged {
            let _ = std::fs::remove_file(self.entry_path(bytes, format));
        }
    }

    fn store(&self, path: &Path, data: &[u8]) -> std::io::Result<()> {
        let parent = path.parent().expect("entry has a parent");
        std::fs::create_dir_all(parent)?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
        tmp.write_all(data)?;
        tmp.persist(path).map_err(|e| e.error)?;
        let used = self
            .inner
            .used
            .fetch_add(data.len() as u64, Ordering::Relaxed)
            + data.len() as u64;
        if used > self.inner.max_bytes {
            self.evict();
        }
        Ok(())
    }

    /// Delete the oldest entries down to 80 % of the bound (one evictor per handle at a time).
    fn evict(&self) {
        let Ok(_guard) = self.inner.evicting.try_lock() else {
            return;
        };
        let mut all = entries(&self.inner.dir);
        let mut total: u64 = all.iter().map(|e| e.1).sum();
        let goal = self.inner.max_bytes / 5 * 4;
        all.sort_by_key(|e| e.2);
        for (p, len, _) in all {
            if total <= goal {
                break;
            }
            if std::fs::remove_file(&p).is_ok() {
                total -= len;
            }
        }
        self.inner.used.store(total, Ordering::Relaxed);
    }
}
