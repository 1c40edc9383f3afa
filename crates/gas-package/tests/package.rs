//! Package-level behaviour: validate on directories and ZIPs (safety rules), deterministic
//! packaging, materialize.

use gas_package::{
    PackageError, ValidateOptions, ValidatedPackage, materialize, package_dir, sha256_file,
    validate, validate_package,
};
use std::io::Write;
use std::path::Path;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use gas_test_support::{IMAGE_CONFIG as CONFIG, MODEL_PY as MODEL, safetensors};

fn write_dir(dir: &Path) {
    gas_test_support::write_package(dir, CONFIG, MODEL, 6);
}

fn zip_of(path: &Path, entries: &[(&str, &[u8])]) {
    std::fs::write(path, gas_test_support::zip_bytes(entries)).unwrap();
}

fn good_entries() -> Vec<(&'static str, Vec<u8>)> {
    gas_test_support::package_files(CONFIG, MODEL, 6)
}

/// Validate once, then extract from the handle (what a benchmark does).
fn validate_and_materialize(
    path: &Path,
    scratch: &Path,
) -> Result<std::path::PathBuf, PackageError> {
    let pkg: ValidatedPackage = validate_package(path, &ValidateOptions::default())?;
    materialize(&pkg, scratch)
}

fn rules(path: &Path) -> Vec<String> {
    let r = validate(path, &ValidateOptions::default()).unwrap();
    r.errors.iter().map(|f| f.rule.clone()).collect()
}

#[test]
fn valid_dir_and_its_zip() {
    let t = tempfile::tempdir().unwrap();
    write_dir(t.path());
    std::fs::write(t.path().join(".DS_Store"), b"x").unwrap();
    let r = validate(t.path(), &ValidateOptions::default()).unwrap();
    assert!(r.valid, "{:?}", r.errors);
    assert_eq!(r.summary.tensors, 1);
    assert_eq!(r.summary.parameters, 6);
    assert_eq!(r.summary.dtypes, vec!["F32"]);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.rule == "extra-file" && w.file == ".DS_Store")
    );
    let out = t.path().join("out.zip");
    let p = package_dir(t.path(), &out).unwrap();
    // the dir's reported sha is the sha of the ZIP it packages to
    assert_eq!(r.summary.sha256.as_deref(), Some(p.sha256.as_str()));
    assert_eq!(sha256_file(&out).unwrap(), p.sha256);
    assert_eq!(std::fs::metadata(&out).unwrap().len(), p.size_bytes);
    let rz = validate(&out, &ValidateOptions::default()).unwrap();
    assert!(rz.valid, "{:?}", rz.errors);
    assert_eq!(rz.summary.sha256, r.summary.sha256);
    // the extra file was not packaged
    let names: Vec<String> = zip::ZipArchive::new(std::fs::File::open(&out).unwrap())
        .unwrap()
        .file_names()
        .map(|n| n.unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        vec!["model.py", "model.safetensors", "model_config.yaml"]
    );
}

#[test]
fn package_is_byte_identical_across_runs_and_mtimes() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    let b = t.path().join("b");
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    write_dir(&a);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write_dir(&b); // same content, later mtimes, created in another order
    let pa = package_dir(&a, &t.path().join("a.zip")).unwrap();
    let pb = package_dir(&b, &t.path().join("b.zip")).unwrap();
    assert_eq!(pa.sha256, pb.sha256);
    assert_eq!(
        std::fs::read(t.path().join("a.zip")).unwrap(),
        std::fs::read(t.path().join("b.zip")).unwrap()
    );
    // a change in content changes the hash
    std::fs::write(b.join("model.py"), format!("{MODEL}\n# changed\n")).unwrap();
    let pc = package_dir(&b, &t.path().join("c.zip")).unwrap();
    assert_ne!(pa.sha256, pc.sha256);
}

#[test]
fn package_refuses_invalid_dir_and_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    write_dir(t.path());
    std::fs::write(t.path().join("model.py"), "import os\n").unwrap();
    let out = t.path().join("o.zip");
    match package_dir(t.path(), &out) {
        Err(PackageError::Invalid { report, .. }) => {
            assert!(report.errors.iter().any(|f| f.rule == "import-blocked"));
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(!out.exists());
}

#[test]
fn missing_files_onnx_pickle() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("model.onnx"), b"x").unwrap();
    std::fs::write(t.path().join("weights.pth"), b"x").unwrap();
    let r = rules(t.path());
    assert!(r.contains(&"onnx-refused".to_string()));
    assert!(r.contains(&"pickle-weights".to_string()));
    assert_eq!(
        r.iter().filter(|x| *x == "missing-file").count(),
        3,
        "{r:?}"
    );
}

#[test]
fn weights_file_from_config_and_bad_header() {
    let t = tempfile::tempdir().unwrap();
    write_dir(t.path());
    std::fs::write(
        t.path().join("model_config.yaml"),
        CONFIG.replace(
            "num_classes: 2",
            "num_classes: 2\n  weights_file: other.safetensors",
        ),
    )
    .unwrap();
    let r = validate(t.path(), &ValidateOptions::default()).unwrap();
    let m = r.errors.iter().find(|f| f.rule == "missing-file").unwrap();
    assert!(m.message.contains("model.safetensors"), "{}", m.message);
    let mut st = safetensors(6);
    st.truncate(st.len() - 3);
    std::fs::write(t.path().join("other.safetensors"), st).unwrap();
    let r = rules(t.path());
    assert!(r.contains(&"safetensors-header".to_string()), "{r:?}");
}

#[test]
fn modality_mismatch() {
    let t = tempfile::tempdir().unwrap();
    write_dir(t.path());
    let opts = ValidateOptions {
        expected_modality: Some(gas_package::Modality::Audio),
    };
    let r = validate(t.path(), &opts).unwrap();
    assert!(!r.valid);
    assert_eq!(r.errors[0].rule, "modality-mismatch");
}

#[test]
fn zip_nested_folder() {
    let t = tempfile::tempdir().unwrap();
    let z = t.path().join("x.zip");
    let e = good_entries();
    let named: Vec<(String, &[u8])> = e
        .iter()
        .map(|(n, d)| (format!("my-model/{n}"), d.as_slice()))
        .collect();
    let refs: Vec<(&str, &[u8])> = named.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    zip_of(&z, &refs);
    let r = validate(&z, &ValidateOptions::default()).unwrap();
    let f = r
        .errors
        .iter()
        .find(|f| f.rule == "zip-nested-folder")
        .expect("nested");
    assert!(f.message.contains("my-model/"));
    assert!(!r.valid);
}

#[test]
fn zip_traversal_entries() {
    let t = tempfile::tempdir().unwrap();
    for bad in ["../evil.py", "/abs.py", "a/../../b.py", "..\\win.py"] {
        let z = t.path().join("x.zip");
        let gd = good_entries();
        let mut e: Vec<(&str, &[u8])> = gd.iter().map(|(n, d)| (*n, d.as_slice())).collect();
        e.push((bad, b"x"));
        zip_of(&z, &e);
        let r = rules(&z);
        assert!(r.contains(&"zip-traversal".to_string()), "{bad}: {r:?}");
    }
}

#[test]
fn zip_symlink_entry() {
    let t = tempfile::tempdir().unwrap();
    let z = t.path().join("x.zip");
    let f = std::fs::File::create(&z).unwrap();
    let mut w = ZipWriter::new(f);
    for (n, d) in good_entries() {
        w.start_file(n, SimpleFileOptions::default()).unwrap();
        w.write_all(&d).unwrap();
    }
    w.add_symlink("config.json", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    w.finish().unwrap();
    assert!(rules(&z).contains(&"zip-symlink".to_string()));
    let scratch = tempfile::tempdir().unwrap();
    assert!(matches!(
        validate_and_materialize(&z, scratch.path()),
        Err(PackageError::Invalid { .. })
    ));
}

#[test]
fn zip_duplicate_and_encrypted_entries() {
    let t = tempfile::tempdir().unwrap();
    let z = t.path().join("x.zip");
    let mut e: Vec<(&str, Vec<u8>)> = good_entries();
    e.push(("model.pz", MODEL.as_bytes().to_vec()));
    let refs: Vec<(&str, &[u8])> = e.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    zip_of(&z, &refs);
    // rename model.pz → model.py in the raw bytes (local + central headers): a duplicate name
    let mut bytes = std::fs::read(&z).unwrap();
    let mut i = 0;
    while let Some(p) = bytes[i..].windows(8).position(|w| w == b"model.pz") {
        bytes[i + p + 7] = b'y';
        i += p + 8;
    }
    std::fs::write(&z, &bytes).unwrap();
    assert!(
        rules(&z).contains(&"zip-duplicate".to_string()),
        "{:?}",
        rules(&z)
    );

    // set the "encrypted" flag bit of every central directory entry
    zip_of(
        &z,
        &good_entries()
            .iter()
            .map(|(n, d)| (*n, d.as_slice()))
            .collect::<Vec<_>>(),
    );
    let mut bytes = std::fs::read(&z).unwrap();
    let mut i = 0;
    while let Some(p) = bytes[i..]
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
    {
        bytes[i + p + 8] |= 1;
        i += p + 4;
    }
    let mut i = 0;
    while let Some(p) = bytes[i..]
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x03, 0x04])
    {
        bytes[i + p + 6] |= 1;
        i += p + 4;
    }
    std::fs::write(&z, &bytes).unwrap();
    let r = rules(&z);
    assert!(
        r.iter().any(|x| x == "zip-encrypted" || x == "zip-corrupt"),
        "{r:?}"
    );
    assert!(!validate(&z, &ValidateOptions::default()).unwrap().valid);
}

#[test]
fn zip_bomb_one_gib_of_zeros() {
    let t = tempfile::tempdir().unwrap();
    let z = t.path().join("bomb.zip");
    let f = std::fs::File::create(&z).unwrap();
    let mut w = ZipWriter::new(std::io::BufWriter::new(f));
    for (n, d) in good_entries() {
        w.start_file(n, SimpleFileOptions::default()).unwrap();
        w.write_all(&d).unwrap();
    }
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(9))
        .large_file(false);
    w.start_file("zeros.safetensors", opts).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        w.write_all(&chunk).unwrap();
    }
    w.finish().unwrap();
    assert!(std::fs::metadata(&z).unwrap().len() < 10 << 20);
    let r = validate(&z, &ValidateOptions::default()).unwrap();
    let f = r
        .errors
        .iter()
        .find(|f| f.rule == "zip-bomb")
        .expect("bomb detected");
    assert_eq!(f.file, "zeros.safetensors");
}

#[test]
fn corrupt_zip_is_a_finding_missing_path_an_error() {
    let t = tempfile::tempdir().unwrap();
    let z = t.path().join("x.zip");
    std::fs::write(&z, b"PK\x03\x04 definitely not a zip").unwrap();
    let r = validate(&z, &ValidateOptions::default()).unwrap();
    assert_eq!(r.errors[0].rule, "zip-corrupt");
    assert!(matches!(
        validate(&t.path().join("nope"), &ValidateOptions::default()),
        Err(PackageError::Io { .. })
    ));
}

#[test]
fn materialize_zip_and_dir() {
    let t = tempfile::tempdir().unwrap();
    write_dir(t.path());
    std::fs::write(t.path().join("notes.txt"), b"x").unwrap();
    let out = t.path().join("p.zip");
    package_dir(t.path(), &out).unwrap();
    for src in [out.as_path(), t.path()] {
        let scratch = tempfile::tempdir().unwrap();
        let dir = validate_and_materialize(src, scratch.path()).unwrap();
        assert!(dir.starts_with(scratch.path()));
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec!["model.py", "model.safetensors", "model_config.yaml"]
        );
        assert_eq!(
            std::fs::read(dir.join("model.safetensors")).unwrap(),
            safetensors(6)
        );
    }
}

#[test]
fn zip_with_subfolder_files_warns_and_ignores_them() {
    let t = tempfile::tempdir().unwrap();
    let z = t.path().join("x.zip");
    let mut e: Vec<(&str, Vec<u8>)> = good_entries();
    e.push(("__pycache__/model.cpython-311.pyc", b"x".to_vec()));
    zip_of(
        &z,
        &e.iter()
            .map(|(n, d)| (*n, d.as_slice()))
            .collect::<Vec<_>>(),
    );
    let r = validate(&z, &ValidateOptions::default()).unwrap();
    assert!(r.valid, "{:?}", r.errors);
    assert!(r.warnings.iter().any(|w| w.rule == "extra-file"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    #[test]
    fn zip_reader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        let t = tempfile::tempdir().unwrap();
        let z = t.path().join("x.zip");
        std::fs::write(&z, &bytes).unwrap();
        let _ = validate(&z, &ValidateOptions::default());
    }

    #[test]
    fn zip_reader_never_panics_on_mutated_zip(flips in proptest::collection::vec((0usize..4096, proptest::prelude::any::<u8>()), 1..16)) {
        let t = tempfile::tempdir().unwrap();
        let z = t.path().join("x.zip");
        zip_of(&z, &good_entries().iter().map(|(n, d)| (*n, d.as_slice())).collect::<Vec<_>>());
        let mut bytes = std::fs::read(&z).unwrap();
        let len = bytes.len();
        for (pos, val) in flips {
            bytes[pos % len] = val;
        }
        std::fs::write(&z, &bytes).unwrap();
        let _ = validate(&z, &ValidateOptions::default());
        let scratch = tempfile::tempdir().unwrap();
        if let Ok(dir) = validate_and_materialize(&z, scratch.path()) {
            proptest::prop_assert!(dir.starts_with(scratch.path()));
        }
    }
}
