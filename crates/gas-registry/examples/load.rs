//! Bounded loopback load test: many concurrent signed uploads (presigned + PUT + confirm)
//! against an in-process registry on 127.0.0.1:0 (SQLite + local store). Prints throughput
//! and p50/p99 latencies, then checks that nothing was lost or double-counted.
//!
//! `cargo run -p gas-registry --example load -- [hotkeys=50] [uploads_per_hotkey=3] [concurrency=32] [size_kib=256]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use gas_chain::testing::Signer;
use gas_registry::api;
use gas_registry::auth::ChainAuth;
use gas_registry::state::{ApiConfig, AppState};
use gas_registry::{Db, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn send(http: &reqwest::Client, s: &Signer, url: &str, body: Value) -> (u16, Value) {
    let body = serde_json::to_vec(&body).unwrap();
    let mut rb = http.post(url);
    for (k, v) in s.headers(&body) {
        rb = rb.header(k, v);
    }
    let r = rb.body(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric arguments"))
        .collect();
    let hotkeys = *args.first().unwrap_or(&50);
    let per = *args.get(1).unwrap_or(&3);
    let conc = *args.get(2).unwrap_or(&32);
    let size = *args.get(3).unwrap_or(&256) * 1024;

    let dir = tempfile::tempdir().unwrap();
    // GASCLI_LOAD_DB_URL=postgres://… runs the same load against PostgreSQL (fresh database!).
    let db = match std::env::var("GASCLI_LOAD_DB_URL") {
        Ok(url) => Db::connect(&url).await.unwrap(),
        Err(_) => Db::sqlite_file(&dir.path().join("m.db")).await.unwrap(),
    };
    let store = Store::local(dir.path().join("o")).unwrap();
    let st = AppState {
        db: db.clone(),
        store: store.clone(),
        cfg: Arc::new(ApiConfig {
            max_per_modality: per as i64,
            ..ApiConfig::default()
        }),
        auth: Arc::new(ChainAuth::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, api::router(st)).await });

    gas_chain::upload::install_tls_provider();
    let http = reqwest::Client::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(conc));
    let signers: Vec<Arc<Signer>> = (0..hotkeys)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Arc::new(Signer::from_seed(seed))
        })
        .collect();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (h, s) in signers.iter().enumerate() {
        for k in 0..=per {
            // One more than the quota per hotkey: that one must be refused (429).
            let (http, s, sem, base) = (http.clone(), s.clone(), sem.clone(), base.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.unwrap();
                let mut data = vec![(h % 251) as u8; size];
                data[..4].copy_from_slice(b"PK\x03\x04");
                data[4..12].copy_from_slice(&(h as u64).to_le_bytes());
                data[12] = k as u8;
                let hash = hex::encode(Sha256::digest(&data));
                let start = Instant::now();
                let (code, v) = send(&http, &s, &format!("{base}/upload/presigned"),
                    json!({"filename": "m.zip", "file_size": data.len(), "expected_hash": hash,
                           "content_type": "application/octet-stream", "modality": "image", "vertical": "general"})).await;
                if code != 200 {
                    return (code, start.elapsed(), Duration::ZERO);
                }
                let id = v["data"]["model_id"].as_str().unwrap().to_string();
                let url = v["data"]["presigned_url"].as_str().unwrap().to_string();
                let r = http.put(&url).body(data).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 200);
                let c0 = Instant::now();
                let (code, _) = send(&http, &s, &format!("{base}/upload/confirm"),
                    json!({"model_id": id, "file_hash": hash})).await;
                (code, start.elapsed(), c0.elapsed())
            }));
        }
    }
    let mut total = Vec::new();
    let mut confirm = Vec::new();
    let (mut ok, mut refused, mut other) = (0usize, 0usize, 0usize);
    for t in tasks {
        let (code, all, c) = t.await.unwrap();
        match code {
            200 => {
                ok += 1;
                total.push(all);
                confirm.push(c);
            }
            429 => refused += 1,
            _ => other += 1,
        }
    }
    let wall = t0.elapsed();
    println!(
        "uploads: {ok} accepted, {refused} refused by quota, {other} other; {hotkeys} hotkeys x {} attempts, {} KiB each, concurrency {conc}",
        per + 1,
        size / 1024
    );
    println!(
        "wall {:.2} s, throughput {:.1} accepted uploads/s ({:.1} MiB/s)",
        wall.as_secs_f64(),
        ok as f64 / wall.as_secs_f64(),
        (ok * size) as f64 / wall.as_secs_f64() / 1048576.0
    );
    println!(
        "full upload latency p50 {:?} p99 {:?}; confirm (accept) latency p50 {:?} p99 {:?}",
        pct(&mut total, 0.5),
        pct(&mut total, 0.99),
        pct(&mut confirm, 0.5),
        pct(&mut confirm, 0.99)
    );
    // Nothing lost, nothing double-counted.
    let models = db.count_models().await.unwrap();
    assert_eq!(models as usize, ok, "every 200 is a stored model");
    assert_eq!(ok, hotkeys * per, "exactly the quota accepted");
    for s in &signers {
        assert_eq!(
            db.submissions_used(&s.ss58, "image").await.unwrap(),
            per as i64
        );
    }
    assert!(
        store.list("staging").await.unwrap().is_empty(),
        "no staged leftovers"
    );
    assert_eq!(store.list("models").await.unwrap().len(), ok);
    println!("check: {models} models in DB, {ok} objects, quotas exact, staging empty: OK");
    server.abort();
}
