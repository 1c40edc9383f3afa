//! Local folders: recursive, sorted listing with include/exclude globs, and the
//! `DIR/{real,synthetic,semisynthetic}` layout helper.

use super::compat::{ALL_LABELS, label_name};
use super::{DatasetError, DatasetSpec, FoundFile, Modality};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::path::Path;

/// `include_paths` / `exclude_paths` of a spec, compiled. A pattern without glob characters
/// matches any relative path (`/`-separated) containing it, as the network's filter does; a glob
/// matches the path or a folder above it.
#[derive(Debug, Clone)]
pub struct PathFilter {
    include: Option<Patterns>,
    exclude: Option<Patterns>,
}

/// `include_paths` / `exclude_paths` as the network reads them (plain text matches anywhere in
/// the path) plus globs (a pattern with `*`, `?`, `[` or `{` matches the path, or a folder above
/// it).
#[derive(Debug, Clone)]
struct Patterns {
    plain: Vec<String>,
    globs: Option<GlobSet>,
}

impl Patterns {
    fn is_match(&self, rel: &str) -> bool {
        self.plain.iter().any(|p| rel.contains(p.as_str()))
            || self.globs.as_ref().is_some_and(|g| g.is_match(rel))
    }
}

impl PathFilter {
    pub fn from_spec(spec: &DatasetSpec) -> Result<Self, DatasetError> {
        let build = |field: &str, pats: &[String]| -> Result<Option<Patterns>, DatasetError> {
            if pats.is_empty() {
                return Ok(None);
            }
            let mut b = GlobSetBuilder::new();
            let mut plain = Vec::new();
            let mut any_glob = false;
            for p in pats {
                if !p.contains(['*', '?', '[', '{']) {
                    plain.push(p.clone());
                    continue;
                }
                any_glob = true;
                let p = p.trim().trim_start_matches("./").trim_end_matches('/');
                let bad = |e: globset::Error| DatasetError::InvalidSpec {
                    dataset: spec.name.clone(),
                    field: field.into(),
                    message: format!("bad glob pattern {p:?}: {e}"),
                };
                b.add(Glob::new(p).map_err(bad)?);
                b.add(Glob::new(&format!("{p}/**")).map_err(bad)?);
            }
            let globs = if any_glob {
                Some(b.build().map_err(|e| DatasetError::InvalidSpec {
                    dataset: spec.name.clone(),
                    field: field.into(),
                    message: e.to_string(),
                })?)
            } else {
                None
            };
            Ok(Some(Patterns { plain, globs }))
        };
        Ok(PathFilter {
            include: build("include_paths", &spec.include_paths)?,
            exclude: build("exclude_paths", &spec.exclude_paths)?,
        })
    }

    pub fn accepts(&self, rel: &str) -> bool {
        if let Some(inc) = &self.include
            && !inc.is_match(rel)
        {
            return false;
        }
        if let Some(exc) = &self.exclude
            && exc.is_match(rel)
        {
            return false;
        }
        true
    }
}

/// Every regular file under `root` (or `root` itself if it is a file), sorted by relative path,
/// filtered by the spec's include/exclude globs. Hidden files (`.name`) are skipped; symlinked
/// files are followed, symlinked folders are not (no loops).
///
/// Hand-written walk (std `read_dir`) on purpose: a few lines, and no extra dependency.
pub(crate) fn list_files(spec: &DatasetSpec, root: &Path) -> Result<Vec<FoundFile>, DatasetError> {
    let filter = PathFilter::from_spec(spec)?;
    let meta = std::fs::metadata(root).map_err(|e| DatasetError::io(root, e))?;
    if meta.is_file() {
        let rel = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![FoundFile {
            rel,
            abs: root.to_path_buf(),
        }]);
    }
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| DatasetError::io(&dir, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| DatasetError::io(&dir, e))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let ft = ent
                .file_type()
                .map_err(|e| DatasetError::io(ent.path(), e))?;
            if ft.is_dir() {
                stack.push((ent.path(), rel));
            } else if (ft.is_file() || (ft.is_symlink() && ent.path().is_file()))
                && filter.accepts(&rel)
            {
                out.push(FoundFile {
                    rel,
                    abs: ent.path(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

/// One dataset per label subfolder of `dir`: `dir/real`, `dir/synthetic`, `dir/semisynthetic`
/// (those that exist), named `<dirname>/real` etc. Errors if `dir` is missing or has none of them.
pub fn local_dir_specs(dir: &Path, modality: Modality) -> Result<Vec<DatasetSpec>, DatasetError> {
    let meta = std::fs::metadata(dir).map_err(|e| DatasetError::io(dir, e))?;
    if !meta.is_dir() {
        return Err(DatasetError::Source {
            dataset: dir.display().to_string(),
            path: dir.display().to_string(),
            reason: "is not a folder; expected a folder with real/, synthetic/ and/or semisynthetic/ subfolders".into(),
        });
    }
    let base = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "data".to_string());
    let mut specs = Vec::new();
    for label in ALL_LABELS {
        let sub = dir.join(label_name(label));
        if sub.is_dir() {
            specs.push(DatasetSpec::new(
                format!("{base}/{}", label_name(label)),
                sub.to_string_lossy().into_owned(),
                modality,
                label,
            ));
        }
    }
    if specs.is_empty() {
        return Err(DatasetError::Empty {
            dataset: base,
            path: dir.display().to_string(),
            detail: "no real/, synthetic/ or semisynthetic/ subfolder; put media in DIR/real and DIR/synthetic (and optionally DIR/semisynthetic)".into(),
        });
    }
    Ok(specs)
}
