//! Parquet datasets: struct{bytes,path} and plain binary media columns, filters, row groups,
//! sampling, null cells and corrupt files. Fixtures are written with the parquet crate itself.

use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema};
use gas_datasets::{DatasetError, DatasetSpec, Label, Media, Modality, Mode, OpenOptions, open};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

fn opts(mode: Mode, seed: u64) -> OpenOptions {
    OpenOptions {
        mode,
        seed,
        cache_dir: std::env::temp_dir(),
        offline: true,
        hf_endpoint: "http://127.0.0.1:9".into(),
        gasstation: Default::default(),
    }
}

fn media(i: usize) -> Vec<u8> {
    format!("\u{89}PNG-media-{i}")
        .into_bytes()
        .repeat(1 + i % 3)
}

/// `n` rows: `image` struct{bytes, path} (row 3 has null bytes), `split` test/train alternating.
fn write_hf_style(path: &Path, n: usize, compression: Compression, row_group: usize) {
    let bytes: Vec<Option<Vec<u8>>> = (0..n).map(|i| (i != 3).then(|| media(i))).collect();
    let bytes = BinaryArray::from_iter(bytes.iter().map(|b| b.as_deref()));
    let paths = StringArray::from_iter_values((0..n).map(|i| format!("img_{i}.png")));
    let sfields = Fields::from(vec![
        Field::new("bytes", DataType::Binary, true),
        Field::new("path", DataType::Utf8, true),
    ]);
    let image = StructArray::new(
        sfields.clone(),
        vec![Arc::new(bytes) as ArrayRef, Arc::new(paths) as ArrayRef],
        None,
    );
    let split =
        StringArray::from_iter_values((0..n).map(|i| if i % 2 == 0 { "test" } else { "train" }));
    let schema = Arc::new(Schema::new(vec![
        Field::new("split", DataType::Utf8, false),
        Field::new("image", DataType::Struct(sfields), true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(split) as ArrayRef, Arc::new(image) as ArrayRef],
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(row_group))
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn collect(spec: &DatasetSpec, o: &OpenOptions) -> (Vec<(String, Vec<u8>)>, Vec<DatasetError>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for item in open(spec, o).unwrap() {
        match item {
            Ok(s) => match s.media {
                Media::Bytes(b) => ok.push((s.id, b)),
                Media::File(p) => panic!("parquet gives bytes, got file {p:?}"),
            },
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

#[test]
fn hf_struct_column_rows_stream_with_null_cells_counted() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("train-00000.parquet");
    write_hf_style(&f, 25, Compression::SNAPPY, 7);
    let spec = DatasetSpec::new("pq", f.to_str().unwrap(), Modality::Image, Label::Synthetic);
    let (ok, bad) = collect(&spec, &opts(Mode::Full, 0));
    assert_eq!(ok.len(), 24);
    for (id, b) in &ok {
        let row: usize = id
            .strip_prefix("train-00000.parquet#")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(b, &media(row), "row {row}");
    }
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].sample(), Some(("pq", "train-00000.parquet#3")));
    assert!(bad[0].to_string().contains("null"));
}

#[test]
fn filter_column_and_sampling_across_row_groups() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("pqdir");
    std::fs::create_dir_all(&d).unwrap();
    write_hf_style(
        &d.join("a.parquet"),
        60,
        Compression::ZSTD(ZstdLevel::default()),
        9,
    );
    write_hf_style(&d.join("b.parquet"), 40, Compression::UNCOMPRESSED, 100);
    let mut spec = DatasetSpec::new("pq", d.to_str().unwrap(), Modality::Image, Label::Real);
    spec.filter_column = Some("split".into());
    spec.filter_value = Some("test".into());
    let (ok, bad) = collect(&spec, &opts(Mode::Full, 0));
    assert!(
        bad.is_empty(),
        "row 3 is odd → train → filtered out: {bad:?}"
    );
    assert_eq!(ok.len(), 30 + 20);
    for (id, b) in &ok {
        let row: usize = id.rsplit('#').next().unwrap().parse().unwrap();
        assert_eq!(row % 2, 0, "{id}");
        assert_eq!(b, &media(row));
    }

    let a = collect(&spec, &opts(Mode::Debug, 3)).0;
    let b = collect(&spec, &opts(Mode::Debug, 3)).0;
    let c = collect(&spec, &opts(Mode::Debug, 4)).0;
    assert_eq!(a.len(), Mode::DEBUG_PER_DATASET);
    assert_eq!(a, b);
    assert_ne!(a, c);
    for (id, bytes) in &a {
        let row: usize = id.rsplit('#').next().unwrap().parse().unwrap();
        assert_eq!(bytes, &media(row));
    }

    spec.media_per_archive = 5;
    spec.archives_per_dataset = 1;
    let (ok, _) = collect(&spec, &opts(Mode::Full, 9));
    assert_eq!(ok.len(), 5);
    let file = ok[0].0.split('#').next().unwrap().to_string();
    assert!(
        ok.iter().all(|(id, _)| id.starts_with(&file)),
        "one archive only"
    );
}

#[test]
fn plain_binary_column_autodetect_and_data_columns() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("v.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("thumb", DataType::Binary, false),
        Field::new("video", DataType::Binary, false),
        Field::new("caption", DataType::Utf8, false),
    ]));
    let thumbs = BinaryArray::from_iter_values((0..4).map(|i| format!("thumb{i}")));
    let videos = BinaryArray::from_iter_values((0..4).map(|i| format!("mp4-{i}")));
    let caps = StringArray::from_iter_values((0..4).map(|i| format!("c{i}")));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(thumbs) as ArrayRef,
            Arc::new(videos),
            Arc::new(caps),
        ],
    )
    .unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(&f).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let mut spec = DatasetSpec::new("v", f.to_str().unwrap(), Modality::Video, Label::Real);
    let (ok, _) = collect(&spec, &opts(Mode::Full, 0));
    assert_eq!(ok[2].1, b"mp4-2", "column named after the modality wins");
    spec.data_columns = vec!["thumb".into()];
    let (ok, _) = collect(&spec, &opts(Mode::Full, 0));
    assert_eq!(ok[2].1, b"thumb2");
    spec.data_columns = vec!["caption".into()];
    let msg = open(&spec, &opts(Mode::Full, 0)).err().unwrap().to_string();
    assert!(
        msg.contains("data_columns") && msg.contains("caption") && msg.contains("not binary"),
        "{msg}"
    );
    spec.data_columns = vec!["nope".into()];
    let msg = open(&spec, &opts(Mode::Full, 0)).err().unwrap().to_string();
    assert!(
        msg.contains("nope") && msg.contains("thumb") && msg.contains("video"),
        "{msg}"
    );
    spec.data_columns.clear();
    spec.filter_column = Some("missing".into());
    spec.filter_value = Some("x".into());
    let msg = open(&spec, &opts(Mode::Full, 0)).err().unwrap().to_string();
    assert!(
        msg.contains("filter_column") && msg.contains("missing"),
        "{msg}"
    );
}

#[test]
fn corrupt_parquet_is_reported_not_fatal() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("mixed");
    std::fs::create_dir_all(&d).unwrap();
    write_hf_style(&d.join("good.parquet"), 4, Compression::SNAPPY, 10);
    std::fs::write(d.join("broken.parquet"), b"PAR1 garbage garbage PAR1").unwrap();
    // Truncated copy of a valid file: footer missing.
    let good = std::fs::read(d.join("good.parquet")).unwrap();
    std::fs::write(d.join("cut.parquet"), &good[..good.len() / 2]).unwrap();
    let spec = DatasetSpec::new("m", d.to_str().unwrap(), Modality::Image, Label::Real);
    let (ok, bad) = collect(&spec, &opts(Mode::Full, 0));
    assert_eq!(ok.len(), 3, "good.parquet minus its null row");
    let ids: Vec<&str> = bad.iter().filter_map(|e| e.sample().map(|s| s.1)).collect();
    assert!(
        ids.contains(&"broken.parquet") && ids.contains(&"cut.parquet"),
        "{bad:?}"
    );
    assert!(bad.iter().any(|e| e.to_string().contains("parquet")));
}
