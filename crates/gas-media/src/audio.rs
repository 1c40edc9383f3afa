//! Audio (bench.md "Audio"): mono `f32` at 16 kHz as the network decodes it (its
//! `ffmpeg -vn -ac 1 -ar 16000 -f f32le` command: FFmpeg's down-mix and default resampler, no
//! normalisation), then centre-cropped (start `(len − N) // 2`) or zero-padded on the right to
//! `N` = 96 000 samples. The network applies 16 kHz × 6 s whatever a model config says; the
//! options exist for experiments and default to exactly that. Decoding is
//! [`crate::ffmpeg`]'s (in-process by default).

use std::path::Path;

use crate::MediaError;
use crate::ffmpeg::{Backend, Input};

/// The network's sample rate.
pub const SAMPLE_RATE: u32 = 16_000;
/// The network's clip length in seconds.
pub const DURATION_SECONDS: f64 = 6.0;

/// Audio preprocessing parameters; [`Default`] is the network's fixed 16 kHz × 6 s.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioOptions {
    pub sample_rate: u32,
    pub duration_seconds: f64,
}

impl Default for AudioOptions {
    fn default() -> Self {
        Self {
            sample_rate: SAMPLE_RATE,
            duration_seconds: DURATION_SECONDS,
        }
    }
}

/// Most decoded samples we hold before cropping: one hour at the target rate.
const MAX_SECONDS: u64 = 3600;

impl AudioOptions {
    /// `N = int(sample_rate × duration_seconds)`.
    pub fn num_samples(&self) -> Result<usize, MediaError> {
        let n = self.sample_rate as f64 * self.duration_seconds;
        if self.sample_rate == 0 || !(1.0..=1e9).contains(&n) {
            return Err(MediaError::Options(format!(
                "sample_rate {} × duration_seconds {} must give 1 … 1e9 samples",
                self.sample_rate, self.duration_seconds
            )));
        }
        Ok(n as usize)
    }
}

/// Centre crop (start `(len − N) // 2`) or right zero-pad to `n`.
pub fn crop_or_pad(mut samples: Vec<f32>, n: usize) -> Vec<f32> {
    if samples.len() > n {
        let start = (samples.len() - n) / 2;
        samples.drain(..start);
        samples.truncate(n);
    } else {
        samples.resize(n, 0.0);
    }
    samples
}

/// Decode to mono `f32` at `sample_rate` with the given backend (no crop/pad). No samples
/// is an error, as in the network's code.
pub fn decode_audio_with(
    input: Input<'_>,
    sample_rate: u32,
    backend: Backend,
) -> Result<Vec<f32>, MediaError> {
    let max = MAX_SECONDS * sample_rate as u64;
    let samples = crate::ffmpeg::decode_audio(input, sample_rate, max, backend)?;
    if samples.is_empty() {
        return Err(MediaError::Ffmpeg {
            program: "FFmpeg".into(),
            what: input.describe(),
            message: "no audio samples decoded (no audio stream?)".into(),
        });
    }
    Ok(samples)
}

/// Decode `path` to mono `f32` at `sample_rate` (no crop/pad).
pub fn decode_audio(path: &Path, sample_rate: u32) -> Result<Vec<f32>, MediaError> {
    decode_audio_with(Input::Path(path), sample_rate, Backend::default())
}

/// Decode + crop/pad with the given backend: the `N` samples of one `[N]` model input.
pub fn preprocess_audio_with(
    input: Input<'_>,
    opts: &AudioOptions,
    backend: Backend,
) -> Result<Vec<f32>, MediaError> {
    let n = opts.num_samples()?;
    Ok(crop_or_pad(
        decode_audio_with(input, opts.sample_rate, backend)?,
        n,
    ))
}

/// Decode + crop/pad: the `N` samples of one `[N]` model input.
pub fn preprocess_audio(path: &Path, opts: &AudioOptions) -> Result<Vec<f32>, MediaError> {
    preprocess_audio_with(Input::Path(path), opts, Backend::default())
}

/// [`preprocess_audio`] for in-memory bytes (e.g. a parquet cell).
pub fn preprocess_audio_bytes(bytes: &[u8], opts: &AudioOptions) -> Result<Vec<f32>, MediaError> {
    preprocess_audio_with(Input::Bytes(bytes), opts, Backend::default())
}
