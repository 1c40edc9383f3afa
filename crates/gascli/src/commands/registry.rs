//! `gascli registry serve` and `gascli registry worker`: thin wiring of `gas_registry`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gas_registry::api::{self, ApiConfig, AppState, MODALITIES};
use gas_registry::auth::ChainAuth;
use gas_registry::worker::{self, PackageEvaluator, WorkerConfig};
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
    /// Time limit of the entrance exam, seconds.
    #[arg(long, default_value_t = 1800)]
    pub exam_timeout: u64,
    /// Time limit of the full benchmark, seconds.
    #[arg(long, default_value_t = 14400)]
    pub benchmark_timeout: u64,
    /// Job lease length, seconds (renewed while the stage runs; an expired lease is retried).
    #[arg(long, default_value_t = 60)]
    pub lease_secs: u64,
    /// Attempts per job before it is marked failed.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: i64,
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
                    if let Err(e) = api::sweep(&db, &store).await {
                        tracing::error!("sweep failed: {e}");
                    }
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            });
        }
        for i in 0..args.workers {
            let cfg = worker_config(
                &args.stages,
                Some(format!("serve-{}-{i}", std::process::id())),
            );
            tokio::spawn(worker::run_loop(
                db.clone(),
                store.clone(),
                Arc::new(PackageEvaluator {
                    next_after_validate: None,
                }),
                cfg,
                std::future::pending(),
            ));
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
    runtime()?.block_on(async move {
        let (db, store) = open(&args.storage).await?;
        let cfg = worker_config(&args.stages, args.name.clone());
        let ev: Arc<dyn worker::Evaluator> = Arc::new(PackageEvaluator {
            next_after_validate: None,
        });
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
