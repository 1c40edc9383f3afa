//! The dataset catalog YAML (`datasets:` list, bench.md). Unknown keys are ignored so the
//! network's public catalogs load as they are.

use super::compat::{parse_label, parse_modality};
use super::{DatasetError, DatasetSpec};
use serde::Deserialize;
use std::path::Path;

/// Largest catalog file accepted (16 MiB): catalogs are small; anything bigger is a mistake.
const MAX_CATALOG_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Deserialize)]
struct CatalogFile {
    datasets: Option<Vec<RawSpec>>,
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

/// Loads a catalog. Relative local `path`s are resolved against the catalog's folder when they
/// exist there. Every entry needs `name`, `path`, `modality` and `media_type`.
pub fn load_catalog(path: &Path) -> Result<Vec<DatasetSpec>, DatasetError> {
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
    let file: CatalogFile = serde_saphyr::from_str(&text).map_err(|e| {
        cat_err(format!(
            "not a valid catalog (expected `datasets:` followed by a list of entries): {e}"
        ))
    })?;
    let Some(raw) = file.datasets else {
        return Err(cat_err(
            "no `datasets:` key; a catalog is `datasets:` followed by a list of entries".into(),
        ));
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::with_capacity(raw.len());
    let mut seen = std::collections::HashSet::new();
    for (i, r) in raw.into_iter().enumerate() {
        let label = match &r.name {
            Some(n) if !n.trim().is_empty() => format!("entry {} ({n:?})", i + 1),
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
        let mut ds_path = non_empty(r.path).ok_or_else(|| missing("path"))?;
        let p = Path::new(&ds_path);
        if p.is_relative() {
            let joined = base.join(p);
            if joined.exists() {
                ds_path = joined.to_string_lossy().into_owned();
            }
        }
        let modality = parse_modality(&non_empty(r.modality).ok_or_else(|| missing("modality"))?)
            .map_err(|m| field_err("modality", m))?;
        let media_type =
            parse_label(&non_empty(r.media_type).ok_or_else(|| missing("media_type"))?)
                .map_err(|m| field_err("media_type", m))?;
        let source_format = r
            .source_format
            .map(|f| f.into_vec().join(","))
            .filter(|s| !s.trim().is_empty());
        let media_per_archive = r.media_per_archive.unwrap_or(-1);
        let archives_per_dataset = r.archives_per_dataset.unwrap_or(-1);
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
        out.push(DatasetSpec {
            name,
            path: ds_path,
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
        });
    }
    Ok(out)
}
