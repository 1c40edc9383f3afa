//! The network's dataset rules against our Python reference (python/reference/dataset_sampling.py,
//! which draws with Python's `random` and numpy as the network does): on generated catalogs in
//! both layouts, with holdouts, filters, data_columns, include paths and every mode, the datasets,
//! their caps and the sample ids gas-datasets plans are the reference's. Needs the project venv
//! (numpy, PyYAML): skipped without it, fails when `CI` is set.

use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use gas_datasets::plan::{Selection, plan_run};
use gas_datasets::{
    Media, Modality, Mode, OpenOptions, load_catalog, load_holdout_catalog, open_planned,
    planned_ids,
};
use gas_test_support::venv_python;
use parquet::arrow::ArrowWriter;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n-not-decoded-here";

fn write_zip(path: &Path, names: &[String]) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let o =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for n in names {
        w.start_file(n.as_str(), o).unwrap();
        w.write_all(PNG).unwrap();
    }
    w.finish().unwrap();
}

fn write_parquet(path: &Path, media_cols: &[&str], labels: &[&str]) {
    let n = labels.len();
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for c in media_cols {
        fields.push(Field::new(*c, DataType::Binary, false));
        cols.push(Arc::new(BinaryArray::from_iter_values((0..n).map(|_| PNG))));
    }
    fields.push(Field::new("label", DataType::Utf8, false));
    cols.push(Arc::new(StringArray::from_iter_values(
        labels.iter().copied(),
    )));
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// One generated dataset folder: its files (and the reference's view of them, in listing order).
fn make_dataset(rng: &mut StdRng, dir: &Path) -> (Value, Vec<&'static str>) {
    std::fs::create_dir_all(dir).unwrap();
    let kinds: &[&str] = match rng.random_range(0..4) {
        0 => &["zip"],
        1 => &["parquet"],
        2 => &["png"],
        _ => &["zip", "parquet", "png"],
    };
    let media_cols: &[&str] = match rng.random_range(0..3) {
        0 => &["image"],
        1 => &["src_img", "tgt_img"],
        _ => &["image_id_bytes", "Image_data"],
    };
    let mut files: Vec<(String, Value)> = Vec::new();
    for k in 0..rng.random_range(1..9) {
        let kind = kinds[rng.random_range(0..kinds.len())];
        let split = if rng.random_bool(0.5) {
            "train"
        } else {
            "test"
        };
        let rel = format!("{split}/part{k:02}.{kind}");
        let abs = dir.join(&rel);
        std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
        let view = match kind {
            "zip" => {
                let mut names: Vec<String> = (0..rng.random_range(0..60))
                    .map(|j| {
                        let ext =
                            ["png", "PNG", "jpg", "txt", "tif", "webp"][rng.random_range(0..6)];
                        format!("d{}/im{j}.{ext}", rng.random_range(0..3))
                    })
                    .collect();
                if rng.random_bool(0.3) {
                    names.push("__MACOSX/d0/._im0.png".into());
                }
                write_zip(&abs, &names);
                json!({"path": rel, "entries": names})
            }
            "parquet" => {
                let rows = rng.random_range(1..80);
                let labels: Vec<&str> = (0..rows)
                    .map(|_| if rng.random_bool(0.4) { "fake" } else { "real" })
                    .collect();
                write_parquet(&abs, media_cols, &labels);
                let mut columns: Vec<&str> = media_cols.to_vec();
                columns.push("label");
                json!({"path": rel, "columns": columns, "rows": rows,
                       "filter_values": {"label": labels}})
            }
            _ => {
                std::fs::write(&abs, PNG).unwrap();
                json!({"path": rel})
            }
        };
        files.push((rel, view));
    }
    // the local listing order: relative paths sorted
    files.sort_by(|a, b| a.0.cmp(&b.0));
    (
        Value::Array(files.into_iter().map(|(_, v)| v).collect()),
        media_cols.to_vec(),
    )
}

fn entry_yaml(rng: &mut StdRng, name: &str, path: &Path, media_cols: &[&str]) -> String {
    let mut y = format!(
        "  - name: {name}\n    path: {}\n    media_type: {}\n",
        path.display(),
        ["real", "synthetic", "semisynthetic"][rng.random_range(0..3)]
    );
    // the network requires `modality` in both layouts
    y.push_str("    modality: image\n");
    let fmt = ["", "zip", "parquet", "png", ".zip", "tar"][rng.random_range(0..6)];
    if !fmt.is_empty() {
        y.push_str(&format!("    source_format: {fmt}\n"));
    }
    if rng.random_bool(0.6) {
        y.push_str(&format!(
            "    media_per_archive: {}\n",
            [-1, 3, 10, 100][rng.random_range(0..4)]
        ));
    }
    if rng.random_bool(0.6) {
        y.push_str(&format!(
            "    archives_per_dataset: {}\n",
            [-1, 1, 2, 5][rng.random_range(0..4)]
        ));
    }
    if rng.random_bool(0.2) {
        y.push_str("    include_paths: [train]\n");
    }
    if rng.random_bool(0.15) {
        y.push_str("    exclude_paths: [part00]\n");
    }
    if media_cols.len() > 1 && media_cols[0] == "src_img" && rng.random_bool(0.7) {
        y.push_str("    data_columns: [tgt_img, src_img]\n");
    }
    if rng.random_bool(0.2) {
        y.push_str("    filter_column: label\n    filter_value: fake\n");
    }
    if rng.random_bool(0.3) {
        y.push_str("    content_category: faces\n");
    }
    y
}

fn catalog(
    rng: &mut StdRng,
    dir: &Path,
    prefix: &str,
    n: usize,
    listings: &mut serde_json::Map<String, Value>,
) -> PathBuf {
    let grouped = rng.random_bool(0.5);
    let mut y = String::from(if grouped { "image:\n" } else { "datasets:\n" });
    for i in 0..n {
        let ds_dir = dir.join(format!("{prefix}{i}"));
        let (files, cols) = make_dataset(rng, &ds_dir);
        listings.insert(ds_dir.display().to_string(), files);
        y.push_str(&entry_yaml(rng, &format!("{prefix}-{i}"), &ds_dir, &cols));
    }
    let p = dir.join(format!("{prefix}.yaml"));
    std::fs::write(&p, y).unwrap();
    p
}

/// The reference's answer (`{"datasets": [...]}`) to `job`, through files in `dir`.
fn reference(py: &Path, dir: &Path, job: &Value) -> Value {
    let job_path = dir.join("job.json");
    let out_path = dir.join("out.json");
    std::fs::write(&job_path, serde_json::to_vec(job).unwrap()).unwrap();
    let out = Command::new(py)
        .arg(root().join("python/reference/dataset_sampling.py"))
        .arg(&job_path)
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap()
}

#[test]
fn sample_lists_match_the_reference() {
    let Some(py) = venv_python(&["numpy", "yaml"]) else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(11);
    let mut compared = 0usize;
    for case in 0..24 {
        let t = tempfile::tempdir().unwrap();
        let mut listings = serde_json::Map::new();
        let n = rng.random_range(1..6);
        let cat = catalog(&mut rng, t.path(), "pub", n, &mut listings);
        let n_hold = rng.random_range(1..3);
        let hold = rng
            .random_bool(0.4)
            .then(|| catalog(&mut rng, t.path(), "hid", n_hold, &mut listings));
        let mode = [Mode::Debug, Mode::Small, Mode::Full][case % 3];
        let seed: u64 = rng.random_range(0..u64::from(u32::MAX));
        let filters: Vec<String> = if rng.random_bool(0.2) {
            vec!["PUB-1".into(), "holdout".into()]
        } else {
            Vec::new()
        };
        let category = rng.random_bool(0.15).then(|| "faces".to_string());
        let per_dataset = rng.random_bool(0.15).then(|| rng.random_range(1..40usize));

        let sel = Selection {
            catalog: load_catalog(&cat).unwrap(),
            holdouts: hold
                .as_ref()
                .map(|h| load_holdout_catalog(h).unwrap())
                .unwrap_or_default(),
            name_filters: filters.clone(),
            content_category: category.clone(),
            per_dataset,
            ..Selection::default()
        };
        let plan = plan_run(&sel, Modality::Image, mode);
        let opts = OpenOptions {
            mode,
            seed,
            cache_dir: t.path().join("cache"),
            offline: true,
            hf_endpoint: "http://127.0.0.1:9".into(),
            gasstation: Default::default(),
        };
        let ours: Vec<Value> = plan
            .datasets
            .iter()
            .map(|p| {
                json!({
                    "name": p.spec.name,
                    "original_name": p.spec.original_name,
                    "media_per_archive": p.spec.media_per_archive,
                    "archives_per_dataset": p.spec.archives_per_dataset,
                    "cap": p.cap,
                    "samples": planned_ids(p, &opts).unwrap(),
                })
            })
            .collect();

        let job = json!({
            "modality": "image", "mode": mode.as_str(), "seed": seed,
            "catalog": cat, "holdout": hold,
            "datasets_filter": if filters.is_empty() { Value::Null } else { json!(filters) },
            "content_category": category, "per_dataset": per_dataset,
            "listings": listings,
        });
        let want = reference(&py, t.path(), &job);
        let want = want["datasets"].as_array().unwrap();
        assert_eq!(ours.len(), want.len(), "case {case}: datasets");
        for (a, b) in ours.iter().zip(want) {
            assert_eq!(a, b, "case {case} ({mode}, seed {seed})");
            compared += a["samples"].as_array().unwrap().len();
        }

        // What is read is exactly the planned set.
        for p in &plan.datasets {
            let want: std::collections::BTreeSet<String> =
                planned_ids(p, &opts).unwrap().into_iter().collect();
            let got: std::collections::BTreeSet<String> = match open_planned(p, &opts) {
                Ok(it) => it
                    .map(|s| {
                        let s = s.unwrap();
                        assert!(matches!(s.media, Media::Bytes(_) | Media::File(_)));
                        s.id
                    })
                    .collect(),
                Err(e) => {
                    assert!(want.is_empty(), "{e}");
                    Default::default()
                }
            };
            assert_eq!(got, want, "case {case}: {}", p.spec.name);
        }
    }
    assert!(compared > 500, "only {compared} samples compared");
    eprintln!("{compared} planned samples equal the reference's");
}

fn write_tar(path: &Path, names: &[String]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for n in names {
        let mut h = tar::Header::new_gnu();
        h.set_size(PNG.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, n, PNG).unwrap();
    }
    b.finish().unwrap();
}

fn write_metadata_parquet(path: &Path, archives: &[String]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("archive_filename", DataType::Utf8, false),
        Field::new("file_path_in_archive", DataType::Utf8, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(archives.iter())),
        Arc::new(StringArray::from_iter_values(
            (0..archives.len()).map(|i| format!("img{i}.png")),
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// A GAS-Station dataset in the hub's weekly layout: `data_<week>/…parquet` naming tar archives
/// at `archives/<week>/…`, for a random subset of the weeks before `today`.
fn make_gasstation(rng: &mut StdRng, dir: &Path, today: chrono::NaiveDate) -> Value {
    let mut files: Vec<(String, Value)> = Vec::new();
    for back in 0..7u64 {
        if !rng.random_bool(0.55) {
            continue;
        }
        let day = today.checked_sub_days(chrono::Days::new(7 * back)).unwrap();
        let week = gas_datasets::gasstation::iso_week(day);
        let pool: Vec<String> = (0..rng.random_range(1..5))
            .map(|k| format!("batch-{week}-{k}.tar"))
            .collect();
        for name in &pool {
            // one archive of the pool is sometimes never uploaded
            if rng.random_bool(0.1) {
                continue;
            }
            let rel = format!("archives/{week}/{name}");
            let entries: Vec<String> = (0..rng.random_range(0..30))
                .map(|j| {
                    format!(
                        "m/{j:03}.{}",
                        ["png", "jpg", "txt", "webp"][rng.random_range(0..4)]
                    )
                })
                .collect();
            let abs = dir.join(&rel);
            std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
            write_tar(&abs, &entries);
            files.push((
                rel,
                json!({"path": format!("archives/{week}/{name}"), "entries": entries}),
            ));
        }
        for p in 0..rng.random_range(1..4) {
            let rel = format!("data_{week}/part-{p:02}.parquet");
            let names: Vec<String> = (0..rng.random_range(1..12))
                .map(|_| pool[rng.random_range(0..pool.len())].clone())
                .collect();
            let abs = dir.join(&rel);
            std::fs::create_dir_all(abs.parent().unwrap()).unwrap();
            write_metadata_parquet(&abs, &names);
            files.push((
                rel.clone(),
                json!({"path": rel, "archive_filenames": names}),
            ));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Array(files.into_iter().map(|(_, v)| v).collect())
}

/// GAS-Station datasets: the weeks (with `--num-weeks` or the fall-back to an earlier week), the
/// newest files of each week, the archives their parquet files name, and the weekly read-back
/// order are the reference's, on generated weekly layouts around year ends.
#[test]
fn gasstation_weeks_match_the_reference() {
    let Some(py) = venv_python(&["numpy", "yaml"]) else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(34);
    let days = [
        "2026-11-30",
        "2025-01-02",
        "2021-01-03",
        "2026-12-31",
        "2026-06-15",
    ];
    let mut compared = 0usize;
    for case in 0..20 {
        let t = tempfile::tempdir().unwrap();
        let today = chrono::NaiveDate::parse_from_str(days[case % days.len()], "%Y-%m-%d").unwrap();
        let num_weeks = rng.random_bool(0.4).then(|| rng.random_range(1..5u32));
        let mut listings = serde_json::Map::new();
        let mut y = String::from("datasets:\n");
        for i in 0..rng.random_range(1..3) {
            let ds = t.path().join(format!("gs{i}"));
            listings.insert(
                ds.display().to_string(),
                make_gasstation(&mut rng, &ds, today),
            );
            y.push_str(&format!(
                "  - name: gasstation-images-{i}\n    path: {}\n    modality: image\n    media_type: synthetic\n    source_format: parquet\n    media_per_archive: {}\n    archives_per_dataset: {}\n",
                ds.display(),
                [-1, 3, 10][rng.random_range(0..3)],
                [-1, 1, 2][rng.random_range(0..3)],
            ));
        }
        let cat = t.path().join("cat.yaml");
        std::fs::write(&cat, y).unwrap();
        let mode = [Mode::Debug, Mode::Small, Mode::Full][case % 3];
        let seed: u64 = rng.random_range(0..u64::from(u32::MAX));
        let sel = Selection {
            catalog: load_catalog(&cat).unwrap(),
            ..Selection::default()
        };
        let plan = plan_run(&sel, Modality::Image, mode);
        let opts = OpenOptions {
            mode,
            seed,
            cache_dir: t.path().join("cache"),
            offline: true,
            hf_endpoint: "http://127.0.0.1:9".into(),
            gasstation: gas_datasets::gasstation::GasStationOptions {
                num_weeks,
                today: Some(today),
                cache_only: true,
            },
        };
        let job = json!({
            "modality": "image", "mode": mode.as_str(), "seed": seed, "catalog": cat,
            "holdout": null, "datasets_filter": null, "content_category": null,
            "per_dataset": null, "today": today.to_string(), "num_weeks": num_weeks,
            "listings": listings,
        });
        let want = reference(&py, t.path(), &job);
        let want = want["datasets"].as_array().unwrap();
        assert_eq!(plan.datasets.len(), want.len(), "case {case}");
        for (p, w) in plan.datasets.iter().zip(want) {
            let ours = planned_ids(p, &opts).unwrap();
            assert_eq!(
                json!(ours),
                w["samples"],
                "case {case} ({mode}, today {today}, num_weeks {num_weeks:?}, seed {seed})"
            );
            compared += ours.len();
            // what is read is exactly the planned set, each a tar entry of a weekly archive
            if let Ok(it) = open_planned(p, &opts) {
                let got: std::collections::BTreeSet<String> =
                    it.filter_map(|s| s.ok().map(|s| s.id)).collect();
                let planned: std::collections::BTreeSet<String> = ours.into_iter().collect();
                assert_eq!(got, planned, "case {case}");
                assert!(got.iter().all(|id| id.starts_with("archives/")));
            }
        }
    }
    assert!(compared > 200, "only {compared} samples compared");
    eprintln!("{compared} GAS-Station samples equal the reference's");
}
