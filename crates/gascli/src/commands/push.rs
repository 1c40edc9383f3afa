//! `gascli d push`: arguments → [`gas_push::PushOptions`] → one call to [`gas_push::push`];
//! this file only renders its events (stderr) and its report (stdout, `--json` or text).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use gas_chain::chain::ChainRetry;
use gas_chain::upload::{DEFAULT_API_URL, DEFAULT_UPLOAD_URL, RetryPolicy};
use gas_package::Modality;
use gas_push::{
    ChainTarget, Event, Outcome, PushError, PushOptions, PushPlan, PushReport, Vertical,
};

use super::wallet::WalletOpts;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("models").required(true).multiple(true)
    .args(["image_model", "video_model", "audio_model"])))]
pub struct Args {
    /// Image detector package (.zip or model directory).
    #[arg(long)]
    pub image_model: Option<PathBuf>,
    /// Video detector package (.zip or model directory).
    #[arg(long)]
    pub video_model: Option<PathBuf>,
    /// Audio detector package (.zip or model directory).
    #[arg(long)]
    pub audio_model: Option<PathBuf>,
    /// Competition vertical; `human` takes image and video models only.
    #[arg(long, default_value = "general", value_parser = ["general", "human"])]
    pub vertical: String,
    #[command(flatten)]
    pub wallet: WalletOpts,
    /// Subnet uid.
    #[arg(long, default_value_t = 34)]
    pub netuid: u16,
    /// Chain: finney, test, local, or a ws:// / wss:// URL.
    #[arg(long, default_value = "finney")]
    pub chain_endpoint: String,
    /// Seconds between retries of transient chain errors.
    #[arg(long, default_value_t = 60)]
    pub retry_delay: u64,
    /// Retries of transient chain errors before giving up.
    #[arg(long, default_value_t = 5)]
    pub max_retries: u32,
    /// Upload API base URL.
    #[arg(long, default_value = DEFAULT_UPLOAD_URL)]
    pub upload_url: String,
    /// Miner API base URL (`…/api/v1`), used to describe an already-uploaded model (default:
    /// the network's with the network's upload URL, else `<upload URL without /upload>/api/v1`).
    #[arg(long)]
    pub api_url: Option<String>,
    /// Upload only; do not write the on-chain commitment.
    #[arg(long)]
    pub skip_chain: bool,
    /// Validate and print the plan; no network access.
    #[arg(long)]
    pub dry_run: bool,
    /// Which model's commitment to write when several are pushed (one slot per hotkey).
    #[arg(long, value_parser = ["image", "video", "audio"])]
    pub commit_modality: Option<String>,
    /// Machine-readable summary on stdout (steps go to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Resolves `--chain-endpoint` to a WebSocket URL.
pub fn chain_url(endpoint: &str) -> anyhow::Result<String> {
    Ok(match endpoint {
        "finney" => "wss://entrypoint-finney.opentensor.ai:443".into(),
        "test" => "wss://test.finney.opentensor.ai:443".into(),
        "local" => "ws://127.0.0.1:9944".into(),
        u if u.starts_with("ws://") || u.starts_with("wss://") => u.into(),
        other => anyhow::bail!(
            "--chain-endpoint {other:?}: expected finney, test, local, or a ws:// / wss:// URL"
        ),
    })
}

/// The miner API that goes with an upload URL: the network's for the network's upload service,
/// else the same server's `/api/v1` (as `gascli registry serve` serves both).
pub fn api_url_for(upload_url: &str) -> String {
    let u = upload_url.trim_end_matches('/');
    if u == DEFAULT_UPLOAD_URL {
        return DEFAULT_API_URL.into();
    }
    format!("{}/api/v1", u.strip_suffix("/upload").unwrap_or(u))
}

fn options(args: &Args) -> anyhow::Result<PushOptions> {
    let commit_modality = match &args.commit_modality {
        Some(c) => Some(
            c.parse::<Modality>()
                .map_err(|e| anyhow::anyhow!("--commit-modality: {e:?}"))?,
        ),
        None => None,
    };
    let chain = if args.skip_chain {
        None
    } else {
        Some(ChainTarget {
            url: chain_url(&args.chain_endpoint)?,
            retry: ChainRetry {
                max_retries: args.max_retries,
                retry_delay: Duration::from_secs(args.retry_delay),
            },
        })
    };
    Ok(PushOptions {
        models: super::given_models(&args.image_model, &args.video_model, &args.audio_model),
        vertical: args
            .vertical
            .parse::<Vertical>()
            .map_err(anyhow::Error::msg)?,
        netuid: args.netuid,
        chain,
        upload_url: args.upload_url.clone(),
        api_url: Some(
            args.api_url
                .clone()
                .unwrap_or_else(|| api_url_for(&args.upload_url)),
        ),
        upload_retry: RetryPolicy::default(),
        commit_modality,
        dry_run: args.dry_run,
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = options(&args)?;
    let hotkey = args.wallet.load()?;
    eprintln!(
        "Hotkey {} (wallet {}/{})",
        hotkey.ss58(),
        args.wallet.wallet_name,
        args.wallet.wallet_hotkey
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut progress = Progress::default();
    let outcome = rt.block_on(gas_push::push(&hotkey, &opts, &mut |e| progress.show(e)));
    progress.finish();
    match outcome {
        Ok(Outcome::Plan(plan)) => {
            print_plan(&plan, args.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(Outcome::Pushed(report)) => {
            if let Some(e) = report.chain.as_ref().and_then(|c| c.error.as_deref()) {
                eprintln!("✗ [chain] {e}");
            }
            print_report(&report, args.json)?;
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(e) => {
            eprintln!("✗ {}", refusal(&e, &args));
            Ok(ExitCode::from(1))
        }
    }
}

/// A refusal before any upload, with what to do about it.
fn refusal(e: &PushError, args: &Args) -> String {
    match e {
        PushError::Invalid(_) => {
            "Nothing was uploaded: fix the errors above (see `gascli d validate`).".into()
        }
        PushError::NotRegistered { netuid, .. } => format!(
            "{e}: register with `btcli subnet register --netuid {netuid} --wallet.name {} \
             --wallet.hotkey {}` (or check --netuid / --chain-endpoint). Nothing was uploaded.",
            args.wallet.wallet_name, args.wallet.wallet_hotkey
        ),
        PushError::ChainUnreachable { .. } => format!(
            "{e}\nNothing was uploaded. Check --chain-endpoint, or re-run with --skip-chain to \
             upload only."
        ),
        _ => format!("{e}. Nothing was uploaded."),
    }
}

/// Renders events on stderr; the PUT's progress as a bar.
#[derive(Default)]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn finish(&mut self) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
    }

    fn show(&mut self, e: Event<'_>) {
        if !matches!(e, Event::UploadProgress { .. } | Event::UploadRetry { .. }) {
            self.finish();
        }
        match e {
            Event::Validated {
                modality,
                path,
                report,
            } => {
                if report.valid {
                    eprintln!("✓ --{modality}-model {}: valid", path.display());
                } else {
                    eprintln!(
                        "✗ --{modality}-model {}: {} error(s)",
                        path.display(),
                        report.errors.len()
                    );
                    for f in &report.errors {
                        eprintln!("    {f}");
                    }
                }
            }
            Event::OneCommitmentSlot { committed } => eprintln!(
                "warning: a hotkey has one commitment slot per subnet; committing several models \
                 would overwrite each other. Only the {committed} model will be committed \
                 (choose with --commit-modality); the others are uploaded only."
            ),
            Event::ChainConnecting { url } => eprintln!("[chain] Connecting to {url}…"),
            Event::ChainRetry {
                attempt,
                max_retries,
                error,
                delay,
            } => eprintln!(
                "[chain] {error}; retry {attempt}/{max_retries} in {} s",
                delay.as_secs()
            ),
            Event::Registered { netuid, uid } => {
                eprintln!("[chain] The hotkey is registered on netuid {netuid} (uid {uid})")
            }
            Event::Packaging { path, zip } => {
                eprintln!("Packaging {} → {}", path.display(), zip.display())
            }
            Event::UploadStarted {
                modality,
                path,
                filename,
                size,
                sha256,
            } => eprintln!(
                "Uploading {modality} model {} as {filename} ({size} bytes, sha256 {sha256})",
                path.display()
            ),
            Event::UploadStep { n, what } => eprintln!("[{n}/3] {what}…"),
            Event::UploadRetry {
                step,
                attempt,
                error,
                delay,
            } => eprintln!("  {step}: {error}; retry {attempt} in {delay:.0?}"),
            Event::UploadProgress { sent, total } => {
                let pb = self.bar.get_or_insert_with(|| {
                    let pb = indicatif::ProgressBar::with_draw_target(
                        Some(total),
                        indicatif::ProgressDrawTarget::stderr_with_hz(5),
                    );
                    pb.set_style(
                        indicatif::ProgressStyle::with_template(
                            "      [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    pb
                });
                pb.set_position(sent);
            }
            Event::Uploaded {
                modality,
                model_id,
                used,
                max,
            } => {
                let count = match (used, max) {
                    (Some(u), Some(m)) => format!(" (submission {u}/{m})"),
                    _ => String::new(),
                };
                eprintln!("✓ {modality} model uploaded: model_id {model_id}{count}");
                if let (Some(u), Some(m)) = (used, max)
                    && u >= m
                {
                    eprintln!(
                        "  The {modality} quota of this hotkey is now full ({u}/{m}): further \
                         {modality} uploads will be refused."
                    );
                }
            }
            Event::UploadFailed { modality, error } => eprintln!("✗ {modality} model: {error}"),
            Event::AlreadyUploaded { modality, sentence } => {
                eprintln!("= {modality} model: {sentence}")
            }
            Event::ReadingCommitment => eprintln!("[chain] Reading the current commitment…"),
            Event::NoCommitmentYet => eprintln!("[chain] No commitment yet"),
            Event::CommitmentUnchanged { block } => eprintln!(
                "[chain] The same commitment is already on chain (block #{block}); nothing to \
                 submit"
            ),
            Event::CommitmentReplaced { block, old } => eprintln!(
                "warning: the hotkey's current commitment (block #{block}) will be overwritten:\n  \
                 old: {old}"
            ),
            Event::Committing {
                modality,
                commitment,
            } => eprintln!("[chain] Committing the {modality} model: {commitment}"),
            Event::Finalized {
                block_number,
                block_hash,
            } => eprintln!("[chain] Finalized in block #{block_number} ({block_hash})"),
            Event::ReadingBack => eprintln!("[chain] Reading the commitment back…"),
            Event::Verified => eprintln!("[chain] ✓ The on-chain commitment matches"),
        }
    }
}

fn print_plan(plan: &PushPlan, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(plan)?);
        return Ok(());
    }
    println!("Plan (dry run, nothing sent):");
    for m in &plan.models {
        println!(
            "  upload {} model {} to {} (vertical {})",
            m.modality,
            m.path.display(),
            plan.upload_url,
            plan.vertical
        );
    }
    match (&plan.chain_endpoint, plan.commit_modality) {
        (Some(url), Some(m)) => {
            println!("  commit the {m} model on netuid {} via {url}", plan.netuid)
        }
        _ => println!("  no on-chain commitment (--skip-chain)"),
    }
    Ok(())
}

fn print_report(r: &PushReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!("Summary (hotkey {}, vertical {}):", r.hotkey, r.vertical);
    for m in &r.models {
        match &m.error {
            Some(e) => println!("  {}: FAILED: {e}", m.modality),
            None if m.already_uploaded => println!(
                "  {}: already uploaded as model_id {} ({}); not uploaded again\n    commitment {}",
                m.modality,
                m.model_id.as_deref().unwrap_or("?"),
                m.filename,
                m.commitment.as_deref().unwrap_or("?"),
            ),
            None => println!(
                "  {}: model_id {}  {}  sha256 {}  r2_key {}\n    commitment {}",
                m.modality,
                m.model_id.as_deref().unwrap_or("?"),
                m.filename,
                m.sha256,
                m.r2_key.as_deref().unwrap_or("?"),
                m.commitment.as_deref().unwrap_or("?"),
            ),
        }
    }
    match &r.chain {
        None => println!("  chain: skipped (--skip-chain)"),
        Some(c) => match &c.error {
            Some(e) => println!("  chain: FAILED: {e}"),
            None if c.already_on_chain => println!(
                "  chain: the {} model's commitment was already on netuid {} (block #{}); not \
                 submitted again",
                c.modality.map_or("?".into(), |m| m.to_string()),
                c.netuid,
                c.block_number.unwrap_or_default()
            ),
            None => println!(
                "  chain: {} model committed on netuid {} in block #{} ({}), verified",
                c.modality.map_or("?".into(), |m| m.to_string()),
                c.netuid,
                c.block_number.unwrap_or_default(),
                c.block_hash.as_deref().unwrap_or("?")
            ),
        },
    }
    Ok(())
}
