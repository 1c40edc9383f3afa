//! Provenance weighting, as the network scores a run with holdouts and GAS-Station data
//! (GASBench `benchmarks/recording.py`, `compute_metrics_from_df`):
//!
//! - each sample's class comes from its dataset name ([`Provenance::of`]): `-holdout-` →
//!   holdout, `gasstation` → GAS-Station, anything else → public;
//! - `--holdout-share` / `--gasstation-share` ([`Weighting::Shares`]): the public class gets
//!   `1 − holdout − gasstation`; the shares of the classes present in the run are renormalised
//!   and each sample of class `c` weighs `share_c · n / n_c` (mean weight 1), in **every** metric
//!   (accuracy, MCC, Brier, cross-entropy, hence sn34);
//! - legacy `--holdout-weight w` ([`Weighting::HoldoutWeight`], when not 1 and no share is
//!   given): holdout samples weigh `w` in the **accuracy only**; MCC, Brier, cross-entropy and
//!   sn34 stay unweighted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{BinaryMetrics, Prediction, binary_metrics};

/// Where a sample's dataset comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    Public,
    Holdout,
    Gasstation,
}

impl Provenance {
    pub const ALL: [Provenance; 3] = [
        Provenance::Public,
        Provenance::Holdout,
        Provenance::Gasstation,
    ];

    /// The class of a dataset name (case-insensitive; `-holdout-` wins over `gasstation`).
    pub fn of(dataset: &str) -> Provenance {
        let name = dataset.to_lowercase();
        if name.contains("-holdout-") {
            Provenance::Holdout
        } else if name.contains("gasstation") {
            Provenance::Gasstation
        } else {
            Provenance::Public
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::Public => "public",
            Provenance::Holdout => "holdout",
            Provenance::Gasstation => "gasstation",
        }
    }
}

/// Target share of the total score weight per class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreComposition {
    pub public: f64,
    pub holdout: f64,
    pub gasstation: f64,
}

impl ScoreComposition {
    /// From `--holdout-share` / `--gasstation-share` (`None` when neither is given); both must
    /// be ≥ 0 and sum to ≤ 1, the public corpus gets the rest.
    pub fn from_shares(
        holdout: Option<f64>,
        gasstation: Option<f64>,
    ) -> Result<Option<Self>, String> {
        if holdout.is_none() && gasstation.is_none() {
            return Ok(None);
        }
        let h = holdout.unwrap_or(0.0);
        let g = gasstation.unwrap_or(0.0);
        if !(h >= 0.0 && g >= 0.0 && h + g <= 1.0) {
            return Err(format!(
                "--holdout-share ({h}) and --gasstation-share ({g}) must be >= 0 and sum to <= 1"
            ));
        }
        Ok(Some(ScoreComposition {
            public: 1.0 - h - g,
            holdout: h,
            gasstation: g,
        }))
    }

    pub fn share(&self, c: Provenance) -> f64 {
        match c {
            Provenance::Public => self.public,
            Provenance::Holdout => self.holdout,
            Provenance::Gasstation => self.gasstation,
        }
    }
}

/// How a run's samples are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Weighting {
    /// Every sample weighs 1.
    #[default]
    None,
    /// `--holdout-share` / `--gasstation-share`.
    Shares(ScoreComposition),
    /// Legacy `--holdout-weight`: holdout samples weigh this much in the accuracy only.
    HoldoutWeight { weight: f64 },
}

impl Weighting {
    /// The network's precedence: shares when given, else the holdout weight when it is not 1,
    /// else none.
    pub fn from_flags(
        holdout_share: Option<f64>,
        gasstation_share: Option<f64>,
        holdout_weight: f64,
    ) -> Result<Self, String> {
        if let Some(c) = ScoreComposition::from_shares(holdout_share, gasstation_share)? {
            return Ok(Weighting::Shares(c));
        }
        if !holdout_weight.is_finite() || holdout_weight < 0.0 {
            return Err(format!(
                "--holdout-weight must be a finite number >= 0, got {holdout_weight}"
            ));
        }
        if holdout_weight != 1.0 {
            return Ok(Weighting::HoldoutWeight {
                weight: holdout_weight,
            });
        }
        Ok(Weighting::None)
    }
}

/// Per-class sample weights realising `composition` for the class counts (classes with no
/// samples are dropped and the others' shares renormalised; all 1 when no share is positive).
pub fn provenance_weights(
    counts: &BTreeMap<Provenance, u64>,
    composition: &ScoreComposition,
) -> BTreeMap<Provenance, f64> {
    let present: Vec<(Provenance, u64)> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| (*c, *n))
        .collect();
    let target = |c: Provenance| composition.share(c).max(0.0);
    let total_target: f64 = present.iter().map(|(c, _)| target(*c)).sum();
    if total_target <= 0.0 {
        return present.into_iter().map(|(c, _)| (c, 1.0)).collect();
    }
    let total: u64 = present.iter().map(|(_, n)| n).sum();
    present
        .into_iter()
        .map(|(c, n)| (c, target(c) / total_target * total as f64 / n as f64))
        .collect()
}

/// A weighted score and how it was weighted (what `results.json` records).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightedScore {
    /// Overall binary metrics with the weights applied as the network applies them (the
    /// accuracy alone for the legacy holdout weight).
    pub overall: BinaryMetrics,
    pub weighting: Weighting,
    /// Samples per class.
    pub class_counts: BTreeMap<Provenance, u64>,
    /// Unweighted share of the samples per class.
    pub realized_composition: BTreeMap<Provenance, f64>,
    /// The weight of one sample of each present class.
    pub provenance_weights: BTreeMap<Provenance, f64>,
    /// Unweighted metrics of each present class alone.
    pub per_class: BTreeMap<Provenance, BinaryMetrics>,
}

fn class_of(p: &Prediction) -> Provenance {
    Provenance::of(p.dataset.as_deref().unwrap_or(""))
}

/// Scores `preds` with `weighting` (module doc). Incoming `Prediction::weight`s are replaced.
pub fn weighted_score(preds: &[Prediction], weighting: &Weighting) -> WeightedScore {
    let mut counts: BTreeMap<Provenance, u64> = BTreeMap::new();
    let mut by_class: BTreeMap<Provenance, Vec<Prediction>> = BTreeMap::new();
    for p in preds {
        let c = class_of(p);
        *counts.entry(c).or_default() += 1;
        let mut q = p.clone();
        q.weight = 1.0;
        by_class.entry(c).or_default().push(q);
    }
    let total = preds.len() as f64;
    let realized = counts
        .iter()
        .map(|(c, n)| (*c, if total > 0.0 { *n as f64 / total } else { 0.0 }))
        .collect();
    let unit: Vec<Prediction> = preds
        .iter()
        .map(|p| Prediction {
            weight: 1.0,
            ..p.clone()
        })
        .collect();
    let (overall, weights) = match weighting {
        Weighting::None => (
            binary_metrics(&unit),
            counts.keys().map(|c| (*c, 1.0)).collect(),
        ),
        Weighting::Shares(comp) => {
            let w = provenance_weights(&counts, comp);
            let weighted: Vec<Prediction> = preds
                .iter()
                .map(|p| Prediction {
                    weight: w.get(&class_of(p)).copied().unwrap_or(1.0),
                    ..p.clone()
                })
                .collect();
            (binary_metrics(&weighted), w)
        }
        Weighting::HoldoutWeight { weight } => {
            let mut m = binary_metrics(&unit);
            let (mut num, mut den) = (0.0, 0.0);
            for p in preds {
                let w = if class_of(p) == Provenance::Holdout {
                    *weight
                } else {
                    1.0
                };
                let correct = p.label.binary() == p.call();
                num += w * f64::from(u8::from(correct));
                den += w;
            }
            m.accuracy = if den > 0.0 { num / den } else { 0.0 };
            let w = counts
                .keys()
                .map(|c| {
                    (
                        *c,
                        if *c == Provenance::Holdout {
                            *weight
                        } else {
                            1.0
                        },
                    )
                })
                .collect();
            (m, w)
        }
    };
    WeightedScore {
        overall,
        weighting: *weighting,
        class_counts: counts,
        realized_composition: realized,
        provenance_weights: weights,
        per_class: by_class
            .into_iter()
            .map(|(c, v)| (c, binary_metrics(&v)))
            .collect(),
    }
}
