//! Video (bench.md "Video"): frame selection as the network's `process_video_bytes_sample`
//! does it, each selected frame cropped and resized like an image straight into CHW, at most
//! one decoded frame in memory. Decoding is [`crate::ffmpeg`]'s (in-process by default).
//!
//! Selection, for `T` = [`VideoOptions::num_frames`]:
//! * no `frame_rate`: frames `0 … T−1`;
//! * `frame_rate: r`: every `max(1, round(fps / r))`-th frame from 0 (round half to even, as
//!   Python's `round`), the first `T` of them; `fps` is the stream's average frame rate, 30 when
//!   it is 0. The network's code divides by `r` (so `r = 0` fails every clip) and rounds
//!   `fps / r` (so a stream whose average rate is undefined, `0/0`, fails too); both are errors
//!   here as well;
//! * fewer than `T` frames: the last one repeated; none: an error (the sample is unreadable).
//!
//! Frames are counted in decoding output (presentation) order: frame `i` is the `i`-th frame
//! the decoder returns. The network's decoder (decord 0.6.0) reaches frame `i` by seeking,
//! which lands on the same frame for closed-GOP streams (H.264/HEVC as encoders write them by
//! default, VP8/VP9, intra-only codecs) but not for MPEG-4 Part 2 / MPEG-2 with B-frames or
//! open-GOP H.264 once a `frame_rate` step crosses a keyframe: decord then returns other frames
//! of the clip; gascli returns the frames the rule names (see the crate docs, "Exactness").
//! Frames before the last selected one are decoded (references need them) but only the
//! selected ones are converted to RGB.

use std::path::Path;

use crate::MediaError;
use crate::ffmpeg::{Backend, Input, RgbFrame, VideoReader};
use crate::resize;

/// The network's default `T` when a config sets no `num_frames`.
pub const DEFAULT_NUM_FRAMES: u32 = 16;
/// The network's cap on `T` (`MAX_VIDEO_NUM_FRAMES`): larger requests are clamped to it (the
/// config mapping warns); [`preprocess_video`] rejects anything above it.
pub const MAX_NUM_FRAMES: u32 = 64;
/// The frame rate the network assumes when a stream states an average rate of 0.
pub const FALLBACK_FPS: f64 = 30.0;

/// Video preprocessing parameters, named as the network's model config names them.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoOptions {
    /// Target `[H, W]`.
    pub size: [u32; 2],
    /// `T`, frames per clip: `num_frames` (default [`DEFAULT_NUM_FRAMES`], 1 …
    /// [`MAX_NUM_FRAMES`]).
    pub num_frames: u32,
    /// `frame_rate`: sample at this many frames per second of video; `None` = the first `T`
    /// frames.
    pub frame_rate: Option<f64>,
}

impl Default for VideoOptions {
    fn default() -> Self {
        Self {
            size: crate::DEFAULT_SIZE,
            num_frames: DEFAULT_NUM_FRAMES,
            frame_rate: None,
        }
    }
}

/// The network's frame step `max(1, round(fps / frame_rate))` (Python `round`: half to even),
/// with `fps` the stream's average rate, or [`FALLBACK_FPS`] when that is 0.
/// `Err` where the network's arithmetic raises: `frame_rate` 0 or not finite, or an undefined
/// (NaN) or infinite quotient.
pub fn frame_step(avg_fps: f64, frame_rate: f64) -> Result<usize, String> {
    if frame_rate == 0.0 || !frame_rate.is_finite() {
        return Err(format!(
            "frame_rate {frame_rate} cannot be divided by (the network fails every clip)"
        ));
    }
    // Python: `if not video_fps or video_fps <= 0: video_fps = 30.0` (NaN passes through).
    let fps = if avg_fps == 0.0 || avg_fps <= 0.0 {
        FALLBACK_FPS
    } else {
        avg_fps
    };
    let q = fps / frame_rate;
    if !q.is_finite() {
        return Err(format!(
            "the stream's average frame rate ({avg_fps}) gives no frame step (the network's \
             decoder cannot read it with frame_rate set)"
        ));
    }
    let r = q.round_ties_even();
    Ok(if r < 1.0 { 1 } else { r as usize })
}

/// FFmpeg's `avg_frame_rate` `num/den` as the network's decoder computes it (a C double
/// division: `0/0` is NaN, `n/0` infinite).
fn avg_fps((num, den): (i64, i64)) -> f64 {
    num as f64 / den as f64
}

/// The network's decoder needs a frame count before it reads anything: the container's, else
/// `avg_fps × duration`; it refuses a stream with neither (e.g. a raw H.264 elementary stream).
fn check_frame_count(info: &crate::ffmpeg::VideoInfo) -> Result<(), String> {
    if info.nb_frames.is_some() {
        return Ok(());
    }
    let estimate = info
        .duration_us
        .map(|d| avg_fps(info.avg_frame_rate) * d as f64 / 1e6);
    match estimate {
        Some(n) if n >= 1.0 => Ok(()),
        _ => Err(
            "the stream states no frame count and no duration (the network's decoder \
                  cannot read it)"
                .into(),
        ),
    }
}

fn check_options(opts: &VideoOptions) -> Result<(), MediaError> {
    crate::check_size(opts.size)?;
    if opts.num_frames == 0 || opts.num_frames > MAX_NUM_FRAMES {
        return Err(MediaError::Options(format!(
            "num_frames {} must be 1 … {MAX_NUM_FRAMES} (the network clamps larger values to \
             {MAX_NUM_FRAMES})",
            opts.num_frames
        )));
    }
    if let Some(r) = opts.frame_rate {
        frame_step(FALLBACK_FPS, r).map_err(MediaError::Options)?;
    }
    Ok(())
}

/// Crop (bench.md rule) + `INTER_LINEAR` resize of one RGB frame into CHW `out`.
fn frame_to_chw(f: &RgbFrame<'_>, th: u32, tw: u32, out: &mut [u8]) {
    let (left, top, cw, ch) = resize::crop_box(f.width as u32, f.height as u32, th, tw);
    let (left, top, cw, ch) = (left as usize, top as usize, cw as usize, ch as usize);
    let mut rz = resize::ChwResizer::new(cw, ch, th as usize, tw as usize, out);
    for r in 0..ch {
        let start = (top + r) * f.stride + left * 3;
        rz.push_row(r, &f.data[start..start + cw * 3]);
    }
}

/// Decodes the clip and hands the selected frames (module doc) to `each`, in order; returns
/// how many there were (fewer than `T` when the clip is short, never 0).
fn for_selected_frames(
    input: Input<'_>,
    opts: &VideoOptions,
    backend: Backend,
    mut each: impl FnMut(&RgbFrame<'_>),
) -> Result<usize, MediaError> {
    check_options(opts)?;
    let mut reader = VideoReader::open(input, backend)?;
    let what = reader.what().to_string();
    if backend == Backend::Libs {
        check_frame_count(&reader.info()?).map_err(|message| MediaError::Ffmpeg {
            program: "FFmpeg".into(),
            what: what.clone(),
            message,
        })?;
    }
    let step = match opts.frame_rate {
        Some(r) => {
            let info = reader.info()?;
            frame_step(avg_fps(info.avg_frame_rate), r).map_err(|message| MediaError::Ffmpeg {
                program: "FFmpeg".into(),
                what: what.clone(),
                message,
            })?
        }
        None => 1,
    };
    let t = opts.num_frames as usize;
    let mut got = 0usize;
    let mut index = 0usize;
    while got < t {
        if index.is_multiple_of(step) {
            match reader.next_frame() {
                Ok(Some(f)) => {
                    each(&f);
                    got += 1;
                }
                Ok(None) => break,
                // A damaged tail keeps the frames before it.
                Err(_) if got > 0 => break,
                Err(e) => return Err(e),
            }
        } else {
            match reader.skip_frame() {
                Ok(true) => {}
                Ok(false) | Err(_) => break,
            }
        }
        index += 1;
    }
    if got == 0 {
        return Err(MediaError::NoFrames { what });
    }
    Ok(got)
}

/// Repeats the last of `got` frames (each `frame_len` bytes) up to the end of `out`.
fn pad_last(out: &mut [u8], got: usize, frame_len: usize) {
    let last = (got - 1) * frame_len;
    for i in got..out.len() / frame_len {
        out.copy_within(last..last + frame_len, i * frame_len);
    }
}

/// Decode, select and crop-resize with the given FFmpeg backend: the `T·3·H·W` bytes of one
/// `[T, 3, H, W]` input.
pub fn preprocess_video_with(
    input: Input<'_>,
    opts: &VideoOptions,
    backend: Backend,
) -> Result<Vec<u8>, MediaError> {
    let t = opts.num_frames as usize;
    let [th, tw] = opts.size;
    let frame_len = 3 * th as usize * tw as usize;
    let mut out = vec![0u8; t * frame_len];
    let mut got = 0usize;
    for_selected_frames(input, opts, backend, |f| {
        frame_to_chw(f, th, tw, &mut out[got * frame_len..(got + 1) * frame_len]);
        got += 1;
    })?;
    // Fewer than T frames: repeat the last one.
    pad_last(&mut out, got, frame_len);
    Ok(out)
}

/// The robustness pass's degraded tensor of one clip: the selected frames (padded to `T`), the
/// network's H.264 chain ([`crate::robust::degrade_video`]), then the crop + resize of every
/// frame: `T·3·H·W` bytes.
pub fn preprocess_video_augmented_with(
    input: Input<'_>,
    opts: &VideoOptions,
    backend: Backend,
) -> Result<Vec<u8>, MediaError> {
    let t = opts.num_frames as usize;
    let mut frames: Vec<crate::RgbImage> = Vec::with_capacity(t);
    for_selected_frames(input, opts, backend, |f| frames.push(f.to_image()))?;
    while frames.len() < t {
        let Some(last) = frames.last().cloned() else {
            break;
        };
        frames.push(last);
    }
    let degraded = crate::robust::degrade_video(frames, backend)?;
    let [th, tw] = opts.size;
    let frame_len = 3 * th as usize * tw as usize;
    let mut out = vec![0u8; t * frame_len];
    for (i, img) in degraded.iter().enumerate().take(t) {
        let f = RgbFrame {
            data: img.as_raw(),
            stride: img.width() as usize * 3,
            width: img.width() as usize,
            height: img.height() as usize,
        };
        frame_to_chw(&f, th, tw, &mut out[i * frame_len..(i + 1) * frame_len]);
    }
    Ok(out)
}

/// [`preprocess_video_augmented_with`] for a file, with the default backend.
pub fn preprocess_video_augmented(path: &Path, opts: &VideoOptions) -> Result<Vec<u8>, MediaError> {
    preprocess_video_augmented_with(Input::Path(path), opts, Backend::default())
}

/// [`preprocess_video_augmented_with`] for in-memory bytes.
pub fn preprocess_video_augmented_bytes(
    bytes: &[u8],
    opts: &VideoOptions,
) -> Result<Vec<u8>, MediaError> {
    preprocess_video_augmented_with(Input::Bytes(bytes), opts, Backend::default())
}

/// Decode, select and crop-resize a video file: `T·3·H·W` bytes of one `[T, 3, H, W]` input.
pub fn preprocess_video(path: &Path, opts: &VideoOptions) -> Result<Vec<u8>, MediaError> {
    preprocess_video_with(Input::Path(path), opts, Backend::default())
}

/// [`preprocess_video`] for in-memory bytes (decoded from memory in-process; the CLI backend
/// writes a temp file, as mp4/mov with the index at the end cannot be piped).
pub fn preprocess_video_bytes(bytes: &[u8], opts: &VideoOptions) -> Result<Vec<u8>, MediaError> {
    preprocess_video_with(Input::Bytes(bytes), opts, Backend::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_step_follows_python_arithmetic() {
        assert_eq!(frame_step(30.0, 8.0), Ok(4)); // 3.75 → 4
        assert_eq!(frame_step(25.0, 10.0), Ok(2)); // 2.5 → 2 (half to even)
        assert_eq!(frame_step(35.0, 10.0), Ok(4)); // 3.5 → 4
        assert_eq!(frame_step(24.0, 60.0), Ok(1)); // 0.4 → 0 → max(1, 0)
        assert_eq!(frame_step(0.0, 10.0), Ok(3)); // no rate → 30 fps
        assert_eq!(frame_step(30.0, -5.0), Ok(1)); // negative → max(1, -6)
        assert!(frame_step(f64::NAN, 10.0).is_err()); // 0/0 average rate
        assert!(frame_step(f64::INFINITY, 10.0).is_err());
        assert!(frame_step(30.0, 0.0).is_err());
    }

    #[test]
    fn options_are_checked() {
        let mut o = VideoOptions::default();
        assert!(check_options(&o).is_ok());
        o.num_frames = MAX_NUM_FRAMES + 1;
        assert!(check_options(&o).is_err());
        o.num_frames = 0;
        assert!(check_options(&o).is_err());
        o.num_frames = 4;
        o.frame_rate = Some(0.0);
        assert!(check_options(&o).is_err());
    }
}
