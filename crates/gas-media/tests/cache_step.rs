//! The network's cache step (bench.md "The cache step"): JPEG and WebP samples re-encoded as
//! Pillow's default `save()` — compared with our Python reference (Pillow at the venv's
//! version) byte for byte, then as decoded pixels and as model tensors; plus the on-disk
//! cache of re-encoded samples.
mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::*;
use gas_media::npy::{self, NpyData};
use gas_media::{
    ImageOptions, ReencodeCache, StoredFormat, cache_step, decode_image, preprocess_image,
};

/// Every still input of the fixtures (all formats, modes, samplings).
const INPUTS: &[&str] = &[
    "q90_420.jpg",
    "q90_444.jpg",
    "q75_422.jpg",
    "s411.jpg",
    "s440.jpg",
    "progressive.jpg",
    "progressive444.jpg",
    "gray.jpg",
    "cmyk.jpg",
    "comment.jpg",
    "exif6.jpg",
    "noise_odd.jpg",
    "tiny.jpg",
    "multi.mpo",
    "lossy.webp",
    "lossless.webp",
    "alpha_lossy.webp",
    "alpha_lossless.webp",
    "anim.webp",
    "noise.webp",
    "rgb.png",
    "rgba.png",
    "gray.png",
    "gray_alpha.png",
    "palette.png",
    "palette_trns.png",
    "rgb16.png",
    "gray16.png",
    "anim.gif",
    "trans.gif",
    "rgb.bmp",
    "rgb.tiff",
];

fn u8_data(n: npy::Npy) -> Vec<u8> {
    match n.data {
        NpyData::U8(v) => v,
        other => panic!("expected u8, got {other:?}"),
    }
}

fn reference(py: &Path, args: &[&OsStr]) {
    let script = reference_script("gas_reference.py");
    let mut all: Vec<&OsStr> = vec![script.as_os_str()];
    all.extend_from_slice(args);
    run_py(py, &all);
}

/// The stored bytes equal Pillow's `image.save(path)` output byte for byte (JPEG and WebP
/// re-encoded; the other formats' pixels are checked by the next test).
#[test]
fn reencoded_bytes_equal_pillows() {
    let Some(py) = venv_python() else { return };
    let fx = fixtures(&py, &[]);
    let mut bad = Vec::new();
    for name in INPUTS {
        let file = fx.path().join(name);
        let bytes = std::fs::read(&file).unwrap();
        let got = cache_step(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want_fmt = if name.ends_with(".webp") {
            StoredFormat::Webp
        } else if name.ends_with(".jpg") || name.ends_with(".mpo") {
            StoredFormat::Jpeg
        } else {
            StoredFormat::Unchanged
        };
        assert_eq!(got.format, want_fmt, "{name}");
        if want_fmt == StoredFormat::Unchanged {
            assert_eq!(&*got.bytes, &bytes[..], "{name}: lossless bytes kept");
            continue;
        }
        let out = fx.path().join(format!("{name}.stored"));
        reference(
            &py,
            &[OsStr::new("cache-step"), file.as_os_str(), out.as_os_str()],
        );
        let want = std::fs::read(&out).unwrap();
        if *got.bytes != want[..] {
            bad.push(format!(
                "{name}: {} bytes vs Pillow's {}",
                got.bytes.len(),
                want.len()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "stored bytes differ from Pillow's: {bad:#?}"
    );
}

/// Decoding after the step gives Pillow's pixels for every input (lossless formats: the
/// original pixels, as Pillow's lossless re-save keeps them).
#[test]
fn decoded_after_cache_step_equals_pillow() {
    let Some(py) = venv_python() else { return };
    let fx = fixtures(&py, &[]);
    let mut bad = Vec::new();
    for name in INPUTS {
        let file = fx.path().join(name);
        let out = fx.path().join(format!("{name}.npy"));
        reference(
            &py,
            &[
                OsStr::new("decode"),
                OsStr::new("--cache-step"),
                file.as_os_str(),
                out.as_os_str(),
            ],
        );
        let want = npy::read(&out).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        let stepped = cache_step(&bytes).unwrap();
        let got = decode_image(&stepped.bytes, &ImageOptions::default()).unwrap();
        assert_eq!(
            want.shape,
            vec![got.height() as usize, got.width() as usize, 3],
            "{name}"
        );
        let (max, mean) = diff_stats(got.as_raw(), &u8_data(want));
        if max != 0 {
            bad.push(format!("{name}: max {max} mean {mean:.4}"));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// `preprocess_image` (cache step on by default) equals the reference's network path, and
/// differs from the direct path on JPEG (the step is not a no-op).
#[test]
fn preprocess_default_is_the_network_tensor() {
    let Some(py) = venv_python() else { return };
    let fx = fixtures(&py, &[]);
    for size in [[224u32, 224u32], [96, 160]] {
        let out = fx.path().join("ref.npy");
        let (hs, ws) = (size[0].to_string(), size[1].to_string());
        let files: Vec<_> = INPUTS.iter().map(|n| fx.path().join(n)).collect();
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("image"),
            OsStr::new("--cache-step"),
            OsStr::new("--size"),
            OsStr::new(&hs),
            OsStr::new(&ws),
            OsStr::new("-o"),
            out.as_os_str(),
        ];
        args.extend(files.iter().map(|f| f.as_os_str()));
        reference(&py, &args);
        let want = u8_data(npy::read(&out).unwrap());
        let opts = ImageOptions {
            size,
            ..Default::default()
        };
        let plane = 3 * size[0] as usize * size[1] as usize;
        for (i, f) in files.iter().enumerate() {
            let bytes = std::fs::read(f).unwrap();
            let got = preprocess_image(&bytes, &opts).unwrap();
            let w = &want[i * plane..(i + 1) * plane];
            assert!(
                got == w,
                "{} at {size:?}: {:?}",
                INPUTS[i],
                diff_stats(&got, w)
            );
        }
    }
    let bytes = std::fs::read(fx.path().join("q90_420.jpg")).unwrap();
    let direct = ImageOptions {
        reencode: false,
        ..Default::default()
    };
    assert_ne!(
        preprocess_image(&bytes, &direct).unwrap(),
        preprocess_image(&bytes, &ImageOptions::default()).unwrap(),
        "the cache step changes a q90 JPEG"
    );
}

fn sample_jpegs(n: usize) -> Vec<Vec<u8>> {
    use mozjpeg::{ColorSpace, Compress};
    (0..n)
        .map(|i| {
            let (w, h) = (120 + i * 7, 90 + i * 5);
            let px: Vec<u8> = (0..w * h * 3)
                .map(|k| ((k * (i + 3)) ^ (k / 7)) as u8)
                .collect();
            let mut c = Compress::new(ColorSpace::JCS_RGB);
            c.set_size(w, h);
            c.set_quality(92.0);
            let mut s = c.start_compress(Vec::new()).unwrap();
            s.write_scanlines(&px).unwrap();
            s.finish().unwrap()
        })
        .collect()
}

#[test]
fn disk_cache_stores_reuses_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ReencodeCache::open(dir.path(), 1 << 30).unwrap();
    let inputs = sample_jpegs(3);
    let fresh: Vec<Vec<u8>> = inputs
        .iter()
        .map(|b| cache_step(b).unwrap().bytes.into_owned())
        .collect();
    for (b, want) in inputs.iter().zip(&fresh) {
        let got = cache.cache_step(b).unwrap();
        assert_eq!(got.format, StoredFormat::Jpeg);
        assert_eq!(&*got.bytes, &want[..]);
    }
    let files: Vec<_> = walk(cache.dir());
    assert_eq!(files.len(), 3, "one entry per sample: {files:?}");
    assert!(cache.used_bytes() >= fresh.iter().map(|f| f.len() as u64).sum::<u64>());
    // A hit is served from the file: replace an entry with other valid JPEG bytes and the
    // cache returns them (proof it did not recompute).
    let victim = &files[0];
    let stored = std::fs::read(victim).unwrap();
    let other = fresh.iter().find(|f| **f != stored).unwrap().clone();
    std::fs::write(victim, &other).unwrap();
    let hits: Vec<Vec<u8>> = inputs
        .iter()
        .map(|b| cache.cache_step(b).unwrap().bytes.into_owned())
        .collect();
    assert!(hits.contains(&other) && hits.iter().filter(|h| **h == other).count() == 2);
    // A damaged entry (not a JPEG any more) is a miss: recomputed and rewritten.
    std::fs::write(victim, b"garbage").unwrap();
    let again: Vec<Vec<u8>> = inputs
        .iter()
        .map(|b| cache.cache_step(b).unwrap().bytes.into_owned())
        .collect();
    assert_eq!(again, fresh);
    assert_eq!(std::fs::read(victim).unwrap(), stored);
    // Through preprocess_image with the cache: same tensor as without.
    let with = ImageOptions {
        reencode_cache: Some(cache.clone()),
        ..Default::default()
    };
    for b in &inputs {
        assert_eq!(
            preprocess_image(b, &with).unwrap(),
            preprocess_image(b, &ImageOptions::default()).unwrap()
        );
    }
    // Lossless formats need no entry.
    let png = {
        let mut v = Vec::new();
        image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]))
            .write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png)
            .unwrap();
        v
    };
    assert_eq!(
        cache.cache_step(&png).unwrap().format,
        StoredFormat::Unchanged
    );
    assert_eq!(walk(cache.dir()).len(), 3);
}

#[test]
fn disk_cache_is_bounded_and_safe_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = sample_jpegs(8);
    let fresh: Vec<Vec<u8>> = inputs
        .iter()
        .map(|b| cache_step(b).unwrap().bytes.into_owned())
        .collect();
    let largest = fresh.iter().map(|f| f.len() as u64).max().unwrap();
    let bound = largest * 3;
    // Two handles (as two processes would have) hammer the same entries from 4 threads.
    let a = ReencodeCache::open(dir.path(), bound).unwrap();
    let b = ReencodeCache::open(dir.path(), bound).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let cache = if t % 2 == 0 { a.clone() } else { b.clone() };
            let (inputs, fresh) = (&inputs, &fresh);
            s.spawn(move || {
                for round in 0..3 {
                    for i in 0..inputs.len() {
                        let k = (i + t + round) % inputs.len();
                        let got = cache.cache_step(&inputs[k]).unwrap();
                        assert_eq!(&*got.bytes, &fresh[k][..], "thread {t} sample {k}");
                    }
                }
            });
        }
    });
    let total: u64 = walk(a.dir())
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(
        total <= bound + largest * 4,
        "cache holds {total} bytes, bound {bound}"
    );
    // After a quiet write the bound holds strictly.
    let c = ReencodeCache::open(dir.path(), bound).unwrap();
    for input in &inputs {
        c.cache_step(input).unwrap();
    }
    let total: u64 = walk(c.dir())
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(total <= bound, "cache holds {total} bytes, bound {bound}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir).unwrap().flatten() {
        if sub.path().is_dir() {
            for f in std::fs::read_dir(sub.path()).unwrap().flatten() {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}
