//! Image throughput of gas-media, for `scripts/bench_media.sh`.
//!
//! `bench_media DIR MODE THREADS [H W]` with MODE one of:
//! `exact` (preprocess_image: decode + crop + INTER_LINEAR-exact resize + CHW),
//! `decode` (decode_image only: the bare rate of the decoder the exact path uses),
//! `fast` (preprocess_image with fast_decode). Prints `MODE <images/s>` after running over
//! all files (held in memory) on a rayon pool of THREADS, repeated for at least ~3 s.

use std::time::Instant;

use gas_media::{ImageOptions, decode_image, preprocess_image};
use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: bench_media DIR exact|decode|fast THREADS [H W]");
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
    let size = if args.len() >= 6 {
        [args[4].parse().unwrap(), args[5].parse().unwrap()]
    } else {
        [224, 224]
    };
    let mode = args[2].as_str();
    let opts = ImageOptions {
        size,
        apply_exif: false,
        fast_decode: mode == "fast",
        reencode: false,
        reencode_cache: None,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let run = || {
        pool.install(|| {
            data.par_iter()
                .map(|b| match mode {
                    "decode" => decode_image(b, &opts).map(|i| i.width() as usize).unwrap(),
                    "exact" | "fast" => preprocess_image(b, &opts).map(|v| v.len()).unwrap(),
                    other => panic!("unknown mode {other}"),
                })
                .sum::<usize>()
        })
    };
    run(); // warm-up
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed().as_secs_f64() < 3.0 {
        std::hint::black_box(run());
        n += data.len();
    }
    println!("{mode} {:.1}", n as f64 / start.elapsed().as_secs_f64());
}
