//! The sandbox holds on its own: hostile `forward`s driven straight through the worker (no
//! static analysis in front: the test-only path that bypasses it) are contained, killed or
//! refused, and reported. Each escape of the sandbox issue is one test here; each failed before
//! the sandbox was rebuilt. Needs the venv with PyTorch (fails when CI is set and it is missing;
//! skips otherwise).

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gas_bench::sandbox::SandboxSpec;
use gas_bench::worker::{
    Batch, BatchData, LoadRequest, SampleLogits, Worker, WorkerError, WorkerOptions,
};
use gas_test_support::venv_python;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// model.py around a `forward` whose body is `forward_body` (Python, indented 8 spaces).
/// `attempt(f)` runs `f` and says `ok:…` or `err:Type:message`; `report(**kw)` ends the
/// forward with the results as the model's error (`RESULT{json}`).
const MODEL: &str = r#"import errno, json, os, signal, socket, sys, threading, time
import torch


def attempt(f):
    try:
        return "ok:" + repr(f())[:200]
    except BaseException as e:
        return "err:" + type(e).__name__ + ":" + str(e)[:200]


def report(**kw):
    raise RuntimeError("RESULT" + json.dumps(kw))


class M(torch.nn.Module):
    def forward(self, x):
__BODY__
        return torch.zeros(x.shape[0], 2)


def load_model(weights_path, num_classes=2):
    return M()
"#;

struct Sandboxed {
    worker: Worker,
    dir: tempfile::TempDir,
}

impl Sandboxed {
    fn pkg(&self) -> PathBuf {
        self.dir.path().join("pkg")
    }
    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
}

/// A package dir whose forward runs `body`, and a sandboxed worker that loaded it.
fn sandboxed(
    body: &str,
    timeout: Duration,
    tweak: impl FnOnce(&mut SandboxSpec),
) -> Option<Sandboxed> {
    let py = venv_python(&[])?;
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("pkg");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(pkg.join("model.py"), MODEL.replace("__BODY__", body)).unwrap();
    let mut spec = SandboxSpec::new(work);
    spec.memory_bytes = 6 << 30;
    spec.read_only.push(pkg.clone());
    tweak(&mut spec);
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
        modality: "image".into(),
        model_kwargs: serde_json::json!({"num_classes": 2}),
        dtype: "float32".into(),
        device: "cpu".into(),
        name: "hostile".into(),
    })
    .expect("load");
    Some(Sandboxed { worker: w, dir })
}

fn batch(n: usize) -> Batch {
    Batch {
        shape: vec![n, 3, 4, 4],
        data: BatchData::U8(vec![7; n * 48]),
    }
}

fn model_error(r: Result<Vec<SampleLogits>, WorkerError>) -> String {
    match r {
        Err(WorkerError::Model { message, .. }) => message,
        other => panic!("expected the model's error, got {other:?}"),
    }
}

/// Runs one batch through a forward that ends with `report(...)`; returns the reported dict.
fn probe(body: &str, tweak: impl FnOnce(&mut SandboxSpec)) -> Option<(Value, Sandboxed)> {
    let mut s = sandboxed(body, Duration::from_secs(120), tweak)?;
    let msg = model_error(s.worker.infer(0, &batch(1)));
    let json = msg
        .split_once("RESULT")
        .unwrap_or_else(|| panic!("no RESULT in {msg}"))
        .1;
    let r: Value = serde_json::from_str(json).expect(json);
    eprintln!("sandboxed model reported: {r}");
    Some((r, s))
}

/// Every entry of `v` (a string or a list/dict of strings) starts with `err:`.
fn all_failed(v: &Value) -> bool {
    match v {
        Value::String(s) => s.starts_with("err:"),
        Value::Array(a) => a.iter().all(all_failed),
        Value::Object(o) => o.values().all(all_failed),
        _ => false,
    }
}

#[test]
fn sandbox_features_live_here() {
    let f = gas_bench::sandbox::probe();
    eprintln!("sandbox features: {}", serde_json::to_string(&f).unwrap());
    if std::env::var_os("CI").is_some() {
        assert!(f.namespaces.iter().all(|(_, ok)| *ok), "{f:?}");
        assert!(f.landlock_abi >= 1 && f.seccomp && f.mount_api, "{f:?}");
    }
}

#[test]
fn benign_model_runs_inside_the_sandbox() {
    let Some(mut s) = sandboxed("        pass", Duration::from_secs(60), |_| {}) else {
        return;
    };
    let rows = s.worker.infer(0, &batch(2)).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.as_deref() == Ok(&[0.0, 0.0][..])));
    s.worker.shutdown();
}

#[test]
fn socket_to_loopback_listener_cannot_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let body = format!(
        "        report(tcp=attempt(lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'stolen')))"
    );
    let Some((r, _s)) = probe(&body, |_| {}) else {
        return;
    };
    assert!(all_failed(&r), "{r}");
    if let Ok((mut c, _)) = listener.accept() {
        let mut got = String::new();
        let _ = c.read_to_string(&mut got);
        panic!("the sandboxed model reached the host's loopback: {got:?}");
    }
}

#[test]
fn unix_socket_outside_cannot_connect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let body = format!(
        "        def go():\n            s = socket.socket(socket.AF_UNIX)\n            s.connect({:?})\n            s.sendall(b'stolen')\n        report(unix=attempt(go), pair=attempt(lambda: socket.socketpair()), netlink=attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)))",
        path.display().to_string()
    );
    let Some((r, _s)) = probe(&body, |_| {}) else {
        return;
    };
    assert!(all_failed(&r), "{r}");
    assert!(
        listener.accept().is_err(),
        "the sandboxed model connected to a unix socket outside"
    );
}

#[test]
fn no_terminal_and_no_tiocsti() {
    let body = r#"        import fcntl, termios
        r = {}
        r["dev_tty"] = attempt(lambda: open("/dev/tty", "wb"))
        r["ptmx"] = attempt(lambda: open("/dev/ptmx", "wb"))
        for fd in range(0, 3):
            r[f"ttyname{fd}"] = attempt(lambda: os.ttyname(fd))
            r[f"tiocsti{fd}"] = attempt(lambda: fcntl.ioctl(fd, termios.TIOCSTI, b"x"))
        links = [os.readlink(f"/proc/self/fd/{f}") for f in os.listdir("/proc/self/fd") if os.path.islink(f"/proc/self/fd/{f}")]
        ttys = [l for l in links if l.startswith(("/dev/pts", "/dev/tty", "/dev/console", "socket:"))]
        r["tty_fds"] = "ok:" + repr(ttys) if ttys else "err:none"
        report(**r)"#;
    let Some((r, _s)) = probe(body, |_| {}) else {
        return;
    };
    assert!(all_failed(&r), "{r}");
}

#[test]
fn host_files_environment_and_processes_are_invisible() {
    // a miner's wallet in a home folder, the checkout, the password database, /etc/shadow
    let home = tempfile::tempdir().unwrap();
    let wallet = home.path().join(".bittensor/wallets/default/coldkey");
    std::fs::create_dir_all(wallet.parent().unwrap()).unwrap();
    std::fs::write(&wallet, "secret-coldkey").unwrap();
    let body = format!(
        r#"        import pwd
        r = {{}}
        r["wallet"] = attempt(lambda: open({wallet:?}).read())
        r["shadow"] = attempt(lambda: open("/etc/shadow").read())
        r["checkout"] = attempt(lambda: open({cargo:?}).read())
        r["home_listing"] = attempt(lambda: os.listdir({home:?}))
        r["root_users"] = attempt(lambda: pwd.getpwnam("root"))
        r["docker_sock"] = attempt(lambda: os.stat("/var/run/docker.sock"))
        others = [p for p in os.listdir("/proc") if p.isdigit() and p != str(os.getpid())]
        r["other_processes"] = "ok:" + repr(others) if others else "err:none"
        allowed = {{"GASCLI_SANDBOX", "GASCLI_TORCH_THREADS", "OMP_WAIT_POLICY", "GLIBC_TUNABLES", "PYTHONNOUSERSITE", "PYTHONDONTWRITEBYTECODE", "LANG", "HOME", "TMPDIR", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "LC_CTYPE"}}
        keys = {{kv.split(b"=", 1)[0].decode() for kv in open("/proc/self/environ", "rb").read().split(b"\0") if kv}}
        # glibc's start-up rewrites GLIBC_TUNABLES in place, ':' to NUL, so its later settings
        # show up as entries of their own: ours, not the host's
        extra = sorted(k for k in keys - allowed if not k.startswith("glibc.malloc."))
        r["environment"] = "ok:" + repr(extra) if extra else "err:only what the worker needs"
        raw = open("/proc/self/environ", "rb").read()
        r["cargo_env"] = "ok:found" if b"CARGO" in raw else "err:none"
        r["uid0"] = "ok:root" if os.getuid() == 0 or os.geteuid() == 0 else "err:unprivileged"
        caps = [l for l in open("/proc/self/status") if l.startswith(("CapEff", "CapPrm", "CapBnd", "CapAmb"))]
        r["caps"] = "ok:" + repr(caps) if any(l.split()[1].strip("0") for l in caps) else "err:none"
        nnp = [l for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0]
        r["no_new_privs"] = "err:set" if nnp.split()[1] == "1" else "ok:" + nnp
        report(**r)"#,
        wallet = wallet.display().to_string(),
        cargo = root().join("Cargo.toml").display().to_string(),
        home = home.path().display().to_string(),
    );
    let Some((r, _s)) = probe(&body, |_| {}) else {
        return;
    };
    assert!(all_failed(&r), "{r}");
}

#[test]
fn writes_outside_scratch_are_denied() {
    let target = std::env::temp_dir().join(format!("gascli-escape-{}", std::process::id()));
    let body = format!(
        r##"        r = {{}}
        r["outside"] = attempt(lambda: open({t:?}, "w").write("pwned"))
        r["package"] = attempt(lambda: open(__file__, "a").write("#"))
        r["root"] = attempt(lambda: open("/pwned", "w"))
        r["venv"] = attempt(lambda: open(os.path.join(os.path.dirname(sys.executable), "pwned"), "w"))
        inside = open("inside.txt", "w").write("ok")
        r["inside"] = "err:fine" if open("inside.txt").read() == "ok" else "ok:scratch not writable"
        report(**r)"##,
        t = target.display().to_string(),
    );
    let Some((r, s)) = probe(&body, |_| {}) else {
        return;
    };
    assert!(all_failed(&r), "{r}");
    assert!(!target.exists(), "file written outside the scratch dir");
    // scratch is a tmpfs of the sandbox: nothing reaches the host's folder
    assert_eq!(std::fs::read_dir(s.work()).unwrap().count(), 0);
}

#[test]
fn metadata_of_files_outside_scratch_cannot_change() {
    let body = r#"        pkg = os.path.dirname(__file__)
        r = {}
        for name, p in [("model", os.path.join(pkg, "model.py")), ("python", os.path.realpath(sys.executable)), ("pkgdir", pkg)]:
            r[name + "_chmod"] = attempt(lambda: os.chmod(p, 0o777))
            r[name + "_chown"] = attempt(lambda: os.chown(p, os.getuid(), os.getgid()))
            r[name + "_utime"] = attempt(lambda: os.utime(p, (0, 0)))
            r[name + "_setxattr"] = attempt(lambda: os.setxattr(p, "user.pwned", b"1"))
            r[name + "_rename"] = attempt(lambda: os.rename(p, p + ".x"))
        report(**r)"#;
    let Some((r, s)) = probe(body, |_| {}) else {
        return;
    };
    assert!(all_failed(&r), "{r}");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(s.pkg().join("model.py")).unwrap();
    assert_ne!(m.mode() & 0o777, 0o777);
    assert_ne!(m.mtime(), 0);
}

#[test]
fn execve_is_refused() {
    let body = r#"        r = {}
        r["execv_python"] = attempt(lambda: os.execv(sys.executable, [sys.executable, "-c", "pass"]))
        r["execv_sh"] = attempt(lambda: os.execv("/bin/sh", ["sh", "-c", "id"]))
        r["spawn"] = attempt(lambda: os.posix_spawn(sys.executable, [sys.executable], {}))
        import subprocess
        r["subprocess"] = attempt(lambda: subprocess.run(["/bin/true"]))
        report(**r)"#;
    let Some((r, _s)) = probe(body, |_| {}) else {
        return;
    };
    assert!(all_failed(&r), "{r}");
    assert!(
        r["execv_python"]
            .as_str()
            .unwrap()
            .contains("not permitted"),
        "{r}"
    );
}

#[test]
fn signals_cannot_leave_the_sandbox() {
    let mut victim = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = victim.id();
    let body = format!(
        r#"        r = {{}}
        r["victim"] = attempt(lambda: os.kill({pid}, signal.SIGKILL))
        r["all"] = attempt(lambda: os.kill(-1, 0))
        r["group"] = attempt(lambda: os.kill(0, 0))
        r["parent"] = attempt(lambda: os.kill(os.getppid(), signal.SIGKILL))
        report(**r)"#
    );
    let res = probe(&body, |_| {});
    let alive = victim.try_wait().unwrap().is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    let Some((r, _s)) = res else {
        return;
    };
    assert!(alive, "the sandboxed model killed an outside process");
    assert!(all_failed(&r), "{r}");
}

#[test]
fn filling_scratch_stops_at_its_size() {
    let body = r#"        written = 0
        err = "err:none"
        try:
            with open("fill", "wb") as f:
                for _ in range(200):
                    f.write(b"x" * (1 << 20))
                    f.flush()
                    written += 1 << 20
        except OSError as e:
            err = "err:" + str(e)
        report(written=written, error=err)"#;
    let Some((r, s)) = probe(body, |spec| spec.scratch_bytes = 32 << 20) else {
        return;
    };
    let written = r["written"].as_u64().unwrap();
    assert!(written <= 32 << 20, "{r}");
    assert!(r["error"].as_str().unwrap().contains("No space"), "{r}");
    assert_eq!(std::fs::read_dir(s.work()).unwrap().count(), 0);
}

#[test]
fn thread_count_is_limited() {
    let body = r#"        started = 0
        err = "none"
        stop = threading.Event()
        try:
            for _ in range(1500):
                threading.Thread(target=stop.wait, daemon=True).start()
                started += 1
        except RuntimeError as e:
            err = str(e)
        stop.set()
        report(started=started, error=err)"#;
    let Some((r, _s)) = probe(body, |spec| spec.max_processes = 64) else {
        return;
    };
    assert!(r["started"].as_u64().unwrap() < 64, "{r}");
    assert!(r["error"].as_str().unwrap().contains("thread"), "{r}");
}

#[test]
fn fork_bomb_is_refused() {
    let body = "        while True:\n            os.fork()";
    let Some(mut s) = sandboxed(body, Duration::from_secs(30), |_| {}) else {
        return;
    };
    let msg = model_error(s.worker.infer(0, &batch(1)));
    assert!(
        msg.contains("Operation not permitted") || msg.contains("Errno 1"),
        "{msg}"
    );
    // the worker itself survived and still serves batches without having forked
    let msg2 = model_error(s.worker.infer(1, &batch(1)));
    assert!(
        msg2.contains("Operation not permitted") || msg2.contains("Errno 1"),
        "{msg2}"
    );
    s.worker.shutdown();
}

#[test]
fn huge_allocation_fails_inside_the_memory_limit() {
    let body = "        torch.empty(50 * 10**9, dtype=torch.uint8).fill_(1)";
    let Some(mut s) = sandboxed(body, Duration::from_secs(60), |_| {}) else {
        return;
    };
    match s.worker.infer(0, &batch(1)) {
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
    let Some(mut s) = sandboxed("        time.sleep(10**6)", Duration::from_secs(3), |_| {}) else {
        return;
    };
    let t = Instant::now();
    match s.worker.infer(0, &batch(1)) {
        Err(e @ WorkerError::Timeout { .. }) => {
            assert!(e.to_string().contains("timed out after 3 s"), "{e}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(30));
    // the worker is gone: further requests fail cleanly instead of hanging
    assert!(s.worker.infer(1, &batch(1)).is_err());
}

/// Python that replaces the worker's `send` so that `infer` replies with `mangle(h, payload)`.
fn rewrite_send(mangle: &str) -> String {
    format!(
        "        import __main__ as w\n        if not hasattr(w, 'orig_send'):\n            w.orig_send = w.send\n            def send(h, payload=b''):\n                if 'shape' in h:\n                    h, payload = ({mangle})(h, payload)\n                w.orig_send(h, payload)\n            w.send = send"
    )
}

#[test]
fn a_rewritten_infer_cannot_drop_samples() {
    // half the logits, with a shape and size that agree with each other
    let body = rewrite_send(
        "lambda h, p: (dict(h, shape=[h['shape'][0] // 2, h['shape'][1]], nbytes=len(p) // 2), p[: len(p) // 2])",
    );
    let Some(mut s) = sandboxed(&body, Duration::from_secs(60), |_| {}) else {
        return;
    };
    for i in 0..2 {
        match s.worker.infer(i, &batch(4)) {
            Err(e @ WorkerError::Output { .. }) => {
                assert!(e.to_string().contains("expected [4, K]"), "{e}")
            }
            other => panic!("a short reply was accepted: {other:?}"),
        }
    }
    s.worker.shutdown();
}

#[test]
fn non_finite_logits_fail_only_their_sample() {
    let body = rewrite_send(
        "lambda h, p: (h, __import__('struct').pack('<4f', float('nan'), 0.0, 1.0, 2.0))",
    );
    let Some(mut s) = sandboxed(&body, Duration::from_secs(60), |_| {}) else {
        return;
    };
    let rows = s.worker.infer(0, &batch(2)).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].is_err(), "{rows:?}");
    assert_eq!(rows[1].as_deref(), Ok(&[1.0, 2.0][..]));
    s.worker.shutdown();
}

#[test]
fn an_oversized_reply_is_refused_before_it_is_read() {
    let body = rewrite_send("lambda h, p: (dict(h, nbytes=2**40), b'')");
    let Some(mut s) = sandboxed(&body, Duration::from_secs(60), |_| {}) else {
        return;
    };
    match s.worker.infer(0, &batch(1)) {
        Err(e @ WorkerError::Protocol(_)) => assert!(e.to_string().contains("payload"), "{e}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn a_dying_worker_fails_its_batch() {
    let Some(mut s) = sandboxed("        os._exit(3)", Duration::from_secs(60), |_| {}) else {
        return;
    };
    match s.worker.infer(0, &batch(3)) {
        Err(e @ WorkerError::Died { .. }) => assert!(e.to_string().contains("status 3"), "{e}"),
        other => panic!("expected the worker's death, got {other:?}"),
    }
}

#[test]
fn a_flood_on_stderr_stays_bounded() {
    // 256 MiB without a newline, then a last line
    let body = "        [os.write(2, b'x' * (1 << 20)) for _ in range(256)]\n        os.write(2, b'\\nlast words\\n')\n        os._exit(4)";
    let Some(mut s) = sandboxed(body, Duration::from_secs(120), |_| {}) else {
        return;
    };
    let before = peak_rss_kib();
    let e = s.worker.infer(0, &batch(1)).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("last words"), "{}", &msg[..msg.len().min(500)]);
    assert!(msg.len() < 64 << 10, "{} bytes of error", msg.len());
    // the test process did not buffer the flood (other tests run alongside: a loose bound)
    assert!(peak_rss_kib().saturating_sub(before) < 200 << 10);
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

const ROLE: &str = "GASCLI_SANDBOX_TEST_ROLE";

/// Processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    let after = s.rsplit_once(')')?.1.to_string();
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(')')?.1.split_whitespace().next()? != "Z"))
        .unwrap_or(false)
}

#[test]
fn the_worker_dies_with_gascli() {
    if std::env::var_os(ROLE).is_some() {
        // the role of gascli: start a worker, say its pid, wait in a batch forever
        let Some(mut s) = sandboxed(
            "        time.sleep(10**6)",
            Duration::from_secs(600),
            |_| {},
        ) else {
            println!("SKIP");
            return;
        };
        println!("LAUNCHER {}", s.worker.id());
        let _ = s.worker.infer(0, &batch(1));
        return;
    }
    if venv_python(&[]).is_none() {
        return;
    }
    for signal in ["TERM", "INT", "KILL"] {
        let mut gascli = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "the_worker_dies_with_gascli", "--nocapture"])
            .env(ROLE, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(gascli.stdout.take().unwrap());
        let mut launcher = None;
        for line in out.lines().map_while(Result::ok) {
            if let Some(p) = line.strip_prefix("LAUNCHER ") {
                launcher = Some(p.trim().parse::<u32>().unwrap());
                break;
            }
            assert_ne!(line, "SKIP");
        }
        let launcher = launcher.expect("the worker started");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut worker = children_of(launcher);
        while worker.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            worker = children_of(launcher);
        }
        assert_eq!(worker.len(), 1, "the launcher's child");
        let st = Command::new("kill")
            .args([format!("-{signal}"), gascli.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let _ = gascli.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        while (running(launcher) || running(worker[0])) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            !running(launcher) && !running(worker[0]),
            "SIG{signal} to gascli left its worker running (launcher {launcher}, worker {})",
            worker[0]
        );
    }
}

#[test]
fn the_scratch_folder_is_gone_with_the_worker() {
    let Some(mut s) = sandboxed(
        "        open('left-behind', 'wb').write(b'x' * 1000)",
        Duration::from_secs(60),
        |_| {},
    ) else {
        return;
    };
    s.worker.infer(0, &batch(1)).unwrap();
    let work: &Path = &s.work();
    assert_eq!(std::fs::read_dir(work).unwrap().count(), 0);
    s.worker.shutdown();
}
