//! Package sources (directory or ZIP) with the ZIP safety rules, and the deterministic writer.
//!
//! Limits (zip bombs): at most [`MAX_ENTRIES`] entries, at most [`MAX_TOTAL_UNCOMPRESSED`]
//! declared uncompressed bytes in all, and for entries larger than [`RATIO_CHECK_MIN_BYTES`] a
//! compression ratio of at most [`MAX_COMPRESSION_RATIO`]. Declared sizes can lie, so every read
//! goes through `take(declared size + 1)` and a size mismatch is an error.
//!
//! Safetensors inside a ZIP: only the first `8 + N` bytes of the entry are inflated (N ≤ 100 MB,
//! the header); the offsets are checked against the entry's declared uncompressed size. This
//! holds for Stored and Deflated entries alike, so validation time does not grow with the
//! weights size (apart from the streamed SHA-256 of the whole archive). A lying declared size
//! is caught when the package is materialized (extraction reads exactly the declared size).

use crate::{Finding, PackageError, io_err, st};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// Most entries a package ZIP may hold.
pub const MAX_ENTRIES: usize = 1000;
/// Most uncompressed bytes (declared, all entries) a package ZIP may hold: 10 GiB.
pub const MAX_TOTAL_UNCOMPRESSED: u64 = 10 << 30;
/// Entries at least this large (1 MiB) must respect [`MAX_COMPRESSION_RATIO`].
pub const RATIO_CHECK_MIN_BYTES: u64 = 1 << 20;
/// Largest uncompressed/compressed ratio for large entries.
pub const MAX_COMPRESSION_RATIO: u64 = 100;

pub(crate) struct Entry {
    /// Name relative to the package root.
    pub name: String,
    /// (Declared) uncompressed size.
    pub size: u64,
    /// Index in the ZIP, or unused for directories.
    pub index: usize,
}

pub(crate) enum SourceKind {
    Dir(PathBuf),
    Zip {
        path: PathBuf,
        archive: Box<ZipArchive<BufReader<File>>>,
    },
}

pub(crate) struct Source {
    pub kind: SourceKind,
    /// Root-level package entries (ZIP: after stripping nothing; nested folders are an error).
    pub entries: Vec<Entry>,
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

fn has_parent_or_root(name: &str) -> bool {
    Path::new(name)
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
}

impl Source {
    pub fn open_dir(dir: &Path) -> Result<Source, PackageError> {
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        for de in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let de = de.map_err(io_err(dir))?;
            let name = de.file_name().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(de.path()).map_err(io_err(&de.path()))?;
            if meta.file_type().is_symlink() {
                errors.push(Finding::new("symlink", &name, None, None,
                    "symbolic links are not allowed in a package: replace the link with the real file"));
            } else if meta.is_dir() {
                warnings.push(Finding::new("extra-file", &format!("{name}/"), None, None,
                    "sub-directories are not part of a package and will not be packaged (only model_config.yaml, model.py, *.safetensors, config.json at the root)"));
            } else if meta.is_file() {
                entries.push(Entry {
                    name,
                    size: meta.len(),
                    index: 0,
                });
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Source {
            kind: SourceKind::Dir(dir.to_path_buf()),
            entries,
            errors,
            warnings,
        })
    }

    pub fn open_zip(path: &Path) -> Result<Source, PackageError> {
        let file = File::open(path).map_err(io_err(path))?;
        let shown = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut entries = Vec::new();
        let archive = match ZipArchive::new(BufReader::new(file)) {
            Ok(a) => a,
            Err(e) => {
                errors.push(Finding::new("zip-corrupt", &shown, None, None,
                    format!("not a readable ZIP archive ({e}); pass a model directory or re-create the ZIP with `gascli d package DIR -o OUT.zip`")));
                return Ok(Source {
                    kind: SourceKind::Dir(PathBuf::new()),
                    entries,
                    errors,
                    warnings,
                }
                .detached(path));
            }
        };
        let mut archive = Box::new(archive);
        if archive.len() > MAX_ENTRIES {
            errors.push(Finding::new("zip-too-many-entries", &shown, None, None,
                format!("the ZIP holds {} entries, more than the limit of {MAX_ENTRIES}: a package needs only model_config.yaml, model.py and the weights", archive.len())));
            return Ok(Source {
                kind: SourceKind::Zip {
                    path: path.to_path_buf(),
                    archive,
                },
                entries,
                errors,
                warnings,
            });
        }
        if archive.has_duplicate_names() {
            errors.push(Finding::new("zip-duplicate", &shown, None, None,
                "the ZIP's central directory lists a file name more than once (only one copy would be visible): re-create the ZIP so each file appears once"));
        }
        let mut seen = HashSet::new();
        let mut total: u64 = 0;
        let mut files: Vec<Entry> = Vec::new();
        for i in 0..archive.len() {
            let f = match archive.by_index_raw(i) {
                Ok(f) => f,
                Err(e) => {
                    errors.push(Finding::new(
                        "zip-corrupt",
                        &shown,
                        None,
                        None,
                        format!("entry #{i} cannot be read ({e}); re-create the ZIP"),
                    ));
                    continue;
                }
            };
            let name = String::from_utf8_lossy(f.name_raw()).into_owned();
            if !seen.insert(name.clone()) {
                errors.push(Finding::new(
                    "zip-duplicate",
                    &name,
                    None,
                    None,
                    "the ZIP holds this name twice: re-create it so each file appears once",
                ));
                continue;
            }
            if name.contains('\\')
                || name.starts_with('/')
                || has_parent_or_root(&name)
                || f.enclosed_name().is_none()
            {
                errors.push(Finding::new("zip-traversal", &name, None, None,
                    "absolute paths, `..` components and backslashes are refused: zip the files by their plain names at the archive root"));
                continue;
            }
            if f.is_symlink() {
                errors.push(Finding::new("zip-symlink", &name, None, None,
                    "symbolic links are refused: put the real file in the ZIP (zip without --symlinks)"));
                continue;
            }
            if f.encrypted() {
                errors.push(Finding::new(
                    "zip-encrypted",
                    &name,
                    None,
                    None,
                    "encrypted entries are refused: re-create the ZIP without a password",
                ));
                continue;
            }
            if f.is_dir() {
                continue;
            }
            let size = f.size();
            let csize = f.compressed_size();
            total = total.saturating_add(size);
            if size >= RATIO_CHECK_MIN_BYTES && size / csize.max(1) > MAX_COMPRESSION_RATIO {
                errors.push(Finding::new("zip-bomb", &name, None, None,
                    format!("compression ratio {}:1 ({size} bytes from {csize}) exceeds the {MAX_COMPRESSION_RATIO}:1 limit for entries over 1 MiB: this looks like a zip bomb; real weights do not compress like that",
                        size / csize.max(1))));
                continue;
            }
            if !matches!(
                f.compression(),
                CompressionMethod::Stored | CompressionMethod::Deflated
            ) {
                errors.push(Finding::new("zip-compression", &name, None, None,
                    format!("compression method {:?} is not supported: use Stored or Deflate (plain `zip`)", f.compression())));
                continue;
            }
            files.push(Entry {
                name,
                size,
                index: i,
            });
        }
        if total > MAX_TOTAL_UNCOMPRESSED {
            errors.push(Finding::new("zip-bomb", &shown, None, None,
                format!("the ZIP expands to {total} bytes, more than the {MAX_TOTAL_UNCOMPRESSED}-byte limit")));
        }
        // Files nested in one top-level folder: a common mistake.
        let tops: HashSet<&str> = files
            .iter()
            .map(|e| e.name.split('/').next().unwrap_or(""))
            .collect();
        if !files.is_empty() && files.iter().all(|e| e.name.contains('/')) && tops.len() == 1 {
            let top = tops.into_iter().next().unwrap_or("");
            errors.push(Finding::new("zip-nested-folder", &shown, None, None,
                format!("all files are inside the folder `{top}/`; the package files must be at the archive root: `cd {top} && zip -r ../{shown} model_config.yaml model.py model.safetensors` (or `gascli d package {top} -o {shown}`)")));
        } else {
            for e in files {
                if e.name.contains('/') {
                    warnings.push(Finding::new(
                        "extra-file",
                        &e.name,
                        None,
                        None,
                        "files in sub-folders are not part of a package and are ignored",
                    ));
                } else {
                    entries.push(e);
                }
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Source {
            kind: SourceKind::Zip {
                path: path.to_path_buf(),
                archive,
            },
            entries,
            errors,
            warnings,
        })
    }

    /// A source whose archive could not be opened: nothing to read, ZIP identity kept.
    fn detached(self, _path: &Path) -> Source {
        Source {
            kind: SourceKind::Dir(PathBuf::new()),
            ..self
        }
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.name == name)
    }

    fn open_entry(&mut self, i: usize) -> Result<Box<dyn Read + '_>, String> {
        let e = &self.entries[i];
        match &mut self.kind {
            SourceKind::Dir(dir) => {
                if dir.as_os_str().is_empty() {
                    return Err("archive unreadable".into());
                }
                let p = dir.join(&e.name);
                let f =
                    File::open(&p).map_err(|err| format!("cannot read {}: {err}", p.display()))?;
                Ok(Box::new(f))
            }
            SourceKind::Zip { archive, .. } => {
                let f = archive
                    .by_index(e.index)
                    .map_err(|err| format!("cannot read ZIP entry {}: {err}", e.name))?;
                Ok(Box::new(f))
            }
        }
    }

    /// Read a whole (small) text entry, refusing more than `limit` bytes.
    pub fn read_text(&mut self, i: usize, limit: u64) -> Result<String, String> {
        let name = self.entries[i].name.clone();
        if self.entries[i].size > limit {
            return Err(format!(
                "{name} is {} bytes, over the {limit}-byte limit for this file",
                self.entries[i].size
            ));
        }
        let r = self.open_entry(i)?;
        let mut buf = Vec::new();
        r.take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        if buf.len() as u64 > limit {
            return Err(format!(
                "{name} is over the {limit}-byte limit for this file"
            ));
        }
        String::from_utf8(buf)
            .map_err(|e| format!("{name} is not UTF-8 text ({e}); save it as UTF-8"))
    }

    /// Header-only safetensors check of entry `i`.
    pub fn check_safetensors(&mut self, i: usize) -> Result<st::TensorStats, Vec<String>> {
        let size = self.entries[i].size;
        let r = self.open_entry(i).map_err(|e| vec![e])?;
        st::check_reader(r, size)
    }

    /// Copy entry `i` into `out`, reading exactly its declared size.
    pub fn copy_entry(&mut self, i: usize, out: &mut File) -> Result<(), PackageError> {
        let size = self.entries[i].size;
        let name = self.entries[i].name.clone();
        let src_path = match &self.kind {
            SourceKind::Dir(d) => d.join(&name),
            SourceKind::Zip { path, .. } => path.clone(),
        };
        let r = self.open_entry(i).map_err(|message| PackageError::Zip {
            path: src_path.clone(),
            message,
        })?;
        let n = io::copy(&mut r.take(size.saturating_add(1)), out).map_err(io_err(&src_path))?;
        if n != size {
            return Err(PackageError::Zip {
                path: src_path,
                message: format!(
                    "{name}: declared {size} bytes but holds {n}; the archive is corrupt or forged"
                ),
            });
        }
        Ok(())
    }
}

/// Write the package files `names` (sorted, at the root) from `dir` as a deterministic ZIP:
/// fixed timestamps (1980-01-01 00:00), permissions 0644, text files Deflated at level 6,
/// safetensors Stored (weights barely compress, and Stored lets readers check offsets against
/// the exact entry size). Streaming writer: no seeking, so the bytes can be hashed on the fly.
pub(crate) fn write_deterministic_zip<W: Write>(
    dir: &Path,
    names: &[String],
    w: W,
) -> zip::result::ZipResult<()> {
    let mut zw = ZipWriter::new_stream(w);
    for name in names {
        let p = dir.join(name);
        let f = File::open(&p)?;
        let len = f.metadata()?.len();
        let weights = name.ends_with(".safetensors");
        let opts = SimpleFileOptions::default()
            .compression_method(if weights {
                CompressionMethod::Stored
            } else {
                CompressionMethod::Deflated
            })
            .compression_level(if weights { None } else { Some(6) })
            .last_modified_time(DateTime::default())
            .unix_permissions(0o644)
            .large_file(len >= u32::MAX as u64);
        zw.start_file(name.as_str(), opts)?;
        io::copy(&mut BufReader::with_capacity(1 << 20, f).take(len), &mut zw)?;
    }
    zw.finish()?;
    Ok(())
}
