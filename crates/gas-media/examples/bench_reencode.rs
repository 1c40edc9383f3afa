//! Throughput of the cache step and the robustness chain, for `scripts/bench_reencode.sh`.
//!
//! `bench_reencode DIR MODE THREADS` with MODE one of:
//! `step` (cache_step: decode + Pillow-default re-encode → bytes),
//! `step_decode` (cache_step, then decode the stored bytes to RGB: the work of Pillow's
//! open + save + reopen + load), `network` (preprocess_image with the in-memory cache step →
//! 224×224 tensor), `cached_first` / `cached_second` (the same through an on-disk cache in a
//! fresh temp dir: first run fills it, second run reads it), `direct` (no cache step: today's
//! exact path), `chain` (decode + robustness chain + crop/resize, no cache step).
//! Prints `MODE <images/s> <peak RSS MiB>`; files are held in memory, each mode runs for at
//! least ~3 s on a rayon pool of THREADS (`cached_first` runs once over the files).

use std::time::Instant;

use gas_media::{
    ImageOptions, ReencodeCache, cache_step, decode_image, preprocess_image,
    preprocess_image_augmented,
};
use rayon::prelude::*;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: bench_reencode DIR step|step_decode|network|cached|direct|chain THREADS");
        std::process::exit(2);
    }
    let mut files: Vec<_> = std::fs::read_dir(&args[1])
        .expect("read DIR")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    let data: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let threads: usize = args[3].parse().expect("THREADS");
    let mode = args[2].as_str();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cache = ReencodeCache::open(tmp.path(), 1 << 40).unwrap();
    let direct = ImageOptions {
        reencode: false,
        ..Default::default()
    };
    let network = ImageOptions::default();
    let cached = ImageOptions {
        reencode_cache: Some(cache),
        ..Default::default()
    };
    let one = |b: &Vec<u8>| -> usize {
        match mode {
            "step" => cache_step(b).unwrap().bytes.len(),
            "step_decode" => {
                let s = cache_step(b).unwrap();
                decode_image(&s.bytes, &direct).unwrap().width() as usize
            }
            "network" => preprocess_image(b, &network).unwrap().len(),
            "cached" => preprocess_image(b, &cached).unwrap().len(),
            "direct" => preprocess_image(b, &direct).unwrap().len(),
            "chain" => preprocess_image_augmented(b, &direct).unwrap().len(),
            other => panic!("unknown mode {other}"),
        }
    };
    let run = || pool.install(|| data.par_iter().map(one).sum::<usize>());
    if mode == "cached" {
        // First run fills the cache (timed once), then the second-run rate.
        let start = Instant::now();
        std::hint::black_box(run());
        let first = data.len() as f64 / start.elapsed().as_secs_f64();
        println!("cached_first {first:.1} {:.0}", peak_rss_mib());
    } else {
        run(); // warm-up
    }
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed().as_secs_f64() < 3.0 {
        std::hint::black_box(run());
        n += data.len();
    }
    let name = if mode == "cached" {
        "cached_second"
    } else {
        mode
    };
    println!(
        "{name} {:.1} {:.0}",
        n as f64 / start.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
}
