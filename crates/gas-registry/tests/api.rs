//! HTTP API tests on 127.0.0.1:0 with a reqwest client that signs Epistula headers with the
//! production signer (`gas_chain::testing::Signer`); the server verifies with the production
//! authenticator (`ChainAuth`, i.e. `gas_chain::epistula::Verifier`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gas_chain::testing::Signer;
use gas_registry::api;
use gas_registry::auth::ChainAuth;
use gas_registry::state::{ApiConfig, AppState};
use gas_registry::{Db, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

struct Server {
    base: String,
    task: tokio::task::JoinHandle<()>,
    db: Db,
    store: Store,
}

async fn start(dir: &Path, cfg: ApiConfig) -> Server {
    gas_chain::upload::install_tls_provider();
    let db = Db::sqlite_file(&dir.join("meta.db")).await.unwrap();
    let store = Store::local(dir.join("objects")).unwrap();
    let auth = ChainAuth::default();
    let state = AppState {
        db: db.clone(),
        store: store.clone(),
        cfg: Arc::new(cfg),
        auth: Arc::new(auth),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = api::router(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        task,
        db,
        store,
    }
}

struct Client {
    http: reqwest::Client,
    signer: Signer,
    /// The signer's SS58 address.
    hotkey: String,
}

impl Client {
    /// A client signing as the hotkey derived from `name`.
    fn new(name: &str) -> Self {
        gas_chain::upload::install_tls_provider();
        let signer = Signer::named(name);
        Self {
            http: reqwest::Client::new(),
            hotkey: signer.ss58.clone(),
            signer,
        }
    }

    fn signed(&self, rb: reqwest::RequestBuilder, body: &[u8]) -> reqwest::RequestBuilder {
        let uuid = uuid::Uuid::new_v4().to_string();
        let ts = gas_registry::db::now_ms().to_string();
        self.signed_with(rb, body, &uuid, &ts)
    }

    fn signed_with(
        &self,
        rb: reqwest::RequestBuilder,
        body: &[u8],
        uuid: &str,
        ts: &str,
    ) -> reqwest::RequestBuilder {
        let mut rb = rb;
        for (k, v) in self.signer.headers_at(body, uuid, ts.parse().unwrap()) {
            rb = rb.header(k, v);
        }
        rb.body(body.to_vec())
    }

    async fn post(&self, url: &str, v: &Value) -> (StatusCode, Value) {
        let body = serde_json::to_vec(v).unwrap();
        let r = self
            .signed(self.http.post(url), &body)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        let code = r.status();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, url: &str) -> (StatusCode, Value) {
        let r = self.signed(self.http.get(url), b"").send().await.unwrap();
        let code = r.status();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    async fn presigned(&self, base: &str, data: &[u8], modality: &str) -> (StatusCode, Value) {
        self.post(
            &format!("{base}/upload/presigned"),
            &json!({"filename": "model.zip", "file_size": data.len(),
                    "expected_hash": hex::encode(Sha256::digest(data)),
                    "content_type": "application/octet-stream", "modality": modality,
                    "vertical": "general"}),
        )
        .await
    }

    async fn put(&self, url: &str, data: &[u8]) -> StatusCode {
        self.http
            .put(url)
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn confirm(&self, base: &str, model_id: &str, data: &[u8]) -> (StatusCode, Value) {
        self.post(
            &format!("{base}/upload/confirm"),
            &json!({"model_id": model_id, "file_hash": hex::encode(Sha256::digest(data))}),
        )
        .await
    }

    /// presigned + PUT + confirm; returns the confirm answer.
    async fn upload(&self, base: &str, data: &[u8], modality: &str) -> (StatusCode, Value) {
        let (code, v) = self.presigned(base, data, modality).await;
        if code != StatusCode::OK {
            return (code, v);
        }
        let id = v["data"]["model_id"].as_str().unwrap().to_string();
        let url = v["data"]["presigned_url"].as_str().unwrap().to_string();
        assert_eq!(self.put(&url, data).await, StatusCode::OK);
        self.confirm(base, &id, data).await
    }
}

fn zip_bytes(tag: u8) -> Vec<u8> {
    let mut v = b"PK\x03\x04".to_vec();
    v.extend((0..50_000u32).map(|i| (i as u8).wrapping_mul(tag)));
    v.push(tag);
    v
}

#[tokio::test]
async fn upload_protocol_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), ApiConfig::default()).await;
    let c = Client::new("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    let data = zip_bytes(3);

    let (code, v) = c.presigned(&s.base, &data, "image").await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let d = &v["data"];
    assert_eq!(d["submissions_used"], 0);
    assert_eq!(d["submissions_max"], 3);
    let sha = hex::encode(Sha256::digest(&data));
    assert_eq!(d["r2_key"], format!("models/{sha}.zip"));
    let id = d["model_id"].as_str().unwrap();
    let url = d["presigned_url"].as_str().unwrap();
    assert!(url.starts_with(&s.base), "{url}");
    // Retrying presigned returns the same upload.
    let (_, again) = c.presigned(&s.base, &data, "image").await;
    assert_eq!(again["data"]["model_id"], id);

    assert_eq!(c.put(url, &data).await, StatusCode::OK);
    let (code, v) = c.confirm(&s.base, id, &data).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["submissions_used"], 1);
    assert_eq!(v["data"]["status"], "uploaded");
    // Stored content-addressed, staging empty.
    assert_eq!(
        s.store
            .get_bytes(&format!("models/{sha}.zip"))
            .await
            .unwrap(),
        data
    );
    assert!(s.store.list("staging").await.unwrap().is_empty());
    // A retried confirm gets the same answer; nothing double-counted.
    let (code, v2) = c.confirm(&s.base, id, &data).await;
    assert_eq!(code, StatusCode::OK, "{v2}");
    assert_eq!(v2["data"]["submissions_used"], 1);
    assert_eq!(s.db.count_models().await.unwrap(), 1);

    // Same hash again: 409, from anyone.
    let (code, v) = Client::new("5Other")
        .presigned(&s.base, &data, "image")
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("already uploaded"));

    let (code, v) = c
        .get(&format!("{}/api/v1/miner/models?modality=image", s.base))
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let models = v.as_array().unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0]["model_id"], id);
    assert_eq!(models[0]["status"], "uploaded");
    assert_eq!(models[0]["exam_status"], "pending");
    assert_eq!(models[0]["benchmark_status"], Value::Null);

    let r = reqwest::get(format!("{}/api/v1/leaderboard?modality=image", s.base))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let lb: Value = r.json().await.unwrap();
    assert_eq!(lb["data"]["models"][0]["model_id"], id);
    assert_eq!(lb["data"]["models"][0]["rank"], 1);
    let r = reqwest::get(format!("{}/healthz", s.base)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.task.abort();
}

#[tokio::test]
async fn quota_disabled_and_bad_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ApiConfig::default();
    cfg.disabled.insert("audio".into());
    cfg.max_per_modality = 2;
    let s = start(dir.path(), cfg).await;
    let c = Client::new("5Quota");
    for i in 1..=2u8 {
        let (code, v) = c.upload(&s.base, &zip_bytes(i), "video").await;
        assert_eq!(code, StatusCode::OK, "{v}");
        assert_eq!(v["data"]["submissions_used"], i);
    }
    let (code, v) = c.presigned(&s.base, &zip_bytes(9), "video").await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("2 of 2"), "{v}");

    let (code, v) = c.presigned(&s.base, &zip_bytes(9), "audio").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(v["detail"], "Uploads for audio are disabled");

    let (code, v) = c.presigned(&s.base, &zip_bytes(9), "text").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(v["detail"].as_str().unwrap().contains("modality"), "{v}");

    // Wrong bytes on PUT: refused, nothing staged; confirm then says no bytes were received.
    let data = zip_bytes(7);
    let (_, v) = c.presigned(&s.base, &data, "image").await;
    let id = v["data"]["model_id"].as_str().unwrap();
    let url = v["data"]["presigned_url"].as_str().unwrap();
    let mut wrong = data.clone();
    wrong[100] ^= 1;
    assert_eq!(c.put(url, &wrong).await, StatusCode::BAD_REQUEST);
    let mut longer = data.clone();
    longer.push(0);
    assert_eq!(c.put(url, &longer).await, StatusCode::BAD_REQUEST);
    assert!(s.store.list("staging").await.unwrap().is_empty());
    let (code, v) = c.confirm(&s.base, id, &data).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("no bytes"), "{v}");
    // Someone else cannot confirm my upload.
    assert_eq!(c.put(url, &data).await, StatusCode::OK);
    let (code, _) = Client::new("5Thief").confirm(&s.base, id, &data).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    // Unknown upload id for PUT.
    let bogus = format!("{}/upload/blob/{}", s.base, uuid::Uuid::new_v4());
    assert_eq!(c.put(&bogus, &data).await, StatusCode::NOT_FOUND);
    s.task.abort();
}

#[tokio::test]
async fn signatures_timestamps_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), ApiConfig::default()).await;
    let c = Client::new("5Signer");
    let url = format!("{}/api/v1/miner/models", s.base);

    // Unsigned.
    let r = c.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Replayed uuid.
    let uuid = uuid::Uuid::new_v4().to_string();
    let ts = gas_registry::db::now_ms().to_string();
    let r = c
        .signed_with(c.http.get(&url), b"", &uuid, &ts)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .signed_with(c.http.get(&url), b"", &uuid, &ts)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["detail"].as_str().unwrap().contains("already used"),
        "{v}"
    );
    // Stale timestamp (20 s old).
    let old = (gas_registry::db::now_ms() - 20_000).to_string();
    let r = c
        .signed_with(
            c.http.get(&url),
            b"",
            &uuid::Uuid::new_v4().to_string(),
            &old,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Body tampered after signing.
    let body = serde_json::to_vec(&json!({"model_id": "x", "file_hash": "0".repeat(64)})).unwrap();
    let r = c
        .signed(c.http.post(format!("{}/upload/confirm", s.base)), &body)
        .body(b"{}".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Signed by one key, claiming another hotkey.
    let uuid = uuid::Uuid::new_v4().to_string();
    let ts = gas_registry::db::now_ms().to_string();
    let mut rb = c.http.get(&url);
    for (k, v) in Signer::named("5Mallory").headers_at(b"", &uuid, ts.parse().unwrap()) {
        rb = rb.header(
            k,
            if k == "Epistula-Signed-By" {
                c.hotkey.clone()
            } else {
                v
            },
        );
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["detail"].as_str().unwrap().contains("does not verify"),
        "{v}"
    );
    // A duplicated identity header is refused outright.
    let r = c
        .signed(c.http.get(&url), b"")
        .header("Epistula-Signed-By", Signer::named("5Mallory").ss58)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    s.task.abort();
}

/// The server dies between presigned/PUT and confirm; a new one on the same data dir
/// accepts the confirm. An abandoned upload is swept once it expires.
#[tokio::test]
async fn restart_between_presigned_and_confirm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ApiConfig {
        // Long enough that the restart and confirm finish before it on a loaded 2-core machine.
        upload_ttl: Duration::from_secs(6),
        ..ApiConfig::default()
    };
    let c = Client::new("5Crash");
    let data = zip_bytes(5);
    let abandoned = zip_bytes(6);
    let (id, id2) = {
        let s = start(dir.path(), cfg.clone()).await;
        let (_, v) = c.presigned(&s.base, &data, "image").await;
        let id = v["data"]["model_id"].as_str().unwrap().to_string();
        assert_eq!(
            c.put(v["data"]["presigned_url"].as_str().unwrap(), &data)
                .await,
            StatusCode::OK
        );
        let (_, v) = c.presigned(&s.base, &abandoned, "image").await;
        let id2 = v["data"]["model_id"].as_str().unwrap().to_string();
        assert_eq!(
            c.put(v["data"]["presigned_url"].as_str().unwrap(), &abandoned)
                .await,
            StatusCode::OK
        );
        s.task.abort();
        let _ = s.task.await;
        (id, id2)
    };
    let s = start(dir.path(), cfg).await;
    let (code, v) = c.confirm(&s.base, &id, &data).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    assert_eq!(
        s.store.list("staging").await.unwrap(),
        vec![format!("staging/{id2}")]
    );
    assert_eq!(
        gas_registry::sweep::sweep(&s.db, &s.store).await.unwrap(),
        0,
        "not expired yet"
    );
    tokio::time::sleep(Duration::from_millis(6100)).await;
    assert_eq!(
        gas_registry::sweep::sweep(&s.db, &s.store).await.unwrap(),
        1
    );
    assert!(s.store.list("staging").await.unwrap().is_empty());
    assert!(s.db.upload(&id2).await.unwrap().is_none());
    let (code, _) = c.confirm(&s.base, &id2, &abandoned).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(s.db.count_models().await.unwrap(), 1);
    s.task.abort();
}

/// gas_chain's real upload client (what `gascli d push` uses) against the registry with the
/// production authenticator: presigned → streamed PUT → confirm → status, then 409 and 503.
#[tokio::test]
async fn gas_chain_upload_client_against_registry() {
    use gas_chain::upload::{PresignedRequest, RetryPolicy, UploadClient};
    let dir = tempfile::tempdir().unwrap();
    let db = Db::sqlite_file(&dir.path().join("meta.db")).await.unwrap();
    let store = Store::local(dir.path().join("objects")).unwrap();
    let mut cfg = ApiConfig::default();
    cfg.disabled.insert("video".into());
    let state = AppState {
        db: db.clone(),
        store,
        cfg: Arc::new(cfg),
        auth: Arc::new(gas_registry::auth::ChainAuth::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, api::router(state)).await.unwrap();
    });
    let retry = RetryPolicy {
        attempts: 1,
        base_delay: Duration::from_millis(10),
        request_timeout: Duration::from_secs(10),
    };
    let hk = gas_chain::Hotkey::from_seed([21u8; 32]);
    let client = UploadClient::new(&format!("{base}/upload"), hk.clone(), retry.clone()).unwrap();
    let data = zip_bytes(77);
    let path = dir.path().join("m.zip");
    std::fs::write(&path, &data).unwrap();
    let (hash, size) = gas_chain::upload::sha256_file(&path).unwrap();
    let req = |modality: &str| PresignedRequest {
        filename: "m.zip".into(),
        file_size: size,
        expected_hash: hash.clone(),
        content_type: "application/octet-stream".into(),
        modality: modality.into(),
        vertical: "general".into(),
    };
    let p = client.presigned(&req("image")).await.unwrap();
    assert_eq!(p.submissions_max, Some(3));
    client
        .put_file(&p.presigned_url, &path, size, None)
        .await
        .unwrap();
    let v = client.confirm(&p.model_id, &hash).await.unwrap();
    assert_eq!(v["data"]["submissions_used"], 1, "{v}");
    let status = client
        .get_signed_json(&format!("{base}/api/v1/miner/models?modality=image"))
        .await
        .unwrap();
    assert_eq!(status[0]["model_id"], p.model_id.as_str());
    // Already uploaded → 409; disabled modality → 503 (as errors of the client).
    let e = client
        .presigned(&req("image"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("409") || e.to_lowercase().contains("already"),
        "{e}"
    );
    let e = client
        .presigned(&req("video"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("Uploads for video are disabled"), "{e}");
    assert_eq!(db.count_models().await.unwrap(), 1);
    task.abort();
}

/// Give a confirmed model a scored benchmark with calibration bins.
async fn score(db: &Db, sn34: f64) {
    let l = db
        .lease_job("t", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let ok = json!({"passed": true});
    let outcome = |status, next, result, metrics| gas_registry::JobOutcome {
        state: "done",
        result,
        error: None,
        model_status: status,
        reasons: &[],
        metrics,
        next_stage: next,
        max_attempts: 3,
    };
    db.finish_job(&l, outcome("valid", Some("benchmark"), Some(&ok), &[]))
        .await
        .unwrap();
    let l = db
        .lease_job("t", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.stage, "benchmark");
    let res = json!({"passed": true, "detail": {"calibration": [
        {"p": 0.05, "frac": 0.1, "n": 40}, {"p": 0.5, "frac": 0.45, "n": 20}, {"p": 0.95, "frac": 0.9, "n": 40}]}});
    let m = [gas_registry::NewMetric {
        dataset: "*".into(),
        sn34: Some(sn34),
        mcc: Some(0.6),
        brier: Some(0.12),
        accuracy: Some(0.85),
        samples: 100,
        base_sn34: None,
        aug_sn34: None,
    }];
    db.finish_job(&l, outcome("evaluated", None, Some(&res), &m))
        .await
        .unwrap();
}

#[tokio::test]
async fn leaderboard_page_renders_escaped_and_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), ApiConfig::default()).await;
    let c = Client::new("5Page<script>");
    let data = zip_bytes(42);
    let (code, v) = c
        .post(
            &format!("{}/upload/presigned", s.base),
            &json!({"filename": "<b>evil</b>.zip", "file_size": data.len(),
                    "expected_hash": hex::encode(Sha256::digest(&data)),
                    "content_type": "application/octet-stream", "modality": "image"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let id = v["data"]["model_id"].as_str().unwrap().to_string();
    assert_eq!(
        c.put(v["data"]["presigned_url"].as_str().unwrap(), &data)
            .await,
        StatusCode::OK
    );
    assert_eq!(c.confirm(&s.base, &id, &data).await.0, StatusCode::OK);
    score(&s.db, 0.8123).await;

    let html = reqwest::get(format!("{}/?modality=image", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("&lt;b&gt;evil&lt;/b&gt;.zip"),
        "filename escaped"
    );
    assert!(!html.contains("<b>evil"), "no raw markup");
    assert!(html.contains(&c.hotkey));
    assert!(html.contains("0.8123") && html.contains("<svg class=\"cal\""));
    let empty = reqwest::get(format!("{}/leaderboard?modality=audio", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(empty.contains("No models yet."));
    let r = reqwest::get(format!("{}/?modality=text", s.base))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Real headless Chromium at phone size: the DOM it builds has the row and the plot.
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok()
    });
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: chromium must be installed"
        );
        eprintln!("skipped: no chromium");
        return;
    };
    let url = format!("{}/?modality=image", s.base);
    let shot = dir.path().join("phone.png");
    let out = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=390,844",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .await
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("Leaderboard: image"),
        "{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dom.contains(&id) && dom.contains("<circle"), "{dom}");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 2000,
        "screenshot written"
    );
    if let Ok(keep) = std::env::var("GASCLI_REGISTRY_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    s.task.abort();
}

/// The network's client (`gas/protocol/miner_requests.py`, `gas/cli.py`), request by request:
/// compact JSON bodies in its key order, signed GETs with the empty body, and the answers'
/// shapes that its `d perf` reads (a bare list of models with `modality`, `vertical`,
/// `model_id`, `exam_status`, `upload_timestamp` (ISO 8601), `exam_reason`, `benchmark_runs` with
/// `run_id`, `status`, `vertical`, `sn34_score`, `mcc`, `brier`, `started_at`; and a bare list of
/// runs from `/miner/performance` with `run_id`, `status`, `modality`, `vertical`, `sn34_score`,
/// `mcc`, `brier`), with its `modality` / `vertical` query parameters.
#[tokio::test]
async fn network_client_request_and_response_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), ApiConfig::default()).await;
    let c = Client::new("network-client");
    let data = zip_bytes(61);
    let hash = hex::encode(Sha256::digest(&data));

    // generate_presigned_url: json.dumps(payload, separators=(',', ':')), keys in this order.
    let body = format!(
        "{{\"filename\":\"image_detector.zip\",\"file_size\":{},\"expected_hash\":\"{hash}\",\
         \"content_type\":\"application/octet-stream\",\"modality\":\"image\",\"vertical\":\"human\"}}",
        data.len()
    );
    let raw_post = |url: String, body: String| {
        let rb = c
            .signed(c.http.post(url), body.as_bytes())
            .header("Content-Type", "application/json");
        async move {
            let r = rb.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (code, v) = raw_post(format!("{}/upload/presigned", s.base), body).await;
    assert_eq!(code, StatusCode::OK, "{v}");
    // What upload_single_modality reads.
    let d = &v["data"];
    for k in ["model_id", "presigned_url", "r2_key"] {
        assert!(d[k].is_string(), "{k}: {v}");
    }
    assert_eq!(d["submissions_used"], 0);
    assert_eq!(d["submissions_max"], 3);
    // upload_to_r2: a plain PUT with Content-Type; 200.
    assert_eq!(
        c.put(d["presigned_url"].as_str().unwrap(), &data).await,
        StatusCode::OK
    );
    // confirm_upload: {"model_id":…,"file_hash":…}, compact.
    let id = d["model_id"].as_str().unwrap().to_string();
    let (code, v) = raw_post(
        format!("{}/upload/confirm", s.base),
        format!("{{\"model_id\":\"{id}\",\"file_hash\":\"{hash}\"}}"),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    score(&s.db, 0.7321).await;

    // fetch_models: GET /api/v1/miner/models (params: modality), a JSON list.
    for url in [
        format!("{}/api/v1/miner/models", s.base),
        format!("{}/api/v1/miner/models?modality=image", s.base),
    ] {
        let (code, v) = c.get(&url).await;
        assert_eq!(code, StatusCode::OK, "{v}");
        let models = v
            .as_array()
            .expect("a bare list, as the network's client iterates");
        assert_eq!(models.len(), 1, "{v}");
        let m = &models[0];
        assert_eq!(m["model_id"], id.as_str());
        assert_eq!(m["modality"], "image");
        assert_eq!(m["vertical"], "human");
        assert_eq!(m["exam_status"], "passed", "{m}");
        let ts = m["upload_timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        let runs = m["benchmark_runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1, "{m}");
        let r = &runs[0];
        assert!(r["run_id"].is_string());
        assert_eq!(r["status"], "success");
        assert_eq!(r["vertical"], "human");
        assert_eq!(r["sn34_score"], 0.7321);
        assert_eq!(r["mcc"], 0.6);
        assert_eq!(r["brier"], 0.12);
        assert!(chrono::DateTime::parse_from_rfc3339(r["started_at"].as_str().unwrap()).is_ok());
    }
    let (_, v) = c
        .get(&format!("{}/api/v1/miner/models?modality=video", s.base))
        .await;
    assert_eq!(v, json!([]));

    // fetch_performance: GET /api/v1/miner/performance (params: modality, vertical).
    let (code, v) = c
        .get(&format!(
            "{}/api/v1/miner/performance?modality=image&vertical=human",
            s.base
        ))
        .await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let runs = v.as_array().expect("a bare list of runs");
    assert_eq!(runs.len(), 1, "{v}");
    let r = &runs[0];
    for k in [
        "run_id",
        "status",
        "modality",
        "vertical",
        "sn34_score",
        "mcc",
        "brier",
    ] {
        assert!(!r[k].is_null(), "{k}: {r}");
    }
    assert_eq!(
        (
            r["modality"].as_str(),
            r["vertical"].as_str(),
            r["status"].as_str()
        ),
        (Some("image"), Some("human"), Some("success"))
    );
    for q in ["vertical=general", "modality=audio"] {
        let (code, v) = c
            .get(&format!("{}/api/v1/miner/performance?{q}", s.base))
            .await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(v, json!([]), "{q}");
    }
    let (code, v) = c
        .get(&format!(
            "{}/api/v1/miner/performance?vertical=robots",
            s.base
        ))
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");

    // Leaderboards per modality and vertical.
    let lb = |q: &'static str| {
        let url = format!("{}/api/v1/leaderboard?{q}", s.base);
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let human = lb("modality=image&vertical=human").await;
    assert_eq!(
        human["data"]["models"][0]["model_id"],
        id.as_str(),
        "{human}"
    );
    assert_eq!(human["data"]["models"][0]["vertical"], "human");
    let general = lb("modality=image").await;
    assert_eq!(general["data"]["vertical"], "general");
    assert_eq!(general["data"]["models"], json!([]), "{general}");
    gas_chain::upload::install_tls_provider();
    let page = reqwest::get(format!("{}/?modality=image&vertical=human", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&id) && page.contains("0.7321"), "{page}");
    s.task.abort();
}

/// `human` is for image and video: an audio upload is refused with the network's reason, before
/// any URL is handed out; an unknown vertical is refused.
#[tokio::test]
async fn human_vertical_refuses_audio() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), ApiConfig::default()).await;
    let c = Client::new("vertical");
    let data = zip_bytes(62);
    for (vertical, modality, want) in [
        (
            "human",
            "audio",
            "only available for image and video models",
        ),
        ("robots", "image", "vertical \"robots\" is unknown"),
    ] {
        let (code, v) = c
            .post(
                &format!("{}/upload/presigned", s.base),
                &json!({"filename": "m.zip", "file_size": data.len(),
                        "expected_hash": hex::encode(Sha256::digest(&data)),
                        "content_type": "application/octet-stream", "modality": modality,
                        "vertical": vertical}),
            )
            .await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["detail"].as_str().unwrap().contains(want), "{v}");
    }
    assert!(s.db.pending_ids().await.unwrap().is_empty());
    s.task.abort();
}

/// An unsigned request is told that a signed request is required and how to send one.
#[tokio::test]
async fn unsigned_request_is_told_how_to_sign() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), ApiConfig::default()).await;
    for url in [
        format!("{}/api/v1/miner/models", s.base),
        format!("{}/api/v1/miner/performance", s.base),
    ] {
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v: Value = r.json().await.unwrap();
        let d = v["detail"].as_str().unwrap();
        assert!(
            d.contains("requires a request signed with your hotkey"),
            "{d}"
        );
        assert!(
            d.contains("Epistula v2") && d.contains("gascli d push"),
            "{d}"
        );
        assert!(!d.starts_with("missing header"), "{d}");
    }
    s.task.abort();
}

/// 409 names the existing model once, as text and as a field.
#[tokio::test]
async fn duplicate_answer_names_the_model_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), ApiConfig::default()).await;
    let c = Client::new("dup");
    let data = zip_bytes(63);
    let (code, v) = c.upload(&s.base, &data, "image").await;
    assert_eq!(code, StatusCode::OK, "{v}");
    let id = v["data"]["model_id"].as_str().unwrap();
    let (code, v) = c.presigned(&s.base, &data, "image").await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(v["model_id"], id);
    let d = v["detail"].as_str().unwrap();
    assert_eq!(d.matches("already").count(), 1, "{d}");
    assert!(d.contains(id), "{d}");
    s.task.abort();
}
