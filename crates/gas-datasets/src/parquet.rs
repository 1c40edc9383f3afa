//! Parquet files with a media-bytes column, as the network publishes them: either a plain binary
//! column or a struct with `bytes` (and usually `path`) fields, the Hugging Face `datasets`
//! Image/Audio/Video encoding. Only the needed columns are read (projection), and only the chosen
//! rows are decoded (row selection); rows stream batch by batch.

use super::{DatasetSpec, MAX_MEDIA_BYTES};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::file::metadata::PageIndexPolicy;
use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;

/// Rows decoded per batch: small, since a row can be a whole video.
const BATCH_ROWS: usize = 8;

/// What [`list`] found in one parquet file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParquetListing {
    /// Top-level column holding the media.
    pub column: String,
    /// Row numbers (0-based, ascending) that pass `filter_column`/`filter_value`.
    pub rows: Vec<usize>,
}

/// Why a parquet file could not be listed: a catalog mistake (stops the dataset) or a damaged
/// file (reported as one failed item, the run goes on).
#[derive(Debug, Clone, PartialEq)]
pub enum ListError {
    Spec {
        field: &'static str,
        message: String,
    },
    File(String),
}

impl From<String> for ListError {
    fn from(s: String) -> Self {
        ListError::File(s)
    }
}

fn spec_err(field: &'static str, message: String) -> ListError {
    ListError::Spec { field, message }
}

fn binary_like(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

fn media_field(f: &Field) -> bool {
    match f.data_type() {
        dt if binary_like(dt) => true,
        DataType::Struct(fields) => fields
            .iter()
            .any(|c| c.name() == "bytes" && binary_like(c.data_type())),
        _ => false,
    }
}

fn open_builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, String> {
    let f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| format!("not a readable parquet file: {e}"))
}

/// Picks the media column: the first of `data_columns` that exists, else (auto) the first binary
/// or struct{bytes} column, preferring ones named after the modality or `image`/`audio`/`video`.
fn choose_column(spec: &DatasetSpec, fields: &[&Field]) -> Result<(usize, String), ListError> {
    let names: Vec<String> = fields
        .iter()
        .map(|f| format!("{} ({})", f.name(), f.data_type()))
        .collect();
    if !spec.data_columns.is_empty() {
        for want in &spec.data_columns {
            if let Some(i) = fields.iter().position(|f| f.name() == want) {
                if !media_field(fields[i]) {
                    return Err(spec_err(
                        "data_columns",
                        format!(
                            "data_columns: column {want:?} is {}, not binary or a struct with a `bytes` field",
                            fields[i].data_type()
                        ),
                    ));
                }
                return Ok((i, want.clone()));
            }
        }
        return Err(spec_err(
            "data_columns",
            format!(
                "data_columns {:?}: none of these columns exist; columns are: {}",
                spec.data_columns,
                names.join(", ")
            ),
        ));
    }
    let media: Vec<usize> = (0..fields.len())
        .filter(|&i| media_field(fields[i]))
        .collect();
    let preferred = [
        spec.modality.as_str(),
        "image",
        "video",
        "audio",
        "bytes",
        "media",
    ];
    for p in preferred {
        if let Some(&i) = media
            .iter()
            .find(|&&i| fields[i].name().eq_ignore_ascii_case(p))
        {
            return Ok((i, fields[i].name().clone()));
        }
    }
    match media.first() {
        Some(&i) => Ok((i, fields[i].name().clone())),
        None => Err(spec_err(
            "data_columns",
            format!(
                "no media column (binary, or struct with a `bytes` field); columns are: {}; set `data_columns` in the catalog",
                names.join(", ")
            ),
        )),
    }
}

/// Value of one cell as text for `filter_value` comparisons.
fn cell_text(col: &ArrayRef, row: usize) -> Result<Option<String>, ListError> {
    if col.is_null(row) {
        return Ok(None);
    }
    use arrow_array::types::*;
    Ok(Some(match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => col.as_string::<i64>().value(row).to_string(),
        DataType::Utf8View => col.as_string_view().value(row).to_string(),
        DataType::Boolean => col.as_boolean().value(row).to_string(),
        DataType::Int8 => col.as_primitive::<Int8Type>().value(row).to_string(),
        DataType::Int16 => col.as_primitive::<Int16Type>().value(row).to_string(),
        DataType::Int32 => col.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => col.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::UInt8 => col.as_primitive::<UInt8Type>().value(row).to_string(),
        DataType::UInt16 => col.as_primitive::<UInt16Type>().value(row).to_string(),
        DataType::UInt32 => col.as_primitive::<UInt32Type>().value(row).to_string(),
        DataType::UInt64 => col.as_primitive::<UInt64Type>().value(row).to_string(),
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
            let d = col.as_dictionary::<Int32Type>();
            let key = d.keys().value(row);
            let key = usize::try_from(key)
                .map_err(|_| ListError::File("negative dictionary key".to_string()))?;
            d.values().as_string::<i32>().value(key).to_string()
        }
        other => {
            return Err(spec_err(
                "filter_column",
                format!("column has type {other}; supported: strings, integers, booleans"),
            ));
        }
    }))
}

/// Chooses the media column and the rows passing the filter. Reads only metadata, plus the
/// filter column when a filter is set.
pub fn list(path: &Path, spec: &DatasetSpec) -> Result<ParquetListing, ListError> {
    let builder = open_builder(path)?;
    let schema = builder.schema().clone();
    let fields: Vec<&Field> = schema.fields().iter().map(|f| f.as_ref()).collect();
    let (_, column) = choose_column(spec, &fields)?;
    let rows = filtered_rows(builder, spec)?;
    Ok(ParquetListing { column, rows })
}

/// What [`list_network`] found: the media columns by the network's rules, and the rows passing
/// the filter.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkListing {
    /// One sample per row and column, in this order.
    pub columns: Vec<String>,
    pub rows: Vec<usize>,
}

/// The network's media-column rule (by name only): the `data_columns` that exist, in catalog
/// order; else, for images, a column named `image`, else the first whose name contains `image`
/// but not `_id`, else the first containing `image`; for audio, every column named `audio`, else
/// every column without `_id` whose name contains `audio`, `bytes`, `content`, `data`, `wav` or
/// `mp3`; for video, the first named `video`, `bytes`, `content` or `data`, else the first
/// containing one of those without `_id`, else the first containing one. Case-insensitive.
pub fn network_columns(spec: &DatasetSpec, names: &[&str]) -> Vec<String> {
    let low = |c: &str| c.to_lowercase();
    if !spec.data_columns.is_empty() {
        return spec
            .data_columns
            .iter()
            .filter(|c| names.contains(&c.as_str()))
            .cloned()
            .collect();
    }
    let first = |pred: &dyn Fn(&str) -> bool| names.iter().find(|c| pred(c)).map(|c| c.to_string());
    match spec.modality {
        crate::Modality::Image => first(&|c| low(c) == "image")
            .or_else(|| first(&|c| low(c).contains("image") && !low(c).contains("_id")))
            .or_else(|| first(&|c| low(c).contains("image")))
            .into_iter()
            .collect(),
        crate::Modality::Audio => {
            let exact: Vec<String> = names
                .iter()
                .filter(|c| low(c) == "audio")
                .map(|c| c.to_string())
                .collect();
            if !exact.is_empty() {
                return exact;
            }
            let keys = ["audio", "bytes", "content", "data", "wav", "mp3"];
            names
                .iter()
                .filter(|c| !low(c).contains("_id") && keys.iter().any(|k| low(c).contains(k)))
                .map(|c| c.to_string())
                .collect()
        }
        crate::Modality::Video => {
            let keys = ["video", "bytes", "content", "data"];
            first(&|c| keys.contains(&low(c).as_str()))
                .or_else(|| {
                    first(&|c| !low(c).contains("_id") && keys.iter().any(|k| low(c).contains(k)))
                })
                .or_else(|| first(&|c| keys.iter().any(|k| low(c).contains(k))))
                .into_iter()
                .collect()
        }
    }
}

/// Lists a parquet file by the network's rules ([`network_columns`], the filter).
pub fn list_network(path: &Path, spec: &DatasetSpec) -> Result<NetworkListing, ListError> {
    let builder = open_builder(path)?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let columns = network_columns(spec, &names);
    let rows = filtered_rows(builder, spec)?;
    Ok(NetworkListing { columns, rows })
}

/// Reads column `index` (named `name`) of the file and hands each row's text to `each`
/// (row number, `None` for a null cell), batch by batch.
fn for_each_cell(
    builder: ParquetRecordBatchReaderBuilder<File>,
    index: usize,
    name: &str,
    mut each: impl FnMut(usize, Option<String>),
) -> Result<(), ListError> {
    let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(|e| format!("cannot read column {name:?}: {e}"))?;
    let mut base = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| format!("corrupt data in column {name:?}: {e}"))?;
        let col = batch.column(0);
        for r in 0..batch.num_rows() {
            each(base + r, cell_text(col, r)?);
        }
        base += batch.num_rows();
    }
    Ok(())
}

/// The non-null values of a text column, in row order; `Ok(None)` when the file has no column of
/// that name (a GAS-Station metadata parquet's `archive_filename`).
pub fn text_column(path: &Path, name: &str) -> Result<Option<Vec<String>>, ListError> {
    let builder = open_builder(path)?;
    let Some(i) = builder
        .schema()
        .fields()
        .iter()
        .position(|f| f.name() == name)
    else {
        return Ok(None);
    };
    let data_type = builder.schema().field(i).data_type().clone();
    let mut out = Vec::new();
    match for_each_cell(builder, i, name, |_, v| out.extend(v)) {
        Ok(()) => Ok(Some(out)),
        // a type `cell_text` does not read is the file's fault here, not a catalog field's
        Err(ListError::Spec { .. }) => Err(ListError::File(format!(
            "column {name:?} has type {data_type}, not text"
        ))),
        Err(e) => Err(e),
    }
}

/// Row numbers passing `filter_column == filter_value` (all rows without a filter).
fn filtered_rows(
    builder: ParquetRecordBatchReaderBuilder<File>,
    spec: &DatasetSpec,
) -> Result<Vec<usize>, ListError> {
    let schema = builder.schema().clone();
    let fields: Vec<&Field> = schema.fields().iter().map(|f| f.as_ref()).collect();
    let total = usize::try_from(builder.metadata().file_metadata().num_rows())
        .map_err(|_| "negative row count in parquet metadata".to_string())?;
    let (Some(fcol), Some(fval)) = (&spec.filter_column, &spec.filter_value) else {
        return Ok((0..total).collect());
    };
    let Some(fi) = fields.iter().position(|f| f.name() == fcol) else {
        let names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        return Err(spec_err(
            "filter_column",
            format!(
                "filter_column {fcol:?} does not exist; columns are: {}",
                names.join(", ")
            ),
        ));
    };
    let mut rows = Vec::new();
    for_each_cell(builder, fi, fcol, |row, v| {
        if v.as_deref() == Some(fval.as_str()) {
            rows.push(row);
        }
    })?;
    Ok(rows)
}

/// Streams the media bytes of `picks` (ascending row numbers) from `column`.
pub struct ParquetStream {
    reader: Option<ParquetRecordBatchReader>,
    batch: Option<RecordBatch>,
    pos: usize,
    picks: VecDeque<usize>,
    fatal: Option<String>,
}

impl ParquetStream {
    pub fn open(path: &Path, column: &str, picks: Vec<usize>) -> Self {
        let mut s = ParquetStream {
            reader: None,
            batch: None,
            pos: 0,
            picks: picks.into(),
            fatal: None,
        };
        match Self::build(path, column, &s.picks) {
            Ok(r) => s.reader = Some(r),
            Err(e) => s.fatal = Some(e),
        }
        s
    }

    fn build(
        path: &Path,
        column: &str,
        picks: &VecDeque<usize>,
    ) -> Result<ParquetRecordBatchReader, String> {
        // The offset index (when the file has one) lets the row selection skip whole pages.
        let f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let options = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional);
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(f, options)
            .map_err(|e| format!("not a readable parquet file: {e}"))?;
        let idx = builder
            .schema()
            .fields()
            .iter()
            .position(|f| f.name() == column)
            .ok_or_else(|| format!("column {column:?} disappeared"))?;
        let total = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
        for &r in picks {
            match ranges.last_mut() {
                Some(last) if last.end == r => last.end = r + 1,
                _ => ranges.push(r..r + 1),
            }
        }
        let selection = RowSelection::from_consecutive_ranges(ranges.into_iter(), total);
        let mask = ProjectionMask::roots(builder.parquet_schema(), [idx]);
        builder
            .with_projection(mask)
            .with_row_selection(selection)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| format!("cannot read column {column:?}: {e}"))
    }

    fn cell(col: &ArrayRef, row: usize) -> Result<Vec<u8>, String> {
        if col.is_null(row) {
            return Err("media cell is null".into());
        }
        let bytes: &[u8] = match col.data_type() {
            DataType::Binary => col.as_binary::<i32>().value(row),
            DataType::LargeBinary => col.as_binary::<i64>().value(row),
            DataType::BinaryView => col.as_binary_view().value(row),
            DataType::Struct(_) => {
                let s = col.as_struct();
                let inner = s
                    .column_by_name("bytes")
                    .ok_or_else(|| "struct column has no `bytes` field".to_string())?
                    .clone();
                return Self::cell(&inner, row);
            }
            other => return Err(format!("media column has type {other}, not binary")),
        };
        if bytes.is_empty() {
            return Err("empty media (0 bytes)".into());
        }
        if bytes.len() as u64 > MAX_MEDIA_BYTES {
            return Err(format!(
                "cell is {} bytes, over the {MAX_MEDIA_BYTES}-byte limit per media item",
                bytes.len()
            ));
        }
        Ok(bytes.to_vec())
    }
}

impl Iterator for ParquetStream {
    /// `(row number, media bytes or why not)`.
    type Item = (usize, Result<Vec<u8>, String>);

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.picks.pop_front()?;
        if let Some(f) = &self.fatal {
            return Some((row, Err(f.clone())));
        }
        loop {
            if let Some(b) = &self.batch
                && self.pos < b.num_rows()
            {
                let res = Self::cell(b.column(0), self.pos);
                self.pos += 1;
                return Some((row, res));
            }
            let next = self.reader.as_mut().and_then(|r| r.next());
            match next {
                Some(Ok(b)) => {
                    self.batch = Some(b);
                    self.pos = 0;
                }
                Some(Err(e)) => {
                    let msg = format!("corrupt parquet data: {e}");
                    self.fatal = Some(msg.clone());
                    return Some((row, Err(msg)));
                }
                None => {
                    let msg = "parquet file ended before this row".to_string();
                    self.fatal = Some(msg.clone());
                    return Some((row, Err(msg)));
                }
            }
        }
    }
}
