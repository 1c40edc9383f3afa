//! The dataset catalog YAML in the network's two layouts (bench.md, "Datasets and modes"): a
//! `datasets:` list, or lists grouped under root keys `image:` / `video:` / `audio:`. Unknown keys
//! are ignored so the network's catalogs load as they are. Missing `media_per_archive` /
//! `archives_per_dataset` default to the network's 100 / 5.
//!
//! Holdout catalogs ([`load_holdout_catalog`]) follow the network's holdout loader: in the
//! `datasets:` layout the limits default to −1 / −1 (all), and every name is replaced by
//! `{media_type}-{modality}-holdout-{8 hex}`, the first 8 hex digits of the SHA-1 of the entry's
//! path, modality, media type, source format, sorted include/exclude paths and source; the
//! original name is kept in [`DatasetSpec::original_name`].

use super::compat::{parse_label, parse_modality};
use super::{DatasetError, DatasetSpec, Modality};
use serde::Deserialize;
use sha1::{Digest, Sha1};
use std::path::Path;

/// The network's default `media_per_archive` for a catalog entry that does not set it.
pub const DEFAULT_MEDIA_PER_ARCHIVE: i64 = 100;
/// The network's default `archives_per_dataset` for a catalog entry that does not set it.
pub const DEFAULT_ARCHIVES_PER_DATASET: i64 = 5;

/// Largest catalog file accepted (16 MiB): catalogs are small; anything bigger is a mistake.
const MAX_CATALOG_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct CatalogFile {
    datasets: Option<Vec<RawSpec>>,
    image: Option<Vec<RawSpec>>,
    video: Option<Vec<RawSpec>>,
    audio: Option<Vec<RawSpec>>,
}

/// Loose shape of an entry: strings and optional fields, validated afterwards so errors can name
/// the entry and the field.
#[derive(Deserialize)]
struct RawSpec {
    name: Option<String>,
    path: Option<String>,
    modality: Option<String>,
    media_type: Option<String>,
    #[serde(default)]
    source_format: Option<StrOrList>,
    media_per_archive: Option<i64>,
    archives_per_dataset: Option<i64>,
    #[serde(default)]
    include_paths: Option<StrOrList>,
    #[serde(default)]
    exclude_paths: Option<StrOrList>,
    #[serde(default)]
    data_columns: Option<StrOrList>,
    filter_column: Option<String>,
    filter_value: Option<serde_json::Value>,
    generator_family: Option<String>,
    content_category: Option<String>,
    notes: Option<String>,
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrList {
    One(String),
    Many(Vec<String>),
}

impl StrOrList {
    fn into_vec(self) -> Vec<String> {
        match self {
            StrOrList::One(s) if s.trim().is_empty() => Vec::new(),
            StrOrList::One(s) => vec![s],
            StrOrList::Many(v) => v,
        }
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// Which loader reads the file: they differ in defaults and names (module doc).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Catalog,
    Holdout,
}

/// Loads a catalog in either layout. Relative local `path`s are resolved against the catalog's
/// folder when they exist there. Every entry needs `name`, `path`, `modality` (in the grouped
/// layout, the group's key when absent) and `media_type`.
pub fn load_catalog(path: &Path) -> Result<Vec<DatasetSpec>, DatasetError> {
    load(path, Kind::Catalog)
}

/// Loads a holdout catalog (`--holdout-config`): as [`load_catalog`], with the network's holdout
/// defaults (−1 / −1 in the `datasets:` layout, whose entries all count as the modality of the
/// first entry that names one) and obfuscated names ([`holdout_name`]).
pub fn load_holdout_catalog(path: &Path) -> Result<Vec<DatasetSpec>, DatasetError> {
    load(path, Kind::Holdout)
}

/// The network's obfuscated holdout name of an entry (see the module doc); stable when entries
/// are added or reordered.
pub fn holdout_name(spec: &DatasetSpec) -> String {
    let joined = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.join(",")
    };
    let fingerprint = [
        spec.path.as_str(),
        spec.modality.as_str(),
        spec.media_type.as_str(),
        spec.source_format.as_deref().unwrap_or(""),
        &joined(&spec.include_paths),
        &joined(&spec.exclude_paths),
        spec.source.as_deref().unwrap_or(DEFAULT_SOURCE),
    ]
    .join("|");
    let digest = Sha1::digest(fingerprint.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-holdout-{}",
        spec.media_type.as_str(),
        spec.modality.as_str(),
        &hex[..8]
    )
}

/// Where an entry's files come from when the catalog does not say (`source:`).
pub const DEFAULT_SOURCE: &str = "huggingface";

fn load(path: &Path, kind: Kind) -> Result<Vec<DatasetSpec>, DatasetError> {
    let meta = std::fs::metadata(path).map_err(|e| DatasetError::io(path, e))?;
    let cat_err = |message: String| DatasetError::Catalog {
        path: path.to_path_buf(),
        message,
    };
    if meta.len() > MAX_CATALOG_BYTES {
        return Err(cat_err(format!(
            "file is {} bytes; catalogs over {MAX_CATALOG_BYTES} bytes are refused",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
    from_text(&text, path, path.parent().unwrap_or(Path::new(".")), kind)
}

/// A catalog given as text (e.g. one compiled into the binary); relative local paths are taken
/// as they are.
pub fn parse_catalog(text: &str) -> Result<Vec<DatasetSpec>, DatasetError> {
    from_text(
        text,
        Path::new("<bundled catalog>"),
        Path::new("."),
        Kind::Catalog,
    )
}

fn from_text(
    text: &str,
    path: &Path,
    base: &Path,
    kind: Kind,
) -> Result<Vec<DatasetSpec>, DatasetError> {
    let cat_err = |message: String| DatasetError::Catalog {
        path: path.to_path_buf(),
        message,
    };
    let file: CatalogFile = serde_saphyr::from_str(text).map_err(|e| {
        cat_err(format!(
            "not a valid catalog (expected `datasets:` followed by a list of entries, or lists under `image:` / `video:` / `audio:`): {e}"
        ))
    })?;
    // (group key, entry) in file order; the grouped layout wins when both are present, as in the
    // network's loader for --dataset-config.
    let grouped = file.image.is_some() || file.video.is_some() || file.audio.is_some();
    let raw: Vec<(Option<Modality>, RawSpec)> = if grouped {
        [
            (Modality::Image, file.image),
            (Modality::Video, file.video),
            (Modality::Audio, file.audio),
        ]
        .into_iter()
        .flat_map(|(m, v)| v.unwrap_or_default().into_iter().map(move |r| (Some(m), r)))
        .collect()
    } else if let Some(v) = file.datasets {
        v.into_iter().map(|r| (None, r)).collect()
    } else {
        return Err(cat_err(
            "no `datasets:`, `image:`, `video:` or `audio:` key; a catalog is `datasets:` followed by a list of entries, or lists grouped under those modality keys".into(),
        ));
    };
    // Holdout `datasets:` lists: an entry without `modality` takes the first one named.
    let first_modality = raw.iter().find_map(|(_, r)| non_empty(r.modality.clone()));
    let holdout_list = kind == Kind::Holdout && !grouped;
    let mut out = Vec::with_capacity(raw.len());
    let mut seen = std::collections::HashSet::new();
    for (i, (group, r)) in raw.into_iter().enumerate() {
        let label = match (&r.name, group) {
            (Some(n), Some(g)) if !n.trim().is_empty() => format!("{g} entry {} ({n:?})", i + 1),
            (Some(n), None) if !n.trim().is_empty() => format!("entry {} ({n:?})", i + 1),
            _ => format!("entry {}", i + 1),
        };
        let field_err =
            |field: &str, msg: String| cat_err(format!("{label}: field `{field}`: {msg}"));
        let missing = |field: &str| field_err(field, "is required".into());
        let name = non_empty(r.name).ok_or_else(|| missing("name"))?;
        if !seen.insert(name.clone()) {
            return Err(field_err(
                "name",
                format!("{name:?} is used by an earlier entry; dataset names must be unique"),
            ));
        }
        let raw_path = non_empty(r.path).ok_or_else(|| missing("path"))?;
        let mut ds_path = raw_path.clone();
        let p = Path::new(&ds_path);
        if p.is_relative() {
            let joined = base.join(p);
            if joined.exists() {
                ds_path = joined.to_string_lossy().into_owned();
            }
        }
        let modality = match (non_empty(r.modality), group) {
            (Some(m), g) => {
                let m = parse_modality(&m).map_err(|m| field_err("modality", m))?;
                if let Some(g) = g
                    && g != m
                {
                    return Err(field_err(
                        "modality",
                        format!("{m} inside the `{g}:` group; move the entry to `{m}:`"),
                    ));
                }
                m
            }
            (None, Some(g)) => g,
            (None, None) if holdout_list && first_modality.is_some() => {
                parse_modality(first_modality.as_deref().unwrap_or_default())
                    .map_err(|m| field_err("modality", m))?
            }
            (None, None) => return Err(missing("modality")),
        };
        let media_type =
            parse_label(&non_empty(r.media_type).ok_or_else(|| missing("media_type"))?)
                .map_err(|m| field_err("media_type", m))?;
        let source_format = r
            .source_format
            .map(|f| f.into_vec().join(","))
            .filter(|s| !s.trim().is_empty());
        let (default_mpa, default_apd) = if holdout_list {
            (-1, -1)
        } else {
            (DEFAULT_MEDIA_PER_ARCHIVE, DEFAULT_ARCHIVES_PER_DATASET)
        };
        let media_per_archive = r.media_per_archive.unwrap_or(default_mpa);
        let archives_per_dataset = r.archives_per_dataset.unwrap_or(default_apd);
        for (field, v) in [
            ("media_per_archive", media_per_archive),
            ("archives_per_dataset", archives_per_dataset),
        ] {
            if v < -1 {
                return Err(field_err(
                    field,
                    format!("{v} is not allowed; use -1 for all or a count ≥ 0"),
                ));
            }
        }
        let source = match non_empty(r.source) {
            None => None,
            Some(s) if ["huggingface", "modelscope", "s3"].contains(&s.as_str()) => Some(s),
            Some(s) => {
                return Err(field_err(
                    "source",
                    format!("{s:?} is not one of huggingface, modelscope, s3"),
                ));
            }
        };
        let filter_value = match r.filter_value {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s),
            Some(v @ (serde_json::Value::Bool(_) | serde_json::Value::Number(_))) => {
                Some(v.to_string())
            }
            Some(_) => {
                return Err(field_err(
                    "filter_value",
                    "must be a string, number or boolean".into(),
                ));
            }
        };
        let filter_column = non_empty(r.filter_column);
        if filter_column.is_some() != filter_value.is_some() {
            return Err(field_err(
                if filter_column.is_some() {
                    "filter_value"
                } else {
                    "filter_column"
                },
                "filter_column and filter_value must be given together".into(),
            ));
        }
        let mut spec = DatasetSpec {
            name,
            path: raw_path,
            modality,
            media_type,
            source_format,
            media_per_archive,
            archives_per_dataset,
            include_paths: r.include_paths.map(StrOrList::into_vec).unwrap_or_default(),
            exclude_paths: r.exclude_paths.map(StrOrList::into_vec).unwrap_or_default(),
            data_columns: r.data_columns.map(StrOrList::into_vec).unwrap_or_default(),
            filter_column,
            filter_value,
            generator_family: non_empty(r.generator_family),
            content_category: non_empty(r.content_category),
            notes: non_empty(r.notes),
            source,
            original_name: None,
            from_catalog: true,
        };
        if kind == Kind::Holdout {
            // named from the path as written, before it is resolved against the catalog folder
            let hidden = holdout_name(&spec);
            spec.original_name = Some(std::mem::replace(&mut spec.name, hidden));
        }
        spec.path = ds_path;
        out.push(spec);
    }
    Ok(out)
}
