//! `BenchEvaluator` end to end: validate → exam → benchmark with `gas_bench` in its sandbox on
//! the bundled `examples/data/image`, results in the DB, the store, the leaderboard JSON and the
//! miner API; a constant-0.5 model fails the exam with its reason recorded; a modality without
//! datasets fails with a clear reason.
//!
//! Needs the worker venv (PyTorch): fails when `CI` is set and it is missing, skips otherwise.
//! The example-detector run repeats on PostgreSQL when `GASCLI_TEST_PG_URL` is set.
//!
//! `harness = false`: this binary is also the sandbox launcher. `gas_bench` re-executes its
//! launcher as `<launcher> sandbox-exec --spec JSON -- python …`; `main` handles that before
//! anything else (single-threaded, as `exec_sandboxed` requires), like `gascli sandbox-exec`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gas_bench::runner::DataSource;
use gas_bench::sandbox::SandboxSpec;
use gas_bench::worker::{WorkerOptions, find_worker_script};
use gas_chain::testing::Signer;
use gas_package::Modality;
use gas_registry::api;
use gas_registry::auth::ChainAuth;
use gas_registry::db::now_ms;
use gas_registry::eval::{BenchEvaluator, EvalConfig, parse_data_arg};
use gas_registry::state::{ApiConfig, AppState};
use gas_registry::store::{model_key, staging_key};
use gas_registry::worker::{self, WorkerConfig};
use gas_registry::{Db, NewModel, PendingUpload, Store};
use gas_test_support::venv_python;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    std::path::absolute(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))).unwrap()
}

/// `sandbox-exec --spec JSON -- PROGRAM ARGS…` (the launcher protocol of `gas_bench::worker`).
fn launcher(args: &[String]) -> ExitCode {
    let (Some("--spec"), Some(spec), Some("--"), Some(program)) = (
        args.first().map(String::as_str),
        args.get(1),
        args.get(2).map(String::as_str),
        args.get(3),
    ) else {
        eprintln!("sandbox-exec: usage: sandbox-exec --spec JSON -- PROGRAM ARGS…");
        return ExitCode::from(125);
    };
    let spec: SandboxSpec = match serde_json::from_str(spec) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sandbox-exec: bad --spec: {e}");
            return ExitCode::from(125);
        }
    };
    match gas_bench::sandbox::exec_sandboxed(&spec, Path::new(program), &args[4..]) {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(125)
        }
    }
}

fn eval_config(py: &Path, work: &Path, modality_data: Option<&str>) -> EvalConfig {
    let mut sandbox = SandboxSpec::new(PathBuf::new());
    sandbox.memory_bytes = 8 << 30;
    let mut cfg = EvalConfig::new(WorkerOptions {
        python: py.to_path_buf(),
        script: find_worker_script().expect("python/gas_worker/worker.py"),
        launcher: Some(std::env::current_exe().unwrap()),
        sandbox,
        batch_timeout: Duration::from_secs(300),
        load_timeout: Duration::from_secs(300),
        torch_threads: 1,
    });
    if let Some(arg) = modality_data {
        let (m, src) = parse_data_arg(arg).unwrap();
        cfg.exam_data.insert(m, vec![src.clone()]);
        cfg.benchmark_data.insert(m, vec![src]);
    }
    cfg.work_dir = work.to_path_buf();
    cfg.cache_dir = work.join("cache");
    cfg.offline = true;
    cfg.batch_size = Some(16);
    cfg
}

/// Store the ZIP and confirm it as `hotkey`'s model (what `/upload/confirm` does).
async fn confirmed(db: &Db, store: &Store, zip: &[u8], hotkey: &str, modality: &str) -> String {
    let sha = hex::encode(Sha256::digest(zip));
    store
        .put_bytes(&model_key(&sha), Bytes::from(zip.to_vec()))
        .await
        .unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let u = PendingUpload {
        staging_key: staging_key(&id),
        model_id: id.clone(),
        hotkey: hotkey.into(),
        modality: modality.into(),
        vertical: "general".into(),
        filename: format!("{modality}_model.zip"),
        expected_hash: sha.clone(),
        file_size: zip.len() as i64,
        state: "received".into(),
        created_at: now_ms(),
        expires_at: now_ms() + 60_000,
    };
    db.insert_upload(&u).await.unwrap();
    db.confirm_model(NewModel {
        upload: &u,
        r2_key: &model_key(&sha),
        first_stage: "validate",
        max_attempts: 1,
        max_per_modality: 3,
    })
    .await
    .unwrap();
    id
}

fn package(src: &Path, out: &Path) -> Vec<u8> {
    let p = gas_package::package_dir(src, out).unwrap();
    assert!(p.report.valid, "{:?}", p.report.errors);
    std::fs::read(out).unwrap()
}

async fn drain(db: &Db, store: &Store, ev: &BenchEvaluator) -> usize {
    let cfg = WorkerConfig {
        lease_ttl: Duration::from_secs(30),
        ..WorkerConfig::default()
    };
    let mut n = 0;
    while worker::run_one(db, store, ev, &cfg).await.unwrap() {
        n += 1;
    }
    n
}

async fn serve(db: &Db, store: &Store) -> (String, tokio::task::JoinHandle<()>) {
    let state = AppState {
        db: db.clone(),
        store: store.clone(),
        cfg: Arc::new(ApiConfig::default()),
        auth: Arc::new(ChainAuth::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, api::router(state)).await.unwrap();
    });
    (base, task)
}

/// A fresh PostgreSQL schema when `GASCLI_TEST_PG_URL` is set (as in tests/storage.rs).
async fn pg_db() -> Option<Db> {
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
    Some(
        Db::connect(&format!("{base}{sep}options=-c%20search_path%3D{schema}"))
            .await
            .unwrap(),
    )
}

async fn example_detector_passes_exam_and_benchmark(py: &Path, pg: bool) {
    let dir = tempfile::tempdir().unwrap();
    let db = if pg {
        match pg_db().await {
            Some(db) => db,
            None => {
                eprintln!("PostgreSQL run skipped (GASCLI_TEST_PG_URL unset)");
                return;
            }
        }
    } else {
        Db::sqlite_file(&dir.path().join("m.db")).await.unwrap()
    };
    let store = Store::local(dir.path().join("objects")).unwrap();
    let zip = package(
        &root().join("examples/image-detector"),
        &dir.path().join("image.zip"),
    );
    let miner = Signer::from_seed([21; 32]);
    let id = confirmed(&db, &store, &zip, &miner.ss58, "image").await;
    let data = format!("image={}", root().join("examples/data/image").display());
    let mut cfg = eval_config(py, dir.path(), Some(&data));
    // the operator's robustness pass: 4 degraded samples per dataset, the network's w = 0.2
    cfg.n_aug_per_dataset = 4;
    let ev = BenchEvaluator::new(cfg);
    assert_eq!(
        drain(&db, &store, &ev).await,
        3,
        "validate, exam, benchmark"
    );

    let m = db.model(&id).await.unwrap().unwrap();
    assert_eq!(m.status, "confirmed", "{:?}", m.reasons);
    assert!(m.reasons.is_empty(), "{:?}", m.reasons);
    let jobs = db.jobs_of(&id).await.unwrap();
    let stages: Vec<(&str, &str)> = jobs
        .iter()
        .map(|j| (j.stage.as_str(), j.state.as_str()))
        .collect();
    assert_eq!(
        stages,
        [
            ("validate", "done"),
            ("exam", "done"),
            ("benchmark", "done")
        ]
    );
    let exam = jobs[1].result.as_ref().unwrap();
    assert_eq!(exam["passed"], true, "{exam:#}");
    assert_eq!(exam["detail"]["mode"], "small", "the network's exam size");
    assert_eq!(exam["detail"]["sandbox"], true, "ran in the sandbox");
    assert!(
        exam["detail"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("exam passed: accuracy"),
        "{exam:#}"
    );

    let metrics = db.metrics_of(&id).await.unwrap();
    let exam_all = metrics
        .iter()
        .find(|r| r.stage == "exam" && r.dataset == "*")
        .expect("exam aggregate row");
    assert!(exam_all.accuracy.unwrap() >= 0.8, "{exam_all:?}");
    assert_eq!(
        exam_all.samples, 60,
        "small mode: all 60 bundled samples fit the exam's 5 000"
    );
    let bench_all = metrics
        .iter()
        .find(|r| r.stage == "benchmark" && r.dataset == "*")
        .expect("benchmark aggregate row");
    assert_eq!(bench_all.samples, 60, "every sample in the benchmark");
    // the three scores: base, degraded, and the blend the leaderboard ranks by
    let (base_sn34, aug_sn34) = (bench_all.base_sn34.unwrap(), bench_all.aug_sn34.unwrap());
    assert!(base_sn34 > 0.9, "{bench_all:?}");
    assert!(
        (bench_all.sn34.unwrap() - (0.8 * base_sn34 + 0.2 * aug_sn34)).abs() < 1e-12,
        "{bench_all:?}"
    );
    assert!(bench_all.mcc.unwrap() > 0.8, "{bench_all:?}");
    assert!(bench_all.brier.unwrap() < 0.1, "{bench_all:?}");
    let per: Vec<_> = metrics
        .iter()
        .filter(|r| r.stage == "benchmark" && r.dataset != "*")
        .collect();
    assert_eq!(per.len(), 3, "real, synthetic, semisynthetic: {per:?}");
    assert!(per.iter().all(|r| r.samples == 20 && r.accuracy.is_some()));

    // results.json, predictions.csv and report.html are kept in the store.
    let bench = jobs[2].result.as_ref().unwrap();
    let key = bench["detail"]["results_key"].as_str().unwrap();
    assert_eq!(key, format!("results/{id}/benchmark/results.json"));
    let results: Value = serde_json::from_slice(&store.get_bytes(key).await.unwrap()).unwrap();
    assert_eq!(results["overall"]["n"], 60);
    assert_eq!(results["model"]["sha256"], m.sha256.as_str());
    assert!(
        store
            .exists(&format!("results/{id}/benchmark/predictions.csv"))
            .await
            .unwrap()
    );
    let cal = bench["detail"]["calibration"].as_array().unwrap();
    assert_eq!(
        cal.iter().map(|b| b["n"].as_u64().unwrap()).sum::<u64>(),
        60
    );

    // The leaderboard JSON and page, and the miner's signed model list.
    let (base, task) = serve(&db, &store).await;
    gas_chain::upload::install_tls_provider();
    let http = reqwest::Client::new();
    let lb: Value = http
        .get(format!("{base}/api/v1/leaderboard?modality=image"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = &lb["data"]["models"][0];
    assert_eq!(row["model_id"], id.as_str(), "{lb:#}");
    assert_eq!(row["hotkey"], miner.ss58.as_str());
    assert_eq!(row["rank"], 1);
    // (serde_json parses floats to within the last bit)
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-15;
    assert!(close(&row["sn34_score"], bench_all.sn34.unwrap()), "{lb:#}");
    assert!(close(&row["base_sn34_score"], base_sn34), "{lb:#}");
    assert!(close(&row["aug_sn34_score"], aug_sn34), "{lb:#}");
    let page = http
        .get(format!("{base}/leaderboard?modality=image"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<svg class=\"cal\""), "calibration plot");
    assert!(
        page.contains(&format!("base {base_sn34:.4} · aug {aug_sn34:.4}")),
        "base and degraded scores under the blended one"
    );
    assert!(page.contains("exam accuracy "), "exam shown");
    assert!(page.contains(&id));
    let mut rb = http.get(format!("{base}/api/v1/miner/models?modality=image"));
    for (k, v) in miner.headers(b"") {
        rb = rb.header(k, v);
    }
    let v: Value = rb.send().await.unwrap().json().await.unwrap();
    let mm = &v[0];
    assert_eq!(mm["exam_status"], "passed", "{v:#}");
    assert_eq!(mm["benchmark_status"], "success");
    let runs = mm["benchmark_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{v:#}");
    assert_eq!(runs[0]["datasets"].as_array().unwrap().len(), 3, "{v:#}");
    task.abort();
}

const CONSTANT_MODEL: &str = "import torch\nimport torch.nn as nn\nfrom safetensors.torch import load_file\n\n\nclass Constant(nn.Module):\n    def __init__(self, num_classes=2):\n        super().__init__()\n        self.head = nn.Linear(3, num_classes)\n\n    def forward(self, images):\n        # zero weights and bias: equal logits, p_synthetic 0.5 for every image\n        return self.head(images.float().mean(dim=(2, 3)))\n\n\ndef load_model(weights_path, num_classes=2, **kwargs):\n    m = Constant(num_classes)\n    m.load_state_dict(load_file(weights_path))\n    return m.eval()\n";

/// A safetensors file of zero F32 tensors.
fn zero_safetensors(tensors: &[(&str, &[usize])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut off = 0usize;
    for (name, shape) in tensors {
        let n: usize = shape.iter().product::<usize>() * 4;
        header.insert(
            (*name).into(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [off, off + n]}),
        );
        off += n;
    }
    let h = serde_json::to_string(&header).unwrap();
    let mut v = (h.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(h.as_bytes());
    v.resize(v.len() + off, 0);
    v
}

/// A 16×16 24-bit BMP of one grey level.
fn bmp(level: u8) -> Vec<u8> {
    let (w, h) = (16u32, 16u32);
    let row = (w * 3).div_ceil(4) * 4;
    let size = 54 + row * h;
    let mut v = b"BM".to_vec();
    for x in [size, 0, 54, 40, w, h] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&24u16.to_le_bytes());
    for x in [0u32, row * h, 2835, 2835, 0, 0] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.resize(size as usize, level);
    v
}

/// A safetensors file of F32 tensors with the given values.
fn f32_safetensors(tensors: &[(&str, &[usize], &[f32])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        assert_eq!(shape.iter().product::<usize>(), values.len());
        let start = data.len();
        for x in *values {
            data.extend_from_slice(&x.to_le_bytes());
        }
        header.insert(
            (*name).into(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let h = serde_json::to_string(&header).unwrap();
    let mut v = (h.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(h.as_bytes());
    v.extend_from_slice(&data);
    v
}

/// The registry's exam with its defaults (the network's rules: `small`, pass at ≥ 80 %) on
/// 100 generated images that a brightness model gets 79 % / 81 % right: fails / passes.
async fn exam_at_79_fails_and_81_passes(py: &Path) {
    for (right, passes) in [(79usize, false), (81, true)] {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::sqlite_file(&dir.path().join("m.db")).await.unwrap();
        let store = Store::local(dir.path().join("objects")).unwrap();
        // real: dark is right; synthetic: bright is right. 50 of each.
        let data = dir.path().join("data");
        let real_right = right.div_ceil(2);
        let synth_right = right - real_right;
        for (class, n_right, right_level, wrong_level) in [
            ("real", real_right, 0u8, 255u8),
            ("synthetic", synth_right, 255, 0),
        ] {
            let d = data.join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..50 {
                let level = if i < n_right {
                    right_level
                } else {
                    wrong_level
                };
                std::fs::write(d.join(format!("{i:03}.bmp")), bmp(level)).unwrap();
            }
        }
        let src = dir.path().join("bright");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("model_config.yaml"),
            "name: bright\nversion: \"1\"\nmodality: image\npreprocessing:\n  resize: [16, 16]\nmodel:\n  num_classes: 2\n",
        )
        .unwrap();
        // Same module as the constant model; the weights make it "synthetic" when the red
        // channel's mean is above 127.5.
        std::fs::write(src.join("model.py"), CONSTANT_MODEL).unwrap();
        std::fs::write(
            src.join("model.safetensors"),
            f32_safetensors(&[
                ("head.weight", &[2, 3], &[0.0, 0.0, 0.0, 0.1, 0.0, 0.0]),
                ("head.bias", &[2], &[0.0, -12.75]),
            ]),
        )
        .unwrap();
        let zip = package(&src, &dir.path().join("bright.zip"));
        let id = confirmed(&db, &store, &zip, "hk-bright", "image").await;
        // Exam datasets only: a passed exam queues a benchmark that fails at once (no data).
        let mut cfg = eval_config(py, dir.path(), None);
        let (m, src) = parse_data_arg(&format!("image={}", data.display())).unwrap();
        cfg.exam_data.insert(m, vec![src]);
        assert_eq!(
            cfg.exam_threshold, 0.8,
            "the network's pass mark is the default"
        );
        let ev = BenchEvaluator::new(cfg);
        drain(&db, &store, &ev).await;
        let metrics = db.metrics_of(&id).await.unwrap();
        let all = metrics
            .iter()
            .find(|r| r.stage == "exam" && r.dataset == "*")
            .unwrap();
        assert_eq!(all.samples, 100, "small mode takes all 100: {all:?}");
        assert!(
            (all.accuracy.unwrap() - right as f64 / 100.0).abs() < 1e-9,
            "{all:?}"
        );
        let model = db.model(&id).await.unwrap().unwrap();
        let exam = db
            .jobs_of(&id)
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.stage == "exam")
            .unwrap();
        assert_eq!(exam.result.as_ref().unwrap()["passed"], passes, "{right}%");
        if passes {
            assert_eq!(model.status, "confirmed", "{:?}", model.reasons);
        } else {
            assert_eq!(model.status, "exam_failed");
            assert!(
                model.reasons[0].starts_with("exam failed: accuracy 0.790 < 0.80"),
                "{:?}",
                model.reasons
            );
        }
    }
}

async fn constant_model_fails_the_exam(py: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::sqlite_file(&dir.path().join("m.db")).await.unwrap();
    let store = Store::local(dir.path().join("objects")).unwrap();
    let src = dir.path().join("constant");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("model_config.yaml"),
        "name: constant\nversion: \"1\"\nmodality: image\npreprocessing:\n  resize: [32, 32]\nmodel:\n  num_classes: 2\n",
    )
    .unwrap();
    std::fs::write(src.join("model.py"), CONSTANT_MODEL).unwrap();
    std::fs::write(
        src.join("model.safetensors"),
        zero_safetensors(&[("head.weight", &[2, 3]), ("head.bias", &[2])]),
    )
    .unwrap();
    let zip = package(&src, &dir.path().join("constant.zip"));
    let id = confirmed(&db, &store, &zip, "hk-constant", "image").await;
    let data = format!("image={}", root().join("examples/data/image").display());
    let ev = BenchEvaluator::new(eval_config(py, dir.path(), Some(&data)));
    assert_eq!(
        drain(&db, &store, &ev).await,
        2,
        "validate, exam; no benchmark"
    );

    let m = db.model(&id).await.unwrap().unwrap();
    assert_eq!(m.status, "exam_failed", "{:?}", m.reasons);
    assert_eq!(m.reasons.len(), 1);
    // The network's exam: `small` (all 60 bundled images), pass mark 0.80. p = 0.5 is "real"
    // (p > 0.5 is synthetic): 20 of 60 right.
    assert!(
        m.reasons[0].starts_with("exam failed: accuracy 0.333 < 0.80 required on 60 samples"),
        "{:?}",
        m.reasons
    );
    let jobs = db.jobs_of(&id).await.unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1].result.as_ref().unwrap()["passed"], false);
    let metrics = db.metrics_of(&id).await.unwrap();
    let all = metrics.iter().find(|r| r.dataset == "*").unwrap();
    assert_eq!(all.stage, "exam");
    assert!((all.accuracy.unwrap() - 1.0 / 3.0).abs() < 1e-9, "{all:?}");
    assert!((all.brier.unwrap() - 0.25).abs() < 1e-6, "{all:?}");
    assert!(metrics.iter().all(|r| r.stage == "exam"));
    assert!(
        store
            .exists(&format!("results/{id}/exam/results.json"))
            .await
            .unwrap()
    );
    // Not on the leaderboard with a score; the page says why.
    let rows = gas_registry::views::leaderboard_rows(&db, "image", "general")
        .await
        .unwrap();
    assert!(rows[0]["sn34_score"].is_null());
    let (base, task) = serve(&db, &store).await;
    gas_chain::upload::install_tls_provider();
    let page = reqwest::get(format!("{base}/leaderboard?modality=image"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("exam accuracy 0.333 on 60"), "{page}");
    assert!(
        page.contains("exam failed: accuracy 0.333 &lt; 0.80 required"),
        "{page}"
    );
    task.abort();
}

/// Needs no venv: the stage stops before any Python runs.
async fn modality_without_datasets_fails_with_a_reason() {
    let py = Path::new("/nonexistent/venv/bin/python");
    let dir = tempfile::tempdir().unwrap();
    let db = Db::sqlite_file(&dir.path().join("m.db")).await.unwrap();
    let store = Store::local(dir.path().join("objects")).unwrap();
    let zip = package(
        &root().join("examples/video-detector"),
        &dir.path().join("video.zip"),
    );
    let id = confirmed(&db, &store, &zip, "hk-video", "video").await;
    let data = format!("image={}", root().join("examples/data/image").display());
    let ev = BenchEvaluator::new(eval_config(py, dir.path(), Some(&data)));
    assert_eq!(drain(&db, &store, &ev).await, 2);
    let m = db.model(&id).await.unwrap().unwrap();
    assert_eq!(m.status, "exam_failed");
    assert_eq!(
        m.reasons,
        [
            "no exam datasets configured for video (the operator starts the registry with \
          --exam-data video=DIR_OR_CATALOG.yaml)"
        ]
    );
}

fn parse_errors_are_clear() {
    let e = parse_data_arg("image").unwrap_err();
    assert!(e.contains("expected MODALITY=PATH"), "{e}");
    let e = parse_data_arg("text=/tmp").unwrap_err();
    assert!(e.contains("unknown modality \"text\""), "{e}");
    let e = parse_data_arg("image=/nonexistent/gas").unwrap_err();
    assert!(e.contains("cannot read /nonexistent/gas"), "{e}");
    let (m, src) = parse_data_arg(&format!(
        "image={}",
        root().join("examples/data/image").display()
    ))
    .unwrap();
    assert_eq!(m, Modality::Image);
    assert!(matches!(src, DataSource::Dir(_)));
}

/// A run whose cancel flag is set (what the stage time limit does through the evaluator's
/// drop guard) stops, shuts its worker down and writes no results.
fn cancelled_run_stops_and_writes_nothing(py: &Path) {
    use gas_bench::runner::{BenchError, BenchOptions, run_bench};
    use std::sync::atomic::{AtomicBool, Ordering};
    let work = tempfile::tempdir().unwrap();
    let cfg = eval_config(py, work.path(), None);
    let cancel = Arc::new(AtomicBool::new(false));
    let mut opts = BenchOptions {
        model: root().join("examples/image-detector"),
        modality: Modality::Image,
        datasets: gas_bench::runner::selection_of(
            &[DataSource::Dir(root().join("examples/data/image"))],
            Modality::Image,
        )
        .unwrap(),
        mode: gas_datasets::Mode::Full,
        seed: 1,
        cache_dir: work.path().join("cache"),
        offline: true,
        skip_missing: false,
        gasstation: Default::default(),
        weighting: Default::default(),
        run_id: None,
        n_aug_per_dataset: 0,
        aug_weight: 0.2,
        aug_cache: None,
        results_dir: Some(work.path().join("results")),
        scratch_parent: None,
        batch_size: 1,
        device: "cpu".into(),
        fast_decode: false,
        apply_exif: false,
        reencode: true,
        worker: cfg.worker.clone(),
        progress: false,
        cancel: Some(cancel.clone()),
    };
    // Control: the same options complete when nobody cancels.
    let done = run_bench(&opts).expect("uncancelled run");
    assert!(work.path().join("results/results.json").exists());
    assert_eq!(
        done.results_dir.as_deref(),
        Some(work.path().join("results").as_path())
    );
    opts.results_dir = Some(work.path().join("results-cancelled"));
    cancel.store(true, Ordering::Relaxed);
    let t = std::time::Instant::now();
    match run_bench(&opts) {
        Err(BenchError::Cancelled) => {}
        other => panic!("expected Cancelled, got {other:?}"),
    }
    assert!(!work.path().join("results-cancelled/results.json").exists());
    assert!(
        t.elapsed() < Duration::from_secs(60),
        "cancel took {:?}",
        t.elapsed()
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("sandbox-exec") {
        return launcher(&args[2..]);
    }
    // Arguments that are not flags filter tests by name, as libtest does; the values of
    // libtest's flags that take one are not filters.
    let mut filters: Vec<&String> = Vec::new();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        if [
            "--test-threads",
            "--skip",
            "--format",
            "--color",
            "--logfile",
            "-Z",
        ]
        .contains(&a.as_str())
        {
            it.next();
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    let wanted =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    if args.iter().any(|a| a == "--list") {
        for n in [
            "parse_errors_are_clear",
            "example_detector_passes_exam_and_benchmark",
            "example_detector_passes_exam_and_benchmark_postgres",
            "constant_model_fails_the_exam",
            "exam_at_79_fails_and_81_passes",
            "cancelled_run_stops_and_writes_nothing",
            "modality_without_datasets_fails_with_a_reason",
        ] {
            println!("{n}: test");
        }
        return ExitCode::SUCCESS;
    }
    let mut failed = 0;
    let mut passed = 0;
    let mut run = |name: &str, f: &dyn Fn()| {
        if !wanted(name) {
            return;
        }
        let t = std::time::Instant::now();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({:.1} s)", t.elapsed().as_secs_f64());
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    run("parse_errors_are_clear", &parse_errors_are_clear);
    run("modality_without_datasets_fails_with_a_reason", &|| {
        rt.block_on(modality_without_datasets_fails_with_a_reason())
    });
    let venv_tests = [
        "example_detector_passes_exam_and_benchmark",
        "constant_model_fails_the_exam",
        "exam_at_79_fails_and_81_passes",
        "cancelled_run_stops_and_writes_nothing",
    ];
    if venv_tests.iter().any(|n| wanted(n))
        && let Some(py) = venv_python(&["torch"])
    {
        run("example_detector_passes_exam_and_benchmark", &|| {
            rt.block_on(example_detector_passes_exam_and_benchmark(&py, false))
        });
        run(
            "example_detector_passes_exam_and_benchmark_postgres",
            &|| rt.block_on(example_detector_passes_exam_and_benchmark(&py, true)),
        );
        run("constant_model_fails_the_exam", &|| {
            rt.block_on(constant_model_fails_the_exam(&py))
        });
        run("exam_at_79_fails_and_81_passes", &|| {
            rt.block_on(exam_at_79_fails_and_81_passes(&py))
        });
        run("cancelled_run_stops_and_writes_nothing", &|| {
            cancelled_run_stops_and_writes_nothing(&py)
        });
    }
    println!("\ntest result: {passed} passed; {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
