//! Video/audio per-clip cost of gas-media, for `scripts/bench_av.sh`.
//!
//! `bench_av DIR THREADS [T]` over every `.mp4` in DIR (paths; the page cache holds them after
//! the first pass), clips in parallel on a rayon pool of THREADS, modes interleaved in 3
//! rounds of ~1 s each. Modes, each printed as `MODE <ms per clip> <clips/s>` (ms per clip = wall ms ×
//! THREADS / clips, the cost of one clip on one thread):
//! * `inprocess`: `preprocess_video` (in-process FFmpeg libraries: decode T frames, RGB
//!   conversion, crop + resize into CHW);
//! * `open`: only opening the clip (container, stream info, decoder);
//! * `decode`: the same decoder opening the clip and decoding those T frames, nothing else;
//! * `decode_rgb`: `decode` plus the RGB conversion (what decord hands the network);
//! * `process`: the old path, an `ffmpeg` process per clip (`Backend::Cli`).

use std::path::PathBuf;
use std::time::Instant;

use gas_media::VideoOptions;
use gas_media::ffmpeg::{Backend, Input, VideoReader};
use gas_media::video::preprocess_video_with;
use rayon::prelude::*;

fn decode_only(p: &std::path::Path, t: usize, rgb: bool) -> usize {
    let mut r = VideoReader::open(Input::Path(p), Backend::Libs).unwrap();
    let mut n = 0;
    for _ in 0..t {
        if rgb {
            match r.next_frame().unwrap() {
                Some(f) => n += f.width,
                None => break,
            }
        } else if r.skip_frame().unwrap() {
            n += 1;
        } else {
            break;
        }
    }
    n
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench_av DIR THREADS [T] [MODES…]");
        std::process::exit(2);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args[1])
        .expect("read DIR")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    files.sort();
    let threads: usize = args[2].parse().expect("THREADS");
    let t: u32 = args.get(3).map_or(16, |s| s.parse().expect("T"));
    let modes: Vec<String> = if args.len() > 4 {
        args[4..].to_vec()
    } else {
        ["decode", "decode_rgb", "inprocess", "process"]
            .map(String::from)
            .to_vec()
    };
    let opts = VideoOptions {
        size: [224, 224],
        num_frames: t,
        frame_rate: None,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let run = |mode: &str| {
        pool.install(|| {
            files
                .par_iter()
                .map(|p| match mode {
                    "open" => VideoReader::open(Input::Path(p), Backend::Libs)
                        .map(|_| 1)
                        .unwrap(),
                    "decode" => decode_only(p, t as usize, false),
                    "decode_rgb" => decode_only(p, t as usize, true),
                    "inprocess" => preprocess_video_with(Input::Path(p), &opts, Backend::Libs)
                        .unwrap()
                        .len(),
                    "process" => preprocess_video_with(Input::Path(p), &opts, Backend::Cli)
                        .unwrap()
                        .len(),
                    other => panic!("unknown mode {other}"),
                })
                .sum::<usize>()
        })
    };
    // Interleaved rounds (each mode ~1 s per round) so a change in machine load hits every
    // mode alike.
    let mut secs = vec![0f64; modes.len()];
    let mut clips = vec![0usize; modes.len()];
    for m in &modes {
        run(m); // warm-up
    }
    for _round in 0..3 {
        for (i, m) in modes.iter().enumerate() {
            let start = Instant::now();
            while start.elapsed().as_secs_f64() < 1.0 {
                std::hint::black_box(run(m));
                clips[i] += files.len();
            }
            secs[i] += start.elapsed().as_secs_f64();
        }
    }
    for (i, m) in modes.iter().enumerate() {
        let ms = secs[i] * 1e3 * threads as f64 / clips[i] as f64;
        println!("{m} {ms:.2} {:.1}", clips[i] as f64 / secs[i]);
    }
}
