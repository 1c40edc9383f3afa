//! Storage layer tests: object store + metadata DB + job leases.
//! Run on SQLite in a temp dir; the same functions also run on PostgreSQL when
//! `GASCLI_TEST_PG_URL` is set (each test in a fresh schema).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gas_registry::db::now_ms;
use gas_registry::store::{model_key, staging_key};
use gas_registry::{Db, JobOutcome, NewMetric, NewModel, PendingUpload, RegistryError, Store};
use sha2::{Digest, Sha256};

struct Env {
    _dir: tempfile::TempDir,
    db: Db,
    url: String,
    store: Store,
}

async fn sqlite_env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("meta.db").display());
    let db = Db::connect(&url).await.unwrap();
    let store = Store::local(dir.path().join("objects")).unwrap();
    Env {
        _dir: dir,
        db,
        url,
        store,
    }
}

async fn pg_env() -> Option<Env> {
    let base = std::env::var("GASCLI_TEST_PG_URL").ok()?;
    sqlx::any::install_default_drivers();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .expect("GASCLI_TEST_PG_URL is set but PostgreSQL is not reachable");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let db = Db::connect(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::local(dir.path().join("objects")).unwrap();
    Some(Env {
        _dir: dir,
        db,
        url,
        store,
    })
}

/// Run a test body on SQLite, then on PostgreSQL when configured.
macro_rules! both {
    ($name:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            $body(sqlite_env().await).await;
            match pg_env().await {
                Some(env) => $body(env).await,
                None => eprintln!(
                    "{}: PostgreSQL run skipped (GASCLI_TEST_PG_URL unset)",
                    stringify!($name)
                ),
            }
        }
    };
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn pending(hotkey: &str, modality: &str, data: &[u8]) -> PendingUpload {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    PendingUpload {
        staging_key: staging_key(&id),
        model_id: id,
        hotkey: hotkey.into(),
        modality: modality.into(),
        vertical: "general".into(),
        filename: "m.zip".into(),
        expected_hash: sha(data),
        file_size: data.len() as i64,
        state: "pending".into(),
        created_at: now,
        expires_at: now + 60_000,
    }
}

fn new_model(u: &PendingUpload, max: i64) -> NewModel<'_> {
    NewModel {
        upload: u,
        r2_key: "models/x.zip",
        first_stage: "validate",
        max_attempts: 3,
        max_per_modality: max,
    }
}

#[tokio::test]
async fn store_streams_hashes_and_promotes() {
    let env = sqlite_env().await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(65_536)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let got = env
        .store
        .put_stream(
            "staging/a",
            futures::stream::iter(chunks),
            data.len() as u64,
        )
        .await
        .unwrap();
    assert_eq!(got.size, data.len() as u64);
    assert_eq!(got.sha256, sha(&data));
    assert_eq!(env.store.digest("staging/a").await.unwrap(), got);

    let target = model_key(&got.sha256);
    env.store.promote("staging/a", &target).await.unwrap();
    assert!(!env.store.exists("staging/a").await.unwrap());
    assert_eq!(
        env.store.get_bytes(&target).await.unwrap(),
        Bytes::from(data.clone())
    );
    assert!(env.store.local_path(&target).unwrap().is_file());

    // Promoting the same content again just drops the staged copy.
    env.store
        .put_bytes("staging/b", Bytes::from(data))
        .await
        .unwrap();
    env.store.promote("staging/b", &target).await.unwrap();
    assert!(!env.store.exists("staging/b").await.unwrap());
    assert_eq!(
        env.store.list("staging").await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn store_refuses_oversized_body_and_leaves_nothing() {
    let env = sqlite_env().await;
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(vec![1u8; 600])),
        Ok(Bytes::from(vec![2u8; 600])),
    ];
    let err = env
        .store
        .put_stream("staging/big", futures::stream::iter(chunks), 1000)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Mismatch { .. }), "{err}");
    assert!(!env.store.exists("staging/big").await.unwrap());
    assert!(env.store.list("staging").await.unwrap().is_empty());

    // A body that breaks off mid-way is aborted too.
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(vec![1u8; 10])),
        Err(std::io::Error::other("connection reset")),
    ];
    let err = env
        .store
        .put_stream("staging/cut", futures::stream::iter(chunks), 1000)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::BadRequest(_)), "{err}");
    assert!(!env.store.exists("staging/cut").await.unwrap());
}

async fn quota_and_duplicates(env: Env) {
    let db = &env.db;
    let mut ids = Vec::new();
    for i in 0..3u8 {
        let u = pending("hk1", "image", &[i; 10]);
        db.insert_upload(&u).await.unwrap();
        let (m, used) = db.confirm_model(new_model(&u, 3)).await.unwrap();
        assert_eq!(used, i as i64 + 1);
        assert_eq!(m.status, "uploaded");
        assert!(m.counted);
        assert!(
            db.upload(&u.model_id).await.unwrap().is_none(),
            "pending row dropped"
        );
        ids.push(m.model_id);
    }
    assert_eq!(db.submissions_used("hk1", "image").await.unwrap(), 3);
    // 4th in the same modality: refused, nothing recorded.
    let u = pending("hk1", "image", &[9; 10]);
    db.insert_upload(&u).await.unwrap();
    match db.confirm_model(new_model(&u, 3)).await {
        Err(RegistryError::QuotaExceeded { used, max, .. }) => assert_eq!((used, max), (3, 3)),
        other => panic!("expected quota error, got {other:?}"),
    }
    assert!(db.model(&u.model_id).await.unwrap().is_none());
    // Another modality and another hotkey have their own quota.
    let v = pending("hk1", "video", &[9; 10]);
    db.insert_upload(&v).await.unwrap();
    db.confirm_model(new_model(&v, 3)).await.unwrap();
    // Same bytes from someone else: duplicate, and the quota slot is not consumed.
    let d = pending("hk2", "video", &[9; 10]);
    db.insert_upload(&d).await.unwrap();
    match db.confirm_model(new_model(&d, 3)).await {
        Err(RegistryError::Duplicate { model_id, .. }) => assert_eq!(model_id, v.model_id),
        other => panic!("expected duplicate, got {other:?}"),
    }
    assert_eq!(db.submissions_used("hk2", "video").await.unwrap(), 0);
    assert_eq!(
        db.model_by_hash(&sha(&[9; 10]))
            .await
            .unwrap()
            .unwrap()
            .model_id,
        v.model_id
    );
    assert_eq!(db.models_of("hk1", Some("image")).await.unwrap().len(), 3);
    assert_eq!(db.models_of("hk1", None).await.unwrap().len(), 4);
    // Each confirmed model has exactly one queued validate job.
    for id in &ids {
        let jobs = db.jobs_of(id).await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].stage.as_str(), jobs[0].state.as_str()),
            ("validate", "queued")
        );
    }
}
both!(quota_and_duplicates_sqlite_pg, quota_and_duplicates);

async fn concurrent_confirms_respect_quota(env: Env) {
    let db = Arc::new(env.db.clone());
    let mut handles = Vec::new();
    for i in 0..12u8 {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            let u = pending("racer", "audio", &[i, 1, 2, 3]);
            db.insert_upload(&u).await.unwrap();
            db.confirm_model(new_model(&u, 3)).await
        }));
    }
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(RegistryError::QuotaExceeded { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 3);
    assert_eq!(db.submissions_used("racer", "audio").await.unwrap(), 3);
    assert_eq!(db.models_of("racer", Some("audio")).await.unwrap().len(), 3);
}
both!(
    concurrent_confirms_sqlite_pg,
    concurrent_confirms_respect_quota
);

async fn leases_are_exclusive(env: Env) {
    let db = Arc::new(env.db.clone());
    let n = 20u8;
    for i in 0..n {
        let u = pending(&format!("hk{i}"), "image", &[i, 7]);
        db.insert_upload(&u).await.unwrap();
        db.confirm_model(new_model(&u, 3)).await.unwrap();
    }
    // Four workers drain the queue concurrently; every job is leased exactly once.
    let mut handles = Vec::new();
    for w in 0..4 {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(l) = db
                .lease_job(&format!("w{w}"), Duration::from_secs(60))
                .await
                .unwrap()
            {
                got.push(l.job_id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(total, n as usize, "every job leased");
    assert_eq!(all.len(), total, "no job leased twice");
}
both!(leases_exclusive_sqlite_pg, leases_are_exclusive);

async fn expired_lease_is_retried_once(env: Env) {
    let db = &env.db;
    let u = pending("hk", "image", b"zip");
    db.insert_upload(&u).await.unwrap();
    db.confirm_model(new_model(&u, 3)).await.unwrap();

    let first = db
        .lease_job("crashed", Duration::from_millis(50))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.attempts, 1);
    assert!(
        db.lease_job("other", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "held"
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    let second = db
        .lease_job("w2", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.job_id, first.job_id);
    assert_eq!(second.attempts, 2);
    // The crashed worker comes back late: its result is refused.
    let outcome = |status: &'static str| JobOutcome {
        state: "done",
        result: None,
        error: None,
        model_status: status,
        reasons: &[],
        metrics: &[],
        next_stage: None,
        max_attempts: 3,
    };
    assert!(matches!(
        db.heartbeat(&first, Duration::from_secs(5)).await,
        Err(RegistryError::LeaseLost(_))
    ));
    assert!(matches!(
        db.finish_job(&first, outcome("stale")).await,
        Err(RegistryError::LeaseLost(_))
    ));
    db.heartbeat(&second, Duration::from_secs(60))
        .await
        .unwrap();
    let metrics = [NewMetric {
        dataset: "*".into(),
        sn34: Some(0.8),
        mcc: Some(0.7),
        brier: Some(0.1),
        accuracy: Some(0.9),
        samples: 100,
        base_sn34: Some(0.8),
        aug_sn34: Some(0.6),
    }];
    let result = serde_json::json!({"ok": true});
    db.finish_job(
        &second,
        JobOutcome {
            state: "done",
            result: Some(&result),
            error: None,
            model_status: "valid",
            reasons: &["fine".to_string()],
            metrics: &metrics,
            next_stage: Some("exam"),
            max_attempts: 3,
        },
    )
    .await
    .unwrap();
    // Finishing twice is refused: recorded exactly once.
    assert!(matches!(
        db.finish_job(&second, outcome("again")).await,
        Err(RegistryError::LeaseLost(_))
    ));
    let m = db.model(&u.model_id).await.unwrap().unwrap();
    assert_eq!(m.status, "valid");
    assert_eq!(m.reasons, vec!["fine".to_string()]);
    let jobs = db.jobs_of(&u.model_id).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!((jobs[0].state.as_str(), jobs[0].attempts), ("done", 2));
    assert_eq!(jobs[0].result, Some(result));
    assert_eq!(
        (jobs[1].stage.as_str(), jobs[1].state.as_str()),
        ("exam", "queued")
    );
    let rows = db.metrics_of(&u.model_id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].sn34, rows[0].samples), (Some(0.8), 100));
    assert_eq!(
        (rows[0].base_sn34, rows[0].aug_sn34),
        (Some(0.8), Some(0.6))
    );

    // The exam job's leases all expire: after max_attempts it is failed, not retried forever.
    for _ in 0..3 {
        let l = db
            .lease_job("flaky", Duration::from_millis(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(l.stage, "exam");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(
        db.lease_job("w", Duration::from_secs(1))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(db.fail_exhausted().await.unwrap(), 1);
    // An exam that never finished: the network's `exam_failed`.
    assert_eq!(
        db.model(&u.model_id).await.unwrap().unwrap().status,
        "exam_failed"
    );
}
both!(expired_lease_sqlite_pg, expired_lease_is_retried_once);

async fn survives_reconnect(env: Env) {
    let u = pending("hk", "image", b"durable");
    env.db.insert_upload(&u).await.unwrap();
    let p = pending("hk", "image", b"still pending");
    env.db.insert_upload(&p).await.unwrap();
    env.db.confirm_model(new_model(&u, 3)).await.unwrap();
    drop(env.db);
    let db = Db::connect(&env.url).await.unwrap();
    assert_eq!(
        db.model(&u.model_id).await.unwrap().unwrap().sha256,
        sha(b"durable")
    );
    assert_eq!(db.upload(&p.model_id).await.unwrap().unwrap(), p);
    assert_eq!(db.submissions_used("hk", "image").await.unwrap(), 1);
    // Expiry sweep input: nothing expired yet, then everything.
    assert!(db.expired_uploads(now_ms()).await.unwrap().is_empty());
    assert_eq!(db.expired_uploads(p.expires_at + 1).await.unwrap().len(), 1);
}
both!(survives_reconnect_sqlite_pg, survives_reconnect);

/// One migration source for both backends: a database migrated when each backend had its own
/// `0001_init.sql` copy (differing in the comment line only) is accepted and adopted; any other
/// checksum is still refused.
async fn legacy_migration_checksum_is_adopted(env: Env) {
    use sha2::Sha384;
    let sql = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/0001_init.sql"
    ))
    .unwrap();
    let rest = sql.split_once('\n').unwrap().1;
    let first = match env.db.backend() {
        gas_registry::Backend::Sqlite => {
            "-- gas-registry schema (SQLite). Keep in step with ../postgres/0001_init.sql."
        }
        gas_registry::Backend::Postgres => {
            "-- gas-registry schema (PostgreSQL). Keep in step with ../sqlite/0001_init.sql."
        }
    };
    let legacy = Sha384::digest(format!("{first}\n{rest}").as_bytes()).to_vec();
    let current = Sha384::digest(sql.as_bytes()).to_vec();
    let set = |checksum: Vec<u8>| {
        let url = env.url.clone();
        async move {
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = 1")
                .bind(checksum)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    };
    let get = || {
        let url = env.url.clone();
        async move {
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            let row = sqlx::query("SELECT checksum FROM _sqlx_migrations WHERE version = 1")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            sqlx::Row::try_get::<Vec<u8>, _>(&row, "checksum").unwrap()
        }
    };
    assert_eq!(get().await, current);
    set(legacy).await;
    Db::connect(&env.url)
        .await
        .expect("legacy checksum adopted");
    assert_eq!(get().await, current);
    set(vec![7u8; 48]).await;
    assert!(
        Db::connect(&env.url).await.is_err(),
        "a modified migration must still be refused"
    );
    set(current).await;
}
both!(
    legacy_migration_sqlite_pg,
    legacy_migration_checksum_is_adopted
);

/// `reclaim_jobs_of` takes back only the running jobs whose lease owner starts with the prefix
/// (`_` and `%` in it are literal), and expires those already at their last attempt.
async fn reclaim_only_own_prefix(env: Env) {
    let db = &env.db;
    let mut jobs = Vec::new();
    for (i, owner) in ["serve:a_c:0", "serve:abc:0", "serve:abcd:0", "external"]
        .iter()
        .enumerate()
    {
        let u = pending(&format!("hk{i}"), "image", &[i as u8; 12]);
        db.insert_upload(&u).await.unwrap();
        db.confirm_model(new_model(&u, 3)).await.unwrap();
        let l = db
            .lease_job(owner, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(l.model_id, u.model_id);
        jobs.push(u.model_id);
    }
    assert_eq!(db.reclaim_jobs_of("serve:a_c:").await.unwrap(), 1);
    let state = |id: &str| {
        let id = id.to_string();
        async move { db.jobs_of(&id).await.unwrap()[0].state.clone() }
    };
    assert_eq!(state(&jobs[0]).await, "queued");
    for id in &jobs[1..] {
        assert_eq!(state(id).await, "running");
    }
    // Taken back at once by the next lease.
    let l = db
        .lease_job("serve:a_c:0", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.model_id, jobs[0]);
    assert_eq!(l.attempts, 2);
}
both!(reclaim_sqlite_pg, reclaim_only_own_prefix);
