//! `gascli registry serve` as a real process on 127.0.0.1: signed upload protocol, a SIGKILL
//! between presigned and confirm, restart on the same data dir, and the in-process worker
//! validating the package with `gas_package`; `gascli d push` / `d status` against it (409 on a
//! duplicate, the quota on the 4th model) and, with the venv, the default exam + benchmark on the
//! bundled example data.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gas_chain::testing::Signer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args(["registry", "serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Served { child, base }
}

async fn signed(
    http: &reqwest::Client,
    s: &Signer,
    method: reqwest::Method,
    url: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut rb = http.request(method, url);
    for (k, v) in s.headers(&body) {
        rb = rb.header(k, v);
    }
    let r = rb.body(body).send().await.unwrap();
    let code = r.status();
    (code, r.json().await.unwrap_or(Value::Null))
}

fn presigned_body(data: &[u8], modality: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"filename": "model.zip", "file_size": data.len(),
        "expected_hash": hex::encode(Sha256::digest(data)),
        "content_type": "application/octet-stream", "modality": modality, "vertical": "general"}))
    .unwrap()
}

/// A valid package ZIP built with `gas_package::package_dir` (what `gascli d package` does).
fn valid_package(dir: &Path) -> Vec<u8> {
    let src = dir.join("model-src");
    use gas_test_support::{IMAGE_CONFIG, MODEL_PY};
    gas_test_support::write_package(&src, IMAGE_CONFIG, MODEL_PY, 6);
    let out = dir.join("model.zip");
    let p = gas_package::package_dir(&src, &out).unwrap();
    assert!(p.report.valid, "{:?}", p.report.errors);
    std::fs::read(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_survives_kill_between_presigned_and_confirm() {
    let dir = tempfile::tempdir().unwrap();
    gas_chain::upload::install_tls_provider();
    let http = reqwest::Client::new();
    let miner = Signer::from_seed([11; 32]);
    let data = valid_package(dir.path());

    let s = serve(dir.path(), &["--validate-only"]);
    let (code, v) = signed(
        &http,
        &miner,
        reqwest::Method::POST,
        &format!("{}/upload/presigned", s.base),
        presigned_body(&data, "image"),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let id = v["data"]["model_id"].as_str().unwrap().to_string();
    let url = v["data"]["presigned_url"].as_str().unwrap().to_string();
    let r = http.put(&url).body(data.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    drop(s); // SIGKILL

    let s = serve(dir.path(), &["--validate-only"]);
    let confirm = serde_json::to_vec(
        &json!({"model_id": id, "file_hash": hex::encode(Sha256::digest(&data))}),
    )
    .unwrap();
    let (code, v) = signed(
        &http,
        &miner,
        reqwest::Method::POST,
        &format!("{}/upload/confirm", s.base),
        confirm,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["submissions_used"], 1);

    // The in-process worker picks the job up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let model = loop {
        let (code, v) = signed(
            &http,
            &miner,
            reqwest::Method::GET,
            &format!("{}/api/v1/miner/models?modality=image", s.base),
            vec![],
        )
        .await;
        assert_eq!(code, StatusCode::OK, "{v}");
        let m = v[0].clone();
        if m["status"] == "valid" {
            break m;
        }
        assert!(Instant::now() < deadline, "job not run: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(model["model_id"], id.as_str());
    assert_eq!(model["status"], "valid", "{model}");

    // Same hash again: 409.
    let other = Signer::from_seed([12; 32]);
    let (code, _) = signed(
        &http,
        &other,
        reqwest::Method::POST,
        &format!("{}/upload/presigned", s.base),
        presigned_body(&data, "image"),
    )
    .await;
    assert_eq!(code, StatusCode::CONFLICT);
    let lb: Value = http
        .get(format!("{}/api/v1/leaderboard?modality=image", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(lb["data"]["models"][0]["hotkey"], miner.ss58.as_str());
}

#[tokio::test]
async fn disabled_modality_answers_503_and_bad_flags_fail() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(
        dir.path(),
        &["--disable-uploads", "video,audio", "--workers", "0"],
    );
    gas_chain::upload::install_tls_provider();
    let http = reqwest::Client::new();
    let miner = Signer::from_seed([13; 32]);
    let (code, v) = signed(
        &http,
        &miner,
        reqwest::Method::POST,
        &format!("{}/upload/presigned", s.base),
        presigned_body(b"PK\x03\x04x", "audio"),
    )
    .await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["detail"], "Uploads for audio are disabled");
    let r = http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args([
            "registry",
            "serve",
            "--disable-uploads",
            "text",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown modality"));

    for (flags, code, msg) in [
        (
            &["--exam-data", "text=/tmp"][..],
            2,
            "unknown modality \"text\"",
        ),
        (
            &["--benchmark-data", "image"][..],
            2,
            "expected MODALITY=PATH",
        ),
        (
            &["--exam-data", "video=/nonexistent/gas-data"][..],
            2,
            "cannot read /nonexistent/gas-data",
        ),
        (
            &["--exam-threshold", "1.5"][..],
            2,
            "--exam-threshold 1.5: must be between 0 and 1",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
            .args(["registry", "worker", "--once", "--data-dir"])
            .arg(dir.path())
            .args(flags)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{flags:?}: {err}");
        assert!(err.contains(msg), "{flags:?}: {err}");
    }
}

fn root() -> PathBuf {
    std::path::absolute(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))).unwrap()
}

/// Whether the worker venv is there (exam and benchmark can run); without it, only the upload
/// protocol is checked (and CI must have it).
fn venv_ready() -> bool {
    gas_test_support::venv_python(&[]).is_some()
}

/// A Bittensor wallet with one unencrypted hotkey (push.md: `<wallet>/hotkeys/<hotkey>`).
fn wallet(root: &Path, seed: [u8; 32]) -> String {
    let hk = gas_chain::Hotkey::from_seed(seed);
    let pk = format!("0x{}", hex::encode(hk.public_key()));
    let dir = root.join("default/hotkeys");
    std::fs::create_dir_all(&dir).unwrap();
    let key = json!({"accountId": pk, "publicKey": pk, "secretSeed": format!("0x{}", hex::encode(seed)),
                     "ss58Address": hk.ss58(), "cryptoType": 1});
    std::fs::write(dir.join("default"), key.to_string()).unwrap();
    hk.ss58().to_string()
}

/// `gascli d push --image-model MODEL --skip-chain --json` against the test server.
fn push(base: &str, wallets: &Path, model: &Path) -> (Option<i32>, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args(["d", "push", "--image-model"])
        .arg(model)
        .args(["--skip-chain", "--json", "--upload-url"])
        .arg(format!("{base}/upload"))
        .arg("--wallet-path")
        .arg(wallets)
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `gascli d status --json` (the `perf` alias) → the image models of the hotkey.
fn status(base: &str, wallets: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args(["d", "status", "--json", "--modality", "image", "--api-url"])
        .arg(format!("{base}/api/v1"))
        .arg("--wallet-path")
        .arg(wallets)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["models"].as_array().cloned().unwrap_or_default()
}

/// A copy of the example detector with another version: same model, a different ZIP hash.
fn variant(dir: &Path, version: u32) -> PathBuf {
    let src = root().join("examples/image-detector");
    let dst = dir.join(format!("image-detector-v{version}"));
    std::fs::create_dir_all(&dst).unwrap();
    for f in ["model.py", "model.safetensors"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(src.join("model_config.yaml")).unwrap();
    std::fs::write(
        dst.join("model_config.yaml"),
        cfg.replace("version: \"1.0.0\"", &format!("version: \"1.0.{version}\"")),
    )
    .unwrap();
    dst
}

#[test]
fn push_status_duplicate_and_quota_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = dir.path().join("wallets");
    let ss58 = wallet(&wallets, [31; 32]);
    let full = venv_ready();
    // The default evaluation (exam + benchmark on the bundled examples/data/image) when the
    // venv is there; validation only otherwise.
    let extra: &[&str] = if full {
        &["--torch-threads", "1"]
    } else {
        &["--validate-only"]
    };
    let s = serve(&dir.path().join("registry"), extra);

    let example = root().join("examples/image-detector");
    let (code, v, err) = push(&s.base, &wallets, &example);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["hotkey"], ss58.as_str());
    let first = v["models"][0]["model_id"].as_str().unwrap().to_string();
    assert_eq!(
        v["models"][0]["r2_key"],
        format!("models/{}.zip", v["models"][0]["sha256"].as_str().unwrap())
    );
    let listed = status(&s.base, &wallets);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["model_id"], first.as_str());

    // The same ZIP again: 409, looked up through the miner API: the hotkey's own model, said
    // in one sentence, not an error (its commitment would be used as it is).
    let (code, v, err) = push(&s.base, &wallets, &example);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("was already uploaded"), "{err}");
    let note = v["models"][0]["note"].as_str().unwrap();
    assert_eq!(note.matches("already").count(), 1, "{note}");
    assert!(note.contains(&format!("your model {first}")), "{note}");
    assert_eq!(v["models"][0]["already_uploaded"], true, "{v}");
    assert_eq!(v["models"][0]["model_id"], first.as_str(), "{v}");

    // Two more distinct models fill the quota of 3; the 4th is refused.
    for version in [2, 3] {
        let (code, _, err) = push(&s.base, &wallets, &variant(dir.path(), version));
        assert_eq!(code, Some(0), "{err}");
    }
    let (code, v, err) = push(&s.base, &wallets, &variant(dir.path(), 4));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("submission limit reached: 3 of 3 counted image models"),
        "{err}"
    );
    assert!(
        v["models"][0]["error"]
            .as_str()
            .unwrap()
            .contains("submission limit")
    );
    assert_eq!(status(&s.base, &wallets).len(), 3);

    if !full {
        eprintln!("exam/benchmark part skipped: needs the venv (scripts/setup.sh --test)");
        return;
    }
    // The in-process worker runs validate → exam → benchmark on the bundled data.
    let deadline = Instant::now() + Duration::from_secs(240);
    let m = loop {
        let models = status(&s.base, &wallets);
        let m = models
            .iter()
            .find(|m| m["model_id"] == first.as_str())
            .cloned()
            .unwrap();
        if m["benchmark_status"] == "success" || m["status"] == "exam_failed" {
            break m;
        }
        assert!(Instant::now() < deadline, "not evaluated in time: {m}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(m["exam_status"], "passed", "{m}");
    assert_eq!(m["status"], "confirmed", "{m}");
    let runs = m["benchmark_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "one benchmark run: {m}");
    assert_eq!(runs[0]["status"], "success", "{m}");
    assert!(runs[0]["sn34_score"].as_f64().unwrap() > 0.9, "{m}");
    assert_eq!(
        runs[0]["datasets"].as_array().unwrap().len(),
        3,
        "3 datasets: {m}"
    );
}
