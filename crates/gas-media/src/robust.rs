//! The robustness pass's image chain (bench.md "Robustness pass"), bit-exact with the
//! network's OpenCV + Pillow code on a decoded RGB sample:
//!
//! 1. halve each side (`round(side · 0.5)`, Python's rounding) with a 256-px floor; only when
//!    both sides then shrink, resize down with `cv2.INTER_AREA` ([`resize_area`]) and back to
//!    the original size with `cv2.INTER_LINEAR`;
//! 2. a JPEG round trip at quality 55, 4:2:0 (Pillow's encoder, libjpeg-turbo defaults);
//! 3. a lossy WebP round trip at quality 75, method 4 (skipped, as the network's `except`
//!    does, for a side above WebP's 16383-px limit);
//! 4. a JPEG round trip at quality 80, 4:2:0;
//! 5. the normal crop + `INTER_LINEAR` resize.
//!
//! The last JPEG is decoded band-only straight into the CHW tensor (libjpeg's row-wise
//! decode gives the crop rows bit-identically, see [`crate::jpeg`]).
//!
//! The video chain ([`degrade_video`], the network's `apply_video_robustness_augmentations`)
//! works on a clip's selected frames: the same ×0.5 `INTER_AREA` downscale with the 256-px floor
//! and skip rule (not scaled back up), a trailing row / column dropped for even sides, an H.264
//! round trip through the `ffmpeg` command exactly as the network calls it (raw RGB in at 25
//! fps, libx264 CRF 23, yuv420p, `.mp4`), the result decoded frame by frame (the last repeated
//! when short), then the normal crop + resize. Bit-exact where the `ffmpeg` command and its
//! libx264 are the network's and run with the same thread count (x264's output depends on
//! both); without an `ffmpeg` command the network falls back to OpenCV's writer and then to
//! JPEG frames, which gascli does not reproduce: the sample fails with the reason.

use crate::jpeg::{self, JpegMode};
use crate::resize::{self, RgbView};
use crate::{ImageOptions, MediaError, RgbImage, jpeg_enc, webp};

/// The chain's smallest downscaled side (the network's `_MIN_DOWNSCALE_PX`).
pub const MIN_DOWNSCALE_PX: u32 = 256;
/// Chain settings (the network's defaults of `apply_robustness_augmentations`).
pub const JPEG_QUALITY_1: i32 = 55;
pub const WEBP_QUALITY: f32 = 75.0;
pub const WEBP_METHOD: i32 = 4;
pub const JPEG_QUALITY_2: i32 = 80;
/// Largest side libwebp encodes.
const WEBP_MAX_SIDE: usize = 16383;

/// Python's `int(round(x * 0.5))` (round half to even).
fn half(side: u32) -> u32 {
    (side as f64 * 0.5).round_ties_even() as u32
}

/// The downscaled size of step 1, or `None` when the network skips the step.
pub fn downscale_size(w: u32, h: u32) -> Option<(u32, u32)> {
    let sh = MIN_DOWNSCALE_PX.max(half(h));
    let sw = MIN_DOWNSCALE_PX.max(half(w));
    (sh < h && sw < w).then_some((sw, sh))
}

/// One source contribution of OpenCV's area table (`DecimateAlpha`).
#[derive(Clone, Copy, Debug)]
struct Decimate {
    di: usize,
    si: usize,
    alpha: f32,
}

/// OpenCV's `computeResizeAreaTab` (doubles, then `alpha` as `f32`).
fn area_tab(ssize: usize, dsize: usize, scale: f64) -> Vec<Decimate> {
    let mut tab = Vec::with_capacity(ssize * 2);
    for dx in 0..dsize {
        let fsx1 = dx as f64 * scale;
        let fsx2 = fsx1 + scale;
        let cell = scale.min(ssize as f64 - fsx1);
        let mut sx1 = fsx1.ceil() as i64;
        let mut sx2 = fsx2.floor() as i64;
        sx2 = sx2.min(ssize as i64 - 1);
        sx1 = sx1.min(sx2);
        if sx1 as f64 - fsx1 > 1e-3 {
            tab.push(Decimate {
                di: dx,
                si: (sx1 - 1) as usize,
                alpha: ((sx1 as f64 - fsx1) / cell) as f32,
            });
        }
        for sx in sx1..sx2 {
            tab.push(Decimate {
                di: dx,
                si: sx as usize,
                alpha: (1.0 / cell) as f32,
            });
        }
        if fsx2 - sx2 as f64 > 1e-3 {
            tab.push(Decimate {
                di: dx,
                si: sx2 as usize,
                alpha: ((fsx2 - sx2 as f64).min(1.0).min(cell) / cell) as f32,
            });
        }
    }
    tab
}

/// `saturate_cast<uchar>(float)`: round half to even, clamp.
fn sat_u8(v: f32) -> u8 {
    v.round_ties_even().clamp(0.0, 255.0) as u8
}

/// `cv2.resize(src, (dw, dh), interpolation=cv2.INTER_AREA)` for a downscale of an RGB
/// image, bit-exact with OpenCV 4: an exact 2× on both axes averages each 2×2 block with
/// `(a + b + c + d + 2) >> 2`; any other shrink runs OpenCV's `resizeArea_<uchar, float>`
/// (area weights from `computeResizeAreaTab`, `f32` sums in the same order, rounded half to
/// even). Panics on zero sizes or an enlargement (programmer error).
pub fn resize_area(src: &RgbImage, dw: u32, dh: u32) -> RgbImage {
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    let (dw, dh) = (dw as usize, dh as usize);
    assert!(
        dw > 0 && dh > 0 && dw <= sw && dh <= sh,
        "resize_area shrinks only"
    );
    let s = src.as_raw();
    let mut out = vec![0u8; dw * dh * 3];
    let inv_x = dw as f64 / sw as f64;
    let inv_y = dh as f64 / sh as f64;
    let (scale_x, scale_y) = (1.0 / inv_x, 1.0 / inv_y);
    let (ix, iy) = (scale_x.round_ties_even(), scale_y.round_ties_even());
    let fast = (scale_x - ix).abs() < f64::EPSILON && (scale_y - iy).abs() < f64::EPSILON;
    if fast && ix == 2.0 && iy == 2.0 {
        for y in 0..dh {
            let r0 = &s[2 * y * sw * 3..(2 * y + 1) * sw * 3];
            let r1 = &s[(2 * y + 1) * sw * 3..(2 * y + 2) * sw * 3];
            let d = &mut out[y * dw * 3..(y + 1) * dw * 3];
            for x in 0..dw {
                for c in 0..3 {
                    let i = 6 * x + c;
                    let v = r0[i] as u32 + r0[i + 3] as u32 + r1[i] as u32 + r1[i + 3] as u32;
                    d[3 * x + c] = ((v + 2) >> 2) as u8;
                }
            }
        }
        return RgbImage::from_raw(dw as u32, dh as u32, out).expect("sizes match");
    }
    // An integer scale other than 2 cannot come from the chain (both sides at most halve);
    // OpenCV would take its fast path there, which this general path does not reproduce.
    debug_assert!(!fast, "integer area scale {ix}x{iy}");
    let xtab = area_tab(sw, dw, scale_x);
    let ytab = area_tab(sh, dh, scale_y);
    let width = dw * 3;
    let mut buf = vec![0f32; width];
    let mut sum = vec![0f32; width];
    let mut prev_dy = ytab.first().map_or(0, |t| t.di);
    for t in &ytab {
        let beta = t.alpha;
        let row = &s[t.si * sw * 3..(t.si + 1) * sw * 3];
        buf.iter_mut().for_each(|b| *b = 0.0);
        for k in &xtab {
            let (si, di) = (k.si * 3, k.di * 3);
            let a = k.alpha;
            let t0 = buf[di] + row[si] as f32 * a;
            let t1 = buf[di + 1] + row[si + 1] as f32 * a;
            let t2 = buf[di + 2] + row[si + 2] as f32 * a;
            buf[di] = t0;
            buf[di + 1] = t1;
            buf[di + 2] = t2;
        }
        if t.di != prev_dy {
            let d = &mut out[prev_dy * width..(prev_dy + 1) * width];
            for ((o, s), b) in d.iter_mut().zip(sum.iter_mut()).zip(&buf) {
                *o = sat_u8(*s);
                *s = beta * b;
            }
            prev_dy = t.di;
        } else {
            for (s, b) in sum.iter_mut().zip(&buf) {
                *s += beta * b;
            }
        }
    }
    let d = &mut out[prev_dy * width..(prev_dy + 1) * width];
    for (o, s) in d.iter_mut().zip(&sum) {
        *o = sat_u8(*s);
    }
    RgbImage::from_raw(dw as u32, dh as u32, out).expect("sizes match")
}

/// `cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)` of a whole image.
fn resize_linear(src: &RgbImage, w: u32, h: u32) -> RgbImage {
    let view = RgbView {
        data: src.as_raw(),
        stride: src.width() as usize * 3,
        left: 0,
        top: 0,
        width: src.width() as usize,
        height: src.height() as usize,
    };
    let row_len = w as usize * 3;
    let mut out = vec![0u8; row_len * h as usize];
    resize::resize_linear_rows(view, w as usize, h as usize, |y, row| {
        out[y * row_len..(y + 1) * row_len].copy_from_slice(row);
    });
    RgbImage::from_raw(w, h, out).expect("sizes match")
}

fn jpeg_roundtrip(img: &RgbImage, quality: i32) -> Result<RgbImage, MediaError> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let bytes = jpeg_enc::encode(img.as_raw(), w, h, JpegMode::Rgb, Some(quality))?;
    jpeg::decode(&bytes)?.ok_or_else(|| jpeg::decode_err("re-encoded JPEG not RGB".into()))
}

fn webp_roundtrip(img: RgbImage) -> Result<RgbImage, MediaError> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w > WEBP_MAX_SIDE || h > WEBP_MAX_SIDE {
        // The network catches the encoder's error and keeps the image.
        return Ok(img);
    }
    let bytes = webp::encode(img.as_raw(), w, h, 3, WEBP_QUALITY, WEBP_METHOD)?;
    let dec = webp::decode(&bytes)?;
    let data = dec
        .rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    Ok(RgbImage::from_raw(dec.width as u32, dec.height as u32, data).expect("sizes match"))
}

/// Steps 1–3 of the chain and the step-4 JPEG bytes (decoded by the caller).
fn degrade_to_jpeg(img: RgbImage) -> Result<Vec<u8>, MediaError> {
    let (w, h) = (img.width(), img.height());
    let img = match downscale_size(w, h) {
        Some((sw, sh)) => resize_linear(&resize_area(&img, sw, sh), w, h),
        None => img,
    };
    let img = jpeg_roundtrip(&img, JPEG_QUALITY_1)?;
    let img = webp_roundtrip(img)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    jpeg_enc::encode(img.as_raw(), w, h, JpegMode::Rgb, Some(JPEG_QUALITY_2))
}

/// Steps 1–4 on a decoded RGB sample: the degraded image before the crop + resize (HWC).
pub fn degrade_image(img: RgbImage) -> Result<RgbImage, MediaError> {
    let bytes = degrade_to_jpeg(img)?;
    jpeg::decode(&bytes)?.ok_or_else(|| jpeg::decode_err("re-encoded JPEG not RGB".into()))
}

/// The whole chain on a decoded RGB sample: the `3·H·W` CHW tensor of size `[H, W]`.
pub fn degrade_to_chw(img: RgbImage, size: [u32; 2]) -> Result<Vec<u8>, MediaError> {
    let bytes = degrade_to_jpeg(img)?;
    let mut out = vec![0u8; 3 * size[0] as usize * size[1] as usize];
    if jpeg::decode_cropped_chw(&bytes, size, false, &mut out)? {
        return Ok(out);
    }
    Err(jpeg::decode_err("re-encoded JPEG not RGB".into()))
}

/// The degraded tensor the network's model receives in the robustness pass for one sample:
/// the cache step (unless `opts.reencode` is off), Pillow's decode, then the chain.
pub fn preprocess_image_augmented(
    bytes: &[u8],
    opts: &ImageOptions,
) -> Result<Vec<u8>, MediaError> {
    crate::check_size(opts.size)?;
    let stepped = opts.cache_step(bytes)?;
    let plain = ImageOptions {
        apply_exif: false,
        fast_decode: false,
        ..opts.clone()
    };
    let mut img = crate::decode_image(&stepped.bytes, &plain)?;
    if opts.apply_exif {
        img = crate::apply_exif_orientation(bytes, img);
    }
    degrade_to_chw(img, opts.size)
}

/// Versions of the two chains, part of every cached degraded tensor's key: bump when a chain's
/// output changes.
pub const IMAGE_CHAIN_VERSION: &str = "img-chain-1";
pub const VIDEO_CHAIN_VERSION: &str = "vid-chain-1";

/// The network's H.264 round trip settings (`apply_video_robustness_augmentations` defaults).
pub const VIDEO_CRF: u32 = 23;
pub const VIDEO_FPS: u32 = 25;

/// The video chain on a clip's frames (module doc): the degraded frames, as many as given, at
/// the downscaled (even) size.
pub fn degrade_video(
    frames: Vec<RgbImage>,
    backend: crate::ffmpeg::Backend,
) -> Result<Vec<RgbImage>, MediaError> {
    let Some(first) = frames.first() else {
        return Ok(frames);
    };
    let t = frames.len();
    let (w, h) = (first.width(), first.height());
    if frames.iter().any(|f| f.width() != w || f.height() != h) {
        return Err(MediaError::Options(
            "the clip's frames change size; the network's H.264 chain needs one size".into(),
        ));
    }
    let mut frames = match downscale_size(w, h) {
        Some((sw, sh)) => frames.iter().map(|f| resize_area(f, sw, sh)).collect(),
        None => frames,
    };
    let (w, h) = (frames[0].width(), frames[0].height());
    let (ew, eh) = (w - w % 2, h - h % 2);
    if (ew, eh) != (w, h) && ew >= 2 && eh >= 2 {
        frames = frames
            .iter()
            .map(|f| image::imageops::crop_imm(f, 0, 0, ew, eh).to_image())
            .collect();
    }
    let (w, h) = (frames[0].width(), frames[0].height());
    let dir = tempfile::tempdir().map_err(|source| MediaError::Io {
        what: "creating a temporary folder for the H.264 round trip".into(),
        source,
    })?;
    let mp4 = dir.path().join("roundtrip.mp4");
    h264_encode(&frames, w, h, &mp4)?;
    drop(frames);
    let mut reader = crate::ffmpeg::VideoReader::open(crate::ffmpeg::Input::Path(&mp4), backend)?;
    let mut out: Vec<RgbImage> = Vec::with_capacity(t);
    while out.len() < t {
        let Some(f) = reader.next_frame()? else {
            break;
        };
        out.push(f.to_image());
    }
    while out.len() < t {
        let Some(last) = out.last().cloned() else {
            return Err(MediaError::NoFrames {
                what: "the H.264 round trip's output".into(),
            });
        };
        out.push(last);
    }
    Ok(out)
}

/// `ffmpeg -y -loglevel error -f rawvideo -pix_fmt rgb24 -s WxH -r 25 -i - -c:v libx264 -crf 23
/// -pix_fmt yuv420p OUT.mp4`, the network's command, fed the frames on stdin.
fn h264_encode(
    frames: &[RgbImage],
    w: u32,
    h: u32,
    out: &std::path::Path,
) -> Result<(), MediaError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let spawn_err = |e: std::io::Error| MediaError::Ffmpeg {
        program: "ffmpeg".into(),
        what: "the robustness pass's H.264 round trip".into(),
        message: format!(
            "cannot run the ffmpeg command ({e}); the network's video chain encodes with it (install FFmpeg with libx264)"
        ),
    };
    let mut child = Command::new("ffmpeg")
        .args([
            "-y",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
        ])
        .arg(format!("{w}x{h}"))
        .args([
            "-r",
            &VIDEO_FPS.to_string(),
            "-i",
            "-",
            "-c:v",
            "libx264",
            "-crf",
        ])
        .arg(VIDEO_CRF.to_string())
        .args(["-pix_fmt", "yuv420p"])
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| spawn_err(std::io::Error::other("no stdin")))?;
    // stderr is read after stdin is closed: at `-loglevel error` it stays far below a pipe's
    // buffer, so the writer cannot block on it.
    let wrote = frames.iter().try_for_each(|f| stdin.write_all(f.as_raw()));
    drop(stdin);
    let output = child.wait_with_output().map_err(spawn_err)?;
    let ok = output.status.success() && out.metadata().map(|m| m.len() > 0).unwrap_or(false);
    if !ok || wrote.is_err() {
        let err = String::from_utf8_lossy(&output.stderr);
        let err: String = err.trim().chars().take(400).collect();
        return Err(MediaError::Ffmpeg {
            program: "ffmpeg".into(),
            what: "the robustness pass's H.264 round trip".into(),
            message: format!("libx264 encode failed ({}): {err}", output.status),
        });
    }
    Ok(())
}
