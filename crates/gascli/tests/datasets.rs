//! `gascli d datasets`: gasbench's `download` flags against a fake hub on 127.0.0.1.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// `download` fetches the files the mode's run draws (`archives_per_dataset` of them, seeded);
/// `--unlimited-samples` fetches every file; `verify-cache` (gasbench's name) checks the cache
/// without downloading; `--no-eviction` is accepted.
#[test]
fn download_takes_the_run_files_or_all_of_them() {
    let t = tempfile::tempdir().unwrap();
    let mut hub = gas_test_support::hub_server::Hub::default();
    for k in 0..3 {
        let png = gas_test_support::zip_bytes(&[("a.png", b"\x89PNG-not-decoded")]);
        hub.files.insert(format!("train/part-{k}.zip"), png);
    }
    let server = gas_test_support::hub_server::start(hub);
    let cat = t.path().join("cat.yaml");
    std::fs::write(
        &cat,
        "datasets:\n  - name: three-zips\n    path: org/three-zips\n    modality: image\n    media_type: real\n    source_format: zip\n    media_per_archive: 10\n    archives_per_dataset: 1\n",
    )
    .unwrap();
    let gascli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gascli"))
            .args(["d", "datasets"])
            .args(args)
            .arg("--dataset-config")
            .arg(&cat)
            .arg("--cache-dir")
            .arg(t.path().join("cache"))
            .env("HF_ENDPOINT", &server.endpoint)
            .env_remove("HF_TOKEN")
            .current_dir(root())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let zips = || {
        server
            .requests()
            .iter()
            .filter(|r| r.path.contains("/resolve/") && r.path.ends_with(".zip"))
            .map(|r| r.path.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    let (code, err) = gascli(&["verify-cache", "--modality", "image"]);
    assert_eq!(code, Some(1), "nothing cached yet: {err}");
    assert_eq!(zips(), 0);
    let (code, err) = gascli(&["download", "--modality", "image", "--no-eviction"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(zips(), 1, "archives_per_dataset: 1");
    let (code, err) = gascli(&["verify-cache", "--modality", "image"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = gascli(&["download", "--modality", "image", "--unlimited-samples"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(zips(), 3, "every file");
}
