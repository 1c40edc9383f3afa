//! `fast_decode` (DCT-scaled JPEG) stays close to the exact path and keeps the tensor shape.
mod common;

use gas_media::{ImageOptions, preprocess_image};

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let fx = x as f32 / w as f32;
        let fy = y as f32 / h as f32;
        image::Rgb([
            (255.0 * fx) as u8,
            (128.0 + 100.0 * (fy * 9.0).sin()) as u8,
            (255.0 * (1.0 - fx * fy)) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

#[test]
fn fast_decode_is_close_to_exact() {
    let bytes = jpeg(1024, 768);
    for size in [[224u32, 224u32], [100, 300], [700, 900]] {
        let exact = preprocess_image(
            &bytes,
            &ImageOptions {
                size,
                ..Default::default()
            },
        )
        .unwrap();
        let fast = preprocess_image(
            &bytes,
            &ImageOptions {
                size,
                fast_decode: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(fast.len(), exact.len());
        let (max, mean) = common::diff_stats(&fast, &exact);
        eprintln!("fast vs exact at {size:?}: max {max} mean {mean:.3}");
        assert!(mean < 3.0, "{size:?}: mean diff {mean}");
    }
    // Not a JPEG → the exact path (same result as without the flag).
    let png = {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbImage::from_pixel(50, 40, image::Rgb([1, 2, 3]))
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    };
    let o = ImageOptions {
        size: [8, 8],
        fast_decode: true,
        ..Default::default()
    };
    assert_eq!(
        preprocess_image(&png, &o).unwrap(),
        vec![1u8; 64]
            .into_iter()
            .chain(vec![2u8; 64])
            .chain(vec![3u8; 64])
            .collect::<Vec<_>>()
    );
}
