//! The worker's sandbox, set up by a launcher that then `exec`s Python.
//!
//! The runner never applies restrictions inside its own (multi-threaded) process: it re-executes
//! the `gascli` binary with the hidden `sandbox-exec` subcommand, which is single-threaded at
//! that point and calls [`exec_sandboxed`]. That launcher (the *outer* process, which stays on
//! the host and only waits) clones the *inner* process into new namespaces; the inner process
//! builds the sandbox and becomes the Python worker. Layers, each one enough on its own for
//! some attacks, together meant to hold when one fails:
//!
//! 1. **Namespaces**: new user, PID, mount, IPC, UTS and network namespaces (one `clone`). The
//!    worker is PID 1 of its PID namespace and sees no other process; its network namespace has
//!    only a down loopback; its hostname is `gascli-sandbox`.
//! 2. **Identity**: uid/gid [`SANDBOX_UID`] inside, mapped to an unprivileged host uid (the
//!    caller's own uid, or, when gascli runs as root, [`HOST_UID_BASE`] + the launcher's pid —
//!    one uid per sandbox, owning nothing on the host). No supplementary groups (when run as
//!    root), an empty capability set and bounding set, locked `SECBIT_NOROOT`, `no_new_privs`.
//! 3. **Files**: the root is a fresh tmpfs, read-only once built, holding only what the worker
//!    needs, read-only and at its host path: the system libraries (`/usr/lib*`, `/lib*` links,
//!    `/etc/ld.so.cache`), [`SandboxSpec::read_only`] (the venv, the base interpreter's
//!    `bin/pythonX.Y` and `lib/` the venv's python links to, the worker script's folder, the
//!    package). Plus `/dev/{null,zero,full,random,urandom}`, a read-only `/proc` of the new PID
//!    namespace, a synthetic `/etc/passwd`, and the scratch directory: a size-limited
//!    (`scratch_bytes`) `noexec` tmpfs at the path of [`SandboxSpec::scratch`], the worker's
//!    cwd, `HOME` and `TMPDIR`. No home, no checkout, no `/etc/shadow`, no sockets. The scratch
//!    tmpfs lives in the sandbox's mount namespace: it disappears with the worker, however it
//!    ends. Landlock on top: writes only beneath the scratch directory, no TCP, signals and
//!    abstract unix sockets scoped to the sandbox (what the running kernel's ABI supports).
//! 4. **System calls** (seccomp): no new processes (`fork`, `vfork`, `clone` without
//!    `CLONE_THREAD`; `clone3` answers ENOSYS so the C library falls back to `clone`), no
//!    `socket`/`socketpair`, no `io_uring` (it would bypass this filter), no `ioctl(TIOCSTI)` or
//!    `TIOCLINUX`, no `ptrace`/`process_vm_*`, no `kill` of a process group or of `-1`, no
//!    namespace, mount, keyring, BPF or perf calls. `execve` is allowed once, to start Python:
//!    the worker script closes it with a second filter before it imports anything of the model.
//! 5. **Resources**: `RLIMIT_AS` (memory; PyTorch needs ≥ 4 GiB), `RLIMIT_CPU`, `RLIMIT_FSIZE`,
//!    `RLIMIT_NOFILE`, `RLIMIT_NPROC` (threads), `RLIMIT_CORE = 0`, and the scratch size.
//! 6. **No terminal, no inherited files**: the runner starts the launcher in a new session
//!    (`setsid`: no controlling terminal, own process group) with pipes on fds 0–2 and an
//!    environment holding only what the worker needs; the launcher closes every other fd.
//! 7. **Lifetime**: the launcher dies with gascli (`PR_SET_PDEATHSIG`, set by the runner), the
//!    worker dies with the launcher (the same), and the runner kills the process group.
//!
//! If a layer cannot be applied, [`exec_sandboxed`] fails naming the kernel feature: the caller
//! refuses to run a model then, unless the user passed `--unsafe-no-sandbox`. [`probe`] reports
//! which features the running kernel has.

use std::convert::Infallible;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::libc;
use serde::{Deserialize, Serialize};

/// The worker's uid and gid inside its user namespace.
pub const SANDBOX_UID: u32 = 1000;
/// When gascli runs as root, the worker's host uid is this plus the launcher's pid.
pub const HOST_UID_BASE: u32 = 2_000_000_000;
/// Default size of the scratch tmpfs.
pub const DEFAULT_SCRATCH_BYTES: u64 = 512 << 20;

/// System paths every worker sees read-only (those that exist): the dynamic loader and
/// libraries Python and PyTorch link against. Symbolic links are recreated (`/lib -> usr/lib`).
pub const SYSTEM_READ_ONLY: &[&str] = &[
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libx32",
    "/usr/local/lib",
    "/etc/ld.so.cache",
];

/// Device nodes every worker may open.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

fn default_scratch_bytes() -> u64 {
    DEFAULT_SCRATCH_BYTES
}

/// Limits and view of one worker. Serialized onto the launcher's command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// An empty host directory (the launcher mounts the sandbox's root on it, in the sandbox's
    /// own mount namespace). Inside, the same path is the worker's scratch: a fresh tmpfs of
    /// `scratch_bytes`, its cwd, `HOME` and `TMPDIR`, the only place it may write.
    pub scratch: PathBuf,
    /// Address-space limit in bytes (RLIMIT_AS).
    pub memory_bytes: u64,
    /// CPU-time limit in seconds (RLIMIT_CPU): the kernel sends SIGKILL at the limit.
    pub cpu_seconds: u64,
    /// Threads the worker may have (RLIMIT_NPROC of its own uid). PyTorch needs threads.
    pub max_processes: u64,
    /// Largest file the worker may write (RLIMIT_FSIZE).
    pub max_file_bytes: u64,
    /// Open files (RLIMIT_NOFILE).
    pub max_open_files: u64,
    /// Size of the scratch tmpfs (what the worker can write in all).
    #[serde(default = "default_scratch_bytes")]
    pub scratch_bytes: u64,
    /// Absolute host paths the worker sees read-only at the same path (directories, files;
    /// symbolic links are recreated and their targets shown too). Must not lie under `scratch`.
    #[serde(default)]
    pub read_only: Vec<PathBuf>,
    /// Show the GPU: `/dev/nvidia*` read-write and `/sys` read-only.
    #[serde(default)]
    pub gpu: bool,
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
            scratch_bytes: DEFAULT_SCRATCH_BYTES,
            read_only: Vec::new(),
            gpu: false,
        }
    }
}

/// Why the sandbox could not be set up. Each names the kernel feature or the step.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "sandbox: cannot create {0} namespaces ({1}); the kernel or container forbids them (needs unprivileged user namespaces or root)"
    )]
    Namespace(String, String),
    #[error("sandbox: cannot map the worker's uid/gid ({0})")]
    IdMap(String),
    #[error("sandbox: cannot build the file system view: {0}")]
    Mount(String),
    #[error(
        "sandbox: Landlock file restrictions unavailable ({0}); needs Linux ≥ 5.13 with Landlock enabled (lsm=…,landlock)"
    )]
    Landlock(String),
    #[error("sandbox: cannot set resource limit {0}: {1}")]
    Rlimit(&'static str, String),
    #[error("sandbox: cannot drop privileges: {0}")]
    Privileges(String),
    #[error("sandbox: seccomp filter unavailable: {0}")]
    Seccomp(String),
    #[error("sandbox: bad spec: {0}")]
    Spec(String),
    #[error("sandbox: cannot start {program}: {reason}")]
    Exec { program: String, reason: String },
}

fn errno() -> String {
    std::io::Error::last_os_error().to_string()
}

fn cstr(p: impl AsRef<OsStr>) -> Result<CString, SandboxError> {
    CString::new(p.as_ref().as_bytes())
        .map_err(|_| SandboxError::Spec(format!("path with a NUL byte: {:?}", p.as_ref())))
}

// ---------------------------------------------------------------------------------------------
// Kernel features

/// What the running kernel offers, as [`probe`] found it.
#[derive(Debug, Clone, Serialize)]
pub struct Features {
    /// Each namespace kind and whether this process may create it (with a user namespace).
    pub namespaces: Vec<(String, bool)>,
    /// Landlock ABI version (0 = unavailable).
    pub landlock_abi: i64,
    /// seccomp filters.
    pub seccomp: bool,
    /// The new mount API (`open_tree`, `move_mount`, `mount_setattr`).
    pub mount_api: bool,
}

const NS_FLAGS: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("pid", libc::CLONE_NEWPID),
    ("mount", libc::CLONE_NEWNS),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("network", libc::CLONE_NEWNET),
];

/// `clone` with fork semantics (a copy of this process) and `flags`. Returns the child's pid
/// in the parent and 0 in the child.
fn clone_fork(flags: libc::c_int) -> std::io::Result<libc::pid_t> {
    // SAFETY: with a null stack, clone behaves like fork; the launcher is single-threaded.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r as libc::pid_t)
    }
}

/// Whether a child can be cloned into a new user namespace plus `extra`. Forks: call only from
/// a single-threaded process.
fn can_clone(extra: libc::c_int) -> bool {
    match clone_fork(libc::CLONE_NEWUSER | extra) {
        Ok(0) => unsafe { libc::_exit(0) },
        Ok(pid) => {
            let mut st = 0;
            unsafe { libc::waitpid(pid, &mut st, 0) };
            true
        }
        Err(_) => false,
    }
}

/// The running kernel's Landlock ABI version, 0 when unavailable.
pub fn landlock_abi() -> i64 {
    // landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    let r = unsafe { libc::syscall(444, std::ptr::null::<u8>(), 0usize, 1u32) };
    r.max(0)
}

/// Probes the kernel features the sandbox needs. Forks short-lived children: call it from a
/// single-threaded process (the launcher, or a test).
pub fn probe() -> Features {
    let namespaces = NS_FLAGS
        .iter()
        .map(|(n, f)| (n.to_string(), can_clone(*f)))
        .collect();
    let seccomp = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0;
    // mount_setattr with a bad fd answers EBADF when the call exists, ENOSYS when it does not.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            c"".as_ptr(),
            0,
            std::ptr::null::<u8>(),
            0usize,
        )
    };
    let mount_api =
        !(r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS));
    Features {
        namespaces,
        landlock_abi: landlock_abi(),
        seccomp,
        mount_api,
    }
}

// ---------------------------------------------------------------------------------------------
// The launcher: outer process

/// Applies every layer and replaces the (inner) process with `program args…`; the calling
/// (outer) process waits for it and exits as it did. Call only from a single-threaded process
/// (the launcher); returns only on failure, before any model code ran.
pub fn exec_sandboxed(
    spec: &SandboxSpec,
    program: &Path,
    args: &[String],
) -> Result<Infallible, SandboxError> {
    check_spec(spec)?;
    close_inherited_fds(&[]);
    let root = nix::unistd::geteuid().is_root();
    let own_uid = nix::unistd::geteuid().as_raw();
    let own_gid = nix::unistd::getegid().as_raw();
    if root {
        // no supplementary groups (the user namespace cannot drop them later)
        nix::unistd::setgroups(&[])
            .map_err(|e| SandboxError::Privileges(format!("setgroups: {e}")))?;
    }
    if landlock_abi() < 1 {
        return Err(SandboxError::Landlock(
            "landlock_create_ruleset failed".into(),
        ));
    }
    // An unprivileged caller's other tasks count against RLIMIT_NPROC on older kernels.
    let nproc_base = if root { 0 } else { own_process_count() };
    // `go`: the outer process tells the inner one its uid map is written. `alive`: the inner
    // one sees the outer one's death as end-of-file (in case it died before PDEATHSIG was set).
    let (go_r, go_w) = pipe()?;
    let (alive_r, alive_w) = pipe()?;
    let flags = NS_FLAGS.iter().fold(0, |a, (_, f)| a | f);
    let pid = match clone_fork(flags) {
        Ok(0) => {
            drop(go_w);
            drop(alive_w);
            let e = inner(spec, program, args, go_r, alive_r, nproc_base);
            eprintln!("{e}");
            unsafe { libc::_exit(125) }
        }
        Ok(pid) => pid,
        Err(e) => {
            let missing: Vec<&str> = NS_FLAGS
                .iter()
                .filter(|(_, f)| !can_clone(*f))
                .map(|(n, _)| *n)
                .collect();
            let what = if missing.is_empty() {
                "user, pid, mount, ipc, uts and network".to_string()
            } else {
                missing.join(", ")
            };
            return Err(SandboxError::Namespace(what, e.to_string()));
        }
    };
    drop(go_r);
    drop(alive_r);
    let host_uid = if root {
        HOST_UID_BASE + pid as u32
    } else {
        own_uid
    };
    let host_gid = if root {
        HOST_UID_BASE + pid as u32
    } else {
        own_gid
    };
    let maps = (|| -> std::io::Result<()> {
        std::fs::write(format!("/proc/{pid}/setgroups"), "deny")?;
        std::fs::write(
            format!("/proc/{pid}/uid_map"),
            format!("{SANDBOX_UID} {host_uid} 1"),
        )?;
        std::fs::write(
            format!("/proc/{pid}/gid_map"),
            format!("{SANDBOX_UID} {host_gid} 1"),
        )
    })();
    if let Err(e) = maps {
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        return Err(SandboxError::IdMap(e.to_string()));
    }
    let _ = nix::unistd::write(&go_w, b"g");
    drop(go_w);
    wait_and_mirror(pid, alive_w)
}

/// Waits for the inner process and ends this one the same way (exit code or signal).
fn wait_and_mirror(pid: libc::pid_t, _alive: OwnedFd) -> ! {
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            unsafe { libc::_exit(125) };
        }
    }
    if libc::WIFEXITED(status) {
        unsafe { libc::_exit(libc::WEXITSTATUS(status)) }
    }
    let sig = if libc::WIFSIGNALED(status) {
        libc::WTERMSIG(status)
    } else {
        libc::SIGKILL
    };
    unsafe {
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| SandboxError::Spec(format!("pipe: {e}")))
}

fn check_spec(spec: &SandboxSpec) -> Result<(), SandboxError> {
    let abs = |p: &Path| p.is_absolute() && !p.components().any(|c| c == Component::ParentDir);
    if !abs(&spec.scratch) || spec.scratch == Path::new("/") {
        return Err(SandboxError::Spec(format!(
            "scratch must be an absolute directory other than /: {}",
            spec.scratch.display()
        )));
    }
    for p in &spec.read_only {
        if !abs(p) {
            return Err(SandboxError::Spec(format!(
                "read-only path must be absolute: {}",
                p.display()
            )));
        }
        if p.starts_with(&spec.scratch) || spec.scratch.starts_with(p) {
            return Err(SandboxError::Spec(format!(
                "read-only path {} overlaps the scratch directory {}",
                p.display(),
                spec.scratch.display()
            )));
        }
    }
    Ok(())
}

/// Closes every fd from 3 up, except `keep`.
fn close_inherited_fds(keep: &[RawFd]) {
    let mut lo: u32 = 3;
    let mut keep: Vec<u32> = keep.iter().map(|&f| f as u32).collect();
    keep.sort_unstable();
    for k in keep.into_iter().filter(|&k| k >= 3) {
        if k > lo {
            close_range(lo, k - 1);
        }
        lo = k + 1;
    }
    close_range(lo, u32::MAX);
}

fn close_range(lo: u32, hi: u32) {
    let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) };
    if r < 0 {
        // kernels before 5.9: close what /proc lists
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            let fds: Vec<u32> = dir
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect();
            for fd in fds.into_iter().filter(|f| (lo..=hi).contains(f)) {
                unsafe { libc::close(fd as i32) };
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The launcher: inner process (PID 1 of the new namespaces)

fn inner(
    spec: &SandboxSpec,
    program: &Path,
    args: &[String],
    go: OwnedFd,
    alive: OwnedFd,
    nproc_base: u64,
) -> SandboxError {
    match build(spec, &go, &alive, nproc_base) {
        Ok(()) => {}
        Err(e) => return e,
    }
    drop(go);
    drop(alive);
    match exec(program, args, &spec.scratch) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn build(
    spec: &SandboxSpec,
    go: &OwnedFd,
    alive: &OwnedFd,
    nproc_base: u64,
) -> Result<(), SandboxError> {
    let priv_err = |w: &str| SandboxError::Privileges(format!("{w}: {}", errno()));
    // Die with the launcher; if it is already gone, `alive` reads end-of-file.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        return Err(priv_err("PR_SET_PDEATHSIG"));
    }
    let mut b = [0u8; 1];
    if nix::unistd::read(go, &mut b) != Ok(1) {
        return Err(SandboxError::IdMap(
            "the launcher did not map the uid".into(),
        ));
    }
    if launcher_gone(alive) {
        return Err(SandboxError::IdMap("the launcher died".into()));
    }

    // Open every source of the view while still the host uid that owns them (traversal of
    // 0700 folders such as a root-owned temporary directory), as detached mount trees.
    let sources = Sources::collect(spec)?;

    // Become SANDBOX_UID, keeping the namespace's capabilities for the set-up.
    unsafe {
        if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
            return Err(priv_err("PR_SET_KEEPCAPS"));
        }
        if libc::setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) != 0 {
            return Err(priv_err("setresgid"));
        }
        if libc::setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) != 0 {
            return Err(priv_err("setresuid"));
        }
    }
    set_caps(u64::MAX).map_err(|e| SandboxError::Privileges(format!("capset: {e}")))?;

    build_root(spec, &sources)?;
    drop(sources);

    if unsafe { libc::sethostname(c"gascli-sandbox".as_ptr(), 14) } != 0 {
        return Err(SandboxError::Namespace("uts".into(), errno()));
    }
    set_limits(spec, nproc_base)?;
    drop_privileges()?;
    restrict_files(spec)?;
    // The uid change cleared the parent-death signal: set it again, then make sure the
    // launcher did not die in between.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        return Err(priv_err("PR_SET_PDEATHSIG"));
    }
    if launcher_gone(alive) {
        return Err(SandboxError::IdMap("the launcher died".into()));
    }
    seccomp()?;
    Ok(())
}

/// Whether the outer launcher has ended (its end of the `alive` pipe closed).
fn launcher_gone(alive: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: alive.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    unsafe { libc::poll(&mut pfd, 1, 0) != 0 }
}

/// Detached mount trees, opened before the uid change.
struct Sources {
    /// (path, tree fd, is a device, is a folder)
    binds: Vec<(PathBuf, OwnedFd, bool, bool)>,
    /// (link path, its target), recreated as links.
    links: Vec<(PathBuf, PathBuf)>,
}

impl Sources {
    fn collect(spec: &SandboxSpec) -> Result<Sources, SandboxError> {
        let mut todo: Vec<(PathBuf, bool)> = SYSTEM_READ_ONLY
            .iter()
            .map(|p| (PathBuf::from(p), false))
            .chain(spec.read_only.iter().map(|p| (p.clone(), false)))
            .chain(DEVICES.iter().map(|p| (PathBuf::from(p), true)))
            .collect();
        if spec.gpu {
            todo.push(("/sys".into(), false));
            if let Ok(dir) = std::fs::read_dir("/dev") {
                for e in dir.flatten() {
                    if e.file_name().to_string_lossy().starts_with("nvidia") {
                        todo.push((e.path(), true));
                    }
                }
            }
        }
        // shallowest first, so that a folder is bound before anything beneath it is considered
        todo.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
        let mut s = Sources {
            binds: Vec::new(),
            links: Vec::new(),
        };
        let mut seen = 0usize;
        while let Some((p, dev)) = todo.pop() {
            seen += 1;
            if seen > 4096 {
                return Err(SandboxError::Spec(
                    "too many read-only paths or links".into(),
                ));
            }
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue; // absent: nothing to show
            };
            if meta.file_type().is_symlink() {
                // recreated (unless a bound folder already holds it), and its target shown
                let target = std::fs::read_link(&p)
                    .map_err(|e| SandboxError::Mount(format!("{}: {e}", p.display())))?;
                let resolved = normalize(&p.parent().unwrap_or(Path::new("/")).join(&target));
                if !s.covers(&p) {
                    s.links.push((p, target));
                }
                todo.push((resolved, dev));
                continue;
            }
            if s.covers(&p) {
                continue;
            }
            let fd = open_tree(&p).map_err(|e| {
                SandboxError::Mount(format!(
                    "open_tree {} (needs Linux ≥ 5.2): {e}",
                    p.display()
                ))
            })?;
            let is_dir = meta.is_dir();
            s.binds.push((p, fd, dev, is_dir));
        }
        // parents before children; drop what a bound folder already shows
        s.binds.sort_by_key(|(p, ..)| p.components().count());
        let mut kept: Vec<(PathBuf, OwnedFd, bool, bool)> = Vec::new();
        for b in s.binds.drain(..) {
            if !kept.iter().any(|(k, _, _, dir)| *dir && b.0.starts_with(k)) {
                kept.push(b);
            }
        }
        s.binds = kept;
        Ok(s)
    }

    /// Whether `p` lies under a directory already bound.
    fn covers(&self, p: &Path) -> bool {
        self.binds
            .iter()
            .any(|(b, _, _, dir)| *dir && p.starts_with(b))
    }
}

/// `a/b/../c` → `a/c`, lexically (for link targets; the kernel resolves the rest).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn open_tree(p: &Path) -> std::io::Result<OwnedFd> {
    let c = CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let flags = OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint;
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn mount_setattr(fd: RawFd, path: &CString, flags: libc::c_uint, set: u64) -> std::io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn move_mount(fd: RawFd, to: &Path) -> std::io::Result<()> {
    let c = CString::new(to.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd,
            c"".as_ptr(),
            libc::AT_FDCWD,
            c.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn mount(
    src: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> Result<(), SandboxError> {
    let t = cstr(target)?;
    let s = cstr(src)?;
    let f = cstr(fstype)?;
    let d = cstr(data)?;
    let r = unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            f.as_ptr(),
            flags,
            if data.is_empty() {
                std::ptr::null()
            } else {
                d.as_ptr().cast()
            },
        )
    };
    if r != 0 {
        return Err(SandboxError::Mount(format!(
            "mount {fstype} on {}: {}",
            target.display(),
            errno()
        )));
    }
    Ok(())
}

/// `root` + the absolute path `p`.
fn under(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

fn build_root(spec: &SandboxSpec, src: &Sources) -> Result<(), SandboxError> {
    let merr = |what: String| move |e: std::io::Error| SandboxError::Mount(format!("{what}: {e}"));
    let new_root = spec.scratch.as_path();
    // Nothing we mount propagates back to the host.
    mount(
        "none",
        Path::new("/"),
        "",
        libc::MS_REC | libc::MS_PRIVATE,
        "",
    )?;
    mount(
        "gascli-root",
        new_root,
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV,
        "size=8m,nr_inodes=8192,mode=0755",
    )?;
    for (p, fd, dev, is_dir) in &src.binds {
        let at = under(new_root, p);
        if *is_dir {
            std::fs::create_dir_all(&at).map_err(merr(format!("mkdir {}", at.display())))?;
        } else {
            if let Some(parent) = at.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(merr(format!("mkdir {}", parent.display())))?;
            }
            std::fs::write(&at, b"").map_err(merr(format!("create {}", at.display())))?;
        }
        let attrs = if *dev {
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC
        } else {
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
        };
        mount_setattr(
            fd.as_raw_fd(),
            &CString::default(),
            libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
            attrs,
        )
        .map_err(merr(format!(
            "mount_setattr {} (needs Linux ≥ 5.12)",
            p.display()
        )))?;
        move_mount(fd.as_raw_fd(), &at).map_err(merr(format!("move_mount {}", p.display())))?;
    }
    for (link, target) in &src.links {
        let at = under(new_root, link);
        if std::fs::symlink_metadata(&at).is_ok() {
            continue;
        }
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent).map_err(merr(format!("mkdir {}", parent.display())))?;
        }
        std::os::unix::fs::symlink(target, &at)
            .map_err(merr(format!("symlink {}", at.display())))?;
    }
    // /dev/fd & co, /proc of the new PID namespace, /etc/passwd, /tmp -> scratch
    let dev = new_root.join("dev");
    std::fs::create_dir_all(&dev).map_err(merr("mkdir /dev".into()))?;
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(name)).map_err(merr(format!("/dev/{name}")))?;
    }
    let proc_dir = new_root.join("proc");
    std::fs::create_dir_all(&proc_dir).map_err(merr("mkdir /proc".into()))?;
    mount(
        "proc",
        &proc_dir,
        "proc",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY,
        "",
    )?;
    let etc = new_root.join("etc");
    std::fs::create_dir_all(&etc).map_err(merr("mkdir /etc".into()))?;
    let home = spec.scratch.display();
    std::fs::write(
        etc.join("passwd"),
        format!("gascli:x:{SANDBOX_UID}:{SANDBOX_UID}:gascli sandbox:{home}:/nonexistent\n"),
    )
    .map_err(merr("/etc/passwd".into()))?;
    std::fs::write(etc.join("group"), format!("gascli:x:{SANDBOX_UID}:\n"))
        .map_err(merr("/etc/group".into()))?;
    std::fs::write(etc.join("hostname"), "gascli-sandbox\n")
        .map_err(merr("/etc/hostname".into()))?;
    let scratch_in = under(new_root, &spec.scratch);
    std::fs::create_dir_all(&scratch_in).map_err(merr("mkdir scratch".into()))?;
    if std::fs::symlink_metadata(new_root.join("tmp")).is_err() {
        std::os::unix::fs::symlink(&spec.scratch, new_root.join("tmp"))
            .map_err(merr("/tmp".into()))?;
    }
    mount(
        "gascli-scratch",
        &scratch_in,
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        &format!(
            "size={},nr_inodes=65536,mode=0700",
            spec.scratch_bytes.max(1 << 20)
        ),
    )?;

    // Switch roots; the host's tree is detached and gone from this namespace.
    std::env::set_current_dir(new_root).map_err(merr(format!("cd {}", new_root.display())))?;
    let dot = c".";
    if unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) } != 0 {
        return Err(SandboxError::Mount(format!("pivot_root: {}", errno())));
    }
    if unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(SandboxError::Mount(format!(
            "detach the host root: {}",
            errno()
        )));
    }
    std::env::set_current_dir("/").map_err(merr("cd /".into()))?;
    // The root tmpfs becomes read-only (not recursively: scratch stays writable).
    mount_setattr(libc::AT_FDCWD, &cstr("/")?, 0, MOUNT_ATTR_RDONLY)
        .map_err(merr("read-only root".into()))?;
    Ok(())
}

/// `nproc_base`: tasks the worker's host uid already has (0 for a uid of its own).
fn set_limits(spec: &SandboxSpec, nproc_base: u64) -> Result<(), SandboxError> {
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
    set(Resource::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK", 0)?;
    set(Resource::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE", 0)?;
    set(
        Resource::RLIMIT_NPROC,
        "RLIMIT_NPROC",
        nproc_base + spec.max_processes,
    )
}

/// Tasks (threads included) owned by the current uid, from /proc.
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

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets effective = permitted = `caps` (cut to the capabilities this kernel knows),
/// inheritable = 0.
fn set_caps(caps: u64) -> std::io::Result<()> {
    let mut h = CapHeader {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(40)
        .min(63);
    let caps = caps & (u64::MAX >> (63 - last));
    let half = |v: u32| CapData {
        effective: v,
        permitted: v,
        inheritable: 0,
    };
    let d = [half(caps as u32), half((caps >> 32) as u32)];
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut CapHeader, d.as_ptr()) };
    if r != 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Empty bounding and ambient sets, locked securebits (root gains nothing on exec), no
/// capabilities, `no_new_privs`.
fn drop_privileges() -> Result<(), SandboxError> {
    let e = |w: &str| SandboxError::Privileges(format!("{w}: {}", errno()));
    unsafe {
        for cap in 0..64 {
            if libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) < 0 {
                break; // past the last capability this kernel knows
            }
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                return Err(e("PR_CAPBSET_DROP"));
            }
        }
        if libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ) != 0
        {
            return Err(e("PR_CAP_AMBIENT_CLEAR_ALL"));
        }
        // NOROOT, NO_SETUID_FIXUP, KEEP_CAPS off, NO_CAP_AMBIENT_RAISE, each locked
        let bits = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80;
        if libc::prctl(libc::PR_SET_SECUREBITS, bits, 0, 0, 0) != 0 {
            return Err(e("PR_SET_SECUREBITS"));
        }
    }
    set_caps(0).map_err(|x| SandboxError::Privileges(format!("capset: {x}")))?;
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(e("PR_SET_NO_NEW_PRIVS"));
    }
    Ok(())
}

/// Landlock: read everywhere (the view is already minimal), write only beneath the scratch
/// directory and to the device nodes; no TCP; signals and abstract unix sockets scoped to the
/// sandbox. Uses what the kernel's ABI supports, at least ABI 1.
fn restrict_files(spec: &SandboxSpec) -> Result<(), SandboxError> {
    use landlock::{
        ABI, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
        Scope, path_beneath_rules,
    };
    let abi = ABI::V6;
    let err = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    let mut devices: Vec<PathBuf> = DEVICES.iter().map(PathBuf::from).collect();
    if spec.gpu
        && let Ok(dir) = std::fs::read_dir("/dev")
    {
        devices.extend(
            dir.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("nvidia"))
                .map(|e| e.path()),
        );
    }
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?
        .handle_access(AccessNet::from_all(abi))
        .map_err(err)?
        .scope(Scope::Signal | Scope::AbstractUnixSocket)
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi)))
        .map_err(err)?
        .add_rules(path_beneath_rules([&spec.scratch], AccessFs::from_all(abi)))
        .map_err(err)?
        .add_rules(path_beneath_rules(
            devices,
            AccessFs::from_read(abi) | AccessFs::WriteFile | AccessFs::IoctlDev,
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

/// The seccomp filter of the launcher (see the module docs, layer 4).
fn seccomp() -> Result<(), SandboxError> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition,
        SeccompFilter, SeccompRule,
    };
    let e = |x: seccompiler::Error| SandboxError::Seccomp(x.to_string());
    let arch = std::env::consts::ARCH.try_into().map_err(|_| {
        SandboxError::Seccomp(format!(
            "unsupported architecture {}",
            std::env::consts::ARCH
        ))
    })?;
    let cond = |arg: u8, len: Len, op: Op, v: u64| {
        SeccompCondition::new(arg, len, op, v).map_err(|x| e(x.into()))
    };
    let rule = |c: Vec<SeccompCondition>| SeccompRule::new(c).map_err(|x| e(x.into()));
    let always = || -> Vec<SeccompRule> { vec![] };
    let mut deny: Vec<(i64, Vec<SeccompRule>)> = vec![
        (libc::SYS_fork, always()),
        (libc::SYS_vfork, always()),
        (
            libc::SYS_clone,
            vec![rule(vec![cond(
                0,
                Len::Qword,
                Op::MaskedEq(libc::CLONE_THREAD as u64),
                0,
            )?])?],
        ),
        (libc::SYS_socket, always()),
        (libc::SYS_socketpair, always()),
        (libc::SYS_io_uring_setup, always()),
        (libc::SYS_io_uring_enter, always()),
        (libc::SYS_io_uring_register, always()),
        (
            libc::SYS_ioctl,
            vec![
                rule(vec![cond(1, Len::Dword, Op::Eq, libc::TIOCSTI)?])?,
                rule(vec![cond(1, Len::Dword, Op::Eq, libc::TIOCLINUX)?])?,
            ],
        ),
        (libc::SYS_ptrace, always()),
        (libc::SYS_process_vm_readv, always()),
        (libc::SYS_process_vm_writev, always()),
        (
            libc::SYS_kill,
            vec![
                rule(vec![cond(0, Len::Dword, Op::Eq, 0)?])?,
                rule(vec![cond(
                    0,
                    Len::Dword,
                    Op::MaskedEq(0x8000_0000),
                    0x8000_0000,
                )?])?,
            ],
        ),
        (libc::SYS_unshare, always()),
        (libc::SYS_setns, always()),
        (libc::SYS_mount, always()),
        (libc::SYS_umount2, always()),
        (libc::SYS_pivot_root, always()),
        (libc::SYS_chroot, always()),
        (libc::SYS_open_tree, always()),
        (libc::SYS_move_mount, always()),
        (libc::SYS_fsopen, always()),
        (libc::SYS_fsmount, always()),
        (libc::SYS_mount_setattr, always()),
        (libc::SYS_keyctl, always()),
        (libc::SYS_add_key, always()),
        (libc::SYS_request_key, always()),
        (libc::SYS_bpf, always()),
        (libc::SYS_perf_event_open, always()),
        (libc::SYS_userfaultfd, always()),
        (libc::SYS_personality, always()),
    ];
    #[cfg(target_arch = "x86_64")]
    deny.extend([(libc::SYS_iopl, always()), (libc::SYS_ioperm, always())]);
    let main: BpfProgram = SeccompFilter::new(
        deny.into_iter().collect(),
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
    seccompiler::apply_filter(&main).map_err(e)?;
    seccompiler::apply_filter(&clone3).map_err(e)
}

/// Replaces the process with `program args…` in `cwd` with HOME/TMPDIR there, no sandbox.
pub fn exec(program: &Path, args: &[String], cwd: &Path) -> Result<Infallible, SandboxError> {
    let fail = |reason: String| SandboxError::Exec {
        program: program.display().to_string(),
        reason,
    };
    std::env::set_current_dir(cwd).map_err(|e| fail(format!("cd {}: {e}", cwd.display())))?;
    // SAFETY: single-threaded launcher, so mutating the environment is sound here.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dot_dot_lexically() {
        assert_eq!(
            normalize(Path::new("/usr/lib64/../lib/x")),
            PathBuf::from("/usr/lib/x")
        );
        assert_eq!(normalize(Path::new("/a/./b")), PathBuf::from("/a/b"));
    }

    #[test]
    fn spec_paths_must_be_absolute_and_apart_from_scratch() {
        let mut s = SandboxSpec::new("/tmp/x/work".into());
        assert!(check_spec(&s).is_ok());
        s.read_only = vec!["/tmp/x/work/pkg".into()];
        assert!(check_spec(&s).is_err());
        s.read_only = vec!["relative".into()];
        assert!(check_spec(&s).is_err());
        s.read_only = vec!["/tmp".into()];
        assert!(check_spec(&s).is_err());
        s.read_only = vec!["/tmp/x/package".into()];
        assert!(check_spec(&s).is_ok());
        s.scratch = "/".into();
        assert!(check_spec(&s).is_err());
    }

    #[test]
    fn old_specs_deserialize_with_defaults() {
        let s: SandboxSpec = serde_json::from_str(
            r#"{"scratch":"/s","memory_bytes":1,"cpu_seconds":1,"max_processes":1,"max_file_bytes":1,"max_open_files":1}"#,
        )
        .unwrap();
        assert_eq!(s.scratch_bytes, DEFAULT_SCRATCH_BYTES);
        assert!(s.read_only.is_empty() && !s.gpu);
    }
}
