//! Bench: `validate` on a ZIP holding a large Stored safetensors file.
//!
//! Builds, in a temp dir, ZIPs with 64 MiB and 1 GiB weights (one F32 tensor), then validates
//! each in a fresh child process (this same binary, `--child PATH`) so that the peak RSS
//! (`VmHWM` from /proc/self/status) is the validator's alone. Prints wall time and peak RSS.
//! The temp dir (and the 1 GiB file) is deleted at the end.
//!
//! Run: `cargo bench -p gas-package --bench validate` (or scripts/bench_validate.sh).
//! Optional: `GAS_BENCH_SIZES_MIB=64,1024,4096`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const CONFIG: &str = "name: bench\nversion: \"1\"\nmodality: image\npreprocessing:\n  resize: [224, 224]\nmodel:\n  num_classes: 2\n";
const MODEL: &str = "import torch\nfrom safetensors.torch import load_file\n\ndef load_model(weights_path, num_classes=2):\n    m = torch.nn.Linear(1, num_classes)\n    m.load_state_dict(load_file(weights_path))\n    return m.eval()\n";

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn build_zip(path: &Path, data_bytes: u64) -> std::io::Result<()> {
    let elems = data_bytes / 4;
    let header = format!(
        r#"{{"weight":{{"dtype":"F32","shape":[{elems}],"data_offsets":[0,{}]}}}}"#,
        elems * 4
    );
    let f = std::fs::File::create(path)?;
    let mut z = ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, f));
    let small = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    z.start_file("model_config.yaml", small)?;
    z.write_all(CONFIG.as_bytes())?;
    z.start_file("model.py", small)?;
    z.write_all(MODEL.as_bytes())?;
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(data_bytes + 4096 >= u32::MAX as u64);
    z.start_file("model.safetensors", stored)?;
    z.write_all(&(header.len() as u64).to_le_bytes())?;
    z.write_all(header.as_bytes())?;
    // pseudo-random floats (not zeros) so the file looks like real weights
    let mut buf = vec![0u8; 1 << 20];
    let mut x: u32 = 0x9e37_79b9;
    let mut left = elems * 4;
    while left > 0 {
        for c in buf.chunks_exact_mut(4) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            c.copy_from_slice(&((x as f32 / u32::MAX as f32) - 0.5).to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        z.write_all(&buf[..n])?;
        left -= n as u64;
    }
    z.finish()?.flush()?;
    Ok(())
}

fn child(path: &Path) {
    let t = Instant::now();
    let r =
        gas_package::validate(path, &gas_package::ValidateOptions::default()).expect("validate");
    let wall = t.elapsed();
    assert!(r.valid, "bench package should be valid: {:?}", r.errors);
    let rss = peak_rss_kib().unwrap_or(0);
    let t = Instant::now();
    gas_package::sha256_file(path).expect("hash");
    let hash = t.elapsed();
    println!("{} {} {}", wall.as_secs_f64(), rss, hash.as_secs_f64());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[i + 1]));
        return;
    }
    let sizes: Vec<u64> = std::env::var("GAS_BENCH_SIZES_MIB")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![64, 1024]);
    let tmp = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("current exe");
    println!("gas-package validate bench (ZIP, Stored safetensors; child process per run)");
    println!(
        "{:>10} {:>12} {:>10} {:>14}",
        "weights", "zip bytes", "wall s", "peak RSS MiB"
    );
    for mib in sizes {
        let zip = tmp.path().join(format!("pkg-{mib}.zip"));
        build_zip(&zip, mib << 20).expect("build bench zip");
        let zip_len = std::fs::metadata(&zip).map(|m| m.len()).unwrap_or(0);
        // one warm-up (page cache), then best of 3
        let mut best: Option<(f64, u64)> = None;
        for run in 0..4 {
            let out = std::process::Command::new(&exe)
                .arg("--child")
                .arg(&zip)
                .output()
                .expect("run child");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let s = String::from_utf8_lossy(&out.stdout);
            let mut it = s.split_whitespace();
            let wall: f64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(f64::NAN);
            let rss: u64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            if run > 0 && best.is_none_or(|(w, _)| wall < w) {
                best = Some((wall, rss));
            }
        }
        let (wall, rss) = best.unwrap_or((f64::NAN, 0));
        println!(
            "{:>7} MiB {:>12} {:>10.3} {:>14.1}",
            mib,
            zip_len,
            wall,
            rss as f64 / 1024.0
        );
        let _ = std::fs::remove_file(&zip);
    }
}
