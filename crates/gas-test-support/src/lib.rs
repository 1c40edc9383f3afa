//! Shared test fixtures of the gascli workspace: the small sample model package (config,
//! `model.py`, a safetensors file) that the package, CLI and registry tests build, as files in a
//! directory or as an in-memory ZIP; and the one rule for finding the test venv
//! ([`venv_python`]) and for tests that need a tool the machine may lack ([`required`]); with the
//! `hub` feature, a fake Hugging Face hub on 127.0.0.1 (`hub_server`).
//!
//! Owns: test fixtures only. Must not be a normal dependency of any crate (dev-dependency
//! only) and must not depend on the workspace's crates, so every crate's tests can use it.

#[cfg(feature = "hub")]
pub mod hub_server;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (absolute).
pub fn workspace_root() -> PathBuf {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    std::path::absolute(&root).unwrap_or(root)
}

/// The test venv: `$GASCLI_VENV`, else `.venv` at the workspace root (`scripts/setup.sh`).
pub fn venv_dir() -> PathBuf {
    std::env::var_os("GASCLI_VENV").map_or_else(|| workspace_root().join(".venv"), PathBuf::from)
}

/// Whether a test's requirement `what` is met. When it is not: in CI (`CI` set) the test fails
/// (CI installs everything with `scripts/setup.sh --test`); elsewhere it prints why it is
/// skipped and the caller returns early.
pub fn required(ok: bool, what: &str) -> bool {
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {what} is missing: run scripts/setup.sh --test"
        );
        eprintln!("skipped: needs {what} (scripts/setup.sh --test)");
    }
    ok
}

/// The test venv's python when it exists and imports every module of `modules` (none: it only
/// has to exist); otherwise `None` under the rule of [`required`].
pub fn venv_python(modules: &[&str]) -> Option<PathBuf> {
    let venv = venv_dir();
    let py = venv.join("bin/python");
    let ok = py.exists()
        && (modules.is_empty()
            || Command::new(&py)
                .args(["-c", &format!("import {}", modules.join(", "))])
                .output()
                .is_ok_and(|o| o.status.success()));
    let what = if modules.is_empty() {
        format!("the venv at {}", venv.display())
    } else {
        format!("the venv at {} with {}", venv.display(), modules.join(", "))
    };
    required(ok, &what).then_some(py)
}

/// Whether `program -version` runs (FFmpeg's tools), under the rule of [`required`].
pub fn have_program(program: &str) -> bool {
    let ok = Command::new(program)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    required(ok, program)
}

/// An image model config: 8×8 input, two classes.
pub const IMAGE_CONFIG: &str = "name: t\nversion: \"1\"\nmodality: image\npreprocessing:\n  resize: [8, 8]\nmodel:\n  num_classes: 2\n";

/// An audio model config: 16 kHz × 6 s, two classes.
pub const AUDIO_CONFIG: &str = "name: t\nversion: \"1\"\nmodality: audio\npreprocessing:\n  sample_rate: 16000\n  duration_seconds: 6.0\nmodel:\n  num_classes: 2\n";

/// A `model.py` that loads its weights with safetensors (a linear layer of 2 → classes).
pub const MODEL_PY: &str = "import torch\nfrom safetensors.torch import load_file\n\ndef load_model(weights_path, num_classes=2):\n    m = torch.nn.Linear(2, num_classes)\n    m.load_state_dict(load_file(weights_path))\n    return m.eval()\n";

/// A `model.py` that ignores its weights file.
pub const MODEL_PY_NO_WEIGHTS: &str = "import torch\n\ndef load_model(weights_path, num_classes=2):\n    return torch.nn.Linear(2, num_classes).eval()\n";

/// A safetensors file with one F32 tensor `w` of `n` elements (zero data).
pub fn safetensors(n: usize) -> Vec<u8> {
    let h = format!(
        r#"{{"w":{{"dtype":"F32","shape":[{n}],"data_offsets":[0,{}]}}}}"#,
        n * 4
    );
    let mut v = (h.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(h.as_bytes());
    v.resize(v.len() + n * 4, 0);
    v
}

/// The three files of a package: `model_config.yaml`, `model.py` and `model.safetensors`
/// holding `n` weights.
pub fn package_files(config: &str, model_py: &str, n: usize) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("model_config.yaml", config.as_bytes().to_vec()),
        ("model.py", model_py.as_bytes().to_vec()),
        ("model.safetensors", safetensors(n)),
    ]
}

/// Writes [`package_files`] into `dir` (created).
pub fn write_package(dir: &Path, config: &str, model_py: &str, n: usize) {
    std::fs::create_dir_all(dir).expect("create the package directory");
    for (name, data) in package_files(config, model_py, n) {
        std::fs::write(dir.join(name), data).expect("write a package file");
    }
}

/// A ZIP (deflate, in memory) of `entries`, in that order.
pub fn zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start a ZIP entry");
        z.write_all(data).expect("write a ZIP entry");
    }
    z.finish().expect("finish the ZIP").into_inner()
}

/// [`zip_bytes`] of [`package_files`].
pub fn package_zip(config: &str, model_py: &str, n: usize) -> Vec<u8> {
    let files = package_files(config, model_py, n);
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    zip_bytes(&refs)
}
