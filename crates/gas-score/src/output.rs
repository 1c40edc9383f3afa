//! How the network turns one sample's model output into probabilities and a call.
//!
//! The network's benchmark receives the model's logits as a float32 array, takes the row of one
//! sample, flattens it and applies numpy arithmetic to it (bench.md, "Labels and model outputs").
//! Everything below happens in float32, exactly as numpy 2 does it on an x86-64 CPU with AVX2+FMA
//! or AVX-512 (the network's servers):
//!
//! - 1 value `x`: `p = 1 / (1 + exp(−x))`; under numpy 2's promotion rules (NEP 50) the Python
//!   float constants take the scalar's float32 type, so every step rounds to float32; `p` is then
//!   widened to float64. Call: synthetic iff `p > 0.5`.
//! - 2 or more values: `e = exp(x − max(x))`, `p = e / sum(e)` (float32; numpy's reduction adds
//!   pairwise summation: left to right under 8 values). 2 values: call = argmax (first maximum on ties);
//!   3 values: real iff argmax is 0, else synthetic (synthetic and semisynthetic conflated);
//!   4 or more: synthetic iff `p[0] > 0.5` (the network's rule as written, kept as is).
//! - The binary probability its metrics use ([`NetworkOutput::p_synthetic`]): 3 values `1 − p[0]`
//!   (in float64), 2 values `p[1]`, otherwise `p[0]`.
//!
//! `exp` is numpy's own float32 kernel (Cody–Waite range reduction, a P5/Q2 rational
//! approximation, fused multiply-adds, scaling by `2^k`), not the C library's `expf`, which
//! rounds differently in the last bit for about one input in five. Results whose magnitude is
//! below float32's smallest normal (probabilities under 1.2e-38) are rounded once, as the AVX-512
//! kernel does; the AVX2 kernel may differ there by one unit in the last place.
//!
//! A non-finite logit is refused ([`OutputError::NonFinite`]): the network would carry NaN
//! probabilities into its metrics; gascli counts the sample as failed and says why.

use serde::{Deserialize, Serialize};

/// The network's reading of one sample's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkOutput {
    /// The probabilities the network records for the sample: one sigmoid for 1 value, the
    /// softmax otherwise (float32 values widened to float64).
    pub probs: Vec<f64>,
    /// The network's call: 0 = real, 1 = synthetic (AI-generated).
    pub predicted: u8,
}

impl NetworkOutput {
    /// The probability of "synthetic" the network's metrics (Brier, cross-entropy) use.
    pub fn p_synthetic(&self) -> f64 {
        binary_probability(&self.probs)
    }
}

/// The binary probability the network's metrics take from a sample's probabilities:
/// 3 values `1 − p[0]`, 2 values `p[1]`, any other count `p[0]` (0.5 for none).
pub fn binary_probability(probs: &[f64]) -> f64 {
    match probs.len() {
        0 => 0.5,
        3 => 1.0 - probs[0],
        2 => probs[1],
        _ => probs[0],
    }
}

/// Why a sample's output cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutputError {
    #[error("the model returned no value for this sample (expected 1, 2 or 3 logits)")]
    Empty,
    #[error("logit {index} is {value} (expected finite logits)")]
    NonFinite { index: usize, value: f32 },
}

/// The network's probabilities and call for one sample's logits (see the module docs).
pub fn network_output(logits: &[f32]) -> Result<NetworkOutput, OutputError> {
    if logits.is_empty() {
        return Err(OutputError::Empty);
    }
    if let Some((index, &value)) = logits.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(OutputError::NonFinite { index, value });
    }
    if let [x] = logits {
        let p = 1.0f32 / (1.0f32 + exp_f32(-x));
        return Ok(NetworkOutput {
            probs: vec![f64::from(p)],
            predicted: u8::from(p > 0.5),
        });
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|&x| exp_f32(x - max)).collect();
    let sum = pairwise_sum(&e);
    let p: Vec<f32> = e.iter().map(|&v| v / sum).collect();
    let argmax = p
        .iter()
        .enumerate()
        .fold(0, |best, (i, &v)| if v > p[best] { i } else { best });
    let predicted = match p.len() {
        2 => u8::from(argmax == 1),
        3 => u8::from(argmax != 0),
        _ => u8::from(p[0] > 0.5),
    };
    Ok(NetworkOutput {
        probs: p.into_iter().map(f64::from).collect(),
        predicted,
    })
}

/// numpy's pairwise summation of float32 values (plain loop under 8 values, 8 accumulators
/// up to 128, halves above).
fn pairwise_sum(a: &[f32]) -> f32 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0f32;
        for &v in a {
            res += v;
        }
        res
    } else if n <= 128 {
        let mut r: [f32; 8] = a[..8].try_into().expect("8 values");
        let mut i = 8;
        while i + 8 <= n {
            for (k, acc) in r.iter_mut().enumerate() {
                *acc += a[i + k];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[i..] {
            res += v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

// numpy's float32 exp constants (npy_simd_data.h), as bit patterns of the float literals.
const LOG2E: f32 = f32::from_bits(0x3FB8_AA3B);
const CODY_WAITE_HIGH: f32 = f32::from_bits(0xBF31_7200);
const CODY_WAITE_LOW: f32 = f32::from_bits(0xB5BF_BE8E);
const P: [f32; 6] = [
    f32::from_bits(0x3F80_0000),
    f32::from_bits(0x3F39_CBD5),
    f32::from_bits(0x3E7D_4C58),
    f32::from_bits(0x3D51_7D8C),
    f32::from_bits(0x3BDD_7159),
    f32::from_bits(0x3A05_3DD8),
];
const Q: [f32; 3] = [
    f32::from_bits(0x3F80_0000),
    f32::from_bits(0xBE8C_6857),
    f32::from_bits(0x3CB0_E832),
];
/// At or above: +inf. At or below: 0.
const EXP_MAX: f32 = f32::from_bits(0x42B1_7218);
const EXP_MIN: f32 = f32::from_bits(0xC2CF_F1B5);
/// 1.5 · 2^23: adding and subtracting it rounds a float32 to the nearest integer (ties to even).
const RINT_MAGIC: f32 = 12_582_912.0;

/// numpy's float32 `exp` on x86-64 (AVX2+FMA / AVX-512F kernel), for one value.
pub fn exp_f32(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x >= EXP_MAX {
        return f32::INFINITY;
    }
    if x <= EXP_MIN {
        return 0.0;
    }
    let k = (x * LOG2E + RINT_MAGIC) - RINT_MAGIC;
    let y = k.mul_add(CODY_WAITE_HIGH, x);
    let y = k.mul_add(CODY_WAITE_LOW, y);
    let mut num = P[5].mul_add(y, P[4]);
    for c in [P[3], P[2], P[1], P[0]] {
        num = num.mul_add(y, c);
    }
    let den = Q[2].mul_add(y, Q[1]).mul_add(y, Q[0]);
    let poly = num / den;
    // poly · 2^k, rounded once (exact in f64, then one rounding to f32)
    (f64::from(poly) * 2f64.powi(k as i32)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_class_call_follows_argmax_not_half() {
        // p_real ≈ 0.40 < 0.5, yet argmax is class 0: the network calls it real
        let o = network_output(&[0.3, 0.0, 0.0]).unwrap();
        assert_eq!(o.predicted, 0);
        assert!(o.probs[0] < 0.5);
        assert!(o.p_synthetic() > 0.5);
        let o = network_output(&[0.0, 0.3, 0.0]).unwrap();
        assert_eq!(o.predicted, 1);
    }

    #[test]
    fn metrics_use_the_network_call() {
        use crate::{Label, Prediction, binary_metrics};
        // a real image whose 3-class output has p_real 0.40 but argmax 0: a true negative
        let o = network_output(&[0.3, 0.0, 0.0]).unwrap();
        let p = Prediction {
            predicted: Some(o.predicted),
            ..Prediction::new(Label::Real, o.p_synthetic())
        };
        let m = binary_metrics(std::slice::from_ref(&p));
        assert_eq!((m.confusion.tn, m.confusion.fp), (1.0, 0.0));
        let without = Prediction {
            predicted: None,
            ..p
        };
        assert_eq!(binary_metrics(&[without]).confusion.fp, 1.0);
    }

    #[test]
    fn ties_take_the_first_maximum() {
        assert_eq!(network_output(&[1.0, 1.0]).unwrap().predicted, 0);
        assert_eq!(network_output(&[1.0, 1.0, 1.0]).unwrap().predicted, 0);
    }

    #[test]
    fn one_value_is_a_sigmoid() {
        let o = network_output(&[0.0]).unwrap();
        assert_eq!(o.probs, vec![0.5]);
        assert_eq!(o.predicted, 0);
        let o = network_output(&[2.0]).unwrap();
        assert!((o.probs[0] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-6);
        assert_eq!(o.predicted, 1);
        assert_eq!(o.p_synthetic(), o.probs[0]);
    }

    #[test]
    fn refuses_non_finite_and_empty() {
        assert_eq!(network_output(&[]), Err(OutputError::Empty));
        assert!(matches!(
            network_output(&[0.0, f32::NAN]),
            Err(OutputError::NonFinite { index: 1, .. })
        ));
        assert!(network_output(&[f32::INFINITY]).is_err());
    }

    #[test]
    fn exp_is_close_to_libm_and_saturates() {
        // normal results only: below e^-87 the results are subnormal, with fewer significant bits
        for i in -1740..1770 {
            let x = i as f32 * 0.05;
            let a = exp_f32(x) as f64;
            let b = (x as f64).exp();
            assert!((a - b).abs() <= b * 4e-7, "{x}: {a} vs {b}");
        }
        assert_eq!(exp_f32(100.0), f32::INFINITY);
        assert_eq!(exp_f32(-120.0), 0.0);
    }
}
