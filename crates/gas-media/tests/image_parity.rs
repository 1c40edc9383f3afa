//! Parity of the image path with the Python reference (Pillow + cv2) of bench.md.
mod common;

use std::ffi::OsStr;

use common::*;
use gas_media::npy::{self, NpyData};
use gas_media::{ImageOptions, RgbImage, crop_resize, decode_image, preprocess_image};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn random_image(rng: &mut StdRng, w: u32, h: u32) -> RgbImage {
    // Mix of smooth ramps and noise so both rounding paths and edges are exercised.
    let mode = rng.random_range(0..3);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            for c in 0..3u32 {
                let v = match mode {
                    0 => rng.random::<u8>(),
                    1 => ((x * 7 + y * 3 + c * 50) % 256) as u8,
                    _ => (((x + y) * 255 / (w + h)) as u8).wrapping_add(rng.random_range(0..9)),
                };
                data.push(v);
            }
        }
    }
    RgbImage::from_raw(w, h, data).unwrap()
}

fn u8_data(n: npy::Npy) -> Vec<u8> {
    match n.data {
        NpyData::U8(v) => v,
        other => panic!("expected u8, got {other:?}"),
    }
}

#[test]
fn crop_resize_matches_cv2_on_random_sizes() {
    let Some(py) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(34);
    let mut cases = Vec::new();
    // Fixed interesting cases, then random up- and down-scales with odd sizes.
    let mut sizes: Vec<(u32, u32, u32, u32)> = vec![
        (1024, 768, 224, 224),
        (448, 448, 224, 224),
        (640, 480, 240, 320),
        (1, 1, 3, 5),
        (7, 1, 4, 2),
        (224, 224, 224, 224),
        (300, 100, 17, 256),
    ];
    for _ in 0..150 {
        let up = rng.random_bool(0.3);
        let (w, h) = (rng.random_range(1..400), rng.random_range(1..400));
        let (tw, th) = if up {
            (rng.random_range(1..500), rng.random_range(1..500))
        } else {
            (
                rng.random_range(1..=w.max(2)),
                rng.random_range(1..=h.max(2)),
            )
        };
        sizes.push((w, h, th, tw));
    }
    let mut list = String::new();
    for (i, &(w, h, th, tw)) in sizes.iter().enumerate() {
        let img = random_image(&mut rng, w, h);
        let src = dir.path().join(format!("in{i}.npy"));
        let dst = dir.path().join(format!("out{i}.npy"));
        npy::write_u8(&src, &[h as usize, w as usize, 3], img.as_raw()).unwrap();
        list.push_str(&format!("{} {th} {tw} {}\n", src.display(), dst.display()));
        cases.push((img, th, tw, dst));
    }
    let list_path = dir.path().join("list.txt");
    std::fs::write(&list_path, list).unwrap();
    let script = reference_script("gas_reference.py");
    run_py(
        &py,
        &[
            script.as_os_str(),
            OsStr::new("resize-list"),
            list_path.as_os_str(),
        ],
    );
    let mut bad = Vec::new();
    for (img, th, tw, dst) in &cases {
        let want = npy::read(dst).unwrap();
        assert_eq!(want.shape, vec![*th as usize, *tw as usize, 3]);
        let got = crop_resize(img, *th, *tw);
        let want = u8_data(want);
        if got.as_raw() != &want {
            let (max, mean) = diff_stats(got.as_raw(), &want);
            bad.push(format!(
                "{}x{} -> {th}x{tw}: max {max} mean {mean:.4}",
                img.width(),
                img.height()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} cases differ: {bad:#?}",
        bad.len(),
        cases.len()
    );
}

/// Every format must decode exactly like Pillow's `convert("RGB")`: lossless formats, JPEG of
/// every sampling and colour space (libjpeg-turbo's decoder, CMYK through Pillow's own
/// conversion), WebP lossy / lossless / alpha / animated (libwebp, as Pillow).
#[test]
fn decode_matches_pillow() {
    let Some(py) = venv_python() else { return };
    let fx = fixtures(&py, &[]);
    let script = reference_script("gas_reference.py");
    let exact = [
        "rgb.png",
        "rgb.bmp",
        "rgb.tiff",
        "rgba.png",
        "gray.png",
        "gray_alpha.png",
        "palette.png",
        "palette_trns.png",
        "anim.gif",
        "trans.gif",
        "lossless.webp",
        "lossy.webp",
        "alpha_lossy.webp",
        "alpha_lossless.webp",
        "anim.webp",
        "noise.webp",
        "rgb16.png",
        "gray16.png",
        "q90_420.jpg",
        "q90_444.jpg",
        "q75_422.jpg",
        "s411.jpg",
        "s440.jpg",
        "progressive.jpg",
        "progressive444.jpg",
        "gray.jpg",
        "cmyk.jpg",
        "exif6.jpg",
        "multi.mpo",
        "noise_odd.jpg",
        "tiny.jpg",
    ];
    let mut failures = Vec::new();
    for name in exact.iter() {
        let file = fx.path().join(name);
        let out = fx.path().join(format!("{name}.npy"));
        run_py(
            &py,
            &[
                script.as_os_str(),
                OsStr::new("decode"),
                file.as_os_str(),
                out.as_os_str(),
            ],
        );
        let want = npy::read(&out).unwrap();
        let got = decode_image(&std::fs::read(&file).unwrap(), &ImageOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            want.shape,
            vec![got.height() as usize, got.width() as usize, 3],
            "{name}: shape"
        );
        let want = u8_data(want);
        let (max, mean) = diff_stats(got.as_raw(), &want);
        eprintln!("decode {name}: max abs diff {max}, mean {mean:.4}");
        if max != 0 {
            failures.push(format!("{name}: max {max} mean {mean:.4}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Whole path (decode + crop + resize + CHW) equals the reference.
#[test]
fn preprocess_image_matches_reference() {
    let Some(py) = venv_python() else { return };
    let fx = fixtures(&py, &[]);
    let script = reference_script("gas_reference.py");
    let names = [
        "rgb.png",
        "palette.png",
        "anim.gif",
        "rgba.png",
        "gray.png",
        "q90_420.jpg",
        "q90_444.jpg",
        "q75_422.jpg",
        "gray.jpg",
        "progressive.jpg",
    ];
    for size in [[224u32, 224u32], [96, 160], [300, 200]] {
        let out = fx.path().join("ref.npy");
        let mut args: Vec<&OsStr> = vec![script.as_os_str(), OsStr::new("image")];
        let (hs, ws) = (size[0].to_string(), size[1].to_string());
        args.extend([OsStr::new("--size"), OsStr::new(&hs), OsStr::new(&ws)]);
        args.extend([OsStr::new("-o"), out.as_os_str()]);
        let files: Vec<_> = names.iter().map(|n| fx.path().join(n)).collect();
        args.extend(files.iter().map(|f| f.as_os_str()));
        run_py(&py, &args);
        let want = npy::read(&out).unwrap();
        assert_eq!(
            want.shape,
            vec![names.len(), 3, size[0] as usize, size[1] as usize]
        );
        let want = u8_data(want);
        let opts = ImageOptions {
            size,
            reencode: false,
            ..Default::default()
        };
        let plane = 3 * size[0] as usize * size[1] as usize;
        for (i, f) in files.iter().enumerate() {
            let got = preprocess_image(&std::fs::read(f).unwrap(), &opts).unwrap();
            assert!(
                got == want[i * plane..(i + 1) * plane],
                "{} at {size:?}: {:?}",
                names[i],
                diff_stats(&got, &want[i * plane..(i + 1) * plane])
            );
        }
    }
}

#[test]
fn exif_orientation_only_on_request() {
    let Some(py) = venv_python() else { return };
    let fx = fixtures(&py, &[]);
    let bytes = std::fs::read(fx.path().join("exif6.jpg")).unwrap();
    let plain = decode_image(&bytes, &ImageOptions::default()).unwrap();
    assert_eq!((plain.width(), plain.height()), (263, 181));
    let rotated = decode_image(
        &bytes,
        &ImageOptions {
            apply_exif: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((rotated.width(), rotated.height()), (181, 263));
    // Orientation 6 = rotate 90° clockwise: the rotated top-left is the original bottom-left.
    assert_eq!(rotated.get_pixel(0, 0), plain.get_pixel(0, 180));
}
