//! Upload client against an in-test HTTP server on 127.0.0.1 that verifies Epistula headers
//! (signature, timestamp window, replay), the body hash of the PUT, and injects failures.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use gas_chain::Hotkey;
use gas_chain::epistula::{Verifier, sha256_hex};
use gas_chain::upload::{PresignedRequest, RetryPolicy, UploadClient, UploadError, sha256_file};

#[derive(Default)]
struct Srv {
    verifier: Verifier,
    base: Mutex<String>,
    /// presigned answers 500 this many times first
    fail_500: AtomicU32,
    /// PUT sleeps 3 s (client timeout is 1 s) this many times first
    put_slow: AtomicU32,
    /// presigned answers 503 "disabled" while set
    disabled: AtomicU32,
    expected_hash: Mutex<Option<String>>,
    stored: Mutex<Vec<String>>,
    confirmed: Mutex<Vec<String>>,
    presigned_calls: AtomicU32,
    signers: Mutex<Vec<String>>,
    presigned_body: Mutex<String>,
}

type S = State<Arc<Srv>>;

fn check(s: &Srv, h: &HeaderMap, body: &[u8]) -> Result<(), (StatusCode, String)> {
    let signer = s
        .verifier
        .verify(|n| h.get(n).and_then(|v| v.to_str().ok()), body, "")
        .map_err(|e| (StatusCode::UNAUTHORIZED, format!("{{\"detail\":\"{e}\"}}")))?;
    s.signers.lock().unwrap().push(signer);
    Ok(())
}

async fn presigned(State(s): S, h: HeaderMap, body: Bytes) -> (StatusCode, String) {
    s.presigned_calls.fetch_add(1, Ordering::SeqCst);
    if let Err(e) = check(&s, &h, &body) {
        return e;
    }
    if s.fail_500.load(Ordering::SeqCst) > 0 {
        s.fail_500.fetch_sub(1, Ordering::SeqCst);
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "{\"error\":\"boom\"}".into(),
        );
    }
    if s.disabled.load(Ordering::SeqCst) > 0 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"detail\":\"Uploads for image are disabled\"}".into(),
        );
    }
    *s.presigned_body.lock().unwrap() = String::from_utf8_lossy(&body).into_owned();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let hash = v["expected_hash"].as_str().unwrap().to_string();
    if s.stored.lock().unwrap().contains(&hash) {
        return (
            StatusCode::CONFLICT,
            "{\"detail\":\"Model with this hash already exists\"}".into(),
        );
    }
    *s.expected_hash.lock().unwrap() = Some(hash.clone());
    let base = s.base.lock().unwrap().clone();
    let data = serde_json::json!({"data": {
        "model_id": format!("m-{}", &hash[..8]),
        "presigned_url": format!("{base}/put/{hash}"),
        "r2_key": format!("models/{}.zip", &hash[..12]),
        "submissions_used": 1, "submissions_max": 5}});
    (StatusCode::OK, data.to_string())
}

async fn do_put(State(s): S, h: HeaderMap, body: Bytes) -> (StatusCode, String) {
    if s.put_slow.load(Ordering::SeqCst) > 0 {
        s.put_slow.fetch_sub(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    assert_eq!(h.get("content-type").unwrap(), "application/octet-stream");
    let want = s.expected_hash.lock().unwrap().clone().unwrap();
    if sha256_hex(&body) != want {
        return (StatusCode::BAD_REQUEST, "hash mismatch".into());
    }
    s.stored.lock().unwrap().push(want);
    (StatusCode::OK, String::new())
}

async fn confirm(State(s): S, h: HeaderMap, body: Bytes) -> (StatusCode, String) {
    if let Err(e) = check(&s, &h, &body) {
        return e;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let hash = v["file_hash"].as_str().unwrap().to_string();
    if !s.stored.lock().unwrap().contains(&hash) {
        return (
            StatusCode::BAD_REQUEST,
            "{\"detail\":\"not uploaded\"}".into(),
        );
    }
    s.confirmed
        .lock()
        .unwrap()
        .push(v["model_id"].as_str().unwrap().to_string());
    (StatusCode::OK, "{\"ok\":true}".into())
}

async fn models(State(s): S, h: HeaderMap) -> (StatusCode, String) {
    if let Err(e) = check(&s, &h, b"") {
        return e;
    }
    (StatusCode::OK, "{\"models\":[]}".into())
}

async fn start() -> (Arc<Srv>, String) {
    let s = Arc::new(Srv::default());
    let app = Router::new()
        .route("/upload/presigned", post(presigned))
        .route("/upload/confirm", post(confirm))
        .route("/put/{hash}", put(do_put))
        .route("/miner/models", get(models))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(s.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    *s.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (s, base)
}

fn client(base: &str, hk: Hotkey) -> UploadClient {
    let retry = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(20),
        request_timeout: Duration::from_secs(1),
    };
    UploadClient::new(&format!("{base}/upload"), hk, retry).unwrap()
}

fn zip_file(dir: &std::path::Path, size: usize) -> std::path::PathBuf {
    let p = dir.join("model.zip");
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&p, data).unwrap();
    p
}

fn req(hash: &str, size: u64) -> PresignedRequest {
    PresignedRequest {
        filename: "model.zip".into(),
        file_size: size,
        expected_hash: hash.into(),
        content_type: "application/octet-stream".into(),
        modality: "image".into(),
        vertical: "general".into(),
    }
}

#[tokio::test]
async fn full_flow_with_retries_then_409() {
    let (s, base) = start().await;
    let d = tempfile::tempdir().unwrap();
    let p = zip_file(d.path(), 3 * 1024 * 1024 + 17);
    let (hash, size) = sha256_file(&p).unwrap();
    assert_eq!(hash, sha256_hex(&std::fs::read(&p).unwrap()));
    let hk = Hotkey::from_seed([3; 32]);
    let retries = Arc::new(AtomicU32::new(0));
    let r2 = retries.clone();
    let c = client(&base, hk.clone()).on_retry(move |_, _, _, _| {
        r2.fetch_add(1, Ordering::SeqCst);
    });

    s.fail_500.store(2, Ordering::SeqCst);
    let ps = c.presigned(&req(&hash, size)).await.unwrap();
    assert_eq!(
        s.presigned_calls.load(Ordering::SeqCst),
        3,
        "two 500s then success"
    );
    assert_eq!(ps.r2_key, format!("models/{}.zip", &hash[..12]));
    // Field order on the wire is the spec's.
    let body = s.presigned_body.lock().unwrap().clone();
    let order: Vec<usize> = [
        "filename",
        "file_size",
        "expected_hash",
        "content_type",
        "modality",
        "vertical",
    ]
    .iter()
    .map(|k| body.find(&format!("\"{k}\"")).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{body}");

    s.put_slow.store(1, Ordering::SeqCst);
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    c.put_file(&ps.presigned_url, &p, size, Some(sent.clone()))
        .await
        .unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), size);
    assert_eq!(
        retries.load(Ordering::SeqCst),
        3,
        "2 retries for 500 + 1 for the PUT timeout"
    );

    c.confirm(&ps.model_id, &hash).await.unwrap();
    assert_eq!(*s.confirmed.lock().unwrap(), vec![ps.model_id.clone()]);
    assert!(s.signers.lock().unwrap().iter().all(|a| a == hk.ss58()));

    // The same hash again: 409, not retried, explained.
    let before = s.presigned_calls.load(Ordering::SeqCst);
    let e = c.presigned(&req(&hash, size)).await.unwrap_err();
    assert!(matches!(e, UploadError::AlreadyUploaded { .. }), "{e}");
    assert!(e.to_string().contains("already uploaded"), "{e}");
    assert_eq!(s.presigned_calls.load(Ordering::SeqCst), before + 1);

    let v = c
        .get_signed_json(&format!("{base}/miner/models?modality=image"))
        .await
        .unwrap();
    assert_eq!(v["models"], serde_json::json!([]));
}

#[tokio::test]
async fn disabled_503_is_not_retried_and_persistent_500_gives_up() {
    let (s, base) = start().await;
    let c = client(&base, Hotkey::from_seed([4; 32]));
    s.disabled.store(1, Ordering::SeqCst);
    let e = c.presigned(&req(&"ab".repeat(32), 10)).await.unwrap_err();
    assert!(matches!(e, UploadError::Disabled { .. }), "{e}");
    assert!(e.to_string().contains("between competition rounds"), "{e}");
    assert_eq!(s.presigned_calls.load(Ordering::SeqCst), 1);

    s.disabled.store(0, Ordering::SeqCst);
    s.fail_500.store(10, Ordering::SeqCst);
    let e = c.presigned(&req(&"ab".repeat(32), 10)).await.unwrap_err();
    assert!(matches!(e, UploadError::Http { status: 500, .. }), "{e}");
    assert!(e.to_string().contains("boom"), "{e}");
    assert_eq!(s.presigned_calls.load(Ordering::SeqCst), 4, "3 attempts");
}

#[tokio::test]
async fn timeouts_exhaust_and_connection_refused_is_reported() {
    let (s, base) = start().await;
    let d = tempfile::tempdir().unwrap();
    let p = zip_file(d.path(), 1000);
    let (hash, size) = sha256_file(&p).unwrap();
    let c = client(&base, Hotkey::from_seed([5; 32]));
    let ps = c.presigned(&req(&hash, size)).await.unwrap();
    s.put_slow.store(5, Ordering::SeqCst);
    let e = c
        .put_file(&ps.presigned_url, &p, size, None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, UploadError::Transport { attempts: 3, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("timed out"), "{e}");

    // Nothing listens on this port any more.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let c = client(&dead, Hotkey::from_seed([5; 32]));
    let e = c.presigned(&req(&hash, size)).await.unwrap_err();
    assert!(e.to_string().contains("connection failed"), "{e}");
}

#[tokio::test]
async fn server_rejects_bad_signature_and_replay() {
    let (s, base) = start().await;
    let hk = Hotkey::from_seed([6; 32]);
    let body = b"{\"model_id\":\"x\",\"file_hash\":\"y\"}";
    let mut headers = gas_chain::epistula::sign_request(&hk, body, "");
    gas_chain::upload::install_tls_provider();
    let http = reqwest::Client::new();
    let send = |hs: Vec<(&'static str, String)>, b: &'static [u8]| {
        let mut r = http.post(format!("{base}/upload/confirm")).body(b);
        for (k, v) in hs {
            r = r.header(k, v);
        }
        r.send()
    };
    // tampered body → 401
    let r = send(headers.clone(), b"{\"model_id\":\"z\",\"file_hash\":\"y\"}")
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // genuine → reaches handler (400: not uploaded); replay → 401
    let r = send(headers.clone(), body).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = send(headers.clone(), body).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("replay"));
    // stale timestamp → 401
    headers = gas_chain::epistula::sign_request_at(
        &hk,
        body,
        "",
        gas_chain::epistula::now_ms() - 16_000,
        &uuid::Uuid::new_v4().to_string(),
    );
    let r = send(headers, body).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(s.confirmed.lock().unwrap().is_empty());
}
