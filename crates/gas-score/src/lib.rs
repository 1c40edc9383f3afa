//! sn34 scoring for GAS detectors: labels, probabilities, MCC, Brier, cross-entropy, the sn34
//! normalisation, per-dataset and multiclass views, and the predictions CSV format.
//!
//! Owns: every formula of `../shared/spec/scoring.md` and the predictions file that
//! `gascli d bench` writes and `gascli d score` reads. Must not touch: media, models, the network
//! or any I/O other than the predictions CSV (the runner and the CLI do the rest).
//!
//! Conventions (documented choices where the spec leaves room):
//! - Binary prediction: the network's call when the sample carries one ([`Prediction::predicted`],
//!   from [`network_output`]: e.g. a 3-class model is "real" whenever argmax is 0); otherwise
//!   (a predictions CSV without a `predicted` column) synthetic iff `p_synthetic > 0.5`.
//! - Probabilities are clipped to `[1e-7, 1 − 1e-7]` for Brier and cross-entropy.
//! - Empty input: accuracy 0, MCC 0, Brier 0.25 (the spec's baseline), cross-entropy ln 2 (the
//!   cross-entropy of always guessing 0.5), so sn34 is at its floor.
//! - MCC uses the confusion-matrix (covariance) form scikit-learn uses, which is Gorodkin's R_K for
//!   K classes and plain MCC for two; 0 when its denominator is 0.
//! - Per dataset: MCC, mcc_norm and sn34 are reported only when the dataset holds both binary
//!   classes (`None` otherwise: a one-class dataset has no defined MCC); accuracy, Brier and
//!   cross-entropy are always reported.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod csvio;
pub mod output;
mod provenance;
pub use csvio::{PredictionRow, predictions_csv, read_predictions_csv, write_predictions_csv};
pub use output::{NetworkOutput, OutputError, binary_probability, network_output};
pub use provenance::{
    Provenance, ScoreComposition, WeightedScore, Weighting, provenance_weights, weighted_score,
};

/// Probability clip used by Brier and cross-entropy.
pub const EPS: f64 = 1e-7;
/// MCC normalisation exponent (α).
pub const ALPHA: f64 = 1.2;
/// Brier normalisation exponent (β).
pub const BETA: f64 = 1.8;
/// Brier score of always guessing 0.5 in the binary view.
pub const BINARY_BRIER_BASELINE: f64 = 0.25;
/// Default weight of the augmented pass in `sn34_final`.
pub const DEFAULT_ROBUSTNESS_WEIGHT: f64 = 0.2;

/// Errors of this crate (only the CSV reader/writer can fail).
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Header { path: PathBuf, message: String },
    #[error("{path}:{line}: column `{column}`: {message}")]
    Row {
        path: PathBuf,
        line: u64,
        column: String,
        message: String,
    },
    #[error("{path}: malformed CSV near line {line}: {message}")]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// Ground-truth label of a sample. `semisynthetic` (inpainting, face swaps, …) is synthetic in the
/// binary view and its own class (2) in the multiclass view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Real,
    Synthetic,
    Semisynthetic,
}

impl Label {
    pub const ALL: [Label; 3] = [Label::Real, Label::Synthetic, Label::Semisynthetic];

    /// 0 for real, 1 for synthetic and semisynthetic.
    pub fn binary(self) -> u8 {
        match self {
            Label::Real => 0,
            Label::Synthetic | Label::Semisynthetic => 1,
        }
    }

    /// Class index in the multiclass view: real 0, synthetic 1, semisynthetic 2.
    pub fn class_index(self) -> usize {
        match self {
            Label::Real => 0,
            Label::Synthetic => 1,
            Label::Semisynthetic => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Real => "real",
            Label::Synthetic => "synthetic",
            Label::Semisynthetic => "semisynthetic",
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of [`Label::from_str`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown label `{0}`: expected real, synthetic, semisynthetic, or 0/1/2")]
pub struct ParseLabelError(pub String);

impl FromStr for Label {
    type Err = ParseLabelError;
    /// Accepts `real|synthetic|semisynthetic` (any case, surrounding spaces ignored) and the class
    /// indices `0|1|2`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "real" | "0" => Ok(Label::Real),
            "synthetic" | "1" => Ok(Label::Synthetic),
            "semisynthetic" | "2" => Ok(Label::Semisynthetic),
            _ => Err(ParseLabelError(s.to_string())),
        }
    }
}

/// One scored sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub label: Label,
    /// Probability of "not real" (see [`p_synthetic`]).
    pub p_synthetic: f64,
    /// Sample weight (1 when unweighted).
    pub weight: f64,
    pub dataset: Option<String>,
    /// The full softmax when the model has ≥ 3 classes (multiclass view), else `None`.
    pub probs: Option<Vec<f64>>,
    /// The network's call (0 real, 1 synthetic) when known; `None`: `p_synthetic > 0.5`.
    #[serde(default)]
    pub predicted: Option<u8>,
}

impl Prediction {
    pub fn new(label: Label, p_synthetic: f64) -> Self {
        Prediction {
            label,
            p_synthetic,
            weight: 1.0,
            dataset: None,
            probs: None,
            predicted: None,
        }
    }

    /// The binary call used by the confusion matrix and MCC.
    pub fn call(&self) -> u8 {
        self.predicted
            .unwrap_or_else(|| u8::from(self.p_synthetic > 0.5))
    }
}

/// Numerically stable softmax of one row of logits.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits
        .iter()
        .map(|&x| x as f64)
        .fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// `p[1]` for two classes; `1 − p[0]` (everything that is not real) for three or more.
pub fn p_synthetic(probs: &[f64]) -> f64 {
    match probs.len() {
        0 => 0.5,
        1 => 1.0 - probs[0],
        2 => probs[1],
        _ => 1.0 - probs[0],
    }
}

fn clip(p: f64) -> f64 {
    p.clamp(EPS, 1.0 - EPS)
}

/// Weighted confusion matrix `c[true][pred]` for `k` classes.
fn confusion(k: usize, items: impl Iterator<Item = (usize, usize, f64)>) -> Vec<Vec<f64>> {
    let mut c = vec![vec![0.0; k]; k];
    for (t, p, w) in items {
        c[t][p] += w;
    }
    c
}

/// MCC of a (weighted) confusion matrix `c[true][pred]` in scikit-learn's covariance form:
/// plain MCC for 2 classes, Gorodkin's R_K for more; 0 when the denominator is 0.
pub fn mcc_from_confusion(c: &[Vec<f64>]) -> f64 {
    let k = c.len();
    let t_sum: Vec<f64> = (0..k).map(|i| c[i].iter().sum()).collect();
    let p_sum: Vec<f64> = (0..k).map(|j| (0..k).map(|i| c[i][j]).sum()).collect();
    let n_correct: f64 = (0..k).map(|i| c[i][i]).sum();
    let n: f64 = p_sum.iter().sum();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let cov_ytyp = n_correct * n - dot(&t_sum, &p_sum);
    let cov_ypyp = n * n - dot(&p_sum, &p_sum);
    let cov_ytyt = n * n - dot(&t_sum, &t_sum);
    let denom = cov_ytyt * cov_ypyp;
    if denom <= 0.0 || !denom.is_finite() {
        return 0.0;
    }
    (cov_ytyp / denom.sqrt()).clamp(-1.0, 1.0)
}

/// `clamp((MCC + 1) / 2, 0, 1) ^ α`.
pub fn mcc_norm(mcc: f64) -> f64 {
    ((mcc + 1.0) / 2.0).clamp(0.0, 1.0).powf(ALPHA)
}

/// `max(0, (B0 − Brier) / B0) ^ β` for a baseline `B0` (0.25 binary, (K−1)/K multiclass).
pub fn brier_norm(brier: f64, baseline: f64) -> f64 {
    ((baseline - brier) / baseline).max(0.0).powf(BETA)
}

/// `sqrt(max(1e-12, mcc_norm · brier_norm))`, clamped to [0, 1].
pub fn sn34_from_norms(mcc_norm: f64, brier_norm: f64) -> f64 {
    (mcc_norm * brier_norm).max(1e-12).sqrt().clamp(0.0, 1.0)
}

/// The binary sn34 score from a raw MCC and Brier.
pub fn sn34(mcc: f64, brier: f64) -> f64 {
    sn34_from_norms(mcc_norm(mcc), brier_norm(brier, BINARY_BRIER_BASELINE))
}

/// The `q`-th percentile of `values` as numpy's default (`linear` interpolation between the
/// two nearest ranks); `None` for no values.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = q / 100.0 * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

/// `sn34_final = (1 − w)·base + w·aug`.
pub fn blend_robustness(base: f64, aug: f64, w: f64) -> f64 {
    (1.0 - w) * base + w * aug
}

/// Weighted binary confusion matrix. Rows are the truth, columns the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Confusion {
    pub tn: f64,
    pub fp: f64,
    #[serde(rename = "fn")]
    pub fn_: f64,
    pub tp: f64,
}

/// Binary-view metrics. `mcc`, `mcc_norm` and `sn34_score` are `None` only in per-dataset views
/// of one-class datasets (see the crate docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinaryMetrics {
    pub n: u64,
    pub weight_sum: f64,
    pub n_real: u64,
    pub n_synthetic: u64,
    pub accuracy: f64,
    pub mcc: Option<f64>,
    pub brier: f64,
    pub cross_entropy: f64,
    pub mcc_norm: Option<f64>,
    pub brier_norm: f64,
    pub sn34_score: Option<f64>,
    pub confusion: Confusion,
}

/// One non-empty bin of a reliability (calibration) curve over `p_synthetic`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CalibrationBin {
    /// Bin index, `0..bins`; the bin covers `[index/bins, (index+1)/bins)` (the last one
    /// includes 1).
    pub index: usize,
    /// Mean predicted `p_synthetic` of the samples in the bin.
    pub mean_p: f64,
    /// Fraction of them that are synthetic or semisynthetic (the binary view).
    pub frac_synthetic: f64,
    pub n: u64,
}

/// Reliability bins of `(p_synthetic, label)` pairs: `bins` equal-width bins of the predicted
/// probability (NaN counts as 0.5, values are clamped to [0, 1]), empty bins left out.
pub fn calibration_bins(
    samples: impl IntoIterator<Item = (f64, Label)>,
    bins: usize,
) -> Vec<CalibrationBin> {
    let bins = bins.max(1);
    let mut sum_p = vec![0.0f64; bins];
    let mut sum_y = vec![0.0f64; bins];
    let mut cnt = vec![0u64; bins];
    for (p, label) in samples {
        let x = if p.is_nan() { 0.5 } else { p.clamp(0.0, 1.0) };
        let b = ((x * bins as f64) as usize).min(bins - 1);
        sum_p[b] += x;
        sum_y[b] += f64::from(label.binary());
        cnt[b] += 1;
    }
    (0..bins)
        .filter(|&b| cnt[b] > 0)
        .map(|b| CalibrationBin {
            index: b,
            mean_p: sum_p[b] / cnt[b] as f64,
            frac_synthetic: sum_y[b] / cnt[b] as f64,
            n: cnt[b],
        })
        .collect()
}

/// Binary metrics over all predictions (weighted by `Prediction::weight`).
pub fn binary_metrics(preds: &[Prediction]) -> BinaryMetrics {
    let mut conf = Confusion::default();
    let (mut wsum, mut brier, mut ce, mut correct) = (0.0, 0.0, 0.0, 0.0);
    let (mut n_real, mut n_syn) = (0u64, 0u64);
    for p in preds {
        let y = p.label.binary();
        let yhat = p.call();
        let w = p.weight;
        match (y, yhat) {
            (0, 0) => conf.tn += w,
            (0, _) => conf.fp += w,
            (_, 0) => conf.fn_ += w,
            _ => conf.tp += w,
        }
        if y == 0 {
            n_real += 1;
        } else {
            n_syn += 1;
        }
        let q = clip(p.p_synthetic);
        let yf = f64::from(y);
        wsum += w;
        brier += w * (q - yf).powi(2);
        ce += -w * (yf * q.ln() + (1.0 - yf) * (1.0 - q).ln());
        if y == yhat {
            correct += w;
        }
    }
    let (accuracy, brier, ce) = if wsum > 0.0 {
        (correct / wsum, brier / wsum, ce / wsum)
    } else {
        (0.0, BINARY_BRIER_BASELINE, std::f64::consts::LN_2)
    };
    let c = vec![vec![conf.tn, conf.fp], vec![conf.fn_, conf.tp]];
    let mcc = mcc_from_confusion(&c);
    let mn = mcc_norm(mcc);
    let bn = brier_norm(brier, BINARY_BRIER_BASELINE);
    BinaryMetrics {
        n: preds.len() as u64,
        weight_sum: wsum,
        n_real,
        n_synthetic: n_syn,
        accuracy,
        mcc: Some(mcc),
        brier,
        cross_entropy: ce,
        mcc_norm: Some(mn),
        brier_norm: bn,
        sn34_score: Some(sn34_from_norms(mn, bn)),
        confusion: conf,
    }
}

/// Multiclass-view metrics (num_classes ≥ 3): Gorodkin R_K, multiclass Brier with baseline
/// (K − 1)/K, same normalisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MulticlassMetrics {
    pub num_classes: usize,
    pub n: u64,
    pub accuracy: f64,
    pub mcc: f64,
    pub brier: f64,
    pub brier_baseline: f64,
    pub mcc_norm: f64,
    pub brier_norm: f64,
    pub sn34_score: f64,
    /// `confusion[true][pred]`, weighted.
    pub confusion: Vec<Vec<f64>>,
}

/// Multiclass metrics, or `None` when `num_classes < 3` or a prediction lacks its `probs`
/// (or has a different number of them).
pub fn multiclass_metrics(preds: &[Prediction], num_classes: usize) -> Option<MulticlassMetrics> {
    if num_classes < 3 {
        return None;
    }
    let k = num_classes;
    let mut rows = Vec::with_capacity(preds.len());
    for p in preds {
        let probs = p.probs.as_ref()?;
        if probs.len() != k {
            return None;
        }
        let t = p.label.class_index().min(k - 1);
        // argmax, first maximum wins (numpy's rule)
        let mut best = 0;
        for (i, &v) in probs.iter().enumerate() {
            if v > probs[best] {
                best = i;
            }
        }
        rows.push((t, best, p.weight, probs));
    }
    let c = confusion(k, rows.iter().map(|&(t, pr, w, _)| (t, pr, w)));
    let wsum: f64 = rows.iter().map(|r| r.2).sum();
    let baseline = (k as f64 - 1.0) / k as f64;
    let (accuracy, brier) = if wsum > 0.0 {
        let correct: f64 = rows.iter().filter(|r| r.0 == r.1).map(|r| r.2).sum();
        let b: f64 = rows
            .iter()
            .map(|&(t, _, w, probs)| {
                w * probs
                    .iter()
                    .enumerate()
                    .map(|(i, &q)| (q - f64::from(u8::from(i == t))).powi(2))
                    .sum::<f64>()
            })
            .sum();
        (correct / wsum, b / wsum)
    } else {
        (0.0, baseline)
    };
    let mcc = mcc_from_confusion(&c);
    let mn = mcc_norm(mcc);
    let bn = brier_norm(brier, baseline);
    Some(MulticlassMetrics {
        num_classes: k,
        n: preds.len() as u64,
        accuracy,
        mcc,
        brier,
        brier_baseline: baseline,
        mcc_norm: mn,
        brier_norm: bn,
        sn34_score: sn34_from_norms(mn, bn),
        confusion: c,
    })
}

/// Overall and per-dataset scores of a prediction set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreReport {
    pub overall: BinaryMetrics,
    /// Present when every prediction carries ≥ 3 class probabilities.
    pub multiclass: Option<MulticlassMetrics>,
    /// Keyed by dataset name (predictions without one go under `"(none)"`), sorted.
    pub per_dataset: BTreeMap<String, BinaryMetrics>,
}

/// Dataset key used for predictions without a dataset.
pub const NO_DATASET: &str = "(none)";

/// Binary metrics of one dataset: MCC, mcc_norm and sn34 are dropped when it lacks a class.
pub fn dataset_metrics(preds: &[Prediction]) -> BinaryMetrics {
    let mut m = binary_metrics(preds);
    if m.n_real == 0 || m.n_synthetic == 0 {
        m.mcc = None;
        m.mcc_norm = None;
        m.sn34_score = None;
    }
    m
}

/// Scores everything: overall binary view, multiclass view where it applies, per dataset.
pub fn score_report(preds: &[Prediction]) -> ScoreReport {
    let mut groups: BTreeMap<String, Vec<Prediction>> = BTreeMap::new();
    for p in preds {
        let key = p.dataset.clone().unwrap_or_else(|| NO_DATASET.to_string());
        groups.entry(key).or_default().push(p.clone());
    }
    let k = preds
        .first()
        .and_then(|p| p.probs.as_ref())
        .map_or(0, Vec::len);
    ScoreReport {
        overall: binary_metrics(preds),
        multiclass: multiclass_metrics(preds, k),
        per_dataset: groups
            .into_iter()
            .map(|(k, v)| (k, dataset_metrics(&v)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preds(v: &[(Label, f64)]) -> Vec<Prediction> {
        v.iter().map(|&(l, p)| Prediction::new(l, p)).collect()
    }

    #[test]
    fn perfect_confident_model_scores_one() {
        let p = preds(&[
            (Label::Real, 0.0),
            (Label::Synthetic, 1.0),
            (Label::Semisynthetic, 1.0),
        ]);
        let m = binary_metrics(&p);
        assert_eq!(m.accuracy, 1.0);
        assert_eq!(m.mcc, Some(1.0));
        assert!(m.sn34_score.unwrap() > 0.999_999, "{m:?}");
    }

    #[test]
    fn constant_half_guess_scores_floor() {
        let p = preds(&[
            (Label::Real, 0.5),
            (Label::Synthetic, 0.5),
            (Label::Real, 0.5),
        ]);
        let m = binary_metrics(&p);
        assert_eq!(m.mcc, Some(0.0));
        assert!((m.brier - 0.25).abs() < 1e-12);
        assert!((m.sn34_score.unwrap() - 1e-6).abs() < 1e-9);
    }

    #[test]
    fn inverted_model_scores_zero() {
        let p = preds(&[(Label::Real, 1.0), (Label::Synthetic, 0.0)]);
        let m = binary_metrics(&p);
        assert_eq!(m.mcc, Some(-1.0));
        assert!(m.sn34_score.unwrap() < 1e-5);
    }

    #[test]
    fn tie_at_half_is_real() {
        let m = binary_metrics(&preds(&[(Label::Real, 0.5)]));
        assert_eq!(m.confusion.tn, 1.0);
        assert_eq!(m.accuracy, 1.0);
    }

    #[test]
    fn empty_input_uses_baselines() {
        let m = binary_metrics(&[]);
        assert_eq!(m.n, 0);
        assert_eq!(m.brier, 0.25);
        assert_eq!(m.mcc, Some(0.0));
        assert!((m.cross_entropy - std::f64::consts::LN_2).abs() < 1e-15);
    }

    #[test]
    fn semisynthetic_counts_as_synthetic() {
        let m = binary_metrics(&preds(&[(Label::Semisynthetic, 0.9), (Label::Real, 0.1)]));
        assert_eq!(m.confusion.tp, 1.0);
        assert_eq!(m.n_synthetic, 1);
    }

    #[test]
    fn weights_change_the_result() {
        let mut p = preds(&[
            (Label::Real, 0.8),
            (Label::Synthetic, 0.9),
            (Label::Real, 0.1),
        ]);
        let a = binary_metrics(&p).accuracy;
        p[0].weight = 10.0;
        let b = binary_metrics(&p).accuracy;
        assert!((a - 2.0 / 3.0).abs() < 1e-12);
        assert!((b - 2.0 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn p_synthetic_rule() {
        assert_eq!(p_synthetic(&[0.3, 0.7]), 0.7);
        assert!((p_synthetic(&[0.2, 0.5, 0.3]) - 0.8).abs() < 1e-12);
        let s = softmax(&[0.0, 0.0]);
        assert_eq!(s, vec![0.5, 0.5]);
        let s = softmax(&[1000.0, 0.0]);
        assert!(s[0] > 0.999 && s[1].is_finite());
    }

    #[test]
    fn per_dataset_drops_mcc_for_one_class() {
        let mut p = preds(&[
            (Label::Real, 0.2),
            (Label::Synthetic, 0.7),
            (Label::Real, 0.4),
        ]);
        p[0].dataset = Some("a".into());
        p[1].dataset = Some("b".into());
        p[2].dataset = Some("b".into());
        let r = score_report(&p);
        assert_eq!(r.per_dataset["a"].sn34_score, None);
        assert!(r.per_dataset["b"].sn34_score.is_some());
        assert_eq!(r.per_dataset.len(), 2);
        assert!(r.multiclass.is_none());
    }

    #[test]
    fn multiclass_view() {
        let mk = |l, probs: Vec<f64>| Prediction {
            p_synthetic: p_synthetic(&probs),
            probs: Some(probs),
            ..Prediction::new(l, 0.0)
        };
        let p = vec![
            mk(Label::Real, vec![1.0, 0.0, 0.0]),
            mk(Label::Synthetic, vec![0.0, 1.0, 0.0]),
            mk(Label::Semisynthetic, vec![0.0, 0.0, 1.0]),
        ];
        let m = multiclass_metrics(&p, 3).unwrap();
        assert_eq!(m.mcc, 1.0);
        assert_eq!(m.brier, 0.0);
        assert!((m.brier_baseline - 2.0 / 3.0).abs() < 1e-15);
        assert!(m.sn34_score > 0.999_999);
        let u = vec![
            mk(Label::Real, vec![1.0 / 3.0; 3]),
            mk(Label::Synthetic, vec![1.0 / 3.0; 3]),
        ];
        let m = multiclass_metrics(&u, 3).unwrap();
        assert!((m.brier - m.brier_baseline).abs() < 1e-12);
        assert!(m.sn34_score < 1e-5);
        assert!(multiclass_metrics(&p, 2).is_none());
    }

    #[test]
    fn label_parsing() {
        assert_eq!("Real".parse::<Label>().unwrap(), Label::Real);
        assert_eq!(" 1 ".parse::<Label>().unwrap(), Label::Synthetic);
        assert_eq!(
            "semisynthetic".parse::<Label>().unwrap(),
            Label::Semisynthetic
        );
        assert!("fake".parse::<Label>().is_err());
    }

    #[test]
    fn blend() {
        assert!((blend_robustness(1.0, 0.5, DEFAULT_ROBUSTNESS_WEIGHT) - 0.9).abs() < 1e-12);
    }

    #[test]
    fn calibration_bins_group_by_predicted_probability() {
        let bins = calibration_bins(
            [
                (0.05, Label::Real),
                (0.15, Label::Real),
                (0.12, Label::Synthetic),
                (1.0, Label::Semisynthetic),
                (f64::NAN, Label::Synthetic),
                (-3.0, Label::Real),
            ],
            10,
        );
        let idx: Vec<usize> = bins.iter().map(|b| b.index).collect();
        assert_eq!(idx, vec![0, 1, 5, 9]);
        assert_eq!(bins[0].n, 2); // 0.05 and -3.0 clamped to 0
        assert!((bins[0].mean_p - 0.025).abs() < 1e-12);
        assert_eq!(bins[0].frac_synthetic, 0.0);
        assert_eq!(bins[1].n, 2);
        assert!((bins[1].frac_synthetic - 0.5).abs() < 1e-12);
        assert_eq!((bins[2].n, bins[2].mean_p), (1, 0.5)); // NaN counts as 0.5
        assert_eq!((bins[3].n, bins[3].frac_synthetic), (1, 1.0)); // 1.0 in the last bin
        assert!(calibration_bins(std::iter::empty(), 10).is_empty());
    }
}
