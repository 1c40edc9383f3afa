//! The worker's sandbox, applied by a launcher just before it `exec`s Python.
//!
//! The runner never applies restrictions inside its own (multi-threaded) process: it re-executes
//! the `gascli` binary with the hidden `sandbox-exec` subcommand, which is single-threaded at
//! that point, calls [`exec_sandboxed`], and so becomes the Python worker. Layers:
//! 1. **No network**: a fresh network namespace (`unshare(CLONE_NEWNET)`; unprivileged users get
//!    `CLONE_NEWUSER | CLONE_NEWNET` with their own uid mapped). Only a down loopback exists.
//! 2. **Files**: Landlock. Everything may be read (the model cannot send it anywhere); writing,
//!    creating, removing and renaming are allowed only beneath the scratch directory and on
//!    `/dev/null`. The package is read-only, and so is the venv.
//! 3. **Resources**: `RLIMIT_AS` (memory; PyTorch needs ≥ 4 GiB), `RLIMIT_CPU`, `RLIMIT_FSIZE`,
//!    `RLIMIT_NOFILE`, `RLIMIT_CORE = 0`.
//! 4. **No new processes** (fork bombs, shells): a seccomp filter makes `fork`, `vfork` and
//!    `clone` without `CLONE_THREAD` fail with EPERM; threads (which PyTorch needs) still work.
//!    Unprivileged users also get `RLIMIT_NPROC` (root is exempt from it, hence seccomp).
//!
//! The runner adds the rest: its own process group (killed as a whole), a per-batch wall-clock
//! timeout, and reports of which limit stopped the worker.
//! If a layer cannot be applied, [`exec_sandboxed`] fails with the reason: the caller refuses to
//! run a model then, unless the user passed `--unsafe-no-sandbox`.

use std::convert::Infallible;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Limits of one worker. Serialized onto the launcher's command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The only directory the worker may write to (also its cwd, HOME and TMPDIR).
    pub scratch: PathBuf,
    /// Address-space limit in bytes (RLIMIT_AS).
    pub memory_bytes: u64,
    /// CPU-time limit in seconds (RLIMIT_CPU): the kernel sends SIGXCPU, then SIGKILL.
    pub cpu_seconds: u64,
    /// Processes/threads the worker's user may have (RLIMIT_NPROC). PyTorch needs threads.
    pub max_processes: u64,
    /// Largest file the worker may write (RLIMIT_FSIZE).
    pub max_file_bytes: u64,
    /// Open files (RLIMIT_NOFILE).
    pub max_open_files: u64,
}

impl SandboxSpec {
    pub fn new(scratch: PathBuf) -> Self {
        SandboxSpec {
            scratch,
            memory_bytes: 8 << 30,
            cpu_seconds: 6 * 3600,
            max_processes: 256,
            max_file_bytes: 256 << 20,
            max_open_files: 1024,
        }
    }
}

/// Why the sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox: cannot create a network namespace ({0}); the kernel or container forbids it")]
    Namespace(String),
    #[error(
        "sandbox: Landlock file restrictions unavailable ({0}); needs Linux ≥ 5.13 with Landlock enabled"
    )]
    Landlock(String),
    #[error("sandbox: cannot set resource limit {0}: {1}")]
    Rlimit(&'static str, String),
    #[error("sandbox: cannot forbid new processes: {0}")]
    Pids(String),
    #[error("sandbox: cannot start {program}: {reason}")]
    Exec { program: String, reason: String },
}

fn write_proc(path: &str, content: &str) -> Result<(), SandboxError> {
    std::fs::write(path, content).map_err(|e| SandboxError::Namespace(format!("{path}: {e}")))
}

fn isolate_network() -> Result<(), SandboxError> {
    use nix::sched::{CloneFlags, unshare};
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    if uid == 0 {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| SandboxError::Namespace(e.to_string()))
    } else {
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET)
            .map_err(|e| SandboxError::Namespace(e.to_string()))?;
        write_proc("/proc/self/setgroups", "deny")?;
        write_proc("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
        write_proc("/proc/self/gid_map", &format!("{gid} {gid} 1"))
    }
}

fn restrict_files(scratch: &Path) -> Result<(), SandboxError> {
    use landlock::{
        ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
        path_beneath_rules,
    };
    let abi = ABI::V3;
    let err = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))
        .map_err(err)?
        .add_rules(path_beneath_rules([scratch], AccessFs::from_all(abi)))
        .map_err(err)?
        .add_rules(path_beneath_rules(
            ["/dev/null"],
            AccessFs::from_read(abi) | AccessFs::WriteFile,
        ))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    match status.ruleset {
        RulesetStatus::NotEnforced => {
            Err(SandboxError::Landlock("not enforced by this kernel".into()))
        }
        _ => Ok(()),
    }
}

fn set_limits(spec: &SandboxSpec, running_as_root: bool) -> Result<(), SandboxError> {
    use nix::sys::resource::{Resource, setrlimit};
    let set = |r: Resource, name: &'static str, v: u64| {
        setrlimit(r, v, v).map_err(|e| SandboxError::Rlimit(name, e.to_string()))
    };
    set(Resource::RLIMIT_AS, "RLIMIT_AS", spec.memory_bytes)?;
    set(Resource::RLIMIT_CPU, "RLIMIT_CPU", spec.cpu_seconds)?;
    set(Resource::RLIMIT_FSIZE, "RLIMIT_FSIZE", spec.max_file_bytes)?;
    set(
        Resource::RLIMIT_NOFILE,
        "RLIMIT_NOFILE",
        spec.max_open_files,
    )?;
    set(Resource::RLIMIT_CORE, "RLIMIT_CORE", 0)?;
    if !running_as_root {
        // An unprivileged user's other processes count against RLIMIT_NPROC too: add them.
        let base = own_process_count();
        set(
            Resource::RLIMIT_NPROC,
            "RLIMIT_NPROC",
            base + spec.max_processes,
        )?;
    }
    Ok(())
}

/// seccomp: no new processes. `fork`, `vfork` and `clone` without `CLONE_THREAD` fail with
/// EPERM (threads still work: PyTorch needs them); `clone3`, whose flags seccomp cannot read,
/// fails with ENOSYS so the C library falls back to `clone`. Applied after Landlock, which set
/// `no_new_privs`.
fn forbid_new_processes() -> Result<(), SandboxError> {
    use nix::libc;
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule,
    };
    let e = |x: seccompiler::Error| SandboxError::Pids(format!("seccomp: {x}"));
    let arch = std::env::consts::ARCH.try_into().map_err(|_| {
        SandboxError::Pids(format!(
            "seccomp: unsupported architecture {}",
            std::env::consts::ARCH
        ))
    })?;
    let not_thread = SeccompRule::new(vec![
        SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
            0,
        )
        .map_err(|x| e(x.into()))?,
    ])
    .map_err(|x| e(x.into()))?;
    let procs: BpfProgram = SeccompFilter::new(
        [
            (libc::SYS_fork, vec![]),
            (libc::SYS_vfork, vec![]),
            (libc::SYS_clone, vec![not_thread]),
        ]
        .into_iter()
        .collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .and_then(TryInto::try_into)
    .map_err(|x| e(x.into()))?;
    let clone3: BpfProgram = SeccompFilter::new(
        [(libc::SYS_clone3, vec![])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .and_then(TryInto::try_into)
    .map_err(|x| e(x.into()))?;
    seccompiler::apply_filter(&procs).map_err(e)?;
    seccompiler::apply_filter(&clone3).map_err(e)
}

/// Tasks (threads included) owned by the current real uid, from /proc.
fn own_process_count() -> u64 {
    let uid = nix::unistd::getuid().as_raw();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("status")).ok())
        .filter(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u32>().ok())
                == Some(uid)
        })
        .map(|s| {
            s.lines()
                .find(|l| l.starts_with("Threads:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1)
        })
        .sum()
}

/// Applies every layer to the current process, then replaces it with `program args…`.
/// Call only from a single-threaded process (the launcher).
pub fn exec_sandboxed(
    spec: &SandboxSpec,
    program: &Path,
    args: &[String],
) -> Result<Infallible, SandboxError> {
    let root = nix::unistd::geteuid().is_root();
    isolate_network()?;
    restrict_files(&spec.scratch)?;
    set_limits(spec, root)?;
    forbid_new_processes()?;
    exec(program, args, &spec.scratch)
}

/// Replaces the process with `program args…` in `cwd` with HOME/TMPDIR there, no sandbox.
pub fn exec(program: &Path, args: &[String], cwd: &Path) -> Result<Infallible, SandboxError> {
    let fail = |reason: String| SandboxError::Exec {
        program: program.display().to_string(),
        reason,
    };
    std::env::set_current_dir(cwd).map_err(|e| fail(format!("cd {}: {e}", cwd.display())))?;
    // SAFETY-free: single-threaded launcher, so mutating the environment is sound here.
    unsafe {
        std::env::set_var("HOME", cwd);
        std::env::set_var("TMPDIR", cwd);
    }
    let c = |s: &str| CString::new(s).map_err(|_| fail(format!("argument with a NUL byte: {s:?}")));
    let prog = c(&program.to_string_lossy())?;
    let mut argv = vec![prog.clone()];
    for a in args {
        argv.push(c(a)?);
    }
    match nix::unistd::execv(&prog, &argv) {
        Ok(never) => match never {},
        Err(e) => Err(fail(e.to_string())),
    }
}
