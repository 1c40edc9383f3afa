//! `gascli d push`: validate every given model, check the hotkey's registration on the subnet,
//! upload each model through the signed upload API (presigned → streamed PUT → confirm), then
//! commit the chosen model's commitment string on chain (`Commitments.set_commitment`, signed by
//! the hotkey), read it back and compare.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use gas_chain::chain::{ChainClient, ChainError, ChainRetry};
use gas_chain::upload::{
    DEFAULT_UPLOAD_URL, PresignedRequest, RetryPolicy, UploadClient, UploadError,
};
use gas_package::{Modality, ValidateOptions};

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

struct Item {
    modality: Modality,
    given: PathBuf,
    zip: PathBuf,
    sha256: String,
    size: u64,
}

/// One progress line. Steps always go to stderr, so `--json` keeps stdout machine-readable.
fn step(msg: &str) {
    eprintln!("{msg}");
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let models: Vec<(Modality, PathBuf)> =
        super::given_models(&args.image_model, &args.video_model, &args.audio_model);
    let chain = chain_url(&args.chain_endpoint)?;
    let hotkey = args.wallet.load()?;
    step(&format!(
        "Hotkey {} (wallet {}/{})",
        hotkey.ss58(),
        args.wallet.wallet_name,
        args.wallet.wallet_hotkey
    ));

    // 1. Validate everything before any network access.
    let mut failed = false;
    // Each valid package, validated once (its ZIP hash and size are streamed by validation).
    let mut validated = Vec::new();
    for (m, p) in &models {
        let opts = ValidateOptions {
            expected_modality: Some(*m),
        };
        match gas_package::validate_package(p, &opts) {
            Ok(pkg) => {
                step(&format!("✓ --{m}-model {}: valid", p.display()));
                validated.push(pkg);
            }
            Err(gas_package::PackageError::Invalid { report, .. }) => {
                failed = true;
                eprintln!(
                    "✗ --{m}-model {}: {} error(s)",
                    p.display(),
                    report.errors.len()
                );
                for f in &report.errors {
                    eprintln!("    {f}");
                }
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("validating --{m}-model {}", p.display())));
            }
        }
    }
    if failed {
        eprintln!("Nothing was uploaded: fix the errors above (see `gascli d validate`).");
        return Ok(ExitCode::from(1));
    }

    // Which commitment will stand.
    let commit_modality = match &args.commit_modality {
        Some(c) => {
            let m: Modality = c
                .parse()
                .map_err(|e| anyhow::anyhow!("--commit-modality: {e:?}"))?;
            if !models.iter().any(|(x, _)| *x == m) {
                anyhow::bail!("--commit-modality {m}: no --{m}-model was given");
            }
            m
        }
        None => models[0].0,
    };
    if models.len() > 1 && !args.skip_chain {
        eprintln!(
            "warning: a hotkey has one commitment slot per subnet; committing several models would \
             overwrite each other. Only the {commit_modality} model will be committed \
             (choose with --commit-modality); the others are uploaded only."
        );
    }

    if args.dry_run {
        let plan = serde_json::json!({
            "dry_run": true,
            "hotkey": hotkey.ss58(),
            "upload_url": args.upload_url,
            "chain_endpoint": if args.skip_chain { serde_json::Value::Null } else { chain.clone().into() },
            "netuid": args.netuid,
            "commit_modality": if args.skip_chain { serde_json::Value::Null } else { commit_modality.to_string().into() },
            "models": models.iter().map(|(m, p)| serde_json::json!({"modality": m.to_string(), "path": p})).collect::<Vec<_>>(),
        });
        if args.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            println!("Plan (dry run, nothing sent):");
            for (m, p) in &models {
                println!("  upload {m} model {} to {}", p.display(), args.upload_url);
            }
            if args.skip_chain {
                println!("  no on-chain commitment (--skip-chain)");
            } else {
                println!(
                    "  commit the {commit_modality} model on netuid {} via {chain}",
                    args.netuid
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;

    // 2. Before anything is uploaded: the hotkey must be registered on the subnet. Connection
    // problems are retried like the commit (--retry-delay, --max-retries).
    let mut chain_client = None;
    if !args.skip_chain {
        step(&format!("[chain] Connecting to {chain}…"));
        let mut attempt = 0;
        let (client, uid) = loop {
            let checked = rt.block_on(async {
                let c = ChainClient::connect(&chain).await?;
                let uid = c.uid(args.netuid, &hotkey.public_key()).await?;
                Ok::<_, ChainError>((c, uid))
            });
            match checked {
                Ok(ok) => break ok,
                Err(e) if e.is_transient() && attempt < args.max_retries => {
                    attempt += 1;
                    eprintln!(
                        "[chain] {e}; retry {attempt}/{} in {} s",
                        args.max_retries, args.retry_delay
                    );
                    std::thread::sleep(std::time::Duration::from_secs(args.retry_delay));
                }
                Err(e) => {
                    eprintln!(
                        "✗ cannot check the hotkey's registration on netuid {} at {chain}: {e}\n\
                         Nothing was uploaded. Check --chain-endpoint, or re-run with \
                         --skip-chain to upload only.",
                        args.netuid
                    );
                    return Ok(ExitCode::from(1));
                }
            }
        };
        let Some(uid) = uid else {
            eprintln!(
                "✗ hotkey {} is not registered on netuid {} at {chain}: register with \
                 `btcli subnet register --netuid {} --wallet.name {} --wallet.hotkey {}` \
                 (or check --netuid / --chain-endpoint). Nothing was uploaded.",
                hotkey.ss58(),
                args.netuid,
                args.netuid,
                args.wallet.wallet_name,
                args.wallet.wallet_hotkey
            );
            return Ok(ExitCode::from(1));
        };
        step(&format!(
            "[chain] Hotkey {} is registered on netuid {} (uid {uid})",
            hotkey.ss58(),
            args.netuid
        ));
        chain_client = Some(client);
    }

    // 3. Package directories into ZIPs in a temp dir.
    let scratch = tempfile::tempdir().context("creating a temporary directory")?;
    let mut items = Vec::new();
    for ((m, p), pkg) in models.iter().zip(validated) {
        let (zip, sha256, size) = if pkg.is_dir() {
            let out = scratch.path().join(format!("{m}_model.zip"));
            step(&format!("Packaging {} → {}", p.display(), out.display()));
            let packaged = gas_package::package(&pkg, &out)
                .with_context(|| format!("packaging {}", p.display()))?;
            (out, packaged.sha256, packaged.size_bytes)
        } else {
            let sha256 = pkg
                .sha256()
                .with_context(|| format!("validation of {} gave no SHA-256", p.display()))?;
            (
                p.clone(),
                sha256.to_string(),
                pkg.report().summary.size_bytes,
            )
        };
        items.push(Item {
            modality: *m,
            given: p.clone(),
            zip,
            sha256,
            size,
        });
    }

    let client = UploadClient::new(&args.upload_url, hotkey.clone(), RetryPolicy::default())?
        .on_retry(|step, attempt, err, delay| {
            eprintln!("  {step}: {err}; retry {attempt} in {:.0?}", delay);
        });
    let mut results = Vec::new();
    let mut status = ExitCode::SUCCESS;
    for it in &items {
        eprintln!(
            "Uploading {} model {} ({} bytes, sha256 {})",
            it.modality,
            it.given.display(),
            it.size,
            it.sha256
        );
        match rt.block_on(upload_one(&client, it)) {
            Ok(v) => results.push(v),
            Err(e) => {
                eprintln!("✗ {} model: {e}", it.modality);
                status = ExitCode::from(1);
                results.push(serde_json::json!({
                    "modality": it.modality.to_string(), "sha256": it.sha256, "error": e.to_string()}));
            }
        }
    }

    // 4. The on-chain commitment of the chosen model.
    let mut chain_json = serde_json::Value::Null;
    if let Some(mut client) = chain_client {
        let committed = results.iter().find(|r| {
            r["modality"].as_str() == Some(commit_modality.to_string().as_str())
                && r.get("error").is_none()
        });
        match committed.and_then(|r| r["commitment"].as_str()) {
            None => {
                eprintln!(
                    "✗ [chain] the {commit_modality} model was not uploaded, so nothing is \
                     committed on chain"
                );
                status = ExitCode::from(1);
                chain_json = serde_json::json!({
                    "endpoint": chain, "netuid": args.netuid,
                    "error": format!("the {commit_modality} model was not uploaded")});
            }
            Some(commitment) => {
                let commitment = commitment.to_string();
                match rt.block_on(commit(
                    &mut client,
                    &args,
                    &hotkey,
                    &commitment,
                    commit_modality,
                )) {
                    Ok(c) => {
                        chain_json = serde_json::json!({
                            "endpoint": chain,
                            "netuid": args.netuid,
                            "modality": commit_modality.to_string(),
                            "commitment": commitment,
                            "block_number": c.block_number,
                            "block_hash": c.block_hash,
                            "verified": true,
                        });
                    }
                    Err(e) => {
                        eprintln!("✗ [chain] {e:#}");
                        status = ExitCode::from(1);
                        chain_json = serde_json::json!({
                            "endpoint": chain, "netuid": args.netuid,
                            "modality": commit_modality.to_string(),
                            "commitment": commitment, "error": format!("{e:#}")});
                    }
                }
            }
        }
    }

    let summary =
        serde_json::json!({ "hotkey": hotkey.ss58(), "models": results, "chain": chain_json });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("Summary (hotkey {}):", hotkey.ss58());
        for r in &results {
            if let Some(e) = r.get("error") {
                println!(
                    "  {}: FAILED: {}",
                    r["modality"].as_str().unwrap_or("?"),
                    e.as_str().unwrap_or("?")
                );
            } else {
                println!(
                    "  {}: model_id {}  sha256 {}  r2_key {}\n    commitment {}",
                    r["modality"].as_str().unwrap_or("?"),
                    r["model_id"].as_str().unwrap_or("?"),
                    r["sha256"].as_str().unwrap_or("?"),
                    r["r2_key"].as_str().unwrap_or("?"),
                    r["commitment"].as_str().unwrap_or("?"),
                );
            }
        }
        if args.skip_chain {
            println!("  chain: skipped (--skip-chain)");
        } else if let Some(e) = chain_json.get("error") {
            println!("  chain: FAILED: {}", e.as_str().unwrap_or("?"));
        } else {
            println!(
                "  chain: {} model committed on netuid {} in block #{} ({}), verified",
                commit_modality,
                args.netuid,
                chain_json["block_number"],
                chain_json["block_hash"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(status)
}

/// Warns about an existing different commitment, commits with retries, reads back and compares.
async fn commit(
    client: &mut ChainClient,
    args: &Args,
    hotkey: &gas_chain::Hotkey,
    commitment: &str,
    modality: Modality,
) -> anyhow::Result<gas_chain::chain::Committed> {
    let account = hotkey.public_key();
    step(&format!(
        "[chain] Reading the current commitment of {} on netuid {}…",
        hotkey.ss58(),
        args.netuid
    ));
    match client.read_commitment(args.netuid, &account).await? {
        Some(old) if old.text == commitment => {
            step(&format!(
                "[chain] The same commitment is already on chain (block #{}); committing again",
                old.block
            ));
        }
        Some(old) => eprintln!(
            "warning: the hotkey's current commitment on netuid {} (block #{}) will be \
             overwritten:\n  old: {}\n  new: {commitment}",
            args.netuid, old.block, old.text
        ),
        None => step("[chain] No commitment yet"),
    }
    step(&format!(
        "[chain] Committing the {modality} model: {commitment}"
    ));
    let retry = ChainRetry {
        max_retries: args.max_retries,
        retry_delay: std::time::Duration::from_secs(args.retry_delay),
    };
    let max = args.max_retries;
    let committed = client
        .commit_with_retries(
            args.netuid,
            commitment,
            hotkey.keypair(),
            retry,
            |attempt, err, delay| {
                eprintln!(
                    "[chain] {err}; retry {attempt}/{max} in {} s",
                    delay.as_secs()
                );
            },
        )
        .await
        .context("committing on chain")?;
    step(&format!(
        "[chain] Finalized in block #{} ({})",
        committed.block_number, committed.block_hash
    ));
    step("[chain] Reading the commitment back…");
    let back = client
        .read_commitment(args.netuid, &account)
        .await
        .context("reading the commitment back")?;
    match back {
        Some(b) if b.text == commitment => {
            step("[chain] ✓ The on-chain commitment matches");
            Ok(committed)
        }
        Some(b) => anyhow::bail!(
            "the commitment read back from the chain differs from the one committed in block #{}:\n  \
             committed: {commitment}\n  on chain:  {}",
            committed.block_number,
            b.text
        ),
        None => anyhow::bail!(
            "no commitment found on chain after it was finalized in block #{}",
            committed.block_number
        ),
    }
}

async fn upload_one(client: &UploadClient, it: &Item) -> Result<serde_json::Value, UploadError> {
    let filename = it
        .zip
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("model.zip")
        .to_string();
    step("[1/3] Requesting presigned URL…");
    let ps = client
        .presigned(&PresignedRequest {
            filename,
            file_size: it.size,
            expected_hash: it.sha256.clone(),
            content_type: "application/octet-stream".into(),
            modality: it.modality.to_string(),
            vertical: "general".into(),
        })
        .await?;
    if let (Some(u), Some(m)) = (ps.submissions_used, ps.submissions_max) {
        step(&format!(
            "      model_id {} (submission {u}/{m})",
            ps.model_id
        ));
    }
    step("[2/3] Uploading…");
    let pb = indicatif::ProgressBar::with_draw_target(
        Some(it.size),
        indicatif::ProgressDrawTarget::stderr_with_hz(5),
    );
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "      [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let r = client
        .put_file(&ps.presigned_url, &it.zip, it.size, Some(&pb))
        .await;
    pb.finish_and_clear();
    r?;
    step("[3/3] Confirming upload…");
    client.confirm(&ps.model_id, &it.sha256).await?;
    let commitment =
        gas_chain::commitment::commitment_string(&ps.r2_key, &it.sha256, client.hotkey().ss58())
            .map_err(|e| UploadError::BadResponse {
                step: "commitment",
                detail: e.to_string(),
            })?;
    step(&format!(
        "✓ {} model uploaded: model_id {}",
        it.modality, ps.model_id
    ));
    Ok(serde_json::json!({
        "modality": it.modality.to_string(),
        "path": it.given,
        "model_id": ps.model_id,
        "sha256": it.sha256,
        "size_bytes": it.size,
        "r2_key": ps.r2_key,
        "commitment": commitment,
    }))
}
