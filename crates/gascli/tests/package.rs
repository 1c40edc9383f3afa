//! `gascli d package DIR -o OUT.zip`: deterministic output, SHA-256 printed, invalid → exit 1.

use sha2::Digest;
use std::path::Path;
use std::process::Command;

fn write_pkg(dir: &Path) {
    use gas_test_support::{AUDIO_CONFIG, MODEL_PY_NO_WEIGHTS};
    gas_test_support::write_package(dir, AUDIO_CONFIG, MODEL_PY_NO_WEIGHTS, 16);
}

fn gascli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn package_twice_gives_identical_bytes_and_prints_sha() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("m");
    write_pkg(&dir);
    let a = t.path().join("a.zip");
    let b = t.path().join("b.zip");
    let (code, out, err) = gascli(&[
        "d",
        "package",
        dir.to_str().unwrap(),
        "-o",
        a.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, _) = gascli(&[
        "d",
        "package",
        dir.to_str().unwrap(),
        "-o",
        b.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(&b).unwrap());
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    assert!(out.contains(&sha), "{out}");
    // no temp files left beside the output
    let left: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
    // the ZIP validates and reports the same sha
    let (code, out, _) = gascli(&["d", "validate", "--json", a.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["summary"]["sha256"], sha);
    assert_eq!(v["modality"], "audio");
}

#[test]
fn invalid_dir_is_not_packaged() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("m");
    write_pkg(&dir);
    std::fs::write(dir.join("model.py"), "import subprocess as sp\n").unwrap();
    let out_zip = t.path().join("o.zip");
    let (code, out, _) = gascli(&[
        "d",
        "package",
        dir.to_str().unwrap(),
        "-o",
        out_zip.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("import-blocked"), "{out}");
    assert!(!out_zip.exists());
}
