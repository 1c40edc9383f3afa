//! gas-push: the push workflow behind `gascli d push`, as one library call ([`push`]) with
//! options ([`PushOptions`]) and a progress callback ([`Event`]), the way cargo keeps its `ops`
//! apart from its commands.
//!
//! The steps, in order: check the options (the vertical allows each modality, the commitment's
//! modality was given) → validate every package before any network access → (dry run: the plan)
//! → check the hotkey's registration on the chain → package directories into ZIPs named
//! `<config name>-<version>.zip` → upload each (presigned → streamed PUT → confirm, with the
//! submission count after the upload; an already-uploaded file is looked up and described in one
//! sentence) → write the chosen model's commitment on chain, unless the chain already holds
//! exactly that commitment, and read it back.
//!
//! Owns: the order of those steps, their typed report ([`PushReport`], [`PushPlan`]) and the
//! refusals that stop a push before anything is uploaded ([`PushError`]). Must not touch:
//! package validation or packaging (gas-package), signing, HTTP and chain protocols
//! (gas-chain), or the terminal (the caller renders [`Event`]s).

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gas_chain::Hotkey;
use gas_chain::chain::{ChainClient, ChainError, ChainRetry};
use gas_chain::commitment::commitment_string;
use gas_chain::upload::{Presigned, PresignedRequest, RetryPolicy, UploadClient, UploadError};
use gas_package::{Modality, PackageError, ValidateOptions, ValidatedPackage, ValidationReport};
use serde::Serialize;
use serde_json::Value;

mod lookup;

pub use lookup::{ExistingModel, describe_existing, list as answer_list};

/// The network's competition verticals. `human` takes image and video models only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Vertical {
    #[default]
    General,
    Human,
}

/// The network's reason for refusing an audio model in the `human` vertical.
pub const HUMAN_VERTICAL_AUDIO: &str = "The 'human' vertical is only available for image and \
     video models. Remove --audio-model, or use --vertical general.";

impl Vertical {
    pub const ALL: [Vertical; 2] = [Vertical::General, Vertical::Human];

    pub fn as_str(self) -> &'static str {
        match self {
            Vertical::General => "general",
            Vertical::Human => "human",
        }
    }

    /// Whether models of `m` compete in this vertical.
    pub fn accepts(self, m: Modality) -> bool {
        !(self == Vertical::Human && m == Modality::Audio)
    }
}

impl fmt::Display for Vertical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Vertical {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "general" => Ok(Vertical::General),
            "human" => Ok(Vertical::Human),
            o => Err(format!(
                "unknown vertical {o:?} (expected general or human)"
            )),
        }
    }
}

/// Where the commitment is written.
#[derive(Debug, Clone)]
pub struct ChainTarget {
    /// `ws://` or `wss://` URL of a subtensor node.
    pub url: String,
    /// Retries of transient errors, for the registration check and the commit alike.
    pub retry: ChainRetry,
}

/// What to push and where.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Packages (ZIP or directory) by modality, in the order given.
    pub models: Vec<(Modality, PathBuf)>,
    pub vertical: Vertical,
    pub netuid: u16,
    /// `None`: upload only, no registration check and no commitment.
    pub chain: Option<ChainTarget>,
    /// Base of the upload API (`…/upload`).
    pub upload_url: String,
    /// Base of the miner API (`…/api/v1`), to describe an already-uploaded model; `None`: no
    /// look-up.
    pub api_url: Option<String>,
    pub upload_retry: RetryPolicy,
    /// Which model's commitment to write when several are pushed (default: the first).
    pub commit_modality: Option<Modality>,
    /// Validate and return the plan; no network access.
    pub dry_run: bool,
}

/// Progress of a push, in the order it happens. The caller renders them.
#[derive(Debug)]
pub enum Event<'a> {
    /// A package was validated (valid or not).
    Validated {
        modality: Modality,
        path: &'a Path,
        report: &'a ValidationReport,
    },
    /// Several models, one commitment slot: only `committed`'s commitment is written.
    OneCommitmentSlot {
        committed: Modality,
    },
    ChainConnecting {
        url: &'a str,
    },
    /// A transient chain error before a retry (registration check or commit).
    ChainRetry {
        attempt: u32,
        max_retries: u32,
        error: &'a ChainError,
        delay: Duration,
    },
    Registered {
        netuid: u16,
        uid: u16,
    },
    Packaging {
        path: &'a Path,
        zip: &'a Path,
    },
    UploadStarted {
        modality: Modality,
        path: &'a Path,
        filename: &'a str,
        size: u64,
        sha256: &'a str,
    },
    /// Step `n` of the three upload steps (presigned URL, PUT, confirm) begins.
    UploadStep {
        n: u8,
        what: &'static str,
    },
    /// A transient HTTP failure before a retry.
    UploadRetry {
        step: &'a str,
        attempt: u32,
        error: &'a str,
        delay: Duration,
    },
    /// Bytes of the PUT sent so far.
    UploadProgress {
        sent: u64,
        total: u64,
    },
    /// Confirmed. `used`/`max`: the hotkey's counted submissions of this modality after this
    /// upload, when the server says.
    Uploaded {
        modality: Modality,
        model_id: &'a str,
        used: Option<u64>,
        max: Option<u64>,
    },
    UploadFailed {
        modality: Modality,
        error: &'a str,
    },
    /// The hotkey had already uploaded this file; its existing model is used.
    AlreadyUploaded {
        modality: Modality,
        sentence: &'a str,
    },
    ReadingCommitment,
    NoCommitmentYet,
    /// The chain already holds exactly this commitment: nothing is submitted.
    CommitmentUnchanged {
        block: u64,
    },
    /// A different commitment will be overwritten.
    CommitmentReplaced {
        block: u64,
        old: &'a str,
    },
    Committing {
        modality: Modality,
        commitment: &'a str,
    },
    Finalized {
        block_number: u64,
        block_hash: &'a str,
    },
    ReadingBack,
    /// The commitment read back equals the one written.
    Verified,
}

/// Why a push stopped before anything was uploaded.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("{0}")]
    Options(String),
    #[error("cannot validate {}: {source}", .path.display())]
    Validate {
        path: PathBuf,
        #[source]
        source: gas_package::PackageError,
    },
    #[error("{} of the packages are not valid", .0.len())]
    Invalid(Vec<(Modality, PathBuf)>),
    #[error("cannot check the hotkey's registration on netuid {netuid} at {url}: {source}")]
    ChainUnreachable {
        netuid: u16,
        url: String,
        #[source]
        source: ChainError,
    },
    #[error("hotkey {hotkey} is not registered on netuid {netuid} at {url}")]
    NotRegistered {
        hotkey: String,
        netuid: u16,
        url: String,
    },
    #[error("packaging {}: {source}", .path.display())]
    Package {
        path: PathBuf,
        #[source]
        source: gas_package::PackageError,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Client(#[from] UploadError),
}

/// The plan of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct PushPlan {
    pub dry_run: bool,
    pub hotkey: String,
    pub upload_url: String,
    pub vertical: Vertical,
    /// `None` with no chain step.
    pub chain_endpoint: Option<String>,
    pub netuid: u16,
    pub commit_modality: Option<Modality>,
    pub models: Vec<PlannedModel>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedModel {
    pub modality: Modality,
    pub path: PathBuf,
}

/// One model's upload: its identifiers on success, `error` otherwise.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    pub modality: Modality,
    pub vertical: Vertical,
    pub path: PathBuf,
    /// The name the server stores (the ZIP's own name, or `<name>-<version>.zip`).
    pub filename: String,
    pub sha256: String,
    pub size_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r2_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commitment: Option<String>,
    /// Counted submissions of this modality after this upload, and the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submissions_used: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submissions_max: Option<u64>,
    /// The hotkey had already uploaded this file: nothing was sent; the existing model's
    /// identifiers are reported (`note` says so).
    pub already_uploaded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The chain step.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub endpoint: String,
    pub netuid: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality: Option<Modality>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commitment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<String>,
    /// The chain already held this commitment; no transaction was submitted.
    pub already_on_chain: bool,
    /// Read back and equal to the one written.
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    pub hotkey: String,
    pub vertical: Vertical,
    pub models: Vec<ModelReport>,
    /// `None` without a chain step.
    pub chain: Option<ChainReport>,
}

impl PushReport {
    /// Every upload and the chain step succeeded.
    pub fn ok(&self) -> bool {
        self.models.iter().all(|m| m.error.is_none())
            && self.chain.as_ref().is_none_or(|c| c.error.is_none())
    }
}

/// A dry run's plan, or what a push did.
#[derive(Debug, Clone)]
pub enum Outcome {
    Plan(PushPlan),
    Pushed(PushReport),
}

/// A package that passed validation.
struct Valid {
    modality: Modality,
    /// Validated once; packaging takes the handle and does not check again.
    pkg: ValidatedPackage,
}

/// A ZIP ready to upload.
struct Item {
    modality: Modality,
    given: PathBuf,
    zip: PathBuf,
    filename: String,
    sha256: String,
    size: u64,
}

/// Runs the push described by `opts` as `hotkey`, reporting progress to `on_event`.
/// `Err` means nothing was uploaded; upload and chain failures after that are in the report.
pub async fn push(
    hotkey: &Hotkey,
    opts: &PushOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Outcome, PushError> {
    let commit_modality = check_options(opts)?;
    let valid = validate_all(opts, on_event)?;
    if opts.models.len() > 1 && opts.chain.is_some() {
        on_event(Event::OneCommitmentSlot {
            committed: commit_modality,
        });
    }
    if opts.dry_run {
        return Ok(Outcome::Plan(plan(hotkey, opts, commit_modality)));
    }
    let chain = match &opts.chain {
        Some(target) => Some(check_registration(hotkey, opts.netuid, target, on_event).await?),
        None => None,
    };
    let scratch = tempfile::tempdir().map_err(|source| PushError::Io {
        what: "creating a temporary directory".into(),
        source,
    })?;
    let items = package_all(valid, scratch.path(), on_event)?;
    let retries = RetryLog::default();
    let client = UploadClient::new(&opts.upload_url, hotkey.clone(), opts.upload_retry.clone())?
        .on_retry(retries.hook());
    let mut models = Vec::with_capacity(items.len());
    for it in &items {
        models.push(upload_one(&client, it, opts, &retries, on_event).await);
    }
    let chain = match (chain, &opts.chain) {
        (Some(client), Some(target)) => Some(
            commit_chosen(
                client,
                hotkey,
                opts.netuid,
                target,
                commit_modality,
                &models,
                on_event,
            )
            .await,
        ),
        _ => None,
    };
    Ok(Outcome::Pushed(PushReport {
        hotkey: hotkey.ss58().to_string(),
        vertical: opts.vertical,
        models,
        chain,
    }))
}

/// At least one model; the vertical accepts each modality; the commitment's modality was given.
fn check_options(opts: &PushOptions) -> Result<Modality, PushError> {
    let Some((first, _)) = opts.models.first() else {
        return Err(PushError::Options(
            "no model given (--image-model, --video-model or --audio-model)".into(),
        ));
    };
    if opts.models.iter().any(|(m, _)| !opts.vertical.accepts(*m)) {
        return Err(PushError::Options(HUMAN_VERTICAL_AUDIO.into()));
    }
    match opts.commit_modality {
        Some(m) if !opts.models.iter().any(|(x, _)| *x == m) => Err(PushError::Options(format!(
            "--commit-modality {m}: no --{m}-model was given"
        ))),
        Some(m) => Ok(m),
        None => Ok(*first),
    }
}

/// Validates every package (each reported), before any network access.
fn validate_all(
    opts: &PushOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Vec<Valid>, PushError> {
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for (m, p) in &opts.models {
        let checked = gas_package::validate_package(
            p,
            &ValidateOptions {
                expected_modality: Some(*m),
            },
        );
        match checked {
            Ok(pkg) => {
                on_event(Event::Validated {
                    modality: *m,
                    path: p,
                    report: pkg.report(),
                });
                valid.push(Valid { modality: *m, pkg });
            }
            Err(PackageError::Invalid { report, .. }) => {
                on_event(Event::Validated {
                    modality: *m,
                    path: p,
                    report: &report,
                });
                invalid.push((*m, p.clone()));
            }
            Err(source) => {
                return Err(PushError::Validate {
                    path: p.clone(),
                    source,
                });
            }
        }
    }
    if invalid.is_empty() {
        Ok(valid)
    } else {
        Err(PushError::Invalid(invalid))
    }
}

fn plan(hotkey: &Hotkey, opts: &PushOptions, commit_modality: Modality) -> PushPlan {
    PushPlan {
        dry_run: true,
        hotkey: hotkey.ss58().to_string(),
        upload_url: opts.upload_url.clone(),
        vertical: opts.vertical,
        chain_endpoint: opts.chain.as_ref().map(|c| c.url.clone()),
        netuid: opts.netuid,
        commit_modality: opts.chain.as_ref().map(|_| commit_modality),
        models: opts
            .models
            .iter()
            .map(|(m, p)| PlannedModel {
                modality: *m,
                path: p.clone(),
            })
            .collect(),
    }
}

/// Connects and reads the hotkey's uid on `netuid`; transient errors are retried.
async fn check_registration(
    hotkey: &Hotkey,
    netuid: u16,
    target: &ChainTarget,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<ChainClient, PushError> {
    on_event(Event::ChainConnecting { url: &target.url });
    let mut attempt = 0;
    let (client, uid) = loop {
        let checked = async {
            let c = ChainClient::connect(&target.url).await?;
            let uid = c.uid(netuid, &hotkey.public_key()).await?;
            Ok::<_, ChainError>((c, uid))
        }
        .await;
        match checked {
            Ok(ok) => break ok,
            Err(e) if e.is_transient() && attempt < target.retry.max_retries => {
                attempt += 1;
                on_event(Event::ChainRetry {
                    attempt,
                    max_retries: target.retry.max_retries,
                    error: &e,
                    delay: target.retry.retry_delay,
                });
                tokio::time::sleep(target.retry.retry_delay).await;
            }
            Err(source) => {
                return Err(PushError::ChainUnreachable {
                    netuid,
                    url: target.url.clone(),
                    source,
                });
            }
        }
    };
    let Some(uid) = uid else {
        return Err(PushError::NotRegistered {
            hotkey: hotkey.ss58().to_string(),
            netuid,
            url: target.url.clone(),
        });
    };
    on_event(Event::Registered { netuid, uid });
    Ok(client)
}

/// `<config name>-<version>.zip`, with characters other than ASCII letters, digits, `.`, `_`
/// and `-` replaced by `_` (at most 100 characters before `.zip`).
pub fn zip_name(name: &str, version: &str) -> String {
    let clean = |s: &str| -> String {
        s.trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let (n, v) = (clean(name), clean(version));
    let stem = match (n.trim_matches('.').is_empty(), v.is_empty()) {
        (true, _) => "model".to_string(),
        (false, true) => n,
        (false, false) => format!("{n}-{v}"),
    };
    let stem: String = stem.chars().take(100).collect();
    format!("{}.zip", stem.trim_start_matches('.'))
}

/// Directories become ZIPs in `scratch` (one subdirectory per modality); ZIPs are uploaded as
/// they are, under the hash and size their validation computed.
fn package_all(
    valid: Vec<Valid>,
    scratch: &Path,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<Vec<Item>, PushError> {
    let mut items = Vec::with_capacity(valid.len());
    for v in valid {
        let path = v.pkg.path().to_path_buf();
        let item = if v.pkg.is_dir() {
            let cfg = v.pkg.config();
            let name = zip_name(&cfg.name, &cfg.version);
            let dir = scratch.join(v.modality.as_str());
            std::fs::create_dir_all(&dir).map_err(|source| PushError::Io {
                what: format!("creating {}", dir.display()),
                source,
            })?;
            let zip = dir.join(&name);
            on_event(Event::Packaging {
                path: &path,
                zip: &zip,
            });
            let packaged =
                gas_package::package(&v.pkg, &zip).map_err(|source| PushError::Package {
                    path: path.clone(),
                    source,
                })?;
            Item {
                modality: v.modality,
                given: path,
                zip,
                filename: name,
                sha256: packaged.sha256,
                size: packaged.size_bytes,
            }
        } else {
            let sha256 = v.pkg.sha256().map(str::to_string).ok_or_else(|| {
                PushError::Options(format!("validation of {} gave no SHA-256", path.display()))
            })?;
            Item {
                modality: v.modality,
                filename: path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("model.zip")
                    .to_string(),
                zip: path.clone(),
                given: path,
                sha256,
                size: v.pkg.report().summary.size_bytes,
            }
        };
        items.push(item);
    }
    Ok(items)
}

/// Retries reported by the upload client's hook (which must be `'static`), delivered to the
/// caller's callback by [`drive`].
#[derive(Clone, Default)]
struct RetryLog(Arc<Mutex<Vec<Retried>>>);

/// One retry reported by the upload client.
struct Retried {
    step: String,
    attempt: u32,
    error: String,
    delay: Duration,
}

impl RetryLog {
    fn hook(&self) -> impl Fn(&str, u32, &UploadError, Duration) + Send + Sync + 'static {
        let log = self.clone();
        move |step: &str, attempt: u32, err: &UploadError, delay: Duration| {
            if let Ok(mut l) = log.0.lock() {
                l.push(Retried {
                    step: step.to_string(),
                    attempt,
                    error: err.to_string(),
                    delay,
                });
            }
        }
    }

    fn drain(&self, on_event: &mut dyn FnMut(Event<'_>)) {
        let pending: Vec<_> = self
            .0
            .lock()
            .map(|mut l| l.drain(..).collect())
            .unwrap_or_default();
        for r in &pending {
            on_event(Event::UploadRetry {
                step: &r.step,
                attempt: r.attempt,
                error: &r.error,
                delay: r.delay,
            });
        }
    }
}

/// Awaits `fut`, delivering retries and (with `sent`) upload progress every 200 ms meanwhile.
async fn drive<T>(
    fut: impl Future<Output = T>,
    retries: &RetryLog,
    sent: Option<(&AtomicU64, u64)>,
    on_event: &mut dyn FnMut(Event<'_>),
) -> T {
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            out = &mut fut => {
                retries.drain(on_event);
                if let Some((c, total)) = sent {
                    on_event(Event::UploadProgress { sent: c.load(Ordering::Relaxed), total });
                }
                return out;
            }
            _ = tick.tick() => {
                retries.drain(on_event);
                if let Some((c, total)) = sent {
                    on_event(Event::UploadProgress { sent: c.load(Ordering::Relaxed), total });
                }
            }
        }
    }
}

/// Uploads one ZIP; failures are the report's `error` (one sentence).
async fn upload_one(
    client: &UploadClient,
    it: &Item,
    opts: &PushOptions,
    retries: &RetryLog,
    on_event: &mut dyn FnMut(Event<'_>),
) -> ModelReport {
    on_event(Event::UploadStarted {
        modality: it.modality,
        path: &it.given,
        filename: &it.filename,
        size: it.size,
        sha256: &it.sha256,
    });
    let mut report = ModelReport {
        modality: it.modality,
        vertical: opts.vertical,
        path: it.given.clone(),
        filename: it.filename.clone(),
        sha256: it.sha256.clone(),
        size_bytes: it.size,
        model_id: None,
        r2_key: None,
        commitment: None,
        submissions_used: None,
        submissions_max: None,
        already_uploaded: false,
        note: None,
        error: None,
    };
    match upload_steps(client, it, opts, retries, on_event).await {
        Ok((ps, confirmed)) => {
            if let Err(e) = finish_report(client, it, ps, &confirmed, &mut report) {
                report.error = Some(e);
            } else {
                on_event(Event::Uploaded {
                    modality: it.modality,
                    model_id: report.model_id.as_deref().unwrap_or_default(),
                    used: report.submissions_used,
                    max: report.submissions_max,
                });
            }
        }
        Err(UploadError::AlreadyUploaded { model_id, .. }) => {
            let existing = match &opts.api_url {
                Some(api) => {
                    describe_existing(client, api, it.modality, &it.sha256, model_id.as_deref())
                        .await
                }
                None => None,
            };
            // The hotkey's own model with its storage key: nothing to upload, commit it as is.
            let own = existing.as_ref().and_then(|e| {
                let key = e.r2_key.as_deref()?;
                let c = commitment_string(key, &it.sha256, client.hotkey().ss58()).ok()?;
                Some((e.model_id.clone(), key.to_string(), c))
            });
            let tail = if own.is_some() {
                lookup::REUSED
            } else {
                lookup::CHANGE
            };
            let sentence = lookup::duplicate_sentence(
                &it.sha256,
                model_id.as_deref(),
                existing.as_ref(),
                tail,
            );
            match own {
                Some((id, key, commitment)) => {
                    on_event(Event::AlreadyUploaded {
                        modality: it.modality,
                        sentence: &sentence,
                    });
                    report.model_id = Some(id);
                    report.r2_key = Some(key);
                    report.commitment = Some(commitment);
                    report.already_uploaded = true;
                    report.note = Some(sentence);
                }
                None => report.error = Some(sentence),
            }
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    if let Some(e) = &report.error {
        on_event(Event::UploadFailed {
            modality: it.modality,
            error: e,
        });
    }
    report
}

/// presigned → PUT → confirm; returns the presigned and the confirm answers.
async fn upload_steps(
    client: &UploadClient,
    it: &Item,
    opts: &PushOptions,
    retries: &RetryLog,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<(Presigned, Value), UploadError> {
    on_event(Event::UploadStep {
        n: 1,
        what: "Requesting presigned URL",
    });
    let req = PresignedRequest {
        filename: it.filename.clone(),
        file_size: it.size,
        expected_hash: it.sha256.clone(),
        content_type: "application/octet-stream".into(),
        modality: it.modality.to_string(),
        vertical: opts.vertical.to_string(),
    };
    let ps = drive(client.presigned(&req), retries, None, on_event).await?;
    on_event(Event::UploadStep {
        n: 2,
        what: "Uploading",
    });
    let sent = Arc::new(AtomicU64::new(0));
    drive(
        client.put_file(&ps.presigned_url, &it.zip, it.size, Some(sent.clone())),
        retries,
        Some((&sent, it.size)),
        on_event,
    )
    .await?;
    on_event(Event::UploadStep {
        n: 3,
        what: "Confirming upload",
    });
    let confirmed = drive(
        client.confirm(&ps.model_id, &it.sha256),
        retries,
        None,
        on_event,
    )
    .await?;
    Ok((ps, confirmed))
}

/// Identifiers, commitment string and the submission count after the upload: the confirm
/// answer's count when it has one, else the presigned answer's (taken before this upload) + 1,
/// as the network's client counts.
fn finish_report(
    client: &UploadClient,
    it: &Item,
    ps: Presigned,
    confirmed: &Value,
    report: &mut ModelReport,
) -> Result<(), String> {
    let commitment = commitment_string(&ps.r2_key, &it.sha256, client.hotkey().ss58())
        .map_err(|e| format!("commitment: {e}"))?;
    let data = &confirmed["data"];
    report.submissions_used = data["submissions_used"]
        .as_u64()
        .or(ps.submissions_used.map(|u| u + 1));
    report.submissions_max = data["submissions_max"].as_u64().or(ps.submissions_max);
    report.model_id = Some(ps.model_id);
    report.r2_key = Some(ps.r2_key);
    report.commitment = Some(commitment);
    Ok(())
}

/// Why the chain step failed after the uploads.
#[derive(Debug, thiserror::Error)]
enum CommitError {
    #[error("the {0} model was not uploaded, so nothing is committed on chain")]
    NotUploaded(Modality),
    #[error("{during}: {source}")]
    Chain {
        during: &'static str,
        #[source]
        source: ChainError,
    },
    #[error(
        "the commitment read back from the chain differs from the one committed in block \
         #{block}:\n  committed: {committed}\n  on chain:  {found}"
    )]
    Differs {
        block: u64,
        committed: String,
        found: String,
    },
    #[error("no commitment found on chain after it was finalized in block #{0}")]
    Missing(u64),
}

/// The chosen model's commitment: skipped when the chain holds it already, else written (with
/// retries that never double-commit) and read back.
async fn commit_chosen(
    mut client: ChainClient,
    hotkey: &Hotkey,
    netuid: u16,
    target: &ChainTarget,
    modality: Modality,
    models: &[ModelReport],
    on_event: &mut dyn FnMut(Event<'_>),
) -> ChainReport {
    let mut report = ChainReport {
        endpoint: target.url.clone(),
        netuid,
        modality: Some(modality),
        commitment: None,
        block_number: None,
        block_hash: None,
        already_on_chain: false,
        verified: false,
        error: None,
    };
    let commitment = models
        .iter()
        .find(|m| m.modality == modality && m.error.is_none())
        .and_then(|m| m.commitment.clone());
    let Some(commitment) = commitment else {
        report.modality = None;
        report.error = Some(CommitError::NotUploaded(modality).to_string());
        return report;
    };
    report.commitment = Some(commitment.clone());
    match commit(
        &mut client,
        hotkey,
        netuid,
        target,
        modality,
        &commitment,
        on_event,
    )
    .await
    {
        Ok((block, hash, already)) => {
            report.block_number = Some(block);
            report.block_hash = Some(hash);
            report.already_on_chain = already;
            report.verified = true;
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    report
}

/// Returns (block, block hash, whether it was already on chain).
async fn commit(
    client: &mut ChainClient,
    hotkey: &Hotkey,
    netuid: u16,
    target: &ChainTarget,
    modality: Modality,
    commitment: &str,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<(u64, String, bool), CommitError> {
    let account = hotkey.public_key();
    let chain =
        |during: &'static str| move |source: ChainError| CommitError::Chain { during, source };
    on_event(Event::ReadingCommitment);
    match client
        .read_commitment(netuid, &account)
        .await
        .map_err(chain("reading the current commitment"))?
    {
        Some(old) if old.text == commitment => {
            on_event(Event::CommitmentUnchanged { block: old.block });
            let hash = client
                .block_hash(old.block)
                .await
                .map_err(chain("reading the commitment's block"))?;
            return Ok((old.block, hash, true));
        }
        Some(old) => on_event(Event::CommitmentReplaced {
            block: old.block,
            old: &old.text,
        }),
        None => on_event(Event::NoCommitmentYet),
    }
    on_event(Event::Committing {
        modality,
        commitment,
    });
    let max = target.retry.max_retries;
    let mut on_retry = |attempt: u32, err: &ChainError, delay: Duration| {
        on_event(Event::ChainRetry {
            attempt,
            max_retries: max,
            error: err,
            delay,
        });
    };
    let committed = client
        .commit_with_retries(
            netuid,
            commitment,
            hotkey.keypair(),
            target.retry,
            &mut on_retry,
        )
        .await
        .map_err(chain("committing on chain"))?;
    on_event(Event::Finalized {
        block_number: committed.block_number,
        block_hash: &committed.block_hash,
    });
    on_event(Event::ReadingBack);
    match client
        .read_commitment(netuid, &account)
        .await
        .map_err(chain("reading the commitment back"))?
    {
        Some(b) if b.text == commitment => {
            on_event(Event::Verified);
            Ok((committed.block_number, committed.block_hash, false))
        }
        Some(b) => Err(CommitError::Differs {
            block: committed.block_number,
            committed: commitment.to_string(),
            found: b.text,
        }),
        None => Err(CommitError::Missing(committed.block_number)),
    }
}
