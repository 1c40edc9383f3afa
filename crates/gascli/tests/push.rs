//! `gascli d push` end to end, as a process, against the real registry (in-process on
//! 127.0.0.1, real Epistula verification) and the fake subtensor node (real finney runtime
//! metadata, sr25519-verified extrinsics): registration check before any upload, three uploads,
//! the chosen modality's commitment on chain, read back; and the refusals that must happen before
//! anything leaves the machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use gas_chain::Hotkey;
use gas_chain::commitment::commitment_string;
use gas_chain::testing::{FakeNode, SubmitOutcome};
use gas_registry::api;
use gas_registry::auth::ChainAuth;
use gas_registry::state::{ApiConfig, AppState};
use gas_registry::{Db, Store};
use serde_json::{Value, json};

const SEED: [u8; 32] = [42; 32];
const NETUID: u16 = 34;

fn root() -> PathBuf {
    std::path::absolute(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))).unwrap()
}

/// `<root>/w/hotkeys/h`: an unencrypted Bittensor hotkey keyfile (push.md) from `SEED`.
fn write_wallet(root: &Path) -> Hotkey {
    let hk = Hotkey::from_seed(SEED);
    let pk = format!("0x{}", hex::encode(hk.public_key()));
    let dir = root.join("w/hotkeys");
    std::fs::create_dir_all(&dir).unwrap();
    let key = json!({"accountId": pk, "publicKey": pk, "secretSeed": format!("0x{}", hex::encode(SEED)),
                     "ss58Address": hk.ss58(), "cryptoType": 1});
    std::fs::write(dir.join("h"), key.to_string()).unwrap();
    hk
}

/// The fake node and the registry, served by a multi-threaded runtime while the test thread runs
/// the `gascli` binary.
struct Env {
    rt: tokio::runtime::Runtime,
    node: FakeNode,
    registry: String,
    db: Db,
    store: Store,
    dir: tempfile::TempDir,
    hotkey: Hotkey,
}

impl Env {
    fn start() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let hotkey = write_wallet(&dir.path().join("wallets"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let reg_dir = dir.path().join("registry");
        std::fs::create_dir_all(&reg_dir).unwrap();
        let (node, registry, db, store) = rt.block_on(async {
            let node = FakeNode::start().await.unwrap();
            let db = Db::sqlite_file(&reg_dir.join("meta.db")).await.unwrap();
            let store = Store::local(reg_dir.join("objects")).unwrap();
            let state = AppState {
                db: db.clone(),
                store: store.clone(),
                cfg: Arc::new(ApiConfig::default()),
                auth: Arc::new(ChainAuth::default()),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                axum::serve(listener, api::router(state)).await.unwrap();
            });
            (node, format!("http://{addr}"), db, store)
        });
        Env {
            rt,
            node,
            registry,
            db,
            store,
            dir,
            hotkey,
        }
    }

    /// Runs `gascli d push <models…> <extra…> --json` with the test wallet, the registry and
    /// (unless `extra` names another) the fake node.
    fn push(&self, models: &[(&str, PathBuf)], extra: &[&str]) -> (Option<i32>, Value, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gascli"));
        cmd.args(["d", "push"]);
        for (flag, path) in models {
            cmd.arg(format!("--{flag}-model")).arg(path);
        }
        cmd.arg("--wallet-path")
            .arg(self.dir.path().join("wallets"))
            .args(["--wallet-name", "w", "--wallet-hotkey", "h"])
            .arg("--upload-url")
            .arg(format!("{}/upload", self.registry))
            .args(["--retry-delay", "0", "--json"]);
        if !extra.contains(&"--chain-endpoint") {
            cmd.arg("--chain-endpoint").arg(self.node.url());
        }
        cmd.args(extra).env_remove("BT_WALLET_PATH");
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn stored_models(&self) -> Vec<gas_registry::db::Model> {
        self.rt
            .block_on(self.db.models_of(self.hotkey.ss58(), None))
            .unwrap()
    }

    fn stored_objects(&self) -> Vec<String> {
        self.rt.block_on(self.store.list("")).unwrap()
    }
}

fn all_three() -> Vec<(&'static str, PathBuf)> {
    let ex = root().join("examples");
    vec![
        ("image", ex.join("image-detector")),
        ("video", ex.join("video-detector")),
        ("audio", ex.join("audio-detector")),
    ]
}

#[test]
fn push_three_models_commits_the_video_model_on_chain() {
    let env = Env::start();
    let pk = env.hotkey.public_key();
    env.node.register(NETUID, pk, 12);

    let (code, v, err) = env.push(&all_three(), &["--commit-modality", "video"]);
    assert_eq!(code, Some(0), "{err}\n{v}");

    // The three uploads are stored by the registry.
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 3, "{v}");
    let stored = env.stored_models();
    assert_eq!(stored.len(), 3, "{stored:?}");
    let objects = env.stored_objects();
    for m in models {
        assert!(m.get("error").is_none(), "{m}");
        let id = m["model_id"].as_str().unwrap();
        let s = stored.iter().find(|s| s.model_id == id).expect("stored");
        assert_eq!(s.sha256, m["sha256"].as_str().unwrap());
        assert_eq!(s.modality, m["modality"].as_str().unwrap());
        assert!(
            objects.iter().any(|o| o == &s.r2_key),
            "{} not in {objects:?}",
            s.r2_key
        );
    }

    // The chain holds the video model's commitment string, written in the reported block.
    let video = models.iter().find(|m| m["modality"] == "video").unwrap();
    let expected = commitment_string(
        video["r2_key"].as_str().unwrap(),
        video["sha256"].as_str().unwrap(),
        env.hotkey.ss58(),
    )
    .unwrap();
    assert_eq!(video["commitment"], expected.as_str());
    let chain = &v["chain"];
    assert_eq!(chain["commitment"], expected.as_str(), "{v}");
    assert_eq!(chain["endpoint"], env.node.url().as_str());
    assert_eq!(chain["netuid"], NETUID);
    assert_eq!(chain["verified"], true);
    let block = chain["block_number"].as_u64().unwrap();
    assert_eq!(
        chain["block_hash"].as_str(),
        env.node.block_hash(block).as_deref()
    );
    assert_eq!(
        env.node.commitment(NETUID, pk).as_deref(),
        Some(expected.as_str())
    );
    let subs = env.node.submissions();
    assert_eq!(subs.len(), 1, "one commitment for three models");
    assert_eq!(
        subs[0].outcome,
        SubmitOutcome::Included {
            block,
            dispatch_error: None
        }
    );

    // The steps were reported on stderr, including the one-slot warning.
    assert!(
        err.contains("Only the video model will be committed"),
        "{err}"
    );
    assert!(err.contains("is registered on netuid 34 (uid 12)"), "{err}");
    assert!(
        err.contains("[chain] ✓ The on-chain commitment matches"),
        "{err}"
    );
}

#[test]
fn unregistered_hotkey_stops_before_any_upload() {
    let env = Env::start();
    // Registered on another subnet only.
    env.node.register(NETUID + 1, env.hotkey.public_key(), 3);
    let (code, v, err) = env.push(&all_three(), &["--commit-modality", "video"]);
    assert_eq!(code, Some(1), "{err}\n{v}");
    assert!(
        err.contains(&format!(
            "hotkey {} is not registered on netuid 34 at {}",
            env.hotkey.ss58(),
            env.node.url()
        )),
        "{err}"
    );
    assert!(err.contains("btcli subnet register"), "{err}");
    assert!(err.contains("Nothing was uploaded"), "{err}");
    assert!(env.stored_models().is_empty());
    assert!(env.stored_objects().is_empty());
    assert!(env.node.submissions().is_empty());
}

#[test]
fn invalid_package_and_dry_run_touch_no_network() {
    let env = Env::start();
    env.node.register(NETUID, env.hotkey.public_key(), 1);

    // An invalid package (no weights, no config): exit 1 before any connection.
    let bad = env.dir.path().join("bad-model");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("model.py"),
        "def load_model(p):\n    return None\n",
    )
    .unwrap();
    let ex = root().join("examples");
    let (code, _, err) = env.push(&[("image", ex.join("image-detector")), ("video", bad)], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("Nothing was uploaded"), "{err}");
    assert_eq!(env.node.connections(), 0, "{err}");

    // --dry-run: validates and prints the plan; no chain connection, no upload.
    let (code, v, err) = env.push(&all_three(), &["--dry-run", "--commit-modality", "audio"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["dry_run"], true, "{v}");
    assert_eq!(v["commit_modality"], "audio");
    assert_eq!(v["chain_endpoint"], env.node.url().as_str());
    assert_eq!(env.node.connections(), 0, "{err}");

    assert!(env.stored_models().is_empty());
    assert!(env.node.submissions().is_empty());

    // --skip-chain: uploads, never connects to the chain.
    let (code, v, err) = env.push(&[("image", ex.join("image-detector"))], &["--skip-chain"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["chain"], Value::Null, "{v}");
    assert_eq!(env.stored_models().len(), 1);
    assert_eq!(env.node.connections(), 0, "{err}");
}

#[test]
fn unreachable_chain_is_retried_then_stops_before_any_upload() {
    let env = Env::start();
    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, v, err) = env.push(
        &all_three(),
        &[
            "--chain-endpoint",
            &format!("ws://127.0.0.1:{port}"),
            "--max-retries",
            "2",
        ],
    );
    assert_eq!(code, Some(1), "{err}\n{v}");
    assert!(
        err.contains("retry 1/2") && err.contains("retry 2/2"),
        "{err}"
    );
    assert!(!err.contains("retry 3/"), "{err}");
    assert!(
        err.contains("cannot check the hotkey's registration on netuid 34"),
        "{err}"
    );
    assert!(err.contains("Nothing was uploaded"), "{err}");
    assert!(env.stored_models().is_empty());
}

#[test]
fn dropped_connection_is_retried_and_an_old_commitment_is_reported() {
    let env = Env::start();
    let pk = env.hotkey.public_key();
    env.node.register(NETUID, pk, 5);
    env.node.preset_commitment(
        NETUID,
        pk,
        r#"{"key":"models/old.zip","hash":"0123456789abcdef"}"#,
    );
    env.node.drop_next_submit();

    let ex = root().join("examples");
    let (code, v, err) = env.push(
        &[("image", ex.join("image-detector"))],
        &["--max-retries", "2"],
    );
    assert_eq!(code, Some(0), "{err}\n{v}");
    assert!(
        err.contains("will be overwritten") && err.contains("models/old.zip"),
        "{err}"
    );
    assert!(err.contains("retry 1/2"), "{err}");
    let expected = v["models"][0]["commitment"].as_str().unwrap();
    assert_eq!(v["chain"]["commitment"], expected);
    assert_eq!(env.node.commitment(NETUID, pk).as_deref(), Some(expected));
    let outcomes: Vec<_> = env
        .node
        .submissions()
        .into_iter()
        .map(|s| s.outcome)
        .collect();
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert_eq!(outcomes[0], SubmitOutcome::ConnectionDropped);

    // An invalid transaction is not retried: exit 1 with the node's reason; uploads already done.
    env.node
        .invalid_next_submit("Transaction has a bad signature");
    let variant = env.dir.path().join("image-v2");
    std::fs::create_dir_all(&variant).unwrap();
    for f in ["model.py", "model.safetensors"] {
        std::fs::copy(ex.join("image-detector").join(f), variant.join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(ex.join("image-detector/model_config.yaml")).unwrap();
    std::fs::write(
        variant.join("model_config.yaml"),
        cfg.replace("version: \"1.0.0\"", "version: \"1.0.2\""),
    )
    .unwrap();
    let (code, v, err) = env.push(&[("image", variant)], &["--max-retries", "2"]);
    assert_eq!(code, Some(1), "{err}\n{v}");
    assert!(err.contains("bad signature"), "{err}");
    assert!(!err.contains("retry 1/"), "{err}");
    assert!(
        v["chain"]["error"].as_str().unwrap().contains("invalid"),
        "{v}"
    );
    assert_eq!(env.stored_models().len(), 2);
    assert_eq!(env.node.commitment(NETUID, pk).as_deref(), Some(expected));
}

/// A ZIP is uploaded as it is, under the hash its validation computed (the registry checks
/// size and SHA-256 on confirm, so a wrong one fails the push).
#[test]
fn push_a_zip_uploads_it_under_its_own_hash() {
    let env = Env::start();
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("image.zip");
    gas_package::package_dir(&root().join("examples/image-detector"), &zip).unwrap();
    let want = gas_package::sha256_file(&zip).unwrap();

    let (code, v, err) = env.push(&[("image", zip.clone())], &["--skip-chain"]);
    assert_eq!(code, Some(0), "{err}\n{v}");
    assert_eq!(v["models"][0]["sha256"], want.as_str(), "{v}");
    assert_eq!(
        v["models"][0]["size_bytes"],
        std::fs::metadata(&zip).unwrap().len()
    );
    let stored = env.stored_models();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].sha256, want);
}

/// `d perf --json` with the test wallet against the registry.
fn perf(env: &Env, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args(["d", "perf", "--json", "--api-url"])
        .arg(format!("{}/api/v1", env.registry))
        .arg("--wallet-path")
        .arg(env.dir.path().join("wallets"))
        .args(["--wallet-name", "w", "--wallet-hotkey", "h"])
        .args(extra)
        .env_remove("BT_WALLET_PATH")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `--vertical human`: an audio model is refused before anything is uploaded (the network's
/// reason); image and video land in the registry under `human` and show in
/// `d perf --vertical human` only.
#[test]
fn human_vertical_refuses_audio_and_shows_in_perf() {
    let env = Env::start();
    let ex = root().join("examples");
    let (code, _, err) = env.push(
        &[
            ("image", ex.join("image-detector")),
            ("audio", ex.join("audio-detector")),
        ],
        &["--vertical", "human"],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(
            "The 'human' vertical is only available for image and video models. Remove \
             --audio-model, or use --vertical general."
        ),
        "{err}"
    );
    assert!(err.contains("Nothing was uploaded"), "{err}");
    assert!(env.stored_models().is_empty());
    assert_eq!(env.node.connections(), 0);

    let (code, v, err) = env.push(
        &[
            ("image", ex.join("image-detector")),
            ("video", ex.join("video-detector")),
        ],
        &["--vertical", "human", "--skip-chain"],
    );
    assert_eq!(code, Some(0), "{err}\n{v}");
    assert_eq!(v["vertical"], "human");
    let stored = env.stored_models();
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|m| m.vertical == "human"), "{stored:?}");
    // The count after each upload: 1/3 of its modality.
    assert!(err.contains("(submission 1/3)"), "{err}");
    assert!(!err.contains("submission 0/"), "{err}");

    let human = perf(&env, &["--vertical", "human"]);
    assert_eq!(human["models"].as_array().unwrap().len(), 2, "{human}");
    assert!(
        human["models"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["vertical"] == "human" && m["exam_status"] == "pending")
    );
    let image = perf(&env, &["--vertical", "human", "--modality", "image"]);
    assert_eq!(image["models"].as_array().unwrap().len(), 1, "{image}");
    let general = perf(&env, &["--vertical", "general"]);
    assert_eq!(general["models"], json!([]), "{general}");
    assert_eq!(general["runs"], json!([]), "{general}");
}

/// Re-pushing a model whose commitment is already on chain: nothing is uploaded again and no
/// transaction is submitted; the summary says so.
#[test]
fn identical_commitment_is_not_submitted_again() {
    let env = Env::start();
    env.node.register(NETUID, env.hotkey.public_key(), 9);
    let model = [("image", root().join("examples/image-detector"))];
    let (code, v, err) = env.push(&model, &[]);
    assert_eq!(code, Some(0), "{err}\n{v}");
    assert_eq!(env.node.submissions().len(), 1);
    let block = v["chain"]["block_number"].clone();

    let (code, v2, err) = env.push(&model, &[]);
    assert_eq!(code, Some(0), "{err}\n{v2}");
    assert_eq!(v2["models"][0]["already_uploaded"], true, "{v2}");
    assert_eq!(v2["chain"]["already_on_chain"], true, "{v2}");
    assert_eq!(v2["chain"]["block_number"], block);
    assert!(err.contains("already on chain"), "{err}");
    assert_eq!(env.node.submissions().len(), 1, "no second transaction");
    assert_eq!(env.stored_models().len(), 1);
}

/// The quota: the count after the upload, and a word when it is full.
#[test]
fn submission_count_after_upload_and_full_quota() {
    let env = Env::start();
    let ex = root().join("examples/image-detector");
    let tmp = tempfile::tempdir().unwrap();
    for (i, want) in [
        (1, "(submission 1/3)"),
        (2, "(submission 2/3)"),
        (3, "(submission 3/3)"),
    ] {
        let dst = tmp.path().join(format!("v{i}"));
        std::fs::create_dir_all(&dst).unwrap();
        for f in ["model.py", "model.safetensors"] {
            std::fs::copy(ex.join(f), dst.join(f)).unwrap();
        }
        let cfg = std::fs::read_to_string(ex.join("model_config.yaml")).unwrap();
        std::fs::write(
            dst.join("model_config.yaml"),
            cfg.replace(
                "version: \"1.0.0\"",
                &format!("version: \"1.0.{}\"", 10 + i),
            ),
        )
        .unwrap();
        let (code, v, err) = env.push(&[("image", dst)], &["--skip-chain"]);
        assert_eq!(code, Some(0), "{err}\n{v}");
        assert!(err.contains(want), "{err}");
        assert_eq!(v["models"][0]["submissions_used"], i);
        assert_eq!(
            err.contains("quota of this hotkey is now full (3/3)"),
            i == 3,
            "{err}"
        );
        assert!(
            v["models"][0]["filename"]
                .as_str()
                .unwrap()
                .ends_with(&format!("-1.0.{}.zip", 10 + i)),
            "{v}"
        );
    }
}
