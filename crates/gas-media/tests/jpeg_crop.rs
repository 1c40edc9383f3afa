//! The exact image path decodes only the crop's band of a JPEG (`jpeg_crop_scanline` +
//! `jpeg_skip_scanlines`); its tensor must equal the one from a full decode, byte for byte,
//! for every chroma subsampling, progressive files, odd sizes, and crops on either axis.

use gas_media::{ImageOptions, decode_image, image_to_chw, preprocess_image};
use mozjpeg::{ColorSpace, Compress};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn encode(
    rng: &mut StdRng,
    w: usize,
    h: usize,
    sampling: (u8, u8),
    progressive: bool,
    gray: bool,
) -> Vec<u8> {
    // Smooth gradients plus noise: chroma detail that makes upsampling edges visible.
    let (a, b): (f32, f32) = (rng.random_range(0.0..6.0), rng.random_range(0.0..6.0));
    let mut px = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let n: f32 = rng.random_range(-20.0..20.0);
            px.push((128.0 + 100.0 * ((x as f32) / 13.0 + a).sin() + n).clamp(0.0, 255.0) as u8);
            px.push((128.0 + 100.0 * ((y as f32) / 7.0 + b).cos() + n).clamp(0.0, 255.0) as u8);
            px.push(((x * 255 / w.max(1) + y * 3) % 256) as u8);
        }
    }
    let mut c = Compress::new(if gray {
        ColorSpace::JCS_GRAYSCALE
    } else {
        ColorSpace::JCS_RGB
    });
    c.set_size(w, h);
    c.set_quality(88.0);
    if !gray {
        c.set_chroma_sampling_pixel_sizes(sampling, sampling);
    }
    if progressive {
        c.set_progressive_mode();
    }
    let mut s = c.start_compress(Vec::new()).unwrap();
    if gray {
        let g: Vec<u8> = px.chunks_exact(3).map(|p| p[0]).collect();
        s.write_scanlines(&g).unwrap();
    } else {
        s.write_scanlines(&px).unwrap();
    }
    s.finish().unwrap()
}

#[test]
fn cropped_decode_equals_full_decode() {
    let mut rng = StdRng::seed_from_u64(34);
    let samplings = [(1u8, 1u8), (2, 1), (2, 2), (1, 2)];
    let targets = [[224u32, 224u32], [96, 160], [300, 200], [64, 64], [17, 250]];
    let mut cases = 0;
    for i in 0..48 {
        let w = rng.random_range(20..700usize);
        let h = rng.random_range(20..700usize);
        let sampling = samplings[i % samplings.len()];
        let progressive = i % 3 == 0;
        let gray = i % 11 == 5;
        let bytes = encode(&mut rng, w, h, sampling, progressive, gray);
        for size in targets {
            let opts = ImageOptions {
                size,
                reencode: false,
                ..Default::default()
            };
            let got = preprocess_image(&bytes, &opts).unwrap();
            let full = image_to_chw(&decode_image(&bytes, &opts).unwrap(), size).unwrap();
            let diff = got.iter().zip(&full).filter(|(a, b)| a != b).count();
            assert_eq!(
                diff, 0,
                "{w}x{h} sampling {sampling:?} progressive {progressive} gray {gray} target {size:?}: \
                 {diff} bytes differ"
            );
            cases += 1;
        }
    }
    assert_eq!(cases, 48 * targets.len());
}

#[test]
fn cropped_decode_reports_corrupt_files() {
    let mut rng = StdRng::seed_from_u64(7);
    let bytes = encode(&mut rng, 300, 200, (2, 2), false, false);
    let opts = ImageOptions::default();
    // Header only: the decoder must fail cleanly, not panic.
    assert!(preprocess_image(&bytes[..200], &opts).is_err());
    assert!(preprocess_image(&[0xFF, 0xD8, 0xFF], &opts).is_err());
}
