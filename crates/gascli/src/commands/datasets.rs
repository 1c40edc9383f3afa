//! `gascli d datasets list|download|verify`: the datasets a run would use, and their cache
//! (gasbench's `download` and `verify-cache`).

use std::process::ExitCode;

use anyhow::Context;
use gas_datasets::cache::{DatasetStatus, prepare_all};
use gas_datasets::plan::plan_run;
use gas_datasets::{Mode, OpenOptions, default_cache_dir};
use gas_package::Modality;

use super::dataset_args::{DatasetArgs, ModeArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Print the datasets a run would use, with each one's sample cap.
    List(Common),
    /// Download the files a run would use into the cache (resumable).
    Download(Download),
    /// Check that the cache holds everything a run would use (nothing is downloaded).
    #[command(alias = "verify-cache")]
    Verify(Common),
}

#[derive(Debug, clap::Args)]
pub struct Common {
    /// Only this modality (default: all three).
    #[arg(long, value_parser = ["image", "video", "audio", "all"])]
    pub modality: Option<String>,
    #[command(flatten)]
    pub mode: ModeArgs,
    #[command(flatten)]
    pub data: DatasetArgs,
    /// Download cache (default: $GASCLI_CACHE_DIR or ~/.cache/gascli).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
    /// Sampling seed (chooses the files, as in a run).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct Download {
    #[command(flatten)]
    pub common: Common,
    /// Datasets downloaded at the same time.
    #[arg(long, default_value_t = 4)]
    pub concurrent: usize,
    /// Leave the GAS-Station datasets out (download everything else).
    #[arg(long, conflicts_with = "gasstation_only")]
    pub skip_gasstation: bool,
    /// Download every file of each dataset, not only those the mode's run draws.
    #[arg(long)]
    pub unlimited_samples: bool,
    /// Accepted for gasbench users: gascli caches the hub's files and never evicts any (gasbench
    /// evicts samples from its own per-sample cache).
    #[arg(long)]
    pub no_eviction: bool,
}

impl Common {
    fn mode(&self) -> Mode {
        self.mode.mode()
    }

    fn modalities(&self) -> Vec<Modality> {
        match self.modality.as_deref() {
            Some("image") => vec![Modality::Image],
            Some("video") => vec![Modality::Video],
            Some("audio") => vec![Modality::Audio],
            _ => vec![Modality::Image, Modality::Video, Modality::Audio],
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (common, concurrent, offline, list_only) = match &args.action {
        Action::List(c) => (c, 1, true, true),
        Action::Download(d) => (&d.common, d.concurrent, false, false),
        Action::Verify(c) => (c, 1, true, false),
    };
    let modalities = common.modalities();
    let mut sel = common.data.selection(&modalities)?;
    if let Action::Download(d) = &args.action {
        sel.skip_gasstation = d.skip_gasstation;
    }
    let mode = common.mode();
    let mut planned: Vec<_> = modalities
        .iter()
        .flat_map(|m| plan_run(&sel, *m, mode).datasets)
        .collect();
    if let Action::Download(d) = &args.action
        && d.unlimited_samples
    {
        for p in &mut planned {
            p.spec.media_per_archive = -1;
            p.spec.archives_per_dataset = -1;
        }
    }
    if list_only {
        if common.json {
            let v: Vec<serde_json::Value> = planned
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "name": p.spec.name, "original_name": p.spec.original_name,
                        "modality": p.spec.modality.as_str(), "media_type": p.spec.media_type.as_str(),
                        "path": p.spec.path, "cap": p.cap,
                        "media_per_archive": p.spec.media_per_archive,
                        "archives_per_dataset": p.spec.archives_per_dataset,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!(
                "{:<48} {:<6} {:<13} {:>6}  path",
                "dataset", "", "media_type", "cap"
            );
            for p in &planned {
                println!(
                    "{:<48} {:<6} {:<13} {:>6}  {}",
                    p.spec.name,
                    p.spec.modality.as_str(),
                    p.spec.media_type.as_str(),
                    p.cap,
                    p.spec.path
                );
            }
            println!("{} datasets ({mode} mode)", planned.len());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let opts = OpenOptions {
        mode,
        seed: common.seed,
        cache_dir: common.cache_dir.clone().unwrap_or_else(default_cache_dir),
        offline,
        // `download` fetches GAS-Station weeks too (gasbench's `download --num-weeks`)
        gasstation: common.data.gasstation(false),
        ..OpenOptions::default()
    };
    let json = common.json;
    let print = |s: &DatasetStatus| {
        if json {
            return;
        }
        match (&s.samples, &s.error) {
            (Some(n), _) => eprintln!("ok       {:<48} {n} samples", s.name),
            (_, Some(e)) => eprintln!("{:<8} {:<48} {e}", s.error_kind.unwrap_or("error"), s.name),
            _ => {}
        }
    };
    let statuses = prepare_all(&planned, &opts, concurrent, &print);
    let failed = statuses.iter().filter(|s| !s.ok()).count();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&statuses).context("writing JSON")?
        );
    } else {
        println!(
            "{} of {} datasets ready in {}",
            statuses.len() - failed,
            statuses.len(),
            opts.cache_dir.display()
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
