//! `gas_score::percentile` against numpy's `np.percentile` (the network's p95 of the robustness
//! pass) on random vectors of many sizes, with ties and negative values. Needs the venv's numpy:
//! fails when `CI` is set and it is missing, skips otherwise.

use std::io::Write;
use std::process::{Command, Stdio};

use gas_test_support::venv_python;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn percentile_matches_numpy() {
    let Some(py) = venv_python(&["numpy"]) else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(95);
    let mut cases: Vec<(Vec<f64>, f64)> = Vec::new();
    for i in 0..300 {
        let n = 1 + i % 57;
        let v: Vec<f64> = (0..n)
            .map(|_| {
                if rng.random_bool(0.2) {
                    0.25 // ties
                } else {
                    rng.random_range(-1.0..1.0)
                }
            })
            .collect();
        let q = [0.0, 5.0, 50.0, 95.0, 99.9, 100.0][i % 6];
        cases.push((v, q));
    }
    let input: String = cases
        .iter()
        .map(|(v, q)| {
            let xs: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
            format!("{q} {}\n", xs.join(" "))
        })
        .collect();
    let mut child = Command::new(&py)
        .args([
            "-c",
            "import sys, numpy as np\nfor line in sys.stdin:\n    q, *v = map(float, line.split())\n    print(repr(float(np.percentile(np.array(v), q))))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let want: Vec<f64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(want.len(), cases.len());
    for ((v, q), w) in cases.iter().zip(want) {
        let got = gas_score::percentile(v, *q).unwrap();
        assert!(
            (got - w).abs() <= 1e-12,
            "q={q} v={v:?}: {got} vs numpy {w}"
        );
    }
    assert_eq!(gas_score::percentile(&[], 95.0), None);
}
