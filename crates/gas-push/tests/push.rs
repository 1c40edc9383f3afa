//! `gas_push::push` as a library call (no process): against the real registry in-process on
//! 127.0.0.1 (production Epistula verification) and the fake subtensor node (real finney runtime
//! metadata). Checks the events, the typed report and what the registry and the chain hold.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gas_chain::Hotkey;
use gas_chain::chain::ChainRetry;
use gas_chain::testing::FakeNode;
use gas_chain::upload::RetryPolicy;
use gas_package::Modality;
use gas_push::{ChainTarget, Event, Outcome, PushError, PushOptions, PushReport, Vertical};
use gas_registry::api;
use gas_registry::auth::ChainAuth;
use gas_registry::state::{ApiConfig, AppState};
use gas_registry::{Db, Store};

const NETUID: u16 = 34;

fn example(m: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"))
        .join(format!("{m}-detector"))
}

struct Env {
    _dir: tempfile::TempDir,
    node: FakeNode,
    base: String,
    db: Db,
    hotkey: Hotkey,
}

async fn start() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let node = FakeNode::start().await.unwrap();
    let db = Db::sqlite_file(&dir.path().join("meta.db")).await.unwrap();
    let store = Store::local(dir.path().join("objects")).unwrap();
    let state = AppState {
        db: db.clone(),
        store,
        cfg: Arc::new(ApiConfig::default()),
        auth: Arc::new(ChainAuth::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await.unwrap() });
    Env {
        _dir: dir,
        node,
        base,
        db,
        hotkey: Hotkey::from_seed([77; 32]),
    }
}

impl Env {
    fn options(&self, models: Vec<(Modality, PathBuf)>, chain: bool) -> PushOptions {
        PushOptions {
            models,
            vertical: Vertical::General,
            netuid: NETUID,
            chain: chain.then(|| ChainTarget {
                url: self.node.url(),
                retry: ChainRetry {
                    max_retries: 1,
                    retry_delay: Duration::from_millis(10),
                },
            }),
            upload_url: format!("{}/upload", self.base),
            api_url: Some(format!("{}/api/v1", self.base)),
            upload_retry: RetryPolicy {
                attempts: 1,
                base_delay: Duration::from_millis(10),
                request_timeout: Duration::from_secs(30),
            },
            commit_modality: None,
            dry_run: false,
        }
    }

    /// Runs a push, collecting the events as text.
    async fn push(&self, opts: &PushOptions) -> (Result<Outcome, PushError>, Vec<String>) {
        let mut events = Vec::new();
        let out = gas_push::push(&self.hotkey, opts, &mut |e: Event<'_>| {
            events.push(format!("{e:?}"))
        })
        .await;
        (out, events)
    }
}

fn pushed(out: Result<Outcome, PushError>) -> PushReport {
    match out {
        Ok(Outcome::Pushed(r)) => r,
        other => panic!("expected a push report, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_vertical_refuses_audio_before_anything() {
    let env = start().await;
    let mut opts = env.options(
        vec![
            (Modality::Image, example("image")),
            (Modality::Audio, example("audio")),
        ],
        true,
    );
    opts.vertical = Vertical::Human;
    let (out, events) = env.push(&opts).await;
    let e = out.unwrap_err();
    assert!(matches!(e, PushError::Options(_)), "{e:?}");
    assert_eq!(e.to_string(), gas_push::HUMAN_VERTICAL_AUDIO);
    assert!(events.is_empty(), "nothing validated or sent: {events:?}");
    assert_eq!(env.node.connections(), 0);
    assert_eq!(env.db.count_models().await.unwrap(), 0);
}

/// A directory pushed in the human vertical: stored under that vertical and named
/// `<config name>-<version>.zip`; the count after the upload; the same file again is the
/// hotkey's own model, described in one sentence; the identical commitment is not submitted
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertical_name_count_duplicate_and_unchanged_commitment() {
    let env = start().await;
    env.node.register(NETUID, env.hotkey.public_key(), 4);
    let mut opts = env.options(vec![(Modality::Image, example("image"))], true);
    opts.vertical = Vertical::Human;

    let (out, events) = env.push(&opts).await;
    let r = pushed(out);
    assert!(r.ok(), "{r:#?}\n{events:#?}");
    let m = &r.models[0];
    let cfg = std::fs::read_to_string(example("image").join("model_config.yaml")).unwrap();
    let field = |k: &str| {
        cfg.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .unwrap()
            .trim()
            .trim_matches('"')
            .to_string()
    };
    assert_eq!(
        m.filename,
        gas_push::zip_name(&field("name"), &field("version"))
    );
    assert!(m.filename.ends_with(&format!("-{}.zip", field("version"))));
    assert_eq!((m.submissions_used, m.submissions_max), (Some(1), Some(3)));
    let stored = env.db.models_of(env.hotkey.ss58(), None).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].vertical, "human");
    assert_eq!(stored[0].filename, m.filename);
    let order: Vec<&str> = events
        .iter()
        .map(|e| e.split([' ', '{']).next().unwrap())
        .filter(|e| !e.starts_with("UploadProgress"))
        .collect();
    assert_eq!(
        order,
        [
            "Validated",
            "ChainConnecting",
            "Registered",
            "Packaging",
            "UploadStarted",
            "UploadStep",
            "UploadStep",
            "UploadStep",
            "Uploaded",
            "ReadingCommitment",
            "NoCommitmentYet",
            "Committing",
            "Finalized",
            "ReadingBack",
            "Verified"
        ],
        "{events:#?}"
    );
    let chain = r.chain.as_ref().unwrap();
    assert!(chain.verified && !chain.already_on_chain, "{chain:?}");
    assert_eq!(env.node.submissions().len(), 1);

    // The same package again: the registry answers 409; the push finds the hotkey's own model
    // through the miner API and says so once; the chain already holds exactly this commitment,
    // so nothing is submitted.
    let (out, events) = env.push(&opts).await;
    let r2 = pushed(out);
    assert!(r2.ok(), "{r2:#?}");
    let m2 = &r2.models[0];
    assert!(m2.already_uploaded);
    assert_eq!(m2.model_id, m.model_id);
    assert_eq!(m2.commitment, m.commitment);
    let note = m2.note.as_deref().unwrap();
    assert_eq!(note.matches("already").count(), 1, "{note}");
    assert!(
        note.contains(&format!(
            "as your model {} (status uploaded)",
            m.model_id.as_deref().unwrap()
        )),
        "{note}"
    );
    let c2 = r2.chain.as_ref().unwrap();
    assert!(c2.already_on_chain && c2.verified, "{c2:?}");
    assert_eq!(c2.block_number, chain.block_number);
    assert_eq!(env.node.submissions().len(), 1, "not submitted again");
    assert!(
        events.iter().any(|e| e.starts_with("CommitmentUnchanged")),
        "{events:#?}"
    );
    assert_eq!(env.db.count_models().await.unwrap(), 1);
}

/// Another hotkey's file: an error in one sentence naming the model, nothing committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_hotkeys_duplicate_is_one_sentence() {
    let mut env = start().await;
    let opts = env.options(vec![(Modality::Image, example("image"))], false);
    let first = pushed(env.push(&opts).await.0);
    let id = first.models[0].model_id.clone().unwrap();
    env.hotkey = Hotkey::from_seed([78; 32]);
    let r = pushed(env.push(&opts).await.0);
    assert!(!r.ok());
    let e = r.models[0].error.as_deref().unwrap();
    assert_eq!(e.matches("already").count(), 1, "{e}");
    assert!(e.contains(&format!("uploaded as model {id};")), "{e}");
    assert!(
        e.ends_with("change the model to upload a new version"),
        "{e}"
    );
    assert!(r.chain.is_none());
}

/// A dry run validates and plans; nothing leaves the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_plans_without_network() {
    let env = start().await;
    let mut opts = env.options(
        vec![
            (Modality::Image, example("image")),
            (Modality::Video, example("video")),
        ],
        true,
    );
    opts.dry_run = true;
    opts.commit_modality = Some(Modality::Video);
    let (out, events) = env.push(&opts).await;
    let Ok(Outcome::Plan(plan)) = out else {
        panic!("{out:?}")
    };
    assert_eq!(plan.commit_modality, Some(Modality::Video));
    assert_eq!(plan.models.len(), 2);
    assert!(events.iter().any(|e| e.starts_with("OneCommitmentSlot")));
    assert_eq!(env.node.connections(), 0);
    assert_eq!(env.db.count_models().await.unwrap(), 0);
}

#[test]
fn zip_names_are_sanitised() {
    assert_eq!(
        gas_push::zip_name("my model", "1.0.0"),
        "my_model-1.0.0.zip"
    );
    assert_eq!(gas_push::zip_name("../../etc", "x/y"), "_.._etc-x_y.zip");
    assert_eq!(gas_push::zip_name("", ""), "model.zip");
    assert_eq!(gas_push::zip_name("a", ""), "a.zip");
    assert!(gas_push::zip_name(&"n".repeat(300), "1").len() <= 104);
}
