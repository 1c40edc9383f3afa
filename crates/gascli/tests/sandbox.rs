//! The sandbox holds on its own: hostile `forward`s driven straight through the worker (no
//! static analysis in front) are contained, killed or refused, and reported. Needs the venv
//! with PyTorch (fails when CI is set and it is missing; skips otherwise).

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use gas_bench::sandbox::SandboxSpec;
use gas_bench::worker::{
    Batch, BatchData, LoadRequest, Logits, Worker, WorkerError, WorkerOptions,
};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("GASCLI_VENV").map_or(root().join(".venv"), PathBuf::from);
    let py = venv.join("bin/python");
    if py.exists() {
        return Some(std::path::absolute(py).unwrap());
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "venv missing at {}: run scripts/setup.sh",
        venv.display()
    );
    eprintln!(
        "skipped: no venv at {} (run scripts/setup.sh)",
        venv.display()
    );
    None
}

/// A package dir whose forward runs `body` (Python, indented 8 spaces) and a worker for it.
fn worker_with(forward_body: &str, timeout: Duration) -> Option<(Worker, tempfile::TempDir)> {
    let py = python()?;
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        pkg.join("model.py"),
        format!(
            "import os, socket, time\nimport torch\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n{forward_body}\n        return torch.zeros(x.shape[0], 2)\n\ndef load_model(weights_path, num_classes=2):\n    return M()\n"
        ),
    )
    .unwrap();
    let mut spec = SandboxSpec::new(work);
    spec.memory_bytes = 6 << 30;
    let opts = WorkerOptions {
        python: py,
        script: root().join("python/gas_worker/worker.py"),
        launcher: Some(PathBuf::from(env!("CARGO_BIN_EXE_gascli"))),
        sandbox: spec,
        batch_timeout: timeout,
        load_timeout: Duration::from_secs(120),
        torch_threads: 1,
    };
    let mut w = Worker::spawn(&opts).expect("spawn");
    w.load(&LoadRequest {
        package_dir: pkg.clone(),
        weights_path: pkg.join("model.safetensors"),
        num_classes: 2,
        model_kwargs: serde_json::json!({"num_classes": 2}),
        dtype: "float32".into(),
        modality: "image".into(),
        device: "cpu".into(),
        name: "hostile".into(),
    })
    .expect("load");
    Some((w, dir))
}

fn batch() -> Batch {
    Batch {
        shape: vec![1, 3, 4, 4],
        data: BatchData::U8(vec![7; 48]),
    }
}

fn model_error(r: Result<Logits, WorkerError>) -> String {
    match r {
        Err(WorkerError::Model { message, .. }) => message,
        other => panic!("expected the model's error, got {other:?}"),
    }
}

#[test]
fn benign_model_runs_inside_the_sandbox() {
    let Some((mut w, _d)) = worker_with("        pass", Duration::from_secs(60)) else {
        return;
    };
    let logits = w.infer(0, &batch()).unwrap();
    assert_eq!(logits.values, vec![0.0, 0.0]);
    w.shutdown();
}

#[test]
fn socket_to_loopback_listener_cannot_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let body = format!(
        "        socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'stolen')"
    );
    let Some((mut w, _d)) = worker_with(&body, Duration::from_secs(60)) else {
        return;
    };
    let msg = model_error(w.infer(0, &batch()));
    assert!(
        msg.contains("OSError") || msg.contains("unreachable") || msg.contains("refused"),
        "{msg}"
    );
    let mut got = String::new();
    if let Ok((mut s, _)) = listener.accept() {
        let _ = s.read_to_string(&mut got);
        panic!("the sandboxed model reached the host's loopback: {got:?}");
    }
    w.shutdown();
}

#[test]
fn writes_outside_scratch_are_denied() {
    let target = std::env::temp_dir().join(format!("gascli-escape-{}", std::process::id()));
    let body = format!(
        "        open({:?}, 'w').write('pwned')",
        target.display().to_string()
    );
    let Some((mut w, d)) = worker_with(&body, Duration::from_secs(60)) else {
        return;
    };
    let msg = model_error(w.infer(0, &batch()));
    assert!(
        msg.contains("Permission denied") || msg.contains("PermissionError"),
        "{msg}"
    );
    assert!(!target.exists(), "file written outside the scratch dir");
    // ... while the scratch dir itself is writable
    w.shutdown();
    let Some((mut w2, d2)) = worker_with(
        "        open('inside.txt', 'w').write('ok')",
        Duration::from_secs(60),
    ) else {
        return;
    };
    w2.infer(0, &batch()).unwrap();
    assert!(d2.path().join("work/inside.txt").exists());
    w2.shutdown();
    drop(d);
}

#[test]
fn fork_bomb_is_refused() {
    let body = "        while True:\n            os.fork()";
    let Some((mut w, _d)) = worker_with(body, Duration::from_secs(30)) else {
        return;
    };
    let msg = model_error(w.infer(0, &batch()));
    assert!(
        msg.contains("Operation not permitted") || msg.contains("Errno 1"),
        "{msg}"
    );
    // the worker itself survived and still serves batches without having forked
    let msg2 = model_error(w.infer(1, &batch()));
    assert!(
        msg2.contains("Operation not permitted") || msg2.contains("Errno 1"),
        "{msg2}"
    );
    w.shutdown();
}

#[test]
fn huge_allocation_fails_inside_the_memory_limit() {
    let body = "        torch.empty(50 * 10**9, dtype=torch.uint8).fill_(1)";
    let Some((mut w, _d)) = worker_with(body, Duration::from_secs(60)) else {
        return;
    };
    match w.infer(0, &batch()) {
        Err(WorkerError::Model { message, .. }) => {
            assert!(
                message.to_lowercase().contains("memory") || message.contains("allocate"),
                "{message}"
            )
        }
        Err(e @ WorkerError::Died { .. }) => assert!(e.to_string().contains("killed"), "{e}"),
        other => panic!("50 GB allocation was not stopped: {other:?}"),
    }
}

#[test]
fn sleeping_forever_hits_the_batch_timeout() {
    let Some((mut w, _d)) = worker_with("        time.sleep(10**6)", Duration::from_secs(3)) else {
        return;
    };
    let t = std::time::Instant::now();
    match w.infer(0, &batch()) {
        Err(e @ WorkerError::Timeout { .. }) => {
            assert!(e.to_string().contains("timed out after 3 s"), "{e}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(30));
    // the worker is gone: further requests fail cleanly instead of hanging
    assert!(w.infer(1, &batch()).is_err());
}
