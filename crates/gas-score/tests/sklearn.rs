//! Cross-check of MCC, Brier and cross-entropy against scikit-learn on hundreds of random
//! cases (weighted and unweighted) plus degenerate ones. Needs the project venv (see README):
//! fails when `CI` is set and the venv is missing, skips with a message otherwise.

use std::io::Write;
use std::process::{Command, Stdio};

use gas_score::{Label, Prediction, binary_metrics};
use gas_test_support::venv_python;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Case {
    y: Vec<u8>,
    p: Vec<f64>,
    w: Option<Vec<f64>>,
}

fn cases() -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(34);
    let mut out = Vec::new();
    for i in 0..400 {
        let n = rng.random_range(1..80);
        let y: Vec<u8> = (0..n).map(|_| u8::from(rng.random_bool(0.5))).collect();
        let p: Vec<f64> = (0..n)
            .map(|k| match i % 4 {
                // informative model
                0 => (0.25 + 0.5 * f64::from(y[k]) + rng.random_range(-0.3..0.3)).clamp(0.0, 1.0),
                // coarse probabilities: many ties at exactly 0.5, 0 and 1
                1 => f64::from(rng.random_range(0..=4u8)) / 4.0,
                _ => rng.random::<f64>(),
            })
            .collect();
        let w = (i % 2 == 1).then(|| (0..n).map(|_| rng.random_range(0.0..5.0)).collect());
        out.push(Case { y, p, w });
    }
    // degenerate: one class only, constant predictions, all right, all wrong
    out.push(Case {
        y: vec![0; 10],
        p: vec![0.3; 10],
        w: None,
    });
    out.push(Case {
        y: vec![1; 7],
        p: vec![0.9, 0.1, 0.6, 0.7, 0.2, 0.95, 0.5],
        w: None,
    });
    out.push(Case {
        y: vec![0, 1, 0, 1, 1],
        p: vec![0.5; 5],
        w: None,
    });
    out.push(Case {
        y: vec![0, 1, 0, 1],
        p: vec![0.0, 1.0, 0.0, 1.0],
        w: Some(vec![1.0, 2.0, 3.0, 4.0]),
    });
    out.push(Case {
        y: vec![0, 1, 0, 1],
        p: vec![1.0, 0.0, 1.0, 0.0],
        w: None,
    });
    out.push(Case {
        y: vec![1],
        p: vec![0.7],
        w: None,
    });
    out
}

#[test]
fn metrics_match_scikit_learn() {
    let Some(py) = venv_python(&["sklearn"]) else {
        return;
    };
    let cases = cases();
    let json = serde_json::json!({
        "cases": cases.iter().map(|c| serde_json::json!({"y": c.y, "p": c.p, "w": c.w})).collect::<Vec<_>>()
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sklearn_reference.py");
    let mut child = Command::new(py)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "reference script failed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), cases.len());
    for (i, (c, r)) in cases.iter().zip(results).enumerate() {
        let preds: Vec<Prediction> =
            c.y.iter()
                .zip(&c.p)
                .enumerate()
                .map(|(k, (&y, &p))| Prediction {
                    weight: c.w.as_ref().map_or(1.0, |w| w[k]),
                    ..Prediction::new(
                        if y == 1 {
                            Label::Synthetic
                        } else {
                            Label::Real
                        },
                        p,
                    )
                })
                .collect();
        let m = binary_metrics(&preds);
        let (mcc, brier, ll) = (
            r["mcc"].as_f64().unwrap(),
            r["brier"].as_f64().unwrap(),
            r["log_loss"].as_f64().unwrap(),
        );
        assert!(
            (m.mcc.unwrap() - mcc).abs() < 1e-9,
            "case {i}: mcc {} vs sklearn {mcc}",
            m.mcc.unwrap()
        );
        assert!(
            (m.brier - brier).abs() < 1e-9,
            "case {i}: brier {} vs sklearn {brier}",
            m.brier
        );
        assert!(
            (m.cross_entropy - ll).abs() < 1e-9,
            "case {i}: ce {} vs sklearn {ll}",
            m.cross_entropy
        );
    }
}
