//! `gascli registry serve` and `gascli registry worker`: thin wiring of `gas_registry`.
//! Evaluation: `validate` (gas_package) → `exam` → `benchmark` (gas_bench, sandboxed), see
//! `gas_registry::eval`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gas_bench::runner::DataSource;
use gas_bench::worker::{find_python, find_worker_script};
use gas_datasets::Mode;
use gas_package::Modality;
use gas_registry::api;
use gas_registry::auth::ChainAuth;
use gas_registry::eval::{BenchEvaluator, EvalConfig, bundled_data, data_map, parse_data_arg};
use gas_registry::stage::{Evaluator, PackageEvaluator};
use gas_registry::state::{ApiConfig, AppState, MODALITIES};
use gas_registry::worker::{self, WorkerConfig};
use gas_registry::{Db, Store};

/// Where the registry keeps its data (shared by `serve` and `worker`).
#[derive(Debug, clap::Args)]
pub struct StorageArgs {
    /// Data directory for the embedded defaults (SQLite file `registry.db`, store `objects/`).
    #[arg(long, default_value = "./registry-data")]
    pub data_dir: PathBuf,
    /// Metadata database: `sqlite://PATH?mode=rwc` or `postgres://user@host/db`.
    #[arg(long, env = "GASCLI_REGISTRY_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Object store: `file:///abs/dir` or `s3://bucket/prefix` (S3 settings from AWS_* env vars).
    #[arg(long, env = "GASCLI_REGISTRY_STORE_URL")]
    pub store_url: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct StageArgs {
    /// Time limit of the validation stage, seconds.
    #[arg(long, default_value_t = 300)]
    pub validate_timeout: u64,
    /// Time limit of the entrance exam, seconds (the network's: 5100).
    #[arg(long, default_value_t = gas_registry::eval::DEFAULT_EXAM_TIMEOUT.as_secs())]
    pub exam_timeout: u64,
    /// Time limit of the full benchmark, seconds (the network's: 18000 per modality).
    #[arg(long, default_value_t = gas_registry::eval::DEFAULT_BENCHMARK_TIMEOUT.as_secs())]
    pub benchmark_timeout: u64,
    /// Job lease length, seconds (renewed while the stage runs; an expired lease is retried).
    #[arg(long, default_value_t = 60)]
    pub lease_secs: u64,
    /// Attempts per job before it is marked failed.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: i64,
}

/// How models are evaluated after validation (`exam`, then `benchmark`).
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Exam datasets of a modality: `MODALITY=DIR` (with real/, synthetic/, semisynthetic/) or
    /// `MODALITY=CATALOG.yaml`; repeatable. Default for image: the bundled examples/data/image
    /// when present. A modality without datasets fails its exam with that reason.
    #[arg(long, value_name = "MODALITY=PATH", value_parser = parse_data_arg)]
    pub exam_data: Vec<(Modality, DataSource)>,
    /// Benchmark datasets, same form as --exam-data (same default).
    #[arg(long, value_name = "MODALITY=PATH", value_parser = parse_data_arg)]
    pub benchmark_data: Vec<(Modality, DataSource)>,
    /// Do not use the bundled examples/data/<modality> when a modality has no datasets.
    #[arg(long)]
    pub no_default_data: bool,
    /// Accuracy (averaged over the submitted modalities) a model needs to pass the exam; the
    /// network's: 0.8.
    #[arg(long, default_value_t = gas_registry::eval::DEFAULT_EXAM_THRESHOLD)]
    pub exam_threshold: f64,
    /// Robustness pass of exam and benchmark (image and video models): the first N samples of each dataset
    /// re-scored on degraded copies, blended into sn34; 0 (the network's default) = off.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub n_aug_per_dataset: usize,
    /// Weight of the degraded score in the blended sn34 (the network's 0.2).
    #[arg(long, default_value_t = 0.2, value_name = "W")]
    pub aug_weight: f64,
    /// Exam size: debug (100 images / 50 videos / 50 clips), small (5 000 per modality, the network's) or full.
    #[arg(long, default_value = "small", value_parser = parse_mode)]
    pub exam_mode: Mode,
    /// Benchmark size: debug, small or full.
    #[arg(long, default_value = "full", value_parser = parse_mode)]
    pub benchmark_mode: Mode,
    /// Only validate packages (no exam, no benchmark).
    #[arg(long)]
    pub validate_only: bool,
    /// Sampling seed of exam and benchmark.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where remote datasets are cached (default: $GASCLI_CACHE_DIR or ~/.cache/gascli).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Never download datasets.
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub worker: super::ModelWorkerArgs,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Counted models per modality per hotkey.
    #[arg(long, default_value_t = 3)]
    pub max_per_modality: i64,
    /// Modalities whose uploads answer 503, comma-separated (e.g. `image,video`).
    #[arg(long, value_delimiter = ',')]
    pub disable_uploads: Vec<String>,
    /// Largest accepted ZIP, MiB.
    #[arg(long, default_value_t = 2048)]
    pub max_upload_mib: u64,
    /// Presigned URLs expire after this many seconds; unconfirmed uploads are then removed.
    #[arg(long, default_value_t = 3600)]
    pub upload_ttl: u64,
    /// Public base of the upload API used in presigned URLs (default: from the Host header).
    #[arg(long)]
    pub public_upload_url: Option<String>,
    /// In-process evaluation workers (0: run `gascli registry worker` separately).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    #[command(flatten)]
    pub stages: StageArgs,
    #[command(flatten)]
    pub eval: Box<EvalArgs>,
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Worker name recorded on leases (default: random).
    #[arg(long)]
    pub name: Option<String>,
    /// Exit when the queue is empty instead of polling.
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub stages: StageArgs,
    #[command(flatten)]
    pub eval: Box<EvalArgs>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn open(s: &StorageArgs) -> anyhow::Result<(Db, Store)> {
    std::fs::create_dir_all(&s.data_dir)
        .with_context(|| format!("creating data directory {}", s.data_dir.display()))?;
    let db = match &s.database_url {
        Some(url) => Db::connect(url).await,
        None => Db::sqlite_file(&s.data_dir.join("registry.db")).await,
    }
    .context("opening the metadata database (--database-url)")?;
    let store = match &s.store_url {
        Some(url) => Store::from_url(url),
        None => Store::local(s.data_dir.join("objects")),
    }
    .context("opening the object store (--store-url)")?;
    Ok((db, store))
}

fn worker_config(st: &StageArgs, name: Option<String>) -> WorkerConfig {
    let mut cfg = WorkerConfig {
        lease_ttl: Duration::from_secs(st.lease_secs.max(3)),
        validate_timeout: Duration::from_secs(st.validate_timeout),
        exam_timeout: Duration::from_secs(st.exam_timeout),
        benchmark_timeout: Duration::from_secs(st.benchmark_timeout),
        max_attempts: st.max_attempts.max(1),
        ..WorkerConfig::default()
    };
    if let Some(n) = name {
        cfg.name = n;
    }
    cfg
}

/// `examples/data/<modality>` of the checkout or installation: the working directory first,
/// then the directories above the binary.
fn bundled(modality: Modality) -> Option<PathBuf> {
    let mut roots = vec![PathBuf::from(".")];
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).take(5).map(PathBuf::from));
        roots.extend(
            exe.ancestors()
                .skip(1)
                .take(5)
                .map(|a| a.join("share/gascli")),
        );
    }
    roots
        .iter()
        .find_map(|r| bundled_data(r, modality))
        .map(|p| std::path::absolute(&p).unwrap_or(p))
}

/// The configured datasets, on stderr (stdout's first line is the listening address).
fn describe(what: &str, data: &std::collections::HashMap<Modality, Vec<DataSource>>) {
    for m in Modality::ALL {
        match data.get(&m) {
            Some(v) => {
                let list: Vec<String> = v
                    .iter()
                    .map(|d| match d {
                        DataSource::Dir(p) | DataSource::Catalog(p) => p.display().to_string(),
                    })
                    .collect();
                eprintln!("{what} datasets for {m}: {}", list.join(", "));
            }
            None => eprintln!(
                "{what} datasets for {m}: none ({m} models fail their {what}; add --{what}-data {m}=DIR_OR_CATALOG.yaml)"
            ),
        }
    }
}

/// The evaluator of `serve` and `worker`: validate only, or validate → exam → benchmark.
fn evaluator(
    e: &EvalArgs,
    st: &StageArgs,
    data_dir: &std::path::Path,
) -> anyhow::Result<Arc<dyn Evaluator>> {
    if e.validate_only {
        eprintln!("evaluation: validate only (--validate-only)");
        return Ok(Arc::new(PackageEvaluator {
            next_after_validate: None,
        }));
    }
    if !(0.0..=1.0).contains(&e.exam_threshold) {
        anyhow::bail!(
            "--exam-threshold {}: must be between 0 and 1",
            e.exam_threshold
        );
    }
    let python = match e.worker.python.clone().or_else(find_python) {
        Some(p) => p,
        None => {
            eprintln!(
                "warning: no worker Python found (.venv/bin/python): exams fail until you run \
                 scripts/setup.sh or pass --python"
            );
            PathBuf::from(".venv/bin/python")
        }
    };
    let script = match find_worker_script() {
        Some(s) => s,
        None => {
            eprintln!(
                "warning: python/gas_worker/worker.py not found next to gascli: exams fail until \
                 you set GASCLI_WORKER to its path"
            );
            PathBuf::from("python/gas_worker/worker.py")
        }
    };
    let mut cfg = EvalConfig::new(e.worker.options(
        python,
        script,
        "uploaded models run with this user's full access to files and network",
    )?);
    cfg.exam_data = data_map(e.exam_data.iter().cloned());
    cfg.benchmark_data = data_map(e.benchmark_data.iter().cloned());
    if !e.no_default_data {
        for m in Modality::ALL {
            for data in [&mut cfg.exam_data, &mut cfg.benchmark_data] {
                if !data.contains_key(&m)
                    && let Some(p) = bundled(m)
                {
                    data.insert(m, vec![DataSource::Dir(p)]);
                }
            }
        }
    }
    describe("exam", &cfg.exam_data);
    describe("benchmark", &cfg.benchmark_data);
    cfg.exam_threshold = e.exam_threshold;
    cfg.n_aug_per_dataset = e.n_aug_per_dataset;
    cfg.aug_weight = e.aug_weight;
    cfg.exam_mode = e.exam_mode;
    cfg.benchmark_mode = e.benchmark_mode;
    cfg.seed = e.seed;
    if let Some(c) = &e.cache_dir {
        cfg.cache_dir = c.clone();
    }
    cfg.offline = e.offline;
    cfg.batch_size = e.worker.batch_size.map(|b| b.max(1));
    cfg.device = e.worker.device.clone();
    cfg.work_dir = data_dir.join("eval-work");
    cfg.exam_cpu_limit = Some(Duration::from_secs(st.exam_timeout));
    cfg.benchmark_cpu_limit = Some(Duration::from_secs(st.benchmark_timeout));
    Ok(Arc::new(BenchEvaluator::new(cfg)))
}

/// This server's stable identity (lease owner prefix of its in-process workers), kept in
/// `<data dir>/instance-id` so that a restarted server recognises its own jobs.
fn instance_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("instance-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Ok(id.to_string());
        }
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let tmp = data_dir.join(".instance-id.tmp");
    std::fs::write(&tmp, &id)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut disabled = HashSet::new();
    for m in &args.disable_uploads {
        let m = m.trim().to_ascii_lowercase();
        if !MODALITIES.contains(&m.as_str()) {
            anyhow::bail!("--disable-uploads: unknown modality {m:?} (use image, video, audio)");
        }
        disabled.insert(m);
    }
    if args.max_per_modality < 1 {
        anyhow::bail!("--max-per-modality must be at least 1");
    }
    let ev = if args.workers > 0 {
        Some(evaluator(&args.eval, &args.stages, &args.storage.data_dir)?)
    } else {
        None
    };
    runtime()?.block_on(async move {
        let (db, store) = open(&args.storage).await?;
        let cfg = ApiConfig {
            max_per_modality: args.max_per_modality,
            disabled,
            upload_ttl: Duration::from_secs(args.upload_ttl.max(1)),
            max_upload_bytes: args.max_upload_mib.saturating_mul(1 << 20),
            max_attempts: args.stages.max_attempts.max(1),
            public_upload_url: args.public_upload_url.clone(),
        };
        let state = AppState {
            db: db.clone(),
            store: store.clone(),
            cfg: Arc::new(cfg),
            auth: Arc::new(ChainAuth::default()),
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        // Sweeper: expired/orphaned uploads and exhausted jobs, at start and every 30 s.
        {
            let (db, store) = (db.clone(), store.clone());
            tokio::spawn(async move {
                loop {
                    if let Err(e) = gas_registry::sweep::sweep(&db, &store).await {
                        tracing::error!("sweep failed: {e}");
                    }
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            });
        }
        if let Some(ev) = ev {
            let instance = instance_id(&args.storage.data_dir)?;
            let template = worker_config(&args.stages, None);
            let reclaimed =
                worker::start_in_process(&db, &store, ev, &template, &instance, args.workers)
                    .await
                    .context("starting the in-process workers")?;
            if reclaimed > 0 {
                eprintln!(
                    "resumed {reclaimed} job(s) this server's workers were running when it stopped"
                );
            }
        }
        println!("gascli registry listening on http://{addr} (upload URL: http://{addr}/upload)");
        axum::serve(listener, api::router(state))
            .with_graceful_shutdown(ctrl_c())
            .await
            .context("serving HTTP")?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let ev = evaluator(&args.eval, &args.stages, &args.storage.data_dir)?;
    runtime()?.block_on(async move {
        let (db, store) = open(&args.storage).await?;
        let cfg = worker_config(&args.stages, args.name.clone());
        if args.once {
            let mut n = 0;
            while worker::run_one(&db, &store, ev.as_ref(), &cfg).await? {
                n += 1;
            }
            println!("{n} job(s) run");
            return Ok(ExitCode::SUCCESS);
        }
        println!("worker {} polling for jobs", cfg.name);
        worker::run_loop(db, store, ev, cfg, ctrl_c()).await;
        Ok(ExitCode::SUCCESS)
    })
}
