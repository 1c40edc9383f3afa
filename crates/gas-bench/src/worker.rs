//! The parent side of the Python inference worker (`python/gas_worker/worker.py`): spawning it
//! (sandboxed through the launcher, see [`crate::sandbox`]), the length-prefixed protocol,
//! per-request timeouts, and reports of how a worker died.
//!
//! Frames: `u32 LE header length | JSON header | raw payload of header.nbytes bytes`. Batches go
//! as raw bytes the worker wraps with `torch.frombuffer`; logits come back as raw float32.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::sandbox::SandboxSpec;

/// How to start a worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Python interpreter of the worker venv.
    pub python: PathBuf,
    /// `python/gas_worker/worker.py`.
    pub script: PathBuf,
    /// The `gascli` binary used as sandbox launcher (`gascli sandbox-exec`); `None` runs Python
    /// directly with no sandbox (`--unsafe-no-sandbox`).
    pub launcher: Option<PathBuf>,
    pub sandbox: SandboxSpec,
    /// Wall-clock limit for one batch.
    pub batch_timeout: Duration,
    /// Wall-clock limit for importing model.py and `load_model`.
    pub load_timeout: Duration,
    /// torch intra-op threads (0 = torch's default).
    pub torch_threads: usize,
}

/// Everything that can go wrong with a worker. Messages say what happened and which limit hit.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot start the worker ({program}): {reason}")]
    Spawn { program: String, reason: String },
    #[error("{what} timed out after {secs} s (the per-batch limit); the worker was killed")]
    Timeout { what: String, secs: u64 },
    #[error("the worker died during {what}: {cause}{}", tail_note(.stderr))]
    Died {
        what: String,
        cause: String,
        stderr: String,
    },
    #[error("{message}")]
    Model { kind: String, message: String },
    #[error("worker protocol error: {0}")]
    Protocol(String),
}

fn tail_note(s: &str) -> String {
    if s.trim().is_empty() {
        String::new()
    } else {
        format!("\n--- worker stderr (last lines) ---\n{s}")
    }
}

impl WorkerError {
    /// Short kind used in the results' error counters.
    pub fn kind(&self) -> &str {
        match self {
            WorkerError::Spawn { .. } => "worker-spawn",
            WorkerError::Timeout { .. } => "timeout",
            WorkerError::Died { .. } => "worker-died",
            WorkerError::Model { kind, .. } => kind,
            WorkerError::Protocol(_) => "protocol",
        }
    }
    /// Whether the worker process is gone (a new one is needed to go on).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, WorkerError::Model { .. })
    }
}

type Reply = (Value, Vec<u8>);

/// A running worker.
pub struct Worker {
    child: Child,
    tx: Option<SyncSender<(Vec<u8>, Vec<u8>)>>,
    rx: Receiver<Result<Reply, String>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    opts: WorkerOptions,
    dead: bool,
}

const STDERR_LINES: usize = 30;

impl Worker {
    /// Starts the worker process (in its own process group).
    pub fn spawn(opts: &WorkerOptions) -> Result<Worker, WorkerError> {
        let py_args = vec![
            "-u".to_string(),
            "-B".to_string(),
            opts.script.display().to_string(),
        ];
        let mut cmd = match &opts.launcher {
            Some(launcher) => {
                let mut c = Command::new(launcher);
                c.arg("sandbox-exec")
                    .arg("--spec")
                    .arg(serde_json::to_string(&opts.sandbox).expect("spec serializes"))
                    .arg("--")
                    .arg(&opts.python)
                    .args(&py_args);
                c
            }
            None => {
                let mut c = Command::new(&opts.python);
                c.args(&py_args).current_dir(&opts.sandbox.scratch);
                c
            }
        };
        cmd.env("GASCLI_TORCH_THREADS", opts.torch_threads.to_string())
            .env("PYTHONNOUSERSITE", "1")
            .env_remove("PYTHONPATH")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let program = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd.spawn().map_err(|e| WorkerError::Spawn {
            program: program.clone(),
            reason: e.to_string(),
        })?;
        let mut stdin = child.stdin.take().expect("piped");
        let mut stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");

        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr_tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                tracing::debug!(target: "gas_worker", "{line}");
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == STDERR_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        let (wtx, wrx) = sync_channel::<(Vec<u8>, Vec<u8>)>(1);
        std::thread::spawn(move || {
            for (header, payload) in wrx {
                let len = (header.len() as u32).to_le_bytes();
                if stdin.write_all(&len).is_err()
                    || stdin.write_all(&header).is_err()
                    || stdin.write_all(&payload).is_err()
                    || stdin.flush().is_err()
                {
                    break;
                }
            }
        });
        let (rtx, rrx) = sync_channel::<Result<Reply, String>>(1);
        std::thread::spawn(move || {
            loop {
                let reply = read_frame(&mut stdout);
                let stop = reply.is_err();
                if rtx.send(reply).is_err() || stop {
                    break;
                }
            }
        });
        Ok(Worker {
            child,
            tx: Some(wtx),
            rx: rrx,
            stderr_tail,
            opts: opts.clone(),
            dead: false,
        })
    }

    fn stderr_text(&self) -> String {
        // give the stderr thread a moment to drain what a dying worker printed
        std::thread::sleep(Duration::from_millis(50));
        let t = self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
        t.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn kill(&mut self) {
        if !self.dead {
            let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.dead = true;
        }
    }

    fn death_cause(&mut self) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => Some(s),
            _ => {
                std::thread::sleep(Duration::from_millis(200));
                self.child.try_wait().ok().flatten()
            }
        };
        self.kill();
        match status {
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => format!("exited with status {c}"),
                (_, Some(24)) => {
                    "killed by SIGXCPU: the CPU-time limit (RLIMIT_CPU) was reached".into()
                }
                (_, Some(25)) => {
                    "killed by SIGXFSZ: it wrote a file larger than the file-size limit".into()
                }
                (_, Some(9)) => {
                    "killed by SIGKILL (the kernel's out-of-memory killer, or a limit)".into()
                }
                (_, Some(11)) => "crashed with SIGSEGV".into(),
                (_, Some(sig)) => format!("killed by signal {sig}"),
                _ => "ended".into(),
            },
            None => "stopped answering".into(),
        }
    }

    /// Sends one request and waits for its reply within `timeout`.
    fn request(
        &mut self,
        what: &str,
        header: Value,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Reply, WorkerError> {
        if self.dead {
            return Err(WorkerError::Protocol(
                "the worker is no longer running".into(),
            ));
        }
        let h = serde_json::to_vec(&header).expect("json");
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send((h, payload)).is_ok());
        if !sent {
            let cause = self.death_cause();
            return Err(WorkerError::Died {
                what: what.into(),
                cause,
                stderr: self.stderr_text(),
            });
        }
        match self.rx.recv_timeout(timeout) {
            Ok(Ok((h, p))) => {
                if h["ok"].as_bool() == Some(true) {
                    Ok((h, p))
                } else {
                    Err(WorkerError::Model {
                        kind: h["kind"].as_str().unwrap_or("model").to_string(),
                        message: h["error"]
                            .as_str()
                            .unwrap_or("unknown worker error")
                            .to_string(),
                    })
                }
            }
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
                let cause = self.death_cause();
                Err(WorkerError::Died {
                    what: what.into(),
                    cause,
                    stderr: self.stderr_text(),
                })
            }
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                Err(WorkerError::Timeout {
                    what: what.into(),
                    secs: timeout.as_secs(),
                })
            }
        }
    }

    /// Imports model.py and calls `load_model`.
    pub fn load(&mut self, load: &LoadRequest) -> Result<Value, WorkerError> {
        let header = json!({
            "op": "load",
            "package_dir": load.package_dir,
            "weights_path": load.weights_path,
            "num_classes": load.num_classes,
            "model_kwargs": load.model_kwargs,
            "dtype": load.dtype,
            "modality": load.modality,
            "device": load.device,
            "name": load.name,
        });
        let t = self.opts.load_timeout;
        self.request("loading the model", header, Vec::new(), t)
            .map(|r| r.0)
            .map_err(|e| match e {
                WorkerError::Model { kind, message } if kind == "missing-module" => {
                    WorkerError::Model {
                        message: crate::runtime::missing_module_line(&message),
                        kind,
                    }
                }
                e => e,
            })
    }

    /// Runs `forward` on one batch; returns its `[B, K]` float32 output, one row per sample (the
    /// sample's output flattened: K is 1, 2, 3 or num_classes).
    pub fn infer(&mut self, batch_index: usize, batch: &Batch) -> Result<Logits, WorkerError> {
        let (dtype, bytes) = match &batch.data {
            BatchData::U8(v) => ("uint8", v.clone()),
            BatchData::F32(v) => ("float32", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        };
        let header = json!({
            "op": "infer", "batch": batch_index, "shape": batch.shape, "dtype": dtype, "nbytes": bytes.len(),
        });
        let t = self.opts.batch_timeout;
        let (h, payload) = self.request(&format!("batch {batch_index}"), header, bytes, t)?;
        let per_sample = h["shape"][1].as_u64().unwrap_or(0) as usize;
        let rows = batch.shape.first().copied().unwrap_or(0);
        if payload.len() % 4 != 0
            || h["nbytes"].as_u64() != Some(payload.len() as u64)
            || per_sample == 0
            || payload.len() / 4 != rows * per_sample
        {
            return Err(WorkerError::Protocol(
                "logits payload of the wrong size".into(),
            ));
        }
        Ok(Logits {
            per_sample,
            values: payload
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        })
    }

    /// Asks the worker to exit, then makes sure its whole process group is gone.
    pub fn shutdown(mut self) {
        let _ = self.request(
            "exit",
            json!({"op": "exit"}),
            Vec::new(),
            Duration::from_secs(5),
        );
        self.tx = None;
        self.kill();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.tx = None;
        self.kill();
    }
}

fn read_frame(r: &mut impl Read) -> Result<Reply, String> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(|e| e.to_string())?;
    let n = u32::from_le_bytes(len) as usize;
    if n > 16 << 20 {
        return Err(format!("reply header of {n} bytes"));
    }
    let mut h = vec![0u8; n];
    r.read_exact(&mut h).map_err(|e| e.to_string())?;
    let header: Value = serde_json::from_slice(&h).map_err(|e| e.to_string())?;
    let nbytes = header["nbytes"].as_u64().unwrap_or(0) as usize;
    if nbytes > 1 << 30 {
        return Err(format!("reply payload of {nbytes} bytes"));
    }
    let mut payload = vec![0u8; nbytes];
    r.read_exact(&mut payload).map_err(|e| e.to_string())?;
    Ok((header, payload))
}

/// One batch's output: `values.len() / per_sample` rows, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Logits {
    /// Values per sample (the sample's output flattened): 1, 2, 3 or num_classes.
    pub per_sample: usize,
    pub values: Vec<f32>,
}

impl Logits {
    /// One row per sample.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.values.chunks_exact(self.per_sample.max(1))
    }
}

/// What `load` sends.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub package_dir: PathBuf,
    pub weights_path: PathBuf,
    pub num_classes: u32,
    /// `load_model`'s keyword arguments: every `model:` key but `weights_file`
    /// ([`gas_package::ModelConfig::load_model_kwargs`]); nothing from `preprocessing:`.
    pub model_kwargs: Value,
    /// Weights precision (`float32`, `float16`, `bfloat16`).
    pub dtype: String,
    pub modality: String,
    pub device: String,
    pub name: String,
}

/// One batch tensor, row-major, as the model receives it.
#[derive(Debug, Clone)]
pub struct Batch {
    pub shape: Vec<usize>,
    pub data: BatchData,
}

#[derive(Debug, Clone)]
pub enum BatchData {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

/// `python/gas_worker/worker.py` next to a source checkout or an installed binary.
pub fn find_worker_script() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("GASCLI_WORKER") {
        candidates.push(PathBuf::from(p));
    }
    candidates
        .push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python/gas_worker/worker.py"));
    if let Ok(exe) = std::env::current_exe() {
        for anc in exe.ancestors().skip(1).take(5) {
            candidates.push(anc.join("python/gas_worker/worker.py"));
            candidates.push(anc.join("share/gascli/python/gas_worker/worker.py"));
        }
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| p.canonicalize().unwrap_or(p))
}

/// The worker venv's python: `$GASCLI_VENV/bin/python`, else `.venv/bin/python` of the checkout.
pub fn find_python() -> Option<PathBuf> {
    let mut c = Vec::new();
    if let Some(v) = std::env::var_os("GASCLI_VENV") {
        c.push(PathBuf::from(v).join("bin/python"));
    }
    c.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    c.push(PathBuf::from(".venv/bin/python"));
    c.into_iter()
        .find(|p| p.exists())
        .map(|p| std::path::absolute(&p).unwrap_or(p))
}
