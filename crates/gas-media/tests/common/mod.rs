//! Shared helpers of gas-media's tests: finding the reference venv and FFmpeg.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The venv's python, or `None` (test skipped) — but in CI (`CI` set) a missing venv fails.
pub fn venv_python() -> Option<PathBuf> {
    gas_test_support::venv_python(&[])
}

pub fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg").arg("-version").output().is_ok()
        && Command::new("ffprobe").arg("-version").output().is_ok();
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but ffmpeg/ffprobe are missing");
        }
        eprintln!("skipped: no ffmpeg");
    }
    ok
}

pub fn reference_script(name: &str) -> PathBuf {
    workspace_root().join("python/reference").join(name)
}

pub fn run_py(py: &Path, args: &[&std::ffi::OsStr]) {
    let out = Command::new(py).args(args).output().expect("run python");
    assert!(
        out.status.success(),
        "python {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fixtures made by `python/reference/make_fixtures.py` in a fresh temp dir.
pub fn fixtures(py: &Path, extra: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = reference_script("make_fixtures.py");
    let mut args: Vec<&std::ffi::OsStr> = vec![script.as_os_str(), dir.path().as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    run_py(py, &args);
    dir
}

/// max and mean absolute difference.
pub fn diff_stats(a: &[u8], b: &[u8]) -> (u8, f64) {
    assert_eq!(a.len(), b.len());
    let mut max = 0u8;
    let mut sum = 0u64;
    for (x, y) in a.iter().zip(b) {
        let d = x.abs_diff(*y);
        max = max.max(d);
        sum += d as u64;
    }
    (max, sum as f64 / a.len().max(1) as f64)
}

/// A python with decord (the network's video decoder): `GASCLI_NET_VENV`'s, else the test
/// venv's. `None` (test skipped) when neither has it — but in CI a missing decord fails.
pub fn decord_python() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(v) = std::env::var_os("GASCLI_NET_VENV") {
        candidates.push(PathBuf::from(v).join("bin/python"));
    }
    let venv = std::env::var_os("GASCLI_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"));
    candidates.push(venv.join("bin/python"));
    for py in candidates {
        let ok = Command::new(&py)
            .args(["-c", "import decord, cv2, numpy"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Some(py);
        }
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but no venv has decord (GASCLI_NET_VENV or the test venv)");
    }
    eprintln!("skipped: no venv with decord (set GASCLI_NET_VENV)");
    None
}
