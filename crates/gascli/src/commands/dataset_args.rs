//! The dataset flags `gasbench run` users know, with the same names and meanings, shared by
//! `gascli d bench` (flattened into its arguments) and `gascli d datasets`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use gas_datasets::plan::Selection;
use gas_datasets::{load_catalog, load_holdout_catalog, local_dir_specs};
use gas_package::Modality;

/// The bundled catalog of the network's public benchmark datasets (used when no
/// `--dataset-config` / `--data-dir` is given).
pub const DEFAULT_CATALOG: &str = include_str!("../../../../catalogs/network-public.yaml");

/// The network's run modes, as gasbench names them (`d bench` and `d datasets`).
#[derive(Debug, Clone, Default, clap::Args)]
#[group(multiple = false)]
pub struct ModeArgs {
    /// Debug mode (the network's): the first catalog dataset, 100 images / 50 videos / 50 clips
    /// in total.
    #[arg(long)]
    pub debug: bool,
    /// Small mode, the network's entrance exam: 5 000 samples per modality, split over the
    /// datasets as the network splits them (100 per archive, 1 archive per dataset).
    #[arg(long)]
    pub small: bool,
    /// Full mode (the default, as gasbench): 55 000 images / 26 000 videos / 37 000 clips split
    /// over the datasets, the catalog's own archive limits.
    #[arg(long)]
    pub full: bool,
}

impl ModeArgs {
    pub fn mode(&self) -> gas_datasets::Mode {
        if self.debug {
            gas_datasets::Mode::Debug
        } else if self.small {
            gas_datasets::Mode::Small
        } else {
            gas_datasets::Mode::Full
        }
    }
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct DatasetArgs {
    /// Dataset catalog YAML (`datasets:` list or `image:`/`video:`/`audio:` groups); repeatable.
    /// Default: the network's public benchmark datasets (catalogs/network-public.yaml).
    #[arg(long, value_name = "PATH")]
    pub dataset_config: Vec<PathBuf>,
    /// Private holdout catalog: its datasets are added with obfuscated names.
    #[arg(long, value_name = "PATH")]
    pub holdout_config: Vec<PathBuf>,
    /// Local folder with real/, synthetic/, semisynthetic/ subfolders; repeatable.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Vec<PathBuf>,
    /// Only datasets whose names contain one of these substrings (case-insensitive).
    #[arg(long, num_args = 1.., value_name = "PATTERN")]
    pub datasets: Vec<String>,
    /// Only datasets with this content_category (e.g. faces, documents).
    #[arg(long, value_name = "CATEGORY")]
    pub content_category: Option<String>,
    /// Only GAS-Station datasets (names containing `gasstation`); holdouts are left out.
    #[arg(long)]
    pub gasstation_only: bool,
    /// Only the holdout datasets (needs --holdout-config).
    #[arg(long)]
    pub holdouts_only: bool,
    /// Take N samples from every dataset instead of its share of the mode's total (quick runs).
    #[arg(long, value_name = "N")]
    pub per_dataset: Option<usize>,
    /// GAS-Station datasets: the N most recent ISO weeks (default: the current week, or the
    /// newest of the four before it that has data).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=520))]
    pub num_weeks: Option<u32>,
}

impl DatasetArgs {
    /// Refuses what a gasbench user could get wrong: a catalog file given to `--datasets`.
    pub fn check(&self) -> anyhow::Result<()> {
        for d in &self.datasets {
            let lower = d.to_lowercase();
            if lower.ends_with(".yaml") || lower.ends_with(".yml") {
                bail!(
                    "--datasets takes dataset name substrings (as in gasbench), not a catalog file: use --dataset-config {d}"
                );
            }
        }
        if self.holdouts_only && self.holdout_config.is_empty() {
            bail!("--holdouts-only requires --holdout-config");
        }
        Ok(())
    }

    /// Which GAS-Station weeks are read (`cache_only`: gasbench `run` without
    /// `--download-latest-gasstation-data`).
    pub fn gasstation(&self, cache_only: bool) -> gas_datasets::gasstation::GasStationOptions {
        gas_datasets::gasstation::GasStationOptions {
            num_weeks: self.num_weeks,
            today: None,
            cache_only,
        }
    }

    /// Loads the catalogs (the bundled one when none is given) into a [`Selection`].
    pub fn selection(&self, modalities: &[Modality]) -> anyhow::Result<Selection> {
        self.check()?;
        let mut sel = Selection {
            name_filters: self.datasets.clone(),
            content_category: self.content_category.clone(),
            gasstation_only: self.gasstation_only,
            holdouts_only: self.holdouts_only,
            per_dataset: self.per_dataset,
            ..Selection::default()
        };
        for c in &self.dataset_config {
            sel.catalog.extend(
                load_catalog(c)
                    .with_context(|| format!("loading --dataset-config {}", c.display()))?,
            );
        }
        for h in &self.holdout_config {
            sel.holdouts.extend(
                load_holdout_catalog(h)
                    .with_context(|| format!("loading --holdout-config {}", h.display()))?,
            );
        }
        for d in &self.data_dir {
            for m in modalities {
                sel.local.extend(
                    local_dir_specs(d, *m)
                        .with_context(|| format!("reading --data-dir {}", d.display()))?,
                );
            }
        }
        if self.dataset_config.is_empty() && self.data_dir.is_empty() && !self.holdouts_only {
            sel.catalog = gas_datasets::catalog::parse_catalog(DEFAULT_CATALOG)
                .context("the bundled network catalog")?;
        }
        Ok(sel)
    }
}
