//! `gascli d score` end to end: values agree with the library, bad rows name their line,
//! `--json` is one object.

use std::process::Command;

fn gascli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gascli"))
}

#[test]
fn scores_a_csv_like_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("p.csv");
    std::fs::write(
        &csv,
        "dataset,sample_id,label,p_synthetic\n\
         a,1,real,0.1\na,2,synthetic,0.8\na,3,semisynthetic,0.4\nb,4,real,0.3\nb,5,real,0.6\n",
    )
    .unwrap();
    let out = gascli()
        .args(["d", "score", "--json"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lib = gas_score::score_report(&gas_score::read_predictions_csv(&csv).unwrap());
    assert_eq!(v["overall"]["n"], 5);
    let sn34 = v["overall"]["sn34_score"].as_f64().unwrap();
    assert!((sn34 - lib.overall.sn34_score.unwrap()).abs() < 1e-12);
    assert!((v["overall"]["accuracy"].as_f64().unwrap() - 0.6).abs() < 1e-12);
    assert!(
        v["per_dataset"]["b"]["sn34_score"].is_null(),
        "one-class dataset has no sn34"
    );
    assert!(v["per_dataset"]["a"]["sn34_score"].is_number());

    let human = gascli().args(["d", "score"]).arg(&csv).output().unwrap();
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(
        text.contains("OVERALL") && text.contains(&format!("{sn34:.4}")),
        "{text}"
    );
}

#[test]
fn bad_row_names_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "label,p_synthetic\nreal,0.2\nsynthetic,abc\n").unwrap();
    let out = gascli().args(["d", "score"]).arg(&csv).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.csv:3") && err.contains("p_synthetic"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing half-written on stdout");
}

/// `--holdout-share` / `--gasstation-share` re-weight a predictions file by provenance (dataset
/// names) as the library's `weighted_score` does; the plain score is different.
#[test]
fn reweights_by_provenance_like_the_library() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("p.csv");
    let mut text = String::from("dataset,sample_id,label,p_synthetic\n");
    for (i, ds) in ["pub-a", "real-image-holdout-0a1b2c3d", "gasstation-week"]
        .iter()
        .cycle()
        .take(60)
        .enumerate()
    {
        let label = ["real", "synthetic"][rng.random_range(0..2)];
        text.push_str(&format!("{ds},{i},{label},{}\n", rng.random::<f64>()));
    }
    std::fs::write(&csv, text).unwrap();
    let preds = gas_score::read_predictions_csv(&csv).unwrap();
    let plain = gas_score::score_report(&preds).overall;
    for (flags, weighting) in [
        (
            vec!["--holdout-share", "0.3", "--gasstation-share", "0.2"],
            gas_score::Weighting::from_flags(Some(0.3), Some(0.2), 1.0).unwrap(),
        ),
        (
            vec!["--holdout-weight", "3"],
            gas_score::Weighting::from_flags(None, None, 3.0).unwrap(),
        ),
    ] {
        let out = gascli()
            .args(["d", "score", "--json"])
            .args(&flags)
            .arg(&csv)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let lib = gas_score::weighted_score(&preds, &weighting).overall;
        let acc = v["overall"]["accuracy"].as_f64().unwrap();
        assert!((acc - lib.accuracy).abs() < 1e-12, "{flags:?}");
        assert!(
            (acc - plain.accuracy).abs() > 1e-9,
            "{flags:?}: weighting changed nothing"
        );
        let sn34 = v["overall"]["sn34_score"].as_f64().unwrap();
        assert!((sn34 - lib.sn34_score.unwrap()).abs() < 1e-12, "{flags:?}");
        assert!(v["provenance"]["provenance_weights"].is_object(), "{v:#}");
    }
    // shares must be valid
    let bad = gascli()
        .args([
            "d",
            "score",
            "--holdout-share",
            "0.8",
            "--gasstation-share",
            "0.5",
        ])
        .arg(&csv)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("sum to <= 1"));
}
