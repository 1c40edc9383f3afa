//! `RESULTS.md` and the typed `BenchResults` must agree: every field a `results.json` can hold
//! is documented, every field the table documents exists, and the schema version matches.

use std::collections::BTreeSet;

use gas_bench::results::{
    BenchResults, DatasetResult, DatasetRobustness, ErrorExample, Metrics, Overall, Provenance,
    Robustness, SCHEMA_VERSION, SandboxInfo, SkippedDataset,
};
use gas_bench::sandbox::SandboxSpec;
use gas_score::{
    Label, Prediction, ScoreComposition, Weighting, binary_metrics, multiclass_metrics,
};
use serde_json::Value;

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/RESULTS.md")).unwrap()
}

/// A result with every optional part filled, so every field appears in its JSON.
fn full() -> BenchResults {
    let preds: Vec<Prediction> = (0..6)
        .map(|i| Prediction {
            label: Label::ALL[i % 3],
            p_synthetic: i as f64 / 6.0,
            weight: 1.0,
            dataset: Some("d".into()),
            probs: Some(vec![0.5, 0.25, 0.25]),
            predicted: Some(0),
        })
        .collect();
    let m = binary_metrics(&preds);
    let metrics = Metrics::from(&m);
    let mut r = BenchResults {
        overall: Overall::new(&m, multiclass_metrics(&preds, 3), 1),
        ..BenchResults::default()
    };
    r.sandbox = SandboxInfo::new(true, &SandboxSpec::new("/tmp".into()), 300);
    r.per_dataset = vec![
        DatasetResult {
            name: "d".into(),
            media_type: Label::Synthetic,
            n: 6,
            n_failed: 1,
            metrics: Some(metrics.clone()),
            robustness: Some(DatasetRobustness::default()),
        },
        DatasetResult {
            name: "empty".into(),
            media_type: Label::Real,
            n: 0,
            n_failed: 0,
            metrics: None,
            robustness: None,
        },
    ];
    r.timing.peak_rss_mib = Some(1.0);
    r.timing.peak_rss_worker_mib = Some(1.0);
    r.timing.peak_rss_tree_mib = Some(2.0);
    r.errors.add("decode", "d", "x.jpg", "bad");
    r.provenance = Some(Provenance {
        weighting: Weighting::Shares(ScoreComposition {
            public: 0.5,
            holdout: 0.3,
            gasstation: 0.2,
        }),
        class_counts: [("public".to_string(), 6)].into(),
        weights: [("public".to_string(), 1.0)].into(),
        per_class: [("public".to_string(), metrics)].into(),
    });
    r.run_id = Some("run-1".into());
    r.skipped_datasets = vec![SkippedDataset {
        name: "x".into(),
        reason: "not cached".into(),
    }];
    r.robustness = Some(Robustness::default());
    r.errors.examples.push(ErrorExample::default());
    r
}

/// Object keys anywhere in `v`, except inside maps whose keys are data (error kinds, class
/// names) and the worker's opaque report.
fn keys(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    const DATA_KEYED: [&str; 5] = [
        "worker",
        "errors.counts",
        "provenance.class_counts",
        "provenance.weights",
        "provenance.per_class",
    ];
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                out.insert(k.clone());
                if DATA_KEYED.contains(&p.as_str()) {
                    if p.starts_with("provenance.per_class") {
                        // values are Metrics: their keys still count
                        for inner in v.as_object().into_iter().flat_map(|o| o.values()) {
                            keys(inner, &p, out);
                        }
                    }
                    continue;
                }
                keys(v, &p, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| keys(x, path, out)),
        _ => {}
    }
}

/// Names in backticks in the first column of the field table.
fn documented_top_level(doc: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 {
                out.insert(part.to_string());
            }
        }
    }
    out
}

#[test]
fn every_results_field_is_documented() {
    let v = serde_json::to_value(full()).unwrap();
    let mut all = BTreeSet::new();
    keys(&v, "", &mut all);
    let doc = doc();
    let missing: Vec<&String> = all
        .iter()
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "fields of results.json not described in RESULTS.md: {missing:?}"
    );
}

#[test]
fn every_documented_field_exists() {
    let v = serde_json::to_value(full()).unwrap();
    let top: BTreeSet<String> = v.as_object().unwrap().keys().cloned().collect();
    let documented = documented_top_level(&doc());
    assert!(!documented.is_empty(), "no field table found in RESULTS.md");
    let unknown: Vec<&String> = documented.difference(&top).collect();
    assert!(
        unknown.is_empty(),
        "RESULTS.md documents top-level fields that results.json does not have: {unknown:?}"
    );
    let undocumented: Vec<&String> = top.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "top-level fields missing from the RESULTS.md table: {undocumented:?}"
    );
}

#[test]
fn schema_version_matches_the_doc() {
    assert!(
        doc().starts_with(&format!(
            "# `results.json` — schema version {SCHEMA_VERSION}\n"
        )),
        "RESULTS.md title must name schema version {SCHEMA_VERSION}"
    );
    assert_eq!(full().schema_version, SCHEMA_VERSION);
}

#[test]
fn results_round_trip_through_json() {
    let r = full();
    let text = serde_json::to_string_pretty(&r).unwrap();
    let back: BenchResults = serde_json::from_str(&text).unwrap();
    // (floats may differ in the last bit: serde_json parses with best-effort precision)
    assert_eq!(back.overall.n, r.overall.n);
    assert_eq!(back.per_dataset.len(), 2);
    assert!(back.per_dataset[1].metrics.is_none() && back.per_dataset[0].metrics.is_some());
    assert_eq!(back.errors, r.errors);
    assert_eq!(back.model, r.model);
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut k1 = BTreeSet::new();
    let mut k2 = BTreeSet::new();
    keys(&v, "", &mut k1);
    keys(&serde_json::to_value(&back).unwrap(), "", &mut k2);
    assert_eq!(k1, k2);
    // A dataset with nothing scored has no metric fields at all.
    let empty = &v["per_dataset"][1];
    assert_eq!(empty["n"], 0);
    assert!(empty.get("accuracy").is_none() && empty.get("mcc").is_none());
}
