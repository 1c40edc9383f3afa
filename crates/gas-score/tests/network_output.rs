//! `network_output` against the Python reference (`python/reference/network_output.py`, numpy at
//! the network's version) on generated logits: 1 to 330 values per sample, small and large
//! magnitudes, ties, near-ties, values that underflow the softmax. Probabilities must agree to
//! the bit and calls exactly. Needs the project venv: fails when `CI` is set and it is missing,
//! skips with a message otherwise.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use gas_score::network_output;
use gas_test_support::venv_python;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn cases() -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(10);
    let mut out: Vec<Vec<f32>> = vec![
        vec![0.3, 0.0, 0.0],
        vec![0.0, 0.0],
        vec![0.0],
        vec![1.0, 1.0, 1.0],
        vec![-0.0],
        vec![88.0],
        vec![-88.0],
        vec![104.0],
        vec![-104.0],
        vec![0.0, -90.0],
        vec![0.0, -103.0, -110.0],
        vec![f32::MAX, 0.0],
        vec![f32::MIN_POSITIVE, -f32::MIN_POSITIVE],
        vec![1e-8, 0.0, -1e-8, 2e-8],
    ];
    for i in 0..6000 {
        let n = match i % 9 {
            6 => 8 + i % 13,
            7 => 130 + i % 200,
            8 => 1 + i % 3,
            k => k + 1,
        };
        let scale: f32 = match i % 5 {
            0 => 0.01,
            1 => 1.0,
            2 => 5.0,
            3 => 30.0,
            _ => 120.0,
        };
        let mut v: Vec<f32> = (0..n)
            .map(|_| rng.random_range(-1.0f32..1.0) * scale)
            .collect();
        if i % 7 == 0 && n > 1 {
            // near-tie: neighbouring floats
            v[1] = f32::from_bits(v[0].to_bits().wrapping_add(rng.random_range(0..3)));
        }
        out.push(v);
    }
    out
}

#[test]
fn matches_numpy_reference_to_the_bit() {
    let Some(py) = venv_python(&["numpy"]) else {
        return;
    };
    let script = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../python/reference/network_output.py"
    ));
    let cases = cases();
    let mut input = String::new();
    for c in &cases {
        let words: Vec<String> = c.iter().map(|x| format!("{:08x}", x.to_bits())).collect();
        input.push_str(&words.join(" "));
        input.push('\n');
    }
    let mut child = Command::new(&py)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the reference");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "reference failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), cases.len());
    let f64_of = |w: &str| f64::from_bits(u64::from_str_radix(w, 16).unwrap());
    let mut mismatches = Vec::new();
    for (c, line) in cases.iter().zip(&lines) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let call: u8 = w[0].parse().unwrap();
        let bin = f64_of(w[1]);
        let probs: Vec<f64> = w[2..].iter().map(|s| f64_of(s)).collect();
        match network_output(c) {
            Ok(o) => {
                let same = o.predicted == call
                    && o.probs
                        .iter()
                        .map(|p| p.to_bits())
                        .eq(probs.iter().map(|p| p.to_bits()))
                    && o.p_synthetic().to_bits() == bin.to_bits();
                if !same {
                    mismatches.push(format!(
                        "{c:?}: ours {} {:?} {}, numpy {call} {probs:?} {bin}",
                        o.predicted,
                        o.probs,
                        o.p_synthetic()
                    ));
                }
            }
            Err(e) => mismatches.push(format!("{c:?}: refused ({e}), numpy {call} {probs:?}")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ, first: {:#?}",
        mismatches.len(),
        cases.len(),
        &mismatches[..mismatches.len().min(5)]
    );
}
