//! `gascli d validate`: exit codes, human output, `--json` shape.

use std::path::Path;
use std::process::Command;

use gas_test_support::MODEL_PY_NO_WEIGHTS as MODEL;

fn write_pkg(dir: &Path, model_py: &str) {
    gas_test_support::write_package(dir, gas_test_support::IMAGE_CONFIG, model_py, 4);
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
fn valid_package_exits_0() {
    let t = tempfile::tempdir().unwrap();
    write_pkg(t.path(), MODEL);
    let (code, out, err) = gascli(&["d", "validate", t.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim_end().ends_with("valid"), "{out}");
    assert!(out.contains("parameters: 4"), "{out}");
}

#[test]
fn invalid_package_lists_every_problem_with_position() {
    let t = tempfile::tempdir().unwrap();
    write_pkg(
        t.path(),
        &format!("import os\nimport torch as t\nx = t.load('w')\n{MODEL}"),
    );
    let (code, out, _) = gascli(&["d", "validate", t.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("model.py:1:8: [import-blocked]"), "{out}");
    assert!(out.contains("model.py:3:5: [torch-load]"), "{out}");
    assert!(out.trim_end().ends_with("INVALID (2 errors)"), "{out}");
}

#[test]
fn json_output_is_one_object() {
    let t = tempfile::tempdir().unwrap();
    write_pkg(t.path(), "import yaml\n");
    let (code, out, _) = gascli(&[
        "d",
        "validate",
        "--json",
        "--modality",
        "video",
        t.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["valid"], false);
    assert_eq!(v["modality"], "image");
    let rules: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"modality-mismatch"), "{rules:?}");
    assert!(rules.contains(&"import-not-allowed"), "{rules:?}");
    assert!(rules.contains(&"load-model-missing"), "{rules:?}");
    let e = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["rule"] == "import-not-allowed")
        .unwrap();
    assert_eq!(
        (e["file"].as_str(), e["line"].as_u64(), e["column"].as_u64()),
        (Some("model.py"), Some(1), Some(8))
    );
    assert!(e["message"].is_string());
    for k in ["tensors", "parameters", "dtypes", "sha256", "size_bytes"] {
        assert!(v["summary"].get(k).is_some(), "summary.{k}");
    }
    assert!(v["warnings"].is_array());
}

#[test]
fn missing_path_and_bad_flag_exit_2() {
    let (code, _, err) = gascli(&["d", "validate", "/nonexistent/model-dir"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/model-dir"), "{err}");
    let t = tempfile::tempdir().unwrap();
    let (code, _, _) = gascli(&[
        "d",
        "validate",
        "--modality",
        "smell",
        t.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
}
