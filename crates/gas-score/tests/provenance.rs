//! Provenance weighting (holdout / GAS-Station / public shares, legacy holdout weight) against
//! our Python reference of the network's weighted metrics (python/reference/weighted_score.py)
//! on random runs: every metric within 1e-9. Needs the project venv (numpy): skipped without it,
//! fails when `CI` is set.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use gas_score::{Label, Prediction, Provenance, Weighting, weighted_score};
use gas_test_support::venv_python;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const NAMES: [&str; 6] = [
    "pub-faces",
    "Public-Two",
    "real-image-holdout-1a2b3c4d",
    "synthetic-image-holdout-0f0f0f0f",
    "gasstation-images",
    "GASStation-video-week",
];

struct Case {
    preds: Vec<Prediction>,
    holdout_share: Option<f64>,
    gasstation_share: Option<f64>,
    holdout_weight: f64,
}

fn cases() -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(34);
    (0..400)
        .map(|i| {
            let n = rng.random_range(1..90);
            // some runs lack a class, so renormalisation over present classes is exercised
            let pool = rng.random_range(1..=NAMES.len());
            let preds = (0..n)
                .map(|_| {
                    let label = if rng.random_bool(0.5) {
                        Label::Real
                    } else {
                        Label::Synthetic
                    };
                    let p = match rng.random_range(0..4) {
                        0 => f64::from(rng.random_range(0..=4u8)) / 4.0,
                        1 => (0.3 + 0.4 * f64::from(label.binary()) + rng.random_range(-0.3..0.3))
                            .clamp(0.0, 1.0),
                        _ => rng.random::<f64>(),
                    };
                    let mut pr = Prediction::new(label, p);
                    pr.dataset = Some(NAMES[rng.random_range(0..pool)].to_string());
                    pr
                })
                .collect();
            let (hs, gs, hw) = match i % 5 {
                0 => (None, None, 1.0),
                1 => (Some(rng.random_range(0.0..0.6)), None, 1.0),
                2 => (Some(0.3), Some(0.2), 4.0),
                3 => (None, Some(0.5), 1.0),
                _ => (None, None, [0.0, 0.5, 2.0, 3.0][rng.random_range(0..4)]),
            };
            Case {
                preds,
                holdout_share: hs,
                gasstation_share: gs,
                holdout_weight: hw,
            }
        })
        .collect()
}

#[test]
fn weighted_metrics_match_the_reference() {
    let Some(py) = venv_python(&["numpy"]) else {
        return;
    };
    let cases = cases();
    let input = json!({
        "cases": cases.iter().map(|c| json!({
            "dataset": c.preds.iter().map(|p| p.dataset.clone()).collect::<Vec<_>>(),
            "label": c.preds.iter().map(|p| p.label.binary()).collect::<Vec<_>>(),
            "probs": c.preds.iter().map(|p| [1.0 - p.p_synthetic, p.p_synthetic]).collect::<Vec<_>>(),
            "holdout_share": c.holdout_share,
            "gasstation_share": c.gasstation_share,
            "holdout_weight": c.holdout_weight,
        })).collect::<Vec<_>>()
    });
    let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .join("python/reference/weighted_score.py");
    let mut child = Command::new(&py)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let want: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = want["results"].as_array().unwrap();
    assert_eq!(want.len(), cases.len());
    let mut worst = 0.0f64;
    for (i, (c, w)) in cases.iter().zip(want).enumerate() {
        let weighting =
            Weighting::from_flags(c.holdout_share, c.gasstation_share, c.holdout_weight).unwrap();
        let s = weighted_score(&c.preds, &weighting);
        let m = &s.overall;
        for (name, got) in [
            ("benchmark_score", m.accuracy),
            ("binary_mcc", m.mcc.unwrap()),
            ("binary_brier", m.brier),
            ("binary_cross_entropy", m.cross_entropy),
            ("sn34_score", m.sn34_score.unwrap()),
        ] {
            let exp = w[name].as_f64().unwrap();
            worst = worst.max((got - exp).abs());
            assert!(
                (got - exp).abs() <= 1e-9,
                "case {i} {name}: ours {got}, reference {exp} ({weighting:?})"
            );
        }
        if let Some(pw) = w["provenance_weights"].as_object() {
            assert_eq!(pw.len(), s.provenance_weights.len(), "case {i}");
            for (k, v) in pw {
                let class = Provenance::ALL
                    .into_iter()
                    .find(|c| c.as_str() == k)
                    .unwrap();
                let got = s.provenance_weights[&class];
                assert!((got - v.as_f64().unwrap()).abs() <= 1e-12, "case {i} {k}");
            }
            // shares give a mean weight of 1
            let total: f64 = c
                .preds
                .iter()
                .map(|p| s.provenance_weights[&Provenance::of(p.dataset.as_deref().unwrap())])
                .sum();
            assert!((total - c.preds.len() as f64).abs() < 1e-9, "case {i}");
        }
    }
    eprintln!("largest difference from the reference: {worst:e}");
}

#[test]
fn share_flags_are_validated_as_the_network_does() {
    assert!(Weighting::from_flags(Some(0.7), Some(0.4), 1.0).is_err());
    assert!(Weighting::from_flags(Some(-0.1), None, 1.0).is_err());
    assert_eq!(
        Weighting::from_flags(None, None, 1.0).unwrap(),
        Weighting::None
    );
    // shares supersede the legacy weight
    assert!(matches!(
        Weighting::from_flags(Some(0.2), None, 3.0).unwrap(),
        Weighting::Shares(_)
    ));
    assert!(matches!(
        Weighting::from_flags(None, None, 3.0).unwrap(),
        Weighting::HoldoutWeight { .. }
    ));
}
