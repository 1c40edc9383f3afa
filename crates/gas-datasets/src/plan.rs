//! Which datasets a run uses and how many samples each contributes, as the network decides it
//! (GASBench `dataset/config.py` and the benchmark's plan step):
//!
//! 1. the catalog's datasets of the modality; `--gasstation-only` keeps names containing
//!    `gasstation`; `--content-category` keeps entries with that `content_category`;
//! 2. the mode: debug keeps only the *first* dataset, debug and small set
//!    `media_per_archive: 100`, `archives_per_dataset: 1`; full leaves the catalog as it is;
//! 3. holdouts (already obfuscated) are appended, with the same mode rule applied to them alone;
//! 4. `--datasets` keeps names containing one of the given substrings (case-insensitive);
//! 5. the mode's total for the modality (debug 100 / 50 / 50, small 5 000 each, full
//!    55 000 / 26 000 / 37 000) is split over the datasets
//!    ([`weighted_caps`], the network's `calculate_weighted_dataset_sampling`).
//!
//! `--data-dir` folders (not from a catalog) skip steps 1–3 and take their share in step 5.

use super::{DatasetSpec, Modality, Mode};

/// Fewest samples a regular dataset is given when there are GAS-Station datasets too.
pub const REGULAR_DATASET_MIN_SAMPLES: usize = 100;
/// Most samples a regular dataset contributes.
pub const REGULAR_DATASET_MAX_SAMPLES: usize = 2000;
/// Fewest samples a GAS-Station dataset is given.
pub const GASSTATION_DATASET_MIN_SAMPLES: usize = 500;
/// Most samples a GAS-Station dataset contributes.
pub const GASSTATION_DATASET_MAX_SAMPLES: usize = 10_000;
/// A GAS-Station dataset's weight relative to a regular one.
pub const GASSTATION_WEIGHT: f64 = 5.0;
/// Samples a regular dataset keeps in the network's cache; a run never uses more of one.
pub const CACHE_MAX_SAMPLES: usize = 500;
/// What the network's iterator takes when the plan gives a dataset 0 (its `max_samples or
/// 10000`).
pub const ZERO_CAP_FALLBACK: usize = 10_000;

impl Mode {
    /// Samples in a run of this mode for `modality`, over all datasets together.
    pub fn total(self, modality: Modality) -> usize {
        match (self, modality) {
            (Mode::Debug, Modality::Image) => 100,
            (Mode::Debug, _) => 50,
            (Mode::Small, _) => 5000,
            (Mode::Full, Modality::Image) => 55_000,
            (Mode::Full, Modality::Video) => 26_000,
            (Mode::Full, Modality::Audio) => 37_000,
        }
    }

    /// `(media_per_archive, archives_per_dataset)` this mode imposes on catalog entries (debug
    /// and small), or `None` (full: the catalog's own values).
    pub fn download_limits(self) -> Option<(i64, i64)> {
        match self {
            Mode::Debug | Mode::Small => Some((100, 1)),
            Mode::Full => None,
        }
    }
}

/// A GAS-Station dataset (weekly data from generative miners), by the network's name rule.
pub fn is_gasstation(name: &str) -> bool {
    name.to_lowercase().contains("gasstation")
}

/// A holdout dataset, by the network's name rule (obfuscated names contain `-holdout-`).
pub fn is_holdout(name: &str) -> bool {
    name.to_lowercase().contains("-holdout-")
}

/// Step 2 for one list of catalog entries.
pub fn apply_mode(specs: Vec<DatasetSpec>, mode: Mode) -> Vec<DatasetSpec> {
    let Some((mpa, apd)) = mode.download_limits() else {
        return specs;
    };
    let keep = if mode == Mode::Debug { 1 } else { usize::MAX };
    specs
        .into_iter()
        .take(keep)
        .map(|mut s| {
            s.media_per_archive = mpa;
            s.archives_per_dataset = apd;
            s
        })
        .collect()
}

/// The network's `calculate_weighted_dataset_sampling`: each dataset's sample cap (same order as
/// `names`). Without GAS-Station datasets: an even split, at most 2 000 each. With them: one
/// weight unit per regular dataset and 5 per GAS-Station dataset, the floors (100 / 500) scaled
/// down to an even share when the total is small, caps 2 000 / 10 000.
pub fn weighted_caps(names: &[&str], total: usize) -> Vec<usize> {
    let gs = names.iter().filter(|n| is_gasstation(n)).count();
    let regular = names.len() - gs;
    if gs == 0 {
        let cap = if names.is_empty() {
            0
        } else {
            total / names.len()
        };
        return vec![cap.min(REGULAR_DATASET_MAX_SAMPLES); names.len()];
    }
    let total_weight = regular as f64 + gs as f64 * GASSTATION_WEIGHT;
    let per_unit = total as f64 / total_weight;
    // Python's int() truncates towards zero; both are non-negative here.
    let regular_cap = per_unit as usize;
    let gs_cap = (per_unit * GASSTATION_WEIGHT) as usize;
    let even = (total / (regular + gs)).max(1);
    let regular_min = REGULAR_DATASET_MIN_SAMPLES.min(even);
    let gs_min =
        GASSTATION_DATASET_MIN_SAMPLES.min(((even as f64 * GASSTATION_WEIGHT) as usize).max(1));
    let regular_cap = regular_cap
        .max(regular_min)
        .min(REGULAR_DATASET_MAX_SAMPLES);
    let gs_cap = gs_cap.max(gs_min).min(GASSTATION_DATASET_MAX_SAMPLES);
    names
        .iter()
        .map(|n| {
            if is_gasstation(n) {
                gs_cap
            } else {
                regular_cap
            }
        })
        .collect()
}

/// What a run asks for (the gasbench flags of the same names).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    /// Catalog datasets (any modality; those of other modalities are ignored).
    pub catalog: Vec<DatasetSpec>,
    /// Holdout datasets, names already obfuscated ([`crate::load_holdout_catalog`]).
    pub holdouts: Vec<DatasetSpec>,
    /// `--data-dir` datasets: no mode rule, a share of the total like the others.
    pub local: Vec<DatasetSpec>,
    /// `--datasets`: keep names containing one of these (case-insensitive); empty = all.
    pub name_filters: Vec<String>,
    /// `--content-category`.
    pub content_category: Option<String>,
    /// `--gasstation-only` (also drops holdouts, as the network does).
    pub gasstation_only: bool,
    /// `--holdouts-only`: no catalog datasets.
    pub holdouts_only: bool,
    /// `--skip-gasstation` (gasbench's `download`): no GAS-Station catalog datasets.
    pub skip_gasstation: bool,
    /// `--per-dataset N`: every dataset's cap is N instead of its share of the mode's total.
    pub per_dataset: Option<usize>,
}

/// One dataset of a run and the most samples it contributes.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedDataset {
    /// The entry after the mode's rule.
    pub spec: DatasetSpec,
    /// The dataset's share ([`weighted_caps`], or `--per-dataset`); 0 means the network's
    /// fallback of [`ZERO_CAP_FALLBACK`].
    pub cap: usize,
}

impl PlannedDataset {
    /// Samples the run takes at most from this dataset.
    pub fn max_samples(&self) -> usize {
        if self.cap == 0 {
            ZERO_CAP_FALLBACK
        } else {
            self.cap
        }
    }
}

/// The datasets of one modality's run, in the order they run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlan {
    pub modality: Modality,
    pub mode: Mode,
    /// The mode's total for the modality ([`Mode::total`]).
    pub target_total: usize,
    pub datasets: Vec<PlannedDataset>,
}

/// Steps 1–5 of the module doc.
pub fn plan_run(sel: &Selection, modality: Modality, mode: Mode) -> RunPlan {
    let mut specs: Vec<DatasetSpec> = Vec::new();
    if !sel.holdouts_only {
        let catalog: Vec<DatasetSpec> = sel
            .catalog
            .iter()
            .filter(|s| s.modality == modality)
            .filter(|s| !sel.gasstation_only || is_gasstation(&s.name))
            .filter(|s| !sel.skip_gasstation || !is_gasstation(&s.name))
            .filter(|s| match &sel.content_category {
                Some(c) => s.content_category.as_deref() == Some(c.as_str()),
                None => true,
            })
            .cloned()
            .collect();
        specs.extend(apply_mode(catalog, mode));
    }
    if !sel.gasstation_only {
        let holdouts: Vec<DatasetSpec> = sel
            .holdouts
            .iter()
            .filter(|s| s.modality == modality)
            .cloned()
            .collect();
        specs.extend(apply_mode(holdouts, mode));
    }
    specs.extend(sel.local.iter().filter(|s| s.modality == modality).cloned());
    if !sel.name_filters.is_empty() {
        let wanted: Vec<String> = sel.name_filters.iter().map(|f| f.to_lowercase()).collect();
        specs.retain(|s| {
            let name = s.name.to_lowercase();
            wanted.iter().any(|w| name.contains(w.as_str()))
        });
    }
    let target_total = mode.total(modality);
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let caps = match sel.per_dataset {
        Some(n) => vec![n; names.len()],
        None => weighted_caps(&names, target_total),
    };
    RunPlan {
        modality,
        mode,
        target_total,
        datasets: specs
            .into_iter()
            .zip(caps)
            .map(|(spec, cap)| PlannedDataset { spec, cap })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_without_gasstation_split_evenly_up_to_the_maximum() {
        assert_eq!(weighted_caps(&["a", "b", "c"], 5000), [1666; 3]);
        assert_eq!(weighted_caps(&["a"], 55_000), [REGULAR_DATASET_MAX_SAMPLES]);
        assert!(weighted_caps(&[], 100).is_empty());
    }

    #[test]
    fn gasstation_datasets_weigh_more_and_floors_shrink_with_small_totals() {
        let caps = weighted_caps(&["pub", "GASSTATION-x"], 600);
        // 600 / (1 + 5) = 100 per unit: regular 100, GAS-Station 500
        assert_eq!(caps, [100, 500]);
        let names: Vec<String> = (0..200).map(|i| format!("d{i}")).collect();
        let mut refs: Vec<&str> = names.iter().map(String::as_str).collect();
        refs.push("gasstation-w");
        let caps = weighted_caps(&refs, 50);
        // even share max(1, 50 / 201) = 1 → regular floor 1, GAS-Station floor 5
        assert_eq!(caps[0], 1);
        assert_eq!(caps[200], 5);
    }
}
