//! Package validation of an arbitrary file as a ZIP (central directory, names, sizes, the
//! safetensors/config/model.py entries inside) and, when it validates, extraction.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::io::Write;
use std::sync::OnceLock;

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::path::Path::new("/dev/shm");
        if base.is_dir() {
            tempfile::tempdir_in(base).expect("tempdir")
        } else {
            tempfile::tempdir().expect("tempdir")
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch().path();
    let zip = dir.join("input.zip");
    {
        let mut f = std::fs::File::create(&zip).expect("create");
        f.write_all(data).expect("write");
    }
    let opts = gas_package::ValidateOptions::default();
    if let Ok(report) = gas_package::validate(&zip, &opts)
        && report.valid
    {
        let out = tempfile::tempdir_in(dir).expect("tempdir");
        let _ = gas_package::materialize(&zip, out.path());
    }
});
