//! The one place gas-media talks to FFmpeg. Two backends with the same conversions:
//!
//! * [`Backend::Libs`] (feature `ffmpeg-libs`, default): in-process through FFmpeg's libraries
//!   (libavformat/libavcodec/libavfilter, linked via pkg-config; Debian: `libavformat-dev
//!   libavfilter-dev`), one single-threaded decoder per clip, frames converted only when used,
//!   input read from a path or straight from memory. No process per clip.
//! * [`Backend::Cli`]: the `ffmpeg`/`ffprobe` tools as child processes (see [`cli`]); the
//!   fallback without the feature, and the old path the AV benchmark compares against.
//!
//! Video pixels: the network's decoder (decord 0.6.0, FFmpeg inside) converts each decoded
//! frame with the filter graph `scale=W:H` (libavfilter's default `bilinear` flags there) to
//! `rgb24`, after `transpose` for 90/180/270° display rotation; both backends run that
//! conversion (`scale=…:flags=bilinear`). Audio: the network decodes with
//! `ffmpeg -vn -ac 1 -ar 16000 -f f32le`; the in-process path builds the same
//! `aformat=flt:16000:mono` graph, so FFmpeg inserts the same resampler (swr) conversion.
//!
//! Used by [`crate::video`] and [`crate::audio`]; depends on nothing else in the crate but
//! [`crate::MediaError`].

pub mod cli;
#[cfg(feature = "ffmpeg-libs")]
mod libav;

use std::path::Path;

use crate::MediaError;

/// Where the media comes from.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    Path(&'a Path),
    /// In memory (in-process decoding reads it directly; the CLI backend writes a temp file).
    Bytes(&'a [u8]),
}

impl Input<'_> {
    /// For error messages: the path, or "in-memory media (N bytes)".
    pub fn describe(&self) -> String {
        match self {
            Input::Path(p) => p.display().to_string(),
            Input::Bytes(b) => format!("in-memory media ({} bytes)", b.len()),
        }
    }
}

/// Which FFmpeg to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// FFmpeg's libraries, in-process (needs the `ffmpeg-libs` feature).
    Libs,
    /// The `ffmpeg`/`ffprobe` command-line tools, a process per file.
    Cli,
}

impl Default for Backend {
    fn default() -> Self {
        if cfg!(feature = "ffmpeg-libs") {
            Backend::Libs
        } else {
            Backend::Cli
        }
    }
}

/// Stream facts the network's frame selection reads.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// The stream's `avg_frame_rate` as FFmpeg states it (`(0, 0)` when unknown).
    pub avg_frame_rate: (i64, i64),
    /// The container's frame count, when it states one (in-process backend only).
    pub nb_frames: Option<u64>,
    /// The container's duration in µs, when known (in-process backend only).
    pub duration_us: Option<i64>,
    /// Display rotation applied to the output frames: 0, 90, 180 or 270.
    pub rotation: u32,
    /// Coded `(width, height)` before rotation.
    pub size: (u32, u32),
}

/// One decoded frame as RGB rows: `height` rows of `3·width` bytes, `stride` bytes apart.
#[derive(Clone, Copy, Debug)]
pub struct RgbFrame<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub width: usize,
    pub height: usize,
}

impl RgbFrame<'_> {
    #[cfg(feature = "ffmpeg-libs")]
    const EMPTY: RgbFrame<'static> = RgbFrame {
        data: &[],
        stride: 0,
        width: 0,
        height: 0,
    };

    /// The frame as an owned image (its rows, without the stride's padding).
    pub fn to_image(&self) -> crate::RgbImage {
        let mut data = Vec::with_capacity(self.width * self.height * 3);
        for r in 0..self.height {
            data.extend_from_slice(&self.data[r * self.stride..r * self.stride + self.width * 3]);
        }
        crate::RgbImage::from_raw(self.width as u32, self.height as u32, data).unwrap_or_default()
    }
}

enum Reader<'a> {
    #[cfg(feature = "ffmpeg-libs")]
    Libs(libav::Video<'a>),
    Cli(cli::Video, std::marker::PhantomData<&'a ()>),
}

/// An open video stream decoded in presentation order.
pub struct VideoReader<'a> {
    reader: Reader<'a>,
    what: String,
}

fn lib_err(what: &str, message: String) -> MediaError {
    MediaError::Ffmpeg {
        program: "FFmpeg".into(),
        what: what.to_string(),
        message,
    }
}

impl<'a> VideoReader<'a> {
    pub fn open(input: Input<'a>, backend: Backend) -> Result<Self, MediaError> {
        let what = input.describe();
        let reader = match backend {
            #[cfg(feature = "ffmpeg-libs")]
            Backend::Libs => {
                Reader::Libs(libav::Video::open(&input).map_err(|m| lib_err(&what, m))?)
            }
            #[cfg(not(feature = "ffmpeg-libs"))]
            Backend::Libs => {
                return Err(MediaError::Options(
                    "gas-media was built without the ffmpeg-libs feature".into(),
                ));
            }
            Backend::Cli => Reader::Cli(cli::Video::open(&input)?, std::marker::PhantomData),
        };
        Ok(VideoReader { reader, what })
    }

    /// What this stream is, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Stream facts (the CLI backend runs `ffprobe` on first use).
    pub fn info(&mut self) -> Result<VideoInfo, MediaError> {
        match &mut self.reader {
            #[cfg(feature = "ffmpeg-libs")]
            Reader::Libs(v) => Ok(v.info().clone()),
            Reader::Cli(v, _) => v.info().cloned(),
        }
    }

    /// Decode the next frame without converting it; `false` at the end of the stream.
    pub fn skip_frame(&mut self) -> Result<bool, MediaError> {
        match &mut self.reader {
            #[cfg(feature = "ffmpeg-libs")]
            Reader::Libs(v) => v.skip_frame().map_err(|m| lib_err(&self.what, m)),
            Reader::Cli(v, _) => v.skip_frame(),
        }
    }

    /// Decode the next frame as RGB; `None` at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<RgbFrame<'_>>, MediaError> {
        match &mut self.reader {
            #[cfg(feature = "ffmpeg-libs")]
            Reader::Libs(v) => v.next_frame().map_err(|m| lib_err(&self.what, m)),
            Reader::Cli(v, _) => v.next_frame(),
        }
    }
}

/// The whole audio stream as mono `f32` at `rate` (no crop/pad), at most `max_samples`.
pub fn decode_audio(
    input: Input<'_>,
    rate: u32,
    max_samples: u64,
    backend: Backend,
) -> Result<Vec<f32>, MediaError> {
    match backend {
        #[cfg(feature = "ffmpeg-libs")]
        Backend::Libs => libav::decode_audio(&input, rate, max_samples)
            .map_err(|m| lib_err(&input.describe(), m)),
        #[cfg(not(feature = "ffmpeg-libs"))]
        Backend::Libs => Err(MediaError::Options(
            "gas-media was built without the ffmpeg-libs feature".into(),
        )),
        Backend::Cli => cli::decode_audio(&input, rate, max_samples),
    }
}
