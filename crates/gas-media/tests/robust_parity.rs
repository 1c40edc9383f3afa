//! The robustness pass's image chain (bench.md "Robustness pass") against our Python
//! reference (OpenCV + Pillow at the venv's versions): `INTER_AREA` on random sizes, then the
//! whole chain on inputs around and below the 256-px floor, gray, alpha, palette, tiny.
mod common;

use std::ffi::OsStr;

use common::*;
use gas_media::npy::{self, NpyData};
use gas_media::robust::{downscale_size, resize_area};
use gas_media::{ImageOptions, RgbImage, preprocess_image_augmented};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn u8_data(n: npy::Npy) -> Vec<u8> {
    match n.data {
        NpyData::U8(v) => v,
        other => panic!("expected u8, got {other:?}"),
    }
}

#[test]
fn downscale_rule_follows_the_network() {
    assert_eq!(downscale_size(800, 600), Some((400, 300)));
    assert_eq!(downscale_size(701, 513), Some((350, 256)));
    // A side that would not shrink below its size skips the step.
    assert_eq!(downscale_size(600, 256), None);
    assert_eq!(downscale_size(900, 200), None);
    assert_eq!(downscale_size(400, 257), Some((256, 256)));
    // Python's round: half to even.
    assert_eq!(downscale_size(1001, 1003), Some((500, 502)));
}

#[test]
fn inter_area_matches_cv2() {
    let Some(py) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(12);
    let mut sizes: Vec<(u32, u32, u32, u32)> = vec![
        (800, 600, 400, 300),
        (701, 513, 350, 256),
        (400, 257, 256, 256),
        (1000, 300, 500, 256),
        (3, 3, 2, 2),
        (2, 2, 1, 1),
    ];
    for _ in 0..60 {
        let (w, h) = (rng.random_range(2..700u32), rng.random_range(2..700u32));
        let (dw, dh) = (rng.random_range(1..w), rng.random_range(1..h));
        // Integer scales other than 2 never come from the chain.
        if (w % dw == 0 && w / dw != 2) || (h % dh == 0 && h / dh != 2) {
            continue;
        }
        sizes.push((w, h, dw, dh));
    }
    let mut list = String::new();
    let mut cases = Vec::new();
    for (i, &(w, h, dw, dh)) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..w * h * 3).map(|_| rng.random()).collect();
        let img = RgbImage::from_raw(w, h, data).unwrap();
        let src = dir.path().join(format!("a{i}.npy"));
        let dst = dir.path().join(format!("b{i}.npy"));
        npy::write_u8(&src, &[h as usize, w as usize, 3], img.as_raw()).unwrap();
        list.push_str(&format!("{} {dh} {dw} {}\n", src.display(), dst.display()));
        cases.push((img, dw, dh, dst));
    }
    let lp = dir.path().join("list.txt");
    std::fs::write(&lp, list).unwrap();
    let script = reference_script("gas_reference.py");
    run_py(
        &py,
        &[script.as_os_str(), OsStr::new("area-list"), lp.as_os_str()],
    );
    let mut bad = Vec::new();
    for (img, dw, dh, dst) in &cases {
        let want = u8_data(npy::read(dst).unwrap());
        let got = resize_area(img, *dw, *dh);
        if got.as_raw() != &want {
            let (max, mean) = diff_stats(got.as_raw(), &want);
            bad.push(format!(
                "{}x{} -> {dw}x{dh}: max {max} mean {mean:.4}",
                img.width(),
                img.height()
            ));
        }
    }
    assert!(bad.is_empty(), "{} of {}: {bad:#?}", bad.len(), cases.len());
}

const CHAIN: &[&str] = &[
    "chain_600x800.jpg",
    "chain_513x701.jpg",
    "chain_300x1000.jpg",
    "chain_257x400.jpg",
    "chain_256x600.jpg",
    "chain_200x900.jpg",
    "chain_520x262.jpg",
    "chain_1x1.jpg",
    "chain_17x3.jpg",
    "chain_gray.jpg",
    "chain_rgba.png",
    "chain_palette.png",
    "chain_lossy.webp",
];

fn chain_case(cache_step: bool, size: [u32; 2]) {
    let Some(py) = venv_python() else { return };
    let fx = fixtures(&py, &["--chain"]);
    let out = fx.path().join("aug.npy");
    let script = reference_script("gas_reference.py");
    let (hs, ws) = (size[0].to_string(), size[1].to_string());
    let files: Vec<_> = CHAIN.iter().map(|n| fx.path().join(n)).collect();
    let mut args: Vec<&OsStr> = vec![
        script.as_os_str(),
        OsStr::new("augment"),
        OsStr::new("--size"),
        OsStr::new(&hs),
        OsStr::new(&ws),
        OsStr::new("-o"),
        out.as_os_str(),
    ];
    if !cache_step {
        args.push(OsStr::new("--no-cache-step"));
    }
    args.extend(files.iter().map(|f| f.as_os_str()));
    run_py(&py, &args);
    let want = u8_data(npy::read(&out).unwrap());
    let opts = ImageOptions {
        size,
        reencode: cache_step,
        ..Default::default()
    };
    let plane = 3 * size[0] as usize * size[1] as usize;
    let mut bad = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let got = preprocess_image_augmented(&std::fs::read(f).unwrap(), &opts)
            .unwrap_or_else(|e| panic!("{}: {e}", CHAIN[i]));
        let w = &want[i * plane..(i + 1) * plane];
        if got != w {
            let (max, mean) = diff_stats(&got, w);
            bad.push(format!("{}: max {max} mean {mean:.4}", CHAIN[i]));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn chain_matches_reference_after_cache_step() {
    chain_case(true, [224, 224]);
}

#[test]
fn chain_matches_reference_direct_other_size() {
    chain_case(false, [192, 256]);
}
