//! The parent side of the Python inference worker (`python/gas_worker/worker.py`): spawning it
//! (sandboxed through the launcher, see [`crate::sandbox`]), the length-prefixed protocol,
//! per-request timeouts, and reports of how a worker died.
//!
//! Frames: `u32 LE header length | JSON header | raw payload of header.nbytes bytes`. Batches go
//! as raw bytes the worker wraps with `torch.frombuffer`; logits come back as raw float32.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
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
    #[error("{what}: {message}")]
    Output { what: String, message: String },
    #[error(
        "the run would need about {need_gib:.1} GiB in the worker, over --memory-limit-gib {limit_gib}: {detail}; use a smaller --batch-size (or a smaller resize / frame count in the model's config), or raise --memory-limit-gib"
    )]
    MemoryEstimate {
        need_gib: f64,
        limit_gib: f64,
        detail: String,
    },
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
            WorkerError::Output { .. } => "output",
            WorkerError::MemoryEstimate { .. } => "memory-estimate",
        }
    }
    /// Whether the worker process is gone (a new one is needed to go on).
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            WorkerError::Model { .. }
                | WorkerError::Output { .. }
                | WorkerError::MemoryEstimate { .. }
        )
    }
}

type Reply = (Value, Vec<u8>);

/// A running worker.
pub struct Worker {
    child: Child,
    tx: Option<SyncSender<(Vec<u8>, Vec<u8>)>>,
    rx: Receiver<Result<Reply, String>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// Largest reply payload the reader accepts now (what the request in flight may return).
    max_payload: Arc<AtomicU64>,
    opts: WorkerOptions,
    /// Classes per sample, from `load`.
    num_classes: Option<usize>,
    dead: bool,
}

/// Lines of the worker's stderr kept for error messages.
const STDERR_LINES: usize = 30;
/// Longest stderr line kept (bytes); the rest of a longer line is dropped.
pub const STDERR_LINE_CAP: usize = 4096;
/// Largest reply header (JSON) accepted from the worker.
pub const MAX_REPLY_HEADER: usize = 64 << 10;

/// glibc's allocator settings for the worker (`GLIBC_TUNABLES`): one arena, no `mmap` per
/// allocation, no trimming of the heap. By default glibc serves every allocation above its
/// mmap threshold (at most 32 MiB) with a fresh `mmap` and returns it with `munmap` on free,
/// and trims the heap's top; torch allocates and frees each operator's output tensor, so every
/// batch of a video model (4 clips of 16 × 3 × 224² are 38.5 MB as float) faulted all its
/// temporaries in again: on the example video detector 60 % of the worker's CPU was the
/// kernel zeroing pages, and these settings cut its CPU per batch to a third with a lower
/// peak RSS (measured in the closing note of issue 14). Allocation only: no figure changes.
pub const WORKER_MALLOC_TUNABLES: &str =
    "glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1099511627776";

/// Environment variables passed to the worker when set in gascli's (device selection only);
/// nothing else of gascli's environment reaches it.
const PASSED_ENV: &[&str] = &["CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"];

/// The host paths the worker needs to see (read-only): the venv, the base interpreter its
/// python links to (binary and `lib/`), and the worker script's folder.
pub fn worker_paths(python: &Path, script: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(venv) = python.parent().and_then(Path::parent)
        && venv.join("pyvenv.cfg").is_file()
    {
        v.push(venv.to_path_buf());
    }
    // the link chain itself is followed by the launcher; show the real prefix's lib/
    v.push(python.to_path_buf());
    if let Ok(real) = python.canonicalize()
        && let Some(prefix) = real.parent().and_then(Path::parent)
    {
        for lib in ["lib", "lib64"] {
            let d = prefix.join(lib);
            if d.is_dir() && prefix != Path::new("/") {
                v.push(d);
            }
        }
    }
    if let Some(dir) = script.parent() {
        v.push(dir.to_path_buf());
    }
    v
}

/// `p` with its folder resolved (symbolic links, `..`) and its last component kept (the venv's
/// `bin/python` link must stay one, so that Python finds its venv).
fn real_parent(p: &Path) -> PathBuf {
    match (p.parent().map(Path::canonicalize), p.file_name()) {
        (Some(Ok(dir)), Some(name)) => dir.join(name),
        _ => p.to_path_buf(),
    }
}

/// Reads `r` line by line into `tail` (the last [`STDERR_LINES`] lines, each cut at
/// [`STDERR_LINE_CAP`] bytes): memory stays bounded whatever the worker writes.
fn drain_stderr(mut r: impl Read, tail: &Mutex<VecDeque<String>>) {
    let mut buf = vec![0u8; 64 << 10];
    let mut line: Vec<u8> = Vec::new();
    let mut cut = false;
    let push = |line: &mut Vec<u8>, cut: &mut bool| {
        let mut text = String::from_utf8_lossy(line).into_owned();
        if *cut {
            text.push_str(" …[line cut]");
        }
        tracing::debug!(target: "gas_worker", "{text}");
        let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() == STDERR_LINES {
            t.pop_front();
        }
        t.push_back(text);
        line.clear();
        *cut = false;
    };
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                push(&mut line, &mut cut);
            } else if line.len() < STDERR_LINE_CAP {
                line.push(b);
            } else {
                cut = true;
            }
        }
    }
    if !line.is_empty() {
        push(&mut line, &mut cut);
    }
}

impl Worker {
    /// Starts the worker process: a new session (own process group, no controlling
    /// terminal), killed when the thread that started it ends (`PR_SET_PDEATHSIG`), with an
    /// environment of only what it needs, through the sandbox launcher unless
    /// `opts.launcher` is `None`.
    pub fn spawn(opts: &WorkerOptions) -> Result<Worker, WorkerError> {
        // the sandbox shows these paths as given: no `..` through folders it does not show
        let mut opts = opts.clone();
        opts.python = real_parent(&opts.python);
        opts.script = real_parent(&opts.script);
        let opts = &opts;
        let py_args = vec![
            "-u".to_string(),
            "-B".to_string(),
            "-E".to_string(),
            "-s".to_string(),
            opts.script.display().to_string(),
        ];
        let mut cmd = match &opts.launcher {
            Some(launcher) => {
                let mut spec = opts.sandbox.clone();
                spec.read_only
                    .extend(worker_paths(&opts.python, &opts.script));
                let mut c = Command::new(launcher);
                c.arg("sandbox-exec")
                    .arg("--spec")
                    .arg(serde_json::to_string(&spec).expect("spec serializes"))
                    .arg("--")
                    .arg(&opts.python)
                    .args(&py_args);
                c
            }
            None => {
                let mut c = Command::new(&opts.python);
                c.args(&py_args)
                    .current_dir(&opts.sandbox.scratch)
                    .env("HOME", &opts.sandbox.scratch)
                    .env("TMPDIR", &opts.sandbox.scratch);
                c
            }
        };
        cmd.env_clear();
        for k in PASSED_ENV {
            if let Some(v) = std::env::var_os(k) {
                cmd.env(k, v);
            }
        }
        if opts.launcher.is_some() {
            cmd.env("GASCLI_SANDBOX", "1");
        }
        cmd.env("GASCLI_TORCH_THREADS", opts.torch_threads.to_string())
            // torch's OpenMP threads sleep between operators instead of spinning (libgomp's
            // default spins up to 300 000 rounds): the cores go to the preprocessing that
            // overlaps inference. Scheduling only; no figure changes.
            .env("OMP_WAIT_POLICY", "PASSIVE")
            .env("GLIBC_TUNABLES", WORKER_MALLOC_TUNABLES)
            .env("PYTHONNOUSERSITE", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let parent = std::process::id() as i32;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if nix::libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if nix::libc::prctl(nix::libc::PR_SET_PDEATHSIG, nix::libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if nix::libc::getppid() != parent {
                    // gascli died before PR_SET_PDEATHSIG took effect
                    nix::libc::_exit(125);
                }
                Ok(())
            });
        }
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
        std::thread::spawn(move || drain_stderr(stderr, &tail));
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
        let max_payload = Arc::new(AtomicU64::new(0));
        let cap = Arc::clone(&max_payload);
        let (rtx, rrx) = sync_channel::<Result<Reply, String>>(1);
        std::thread::spawn(move || {
            loop {
                let reply = read_frame(&mut stdout, &cap);
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
            max_payload,
            opts: opts.clone(),
            num_classes: None,
            dead: false,
        })
    }

    /// Process id of the worker (the sandbox launcher when sandboxed); also its process group.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    fn stderr_text(&self) -> String {
        // give the stderr thread a moment to drain what a dying worker printed
        std::thread::sleep(Duration::from_millis(50));
        let t = self.stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
        t.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Peak resident memory of the worker's process tree (the sandbox launcher and everything
    /// under it), bytes: the sum of each live process's `VmHWM` (Linux). `None` where /proc
    /// cannot be read or the worker is gone.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        if self.dead {
            return None;
        }
        tree_peak_rss_bytes(self.child.id())
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
        max_reply: u64,
        timeout: Duration,
    ) -> Result<Reply, WorkerError> {
        if self.dead {
            return Err(WorkerError::Protocol(
                "the worker is no longer running".into(),
            ));
        }
        self.max_payload.store(max_reply, Ordering::SeqCst);
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
                        kind: safe_kind(h["kind"].as_str()),
                        message: h["error"]
                            .as_str()
                            .unwrap_or("unknown worker error")
                            .to_string(),
                    })
                }
            }
            Ok(Err(e)) if !e.starts_with("eof:") => {
                self.kill();
                Err(WorkerError::Protocol(format!(
                    "{what}: {e}; the worker was killed"
                )))
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
        let info = self
            .request("loading the model", header, Vec::new(), 0, t)
            .map(|r| r.0)
            .map_err(|e| match e {
                // a module model.py needs and the venv lacks: one line with the fix
                WorkerError::Model { kind, message } if kind == "missing-module" => {
                    WorkerError::Model {
                        message: crate::runtime::missing_module_line(&message),
                        kind,
                    }
                }
                e => e,
            })?;
        self.num_classes = Some(load.num_classes as usize);
        Ok(info)
    }

    /// Runs `forward` on one batch. Returns exactly one entry per sample (`batch.shape[0]`):
    /// its float32 output values (the sample's part of the output, flattened, as the network
    /// reads it: 1, 2, 3 or num_classes values for a `[B, K]` output), or why that sample failed
    /// (non-finite values). A reply of another shape or size fails the whole batch
    /// ([`WorkerError::Output`]).
    pub fn infer(
        &mut self,
        batch_index: usize,
        batch: &Batch,
    ) -> Result<Vec<SampleLogits>, WorkerError> {
        let Some(k) = self.num_classes else {
            return Err(WorkerError::Protocol("infer before load".into()));
        };
        let b = batch.shape.first().copied().unwrap_or(0);
        let (dtype, bytes) = match &batch.data {
            BatchData::U8(v) => ("uint8", v.clone()),
            BatchData::F32(v) => ("float32", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        };
        let header = json!({
            "op": "infer", "batch": batch_index, "shape": batch.shape, "dtype": dtype, "nbytes": bytes.len(),
        });
        let t = self.opts.batch_timeout;
        let what = format!("batch {batch_index}");
        let max_k = max_values_per_sample(k);
        let want = (b * max_k * 4) as u64;
        let (h, payload) = self.request(&what, header, bytes, want, t)?;
        check_logits(&what, &h, &payload, b, max_k)
    }

    /// Asks the worker to exit, then makes sure its whole process group is gone.
    pub fn shutdown(mut self) {
        let _ = self.request(
            "exit",
            json!({"op": "exit"}),
            Vec::new(),
            0,
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

/// Sum of `VmHWM` over `pid` and its descendants (`/proc/<pid>/task/*/children`), bytes.
fn tree_peak_rss_bytes(pid: u32) -> Option<u64> {
    let mut total = 0u64;
    let mut stack = vec![pid];
    let mut seen = 0usize;
    while let Some(p) = stack.pop() {
        // bounded: a fork bomb in the sandbox is capped by its process limit anyway
        seen += 1;
        if seen > 4096 {
            break;
        }
        let status = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
        let kib: u64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        total += kib * 1024;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
                stack.extend(c.split_whitespace().filter_map(|x| x.parse::<u32>().ok()));
            }
        }
    }
    Some(total)
}

/// The worker's error kind as a counter key: short, `[a-z0-9-]`, else `model`.
fn safe_kind(k: Option<&str>) -> String {
    match k {
        Some(k)
            if !k.is_empty()
                && k.len() <= 32
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
        {
            k.to_string()
        }
        _ => "model".to_string(),
    }
}

/// One sample's logits, or why the sample failed.
pub type SampleLogits = Result<Vec<f32>, String>;

/// The most output values per sample gascli takes: the network accepts any output whose last
/// dimension is 1, 2, 3 or num_classes and flattens each sample's part (per-frame logits of a
/// 64-frame clip, say); this bound keeps a reply's size known before it is read.
pub fn max_values_per_sample(num_classes: usize) -> usize {
    num_classes.max(3) * 64
}

/// Checks a reply to `infer` against the batch: shape `[b, k]` with `1 ≤ k ≤ max_k` values per
/// sample, exactly `b × k` float32 values; splits it into samples, failing those with a NaN or
/// infinity.
pub fn check_logits(
    what: &str,
    header: &Value,
    payload: &[u8],
    b: usize,
    max_k: usize,
) -> Result<Vec<SampleLogits>, WorkerError> {
    let out = |message: String| WorkerError::Output {
        what: what.to_string(),
        message,
    };
    let shape: Option<Vec<u64>> = header["shape"]
        .as_array()
        .and_then(|a| a.iter().map(Value::as_u64).collect());
    let k = match shape.as_deref() {
        Some(&[rows, k]) if rows == b as u64 && (1..=max_k as u64).contains(&k) => k as usize,
        _ => {
            return Err(out(format!(
                "the worker returned logits of shape {}, expected [{b}, K] (batch × values per sample, K from 1 to {max_k}); the batch's samples fail",
                header["shape"]
            )));
        }
    };
    if payload.len() != b * k * 4 {
        return Err(out(format!(
            "the worker returned {} bytes of logits, expected {} ({b} × {k} float32); the batch's samples fail",
            payload.len(),
            b * k * 4
        )));
    }
    let values: Vec<f32> = payload
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(values
        .chunks_exact(k.max(1))
        .take(b)
        .map(|row| {
            if row.iter().all(|v| v.is_finite()) {
                Ok(row.to_vec())
            } else {
                Err(format!(
                    "{what}: non-finite logits {row:?} (NaN or infinity); the sample fails"
                ))
            }
        })
        .collect())
}

/// Entry point for the `worker_frame` fuzz target (fuzz/): the reply-frame reader on bytes a
/// hostile worker controls, with a payload limit of `max_payload`. Not an API.
#[doc(hidden)]
pub fn fuzz_read_frame(data: &[u8], max_payload: u64) -> Option<(Value, Vec<u8>)> {
    read_frame(&mut &data[..], &AtomicU64::new(max_payload)).ok()
}

/// Reads one reply frame; a payload larger than `max_payload` (what the request in flight
/// may return) is refused before anything is allocated. Errors starting with `eof:` mean the
/// worker closed its end.
fn read_frame(r: &mut impl Read, max_payload: &AtomicU64) -> Result<Reply, String> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(|e| format!("eof: {e}"))?;
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_REPLY_HEADER {
        return Err(format!(
            "reply header of {n} bytes (at most {MAX_REPLY_HEADER})"
        ));
    }
    let mut h = vec![0u8; n];
    r.read_exact(&mut h).map_err(|e| format!("eof: {e}"))?;
    let header: Value =
        serde_json::from_slice(&h).map_err(|e| format!("reply header is not JSON: {e}"))?;
    let nbytes = match &header["nbytes"] {
        Value::Null => 0,
        v => v
            .as_u64()
            .ok_or_else(|| format!("reply nbytes {v} is not a byte count"))?,
    };
    let max_payload = max_payload.load(Ordering::SeqCst);
    if nbytes > max_payload {
        return Err(format!(
            "reply payload of {nbytes} bytes, expected at most {max_payload}"
        ));
    }
    let mut payload = vec![0u8; nbytes as usize];
    r.read_exact(&mut payload)
        .map_err(|e| format!("eof: {e}"))?;
    Ok((header, payload))
}

/// Address space of an idle worker after `import torch` and a small model (measured: about
/// 3.2 GiB of `VmPeak` with PyTorch 2 on x86-64), rounded up.
pub const WORKER_BASE_BYTES: u64 = 3584 << 20;

/// A worker's memory for a run, estimated before it starts (see [`estimate_memory`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryEstimate {
    /// Bytes of one batch as sent (`batch × sample elements × element size`).
    pub batch_bytes: u64,
    /// Estimated peak address space of the worker.
    pub total_bytes: u64,
}

/// Estimates the worker's peak address space: [`WORKER_BASE_BYTES`] + twice the weights file
/// (read, then the model's parameters) + the batch as received + two float32 copies of it
/// (the dtype conversion and the normalisation most models do first). The model's own
/// activations are not known in advance and not counted: this is a lower bound, meant to
/// refuse runs that cannot fit before any work is done.
pub fn estimate_memory(
    batch_size: usize,
    sample_shape: &[usize],
    element_bytes: usize,
    weights_bytes: u64,
) -> MemoryEstimate {
    let elems = sample_shape
        .iter()
        .fold(batch_size.max(1) as u64, |a, &d| a.saturating_mul(d as u64));
    let batch_bytes = elems.saturating_mul(element_bytes as u64);
    let total_bytes = WORKER_BASE_BYTES
        .saturating_add(weights_bytes.saturating_mul(2))
        .saturating_add(batch_bytes)
        .saturating_add(elems.saturating_mul(4 * 2));
    MemoryEstimate {
        batch_bytes,
        total_bytes,
    }
}

/// [`estimate_memory`], refused with [`WorkerError::MemoryEstimate`] when it exceeds
/// `limit_bytes` (the sandbox's memory limit, `--memory-limit-gib`).
pub fn check_memory(
    limit_bytes: u64,
    batch_size: usize,
    sample_shape: &[usize],
    element_bytes: usize,
    weights_bytes: u64,
) -> Result<MemoryEstimate, WorkerError> {
    let e = estimate_memory(batch_size, sample_shape, element_bytes, weights_bytes);
    if e.total_bytes > limit_bytes {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        return Err(WorkerError::MemoryEstimate {
            need_gib: gib(e.total_bytes),
            limit_gib: gib(limit_bytes),
            detail: format!(
                "PyTorch {:.1} GiB + weights 2 × {:.2} GiB + batch {batch_size} × {sample_shape:?} ({:.2} GiB as sent, ×{} as float32 copies)",
                gib(WORKER_BASE_BYTES),
                gib(weights_bytes),
                gib(e.batch_bytes),
                8 / element_bytes.max(1)
            ),
        });
    }
    Ok(e)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn header(shape: &[u64], nbytes: usize) -> Value {
        json!({"ok": true, "shape": shape, "nbytes": nbytes})
    }

    fn bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn logits_must_match_batch_times_classes() {
        let p = bytes(&[1.0, 2.0, 3.0, 4.0]);
        let rows = check_logits("b", &header(&[2, 2], 16), &p, 2, 2).unwrap();
        assert_eq!(rows, vec![Ok(vec![1.0, 2.0]), Ok(vec![3.0, 4.0])]);
        // half the samples, shape and size agreeing: refused
        let e = check_logits("b", &header(&[1, 2], 8), &p[..8], 2, 2).unwrap_err();
        assert!(matches!(e, WorkerError::Output { .. }), "{e}");
        // the header claims the right shape, the payload is short
        assert!(check_logits("b", &header(&[2, 2], 8), &p[..8], 2, 2).is_err());
        // transposed
        assert!(check_logits("b", &header(&[2, 2], 16), &p, 4, 1).is_err());
        assert!(check_logits("b", &json!({"shape": "x"}), &p, 2, 2).is_err());
    }

    #[test]
    fn one_to_max_k_values_per_sample() {
        // a one-logit (sigmoid) model with num_classes 2: [2, 1]
        let p = bytes(&[0.5, -1.0]);
        let rows = check_logits("b", &header(&[2, 1], 8), &p, 2, 6).unwrap();
        assert_eq!(rows, vec![Ok(vec![0.5]), Ok(vec![-1.0])]);
        // more values per sample than the bound: refused
        let p = bytes(&[0.0; 8]);
        assert!(check_logits("b", &header(&[2, 4], 32), &p, 2, 3).is_err());
        assert!(check_logits("b", &header(&[2, 0], 0), &[], 2, 3).is_err());
        assert_eq!(max_values_per_sample(2), 192);
    }

    #[test]
    fn non_finite_values_fail_their_sample_only() {
        let p = bytes(&[f32::NAN, 0.0, 1.0, 2.0, 0.0, f32::INFINITY]);
        let rows = check_logits("b", &header(&[3, 2], 24), &p, 3, 2).unwrap();
        assert!(rows[0].is_err() && rows[2].is_err());
        assert_eq!(rows[1], Ok(vec![1.0, 2.0]));
    }

    fn frame(h: &Value, payload: &[u8]) -> Vec<u8> {
        let h = serde_json::to_vec(h).unwrap();
        let mut v = (h.len() as u32).to_le_bytes().to_vec();
        v.extend(h);
        v.extend(payload);
        v
    }

    #[test]
    fn reply_frames_are_bounded_before_allocation() {
        let cap = AtomicU64::new(16);
        let ok = frame(&header(&[2, 2], 16), &[0; 16]);
        assert_eq!(read_frame(&mut &ok[..], &cap).unwrap().1.len(), 16);
        // a payload larger than the request in flight may return: refused unread
        let big = frame(&json!({"nbytes": 1u64 << 40}), &[]);
        let e = read_frame(&mut &big[..], &cap).unwrap_err();
        assert!(e.contains("payload") && !e.starts_with("eof:"), "{e}");
        // a huge header length
        let mut huge = (u32::MAX).to_le_bytes().to_vec();
        huge.extend([0; 8]);
        assert!(
            read_frame(&mut &huge[..], &cap)
                .unwrap_err()
                .contains("header")
        );
        // not JSON, a negative byte count, a closed pipe
        let mut bad = 3u32.to_le_bytes().to_vec();
        bad.extend(b"{{{");
        assert!(read_frame(&mut &bad[..], &cap).is_err());
        let neg = frame(&json!({"nbytes": -1}), &[]);
        assert!(read_frame(&mut &neg[..], &cap).is_err());
        assert!(
            read_frame(&mut &[][..], &cap)
                .unwrap_err()
                .starts_with("eof:")
        );
    }

    /// 256 MiB of `x` with no newline, then `\nend\n`, generated as read.
    struct Flood(u64);
    impl Read for Flood {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            const N: u64 = 256 << 20;
            if self.0 >= N + 5 {
                return Ok(0);
            }
            let n = buf.len().min((N + 5 - self.0) as usize);
            for (i, b) in buf[..n].iter_mut().enumerate() {
                let at = self.0 + i as u64;
                *b = if at < N {
                    b'x'
                } else {
                    b"\nend\n"[(at - N) as usize]
                };
            }
            self.0 += n as u64;
            Ok(n)
        }
    }

    #[test]
    fn stderr_lines_are_cut_and_the_tail_bounded() {
        let tail = Mutex::new(VecDeque::new());
        drain_stderr(Flood(0), &tail);
        let t = tail.into_inner().unwrap();
        assert_eq!(t.len(), 2);
        assert!(t[0].len() <= STDERR_LINE_CAP + 32 && t[0].ends_with("[line cut]"));
        assert_eq!(t[1], "end");
        let many: Vec<u8> = (0..100)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let tail = Mutex::new(VecDeque::new());
        drain_stderr(&many[..], &tail);
        let t = tail.into_inner().unwrap();
        assert_eq!(t.len(), STDERR_LINES);
        assert_eq!(t.back().map(String::as_str), Some("line 99"));
    }

    #[test]
    fn memory_estimate_refuses_what_cannot_fit() {
        let limit = 8u64 << 30;
        // a 224 × 224 image model with 100 MB of weights, batch 16: fine
        assert!(check_memory(limit, 16, &[3, 224, 224], 1, 100 << 20).is_ok());
        // resize 8192 × 8192, batch 16: refused, naming the limit
        let e = check_memory(limit, 16, &[3, 8192, 8192], 1, 100 << 20).unwrap_err();
        assert!(e.to_string().contains("--memory-limit-gib 8"), "{e}");
        assert!(!e.is_fatal());
        // the estimate grows with the batch and the weights
        let a = estimate_memory(1, &[16, 3, 224, 224], 1, 0).total_bytes;
        assert!(estimate_memory(2, &[16, 3, 224, 224], 1, 0).total_bytes > a);
        assert!(estimate_memory(1, &[16, 3, 224, 224], 1, 1 << 30).total_bytes > a);
        // no overflow on absurd shapes
        assert!(check_memory(limit, usize::MAX, &[usize::MAX, 3], 4, u64::MAX).is_err());
    }
}
