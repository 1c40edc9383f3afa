//! `gas-media`: media decoding and network-exact preprocessing (bench.md "Image", "Video",
//! "Audio", "The cache step", "Robustness pass") producing exactly the tensors a model
//! receives (package.md): images as CHW `u8`, video as `T×3×H×W` `u8`, audio as mono `f32`
//! samples; plus `.npy` reading/writing.
//!
//! Owns: decoding (libjpeg-turbo's code via `mozjpeg-sys` for JPEG, libwebp 1.6 via
//! `libwebp-sys` for WebP, `image` for the other stills; FFmpeg for video and audio, in
//! [`ffmpeg`]: in-process through its libraries by default, or the `ffmpeg`/`ffprobe` tools),
//! the network's cache step (Pillow-default JPEG / WebP re-encoding, [`reencode`]) and its
//! on-disk cache of re-encoded samples, the robustness pass's image chain ([`robust`]), the
//! crop-and-resize rule, the OpenCV-`INTER_LINEAR`- and `INTER_AREA`-exact resizes, the
//! network's frame selection, audio crop/pad, and the `.npy` format. Must not touch: model
//! configs (callers pass sizes and options in), datasets, scoring, or any network I/O.
//!
//! Module graph (no cycles): `video`, `audio` → `ffmpeg`, `resize`; `ffmpeg` → nothing but
//! [`MediaError`]; `reencode` → `jpeg`, `jpeg_enc`, `webp`; `robust` → those and `resize`.
//!
//! # API
//! * [`decode_image`] → [`RgbImage`] (HWC `u8`) the way Pillow's `Image.open(..).convert("RGB")`
//!   does: EXIF orientation NOT applied unless [`ImageOptions::apply_exif`]; alpha dropped (not
//!   composited); grayscale replicated; palette expanded; first frame of animations;
//!   CMYK/YCCK JPEG through Pillow's integer `cmyk2rgb`;
//!   16-bit RGB(A) → high byte (Pillow's `RGB;16B` unpacker); 16-bit gray → clipped to 255
//!   (Pillow's `I;16` → `RGB` conversion clips).
//!   Decode limit: [`MAX_PIXELS`] (100 MP) and 1 GiB of decoder allocations.
//! * [`cache_step`] → the bytes the network stores for a sample ([`StoredFormat`]: JPEG /
//!   WebP re-encoded as Pillow's `save()` defaults, other formats unchanged);
//!   [`ReencodeCache`] keeps them on disk (content-hash keyed, bounded, safe across
//!   processes).
//! * [`crop_resize`] — bench.md centre crop to the target aspect, then `cv2.INTER_LINEAR`.
//! * [`preprocess_image`] → CHW `u8`, `3·H·W` bytes, with the cache step first unless
//!   [`ImageOptions::reencode`] is off (the direct path, NOT network-exact);
//!   [`preprocess_batch_images`] runs it in parallel on the rayon pool.
//! * [`preprocess_image_augmented`] → the robustness pass's degraded tensor.
//! * [`preprocess_video`] → `T·3·H·W` bytes ([`VideoOptions`]: `num_frames`, `frame_rate` as
//!   the network reads them); [`preprocess_video_augmented`] → the robustness pass's degraded
//!   clip (H.264 round trip, [`robust::degrade_video`]); [`preprocess_audio`] → `N` `f32`
//!   samples (16 kHz × 6 s).
//! * [`npy`] — `.npy` v1 read/write (atomic write).
//!
//! # Exactness
//! Resize: bit-exact with opencv-python-headless's `cv2.resize` (see [`resize`],
//! [`robust::resize_area`]). PNG, BMP, GIF, TIFF decode are lossless and hence exact. JPEG
//! (YCbCr, gray, RGB, CMYK, YCCK) is decoded by libjpeg-turbo's code (MozJPEG fork via
//! `mozjpeg-sys`, ISLOW IDCT, fancy upsampling) like Pillow; WebP by libwebp's animation
//! decoder like Pillow. The cache step's and the chain's encoders are the same libraries set
//! up as Pillow sets them up: their bytes equal Pillow 12.1's (libjpeg-turbo 3.1, libwebp
//! 1.6) in the tests.
//! Build: the default `jpeg-simd` feature needs `nasm` (apt); without it
//! (`--no-default-features`) the same decoder runs in plain C, same pixels, slower.
//! `ImageOptions::fast_decode` (JPEG decoded at a reduced DCT scale) is for quick local
//! iteration and is NOT network-exact.
//!
//! Video frames: the network's decoder is decord 0.6.0 (FFmpeg 4.1 inside). The pixel
//! conversion here is the one decord runs (libavfilter `scale` with `bilinear` flags to
//! `rgb24`), and on FFmpeg 5.1 it matched decord bit for bit on every clip of
//! `tests/av_parity.rs` (H.264 8/10-bit 4:2:0/4:2:2/4:4:4 and full range, HEVC, VP8, VP9,
//! MPEG-4, MPEG-2, MJPEG, odd sizes). Frame selection follows the network's rule by decoding
//! in order (see [`video`]): where decord's seeking is not frame-accurate (B-frame MPEG-4/MPEG-2,
//! open-GOP H.264, with a `frame_rate` step past a keyframe) decord returns other frames.
//! AV1 decodes here (libdav1d) but not in decord's FFmpeg 4.1.
//! Audio: the network's own pinned runtime cannot load torchcodec (its torch 2.8 ABI), so it
//! decodes with the `ffmpeg` command; the in-process path builds the same filter graph and
//! matches that command bit for bit.

pub mod audio;
pub mod ffmpeg;
mod jpeg;
mod jpeg_enc;
pub mod npy;
pub mod reencode;
pub mod resize;
pub mod robust;
pub mod video;
mod webp;

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use rayon::prelude::*;

pub use audio::{AudioOptions, preprocess_audio, preprocess_audio_bytes};
pub use image::RgbImage;
pub use reencode::{CacheStepped, ReencodeCache, StoredFormat, cache_step};
pub use robust::preprocess_image_augmented;
pub use video::{
    DEFAULT_NUM_FRAMES, MAX_NUM_FRAMES, VideoOptions, preprocess_video, preprocess_video_augmented,
    preprocess_video_augmented_bytes, preprocess_video_bytes,
};

/// Largest image (width × height) we decode: 100 megapixels.
pub const MAX_PIXELS: u64 = 100_000_000;

/// Default target `[H, W]` when a config gives none (bench.md).
pub const DEFAULT_SIZE: [u32; 2] = [224, 224];

/// Errors of this crate. Messages name what failed and, where it helps, the fix.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("unrecognised image format (expected JPEG, PNG, WebP, GIF, BMP or TIFF)")]
    UnknownFormat,
    #[error("corrupt or unsupported {format} image: {message}")]
    Decode { format: String, message: String },
    #[error("image is {width}x{height} = {pixels} pixels, above the {max} pixel decode limit")]
    TooLarge {
        width: u32,
        height: u32,
        pixels: u64,
        max: u64,
    },
    #[error("image has no pixels ({width}x{height})")]
    Empty { width: u32, height: u32 },
    #[error("invalid preprocessing options: {0}")]
    Options(String),
    #[error("could not run `{program}`: {source} (install FFmpeg, e.g. `apt-get install ffmpeg`)")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed on {what}: {message}")]
    Ffmpeg {
        program: String,
        what: String,
        message: String,
    },
    #[error("video {what} has no decodable frames")]
    NoFrames { what: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad .npy file {what}: {message}")]
    Npy { what: String, message: String },
}

/// Options of the image path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageOptions {
    /// Target `[H, W]`.
    pub size: [u32; 2],
    /// Rotate/flip by the EXIF orientation tag (NOT what the network does; default false).
    pub apply_exif: bool,
    /// Faster, NOT network-exact JPEG decode for local iteration: DCT-domain downscaling
    /// when the target is much smaller (used by [`preprocess_image`] only; ignored with
    /// `apply_exif` and for other formats).
    pub fast_decode: bool,
    /// The network's cache step (bench.md; [`reencode`]): JPEG and WebP samples are
    /// re-encoded as Pillow's default `save()` before decoding — the pixels the network's
    /// model sees. Default `true`; `false` is the direct path (NOT network-exact).
    pub reencode: bool,
    /// Where re-encoded samples are kept between runs (`None`: re-encode every time).
    pub reencode_cache: Option<ReencodeCache>,
}

impl Default for ImageOptions {
    fn default() -> Self {
        Self {
            size: DEFAULT_SIZE,
            apply_exif: false,
            fast_decode: false,
            reencode: true,
            reencode_cache: None,
        }
    }
}

impl ImageOptions {
    /// The bytes the decoder reads: the cache step's output when [`Self::reencode`] is set.
    pub fn cache_step<'a>(&self, bytes: &'a [u8]) -> Result<CacheStepped<'a>, MediaError> {
        if !self.reencode {
            return Ok(CacheStepped {
                format: StoredFormat::Unchanged,
                bytes: std::borrow::Cow::Borrowed(bytes),
            });
        }
        match &self.reencode_cache {
            Some(c) => c.cache_step(bytes),
            None => cache_step(bytes),
        }
    }
}

fn decode_err(format: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Decode {
        format: format.to_string(),
        message: e.to_string(),
    }
}

/// Decode an image to RGB `u8` (HWC) the way Pillow's `convert("RGB")` does (see crate docs).
/// This decodes the given bytes as they are: for the pixels the network's model sees, run
/// the cache step first ([`cache_step`], [`ImageOptions::cache_step`]); [`preprocess_image`]
/// does both.
pub fn decode_image(bytes: &[u8], opts: &ImageOptions) -> Result<RgbImage, MediaError> {
    if reencode::stored_format(bytes) == StoredFormat::Webp {
        let img = webp::decode(bytes)?;
        let data = img
            .rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        let img = RgbImage::from_raw(img.width as u32, img.height as u32, data)
            .ok_or_else(|| decode_err("WEBP", "short image"))?;
        return Ok(if opts.apply_exif {
            apply_exif_orientation(bytes, img)
        } else {
            img
        });
    }
    if bytes.starts_with(&[0xFF, 0xD8])
        && let Some(img) = jpeg::decode(bytes)?
    {
        return Ok(if opts.apply_exif {
            apply_exif_orientation(bytes, img)
        } else {
            img
        });
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| decode_err("unknown", e))?;
    let format = match reader.format() {
        Some(f) => f,
        None => return Err(MediaError::UnknownFormat),
    };
    let fname = format!("{format:?}").to_uppercase();
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_alloc = Some(1 << 30);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| decode_err(&fname, e))?;
    let (w, h) = decoder.dimensions();
    let pixels = w as u64 * h as u64;
    if pixels > MAX_PIXELS {
        return Err(MediaError::TooLarge {
            width: w,
            height: h,
            pixels,
            max: MAX_PIXELS,
        });
    }
    if pixels == 0 {
        return Err(MediaError::Empty {
            width: w,
            height: h,
        });
    }
    let orientation = if opts.apply_exif {
        decoder.orientation().ok()
    } else {
        None
    };
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_err(&fname, e))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(to_rgb8_like_pillow(img))
}

/// Rotate/flip by the EXIF orientation read (header only) through the `image` crate.
fn apply_exif_orientation(bytes: &[u8], img: RgbImage) -> RgbImage {
    let orientation = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_decoder().ok())
        .and_then(|mut d| d.orientation().ok());
    match orientation {
        Some(o) => {
            let mut d = DynamicImage::ImageRgb8(img);
            d.apply_orientation(o);
            d.into_rgb8()
        }
        None => img,
    }
}

/// Pillow-style RGB conversion: alpha dropped, gray replicated, 16-bit RGB → high byte,
/// 16-bit gray → clipped to 255, float → clipped and truncated.
fn to_rgb8_like_pillow(img: DynamicImage) -> RgbImage {
    match img {
        DynamicImage::ImageRgb8(i) => i,
        DynamicImage::ImageRgba8(i) => {
            let (w, h) = i.dimensions();
            let data: Vec<u8> = i
                .into_raw()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            RgbImage::from_raw(w, h, data).expect("sizes match")
        }
        DynamicImage::ImageLuma8(i) => gray_to_rgb(i.width(), i.height(), i.as_raw(), 1),
        DynamicImage::ImageLumaA8(i) => gray_to_rgb(i.width(), i.height(), i.as_raw(), 2),
        DynamicImage::ImageLuma16(i) => {
            let v: Vec<u8> = i.as_raw().iter().map(|&p| p.min(255) as u8).collect();
            gray_to_rgb(i.width(), i.height(), &v, 1)
        }
        DynamicImage::ImageLumaA16(i) => {
            let v: Vec<u8> = i.as_raw().iter().map(|&p| p.min(255) as u8).collect();
            gray_to_rgb(i.width(), i.height(), &v, 2)
        }
        DynamicImage::ImageRgb16(i) => {
            let (w, h) = i.dimensions();
            let data = i.as_raw().iter().map(|&p| (p >> 8) as u8).collect();
            RgbImage::from_raw(w, h, data).expect("sizes match")
        }
        DynamicImage::ImageRgba16(i) => {
            let (w, h) = i.dimensions();
            let data = i
                .as_raw()
                .chunks_exact(4)
                .flat_map(|p| [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8])
                .collect();
            RgbImage::from_raw(w, h, data).expect("sizes match")
        }
        other => other.to_rgb8(),
    }
}

fn gray_to_rgb(w: u32, h: u32, v: &[u8], step: usize) -> RgbImage {
    let data = v.iter().step_by(step).flat_map(|&g| [g, g, g]).collect();
    RgbImage::from_raw(w, h, data).expect("sizes match")
}

fn check_size(size: [u32; 2]) -> Result<(), MediaError> {
    if size[0] == 0 || size[1] == 0 || size[0] > 16384 || size[1] > 16384 {
        return Err(MediaError::Options(format!(
            "resize {size:?} must be two positive sizes of at most 16384 ([H, W])"
        )));
    }
    Ok(())
}

/// Write the crop-and-resize of `src` (a `w×h` RGB buffer) as CHW planes into `out`
/// (`3·h_out·w_out` bytes).
fn crop_resize_into_chw(data: &[u8], w: u32, h: u32, th: u32, tw: u32, out: &mut [u8]) {
    let (left, top, cw, ch) = resize::crop_box(w, h, th, tw);
    let view = resize::RgbView {
        data,
        stride: w as usize * 3,
        left: left as usize,
        top: top as usize,
        width: cw as usize,
        height: ch as usize,
    };
    view_resize_into_chw(view, th, tw, out);
}

/// `cv2.INTER_LINEAR` resize of an already cropped view to `th × tw`, written as CHW planes.
fn view_resize_into_chw(view: resize::RgbView<'_>, th: u32, tw: u32, out: &mut [u8]) {
    let mut rz = resize::ChwResizer::new(view.width, view.height, th as usize, tw as usize, out);
    for r in 0..view.height {
        let start = (view.top + r) * view.stride + view.left * 3;
        rz.push_row(r, &view.data[start..start + view.width * 3]);
    }
}

/// bench.md crop rule + OpenCV `INTER_LINEAR` resize to `w × h`. Returns HWC `u8`.
/// `h` and `w` must be positive (a zero size is a programmer error and panics).
pub fn crop_resize(img: &RgbImage, h: u32, w: u32) -> RgbImage {
    let (left, top, cw, ch) = resize::crop_box(img.width(), img.height(), h, w);
    let view = resize::RgbView {
        data: img.as_raw(),
        stride: img.width() as usize * 3,
        left: left as usize,
        top: top as usize,
        width: cw as usize,
        height: ch as usize,
    };
    let mut out = vec![0u8; h as usize * w as usize * 3];
    let row_len = w as usize * 3;
    resize::resize_linear_rows(view, w as usize, h as usize, |y, row| {
        out[y * row_len..(y + 1) * row_len].copy_from_slice(row);
    });
    RgbImage::from_raw(w, h, out).expect("sizes match")
}

/// Crop + resize an already decoded RGB image straight into CHW (`3·H·W` bytes).
pub fn image_to_chw(img: &RgbImage, size: [u32; 2]) -> Result<Vec<u8>, MediaError> {
    check_size(size)?;
    let mut out = vec![0u8; 3 * size[0] as usize * size[1] as usize];
    crop_resize_into_chw(
        img.as_raw(),
        img.width(),
        img.height(),
        size[0],
        size[1],
        &mut out,
    );
    Ok(out)
}

/// Cache step (unless [`ImageOptions::reencode`] is off) + decode + crop + resize +
/// HWC→CHW: the `3·H·W` bytes of one `[3, H, W]` model input.
pub fn preprocess_image(bytes: &[u8], opts: &ImageOptions) -> Result<Vec<u8>, MediaError> {
    check_size(opts.size)?;
    if !opts.reencode {
        return preprocess_stored(bytes, opts);
    }
    let stepped = opts.cache_step(bytes)?;
    if opts.apply_exif {
        // Pillow's save drops EXIF: the orientation comes from the original bytes.
        let plain = ImageOptions {
            apply_exif: false,
            ..opts.clone()
        };
        let img = decode_image(&stepped.bytes, &plain)?;
        return image_to_chw(&apply_exif_orientation(bytes, img), opts.size);
    }
    match preprocess_stored(&stepped.bytes, opts) {
        Err(e) if stepped.format != StoredFormat::Unchanged && opts.reencode_cache.is_some() => {
            // A damaged cache entry: forget it and redo the step in memory.
            if let Some(c) = &opts.reencode_cache {
                c.forget(bytes);
            }
            let fresh = cache_step(bytes)?;
            preprocess_stored(&fresh.bytes, opts).map_err(|_| e)
        }
        r => r,
    }
}

/// [`preprocess_image`] of bytes as they are stored (no cache step).
fn preprocess_stored(bytes: &[u8], opts: &ImageOptions) -> Result<Vec<u8>, MediaError> {
    let mut out = vec![0u8; 3 * opts.size[0] as usize * opts.size[1] as usize];
    if opts.fast_decode
        && !opts.apply_exif
        && bytes.starts_with(&[0xFF, 0xD8])
        && let Ok(true) = jpeg::decode_cropped_chw(bytes, opts.size, true, &mut out)
    {
        // NOT network-exact (see ImageOptions::fast_decode); errors go to the exact path.
        return Ok(out);
    }
    if !opts.apply_exif
        && bytes.starts_with(&[0xFF, 0xD8])
        && jpeg::decode_cropped_chw(bytes, opts.size, false, &mut out)?
    {
        // Same bytes as decode_image + image_to_chw, decoding only the crop's band.
        return Ok(out);
    }
    let img = decode_image(bytes, opts)?;
    image_to_chw(&img, opts.size)
}

/// [`preprocess_image`] for many files in parallel (rayon's global pool; set
/// `RAYON_NUM_THREADS` or install a pool to bound it). Results keep the input order.
pub fn preprocess_batch_images(
    files: &[&[u8]],
    opts: &ImageOptions,
) -> Vec<Result<Vec<u8>, MediaError>> {
    files
        .par_iter()
        .map(|b| preprocess_image(b, opts))
        .collect()
}
