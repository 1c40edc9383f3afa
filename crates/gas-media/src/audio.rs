//! Audio: decode with the `ffmpeg` CLI exactly as the network's reference does
//! (`-ac 1 -ar SR -f f32le`: FFmpeg's down-mix and default resampler), then centre-crop or
//! right-zero-pad to `N = int(sample_rate × duration_seconds)` (bench.md "Audio").

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::MediaError;

/// Audio preprocessing parameters (model_config `preprocessing`).
#[derive(Clone, Debug, PartialEq)]
pub struct AudioOptions {
    pub sample_rate: u32,
    pub duration_seconds: f64,
}

impl Default for AudioOptions {
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            duration_seconds: 6.0,
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

/// Decode `path` to mono `f32` at `sample_rate` with FFmpeg (no crop/pad).
pub fn decode_audio(path: &Path, sample_rate: u32) -> Result<Vec<f32>, MediaError> {
    let what = path.display().to_string();
    let mut child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-vn",
            "-ac",
            "1",
            "-ar",
            &sample_rate.to_string(),
            "-f",
            "f32le",
            "pipe:1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| MediaError::Spawn {
            program: "ffmpeg".into(),
            source: e,
        })?;
    let stderr = child.stderr.take().expect("piped");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.take(64 * 1024).read_to_string(&mut s);
        s
    });
    let cap = MAX_SECONDS * sample_rate as u64 * 4;
    let mut raw = Vec::new();
    let read = child
        .stdout
        .take()
        .expect("piped")
        .take(cap + 1)
        .read_to_end(&mut raw);
    let too_long = raw.len() as u64 > cap;
    if too_long {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| MediaError::Io {
        what: format!("waiting for ffmpeg on {what}"),
        source: e,
    })?;
    let stderr = err_thread.join().unwrap_or_default();
    read.map_err(|e| MediaError::Io {
        what: format!("reading ffmpeg output for {what}"),
        source: e,
    })?;
    if too_long {
        return Err(MediaError::Ffmpeg {
            program: "ffmpeg".into(),
            what,
            message: format!("audio longer than {MAX_SECONDS} s"),
        });
    }
    if !status.success() {
        return Err(MediaError::Ffmpeg {
            program: "ffmpeg".into(),
            what,
            message: first_lines(&stderr, status),
        });
    }
    if raw.is_empty() {
        return Err(MediaError::Ffmpeg {
            program: "ffmpeg".into(),
            what,
            message: "no audio samples decoded (no audio stream?)".into(),
        });
    }
    Ok(raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

pub(crate) fn first_lines(stderr: &str, status: std::process::ExitStatus) -> String {
    let msg: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(3)
        .collect();
    if msg.is_empty() {
        format!("exited with {status}")
    } else {
        msg.join("; ")
    }
}

/// Decode + crop/pad: the `N` samples of one `[N]` model input.
pub fn preprocess_audio(path: &Path, opts: &AudioOptions) -> Result<Vec<f32>, MediaError> {
    let n = opts.num_samples()?;
    Ok(crop_or_pad(decode_audio(path, opts.sample_rate)?, n))
}

/// [`preprocess_audio`] for in-memory bytes (e.g. a parquet cell): written to a temp file
/// first, because some containers (mp4/m4a with the index at the end) cannot be piped.
pub fn preprocess_audio_bytes(bytes: &[u8], opts: &AudioOptions) -> Result<Vec<f32>, MediaError> {
    let tmp = crate::video::temp_copy(bytes)?;
    preprocess_audio(tmp.path(), opts)
}
