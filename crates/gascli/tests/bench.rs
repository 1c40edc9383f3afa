//! `gascli d bench` end to end on all three modalities with the example detectors, on data the
//! test generates (examples/make_sample_data.py), plus corrupt media, invalid packages and a
//! model with a wrong output. Needs the venv (PyTorch) and ffmpeg: fails when CI is set and they
//! are missing, skips otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    std::path::absolute(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))).unwrap()
}

/// The venv's python, when ffmpeg is there too (the test data is made with it).
fn python() -> Option<PathBuf> {
    gas_test_support::venv_python(&[]).filter(|_| gas_test_support::have_program("ffmpeg"))
}

fn make_data(py: &Path, out: &Path, modality: &str, per_class: u32) {
    let st = Command::new(py)
        .arg(root().join("examples/make_sample_data.py"))
        .arg(out)
        .args([
            "--modality",
            modality,
            "--per-class",
            &per_class.to_string(),
            "--seed",
            "99",
        ])
        .status()
        .unwrap();
    assert!(st.success());
}

fn bench(args: &[&str], results: &Path) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args([
            "d",
            "bench",
            "--json",
            "--quiet",
            "--batch-size",
            "8",
            "--torch-threads",
            "1",
        ])
        .args(args)
        .arg("--results-dir")
        .arg(results)
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v, stderr)
}

fn check_run(v: &Value, results: &Path, n: u64, min_acc: f64) {
    assert_eq!(v["schema_version"], gas_bench::results::SCHEMA_VERSION);
    assert_eq!(v["overall"]["n"], n, "{v:#}");
    let acc = v["overall"]["accuracy"].as_f64().unwrap();
    assert!(acc >= min_acc, "accuracy {acc} < {min_acc}: {v:#}");
    let sn34 = v["overall"]["sn34_score"].as_f64().unwrap();
    assert!(sn34 > 0.5, "sn34 {sn34}");
    // gascli's own peak memory (the worker is another process): present and plausible.
    let rss = v["timing"]["peak_rss_mib"].as_f64().unwrap();
    assert!(rss > 1.0 && rss < 4096.0, "peak_rss_mib {rss}");
    // the worker's tree (PyTorch imported: well over 50 MiB), and the whole tree is the sum
    let worker = v["timing"]["peak_rss_worker_mib"].as_f64().unwrap();
    assert!(
        worker > 50.0 && worker < 16384.0,
        "peak_rss_worker_mib {worker}"
    );
    let tree = v["timing"]["peak_rss_tree_mib"].as_f64().unwrap();
    assert!(
        (tree - (rss + worker)).abs() < 1e-9,
        "{tree} vs {rss} + {worker}"
    );
    assert_eq!(v["per_dataset"].as_array().unwrap().len(), 3);
    for f in ["results.json", "predictions.csv", "report.html"] {
        assert!(results.join(f).is_file(), "{f} missing");
    }
    // the predictions file scores to the same number with `gascli d score`
    let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args(["d", "score", "--json"])
        .arg(results.join("predictions.csv"))
        .output()
        .unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((s["overall"]["sn34_score"].as_f64().unwrap() - sn34).abs() < 1e-12);
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(results.join("results.json")).unwrap()).unwrap();
    assert_eq!(on_disk["overall"]["n"], n);
}

#[test]
fn image_example_on_bundled_data() {
    if python().is_none() {
        return;
    }
    let res = tempfile::tempdir().unwrap();
    let (code, v, err) = bench(
        &[
            "--image-model",
            "examples/image-detector",
            "--data-dir",
            "examples/data/image",
        ],
        res.path(),
    );
    assert_eq!(code, Some(0), "{err}");
    check_run(&v, res.path(), 60, 0.95);
    assert_eq!(v["sandbox"]["enabled"], true);
    // --per-dataset 8 takes at most 8 per dataset, same seed → same samples
    let res2 = tempfile::tempdir().unwrap();
    let (_, d1, _) = bench(
        &[
            "--debug",
            "--per-dataset",
            "8",
            "--image-model",
            "examples/image-detector",
            "--data-dir",
            "examples/data/image",
        ],
        res2.path(),
    );
    assert_eq!(d1["overall"]["n"], 24);
    let first = std::fs::read_to_string(res2.path().join("predictions.csv")).unwrap();
    let (_, _, _) = bench(
        &[
            "--debug",
            "--per-dataset",
            "8",
            "--image-model",
            "examples/image-detector",
            "--data-dir",
            "examples/data/image",
        ],
        res2.path(),
    );
    assert_eq!(
        first,
        std::fs::read_to_string(res2.path().join("predictions.csv")).unwrap()
    );
}

#[test]
fn video_and_audio_examples_on_generated_data() {
    let Some(py) = python() else { return };
    let data = tempfile::tempdir().unwrap();
    make_data(&py, data.path(), "video", 4);
    make_data(&py, data.path(), "audio", 6);
    let res = tempfile::tempdir().unwrap();
    let (code, v, err) = bench(
        &[
            "--video-model",
            "examples/video-detector",
            "--data-dir",
            data.path().join("video").to_str().unwrap(),
        ],
        res.path(),
    );
    assert_eq!(code, Some(0), "{err}");
    check_run(&v, res.path(), 12, 0.9);
    let res = tempfile::tempdir().unwrap();
    let (code, v, err) = bench(
        &[
            "--audio-model",
            "examples/audio-detector",
            "--data-dir",
            data.path().join("audio").to_str().unwrap(),
        ],
        res.path(),
    );
    assert_eq!(code, Some(0), "{err}");
    check_run(&v, res.path(), 18, 0.8);
}

#[test]
fn corrupt_media_is_counted_not_fatal() {
    if python().is_none() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    for class in ["real", "synthetic"] {
        let d = data.path().join(class);
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(root().join("examples/data/image").join(class))
            .unwrap()
            .take(3)
        {
            let p = e.unwrap().path();
            std::fs::copy(&p, d.join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        data.path().join("real/broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let res = tempfile::tempdir().unwrap();
    let (code, v, err) = bench(
        &[
            "--image-model",
            "examples/image-detector",
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        res.path(),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["overall"]["n"], 6);
    assert_eq!(v["overall"]["n_failed"], 1);
    assert_eq!(v["errors"]["counts"]["decode"], 1, "{v:#}");
    let ex = &v["errors"]["examples"][0];
    assert!(ex["id"].as_str().unwrap().contains("broken.png"), "{ex}");
}

#[test]
fn invalid_package_is_refused_with_exit_1() {
    if python().is_none() {
        return;
    }
    let pkg = tempfile::tempdir().unwrap();
    for f in ["model_config.yaml", "model.safetensors"] {
        std::fs::copy(
            root().join("examples/image-detector").join(f),
            pkg.path().join(f),
        )
        .unwrap();
    }
    std::fs::write(
        pkg.path().join("model.py"),
        "import os\ndef load_model(weights_path, num_classes=2):\n    os.system('x')\n",
    )
    .unwrap();
    let res = tempfile::tempdir().unwrap();
    let (code, _, err) = bench(
        &[
            "--image-model",
            pkg.path().to_str().unwrap(),
            "--data-dir",
            "examples/data/image",
        ],
        res.path(),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("model.py") && err.contains("os"), "{err}");
    assert!(!res.path().join("results.json").exists());
}

#[test]
fn wrong_output_shape_and_nan_are_reported() {
    if python().is_none() {
        return;
    }
    for (body, expect) in [
        // last dimension 5 with num_classes 2: the network refuses it (1, 2, 3 or num_classes)
        ("return torch.zeros(x.shape[0], 5)", "expected ["),
        ("return torch.full((x.shape[0], 2), float('nan'))", "NaN"),
    ] {
        let pkg = tempfile::tempdir().unwrap();
        for f in ["model_config.yaml", "model.safetensors"] {
            std::fs::copy(
                root().join("examples/image-detector").join(f),
                pkg.path().join(f),
            )
            .unwrap();
        }
        std::fs::write(
            pkg.path().join("model.py"),
            format!("import torch\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n        {body}\n\ndef load_model(weights_path, num_classes=2):\n    return M()\n"),
        )
        .unwrap();
        let res = tempfile::tempdir().unwrap();
        let (code, v, err) = bench(
            &[
                "--debug",
                "--per-dataset",
                "8",
                "--image-model",
                pkg.path().to_str().unwrap(),
                "--data-dir",
                "examples/data/image",
            ],
            res.path(),
        );
        // every sample failed: the run failed (README: exit 1), results still written
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("every sample failed"), "{err}");
        assert!(res.path().join("results.json").is_file());
        assert_eq!(v["overall"]["n"], 0);
        assert_eq!(v["overall"]["n_failed"], 24);
        assert_eq!(v["errors"]["counts"]["output"], 24, "{v:#}");
        let msg = v["errors"]["examples"][0]["message"].as_str().unwrap();
        assert!(
            msg.contains(expect) && msg.contains("example-image-detector"),
            "{msg}"
        );
    }
}

#[test]
fn model_that_fails_to_load_exits_1() {
    if python().is_none() {
        return;
    }
    let pkg = tempfile::tempdir().unwrap();
    for f in ["model_config.yaml", "model.safetensors"] {
        std::fs::copy(
            root().join("examples/image-detector").join(f),
            pkg.path().join(f),
        )
        .unwrap();
    }
    std::fs::write(
        pkg.path().join("model.py"),
        "def load_model(weights_path, num_classes=2):\n    raise ValueError('no weights for you')\n",
    )
    .unwrap();
    let res = tempfile::tempdir().unwrap();
    let (code, _, err) = bench(
        &[
            "--debug",
            "--image-model",
            pkg.path().to_str().unwrap(),
            "--data-dir",
            "examples/data/image",
        ],
        res.path(),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("could not be run") && err.contains("no weights for you"),
        "{err}"
    );
    assert!(!res.path().join("results.json").exists());
}

/// gasbench's flags: `--holdout-config` (obfuscated names), `--holdout-share` (weighted score,
/// weights in predictions.csv), `--run-id`, `--run-name`, `--skip-missing`; and a catalog
/// file given to `--datasets` (name filters in gasbench) is refused with the right flag named.
#[test]
fn gasbench_flags_holdouts_shares_and_skip_missing() {
    if python().is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let hold = holdout_catalog(t.path());
    let missing = t.path().join("missing.yaml");
    std::fs::write(
        &missing,
        "datasets:\n  - name: not-downloaded\n    path: nobody-org/no-such-dataset\n    modality: image\n    media_type: real\n",
    )
    .unwrap();

    let res = t.path().join("refused");
    let (code, _, err) = bench(
        &[
            "--image-model",
            "examples/image-detector",
            "--datasets",
            hold.to_str().unwrap(),
        ],
        &res,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--dataset-config"), "{err}");

    let base = t.path().join("runs");
    let cache = t.path().join("cache");
    let (code, v, err) = bench(
        &[
            "--image-model",
            "examples/image-detector",
            "--data-dir",
            "examples/data/image",
            "--dataset-config",
            missing.to_str().unwrap(),
            "--holdout-config",
            hold.to_str().unwrap(),
            "--holdout-share",
            "0.5",
            "--skip-missing",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--run-id",
            "r-42",
            "--run-name",
            "named",
        ],
        &base,
    );
    assert_eq!(code, Some(0), "{err}");
    let dir = base.join("named");
    assert!(dir.join("results.json").is_file(), "{err}");
    assert_eq!(v["run_id"], "r-42");
    assert_eq!(v["skipped_datasets"][0]["name"], "not-downloaded", "{v:#}");
    assert!(err.contains("(--skip-missing)"), "{err}");
    // 60 public samples (three folders) and 20 holdout samples under an obfuscated name
    let names: Vec<&str> = v["per_dataset"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("synthetic-image-holdout-")),
        "{names:?}"
    );
    assert!(!names.contains(&"secret-fakes"), "{names:?}");
    let p = &v["provenance"];
    assert_eq!(p["weighting"]["kind"], "shares", "{p:#}");
    assert_eq!(p["class_counts"]["public"], 60);
    assert_eq!(p["class_counts"]["holdout"], 20, "{v:#}");
    // each class carries half the weight: 0.5 · 80 / 20 and 0.5 · 80 / 60
    let w_hold = p["weights"]["holdout"].as_f64().unwrap();
    let w_pub = p["weights"]["public"].as_f64().unwrap();
    assert!(
        (w_hold - 2.0).abs() < 1e-12 && (w_pub - 2.0 / 3.0).abs() < 1e-12,
        "{p:#}"
    );
    // the rows carry those weights, and re-scoring them gives the weighted score
    let csv = std::fs::read_to_string(dir.join("predictions.csv")).unwrap();
    let holdout_rows: Vec<&str> = csv.lines().filter(|l| l.contains("-holdout-")).collect();
    assert_eq!(holdout_rows.len(), 20);
    assert!(
        holdout_rows
            .iter()
            .all(|l| l.split(',').nth(4) == Some("2.0"))
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args(["d", "score", "--json"])
        .arg(dir.join("predictions.csv"))
        .output()
        .unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sn34 = v["overall"]["sn34_score"].as_f64().unwrap();
    assert!((s["overall"]["sn34_score"].as_f64().unwrap() - sn34).abs() < 1e-12);
    assert!((v["overall"]["weight_sum"].as_f64().unwrap() - 80.0).abs() < 1e-9);
}

/// The robustness pass: the first N samples of each dataset re-scored on degraded copies,
/// kept out of the base metrics, blended as the network blends (w = 0.2 by default).
#[test]
fn robustness_pass_blends_the_degraded_score() {
    let Some(py) = python() else { return };
    let t = tempfile::tempdir().unwrap();
    let (code, v, err) = bench(
        &[
            "--image-model",
            "examples/image-detector",
            "--data-dir",
            "examples/data/image",
            "--n-aug-per-dataset",
            "5",
        ],
        t.path(),
    );
    assert_eq!(code, Some(0), "{err}");
    let r = &v["robustness"];
    // base metrics still over the 60 samples as they are
    assert_eq!(v["overall"]["n"], 60, "{v:#}");
    assert_eq!(r["n_aug"], 15, "{r:#}");
    for d in v["per_dataset"].as_array().unwrap() {
        assert_eq!(d["robustness"]["n_aug"], 5, "{d:#}");
    }
    let base = r["base_sn34_score"].as_f64().unwrap();
    let aug = r["aug_sn34_score"].as_f64().unwrap();
    assert_eq!(r["aug_weight"], 0.2);
    assert!((v["overall"]["binary_sn34_score"].as_f64().unwrap() - base).abs() < 1e-15);
    let blended = v["overall"]["sn34_score"].as_f64().unwrap();
    assert!((blended - (0.8 * base + 0.2 * aug)).abs() < 1e-12, "{r:#}");
    let ratio = r["augmentation_robustness"].as_f64().unwrap();
    assert!((ratio - aug / base).abs() < 1e-12);
    assert!(r["mean_prob_loss"].is_number() && r["p95_prob_loss"].is_number());
    // the predictions file holds the base rows only; the degraded ones have their own
    let csv = std::fs::read_to_string(t.path().join("predictions.csv")).unwrap();
    assert_eq!(csv.lines().count(), 61);
    let aug_csv = std::fs::read_to_string(t.path().join("predictions_aug.csv")).unwrap();
    assert_eq!(aug_csv.lines().count(), 16);
    let report = std::fs::read_to_string(t.path().join("report.html")).unwrap();
    assert!(report.contains("id=\"paired\""));
    // the ten worst-degraded samples, each as is and degraded
    assert_eq!(
        report.matches("<img class=\"thumb\"").count(),
        20,
        "thumbnails"
    );
    // the network's formulas (our step-by-step reference) on the same predictions
    reference_agrees(&py, t.path(), &v, &[]);

    // with provenance shares: the degraded rows take the base run's class weights
    let hold = holdout_catalog(t.path());
    let res = t.path().join("shares");
    let (code, v, err) = bench(
        &[
            "--image-model",
            "examples/image-detector",
            "--data-dir",
            "examples/data/image",
            "--holdout-config",
            hold.to_str().unwrap(),
            "--holdout-share",
            "0.4",
            "--n-aug-per-dataset",
            "6",
            "--aug-weight",
            "0.3",
        ],
        &res,
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["robustness"]["n_aug"], 24, "{v:#}");
    reference_agrees(&py, &res, &v, &["0.4", "0"]);

    // video: the H.264 chain on the first 2 clips of each class folder, the same figures;
    // audio: the network has no pass, so none is run and the score is the base one
    let data = t.path().join("av");
    make_data(&py, &data, "video", 4);
    make_data(&py, &data, "audio", 3);
    let res = t.path().join("v");
    let vcache = t.path().join("vcache");
    let (code, v, err) = bench(
        &[
            "--video-model",
            "examples/video-detector",
            "--data-dir",
            data.join("video").to_str().unwrap(),
            "--n-aug-per-dataset",
            "2",
            "--aug-cache-dir",
            vcache.to_str().unwrap(),
        ],
        &res,
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["overall"]["n"], 12, "{v:#}");
    assert_eq!(v["robustness"]["n_aug"], 6, "{v:#}");
    assert_eq!(npy_files(&vcache.join("gascli-v1/vid")).len(), 6);
    reference_agrees(&py, &res, &v, &[]);
    let (code, v, err) = bench(
        &[
            "--audio-model",
            "examples/audio-detector",
            "--data-dir",
            data.join("audio").to_str().unwrap(),
            "--n-aug-per-dataset",
            "2",
        ],
        &t.path().join("a"),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(v["robustness"].is_null(), "{v:#}");
    assert_eq!(
        v["overall"]["sn34_score"], v["overall"]["binary_sn34_score"],
        "{v:#}"
    );
}

/// The `.npy` files under `dir`, sorted.
fn npy_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "npy") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `--aug-cache-dir`: the degraded tensors are stored (one per augmented sample) and a later
/// run reads them instead of recomputing — shown by tampering with every entry, which a
/// `--aug-cache-readonly` run then scores (and leaves as it is); without the cache the figures
/// come back.
#[test]
fn aug_cache_stores_and_reuses_degraded_tensors() {
    if python().is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let cache = t.path().join("aug");
    let run = |extra: &[&str], dir: &str| {
        let mut a = vec![
            "--image-model",
            "examples/image-detector",
            "--data-dir",
            "examples/data/image",
            "--n-aug-per-dataset",
            "4",
        ];
        a.extend_from_slice(extra);
        bench(&a, &t.path().join(dir))
    };
    let c = cache.to_str().unwrap();
    let (code, first, err) = run(&["--aug-cache-dir", c], "1");
    assert_eq!(code, Some(0), "{err}");
    let files = npy_files(&cache.join("gascli-v1/img"));
    assert_eq!(files.len(), 12, "{files:?}");
    let (code, again, err) = run(&["--aug-cache-dir", c, "--aug-cache-readonly"], "2");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(again["robustness"], first["robustness"]);
    // every entry replaced by a mid-grey tensor of the same shape
    for f in &files {
        let n = gas_media::npy::read(f).unwrap();
        let len: usize = n.shape.iter().product();
        gas_media::npy::write_u8(f, &n.shape, &vec![128u8; len]).unwrap();
    }
    let stamp = |f: &PathBuf| std::fs::metadata(f).unwrap().modified().unwrap();
    let before: Vec<_> = files.iter().map(stamp).collect();
    let (code, grey, err) = run(&["--aug-cache-dir", c, "--aug-cache-readonly"], "3");
    assert_eq!(code, Some(0), "{err}");
    assert_ne!(
        grey["robustness"]["aug_sn34_score"], first["robustness"]["aug_sn34_score"],
        "the cached (grey) tensors were scored"
    );
    assert_eq!(
        files.iter().map(stamp).collect::<Vec<_>>(),
        before,
        "read-only"
    );
    let (code, fresh, err) = run(&[], "4");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(fresh["robustness"], first["robustness"]);
}

/// `python/reference/robustness.py` (the network's `_compute_aug_metrics` and blend, step by
/// step) on the run's two predictions files gives the run's figures to 1e-9.
fn reference_agrees(py: &Path, dir: &Path, v: &Value, shares: &[&str]) {
    let w = v["robustness"]["aug_weight"].as_f64().unwrap().to_string();
    let out = Command::new(py)
        .arg(root().join("python/reference/robustness.py"))
        .arg(dir.join("predictions.csv"))
        .arg(dir.join("predictions_aug.csv"))
        .arg(&w)
        .args(shares)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v["robustness"];
    for (ours, key) in [
        (&r["base_sn34_score"], "base_sn34_score"),
        (&r["aug_sn34_score"], "aug_sn34_score"),
        (&r["augmentation_robustness"], "augmentation_robustness"),
        (&r["mean_prob_loss"], "mean_prob_loss"),
        (&r["p95_prob_loss"], "p95_prob_loss"),
        (&v["overall"]["sn34_score"], "sn34_score"),
    ] {
        let (a, b) = (ours.as_f64().unwrap(), want[key].as_f64().unwrap());
        assert!((a - b).abs() < 1e-9, "{key}: ours {a}, reference {b}");
    }
}

/// The network's documented first run, `gasbench run --image-model ./my_image_model/ --debug`,
/// as `gascli d bench --image-model … --debug`: no catalog given, so the bundled network catalog;
/// debug mode takes its first image dataset (34data/Shooter-real, parquet) and 100 samples,
/// downloaded from the hub — here a fake hub on 127.0.0.1 serving that repository.
#[test]
fn the_network_docs_debug_run_against_a_fake_hub() {
    let Some(py) = python() else { return };
    let t = tempfile::tempdir().unwrap();
    let parquet = t.path().join("train.parquet");
    let st = Command::new(&py)
        .arg("-c")
        .arg(
            "import io, sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq\n\
             from PIL import Image\n\
             rng = np.random.default_rng(3)\n\
             imgs = []\n\
             for i in range(130):\n\
             \x20   a = rng.integers(0, 255, (40 + i % 7, 48, 3), dtype=np.uint8)\n\
             \x20   b = io.BytesIO(); Image.fromarray(a).save(b, format='PNG'); imgs.append(b.getvalue())\n\
             pq.write_table(pa.table({'image': pa.array(imgs, pa.binary()), 'label': [0] * len(imgs)}), sys.argv[1])\n",
        )
        .arg(&parquet)
        .status()
        .unwrap();
    assert!(st.success());
    let mut hub = gas_test_support::hub_server::Hub::default();
    hub.files.insert(
        "data/train-00000-of-00001.parquet".into(),
        std::fs::read(&parquet).unwrap(),
    );
    let server = gas_test_support::hub_server::start(hub);
    let res = t.path().join("results");
    let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args([
            "d",
            "bench",
            "--image-model",
            "examples/image-detector",
            "--debug",
            "--json",
            "--quiet",
            "--torch-threads",
            "1",
            "--cache-dir",
        ])
        .arg(t.path().join("cache"))
        .arg("--results-dir")
        .arg(&res)
        .env("HF_ENDPOINT", &server.endpoint)
        .env_remove("HF_TOKEN")
        .current_dir(root())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let per = v["per_dataset"].as_array().unwrap();
    assert_eq!(per.len(), 1, "debug: the first image dataset only: {v:#}");
    assert_eq!(per[0]["name"], "Shooter-real");
    assert_eq!(per[0]["media_type"], "real");
    // debug: 100 images in total, the network's 100 per archive from the one parquet file
    assert_eq!(v["overall"]["n"], 100, "{v:#}");
    assert_eq!(v["mode"], "debug");
    assert_eq!(v["batch_size"], 32, "the network's image batch size");
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.path.contains("34data/Shooter-real")),
        "the catalog's repository was asked for"
    );
    assert!(res.join("results.json").is_file());
}

/// A holdout catalog (`--holdout-config`) in `dir`: the bundled synthetic images as one dataset,
/// `secret-fakes` (the run shows it under its obfuscated name).
fn holdout_catalog(dir: &Path) -> PathBuf {
    let hold = dir.join("holdout.yaml");
    std::fs::write(
        &hold,
        format!(
            "datasets:\n  - name: secret-fakes\n    path: {}\n    modality: image\n    media_type: synthetic\n    source_format: png\n",
            root().join("examples/data/image/synthetic").display()
        ),
    )
    .unwrap();
    hold
}

/// GAS-Station data as gasbench's `run` reads it: from the cache only unless
/// `--download-latest-gasstation-data` (not cached: the dataset is skipped and the run, with
/// nothing else, exits 1 saying how to get it), the current ISO week by default and the
/// `--num-weeks` most recent with the flag, each week's parquet naming its tar archives. The
/// bundled network catalog's `gasstation-generated-images` is served by a fake hub on 127.0.0.1.
#[test]
fn gasstation_weeks_download_only_when_asked() {
    use chrono::Datelike;
    let Some(py) = python() else { return };
    let t = tempfile::tempdir().unwrap();
    let today = chrono::Local::now().date_naive();
    let week = |back: u64| {
        let d = today.checked_sub_days(chrono::Days::new(7 * back)).unwrap();
        let w = d.iso_week();
        format!("{}W{:02}", w.year(), w.week())
    };
    let (this_week, last_week) = (week(0), week(1));
    let files = t.path().join("hub");
    let st = Command::new(&py)
        .arg("-c")
        .arg(
            "import io, os, sys, tarfile, numpy as np, pyarrow as pa, pyarrow.parquet as pq\n\
             from PIL import Image\n\
             root, weeks = sys.argv[1], sys.argv[2:]\n\
             rng = np.random.default_rng(5)\n\
             for week, n in zip(weeks, (12, 5)):\n\
             \x20   os.makedirs(f'{root}/archives/{week}', exist_ok=True)\n\
             \x20   os.makedirs(f'{root}/data_{week}', exist_ok=True)\n\
             \x20   with tarfile.open(f'{root}/archives/{week}/batch-{week}.tar', 'w') as tf:\n\
             \x20       for i in range(n):\n\
             \x20           b = io.BytesIO(); Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(b, format='PNG')\n\
             \x20           ti = tarfile.TarInfo(f'media/{i:03}.png'); ti.size = len(b.getvalue()); tf.addfile(ti, io.BytesIO(b.getvalue()))\n\
             \x20   pq.write_table(pa.table({'archive_filename': [f'batch-{week}.tar'] * n, 'file_path_in_archive': [f'media/{i:03}.png' for i in range(n)]}), f'{root}/data_{week}/part-0.parquet')\n",
        )
        .arg(&files)
        .args([&this_week, &last_week])
        .status()
        .unwrap();
    assert!(st.success());
    let mut hub = gas_test_support::hub_server::Hub::default();
    for w in [&this_week, &last_week] {
        for rel in [
            format!("data_{w}/part-0.parquet"),
            format!("archives/{w}/batch-{w}.tar"),
        ] {
            hub.files
                .insert(rel.clone(), std::fs::read(files.join(&rel)).unwrap());
        }
    }
    let server = gas_test_support::hub_server::start(hub);
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
            .args([
                "d",
                "bench",
                "--image-model",
                "examples/image-detector",
                "--gasstation-only",
                "--debug",
                "--json",
                "--quiet",
                "--torch-threads",
                "1",
                "--cache-dir",
            ])
            .arg(t.path().join("cache"))
            .arg("--results-dir")
            .arg(t.path().join("results"))
            .args(extra)
            .env("HF_ENDPOINT", &server.endpoint)
            .env_remove("HF_TOKEN")
            .current_dir(root())
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (
            out.status.code(),
            v,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Not cached, no flag: nothing downloaded, the dataset skipped, the run evaluated nothing.
    let (code, v, err) = run(&[]);
    assert_eq!(code, Some(1), "{err}\n{v:#}");
    assert!(err.contains("--download-latest-gasstation-data"), "{err}");
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.path.contains("/resolve/")),
        "nothing may be downloaded without the flag"
    );

    // With the flag: this week's archive is downloaded and scored.
    let (code, v, err) = run(&["--download-latest-gasstation-data"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["per_dataset"][0]["name"], "gasstation-generated-images");
    assert_eq!(v["overall"]["n"], 12, "{v:#}");
    assert_eq!(
        server
            .downloads_of(&format!("archives/{this_week}/batch-{this_week}.tar"))
            .len(),
        1
    );
    assert!(
        server
            .downloads_of(&format!("archives/{last_week}/batch-{last_week}.tar"))
            .is_empty()
    );

    // Cached now: the run reads it without the flag and without downloading again.
    let (code, v, err) = run(&[]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["overall"]["n"], 12, "{v:#}");
    assert_eq!(
        server
            .downloads_of(&format!("archives/{this_week}/batch-{this_week}.tar"))
            .len(),
        1
    );

    // `d datasets verify` sees this week cached and last week not; `download --num-weeks 2`
    // fetches it; then a run with --num-weeks 2 reads last week's 5 as well, from the cache.
    let datasets = |action: &str| {
        Command::new(env!("CARGO_BIN_EXE_gascli"))
            .args(["d", "datasets", action, "--modality", "image", "--debug"])
            .args([
                "--gasstation-only",
                "--num-weeks",
                "2",
                "--json",
                "--cache-dir",
            ])
            .arg(t.path().join("cache"))
            .env("HF_ENDPOINT", &server.endpoint)
            .env_remove("HF_TOKEN")
            .output()
            .unwrap()
    };
    let verify = datasets("verify");
    assert_eq!(
        verify.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let download = datasets("download");
    assert_eq!(
        download.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&download.stderr)
    );
    assert_eq!(
        server
            .downloads_of(&format!("archives/{last_week}/batch-{last_week}.tar"))
            .len(),
        1
    );
    let verify = datasets("verify");
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let (code, v, err) = run(&["--num-weeks", "2"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["overall"]["n"], 17, "{v:#}");
}
