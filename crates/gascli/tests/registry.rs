//! `gascli registry serve` as a real process on 127.0.0.1: signed upload protocol, a SIGKILL
//! between presigned and confirm, restart on the same data dir, and the in-process worker
//! validating the package with `gas_package`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gas_registry::auth::testing::Signer;
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
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("model_config.yaml"),
        "name: t\nversion: \"1\"\nmodality: image\npreprocessing:\n  resize: [8, 8]\nmodel:\n  num_classes: 2\n",
    )
    .unwrap();
    std::fs::write(
        src.join("model.py"),
        "import torch\nfrom safetensors.torch import load_file\n\ndef load_model(weights_path, num_classes=2):\n    m = torch.nn.Linear(2, num_classes)\n    m.load_state_dict(load_file(weights_path))\n    return m.eval()\n",
    )
    .unwrap();
    let h = r#"{"w":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}}"#;
    let mut st = (h.len() as u64).to_le_bytes().to_vec();
    st.extend_from_slice(h.as_bytes());
    st.resize(st.len() + 24, 0);
    std::fs::write(src.join("model.safetensors"), st).unwrap();
    let out = dir.join("model.zip");
    let p = gas_package::package_dir(&src, &out).unwrap();
    assert!(p.report.valid, "{:?}", p.report.errors);
    std::fs::read(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_survives_kill_between_presigned_and_confirm() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let miner = Signer::from_seed([11; 32]);
    let data = valid_package(dir.path());

    let s = serve(dir.path(), &[]);
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

    let s = serve(dir.path(), &[]);
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
        let m = v["data"]["models"][0].clone();
        if m["validation_status"] == "passed" {
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
}
